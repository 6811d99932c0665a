//! The host's service manager behind a trait. [`RealSystemd`] runs `systemctl`, entering
//! PID 1's mount namespace when the host is mounted elsewhere (the DaemonSet runs with
//! `hostPID`), so the host's systemd acts on the host's unit files. It enters it through
//! cococtl itself (`/proc/self/exe __host-exec -- systemctl ...`, the cli's `host_exec`
//! module), so the image needs no nsenter. The test builds add a process-based
//! implementation and a recording fake (`crate::testing`).

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
    /// namespace the agent cannot enter or a missing `systemctl` must refuse the install,
    /// naming the cause, not surface after the swap as a failed health gate.
    async fn reachable(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The host's systemd.
pub struct RealSystemd {
    /// Where the host's `/` is.
    pub host_root: PathBuf,
    /// The cococtl binary whose hidden `__host-exec` subcommand enters PID 1's mount
    /// namespace and runs `systemctl` there (used unless `host_root` is `/`).
    pub host_exec: PathBuf,
}

/// The agent's own binary, whichever path it was started by; `/proc/self/exe` is resolved
/// by the kernel in the child, so it names the running cococtl even if the file was
/// replaced since.
pub const SELF_EXE: &str = "/proc/self/exe";

/// The hidden subcommand of the cococtl binary that runs a command in PID 1's mount
/// namespace (the cli dispatches it before anything else).
pub const HOST_EXEC: &str = "__host-exec";

/// A `systemctl` call that does not return within this is abandoned (and killed).
const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(120);

impl RealSystemd {
    /// The host's systemd reached through this process's own binary.
    pub fn new(host_root: &Path) -> RealSystemd {
        RealSystemd {
            host_root: host_root.to_path_buf(),
            host_exec: PathBuf::from(SELF_EXE),
        }
    }

    async fn systemctl(&self, args: &[&str]) -> Result<std::process::Output, String> {
        let via_host = self.host_root != Path::new("/");
        let mut cmd = if via_host {
            let mut c = tokio::process::Command::new(&self.host_exec);
            c.args([HOST_EXEC, "--", "systemctl"]);
            c
        } else {
            tokio::process::Command::new("systemctl")
        };
        cmd.args(args).kill_on_drop(true);
        match tokio::time::timeout(SYSTEMCTL_TIMEOUT, cmd.output()).await {
            Err(_) => Err(format!(
                "systemctl {} did not return within {} s",
                args.join(" "),
                SYSTEMCTL_TIMEOUT.as_secs()
            )),
            Ok(Err(e)) => Err(spawn_failed(
                via_host.then_some(&self.host_exec),
                &args.join(" "),
                &e,
            )),
            Ok(Ok(out)) => match missing_on_host(via_host, &out) {
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

/// A `systemctl` (or the agent's own binary, re-run to enter the host) that could not be
/// started, named as the missing piece. `via_host` is the binary used for `__host-exec`.
fn spawn_failed(via_host: Option<&PathBuf>, args: &str, e: &std::io::Error) -> String {
    match (e.kind(), via_host) {
        (std::io::ErrorKind::NotFound, Some(exe)) => format!("the agent cannot re-run its own binary ({}) to reach the host's systemd as `cococtl {HOST_EXEC} -- systemctl`: {e}; the agent needs /proc mounted (hostPID, the cococtl image)", exe.display()),
        (std::io::ErrorKind::NotFound, None) => "systemctl is not on this host's PATH: the agent needs a systemd host".into(),
        (_, Some(exe)) => format!("{} {HOST_EXEC} -- systemctl {args}: {e}", exe.display()),
        (_, None) => format!("systemctl {args}: {e}"),
    }
}

/// `__host-exec` ran but could not run the host's `systemctl` (exit 126/127, or its own
/// message): the host has no systemd tools, which no retry or rollback fixes. Or it could
/// not enter PID 1's mount namespace: the pod lacks hostPID or privileges.
fn missing_on_host(via_host: bool, out: &std::process::Output) -> Option<String> {
    if !via_host {
        return None;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let exec_failed = err.contains("failed to execute systemctl");
    let entered =
        !err.contains("cannot open /proc/1/ns") && !err.contains("cannot enter PID 1's mount");
    if exec_failed || (entered && matches!(out.status.code(), Some(126 | 127))) {
        return Some(format!(
            "the host has no usable systemctl in PID 1's mount namespace ({}): the agent needs a systemd host",
            err.trim()
        ));
    }
    if !entered {
        return Some(format!(
            "the agent cannot enter the host's mount namespace ({}): the agent needs hostPID and a privileged container",
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
        Box::new(RealSystemd::new(host_root))
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
        let exe = PathBuf::from(SELF_EXE);
        assert!(spawn_failed(Some(&exe), "restart containerd.service", &nf)
            .starts_with("the agent cannot re-run its own binary (/proc/self/exe)"));
        assert!(spawn_failed(None, "restart containerd.service", &nf)
            .starts_with("systemctl is not on this host's PATH"));
        let why = missing_on_host(
            true,
            &out(
                127,
                "cococtl __host-exec: failed to execute systemctl: No such file or directory\n",
            ),
        )
        .unwrap();
        assert!(why.starts_with("the host has no usable systemctl"), "{why}");
        let why = missing_on_host(
            true,
            &out(
                1,
                "cococtl __host-exec: cannot open /proc/1/ns/mnt: Permission denied",
            ),
        )
        .unwrap();
        assert!(why.contains("hostPID"), "{why}");
        let why = missing_on_host(
            true,
            &out(
                1,
                "cococtl __host-exec: cannot enter PID 1's mount namespace (/proc/1/ns/mnt): Operation not permitted",
            ),
        )
        .unwrap();
        assert!(why.contains("hostPID"), "{why}");
        // systemctl's own failures (an inactive unit, exit 3) are not a missing tool.
        assert_eq!(missing_on_host(true, &out(3, "")), None);
        assert_eq!(missing_on_host(false, &out(127, "")), None);
    }

    #[tokio::test]
    async fn an_agent_that_cannot_rerun_itself_is_found_before_any_change() {
        // Here the binary is a test harness without `__host-exec`; the real one is run by
        // the cli's tests (tests/host_exec.rs, production_binary.rs). What this pins: a
        // missing binary is a refusal naming it, not a failure at the restart.
        let sd = RealSystemd {
            host_root: PathBuf::from("/nonexistent-host"),
            host_exec: PathBuf::from("/nonexistent-cococtl"),
        };
        let why = sd.reachable().await.unwrap_err();
        assert!(why.contains("/nonexistent-cococtl"), "{why}");
        assert!(why.contains("__host-exec -- systemctl"), "{why}");
    }
}
