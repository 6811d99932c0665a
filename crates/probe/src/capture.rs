//! `cococtl probe capture OUTDIR`: records exactly the declared inputs of every check as a
//! fixture (a `root/` tree plus `hw.json`), never a whole `/sys`. Serial numbers are redacted.

use std::path::{Path, PathBuf};

use crate::host::fixture::{cpuid_key, msr_key, Hw, HwFile, Unavailable};
use crate::host::Host;
use crate::input::{Input, Reading, Snapshot};

/// Why a capture could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct CaptureError {
    /// The file or directory.
    pub path: String,
    /// The I/O error.
    pub source: std::io::Error,
}

fn redact(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.to_ascii_lowercase().contains("serial") {
                match l.split_once(':') {
                    Some((k, _)) => format!("{k}: REDACTED"),
                    None => "REDACTED".to_string(),
                }
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn unavailable<T>(r: &Reading) -> Option<Hw<T>> {
    let (kind, detail) = match r {
        Reading::Missing => ("missing", String::new()),
        Reading::Denied { detail } => ("denied", detail.clone()),
        Reading::NotObservable { detail } => ("not_observable", detail.clone()),
        Reading::Error { detail } => ("error", detail.clone()),
        _ => return None,
    };
    Some(Hw::Unavailable {
        unavailable: kind.into(),
        detail,
    })
}

/// What a capture wrote.
pub struct Captured {
    /// Files and links written under `root`.
    pub files: usize,
    /// The fixture root.
    pub root: PathBuf,
    /// The `hw.json`.
    pub hw: PathBuf,
}

/// Gathers the declared inputs through `host` and writes them under `out`.
pub fn capture(host: &dyn Host, out: &Path) -> Result<Captured, CaptureError> {
    let snapshot = Snapshot::gather(host, &crate::declared_inputs());
    write(&snapshot, out)
}

/// Writes `snapshot` as a fixture under `out` (`root/` and `hw.json`).
pub fn write(snapshot: &Snapshot, out: &Path) -> Result<Captured, CaptureError> {
    let root = out.join("root");
    let err = |p: &Path| {
        let path = p.display().to_string();
        move |source| CaptureError { path, source }
    };
    std::fs::create_dir_all(&root).map_err(err(&root))?;
    let mut hw = HwFile::default();
    let mut files = 0;
    for (input, reading) in &snapshot.readings {
        match (input, reading) {
            (
                Input::File { path }
                | Input::Strings { path }
                | Input::Dir { path }
                | Input::Link { path },
                Reading::Denied { .. },
            ) => hw.denied.push(path.clone()),
            // Not observable or an error: recorded as such, so a replay does not read
            // "absent" where the host could not tell.
            (
                Input::File { path }
                | Input::Strings { path }
                | Input::Dir { path }
                | Input::Link { path },
                r @ (Reading::NotObservable { .. } | Reading::Error { .. }),
            ) => {
                if let Some(Hw::Unavailable {
                    unavailable,
                    detail,
                }) = unavailable::<()>(r)
                {
                    hw.unavailable.insert(
                        path.clone(),
                        Unavailable {
                            unavailable,
                            detail,
                        },
                    );
                }
            }
            // A program's strings are recorded as a file of those strings: scanning it
            // again gives the same strings.
            (Input::File { path } | Input::Strings { path }, Reading::Text { value }) => {
                let p = root.join(path);
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).map_err(err(parent))?;
                }
                std::fs::write(&p, format!("{}\n", redact(value))).map_err(err(&p))?;
                files += 1;
            }
            (Input::Link { path }, Reading::Link { target }) => {
                let p = root.join(path);
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).map_err(err(parent))?;
                }
                let _ = std::fs::remove_dir(&p);
                std::os::unix::fs::symlink(target, &p).map_err(err(&p))?;
                files += 1;
            }
            (Input::Dir { path }, Reading::Entries { names }) => {
                hw.dirs.insert(path.clone(), names.clone());
            }
            (Input::Device { path }, Reading::Device { node }) => {
                hw.devices.insert(path.clone(), Hw::Value(node.clone()));
            }
            (Input::Device { path }, r) => {
                if let Some(u) = unavailable(r).filter(|_| !matches!(r, Reading::Missing)) {
                    hw.devices.insert(path.clone(), u);
                }
            }
            (Input::Cpuid { leaf, subleaf }, Reading::Cpuid { eax, ebx, ecx, edx }) => {
                hw.cpuid.insert(
                    cpuid_key(*leaf, *subleaf),
                    Hw::Value([*eax, *ebx, *ecx, *edx]),
                );
            }
            (Input::Cpuid { leaf, subleaf }, r) => {
                // A missing leaf is simply not listed; "no CPUID at all" is an empty map.
                if let Some(u) = unavailable(r).filter(|_| {
                    !matches!(r, Reading::Missing)
                        && !matches!(r, Reading::NotObservable { detail } if detail.contains("no CPUID"))
                }) {
                    hw.cpuid.insert(cpuid_key(*leaf, *subleaf), u);
                }
            }
            (Input::Msr { index }, Reading::Msr { value }) => {
                hw.msr.insert(msr_key(*index), Hw::Value(*value));
            }
            (Input::Msr { index }, r) => {
                if let Some(u) =
                    unavailable(r).filter(|_| !matches!(r, Reading::NotObservable { .. }))
                {
                    hw.msr.insert(msr_key(*index), u);
                }
            }
            (Input::Kvm, Reading::Kvm(k)) => hw.kvm = Some(Hw::Value(*k)),
            (Input::Kvm, r) => hw.kvm = unavailable(r),
            (Input::SnpStatus, Reading::Snp(s)) => hw.snp_status = Some(Hw::Value(s.clone())),
            (Input::SnpStatus, r) => {
                hw.snp_status = unavailable(r).filter(|_| !matches!(r, Reading::Missing))
            }
            (Input::SevStatus, Reading::Sev(s)) => hw.sev_status = Some(Hw::Value(s.clone())),
            (Input::SevStatus, r) => {
                hw.sev_status = unavailable(r).filter(|_| !matches!(r, Reading::Missing))
            }
            (Input::Kmsg, Reading::Kmsg(k)) => {
                let mut k = k.clone();
                k.lines = k.lines.iter().map(|l| redact(l)).collect();
                hw.kmsg = Some(Hw::Value(k));
            }
            (Input::Kmsg, r) => hw.kmsg = unavailable(r),
            (Input::NodeLabels, Reading::Labels { labels }) => {
                hw.node_labels = Some(labels.clone())
            }
            (Input::KubeletVersion, Reading::Version { value }) => {
                hw.kubelet_version = Some(value.clone())
            }
            _ => {}
        }
    }
    let hw_path = out.join("hw.json");
    let text = serde_json::to_string_pretty(&hw).map_err(|e| CaptureError {
        path: hw_path.display().to_string(),
        source: std::io::Error::other(e),
    })?;
    std::fs::write(&hw_path, text + "\n").map_err(err(&hw_path))?;
    Ok(Captured {
        files,
        root,
        hw: hw_path,
    })
}
