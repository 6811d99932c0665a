//! cococtl's own API client behind a proxy, as kubectl behaves: `HTTP(S)_PROXY` from the
//! environment carries the API calls (through a real tinyproxy on 127.0.0.1, started
//! here; `scripts/setup.d/registry-proxy.sh` installs it), and a server listed in
//! `NO_PROXY` is reached directly even when the proxy is dead.

mod standin;

use std::path::Path;
use std::process::{Command, Output};

use cococtl_containerd::test_proxy::TestProxy;
use cococtl_containerd::test_registry;

fn free_port() -> u16 {
    test_registry::free_port().unwrap()
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

/// `cococtl status` with exactly these proxy variables (the caller's are removed).
fn status(kc: &Path, vars: &[(&str, String)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cococtl"));
    c.args(["status", "--kubeconfig"]).arg(kc);
    for k in [
        "KUBECONFIG",
        "RUST_LOG",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        c.env_remove(k);
    }
    for (k, v) in vars {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn api_calls_go_through_the_proxy_from_the_environment() {
    let (server, _dir, kc) = standin::with_nodes(1);
    let dir = tempfile::tempdir().unwrap();
    let proxy = TestProxy::start(dir.path(), "127.0.0.1", port_of(&server.url)).unwrap();
    let via = proxy.url();
    let o = status(
        &kc,
        &[("HTTPS_PROXY", via.clone()), ("HTTP_PROXY", via.clone())],
    );
    let log = proxy.log();
    assert!(
        log.contains(&format!("CONNECT 127.0.0.1:{}", port_of(&server.url))),
        "the API calls did not go through the proxy:\n{log}\n{}",
        standin::text(&o)
    );
    assert!(!server.requests().is_empty(), "{}", standin::text(&o));
    assert_ne!(o.status.code(), Some(3), "{}", standin::text(&o));
}

#[test]
fn a_server_in_no_proxy_is_reached_directly_past_a_dead_proxy() {
    let (server, _dir, kc) = standin::with_nodes(1);
    let dead = format!("http://127.0.0.1:{}", free_port());
    let o = status(
        &kc,
        &[
            ("HTTPS_PROXY", dead.clone()),
            ("HTTP_PROXY", dead),
            ("NO_PROXY", "10.0.0.0/8,127.0.0.1".into()),
        ],
    );
    assert!(!server.requests().is_empty(), "{}", standin::text(&o));
    assert_ne!(o.status.code(), Some(3), "{}", standin::text(&o));
}
