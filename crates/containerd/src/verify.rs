//! Checks the unpacked binaries before anything on the host changes: each required binary
//! is a regular file (a link could lead anywhere, even to the host's own binaries), an ELF
//! executable for this node's architecture, and answers a version request. Only the known
//! containerd binaries are installed; anything else in `bin/` is reported and ignored.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cococtl_core::arch::elf_machine_name;
use cococtl_core::Arch;

use crate::layout::KNOWN_BINARIES;

/// The binaries a containerd release must carry, and the flag each answers with its version
/// (the runc shim takes `-v`; it rejects `--version`).
pub const REQUIRED: &[(&str, &str)] = &[
    ("containerd", "--version"),
    ("containerd-shim-runc-v2", "-v"),
    ("ctr", "--version"),
];

/// Why the tarball's binaries are refused. Nothing on the host was changed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A required binary is missing.
    #[error("the tarball has no bin/{0}; a containerd release tarball carries bin/containerd, bin/containerd-shim-runc-v2 and bin/ctr")]
    Missing(String),
    /// A binary is a link or something else than a regular file.
    #[error("bin/{0} is not a regular file (a link or a directory); a release tarball carries the binaries themselves")]
    NotRegular(String),
    /// Not an ELF executable.
    #[error("bin/{name} is not an ELF executable")]
    NotElf {
        /// The binary.
        name: String,
    },
    /// Built for another architecture.
    #[error(
        "bin/{name} is built for {found}, but this node is {want}: use the tarball for {want}"
    )]
    WrongArch {
        /// The binary.
        name: String,
        /// Its architecture.
        found: String,
        /// This node's.
        want: String,
    },
    /// Does not answer its version flag.
    #[error("bin/{name} {flag} failed: {why}")]
    NoVersion {
        /// The binary.
        name: String,
        /// The flag.
        flag: String,
        /// What happened.
        why: String,
    },
    /// Could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// What the staging directory holds, verified.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Directory holding the binaries (`<staging>/bin`).
    pub bin: PathBuf,
    /// The known containerd binaries present, as regular files, by name: what is installed.
    pub files: Vec<String>,
    /// Other entries of `bin/`, not installed.
    pub ignored: Vec<String>,
    /// `containerd --version`'s version field, e.g. `1.7.24` or `v2.1.9`.
    pub version: String,
}

fn elf_machine(bytes: &[u8]) -> Option<u16> {
    if bytes.len() < 20 || &bytes[..4] != b"\x7fELF" {
        return None;
    }
    let m = [bytes[18], bytes[19]];
    Some(if bytes[5] == 2 {
        u16::from_be_bytes(m)
    } else {
        u16::from_le_bytes(m)
    })
}

const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `path flag` and returns its trimmed stdout; killed after 10 s.
pub async fn run_version(path: &Path, flag: &str) -> Result<String, String> {
    let mut cmd = tokio::process::Command::new(path);
    cmd.arg(flag).kill_on_drop(true);
    let out = tokio::time::timeout(VERSION_TIMEOUT, cmd.output())
        .await
        .map_err(|_| format!("no answer within {} s", VERSION_TIMEOUT.as_secs()))?
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The version field of `containerd --version`
/// (`containerd github.com/containerd/containerd 1.7.24 <rev>`).
pub fn containerd_version(out: &str) -> String {
    out.split_whitespace()
        .nth(2)
        .unwrap_or("unknown")
        .to_string()
}

/// The version of the containerd binary at `path`.
pub async fn binary_version(path: &Path) -> Result<String, String> {
    run_version(path, "--version")
        .await
        .map(|o| containerd_version(&o))
}

fn regular(p: &Path, name: &str) -> Result<bool, VerifyError> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.file_type().is_file() => Ok(true),
        Ok(_) => Err(VerifyError::NotRegular(name.into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(VerifyError::Io {
            path: p.display().to_string(),
            source,
        }),
    }
}

async fn check_binary(p: &Path, name: &str, flag: &str, arch: Arch) -> Result<String, VerifyError> {
    // The ELF header only: the binaries are tens of MB.
    let head = std::fs::File::open(p).and_then(|f| {
        use std::io::Read;
        let mut head = Vec::with_capacity(64);
        f.take(64).read_to_end(&mut head).map(|_| head)
    });
    let head = head.map_err(|source| VerifyError::Io {
        path: p.display().to_string(),
        source,
    })?;
    let machine = elf_machine(&head).ok_or_else(|| VerifyError::NotElf { name: name.into() })?;
    if machine != arch.elf_machine() {
        return Err(VerifyError::WrongArch {
            name: name.into(),
            found: elf_machine_name(machine).into(),
            want: arch.kernel_name().into(),
        });
    }
    run_version(p, flag)
        .await
        .map_err(|why| VerifyError::NoVersion {
            name: name.into(),
            flag: flag.into(),
            why,
        })
}

/// Verifies `<staging>/bin` for `arch`.
pub async fn verify(staging: &Path, arch: Arch) -> Result<Verified, VerifyError> {
    let bin = staging.join("bin");
    match std::fs::symlink_metadata(&bin) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(VerifyError::NotRegular("(the bin directory itself)".into())),
        Err(_) => return Err(VerifyError::Missing("containerd".into())),
    }
    let mut version = String::new();
    for (name, flag) in REQUIRED {
        let p = bin.join(name);
        if !regular(&p, name)? {
            return Err(VerifyError::Missing(name.to_string()));
        }
        let out = check_binary(&p, name, flag, arch).await?;
        if *name == "containerd" {
            version = containerd_version(&out);
        }
    }
    let mut files = vec![];
    let mut ignored = vec![];
    let io = |source| VerifyError::Io {
        path: bin.display().to_string(),
        source,
    };
    for e in std::fs::read_dir(&bin).map_err(io)? {
        let name = e.map_err(io)?.file_name().to_string_lossy().into_owned();
        if KNOWN_BINARIES.contains(&name.as_str())
            && regular(&bin.join(&name), &name).unwrap_or(false)
        {
            files.push(name);
        } else {
            ignored.push(name);
        }
    }
    // The known binaries in a fixed order: required first.
    files.sort_by_key(|f| KNOWN_BINARIES.iter().position(|k| k == f));
    ignored.sort();
    Ok(Verified {
        bin,
        files,
        ignored,
        version,
    })
}
