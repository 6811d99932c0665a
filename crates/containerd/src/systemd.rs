//! systemd behind a trait. [`RealSystemd`] runs `systemctl`, entering PID 1's mount
//! namespace when the agent sees the host under `--host-root` (the DaemonSet runs with
//! `hostPID`), so the host's systemd acts on the host's unit files. [`ProcessSystemd`] is the
//! test implementation: "restarting containerd" really starts the installed binary as an
//! isolated process, from the ExecStart the unit and its drop-ins resolve to.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const UNIT: &str = "containerd.service";
/// Where units live, in the order systemd reads them (later wins for the unit itself).
const UNIT_DIRS: &[&str] = &[
    "lib/systemd/system",
    "usr/lib/systemd/system",
    "etc/systemd/system",
];

pub trait Systemd {
    fn daemon_reload(&self) -> Result<(), String>;
    fn restart(&self, unit: &str) -> Result<(), String>;
    fn is_active(&self, unit: &str) -> bool;
}

/// The first word of the effective `ExecStart` of `unit`: the unit file's, overridden by
/// drop-ins in name order (an empty `ExecStart=` resets, as in systemd). `skip` drop-ins are
/// ignored (in-place mode asks what the unit runs without cococtl's own drop-in).
pub fn exec_start(host_root: &Path, unit: &str, skip: Option<&str>) -> Option<String> {
    let last_exec = |text: &str, current: Option<String>| {
        text.lines().fold(current, |cur, l| {
            match l.trim().strip_prefix("ExecStart=") {
                Some("") => None,
                Some(v) => v
                    .split_whitespace()
                    .next()
                    .map(|s| s.trim_start_matches(['-', '@', '+', '!']).to_string()),
                None => cur,
            }
        })
    };
    let mut exec = None;
    for d in UNIT_DIRS {
        if let Ok(text) = std::fs::read_to_string(host_root.join(d).join(unit)) {
            exec = last_exec(&text, None);
        }
    }
    let dropin_dir = host_root
        .join("etc/systemd/system")
        .join(format!("{unit}.d"));
    let mut dropins: Vec<PathBuf> = std::fs::read_dir(&dropin_dir)
        .map(|it| {
            it.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect()
        })
        .unwrap_or_default();
    dropins.sort();
    for p in dropins {
        if skip.is_some_and(|s| p.file_name().is_some_and(|n| n == s)) {
            continue;
        }
        if let Ok(text) = std::fs::read_to_string(&p) {
            if text.lines().any(|l| l.trim().starts_with("ExecStart=")) {
                exec = last_exec(&text, exec);
            }
        }
    }
    exec
}

pub struct RealSystemd {
    pub host_root: PathBuf,
}

impl RealSystemd {
    fn systemctl(&self, args: &[&str]) -> Result<std::process::Output, String> {
        let mut cmd = if self.host_root == Path::new("/") {
            Command::new("systemctl")
        } else {
            let mut c = Command::new("nsenter");
            c.args(["-t", "1", "-m", "--", "systemctl"]);
            c
        };
        cmd.args(args)
            .output()
            .map_err(|e| format!("systemctl {}: {e}", args.join(" ")))
    }
}

impl Systemd for RealSystemd {
    fn daemon_reload(&self) -> Result<(), String> {
        let out = self.systemctl(&["daemon-reload"])?;
        out.status
            .success()
            .then_some(())
            .ok_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_string())
    }

    fn restart(&self, unit: &str) -> Result<(), String> {
        let out = self.systemctl(&["restart", unit])?;
        out.status
            .success()
            .then_some(())
            .ok_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_string())
    }

    fn is_active(&self, unit: &str) -> bool {
        self.systemctl(&["is-active", "--quiet", unit])
            .map(|o| o.status.success())
            .unwrap_or(false)
    }
}

/// Test systemd: runs containerd as a plain process under the host root, tracked by a pid
/// file so a later agent process (after a kill -9) finds it.
pub struct ProcessSystemd {
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
        // SAFETY: signalling a pid this implementation started and recorded.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Self::alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if Self::alive(pid) {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = std::fs::remove_file(self.pid_file());
    }
}

impl Systemd for ProcessSystemd {
    fn daemon_reload(&self) -> Result<(), String> {
        Ok(())
    }

    fn restart(&self, unit: &str) -> Result<(), String> {
        self.stop();
        let exec = exec_start(&self.host_root, unit, None)
            .ok_or_else(|| format!("{unit} has no ExecStart"))?;
        let bin = self.host_root.join(exec.trim_start_matches('/'));
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
        // Let it be reaped by whoever outlives it; the pid file is the handle.
        std::mem::forget(child);
        Ok(())
    }

    fn is_active(&self, _unit: &str) -> bool {
        self.pid().is_some_and(Self::alive)
    }
}
