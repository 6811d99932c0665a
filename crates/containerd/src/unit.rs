//! What systemd will run for a unit, read from the unit files under the host root the way
//! systemd resolves them: the unit file from the highest-priority directory, then every
//! `*.conf` drop-in of every directory, a name in a higher-priority directory masking the
//! same name below it, applied in file-name order (an empty `ExecStart=` resets).
//!
//! The health gate uses this to require that the unit really runs the binary cococtl
//! installed (an administrator's `override.conf` setting `ExecStart` sorts after ours and
//! wins), and preflight uses it to refuse before any change when it would not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Unit directories, highest priority first (systemd.unit(5), system manager).
const UNIT_DIRS: &[&str] = &[
    "etc/systemd/system.control",
    "run/systemd/system.control",
    "run/systemd/transient",
    "etc/systemd/system",
    "run/systemd/system",
    "usr/local/lib/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
];

/// The effective `ExecStart` binary and the file that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecStart {
    /// The program's absolute path (prefixes like `-` and `@` removed).
    pub binary: String,
    /// The unit file or drop-in that set it, relative to the host root.
    pub source: String,
}

/// A unit file or drop-in could not be read: nothing can be concluded about the unit.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct UnitError {
    /// The file or directory.
    pub path: String,
    /// The error.
    pub source: std::io::Error,
}

fn read(host_root: &Path, rel: &Path) -> Result<Option<String>, UnitError> {
    match std::fs::read_to_string(host_root.join(rel)) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(UnitError {
            path: rel.display().to_string(),
            source,
        }),
    }
}

/// The unit file (relative path) that systemd loads for `unit`, if any.
pub fn unit_file(host_root: &Path, unit: &str) -> Result<Option<PathBuf>, UnitError> {
    for d in UNIT_DIRS {
        let rel = Path::new(d).join(unit);
        match std::fs::symlink_metadata(host_root.join(&rel)) {
            Ok(_) => return Ok(Some(rel)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(UnitError {
                    path: rel.display().to_string(),
                    source,
                })
            }
        }
    }
    Ok(None)
}

/// Every drop-in of `unit` in the order systemd applies them. `extra` adds (or replaces) a
/// drop-in by name, to ask "what if this drop-in were there".
fn dropins(
    host_root: &Path,
    unit: &str,
    extra: Option<(&str, &str)>,
) -> Result<Vec<(String, PathBuf)>, UnitError> {
    let mut by_name: BTreeMap<String, PathBuf> = BTreeMap::new();
    for d in UNIT_DIRS.iter().rev() {
        let dir = Path::new(d).join(format!("{unit}.d"));
        let entries = match std::fs::read_dir(host_root.join(&dir)) {
            Ok(it) => it,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(UnitError {
                    path: dir.display().to_string(),
                    source,
                })
            }
        };
        for e in entries {
            let e = e.map_err(|source| UnitError {
                path: dir.display().to_string(),
                source,
            })?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".conf") {
                // Lower-priority directories are visited first: a later insert masks.
                by_name.insert(name.clone(), dir.join(&name));
            }
        }
    }
    if let Some((name, _)) = extra {
        by_name.insert(name.to_string(), PathBuf::from(format!("(planned) {name}")));
    }
    Ok(by_name.into_iter().collect())
}

fn last_exec(text: &str, source: &str, current: Option<ExecStart>) -> Option<ExecStart> {
    let mut in_service = false;
    text.lines().fold(current, |cur, l| {
        let l = l.trim();
        if l.starts_with('[') {
            in_service = l == "[Service]";
            return cur;
        }
        match l.strip_prefix("ExecStart=").filter(|_| in_service) {
            Some(v) if v.trim().is_empty() => None,
            Some(v) => v.split_whitespace().next().map(|s| ExecStart {
                binary: s.trim_start_matches(['-', '@', '+', '!', ':']).to_string(),
                source: source.to_string(),
            }),
            None => cur,
        }
    })
}

/// The effective `ExecStart` of `unit`; `planned` is a drop-in (name, text) to consider as
/// if it were installed in `/etc/systemd/system/<unit>.d/`.
pub fn exec_start(
    host_root: &Path,
    unit: &str,
    planned: Option<(&str, &str)>,
) -> Result<Option<ExecStart>, UnitError> {
    let mut exec = None;
    if let Some(rel) = unit_file(host_root, unit)? {
        if let Some(text) = read(host_root, &rel)? {
            exec = last_exec(&text, &rel.display().to_string(), None);
        }
    }
    for (name, rel) in dropins(host_root, unit, planned)? {
        let text = match planned {
            Some((n, t)) if n == name => t.to_string(),
            _ => match read(host_root, &rel)? {
                Some(t) => t,
                None => continue,
            },
        };
        exec = last_exec(&text, &rel.display().to_string(), exec);
    }
    Ok(exec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (p, t) in files {
            let p = d.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, t).unwrap();
        }
        d
    }

    const UNIT: &str = "[Unit]\nDescription=c\n[Service]\nExecStart=/usr/bin/containerd\n";

    #[test]
    fn an_admin_override_after_ours_wins() {
        let d = host(&[
            ("lib/systemd/system/containerd.service", UNIT),
            (
                "etc/systemd/system/containerd.service.d/50-cococtl.conf",
                "[Service]\nExecStart=\nExecStart=/opt/x/containerd\n",
            ),
            (
                "etc/systemd/system/containerd.service.d/override.conf",
                "[Service]\nExecStart=\nExecStart=/usr/local/bin/containerd --log-level debug\n",
            ),
        ]);
        let e = exec_start(d.path(), "containerd.service", None)
            .unwrap()
            .unwrap();
        assert_eq!(e.binary, "/usr/local/bin/containerd");
        assert!(e.source.ends_with("override.conf"));
    }

    #[test]
    fn a_planned_dropin_is_considered_in_name_order() {
        let d = host(&[("usr/lib/systemd/system/containerd.service", UNIT)]);
        let e = exec_start(
            d.path(),
            "containerd.service",
            Some((
                "50-cococtl.conf",
                "[Service]\nExecStart=\nExecStart=/opt/c/containerd\n",
            )),
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.binary, "/opt/c/containerd");
    }

    #[test]
    fn the_etc_unit_masks_the_vendor_unit_and_run_dropins_count() {
        let d = host(&[
            ("lib/systemd/system/containerd.service", UNIT),
            (
                "etc/systemd/system/containerd.service",
                "[Service]\nExecStart=/usr/local/bin/containerd\n",
            ),
            (
                "run/systemd/system/containerd.service.d/10-x.conf",
                "[Service]\nExecStart=\nExecStart=-/run/bin/containerd\n",
            ),
        ]);
        let e = exec_start(d.path(), "containerd.service", None)
            .unwrap()
            .unwrap();
        assert_eq!(e.binary, "/run/bin/containerd");
    }

    #[test]
    fn exec_start_outside_the_service_section_is_ignored() {
        let d = host(&[(
            "lib/systemd/system/containerd.service",
            "[Unit]\nExecStart=/bogus\n[Service]\nExecStart=/usr/bin/containerd\n",
        )]);
        let e = exec_start(d.path(), "containerd.service", None)
            .unwrap()
            .unwrap();
        assert_eq!(e.binary, "/usr/bin/containerd");
    }
}
