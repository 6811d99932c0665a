//! The health gate after a restart. "Healthy" means: the unit is active, it runs the
//! binary cococtl meant it to run (the effective `ExecStart`, all drop-ins considered),
//! the server answering on the socket reports that binary's version, and its CRI plugin
//! loaded (without it kubelet cannot use the node). Anything less is not healthy: the
//! agent never labels a node ready for a containerd that is not the one it installed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::layout;
use crate::service::ServiceManager;
use crate::stop::Stop;
use crate::unit;

/// What the running server says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// The version it reports.
    pub version: String,
    /// The CRI plugin loaded.
    pub cri_ok: bool,
}

/// Asks the containerd answering on the host's socket.
#[async_trait]
pub trait Query: Send + Sync {
    /// The server's version and CRI status; `ctr` is the client to ask with.
    async fn server(&self, host_root: &Path, ctr: &Path) -> Result<Server, String>;
    /// The version a containerd binary on the host reports (`containerd --version`).
    async fn binary_version(&self, binary: &Path) -> Result<String, String>;
}

/// Asks with `ctr` over the socket under the host root.
pub struct CtrQuery;

const CTR_TIMEOUT: Duration = Duration::from_secs(10);

async fn ctr(ctr: &Path, socket: &Path, args: &[&str]) -> Result<String, String> {
    let mut cmd = tokio::process::Command::new(ctr);
    cmd.arg("--address")
        .arg(socket)
        .args(args)
        .kill_on_drop(true);
    let out = tokio::time::timeout(CTR_TIMEOUT, cmd.output())
        .await
        .map_err(|_| {
            format!(
                "ctr {} did not answer within {} s",
                args.join(" "),
                CTR_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("{}: {e}", ctr.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

#[async_trait]
impl Query for CtrQuery {
    async fn server(&self, host_root: &Path, ctr_bin: &Path) -> Result<Server, String> {
        let socket = layout::at(host_root, layout::SOCKET);
        let version = ctr(ctr_bin, &socket, &["version"])
            .await
            .map_err(|e| format!("the socket does not answer: {e}"))?;
        let version = version
            .split("Server:")
            .nth(1)
            .and_then(|s| s.lines().find_map(|l| l.trim().strip_prefix("Version:")))
            .map(|v| v.trim().to_string())
            .ok_or("the server did not report a version")?;
        let plugins = ctr(ctr_bin, &socket, &["plugins", "ls"])
            .await
            .map_err(|e| format!("plugins ls: {e}"))?;
        let cri_ok = plugins.lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.get(1) == Some(&"cri") && cols.last() == Some(&"ok")
        });
        Ok(Server { version, cri_ok })
    }

    async fn binary_version(&self, binary: &Path) -> Result<String, String> {
        crate::verify::binary_version(binary).await
    }
}

/// `v1.7.24` and `1.7.24` are the same version.
pub fn same_version(a: &str, b: &str) -> bool {
    a.trim().trim_start_matches('v') == b.trim().trim_start_matches('v')
}

/// What must be running for the gate to pass.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The binary the unit must run (absolute, as the unit names it).
    pub exec: String,
    /// The version the server must report.
    pub version: String,
}

impl Expect {
    /// The `ctr` to ask with: the one installed next to the expected binary, else the
    /// distribution's.
    pub fn ctr(&self, host_root: &Path) -> PathBuf {
        let dir = Path::new(&self.exec)
            .parent()
            .unwrap_or(Path::new("/usr/bin"));
        let next_to = layout::at(host_root, &dir.join("ctr").to_string_lossy());
        if next_to.exists() {
            next_to
        } else {
            layout::at(host_root, "usr/bin/ctr")
        }
    }
}

/// One look: `Ok` with the version when healthy; `Err((why, final))`, `final` when
/// waiting longer cannot help (the unit runs another binary).
pub async fn check(
    service: &dyn ServiceManager,
    query: &dyn Query,
    host_root: &Path,
    expect: &Expect,
) -> Result<String, (String, bool)> {
    let exec = unit::exec_start(host_root, layout::UNIT, None)
        .map_err(|e| (format!("cannot read the unit: {e}"), true))?;
    match exec {
        Some(e) if e.binary == expect.exec => {}
        Some(e) => {
            return Err((
                format!(
                    "{} runs {} (set by /{}), not {}",
                    layout::UNIT,
                    e.binary,
                    e.source,
                    expect.exec
                ),
                true,
            ))
        }
        None => return Err((format!("{} has no ExecStart", layout::UNIT), true)),
    }
    match service.is_active(layout::UNIT).await {
        Ok(true) => {}
        Ok(false) => return Err((format!("{} is not active", layout::UNIT), false)),
        Err(e) => return Err((e, false)),
    }
    let server = query
        .server(host_root, &expect.ctr(host_root))
        .await
        .map_err(|e| (e, false))?;
    if !same_version(&server.version, &expect.version) {
        return Err((
            format!(
                "the server answering on the socket is containerd {}, not {}",
                server.version, expect.version
            ),
            false,
        ));
    }
    if !server.cri_ok {
        return Err((
            "the CRI plugin did not load (see `ctr plugins ls`)".into(),
            false,
        ));
    }
    Ok(server.version)
}

/// Waits up to `timeout` for [`check`] to pass.
pub async fn gate(
    service: &dyn ServiceManager,
    query: &dyn Query,
    host_root: &Path,
    expect: &Expect,
    timeout: Duration,
    stop: &Stop,
) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match check(service, query, host_root, expect).await {
            Ok(v) => return Ok(v),
            Err((why, true)) => return Err(why),
            Err((why, false)) => {
                if stop.requested() {
                    return Err(format!("stopped (SIGTERM) while waiting: {why}"));
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "containerd not healthy after {} s: {why}",
                        timeout.as_secs()
                    ));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
