//! Could-not-read is not absent (`docs/probe-checks.md#principles`): an input that is
//! denied or not observable gives a skip with the reason, never a pass or a fail, and an
//! aggregate is "yes" only on positive evidence. Each case is a fact met on a real host.

mod common;

use cococtl_core::Arch;
use cococtl_probe::check::{BlockKind, SkipReason, Status};
use cococtl_probe::host::fixture::Hw;
use cococtl_probe::id::CheckId;
use cococtl_probe::report::Report;
use common::*;

fn outcome(r: &Report, id: CheckId) -> &cococtl_probe::check::Outcome {
    &r.get(id).unwrap_or_else(|| panic!("no check {id}")).outcome
}

fn st(r: &Report, id: CheckId) -> Status {
    outcome(r, id).status
}

fn is_skip(r: &Report, id: CheckId) {
    let o = outcome(r, id);
    assert_eq!(
        o.status,
        Status::Skip,
        "{id}: {} {:?}",
        o.message,
        o.evidence
    );
    assert!(
        matches!(
            o.skip_reason,
            Some(SkipReason::NeedsRoot | SkipReason::NotObservable)
        ),
        "{id}: {:?}",
        o.skip_reason
    );
}

#[test]
fn kvm_vendor_module_is_not_failed_when_sys_module_cannot_be_listed() {
    let r = snp_host(1, "AMD EPYC 7763")
        .denied("sys/module")
        .denied("sys/module/kvm_amd")
        .denied("sys/module/kvm_intel")
        .probe();
    is_skip(&r, CheckId::KvmVendorModule);
    assert_ne!(r.recommendation.profile.as_deref(), Some("remote"));
}

#[test]
fn kata_kmods_is_not_failed_when_the_modules_cannot_be_read() {
    let r = snp_host(1, "AMD EPYC 7763")
        .unavailable("sys/module/vhost", "not_observable")
        .unavailable("sys/module/vhost_net", "not_observable")
        .probe();
    is_skip(&r, CheckId::KataKmods);
}

#[test]
fn se_host_and_facility_unreadable_are_skips_and_se_ready_is_unknown() {
    let r = se_host().denied("sys/firmware/uv/prot_virt_host").probe();
    is_skip(&r, CheckId::SeHost);
    assert_eq!(st(&r, CheckId::SeReady), Status::Unknown);
    let r = se_host()
        .file(
            "proc/cpuinfo",
            "vendor_id       : IBM/S390\n# processors    : 8",
        )
        .probe();
    is_skip(&r, CheckId::SeFacility);
}

#[test]
fn iommu_enabled_on_an_unreadable_directory_is_a_skip() {
    let r = snp_host(1, "AMD EPYC 7763")
        .unavailable("sys/kernel/iommu_groups", "not_observable")
        .probe();
    is_skip(&r, CheckId::IommuEnabled);
}

#[test]
fn host_arch_unreadable_is_a_skip_not_an_unsupported_architecture() {
    let r = snp_host(1, "AMD EPYC 7763")
        .denied("proc/sys/kernel/arch")
        .denied("proc/cpuinfo")
        .probe();
    is_skip(&r, CheckId::HostArch);
    assert!(outcome(&r, CheckId::HostArch)
        .message
        .contains("not observable"));
}

#[test]
fn gpu_driver_link_unreadable_is_not_unbound() {
    let r = cc_gpu_node(with_gpu(
        snp_host(0x11, "AMD EPYC 9654"),
        "0000:41:00.0",
        12,
        Some("vfio-pci"),
    ))
    .unavailable("sys/bus/pci/devices/0000:41:00.0/driver", "denied")
    .probe();
    is_skip(&r, CheckId::GpuVfioBound);
    is_skip(&r, CheckId::GpuHostDriver);
    let o = outcome(&r, CheckId::GpuVfioBound);
    assert!(
        o.evidence.iter().any(|e| e.value.contains("unknown")),
        "{:?}",
        o.evidence
    );
}

