//! `install --take-over` against the API stand-in seeded with what real installs left on a
//! real kube-apiserver (tests/fixtures/brownfield/), the stand-in playing each old version's
//! own clean-up (kata-deploy 4.x on SIGTERM, the 3.21 manifests' preStop, nothing for 3.22.0
//! until the clean-up DaemonSet runs, the CoCo operator's finalizer): the take-over runs,
//! nothing of the old install is left (objects, node labels, Helm records), and cococtl's
//! release then installs and becomes ready; the same after an interruption at every step,
//! continued from the record.

use std::path::Path;
use std::time::Duration;

use cococtl_cluster::client::Cluster;
use cococtl_cluster::core::release;
use cococtl_cluster::core::takeover::{self, actions, record::Record, InstallKind};
use cococtl_cluster::deploy::{self, Mode, Request};
use cococtl_cluster::observe::Observer;
use cococtl_cluster::spec::ReleaseSpec;
use cococtl_cluster::testing::{ApiServer, Sim};
use cococtl_cluster::{preflight, takeover_run};
use cococtl_manifests::{plan, ClusterFacts};
use cococtl_profile::Inputs;
use serde_json::{json, Value};

#[derive(Default)]
struct Rec(Vec<String>);
impl Observer for Rec {
    fn step(&mut self, what: &str) {
        self.0.push(what.to_string());
    }
    fn line(&mut self, text: &str) {
        self.0.push(format!("  {text}"));
    }
    fn progress(&mut self, _: &cococtl_cluster::core::readiness::Progress) {}
}

const NS: &str = "coco-system";

fn inputs() -> Inputs {
    Inputs {
        profile: Some((
            "x86_64".into(),
            cococtl_profile::builtin_profile("x86_64").unwrap().into(),
        )),
        files: vec![],
        sets: vec![],
        kata_version: None,
        namespace: NS.into(),
    }
}

fn cluster(server: &ApiServer) -> Cluster {
    cococtl_cluster::tls_provider();
    let config = kube::Config::new(server.url.parse().unwrap());
    Cluster::from_client(kube::Client::try_from(config).unwrap(), &server.url)
        .with_patience(Duration::from_secs(5))
}

fn seeded(folder: &str) -> ApiServer {
    let server = ApiServer::start(Sim {
        watch_quiet: Duration::from_millis(400),
        ..Default::default()
    });
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/brownfield")
        .join(folder);
    for file in ["objects.json", "nodes.json"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let list: Value = serde_json::from_str(&text).unwrap();
        assert!(server.seed_list(&list) > 0, "{folder}/{file}");
    }
    server
}

struct Setup {
    spec: ReleaseSpec,
    plan: cococtl_manifests::Plan,
    values: Value,
}

fn setup() -> Setup {
    let r = cococtl_profile::resolve(&inputs()).unwrap();
    let p = plan(&r.config, ClusterFacts::default());
    Setup {
        spec: ReleaseSpec::new(&r.config, &p),
        values: serde_json::to_value(&r.values).unwrap_or_default(),
        plan: p,
    }
}

fn opts(s: &Setup, stop_after: Option<usize>) -> takeover_run::Options<'_> {
    takeover_run::Options {
        namespace: &s.spec.namespace,
        instance: &s.spec.instance,
        max_unavailable: 1,
        timeout: Duration::from_secs(30),
        poll: Duration::from_millis(50),
        stop_after,
    }
}

/// What `install --take-over` does before it installs: detect, record, run (from the record
/// when there is one).
async fn take_over(
    server: &ApiServer,
    s: &Setup,
    stop_after: Option<usize>,
) -> Result<Record, String> {
    take_over_with(server, s, stop_after, false).await
}

async fn take_over_with(
    server: &ApiServer,
    s: &Setup,
    stop_after: Option<usize>,
    drain: bool,
) -> Result<Record, String> {
    let cl = cluster(server);
    let o = opts(s, stop_after);
    let mut rec = match takeover_run::load(&cl, NS)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(r) => r,
        None => {
            let have = cococtl_cluster::takeover::Listed {
                with_pods: true,
                ..Default::default()
            };
            let (found, errors, listed) = cococtl_cluster::takeover::detect_with_inputs(&cl, have)
                .await
                .map_err(|e| e.to_string())?;
            assert!(errors.is_empty(), "{errors:?}");
            let r = Record {
                started: "2026-12-07T10:00:00Z".into(),
                installs: actions::actions(&found, &listed, &s.spec.instance, drain),
                done: 0,
                stopped: None,
            };
            takeover_run::save(&cl, &r, &o)
                .await
                .map_err(|e| e.to_string())?;
            r
        }
    };
    let mut obs = Rec::default();
    takeover_run::run(&cl, &mut rec, &o, &mut obs)
        .await
        .map_err(|e| e.to_string())?;
    takeover_run::forget(&cl, NS)
        .await
        .map_err(|e| e.to_string())?;
    Ok(rec)
}

