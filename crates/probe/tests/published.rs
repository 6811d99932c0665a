//! What the probe agent publishes on its Node and what `cococtl check` makes of many nodes:
//! labels, the compact annotation and its round trip, change detection, the size bound at
//! 8 GPUs and 4 NVSwitches, a failed probe, and the table over a mixed 1,000-node cluster.

mod common;

use std::collections::BTreeMap;

use cococtl_probe::fleet::{self, NodeFacts, Probe, ProfileSpec};
use cococtl_probe::publish::{self, Capability, Verdict};
use common::*;

fn labels(s: &publish::Summary) -> BTreeMap<String, String> {
    publish::labels(s)
}

fn tdx_guest() -> Fixture {
    tdx_host()
        .cpuid(0, [0x23, 0x756e_6547, 0x6c65_746e, 0x4965_6e69])
        .cpuid(0x21, [0, 0x6574_6e49, 0x2020_2020, 0x5844_546c])
}

fn gpu_box(gpus: usize, nvswitches: usize) -> Fixture {
    let mut f = snp_host(1, "AMD EPYC 9654");
    for i in 0..gpus {
        f = with_gpu(
            f,
            &format!("0000:{:02x}:00.0", 0x41 + i),
            10 + i as u32,
            Some("vfio-pci"),
        );
    }
    for i in 0..nvswitches {
        f = with_device(
            f,
            &format!("0000:{:02x}:00.0", 0xa1 + i),
            60 + i as u32,
            "0x10de",
            "0x068000",
            None,
        );
    }
    cc_gpu_node(f)
}

#[test]
fn an_snp_host_is_labelled_ready_for_snp_and_not_applicable_for_the_others() {
    let s = publish::summarize(&snp_host(1, "AMD EPYC 7763").probe(), None);
    let l = labels(&s);
    assert_eq!(l["probe.cococtl.confidentialcontainers.org/snp"], "ready");
    assert_eq!(
        l["probe.cococtl.confidentialcontainers.org/tdx"],
        "not-applicable"
    );
    assert_eq!(
        l["probe.cococtl.confidentialcontainers.org/se"],
        "not-applicable"
    );
    assert_eq!(
        l["probe.cococtl.confidentialcontainers.org/cvm"],
        "not-applicable"
    );
    assert_eq!(l[publish::PROFILE_LABEL], "x86_64");
    assert!(s.shims["qemu-snp"].ready);
    assert!(!s.shims["qemu-tdx"].ready);
}

#[test]
fn a_blocked_tee_names_what_blocks_it() {
    let r = snp_host(1, "AMD EPYC 7763")
        .file("sys/module/kvm_amd/parameters/sev_snp", "N\n")
        .probe();
    let s = publish::summarize(&r, None);
    let v = &s.verdicts[&Capability::Snp];
    assert_ne!(v.verdict, Verdict::Ready);
    assert!(!v.blocked_by.is_empty(), "{v:?}");
    assert!(
        v.blocked_by.iter().any(|(id, _)| id.starts_with("snp.")),
        "{v:?}"
    );
}

#[test]
fn a_td_guest_is_a_cvm_fit_for_peer_pods() {
    let s = publish::summarize(&tdx_guest().probe(), None);
    assert_eq!(s.verdicts[&Capability::Cvm].verdict, Verdict::Ready);
    assert_eq!(s.cvm_kind.as_deref(), Some("TDX"));
    assert_eq!(s.profile.as_deref(), Some("remote"));
}

#[test]
fn the_annotation_round_trips_and_stays_small_at_8_gpus_and_4_nvswitches() {
    let s = publish::summarize(&gpu_box(8, 4).probe(), Some("run-1"));
    let a = publish::annotation(&s);
    assert_eq!(publish::parse(&a).unwrap(), s);
    assert_eq!(s.gpus.as_ref().and_then(|g| g.count), Some(8));
    // Kubernetes allows 256 KiB for all annotations of an object together.
    assert!(a.len() < 16 * 1024, "{} bytes", a.len());
    println!("annotation at 8 GPUs and 4 NVSwitches: {} bytes", a.len());
}