#[test]
fn gpu_iommu_group_unreadable_is_not_no_group() {
    let r = cc_gpu_node(with_gpu(
        snp_host(0x11, "AMD EPYC 9654"),
        "0000:41:00.0",
        12,
        Some("vfio-pci"),
    ))
    .unavailable(
        "sys/bus/pci/devices/0000:41:00.0/iommu_group",
        "not_observable",
    )
    .probe();
    is_skip(&r, CheckId::GpuGroupViable);
}

#[test]
fn a_gpu_whose_device_id_cannot_be_read_is_still_a_gpu() {
    let r = with_gpu(
        snp_host(0x11, "AMD EPYC 9654"),
        "0000:41:00.0",
        12,
        Some("vfio-pci"),
    )
    .denied("sys/bus/pci/devices/0000:41:00.0/device")
    .probe();
    let o = outcome(&r, CheckId::GpuInventory);
    assert_eq!(o.status, Status::Pass, "{}", o.message);
    assert!(o.message.starts_with("1 NVIDIA GPU"), "{}", o.message);
    is_skip(&r, CheckId::GpuCcCapable);
}

#[test]
fn a_function_whose_vendor_cannot_be_read_is_not_no_gpu() {
    let r = with_gpu(
        snp_host(0x11, "AMD EPYC 9654"),
        "0000:41:00.0",
        12,
        Some("vfio-pci"),
    )
    .denied("sys/bus/pci/devices/0000:41:00.0/vendor")
    .probe();
    let o = outcome(&r, CheckId::GpuInventory);
    assert_eq!(
        o.skip_reason,
        Some(SkipReason::NotObservable),
        "{}",
        o.message
    );
    assert!(
        o.message.contains("could not be identified"),
        "{}",
        o.message
    );
}

#[test]
fn an_unidentified_group_member_does_not_make_the_group_viable() {
    let f = with_device(
        cc_gpu_node(with_gpu(
            snp_host(0x11, "AMD EPYC 9654"),
            "0000:41:00.0",
            12,
            Some("vfio-pci"),
        )),
        "0000:41:00.1",
        12,
        "0x144d",
        "0x010802",
        Some("nvme"),
    )
    .denied("sys/bus/pci/devices/0000:41:00.1/vendor")
    .denied("sys/bus/pci/devices/0000:41:00.1/device");
    let r = f.probe();
    is_skip(&r, CheckId::GpuGroupViable);
    assert!(outcome(&r, CheckId::GpuGroupViable)
        .message
        .contains("0000:41:00.1"));
}

#[test]
fn rmp_msrs_not_read_are_not_rmp_reserved_false_and_snpen_settles_them() {
    let r = snp_host(1, "AMD EPYC 7763")
        .msr(0xC001_0132, marker("denied"))
        .msr(0xC001_0133, marker("denied"))
        .probe();
    let o = outcome(&r, CheckId::SnpBiosMsr);
    // SNPEn=1 is only ever written after the RMP range was configured.
    assert_eq!(o.status, Status::Pass, "{}", o.message);
    assert!(
        o.message.contains("not observable")
            && o.message.contains("SNPEn is only set once the RMP")
            && !o.message.contains("reserved=false"),
        "{}",
        o.message
    );
    assert_eq!(
        st(&r, CheckId::SnpReady),
        Status::Pass,
        "cpuinfo proves the BIOS part"
    );
}

#[test]
fn snpen_clear_with_rmp_msrs_not_read_still_fails_on_the_bit() {
    let r = snp_host(1, "AMD EPYC 7763")
        .msr(0xC001_0010, Hw::Value(1 << 23))
        .msr(0xC001_0132, marker("denied"))
        .msr(0xC001_0133, marker("denied"))
        .probe();
    let o = outcome(&r, CheckId::SnpBiosMsr);
    assert_eq!(o.status, Status::Fail, "{}", o.message);
    assert!(
        o.message.contains("SNPEn=false") && o.message.contains("RMP range not observable"),
        "{}",
        o.message
    );
}

