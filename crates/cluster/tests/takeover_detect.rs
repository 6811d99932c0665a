//! Take-over detection and plan against the brownfield captures
//! (tests/fixtures/brownfield/, copied from real kube-apiserver captures): each starting point
//! is recognised as what it is, with its owner, objects, nodes and RuntimeClasses, and the
//! plan text per starting point matches tests/golden/takeover/<folder>.txt exactly.
//! Regenerate the golden files with `scripts/update-golden` (UPDATE_GOLDEN=1, refused
//! under CI), as crates/cli/tests/render.rs does.

use std::path::{Path, PathBuf};

use cococtl_cluster::core::takeover::{
    self, detect, plan, render, FoundInstall, Inputs, InstallKind, Target,
};
use serde_json::{json, Value};

const FOLDERS: [&str; 12] = [
    "01-helm-kata-deploy-4.1.0-kube-system",
    "02-helm-kata-deploy-4.1.0-suffix-coco-kata-system",
    "03a-helm-coco-0.16.0-coco-system",
    "03b-helm-coco-0.16.0-custom-containerd",
    "03c-helm-coco-0.16.0-uninstalled",
    "03d-helm-coco-0.16.0-custom-containerd-uninstalled",
    "04a-helm-kata-deploy-4.1.0-uninstalled-rbac-kept",
    "04b-helm-kata-deploy-4.1.0-uninstalled-clean",
    "05-manifests-kata-deploy-3.21.0-kube-system",
    "06-operator-v0.17.0-ccruntime-sample",
    "06b-operator-v0.17.0-ccruntime-deleting",
    "06c-operator-v0.17.0-ccruntime-deleted",
];

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/brownfield")
}

fn items(folder: &str, file: &str) -> Vec<Value> {
    let p = fixture_dir().join(folder).join(file);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let v: Value = serde_json::from_str(&text).unwrap();
    v["items"].as_array().unwrap().clone()
}

fn inputs(folders: &[&str]) -> Inputs {
    let mut all = vec![];
    for f in folders {
        all.extend(items(f, "objects.json"));
    }
    // The nodes of the first folder (every capture has the same two nodes).
    all.extend(items(folders[0], "nodes.json"));
    Inputs::from_items(all.iter())
}

fn found(folder: &str) -> Vec<FoundInstall> {
    let (f, errors) = detect(&inputs(&[folder]));
    assert!(errors.is_empty(), "{folder}: {errors:?}");
    f
}

fn target() -> Target {
    // What the default cococtl profile plans (a subset of the old names, and one new one),
    // so the plan shows both RuntimeClasses that stay and ones that disappear.
    Target {
        namespace: "cococtl-system".into(),
        runtime_classes: vec![
            "kata-qemu-coco-dev".into(),
            "kata-qemu-snp".into(),
            "kata-qemu-tdx".into(),
            "kata-qemu-nvidia-gpu-snp".into(),
        ],
        drain: false,
    }
}

fn names(f: &FoundInstall, kind: &str) -> Vec<String> {
    f.objects
        .iter()
        .filter(|o| o.kind == kind)
        .map(|o| o.name.clone())
        .collect()
}

fn count(f: &FoundInstall, kind: &str) -> usize {
    names(f, kind).len()
}

fn one(folder: &str) -> FoundInstall {
    let f = found(folder);
    assert_eq!(
        f.len(),
        1,
        "{folder}: {:#?}",
        f.iter().map(FoundInstall::title).collect::<Vec<_>>()
    );
    f.into_iter().next().unwrap()
}

const NODES: [&str; 2] = ["bf-node-1", "bf-node-2"];

