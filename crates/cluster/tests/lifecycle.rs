//! install → status → upgrade (prune) → uninstall against the API-server stand-in, with
//! assertions on the requests made.

use std::time::Duration;

use cococtl_cluster::client::Cluster;
use cococtl_cluster::core::release::{self, Status};
use cococtl_cluster::deploy::{self, Mode, Request};
use cococtl_cluster::observe::Observer;
use cococtl_cluster::spec::ReleaseSpec;
use cococtl_cluster::testing::{ApiServer, Sim};
use cococtl_cluster::{release_store, status, uninstall};
use cococtl_manifests::{plan, ClusterFacts};
use cococtl_profile::{Inputs, SetArg};

#[derive(Default)]
struct Rec(Vec<String>);
impl Observer for Rec {
    fn step(&mut self, what: &str) {
        self.0.push(format!("step {what}"));
    }
    fn line(&mut self, text: &str) {
        self.0.push(format!("line {text}"));
    }
    fn progress(&mut self, p: &cococtl_cluster::core::readiness::Progress) {
        self.0
            .push(format!("progress {}/{}", p.ready(), p.nodes.len()));
    }
}

const SHA: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn inputs(sets: &[&str]) -> Inputs {
    Inputs {
        profile: Some((
            "x86_64".into(),
            cococtl_profile::builtin_profile("x86_64").unwrap().into(),
        )),
        files: vec![],
        sets: sets
            .iter()
            .map(|s| SetArg {
                string: false,
                arg: s.to_string(),
            })
            .collect(),
        kata_version: None,
        namespace: "coco-system".into(),
    }
}

fn agent_sets() -> Vec<String> {
    vec![
        "customContainerd.enabled=true".into(),
        "customContainerd.tarballUrl=https://example.com/c.tar.gz".into(),
        format!("customContainerd.sha256={SHA}"),
    ]
}

fn now() -> String {
    "2026-11-30T12:00:00Z".into()
}

async fn deploy(
    server: &ApiServer,
    mode: Mode,
    sets: &[&str],
    wait: bool,
) -> Result<deploy::Outcome, deploy::Failure> {
    let cluster = cluster(server);
    let i = inputs(sets);
    let r = cococtl_profile::resolve(&i).unwrap();
    let p = plan(&r.config, ClusterFacts::default());
    let spec = ReleaseSpec::new(&r.config, &p);
    let req = Request {
        mode,
        spec: &spec,
        plan: &p,
        inputs: release::Inputs {
            profile: i.profile.clone(),
            files: vec![],
            sets: vec![],
            kata_version: None,
            namespace: "coco-system".into(),
        },
        values: serde_json::to_value(&r.values).unwrap_or_default(),
        tool_version: "0.1.0".into(),
        force_conflicts: false,
        wait: wait.then_some(Duration::from_secs(20)),
        now: &now,
    };
    deploy::run(&cluster, &req, &mut Rec::default()).await
}

fn cluster(server: &ApiServer) -> Cluster {
    cococtl_cluster::tls_provider();
    let config = kube::Config::new(server.url.parse().unwrap());
    Cluster::from_client(kube::Client::try_from(config).unwrap(), &server.url)
}

fn three_nodes() -> ApiServer {
    let s = ApiServer::start(Sim {
        watch_quiet: Duration::from_millis(400),
        ..Default::default()
    });
    for n in ["node-a", "node-b", "node-c"] {
        s.add_node(n, &[]);
    }
    s
}

#[tokio::test]
async fn install_applies_every_object_with_server_side_apply_and_records_the_revision() {
    let server = three_nodes();
    let sets = agent_sets();
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let out = deploy(&server, Mode::Install, &sets, true).await.unwrap();
    assert_eq!(out.revision, 1);
    assert_eq!(out.progress.as_ref().unwrap().ready(), 3);
    let reqs = server.requests();
    let applies: Vec<_> = reqs
        .iter()
        .filter(|r| r.content_type == "application/apply-patch+yaml")
        .collect();
    // Every planned object, plus the record written twice (pending, deployed).
    assert!(
        applies
            .iter()
            .all(|r| r.method == "PATCH" && r.query["fieldManager"] == "cococtl"),
        "{applies:#?}"
    );
    let paths: Vec<&str> = applies.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths[0], "/api/v1/namespaces/coco-system");
    assert_eq!(
        paths[1], "/api/v1/namespaces/coco-system/secrets/cococtl.release.default.v1",
        "the record right after the namespace"
    );
    let ds_agent = paths
        .iter()
        .position(|p| p.ends_with("daemonsets/cococtl-containerd"))
        .unwrap();
    let ds_kata = paths
        .iter()
        .position(|p| p.ends_with("daemonsets/kata-deploy"))
        .unwrap();
    let rc = paths
        .iter()
        .position(|p| p.contains("runtimeclasses"))
        .unwrap();
    assert!(ds_agent < ds_kata && ds_kata < rc);
    assert!(
        !reqs
            .iter()
            .any(|r| r.method == "GET" && r.path.starts_with("/api/v1/nodes/")),
        "never a request per node"
    );
    assert!(
        reqs.iter()
            .any(|r| r.is_watch() && r.path == "/api/v1/nodes"),
        "the wait watches nodes"
    );

    let cl = cluster(&server);
    let h = release_store::history(&cl, "coco-system", "default")
        .await
        .unwrap();
    let r = h.latest().unwrap();
    assert_eq!(r.status, Status::Deployed);
    assert!(r.created_namespace);
    assert!(
        r.inventory.iter().all(|i| !i.uid.is_empty()),
        "every applied object's uid is recorded"
    );
    let secret = server
        .get(
            "/api/v1",
            "secrets",
            "coco-system",
            "cococtl.release.default.v1",
        )
        .unwrap();
    assert_eq!(
        secret["type"],
        "cococtl.confidentialcontainers.org/release.v1"
    );
}

