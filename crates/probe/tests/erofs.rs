//! The erofs snapshotter's host prerequisites (`docs/probe-checks.md#erofs-kernel`,
//! `#erofs-mkfs`),
//! reported per node like every check.

mod common;

use cococtl_probe::check::Status;
use cococtl_probe::id::CheckId;
use common::*;

const DEP: &str = "lib/modules/6.12.8-snp/modules.dep";

fn st(f: Fixture) -> (Status, String) {
    let r = f.probe();
    assert!(r.defects.is_empty(), "{:?}", r.defects);
    let o = &r.get(CheckId::ErofsKernel).unwrap().outcome;
    (o.status, o.message.clone())
}

#[test]
fn erofs_is_found_registered_loaded_or_shipped() {
    let host = || snp_host(1, "AMD EPYC 7763");
    for f in [
        host().file("proc/filesystems", "nodev\tsysfs\n\text4\n\terofs"),
        host()
            .file("proc/filesystems", "\text4")
            .dir("sys/module/erofs"),
        host().file("proc/filesystems", "\text4").file(
            DEP,
            "kernel/fs/erofs/erofs.ko: kernel/lib/lz4/lz4_decompress.ko",
        ),
    ] {
        assert_eq!(st(f).0, Status::Pass);
    }
}

#[test]
fn a_kernel_without_erofs_is_a_definite_no_and_unreadable_is_not() {
    let (s, m) = st(snp_host(1, "AMD EPYC 7763")
        .file("proc/filesystems", "\text4")
        .file(DEP, "kernel/fs/ext4/ext4.ko:"));
    assert_eq!(s, Status::Fail, "{m}");
    let (s, m) = st(snp_host(1, "AMD EPYC 7763")
        .denied("proc/filesystems")
        .file(DEP, "kernel/fs/ext4/ext4.ko:"));
    assert_eq!(s, Status::Skip, "{m}");
    let (s, m) = st(snp_host(1, "AMD EPYC 7763").file("proc/filesystems", "\text4"));
    assert_eq!(s, Status::Skip, "no modules list: {m}");
}

#[test]
fn the_verdict_is_published_per_node() {
    let r = snp_host(1, "AMD EPYC 7763")
        .file("proc/filesystems", "\terofs")
        .probe();
    let s = cococtl_probe::publish::summarize(&r, None);
    assert_eq!(s.checks.get("erofs.kernel"), Some(&'p'));
}

/// A stand-in `mkfs.erofs`: ELF-ish bytes around the strings erofs-utils compiles in (the
/// version literal, the `-V` format, the usage lines of the options it has).
fn mkfs_bytes(version: &str, options: &[&str]) -> Vec<u8> {
    let mut b = b"\x7fELF\x02\x01\x01\0\0\0\0\0\x03\0>\0".to_vec();
    b.extend_from_slice(&[0x48, 0x89, 0xe5, 0xff, 0x00, 0x90, 0x01]);
    for s in [
        "GLIBC_2.34",
        "%s %s\n",
        version,
        "mkfs.erofs (erofs-utils) %s\n",
    ] {
        b.extend_from_slice(s.as_bytes());
        b.push(0);
    }
    for o in options {
        b.extend_from_slice(format!("    {o}         the option\n").as_bytes());
    }
    b.push(0);
    b
}

fn with_mkfs(f: Fixture, path: &str, bytes: &[u8]) -> Fixture {
    let p = f.root().join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
    f
}

fn mkfs(f: Fixture) -> cococtl_probe::check::Outcome {
    let r = f.probe();
    assert!(r.defects.is_empty(), "{:?}", r.defects);
    r.get(CheckId::ErofsMkfs).unwrap().outcome.clone()
}

const BOTH: &[&str] = &["--mkfs-time", "--sort=<path,none>"];

#[test]
fn a_mkfs_erofs_1_8_2_with_both_options_passes() {
    let o = mkfs(with_mkfs(
        Fixture::empty(),
        "usr/bin/mkfs.erofs",
        &mkfs_bytes("1.8.2", BOTH),
    ));
    assert_eq!(o.status, Status::Pass, "{}", o.message);
    assert!(o.message.contains("1.8.2"), "{}", o.message);
}

#[test]
fn an_older_mkfs_erofs_fails_with_the_fix() {
    let o = mkfs(with_mkfs(
        Fixture::empty(),
        "usr/sbin/mkfs.erofs",
        &mkfs_bytes("1.7.1", &["--all-root"]),
    ));
    assert_eq!(o.status, Status::Fail, "{}", o.message);
    assert!(o.message.contains("1.7.1"), "{}", o.message);
    assert!(o.remediation.unwrap().contains("erofs-utils 1.8.2"));
}

