//! One agent per host at a time: an exclusive `flock` on a file under the host root, held
//! for the whole run (kata-deploy guards its host changes the same way). A second run is
//! refused with the holder named, instead of both "recovering" each other's changes.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;

use crate::layout;

/// The held lock; released when dropped (or when the process dies, by the kernel).
#[derive(Debug)]
pub struct HostLock {
    _file: File,
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another agent holds it.
    #[error("another cococtl agent is working on this host ({holder}); wait for it to finish, or stop it")]
    Busy {
        /// What the holder wrote into the lock file.
        holder: String,
    },
    /// The lock file could not be opened.
    #[error("{path}: {source}")]
    Io {
        /// The lock file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Takes the host lock without waiting, recording `what` (e.g. `install`) as the holder.
pub fn acquire(host_root: &Path, what: &str) -> Result<HostLock, LockError> {
    let path = layout::at(host_root, layout::LOCK);
    let io = |source| LockError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(LockError::Busy {
                holder: if holder.is_empty() {
                    "holder unknown".into()
                } else {
                    holder.to_string()
                },
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    // Who holds it, for the message a second run prints.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(
        file,
        "pid {} running `cococtl node containerd {what}`",
        std::process::id()
    );
    let _ = file.flush();
    Ok(HostLock { _file: file })
}