#[test]
fn nothing_is_patched_when_the_node_already_shows_the_summary() {
    let s = publish::summarize(&se_host().probe(), None);
    let first =
        publish::patch(&BTreeMap::new(), &BTreeMap::new(), &s, false).expect("a first patch");
    let labels_now: BTreeMap<String, String> =
        serde_json::from_value(first["metadata"]["labels"].clone()).unwrap();
    let annotations_now: BTreeMap<String, String> =
        serde_json::from_value(first["metadata"]["annotations"].clone()).unwrap();
    assert!(publish::patch(&labels_now, &annotations_now, &s, false).is_none());
    // Another verdict: patched again.
    let other = publish::summarize(&snp_host(1, "AMD EPYC 7763").probe(), None);
    assert!(publish::patch(&labels_now, &annotations_now, &other, false).is_some());
}

#[test]
fn a_failed_probe_is_published_as_failed_never_as_not_ready() {
    let s = publish::failed("cannot read /host/proc: No such file or directory", None);
    let l = labels(&s);
    for c in Capability::ALL {
        assert_eq!(l[&c.label()], "probe-failed");
    }
    assert_eq!(l[publish::PROFILE_LABEL], "probe-failed");
    let f = fleet::assess(
        &[NodeFacts {
            name: "n1".into(),
            arch: "amd64".into(),
            kernel: "6.8".into(),
            runtime: "containerd://1.7.24".into(),
            probe: Probe::Summary(Box::new(s)),
        }],
        None,
    );
    assert_eq!(fleet::exit_code(&f), 2);
    assert!(fleet::render(&f).contains("the probe failed: cannot read /host/proc"));
}

#[test]
fn another_schema_is_refused_by_name() {
    let s = publish::summarize(&se_host().probe(), None);
    let a = publish::annotation(&s).replace(publish::SUMMARY_SCHEMA, "cococtl.probe-summary/v9");
    let e = publish::parse(&a).unwrap_err().to_string();
    assert!(e.contains("v9"), "{e}");
}

fn node(name: &str, arch: &str, probe: Probe) -> NodeFacts {
    NodeFacts {
        name: name.into(),
        arch: arch.into(),
        kernel: "6.12.0".into(),
        runtime: "containerd://2.1.9".into(),
        probe,
    }
}

/// A mixed cluster: SNP, TDX, SE, GPU and CVM nodes, plus failed and missing probes.
fn mixed(n: usize) -> Vec<NodeFacts> {
    let kinds = [
        (
            "amd64",
            publish::summarize(&snp_host(1, "AMD EPYC 7763").probe(), None),
        ),
        ("amd64", publish::summarize(&tdx_host().probe(), None)),
        ("s390x", publish::summarize(&se_host().probe(), None)),
        ("amd64", publish::summarize(&gpu_box(8, 4).probe(), None)),
        ("amd64", publish::summarize(&tdx_guest().probe(), None)),
    ];
    (0..n)
        .map(|i| {
            let name = format!("node-{i:04}");
            match i % 7 {
                5 => node(&name, "amd64", Probe::Missing),
                6 => node(&name, "amd64", Probe::NotRun("pod not scheduled: 0/1 nodes are available: 1 node(s) had untolerated taint".into())),
                k => {
                    let (arch, s) = &kinds[k % kinds.len()];
                    node(&name, arch, Probe::Summary(Box::new(s.clone())))
                }
            }
        })
        .collect()
}

fn x86_profile() -> ProfileSpec {
    ProfileSpec {
        name: "x86_64".into(),
        shims: BTreeMap::from([(
            "amd64".to_string(),
            vec![
                "qemu-snp".to_string(),
                "qemu-tdx".to_string(),
                "qemu-coco-dev".to_string(),
            ],
        )]),
    }
}

