//! `proxy.*` (docs/values.md#proxy): the keys are known, validated, and every enabled
//! shim's in-guest agent defaults to the global proxy while a shim's own setting wins.

use cococtl_profile::{builtin, resolve, Inputs, Resolved, SetArg};

fn with_sets(sets: &[&str]) -> Inputs {
    Inputs {
        profile: Some(("x86_64".into(), builtin::source("x86_64").unwrap().into())),
        sets: sets
            .iter()
            .map(|s| SetArg {
                string: false,
                arg: s.to_string(),
            })
            .collect(),
        namespace: "coco-system".into(),
        ..Default::default()
    }
}

fn ok(sets: &[&str]) -> Resolved {
    match resolve(&with_sets(sets)) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

fn errors(sets: &[&str]) -> String {
    match resolve(&with_sets(sets)) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn proxy_keys_are_known_and_not_warned_about() {
    let r = ok(&[
        "proxy.httpsProxy=http://proxy.example.com:3128",
        "proxy.httpProxy=http://proxy.example.com:3128",
        "proxy.noProxy=10.0.0.0/8\\,.svc\\,.cluster.local",
    ]);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.config.proxy.https_proxy, "http://proxy.example.com:3128");
    assert_eq!(r.config.proxy.http_proxy, "http://proxy.example.com:3128");
    assert_eq!(r.config.proxy.no_proxy, "10.0.0.0/8,.svc,.cluster.local");
    assert!(!r.config.proxy_containerd, "containerd is opt-in");
}

#[test]
fn a_misspelt_proxy_key_gets_a_suggestion() {
    let r = ok(&["proxy.httpsProxi=http://p:3128"]);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(r.warnings[0].message.contains("`httpsProxy`"));
}

#[test]
fn every_enabled_shim_agent_defaults_to_the_global_proxy() {
    let r = ok(&["proxy.httpsProxy=http://p:3128", "proxy.noProxy=.svc"]);
    assert!(!r.config.shims.is_empty());
    for s in &r.config.shims {
        assert_eq!(s.https_proxy, "http://p:3128", "{}", s.name());
        assert_eq!(s.no_proxy, ".svc", "{}", s.name());
    }
}

#[test]
fn a_shims_own_agent_proxy_wins_over_the_global_one() {
    let r = ok(&[
        "proxy.httpsProxy=http://p:3128",
        "proxy.noProxy=.svc",
        "shims.qemu-snp.agent.httpsProxy=http://snp-proxy:8080",
    ]);
    let snp = r
        .config
        .shims
        .iter()
        .find(|s| s.name() == "qemu-snp")
        .unwrap();
    assert_eq!(snp.https_proxy, "http://snp-proxy:8080");
    assert_eq!(snp.no_proxy, ".svc", "unset per shim: the global one");
    let tdx = r
        .config
        .shims
        .iter()
        .find(|s| s.name() == "qemu-tdx")
        .unwrap();
    assert_eq!(tdx.https_proxy, "http://p:3128");
}

#[test]
fn a_proxy_without_a_scheme_is_refused_with_the_fix() {
    let e = errors(&["proxy.httpsProxy=proxy.example.com:3128"]);
    assert!(e.contains("proxy.httpsProxy (from --set"), "{e}");
    assert!(e.contains("must start with http:// or https://"), "{e}");
    assert!(e.contains("fix: --set proxy.httpsProxy=http://"), "{e}");
}

#[test]
fn a_semicolon_in_no_proxy_is_refused() {
    let e = errors(&["proxy.httpsProxy=http://p:3128", "proxy.noProxy=a;b"]);
    assert!(e.contains("proxy.noProxy"), "{e}");
    assert!(e.contains("';'"), "{e}");
}

#[test]
fn containerd_proxy_needs_the_node_agent() {
    let e = errors(&["proxy.httpsProxy=http://p:3128", "proxy.containerd=true"]);
    assert!(e.contains("proxy.containerd"), "{e}");
    assert!(e.contains("customContainerd.enabled=true"), "{e}");
}

#[test]
fn containerd_proxy_without_a_proxy_is_a_warning() {
    let r = ok(&["proxy.containerd=true"]);
    assert!(!r.config.proxy_containerd);
    assert!(
        r.warnings.iter().any(|w| w.path == "proxy.containerd"),
        "{:?}",
        r.warnings
    );
}
