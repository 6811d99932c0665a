//! The erofs snapshotter's host program: `mkfs.erofs` from erofs-utils 1.8.2 or newer with
//! the `--mkfs-time` and `--sort` options containerd's erofs differ passes
//! (`docs/probe-checks.md#erofs-mkfs`). The kernel side is `erofs.kernel` (basics).
//!
//! The probe never runs a host program, so the version comes from what can be read: the
//! version literal compiled into the binary (erofs-utils prints `mkfs.erofs <version>` from
//! a `"%s %s"` format, so the literal stands alone among the binary's strings), else the
//! dpkg record of the `erofs-utils` package when the binary is the packaged one.

use crate::check::{Check, Ctx, Evidence, Outcome, SkipReason};
use crate::id::CheckId;
use crate::input::Input;

/// Where containerd finds `mkfs.erofs`: systemd's default `PATH` for services, in its order
/// (the first one found is the one containerd runs).
pub const MKFS_DIRS: [&str; 6] = [
    "usr/local/sbin",
    "usr/local/bin",
    "usr/sbin",
    "usr/bin",
    "sbin",
    "bin",
];
/// dpkg's package database.
pub const DPKG_STATUS: &str = "var/lib/dpkg/status";
/// The oldest erofs-utils the erofs snapshotter works with.
pub const MKFS_MIN: (u32, u32, u32) = (1, 8, 2);
/// The options containerd passes, as the binary's usage text spells them.
const OPTIONS: [&str; 2] = ["--mkfs-time", "--sort"];
const FIX: &str = "install erofs-utils 1.8.2 or newer on the node (Debian trixie or bookworm-backports, Ubuntu 25.04+, Fedora 41+), or keep the nydus/overlayfs snapshotters";

/// The erofs checks.
pub fn checks() -> Vec<Check> {
    let mut inputs: Vec<Input> = MKFS_DIRS
        .iter()
        .map(|d| Input::strings(&format!("{d}/mkfs.erofs")))
        .collect();
    inputs.push(Input::strings(DPKG_STATUS));
    vec![
        Check::new(CheckId::ErofsMkfs, inputs, erofs_mkfs),
        Check::new(
            CheckId::ErofsFsverity,
            VERITY_FILESYSTEMS
                .iter()
                .map(|f| Input::dir(&format!("sys/fs/{f}/features")))
                .collect(),
            erofs_fsverity,
        ),
        Check::new(
            CheckId::ErofsDmverity,
            vec![
                Input::dir("sys/module/dm_verity"),
                Input::file(OSRELEASE),
                Input::each_file("lib/modules", "modules.dep"),
            ],
            erofs_dmverity,
        ),
    ]
}

/// The filesystems with fs-verity; each lists `verity` among its sysfs features when the
/// kernel has CONFIG_FS_VERITY (ext4 `sysfs.c`, f2fs `sysfs.c`, btrfs `sysfs.c`).
const VERITY_FILESYSTEMS: [&str; 3] = ["ext4", "f2fs", "btrfs"];
/// `/proc/sys/kernel/osrelease`.
const OSRELEASE: &str = "proc/sys/kernel/osrelease";
const FSVERITY_FIX: &str = "a kernel with CONFIG_FS_VERITY, and fs-verity enabled on the filesystem of /var/lib/containerd (ext4: `tune2fs -O verity` on the unmounted device; f2fs: created with `-O verity`), or keep the nydus/overlayfs snapshotters";

/// `erofs.fsverity`: see `docs/probe-checks.md#erofs-fsverity`.
fn erofs_fsverity(ctx: &Ctx) -> Outcome {
    let mut ev = vec![];
    let mut with = vec![];
    let mut unknown = false;
    let mut listed = false;
    for f in VERITY_FILESYSTEMS {
        let input = Input::dir(&format!("sys/fs/{f}/features"));
        let r = ctx.view.get(&input);
        ev.push(ctx.ev(&input));
        match r.present() {
            Some(true) => {
                listed = true;
                if r.entries().iter().any(|e| e == "verity") {
                    with.push(f);
                }
            }
            Some(false) => {}
            None => unknown = true,
        }
    }
    if !with.is_empty() {
        return Outcome::pass(format!(
            "the kernel has fs-verity for {}; the filesystem of /var/lib/containerd must also have it enabled (ext4's `verity` feature), which the probe cannot see",
            with.join(", ")
        ))
        .with(ev);
    }
    if unknown || !listed {
        return Outcome::skip(
            SkipReason::NotObservable,
            "cannot tell whether the kernel has fs-verity (no readable /sys/fs/{ext4,f2fs,btrfs}/features)",
        )
        .with(ev);
    }
    // kata-deploy only warns; containerd's erofs snapshotter, configured by it with
    // enable_fsverity=true, refuses to start where fs-verity cannot be enabled.
    Outcome::warn(
        "this kernel has no fs-verity (no `verity` among the ext4/f2fs/btrfs sysfs features): kata-deploy configures containerd's erofs snapshotter with enable_fsverity=true, and that snapshotter does not start where fs-verity cannot be enabled",
    )
    .fix(FSVERITY_FIX)
    .with(ev)
}

