//! Aggregates use the evidence that settles them (`docs/probe-checks.md#snp-ready`,
//! `#tdx-ready`, `#se-ready`): KVM's own SNP verdict, and "no nested TEE" on a node that
//! is itself a confidential guest.

mod common;

use cococtl_probe::check::{BlockKind, Outcome, Status};
use cococtl_probe::id::CheckId;
use cococtl_probe::report::Report;
use common::*;

fn outcome(r: &Report, id: CheckId) -> &Outcome {
    &r.get(id).unwrap_or_else(|| panic!("no check {id}")).outcome
}

/// An SNP host on which neither the CPU's SNP bit nor the IOMMU's SNP support could be
/// observed directly (CPUID filtered, no `amd-iommu/features`).
fn cpu_and_iommu_unobserved() -> Fixture {
    snp_host(1, "AMD EPYC 7763")
        .cpuid_unavailable(0x8000_001F, "not_observable")
        .rm("sys/class/iommu/ivhd0/amd-iommu/features")
}

#[test]
fn without_kvms_verdict_the_unobserved_parts_keep_snp_ready_unknown() {
    let mut f = cpu_and_iommu_unobserved()
        .denied("sys/module/kvm_amd/parameters/sev_snp")
        .vm_types_unknown()
        .kmsg(&["SEV-SNP: RMP table physical range [0x1 - 0x2]"], true);
    f.hw.snp_status = Some(marker("denied"));
    let r = f.probe();
    assert_eq!(outcome(&r, CheckId::SnpReady).status, Status::Unknown);
}

#[test]
fn kvm_amd_sev_snp_y_settles_the_cpu_and_iommu_parts() {
    let r = cpu_and_iommu_unobserved().kmsg(&[], true).probe();
    assert_ne!(outcome(&r, CheckId::SnpCpuid).status, Status::Pass);
    assert_ne!(outcome(&r, CheckId::SnpIommu).status, Status::Pass);
    let o = outcome(&r, CheckId::SnpReady);
    assert_eq!(o.status, Status::Pass, "{}", o.message);
    assert_eq!(r.recommendation.shims[0].shim, "qemu-snp");
}

#[test]
fn the_kvm_amd_snp_enabled_line_settles_them_without_the_parameter() {
    for line in [
        "kvm_amd: SEV-SNP enabled (ASIDs 1 - 99)",
        "SEV-ES and SEV-SNP supported: 509 ASIDs",
    ] {
        let r = cpu_and_iommu_unobserved()
            .denied("sys/module/kvm_amd/parameters/sev_snp")
            .vm_types_unknown()
            .kmsg(&[line], false)
            .probe();
        let o = outcome(&r, CheckId::SnpReady);
        assert_eq!(o.status, Status::Pass, "{line}: {}", o.message);
    }
}

#[test]
fn a_failed_iommu_check_still_blocks_whatever_kvm_said() {
    let r = snp_host(1, "AMD EPYC 7763")
        .file("proc/cmdline", "ro iommu=pt")
        .probe();
    assert_eq!(outcome(&r, CheckId::SnpReady).status, Status::Fail);
}

fn is_no_because_guest(r: &Report, id: CheckId) {
    let o = outcome(r, id);
    assert_eq!(o.status, Status::Fail, "{id}: {}", o.message);
    assert!(
        o.blocked_by
            .iter()
            .any(|b| b.check == CheckId::CvmSummary && b.kind == BlockKind::Failed),
        "{id}: {:?}",
        o.blocked_by
    );
}

#[test]
fn a_confidential_guests_host_readiness_is_no_whatever_is_unobserved() {
    // A TD whose TDX host inputs are mostly not observable.
    let r = tdx_host()
        .cpuid(1, [0, 0, 1 << 31, 0])
        .file("proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu hypervisor tdx_guest lahf_lm\n")
        .denied("sys/module/kvm_intel/parameters/tdx")
        .vm_types_unknown()
        .kmsg(&["tdx: Guest detected"], false)
        .probe();
    is_no_because_guest(&r, CheckId::TdxReady);
    // An SNP guest.
    let mut f = snp_host(1, "AMD EPYC 7763")
        .cpuid(1, [0, 0, 1 << 31, 0])
        .dir("sys/devices/platform/sev-guest")
        .denied("sys/module/kvm_amd/parameters/sev_snp")
        .vm_types_unknown();
    f.hw.kmsg = Some(marker("denied"));
    f.hw.snp_status = Some(marker("denied"));
    is_no_because_guest(&f.probe(), CheckId::SnpReady);
    // An SE guest.
    let r = se_host()
        .file("sys/firmware/uv/prot_virt_guest", "1")
        .denied("sys/firmware/uv/prot_virt_host")
        .probe();
    is_no_because_guest(&r, CheckId::SeReady);
}

