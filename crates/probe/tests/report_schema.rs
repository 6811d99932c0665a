//! The JSON report (schema `cococtl.probe/v1`, `docs/probe-checks.md#schema`) reads back into
//! the same report: `cococtl status`/`check` read what the node agent published.

mod common;

use cococtl_core::Arch;
use cococtl_probe::check::Status;
use cococtl_probe::id::CheckId;
use cococtl_probe::report::Report;
use common::*;

fn round_trip(r: &Report) {
    let json = r.to_json();
    let back = Report::from_json(&json).unwrap();
    assert_eq!(&back, r);
    assert_eq!(back.to_json(), json);
}

#[test]
fn a_ready_gpu_snp_host_report_round_trips() {
    let f = cc_gpu_node(with_gpu(
        snp_host(0x11, "AMD EPYC 9654"),
        "0000:41:00.0",
        12,
        Some("vfio-pci"),
    ));
    round_trip(&f.probe_profile("x86_64", Arch::Amd64));
}

#[test]
fn a_blocked_host_report_with_blockers_and_facts_round_trips() {
    let r = snp_host(1, "AMD EPYC 7763")
        .file("proc/cmdline", "ro iommu=pt")
        .file("sys/firmware/uv/prot_virt_guest", "0")
        .probe();
    let ready = r.get(CheckId::SnpReady).unwrap();
    assert_eq!(ready.outcome.status, Status::Fail);
    assert!(ready
        .outcome
        .blocked_by
        .iter()
        .any(|b| b.check == CheckId::SnpIommu));
    round_trip(&r);
}

#[test]
fn json_field_names_are_those_of_schema_v1() {
    let r = snp_host(1, "AMD EPYC 7763")
        .file("proc/cmdline", "ro iommu=pt")
        .probe();
    let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(v["schema"], "cococtl.probe/v1");
    for key in ["probe_version", "checks", "recommendation"] {
        assert!(v.get(key).is_some(), "{key}");
    }
    let ready = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "snp.ready")
        .unwrap();
    for key in [
        "id",
        "title",
        "group",
        "status",
        "message",
        "evidence",
        "blocked_by",
    ] {
        assert!(ready.get(key).is_some(), "{key} in {ready}");
    }
    assert_eq!(ready["blocked_by"][0]["check"], "snp.iommu");
    assert_eq!(ready["blocked_by"][0]["kind"], "failed");
}

#[test]
fn a_report_of_another_schema_is_refused() {
    let r = snp_host(1, "AMD EPYC 7763").probe();
    let json = r.to_json().replace("cococtl.probe/v1", "cococtl.probe/v9");
    let e = Report::from_json(&json).unwrap_err().to_string();
    assert!(e.contains("cococtl.probe/v9"), "{e}");
}

#[test]
fn an_unknown_check_id_in_a_report_is_refused() {
    let r = snp_host(1, "AMD EPYC 7763").probe();
    let json = r.to_json().replace("\"snp.bios.msr\"", "\"snp.bios.mrs\"");
    assert!(Report::from_json(&json).is_err());
}
