//! The host's service manager behind a trait. [`RealSystemd`] runs `systemctl`, entering
//! PID 1's mount namespace when the host is mounted elsewhere (the DaemonSet runs with
//! `hostPID`), so the host's systemd acts on the host's unit files. The test builds add a
//! process-based implementation and a recording fake (`crate::testing`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;

/// What the agent asks of systemd.
#[async_trait]
pub trait ServiceManager: Send + Sync {
    /// `systemctl daemon-reload`.
    async fn daemon_reload(&self) -> Result<(), String>;
    /// `systemctl restart <unit>`.
    async fn restart(&self, unit: &str) -> Result<(), String>;
    /// `systemctl is-active <unit>`; an error when systemd could not be asked.
    async fn is_active(&self, unit: &str) -> Result<bool, String>;
    /// Whether systemd can be asked at all, checked before the first host change: a
    /// missing `nsenter` or `systemctl` must refuse the install, naming the tool, not
    /// surface after the swap as a failed health gate.
    async fn reachable(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The host's systemd.
pub struct RealSystemd {
    /// Where the host's `/` is.
    pub host_root: PathBuf,
}

/// A `systemctl` call that does not return within this is abandoned (and killed).
const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(120);

impl RealSystemd {
    async fn systemctl(&self, args: &[&str]) -> Result<std::process::Output, String> {
        let mut cmd = if self.host_root == Path::new("/") {
            tokio::process::Command::new("systemctl")
        } else {
            let mut c = tokio::process::Command::new("nsenter");
            c.args(["-t", "1", "-m", "--", "systemctl"]);
            c
        };
        cmd.args(args).kill_on_drop(true);
        let via_nsenter = self.host_root != Path::new("/");
        match tokio::time::timeout(SYSTEMCTL_TIMEOUT, cmd.output()).await {
            Err(_) => Err(format!(
                "systemctl {} did not return within {} s",
                args.join(" "),
                SYSTEMCTL_TIMEOUT.as_secs()
            )),
            Ok(Err(e)) => Err(spawn_failed(via_nsenter, &args.join(" "), &e)),
            Ok(Ok(out)) => match missing_on_host(via_nsenter, &out) {
                Some(why) => Err(why),
                None => Ok(out),
            },
        }
    }

    async fn ok(&self, args: &[&str]) -> Result<(), String> {
        let out = self.systemctl(args).await?;
        out.status.success().then_some(()).ok_or_else(|| {
            format!(
                "systemctl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })
    }
}

/// A `systemctl` (or `nsenter`) that could not be started, named as the missing tool.
fn spawn_failed(via_nsenter: bool, args: &str, e: &std::io::Error) -> String {
    match (e.kind(), via_nsenter) {
        (std::io::ErrorKind::NotFound, true) => "nsenter is not in the agent's image (it reaches the host's systemd as `nsenter -t 1 -m -- systemctl`): use the cococtl image, which carries it".into(),
        (std::io::ErrorKind::NotFound, false) => "systemctl is not on this host's PATH: the agent needs a systemd host".into(),
        _ if via_nsenter => format!("nsenter -t 1 -m -- systemctl {args}: {e}"),
        _ => format!("systemctl {args}: {e}"),
    }
}

/// nsenter ran but could not run the host's `systemctl` (exit 126/127, or its own
/// message): the host has no systemd tools, which no retry or rollback fixes.
fn missing_on_host(via_nsenter: bool, out: &std::process::Output) -> Option<String> {
    if !via_nsenter {
        return None;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let exec_failed = err.contains("failed to execute systemctl");
    let entered = !err.contains("cannot open /proc/1/ns");
    if exec_failed || (entered && matches!(out.status.code(), Some(126 | 127))) {
        return Some(format!(
            "the host has no usable systemctl in PID 1's mount namespace ({}): the agent needs a systemd host",
            err.trim()
        ));
    }
    if !entered {
        return Some(format!(
            "nsenter cannot enter the host's mount namespace ({}): the agent needs hostPID and a privileged container",
            err.trim()
        ));
    }
    None
}

#[async_trait]
impl ServiceManager for RealSystemd {
    async fn reachable(&self) -> Result<(), String> {
        self.systemctl(&["--version"]).await.map(|_| ())
    }

    async fn daemon_reload(&self) -> Result<(), String> {
        self.ok(&["daemon-reload"]).await
    }

    async fn restart(&self, unit: &str) -> Result<(), String> {
        self.ok(&["restart", unit]).await
    }

    async fn is_active(&self, unit: &str) -> Result<bool, String> {
        let out = self.systemctl(&["is-active", unit]).await?;
        // `is-active` exits non-zero for inactive/failed units; only the word counts.
        let word = String::from_utf8_lossy(&out.stdout).trim().to_string();
        match word.as_str() {
            "active" | "reloading" => Ok(true),
            "inactive" | "failed" | "activating" | "deactivating" => Ok(false),
            _ => Err(format!(
                "systemctl is-active {unit}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        }
    }
}

/// The service manager the agent uses: the host's systemd. Test builds (`test-hooks`
/// feature) honour `COCOCTL_TEST_SYSTEMD=process`; production builds cannot.
pub fn for_host(host_root: &Path) -> Box<dyn ServiceManager> {
    #[cfg(feature = "test-hooks")]
    {
        crate::testing::from_env(host_root)
    }
    #[cfg(not(feature = "test-hooks"))]
    {
        Box::new(RealSystemd {
            host_root: host_root.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn out(code: i32, stderr: &str) -> std::process::Output {
        std::process::Output {
            status: std::process::ExitStatus::from_raw(code << 8),
            stdout: vec![],
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_missing_tool_is_named() {
        let nf = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert!(spawn_failed(true, "restart containerd.service", &nf)
            .starts_with("nsenter is not in the agent's image"));
        assert!(spawn_failed(false, "restart containerd.service", &nf)
            .starts_with("systemctl is not on this host's PATH"));
        let why = missing_on_host(
            true,
            &out(
                127,
                "nsenter: failed to execute systemctl: No such file or directory\n",
            ),
        )
        .unwrap();
        assert!(why.starts_with("the host has no usable systemctl"), "{why}");
        let why = missing_on_host(
            true,
            &out(1, "nsenter: cannot open /proc/1/ns/mnt: Permission denied"),
        )
        .unwrap();
        assert!(why.contains("hostPID"), "{why}");
        // systemctl's own failures (an inactive unit, exit 3) are not a missing tool.
        assert_eq!(missing_on_host(true, &out(3, "")), None);
        assert_eq!(missing_on_host(false, &out(127, "")), None);
    }

    #[tokio::test]
    async fn a_host_without_systemd_is_found_before_any_change() {
        // This sandbox cannot enter PID 1's namespaces: the agent must say so, not fail
        // later at the restart. (Where it can, `--version` answers and this is Ok.)
        let sd = RealSystemd {
            host_root: PathBuf::from("/nonexistent-host"),
        };
        match sd.reachable().await {
            Ok(()) => {}
            Err(why) => assert!(
                why.contains("nsenter") || why.contains("systemctl"),
                "{why}"
            ),
        }
    }
}
