//! The agent's download through a real proxy (Debian's tinyproxy, started here on
//! 127.0.0.1 with a generated config; `scripts/setup.d/registry-proxy.sh` installs it):
//! a download that goes through it, a proxy that refuses, a dead proxy, and a host in
//! `NO_PROXY` that bypasses a dead proxy.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cococtl_containerd::config::Checksum;
use cococtl_containerd::fetch::{self, FetchError, Options};
use cococtl_containerd::test_proxy::TestProxy;
use cococtl_containerd::test_registry;
use cococtl_core::proxy::Proxy;
use sha2::{Digest, Sha256};

const BODY: &[u8] = b"not really a tarball, but bytes with a known digest";

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Serves `BODY` to every GET on 127.0.0.1, as the agent's tests serve tarballs.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            // The whole request head: a proxy may send it in several writes and fails on
            // a server that answers and closes early.
            let mut req = vec![];
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                BODY.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(BODY);
        }
    });
    format!("http://{addr}/containerd-2.1.9-linux-amd64.tar.gz")
}

fn free_port() -> u16 {
    test_registry::free_port().unwrap()
}

/// A tinyproxy under its own temporary directory, both gone on drop.
struct Tinyproxy {
    proxy: TestProxy,
    _dir: tempfile::TempDir,
}

impl Tinyproxy {
    fn start(allow: &str, connect_port: u16) -> Tinyproxy {
        let dir = tempfile::tempdir().unwrap();
        let proxy = TestProxy::start(dir.path(), allow, connect_port).unwrap();
        Tinyproxy { proxy, _dir: dir }
    }

    fn url(&self) -> String {
        self.proxy.url()
    }

    fn log(&self) -> String {
        self.proxy.log()
    }
}

fn port_of(url: &str) -> u16 {
    let rest = url.strip_prefix("http://127.0.0.1:").unwrap();
    rest.split('/').next().unwrap().parse().unwrap()
}

fn opts(proxy: Proxy) -> Options {
    Options {
        attempts: 2,
        stall: Duration::from_secs(5),
        deadline: Duration::from_secs(30),
        backoff: Duration::from_millis(20),
        proxy,
        ..Options::default()
    }
}

fn through(proxy: &str, no_proxy: &str) -> Proxy {
    Proxy {
        https_proxy: proxy.into(),
        http_proxy: proxy.into(),
        no_proxy: no_proxy.into(),
    }
}

async fn get(url: &str, o: &Options) -> (Result<fetch::Fetched, FetchError>, PathBuf) {
    let dir = tempfile::tempdir().unwrap().keep();
    let dest = dir.join("c.tgz");
    let r = fetch::fetch(url, &dest, &Checksum::Sha256(sha(BODY)), o).await;
    (r, dest)
}

fn cleanup(dest: &Path) {
    let _ = std::fs::remove_dir_all(dest.parent().unwrap());
}

#[tokio::test]
async fn a_download_goes_through_the_configured_proxy() {
    let url = serve();
    let proxy = Tinyproxy::start("127.0.0.1", port_of(&url));
    let (r, dest) = get(&url, &opts(through(&proxy.url(), ""))).await;
    let f = r.unwrap_or_else(|e| panic!("{e}\n{}", proxy.log()));
    assert_eq!(f.sha256, sha(BODY));
    assert_eq!(std::fs::read(&dest).unwrap(), BODY);
    let log = proxy.log();
    assert!(
        log.contains(&format!("GET {url} ")),
        "tinyproxy did not log the request:\n{log}"
    );
    cleanup(&dest);
}

#[tokio::test]
async fn a_proxy_that_refuses_gives_an_error_naming_the_proxy() {
    let url = serve();
    // Only 127.0.0.2 may use it: tinyproxy answers our request with 403.
    let proxy = Tinyproxy::start("127.0.0.2", port_of(&url));
    let (r, dest) = get(&url, &opts(through(&proxy.url(), ""))).await;
    let e = r.unwrap_err().to_string();
    assert!(e.contains("HTTP 403"), "{e}");
    assert!(e.contains(&format!("through proxy {}", proxy.url())), "{e}");
    assert!(e.contains("NO_PROXY"), "the fix is named: {e}");
    assert!(!dest.exists());
    cleanup(&dest);
}

#[tokio::test]
async fn a_dead_proxy_gives_an_error_naming_it() {
    let url = serve();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let (r, dest) = get(&url, &opts(through(&dead, ""))).await;
    let e = r.unwrap_err().to_string();
    assert!(e.contains(&format!("through proxy {dead}")), "{e}");
    assert!(e.contains("2 attempts"), "{e}");
    cleanup(&dest);
}

#[tokio::test]
async fn a_host_in_no_proxy_bypasses_a_dead_proxy() {
    let url = serve();
    let dead = format!("http://127.0.0.1:{}", free_port());
    for no_proxy in ["127.0.0.1", "10.0.0.0/8,127.0.0.0/8", "*"] {
        let (r, dest) = get(&url, &opts(through(&dead, no_proxy))).await;
        let f = r.unwrap_or_else(|e| panic!("NO_PROXY={no_proxy}: {e}"));
        assert_eq!(f.sha256, sha(BODY));
        cleanup(&dest);
    }
}

#[tokio::test]
async fn credentials_in_the_proxy_url_never_appear_in_errors() {
    let url = serve();
    let port = free_port();
    let dead = format!("http://user:s3cret@127.0.0.1:{port}");
    let (r, dest) = get(&url, &opts(through(&dead, ""))).await;
    let e = r.unwrap_err().to_string();
    assert!(!e.contains("s3cret"), "{e}");
    assert!(e.contains(&format!("http://127.0.0.1:{port}")), "{e}");
    cleanup(&dest);
}