#[tokio::test]
async fn a_second_install_points_to_upgrade_and_an_interrupted_one_converges() {
    let server = three_nodes();
    // An install that stopped after the record: pending-install is found and resumed.
    let cl = cluster(&server);
    deploy(&server, Mode::Install, &[], false).await.unwrap();
    let mut r = release_store::history(&cl, "coco-system", "default")
        .await
        .unwrap()
        .latest()
        .unwrap()
        .clone();
    r.status = Status::PendingInstall;
    release_store::save(&cl, &r).await.unwrap();
    let out = deploy(&server, Mode::Install, &[], false).await.unwrap();
    assert_eq!(out.revision, 1, "the interrupted revision is taken over");
    let e = deploy(&server, Mode::Install, &[], false)
        .await
        .unwrap_err();
    assert!(
        e.error.to_string().contains("already installed")
            && e.error.to_string().contains("cococtl upgrade"),
        "{}",
        e.error
    );
}

#[tokio::test]
async fn upgrade_prunes_what_is_no_longer_planned_but_only_if_still_ours() {
    let server = three_nodes();
    deploy(&server, Mode::Install, &["debug=true"], false)
        .await
        .unwrap();
    let rcs = server.list("/apis/node.k8s.io/v1", "runtimeclasses");
    assert!(rcs
        .iter()
        .any(|r| r["metadata"]["name"] == "kata-qemu-snp-debug"));
    // Someone relabels one of the debug classes as theirs: it must survive the prune.
    server.merge("/apis/node.k8s.io/v1", "runtimeclasses", "", "kata-qemu-tdx-debug", serde_json::json!({"metadata": {"labels": {"cococtl.confidentialcontainers.org/instance": "someone-else"}}}));
    server.clear_requests();
    let out = deploy(&server, Mode::Upgrade, &[], false).await.unwrap();
    assert_eq!(out.revision, 2);
    let pruned: Vec<String> = out.pruned.iter().map(|i| i.name.clone()).collect();
    assert!(
        pruned.contains(&"kata-qemu-snp-debug".to_string()),
        "{pruned:?}"
    );
    assert!(!pruned.contains(&"kata-qemu-tdx-debug".to_string()));
    assert!(out
        .kept
        .iter()
        .any(|(i, why)| i.name == "kata-qemu-tdx-debug" && why.contains("someone-else")));
    let deletes: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path.clone())
        .collect();
    assert!(deletes.iter().all(|p| p.contains("-debug")), "{deletes:?}");
    let h = release_store::history(&cluster(&server), "coco-system", "default")
        .await
        .unwrap();
    let st: Vec<_> = h.records().iter().map(|r| (r.revision, r.status)).collect();
    assert_eq!(st, [(2, Status::Deployed), (1, Status::Superseded)]);
}

#[tokio::test]
async fn upgrade_refuses_a_new_suffix_with_the_way_out() {
    let server = three_nodes();
    deploy(&server, Mode::Install, &[], false).await.unwrap();
    let e = deploy(
        &server,
        Mode::Upgrade,
        &["env.multiInstallSuffix=gpu"],
        false,
    )
    .await
    .unwrap_err();
    let text = e.error.to_string();
    assert!(
        text.contains("multiInstallSuffix cannot change") && text.contains("cococtl uninstall"),
        "{text}"
    );
    assert_eq!(e.error.exit_code(), 2);
}

#[tokio::test]
async fn a_wait_that_times_out_names_the_waiting_nodes_and_why_and_marks_the_revision_failed() {
    let server = three_nodes();
    server.sim(|s| s.stuck_nodes = vec!["node-b".into()]);
    let cl = cluster(&server);
    let i = inputs(&[]);
    let r = cococtl_profile::resolve(&i).unwrap();
    let p = plan(&r.config, ClusterFacts::default());
    let spec = ReleaseSpec::new(&r.config, &p);
    let req = Request {
        mode: Mode::Install,
        spec: &spec,
        plan: &p,
        inputs: release::Inputs::default(),
        values: serde_json::Value::Null,
        tool_version: "0.1.0".into(),
        force_conflicts: false,
        wait: Some(Duration::from_secs(3)),
        now: &now,
    };
    let e = deploy::run(&cl, &req, &mut Rec::default())
        .await
        .unwrap_err();
    let text = e.error.to_string();
    assert!(text.contains("timed out after 3s"), "{text}");
    assert!(
        text.contains("node-b: kata-deploy pod kata-deploy-node-b Pending (ImagePullBackOff)"),
        "{text}"
    );
    assert!(
        text.contains("last event Failed: Failed to pull image"),
        "{text}"
    );
    assert!(!text.contains("node-a"), "{text}");
    assert_eq!(e.error.exit_code(), 1);
    let h = release_store::history(&cl, "coco-system", "default")
        .await
        .unwrap();
    assert_eq!(h.latest().unwrap().status, Status::Failed);
}

