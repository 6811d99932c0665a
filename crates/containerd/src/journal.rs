//! The write-ahead journal: every host change is recorded (and fsync'd) *before* it is
//! made, with what undoes it, so a crash or kill -9 at any point leaves a journal that
//! [`Tx::undo`] turns back into the host as it was.
//!
//! Backups are hard links made next to the file being replaced, before the replacement:
//! they cost no space, and undo is a `rename` back, which needs no space either, so a
//! rollback on a full disk still succeeds. Every undo is idempotent (a rename whose source
//! is gone was already done), and undo progress is itself journalled, so a crash during
//! recovery is recovered by the next run.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::faults::Faults;
use crate::layout;
use crate::state::Installed;

/// One host change and how to undo it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// A directory cococtl created (it did not exist); undo removes it.
    MadeDir {
        /// Relative to the host root.
        path: String,
    },
    /// A file written. `backup` is a hard link to what was there before; `None` when
    /// nothing was. Undo renames the backup back, or removes the file.
    Wrote {
        /// Relative to the host root.
        path: String,
        /// Relative to the host root.
        backup: Option<String>,
    },
    /// A file removed; `backup` is a hard link to it. Undo renames it back.
    Removed {
        /// Relative to the host root.
        path: String,
        /// Relative to the host root.
        backup: String,
    },
}

impl Step {
    fn backup(&self) -> Option<&str> {
        match self {
            Step::MadeDir { .. } | Step::Wrote { backup: None, .. } => None,
            Step::Wrote {
                backup: Some(b), ..
            }
            | Step::Removed { backup: b, .. } => Some(b),
        }
    }
}

/// What a transaction does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Install or upgrade.
    Install,
    /// Return to the distribution's containerd.
    Restore,
}

/// A change in flight (journal.json).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// Transaction id; names its backups.
    pub id: String,
    /// Install or restore.
    pub action: Action,
    /// state.json before the transaction.
    pub previous: Option<Installed>,
    /// state.json the transaction commits (`None`: nothing installed afterwards).
    pub target: Option<Installed>,
    /// Host changes, in order.
    pub steps: Vec<Step>,
    /// How many steps, from the last, were undone already.
    #[serde(default)]
    pub undone: usize,
    /// Removed once the transaction committed (no longer referenced by any state).
    #[serde(default)]
    pub cleanup: Vec<String>,
    /// containerd was (about to be) restarted on the changed files: recovery must restart
    /// it again; before that, the running containerd never saw the change.
    #[serde(default)]
    pub restarted: bool,
}

/// Writes `bytes` to `path` atomically and durably (temp file, fsync, rename, fsync dir).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = temp_name(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// fsyncs the directory holding `path`, so a rename or removal in it is durable.
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()
}

/// The temp file a replacement of `path` is written to first (same directory).
pub fn temp_name(path: &Path) -> PathBuf {
    path.with_file_name(format!(
        ".{}.cococtl-new",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ))
}

