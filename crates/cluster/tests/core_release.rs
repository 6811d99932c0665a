//! The release record, inventory diff and prune rule, forbidden upgrades and the
//! uninstall order: pure.

use std::collections::BTreeMap;

use cococtl_cluster::core::inventory::{self, Item, Keep};
use cococtl_cluster::core::release::{
    History, Inputs, InstallStart, Release, Status, UpgradeStart,
};
use cococtl_cluster::core::uninstall::{self, Names, Step};
use cococtl_cluster::core::upgrade::{self, Forbidden};

fn item(kind: &str, ns: Option<&str>, name: &str) -> Item {
    Item {
        group: match kind {
            "DaemonSet" => "apps".into(),
            "RuntimeClass" => "node.k8s.io".into(),
            "ClusterRole" | "ClusterRoleBinding" => "rbac.authorization.k8s.io".into(),
            _ => String::new(),
        },
        version: "v1".into(),
        kind: kind.into(),
        plural: format!("{}s", kind.to_lowercase()),
        namespaced: ns.is_some(),
        namespace: ns.map(str::to_string),
        name: name.into(),
        uid: format!("uid-{name}"),
    }
}

fn release(revision: u32, status: Status) -> Release {
    Release {
        instance: "default".into(),
        namespace: "coco-system".into(),
        revision,
        status,
        description: String::new(),
        inputs: Inputs {
            profile: Some(("x86_64".into(), "shims: {}".into())),
            files: vec![("site.yaml".into(), "debug: true\n".into())],
            sets: vec![],
            kata_version: None,
            namespace: "coco-system".into(),
        },
        values: serde_json::json!({"debug": true}),
        tool_version: "0.1.0".into(),
        kata_version: "4.1.0".into(),
        suffix: String::new(),
        created_namespace: true,
        inventory: vec![item("DaemonSet", Some("coco-system"), "kata-deploy")],
        started: "2026-01-01T00:00:00Z".into(),
        updated: "2026-01-01T00:00:00Z".into(),
    }
}

#[test]
fn a_record_round_trips_through_its_secret_with_type_and_labels() {
    let r = release(3, Status::Deployed);
    let s = r.to_secret();
    assert_eq!(
        s.type_.as_deref(),
        Some("cococtl.confidentialcontainers.org/release.v1")
    );
    assert_eq!(
        s.metadata.name.as_deref(),
        Some("cococtl.release.default.v3")
    );
    let l = s.metadata.labels.clone().unwrap();
    assert_eq!(l["owner"], "cococtl");
    assert_eq!(l["cococtl.confidentialcontainers.org/release"], "default");
    assert_eq!(l["cococtl.confidentialcontainers.org/revision"], "3");
    assert_eq!(
        l["cococtl.confidentialcontainers.org/release-status"],
        "deployed"
    );
    assert_eq!(Release::from_secret(&s).unwrap(), r);
}

#[test]
fn a_secret_without_a_record_is_an_error_not_a_panic() {
    let mut s = release(1, Status::Deployed).to_secret();
    s.data = None;
    assert!(Release::from_secret(&s).is_err());
    s.data = Some([("release".into(), k8s_openapi::ByteString(b"{".to_vec()))].into());
    assert!(Release::from_secret(&s)
        .unwrap_err()
        .to_string()
        .contains("not a cococtl release record"));
}

#[test]
fn install_on_an_empty_history_is_fresh() {
    assert_eq!(History::default().install_start(), InstallStart::Fresh);
}

#[test]
fn an_interrupted_install_is_resumed_with_the_same_revision() {
    for st in [Status::PendingInstall, Status::Failed] {
        let h = History::new(vec![release(1, st)]);
        assert_eq!(
            h.install_start(),
            InstallStart::Resume {
                revision: 1,
                found: st
            }
        );
    }
}

#[test]
fn install_over_a_deployed_release_points_to_upgrade() {
    let h = History::new(vec![
        release(1, Status::Superseded),
        release(2, Status::Deployed),
    ]);
    assert_eq!(
        h.install_start(),
        InstallStart::Installed {
            revision: 2,
            status: Status::Deployed
        }
    );
    // A failed upgrade after a deployment is not an interrupted install.
    let h = History::new(vec![
        release(1, Status::Superseded),
        release(2, Status::Failed),
    ]);
    assert!(matches!(h.install_start(), InstallStart::Installed { .. }));
}

