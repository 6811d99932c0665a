//! The environment contract between the rendered `cococtl-containerd` DaemonSet and the
//! node agent: render the DaemonSet with every option set, hand its env to the agent's own
//! argument parser (the real binary, `install --dry-run`), and require the agent to read
//! back exactly the settings the values asked for.

use std::process::Command;

use cococtl_core::agent::Settings;

const SHA_A: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const SHA_B: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

fn rendered_env(sets: &[&str]) -> Vec<(String, String)> {
    let mut args = vec!["render", "-o", "json"];
    for s in sets {
        args.extend(["--set", s]);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ds = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "DaemonSet" && o["metadata"]["name"] == "cococtl-containerd")
        .expect("the agent DaemonSet")
        .clone();
    ds["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| Some((e["name"].as_str()?.into(), e["value"].as_str()?.into())))
        .collect()
}

fn agent_reads(env: &[(String, String)]) -> (Settings, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(["node", "containerd", "install", "--dry-run"])
        .env_clear()
        .envs(env.iter().cloned())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (serde_json::from_value(v["settings"].clone()).unwrap(), v)
}

fn values_settings(sets: &[&str]) -> Settings {
    let mut inputs = cococtl_profile::Inputs {
        profile: Some((
            "x86_64".into(),
            cococtl_profile::builtin_profile("x86_64").unwrap().into(),
        )),
        files: vec![],
        sets: vec![],
        kata_version: None,
        namespace: "coco-system".into(),
    };
    for s in sets {
        inputs.sets.push(cococtl_profile::SetArg {
            string: false,
            arg: (*s).into(),
        });
    }
    let r = cococtl_profile::resolve(&inputs).unwrap();
    r.config.custom_containerd.unwrap().agent
}

fn round_trip(sets: &[&str]) -> serde_json::Value {
    let env = rendered_env(sets);
    let (read, v) = agent_reads(&env);
    assert_eq!(read, values_settings(sets), "env: {env:?}");
    v
}

#[test]
fn every_per_arch_option_and_allowance_reaches_the_agent() {
    let sets = [
        "customContainerd.enabled=true",
        "customContainerd.mode=in-place",
        "customContainerd.allowInsecureHttp=true",
        "customContainerd.allowUnverified=true",
        "customContainerd.tarballUrl=https://e.com/any.tar.gz",
        &format!("customContainerd.sha256={SHA_A}"),
        "customContainerd.checksumUrl=https://e.com/any.sums",
        "customContainerd.tarballUrls.amd64=http://e.com/amd64.tar.gz",
        &format!("customContainerd.sha256s.amd64={}", SHA_B.to_uppercase()),
        "customContainerd.checksumUrls.amd64=https://e.com/amd64.sums",
        "customContainerd.tarballUrls.arm64=https://e.com/arm64.tar.gz",
        "customContainerd.checksumUrls.arm64=https://e.com/arm64.sums",
        "customContainerd.tarballUrls.s390x=https://e.com/s390x.tar.gz",
        "customContainerd.tarballUrls.ppc64le=https://e.com/ppc64le.tar.gz",
    ];
    let v = round_trip(&sets);
    // The uninstall trigger: the agent knows its own DaemonSet and namespace.
    let env = rendered_env(&sets);
    assert!(env.contains(&(
        cococtl_core::agent::env::DAEMONSET.to_string(),
        "cococtl-containerd".to_string()
    )));
    // This node (amd64) takes its own tarball and its own checksum, lowercased.
    assert_eq!(v["url"], "http://e.com/amd64.tar.gz");
    assert_eq!(v["checksum"]["sha256"], SHA_B);
}

#[test]
fn the_shared_tarball_and_side_mode_reach_the_agent() {
    let sets = [
        "customContainerd.enabled=true",
        "customContainerd.tarballUrl=https://e.com/c.tar.gz",
        "customContainerd.checksumUrl=https://e.com/c.sums",
    ];
    let v = round_trip(&sets);
    assert_eq!(v["settings"]["mode"], "side");
    assert_eq!(v["checksum"]["url"], "https://e.com/c.sums");
}

#[test]
fn an_oci_tarball_its_pull_secret_and_registry_ca_reach_the_agent() {
    let oci = format!("oci://mirror.local:5000/coco/containerd@sha256:{SHA_B}");
    let sets = [
        "customContainerd.enabled=true",
        &format!("customContainerd.tarballUrl={oci}"),
        &format!("customContainerd.sha256={SHA_A}"),
        "customContainerd.pullSecret=mirror-login",
        "customContainerd.registryCA=/etc/containerd/certs.d/mirror.local:5000/ca.crt",
    ];
    let v = round_trip(&sets);
    assert_eq!(v["url"], oci);
    assert_eq!(v["pullSecret"], "/etc/cococtl/pull-secret/config.json");
    // The CA is the host's file, read under the host root (`/` here).
    assert_eq!(
        v["registryCaFile"],
        "/etc/containerd/certs.d/mirror.local:5000/ca.crt"
    );
}

fn agent_refuses(env: &[(&str, &str)], args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(["node", "containerd", "install", "--dry-run"])
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn a_bad_value_in_the_daemonsets_env_is_named_by_its_variable() {
    use cococtl_core::agent::env;
    // clap's own parsing: a value only the environment gave.
    for (var, bad, possible) in [
        (env::ALLOW_INSECURE_HTTP, "maybe", "true, false"),
        (env::ALLOW_UNVERIFIED, "yes please", "true, false"),
        (env::MODE, "sideways", "side, in-place"),
    ] {
        let e = agent_refuses(&[(var, bad)], &[]);
        assert!(
            e.contains(&format!("'{bad}' in the environment variable {var}")),
            "{var}: {e}"
        );
        assert!(e.contains(possible), "{e}");
        assert!(e.contains(&format!("fix: set {var}")), "{e}");
    }
    // The same value typed as a flag stays clap's flag error.
    let e = agent_refuses(&[], &["--mode", "sideways"]);
    assert!(
        e.contains("'--mode <MODE>'") && !e.contains("environment"),
        "{e}"
    );
    // The settings validator: the variables the DaemonSet sets are named next to the flags.
    let e = agent_refuses(
        &[
            (
                env::TARBALL_URL,
                "http://example.com/containerd-2.1.9-linux-amd64.tar.gz",
            ),
            (env::SHA256, SHA_A),
        ],
        &[],
    );
    assert!(e.contains(env::TARBALL_URL), "{e}");
    assert!(
        e.contains(&format!("{}=true", env::ALLOW_INSECURE_HTTP)),
        "{e}"
    );
}

#[test]
fn the_proxy_reaches_the_agent_and_its_credentials_stay_out_of_the_dry_run() {
    let sets = [
        "customContainerd.enabled=true",
        "customContainerd.tarballUrl=https://e.com/any.tar.gz",
        &format!("customContainerd.sha256={SHA_A}"),
        "proxy.httpsProxy=http://u:secret@p.corp:3128",
        "proxy.noProxy=10.0.0.0/8\\,.svc",
        "proxy.containerd=true",
    ];
    let v = round_trip(&sets);
    assert_eq!(v["proxy"]["httpsProxy"], "http://p.corp:3128");
    assert_eq!(v["proxy"]["httpProxy"], serde_json::Value::Null);
    assert_eq!(v["proxy"]["noProxy"], "10.0.0.0/8,.svc");
    assert_eq!(v["proxy"]["containerd"], true);
    assert!(!v.to_string().contains("secret"));
}
