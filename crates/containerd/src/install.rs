//! Install, restore and status on one node. Every host change goes through the journal;
//! a failed health gate rolls back automatically; a leftover journal (crash, kill -9) is
//! rolled back before anything else happens.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Config, Mode};
use crate::journal::{self, Journal, Step};
use crate::report::{Reporter, State};
use crate::systemd::{exec_start, Systemd, UNIT};
use crate::{extract, fetch, health, verify};

pub const SIDE_DIR: &str = "opt/confidential-containers";
pub const DROPIN: &str = "etc/systemd/system/containerd.service.d/50-cococtl.conf";
const DROPIN_NAME: &str = "50-cococtl.conf";

/// What is installed (state.json); its steps are what restore undoes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    pub sha256: String,
    pub url: String,
    pub version: String,
    pub mode: Mode,
    pub steps: Vec<Step>,
}

pub fn state_path(host_root: &Path) -> PathBuf {
    host_root.join(journal::DIR).join("state.json")
}

pub fn load_state(host_root: &Path) -> Result<Option<Installed>, Error> {
    match std::fs::read(state_path(host_root)) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::State(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::State(e.to_string())),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    #[error(transparent)]
    Extract(#[from] extract::ExtractError),
    #[error(transparent)]
    Verify(#[from] verify::VerifyError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("the new containerd failed its health gate ({why}); rolled back to the previous containerd, which is healthy again")]
    RolledBack { why: String },
    #[error("the new containerd failed its health gate ({why}), and after rolling back the previous containerd is not healthy either ({after}): the node needs attention")]
    RollbackUnhealthy { why: String, after: String },
    #[error("state file: {0}")]
    State(String),
    #[error("{0}")]
    Host(String),
    #[error("containerd is installed and healthy, but the node could not be labelled: {0}")]
    Report(String),
}

impl Error {
    /// Nothing on the host changed (bad input, download or tarball problems).
    pub fn nothing_changed(&self) -> bool {
        matches!(self, Error::Fetch(_) | Error::Extract(_) | Error::Verify(_))
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// Test hook: abort the process after the named journal step (crash-recovery tests).
fn crash_point(name: &str) {
    if std::env::var("COCOCTL_TEST_CRASH_AFTER").as_deref() == Ok(name) {
        eprintln!("test hook: aborting after {name}");
        std::process::abort();
    }
}

/// The agent's environment: host root, systemd, reporting, timeouts.
pub struct Agent<'a> {
    pub host_root: PathBuf,
    pub systemd: &'a dyn Systemd,
    pub reporter: &'a dyn Reporter,
    pub fetch: fetch::Options,
    pub health_timeout: Duration,
}

impl Agent<'_> {
    fn at(&self, rel: &str) -> PathBuf {
        self.host_root.join(rel.trim_start_matches('/'))
    }

    fn restart_and_gate(&self, ctr: &Path) -> Result<String, String> {
        self.systemd.daemon_reload()?;
        self.systemd.restart(UNIT)?;
        health::gate(self.systemd, &self.host_root, ctr, self.health_timeout)
    }

    /// The ctr that talks to whatever containerd the unit now runs.
    fn current_ctr(&self) -> PathBuf {
        let exec =
            exec_start(&self.host_root, UNIT, None).unwrap_or_else(|| "/usr/bin/containerd".into());
        let dir = Path::new(&exec)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/usr/bin".into());
        self.at(&format!("{dir}/ctr"))
    }

    /// Rolls back a journal left by an interrupted run, and brings containerd back.
    pub fn recover(&self) -> Result<bool, Error> {
        let Some(j) = Journal::load(&self.host_root).map_err(io("reading the journal"))? else {
            return Ok(false);
        };
        eprintln!(
            "recovering: an earlier run stopped after {} host change(s); undoing them",
            j.steps.len() - j.committed.min(j.steps.len())
        );
        let pending = j.steps.get(j.committed..).unwrap_or_default();
        journal::undo(&self.host_root, pending).map_err(io("undoing the journal"))?;
        Journal::clear(&self.host_root).map_err(io("clearing the journal"))?;
        self.systemd.daemon_reload().map_err(Error::Host)?;
        self.systemd.restart(UNIT).map_err(Error::Host)?;
        Ok(true)
    }

    /// Installs `cfg`'s tarball, or does nothing when it is already installed and healthy.
    pub fn install(&self, cfg: &Config) -> Result<Installed, Error> {
        self.recover()?;
        let staging = self.at(&format!("{}/staging", journal::DIR));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(io(format!("creating {}", staging.display())))?;
        let tarball = staging.join("containerd.tar.gz");
        eprintln!("download: {}", cfg.url);
        let fetched = fetch::fetch(&cfg.url, &tarball, &cfg.checksum, &self.fetch)?;
        if let Some(cur) = load_state(&self.host_root)? {
            if cur.sha256 == fetched.sha256 && cur.mode == cfg.mode {
                if let Ok(v) = health::gate(
                    self.systemd,
                    &self.host_root,
                    &self.current_ctr(),
                    self.health_timeout,
                ) {
                    eprintln!("containerd {v} from this tarball is already installed and healthy: nothing to do");
                    let _ = std::fs::remove_dir_all(&staging);
                    self.reporter
                        .report(State::Ready, &cur.version, &cur.sha256, "")
                        .map_err(Error::Report)?;
                    return Ok(cur);
                }
            }
        }
        let unpacked = staging.join("unpacked");
        extract::extract(&tarball, &unpacked, extract::Limits::default())?;
        let verified = verify::verify(&unpacked, cfg.arch)?;
        eprintln!(
            "verified containerd {} ({} files, sha256 {})",
            verified.version,
            verified.files.len(),
            fetched.sha256
        );

        // A different tarball replaces the current one: undo it first, then install anew,
        // so restore always returns to the distribution's containerd.
        let previous = load_state(&self.host_root)?;
        self.reporter
            .report(State::Installing, &verified.version, &fetched.sha256, "")
            .map_err(Error::Report)?;
        let committed = previous
            .as_ref()
            .map(|p| p.steps.clone())
            .unwrap_or_default();
        let mut j = Journal {
            sha256: fetched.sha256.clone(),
            committed: committed.len(),
            steps: committed,
        };
        j.save(&self.host_root).map_err(io("writing the journal"))?;
        crash_point("journal");
        let apply = match cfg.mode {
            Mode::Side => self.apply_side(&mut j, &verified),
            Mode::InPlace => self.apply_in_place(&mut j, &verified, previous.as_ref()),
        };
        apply?;
        crash_point("applied");
        let ctr = self.current_ctr();
        match self.restart_and_gate(&ctr) {
            Ok(server) => {
                let installed = Installed {
                    sha256: fetched.sha256.clone(),
                    url: cfg.url.clone(),
                    version: verified.version.clone(),
                    mode: cfg.mode,
                    steps: j.steps.clone(),
                };
                journal::write_atomic(
                    &state_path(&self.host_root),
                    &serde_json::to_vec_pretty(&installed)
                        .map_err(|e| Error::State(e.to_string()))?,
                )
                .map_err(io("writing state.json"))?;
                Journal::clear(&self.host_root).map_err(io("clearing the journal"))?;
                let _ = std::fs::remove_dir_all(&staging);
                eprintln!("containerd {server} is running and healthy");
                self.reporter
                    .report(State::Ready, &verified.version, &fetched.sha256, "")
                    .map_err(Error::Report)?;
                Ok(installed)
            }
            Err(why) => {
                eprintln!("health gate failed: {why}; rolling back");
                let keep = j.committed;
                journal::undo(&self.host_root, &j.steps[keep..]).map_err(io("rolling back"))?;
                j.steps.truncate(keep);
                Journal::clear(&self.host_root).map_err(io("clearing the journal"))?;
                let after = self.restart_and_gate(&self.current_ctr());
                let message = format!("new containerd failed: {why}");
                match after {
                    Ok(_) => {
                        let _ = self.reporter.report(
                            State::RolledBack,
                            previous.as_ref().map_or("", |p| p.version.as_str()),
                            "",
                            &message,
                        );
                        Err(Error::RolledBack { why })
                    }
                    Err(after) => {
                        let _ = self.reporter.report(State::Failed, "", "", &message);
                        Err(Error::RollbackUnhealthy { why, after })
                    }
                }
            }
        }
    }

    /// Side mode: a fresh `/opt/confidential-containers/bin` and the drop-in.
    fn apply_side(&self, j: &mut Journal, v: &verify::Verified) -> Result<(), Error> {
        let bin_rel = format!("{SIDE_DIR}/bin");
        let bin = self.at(&bin_rel);
        std::fs::create_dir_all(self.at(SIDE_DIR))
            .map_err(io("creating /opt/confidential-containers"))?;
        if std::fs::symlink_metadata(&bin).is_ok() {
            let backup = format!("{SIDE_DIR}/bin.cococtl-previous");
            let _ = std::fs::remove_dir_all(self.at(&backup));
            j.record(
                &self.host_root,
                Step::Moved {
                    from: bin_rel.clone(),
                    to: backup.clone(),
                },
            )
            .map_err(io("journal"))?;
            std::fs::rename(&bin, self.at(&backup))
                .map_err(io("moving the previous binaries aside"))?;
        }
        j.record(
            &self.host_root,
            Step::Created {
                path: bin_rel.clone(),
            },
        )
        .map_err(io("journal"))?;
        // Same filesystem as staging? Not necessarily: copy into a sibling, then rename.
        let tmp = self.at(&format!("{SIDE_DIR}/bin.cococtl-new"));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(io("creating the new bin directory"))?;
        for f in &v.files {
            std::fs::copy(v.bin.join(f), tmp.join(f)).map_err(io(format!("copying {f}")))?;
        }
        std::fs::rename(&tmp, &bin).map_err(io("installing the new binaries"))?;
        crash_point("binaries");
        let dropin = self.at(DROPIN);
        std::fs::create_dir_all(dropin.parent().unwrap_or(&self.host_root))
            .map_err(io("creating the drop-in directory"))?;
        if dropin.exists() {
            let backup = format!("{DROPIN}.cococtl-previous");
            j.record(
                &self.host_root,
                Step::Moved {
                    from: DROPIN.into(),
                    to: backup.clone(),
                },
            )
            .map_err(io("journal"))?;
            std::fs::rename(&dropin, self.at(&backup))
                .map_err(io("moving the previous drop-in aside"))?;
        }
        j.record(
            &self.host_root,
            Step::Created {
                path: DROPIN.into(),
            },
        )
        .map_err(io("journal"))?;
        let text = format!(
            "# Written by cococtl: run the custom containerd; remove this file (or run\n# `cococtl node containerd restore`) to return to the distribution's.\n[Service]\nExecStart=\nExecStart=/{bin_rel}/containerd\nEnvironment=PATH=/{bin_rel}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        );
        journal::write_atomic(&dropin, text.as_bytes()).map_err(io("writing the drop-in"))?;
        crash_point("dropin");
        Ok(())
    }

    /// In-place mode: replace the binaries next to the unit's ExecStart, keeping copies.
    fn apply_in_place(
        &self,
        j: &mut Journal,
        v: &verify::Verified,
        previous: Option<&Installed>,
    ) -> Result<(), Error> {
        if previous.is_some_and(|p| p.mode == Mode::Side) {
            return Err(Error::Host(
                "switching from side to in-place mode: run `cococtl node containerd restore` first"
                    .into(),
            ));
        }
        let exec = exec_start(&self.host_root, UNIT, Some(DROPIN_NAME)).ok_or_else(|| {
            Error::Host(format!(
                "{UNIT} has no ExecStart under {}",
                self.host_root.display()
            ))
        })?;
        let dir = Path::new(&exec)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .ok_or_else(|| Error::Host(format!("ExecStart {exec} has no directory")))?;
        let backup_dir = format!("{}/backup", journal::DIR);
        std::fs::create_dir_all(self.at(&backup_dir))
            .map_err(io("creating the backup directory"))?;
        for f in &v.files {
            let target = format!("{}/{f}", dir.trim_end_matches('/'));
            let backup = format!("{backup_dir}/{f}");
            if self.at(&target).exists() {
                // Keep the distribution's original across upgrades: back up only once.
                if !self.at(&backup).exists() {
                    std::fs::copy(self.at(&target), self.at(&backup))
                        .map_err(io(format!("backing up {target}")))?;
                    std::fs::File::open(self.at(&backup))
                        .and_then(|f| f.sync_all())
                        .map_err(io("fsync backup"))?;
                }
                j.record(
                    &self.host_root,
                    Step::Overwritten {
                        path: target.clone(),
                        backup,
                    },
                )
                .map_err(io("journal"))?;
            } else {
                j.record(
                    &self.host_root,
                    Step::Created {
                        path: target.clone(),
                    },
                )
                .map_err(io("journal"))?;
            }
            journal::replace_file(&v.bin.join(f), &self.at(&target))
                .map_err(io(format!("replacing {target}")))?;
            crash_point("binaries");
        }
        Ok(())
    }

    /// Undoes what state.json records and checks the original containerd runs again.
    pub fn restore(&self) -> Result<Option<String>, Error> {
        self.recover()?;
        let Some(state) = load_state(&self.host_root)? else {
            eprintln!("nothing installed by cococtl on this node");
            return Ok(None);
        };
        journal::undo(&self.host_root, &state.steps).map_err(io("restoring"))?;
        let v = self.restart_and_gate(&self.current_ctr()).map_err(|why| {
            Error::Host(format!(
                "the original containerd is not healthy after the restore: {why}"
            ))
        })?;
        std::fs::remove_file(state_path(&self.host_root)).map_err(io("removing state.json"))?;
        let _ = std::fs::remove_dir_all(self.at(&format!("{}/backup", journal::DIR)));
        self.reporter
            .report(State::Restored, &v, "", "")
            .map_err(Error::Report)?;
        Ok(Some(v))
    }
}