#[test]
fn helm_kata_deploy_4_1_0_default_is_read_from_the_release_payload() {
    let f = one(FOLDERS[0]);
    let InstallKind::HelmKataDeploy {
        release,
        suffix,
        image,
    } = &f.kind
    else {
        panic!("{:?}", f.kind)
    };
    assert_eq!(
        (
            release.name.as_str(),
            release.namespace.as_str(),
            release.chart.as_str()
        ),
        ("kata-deploy", "kube-system", "kata-deploy")
    );
    assert_eq!(release.chart_version, "4.1.0");
    assert_eq!((release.revision, release.status.as_str()), (1, "deployed"));
    assert_eq!(
        release.values,
        Value::Null,
        "default values: no user config"
    );
    assert_eq!(suffix, &None);
    assert_eq!(
        image.as_deref(),
        Some("quay.io/kata-containers/kata-deploy:4.1.0")
    );
    assert_eq!(count(&f, "RuntimeClass"), 25);
    assert_eq!(f.runtime_classes.len(), 25);
    assert_eq!(names(&f, "DaemonSet"), ["kata-deploy"]);
    assert_eq!(names(&f, "ServiceAccount"), ["kata-deploy-sa"]);
    assert_eq!(names(&f, "ClusterRole"), ["kata-deploy-role"]);
    assert_eq!(names(&f, "ClusterRoleBinding"), ["kata-deploy-rb"]);
    assert_eq!(names(&f, "ConfigMap"), ["kata-deploy-kata-deploy-state"]);
    assert_eq!(names(&f, "Secret"), ["sh.helm.release.v1.kata-deploy.v1"]);
    assert_eq!(f.objects.len(), 25 + 6);
    assert_eq!(f.nodes, NODES);
    assert!(f
        .nodes_by
        .contains("kata-deploy.katacontainers.io/default=true"));
}

#[test]
fn helm_kata_deploy_4_1_0_with_a_suffix_names_its_instance() {
    let f = one(FOLDERS[1]);
    let InstallKind::HelmKataDeploy {
        release, suffix, ..
    } = &f.kind
    else {
        panic!("{:?}", f.kind)
    };
    assert_eq!(
        (release.name.as_str(), release.namespace.as_str()),
        ("kata-deploy", "kata-system")
    );
    assert_eq!(release.chart_version, "4.1.0");
    assert_eq!(
        release.values,
        json!({"env": {"multiInstallSuffix": "coco"}})
    );
    assert_eq!(suffix.as_deref(), Some("coco"));
    assert_eq!(count(&f, "RuntimeClass"), 25);
    assert!(
        f.runtime_classes.iter().all(|c| c.ends_with("-coco")),
        "{:?}",
        f.runtime_classes
    );
    assert_eq!(names(&f, "DaemonSet"), ["kata-deploy-coco"]);
    assert_eq!(names(&f, "ServiceAccount"), ["kata-deploy-sa-coco"]);
    assert_eq!(f.nodes, NODES);
    assert!(f
        .nodes_by
        .contains("kata-deploy.katacontainers.io/coco=true"));
    // The suffixed names are cococtl's unsuffixed ones: the plan says the name changes.
    let p = plan(&[f], &target());
    let rc = p.installs[0]
        .steps
        .iter()
        .find(|s| s.starts_with("RuntimeClasses:"))
        .unwrap();
    assert!(rc.contains("the name changes (4, "), "{rc}");
    assert!(rc.contains("kata-qemu-snp-coco → kata-qemu-snp,"), "{rc}");
    assert!(rc.contains("gone for good (21, "), "{rc}");
}

#[test]
fn coco_chart_0_16_0_is_found_with_its_kubectl_made_runtime_classes() {
    for (folder, custom) in [
        (FOLDERS[2], None),
        (
            FOLDERS[3],
            Some("coco-confidential-containers-containerd-installer"),
        ),
    ] {
        let f = one(folder);
        let InstallKind::CocoChart {
            release,
            kata_deploy_version,
            image,
            custom_containerd_job,
        } = &f.kind
        else {
            panic!("{folder}: {:?}", f.kind)
        };
        assert_eq!(
            (release.name.as_str(), release.namespace.as_str()),
            ("coco", "coco-system")
        );
        assert_eq!(
            (release.chart.as_str(), release.chart_version.as_str()),
            ("confidential-containers", "0.16.0")
        );
        assert_eq!(kata_deploy_version.as_deref(), Some("3.22.0"), "{folder}");
        assert_eq!(
            image.as_deref(),
            Some("quay.io/kata-containers/kata-deploy:3.22.0")
        );
        assert_eq!(custom_containerd_job.as_deref(), custom, "{folder}");
        assert_eq!(
            count(&f, "RuntimeClass"),
            5,
            "{folder}: {:?}",
            f.runtime_classes
        );
        assert_eq!(names(&f, "DaemonSet"), ["kata-as-coco-runtime"]);
        assert_eq!(names(&f, "ServiceAccount"), ["kata-as-coco-runtime-sa"]);
        assert_eq!(names(&f, "ClusterRole"), ["kata-as-coco-runtime-role"]);
        assert_eq!(names(&f, "Secret"), ["sh.helm.release.v1.coco.v1"]);
        assert_eq!(count(&f, "Job"), usize::from(custom.is_some()), "{folder}");
        assert_eq!(f.nodes, NODES);
        assert!(f.nodes_by.contains("nodeSelector: none"), "{}", f.nodes_by);
    }
}

