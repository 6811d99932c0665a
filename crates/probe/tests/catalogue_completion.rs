//! The checks that complete the catalogue (`docs/probe-checks.md#catalogue`): the
//! locked-memory limit, the TDX BIOS MSRs and attestation prerequisites, the legacy SEV
//! firmware status, Arm CCA realms.

mod common;

use cococtl_probe::check::{SkipReason, Status};
use cococtl_probe::id::CheckId;
use cococtl_probe::input::SevStatus;
use cococtl_probe::report::Report;
use common::*;

fn outcome(r: &Report, id: CheckId) -> &cococtl_probe::check::Outcome {
    &r.get(id).unwrap_or_else(|| panic!("no check {id}")).outcome
}

const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";

#[test]
fn memlock_unlimited_passes_and_a_small_limit_warns() {
    let r = snp_host(1, "AMD EPYC")
        .file(
            "proc/self/limits",
            &format!(
                "{LIMITS}Max locked memory         unlimited            unlimited            bytes"
            ),
        )
        .probe();
    assert_eq!(outcome(&r, CheckId::ProcMemlock).status, Status::Pass);
    let r = snp_host(1, "AMD EPYC")
        .file(
            "proc/self/limits",
            &format!(
                "{LIMITS}Max locked memory         8388608              8388608              bytes"
            ),
        )
        .probe();
    let o = outcome(&r, CheckId::ProcMemlock);
    assert_eq!(o.status, Status::Warn, "{}", o.message);
    assert!(o.remediation.as_deref().unwrap().contains("LimitMEMLOCK"));
    let r = snp_host(1, "AMD EPYC").denied("proc/self/limits").probe();
    assert_eq!(
        outcome(&r, CheckId::ProcMemlock).skip_reason,
        Some(SkipReason::NeedsRoot)
    );
}

/// TME on, SEAMRR enabled, 32 TDX KeyIDs, SGX on, MCHECK clean, a production part.
fn tdx_msrs(f: Fixture) -> Fixture {
    f.msr(0x982, hw(0b11))
        .msr(0x1401, hw(1 << 11))
        .msr(0x87, hw(32 << 32 | 32))
        .msr(0x3A, hw(1 << 18 | 1))
        .msr(0xA0, hw(0))
        .msr(0xCE, hw(0))
}

fn hw(v: u64) -> cococtl_probe::host::fixture::Hw<u64> {
    cococtl_probe::host::fixture::Hw::Value(v)
}

#[test]
fn tdx_bios_msrs_pass_when_tme_seamrr_and_keys_are_set() {
    let r = tdx_msrs(tdx_host()).probe();
    let o = outcome(&r, CheckId::TdxBiosMsr);
    assert_eq!(o.status, Status::Pass, "{}", o.message);
    assert!(o.message.contains("32 TDX private KeyIDs"), "{}", o.message);
}

#[test]
fn tdx_bios_with_tme_off_fails_and_blocks_tdx_ready() {
    let r = tdx_msrs(tdx_host()).msr(0x982, hw(0)).probe();
    let o = outcome(&r, CheckId::TdxBiosMsr);
    assert_eq!(o.status, Status::Fail);
    assert!(o.message.contains("TME"), "{}", o.message);
    assert_eq!(outcome(&r, CheckId::TdxReady).status, Status::Fail);
}

#[test]
fn tdx_bios_with_sgx_off_or_a_preproduction_part_warns() {
    let r = tdx_msrs(tdx_host()).msr(0x3A, hw(1)).probe();
    assert_eq!(outcome(&r, CheckId::TdxBiosMsr).status, Status::Warn);
    let r = tdx_msrs(tdx_host()).msr(0xCE, hw(1 << 27)).probe();
    assert!(outcome(&r, CheckId::TdxBiosMsr)
        .message
        .contains("pre-production"));
}

#[test]
fn tdx_bios_msrs_without_root_skip_and_cpuinfo_still_proves_the_bios() {
    let r = tdx_host()
        .msr(0x982, marker("denied"))
        .msr(0x1401, marker("denied"))
        .msr(0x87, marker("denied"))
        .probe();
    assert_eq!(
        outcome(&r, CheckId::TdxBiosMsr).skip_reason,
        Some(SkipReason::NeedsRoot)
    );
    assert_eq!(outcome(&r, CheckId::TdxReady).status, Status::Pass);
}

#[test]
fn tdx_attestation_needs_sgx_and_the_quote_service() {
    let r = tdx_host().probe();
    let o = outcome(&r, CheckId::TdxAttestation);
    assert_eq!(o.status, Status::Warn, "{}", o.message);
    assert!(o.message.contains("qgsd"), "{}", o.message);
    assert_eq!(
        outcome(&r, CheckId::TdxReady).status,
        Status::Pass,
        "attestation does not block booting TDs"
    );
    let r = tdx_host()
        .device("dev/sgx_enclave")
        .device("dev/sgx_provision")
        .device("var/run/tdx-qgs/qgs.socket")
        .file("sys/module/kvm_intel/parameters/sgx", "Y")
        .probe();
    assert_eq!(outcome(&r, CheckId::TdxAttestation).status, Status::Pass);
}

fn legacy(api: (u8, u8)) -> SevStatus {
    SevStatus {
        api_major: api.0,
        api_minor: api.1,
        build_id: 3,
        state: 1,
        guest_count: 0,
    }
}

#[test]
fn the_legacy_sev_status_is_reported() {
    let mut f = snp_host(1, "AMD EPYC 7763");
    f.hw.sev_status = Some(cococtl_probe::host::fixture::Hw::Value(legacy((1, 55))));
    let r = f.probe();
    let o = outcome(&r, CheckId::SnpFwLegacy);
    assert_eq!(o.status, Status::Pass, "{}", o.message);
    assert!(o.message.contains("API 1.55"), "{}", o.message);
}

#[test]
fn a_firmware_that_predates_snp_is_named_through_the_legacy_status() {
    let mut f = snp_host(1, "AMD EPYC 7763");
    f.hw.sev_status = Some(cococtl_probe::host::fixture::Hw::Value(legacy((0, 24))));
    f.hw.snp_status = Some(marker("error"));
    let r = f.probe();
    let o = outcome(&r, CheckId::SnpFwStatus);
    assert_eq!(o.status, Status::Fail, "{}", o.message);
    assert!(o.message.contains("predates SEV-SNP"), "{}", o.message);
    assert_eq!(outcome(&r, CheckId::SnpReady).status, Status::Fail);
}

#[test]
fn an_arm_cca_realm_is_pointed_to_peer_pods() {
    let r = Fixture::empty()
        .file("proc/sys/kernel/arch", "aarch64")
        .file(
            "proc/cpuinfo",
            "processor\t: 0\nFeatures\t: fp asimd\nCPU implementer\t: 0x41",
        )
        .dir("sys/devices/platform/arm-cca-dev")
        .probe();
    assert_eq!(outcome(&r, CheckId::CvmCca).status, Status::Warn);
    assert_eq!(outcome(&r, CheckId::CvmSummary).status, Status::Warn);
    assert_eq!(r.recommendation.profile.as_deref(), Some("remote"));
    assert_eq!(
        outcome(&r, CheckId::CvmTdx).skip_reason,
        Some(SkipReason::NotApplicable)
    );
}