#[test]
fn cvm_checks_in_a_vm_with_nothing_readable_cannot_tell() {
    // A VM (hypervisor bit set), no SEV_STATUS MSR access, kernel log denied.
    let mut f = snp_host(1, "AMD EPYC 7763").cpuid(1, [0, 0, 1 << 31, 0]);
    f.hw.msr.remove("0xc0010131");
    f.hw.kmsg = Some(marker("denied"));
    let r = f.probe();
    is_skip(&r, CheckId::CvmSnp);
    let s = outcome(&r, CheckId::CvmSummary);
    assert_eq!(s.status, Status::Unknown, "{}", s.message);
    assert!(s
        .blocked_by
        .iter()
        .any(|b| b.check == CheckId::CvmSnp && b.kind == BlockKind::NotObserved));
    // An Intel VM whose CPUID leaves could not be read.
    let mut t = tdx_host()
        .cpuid(1, [0, 0, 1 << 31, 0])
        .cpuid_unavailable(0, "not_observable")
        .cpuid_unavailable(0x21, "not_observable");
    t.hw.kmsg = Some(marker("denied"));
    is_skip(&t.probe(), CheckId::CvmTdx);
}

#[test]
fn tdx_host_with_kvm_intel_tdx_unread_is_unknown_not_yes() {
    let r = tdx_host()
        .denied("sys/module/kvm_intel/parameters/tdx")
        .vm_types_unknown()
        .probe();
    assert_eq!(st(&r, CheckId::TdxCpuinfo), Status::Pass);
    assert_eq!(st(&r, CheckId::TdxKmsg), Status::Pass);
    let o = outcome(&r, CheckId::TdxReady);
    assert_eq!(o.status, Status::Unknown, "{}", o.message);
    assert!(o.message.contains("KVM with TDX"), "{}", o.message);
    assert!(o
        .blocked_by
        .iter()
        .any(|b| b.check == CheckId::TdxKvmParam && b.kind == BlockKind::NotObserved));
    assert!(!r.ready());
    let v = tdx_host()
        .denied("sys/module/kvm_intel/parameters/tdx")
        .vm_types_unknown()
        .probe_profile("x86_64", Arch::Amd64);
    assert!(!v.ready(), "unknown readiness is not ready (exit 1)");
}

#[test]
fn tdx_vm_type_proves_kvm_tdx_when_the_parameter_is_unread() {
    let r = tdx_host()
        .denied("sys/module/kvm_intel/parameters/tdx")
        .probe();
    assert_eq!(st(&r, CheckId::TdxKvmVmtype), Status::Pass);
    assert_eq!(st(&r, CheckId::TdxReady), Status::Pass);
}

#[test]
fn snp_host_without_observed_iommu_snp_support_is_unknown() {
    // KVM's own SNP verdict would settle the IOMMU part (readiness_evidence.rs): here it
    // is not observable either.
    let r = snp_host(1, "AMD EPYC 7763")
        .rm("sys/class/iommu/ivhd0/amd-iommu/features")
        .denied("sys/module/kvm_amd/parameters/sev_snp")
        .vm_types_unknown()
        .kmsg(&["SEV-SNP: RMP table physical range [0x1 - 0x2]"], true)
        .probe();
    is_skip(&r, CheckId::SnpIommu);
    assert_eq!(st(&r, CheckId::SnpBiosCpuinfo), Status::Pass);
    assert_eq!(st(&r, CheckId::SnpReady), Status::Unknown);
}

#[test]
fn snp_host_whose_iommu_lacks_snpsup_is_not_ready() {
    let r = snp_host(1, "AMD EPYC 7763")
        .file(
            "sys/class/iommu/ivhd0/amd-iommu/features",
            "25bf732ef82a2eef:0000000000000001",
        )
        .probe();
    let o = outcome(&r, CheckId::SnpIommu);
    assert_eq!(o.status, Status::Fail, "{}", o.message);
    assert!(o.message.contains("SNPSup"), "{}", o.message);
    assert_eq!(st(&r, CheckId::SnpReady), Status::Fail);
}

