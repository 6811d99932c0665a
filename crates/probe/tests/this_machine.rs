//! This project's own VM, captured with `cococtl probe capture`: the real negative case (an
//! AMD VM whose /dev/kvm is served by kvm_pvm, no TEE). The probe must point it to peer-pods.

use std::path::Path;

use cococtl_probe::check::Status;
use cococtl_probe::host::fixture::FixtureHost;

fn host() -> FixtureHost {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/this-machine");
    FixtureHost::load(&dir.join("root"), Some(&dir.join("hw.json"))).unwrap()
}

#[test]
fn captured_ci_vm_is_a_negative_case_pointed_to_peer_pods() {
    let r = cococtl_probe::probe(&host(), None);
    assert!(r.defects.is_empty(), "{:?}", r.defects);
    let st = |id: &str| r.check(id).unwrap().outcome.status;
    assert_eq!(st("kvm.present"), Status::Pass);
    assert_eq!(st("kvm.vendor_module"), Status::Fail);
    assert!(r
        .check("kvm.vendor_module")
        .unwrap()
        .outcome
        .message
        .contains("kvm_pvm"));
    assert_eq!(st("snp.ready"), Status::Fail);
    assert_eq!(st("tdx.ready"), Status::Skip);
    assert_eq!(r.recommendation.profile.as_deref(), Some("remote"));
}

#[test]
fn captured_ci_vm_is_not_ready_for_the_x86_64_profile() {
    let shims = cococtl_profile::builtin::enabled_shims(
        cococtl_profile::builtin::source("x86_64").unwrap(),
    )
    .unwrap();
    let p = cococtl_probe::recommend::ProfileShims {
        profile: "x86_64".into(),
        arch: Some(cococtl_core::Arch::Amd64),
        shims: shims[&cococtl_core::Arch::Amd64].clone(),
    };
    let r = cococtl_probe::probe(&host(), Some(p));
    assert!(!r.ready());
    assert!(r.profile.unwrap().shims.iter().all(|s| !s.ready));
}