#[test]
fn an_uninstalled_coco_chart_leaves_only_a_stray_node_label() {
    let f = one(FOLDERS[4]);
    let InstallKind::Leftovers { what, .. } = &f.kind else {
        panic!("{:?}", f.kind)
    };
    assert!(
        what.contains("bf-node-2: katacontainers.io/kata-runtime=true"),
        "{what}"
    );
    assert_eq!(f.nodes, ["bf-node-2"]);
    assert!(f.objects.is_empty());
}

#[test]
fn an_uninstalled_coco_chart_with_custom_containerd_leaves_its_hook_jobs() {
    let all = found(FOLDERS[5]);
    assert_eq!(
        all.len(),
        2,
        "{:#?}",
        all.iter().map(FoundInstall::title).collect::<Vec<_>>()
    );
    // Like 03c, the one-pod post-delete Job did not visit bf-node-2.
    let InstallKind::Leftovers { what, .. } = &all[1].kind else {
        panic!("{:?}", all[1].kind)
    };
    assert!(
        what.contains("bf-node-2: katacontainers.io/kata-runtime=true"),
        "{what}"
    );
    let f = all[0].clone();
    let InstallKind::Leftovers { what, owner } = &f.kind else {
        panic!("{:?}", f.kind)
    };
    assert!(what.contains("hook Jobs"), "{what}");
    assert!(
        owner.contains("Helm release coco (namespace coco-system), uninstalled"),
        "{owner}"
    );
    assert_eq!(
        names(&f, "Job"),
        [
            "coco-confidential-containers-containerd-cleanup",
            "coco-confidential-containers-containerd-installer"
        ]
    );
    assert_eq!(f.objects.len(), 2);
}

#[test]
fn kept_rbac_of_an_uninstalled_kata_deploy_release_is_leftovers() {
    let f = one(FOLDERS[6]);
    let InstallKind::Leftovers { owner, .. } = &f.kind else {
        panic!("{:?}", f.kind)
    };
    assert!(
        owner.contains("Helm release kata-deploy (namespace kube-system), uninstalled"),
        "{owner}"
    );
    assert_eq!(names(&f, "ServiceAccount"), ["kata-deploy-sa"]);
    assert_eq!(names(&f, "ClusterRole"), ["kata-deploy-role"]);
    assert_eq!(names(&f, "ClusterRoleBinding"), ["kata-deploy-rb"]);
    assert_eq!(f.objects.len(), 3);
}

#[test]
fn a_clean_uninstall_leaves_nothing() {
    assert_eq!(found(FOLDERS[7]), vec![]);
}

#[test]
fn the_3_21_0_manifests_are_told_from_the_4_1_0_chart_by_helm_metadata_and_image() {
    let f = one(FOLDERS[8]);
    let InstallKind::ManifestKataDeploy { image, version } = &f.kind else {
        panic!("{:?}", f.kind)
    };
    assert_eq!(image, "quay.io/kata-containers/kata-deploy:latest");
    assert_eq!(version, &None, "`latest` names no version");
    assert!(f.title().contains("applied by hand"), "{}", f.title());
    assert_eq!(count(&f, "RuntimeClass"), 14, "{:?}", f.runtime_classes);
    assert_eq!(names(&f, "DaemonSet"), ["kata-deploy"]);
    assert_eq!(names(&f, "ServiceAccount"), ["kata-deploy-sa"]);
    assert_eq!(names(&f, "ClusterRole"), ["kata-deploy-role"]);
    assert_eq!(names(&f, "ClusterRoleBinding"), ["kata-deploy-rb"]);
    assert_eq!(f.objects.len(), 14 + 4);
    assert_eq!(f.nodes, NODES);
}

