//! Test service managers (compiled only with the `test-hooks` feature).
//!
//! - [`ProcessSystemd`]: "restarting containerd" really starts the binary the unit and its
//!   drop-ins resolve to, as an isolated process under the host root (end-to-end tests
//!   with real containerd builds).
//! - [`FakeNode`]: a recording fake, youki's `TestHelperSyscall` being the model. Its
//!   "binaries" are text files (`fake-containerd <version>`); a restart "runs" whatever
//!   the unit's effective `ExecStart` names, and the query answers with that file's
//!   version. Every call is recorded, so in-process tests assert on what would have been
//!   done to the host at every journal step and failure point.
//! - [`from_env`]: which one the test binary uses (`COCOCTL_TEST_SYSTEMD=process`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::health::{Query, Server};
use crate::layout;
use crate::service::{RealSystemd, ServiceManager};
use crate::unit;

/// The service manager for the agent: the process-based one when the test environment
/// asks for it, else the host's systemd.
pub fn from_env(host_root: &Path) -> Box<dyn ServiceManager> {
    if std::env::var("COCOCTL_TEST_SYSTEMD").as_deref() == Ok("process") {
        Box::new(ProcessSystemd {
            host_root: host_root.to_path_buf(),
        })
    } else {
        Box::new(RealSystemd::new(host_root))
    }
}

/// Runs containerd as a plain process under the host root, tracked by a pid file so a
/// later agent process (after a kill -9) finds it.
pub struct ProcessSystemd {
    /// The fake host.
    pub host_root: PathBuf,
}

impl ProcessSystemd {
    fn pid_file(&self) -> PathBuf {
        self.host_root.join("run/cococtl-test-containerd.pid")
    }

    fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Running and not a zombie.
    fn alive(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(s) => s
                .rsplit_once(')')
                .map(|(_, rest)| rest.trim_start())
                .is_some_and(|r| !r.starts_with('Z') && !r.starts_with('X')),
            Err(_) => false,
        }
    }

    /// Stops the containerd this implementation started, if any.
    pub fn stop(&self) {
        let Some(pid) = self.pid() else { return };
        let _ = Command::new("kill").arg(pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Self::alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if Self::alive(pid) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        let _ = std::fs::remove_file(self.pid_file());
    }

    /// Starts what the unit resolves to (blocking; for test set-up too).
    pub fn start(&self, unit_name: &str) -> Result<(), String> {
        self.stop();
        let exec = unit::exec_start(&self.host_root, unit_name, None)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{unit_name} has no ExecStart"))?;
        let bin = layout::at(&self.host_root, &exec.binary);
        let log = self.host_root.join("var/log/containerd.log");
        std::fs::create_dir_all(log.parent().unwrap_or(&self.host_root))
            .map_err(|e| e.to_string())?;
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&bin)
            .arg("--config")
            .arg(self.host_root.join("etc/containerd/config.toml"))
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        std::fs::create_dir_all(self.host_root.join("run")).map_err(|e| e.to_string())?;
        std::fs::write(self.pid_file(), child.id().to_string()).map_err(|e| e.to_string())?;
        // Reaped by whoever outlives it; the pid file is the handle.
        std::mem::forget(child);
        Ok(())
    }
}

#[async_trait]
impl ServiceManager for ProcessSystemd {
    async fn daemon_reload(&self) -> Result<(), String> {
        Ok(())
    }

    async fn restart(&self, unit_name: &str) -> Result<(), String> {
        self.start(unit_name)
    }

    async fn is_active(&self, _unit: &str) -> Result<bool, String> {
        Ok(self.pid().is_some_and(Self::alive))
    }
}

/// A recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `daemon-reload`.
    DaemonReload,
    /// `restart` of a unit; the binary it started (`None`: it would not start).
    Restart(Option<String>),
}

#[derive(Debug, Default)]
struct Node {
    calls: Vec<Call>,
    /// (binary, version) running.
    running: Option<(String, String)>,
}

/// The recording fake: a simulated containerd on a real temporary host root.
#[derive(Debug, Default)]
pub struct FakeNode {
    /// The host.
    pub host_root: PathBuf,
    node: Mutex<Node>,
}

/// A fake containerd binary's content: what a [`FakeNode`] runs.
pub fn fake_binary(version: &str) -> String {
    format!("fake-containerd {version}\n")
}

/// A fake binary that "does not start".
pub const BROKEN_BINARY: &str = "fake-containerd broken\n";

impl FakeNode {
    /// A fake node for `host_root`, with the distribution's containerd running.
    pub fn new(host_root: &Path) -> FakeNode {
        let n = FakeNode {
            host_root: host_root.to_path_buf(),
            node: Mutex::default(),
        };
        n.start();
        n.calls_clear();
        n
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Node> {
        self.node.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Forgets the calls so far.
    pub fn calls_clear(&self) {
        self.lock().calls.clear();
    }

    /// Restarts recorded.
    pub fn restarts(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| matches!(c, Call::Restart(_)))
            .count()
    }

    /// (binary, version) running now.
    pub fn running(&self) -> Option<(String, String)> {
        self.lock().running.clone()
    }

    fn start(&self) -> Option<String> {
        let exec = unit::exec_start(&self.host_root, layout::UNIT, None)
            .ok()
            .flatten()?;
        let text = std::fs::read_to_string(layout::at(&self.host_root, &exec.binary)).ok();
        let version = text
            .as_deref()
            .and_then(|t| t.strip_prefix("fake-containerd "))
            .map(|v| v.trim().to_string())
            .filter(|v| v != "broken");
        let mut n = self.lock();
        n.running = version.map(|v| (exec.binary.clone(), v));
        let started = n.running.as_ref().map(|(b, _)| b.clone());
        n.calls.push(Call::Restart(started));
        n.running.as_ref().map(|(b, _)| b.clone())
    }
}

#[async_trait]
impl ServiceManager for FakeNode {
    async fn daemon_reload(&self) -> Result<(), String> {
        self.lock().calls.push(Call::DaemonReload);
        Ok(())
    }

    async fn restart(&self, _unit: &str) -> Result<(), String> {
        self.start();
        Ok(())
    }

    async fn is_active(&self, _unit: &str) -> Result<bool, String> {
        Ok(self.lock().running.is_some())
    }
}

#[async_trait]
impl Query for FakeNode {
    async fn server(&self, _host_root: &Path, _ctr: &Path) -> Result<Server, String> {
        match &self.lock().running {
            Some((_, v)) => Ok(Server {
                version: v.clone(),
                cri_ok: true,
            }),
            None => Err("the socket does not answer: connection refused".into()),
        }
    }

    async fn binary_version(&self, binary: &Path) -> Result<String, String> {
        let t =
            std::fs::read_to_string(binary).map_err(|e| format!("{}: {e}", binary.display()))?;
        t.strip_prefix("fake-containerd ")
            .map(|v| v.trim().to_string())
            .ok_or_else(|| format!("{}: not a containerd binary", binary.display()))
    }
}