#[test]
fn install_after_an_interrupted_uninstall_takes_a_new_revision() {
    let h = History::new(vec![
        release(1, Status::Superseded),
        release(2, Status::Uninstalling),
    ]);
    assert_eq!(
        h.install_start(),
        InstallStart::Resume {
            revision: 3,
            found: Status::Uninstalling
        }
    );
}

#[test]
fn upgrade_starts_from_the_last_deployed_revision_and_reports_an_interrupted_one() {
    let h = History::new(vec![
        release(1, Status::Superseded),
        release(2, Status::Deployed),
        release(3, Status::PendingUpgrade),
    ]);
    match h.upgrade_start() {
        UpgradeStart::From {
            base,
            revision,
            interrupted,
        } => {
            assert_eq!(base.revision, 2);
            assert_eq!(revision, 4);
            assert_eq!(interrupted.map(|r| r.revision), Some(3));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        History::default().upgrade_start(),
        UpgradeStart::NotInstalled
    );
}

#[test]
fn only_older_deployed_revisions_are_superseded() {
    let h = History::new(vec![
        release(1, Status::Superseded),
        release(2, Status::Deployed),
        release(3, Status::Failed),
        release(4, Status::PendingUpgrade),
    ]);
    assert_eq!(h.to_supersede(4), vec![2]);
}

#[test]
fn history_keeps_the_last_ten_and_never_drops_the_deployed_one() {
    let mut rs: Vec<Release> = (1..=12).map(|i| release(i, Status::Superseded)).collect();
    rs[0].status = Status::Deployed; // revision 1 still deployed (later ones failed)
    let h = History::new(rs);
    // Adding one: keep 9 of the existing 12 → drop 3 oldest, except the deployed one.
    assert_eq!(h.to_drop(1), vec![2, 3]);
    assert_eq!(h.to_drop(0), vec![2]);
    assert!(History::new(vec![release(1, Status::Deployed)])
        .to_drop(1)
        .is_empty());
}

#[test]
fn the_inputs_summary_reads_like_the_command_line() {
    let mut r = release(1, Status::Deployed);
    r.inputs.sets = vec![
        cococtl_cluster::core::release::SetInput {
            string: false,
            arg: "debug=true".into(),
        },
        cococtl_cluster::core::release::SetInput {
            string: true,
            arg: "a=1".into(),
        },
    ];
    assert_eq!(
        r.inputs_summary(),
        "--profile x86_64 -f site.yaml --set debug=true --set-string a=1"
    );
}

#[test]
fn the_inventory_diff_finds_added_kept_and_removed_by_identity_not_version_or_uid() {
    let mut old_rc = item("RuntimeClass", None, "kata-qemu-snp");
    old_rc.version = "v1beta1".into();
    let previous = vec![
        item("Namespace", None, "coco-system"),
        old_rc,
        item("RuntimeClass", None, "kata-qemu-tdx"),
        item(
            "ConfigMap",
            Some("coco-system"),
            "kata-deploy-custom-configs",
        ),
    ];
    let mut planned = vec![
        item("Namespace", None, "coco-system"),
        item("RuntimeClass", None, "kata-qemu-snp"),
        item("RuntimeClass", None, "kata-qemu-coco-dev"),
    ];
    planned.iter_mut().for_each(|i| i.uid.clear());
    let d = inventory::diff(&previous, &planned);
    let names = |v: &[Item]| v.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&d.added), ["kata-qemu-coco-dev"]);
    assert_eq!(names(&d.kept), ["coco-system", "kata-qemu-snp"]);
    // Namespaced first, then cluster-scoped.
    assert_eq!(
        names(&d.removed),
        ["kata-deploy-custom-configs", "kata-qemu-tdx"]
    );
}

#[test]
fn a_namespace_is_pruned_last() {
    let previous = vec![
        item("Namespace", None, "old"),
        item("ClusterRole", None, "r"),
        item("ConfigMap", Some("old"), "c"),
    ];
    let d = inventory::diff(&previous, &[]);
    let kinds: Vec<_> = d.removed.iter().map(|i| i.kind.as_str()).collect();
    assert_eq!(kinds, ["ConfigMap", "ClusterRole", "Namespace"]);
}