#[test]
fn a_mkfs_erofs_without_sort_fails_whatever_its_version() {
    let o = mkfs(with_mkfs(
        Fixture::empty(),
        "usr/bin/mkfs.erofs",
        &mkfs_bytes("1.8.2", &["--mkfs-time"]),
    ));
    assert_eq!(o.status, Status::Fail, "{}", o.message);
    assert!(o.message.contains("--sort"), "{}", o.message);
}

#[test]
fn an_unreadable_mkfs_erofs_is_not_observable_never_absent() {
    let f = with_mkfs(
        Fixture::empty(),
        "usr/bin/mkfs.erofs",
        &mkfs_bytes("1.8.2", BOTH),
    )
    .denied("usr/local/bin/mkfs.erofs");
    let o = mkfs(f);
    assert_eq!(o.status, Status::Skip, "{}", o.message);
    let o = mkfs(Fixture::empty().unavailable("usr/bin/mkfs.erofs", "error"));
    assert_eq!(o.status, Status::Skip, "{}", o.message);
    assert_eq!(
        o.skip_reason,
        Some(cococtl_probe::check::SkipReason::NotObservable)
    );
}

#[test]
fn the_first_mkfs_erofs_in_path_order_is_the_one_judged() {
    let f = with_mkfs(
        Fixture::empty(),
        "usr/bin/mkfs.erofs",
        &mkfs_bytes("1.8.2", BOTH),
    );
    let f = with_mkfs(f, "usr/local/bin/mkfs.erofs", &mkfs_bytes("1.6", &[]));
    let o = mkfs(f);
    assert_eq!(o.status, Status::Fail, "{}", o.message);
    assert!(
        o.message.contains("/usr/local/bin/mkfs.erofs"),
        "{}",
        o.message
    );
}

#[test]
fn no_mkfs_erofs_is_a_warning_only_the_erofs_mapping_refuses_it() {
    let o = mkfs(Fixture::empty());
    assert_eq!(o.status, Status::Warn, "{}", o.message);
}

#[test]
fn dpkg_tells_the_packaged_binarys_version_when_the_binary_does_not() {
    let f = with_mkfs(
        Fixture::empty(),
        "usr/bin/mkfs.erofs",
        &mkfs_bytes("no-version-here", BOTH),
    )
    .file(
        "var/lib/dpkg/status",
        "Package: erofs-utils\nStatus: install ok installed\nVersion: 1.8.6-1\n",
    );
    let o = mkfs(f);
    assert_eq!(o.status, Status::Pass, "{}", o.message);
    assert!(o.message.contains("1.8.6"), "{}", o.message);
    // Without it, the version is not observable (the options alone do not say 1.8.2).
    let o = mkfs(with_mkfs(
        Fixture::empty(),
        "usr/bin/mkfs.erofs",
        &mkfs_bytes("no-version-here", BOTH),
    ));
    assert_eq!(o.status, Status::Skip, "{}", o.message);
}

#[test]
fn the_mkfs_verdict_is_published_per_node() {
    let r = with_mkfs(
        Fixture::empty(),
        "usr/bin/mkfs.erofs",
        &mkfs_bytes("1.7.1", BOTH),
    )
    .probe();
    let s = cococtl_probe::publish::summarize(&r, None);
    assert_eq!(s.checks.get("erofs.mkfs"), Some(&'f'));
    assert!(s.remediations.iter().any(|(id, _)| id == "erofs.mkfs"));
}

