//! Unpacks the tarball into a staging directory, refusing anything that could reach
//! outside it or surprise the host: absolute paths, `..`, links leading out, hard links,
//! device files and FIFOs, and more than a size or entry limit (tar bombs).

use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: u64,
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

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("tarball entry `{entry}`: {why}; nothing was installed")]
    Unsafe { entry: String, why: String },
    #[error("tarball is larger than {limit} bytes unpacked (a tar bomb?); nothing was installed")]
    TooLarge { limit: u64 },
    #[error("tarball has more than {limit} entries; nothing was installed")]
    TooManyEntries { limit: u64 },
    #[error("tarball is corrupt or truncated: {0}; nothing was installed")]
    Corrupt(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
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

/// Whether a symlink at `entry` pointing to `target` stays inside the staging directory.
fn link_stays_inside(entry: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = entry.components().count() as i64 - 1;
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    true
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
                if !link_stays_inside(&rel, &target) {
                    return Err(unsafe_entry(format!(
                        "is a symlink to `{}`, outside the tarball",
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
        let ok = entry
            .unpack_in(dest)
            .map_err(|e| ExtractError::Corrupt(format!("{name}: {e}")))?;
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
    fn links_must_stay_inside() {
        assert!(link_stays_inside(
            Path::new("bin/ctr"),
            Path::new("containerd")
        ));
        assert!(link_stays_inside(
            Path::new("bin/ctr"),
            Path::new("../bin/containerd")
        ));
        assert!(!link_stays_inside(
            Path::new("bin/ctr"),
            Path::new("../../etc/passwd")
        ));
        assert!(!link_stays_inside(
            Path::new("ctr"),
            Path::new("/usr/bin/ctr")
        ));
    }

    #[test]
    fn relative_paths_only() {
        assert!(safe_relative(Path::new("./bin/containerd")).is_ok());
        assert!(safe_relative(Path::new("/etc/passwd")).is_err());
        assert!(safe_relative(Path::new("bin/../../x")).is_err());
    }
}
