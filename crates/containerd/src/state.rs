//! `state.json`: what cococtl installed on this host, written only when a transaction
//! commits (after the health gate passed). Restore returns each recorded file to its
//! original, so this is also the record of what the host looked like before cococtl.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::Mode;
use crate::layout;

/// One host file cococtl wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedFile {
    /// Path relative to the host root.
    pub path: String,
    /// SHA-256 of what cococtl wrote (restore refuses to overwrite a file someone changed
    /// since, e.g. a distribution upgrade, unless told to).
    pub sha256: String,
    /// Where the file that was there before is kept (under [`layout::ORIGINALS`]); `None`
    /// when cococtl created the file.
    pub original: Option<String>,
}

/// What is installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    /// The transaction that committed it.
    pub tx: String,
    /// SHA-256 of the tarball.
    pub sha256: String,
    /// Where it came from.
    pub url: String,
    /// `containerd --version` of the installed binary.
    pub version: String,
    /// Side or in-place.
    pub mode: Mode,
    /// The binary the unit must run (absolute, as the unit names it).
    pub exec: String,
    /// Files cococtl wrote, in the order it wrote them.
    pub files: Vec<OwnedFile>,
    /// Directories cococtl created and owns entirely.
    pub dirs: Vec<String>,
}

/// state.json could not be read or parsed: never taken as "nothing installed".
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Unreadable.
    #[error("var/lib/cococtl/containerd/state.json: {0}")]
    Io(#[source] std::io::Error),
    /// Not what this version writes.
    #[error("var/lib/cococtl/containerd/state.json: not a state file this cococtl understands ({0}); inspect it, then remove it only if nothing was installed")]
    Parse(String),
}

/// The installed state, `None` when nothing is installed.
pub fn load(host_root: &Path) -> Result<Option<Installed>, StateError> {
    match std::fs::read(layout::at(host_root, layout::STATE)) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| StateError::Parse(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StateError::Io(e)),
    }
}

/// Writes (or, with `None`, removes) state.json durably.
pub fn store(host_root: &Path, state: Option<&Installed>) -> std::io::Result<()> {
    let path = layout::at(host_root, layout::STATE);
    match state {
        Some(s) => crate::journal::write_atomic(
            &path,
            &serde_json::to_vec_pretty(s).map_err(std::io::Error::other)?,
        ),
        None => match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => crate::journal::sync_dir(&path),
        },
    }
}
