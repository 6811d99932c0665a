//! What the kernel log of this boot tells (`docs/probe-checks.md#snp-kmsg`,
//! `#tdx-kmsg`, `#cvm-tdx`): positive lines prove readiness parts, negative lines block
//! with their fix, guest lines reveal a CVM even when CPUID cannot be read.

mod common;

use cococtl_probe::check::{Facts, Status};
use cococtl_probe::host::fixture::Hw;
use cococtl_probe::id::CheckId;
use cococtl_probe::report::Report;
use common::*;

fn outcome(r: &Report, id: CheckId) -> &cococtl_probe::check::Outcome {
    &r.get(id).unwrap_or_else(|| panic!("no check {id}")).outcome
}

/// An SNP host probed without root whose kernel log is readable.
fn non_root_snp_host(log: &[&str]) -> Fixture {
    let mut f = snp_host(1, "AMD EPYC 7763")
        .file(
            "proc/self/status",
            "Name:\tcococtl\nUid:\t1000\t1000\t1000\t1000",
        )
        .msr(0xC001_0010, marker("denied"))
        .kmsg(log, true);
    f.hw.snp_status = Some(marker("denied"));
    f
}

#[test]
fn snp_firmware_initialised_line_proves_the_firmware_part_without_root() {
    let r = non_root_snp_host(&[
        "SEV-SNP: RMP table physical range [0x0000004000000000 - 0x00000041ffffffff]",
        "ccp 0000:45:00.1: SEV-SNP API:1.55 build:21",
        "kvm_amd: SEV-SNP enabled (ASIDs 1 - 99)",
    ])
    .probe();
    let k = outcome(&r, CheckId::SnpKmsg);
    assert_eq!(k.status, Status::Pass, "{}", k.message);
    assert!(matches!(
        k.facts,
        Some(Facts::SnpLog {
            rmp_reserved: true,
            firmware_initialised: true,
            kvm_snp: true,
            ..
        })
    ));
    assert_eq!(outcome(&r, CheckId::SnpFwStatus).status, Status::Skip);
    assert_eq!(outcome(&r, CheckId::SnpReady).status, Status::Pass);
}

#[test]
fn snp_without_an_rmp_reserved_by_bios_blocks_with_the_bios_fix() {
    let r = snp_host(1, "AMD EPYC 7763")
        .kmsg(
            &["SEV-SNP: Memory for the RMP table has not been reserved by BIOS"],
            true,
        )
        .probe();
    let k = outcome(&r, CheckId::SnpKmsg);
    assert_eq!(k.status, Status::Fail);
    assert!(k
        .remediation
        .as_deref()
        .unwrap()
        .contains("SNP Memory Coverage"));
    assert_eq!(outcome(&r, CheckId::SnpReady).status, Status::Fail);
    assert!(outcome(&r, CheckId::SnpReady)
        .blocked_by
        .iter()
        .any(|b| b.check == CheckId::SnpKmsg));
}

#[test]
fn a_psp_that_timed_out_is_dead_until_reboot() {
    let r = snp_host(1, "AMD EPYC 7763")
        .kmsg(
            &["ccp 0000:45:00.1: sev command 0x85 timed out, disabling PSP"],
            true,
        )
        .probe();
    let k = outcome(&r, CheckId::SnpKmsg);
    assert_eq!(k.status, Status::Fail);
    assert!(k.message.contains("until the next reboot"), "{}", k.message);
    assert!(k.remediation.as_deref().unwrap().contains("reboot"));
}

#[test]
fn snp_init_failures_and_kvm_disabling_snp_block() {
    for line in [
        "SEV-SNP: failed to INIT rc -5, error 0x3",
        "ccp 0000:45:00.1: SNP_INIT failed, ret -5",
        "kvm_amd: SEV-SNP disabled (ASIDs 1 - 99)",
        "AMD-Vi: SNP: IOMMU is disabled or configured in passthrough mode, SNP cannot be supported.",
        "SEV-SNP: IOMMU is either disabled or configured in passthrough mode, SNP cannot be supported.",
    ] {
        let r = snp_host(1, "AMD EPYC 7763").kmsg(&[line], true).probe();
        assert_eq!(outcome(&r, CheckId::SnpKmsg).status, Status::Fail, "{line}");
        assert_eq!(outcome(&r, CheckId::SnpReady).status, Status::Fail, "{line}");
    }
}

#[test]
fn the_iommu_passthrough_line_also_fails_snp_iommu() {
    let r = snp_host(1, "AMD EPYC 7763")
        .kmsg(
            &["AMD-Vi: SNP: IOMMU is disabled or configured in passthrough mode, SNP cannot be supported."],
            true,
        )
        .probe();
    assert_eq!(outcome(&r, CheckId::SnpIommu).status, Status::Fail);
}

