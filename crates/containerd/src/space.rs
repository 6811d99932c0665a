//! Free space and writability of the filesystems an install writes to, checked before the
//! first host change: a full or read-only `/usr` or `/opt` must stop the install before
//! anything is replaced.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Headroom kept free on every filesystem written to, on top of what is written.
pub const MARGIN: u64 = 32 << 20;

/// `statvfs(2)` of the filesystem holding `path`.
fn statvfs(path: &Path) -> std::io::Result<libc::statvfs> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: `c` is a valid NUL-terminated path; `st` is a plain C struct that statvfs
    // fills in completely on success, and is read only then.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st)
}

/// Bytes available to an unprivileged writer on the filesystem holding `path`.
pub fn available(path: &Path) -> std::io::Result<u64> {
    let st = statvfs(path)?;
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// The filesystem holding `path` is mounted read-only (`ST_RDONLY`): even root cannot write.
pub fn read_only(path: &Path) -> std::io::Result<bool> {
    Ok(statvfs(path)?.f_flag & libc::ST_RDONLY != 0)
}

/// A filesystem the install must write to is read-only.
#[derive(Debug, thiserror::Error)]
#[error(
    "{path} is on a read-only filesystem, but the install writes {what} there; nothing was changed"
)]
pub struct ReadOnly {
    /// The existing directory checked.
    pub path: String,
    /// What would be written there.
    pub what: String,
}

/// Checks, before any change, that every planned path's filesystem is writable (an
/// unreadable one counts as not writable: "could not check" is not "writable").
pub fn check_writable(planned: &[(PathBuf, u64, String)]) -> Result<(), ReadOnly> {
    for (anc, _, whats) in by_filesystem(planned).into_values() {
        if read_only(&anc).unwrap_or(true) {
            return Err(ReadOnly {
                path: anc.display().to_string(),
                what: whats.join(", "),
            });
        }
    }
    Ok(())
}

/// The planned writes grouped by filesystem: an existing directory on it, the bytes, and
/// what is written there.
fn by_filesystem(planned: &[(PathBuf, u64, String)]) -> BTreeMap<u64, (PathBuf, u64, Vec<String>)> {
    let mut by_dev: BTreeMap<u64, (PathBuf, u64, Vec<String>)> = BTreeMap::new();
    for (path, bytes, what) in planned {
        let anc = existing_ancestor(path);
        let dev = std::fs::metadata(&anc).map(|m| m.dev()).unwrap_or(0);
        let e = by_dev.entry(dev).or_insert((anc, 0, vec![]));
        e.1 += bytes;
        if !e.2.contains(what) {
            e.2.push(what.clone());
        }
    }
    by_dev
}

/// The nearest existing ancestor of `p` (what a not-yet-created path will live on).
fn existing_ancestor(p: &Path) -> PathBuf {
    let mut cur = p.to_path_buf();
    while std::fs::symlink_metadata(&cur).is_err() {
        match cur.parent() {
            Some(parent) => cur = parent.to_path_buf(),
            None => break,
        }
    }
    cur
}

/// Not enough room on one filesystem.
#[derive(Debug, thiserror::Error)]
#[error("not enough free space for {what}: {need_mib} MiB needed (including {margin_mib} MiB headroom), {have_mib} MiB free on the filesystem holding {path}; nothing was changed")]
pub struct NoSpace {
    /// Where it would be written.
    pub path: String,
    /// What needs the room.
    pub what: String,
    /// MiB needed.
    pub need_mib: u64,
    /// MiB free.
    pub have_mib: u64,
    /// Headroom included in `need_mib`.
    pub margin_mib: u64,
}

/// Checks that each filesystem can take the bytes planned for it (grouped by device).
pub fn check(planned: &[(PathBuf, u64, String)]) -> Result<(), NoSpace> {
    for (anc, bytes, whats) in by_filesystem(planned).into_values() {
        let need = bytes + MARGIN;
        // An unreadable filesystem is not assumed to have room.
        let have = available(&anc).unwrap_or(0);
        if have < need {
            return Err(NoSpace {
                path: anc.display().to_string(),
                what: whats.join(", "),
                need_mib: need.div_ceil(1 << 20),
                have_mib: have >> 20,
                margin_mib: MARGIN >> 20,
            });
        }
    }
    Ok(())
}
