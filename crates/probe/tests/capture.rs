//! `capture` records exactly the declared inputs: replaying a capture gives the same reading
//! for every one of them, and nothing undeclared is written.

mod common;

use std::collections::BTreeSet;

use cococtl_probe::host::fixture::FixtureHost;
use cococtl_probe::input::{Input, Snapshot};
use common::*;

fn rich_host() -> Fixture {
    let f = cc_gpu_node(with_gpu(
        snp_host(0x11, "AMD EPYC 9654"),
        "0000:41:00.0",
        12,
        Some("vfio-pci"),
    ));
    let f = with_device(f, "0000:41:00.1", 12, "0x10de", "0x040300", None);
    with_device(f, "0000:05:00.0", 100, "0x10de", "0x068000", None).file(
        "proc/cpuinfo",
        "vendor_id\t: AuthenticAMD\nserial number\t: ABC123\nflags\t\t: sev_snp\n",
    )
}

#[test]
fn every_declared_input_is_reproduced_by_the_capture() {
    let f = rich_host();
    let declared = cococtl_probe::declared_inputs();
    let before = Snapshot::gather(&f.host(), &declared);
    let out = tempfile::tempdir().unwrap();
    cococtl_probe::capture::capture(&f.host(), out.path()).unwrap();
    let replay =
        FixtureHost::load(&out.path().join("root"), Some(&out.path().join("hw.json"))).unwrap();
    let after = Snapshot::gather(&replay, &declared);
    for (input, reading) in &before.readings {
        if input == &Input::file("proc/cpuinfo") {
            continue; // redacted, checked below
        }
        assert_eq!(after.readings.get(input), Some(reading), "{input:?}");
    }
    assert_eq!(before.readings.len(), after.readings.len());
}

#[test]
fn capture_redacts_serial_numbers() {
    let f = rich_host();
    let out = tempfile::tempdir().unwrap();
    cococtl_probe::capture::capture(&f.host(), out.path()).unwrap();
    let cpuinfo = std::fs::read_to_string(out.path().join("root/proc/cpuinfo")).unwrap();
    assert!(
        cpuinfo.contains("serial number\t: REDACTED") && !cpuinfo.contains("ABC123"),
        "{cpuinfo}"
    );
}

#[test]
fn capture_writes_nothing_that_was_not_declared() {
    let f = rich_host()
        .file("etc/shadow", "secret")
        .file("sys/kernel/unrelated", "x");
    let out = tempfile::tempdir().unwrap();
    cococtl_probe::capture::capture(&f.host(), out.path()).unwrap();
    let mut written = BTreeSet::new();
    for e in walk(&out.path().join("root")) {
        written.insert(
            e.strip_prefix(out.path().join("root"))
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        );
    }
    assert!(
        !written.contains("etc/shadow") && !written.contains("sys/kernel/unrelated"),
        "{written:?}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// What a non-root capture meets on a real host: denied files, a `/dev` node whose
/// existence is unknown, a CPUID leaf that cannot be read, KVM VM types unknown, a file
/// that is not observable, a partial kernel log.
fn non_root_host() -> Fixture {
    let mut f = rich_host()
        .file(
            "proc/self/status",
            "Name:\tcococtl\nUid:\t1000\t1000\t1000\t1000",
        )
        .denied("sys/module/kvm_amd/parameters/sev_snp")
        .device_unavailable("dev/sev", "denied")
        .cpuid_unavailable(0x8000_001F, "not_observable")
        .unavailable("sys/kernel/iommu_groups/12/type", "not_observable")
        .unavailable("sys/bus/pci/devices/0000:41:00.0/driver", "error")
        .vm_types_unknown()
        .kmsg(&["kvm_amd: SEV-SNP enabled (ASIDs 1 - 99)"], false)
        .msr(0xC001_0010, marker("denied"));
    f.hw.snp_status = Some(marker("denied"));
    f
}

#[test]
fn a_non_root_capture_records_what_could_not_be_read_as_such() {
    let f = non_root_host();
    let declared = cococtl_probe::declared_inputs();
    let before = Snapshot::gather(&f.host(), &declared);
    let out = tempfile::tempdir().unwrap();
    cococtl_probe::capture::capture(&f.host(), out.path()).unwrap();
    let replay =
        FixtureHost::load(&out.path().join("root"), Some(&out.path().join("hw.json"))).unwrap();
    let after = Snapshot::gather(&replay, &declared);
    for (input, reading) in &before.readings {
        if input == &Input::file("proc/cpuinfo") {
            continue;
        }
        assert_eq!(after.readings.get(input), Some(reading), "{input:?}");
    }
    assert_eq!(before.readings.len(), after.readings.len());
    // And the verdicts replay too.
    let (a, b) = (
        cococtl_probe::probe(&f.host(), None),
        cococtl_probe::probe(&replay, None),
    );
    for (x, y) in a.checks.iter().zip(&b.checks) {
        if x.id == cococtl_probe::id::CheckId::HostArch {
            continue; // the cpuinfo model name is not in the rich host's redacted text
        }
        assert_eq!(x.outcome.status, y.outcome.status, "{}", x.id);
    }
}
