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
