//! Install, restore, recovery and status on one node.
//!
//! Every run holds the host lock, first finishes or undoes whatever an interrupted run left
//! (the journal), validates everything that can be validated, and checks free space,
//! before its first host change. Every host change goes through a journalled transaction;
//! any error after the first change rolls the transaction back in the same run. A change
//! is committed (state.json written) only after the health gate saw the intended binary,
//! at the intended version, answering on the socket.

mod install;
mod recover;
mod restore;
mod status;
mod transaction;

pub use status::{status, Status};

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::{Config, Mode};
use crate::faults::{Crash, Faults};
use crate::fetch::{self, Fetched};
use crate::health::{self, Expect, Query};
use crate::journal::{self, Action, Content, Journal, Tx, TxError};
use crate::report::{Report, Reporter, State};
use crate::service::ServiceManager;
use crate::space::{self, NoSpace};
use crate::state::{self, Installed, OwnedFile, StateError};
use crate::stop::Stop;
use crate::{extract, layout, lock, unit, verify};

/// Why a run did not end as asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The host or the settings cannot work; nothing was changed.
    #[error("{why}\n  fix: {fix}")]
    Refused {
        /// What is wrong, naming the host file or setting.
        why: String,
        /// What to do.
        fix: String,
    },
    /// Another agent holds the host.
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    /// Download failed; nothing was changed.
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    /// The tarball was refused; nothing was changed.
    #[error(transparent)]
    Extract(#[from] extract::ExtractError),
    /// The binaries were refused; nothing was changed.
    #[error(transparent)]
    Verify(#[from] verify::VerifyError),
    /// Not enough room; nothing was changed.
    #[error(transparent)]
    NoSpace(#[from] NoSpace),
    /// state.json is unreadable; nothing was changed.
    #[error(transparent)]
    State(#[from] StateError),
    /// Staging could not be prepared; nothing on the host was changed.
    #[error("{what}: {source}")]
    Staging {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The change failed and was undone; the previous containerd is healthy.
    #[error("{why}; rolled back: the previous containerd {version} is running and healthy")]
    RolledBack {
        /// What failed.
        why: String,
        /// The version now answering.
        version: String,
    },
    /// The change failed and was undone, but the previous containerd is not healthy.
    #[error("{why}; rolled back, but the previous containerd is not healthy either ({after}): the node needs attention")]
    RollbackUnhealthy {
        /// What failed.
        why: String,
        /// The gate's verdict after the rollback.
        after: String,
    },
    /// Undoing a change failed; the journal is kept and the next run retries the undo.
    #[error("{why}; undoing it failed too ({undo}); the journal is kept and the next run of the agent finishes the undo")]
    UndoFailed {
        /// What failed first.
        why: String,
        /// What failed while undoing.
        undo: String,
    },
    /// SIGTERM: the run stopped; any change it had started was rolled back.
    #[error("stopped by SIGTERM{}", if *rolled_back { ": the change in progress was rolled back" } else { " before any host change" })]
    Stopped {
        /// A change had started and was undone.
        rolled_back: bool,
    },
    /// The restore changed nothing because files were changed by someone else.
    #[error("{0}")]
    Diverged(String),
    /// Installed, but the node could not be labelled.
    #[error("containerd is installed and healthy, but the node could not be labelled: {0}")]
    Report(String),
    /// A simulated crash (tests only): the run ends with no cleanup.
    #[error(transparent)]
    Crash(#[from] Crash),
}

impl Error {
    /// Nothing on the host changed and the input is at fault (exit 2).
    pub fn is_input_error(&self) -> bool {
        match self {
            // A full disk is the node's state, not the input's fault.
            Error::Fetch(fetch::FetchError::NoSpace { .. })
            | Error::Extract(extract::ExtractError::NoSpace { .. }) => false,
            Error::Refused { .. } | Error::Fetch(_) | Error::Extract(_) | Error::Verify(_) => true,
            _ => false,
        }
    }
}

fn tx_error(e: TxError) -> Result<String, Error> {
    match e {
        TxError::Crash(c) => Err(Error::Crash(c)),
        other => Ok(other.to_string()),
    }
}

fn sha256_file(p: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(p)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

fn refused(why: impl Into<String>, fix: impl Into<String>) -> Error {
    Error::Refused {
        why: why.into(),
        fix: fix.into(),
    }
}

/// A transaction id unique on this host: recovery tells a committed transaction from an
/// uncommitted one by comparing ids, so two transactions must never share one.
fn tx_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}{:09}-{}-{}",
        now.as_secs(),
        now.subsec_nanos(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Installed (or upgraded to) this.
    Installed(Installed),
    /// It was already installed and healthy.
    AlreadyInstalled(Installed),
}

/// The agent's environment: host root, service manager, health query, reporting.
pub struct Agent<'a> {
    /// Where the host's `/` is (absolute).
    pub host_root: PathBuf,
    /// systemd.
    pub service: &'a dyn ServiceManager,
    /// Asks the running containerd.
    pub query: &'a dyn Query,
    /// Publishes the node's state.
    pub reporter: &'a dyn Reporter,
    /// Download behaviour.
    pub fetch: fetch::Options,
    /// How long a restarted containerd has to pass the gate.
    pub health_timeout: Duration,
    /// SIGTERM.
    pub stop: Stop,
    /// Fault injection (tests only; empty in production builds).
    pub faults: &'a Faults,
}

/// A planned transaction: the target state and how to get there.
struct Plan {
    target: Installed,
    /// Staged file → host path, in write order.
    writes: Vec<(PathBuf, String)>,
    /// Bytes files (the drop-ins), in write order.
    dropins: Vec<(String, Vec<u8>)>,
    /// Host files of the previous install that this one no longer has.
    drop: Vec<OwnedFile>,
    /// Directories to remove once committed.
    cleanup: Vec<String>,
    /// Host files the previous install wrote.
    previous_paths: Vec<String>,
}

impl Agent<'_> {
    fn at(&self, rel: &str) -> PathBuf {
        layout::at(&self.host_root, rel)
    }

    async fn report(
        &self,
        state: State,
        version: &str,
        sha256: &str,
        message: &str,
    ) -> Result<(), String> {
        self.reporter
            .report(&Report {
                state,
                version: version.into(),
                sha256: sha256.into(),
                message: message.into(),
            })
            .await
    }

    /// The host root must look like a host with a containerd unit, or nothing is done.
    fn check_host(&self) -> Result<(), Error> {
        if !self.host_root.is_absolute() {
            return Err(refused(
                format!("--host-root {} is relative", self.host_root.display()),
                "pass the absolute path where the host's / is mounted (the DaemonSet uses /host)",
            ));
        }
        let os_release = ["etc/os-release", "usr/lib/os-release"]
            .iter()
            .any(|p| self.at(p).exists());
        if !os_release {
            return Err(refused(
                format!(
                    "{} does not look like a host's root: no etc/os-release or usr/lib/os-release",
                    self.host_root.display()
                ),
                "mount the host's / there (hostPath /) and pass that path as --host-root",
            ));
        }
        match unit::unit_file(&self.host_root, layout::UNIT) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(refused(
                format!("the host has no {} unit", layout::UNIT),
                "install containerd from the distribution first: cococtl replaces the binaries a containerd unit runs",
            )),
            Err(e) => Err(refused(
                format!("cannot read the {} unit: {e}", layout::UNIT),
                "check the agent's access to the host root",
            )),
        }
    }

    /// What the unit runs, and must keep running, with cococtl's drop-in as planned.
    fn effective_exec(&self, planned: Option<(&str, &str)>) -> Result<unit::ExecStart, Error> {
        match unit::exec_start(&self.host_root, layout::UNIT, planned) {
            Ok(Some(e)) => Ok(e),
            Ok(None) => Err(refused(
                format!("{} has no ExecStart", layout::UNIT),
                "fix the unit: cococtl needs to know which containerd it runs",
            )),
            Err(e) => Err(refused(
                format!("cannot read the unit: {e}"),
                "check the agent's access to the host root",
            )),
        }
    }

    /// What must run when nothing of cococtl's is installed: the unit's own binary at
    /// the version that binary reports.
    async fn distro_expect(&self) -> Result<Expect, String> {
        let exec = unit::exec_start(&self.host_root, layout::UNIT, None)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{} has no ExecStart", layout::UNIT))?;
        let version = self.query.binary_version(&self.at(&exec.binary)).await?;
        Ok(Expect {
            exec: exec.binary,
            version,
        })
    }

    async fn expect_for(&self, state: Option<&Installed>) -> Result<Expect, String> {
        match state {
            Some(s) => Ok(Expect {
                exec: s.exec.clone(),
                version: s.version.clone(),
            }),
            None => self.distro_expect().await,
        }
    }

    /// After an undo: the containerd `state` records (or the distribution's) must answer
    /// again. Restarted on the change: restart it and gate; never restarted: it kept
    /// running the old files, so only look.
    async fn back_to(&self, state: Option<&Installed>, restarted: bool) -> Result<String, String> {
        let expect = self.expect_for(state).await?;
        if restarted {
            self.restart_and_gate(&expect).await
        } else {
            health::check(self.service, self.query, &self.host_root, &expect)
                .await
                .map_err(|(w, _)| w)
        }
    }

    /// systemd can be asked (before the first host change).
    async fn check_service(&self) -> Result<(), Error> {
        self.service.reachable().await.map_err(|why| {
            refused(
                format!("cannot reach the host's systemd: {why}"),
                "nothing was changed; run the agent as its DaemonSet does (hostPID, privileged, the cococtl image) on a systemd host",
            )
        })
    }

    async fn restart_and_gate(&self, expect: &Expect) -> Result<String, String> {
        self.service.daemon_reload().await?;
        // From here the node has no CRI until the gate passes: kubelet marks a node
        // NotReady after its 40 s grace, so this window is logged for the operator.
        let restarting = std::time::Instant::now();
        self.service.restart(layout::UNIT).await?;
        let v = health::gate(
            self.service,
            self.query,
            &self.host_root,
            expect,
            self.health_timeout,
            &self.stop,
        )
        .await?;
        tracing::info!(
            "containerd {v} answered its health gate {} ms after the restart began",
            restarting.elapsed().as_millis()
        );
        Ok(v)
    }

    async fn already_healthy(&self, cur: &Installed) -> bool {
        let expect = Expect {
            exec: cur.exec.clone(),
            version: cur.version.clone(),
        };
        health::check(self.service, self.query, &self.host_root, &expect)
            .await
            .is_ok()
    }

    async fn nothing_to_do(&self, cur: &Installed) -> Result<Outcome, Error> {
        tracing::info!(
            "containerd {} from this tarball is installed, running and healthy: nothing to do",
            cur.version
        );
        self.report(State::Ready, &cur.version, &cur.sha256, "")
            .await
            .map_err(Error::Report)?;
        Ok(Outcome::AlreadyInstalled(cur.clone()))
    }
}