#[test]
fn the_operator_is_found_with_its_ccruntime_and_what_it_owns() {
    let f = one(FOLDERS[9]);
    let InstallKind::Operator {
        version,
        ccruntimes,
        deleting,
    } = &f.kind
    else {
        panic!("{:?}", f.kind)
    };
    assert_eq!(version.as_deref(), Some("v0.17.0"));
    assert_eq!(ccruntimes, &["ccruntime-sample"]);
    assert!(!deleting);
    assert_eq!(
        names(&f, "DaemonSet"),
        [
            "cc-operator-daemon-install",
            "cc-operator-daemon-uninstall",
            "cc-operator-pre-install-daemon"
        ]
    );
    assert_eq!(count(&f, "RuntimeClass"), 6, "{:?}", f.runtime_classes);
    assert!(f.runtime_classes.contains(&"kata".to_string()));
    assert_eq!(names(&f, "CcRuntime"), ["ccruntime-sample"]);
    assert_eq!(names(&f, "Deployment"), ["cc-operator-controller-manager"]);
    assert_eq!(
        names(&f, "CustomResourceDefinition"),
        ["ccruntimes.confidentialcontainers.org"]
    );
    assert_eq!(f.nodes, NODES);
    assert!(
        f.nodes_by.contains("node.kubernetes.io/worker="),
        "{}",
        f.nodes_by
    );
}

#[test]
fn an_operator_ccruntime_being_deleted_is_found_as_deleting_and_refused() {
    let f = one(FOLDERS[10]);
    let InstallKind::Operator { deleting, .. } = &f.kind else {
        panic!("{:?}", f.kind)
    };
    assert!(deleting);
    assert_eq!(count(&f, "DaemonSet"), 4);
    assert_eq!(count(&f, "RuntimeClass"), 0);
    let p = plan(&[f], &target());
    assert_eq!(p.refusals.len(), 1, "{:?}", p.refusals);
    assert!(p.refusals[0].contains("being deleted"), "{:?}", p.refusals);
}

#[test]
fn an_operator_without_ccruntime_serves_no_node() {
    let f = one(FOLDERS[11]);
    let InstallKind::Operator {
        ccruntimes,
        deleting,
        ..
    } = &f.kind
    else {
        panic!("{:?}", f.kind)
    };
    assert!(ccruntimes.is_empty() && !deleting);
    assert!(f.nodes.is_empty());
    assert!(plan(&[f], &target()).refusals.is_empty());
}

#[test]
fn a_kata_deploy_daemonset_of_no_known_shape_is_unknown_and_refused() {
    let ds = json!({
        "kind": "DaemonSet",
        "metadata": {"name": "my-kata", "namespace": "tools"},
        "spec": {"template": {"spec": {"containers": [
            {"name": "x", "image": "registry.example/kata-deploy:custom"}
        ]}}}
    });
    let mut all = vec![ds];
    all.extend(items(FOLDERS[0], "nodes.json"));
    let (f, _) = detect(&Inputs::from_items(all.iter()));
    assert_eq!(f.len(), 1);
    let InstallKind::Unknown { reason } = &f[0].kind else {
        panic!("{:?}", f[0].kind)
    };
    assert!(
        reason.contains("tools/my-kata") && reason.contains("not applied with kubectl"),
        "{reason}"
    );
    let p = plan(&f, &target());
    assert!(
        p.refusals.iter().any(|r| r.contains("tools/my-kata")),
        "{:?}",
        p.refusals
    );
}