/// Installs cococtl's release as `install` does after the take-over: preflight (which must
/// no longer find another kata install), then deploy with --wait.
async fn install(server: &ApiServer, s: &Setup) {
    let cl = cluster(server);
    let r = cococtl_profile::resolve(&inputs()).unwrap();
    preflight::run(
        &cl,
        &s.spec,
        &s.plan,
        &cococtl_cluster::core::runtime_versions::needs_of(&r.config),
        r.config.k8s_distribution,
        preflight::Options {
            user_set: false,
            force_conflicts: false,
            profile: "x86_64",
        },
    )
    .await
    .unwrap_or_else(|e| panic!("preflight after the take-over: {e}"));
    let now = || "2026-12-07T10:00:00Z".to_string();
    let req = Request {
        mode: Mode::Install,
        spec: &s.spec,
        plan: &s.plan,
        inputs: release::Inputs {
            profile: inputs().profile,
            files: vec![],
            sets: vec![],
            kata_version: None,
            namespace: NS.into(),
        },
        values: s.values.clone(),
        tool_version: "0.1.0".into(),
        force_conflicts: false,
        wait: Some(Duration::from_secs(30)),
        now: &now,
    };
    let out = deploy::run(&cl, &req, &mut Rec::default())
        .await
        .unwrap_or_else(|f| panic!("install after the take-over: {}", f.error));
    assert!(out.progress.is_some_and(|p| p.failed() == 0));
}

/// What detection finds that still needs work (the operator itself, without a CcRuntime,
/// only stays).
async fn left_over(server: &ApiServer, s: &Setup) -> Vec<String> {
    let cl = cluster(server);
    let (found, _, listed) = cococtl_cluster::takeover::detect_with_inputs(&cl, Default::default())
        .await
        .unwrap();
    let acts = actions::actions(&found, &listed, &s.spec.instance, false);
    found
        .iter()
        .zip(acts)
        .filter(|(_, a)| !a.actions.is_empty())
        .map(|(f, _)| f.title())
        .collect()
}

fn node_labels(server: &ApiServer) -> Vec<(String, String)> {
    server
        .list("/api/v1", "nodes")
        .iter()
        .flat_map(|n| {
            let name = n["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            n["metadata"]["labels"]
                .as_object()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |(k, v)| {
                    (
                        name.clone(),
                        format!("{k}={}", v.as_str().unwrap_or_default()),
                    )
                })
        })
        .collect()
}

/// Every object of the fixture that the found install owned, by (plural, ns, name).
fn old_objects(folder: &str) -> Vec<(String, String, String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/brownfield")
        .join(folder);
    let text = std::fs::read_to_string(root.join("objects.json")).unwrap();
    let list: Value = serde_json::from_str(&text).unwrap();
    let mut items = list["items"].as_array().unwrap().clone();
    let text = std::fs::read_to_string(root.join("nodes.json")).unwrap();
    let nodes: Value = serde_json::from_str(&text).unwrap();
    items.extend(nodes["items"].as_array().unwrap().iter().cloned());
    let i = takeover::Inputs::from_items(items.iter());
    let (found, _) = takeover::detect(&i);
    let mut out = vec![];
    for f in &found {
        if matches!(f.kind, InstallKind::Operator { .. }) {
            // The operator's own objects stay; its CcRuntime and RuntimeClasses go.
            for o in f
                .objects
                .iter()
                .filter(|o| o.kind == "CcRuntime" || o.kind == "RuntimeClass")
            {
                out.push((
                    o.kind.clone(),
                    o.namespace.clone().unwrap_or_default(),
                    o.name.clone(),
                    f.title(),
                ));
            }
            continue;
        }
        for o in &f.objects {
            if o.kind == "Namespace" {
                continue;
            }
            out.push((
                o.kind.clone(),
                o.namespace.clone().unwrap_or_default(),
                o.name.clone(),
                f.title(),
            ));
        }
        for rc in &f.runtime_classes {
            out.push(("RuntimeClass".into(), String::new(), rc.clone(), f.title()));
        }
    }
    out
}

