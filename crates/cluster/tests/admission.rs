//! Admission failures against the API-server stand-in: a webhook that keeps refusing a
//! workload's pods ends the wait early, naming it; a single refusal does not; `status`
//! shows the webhook unhealthy (docs/cluster-lifecycle.md#admission).

use std::time::{Duration, Instant};

use cococtl_cluster::client::Cluster;
use cococtl_cluster::core::release::{self, Status};
use cococtl_cluster::deploy::{self, Mode, Request};
use cococtl_cluster::error::ClusterError;
use cococtl_cluster::observe::Observer;
use cococtl_cluster::spec::ReleaseSpec;
use cococtl_cluster::testing::{ApiServer, DenyingWebhook, Sim};
use cococtl_cluster::{release_store, status};
use cococtl_manifests::{plan, ClusterFacts};
use cococtl_profile::Inputs;

struct Quiet;
impl Observer for Quiet {
    fn step(&mut self, _: &str) {}
    fn line(&mut self, _: &str) {}
    fn progress(&mut self, _: &cococtl_cluster::core::readiness::Progress) {}
}

const WEBHOOK: &str = "deny-privileged.policy.example.com";

fn now() -> String {
    "2026-11-30T12:00:00Z".into()
}

fn cluster(server: &ApiServer) -> Cluster {
    cococtl_cluster::tls_provider();
    let config = kube::Config::new(server.url.parse().unwrap());
    Cluster::from_client(kube::Client::try_from(config).unwrap(), &server.url)
}

fn two_nodes(denying: Vec<DenyingWebhook>) -> ApiServer {
    let s = ApiServer::start(Sim {
        watch_quiet: Duration::from_millis(400),
        denying_webhooks: denying,
        ..Default::default()
    });
    for n in ["node-a", "node-b"] {
        s.add_node(n, &[]);
    }
    s
}

async fn install(
    server: &ApiServer,
    timeout: Duration,
) -> Result<deploy::Outcome, deploy::Failure> {
    let cl = cluster(server);
    let i = Inputs {
        profile: Some((
            "x86_64".into(),
            cococtl_profile::builtin_profile("x86_64").unwrap().into(),
        )),
        files: vec![],
        sets: vec![],
        kata_version: None,
        namespace: "coco-system".into(),
    };
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
        wait: Some(timeout),
        now: &now,
    };
    deploy::run(&cl, &req, &mut Quiet).await
}

#[tokio::test]
async fn a_webhook_that_keeps_refusing_the_kata_deploy_pods_ends_the_wait_early_naming_it() {
    let server = two_nodes(vec![DenyingWebhook::denies(
        WEBHOOK,
        "coco-system",
        "privileged containers are not allowed",
    )]);
    let timeout = Duration::from_secs(60);
    let t = Instant::now();
    let e = install(&server, timeout).await.unwrap_err();
    let elapsed = t.elapsed();
    assert!(elapsed < timeout / 2, "the wait ran {elapsed:?}");
    assert!(
        matches!(e.error, ClusterError::Rejected { .. }),
        "{:?}",
        e.error
    );
    let text = e.error.to_string();
    assert!(text.contains("before the timeout"), "{text}");
    assert!(
        text.contains(&format!("DaemonSet coco-system/kata-deploy cannot create its pods: admission webhook {WEBHOOK} rejects them: admission webhook \"{WEBHOOK}\" denied the request: privileged containers are not allowed")),
        "{text}"
    );
    assert!(
        text.contains(&format!("fix: check the webhook {WEBHOOK}")),
        "{text}"
    );
    assert!(text.contains("kubectl get events -n coco-system"), "{text}");
    assert_eq!(e.error.exit_code(), 1);
    let h = release_store::history(&cluster(&server), "coco-system", "default")
        .await
        .unwrap();
    assert_eq!(h.latest().unwrap().status, Status::Failed);
}

#[tokio::test]
async fn a_single_refusal_followed_by_pods_does_not_end_the_wait() {
    let server = two_nodes(vec![DenyingWebhook::denies(
        WEBHOOK,
        "coco-system",
        "the policy cache is warming up",
    )
    .times(1)]);
    let out = install(&server, Duration::from_secs(30)).await;
    let out = out.map_err(|e| e.error.to_string()).unwrap();
    assert!(out.progress.unwrap().all_ready());
    // The refusal was recorded like the DaemonSet controller does.
    let ev = server
        .list("/api/v1", "events")
        .into_iter()
        .find(|e| e["reason"] == "FailedCreate")
        .expect("a FailedCreate event");
    assert_eq!(ev["type"], "Warning");
    assert_eq!(ev["involvedObject"]["kind"], "DaemonSet");
    assert_eq!(ev["count"], 1);
    assert_eq!(ev["source"]["component"], "daemonset-controller");
    assert!(ev["message"].as_str().unwrap().starts_with(&format!(
        "Error creating: admission webhook \"{WEBHOOK}\" denied the request"
    )));
}

#[tokio::test]
async fn status_shows_a_webhook_that_rejects_the_kata_deploy_pods_unhealthy_and_degraded() {
    let server = two_nodes(vec![]);
    install(&server, Duration::from_secs(30))
        .await
        .map_err(|e| e.error.to_string())
        .unwrap();
    let cl = cluster(&server);
    let rep = status::report(
        "coco-system",
        &status::gather(&cl, "coco-system", None).await.unwrap(),
    );
    assert!(!rep.degraded && rep.webhooks.is_empty(), "{rep:#?}");

    // A policy webhook arrives; node-a's pod is evicted and cannot come back.
    server.sim(|s| {
        s.denying_webhooks = vec![DenyingWebhook::denies(
            WEBHOOK,
            "coco-system",
            "privileged containers are not allowed",
        )]
    });
    server.remove("/api/v1", "pods", "coco-system", "kata-deploy-node-a");
    for _ in 0..100 {
        if server
            .list("/api/v1", "events")
            .iter()
            .any(|e| e["reason"] == "FailedCreate")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rep = status::report(
        "coco-system",
        &status::gather(&cl, "coco-system", None).await.unwrap(),
    );
    assert!(rep.degraded, "{rep:#?}");
    assert_eq!(rep.webhooks.len(), 1, "{rep:#?}");
    let w = &rep.webhooks[0];
    assert_eq!(w.name, WEBHOOK);
    assert!(!w.healthy);
    assert!(
        w.reason.starts_with(&format!("rejects the pods of DaemonSet coco-system/kata-deploy: admission webhook \"{WEBHOOK}\" denied the request: privileged containers are not allowed")),
        "{}",
        w.reason
    );
    let json = serde_json::to_value(&rep).unwrap();
    assert_eq!(json["webhooks"][0]["healthy"], false);
}