#[test]
fn only_objects_still_carrying_this_releases_label_are_pruned() {
    let i = item("ConfigMap", Some("coco-system"), "c");
    let ours: BTreeMap<String, String> = [(
        "cococtl.confidentialcontainers.org/instance".to_string(),
        "default".to_string(),
    )]
    .into();
    let theirs: BTreeMap<String, String> = [(
        "cococtl.confidentialcontainers.org/instance".to_string(),
        "gpu".to_string(),
    )]
    .into();
    let none = BTreeMap::new();
    assert_eq!(
        inventory::may_prune(&i, "default", Some((&ours, "uid-c"))),
        Ok(())
    );
    assert_eq!(inventory::may_prune(&i, "default", None), Err(Keep::Gone));
    assert_eq!(
        inventory::may_prune(&i, "default", Some((&theirs, "uid-c"))),
        Err(Keep::NotOurs {
            found: Some("gpu".into())
        })
    );
    assert_eq!(
        inventory::may_prune(&i, "default", Some((&none, "uid-c"))),
        Err(Keep::NotOurs { found: None })
    );
    assert_eq!(
        inventory::may_prune(&i, "default", Some((&ours, "other"))),
        Err(Keep::Recreated)
    );
}

#[test]
fn an_upgrade_may_not_change_the_suffix_or_the_namespace_and_says_the_way_out() {
    assert!(upgrade::check("", "coco-system", "", "coco-system").is_empty());
    let f = upgrade::check("", "coco-system", "gpu", "kata");
    assert_eq!(f.len(), 2);
    assert!(matches!(&f[0], Forbidden::Suffix { from, to } if from.is_empty() && to == "gpu"));
    let text = f[0].to_string();
    assert!(
        text.contains("(none) → gpu") && text.contains("cococtl uninstall"),
        "{text}"
    );
    let text = f[1].to_string();
    assert!(
        text.contains("coco-system → kata") && text.contains("install -n kata"),
        "{text}"
    );
}

fn names() -> Names {
    Names {
        namespace: "coco-system".into(),
        kata_deploy: "kata-deploy".into(),
        agent: "cococtl-containerd".into(),
    }
}

fn full_inventory() -> Vec<Item> {
    vec![
        item("Namespace", None, "coco-system"),
        item("ServiceAccount", Some("coco-system"), "kata-deploy-sa"),
        item("ClusterRole", None, "kata-deploy-role"),
        item("ClusterRoleBinding", None, "kata-deploy-rb"),
        item("ServiceAccount", Some("coco-system"), "cococtl-containerd"),
        item(
            "ConfigMap",
            Some("coco-system"),
            "cococtl-kata-deploy-state",
        ),
        item("DaemonSet", Some("coco-system"), "cococtl-containerd"),
        item("DaemonSet", Some("coco-system"), "kata-deploy"),
        item("RuntimeClass", None, "kata-qemu-snp"),
        item("RuntimeClass", None, "kata-qemu-tdx"),
    ]
}

fn position(steps: &[Step], f: impl Fn(&Step) -> bool) -> usize {
    steps.iter().position(f).expect("step present")
}

#[test]
fn uninstall_removes_kata_deploy_then_waits_then_the_agent_then_classes_then_rbac() {
    let steps = uninstall::plan(&full_inventory(), &names(), true);
    let refuse = position(&steps, |s| matches!(s, Step::RefuseIfInUse { .. }));
    let kata = position(
        &steps,
        |s| matches!(s, Step::DeleteWorkload(i) if i.name == "kata-deploy"),
    );
    let kata_gone = position(
        &steps,
        |s| matches!(s, Step::WaitPodsGone { selector, .. } if selector == "name=kata-deploy"),
    );
    let agent = position(
        &steps,
        |s| matches!(s, Step::DeleteWorkload(i) if i.name == "cococtl-containerd"),
    );
    let restored = position(&steps, |s| matches!(s, Step::WaitNodesRestored));
    let classes = position(&steps, |s| {
        matches!(
            s,
            Step::Delete {
                what: "RuntimeClasses",
                ..
            }
        )
    });
    let rest = position(
        &steps,
        |s| matches!(s, Step::Delete { items, .. } if items.iter().any(|i| i.kind == "ClusterRole")),
    );
    let nodes = position(&steps, |s| matches!(s, Step::CleanNodes));
    let ns = position(&steps, |s| matches!(s, Step::DeleteNamespace(_)));
    let records = position(&steps, |s| matches!(s, Step::DeleteRecords));
    let verify = position(&steps, |s| matches!(s, Step::VerifyNothingLeft));
    let order = [
        refuse, kata, kata_gone, agent, restored, classes, rest, nodes, ns, records, verify,
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "{order:?}\n{steps:#?}"
    );
}