fn amd(family: u32, model: u32, name: &str) -> Fixture {
    snp_host(model, name)
        .file(
            "proc/cpuinfo",
            &format!("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: {family}\nmodel\t\t: {model}\nmodel name\t: {name}\nflags\t\t: fpu vme svm sme sev sev_es sev_snp\n"),
        )
        .cpuid_unavailable(0x8000_001F, "not_observable")
}

#[test]
fn snp_cpu_gives_a_definite_no_for_generations_without_snp_whatever_cpuid_shows() {
    for (family, model, name) in [
        (23, 0x01, "AMD EPYC 7601 32-Core Processor"),
        (23, 0x31, "AMD EPYC 7702 64-Core Processor"),
        (25, 0x21, "AMD Ryzen 9 5950X 16-Core Processor"),
    ] {
        let r = amd(family, model, name).probe();
        let o = outcome(&r, CheckId::SnpCpu);
        assert_eq!(o.status, Status::Fail, "{name}: {}", o.message);
        assert!(
            o.evidence.iter().any(|e| e.value.contains(name)),
            "{name}: {:?}",
            o.evidence
        );
        assert_eq!(
            outcome(&r, CheckId::SnpReady).status,
            Status::Fail,
            "{name}"
        );
    }
}

#[test]
fn snp_cpu_names_the_generation_and_settles_the_cpu_part() {
    for (family, model, name, gen) in [
        (25, 0x01, "AMD EPYC 7763 64-Core Processor", "Milan"),
        (25, 0x11, "AMD EPYC 9654 96-Core Processor", "Genoa"),
        (26, 0x02, "AMD EPYC 9755 128-Core Processor", "Turin"),
    ] {
        let r = amd(family, model, name)
            .denied("sys/module/kvm_amd/parameters/sev_snp")
            .vm_types_unknown()
            .kmsg(&["SEV-SNP: RMP table physical range [0x1 - 0x2]"], true)
            .probe();
        let o = outcome(&r, CheckId::SnpCpu);
        assert_eq!(o.status, Status::Pass, "{name}: {}", o.message);
        assert!(o.message.contains(gen), "{name}: {}", o.message);
        let ready = outcome(&r, CheckId::SnpReady);
        assert!(
            !ready.message.contains("a CPU with SEV-SNP"),
            "{name}: {}",
            ready.message
        );
    }
}

/// An SNP host without `amd-iommu/features` in sysfs, whose SNP parts other than the
/// IOMMU's are settled without KVM's verdict.
fn iommu_from_the_log(lines: &[&str]) -> Report {
    snp_host(1, "AMD EPYC 7763")
        .rm("sys/class/iommu/ivhd0/amd-iommu/features")
        .denied("sys/module/kvm_amd/parameters/sev_snp")
        .vm_types_unknown()
        .kmsg(lines, false)
        .probe()
}

#[test]
fn the_logs_ivhd_efr_gives_snpsup_when_sysfs_does_not() {
    let r = iommu_from_the_log(&["AMD-Vi: Using global IVHD EFR:0x841f77e022094ace, EFR2:0x0"]);
    let o = outcome(&r, CheckId::SnpIommu);
    assert_eq!(o.status, Status::Pass, "{}", o.message);
    assert!(o.evidence.iter().any(|e| e.value.contains("IVHD EFR")));
    let r = iommu_from_the_log(&["AMD-Vi: Using global IVHD EFR:0x246577efa2254afa, EFR2:0x0"]);
    let o = outcome(&r, CheckId::SnpIommu);
    assert_eq!(o.status, Status::Fail, "{}", o.message);
    assert!(o.message.contains("SNPSup"), "{}", o.message);
}

#[test]
fn the_logs_snp_feature_lines_count_for_snp_iommu() {
    for line in [
        "AMD-Vi: SNP enabled",
        "AMD-Vi: Extended features (0x841f77e022094ace, 0x0): PPR X2APIC NX GT IA GA PC GA_vAPIC SNP",
    ] {
        let o = outcome(&iommu_from_the_log(&[line]), CheckId::SnpIommu).clone();
        assert_eq!(o.status, Status::Pass, "{line}: {}", o.message);
    }
    let r = iommu_from_the_log(&[
        "AMD-Vi: Extended features (0x246577efa2254afa, 0x0): PPR X2APIC NX GT IA GA PC GA_vAPIC",
    ]);
    assert_ne!(outcome(&r, CheckId::SnpIommu).status, Status::Pass);
}