#[tokio::test]
async fn status_reads_seven_collections_whatever_the_node_count() {
    let server = three_nodes();
    let sets = agent_sets();
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    deploy(&server, Mode::Install, &sets, true).await.unwrap();
    server.clear_requests();
    let cl = cluster(&server);
    let facts = status::gather(&cl, "coco-system", None).await.unwrap();
    let rep = status::report("coco-system", &facts);
    assert_eq!((rep.ready_nodes, rep.targeted_nodes), (3, 3));
    assert!(!rep.degraded);
    let rc = rep
        .runtime_classes
        .iter()
        .find(|r| r.name == "kata-qemu-coco-dev")
        .unwrap();
    assert_eq!(rc.nodes, 3);
    let n = &rep.nodes[0];
    assert_eq!(n.containerd_agent.as_deref(), Some("ready"));
    assert_eq!(n.kata_deploy_pod.as_ref().unwrap().phase, "Running");
    let lines: Vec<String> = server.requests().iter().map(|r| r.line()).collect();
    assert_eq!(lines.len(), 7, "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("GET /api/v1/events?") && l.contains("involvedObject.kind=Node")), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("GET /api/v1/nodes?") && l.contains("sendInitialEvents=true")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("/events?") && l.contains("fieldSelector=type=Warning")),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn uninstall_follows_the_contract_order_and_leaves_nothing() {
    let server = three_nodes();
    let sets = agent_sets();
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    deploy(&server, Mode::Install, &sets, true).await.unwrap();
    server.clear_requests();
    let cl = cluster(&server);
    let h = release_store::history(&cl, "coco-system", "default")
        .await
        .unwrap();
    let spec = ReleaseSpec::from_record("coco-system", "", "default", true);
    let mut rec = Rec::default();
    let out = uninstall::run(
        &cl,
        &spec,
        &h,
        uninstall::Options {
            force: false,
            timeout: Duration::from_secs(20),
        },
        &now,
        &mut rec,
    )
    .await
    .unwrap();
    assert!(out.leftovers.is_empty(), "{:?}", out.leftovers);
    assert_eq!(out.restored.len(), 3);
    let deletes: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path.clone())
        .collect();
    let pos = |s: &str| {
        deletes
            .iter()
            .position(|p| p.ends_with(s))
            .unwrap_or_else(|| panic!("{s} not deleted: {deletes:#?}"))
    };
    assert!(pos("daemonsets/kata-deploy") < pos("daemonsets/cococtl-containerd"));
    assert!(pos("daemonsets/cococtl-containerd") < pos("runtimeclasses/kata-qemu-snp"));
    assert!(pos("runtimeclasses/kata-qemu-snp") < pos("clusterrolebindings/kata-deploy-rb"));
    assert!(pos("clusterrolebindings/kata-deploy-rb") < pos("/api/v1/namespaces/coco-system"));
    // The RBAC is deleted only after the last kata-deploy pod went away.
    for n in server.list("/api/v1", "nodes") {
        let l = n["metadata"]["labels"].as_object().unwrap();
        assert!(
            !l.keys()
                .any(|k| k.starts_with("cococtl.") || k.starts_with("kata")),
            "{l:?}"
        );
    }
    assert!(server
        .get("/api/v1", "namespaces", "", "coco-system")
        .is_none());
}

#[tokio::test]
async fn uninstall_refuses_while_pods_use_the_runtime_classes() {
    let server = three_nodes();
    deploy(&server, Mode::Install, &[], false).await.unwrap();
    server.put_raw("/api/v1", "pods", "apps", serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0"}, "spec": {"nodeName": "node-a", "runtimeClassName": "kata-qemu-snp", "containers": [{"name": "c"}]}, "status": {"phase": "Running"}}));
    let cl = cluster(&server);
    let h = release_store::history(&cl, "coco-system", "default")
        .await
        .unwrap();
    let spec = ReleaseSpec::from_record("coco-system", "", "default", false);
    let e = uninstall::run(
        &cl,
        &spec,
        &h,
        uninstall::Options {
            force: false,
            timeout: Duration::from_secs(5),
        },
        &now,
        &mut Rec::default(),
    )
    .await
    .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("apps/web-0 (RuntimeClass kata-qemu-snp, node node-a)")
            && text.contains("--force"),
        "{text}"
    );
    assert!(
        !server.requests().iter().any(|r| r.method == "DELETE"),
        "nothing deleted"
    );
}

#[tokio::test]
async fn a_failed_restore_names_the_node_and_its_reason_and_keeps_its_label() {
    let server = three_nodes();
    server.sim(|s| s.restore_fails = vec!["node-c".into()]);
    let sets = agent_sets();
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    deploy(&server, Mode::Install, &sets, true).await.unwrap();
    let cl = cluster(&server);
    let h = release_store::history(&cl, "coco-system", "default")
        .await
        .unwrap();
    let spec = ReleaseSpec::from_record("coco-system", "", "default", true);
    let out = uninstall::run(
        &cl,
        &spec,
        &h,
        uninstall::Options {
            force: false,
            timeout: Duration::from_secs(20),
        },
        &now,
        &mut Rec::default(),
    )
    .await
    .unwrap();
    assert_eq!(out.failed_nodes.keys().collect::<Vec<_>>(), ["node-c"]);
    let left = &out.leftovers.nodes["node-c"];
    assert!(
        left[0].contains("containerd=failed")
            && left[0].contains("config.toml.cococtl-backup is missing"),
        "{left:?}"
    );
}

