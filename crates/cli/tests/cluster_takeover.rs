//! `cococtl diff --take-over` and `install --take-over` against the stand-in seeded with
//! brownfield captures: `diff` prints what was found, then the plan, and writes nothing;
//! `install` without `--take-over` refuses naming what is there; `install --take-over` on
//! the CoCo chart 0.16.0 prints the plan, cleans every node with the old image's clean-up
//! and installs a ready release, and a kill -9 in the middle of it is continued by the
//! rerun.

mod standin;

use std::path::Path;
use std::time::Duration;

use cococtl_cluster::testing::{ApiServer, Sim};
use standin::{cococtl, text};

const DIR: &str = "01-helm-kata-deploy-4.1.0-kube-system";

/// The stand-in with the capture's objects and nodes, and a kubeconfig for it.
fn seeded() -> (ApiServer, tempfile::TempDir, std::path::PathBuf) {
    seeded_with(DIR)
}

fn seeded_with(folder: &str) -> (ApiServer, tempfile::TempDir, std::path::PathBuf) {
    let server = ApiServer::start(Sim {
        watch_quiet: Duration::from_millis(400),
        ..Default::default()
    });
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cluster/tests/fixtures/brownfield")
        .join(folder);
    for file in ["objects.json", "nodes.json"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let list: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(server.seed_list(&list) > 0);
    }
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("config");
    std::fs::write(&kc, server.kubeconfig()).unwrap();
    (server, dir, kc)
}

fn nothing_written(server: &ApiServer) {
    for r in server.requests() {
        assert!(
            !matches!(r.method.as_str(), "POST" | "PATCH" | "PUT" | "DELETE"),
            "wrote: {}",
            r.line()
        );
    }
}

/// Only reads, and the access reviews (POSTs of self-subject reviews) preflight asks.
fn nothing_written_but_access_reviews(server: &ApiServer) {
    for r in server.requests() {
        let review = r.method == "POST" && r.path.contains("/selfsubject");
        assert!(
            !matches!(r.method.as_str(), "POST" | "PATCH" | "PUT" | "DELETE") || review,
            "wrote: {}",
            r.line()
        );
    }
}