#[test]
fn the_kept_rbac_is_deleted_only_after_the_kata_deploy_pods_are_gone() {
    let steps = uninstall::plan(&full_inventory(), &names(), true);
    let gone = position(&steps, |s| matches!(s, Step::WaitPodsGone { .. }));
    for (i, s) in steps.iter().enumerate() {
        if let Step::Delete { items, .. } = s {
            if items
                .iter()
                .any(|i| i.name.starts_with("kata-deploy-r") || i.name == "kata-deploy-sa")
            {
                assert!(i > gone);
            }
        }
    }
}

#[test]
fn the_namespace_is_kept_when_the_release_did_not_create_it() {
    let steps = uninstall::plan(&full_inventory(), &names(), false);
    assert!(!steps.iter().any(|s| matches!(s, Step::DeleteNamespace(_))));
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, Step::ReleaseNamespace(i) if i.name == "coco-system")),
        "its labels are given up"
    );
    // ...and it is not deleted as one of the "remaining objects" either.
    assert!(!steps.iter().any(
        |s| matches!(s, Step::Delete { items, .. } if items.iter().any(|i| i.kind == "Namespace"))
    ));
}

#[test]
fn without_the_agent_there_is_no_restore_wait() {
    let inv: Vec<Item> = full_inventory()
        .into_iter()
        .filter(|i| i.name != "cococtl-containerd")
        .collect();
    let steps = uninstall::plan(&inv, &names(), true);
    assert!(!steps.iter().any(|s| matches!(s, Step::WaitNodesRestored)));
}

#[test]
fn an_empty_inventory_still_waits_for_leftover_pods_and_verifies() {
    let steps = uninstall::plan(&[], &names(), true);
    assert!(
        matches!(steps[0], Step::RefuseIfInUse { ref runtime_classes } if runtime_classes.is_empty())
    );
    assert!(steps.iter().any(|s| matches!(s, Step::WaitPodsGone { .. })));
    assert!(matches!(steps.last(), Some(Step::VerifyNothingLeft)));
}

mod fielddiff {
    use cococtl_cluster::core::fielddiff::diff;
    use serde_json::json;

    #[test]
    fn changed_added_and_removed_fields_are_listed_by_path() {
        let old = json!({"spec": {"a": 1, "list": [{"image": "x:1"}], "gone": "y"}, "metadata": {"labels": {"k": "v"}}});
        let new = json!({"spec": {"a": 2, "list": [{"image": "x:2"}], "new": true}, "metadata": {"labels": {"k": "v"}}});
        let d = diff(&old, &new);
        let lines: Vec<String> = d
            .iter()
            .map(|c| format!("{} {:?} {:?}", c.path, c.old, c.new))
            .collect();
        assert_eq!(
            lines,
            [
                ".spec.a Some(\"1\") Some(\"2\")",
                ".spec.gone Some(\"y\") None",
                ".spec.list[0].image Some(\"x:1\") Some(\"x:2\")",
                ".spec.new None Some(\"true\")",
            ]
        );
    }

    #[test]
    fn server_owned_metadata_and_status_are_not_changes() {
        let old = json!({"metadata": {"resourceVersion": "1", "managedFields": [1], "generation": 1, "uid": "a"}, "status": {"x": 1}});
        let new = json!({"metadata": {"resourceVersion": "2", "managedFields": [2], "generation": 2, "uid": "a"}, "status": {"x": 2}});
        assert!(diff(&old, &new).is_empty());
    }

    #[test]
    fn a_list_of_another_length_is_one_change() {
        let d = diff(&json!({"a": [1]}), &json!({"a": [1, 2]}));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].path, ".a");
    }
}

#[test]
fn the_prune_baseline_includes_what_failed_attempts_applied_after_the_deployed_revision() {
    let mut r1 = release(1, Status::Superseded);
    r1.inventory = vec![item("ConfigMap", Some("coco-system"), "very-old")];
    let r2 = release(2, Status::Deployed);
    let mut r3 = release(3, Status::Failed);
    r3.inventory = vec![item("RuntimeClass", None, "kata-qemu-snp-debug")];
    let h = History::new(vec![r1, r2, r3]);
    let names: Vec<String> = h.prune_baseline().into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["kata-qemu-snp-debug", "kata-deploy"]);
}
