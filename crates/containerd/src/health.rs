//! The health gate after a restart: the unit is active, the socket answers a version
//! request, and the CRI plugin loaded (without it kubelet cannot use the node).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::systemd::{Systemd, UNIT};

/// The socket, under the host root.
pub const SOCKET: &str = "run/containerd/containerd.sock";

/// A healthy containerd: its version as the server reports it.
pub fn gate(
    systemd: &dyn Systemd,
    host_root: &Path,
    ctr: &Path,
    timeout: Duration,
) -> Result<String, String> {
    let socket = host_root.join(SOCKET);
    let deadline = Instant::now() + timeout;
    let mut last = String::from("not checked");
    while Instant::now() < deadline {
        match check(systemd, &socket, ctr) {
            Ok(v) => return Ok(v),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!(
        "containerd not healthy after {} s: {last}",
        timeout.as_secs()
    ))
}

fn check(systemd: &dyn Systemd, socket: &Path, ctr: &Path) -> Result<String, String> {
    if !systemd.is_active(UNIT) {
        return Err(format!("{UNIT} is not active"));
    }
    let run = |args: &[&str]| {
        Command::new(ctr)
            .arg("--address")
            .arg(socket)
            .args(args)
            .output()
            .map_err(|e| format!("{}: {e}", ctr.display()))
            .and_then(|o| {
                if o.status.success() {
                    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
                } else {
                    Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
                }
            })
    };
    let version = run(&["version"]).map_err(|e| format!("the socket does not answer: {e}"))?;
    let server = version
        .split("Server:")
        .nth(1)
        .and_then(|s| s.lines().find_map(|l| l.trim().strip_prefix("Version:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    let plugins = run(&["plugins", "ls"]).map_err(|e| format!("plugins ls: {e}"))?;
    let cri_ok = plugins.lines().any(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        cols.get(1) == Some(&"cri") && cols.last() == Some(&"ok")
    });
    if !cri_ok {
        return Err("the CRI plugin did not load (see `ctr plugins ls`)".into());
    }
    Ok(server)
}
