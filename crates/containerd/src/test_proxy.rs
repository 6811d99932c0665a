//! A real HTTP/CONNECT proxy for tests (compiled only with the `test-hooks` feature):
//! Debian's tinyproxy in the foreground on 127.0.0.1, with a generated config and its
//! log under a directory the test owns. `scripts/setup.d/registry-proxy.sh` installs it.
//! The agent's download tests and the API client's proxy tests both go through it.
//! Dropping the value stops the proxy.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::test_registry::free_port;

/// The proxy could not be started.
#[derive(Debug, thiserror::Error)]
#[error("test proxy: {0}")]
pub struct ProxyError(String);

/// A running tinyproxy.
pub struct TestProxy {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl TestProxy {
    /// Starts a proxy under `dir` that accepts clients from `allow` (anything but
    /// 127.0.0.1 refuses the test) and CONNECT to `connect_port`.
    pub fn start(dir: &Path, allow: &str, connect_port: u16) -> Result<TestProxy, ProxyError> {
        let bin = ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or_else(|| {
                ProxyError(
                    "tinyproxy is not installed: run scripts/setup.d/registry-proxy.sh".into(),
                )
            })?;
        std::fs::create_dir_all(dir).map_err(|e| ProxyError(format!("{}: {e}", dir.display())))?;
        let log = dir.join("tinyproxy.log");
        let conf = dir.join("tinyproxy.conf");
        // tinyproxy takes no port 0: pick a free one, and another if it was taken meanwhile.
        for _ in 0..5 {
            let port = free_port().map_err(|e| ProxyError(e.to_string()))?;
            std::fs::write(
                &conf,
                format!(
                    "Port {port}\nListen 127.0.0.1\nTimeout 60\nLogFile \"{}\"\nLogLevel Info\nMaxClients 20\nAllow {allow}\nConnectPort {connect_port}\n",
                    log.display()
                ),
            )
            .map_err(|e| ProxyError(format!("{}: {e}", conf.display())))?;
            let mut child = Command::new(&bin)
                .args(["-d", "-c"])
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| ProxyError(format!("{}: {e}", bin.display())))?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Ok(TestProxy { child, port, log });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        Err(ProxyError("tinyproxy did not start listening".into()))
    }

    /// `http://127.0.0.1:<port>`, as a proxy variable names it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What tinyproxy logged so far (each request it forwarded or refused).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