/// Nothing the old install owned is left, except RuntimeClasses cococtl now owns under the
/// same name; no old kata node label; no Helm release Secret; no clean-up DaemonSet.
fn assert_nothing_old_left(server: &ApiServer, folder: &str) {
    for (kind, ns, name, who) in old_objects(folder) {
        let (prefix, plural) = cococtl_cluster::testing::route_of(&kind)
            .unwrap_or_else(|| panic!("no route for {kind}"));
        if let Some(o) = server.get(&prefix, plural, &ns, &name) {
            let ours = o
                .pointer("/metadata/labels/cococtl.confidentialcontainers.org~1instance")
                .is_some();
            assert!(
                ours && o
                    .pointer("/metadata/annotations/meta.helm.sh~1release-name")
                    .is_none(),
                "{folder}: {kind} {ns}/{name} of {who} is still there: {o}"
            );
        }
    }
    let helm: Vec<Value> = server
        .list("/api/v1", "secrets")
        .into_iter()
        .filter(|s| s["type"] == "helm.sh/release.v1")
        .collect();
    assert!(helm.is_empty(), "{folder}: Helm records left: {helm:?}");
    for (node, l) in node_labels(server) {
        for old in [
            "confidentialcontainers.org/",
            "kata-containers.io/",
            "cococtl.confidentialcontainers.org/takeover",
        ] {
            assert!(!l.starts_with(old), "{folder}: node {node} still has {l}");
        }
    }
    let cleanups: Vec<Value> = server
        .list("/apis/apps/v1", "daemonsets")
        .into_iter()
        .filter(|d| {
            d["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .starts_with("cococtl-takeover")
        })
        .collect();
    assert!(
        cleanups.is_empty(),
        "{folder}: clean-up DaemonSets left: {cleanups:?}"
    );
}

/// The starting points that have something to take over.
const STARTS: [&str; 7] = [
    "01-helm-kata-deploy-4.1.0-kube-system",
    "02-helm-kata-deploy-4.1.0-suffix-coco-kata-system",
    "03a-helm-coco-0.16.0-coco-system",
    "03b-helm-coco-0.16.0-custom-containerd",
    "05-manifests-kata-deploy-3.21.0-kube-system",
    "06-operator-v0.17.0-ccruntime-sample",
    "04a-helm-kata-deploy-4.1.0-uninstalled-rbac-kept",
];

#[tokio::test]
async fn every_starting_point_is_taken_over_to_a_ready_release_with_nothing_old_left() {
    let s = setup();
    for folder in STARTS {
        let server = seeded(folder);
        assert!(
            !left_over(&server, &s).await.is_empty(),
            "{folder}: nothing found"
        );
        let rec = take_over(&server, &s, None)
            .await
            .unwrap_or_else(|e| panic!("{folder}: {e}"));
        assert!(rec.finished(), "{folder}");
        assert_eq!(
            left_over(&server, &s).await,
            Vec::<String>::new(),
            "{folder}"
        );
        assert_nothing_old_left(&server, folder);
        install(&server, &s).await;
        // cococtl's kata-deploy serves the nodes now.
        for n in server.list("/api/v1", "nodes") {
            assert_eq!(
                n.pointer("/metadata/labels/katacontainers.io~1kata-runtime"),
                Some(&json!("true")),
                "{folder}: {}",
                n["metadata"]["name"]
            );
        }
        assert!(server
            .get("/api/v1", "configmaps", NS, "cococtl-takeover")
            .is_none());
    }
}

#[tokio::test]
async fn a_take_over_interrupted_at_any_step_continues_from_its_record() {
    let s = setup();
    for folder in [
        "03a-helm-coco-0.16.0-coco-system",
        "01-helm-kata-deploy-4.1.0-kube-system",
        "06-operator-v0.17.0-ccruntime-sample",
    ] {
        let total = {
            let server = seeded(folder);
            let cl = cluster(&server);
            let (found, _, listed) =
                cococtl_cluster::takeover::detect_with_inputs(&cl, Default::default())
                    .await
                    .unwrap();
            actions::actions(&found, &listed, &s.spec.instance, false)
                .iter()
                .map(|a| a.actions.len())
                .sum::<usize>()
        };
        assert!(total >= 3, "{folder}: {total} steps");
        for k in 0..total {
            let server = seeded(folder);
            let e = take_over(&server, &s, Some(k)).await.unwrap_err();
            assert!(e.contains("stopped after"), "{folder} at {k}: {e}");
            let cm = server
                .get("/api/v1", "configmaps", NS, "cococtl-takeover")
                .unwrap_or_else(|| panic!("{folder} at {k}: no record"));
            let rec: Record =
                serde_json::from_str(cm["data"]["takeover.json"].as_str().unwrap()).unwrap();
            assert_eq!(rec.done, k, "{folder}");
            // The rerun continues from the record (detection would no longer see what the
            // first run already removed).
            let done = take_over(&server, &s, None)
                .await
                .unwrap_or_else(|e| panic!("{folder} rerun after {k}: {e}"));
            assert_eq!(done.total(), total);
            assert_eq!(
                left_over(&server, &s).await,
                Vec::<String>::new(),
                "{folder} after {k}"
            );
            assert_nothing_old_left(&server, folder);
        }
    }
}

#[tokio::test]
async fn the_clean_up_daemonset_works_on_at_most_max_unavailable_nodes_at_once() {
    let s = setup();
    let server = seeded("03a-helm-coco-0.16.0-coco-system");
    for n in ["bf-node-3", "bf-node-4"] {
        server.add_node(n, &[("katacontainers.io/kata-runtime", "true")]);
    }
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let most = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let in_cleanup = || {
        server
            .list("/api/v1", "nodes")
            .iter()
            .filter(|n| {
                n.pointer("/metadata/labels/cococtl.confidentialcontainers.org~1takeover-cleanup")
                    .is_some()
            })
            .count()
    };
    let run = async {
        let r = take_over(&server, &s, None).await;
        stop.store(true, Ordering::SeqCst);
        r
    };
    let watch = async {
        while !stop.load(Ordering::SeqCst) {
            most.fetch_max(in_cleanup(), Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let (r, _) = tokio::join!(run, watch);
    r.unwrap();
    let most = most.load(Ordering::SeqCst);
    assert_eq!(most, 1, "nodes in clean-up at once");
    assert_nothing_old_left(&server, "03a-helm-coco-0.16.0-coco-system");
}

/// A running pod in `default` on `node` using RuntimeClass `class`.
fn kata_pod(server: &ApiServer, name: &str, labels: Value, class: &str, node: &str) {
    server.put_raw(
        "/api/v1",
        "pods",
        "default",
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"runtimeClassName": class, "nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Running"}}),
    );
}

#[tokio::test]
async fn kata_pods_on_the_old_runtime_classes_refuse_the_take_over_and_nothing_changes() {
    let server = seeded("03a-helm-coco-0.16.0-coco-system");
    kata_pod(
        &server,
        "confidential-app",
        json!({}),
        "kata-qemu-snp",
        "bf-node-1",
    );
    let before = server.list("/apis/apps/v1", "daemonsets").len();
    let cl = cluster(&server);
    let have = cococtl_cluster::takeover::Listed {
        with_pods: true,
        ..Default::default()
    };
    let (found, _, _) = cococtl_cluster::takeover::detect_with_inputs(&cl, have)
        .await
        .unwrap();
    let t = takeover::Target {
        namespace: NS.into(),
        runtime_classes: vec![],
        drain: false,
    };
    let p = takeover::plan(&found, &t);
    assert!(
        p.refusals
            .iter()
            .any(|r| r.contains("default/confidential-app")),
        "{:?}",
        p.refusals
    );
    assert_eq!(server.list("/apis/apps/v1", "daemonsets").len(), before);
}

#[tokio::test]
async fn drain_cordons_evicts_through_the_disruption_budget_and_uncordons() {
    let s = setup();
    let server = seeded("03a-helm-coco-0.16.0-coco-system");
    kata_pod(
        &server,
        "confidential-app",
        json!({"app": "web"}),
        "kata-qemu-snp",
        "bf-node-1",
    );
    server.put_raw(
        "/apis/policy/v1",
        "poddisruptionbudgets",
        "default",
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}),
    );
    let run = take_over_with(&server, &s, None, true);
    let unblock = async {
        // The budget holds the pod while the node is cordoned; then its owner relents.
        let start = std::time::Instant::now();
        loop {
            let cordoned = server
                .get("/api/v1", "nodes", "", "bf-node-1")
                .is_some_and(|n| n.pointer("/spec/unschedulable") == Some(&json!(true)));
            if cordoned {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "never cordoned");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            server
                .get("/api/v1", "pods", "default", "confidential-app")
                .is_some(),
            "evicted through a budget that allows no disruption"
        );
        let refused = server
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/confidential-app/eviction"))
            .count();
        assert!(refused >= 2, "the refused eviction is retried ({refused})");
        server.remove("/apis/policy/v1", "poddisruptionbudgets", "default", "web");
    };
    let (r, _) = tokio::join!(run, unblock);
    let rec = r.unwrap();
    assert!(matches!(
        rec.installs[0].actions[0],
        actions::Action::Drain { .. }
    ));
    assert!(server
        .get("/api/v1", "pods", "default", "confidential-app")
        .is_none());
    let n = server.get("/api/v1", "nodes", "", "bf-node-1").unwrap();
    assert!(
        n.pointer("/spec/unschedulable").is_none(),
        "uncordoned: {n}"
    );
    assert_nothing_old_left(&server, "03a-helm-coco-0.16.0-coco-system");
}

