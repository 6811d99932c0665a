//! Files, directories and links under a root (`/` on the host, a fixture directory in
//! tests), with the I/O errors mapped to readings. Reads are bounded, and in a fixture a
//! symlink may not lead outside the root.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use crate::input::Reading;

/// sysfs/procfs values are small; anything larger is not what a check asked for.
const MAX_FILE: u64 = 1 << 20;
/// Host programs and package databases scanned for their printable strings: larger than
/// any mkfs.erofs or dpkg status seen, small enough to stay bounded.
const MAX_SCAN: u64 = 64 << 20;
/// The shortest run of printable bytes kept (as `strings(1)` does).
const MIN_STRING: usize = 3;

/// The printable ASCII runs of `bytes` at least [`MIN_STRING`] long (`1.8` is a version), one per line: what a
/// check looks for in a program (its version literal, its option names), never executed.
pub fn printable_strings(bytes: &[u8]) -> String {
    let mut out = String::new();
    for run in bytes.split(|b| !(b.is_ascii_graphic() || *b == b' ' || *b == b'\t')) {
        if run.len() >= MIN_STRING {
            out.push_str(&String::from_utf8_lossy(run));
            out.push('\n');
        }
    }
    if out.ends_with('\n') {
        out.pop();
    }
    out
}

/// Files, directories and links under one root.
pub struct RootFs {
    root: PathBuf,
    /// Refuse paths that resolve outside `root` (fixtures); the host root contains all.
    contain: bool,
    /// Resolved parent directories: sysfs reads share a few hundred parents, and resolving
    /// each path from scratch costs a syscall per component and link hop.
    dirs: RefCell<HashMap<String, Result<PathBuf, Reading>>>,
}

fn io_reading(e: &std::io::Error) -> Reading {
    match e.kind() {
        ErrorKind::NotFound => Reading::Missing,
        ErrorKind::PermissionDenied => Reading::Denied {
            detail: e.to_string(),
        },
        _ if e.raw_os_error() == Some(libc::ELOOP) => Reading::Error {
            detail: "symlink loop".into(),
        },
        _ if e.raw_os_error() == Some(libc::ENOTDIR) => Reading::Missing,
        _ => Reading::Error {
            detail: e.to_string(),
        },
    }
}

impl RootFs {
    /// The host's `/`.
    pub fn host() -> Self {
        RootFs {
            root: PathBuf::from("/"),
            contain: false,
            dirs: RefCell::default(),
        }
    }

    /// A fixture root; links may not lead outside it.
    pub fn fixture(root: &Path) -> std::io::Result<Self> {
        Ok(RootFs {
            root: root.canonicalize()?,
            contain: true,
            dirs: RefCell::default(),
        })
    }

    /// Resolves `rel` inside the root one component at a time, following symlinks
    /// relative to where they sit (as sysfs links are), never above the root. Every
    /// resolved path is cached: sysfs reads share a few hundred directories.
    fn resolve(&self, rel: &str) -> Result<PathBuf, Reading> {
        let rel = rel.trim_matches('/');
        if !self.contain {
            return Ok(self.root.join(rel));
        }
        self.resolve_in(rel, 0)
    }

    fn resolve_in(&self, rel: &str, hops: u32) -> Result<PathBuf, Reading> {
        if rel.is_empty() {
            return Ok(self.root.clone());
        }
        if let Some(r) = self.dirs.borrow().get(rel) {
            return r.clone();
        }
        let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let r = self
            .resolve_in(parent, hops)
            .and_then(|base| self.step(base, name, hops));
        self.dirs.borrow_mut().insert(rel.to_string(), r.clone());
        r
    }

    /// One path component below the resolved `base`.
    fn step(&self, base: PathBuf, name: &str, hops: u32) -> Result<PathBuf, Reading> {
        match name {
            "" | "." => return Ok(base),
            ".." if base == self.root => {
                return Err(Reading::Error {
                    detail: "a link leads outside the fixture root".into(),
                })
            }
            ".." => {
                return Ok(base
                    .parent()
                    .map_or_else(|| self.root.clone(), Path::to_path_buf))
            }
            _ => {}
        }
        let candidate = base.join(name);
        let meta = std::fs::symlink_metadata(&candidate).map_err(|e| io_reading(&e))?;
        if !meta.file_type().is_symlink() {
            return Ok(candidate);
        }
        if hops >= 40 {
            return Err(Reading::Error {
                detail: "symlink loop".into(),
            });
        }
        let target = std::fs::read_link(&candidate).map_err(|e| io_reading(&e))?;
        if target.is_absolute() {
            return Err(Reading::Error {
                detail: format!(
                    "{} links to the absolute path {}, outside the fixture root",
                    candidate.display(),
                    target.display()
                ),
            });
        }
        let mut at = base;
        for comp in target.to_string_lossy().split('/') {
            at = self.step(at, comp, hops + 1)?;
        }
        Ok(at)
    }