#[test]
fn diff_take_over_prints_what_was_found_then_the_plan_and_writes_nothing() {
    let (server, _dir, kc) = seeded();
    let o = cococtl(&kc, &["diff", "--profile", "x86_64", "--take-over"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Found 1 install(s):", "{out}");
    assert_eq!(
        lines[1],
        "1. kata-deploy chart 4.1.0 from Helm release kata-deploy (namespace kube-system, revision 1, deployed)",
        "{out}"
    );
    assert!(out.contains("25 RuntimeClass"), "{out}");
    let plan_at = lines
        .iter()
        .position(|l| l.starts_with("Take-over plan (into namespace coco-system"))
        .unwrap_or_else(|| panic!("no plan:\n{out}"));
    assert!(plan_at > 1, "found before the plan:\n{out}");
    assert!(
        lines[plan_at + 2].contains("delete DaemonSet kube-system/kata-deploy")
            && lines[plan_at + 2].contains("--max-unavailable cannot bound this"),
        "{out}"
    );
    assert!(
        out.contains("delete Secret kube-system/sh.helm.release.v1.kata-deploy.v1"),
        "{out}"
    );
    assert!(out.contains("Nothing refuses the take-over."), "{out}");
    assert!(
        !out.contains("object(s) would change"),
        "no object diff:\n{out}"
    );
    nothing_written(&server);

    let o = cococtl(
        &kc,
        &["diff", "--profile", "x86_64", "--take-over", "-o", "json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("-o json parses");
    assert_eq!(v["found"][0]["kind"], "helm_kata_deploy", "{v}");
    assert_eq!(v["found"][0]["release"]["chart_version"], "4.1.0", "{v}");
    assert_eq!(v["found"][0]["release"]["name"], "kata-deploy", "{v}");
    assert_eq!(
        v["found"][0]["runtime_classes"].as_array().unwrap().len(),
        25
    );
    assert_eq!(v["plan"]["refusals"], serde_json::json!([]));
    assert_eq!(v["target"]["namespace"], "coco-system");
    nothing_written(&server);
}

#[test]
fn install_without_take_over_refuses_naming_what_is_there() {
    let (server, _dir, kc) = seeded();
    let o = cococtl(&kc, &["install", "--profile", "x86_64", "--wait=false"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("kata-deploy chart 4.1.0 from Helm release kata-deploy (namespace kube-system"),
        "{t}"
    );
    assert!(
        t.contains("cococtl diff --profile x86_64 --take-over"),
        "{t}"
    );
    nothing_written_but_access_reviews(&server);
}

const COCO: &str = "03a-helm-coco-0.16.0-coco-system";

fn install_take_over(kc: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_cococtl"));
    c.args([
        "install",
        "--profile",
        "x86_64",
        "--take-over",
        "--wait",
        "--timeout",
        "2m",
        "--kubeconfig",
    ])
    .arg(kc)
    .env_remove("KUBECONFIG")
    .env_remove("RUST_LOG");
    c
}

/// Nothing of the CoCo chart's install is left, and cococtl's release is there.
fn coco_chart_replaced(server: &ApiServer) {
    assert!(server
        .get(
            "/apis/apps/v1",
            "daemonsets",
            "coco-system",
            "kata-as-coco-runtime"
        )
        .is_none());
    assert!(server
        .get(
            "/api/v1",
            "serviceaccounts",
            "coco-system",
            "kata-as-coco-runtime-sa"
        )
        .is_none());
    assert!(server
        .get(
            "/apis/rbac.authorization.k8s.io/v1",
            "clusterroles",
            "",
            "kata-as-coco-runtime-role"
        )
        .is_none());
    let helm: Vec<_> = server
        .list("/api/v1", "secrets")
        .into_iter()
        .filter(|s| s["type"] == "helm.sh/release.v1")
        .collect();
    assert!(helm.is_empty(), "Helm's record is gone: {helm:?}");
    assert!(server
        .get("/api/v1", "configmaps", "coco-system", "cococtl-takeover")
        .is_none());
    let dss: Vec<String> = server
        .list("/apis/apps/v1", "daemonsets")
        .iter()
        .map(|d| {
            d["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert!(dss.iter().any(|d| d == "kata-deploy"), "{dss:?}");
    assert!(
        !dss.iter().any(|d| d.starts_with("cococtl-takeover")),
        "{dss:?}"
    );
    // cococtl's RuntimeClass under an old name, owned by cococtl now.
    let rc = server
        .get(
            "/apis/node.k8s.io/v1",
            "runtimeclasses",
            "",
            "kata-qemu-snp",
        )
        .expect("kata-qemu-snp");
    assert!(
        rc.pointer("/metadata/labels/cococtl.confidentialcontainers.org~1instance")
            .is_some(),
        "{rc}"
    );
    for rc in server.list("/apis/node.k8s.io/v1", "runtimeclasses") {
        assert!(
            rc.pointer("/metadata/labels/cococtl.confidentialcontainers.org~1instance")
                .is_some(),
            "only cococtl's RuntimeClasses are left: {rc}"
        );
    }
}

#[test]
fn install_take_over_of_the_coco_chart_prints_the_plan_cleans_every_node_and_installs() {
    let (server, _dir, kc) = seeded_with(COCO);
    let o = install_take_over(&kc).output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let err = String::from_utf8_lossy(&o.stderr);
    let plan_at = err.find("Take-over plan").expect("the plan first");
    let first_step = err.find("take-over 1/").expect("the steps");
    assert!(plan_at < first_step, "{err}");
    for want in [
        "deleting DaemonSet coco-system/kata-as-coco-runtime",
        "running the old clean-up (DaemonSet coco-system/cococtl-takeover-kata-as-coco-runtime) on 2 node(s)",
        "node bf-node-1: cleaning up",
        "node bf-node-2: clean",
        "deleted Secret coco-system/sh.helm.release.v1.coco.v1",
        "take-over: the old install(s) are gone",
    ] {
        assert!(err.contains(want), "missing {want:?}:\n{err}");
    }
    coco_chart_replaced(&server);
    let reqs = server.requests();
    let writes = reqs
        .iter()
        .filter(|r| matches!(r.method.as_str(), "POST" | "PATCH" | "PUT" | "DELETE"))
        .count();
    println!("{err}\n{} API requests ({writes} writes)", reqs.len());
}

fn record_done(server: &ApiServer) -> Option<u64> {
    server
        .get("/api/v1", "configmaps", "coco-system", "cococtl-takeover")
        .and_then(|cm| {
            let r: serde_json::Value =
                serde_json::from_str(cm["data"]["takeover.json"].as_str()?).ok()?;
            r["done"].as_u64()
        })
}

/// Starts `install --take-over` and kills it (SIGKILL) once its record says `k` steps are
/// done; the steps done by then, or `None` when it finished (and forgot its record) first.
fn killed_after(server: &ApiServer, kc: &Path, k: u64) -> Option<u64> {
    let mut child = install_take_over(kc)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while record_done(server).is_none_or(|d| d < k) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never got past step {k}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    record_done(server)
}

#[test]
fn a_take_over_killed_at_every_step_is_continued_by_the_rerun() {
    // The CoCo chart's take-over has 5 steps; kill -9 once the record exists (0 done) and
    // after each of the first four.
    for k in 0..5u64 {
        let (server, _dir, kc) = seeded_with(COCO);
        let Some(at) = killed_after(&server, &kc, k) else {
            // It finished the take-over between the poll and the kill.
            continue;
        };

        let o = cococtl(&kc, &["status", "-n", "coco-system"]);
        let t = text(&o);
        assert!(
            t.contains(&format!("{at} of 5 step(s) done")),
            "status shows the record after a kill at {k}:\n{t}"
        );
        assert_eq!(o.status.code(), Some(1), "degraded meanwhile: {t}");

        let o = install_take_over(&kc).output().unwrap();
        let t = text(&o);
        assert_eq!(o.status.code(), Some(0), "rerun after a kill at {k}: {t}");
        assert!(t.contains("take-over: continuing the recorded one"), "{t}");
        coco_chart_replaced(&server);
    }
}

/// Refused (exit 2) before any write: the plan names why.
fn refused_without_a_write(server: &ApiServer, kc: &Path, want: &str) {
    let o = install_take_over(kc).output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains(want), "{t}");
    assert!(t.contains("nothing was changed"), "{t}");
    nothing_written_but_access_reviews(server);
}

#[test]
fn take_over_refuses_what_it_cannot_do_safely_and_writes_nothing() {
    // Kata pods on the old RuntimeClasses, without --drain.
    let (server, _dir, kc) = seeded_with(COCO);
    server.put_raw(
        "/api/v1",
        "pods",
        "default",
        serde_json::json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "app", "namespace": "default"},
            "spec": {"runtimeClassName": "kata-qemu-snp", "nodeName": "bf-node-1", "containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Running"}}),
    );
    server.clear_requests();
    refused_without_a_write(&server, &kc, "default/app");

    // Two old installs on the same nodes.
    let (server, _dir, kc) = seeded_with(COCO);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cluster/tests/fixtures/brownfield/05-manifests-kata-deploy-3.21.0-kube-system/objects.json");
    let list: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root).unwrap()).unwrap();
    server.seed_list(&list);
    server.clear_requests();
    refused_without_a_write(&server, &kc, "is served by 2 installs at once");

    // A kata-deploy DaemonSet nobody can account for.
    let (server, _dir, kc) = seeded_with(COCO);
    server.put_raw(
        "/apis/apps/v1",
        "daemonsets",
        "default",
        serde_json::json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "mystery", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"name": "mystery"}}, "template": {
                "metadata": {"labels": {"name": "mystery"}},
                "spec": {"nodeSelector": {"mystery": "yes"}, "containers": [{"name": "c", "image": "quay.io/kata-containers/kata-deploy:3.99.0"}]}}}}),
    );
    server.clear_requests();
    refused_without_a_write(&server, &kc, "cannot tell what it installed");
}