#[tokio::test]
async fn drain_leaves_a_node_the_user_had_cordoned_cordoned() {
    let s = setup();
    let server = seeded("03a-helm-coco-0.16.0-coco-system");
    server.merge(
        "/api/v1",
        "nodes",
        "",
        "bf-node-2",
        json!({"spec": {"unschedulable": true}}),
    );
    kata_pod(&server, "app-2", json!({}), "kata-qemu-tdx", "bf-node-2");
    take_over_with(&server, &s, None, true).await.unwrap();
    assert!(server.get("/api/v1", "pods", "default", "app-2").is_none());
    let n = server.get("/api/v1", "nodes", "", "bf-node-2").unwrap();
    assert_eq!(
        n.pointer("/spec/unschedulable"),
        Some(&json!(true)),
        "still the user's cordon"
    );
}

/// The legacy generation, built from its manifests' description (no capture exists): a
/// `kata-deploy` installer whose preStop marks its node `cleanup`, `kubelet-kata-cleanup`
/// running `reset` there, and the `runtime-labeler`.
fn legacy_cluster() -> ApiServer {
    let server = ApiServer::start(Sim {
        watch_quiet: Duration::from_millis(400),
        ..Default::default()
    });
    server.put_raw(
        "/api/v1",
        "namespaces",
        "",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}),
    );
    for n in ["old-1", "old-2"] {
        server.add_node(
            n,
            &[
                ("kata-containers.io/kata-runtime", "true"),
                ("kata-containers.io/container-runtime", "containerd"),
            ],
        );
    }
    let ds = |name: &str, cmd: &str, pre_stop: Option<&str>, sel: Value| {
        let mut c = json!({"name": name, "image": "katadocker/kata-deploy:1.13.0",
            "command": ["bash", "-c", format!("/opt/kata-artifacts/scripts/kata-deploy.sh {cmd}")],
            "securityContext": {"privileged": true}});
        if let Some(h) = pre_stop {
            c["lifecycle"] = json!({"preStop": {"exec": {"command": ["bash", "-c", format!("/opt/kata-artifacts/scripts/kata-deploy.sh {h}")]}}});
        }
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": "kube-system",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"selector": {"matchLabels": {"name": name}}, "template": {
                "metadata": {"labels": {"name": name}},
                "spec": {"serviceAccountName": "kata-label-node", "hostPID": true,
                    "nodeSelector": sel, "containers": [c]}}}})
    };
    for d in [
        ds(
            "kata-deploy",
            "install",
            Some("cleanup"),
            json!({"kata-containers.io/container-runtime": "containerd"}),
        ),
        ds(
            "kubelet-kata-cleanup",
            "reset",
            None,
            json!({"kata-containers.io/kata-runtime": "cleanup"}),
        ),
        ds("runtime-labeler", "label", None, json!({})),
    ] {
        server.put_raw("/apis/apps/v1", "daemonsets", "kube-system", d);
    }
    server.put_raw(
        "/apis/node.k8s.io/v1",
        "runtimeclasses",
        "",
        json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
            "metadata": {"name": "kata-qemu"}, "handler": "kata-qemu"}),
    );
    server
}