#[tokio::test]
async fn a_namespace_whose_pod_security_labels_belong_to_someone_else_is_explained() {
    let server = three_nodes();
    server.put_raw("/api/v1", "namespaces", "", serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "coco-system", "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}));
    server.foreign_owner(
        "/api/v1",
        "namespaces",
        "",
        "coco-system",
        "kubectl-label",
        &[".metadata.labels.pod-security.kubernetes.io/enforce"],
    );
    let e = deploy(&server, Mode::Install, &[], false)
        .await
        .unwrap_err();
    let text = e.error.to_string();
    assert!(
        text.contains("owned by kubectl-label")
            && text.contains("mount host paths")
            && text.contains("--force-conflicts"),
        "{text}"
    );
    assert!(
        server
            .get(
                "/api/v1",
                "secrets",
                "coco-system",
                "cococtl.release.default.v1"
            )
            .is_none(),
        "nothing recorded: nothing was applied"
    );
}

#[tokio::test]
async fn upgrade_in_another_namespace_is_refused_naming_the_release_namespace() {
    let server = three_nodes();
    deploy(&server, Mode::Install, &[], false).await.unwrap();
    let cl = cluster(&server);
    let mut i = inputs(&[]);
    i.namespace = "kata".into();
    let r = cococtl_profile::resolve(&i).unwrap();
    let p = plan(&r.config, ClusterFacts::default());
    let spec = ReleaseSpec::new(&r.config, &p);
    let req = Request {
        mode: Mode::Upgrade,
        spec: &spec,
        plan: &p,
        inputs: release::Inputs::default(),
        values: serde_json::Value::Null,
        tool_version: "0.1.0".into(),
        force_conflicts: false,
        wait: None,
        now: &now,
    };
    let e = deploy::run(&cl, &req, &mut Rec::default())
        .await
        .unwrap_err();
    let text = e.error.to_string();
    assert!(
        text.contains("namespace of a release cannot change on upgrade (coco-system → kata)"),
        "{text}"
    );
    assert!(
        !server
            .requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.path.contains("/namespaces/kata")),
        "nothing applied"
    );
}

#[tokio::test]
async fn history_keeps_ten_revisions() {
    let server = three_nodes();
    deploy(&server, Mode::Install, &[], false).await.unwrap();
    for _ in 0..11 {
        deploy(&server, Mode::Upgrade, &[], false).await.unwrap();
    }
    let h = release_store::history(&cluster(&server), "coco-system", "default")
        .await
        .unwrap();
    let revs: Vec<u32> = h.records().iter().map(|r| r.revision).collect();
    assert_eq!(revs, (3..=12).rev().collect::<Vec<_>>());
    assert_eq!(h.latest().unwrap().status, Status::Deployed);
    assert!(h.records()[1..]
        .iter()
        .all(|r| r.status == Status::Superseded));
}

#[tokio::test]
async fn uninstall_keeps_a_namespace_it_did_not_create_and_gives_up_its_labels_there() {
    let server = three_nodes();
    server.put_raw("/api/v1", "namespaces", "", serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "coco-system", "labels": {"team": "platform"}}}));
    deploy(&server, Mode::Install, &[], true).await.unwrap();
    let ns = server
        .get("/api/v1", "namespaces", "", "coco-system")
        .unwrap();
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "privileged"
    );
    let cl = cluster(&server);
    let h = release_store::history(&cl, "coco-system", "default")
        .await
        .unwrap();
    assert!(!h.latest().unwrap().created_namespace);
    let spec = ReleaseSpec::from_record("coco-system", "", "default", false);
    let out = uninstall::run(
        &cl,
        &spec,
        &h,
        uninstall::Options {
            force: false,
            timeout: Duration::from_secs(20),
        },
        &now,
        &mut Rec::default(),
    )
    .await
    .unwrap();
    assert!(out.leftovers.is_empty(), "{:?}", out.leftovers);
    let ns = server
        .get("/api/v1", "namespaces", "", "coco-system")
        .expect("the namespace stays");
    let labels = ns["metadata"]["labels"].as_object().unwrap();
    assert_eq!(
        labels.get("team").and_then(|v| v.as_str()),
        Some("platform")
    );
    assert!(
        !labels
            .keys()
            .any(|k| k.starts_with("pod-security") || k.starts_with("cococtl")),
        "{labels:?}"
    );
}

#[tokio::test]
async fn upgrade_wait_follows_the_rolling_update_and_leaves_the_nodes_installed() {
    let server = three_nodes();
    deploy(&server, Mode::Install, &[], true).await.unwrap();
    let out = deploy(&server, Mode::Upgrade, &["debug=true"], true)
        .await
        .unwrap();
    assert_eq!(out.progress.as_ref().unwrap().ready(), 3);
    let pods = server.list("/api/v1", "pods");
    assert_eq!(pods.len(), 3);
    assert!(
        pods.iter()
            .all(|p| p["metadata"]["labels"]["pod-template-generation"] == "2"),
        "{pods:#?}"
    );
    for n in server.list("/api/v1", "nodes") {
        assert_eq!(
            n["metadata"]["labels"]["katacontainers.io/kata-runtime"], "true",
            "a rolling update does not clean nodes"
        );
    }
}

