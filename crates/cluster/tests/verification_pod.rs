//! `verification.pod` against the API stand-in: a pod whose sandbox cannot be created is
//! created again (up to 3 times, as the chart's Job retries), a fourth failure fails the
//! verification, and the pod is deleted in every case.

use std::time::Duration;

use cococtl_cluster::client::Cluster;
use cococtl_cluster::observe::Observer;
use cococtl_cluster::testing::{ApiServer, Sim};
use cococtl_cluster::verification::{self, Verdict};
use cococtl_profile::config::Verification;
use serde_json::json;

#[derive(Default)]
struct Rec(Vec<String>);
impl Observer for Rec {
    fn step(&mut self, what: &str) {
        self.0.push(what.to_string());
    }
    fn line(&mut self, text: &str) {
        self.0.push(text.to_string());
    }
    fn progress(&mut self, _: &cococtl_cluster::core::readiness::Progress) {}
}

fn cluster(server: &ApiServer) -> Cluster {
    cococtl_cluster::tls_provider();
    let config = kube::Config::new(server.url.parse().unwrap());
    Cluster::from_client(kube::Client::try_from(config).unwrap(), &server.url)
}

fn setup(sandbox_failures: usize) -> ApiServer {
    let s = ApiServer::start(Sim {
        sandbox_failures,
        ..Default::default()
    });
    s.add_node("node-a", &[]);
    s.put_raw(
        "/apis/node.k8s.io/v1",
        "runtimeclasses",
        "",
        json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
            "metadata": {"name": "kata-qemu-coco-dev"}, "handler": "kata-qemu-coco-dev"}),
    );
    s
}

fn v() -> Verification {
    Verification {
        pod: serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "kata-verify"},
            "spec": {"runtimeClassName": "kata-qemu-coco-dev", "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox"}]}}))
        .unwrap(),
        namespace: "default".into(),
        timeout_secs: 20,
    }
}

fn creates(s: &ApiServer) -> usize {
    s.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/api/v1/namespaces/default/pods")
        .count()
}

#[tokio::test]
async fn a_failed_sandbox_is_retried_and_the_pod_then_succeeds() {
    let s = setup(2);
    let mut rec = Rec::default();
    let r = verification::run(&cluster(&s), &v(), Duration::from_millis(50), &mut rec)
        .await
        .unwrap();
    assert_eq!(r, Verdict::Succeeded, "{:#?}", rec.0);
    assert_eq!(creates(&s), 3);
    assert_eq!(
        rec.0
            .iter()
            .filter(|l| l.contains("sandbox could not be created"))
            .count(),
        2
    );
    assert!(s.get("/api/v1", "pods", "default", "kata-verify").is_none());
}

#[tokio::test]
async fn a_sandbox_that_keeps_failing_fails_after_three_retries() {
    let s = setup(10);
    let mut rec = Rec::default();
    let r = verification::run(&cluster(&s), &v(), Duration::from_millis(50), &mut rec)
        .await
        .unwrap();
    match r {
        Verdict::Failed(why) => assert!(
            why.contains("its sandbox could not be created, 4 times"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(creates(&s), 4);
    assert!(s.get("/api/v1", "pods", "default", "kata-verify").is_none());
}

/// A verification pod that does not go when deleted (a finalizer nobody removes) is an
/// error naming it, not a create that meets it or a verdict that leaves it behind.
#[tokio::test]
async fn a_pod_that_stays_after_its_delete_is_named_not_ignored() {
    let s = ApiServer::start(Sim {
        enabled: false,
        ..Default::default()
    });
    s.put_raw(
        "/api/v1",
        "pods",
        "default",
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "kata-verify", "namespace": "default",
                "finalizers": ["example.com/held-by-a-controller-that-is-gone"]},
            "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Running"}}),
    );
    let mut rec = Rec::default();
    let e = verification::run(&cluster(&s), &v(), Duration::from_millis(1), &mut rec)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains(
            "waiting for Pod/default/kata-verify to be deleted (finalizers still running?)"
        ),
        "{text}"
    );
    assert_eq!(e.exit_code(), 1);
    assert_eq!(creates(&s), 0, "nothing is created over it");
}
