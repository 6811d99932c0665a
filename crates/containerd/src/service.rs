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
        match tokio::time::timeout(SYSTEMCTL_TIMEOUT, cmd.output()).await {
            Err(_) => Err(format!(
                "systemctl {} did not return within {} s",
                args.join(" "),
                SYSTEMCTL_TIMEOUT.as_secs()
            )),
            Ok(r) => r.map_err(|e| format!("systemctl {}: {e}", args.join(" "))),
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

#[async_trait]
impl ServiceManager for RealSystemd {
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
