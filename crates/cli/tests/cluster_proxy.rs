//! cococtl's own API client behind a proxy, as kubectl behaves: `HTTP(S)_PROXY` from the
//! environment carries the API calls (through a real tinyproxy on 127.0.0.1, started
//! here; `scripts/setup.d/registry-proxy.sh` installs it), and a server listed in
//! `NO_PROXY` is reached directly even when the proxy is dead.

mod standin;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A foreground tinyproxy allowing CONNECT to `connect_port`, killed on drop.
struct Tinyproxy {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tinyproxy {
    fn start(connect_port: u16) -> Tinyproxy {
        let bin = ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .expect("tinyproxy is not installed: run scripts/setup.d/registry-proxy.sh");
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("tinyproxy.log");
        let conf = dir.path().join("tinyproxy.conf");
        for _ in 0..5 {
            let port = free_port();
            std::fs::write(
                &conf,
                format!(
                    "Port {port}\nListen 127.0.0.1\nTimeout 60\nLogFile \"{}\"\nLogLevel Info\nMaxClients 20\nAllow 127.0.0.1\nConnectPort {connect_port}\n",
                    log.display()
                ),
            )
            .unwrap();
            let mut child = Command::new(&bin)
                .args(["-d", "-c"])
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Tinyproxy {
                        child,
                        port,
                        log,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("tinyproxy did not start listening");
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    let proxy = Tinyproxy::start(port_of(&server.url));
    let via = format!("http://127.0.0.1:{}", proxy.port);
    let o = status(
        &kc,
        &[("HTTPS_PROXY", via.clone()), ("HTTP_PROXY", via.clone())],
    );
    let log = std::fs::read_to_string(&proxy.log).unwrap_or_default();
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