/// `erofs.dmverity`: see `docs/probe-checks.md#erofs-dmverity`.
fn erofs_dmverity(ctx: &Ctx) -> Outcome {
    let module = ctx.view.get(&Input::dir("sys/module/dm_verity"));
    let mut ev = vec![ctx.ev(&Input::dir("sys/module/dm_verity"))];
    if module.present() == Some(true) {
        return Outcome::pass("dm-verity is loaded or built in (/sys/module/dm_verity)").with(ev);
    }
    let dep = ctx
        .view
        .file(OSRELEASE)
        .text()
        .map(|r| format!("lib/modules/{}/modules.dep", r.trim()));
    let listed = dep.as_deref().map(|p| (p, ctx.view.file(p)));
    match listed {
        Some((p, r)) => match r.text() {
            Some(t) => {
                let shipped = t.contains("/dm-verity.ko");
                ev.push(Evidence {
                    source: format!("/{p}"),
                    value: if shipped {
                        "dm-verity.ko listed".into()
                    } else {
                        "no dm-verity.ko".into()
                    },
                });
                if shipped {
                    Outcome::pass(
                        "the dm-verity module ships with this kernel (loaded when a verity device is set up)",
                    )
                    .with(ev)
                } else if module.present() == Some(false) {
                    // Only `snapshotter.erofsDmverity` needs it: a warning, refused by
                    // install when that is set.
                    Outcome::warn(
                        "this kernel has no dm-verity: not loaded, not built in, and no dm-verity.ko in its modules; snapshotter.erofsDmverity needs it",
                    )
                    .fix("a kernel with CONFIG_DM_VERITY (most distribution kernels ship dm-verity.ko), or leave snapshotter.erofsDmverity off")
                    .with(ev)
                } else {
                    ctx.unreadable(module, "/sys/module/dm_verity").with(ev)
                }
            }
            None => {
                ev.push(ctx.ev_file(p));
                ctx.unreadable(r, &format!("/{p}")).with(ev)
            }
        },
        None => {
            ev.push(ctx.ev_file(OSRELEASE));
            Outcome::skip(
                SkipReason::NotObservable,
                "cannot tell whether the kernel has dm-verity (/sys/module/dm_verity absent and the kernel release unreadable)",
            )
            .with(ev)
        }
    }
}

/// `a.b.c` (or `a.b`) at the start of `s`, and whether the whole of `s` is a version
/// (digits and dots, then at most a `-`/`+`/`~` suffix of a git or distribution build).
fn version_of(s: &str) -> Option<((u32, u32, u32), bool)> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let mut parts = s[..end].split('.');
    let ma = parts.next()?.parse().ok()?;
    let mi = parts.next()?.parse().ok()?;
    let pa = match parts.next() {
        Some(p) => p.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    let rest = &s[end..];
    let whole = rest.is_empty()
        || (rest.starts_with(['-', '+', '~'])
            && rest[1..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-+~".contains(c)));
    Some(((ma, mi, pa), whole))
}

/// The version literal among a binary's strings: the one string that is wholly an
/// erofs-utils version (`1.x`). `Err` lists the candidates when there is more than one.
pub fn binary_version(strings: &str) -> Result<Option<String>, Vec<String>> {
    let mut found: Vec<String> = strings
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("1."))
        .filter(|l| version_of(l).is_some_and(|(_, whole)| whole))
        .map(String::from)
        .collect();
    found.sort();
    found.dedup();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(found),
    }
}

/// The installed `erofs-utils` version in a dpkg status database (its strings), without
/// the epoch and Debian revision (`1:1.8.2-1~bpo12+1` → `1.8.2`).
pub fn dpkg_version(status: &str) -> Option<String> {
    let mut in_pkg = false;
    let mut installed = false;
    let mut version = None;
    for l in status.lines() {
        if let Some(p) = l.strip_prefix("Package:") {
            if in_pkg {
                break;
            }
            in_pkg = p.trim() == "erofs-utils";
        } else if in_pkg {
            if let Some(s) = l.strip_prefix("Status:") {
                installed = s.split_whitespace().last() == Some("installed");
            } else if let Some(v) = l.strip_prefix("Version:") {
                let v = v.trim();
                let v = v.split_once(':').map_or(v, |(_, r)| r);
                version = Some(v.split('-').next().unwrap_or(v).to_string());
            }
        }
    }
    version.filter(|_| installed)
}

fn show(v: (u32, u32, u32)) -> String {
    format!("{}.{}.{}", v.0, v.1, v.2)
}

