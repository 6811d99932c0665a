//! The write-ahead journal of host changes. Each step is recorded (and fsync'd) *before*
//! the change it describes, with what is needed to undo it, so a crash or kill -9 at any
//! point leaves a journal that [`undo`] turns back into the original host.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const DIR: &str = "var/lib/cococtl/containerd";

/// One host change and how to undo it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// `path` did not exist; undo removes it.
    Created { path: String },
    /// `from` was renamed to `to`; undo renames it back.
    Moved { from: String, to: String },
    /// `path` was copied to `backup`, then replaced; undo copies the backup back.
    Overwritten { path: String, backup: String },
}

/// A change in progress (journal.json) or installed (its steps kept in state.json).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub sha256: String,
    /// Leading steps that belong to the install already committed in state.json (an
    /// upgrade builds on them); recovery undoes only the steps after them.
    #[serde(default)]
    pub committed: usize,
    pub steps: Vec<Step>,
}

pub fn journal_path(host_root: &Path) -> PathBuf {
    host_root.join(DIR).join("journal.json")
}

/// Writes `value` to `path` atomically and durably (temp file, fsync, rename, fsync dir).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

impl Journal {
    pub fn load(host_root: &Path) -> std::io::Result<Option<Journal>> {
        match std::fs::read(journal_path(host_root)) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn save(&self, host_root: &Path) -> std::io::Result<()> {
        write_atomic(
            &journal_path(host_root),
            &serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?,
        )
    }

    /// Records `step` durably; the caller makes the change only after this returns.
    pub fn record(&mut self, host_root: &Path, step: Step) -> std::io::Result<()> {
        self.steps.push(step);
        self.save(host_root)
    }

    pub fn clear(host_root: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(journal_path(host_root)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn remove_any(p: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Copies `from` over `to` atomically (temp file in `to`'s directory, then rename).
pub fn replace_file(from: &Path, to: &Path) -> std::io::Result<()> {
    let tmp = to.with_file_name(format!(
        ".{}.cococtl-new",
        to.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    std::fs::copy(from, &tmp)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, to)
}

/// Undoes `steps` in reverse. Each undo is idempotent: a step whose change never happened
/// (the crash came between recording and doing) undoes to a no-op.
pub fn undo(host_root: &Path, steps: &[Step]) -> std::io::Result<()> {
    let at = |p: &str| host_root.join(p.trim_start_matches('/'));
    for step in steps.iter().rev() {
        match step {
            Step::Created { path } => remove_any(&at(path))?,
            Step::Moved { from, to } => {
                if std::fs::symlink_metadata(at(to)).is_ok() {
                    remove_any(&at(from))?;
                    std::fs::rename(at(to), at(from))?;
                }
            }
            Step::Overwritten { path, backup } => {
                if at(backup).exists() {
                    replace_file(&at(backup), &at(path))?;
                }
            }
        }
    }
    Ok(())
}
