//! Unpacks the tarball into a staging directory, refusing anything that could reach
//! outside it or surprise the host: absolute paths, `..`, symlinks other than to a sibling
//! file (a chain of links that each look harmless can still resolve to the host's `/usr/bin`),
//! hard links, device files and FIFOs, and more than a size or entry limit (tar bombs).
//! A full disk is reported as such, not as a corrupt tarball.

use std::path::{Component, Path, PathBuf};

/// Limits on what a tarball may unpack to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes, unpacked.
    pub max_bytes: u64,
    /// Entries.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 2 << 30,
            max_entries: 10_000,
        }
    }
}

/// Why the tarball was not unpacked. Nothing on the host was changed.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// An entry that could reach outside the staging directory or surprise the host.
    #[error("tarball entry `{entry}`: {why}; nothing was installed")]
    Unsafe {
        /// The entry's path.
        entry: String,
        /// Why it is refused.
        why: String,
    },
    /// Too many bytes.
    #[error("tarball is larger than {limit} bytes unpacked (a tar bomb?); nothing was installed")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// Too many entries.
    #[error("tarball has more than {limit} entries; nothing was installed")]
    TooManyEntries {
        /// The limit.
        limit: u64,
    },
    /// Not a gzip'd tar, or cut short.
    #[error("tarball is corrupt or truncated: {0}; nothing was installed")]
    Corrupt(String),
    /// The staging filesystem is full.
    #[error("no space left on the filesystem holding {path} while unpacking the tarball; nothing was installed (free some space there)")]
    NoSpace {
        /// The staging directory.
        path: String,
    },
    /// Other I/O.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// `..` or an absolute path: refused. Returns the normalised relative path.
fn safe_relative(p: &Path) -> Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err("contains `..`".into()),
            Component::RootDir | Component::Prefix(_) => return Err("is an absolute path".into()),
        }
    }
    Ok(out)
}

/// A symlink is accepted only to a sibling by name (`ctr -> ctr-2.1`): each hop then stays
/// in its own directory, so no chain of links can resolve outside the staging directory.
fn sibling_link(target: &Path) -> bool {
    let mut c = target.components();
    matches!((c.next(), c.next()), (Some(Component::Normal(_)), None))
}

/// Unpacks `tarball` (gzip) into `dest`, which must be empty or absent.
pub fn extract(tarball: &Path, dest: &Path, limits: Limits) -> Result<u64, ExtractError> {
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| ExtractError::Io { path, source }
    };
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    let f = std::fs::File::open(tarball).map_err(io(tarball))?;
    let gz = flate2::read::GzDecoder::new(std::io::BufReader::with_capacity(64 * 1024, f));
    let mut archive = tar::Archive::new(gz);
    archive.set_preserve_permissions(true);
    archive.set_unpack_xattrs(false);
    let (mut bytes, mut entries) = (0u64, 0u64);
    for entry in archive
        .entries()
        .map_err(|e| ExtractError::Corrupt(e.to_string()))?
    {
        let mut entry = entry.map_err(|e| ExtractError::Corrupt(e.to_string()))?;
        entries += 1;
        if entries > limits.max_entries {
            return Err(ExtractError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let raw = entry
            .path()
            .map_err(|e| ExtractError::Corrupt(e.to_string()))?
            .into_owned();
        let name = raw.display().to_string();
        let unsafe_entry = |why: String| ExtractError::Unsafe {
            entry: name.clone(),
            why,
        };
        let rel = safe_relative(&raw).map_err(unsafe_entry)?;
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Regular | tar::EntryType::Directory | tar::EntryType::GNUSparse => {}
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                if !sibling_link(&target) {
                    return Err(unsafe_entry(format!(
                        "is a symlink to `{}`; only links to a file in the same directory are accepted",
                        target.display()
                    )));
                }
            }
            tar::EntryType::Link => return Err(unsafe_entry("is a hard link".into())),
            tar::EntryType::Char | tar::EntryType::Block => {
                return Err(unsafe_entry("is a device file".into()))
            }
            tar::EntryType::Fifo => return Err(unsafe_entry("is a FIFO".into())),
            other => return Err(unsafe_entry(format!("has unsupported type {other:?}"))),
        }
        bytes = bytes.saturating_add(entry.header().size().unwrap_or(0));
        if bytes > limits.max_bytes {
            return Err(ExtractError::TooLarge {
                limit: limits.max_bytes,
            });
        }
        if rel.as_os_str().is_empty() {
            continue;
        }
        let ok = entry.unpack_in(dest).map_err(|e| {
            if e.kind() == std::io::ErrorKind::StorageFull {
                ExtractError::NoSpace {
                    path: dest.display().to_string(),
                }
            } else {
                ExtractError::Corrupt(format!("{name}: {e}"))
            }
        })?;
        if !ok {
            return Err(unsafe_entry(
                "would be written outside the staging directory".into(),
            ));
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sibling_links_are_accepted() {
        assert!(sibling_link(Path::new("containerd")));
        assert!(!sibling_link(Path::new("../bin/containerd")));
        assert!(!sibling_link(Path::new(".")));
        assert!(!sibling_link(Path::new("up5/..")));
        assert!(!sibling_link(Path::new("up6/usr/bin")));
        assert!(!sibling_link(Path::new("/usr/bin/ctr")));
    }

    #[test]
    fn relative_paths_only() {
        assert!(safe_relative(Path::new("./bin/containerd")).is_ok());
        assert!(safe_relative(Path::new("/etc/passwd")).is_err());
        assert!(safe_relative(Path::new("bin/../../x")).is_err());
    }
}