#[tokio::test]
async fn a_wait_with_no_targeted_node_fails_at_once_and_says_why() {
    let server = ApiServer::start(Sim {
        watch_quiet: Duration::from_millis(400),
        ..Default::default()
    });
    server.add_node("cp-1", &[]);
    server.merge("/api/v1", "nodes", "", "cp-1", serde_json::json!({"spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}));
    let t = std::time::Instant::now();
    let e = deploy(&server, Mode::Install, &[], true).await.unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(10));
    let text = e.error.to_string();
    assert!(
        text.contains("no node is targeted") && text.contains("tolerations"),
        "{text}"
    );
}

#[tokio::test]
async fn applying_the_value_another_manager_already_set_is_not_a_conflict() {
    let server = three_nodes();
    server.put_raw("/api/v1", "namespaces", "", serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "coco-system", "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}));
    server.foreign_owner(
        "/api/v1",
        "namespaces",
        "",
        "coco-system",
        "kubectl-label",
        &[".metadata.labels.pod-security.kubernetes.io/enforce"],
    );
    deploy(&server, Mode::Install, &[], false).await.unwrap();
}

/// Labels and annotations of every node, by node.
type NodeKeys = std::collections::BTreeMap<String, (serde_json::Value, serde_json::Value)>;

fn node_keys(server: &ApiServer) -> NodeKeys {
    server
        .list("/api/v1", "nodes")
        .into_iter()
        .map(|n| {
            (
                n["metadata"]["name"].as_str().unwrap().to_string(),
                (
                    n["metadata"]["labels"].clone(),
                    n["metadata"]
                        .get("annotations")
                        .cloned()
                        .unwrap_or(serde_json::json!({})),
                ),
            )
        })
        .collect()
}

#[tokio::test]
async fn uninstall_leaves_every_node_as_it_was_after_every_writer_labelled_it() {
    use cococtl_core::labels::GPU_WORKLOAD_LABEL;
    use cococtl_core::node_keys::{listed, Kind, WORKER_LABEL};
    use cococtl_probe::publish::{self, Capability, Verdict};

    let server = ApiServer::start(Sim {
        watch_quiet: Duration::from_millis(400),
        ..Default::default()
    });
    // What the user had before: a worker label and the GPU operator's own value.
    server.add_node("node-a", &[(WORKER_LABEL, "")]);
    server.add_node("node-b", &[(GPU_WORKLOAD_LABEL, "container")]);
    server.add_node("node-c", &[]);
    let before = node_keys(&server);

    let mut sets = agent_sets();
    sets.extend(["probe.enabled=true".into(), "probe.teeLabels=true".into()]);
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    deploy(&server, Mode::Install, &sets, true).await.unwrap();
    let cl = cluster(&server);

    // Every writer, as on a real cluster: the probe agent (with the NFD TEE labels) on
    // every node, `check --label-gpu-nodes`, `install --label-workers`.
    let mut snp = publish::failed("x", None);
    snp.error = None;
    for (c, v) in snp.verdicts.iter_mut() {
        v.verdict = if *c == Capability::Snp {
            Verdict::Ready
        } else {
            Verdict::Blocked
        };
    }
    let blocked = publish::failed("no TEE", None);
    for (n, s) in [("node-a", &snp), ("node-b", &blocked), ("node-c", &snp)] {
        cococtl_cluster::probe_publish::publish(&cl.client, n, s, true)
            .await
            .unwrap();
    }
    cococtl_cluster::check::label_gpu_nodes(&cl, &["node-b".into(), "node-c".into()])
        .await
        .unwrap();
    for n in ["node-a", "node-c"] {
        cococtl_cluster::peerpods::label_worker(&cl, n)
            .await
            .unwrap();
    }
    let labelled = node_keys(&server);
    assert_eq!(
        labelled["node-c"].0["amd.feature.node.kubernetes.io/snp"], "true",
        "{labelled:?}"
    );
    assert_eq!(labelled["node-b"].0[GPU_WORKLOAD_LABEL], "vm-passthrough");
    assert_eq!(labelled["node-c"].0[WORKER_LABEL], "");

    // Every key any writer sent is in the core list.
    for r in server.requests() {
        if r.method != "PATCH" || !r.path.starts_with("/api/v1/nodes/") {
            continue;
        }
        for (kind, field) in [(Kind::Label, "labels"), (Kind::Annotation, "annotations")] {
            for k in r.body["metadata"][field]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
            {
                assert!(
                    listed(kind, k).is_some(),
                    "{} wrote {field} key {k}, which cococtl_core::node_keys::KEYS does not list",
                    r.line()
                );
            }
        }
    }

    let h = release_store::history(&cl, "coco-system", "default")
        .await
        .unwrap();
    let spec = ReleaseSpec::from_record("coco-system", "", "default", true);
    let out = uninstall::run(
        &cl,
        &spec,
        &h,
        uninstall::Options {
            force: false,
            timeout: Duration::from_secs(20),
        },
        &now,
        &mut Rec::default(),
    )
    .await
    .unwrap();
    assert!(out.leftovers.is_empty(), "{:?}", out.leftovers);
    // Exactly as before the install: the user's worker label and the operator's value
    // back, nothing of cococtl's or of its agents left.
    assert_eq!(node_keys(&server), before);
    // So the next install judges from nothing stale.
    let nodes: Vec<_> = server
        .list("/api/v1", "nodes")
        .iter()
        .map(|n| {
            cococtl_cluster::core::snapshot::NodeSnap::of(
                &serde_json::from_value(n.clone()).unwrap(),
            )
        })
        .collect();
    assert!(cococtl_cluster::core::probe_hint::tee_warning(
        &nodes,
        &[(
            "qemu-snp",
            cococtl_core::catalog::Isolation::Tee(cococtl_core::catalog::Tee::SevSnp)
        )]
    )
    .is_none());
}

#[tokio::test]
async fn the_leftovers_check_names_a_probe_label_and_a_recorded_foreign_label_still_on_a_node() {
    use cococtl_core::node_keys::WORKER_LABEL;
    let server = three_nodes();
    deploy(&server, Mode::Install, &[], false).await.unwrap();
    let cl = cluster(&server);
    cococtl_cluster::peerpods::label_worker(&cl, "node-b")
        .await
        .unwrap();
    // Written after the clean-up would have run (e.g. by an agent of another install).
    server.merge(
        "/api/v1",
        "nodes",
        "",
        "node-a",
        serde_json::json!({"metadata": {"labels": {"probe.cococtl.confidentialcontainers.org/tdx": "blocked"}}}),
    );
    let spec = ReleaseSpec::from_record("coco-system", "", "default", false);
    let h = release_store::history(&cl, "coco-system", "default")
        .await
        .unwrap();
    let left = uninstall::leftovers(
        &cl,
        &spec,
        &h.all_items().into_iter().cloned().collect::<Vec<_>>(),
        &Default::default(),
    )
    .await
    .unwrap();
    assert!(
        left.nodes["node-a"]
            .iter()
            .any(|l| l.contains("probe.cococtl.confidentialcontainers.org/tdx=blocked")),
        "{left:?}"
    );
    assert!(
        left.nodes["node-b"]
            .iter()
            .any(|l| l.contains(WORKER_LABEL)),
        "{left:?}"
    );
    assert!(
        left.nodes
            .get("node-c")
            .into_iter()
            .flatten()
            .all(|l| !l.contains("probe.") && !l.contains(WORKER_LABEL)),
        "{left:?}"
    );
}

/// Seeds the stand-in with a brownfield capture (`objects.json` and `nodes.json` of
/// `tests/fixtures/brownfield/<dir>`, copied from ../shared/fixtures/brownfield), objects
/// exactly as the real server returned them.
fn brownfield(dir: &str) -> ApiServer {
    let server = ApiServer::start(Sim {
        watch_quiet: Duration::from_millis(400),
        ..Default::default()
    });
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/brownfield")
        .join(dir);
    for file in ["objects.json", "nodes.json"] {
        let text = std::fs::read_to_string(root.join(file))
            .unwrap_or_else(|e| panic!("{}: {e}", root.join(file).display()));
        let list: serde_json::Value = serde_json::from_str(&text).unwrap();
        server.seed_list(&list);
    }
    server
}

/// Preflight of the x86_64 profile with `sets`, as `install` runs it.
async fn preflight_with(
    server: &ApiServer,
    sets: &[&str],
) -> Result<cococtl_cluster::preflight::Facts, cococtl_cluster::error::ClusterError> {
    let cl = cluster(server);
    let r = cococtl_profile::resolve(&inputs(sets)).unwrap();
    let p = plan(&r.config, ClusterFacts::default());
    let spec = ReleaseSpec::new(&r.config, &p);
    let needs = cococtl_cluster::core::runtime_versions::needs_of(&r.config);
    cococtl_cluster::preflight::run(
        &cl,
        &spec,
        &p,
        &needs,
        r.config.k8s_distribution,
        cococtl_cluster::preflight::Options {
            user_set: false,
            force_conflicts: false,
            profile: "x86_64",
        },
    )
    .await
}

async fn preflight_x86(server: &ApiServer) -> Result<(), cococtl_cluster::error::ClusterError> {
    preflight_with(server, &[]).await.map(|_| ())
}

fn nothing_written(server: &ApiServer) {
    for r in server.requests() {
        let review = r.method == "POST" && r.path.contains("/selfsubject");
        assert!(r.method == "GET" || review, "preflight wrote: {}", r.line());
    }
}

#[tokio::test]
async fn preflight_refuses_rbac_an_uninstalled_helm_release_left_and_prints_the_delete_line() {
    let server = brownfield("04a-helm-kata-deploy-4.1.0-uninstalled-rbac-kept");
    let e = preflight_x86(&server).await.unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    let t = e.to_string();
    for want in [
        "ClusterRole/kata-deploy-role",
        "ClusterRoleBinding/kata-deploy-rb",
        "Helm release kata-deploy (namespace kube-system), which is uninstalled",
        "no sh.helm.release.v1.kata-deploy.* Secret is left in kube-system",
        "kubectl delete clusterrole/kata-deploy-role clusterrolebinding/kata-deploy-rb",
    ] {
        assert!(t.contains(want), "missing `{want}` in:\n{t}");
    }
    nothing_written(&server);
    assert!(server
        .get("/api/v1", "namespaces", "", "coco-system")
        .is_none());
    // One GET per planned name at most, one Helm Secret list.
    let gets = server
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/clusterroles/kata-deploy-role"))
        .count();
    assert_eq!(gets, 1);
}

#[tokio::test]
async fn preflight_tells_an_installed_helm_release_from_an_uninstalled_one() {
    let server = brownfield("04a-helm-kata-deploy-4.1.0-uninstalled-rbac-kept");
    server.put_raw(
        "/api/v1",
        "secrets",
        "kube-system",
        serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": "sh.helm.release.v1.kata-deploy.v1", "namespace": "kube-system",
            "labels": {"owner": "helm", "name": "kata-deploy", "status": "deployed"}}}),
    );
    let t = preflight_x86(&server).await.unwrap_err().to_string();
    assert!(
        t.contains("which is installed") && t.contains("helm uninstall kata-deploy -n kube-system"),
        "{t}"
    );
    nothing_written(&server);
}