#[test]
fn the_table_says_which_nodes_fit_which_profile_and_why_the_others_do_not() {
    let nodes = mixed(7);
    let f = fleet::assess(&nodes, Some(&x86_profile()));
    let text = fleet::render(&f);
    println!("{text}");
    assert_eq!(f.rows.len(), 7);
    let snp = f
        .runtime_classes
        .iter()
        .find(|c| c.runtime_class == "kata-qemu-snp")
        .unwrap();
    assert!(snp.ready.contains(&"node-0000".to_string()));
    assert!(
        snp.not_ready.iter().any(|(n, _)| n == "node-0005"),
        "a missing probe is named"
    );
    assert!(text.contains("node-0005: no probe result published"));
    assert!(text.contains("node-0006: the probe did not run: pod not scheduled"));
    assert_eq!(fleet::exit_code(&f), 0);
    // The s390x node is not ready for an x86_64-only profile, and says why.
    let se = f.rows.iter().find(|r| r.node == "node-0002").unwrap();
    assert_eq!(se.ready_for_profile, Some(false));
}

#[test]
fn a_thousand_node_cluster_is_assessed_quickly() {
    let nodes = mixed(1000);
    let t = std::time::Instant::now();
    let f = fleet::assess(&nodes, Some(&x86_profile()));
    let text = fleet::render(&f);
    let took = t.elapsed();
    println!(
        "1,000 nodes: assess + render in {took:?}, {} bytes of text",
        text.len()
    );
    assert_eq!(f.rows.len(), 1000);
    assert!(took.as_millis() < 500, "{took:?}");
    let missing = f
        .failures
        .iter()
        .filter(|(_, w)| w.contains("no probe result"))
        .count();
    assert_eq!(missing, (0..1000).filter(|i| i % 7 == 5).count());
}

#[test]
fn tee_labels_follow_the_verdicts_and_are_removed_when_a_tee_stops_being_ready() {
    let snp = publish::summarize(&snp_host(1, "AMD EPYC 7763").probe(), None);
    let p = publish::patch(&BTreeMap::new(), &BTreeMap::new(), &snp, true).unwrap();
    assert_eq!(
        p["metadata"]["labels"]["amd.feature.node.kubernetes.io/snp"],
        "true"
    );
    assert!(p["metadata"]["labels"]["intel.feature.node.kubernetes.io/tdx"].is_null());
    // The node shows it (with cococtl's record that it set it); then the BIOS setting went
    // away: the label is removed (null) and so is the record.
    let (now, now_ann) = shown(&p);
    let blocked = publish::summarize(
        &snp_host(1, "AMD EPYC 7763")
            .file("sys/module/kvm_amd/parameters/sev_snp", "N\n")
            .probe(),
        None,
    );
    let p2 = publish::patch(&now, &now_ann, &blocked, true).unwrap();
    assert_eq!(
        p2["metadata"]["labels"].get("amd.feature.node.kubernetes.io/snp"),
        Some(&serde_json::Value::Null)
    );
    let record = cococtl_core::node_keys::record_key("amd.feature.node.kubernetes.io/snp");
    assert_eq!(
        p2["metadata"]["annotations"].get(&record),
        Some(&serde_json::Value::Null)
    );
    // Without the option the NFD labels are not touched at all.
    let p3 = publish::patch(&BTreeMap::new(), &BTreeMap::new(), &snp, false).unwrap();
    assert!(p3["metadata"]["labels"]
        .get("amd.feature.node.kubernetes.io/snp")
        .is_none());
}

/// The labels and annotations a node shows after a patch onto an empty node.
fn shown(p: &serde_json::Value) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let m = |v: &serde_json::Value| -> BTreeMap<String, String> {
        v.as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
            .collect()
    };
    (
        m(&p["metadata"]["labels"]),
        m(&p["metadata"]["annotations"]),
    )
}

