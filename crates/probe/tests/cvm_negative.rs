//! "Is this node a confidential VM?" settled as "no" by evidence only a host can produce
//! (`docs/probe-checks.md#cvm-negative`): hosts captured from public reports show their
//! kernel log and cpuinfo, not CPUID or MSRs, and must not stay "unknown".

mod common;

use cococtl_probe::check::{Facts, Outcome, Status};
use cococtl_probe::id::CheckId;
use cococtl_probe::report::Report;
use common::*;

fn outcome(r: &Report, id: CheckId) -> &Outcome {
    &r.get(id).unwrap_or_else(|| panic!("no check {id}")).outcome
}

const LEAVES: [u32; 7] = [
    0,
    1,
    0x21,
    0x4000_0000,
    0x4000_000C,
    0x8000_0000,
    0x8000_001F,
];

/// A host as a report shows it: no CPUID, no MSRs, a kernel log that no longer reaches
/// back to boot, and a cpuinfo flags line quoted with an elision.
fn as_reported(mut f: Fixture, vendor: &str, log: &[&str]) -> Fixture {
    for leaf in LEAVES {
        f = f.cpuid_unavailable(leaf, "not_observable");
    }
    f.hw.msr.clear();
    f.file(
        "proc/cpuinfo",
        &format!("processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: 25\nmodel\t\t: 1\nflags\t\t: fpu vme ... sev sev_es sev_snp\n"),
    )
    .kmsg(log, false)
}

fn is_no(r: &Report, id: CheckId, settled_by: &str) {
    let o = outcome(r, id);
    assert_eq!(o.status, Status::Pass, "{id}: {}", o.message);
    assert_eq!(o.facts, Some(Facts::Guest { guest: None }), "{id}");
    assert!(
        o.evidence.iter().any(|e| e.value.contains(settled_by)),
        "{id} names what settled it ({settled_by}): {:?}",
        o.evidence
    );
}

fn summary_is_no(r: &Report) {
    let s = outcome(r, CheckId::CvmSummary);
    assert_eq!(s.status, Status::Pass, "{}", s.message);
    assert!(
        !r.recommendation
            .reasons
            .iter()
            .any(|w| w.contains("could not tell")),
        "{:?}",
        r.recommendation.reasons
    );
}

#[test]
fn the_reported_host_without_host_evidence_still_cannot_tell() {
    let r = as_reported(
        snp_host(1, "AMD EPYC 7763"),
        "AuthenticAMD",
        &["a later line"],
    )
    .probe();
    assert_eq!(outcome(&r, CheckId::CvmSnp).status, Status::Skip);
    assert_eq!(outcome(&r, CheckId::CvmSummary).status, Status::Unknown);
}

#[test]
fn every_amd_host_only_log_line_settles_the_x86_cvm_checks_as_no() {
    for line in [
        "SEV-SNP: RMP table physical range [0x0000004000000000 - 0x00000041ffffffff]",
        "ccp 0000:45:00.1: SEV API:1.55 build:21",
        "ccp 0000:45:00.1: SEV-SNP API:1.55 build:21",
        "ccp 0000:45:00.1: sev enabled",
        "kvm_amd: SEV enabled (ASIDs 100 - 509)",
        "kvm_amd: SEV-ES enabled (ASIDs 1 - 99)",
        "kvm_amd: SEV-SNP enabled (ASIDs 1 - 99)",
        "kvm_amd: SEV supported: 410 ASIDs",
    ] {
        let r = as_reported(snp_host(1, "AMD EPYC 7763"), "AuthenticAMD", &[line]).probe();
        is_no(&r, CheckId::CvmSnp, line);
        is_no(&r, CheckId::CvmHypervIsolation, line);
        summary_is_no(&r);
    }
}

