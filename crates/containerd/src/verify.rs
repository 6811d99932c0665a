//! Checks the unpacked binaries before anything on the host changes: present, ELF for this
//! node's architecture, and answering a version request.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cococtl_core::Arch;

/// The binaries a containerd release must carry, and the flag each answers with its version
/// (the runc shim takes `-v`; it rejects `--version`).
pub const REQUIRED: &[(&str, &str)] = &[
    ("containerd", "--version"),
    ("containerd-shim-runc-v2", "-v"),
    ("ctr", "--version"),
];

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the tarball has no bin/{0}; a containerd release tarball carries bin/containerd, bin/containerd-shim-runc-v2 and bin/ctr")]
    Missing(String),
    #[error("bin/{name} is not an ELF executable")]
    NotElf { name: String },
    #[error(
        "bin/{name} is built for {found}, but this node is {want}: use the tarball for {want}"
    )]
    WrongArch {
        name: String,
        found: String,
        want: String,
    },
    #[error("bin/{name} {flag} failed: {why}")]
    NoVersion {
        name: String,
        flag: String,
        why: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// What the staging directory holds, verified.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Directory holding the binaries (`<staging>/bin`).
    pub bin: PathBuf,
    /// Every regular file in `bin`, by name.
    pub files: Vec<String>,
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

fn machine_name(m: u16) -> &'static str {
    match m {
        62 => "x86_64",
        183 => "aarch64",
        22 => "s390x",
        21 => "ppc64",
        3 => "i386",
        40 => "arm",
        _ => "another architecture",
    }
}

fn expected_machine(arch: Arch) -> u16 {
    match arch {
        Arch::Amd64 => 62,
        Arch::Arm64 => 183,
        Arch::S390x => 22,
        Arch::Ppc64le => 21,
    }
}

fn run_version(path: &Path, flag: &str) -> Result<String, String> {
    let mut child = Command::new(path)
        .arg(flag)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(_) => break,
            None if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                return Err("no answer within 10 s".into());
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Verifies `<staging>/bin` for `arch`.
pub fn verify(staging: &Path, arch: Arch) -> Result<Verified, VerifyError> {
    let bin = staging.join("bin");
    let mut version = String::new();
    for (name, flag) in REQUIRED {
        let p = bin.join(name);
        // The ELF header only: the binaries are tens of MB.
        let head = std::fs::File::open(&p).and_then(|f| {
            use std::io::Read;
            let mut head = Vec::with_capacity(64);
            f.take(64).read_to_end(&mut head).map(|_| head)
        });
        let head = match head {
            Ok(h) => h,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(VerifyError::Missing(name.to_string()))
            }
            Err(source) => {
                return Err(VerifyError::Io {
                    path: p.display().to_string(),
                    source,
                })
            }
        };
        let machine = elf_machine(&head).ok_or_else(|| VerifyError::NotElf {
            name: name.to_string(),
        })?;
        if machine != expected_machine(arch) {
            return Err(VerifyError::WrongArch {
                name: name.to_string(),
                found: machine_name(machine).into(),
                want: arch.kernel_name().into(),
            });
        }
        let out = run_version(&p, flag).map_err(|why| VerifyError::NoVersion {
            name: name.to_string(),
            flag: flag.to_string(),
            why,
        })?;
        if *name == "containerd" {
            // `containerd github.com/containerd/containerd 1.7.24 <rev>`
            version = out
                .split_whitespace()
                .nth(2)
                .unwrap_or("unknown")
                .to_string();
        }
    }
    let mut files = vec![];
    for e in std::fs::read_dir(&bin).map_err(|source| VerifyError::Io {
        path: bin.display().to_string(),
        source,
    })? {
        let e = e.map_err(|source| VerifyError::Io {
            path: bin.display().to_string(),
            source,
        })?;
        if e.file_type().map(|t| t.is_file()).unwrap_or(false) {
            files.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    files.sort();
    Ok(Verified {
        bin,
        files,
        version,
    })
}