fn exists(p: &Path) -> std::io::Result<bool> {
    match std::fs::symlink_metadata(p) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn remove_file_if_present(p: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn remove_tree_if_present(p: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Why a host change or its undo failed.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the host path.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// A simulated crash (tests only).
    #[error(transparent)]
    Crash(#[from] crate::faults::Crash),
}

impl TxError {
    /// The disk is full.
    pub fn is_no_space(&self) -> bool {
        matches!(self, TxError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull)
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> TxError {
    let what = what.into();
    move |source| TxError::Io { what, source }
}

/// Where the file content comes from.
pub enum Content<'a> {
    /// Copy this file (its permissions too).
    File(&'a Path),
    /// These bytes, mode 0644.
    Bytes(&'a [u8]),
}

/// A transaction on the host: its journal, saved before every change.
pub struct Tx<'a> {
    host_root: &'a Path,
    faults: &'a Faults,
    /// The journal as saved.
    pub journal: Journal,
}

impl<'a> Tx<'a> {
    /// Starts a transaction: the journal is durable before this returns.
    pub fn begin(
        host_root: &'a Path,
        faults: &'a Faults,
        journal: Journal,
    ) -> Result<Self, TxError> {
        let tx = Tx {
            host_root,
            faults,
            journal,
        };
        tx.save()?;
        tx.faults.point("journal")?;
        Ok(tx)
    }

    /// Resumes a journal left by an interrupted run.
    pub fn resume(host_root: &'a Path, faults: &'a Faults, journal: Journal) -> Self {
        Tx {
            host_root,
            faults,
            journal,
        }
    }

    fn at(&self, rel: &str) -> PathBuf {
        layout::at(self.host_root, rel)
    }

    fn save(&self) -> Result<(), TxError> {
        write_atomic(
            &self.at(layout::JOURNAL),
            &serde_json::to_vec_pretty(&self.journal).map_err(|e| TxError::Io {
                what: "encoding the journal".into(),
                source: std::io::Error::other(e),
            })?,
        )
        .map_err(io(format!("writing {}", layout::JOURNAL)))
    }

    fn record(&mut self, step: Step) -> Result<(), TxError> {
        self.journal.steps.push(step);
        self.save()
    }

    fn after_step(&self) -> Result<(), TxError> {
        Ok(self
            .faults
            .point(&format!("step:{}", self.journal.steps.len()))?)
    }

    fn backup_name(&self, rel: &str) -> String {
        let p = Path::new(rel);
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let dir = p
            .parent()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{dir}/.{name}.cococtl-backup-{}", self.journal.id)
    }

    /// Creates `rel` (and its parents) unless it exists; records it as ours when created.
    pub fn ensure_dir(&mut self, rel: &str) -> Result<(), TxError> {
        let p = self.at(rel);
        if exists(&p).map_err(io(format!("checking /{rel}")))? {
            return Ok(());
        }
        if let Some(parent) = Path::new(rel)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            self.ensure_dir(&parent.to_string_lossy())?;
        }
        self.record(Step::MadeDir { path: rel.into() })?;
        std::fs::create_dir(&p).map_err(io(format!("creating /{rel}")))?;
        self.after_step()
    }

    /// Writes `rel` from `content`; what was there is kept (hard link) until commit.
    pub fn write_file(&mut self, rel: &str, content: Content<'_>) -> Result<(), TxError> {
        let p = self.at(rel);
        let backup = match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {
                return Err(TxError::Io {
                    what: format!("/{rel}"),
                    source: std::io::Error::other("is a directory, expected a file"),
                })
            }
            Ok(_) => {
                let b = self.backup_name(rel);
                let bp = self.at(&b);
                remove_file_if_present(&bp).map_err(io(format!("removing a stale /{b}")))?;
                std::fs::hard_link(&p, &bp).map_err(io(format!("keeping a copy of /{rel}")))?;
                Some(b)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(format!("checking /{rel}"))(e)),
        };
        self.record(Step::Wrote {
            path: rel.into(),
            backup,
        })?;
        let tmp = temp_name(&p);
        let result = (|| -> std::io::Result<()> {
            self.faults.before_write()?;
            match content {
                Content::File(src) => {
                    std::fs::copy(src, &tmp)?;
                }
                Content::Bytes(b) => std::fs::write(&tmp, b)?,
            }
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &p)?;
            sync_dir(&p)
        })();
        if let Err(e) = result {
            // Our own temp file first: it may be what fills the disk.
            let _ = std::fs::remove_file(&tmp);
            return Err(io(format!("writing /{rel}"))(e));
        }
        self.after_step()
    }

    /// Removes the file `rel` if present; it is kept (hard link) until commit.
    pub fn remove_file(&mut self, rel: &str) -> Result<(), TxError> {
        let p = self.at(rel);
        if !exists(&p).map_err(io(format!("checking /{rel}")))? {
            return Ok(());
        }
        let b = self.backup_name(rel);
        let bp = self.at(&b);
        remove_file_if_present(&bp).map_err(io(format!("removing a stale /{b}")))?;
        std::fs::hard_link(&p, &bp).map_err(io(format!("keeping a copy of /{rel}")))?;
        self.record(Step::Removed {
            path: rel.into(),
            backup: b,
        })?;
        std::fs::remove_file(&p).map_err(io(format!("removing /{rel}")))?;
        sync_dir(&p).map_err(io(format!("syncing /{rel}")))?;
        self.after_step()
    }

    /// Undoes every step not undone yet, last first, journalling progress; safe to run
    /// again after a crash at any point of it.
    pub fn undo(&mut self) -> Result<(), TxError> {
        while self.journal.undone < self.journal.steps.len() {
            let i = self.journal.steps.len() - 1 - self.journal.undone;
            let step = self.journal.steps[i].clone();
            undo_step(self.host_root, &step)?;
            self.journal.undone += 1;
            self.save()?;
            self.faults
                .point(&format!("undo:{}", self.journal.undone))?;
        }
        Ok(())
    }

    /// Records, durably, that containerd is about to be restarted on the change.
    pub fn mark_restarting(&mut self) -> Result<(), TxError> {
        self.journal.restarted = true;
        self.save()
    }

    /// After commit: removes backups and what `cleanup` lists. Idempotent.
    pub fn finish(&self) -> Result<(), TxError> {
        for step in &self.journal.steps {
            if let Some(b) = step.backup() {
                remove_file_if_present(&self.at(b)).map_err(io(format!("removing /{b}")))?;
            }
        }
        for c in &self.journal.cleanup {
            remove_tree_if_present(&self.at(c)).map_err(io(format!("removing /{c}")))?;
        }
        self.faults.point("finish")?;
        clear(self.host_root).map_err(io(format!("removing {}", layout::JOURNAL)))
    }

    /// After a complete undo: removes the journal.
    pub fn abandon(&self) -> Result<(), TxError> {
        clear(self.host_root).map_err(io(format!("removing {}", layout::JOURNAL)))
    }
}

fn undo_step(host_root: &Path, step: &Step) -> Result<(), TxError> {
    let at = |p: &str| layout::at(host_root, p);
    match step {
        Step::MadeDir { path } => {
            remove_tree_if_present(&at(path)).map_err(io(format!("removing /{path}")))?
        }
        Step::Wrote { path, backup } => {
            // Our temp file, if the crash came mid-write.
            remove_file_if_present(&temp_name(&at(path)))
                .map_err(io(format!("removing a temp file next to /{path}")))?;
            match backup {
                Some(b) => put_back(&at(b), &at(path), path)?,
                None => {
                    remove_file_if_present(&at(path)).map_err(io(format!("removing /{path}")))?
                }
            }
            sync_dir(&at(path)).map_err(io(format!("syncing /{path}")))?;
        }
        Step::Removed { path, backup } => {
            put_back(&at(backup), &at(path), path)?;
            sync_dir(&at(path)).map_err(io(format!("syncing /{path}")))?;
        }
    }
    Ok(())
}

/// Renames the backup link over `path`. When both are links to the same file (the crash
/// came before the replacement), `rename` does nothing, so the backup is removed instead.
fn put_back(backup: &Path, path: &Path, rel: &str) -> Result<(), TxError> {
    use std::os::unix::fs::MetadataExt;
    let b = match std::fs::symlink_metadata(backup) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(format!("checking the copy of /{rel}"))(e)),
    };
    let same = std::fs::symlink_metadata(path)
        .map(|p| p.dev() == b.dev() && p.ino() == b.ino())
        .unwrap_or(false);
    if same {
        std::fs::remove_file(backup).map_err(io(format!("removing the copy of /{rel}")))
    } else {
        std::fs::rename(backup, path).map_err(io(format!("putting /{rel} back")))
    }
}

/// The journal left by an interrupted run, if any. Unreadable is an error, never "none".
pub fn load(host_root: &Path) -> Result<Option<Journal>, TxError> {
    match std::fs::read(layout::at(host_root, layout::JOURNAL)) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| TxError::Io {
            what: format!("{} is not a journal this cococtl understands (inspect it; nothing was changed)", layout::JOURNAL),
            source: std::io::Error::other(e),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(format!("reading {}", layout::JOURNAL))(e)),
    }
}

fn clear(host_root: &Path) -> std::io::Result<()> {
    let p = layout::at(host_root, layout::JOURNAL);
    remove_file_if_present(&p)?;
    sync_dir(&p)
}