#[tokio::test]
async fn the_legacy_generation_is_taken_over_through_its_reset_and_leaves_no_label() {
    let s = setup();
    let server = legacy_cluster();
    let cl = cluster(&server);
    let (found, _) = cococtl_cluster::takeover::detect(&cl, Default::default())
        .await
        .unwrap();
    let legacy: Vec<_> = found
        .iter()
        .filter(|f| matches!(f.kind, InstallKind::LegacyKataDeploy { .. }))
        .collect();
    assert_eq!(
        legacy.len(),
        1,
        "{:?}",
        found.iter().map(|f| f.title()).collect::<Vec<_>>()
    );
    assert_eq!(legacy[0].nodes, ["old-1", "old-2"]);
    assert!(
        !found
            .iter()
            .any(|f| matches!(f.kind, InstallKind::Unknown { .. })),
        "{:?}",
        found.iter().map(|f| f.title()).collect::<Vec<_>>()
    );
    // The stand-in's installer pods run before the take-over starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    take_over(&server, &s, None).await.unwrap();
    for (node, l) in node_labels(&server) {
        assert!(!l.starts_with("kata-containers.io/"), "{node}: {l}");
    }
    for d in ["kata-deploy", "kubelet-kata-cleanup", "runtime-labeler"] {
        assert!(server
            .get("/apis/apps/v1", "daemonsets", "kube-system", d)
            .is_none());
    }
    assert!(server
        .get("/apis/node.k8s.io/v1", "runtimeclasses", "", "kata-qemu")
        .is_none());
    assert_eq!(left_over(&server, &s).await, Vec::<String>::new());
    install(&server, &s).await;
}