#[test]
fn a_dev_node_of_unknown_existence_is_not_absent() {
    let r = snp_host(1, "AMD EPYC 7763")
        .device_unavailable("dev/sev", "not_observable")
        .probe();
    is_skip(&r, CheckId::SnpDev);
    assert_ne!(st(&r, CheckId::SnpReady), Status::Fail);
}

#[test]
fn cpuinfo_with_a_vendor_but_no_flags_leaves_the_flags_unknown() {
    let r = snp_host(1, "AMD EPYC 7763")
        .file(
            "proc/cpuinfo",
            "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC 7763",
        )
        .probe();
    is_skip(&r, CheckId::SnpBiosCpuinfo);
    let o = outcome(&r, CheckId::SnpBiosCpuinfo);
    assert!(
        o.evidence
            .iter()
            .any(|e| e.value.contains("not observable")),
        "{:?}",
        o.evidence
    );
}

#[test]
fn one_cpuid_leaf_unknown_while_others_are_known() {
    let r = snp_host(1, "AMD EPYC 7763")
        .cpuid_unavailable(0x8000_001F, "not_observable")
        .probe();
    is_skip(&r, CheckId::SnpCpuid);
    assert_eq!(
        st(&r, CheckId::HostVirt),
        Status::Pass,
        "leaf 1 is still known"
    );
}

#[test]
fn kvm_api_known_and_vm_types_unknown() {
    let r = snp_host(1, "AMD EPYC 7763").vm_types_unknown().probe();
    assert_eq!(st(&r, CheckId::KvmApi), Status::Pass);
    assert!(outcome(&r, CheckId::KvmApi)
        .message
        .contains("VM types not observable"));
    is_skip(&r, CheckId::SnpKvmVmtype);
}

#[test]
fn a_not_observable_file_does_not_say_needs_root() {
    let r = snp_host(1, "AMD EPYC 7763")
        .unavailable("sys/module/kvm_amd/parameters/sev_snp", "not_observable")
        .probe();
    let o = outcome(&r, CheckId::SnpKvmParams);
    assert_eq!(o.skip_reason, Some(SkipReason::NotObservable));
    assert!(!o.message.contains("root"), "{}", o.message);
}

#[test]
fn a_read_error_is_not_a_fail() {
    let r = snp_host(1, "AMD EPYC 7763")
        .unavailable("sys/module/kvm_amd/parameters/sev_snp", "error")
        .probe();
    is_skip(&r, CheckId::SnpKvmParams);
}

#[test]
fn hw_json_accepts_unavailable_markers_for_devices_and_cpuid_leaves() {
    let f = Fixture::empty();
    let hw = f.path().join("hw.json");
    std::fs::write(
        &hw,
        r#"{"cpuid": {"0x1/0": [1,2,3,4], "0x21/0": {"unavailable": "not_observable"}},
            "devices": {"dev/kvm": "char", "dev/sev": {"unavailable": "denied", "detail": "EACCES"}},
            "kvm": {"api_version": 12, "vm_types": null},
            "unavailable": {"sys/module": {"unavailable": "not_observable", "detail": "masked"}}}"#,
    )
    .unwrap();
    let h = cococtl_probe::host::fixture::FixtureHost::load(&f.root(), Some(&hw)).unwrap();
    use cococtl_probe::host::Host;
    use cococtl_probe::input::{Input, Reading};
    assert!(matches!(
        h.read(&Input::cpuid(0x21, 0)),
        Reading::NotObservable { .. }
    ));
    assert!(matches!(
        h.read(&Input::device("dev/sev")),
        Reading::Denied { .. }
    ));
    assert!(matches!(
        h.read(&Input::dir("sys/module")),
        Reading::NotObservable { .. }
    ));
    assert!(matches!(h.read(&Input::Kvm), Reading::Kvm(k) if k.vm_types.is_none()));
    let _ = Hw::<u64>::Value(0);
}