/// `erofs.mkfs`: see `docs/probe-checks.md#erofs-mkfs`.
fn erofs_mkfs(ctx: &Ctx) -> Outcome {
    // The first entry in PATH order that is not known to be absent decides: an unreadable
    // one may be what containerd runs, so it is "cannot tell", never "absent".
    let found = MKFS_DIRS.iter().find_map(|d| {
        let path = format!("{d}/mkfs.erofs");
        let r = ctx.view.get(&Input::strings(&path));
        (r.present() != Some(false)).then_some((path, r))
    });
    let Some((path, reading)) = found else {
        let dirs: Vec<String> = MKFS_DIRS.iter().map(|d| format!("/{d}")).collect();
        return Outcome::warn(format!(
            "no mkfs.erofs in {}: the erofs snapshotter needs erofs-utils 1.8.2 or newer",
            dirs.join(", ")
        ))
        .fix(FIX)
        .with(vec![Evidence {
            source: "mkfs.erofs".into(),
            value: "absent".into(),
        }]);
    };
    let Some(strings) = reading.text() else {
        return ctx
            .unreadable(reading, &format!("/{path}"))
            .with(vec![ctx.ev(&Input::strings(&path))]);
    };
    let mut ev = vec![];
    let missing: Vec<&str> = OPTIONS
        .iter()
        .copied()
        .filter(|o| !strings.contains(o))
        .collect();
    ev.push(Evidence {
        source: format!("/{path} options"),
        value: OPTIONS
            .iter()
            .map(|o| {
                if missing.contains(o) {
                    format!("{o} (absent)")
                } else {
                    (*o).to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    });
    // The version: the binary's own literal first; dpkg's record only describes the
    // packaged binary (/usr/bin, or /bin linked to it).
    let (version, from) = match binary_version(strings) {
        Ok(Some(v)) => (Some(v), format!("/{path} version literal")),
        other => {
            if let Err(c) = other {
                ev.push(Evidence {
                    source: format!("/{path} version literal"),
                    value: format!("ambiguous: {}", c.join(", ")),
                });
            }
            let packaged = path == "usr/bin/mkfs.erofs" || path == "bin/mkfs.erofs";
            let dpkg = ctx.view.get(&Input::strings(DPKG_STATUS));
            let v = dpkg.text().and_then(dpkg_version).filter(|_| packaged);
            (v, format!("/{DPKG_STATUS} erofs-utils"))
        }
    };
    let parsed = version.as_deref().and_then(version_of).map(|(v, _)| v);
    ev.push(Evidence {
        source: from,
        value: version.clone().unwrap_or_else(|| "not found".into()),
    });
    match parsed {
        Some(v) if v < MKFS_MIN => Outcome::fail(format!(
            "/{path} is erofs-utils {}: the erofs snapshotter needs {} or newer",
            show(v),
            show(MKFS_MIN)
        ))
        .fix(FIX)
        .with(ev),
        Some(v) if !missing.is_empty() => Outcome::fail(format!(
            "/{path} (erofs-utils {}) lacks {}, which containerd's erofs snapshotter passes",
            show(v),
            missing.join(" and ")
        ))
        .fix(FIX)
        .with(ev),
        Some(v) => Outcome::pass(format!(
            "/{path}: erofs-utils {} with --mkfs-time and --sort",
            show(v)
        ))
        .with(ev),
        // The whole binary was scanned: an option absent from it is absent.
        None if !missing.is_empty() => Outcome::fail(format!(
            "/{path} lacks {} (erofs-utils older than {}, or a build without it)",
            missing.join(" and "),
            show(MKFS_MIN)
        ))
        .fix(FIX)
        .with(ev),
        None => Outcome::skip(
            SkipReason::NotObservable,
            format!(
                "/{path} has --mkfs-time and --sort, but its version is not observable (no version literal, no dpkg record)"
            ),
        )
        .with(ev),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_literal_is_the_one_string_that_is_wholly_a_version() {
        let s = "GLIBC_2.34\n%s %s\n1.8.2\nmkfs.erofs (erofs-utils) %s\n1.8.2\n--sort=<path,none>";
        assert_eq!(binary_version(s), Ok(Some("1.8.2".into())));
        assert_eq!(
            binary_version("1.8.2-g1a2b3c\nzlib 1.3.1 (ignored: not whole)"),
            Ok(Some("1.8.2-g1a2b3c".into()))
        );
        assert_eq!(binary_version("no version"), Ok(None));
        assert!(binary_version("1.7.1\n1.3.1").is_err());
    }

    #[test]
    fn dpkg_gives_the_installed_upstream_version() {
        let s = "Package: e2fsprogs\nStatus: install ok installed\nVersion: 1.47.0-2\nPackage: erofs-utils\nStatus: install ok installed\nVersion: 1:1.8.2-1~bpo12+1\nPackage: zz\nVersion: 9";
        assert_eq!(dpkg_version(s), Some("1.8.2".into()));
        let removed = "Package: erofs-utils\nStatus: deinstall ok config-files\nVersion: 1.8.2-1";
        assert_eq!(dpkg_version(removed), None);
        assert_eq!(dpkg_version("Package: other\nVersion: 1.0"), None);
    }
}