#[tokio::test]
async fn preflight_refuses_a_planned_name_another_tool_manages_and_accepts_its_own() {
    let server = three_nodes();
    server.put_raw(
        "/apis/rbac.authorization.k8s.io/v1",
        "clusterroles",
        "",
        serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "kata-deploy-role"}, "rules": []}),
    );
    let t = preflight_x86(&server).await.unwrap_err().to_string();
    assert!(t.contains("ClusterRole/kata-deploy-role: exists and is managed by field manager(s) kubectl-create"), "{t}");
    // Its own objects (an install, then the preflight of the next upgrade) are no owner.
    let server = three_nodes();
    deploy(&server, Mode::Install, &[], false).await.unwrap();
    preflight_x86(&server).await.unwrap();
}

#[tokio::test]
async fn preflight_refuses_a_node_whose_containerd_is_older_than_kata_deploy_accepts() {
    let server = three_nodes();
    server.merge(
        "/api/v1",
        "nodes",
        "",
        "node-b",
        serde_json::json!({"status": {"nodeInfo": {"containerRuntimeVersion": "containerd://1.6.20"}}}),
    );
    let e = preflight_x86(&server).await.unwrap_err();
    let t = e.to_string();
    assert!(
        t.contains("containerd older than 1.7.0")
            && t.contains("1 node(s): node-b (runs containerd 1.6.20)"),
        "{t}"
    );
    assert!(!t.contains("node-a"), "{t}");
    nothing_written(&server);
}

