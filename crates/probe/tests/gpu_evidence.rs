//! GPU verdicts from the evidence sysfs gives (`docs/probe-checks.md#gpu-inventory`): an
//! unreadable `physfn` link is not a virtual function.

mod common;

use cococtl_probe::check::{Facts, Status};
use cococtl_probe::id::CheckId;
use common::*;

const BDF: &str = "0000:41:00.0";

#[test]
fn an_unreadable_physfn_link_leaves_the_gpu_a_physical_function_and_says_so() {
    for kind in ["not_observable", "error"] {
        let r = with_gpu(snp_host(1, "AMD EPYC 7763"), BDF, 7, Some("vfio-pci"))
            .unavailable(&format!("sys/bus/pci/devices/{BDF}/physfn"), kind)
            .probe();
        let o = &r.get(CheckId::GpuInventory).unwrap().outcome;
        assert_eq!(o.status, Status::Pass, "{kind}: {}", o.message);
        assert!(
            matches!(o.facts, Some(Facts::Gpus { count: 1, .. })),
            "{kind}: {:?}",
            o.facts
        );
        assert!(
            o.evidence
                .iter()
                .any(|e| e.value.contains("taken as a physical function")),
            "{kind}: {:?}",
            o.evidence
        );
        assert_eq!(
            r.get(CheckId::GpuVfioBound).unwrap().outcome.status,
            Status::Pass
        );
    }
    let r = with_gpu(snp_host(1, "AMD EPYC 7763"), BDF, 7, Some("vfio-pci"))
        .denied(&format!("sys/bus/pci/devices/{BDF}/physfn"))
        .probe();
    assert_eq!(
        r.get(CheckId::GpuInventory).unwrap().outcome.status,
        Status::Pass
    );
}

#[test]
fn sriov_files_make_the_assumption_unnecessary() {
    let r = with_gpu(snp_host(1, "AMD EPYC 7763"), BDF, 7, Some("vfio-pci"))
        .unavailable(
            &format!("sys/bus/pci/devices/{BDF}/physfn"),
            "not_observable",
        )
        .file(&format!("sys/bus/pci/devices/{BDF}/sriov_totalvfs"), "16")
        .probe();
    let o = &r.get(CheckId::GpuInventory).unwrap().outcome;
    assert_eq!(o.status, Status::Pass, "{}", o.message);
    assert!(!o.evidence.iter().any(|e| e.value.contains("taken as")));
}

#[test]
fn a_readable_physfn_link_is_still_a_virtual_function() {
    let r = with_gpu(snp_host(1, "AMD EPYC 7763"), BDF, 7, Some("vfio-pci"))
        .link(
            &format!("sys/bus/pci/devices/{BDF}/physfn"),
            "../0000:40:00.0",
        )
        .probe();
    assert_ne!(
        r.get(CheckId::GpuInventory).unwrap().outcome.status,
        Status::Pass
    );
}

#[test]
fn pre_hopper_gpus_are_not_capable_as_a_warning_and_keep_the_cc_gpu_shims_off() {
    for (device, family) in [
        ("0x1db4", "Volta"),
        ("0x20b5", "Ampere"),
        ("0x2236", "Ampere"),
    ] {
        let r = cc_gpu_node(with_gpu(
            snp_host(0x11, "AMD EPYC 9654"),
            BDF,
            12,
            Some("vfio-pci"),
        ))
        .file(&format!("sys/bus/pci/devices/{BDF}/device"), device)
        .probe();
        let o = &r.get(CheckId::GpuCcCapable).unwrap().outcome;
        assert_eq!(o.status, Status::Warn, "{device}: {}", o.message);
        assert!(o.message.contains(family), "{device}: {}", o.message);
        assert!(
            !r.recommendation
                .blocking
                .iter()
                .any(|b| b.starts_with("gpu.cc_capable")),
            "{device}: not a failure"
        );
        assert!(
            r.shims
                .iter()
                .all(|s| !(s.shim == "qemu-nvidia-gpu-snp" && s.ready)),
            "{device}"
        );
    }
}

#[test]
fn se_cmdline_unreadable_with_prot_virt_host_1_is_not_a_missing_prot_virt() {
    let r = se_host().denied("proc/cmdline").probe();
    let o = &r.get(CheckId::SeCmdline).unwrap().outcome;
    assert_eq!(o.status, Status::Pass, "{}", o.message);
    assert!(!o.message.contains("no prot_virt=1"), "{}", o.message);
    let r = se_host()
        .denied("proc/cmdline")
        .file("sys/firmware/uv/prot_virt_host", "0")
        .probe();
    assert_eq!(
        r.get(CheckId::SeCmdline).unwrap().outcome.status,
        Status::Skip
    );
}

#[test]
fn gpu_cc_mode_says_the_register_was_not_read_and_why_whatever_the_labels() {
    let with = cc_gpu_node(with_gpu(
        snp_host(0x11, "AMD EPYC 9654"),
        BDF,
        12,
        Some("vfio-pci"),
    ))
    .probe();
    let mut without = with_gpu(snp_host(0x11, "AMD EPYC 9654"), BDF, 12, Some("vfio-pci"));
    without.hw.node_labels = None;
    let bare = with_gpu(snp_host(0x11, "AMD EPYC 9654"), BDF, 12, Some("vfio-pci"))
        .labels(&[])
        .probe();
    for r in [with, without.probe(), bare] {
        let o = &r.get(CheckId::GpuCcMode).unwrap().outcome;
        assert!(
            o.evidence
                .iter()
                .any(|e| e.source.contains("BAR0") && e.value.starts_with("not read")),
            "{}: {:?}",
            o.message,
            o.evidence
        );
    }
}
