//! The erofs snapshotter's kernel prerequisite (`docs/probe-checks.md#erofs-kernel`),
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
