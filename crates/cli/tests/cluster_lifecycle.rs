//! The cluster commands end to end: the built binary against the API-server stand-in
//! (kubeconfig pointing at it), as a user runs them.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use cococtl_cluster::testing::{ApiServer, Sim};

const SHA: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

struct Env {
    server: ApiServer,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

fn env(nodes: usize) -> Env {
    let server = ApiServer::start(Sim {
        watch_quiet: Duration::from_millis(400),
        ..Default::default()
    });
    for i in 0..nodes {
        server.add_node(&format!("worker-{}", i + 1), &[]);
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(&kubeconfig, server.kubeconfig()).unwrap();
    Env {
        server,
        _dir: dir,
        kubeconfig,
    }
}

fn cococtl(e: &Env, args: &[&str]) -> Output {
    let before = e.server.requests().len();
    let out = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(args)
        .arg("--kubeconfig")
        .arg(&e.kubeconfig)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    if std::env::var_os("COCOCTL_SHOW").is_some() {
        println!("$ cococtl {}", args.join(" "));
        print!("{}", String::from_utf8_lossy(&out.stderr));
        print!("{}", String::from_utf8_lossy(&out.stdout));
        let reqs = e.server.requests();
        let reqs = &reqs[before..];
        let count = |m: &str| {
            reqs.iter()
                .filter(|r| r.method == m && !r.is_watch())
                .count()
        };
        println!(
            "[exit {}; {} requests: {} GET (lists and gets), {} watch, {} PATCH, {} POST, {} DELETE]\n",
            out.status.code().unwrap_or(-1),
            reqs.len(),
            count("GET"),
            reqs.iter().filter(|r| r.is_watch()).count(),
            count("PATCH"),
            count("POST"),
            count("DELETE")
        );
    }
    out
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    )
}

fn agent() -> Vec<String> {
    vec![
        "--set".into(),
        "customContainerd.enabled=true".into(),
        "--set".into(),
        "customContainerd.tarballUrl=https://example.com/containerd-2.1.9-linux-amd64.tar.gz"
            .into(),
        "--set".into(),
        format!("customContainerd.sha256={SHA}"),
    ]
}

#[test]
fn install_wait_status_history_upgrade_verify_uninstall() {
    let e = env(3);
    let mut args = vec![
        "install",
        "--profile",
        "x86_64",
        "--wait",
        "--timeout",
        "1m",
    ];
    let a = agent();
    args.extend(a.iter().map(String::as_str));
    let o = cococtl(&e, &args);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("preflight: Kubernetes v1.36.0, 3 node(s)"),
        "{t}"
    );
    assert!(t.contains("worker-2: ready"), "{t}");
    assert!(
        t.contains("release default revision 1 deployed in coco-system"),
        "{t}"
    );
    assert!(
        t.contains("kata-qemu-coco-dev") && t.contains("3 node(s)"),
        "{t}"
    );
    // The summary comes from the wait's last view of the nodes: nothing is read again
    // after the release is recorded deployed.
    assert!(t.contains("3 of 3 targeted node(s) ready"), "{t}");
    assert!(
        t.lines()
            .any(|l| l.trim_start().starts_with("kata-qemu-coco-dev ") && l.ends_with(" 3 node(s)")),
        "{t}"
    );
    let reqs = e.server.requests();
    let last = reqs
        .iter()
        .rposition(|r| r.method == "PATCH" && r.path.contains("/secrets/cococtl.release."))
        .unwrap();
    let after: Vec<String> = reqs[last + 1..].iter().map(|r| r.line()).collect();
    assert!(after.is_empty(), "read again after the record: {after:#?}");

