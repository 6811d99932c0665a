//! Files, directories and links under a root (`/` on the host, a fixture directory in
//! tests), with the I/O errors mapped to readings. Reads are bounded, and in a fixture a
//! symlink may not lead outside the root.

use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use crate::input::Reading;

/// sysfs/procfs values are small; anything larger is not what a check asked for.
const MAX_FILE: u64 = 1 << 20;

pub struct RootFs {
    root: PathBuf,
    /// Refuse paths that resolve outside `root` (fixtures); the host root contains all.
    contain: bool,
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
    pub fn host() -> Self {
        RootFs {
            root: PathBuf::from("/"),
            contain: false,
        }
    }

    pub fn fixture(root: &Path) -> std::io::Result<Self> {
        Ok(RootFs {
            root: root.canonicalize()?,
            contain: true,
        })
    }

    fn resolve(&self, rel: &str) -> Result<PathBuf, Reading> {
        let p = self.root.join(rel.trim_start_matches('/'));
        if !self.contain {
            return Ok(p);
        }
        match p.canonicalize() {
            Ok(c) if c.starts_with(&self.root) => Ok(c),
            Ok(c) => Err(Reading::Error {
                detail: format!("{} leads outside the fixture root", c.display()),
            }),
            Err(e) => Err(io_reading(&e)),
        }
    }

    pub fn file(&self, rel: &str) -> Reading {
        let p = match self.resolve(rel) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let mut buf = Vec::new();
        let res = std::fs::File::open(&p).and_then(|f| f.take(MAX_FILE).read_to_end(&mut buf));
        match res {
            Ok(_) => {
                let mut s = String::from_utf8_lossy(&buf).into_owned();
                if s.ends_with('\n') {
                    s.pop();
                }
                Reading::Text { value: s }
            }
            Err(e) => io_reading(&e),
        }
    }

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