#[test]
fn a_tee_label_nfd_or_the_user_set_is_never_removed_by_the_probe() {
    let blocked = publish::summarize(
        &snp_host(1, "AMD EPYC 7763")
            .file("sys/module/kvm_amd/parameters/sev_snp", "N\n")
            .probe(),
        None,
    );
    for value in ["true", "false"] {
        let now = BTreeMap::from([(
            "amd.feature.node.kubernetes.io/snp".to_string(),
            value.to_string(),
        )]);
        let p = publish::patch(&now, &BTreeMap::new(), &blocked, true).unwrap();
        assert!(
            p["metadata"]["labels"]
                .get("amd.feature.node.kubernetes.io/snp")
                .is_none(),
            "{p}"
        );
    }
}

#[test]
fn every_key_the_probe_agent_writes_is_in_the_core_list() {
    use cococtl_core::node_keys::{listed, Kind};
    let ready = publish::summarize(&snp_host(1, "AMD EPYC 7763").probe(), None);
    let failed = publish::failed("no /dev", None);
    for s in [
        &ready,
        &failed,
        &publish::summarize(&se_host().probe(), None),
    ] {
        // Onto an empty node, and onto the node the first patch left (removals).
        let first = publish::patch(&BTreeMap::new(), &BTreeMap::new(), s, true).unwrap();
        let (l, a) = shown(&first);
        let mut patches = vec![first];
        for other in [&ready, &failed] {
            patches.extend(publish::patch(&l, &a, other, true));
        }
        for p in patches {
            for (kind, field) in [(Kind::Label, "labels"), (Kind::Annotation, "annotations")] {
                for k in p["metadata"][field].as_object().unwrap().keys() {
                    assert!(
                        listed(kind, k).is_some(),
                        "{field} key {k} is not in cococtl_core::node_keys::KEYS"
                    );
                }
            }
        }
    }
}

#[test]
fn the_erofs_column_says_ready_or_names_the_first_missing_prerequisite() {
    let with = |checks: &[(&str, char)]| {
        let mut s = publish::failed("unused", None);
        s.error = None;
        s.checks = checks.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        node("n", "amd64", Probe::Summary(Box::new(s)))
    };
    let all_pass = [
        ("erofs.kernel", 'p'),
        ("erofs.mkfs", 'p'),
        ("erofs.fsverity", 'p'),
    ];
    let cases: Vec<(Vec<(&str, char)>, &str)> = vec![
        (all_pass.to_vec(), "yes"),
        (
            vec![
                ("erofs.kernel", 'p'),
                ("erofs.mkfs", 'w'),
                ("erofs.fsverity", 'p'),
            ],
            "no (erofs.mkfs)",
        ),
        (
            vec![
                ("erofs.kernel", 'f'),
                ("erofs.mkfs", 'p'),
                ("erofs.fsverity", 's'),
            ],
            "no (erofs.kernel)",
        ),
        (
            vec![
                ("erofs.kernel", 'p'),
                ("erofs.mkfs", 'p'),
                ("erofs.fsverity", 'w'),
            ],
            "no (erofs.fsverity)",
        ),
        (
            vec![
                ("erofs.kernel", 's'),
                ("erofs.mkfs", 'p'),
                ("erofs.fsverity", 'p'),
            ],
            "? (erofs.kernel)",
        ),
        // A summary from before erofs.fsverity existed.
        (
            vec![("erofs.kernel", 'p'), ("erofs.mkfs", 'p')],
            "? (erofs.fsverity)",
        ),
    ];
    for (checks, want) in cases {
        let f = fleet::assess(&[with(&checks)], None);
        assert_eq!(f.rows[0].erofs, want, "{checks:?}");
        let text = fleet::render(&f);
        assert!(text.lines().next().unwrap().contains("EROFS"), "{text}");
        assert!(text.contains(want), "{text}");
    }
    // A node without a result: unknown, like every other column.
    let f = fleet::assess(&[node("n", "amd64", Probe::Missing)], None);
    assert_eq!(f.rows[0].erofs, "?");
}