#[tokio::test]
async fn a_namespace_the_release_rendered_stays_and_loses_helms_marks() {
    let s = setup();
    let server = seeded("02-helm-kata-deploy-4.1.0-suffix-coco-kata-system");
    // As if the chart had rendered its namespace (the capture's came from
    // --create-namespace, which leaves no marks): Helm's marks on it, beside the user's own.
    let cl = cluster(&server);
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(cl.client.clone());
    let marks = json!({"metadata": {
        "annotations": {
            "meta.helm.sh/release-name": "kata-deploy",
            "meta.helm.sh/release-namespace": "kata-system",
            "team": "platform",
        },
        "labels": {"app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": "kata-deploy-4.1.0"},
    }});
    api.patch(
        "kata-system",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(marks),
    )
    .await
    .unwrap();
    let rec = take_over(&server, &s, None).await.unwrap();
    assert!(rec.finished());
    let disowned: Vec<&actions::Action> = rec
        .installs
        .iter()
        .flat_map(|i| &i.actions)
        .filter(|a| matches!(a, actions::Action::Disown { .. }))
        .collect();
    assert_eq!(
        disowned,
        vec![&actions::Action::Disown {
            namespaces: vec!["kata-system".into()]
        }]
    );
    // Before Helm's record goes, so `helm` never shows a release whose namespace is cococtl's.
    let order: Vec<&actions::Action> = rec.installs.iter().flat_map(|i| &i.actions).collect();
    let at = |f: &dyn Fn(&actions::Action) -> bool| order.iter().position(|a| f(a)).unwrap();
    assert!(
        at(&|a| matches!(a, actions::Action::Disown { .. }))
            < at(
                &|a| matches!(a, actions::Action::Delete { objects } if objects.iter().all(|o| o.kind == "Secret"))
            )
    );
    let ns = server
        .get("/api/v1", "namespaces", "", "kata-system")
        .expect("a namespace is never deleted");
    let meta = &ns["metadata"];
    assert_eq!(meta["annotations"], json!({"team": "platform"}), "{ns}");
    assert_eq!(
        meta["labels"].get("app.kubernetes.io/managed-by"),
        None,
        "{ns}"
    );
    assert_eq!(meta["labels"].get("helm.sh/chart"), None, "{ns}");
    assert_eq!(meta["labels"]["name"], json!("kata-system"), "{ns}");
    assert_nothing_old_left(&server, "02-helm-kata-deploy-4.1.0-suffix-coco-kata-system");
}