fn authorization_requests(server: &ApiServer) -> (usize, usize) {
    let reqs = server.requests();
    let count = |kind: &str| {
        reqs.iter()
            .filter(|r| r.method == "POST" && r.path.ends_with(kind))
            .count()
    };
    (
        count("selfsubjectrulesreviews"),
        count("selfsubjectaccessreviews"),
    )
}

#[tokio::test]
async fn preflight_asks_for_rules_once_per_namespace_not_once_per_permission() {
    let server = three_nodes();
    preflight_x86(&server).await.unwrap();
    // The cluster-wide rules and coco-system's: two reviews, no access review.
    assert_eq!(authorization_requests(&server), (2, 0));
}

#[tokio::test]
async fn rules_reviews_still_find_each_missing_permission() {
    let server = three_nodes();
    server.deny("create", "clusterrolebindings");
    server.deny("list", "pods");
    let e = preflight_x86(&server).await.unwrap_err().to_string();
    assert!(e.contains("missing 2 permission(s)"), "{e}");
    assert!(
        e.contains("create clusterrolebindings.rbac.authorization.k8s.io (cluster-wide)"),
        "{e}"
    );
    assert!(e.contains("list pods in coco-system"), "{e}");
    assert_eq!(authorization_requests(&server), (2, 0));
}

#[tokio::test]
async fn an_incomplete_rules_list_falls_back_to_one_access_review_per_undecided_permission() {
    let server = three_nodes();
    server.rules_incomplete();
    server.deny("patch", "runtimeclasses");
    let e = preflight_x86(&server).await.unwrap_err().to_string();
    assert!(e.contains("missing 1 permission(s)"), "{e}");
    assert!(
        e.contains("patch runtimeclasses.node.k8s.io (cluster-wide)"),
        "{e}"
    );
    let (rules, access) = authorization_requests(&server);
    assert_eq!(rules, 2);
    assert!(
        access > 10,
        "every undecided permission was asked: {access}"
    );
}

/// A namespace someone deleted stays Terminating for a while on a real server; it takes
/// no new objects then (403 NamespaceTerminating), which is not a permission problem.
#[tokio::test]
async fn a_namespace_being_deleted_is_refused_before_any_write_and_named_if_it_goes_mid_install() {
    use k8s_openapi::api::core::v1::Namespace;
    let server = three_nodes();
    server.sim(|s| s.namespace_grace = Duration::from_secs(600));
    let api: kube::Api<Namespace> = kube::Api::all(cluster(&server).client.clone());
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "coco-system"}})).unwrap();
    api.create(&Default::default(), &ns).await.unwrap();
    api.delete("coco-system", &Default::default())
        .await
        .unwrap();
    let live = api.get("coco-system").await.unwrap();
    assert!(
        live.metadata.deletion_timestamp.is_some(),
        "still there, Terminating"
    );

    server.clear_requests();
    let e = preflight_x86(&server).await.unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    let t = e.to_string();
    assert!(
        t.contains("namespace coco-system is being deleted (Terminating since")
            && t.contains("kubectl get namespace coco-system"),
        "{t}"
    );
    nothing_written(&server);

    // Past the preflight (the namespace was deleted after it ran): the first new object
    // is refused, and the error says why instead of asking for permissions.
    let e = match deploy(&server, Mode::Install, &[], false).await {
        Ok(_) => panic!("installed into a terminating namespace"),
        Err(f) => f.error.to_string(),
    };
    assert!(
        e.contains("namespace coco-system is being deleted (Terminating)")
            && !e.contains("grant the permission"),
        "{e}"
    );
}

async fn preflight_notes(server: &ApiServer, sets: &[&str]) -> Vec<String> {
    preflight_with(server, sets).await.unwrap().notes
}