#[test]
fn two_installs_serving_one_node_are_refused() {
    // The CoCo chart (coco-system) and the 3.21.0 manifests (kube-system), both without a
    // nodeSelector: both serve both nodes.
    let (f, _) = detect(&inputs(&[FOLDERS[2], FOLDERS[8]]));
    let kinds: Vec<u8> = f
        .iter()
        .map(|f| match f.kind {
            InstallKind::CocoChart { .. } => 1,
            InstallKind::ManifestKataDeploy { .. } => 2,
            _ => 9,
        })
        .collect();
    assert_eq!(
        kinds,
        [1, 2],
        "{:#?}",
        f.iter().map(FoundInstall::title).collect::<Vec<_>>()
    );
    let shared = takeover::detect::shared_nodes(&f);
    assert_eq!(
        shared.keys().collect::<Vec<_>>(),
        ["bf-node-1", "bf-node-2"]
    );
    let p = plan(&f, &target());
    assert_eq!(p.refusals.len(), 2, "{:?}", p.refusals);
    assert!(
        p.refusals[0].starts_with("node bf-node-1 is served by 2 installs"),
        "{:?}",
        p.refusals
    );
}

#[test]
fn a_release_secret_that_does_not_decode_is_an_error_not_a_guess() {
    let s = json!({
        "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": "sh.helm.release.v1.x.v1", "namespace": "ns",
                     "labels": {"owner": "helm", "name": "x", "status": "deployed"}},
        "data": {"release": "bm90IGd6aXA="}
    });
    let (f, errors) = detect(&Inputs::from_items([&s]));
    assert!(f.is_empty());
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].to_string().contains("sh.helm.release.v1.x.v1"),
        "{}",
        errors[0]
    );
}

#[test]
fn the_highest_deployed_revision_counts() {
    use base64::Engine;
    use std::io::Write;
    let secret = |rev: u64, status: &str, version: &str| {
        let payload = json!({"name": "kd", "namespace": "ns", "version": rev,
            "info": {"status": status},
            "chart": {"metadata": {"name": "kata-deploy", "version": version}}});
        let mut gz = flate2::write::GzEncoder::new(vec![], flate2::Compression::default());
        gz.write_all(payload.to_string().as_bytes()).unwrap();
        let b = base64::engine::general_purpose::STANDARD;
        let helm = b.encode(gz.finish().unwrap());
        json!({"kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": format!("sh.helm.release.v1.kd.v{rev}"), "namespace": "ns"},
            "data": {"release": b.encode(helm)}})
    };
    let all = [
        secret(1, "superseded", "3.99.0"),
        secret(2, "deployed", "4.1.0"),
        secret(3, "failed", "4.2.0"),
    ];
    let (f, errors) = detect(&Inputs::from_items(all.iter()));
    assert!(errors.is_empty(), "{errors:?}");
    let InstallKind::HelmKataDeploy { release, .. } = &f[0].kind else {
        panic!()
    };
    assert_eq!(
        (release.revision, release.chart_version.as_str()),
        (2, "4.1.0")
    );
    assert_eq!(
        count(&f[0], "Secret"),
        3,
        "every revision's Secret is Helm's record"
    );
    assert!(plan(&f, &target()).refusals.is_empty());

    // Mid-upgrade (no deployed revision): the highest counts, and the take-over waits.
    let (f, _) = detect(&Inputs::from_items([&secret(
        4,
        "pending-upgrade",
        "4.2.0",
    )]));
    let InstallKind::HelmKataDeploy { release, .. } = &f[0].kind else {
        panic!()
    };
    assert_eq!(
        (release.revision, release.status.as_str()),
        (4, "pending-upgrade")
    );
    let p = plan(&f, &target());
    assert_eq!(p.refusals.len(), 1, "{:?}", p.refusals);
    assert!(
        p.refusals[0].contains("is pending-upgrade (revision 4)"),
        "{:?}",
        p.refusals
    );
}

fn updating() -> bool {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!(update && ci), "UPDATE_GOLDEN is refused under CI");
    update
}