    /// A file's text (bounded).
    pub fn file(&self, rel: &str) -> Reading {
        let res = self.open(rel).and_then(|f| {
            let mut buf = Vec::new();
            f.take(MAX_FILE)
                .read_to_end(&mut buf)
                .map(|_| buf)
                .map_err(|e| io_reading(&e))
        });
        match res {
            Ok(buf) => {
                let mut s = String::from_utf8_lossy(&buf).into_owned();
                if s.ends_with('\n') {
                    s.pop();
                }
                Reading::Text { value: s }
            }
            Err(r) => r,
        }
    }

    /// A file's printable strings (see [`printable_strings`]), read up to [`MAX_SCAN`]
    /// bytes; a larger file is an error, not a partial answer, so a string absent from
    /// the result is absent from the file.
    pub fn strings(&self, rel: &str) -> Reading {
        let res = self.open(rel).and_then(|f| {
            let mut buf = Vec::new();
            f.take(MAX_SCAN + 1)
                .read_to_end(&mut buf)
                .map(|_| buf)
                .map_err(|e| io_reading(&e))
        });
        match res {
            Ok(buf) if buf.len() as u64 > MAX_SCAN => Reading::Error {
                detail: format!("larger than {} MiB; not scanned", MAX_SCAN >> 20),
            },
            Ok(buf) => Reading::Text {
                value: printable_strings(&buf),
            },
            Err(r) => r,
        }
    }

    /// Opens a file inside the root. The last component is opened without following a
    /// link (one syscall for the common case); only a link there is resolved in full.
    fn open(&self, rel: &str) -> Result<std::fs::File, Reading> {
        use std::os::unix::fs::OpenOptionsExt;
        if !self.contain {
            return std::fs::File::open(self.root.join(rel.trim_start_matches('/')))
                .map_err(|e| io_reading(&e));
        }
        let rel = rel.trim_matches('/');
        let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let dir = self.resolve(parent)?;
        match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(dir.join(name))
        {
            Ok(f) => Ok(f),
            // ELOOP here means the last component is a link: resolve it inside the root.
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                std::fs::File::open(self.resolve(rel)?).map_err(|e| io_reading(&e))
            }
            Err(e) => Err(io_reading(&e)),
        }
    }

    /// A directory's sorted entry names.
    pub fn dir(&self, rel: &str) -> Reading {
        let p = match self.resolve(rel) {
            Ok(p) => p,
            Err(r) => return r,
        };
        match std::fs::read_dir(&p) {
            Ok(it) => {
                let mut names: Vec<String> = it
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                Reading::Entries { names }
            }
            Err(e) => io_reading(&e),
        }
    }

    /// A symlink's target.
    pub fn link(&self, rel: &str) -> Reading {
        // The link itself may sit under a linked directory (sysfs device paths do).
        let (parent, name) = match rel.rsplit_once('/') {
            Some((p, n)) => (p, n),
            None => ("", rel),
        };
        let dir = match self.resolve(parent) {
            Ok(d) => d,
            Err(r) => return r,
        };
        match std::fs::read_link(dir.join(name)) {
            Ok(t) => Reading::Link {
                target: t.to_string_lossy().into_owned(),
            },
            Err(e) if e.kind() == ErrorKind::InvalidInput => Reading::Error {
                detail: "not a symlink".into(),
            },
            Err(e) => io_reading(&e),
        }
    }

    /// A `/dev` node on the real host: its kind.
    pub fn device(&self, rel: &str) -> Reading {
        use std::os::unix::fs::FileTypeExt;
        match std::fs::metadata(self.root.join(rel.trim_start_matches('/'))) {
            Ok(m) if m.file_type().is_char_device() => Reading::Device {
                node: "char".into(),
            },
            Ok(m) if m.file_type().is_block_device() => Reading::Device {
                node: "block".into(),
            },
            Ok(m) if m.is_dir() => Reading::Device { node: "dir".into() },
            Ok(_) => Reading::Device {
                node: "file".into(),
            },
            Err(e) => io_reading(&e),
        }
    }
}