#[tokio::test]
async fn preflight_warns_when_no_proxy_misses_the_pod_cidr_and_the_kubernetes_service() {
    let server = ApiServer::start(Sim::default());
    server.add_node("node-a", &[]);
    server.merge(
        "/api/v1",
        "nodes",
        "",
        "node-a",
        serde_json::json!({"spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}}),
    );
    server.put_raw("/api/v1", "services", "default", serde_json::json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default"}, "spec": {"clusterIP": "10.96.0.1", "ports": [{"port": 443}]}}));
    let notes = preflight_notes(
        &server,
        &["proxy.httpsProxy=http://p:3128", "proxy.noProxy=.svc"],
    )
    .await;
    let note = notes
        .iter()
        .find(|n| n.starts_with("proxy.noProxy lacks"))
        .unwrap_or_else(|| panic!("no proxy note in {notes:?}"));
    assert!(note.contains("10.244.1.0/24 (a pod CIDR"), "{note}");
    assert!(note.contains("10.96.0.1"), "{note}");
    assert!(note.contains(".cluster.local"), "{note}");
    nothing_written(&server);

    let complete = preflight_notes(
        &server,
        &[
            "proxy.httpsProxy=http://p:3128",
            "proxy.noProxy=10.0.0.0/8\\,.svc\\,.cluster.local",
        ],
    )
    .await;
    assert!(
        !complete.iter().any(|n| n.contains("proxy.noProxy")),
        "{complete:?}"
    );
}

const EROFS: &[&str] = &[
    "snapshotter.setup={nydus,erofs}",
    "shims.qemu-coco-dev-runtime-rs.enabled=true,shims.qemu-coco-dev-runtime-rs.containerd.snapshotter=erofs",
    // The x86_64 profile's nodes; on others defaultShim would name a shim they lack.
    "shims.qemu-coco-dev-runtime-rs.supportedArches={amd64}",
];

/// `node`'s published probe summary (the annotation the probe agent writes), with these
/// check statuses and fixes.
fn publish_probe(server: &ApiServer, node: &str, checks: &[(&str, char)], fixes: &[(&str, &str)]) {
    let mut s = cococtl_probe::publish::failed("unused", None);
    s.error = None;
    s.checks = checks.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    s.remediations = fixes
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    server.merge(
        "/api/v1",
        "nodes",
        "",
        node,
        serde_json::json!({"metadata": {"annotations": {
            cococtl_core::node_keys::PROBE_REPORT: cococtl_probe::publish::annotation(&s)
        }}}),
    );
}

/// Three nodes running containerd 2.2.0 (what an erofs mapping needs), so only the
/// published probe results decide.
fn three_erofs_capable_nodes() -> ApiServer {
    let server = three_nodes();
    for n in ["node-a", "node-b", "node-c"] {
        server.merge(
            "/api/v1",
            "nodes",
            "",
            n,
            serde_json::json!({"status": {"nodeInfo": {"containerRuntimeVersion": "containerd://2.2.0"}}}),
        );
    }
    server
}

#[tokio::test]
async fn preflight_refuses_an_erofs_mapping_on_a_node_whose_published_mkfs_erofs_fails() {
    let server = three_erofs_capable_nodes();
    publish_probe(
        &server,
        "node-a",
        &[("erofs.kernel", 'p'), ("erofs.mkfs", 'p')],
        &[],
    );
    publish_probe(
        &server,
        "node-b",
        &[("erofs.kernel", 'p'), ("erofs.mkfs", 'f')],
        &[(
            "erofs.mkfs",
            "install erofs-utils 1.8.2 or newer on the node",
        )],
    );
    let t = preflight_with(&server, EROFS)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        t.contains("published probe result fails erofs.mkfs: node-b")
            && t.contains("qemu-coco-dev-runtime-rs")
            && t.contains("install erofs-utils 1.8.2 or newer on the node"),
        "{t}"
    );
    assert!(!t.contains("node-a") && !t.contains("node-c"), "{t}");
    nothing_written(&server);
    // Without the erofs mapping the same published results refuse nothing.
    preflight_with(&server, &[]).await.unwrap();
}

#[tokio::test]
async fn preflight_notes_the_nodes_the_probe_never_saw_instead_of_refusing_them() {
    let server = three_erofs_capable_nodes();
    publish_probe(
        &server,
        "node-a",
        &[("erofs.kernel", 'p'), ("erofs.mkfs", 'p')],
        &[],
    );
    let notes = preflight_notes(&server, EROFS).await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("2 node(s) not probed: node-b, node-c")
                && n.contains("run `cococtl check`")),
        "{notes:?}"
    );
}

/// Install on a cluster that already runs a kata install refuses (exit 2), naming it (kind,
/// version, owner) and the line that shows the take-over plan, and writes nothing: the only
/// POSTs are the permission reviews, which store nothing.
#[tokio::test]
async fn install_over_an_existing_kata_install_names_it_and_points_at_the_take_over_plan() {
    for (dir, wants) in [
        (
            "01-helm-kata-deploy-4.1.0-kube-system",
            &[
                "kata-deploy chart 4.1.0 from Helm release kata-deploy (namespace kube-system, revision 1, deployed)",
            ][..],
        ),
        (
            "03a-helm-coco-0.16.0-coco-system",
            &[
                "CoCo chart confidential-containers 0.16.0 (kata-deploy 3.22.0) from Helm release coco (namespace coco-system, revision 1, deployed)",
            ][..],
        ),
        (
            "05-manifests-kata-deploy-3.21.0-kube-system",
            &["applied by hand (kubectl), image quay.io/kata-containers/kata-deploy:latest"][..],
        ),
        (
            "06-operator-v0.17.0-ccruntime-sample",
            &["CoCo operator v0.17.0, CcRuntime(s): ccruntime-sample"][..],
        ),
    ] {
        let server = brownfield(dir);
        let e = preflight_x86(&server).await.unwrap_err();
        assert_eq!(e.exit_code(), 2, "{dir}: {e}");
        let t = e.to_string();
        for want in wants {
            assert!(t.contains(want), "{dir}: missing `{want}` in:\n{t}");
        }
        assert!(
            t.trim_end()
                .ends_with("cococtl diff --profile x86_64 --take-over"),
            "{dir}: the last line runs the diff:\n{t}"
        );
        for r in server.requests() {
            let review = r.method == "POST" && r.path.contains("/selfsubject");
            assert!(
                !matches!(r.method.as_str(), "POST" | "PATCH" | "PUT" | "DELETE") || review,
                "{dir}: preflight wrote: {}",
                r.line()
            );
        }
        // Helm's release Secrets are listed by their label, never all Secrets.
        assert!(
            server.requests().iter().any(|r| r.method == "GET"
                && r.path == "/api/v1/secrets"
                && r.query.get("labelSelector").map(String::as_str) == Some("owner=helm")),
            "{dir}: no labelled Secret list"
        );
        assert!(
            !server
                .requests()
                .iter()
                .any(|r| r.path == "/api/v1/secrets" && !r.query.contains_key("labelSelector")),
            "{dir}: listed every Secret"
        );
    }
}