#[test]
fn the_plan_text_per_starting_point_matches_its_golden_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/takeover");
    let update = updating();
    let mut failed = vec![];
    // Every starting point, and the two-installs-on-one-node refusal (03a and 05 together).
    let mut cases: Vec<(String, Vec<FoundInstall>)> =
        FOLDERS.iter().map(|f| (f.to_string(), found(f))).collect();
    cases.push((
        "two-installs-03a-and-05".into(),
        detect(&inputs(&[FOLDERS[2], FOLDERS[8]])).0,
    ));
    for (folder, f) in cases {
        let t = target();
        let text = render(&f, &plan(&f, &t), &t);
        let path = dir.join(format!("{folder}.txt"));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let golden = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
        if golden != text {
            failed.push(format!("{folder}:\n--- golden\n{golden}\n+++ now\n{text}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn legacy_runtime_labeler_and_kata_cleanup_daemonsets_are_one_legacy_install() {
    let ds = |name: &str, image: &str| {
        json!({
            "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": "kube-system",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"template": {"spec": {
                "nodeSelector": {"katacontainers.io/kata-runtime": "cleanup"},
                "containers": [{"name": "x", "image": image}]}}}
        })
    };
    let mut all = vec![
        ds("kubelet-kata-cleanup", "katadocker/kata-deploy:1.13.0"),
        ds("runtime-labeler", "katadocker/kata-deploy:1.13.0"),
    ];
    all.extend(items(FOLDERS[8], "nodes.json"));
    let (f, _) = detect(&Inputs::from_items(all.iter()));
    let legacy: Vec<&FoundInstall> = f
        .iter()
        .filter(|f| matches!(f.kind, InstallKind::LegacyKataDeploy { .. }))
        .collect();
    assert_eq!(
        legacy.len(),
        1,
        "{:#?}",
        f.iter().map(FoundInstall::title).collect::<Vec<_>>()
    );
    assert_eq!(
        names(legacy[0], "DaemonSet"),
        ["kubelet-kata-cleanup", "runtime-labeler"]
    );
    // Its nodeSelector picks no node of the capture (they carry kata-runtime=true): the
    // nodes' label is then a leftover of nobody found, not the legacy install's.
    assert!(legacy[0].nodes.is_empty());
    assert!(plan(&f, &target()).refusals.is_empty());
}

#[test]
fn an_old_install_in_cococtls_namespace_keeps_the_namespace() {
    let f = found(FOLDERS[2]);
    let t = Target {
        namespace: "coco-system".into(),
        ..target()
    };
    let p = plan(&f, &t);
    assert!(
        p.installs[0]
            .steps
            .iter()
            .any(|s| s.starts_with("namespace coco-system stays")),
        "{:#?}",
        p.installs[0].steps
    );
    let p = plan(&f, &target());
    assert!(!p.installs[0]
        .steps
        .iter()
        .any(|s| s.starts_with("namespace")));
}

#[test]
fn cococtls_own_install_is_not_someone_elses_and_its_node_labels_are_no_leftovers() {
    let ds = json!({
        "kind": "DaemonSet",
        "metadata": {"name": "kata-deploy", "namespace": "coco-system",
            "labels": {"cococtl.confidentialcontainers.org/instance": "default"}},
        "spec": {"template": {"spec": {"containers": [
            {"name": "x", "image": "quay.io/kata-containers/kata-deploy:4.1.0"}]}}}
    });
    let rc = json!({"kind": "RuntimeClass", "handler": "kata-qemu-snp",
        "metadata": {"name": "kata-qemu-snp",
            "labels": {"cococtl.confidentialcontainers.org/instance": "default"}}});
    // The 05 capture's nodes carry katacontainers.io/kata-runtime=true.
    let mut all = vec![ds, rc];
    all.extend(items(FOLDERS[8], "nodes.json"));
    let (f, _) = detect(&Inputs::from_items(all.iter()));
    assert_eq!(f, vec![]);
    // Without cococtl's DaemonSet the same labels are leftovers of nobody found.
    let (f, _) = detect(&Inputs::from_items(items(FOLDERS[8], "nodes.json").iter()));
    assert_eq!(f.len(), 1);
    assert!(matches!(f[0].kind, InstallKind::Leftovers { .. }));
}

#[test]
fn pods_using_an_installs_runtime_classes_are_listed_when_given() {
    let mut all = items(FOLDERS[0], "objects.json");
    all.extend(items(FOLDERS[0], "nodes.json"));
    all.push(
        json!({"kind": "Pod", "metadata": {"name": "web-0", "namespace": "apps"},
        "spec": {"runtimeClassName": "kata-qemu-snp"}}),
    );
    all.push(
        json!({"kind": "Pod", "metadata": {"name": "plain", "namespace": "apps"},
        "spec": {}}),
    );
    let (f, _) = detect(&Inputs::from_items(all.iter()));
    assert_eq!(f[0].kata_pods, ["apps/web-0"]);
}