#[test]
fn tdx_module_and_keyid_lines_settle_the_x86_cvm_checks_as_no() {
    for line in [
        "virt/tdx: BIOS enabled: private KeyID range [32, 64)",
        "virt/tdx: module initialized",
        "virt/tdx: TDX-Module initialized",
        "virt/tdx: 1034220 KB allocated for PAMT",
    ] {
        let r = as_reported(tdx_host(), "GenuineIntel", &[line]).probe();
        is_no(&r, CheckId::CvmTdx, line);
        is_no(&r, CheckId::CvmHypervIsolation, line);
        // An Intel CPU settles cvm.snp on its own.
        assert_eq!(outcome(&r, CheckId::CvmSnp).status, Status::Pass);
        summary_is_no(&r);
    }
}

#[test]
fn a_guests_log_lines_are_not_host_evidence() {
    let r = as_reported(
        snp_host(1, "AMD EPYC 7763"),
        "AuthenticAMD",
        &[
            "SEV: Status: SEV SEV-ES SEV-SNP",
            "kvm_amd: SEV-SNP disabled",
        ],
    )
    .probe();
    assert_ne!(outcome(&r, CheckId::CvmSummary).status, Status::Pass);
}

#[test]
fn a_complete_flags_line_without_hypervisor_is_bare_metal_when_cpuid_cannot_be_read() {
    for (f, vendor) in [
        (snp_host(1, "AMD EPYC 7763"), "AuthenticAMD"),
        (tdx_host(), "GenuineIntel"),
    ] {
        let r = as_reported(f, vendor, &[])
            .file(
                "proc/cpuinfo",
                &format!("processor\t: 0\nvendor_id\t: {vendor}\nflags\t\t: fpu vme de pse msr pae pni ssse3 cx16 lahf_lm\n"),
            )
            .probe();
        for id in [
            CheckId::CvmTdx,
            CheckId::CvmSnp,
            CheckId::CvmHypervIsolation,
        ] {
            let o = outcome(&r, id);
            assert_eq!(o.status, Status::Pass, "{vendor} {id}: {}", o.message);
        }
        summary_is_no(&r);
        let v = outcome(&r, CheckId::HostVirt);
        assert_eq!(v.status, Status::Pass, "{}", v.message);
        assert!(v.message.contains("bare metal"), "{}", v.message);
    }
}

#[test]
fn a_complete_flags_line_with_hypervisor_is_a_vm_not_bare_metal() {
    let r = as_reported(snp_host(1, "AMD EPYC 7763"), "AuthenticAMD", &[])
        .file(
            "proc/cpuinfo",
            "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu vme pni hypervisor lahf_lm\n",
        )
        .probe();
    assert_eq!(outcome(&r, CheckId::CvmSnp).status, Status::Skip);
    let v = outcome(&r, CheckId::HostVirt);
    assert!(v.message.contains("virtual machine"), "{}", v.message);
}

#[test]
fn cpuid_that_says_vm_beats_a_flags_line_that_says_bare_metal() {
    let mut f = snp_host(1, "AMD EPYC 7763").cpuid(1, [0, 0, 1 << 31, 0]);
    f.hw.msr.remove("0xc0010131");
    f.hw.kmsg = Some(marker("denied"));
    let r = f.probe();
    assert_eq!(outcome(&r, CheckId::CvmSnp).status, Status::Skip);
}

#[test]
fn prot_virt_host_settles_cvm_se_when_prot_virt_guest_is_unreadable() {
    let r = se_host()
        .unavailable("sys/firmware/uv/prot_virt_guest", "not_observable")
        .probe();
    is_no(&r, CheckId::CvmSe, "1");
    assert!(outcome(&r, CheckId::CvmSe)
        .message
        .contains("prot_virt_host"));
    summary_is_no(&r);
    let r = se_host()
        .unavailable("sys/firmware/uv/prot_virt_guest", "not_observable")
        .file("sys/firmware/uv/prot_virt_host", "0")
        .probe();
    assert_eq!(outcome(&r, CheckId::CvmSe).status, Status::Skip);
}
