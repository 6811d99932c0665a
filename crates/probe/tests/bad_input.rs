//! Bad input never panics: unreadable or missing files, garbage, truncated values, symlink
//! loops and escapes in a fixture each give a skip or a fail with evidence.

mod common;

use cococtl_probe::check::{SkipReason, Status};
use cococtl_probe::host::fixture::FixtureHost;
use common::*;

#[test]
fn an_empty_root_is_probed_without_panicking() {
    let r = Fixture::empty().probe();
    assert!(r.defects.is_empty());
    assert_eq!(r.check("host.arch").unwrap().outcome.status, Status::Fail);
    assert_eq!(r.check("kvm.present").unwrap().outcome.status, Status::Fail);
}

#[test]
fn garbage_cpuinfo_is_reported_not_fatal() {
    let r = snp_host(1, "x")
        .file("proc/cpuinfo", "\u{0}\u{1}garbage:::\n::\nflags")
        .file("proc/sys/kernel/arch", "x86_64")
        .probe();
    let o = &r.check("snp.cpuid").unwrap().outcome;
    assert_eq!(
        o.skip_reason,
        Some(SkipReason::NotApplicable),
        "no vendor in cpuinfo: {}",
        o.message
    );
}

#[test]
fn truncated_module_parameter_is_a_fail_with_the_raw_value() {
    let r = snp_host(1, "AMD EPYC")
        .file("sys/module/kvm_amd/parameters/sev_snp", "")
        .probe();
    let o = &r.check("snp.kvm.params").unwrap().outcome;
    assert_ne!(o.status, Status::Pass);
}

#[test]
fn symlink_loop_in_a_fixture_is_an_error_reading() {
    let r = snp_host(1, "AMD EPYC")
        .link("sys/kernel/iommu_groups/7", "7")
        .probe();
    assert!(r.defects.is_empty());
    assert_eq!(r.check("snp.iommu").unwrap().outcome.status, Status::Pass);
    let host = snp_host(1, "AMD EPYC")
        .link("proc/cmdline", "cmdline2")
        .link("proc/cmdline2", "cmdline");
    let r = host.probe();
    let o = &r.check("iommu.acs_override").unwrap().outcome;
    assert!(
        o.evidence.iter().any(|e| e.value.contains("symlink loop")),
        "{:?}",
        o.evidence
    );
}

#[test]
fn symlink_escaping_the_fixture_root_is_refused() {
    let r = snp_host(1, "AMD EPYC")
        .link("proc/cmdline", "../../../../../../etc/hostname")
        .probe();
    let o = &r.check("iommu.acs_override").unwrap().outcome;
    assert!(
        o.evidence
            .iter()
            .any(|e| e.value.contains("outside the fixture root")),
        "{:?}",
        o.evidence
    );
}

#[test]
fn unparseable_hw_file_is_a_clear_error() {
    let f = Fixture::empty();
    let hw = f.path().join("hw.json");
    std::fs::write(&hw, "{ not json").unwrap();
    let e = FixtureHost::load(&f.root(), Some(&hw))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.starts_with("--hw") && e.contains("not a probe hardware file"),
        "{e}"
    );
    std::fs::write(&hw, r#"{"cpuid": {"0x1/0": [1,2,3]}}"#).unwrap();
    assert!(
        FixtureHost::load(&f.root(), Some(&hw)).is_err(),
        "three registers are not a CPUID leaf"
    );
    std::fs::write(&hw, r#"{"cpuids": {}}"#).unwrap();
    assert!(
        FixtureHost::load(&f.root(), Some(&hw)).is_err(),
        "unknown keys are refused"
    );
}

#[test]
fn unreadable_files_are_needs_root_skips() {
    let r = snp_host(1, "AMD EPYC")
        .denied("sys/module/kvm_amd/parameters/sev_snp")
        .probe();
    let o = &r.check("snp.kvm.params").unwrap().outcome;
    assert_eq!(o.skip_reason, Some(SkipReason::NeedsRoot), "{}", o.message);
}