/// The probe pod's view: the host's /usr, /bin and /sbin mounted under a directory (the
/// DaemonSet mounts them under /host), the pod's own / being the image. What is mounted is
/// read; what is not is "not observable", never "absent".
#[test]
fn in_the_probe_pod_the_mounted_host_programs_are_read_and_the_rest_is_not_observable() {
    use cococtl_probe::host::real::RealHost;
    use cococtl_probe::host::Host;
    use cococtl_probe::input::{Input, Reading};
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("usr/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("mkfs.erofs"), mkfs_bytes("1.8.2", BOTH)).unwrap();
    let host = RealHost::in_pod(dir.path(), &["usr"]).unwrap();
    let r = host.read(&Input::strings("usr/bin/mkfs.erofs"));
    assert!(r.text().is_some_and(|t| t.contains("1.8.2")), "{r:?}");
    assert_eq!(
        host.read(&Input::strings("usr/sbin/mkfs.erofs")).present(),
        Some(false),
        "inside a mounted directory, absent is absent"
    );
    match host.read(&Input::strings("sbin/mkfs.erofs")) {
        Reading::NotObservable { detail } => assert!(detail.contains("/usr"), "{detail}"),
        other => panic!("not mounted must be not observable: {other:?}"),
    }
    // The whole probe in that view: the check judges the mounted binary.
    let report = cococtl_probe::probe(&host, None);
    let o = &report.get(CheckId::ErofsMkfs).unwrap().outcome;
    assert_eq!(o.status, Status::Pass, "{}", o.message);
    assert!(o.message.contains("/usr/bin/mkfs.erofs"), "{}", o.message);

    // Nothing in /usr: /sbin and /bin are not seen, so the answer is "cannot tell".
    let empty = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(empty.path().join("usr")).unwrap();
    let host = RealHost::in_pod(empty.path(), &["usr"]).unwrap();
    let report = cococtl_probe::probe(&host, None);
    let o = &report.get(CheckId::ErofsMkfs).unwrap().outcome;
    assert_eq!(o.status, Status::Skip, "{}", o.message);
}

fn verdict(f: Fixture, id: CheckId) -> cococtl_probe::check::Outcome {
    let r = f.probe();
    assert!(r.defects.is_empty(), "{:?}", r.defects);
    r.get(id).unwrap().outcome.clone()
}

#[test]
fn fs_verity_is_read_from_the_filesystems_sysfs_features_and_only_warned() {
    // ext4 with CONFIG_FS_VERITY lists `verity` among its features.
    let with = Fixture::empty()
        .file("sys/fs/ext4/features/verity", "supported")
        .file("sys/fs/ext4/features/casefold", "supported");
    let o = verdict(with, CheckId::ErofsFsverity);
    assert_eq!(o.status, Status::Pass, "{}", o.message);
    assert!(
        o.message.contains("ext4") && o.message.contains("cannot see"),
        "{}",
        o.message
    );
    // Only btrfs has it: still the kernel's fs-verity.
    let btrfs = Fixture::empty()
        .file("sys/fs/ext4/features/casefold", "supported")
        .file("sys/fs/btrfs/features/verity", "0");
    assert_eq!(verdict(btrfs, CheckId::ErofsFsverity).status, Status::Pass);
    // ext4 listed without `verity`, no other filesystem: the kernel has none.
    let without = Fixture::empty().file("sys/fs/ext4/features/casefold", "supported");
    let o = verdict(without, CheckId::ErofsFsverity);
    assert_eq!(o.status, Status::Warn, "{}", o.message);
    assert!(o.message.contains("enable_fsverity=true"), "{}", o.message);
    assert!(o
        .remediation
        .as_deref()
        .is_some_and(|f| f.contains("CONFIG_FS_VERITY")));
    // Nothing listed, or a features directory unreadable: cannot tell.
    assert_eq!(
        verdict(Fixture::empty(), CheckId::ErofsFsverity).status,
        Status::Skip
    );
    let denied = Fixture::empty()
        .file("sys/fs/ext4/features/casefold", "supported")
        .denied("sys/fs/btrfs/features");
    assert_eq!(verdict(denied, CheckId::ErofsFsverity).status, Status::Skip);
}

#[test]
fn dm_verity_is_loaded_shipped_absent_or_not_observable() {
    let rel = "proc/sys/kernel/osrelease";
    let loaded = Fixture::empty().dir("sys/module/dm_verity");
    assert_eq!(verdict(loaded, CheckId::ErofsDmverity).status, Status::Pass);
    let shipped = Fixture::empty().file(rel, "6.12.8-snp").file(
        DEP,
        "kernel/drivers/md/dm-verity.ko: kernel/drivers/md/dm-bufio.ko kernel/drivers/md/dm-mod.ko",
    );
    let o = verdict(shipped, CheckId::ErofsDmverity);
    assert_eq!(o.status, Status::Pass, "{}", o.message);
    let absent = Fixture::empty()
        .file(rel, "6.12.8-snp")
        .file(DEP, "kernel/fs/ext4/ext4.ko:");
    let o = verdict(absent, CheckId::ErofsDmverity);
    assert_eq!(o.status, Status::Warn, "{}", o.message);
    assert!(o.message.contains("erofsDmverity"), "{}", o.message);
    // The modules list unreadable (the probe pod's /lib/modules is the image's): unknown.
    let unseen = Fixture::empty().file(rel, "6.12.8-snp");
    assert_eq!(verdict(unseen, CheckId::ErofsDmverity).status, Status::Skip);
    let denied = Fixture::empty()
        .file(rel, "6.12.8-snp")
        .file(DEP, "kernel/fs/ext4/ext4.ko:")
        .denied("sys/module/dm_verity");
    assert_eq!(verdict(denied, CheckId::ErofsDmverity).status, Status::Skip);
}
