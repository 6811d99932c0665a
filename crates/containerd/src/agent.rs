//! Install, restore, recovery and status on one node.
//!
//! Every run holds the host lock, first finishes or undoes whatever an interrupted run left
//! (the journal), validates everything that can be validated, and checks free space,
//! before its first host change. Every host change goes through a journalled transaction;
//! any error after the first change rolls the transaction back in the same run. A change
//! is committed (state.json written) only after the health gate saw the intended binary,
//! at the intended version, answering on the socket.

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
    /// Bytes files (the drop-in).
    dropin: Option<(String, Vec<u8>)>,
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

    async fn restart_and_gate(&self, expect: &Expect) -> Result<String, String> {
        self.service.daemon_reload().await?;
        self.service.restart(layout::UNIT).await?;
        health::gate(
            self.service,
            self.query,
            &self.host_root,
            expect,
            self.health_timeout,
            &self.stop,
        )
        .await
    }

    /// Finishes (committed) or undoes (not committed) what an interrupted run left.
    pub async fn recover(&self) -> Result<bool, Error> {
        let Some(j) = journal::load(&self.host_root)
            .map_err(|e| refused(e.to_string(), "inspect the file; nothing was changed"))?
        else {
            return Ok(false);
        };
        let current = state::load(&self.host_root)?;
        let committed = match (&j.target, &current) {
            (Some(t), Some(c)) => t.tx == c.tx,
            (None, None) => j.previous.is_some(),
            _ => false,
        };
        let mut tx = Tx::resume(&self.host_root, self.faults, j);
        if committed {
            tracing::info!(
                "recovering: the interrupted change {} had committed; finishing it",
                tx.journal.id
            );
            if let Err(e) = tx.finish() {
                let why = tx_error(e)?;
                return Err(Error::UndoFailed {
                    why: "finishing a committed change".into(),
                    undo: why,
                });
            }
            return Ok(true);
        }
        tracing::warn!(
            "recovering: an earlier run stopped after {} host change(s); undoing them",
            tx.journal.steps.len()
        );
        if let Err(e) = tx.undo() {
            let undo = tx_error(e)?;
            return Err(Error::UndoFailed {
                why: "recovering an interrupted change".into(),
                undo,
            });
        }
        let restarted = tx.journal.restarted;
        // state.json is written only at commit, so it still describes what is installed.
        if let Err(e) = tx.abandon() {
            let undo = tx_error(e)?;
            return Err(Error::UndoFailed {
                why: "recovering an interrupted change".into(),
                undo,
            });
        }
        let _ = std::fs::remove_dir_all(self.at(layout::STAGING));
        let expect = self.expect_for(current.as_ref()).await;
        // Before the restart the running containerd never saw the change: only look.
        let after = match (&expect, restarted) {
            (Ok(e), true) => self.restart_and_gate(e).await,
            (Ok(e), false) => health::check(self.service, self.query, &self.host_root, e)
                .await
                .map_err(|(w, _)| w),
            (Err(e), _) => Err(e.clone()),
        };
        match after {
            Ok(v) => {
                let _ = self
                    .report(
                        State::RolledBack,
                        &v,
                        current.as_ref().map_or("", |c| &c.sha256),
                        "an interrupted change was rolled back",
                    )
                    .await;
                Ok(true)
            }
            Err(after) => {
                let _ = self.report(State::Failed, "", "", &after).await;
                Err(Error::RollbackUnhealthy {
                    why: "an interrupted change was rolled back".into(),
                    after,
                })
            }
        }
    }

    /// Installs `cfg`'s tarball, or does nothing when it is already installed and healthy.
    pub async fn install(&self, cfg: &Config) -> Result<Outcome, Error> {
        // Read-only checks first: a directory that is not a host gets nothing written.
        self.check_host()?;
        let _lock = lock::acquire(&self.host_root, "install")?;
        self.recover().await?;
        let staging = self.at(layout::STAGING);
        let result = self.install_locked(cfg, &staging).await;
        if !matches!(result, Err(Error::Crash(_))) {
            if let Err(e) = std::fs::remove_dir_all(&staging) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!("could not remove {}: {e}", staging.display());
                }
            }
        }
        result
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

    async fn install_locked(&self, cfg: &Config, staging: &Path) -> Result<Outcome, Error> {
        let previous = state::load(&self.host_root)?;
        if let Some(p) = &previous {
            if p.mode != cfg.mode {
                return Err(mode_switch(p, cfg));
            }
            // A pinned digest that is already installed: no download needed.
            if let crate::config::Checksum::Sha256(s) = &cfg.checksum {
                if *s == p.sha256 && self.already_healthy(p).await {
                    return self.nothing_to_do(p).await;
                }
            }
        }
        if self.stop.requested() {
            return Err(Error::Stopped { rolled_back: false });
        }
        let _ = std::fs::remove_dir_all(staging);
        std::fs::create_dir_all(staging).map_err(|source| Error::Staging {
            what: format!("creating {}", staging.display()),
            source,
        })?;
        let tarball = staging.join("containerd.tar.gz");
        tracing::info!("download: {}", cfg.url);
        let fetched = fetch::fetch(&cfg.url, &tarball, &cfg.checksum, &self.fetch).await?;
        if let Some(p) = &previous {
            if p.sha256 == fetched.sha256 && self.already_healthy(p).await {
                return self.nothing_to_do(p).await;
            }
        }
        let unpacked = staging.join("unpacked");
        extract::extract(&tarball, &unpacked, extract::Limits::default())?;
        let _ = std::fs::remove_file(&tarball);
        let verified = verify::verify(&unpacked, cfg.arch).await?;
        if !verified.ignored.is_empty() {
            tracing::warn!(
                "the tarball's bin/ also holds {}: not containerd binaries, not installed",
                verified.ignored.join(", ")
            );
        }
        tracing::info!(
            "verified containerd {} ({} binaries, sha256 {})",
            verified.version,
            verified.files.len(),
            fetched.sha256
        );
        self.install_verified_locked(cfg, &fetched, &verified, previous)
            .await
    }

    /// Installs binaries already downloaded and verified (the transaction part of
    /// [`Agent::install`]); in-process tests drive the transaction through this.
    pub async fn install_verified(
        &self,
        cfg: &Config,
        fetched: &Fetched,
        verified: &verify::Verified,
    ) -> Result<Outcome, Error> {
        // Read-only checks first: a directory that is not a host gets nothing written.
        self.check_host()?;
        let _lock = lock::acquire(&self.host_root, "install")?;
        self.recover().await?;
        let previous = state::load(&self.host_root)?;
        if let Some(p) = &previous {
            if p.mode != cfg.mode {
                return Err(mode_switch(p, cfg));
            }
            if p.sha256 == fetched.sha256 && self.already_healthy(p).await {
                return self.nothing_to_do(p).await;
            }
        }
        self.install_verified_locked(cfg, fetched, verified, previous)
            .await
    }

    async fn install_verified_locked(
        &self,
        cfg: &Config,
        fetched: &Fetched,
        verified: &verify::Verified,
        previous: Option<Installed>,
    ) -> Result<Outcome, Error> {
        let plan = self.plan(cfg, fetched, verified, previous.as_ref())?;
        self.check_space(&plan)?;
        if self.stop.requested() {
            return Err(Error::Stopped { rolled_back: false });
        }
        let _ = self
            .report(State::Installing, &verified.version, &fetched.sha256, "")
            .await;
        self.run(Action::Install, previous, Some(plan))
            .await
            .map(Outcome::Installed)
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

    /// The files this install writes and the state it commits. Everything that can be
    /// refused is refused here, before the journal exists.
    fn plan(
        &self,
        cfg: &Config,
        fetched: &Fetched,
        v: &verify::Verified,
        previous: Option<&Installed>,
    ) -> Result<Plan, Error> {
        let tx = tx_id();
        let sha_of = |name: &str| {
            sha256_file(&v.bin.join(name)).map_err(|source| Error::Staging {
                what: format!("reading staged bin/{name}"),
                source,
            })
        };
        let (dir, dropin, exec) = match cfg.mode {
            Mode::Side => {
                let dir = layout::side_dir(&v.version, &fetched.sha256);
                self.effective_exec(None)?;
                if previous.is_none() && self.at(layout::DROPIN).exists() {
                    return Err(refused(
                        format!("/{} exists, but no cococtl install is recorded (its state was lost?)", layout::DROPIN),
                        "check that file; remove it if it is a leftover of cococtl, then install again",
                    ));
                }
                let exec = format!("/{dir}/containerd");
                let text = format!(
                    "# Written by cococtl: run the custom containerd; `cococtl node containerd restore`\n# returns to the distribution's.\n[Service]\nExecStart=\nExecStart={exec}{}\nEnvironment=PATH=/{dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
                    unit_exec_args(&self.host_root)
                );
                let after = self.effective_exec(Some((layout::DROPIN_NAME, &text)))?;
                if after.binary != exec {
                    return Err(refused(
                        format!(
                            "/{} sets ExecStart={} after cococtl's drop-in ({}), so the unit would never run the custom containerd",
                            after.source, after.binary, layout::DROPIN_NAME
                        ),
                        format!("remove ExecStart from /{} (e.g. `systemctl revert containerd` or edit the override), or use --mode in-place", after.source),
                    ));
                }
                (dir, Some(text), exec)
            }
            Mode::InPlace => {
                let e = self.effective_exec(None)?;
                if e.source.contains(layout::DROPIN_NAME) {
                    return Err(refused(
                        format!("cococtl's side-mode drop-in /{} is present without a side install recorded", e.source),
                        "run `cococtl node containerd restore` (or remove the drop-in) first",
                    ));
                }
                let dir = Path::new(&e.binary)
                    .parent()
                    .map(|p| p.to_string_lossy().trim_start_matches('/').to_string())
                    .filter(|d| !d.is_empty())
                    .ok_or_else(|| {
                        refused(
                            format!("ExecStart {} has no directory", e.binary),
                            "fix the unit",
                        )
                    })?;
                if !e.binary.ends_with("/containerd") {
                    return Err(refused(
                        format!(
                            "ExecStart {} (set by /{}) is not a containerd binary",
                            e.binary, e.source
                        ),
                        "use side mode, or fix the unit",
                    ));
                }
                (dir, None, e.binary)
            }
        };
        let mut writes = vec![];
        let mut files = vec![];
        let prev_file = |path: &str| previous.and_then(|p| p.files.iter().find(|f| f.path == path));
        for name in &v.files {
            let path = format!("{dir}/{name}");
            files.push(OwnedFile {
                path: path.clone(),
                sha256: sha_of(name)?,
                original: prev_file(&path).and_then(|f| f.original.clone()),
            });
            writes.push((v.bin.join(name), path));
        }
        if let Some(text) = &dropin {
            files.push(OwnedFile {
                path: layout::DROPIN.into(),
                sha256: hex::encode(Sha256::digest(text.as_bytes())),
                original: prev_file(layout::DROPIN).and_then(|f| f.original.clone()),
            });
        }
        let drop: Vec<OwnedFile> = previous
            .map(|p| {
                p.files
                    .iter()
                    .filter(|f| !files.iter().any(|n| n.path == f.path))
                    // Files inside a directory that goes away with the old version.
                    .filter(|f| {
                        !p.dirs.iter().any(|d| {
                            f.path.starts_with(&format!("{d}/"))
                                && !f.path.starts_with(&format!("{dir}/"))
                        })
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut cleanup = vec![];
        let mut dirs = vec![];
        if cfg.mode == Mode::Side {
            dirs.push(dir.clone());
        }
        if let Some(p) = previous {
            for d in &p.dirs {
                if !dirs.contains(d) {
                    cleanup.push(d.clone());
                }
            }
            for f in &drop {
                if let Some(o) = &f.original {
                    cleanup.push(o.clone());
                }
            }
        }
        Ok(Plan {
            target: Installed {
                tx,
                sha256: fetched.sha256.clone(),
                url: cfg.url.clone(),
                version: v.version.clone(),
                mode: cfg.mode,
                exec,
                files,
                dirs,
            },
            writes,
            dropin: dropin.map(|t| (layout::DROPIN.to_string(), t.into_bytes())),
            drop,
            cleanup,
            previous_paths: previous
                .map(|p| p.files.iter().map(|f| f.path.clone()).collect())
                .unwrap_or_default(),
        })
    }

    fn check_space(&self, plan: &Plan) -> Result<(), Error> {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut need = vec![];
        for (src, dest) in &plan.writes {
            let host = self.at(dest);
            need.push((host.clone(), size(src), format!("/{dest}")));
            // First time this file is replaced: the distribution's copy is kept.
            let first = !plan.previous_paths.contains(dest);
            if first && host.exists() {
                need.push((
                    self.at(layout::ORIGINALS),
                    size(&host),
                    "the copies of the distribution's binaries".into(),
                ));
            }
        }
        for f in &plan.drop {
            if let Some(o) = &f.original {
                need.push((self.at(&f.path), size(&self.at(o)), format!("/{}", f.path)));
            }
        }
        space::check(&need)?;
        Ok(())
    }

    /// Applies a plan (install) or its reverse (restore) in one transaction, restarts,
    /// gates, and commits or rolls back.
    async fn run(
        &self,
        action: Action,
        previous: Option<Installed>,
        plan: Option<Plan>,
    ) -> Result<Installed, Error> {
        let (target, cleanup) = match &plan {
            Some(p) => (Some(p.target.clone()), p.cleanup.clone()),
            None => (None, restore_cleanup(previous.as_ref())),
        };
        let id = target.as_ref().map_or_else(tx_id, |t| t.tx.clone());
        let mut tx = match Tx::begin(
            &self.host_root,
            self.faults,
            Journal {
                id,
                action,
                previous: previous.clone(),
                target: target.clone(),
                steps: vec![],
                undone: 0,
                cleanup,
                restarted: false,
            },
        ) {
            Ok(tx) => tx,
            Err(e) => {
                let why = tx_error(e)?;
                return Err(refused(
                    format!("could not write the journal: {why}"),
                    "check the host's /var/lib (space, permissions); nothing was changed",
                ));
            }
        };
        let mut target = target;
        let applied = match (&plan, action) {
            (Some(p), _) => self.apply(&mut tx, p, target.as_mut()),
            (None, _) => self.apply_restore(&mut tx, previous.as_ref()),
        };
        if let Err(e) = applied {
            let why = tx_error(e)?;
            return self.roll_back(tx, previous.as_ref(), why, false).await;
        }
        self.faults.point("applied")?;
        if self.stop.requested() {
            return self
                .roll_back(tx, previous.as_ref(), "stopped".into(), false)
                .await;
        }
        if let Err(e) = tx.mark_restarting() {
            let why = tx_error(e)?;
            return self.roll_back(tx, previous.as_ref(), why, false).await;
        }
        // What must be running once the change is made.
        let expect = match &target {
            Some(t) => Ok(Expect {
                exec: t.exec.clone(),
                version: t.version.clone(),
            }),
            None => self.distro_expect().await,
        };
        let gated = match &expect {
            Ok(e) => self.restart_and_gate(e).await,
            Err(e) => Err(e.clone()),
        };
        self.faults.point("gated")?;
        let version = match gated {
            Ok(v) => v,
            Err(why) => {
                let why = match action {
                    Action::Install => format!("the new containerd failed its health gate: {why}"),
                    Action::Restore => format!("the distribution's containerd failed its health gate after the restore: {why}"),
                };
                return self.roll_back(tx, previous.as_ref(), why, true).await;
            }
        };
        if let Err(e) = state::store(&self.host_root, target.as_ref()) {
            return self
                .roll_back(
                    tx,
                    previous.as_ref(),
                    format!("writing {}: {e}", layout::STATE),
                    true,
                )
                .await;
        }
        self.faults.point("committed")?;
        if let Err(e) = tx.finish() {
            // Committed: the next run finishes the clean-up.
            tracing::warn!("clean-up after the change: {}", tx_error(e)?);
        }
        match target {
            Some(t) => {
                tracing::info!("containerd {version} is running and healthy");
                self.report(State::Ready, &version, &t.sha256, "")
                    .await
                    .map_err(Error::Report)?;
                Ok(t)
            }
            None => {
                self.report(State::Restored, &version, "", "")
                    .await
                    .map_err(Error::Report)?;
                Ok(Installed {
                    tx: String::new(),
                    sha256: String::new(),
                    url: String::new(),
                    version,
                    mode: Mode::Side,
                    exec: String::new(),
                    files: vec![],
                    dirs: vec![],
                })
            }
        }
    }

    /// Writes the plan's files (install or upgrade).
    fn apply(
        &self,
        tx: &mut Tx<'_>,
        p: &Plan,
        target: Option<&mut Installed>,
    ) -> Result<(), TxError> {
        let Some(target) = target else { return Ok(()) };
        if target.mode == Mode::Side {
            for d in &target.dirs {
                tx.ensure_dir(d)?;
            }
        }
        for (src, dest) in &p.writes {
            self.keep_original(tx, target, p.previous_paths.contains(dest), dest)?;
            tx.write_file(dest, Content::File(src))?;
        }
        if let Some((path, bytes)) = &p.dropin {
            if let Some(parent) = Path::new(path).parent() {
                tx.ensure_dir(&parent.to_string_lossy())?;
            }
            self.keep_original(tx, target, p.previous_paths.contains(path), path)?;
            tx.write_file(path, Content::Bytes(bytes))?;
        }
        for f in &p.drop {
            match &f.original {
                Some(o) => tx.write_file(&f.path, Content::File(&self.at(o)))?,
                None => tx.remove_file(&f.path)?,
            }
        }
        Ok(())
    }

    /// The first time a host file is replaced, a copy of the distribution's is kept
    /// until restore (the copy is part of the transaction: undone with it). A file the
    /// previous install wrote is cococtl's: its original, if any, is already kept.
    fn keep_original(
        &self,
        tx: &mut Tx<'_>,
        target: &mut Installed,
        ours: bool,
        dest: &str,
    ) -> Result<(), TxError> {
        let Some(f) = target.files.iter_mut().find(|f| f.path == dest) else {
            return Ok(());
        };
        if ours || f.original.is_some() || !self.at(dest).exists() {
            return Ok(());
        }
        let dir = format!("{}/{}", layout::ORIGINALS, target.tx);
        tx.ensure_dir(&dir)?;
        let copy = format!("{dir}/{}", dest.replace('/', "_"));
        tx.write_file(&copy, Content::File(&self.at(dest)))?;
        f.original = Some(copy);
        Ok(())
    }

    /// Returns every recorded file to its original (restore).
    fn apply_restore(&self, tx: &mut Tx<'_>, previous: Option<&Installed>) -> Result<(), TxError> {
        let Some(p) = previous else { return Ok(()) };
        for f in p.files.iter().rev() {
            match &f.original {
                Some(o) => tx.write_file(&f.path, Content::File(&self.at(o)))?,
                None => tx.remove_file(&f.path)?,
            }
        }
        Ok(())
    }

    /// Undoes the transaction in this run, brings the previous containerd back, reports.
    async fn roll_back(
        &self,
        mut tx: Tx<'_>,
        previous: Option<&Installed>,
        why: String,
        restarted: bool,
    ) -> Result<Installed, Error> {
        tracing::warn!("{why}; rolling back");
        if let Err(e) = tx.undo() {
            let undo = tx_error(e)?;
            let _ = self
                .report(
                    State::Failed,
                    "",
                    "",
                    &format!("{why}; undo failed: {undo}"),
                )
                .await;
            return Err(Error::UndoFailed { why, undo });
        }
        if let Err(e) = tx.abandon() {
            let undo = tx_error(e)?;
            return Err(Error::UndoFailed { why, undo });
        }
        let stopped = self.stop.requested();
        let expect = self.expect_for(previous).await;
        let after = match (&expect, restarted) {
            (Ok(e), true) => self.restart_and_gate(e).await,
            // Never restarted: the previous containerd kept running; just look.
            (Ok(e), false) => health::check(self.service, self.query, &self.host_root, e)
                .await
                .map_err(|(w, _)| w),
            (Err(e), _) => Err(e.clone()),
        };
        match after {
            Ok(version) => {
                let _ = self
                    .report(
                        State::RolledBack,
                        &version,
                        previous.map_or("", |p| &p.sha256),
                        &why,
                    )
                    .await;
                if stopped {
                    return Err(Error::Stopped { rolled_back: true });
                }
                Err(Error::RolledBack { why, version })
            }
            Err(after) => {
                let _ = self
                    .report(State::Failed, "", "", &format!("{why}; then: {after}"))
                    .await;
                Err(Error::RollbackUnhealthy { why, after })
            }
        }
    }

    /// Undoes what state.json records and checks the original containerd runs again.
    /// Refuses when a recorded file was changed by someone else since (e.g. the
    /// distribution upgraded containerd), unless `force`: putting the old original back
    /// would then downgrade.
    pub async fn restore(&self, force: bool) -> Result<Option<String>, Error> {
        self.check_host()?;
        let _lock = lock::acquire(&self.host_root, "restore")?;
        self.recover().await?;
        let _ = std::fs::remove_dir_all(self.at(layout::STAGING));
        let Some(cur) = state::load(&self.host_root)? else {
            tracing::info!("nothing installed by cococtl on this node");
            return Ok(None);
        };
        let mut changed = vec![];
        for f in &cur.files {
            match sha256_file(&self.at(&f.path)) {
                Ok(s) if s == f.sha256 => {}
                Ok(_) => changed.push(format!("/{} was changed since cococtl wrote it", f.path)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    changed.push(format!("/{} was removed since cococtl wrote it", f.path))
                }
                Err(e) => changed.push(format!("/{} cannot be read: {e}", f.path)),
            }
        }
        if !changed.is_empty() && !force {
            return Err(Error::Diverged(format!(
                "not restoring: {}; putting the old originals back could downgrade what the distribution installed since\n  fix: check the files, then `cococtl node containerd restore --force` to restore anyway",
                changed.join("; ")
            )));
        }
        let mut need = vec![];
        for f in &cur.files {
            if let Some(o) = &f.original {
                let len = std::fs::metadata(self.at(o)).map(|m| m.len()).unwrap_or(0);
                need.push((self.at(&f.path), len, format!("/{}", f.path)));
            }
        }
        space::check(&need)?;
        if self.stop.requested() {
            return Err(Error::Stopped { rolled_back: false });
        }
        let done = self.run(Action::Restore, Some(cur), None).await?;
        Ok(Some(done.version))
    }
}

fn mode_switch(p: &Installed, cfg: &Config) -> Error {
    refused(
        format!(
            "containerd {} is installed in {} mode; switching to {} mode in one step is not supported",
            p.version,
            p.mode.as_str(),
            cfg.mode.as_str()
        ),
        "run `cococtl node containerd restore` first, then install again",
    )
}

/// What a restore removes once committed: cococtl's directories and its copies of
/// originals (the originals themselves are back in place by then).
fn restore_cleanup(previous: Option<&Installed>) -> Vec<String> {
    let Some(p) = previous else { return vec![] };
    let mut c: Vec<String> = p.dirs.clone();
    c.extend(p.files.iter().filter_map(|f| f.original.clone()));
    c.push(format!("{}/{}", layout::ORIGINALS, p.tx));
    c
}

/// The arguments of the unit's own ExecStart (kept by side mode's drop-in).
fn unit_exec_args(host_root: &Path) -> String {
    let Ok(Some(rel)) = unit::unit_file(host_root, layout::UNIT) else {
        return String::new();
    };
    let text = std::fs::read_to_string(host_root.join(rel)).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("ExecStart="))
        .rfind(|v| !v.trim().is_empty())
        .and_then(|v| v.trim().split_once(char::is_whitespace))
        .map(|(_, args)| format!(" {}", args.trim()))
        .unwrap_or_default()
}

/// What is installed and what answers, for `status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    /// state.json.
    pub installed: Option<Installed>,
    /// An interrupted change is pending (the next run finishes or undoes it).
    pub interrupted_change: bool,
    /// The version answering on the socket now, when it answers.
    pub running_version: Option<String>,
    /// Why the running containerd is not the installed one, or is unhealthy.
    pub problem: Option<String>,
}

/// The node's containerd as it is: state.json checked against what answers.
pub async fn status(
    host_root: &Path,
    service: &dyn ServiceManager,
    query: &dyn Query,
) -> Result<Status, Error> {
    let installed = state::load(host_root)?;
    let interrupted_change = journal::load(host_root)
        .map_err(|e| refused(e.to_string(), "inspect the file"))?
        .is_some();
    let expect = installed.as_ref().map(|s| Expect {
        exec: s.exec.clone(),
        version: s.version.clone(),
    });
    let ctr = match &expect {
        Some(e) => e.ctr(host_root),
        None => layout::at(host_root, "usr/bin/ctr"),
    };
    let running = query.server(host_root, &ctr).await;
    let problem = match (&expect, &running) {
        (_, Err(e)) => Some(e.clone()),
        (Some(e), Ok(_)) => health::check(service, query, host_root, e)
            .await
            .err()
            .map(|(w, _)| w),
        (None, Ok(_)) => None,
    };
    Ok(Status {
        installed,
        interrupted_change,
        running_version: running.ok().map(|s| s.version),
        problem,
    })
}
