//! `proxy.*`: one proxy for everything cococtl installs (docs/values.md#proxy). The node
//! agent's downloads, the CAA DaemonSet and, when asked, containerd itself get it as
//! `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`; every enabled shim's in-guest agent gets it as
//! its `agent.httpsProxy`/`agent.noProxy` unless the shim sets its own.

use cococtl_core::proxy::Proxy;

use crate::config::ShimConfig;
use crate::raw;
use crate::validate::Sink;

const P: &str = "proxy";

/// Why a proxy URL cannot work, or `None`.
fn url_problem(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"));
    match rest {
        None => Some("must start with http:// or https://".into()),
        Some(r) if r.is_empty() || r.starts_with('/') || r.starts_with(':') => {
            Some("has no host".into())
        }
        Some(_) => None,
    }
}

/// Characters that would corrupt a destination: `;` splits kata-deploy's `AGENT_*_PROXY`
/// per shim, `"` and `\` end or escape the quoted value of containerd's systemd drop-in.
fn bad_char(s: &str) -> Option<char> {
    s.chars()
        .find(|c| matches!(c, ';' | '"' | '\\') || c.is_control())
}

/// Validates the section: the proxy, and whether containerd gets it too.
pub fn validate(v: &mut dyn Sink, r: &raw::Proxy, custom_containerd: bool) -> (Proxy, bool) {
    let p = Proxy {
        https_proxy: r.https_proxy.trim().to_string(),
        http_proxy: r.http_proxy.trim().to_string(),
        no_proxy: r.no_proxy.trim().to_string(),
    };
    for (key, val) in [("httpsProxy", &p.https_proxy), ("httpProxy", &p.http_proxy)] {
        if val.is_empty() {
            continue;
        }
        let why = url_problem(val).or_else(|| {
            val.contains(char::is_whitespace)
                .then(|| "contains white space".to_string())
        });
        if let Some(why) = why {
            v.err(
                &format!("{P}.{key}"),
                format!("`{val}` {why}"),
                format!("--set {P}.{key}=http://proxy.example.com:3128"),
            );
        }
    }
    for (key, val) in [
        ("httpsProxy", &p.https_proxy),
        ("httpProxy", &p.http_proxy),
        ("noProxy", &p.no_proxy),
    ] {
        if let Some(c) = bad_char(val) {
            v.err(
                &format!("{P}.{key}"),
                format!("must not contain {c:?} (it would corrupt kata-deploy's AGENT_*_PROXY or containerd's systemd drop-in)"),
                "remove it; separate noProxy entries with `,`".into(),
            );
        }
    }
    let mut containerd = r.containerd;
    if containerd && !p.is_set() {
        v.warn(
            &format!("{P}.containerd"),
            "is true, but neither proxy.httpsProxy nor proxy.httpProxy is set: containerd is left as it is".into(),
        );
        containerd = false;
    }
    if containerd && !custom_containerd {
        v.err(
            &format!("{P}.containerd"),
            "containerd's proxy drop-in is written by cococtl's node agent, which runs only with customContainerd.enabled=true".into(),
            "--set customContainerd.enabled=true (with its tarball), or set containerd's proxy on the nodes yourself and --set proxy.containerd=false".into(),
        );
    }
    (p, containerd)
}

/// Every shim without its own `agent.httpsProxy`/`agent.noProxy` takes the global one; a
/// shim's own setting wins.
pub fn default_shim_agents(shims: &mut [ShimConfig], p: &Proxy) {
    for s in shims {
        if s.https_proxy.is_empty() {
            s.https_proxy = p.https_proxy.clone();
        }
        if s.no_proxy.is_empty() {
            s.no_proxy = p.no_proxy.clone();
        }
    }
}