#[test]
fn a_take_over_the_user_may_not_finish_is_refused_before_the_first_change() {
    let (server, _dir, kc) = seeded_with(COCO);
    server.deny("delete", "clusterroles");
    server.clear_requests();
    let o = install_take_over(&kc).output().unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(t.contains("missing 1 permission(s)"), "{t}");
    assert!(
        t.contains("delete clusterroles.rbac.authorization.k8s.io (cluster-wide)"),
        "{t}"
    );
    nothing_written_but_access_reviews(&server);
    assert!(server
        .get(
            "/apis/apps/v1",
            "daemonsets",
            "coco-system",
            "kata-as-coco-runtime"
        )
        .is_some());
}

/// `status --watch` shows a take-over's record and each node's state in it as they move
/// on (the record is not among the watched objects: it is read again every 2 s), stops
/// showing it once the take-over is done, and follows the release installed after it.
#[test]
fn status_watch_follows_the_take_over_record_until_it_is_gone() {
    use std::io::Read;
    use std::sync::{Arc, Mutex};
    let (server, _dir, kc) = seeded_with(COCO);
    // Interrupted after its first step, as a kill -9 would leave it.
    let at = killed_after(&server, &kc, 1).expect("interrupted before the end");

    let mut watch = std::process::Command::new(env!("CARGO_BIN_EXE_cococtl"))
        .args(["status", "--watch", "-n", "coco-system", "--kubeconfig"])
        .arg(&kc)
        .env_remove("KUBECONFIG")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let seen = Arc::new(Mutex::new(String::new()));
    let mut out = watch.stdout.take().unwrap();
    let sink = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let wait_for = |what: &dyn Fn(&str) -> bool, why: &str| {
        let start = std::time::Instant::now();
        loop {
            if what(&seen.lock().unwrap()) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "{why}:\n{}",
                seen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let first = format!("{at} of 5 step(s) done");
    wait_for(&|t| t.contains(&first), "the recorded step");

    // The rerun finishes it; the watch sees later steps, then no take-over at all.
    let o = install_take_over(&kc).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    wait_for(
        &|t| {
            let last = t.rsplit("release: ").next().unwrap_or_default();
            t.contains("release: revision 1") && !last.contains("take-over started")
        },
        "the finished take-over gone from the last report",
    );
    let t = seen.lock().unwrap().clone();
    // Each node's take-over state moved on in the display while the rerun ran (the node
    // labels are watched; the record's step count is read every 2 s and may skip steps).
    assert!(
        t.lines()
            .any(|l| l.starts_with("  bf-node-") && l.ends_with("cleaning up")),
        "a node's clean-up shown while it ran:\n{t}"
    );
    watch.kill().unwrap();
    watch.wait().unwrap();
}