#[test]
fn a_platform_status_that_fails_as_root_on_6_11_plus_means_snp_is_not_initialised() {
    let mut f = snp_host(1, "AMD EPYC 7763");
    f.hw.snp_status = Some(marker("error"));
    let r = f.probe();
    let o = outcome(&r, CheckId::SnpFwStatus);
    assert_eq!(o.status, Status::Fail, "{}", o.message);
    assert!(o.message.contains("not initialised"), "{}", o.message);
    // Older kernels, or without root, the failure tells nothing.
    let mut f = snp_host(1, "AMD EPYC 7763").file("proc/sys/kernel/osrelease", "6.8.0-snp");
    f.hw.snp_status = Some(marker("error"));
    assert_eq!(
        outcome(&f.probe(), CheckId::SnpFwStatus).status,
        Status::Skip
    );
    let mut f = snp_host(1, "AMD EPYC 7763").file(
        "proc/self/status",
        "Name:\tcococtl\nUid:\t1000\t1000\t1000\t1000",
    );
    f.hw.snp_status = Some(marker("error"));
    assert_eq!(
        outcome(&f.probe(), CheckId::SnpFwStatus).status,
        Status::Skip
    );
}

#[test]
fn snp_capacity_comes_from_cpuid_when_neither_cgroup_nor_log_tells() {
    // EDX 100: ASIDs 1-99 are the SEV-ES/SNP space.
    let r = snp_host(1, "AMD EPYC 7763")
        .rm("sys/fs/cgroup/misc.capacity")
        .kmsg(&[], false)
        .probe();
    let o = outcome(&r, CheckId::SnpCapacity);
    assert_eq!(o.status, Status::Pass, "{}", o.message);
    assert!(
        o.message.starts_with("99 ") && o.message.contains("CPUID"),
        "{}",
        o.message
    );
    // EDX 0 with kvm_amd's SEV count: the rest of ECX (509) is SEV-ES.
    let r = snp_host(1, "AMD EPYC 7763")
        .rm("sys/fs/cgroup/misc.capacity")
        .cpuid(0x8000_001F, [0x0001_781b, 0x0000_4173, 509, 0])
        .kmsg(&["kvm_amd: SEV supported: 410 ASIDs"], false)
        .probe();
    let o = outcome(&r, CheckId::SnpCapacity);
    assert!(o.message.starts_with("99 "), "{}", o.message);
}

#[test]
fn snp_capacity_does_not_promise_snp_guests_when_kvm_withdrew_snp() {
    let r = snp_host(1, "AMD EPYC 7763")
        .rm("sys/fs/cgroup/misc.capacity")
        .file("sys/module/kvm_amd/parameters/sev_snp", "N")
        .kmsg(&["kvm_amd: SEV-ES enabled (ASIDs 1 - 99)"], true)
        .probe();
    let o = outcome(&r, CheckId::SnpCapacity);
    assert_eq!(o.status, Status::Warn, "{}", o.message);
    assert!(
        !o.message.contains("SEV-SNP guests at most"),
        "{}",
        o.message
    );
}

#[test]
fn an_old_tdp_mmu_refusal_is_superseded_when_kvm_runs_tds_now() {
    let line = "kvm_intel: TDX requires TDP MMU.  Please enable TDP MMU for TDX.";
    let r = tdx_host()
        .kmsg(
            &[
                "virt/tdx: BIOS enabled: private KeyID range [32, 64)",
                "virt/tdx: module initialized",
                line,
            ],
            true,
        )
        .probe();
    let o = outcome(&r, CheckId::TdxKvmPrereqs);
    assert_eq!(o.status, Status::Warn, "{}", o.message);
    assert!(o.message.contains("superseded"), "{}", o.message);
    assert!(o.evidence.iter().any(|e| e.value == line));
    // Still off now: a failure.
    let r = tdx_host()
        .file("sys/module/kvm_intel/parameters/tdx", "N")
        .kmsg(&[line], true)
        .probe();
    assert_eq!(outcome(&r, CheckId::TdxKvmPrereqs).status, Status::Fail);
}

#[test]
fn tdx_cmdline_fix_knows_what_is_already_set() {
    let st = |cl: &str, param: &str| {
        let r = tdx_host()
            .file("proc/cmdline", cl)
            .file("sys/module/kvm_intel/parameters/tdx", param)
            .probe();
        outcome(&r, CheckId::TdxCmdline).clone()
    };
    assert_eq!(st("ro kvm_intel.tdx=1", "Y").status, Status::Pass);
    assert_eq!(st("ro", "Y").status, Status::Pass, "set through modprobe.d");
    let o = st("ro", "N");
    assert_eq!(o.status, Status::Warn);
    assert!(o.remediation.unwrap().contains("kvm_intel.tdx=1"));
    let o = st("ro kvm_intel.tdx=1 tdx_host=off", "N");
    assert_eq!(o.status, Status::Warn, "{}", o.message);
    let fix = o.remediation.unwrap();
    assert!(
        fix.contains("remove tdx_host=off") && !fix.contains("add kvm_intel.tdx=1"),
        "{fix}"
    );
    let o = st("ro kvm_intel.tdx=0", "N");
    assert!(o.remediation.unwrap().contains("add kvm_intel.tdx=1"));
    let r = tdx_host().denied("proc/cmdline").probe();
    assert_eq!(outcome(&r, CheckId::TdxCmdline).status, Status::Skip);
}