    let o = cococtl(&e, &["status"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("nodes: 3/3 targeted ready"), "{t}");
    let o = cococtl(&e, &["status", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["schema"], "cococtl.confidentialcontainers.org/status/v1");
    assert_eq!(v["nodes"][0]["containerdAgent"], "ready");

    let args = vec![
        "upgrade",
        "--reuse-values",
        "--set",
        "debug=true",
        "--wait=false",
    ];
    let o = cococtl(&e, &args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = cococtl(&e, &["history"]);
    let t = text(&o);
    assert!(
        t.contains("superseded") && t.contains("deployed") && t.contains("--set debug=true"),
        "{t}"
    );

    let o = cococtl(
        &e,
        &[
            "verify",
            "--runtime-class",
            "kata-qemu-coco-dev",
            "--timeout",
            "30s",
        ],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("yes")
            && t.contains("guest kernel 6.12.8-kata-confidential, node kernel 6.8.0-45-generic"),
        "{t}"
    );
    assert!(
        e.server
            .list("/api/v1", "pods")
            .iter()
            .all(|p| !p["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("cococtl-verify")),
        "verify pods are deleted"
    );

    let o = cococtl(&e, &["rollback", "--wait=false"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let o = cococtl(&e, &["uninstall", "--timeout", "1m"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("containerd restored on 3 node(s)") && t.contains("nothing left"),
        "{t}"
    );
    let o = cococtl(&e, &["status"]);
    assert_eq!(o.status.code(), Some(1), "no release is degraded");
}

#[test]
fn diff_shows_creates_then_nothing_then_field_changes() {
    let e = env(2);
    let o = cococtl(&e, &["diff", "--profile", "x86_64"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("+ Namespace/coco-system (create)"), "{t}");
    let o = cococtl(&e, &["install", "--wait=false"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = cococtl(&e, &["diff", "--profile", "x86_64"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("0 object(s) would change"), "{t}");
    let o = cococtl(&e, &["diff", "--profile", "x86_64", "--set", "debug=true"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("~ DaemonSet/coco-system/kata-deploy"), "{t}");
    assert!(
        t.contains("+ RuntimeClass/kata-qemu-snp-debug (create)"),
        "{t}"
    );
}

#[test]
fn dry_run_client_needs_no_cluster_and_server_accounts_for_the_missing_namespace() {
    let e = env(1);
    let o = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args([
            "install",
            "--dry-run=client",
            "--kubeconfig",
            "/nonexistent",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("DaemonSet/coco-system/kata-deploy (would be applied)"));
    let o = cococtl(&e, &["install", "--dry-run=server"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("Namespace/coco-system would be created (validated by the server)"),
        "{t}"
    );
    assert!(t.contains("DaemonSet/coco-system/kata-deploy would be created (in the namespace this install creates"), "{t}");
    assert!(
        e.server
            .get("/api/v1", "namespaces", "", "coco-system")
            .is_none(),
        "nothing stored"
    );
}

#[test]
fn preflight_names_missing_permissions_and_another_kata_deploy_before_writing() {
    let e = env(1);
    e.server.deny("create", "clusterrolebindings");
    let o = cococtl(&e, &["install", "--wait=false"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(
        t.contains("create clusterrolebindings.rbac.authorization.k8s.io (cluster-wide)"),
        "{t}"
    );
    assert!(
        !e.server.requests().iter().any(|r| r.method == "PATCH"),
        "nothing written"
    );

    let e = env(1);
    e.server.put_raw("/api/v1", "namespaces", "", serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}));
    e.server.put_raw("/apis/apps/v1", "daemonsets", "kube-system", serde_json::json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "kata-deploy"},
        "spec": {"selector": {"matchLabels": {"name": "x"}}, "template": {"metadata": {"labels": {"name": "x"}}, "spec": {"containers": [{"name": "k", "image": "quay.io/kata-containers/kata-deploy:3.22.0"}]}}}}));
    let o = cococtl(&e, &["install", "--wait=false"]);
    let t = text(&o);
    // A kata-deploy in none of the known shapes (no Helm release, not kubectl-applied):
    // named, and the take-over plan is where to look (exit 2: the user's to resolve).
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("unknown kata install: DaemonSet kube-system/kata-deploy"),
        "{t}"
    );
    assert!(t.contains("cococtl diff --profile"), "{t}");
}

#[test]
fn a_contradicting_distribution_is_refused_and_an_unset_one_detected() {
    let e = env(0);
    e.server.add_node("k3s-1", &[]);
    e.server.merge(
        "/api/v1",
        "nodes",
        "",
        "k3s-1",
        serde_json::json!({"status": {"nodeInfo": {"kubeletVersion": "v1.33.1+k3s1"}}}),
    );
    let o = cococtl(
        &e,
        &["install", "--wait=false", "--set", "k8sDistribution=k8s"],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(
        t.contains("k8sDistribution is k8s, but the nodes run k3s"),
        "{t}"
    );
    let o = cococtl(&e, &["install", "--wait=false"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("setting k8sDistribution=k3s"), "{t}");
}

#[test]
fn install_timeout_exits_1_naming_the_stuck_node() {
    let e = env(2);
    e.server.sim(|s| s.stuck_nodes = vec!["worker-2".into()]);
    let o = cococtl(&e, &["install", "--wait", "--timeout", "3s"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("worker-2: kata-deploy pod kata-deploy-worker-2 Pending (ImagePullBackOff)"),
        "{t}"
    );
    assert!(t.contains("revision 1 is recorded as failed"), "{t}");
}

#[test]
fn usage_errors_exit_2() {
    let e = env(1);
    let o = cococtl(&e, &["install", "--timeout", "soon"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = cococtl(&e, &["rollback", "7"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn atomic_upgrade_rolls_back_when_a_node_does_not_become_ready() {
    let e = env(2);
    let o = cococtl(&e, &["install", "--wait", "--timeout", "30s"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // The debug variant's pods never get ready on worker-2 (new pods are stuck).
    e.server.sim(|s| s.stuck_nodes = vec!["worker-2".into()]);
    // The rolling update replaces worker-2's pod; the new one is stuck pulling its image.
    e.server
        .remove("/api/v1", "pods", "coco-system", "kata-deploy-worker-2");
    e.server.merge("/api/v1", "nodes", "", "worker-2", serde_json::json!({"metadata": {"labels": {"kata-deploy.katacontainers.io/default": "false"}}}));
    let o = cococtl(
        &e,
        &[
            "upgrade",
            "--set",
            "debug=true",
            "--wait",
            "--timeout",
            "3s",
            "--atomic",
        ],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("--atomic: rolling back to revision 1"), "{t}");
    let o = cococtl(&e, &["history"]);
    let t = text(&o);
    assert!(t.contains("rollback to 1") && t.contains("failed"), "{t}");
    assert!(
        e.server
            .get(
                "/apis/node.k8s.io/v1",
                "runtimeclasses",
                "",
                "kata-qemu-snp-debug"
            )
            .is_none(),
        "the debug classes were pruned by the rollback"
    );
}

#[test]
fn atomic_install_is_uninstalled_when_it_does_not_become_ready() {
    let e = env(2);
    e.server.sim(|s| s.stuck_nodes = vec!["worker-1".into()]);
    let o = cococtl(&e, &["install", "--wait", "--timeout", "3s", "--atomic"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("--atomic: uninstalling the failed install"),
        "{t}"
    );
    assert!(
        e.server
            .get("/api/v1", "namespaces", "", "coco-system")
            .is_none(),
        "{t}"
    );
    assert!(
        e.server
            .list("/apis/node.k8s.io/v1", "runtimeclasses")
            .is_empty(),
        "{t}"
    );
}

#[test]
fn status_watch_prints_again_when_a_node_changes() {
    use std::io::{BufRead, BufReader};
    let e = env(2);
    let o = cococtl(&e, &["install", "--wait", "--timeout", "30s"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut child = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(["status", "--watch", "--kubeconfig"])
        .arg(&e.kubeconfig)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen_ready = false;
    let mut seen_waiting = false;
    let start = std::time::Instant::now();
    while let Some(Ok(l)) = lines.next() {
        if l.starts_with("nodes: 2/2 targeted ready") && !seen_ready {
            seen_ready = true;
            // kata-deploy's label on worker-2 drops: status --watch must notice.
            e.server.merge("/api/v1", "nodes", "", "worker-2", serde_json::json!({"metadata": {"labels": {"katacontainers.io/kata-runtime": "false"}}}));
            e.server.sim(|s| s.enabled = false);
        }
        if seen_ready && l.starts_with("nodes: 1/2 targeted ready") {
            seen_waiting = true;
            break;
        }
        if start.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen_ready && seen_waiting,
        "ready {seen_ready}, then waiting {seen_waiting}"
    );
    let watches = e
        .server
        .requests()
        .into_iter()
        .filter(|r| r.is_watch())
        .count();
    assert!(watches >= 1);
}

#[test]
fn node_feature_discovery_on_the_cluster_adds_the_tee_selectors() {
    let e = env(1);
    e.server.put_raw(
        "/api/v1",
        "namespaces",
        "",
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "nfd"}}),
    );
    e.server.put_raw("/apis/apps/v1", "daemonsets", "nfd", serde_json::json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "nfd-worker"},
        "spec": {"selector": {"matchLabels": {"name": "nfd-worker"}}, "template": {"metadata": {"labels": {"name": "nfd-worker"}}, "spec": {"nodeSelector": {"never": "here"}, "containers": [{"name": "w", "image": "registry.k8s.io/nfd/node-feature-discovery:v0.17.0"}]}}}}));
    let o = cococtl(&e, &["install", "--wait=false"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("Node Feature Discovery runs"), "{t}");
    let snp = e
        .server
        .get(
            "/apis/node.k8s.io/v1",
            "runtimeclasses",
            "",
            "kata-qemu-snp",
        )
        .unwrap();
    assert_eq!(
        snp["scheduling"]["nodeSelector"]["amd.feature.node.kubernetes.io/snp"],
        "true"
    );
    let o = cococtl(&e, &["diff"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "diff plans with the same facts: {}",
        text(&o)
    );
}

#[test]
fn an_install_killed_mid_way_is_recorded_and_the_same_command_converges() {
    let e = env(2);
    e.server
        .sim(|s| s.stuck_nodes = vec!["worker-1".into(), "worker-2".into()]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(["install", "--wait", "--timeout", "5m", "--kubeconfig"])
        .arg(&e.kubeconfig)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the objects are applied and the wait has started, then kill -9.
    let start = std::time::Instant::now();
    // (Preflight's lists are watches too: the wait is the one on the release's pods.)
    while !e
        .server
        .requests()
        .iter()
        .any(|r| r.is_watch() && r.path == "/api/v1/namespaces/coco-system/pods")
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the install never reached its wait"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    let _ = child.wait();
    let o = cococtl(&e, &["history"]);
    let t = text(&o);
    assert!(t.contains("pending-install"), "{t}");
    // The image pulls now; the same command converges on revision 1.
    e.server.sim(|s| s.stuck_nodes.clear());
    for p in e.server.list("/api/v1", "pods") {
        let name = p["metadata"]["name"].as_str().unwrap().to_string();
        e.server.remove("/api/v1", "pods", "coco-system", &name);
    }
    let o = cococtl(&e, &["install", "--wait", "--timeout", "30s"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("found revision 1 pending-install (an earlier run did not finish): converging"),
        "{t}"
    );
    assert!(t.contains("revision 1 deployed"), "{t}");
}

#[test]
fn a_restricted_namespace_is_refused_before_writing_unless_forced() {
    let e = env(1);
    e.server.put_raw("/api/v1", "namespaces", "", serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}));
    let o = cococtl(&e, &["install", "--wait=false", "-n", "apps"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(
        t.contains("namespace apps enforces Pod Security `restricted`"),
        "{t}"
    );
    assert!(
        !e.server.requests().iter().any(|r| r.method == "PATCH"),
        "nothing written"
    );
    let o = cococtl(
        &e,
        &["install", "--wait=false", "-n", "apps", "--force-conflicts"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let ns = e.server.get("/api/v1", "namespaces", "", "apps").unwrap();
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "privileged"
    );
}

#[test]
fn node_feature_rules_auto_follows_the_clusters_nfd_api_and_true_needs_it() {
    let nfr = |e: &Env| {
        e.server.get(
            "/apis/nfd.k8s-sigs.io/v1alpha1",
            "nodefeaturerules",
            "",
            "kata-tee-keys",
        )
    };
    // No NFD: `auto` renders no rule; `true` is refused before any write.
    let e = env(1);
    let o = cococtl(
        &e,
        &[
            "install",
            "--profile",
            "x86_64",
            "--wait=false",
            "--set",
            "nodeFeatureRules.create=true",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no NodeFeatureRule API"), "{}", text(&o));
    assert!(e
        .server
        .get("/api/v1", "namespaces", "", "coco-system")
        .is_none());
    let o = cococtl(&e, &["install", "--profile", "x86_64", "--wait=false"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(nfr(&e).is_none());

    // NFD's CRD registered: `auto` renders the kata-tee-keys rule.
    let e = env(1);
    e.server.put_raw(
        "/apis/apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "",
        serde_json::json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "nodefeaturerules.nfd.k8s-sigs.io"},
            "spec": {"group": "nfd.k8s-sigs.io", "scope": "Cluster",
                "names": {"kind": "NodeFeatureRule", "plural": "nodefeaturerules", "singular": "nodefeaturerule"},
                "versions": [{"name": "v1alpha1", "served": true, "storage": true}]}}),
    );
    let o = cococtl(&e, &["install", "--profile", "x86_64", "--wait=false"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("renders the kata-tee-keys NodeFeatureRule"),
        "{}",
        text(&o)
    );
    assert!(nfr(&e).is_some(), "the rule is applied");
}

#[test]
fn verification_pod_runs_after_the_wait_and_is_deleted_and_a_failing_one_exits_1() {
    let e = env(2);
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kata-verify\nspec:\n  runtimeClassName: kata-qemu-coco-dev\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    command: [uname, -r]\n";
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("v.yaml");
    let values = |pod: &str, timeout: u32| {
        format!(
            "verification:\n  timeout: {timeout}\n  pod: |\n{}",
            pod.lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        )
    };
    std::fs::write(&f, values(pod, 60)).unwrap();
    let o = cococtl(
        &e,
        &[
            "install",
            "--profile",
            "x86_64",
            "--wait",
            "--timeout",
            "60s",
            "-f",
            f.to_str().unwrap(),
        ],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("verification: running pod default/kata-verify"),
        "{t}"
    );
    assert!(
        t.contains("verification: pod default/kata-verify succeeded"),
        "{t}"
    );
    assert!(e
        .server
        .get("/api/v1", "pods", "default", "kata-verify")
        .is_none());
    let created = e
        .server
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/api/v1/namespaces/default/pods")
        .count();
    assert_eq!(created, 1);

    // A RuntimeClass nobody made: never scheduled, so not Succeeded within the timeout.
    let bad = pod.replace("kata-qemu-coco-dev", "kata-nobody");
    std::fs::write(&f, values(&bad, 2)).unwrap();
    let o = cococtl(
        &e,
        &[
            "upgrade",
            "--profile",
            "x86_64",
            "--wait",
            "--timeout",
            "60s",
            "-f",
            f.to_str().unwrap(),
        ],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("did not succeed within verification.timeout (2 s)"),
        "{t}"
    );
    assert!(e
        .server
        .get("/api/v1", "pods", "default", "kata-verify")
        .is_none());

    // Not a Pod: refused before anything is written.
    std::fs::write(&f, values("kind: Deployment\nmetadata: {name: x}\n", 60)).unwrap();
    let before = e.server.requests().len();
    let o = cococtl(
        &e,
        &["install", "--profile", "x86_64", "-f", f.to_str().unwrap()],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("verification.pod") && t.contains("not Pod"),
        "{t}"
    );
    assert_eq!(e.server.requests().len(), before, "no request");
}