#[test]
fn a_kvm_snp_disabled_line_is_not_snp_capacity() {
    let r = snp_host(1, "AMD EPYC 7763")
        .rm("sys/fs/cgroup/misc.capacity")
        .kmsg(&["kvm_amd: SEV-SNP disabled (ASIDs 1 - 99)"], true)
        .probe();
    let c = outcome(&r, CheckId::SnpCapacity);
    assert_eq!(c.status, Status::Warn, "{}", c.message);
    assert!(!c.message.contains("99 concurrent"), "{}", c.message);
}

#[test]
fn snp_capacity_reads_every_kvm_amd_asid_line_format() {
    for (line, want) in [
        ("kvm_amd: SEV-SNP enabled (ASIDs 1 - 99)", "99 concurrent"),
        ("SEV-ES and SEV-SNP supported: 509 ASIDs", "509 concurrent"),
        ("kvm_amd: SEV-ES supported: 99 ASIDs", "99 concurrent"),
        ("kvm_amd: SEV-ES enabled (ASIDs 1 - 99)", "99 concurrent"),
    ] {
        let r = snp_host(1, "AMD EPYC 7763")
            .rm("sys/fs/cgroup/misc.capacity")
            .kmsg(&[line], true)
            .probe();
        let c = outcome(&r, CheckId::SnpCapacity);
        assert!(c.message.contains(want), "{line}: {}", c.message);
    }
}

#[test]
fn a_td_guest_is_recognised_from_the_kernel_log_without_cpuid() {
    for line in [
        "tdx: Guest detected",
        "Memory Encryption Features active: Intel TDX",
    ] {
        let r = tdx_host()
            .cpuid(1, [0, 0, 1 << 31, 0])
            .cpuid_unavailable(0, "not_observable")
            .cpuid_unavailable(0x21, "not_observable")
            .kmsg(&[line], true)
            .probe();
        let o = outcome(&r, CheckId::CvmTdx);
        assert_eq!(o.status, Status::Warn, "{line}: {}", o.message);
        assert_eq!(
            r.recommendation.profile.as_deref(),
            Some("remote"),
            "{line}"
        );
    }
}

#[test]
fn an_snp_guest_is_recognised_from_the_kernel_log() {
    let mut f = snp_host(1, "AMD EPYC 7763")
        .cpuid(1, [0, 0, 1 << 31, 0])
        .kmsg(
            &["Memory Encryption Features active: AMD SEV SEV-ES SEV-SNP"],
            true,
        );
    f.hw.msr.remove("0xc0010131");
    let r = f.probe();
    let o = outcome(&r, CheckId::CvmSnp);
    assert_eq!(o.status, Status::Warn);
    assert!(o.message.contains("SEV-SNP"), "{}", o.message);
    assert_eq!(r.recommendation.profile.as_deref(), Some("remote"));
}

#[test]
fn tdx_capacity_comes_from_the_keyid_range_when_misc_capacity_is_absent() {
    let r = tdx_host().rm("sys/fs/cgroup/misc.capacity").probe();
    let c = outcome(&r, CheckId::TdxCapacity);
    assert_eq!(c.status, Status::Pass);
    assert!(c.message.starts_with("31 concurrent"), "{}", c.message);
}

#[test]
fn tdx_requires_tdp_mmu_in_the_log_is_named() {
    let r = tdx_host()
        .rm("sys/module/kvm/parameters/tdp_mmu")
        .file("sys/module/kvm_intel/parameters/tdx", "N")
        .kmsg(
            &[
                "virt/tdx: BIOS enabled: private KeyID range [32, 64)",
                "virt/tdx: module initialized",
                "kvm_intel: TDX requires TDP MMU.  Please enable TDP MMU for TDX.",
            ],
            true,
        )
        .probe();
    let o = outcome(&r, CheckId::TdxKvmPrereqs);
    assert_eq!(o.status, Status::Fail, "{}", o.message);
    assert!(o.message.contains("tdp_mmu"), "{}", o.message);
}

#[test]
fn the_renamed_tdx_module_line_counts_as_initialised() {
    let r = tdx_host()
        .kmsg(
            &[
                "virt/tdx: BIOS enabled: private KeyID range [32, 64)",
                "virt/tdx: TDX-Module initialized",
            ],
            true,
        )
        .probe();
    assert_eq!(outcome(&r, CheckId::TdxKmsg).status, Status::Pass);
}

#[test]
fn a_partial_log_without_snp_lines_is_not_a_verdict() {
    let r = snp_host(1, "AMD EPYC 7763")
        .kmsg(&["a later line"], false)
        .probe();
    let k = outcome(&r, CheckId::SnpKmsg);
    assert_eq!(k.status, Status::Skip, "{}", k.message);
    let _ = Hw::<u64>::Value(0);
}
