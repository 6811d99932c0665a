//! One KVM verdict (`docs/probe-checks.md#kvm-verdict`): `cococtl check`'s KVM column, each
//! shim's reason and the recommendation never disagree (issue 18 item 9), and a KVM that
//! was only not observable is never reported as absent (issue 17 item 6).

mod common;

use cococtl_probe::fleet::{self, NodeFacts, Probe, ProfileSpec};
use cococtl_probe::publish;
use cococtl_probe::report::Report;
use common::*;

fn hosts() -> Vec<(&'static str, Fixture)> {
    vec![
        ("kvm ok", snp_host(1, "AMD EPYC 7763")),
        (
            "no vendor module",
            snp_host(1, "AMD EPYC 7763")
                .rm("sys/module/kvm_amd")
                .dir("sys/module/kvm_pvm"),
        ),
        (
            "no /dev/kvm",
            snp_host(1, "AMD EPYC 7763").no_device("dev/kvm"),
        ),
        (
            "/dev/kvm not observable",
            snp_host(1, "AMD EPYC 7763").device_unavailable("dev/kvm", "not_observable"),
        ),
        (
            "/dev/kvm denied",
            snp_host(1, "AMD EPYC 7763").device_unavailable("dev/kvm", "denied"),
        ),
    ]
}

fn row_and_reasons(r: &Report) -> (String, Vec<String>) {
    let s = publish::summarize(r, None);
    let spec = ProfileSpec {
        name: "x86_64".into(),
        shims: [(
            "amd64".to_string(),
            vec!["qemu-snp".to_string(), "qemu-coco-dev".to_string()],
        )]
        .into(),
    };
    let f = fleet::assess(
        &[NodeFacts {
            name: "n1".into(),
            arch: "amd64".into(),
            kernel: "6.12.8".into(),
            runtime: "containerd://2.1.9".into(),
            probe: Probe::Summary(Box::new(s)),
        }],
        Some(&spec),
    );
    let why = f
        .runtime_classes
        .iter()
        .flat_map(|c| c.not_ready.iter().map(|(_, w)| w.clone()))
        .collect();
    (f.rows[0].kvm.clone(), why)
}

#[test]
fn the_kvm_column_and_the_shims_reasons_agree_on_every_host() {
    for (name, f) in hosts() {
        let r = f.probe();
        let (cell, reasons) = row_and_reasons(&r);
        let blamed = reasons.iter().any(|w| w.contains("KVM"));
        assert_eq!(
            cell == "yes",
            !blamed,
            "{name}: KVM column `{cell}` but shim reasons {reasons:?}"
        );
        if cell != "yes" {
            // The column names the check the reasons name.
            let id = cell
                .trim_start_matches(['n', 'o', '?', ' ', '('])
                .trim_end_matches(')');
            assert!(
                reasons.iter().any(|w| w.contains(id)),
                "{name}: `{cell}` vs {reasons:?}"
            );
        }
    }
}

#[test]
fn kvm_only_not_observed_is_never_called_absent() {
    for (name, f) in hosts().into_iter().filter(|(n, _)| n.contains("/dev/kvm ")) {
        let r = f.probe();
        let all: Vec<String> = r
            .recommendation
            .reasons
            .iter()
            .cloned()
            .chain(r.shims.iter().map(|s| s.why.clone()))
            .collect();
        assert!(
            !all.iter().any(|w| w.contains("no /dev/kvm")),
            "{name}: {all:?}"
        );
        assert!(
            r.recommendation
                .reasons
                .iter()
                .any(|w| w.contains("KVM not observable")),
            "{name}: {:?}",
            r.recommendation.reasons
        );
        let (cell, _) = row_and_reasons(&r);
        assert!(cell.starts_with('?'), "{name}: {cell}");
    }
    let r = snp_host(1, "AMD EPYC 7763").no_device("dev/kvm").probe();
    assert!(
        r.recommendation
            .reasons
            .iter()
            .any(|w| w.contains("no /dev/kvm")),
        "{:?}",
        r.recommendation.reasons
    );
}
