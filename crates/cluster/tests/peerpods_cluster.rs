//! Peer pods on a cluster (issue 10, items 4–5): the pure rules (gates between phases,
//! uninstall order and refusal, preflight findings) and the edge against the API-server
//! stand-in (install order with the webhook answering before its configuration exists,
//! uninstall refusing while PeerPods exist, the MutatingWebhookConfiguration deleted first,
//! referenced Secrets kept).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cococtl_cluster::client::Cluster;
use cococtl_cluster::core::inventory::Item;
use cococtl_cluster::core::peerpods::{self as pp, Gate, PeerPodSnap};
use cococtl_cluster::core::release::{self, History, Status};
use cococtl_cluster::core::snapshot::NodeSnap;
use cococtl_cluster::core::uninstall::{self as un, Step};
use cococtl_cluster::deploy::{self, Mode, Request};
use cococtl_cluster::error::ClusterError;
use cococtl_cluster::observe::Observer;
use cococtl_cluster::spec::ReleaseSpec;
use cococtl_cluster::testing::{ApiServer, DenyingWebhook, Sim};
use cococtl_cluster::{release_store, uninstall};
use cococtl_manifests::{plan, ClusterFacts, Phase, Plan};
use cococtl_profile::{Inputs, Resolved, SetArg};
use serde_json::json;

const LIBVIRT: &str = "peerpods:
  provider: libvirt
  image:
    tag: dev-0123456789abcdef0123456789abcdef01234567
  providerConfigs:
    libvirt:
      LIBVIRT_URI: \"qemu+ssh://root@192.168.122.1/system?no_verify=1\"
  providerSecrets:
    libvirt:
      id_rsa: test-key-not-real
";

const LIBVIRT_REFERENCE: &str = "peerpods:
  provider: libvirt
  image:
    tag: dev-0123456789abcdef0123456789abcdef01234567
  providerConfigs:
    libvirt:
      LIBVIRT_URI: \"qemu+ssh://root@192.168.122.1/system?no_verify=1\"
  secrets:
    mode: reference
";

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

fn inputs(values: &str, sets: &[&str]) -> Inputs {
    Inputs {
        profile: Some((
            "remote".into(),
            cococtl_profile::builtin_profile("remote").unwrap().into(),
        )),
        files: vec![("pp.yaml".into(), values.into())],
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

fn resolved(values: &str, sets: &[&str]) -> (Resolved, Plan) {
    let r = cococtl_profile::resolve(&inputs(values, sets)).unwrap();
    let p = plan(&r.config, ClusterFacts::default());
    (r, p)
}

fn now() -> String {
    "2026-11-30T12:00:00Z".into()
}

fn cluster(server: &ApiServer) -> Cluster {
    cococtl_cluster::tls_provider();
    let config = kube::Config::new(server.url.parse().unwrap());
    Cluster::from_client(kube::Client::try_from(config).unwrap(), &server.url)
}

fn server(workers: bool, cert_manager: bool) -> ApiServer {
    let s = ApiServer::start(Sim {
        watch_quiet: Duration::from_millis(400),
        ..Default::default()
    });
    for n in ["node-a", "node-b"] {
        if workers {
            s.add_node(n, &[(pp::WORKER_LABEL, "")]);
        } else {
            s.add_node(n, &[]);
        }
    }
    if cert_manager {
        s.install_cert_manager();
    }
    s
}

async fn install(
    server: &ApiServer,
    values: &str,
    wait: Option<Duration>,
) -> Result<deploy::Outcome, deploy::Failure> {
    let c = cluster(server);
    let (r, p) = resolved(values, &[]);
    let spec = ReleaseSpec::new(&r.config, &p);
    let req = Request {
        mode: Mode::Install,
        spec: &spec,
        plan: &p,
        inputs: release::Inputs {
            profile: None,
            files: vec![],
            sets: vec![],
            kata_version: None,
            namespace: "coco-system".into(),
        },
        values: serde_json::to_value(&r.values).unwrap_or_default(),
        tool_version: "0.1.0".into(),
        force_conflicts: false,
        wait,
        now: &now,
    };
    deploy::run(&c, &req, &mut Rec::default()).await
}

async fn uninstall_release(
    server: &ApiServer,
    force: bool,
    timeout: Duration,
) -> (Result<uninstall::Outcome, ClusterError>, Vec<String>) {
    let c = cluster(server);
    let all = release_store::load_all(&c, "coco-system").await.unwrap();
    let h = History::new(all);
    let spec = ReleaseSpec::from_record("coco-system", "", "default", false);
    let mut rec = Rec::default();
    let r = uninstall::run(
        &c,
        &spec,
        &h,
        uninstall::Options { force, timeout },
        &now,
        &mut rec,
    )
    .await;
    (r, rec.0)
}

fn position(lines: &[String], pred: impl Fn(&String) -> bool) -> usize {
    lines
        .iter()
        .position(pred)
        .unwrap_or_else(|| panic!("not found in {lines:#?}"))
}

// ---------------------------------------------------------------- pure rules

#[test]
fn gates_follow_the_phases() {
    let (_, p) = resolved(LIBVIRT, &[]);
    let g = |ph: Phase| pp::gates_after(ph, p.objects(ph));
    assert_eq!(
        g(Phase::Crds),
        vec![Gate::CrdEstablished {
            name: "peerpods.confidentialcontainers.org".into()
        }]
    );
    assert_eq!(
        g(Phase::PeerPodCtrl),
        vec![Gate::DeploymentAvailable {
            namespace: "confidential-containers-system".into(),
            name: "peerpodctrl-controller-manager".into()
        }]
    );
    assert_eq!(
        g(Phase::Webhook),
        vec![
            Gate::DeploymentAvailable {
                namespace: "peer-pods-webhook-system".into(),
                name: "peer-pods-webhook-controller-manager".into()
            },
            Gate::ServiceEndpoints {
                namespace: "peer-pods-webhook-system".into(),
                name: "peer-pods-webhook-webhook-service".into()
            }
        ]
    );
    // Issue 18 item 13: nothing that creates pods follows until cert-manager injected the CA.
    let mwc = g(Phase::WebhookConfiguration);
    assert_eq!(mwc.len(), 1, "{mwc:?}");
    assert!(
        matches!(&mwc[0], Gate::CaBundleInjected { name } if !name.is_empty()),
        "{mwc:?}"
    );
    for ph in [
        Phase::Namespace,
        Phase::Rbac,
        Phase::Config,
        Phase::CloudApiAdaptor,
        Phase::Runtime,
        Phase::RuntimeClasses,
    ] {
        assert!(g(ph).is_empty(), "{ph}");
    }
    // The webhook's configuration is in a phase of its own, after the webhook's gates.
    assert_eq!(p.objects(Phase::WebhookConfiguration).len(), 1);
    assert_eq!(
        p.objects(Phase::WebhookConfiguration)[0].kind(),
        "MutatingWebhookConfiguration"
    );
}

#[test]
fn without_the_webhook_nothing_waits_for_it() {
    let (_, p) = resolved(LIBVIRT, &["peerpods.webhook.enabled=false"]);
    assert!(pp::gates_after(Phase::Webhook, p.objects(Phase::Webhook)).is_empty());
    assert!(p.objects(Phase::WebhookConfiguration).is_empty());
}

fn item(kind: &str, ns: Option<&str>, name: &str) -> Item {
    Item {
        group: String::new(),
        version: "v1".into(),
        kind: kind.into(),
        plural: format!("{}s", kind.to_lowercase()),
        namespaced: ns.is_some(),
        namespace: ns.map(String::from),
        name: name.into(),
        uid: String::new(),
    }
}

#[test]
fn uninstall_order_with_peer_pods() {
    let inv = vec![
        item("Namespace", None, "coco-system"),
        item("Namespace", None, "confidential-containers-system"),
        item("Namespace", None, "peer-pods-webhook-system"),
        item("CustomResourceDefinition", None, pp::PEERPOD_CRD),
        item(
            "MutatingWebhookConfiguration",
            None,
            "peer-pods-webhook-mutating-webhook-configuration",
        ),
        item(
            "Deployment",
            Some("confidential-containers-system"),
            "peerpodctrl-controller-manager",
        ),
        item("DaemonSet", Some("coco-system"), "kata-deploy"),
        item("RuntimeClass", None, "kata-remote"),
    ];
    let names = un::Names {
        namespace: "coco-system".into(),
        kata_deploy: "kata-deploy".into(),
        agent: "cococtl-containerd".into(),
    };
    let steps = un::plan(&inv, &names, true);
    let at = |f: &dyn Fn(&Step) -> bool| steps.iter().position(f).unwrap();
    let refuse_pp = at(&|s| matches!(s, Step::RefuseIfPeerPods));
    let refuse = at(&|s| matches!(s, Step::RefuseIfInUse { .. }));
    let mwc = at(
        &|s| matches!(s, Step::Delete { items, .. } if items.iter().all(|i| i.kind == "MutatingWebhookConfiguration")),
    );
    let reap = at(&|s| matches!(s, Step::WaitPeerPodsReaped));
    let kata = at(&|s| matches!(s, Step::DeleteWorkload(i) if i.name == "kata-deploy"));
    let ctrl = at(
        &|s| matches!(s, Step::Delete { items, .. } if items.iter().any(|i| i.name == "peerpodctrl-controller-manager")),
    );
    let pp_ns = at(
        &|s| matches!(s, Step::DeleteNamespaceUnlessForeign(i) if i.name == "confidential-containers-system"),
    );
    let main_ns = at(&|s| matches!(s, Step::DeleteNamespace(i) if i.name == "coco-system"));
    assert_eq!(refuse_pp, 0, "{steps:#?}");
    assert!(
        refuse_pp < refuse && refuse < mwc && mwc < reap && reap < kata,
        "{steps:#?}"
    );
    assert!(reap < ctrl && ctrl < pp_ns && pp_ns < main_ns, "{steps:#?}");
    // The configuration is deleted once, first; the peer-pods namespaces never blindly.
    let deletes_mwc = steps
        .iter()
        .filter(|s| matches!(s, Step::Delete { items, .. } if items.iter().any(|i| i.kind == "MutatingWebhookConfiguration")))
        .count();
    assert_eq!(deletes_mwc, 1);
    assert!(!steps.iter().any(
        |s| matches!(s, Step::Delete { items, .. } if items.iter().any(|i| i.kind == "Namespace"))
    ));
}

#[test]
fn uninstall_without_peer_pods_is_unchanged() {
    let inv = vec![
        item("Namespace", None, "coco-system"),
        item("DaemonSet", Some("coco-system"), "kata-deploy"),
    ];
    let names = un::Names {
        namespace: "coco-system".into(),
        kata_deploy: "kata-deploy".into(),
        agent: "cococtl-containerd".into(),
    };
    let steps = un::plan(&inv, &names, true);
    assert!(matches!(steps[0], Step::RefuseIfInUse { .. }));
    assert!(!steps
        .iter()
        .any(|s| matches!(s, Step::RefuseIfPeerPods | Step::WaitPeerPodsReaped)));
}

fn snap(ns: &str, name: &str, pod: &str) -> PeerPodSnap {
    PeerPodSnap {
        namespace: ns.into(),
        name: name.into(),
        pod: pod.into(),
        instance_id: "vm-1".into(),
    }
}

#[test]
fn peerpods_refuse_uninstall_unless_forced() {
    assert_eq!(pp::refuse_peerpods(&[], false), Ok(()));
    let p = [snap("default", "web", "web")];
    let e = pp::refuse_peerpods(&p, false).unwrap_err();
    assert!(e.starts_with("1 PeerPod object(s) exist"), "{e}");
    assert!(e.contains("PeerPod default/web (pod web, VM vm-1)"), "{e}");
    assert!(e.contains("--force"), "{e}");
    assert_eq!(pp::refuse_peerpods(&p, true), Ok(()));
}

#[test]
fn leak_suspects_are_peerpods_without_a_pod() {
    let p = [snap("a", "x", "x"), snap("a", "y", "y")];
    let pods: BTreeSet<String> = ["a/x".to_string()].into();
    let l = pp::leak_suspects(&p, &pods);
    assert_eq!(l, vec![&p[1]]);
}

#[test]
fn referenced_secrets_keep_their_namespace() {
    assert_eq!(pp::namespace_deletable("ns", &[]), Ok(()));
    let e = pp::namespace_deletable("ns", &["libvirt-creds".into()]).unwrap_err();
    assert_eq!(e, "namespace ns kept: it holds Secret(s) cococtl did not create (libvirt-creds); cococtl never deletes Secrets it only references");
}

fn node(name: &str, worker: bool) -> NodeSnap {
    let mut n = NodeSnap {
        name: name.into(),
        ..Default::default()
    };
    if worker {
        n.labels.insert(pp::WORKER_LABEL.into(), String::new());
    }
    n
}

#[test]
fn workers_must_exist_or_be_labelled() {
    let nodes = [node("a", false), node("b", false)];
    let f = pp::check_workers(&nodes, &[]).unwrap_err();
    assert!(
        f.problem
            .contains("no node carries the label node.kubernetes.io/worker"),
        "{f}"
    );
    assert!(f.problem.contains("nodes without it: a, b"), "{f}");
    assert!(f.fix.contains("--label-workers NODE..."), "{f}");
    // Labelling one is enough; the other is named.
    let note = pp::check_workers(&nodes, &["a".into()]).unwrap().unwrap();
    assert!(
        note.contains("1 node(s) without node.kubernetes.io/worker run no peer pods: b"),
        "{note}"
    );
    // Unknown names are refused.
    let f = pp::check_workers(&nodes, &["c".into()]).unwrap_err();
    assert!(f.problem.contains("do not exist: c"), "{f}");
    // All labelled: nothing to say.
    assert_eq!(pp::check_workers(&[node("a", true)], &[]), Ok(None));
}

#[test]
fn cert_manager_is_required_with_the_webhook() {
    let none = BTreeSet::new();
    let f = pp::check_cert_manager(&none, None).unwrap();
    assert!(
        f.problem
            .contains("certificates.cert-manager.io, issuers.cert-manager.io are missing"),
        "{f}"
    );
    assert!(
        f.fix.contains("--set peerpods.webhook.enabled=false"),
        "{f}"
    );
    assert!(f.fix.contains("charges to the worker node"), "{f}");
    let all: BTreeSet<String> = pp::CERT_MANAGER_CRDS
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(pp::check_cert_manager(&all, Some(Ok(()))), None);
    let f = pp::check_cert_manager(&all, Some(Err("0 of 1 replica(s) available".into()))).unwrap();
    assert!(f.problem.contains("not ready: 0 of 1"), "{f}");
    assert!(pp::check_cert_manager(&all, None)
        .unwrap()
        .problem
        .contains("was not found"));
}

#[test]
fn another_caa_is_refused() {
    let d = |inst: Option<&str>| cococtl_cluster::core::preflight::ForeignDaemonSet {
        namespace: "confidential-containers-system".into(),
        name: "cloud-api-adaptor-daemonset".into(),
        images: vec!["quay.io/confidential-containers/cloud-api-adaptor:v0.21.0".into()],
        instance: inst.map(String::from),
    };
    assert!(pp::check_other_caa(&[d(Some("default"))], "default").is_none());
    let f = pp::check_other_caa(&[d(None)], "default").unwrap();
    assert!(
        f.problem
            .contains("confidential-containers-system/cloud-api-adaptor-daemonset"),
        "{f}"
    );
}

#[test]
fn referenced_secrets_need_their_keys_names_only() {
    let (r, _) = resolved(
        LIBVIRT_REFERENCE,
        &[
            "peerpods.secrets.existingSecretName=peer-pods-secret",
            "peerpods.secrets.existingSshKeySecretName=ssh-key-secret",
        ],
    );
    let p = r.config.peerpods.as_ref().unwrap();
    let wanted = pp::referenced_secrets(p);
    let names: Vec<&str> = wanted.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["peer-pods-secret", "ssh-key-secret"]);
    let mut found = BTreeMap::new();
    let f = pp::check_secrets(&wanted, &found);
    assert_eq!(f.len(), 2);
    assert!(f[1].problem.contains("Secret confidential-containers-system/ssh-key-secret (SSH keys) is referenced (secrets.mode=reference) but does not exist"), "{}", f[1]);
    found.insert(
        "confidential-containers-system/ssh-key-secret".to_string(),
        BTreeSet::from(["id_rsa.pub".to_string()]),
    );
    found.insert(
        "confidential-containers-system/peer-pods-secret".to_string(),
        BTreeSet::new(),
    );
    let f = pp::check_secrets(&wanted, &found);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].problem, "Secret confidential-containers-system/ssh-key-secret (SSH keys) holds keys id_rsa.pub, but needs id_rsa");
    // Create mode references nothing.
    let (r, _) = resolved(LIBVIRT, &[]);
    assert!(pp::referenced_secrets(r.config.peerpods.as_ref().unwrap()).is_empty());
}

// ---------------------------------------------------------------- against the stand-in

#[tokio::test]
async fn nothing_that_creates_pods_is_applied_before_the_webhook_configuration_has_its_ca() {
    // The stand-in's CA injector adds the caBundle about half a second after the
    // MutatingWebhookConfiguration is applied; it records every pod-creating object applied
    // while a configuration has none.
    let s = server(true, true);
    install(&s, LIBVIRT, Some(Duration::from_secs(30)))
        .await
        .unwrap_or_else(|f| panic!("{}", f.error));
    assert_eq!(s.ca_outages(), Vec::<String>::new());
    let reqs: Vec<String> = s.requests().iter().map(|r| r.line()).collect();
    let mwc_apply = position(&reqs, |r| {
        r.starts_with("PATCH /apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/")
    });
    let mwc_read = reqs
        .iter()
        .rposition(|r| {
            r.starts_with(
                "GET /apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/",
            )
        })
        .expect("the caBundle was waited for");
    let caa = position(&reqs, |r| {
        r.starts_with("PATCH /apis/apps/v1/namespaces/confidential-containers-system/daemonsets/cloud-api-adaptor-daemonset")
    });
    assert!(mwc_apply < mwc_read && mwc_read < caa, "{reqs:#?}");
    let mwcs = s.list(
        "/apis/admissionregistration.k8s.io/v1",
        "mutatingwebhookconfigurations",
    );
    assert!(mwcs.iter().all(|m| m["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["clientConfig"]["caBundle"].is_string())));
}

#[test]
fn a_webhook_configuration_without_a_ca_bundle_is_not_ready() {
    use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
    let mwc = |ca: Option<&str>| -> MutatingWebhookConfiguration {
        let mut cc = serde_json::json!({"service": {"namespace": "n", "name": "s"}});
        if let Some(c) = ca {
            cc["caBundle"] = serde_json::json!(c);
        }
        serde_json::from_value(serde_json::json!({"metadata": {"name": "m"},
            "webhooks": [{"name": "w.example", "clientConfig": cc, "admissionReviewVersions": ["v1"], "sideEffects": "None"}]}))
        .unwrap()
    };
    assert!(pp::ca_bundle_injected(&mwc(None))
        .unwrap_err()
        .contains("w.example"));
    assert!(pp::ca_bundle_injected(&mwc(Some(""))).is_err());
    assert!(pp::ca_bundle_injected(&mwc(Some("TFMwdA=="))).is_ok());
}

#[tokio::test]
async fn install_waits_for_the_webhook_before_its_configuration() {
    let s = server(true, true);
    let out = install(&s, LIBVIRT, Some(Duration::from_secs(30)))
        .await
        .unwrap_or_else(|f| panic!("{}", f.error));
    assert!(out.revision == 1);
    assert_eq!(s.admission_outages(), Vec::<String>::new());
    let reqs: Vec<String> = s.requests().iter().map(|r| r.line()).collect();
    let crd_apply = position(&reqs, |r| {
        r.starts_with("PATCH /apis/apiextensions.k8s.io/v1/customresourcedefinitions/peerpods.confidentialcontainers.org")
    });
    let crd_read = position(&reqs, |r| {
        r.starts_with("GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions/peerpods.confidentialcontainers.org")
    });
    let ns = position(&reqs, |r| {
        r.starts_with("PATCH /api/v1/namespaces/coco-system")
    });
    let ctrl = position(&reqs, |r| {
        r.starts_with(
            "PATCH /apis/apps/v1/namespaces/confidential-containers-system/deployments/peerpodctrl",
        )
    });
    let webhook = position(&reqs, |r| {
        r.starts_with("PATCH /apis/apps/v1/namespaces/peer-pods-webhook-system/deployments/")
    });
    let endpoints = position(&reqs, |r| {
        r.starts_with(
            "GET /apis/discovery.k8s.io/v1/namespaces/peer-pods-webhook-system/endpointslices",
        )
    });
    let mwc = position(&reqs, |r| {
        r.starts_with("PATCH /apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/")
    });
    let caa = position(&reqs, |r| {
        r.starts_with("PATCH /apis/apps/v1/namespaces/confidential-containers-system/daemonsets/cloud-api-adaptor-daemonset")
    });
    let kata = position(&reqs, |r| {
        r.starts_with("PATCH /apis/apps/v1/namespaces/coco-system/daemonsets/kata-deploy")
    });
    assert!(crd_apply < crd_read && crd_read < ns, "{reqs:#?}");
    assert!(
        ns < ctrl && ctrl < webhook && webhook < endpoints && endpoints < mwc,
        "{reqs:#?}"
    );
    assert!(mwc < caa && caa < kata, "{reqs:#?}");
    let c = cluster(&s);
    let h = release_store::history(&c, "coco-system", "default")
        .await
        .unwrap();
    assert_eq!(h.latest().unwrap().status, Status::Deployed);
}

#[tokio::test]
async fn a_webhook_that_never_answers_stops_before_its_configuration() {
    let s = server(true, true);
    s.sim(|sim| {
        sim.stuck_deployments = vec!["peer-pods-webhook-controller-manager".into()];
    });
    let f = install(&s, LIBVIRT, Some(Duration::from_secs(3)))
        .await
        .unwrap_err();
    let e = f.error.to_string();
    assert!(
        e.contains("before the MutatingWebhookConfiguration exists"),
        "{e}"
    );
    assert!(
        e.contains("Deployment peer-pods-webhook-system/peer-pods-webhook-controller-manager to be available: 0 of 2 replica(s) available"),
        "{e}"
    );
    assert!(s
        .list(
            "/apis/admissionregistration.k8s.io/v1",
            "mutatingwebhookconfigurations"
        )
        .is_empty());
    // Pods anywhere are still admitted.
    let c = cluster(&s);
    let h = release_store::history(&c, "coco-system", "default")
        .await
        .unwrap();
    assert_eq!(h.latest().unwrap().status, Status::Failed);
}

fn kata_remote_pod(s: &ApiServer, name: &str) {
    s.put_raw(
        "/api/v1",
        "pods",
        "default",
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"runtimeClassName": "kata-remote", "nodeName": "node-a",
                "containers": [{"name": "app", "image": "nginx"}]},
            "status": {"phase": "Running"}}),
    );
}

async fn until(what: &str, f: impl Fn() -> bool) {
    for _ in 0..100 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn uninstall_refuses_while_peerpods_exist_and_deletes_the_webhook_configuration_first() {
    let s = server(true, true);
    s.put_raw(
        "/api/v1",
        "namespaces",
        "",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
    );
    install(&s, LIBVIRT, Some(Duration::from_secs(30)))
        .await
        .unwrap_or_else(|f| panic!("{}", f.error));
    kata_remote_pod(&s, "web");
    until("a PeerPod", || {
        !s.list("/apis/confidentialcontainers.org/v1alpha1", "peerpods")
            .is_empty()
    })
    .await;

    let (r, _) = uninstall_release(&s, false, Duration::from_secs(5)).await;
    let e = r.unwrap_err().to_string();
    assert!(e.contains("1 PeerPod object(s) exist"), "{e}");
    assert!(
        e.contains("PeerPod default/web (pod web, VM podvm-web-"),
        "{e}"
    );
    assert!(s
        .get(
            "/apis/admissionregistration.k8s.io/v1",
            "mutatingwebhookconfigurations",
            "",
            "peer-pods-webhook-mutating-webhook-configuration"
        )
        .is_some());

    // --force while the pod runs: peerpod-ctrl cannot delete its VM; nothing but the
    // webhook configuration goes.
    let (r, _) = uninstall_release(&s, true, Duration::from_secs(2)).await;
    let e = r.unwrap_err().to_string();
    assert!(e.contains("peerpod-ctrl to delete the peer-pod VMs"), "{e}");
    assert!(s
        .get(
            "/apis/apps/v1",
            "deployments",
            "confidential-containers-system",
            "peerpodctrl-controller-manager"
        )
        .is_some());

    // The pod goes, peerpod-ctrl deletes the VM: uninstall completes.
    s.remove("/api/v1", "pods", "default", "web");
    s.clear_requests();
    let (r, lines) = uninstall_release(&s, true, Duration::from_secs(20)).await;
    let out = r.unwrap_or_else(|e| panic!("{e}\n{lines:#?}"));
    assert!(out.leftovers.is_empty(), "{:?}", out.leftovers);
    let deletes: Vec<String> = s
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path.clone())
        .collect();
    assert!(
        deletes[0].contains("mutatingwebhookconfigurations"),
        "{deletes:#?}"
    );
    assert!(s
        .list("/apis/confidentialcontainers.org/v1alpha1", "peerpods")
        .is_empty());
}

#[tokio::test]
async fn uninstall_never_deletes_referenced_secrets() {
    let s = server(true, true);
    s.put_raw(
        "/api/v1",
        "namespaces",
        "",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "confidential-containers-system"}}),
    );
    for (name, key) in [("peer-pods-secret", "X"), ("ssh-key-secret", "id_rsa")] {
        s.put_raw(
            "/api/v1",
            "secrets",
            "confidential-containers-system",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "confidential-containers-system"},
                "type": "Opaque", "data": {key: "c2VjcmV0"}}),
        );
    }
    let values = format!(
        "{LIBVIRT_REFERENCE}    existingSecretName: peer-pods-secret\n    existingSshKeySecretName: ssh-key-secret\n"
    );
    install(&s, &values, Some(Duration::from_secs(30)))
        .await
        .unwrap_or_else(|f| panic!("{}", f.error));
    let (r, lines) = uninstall_release(&s, false, Duration::from_secs(20)).await;
    let out = r.unwrap_or_else(|e| panic!("{e}\n{lines:#?}"));
    assert_eq!(
        out.kept,
        vec!["namespace confidential-containers-system kept: it holds Secret(s) cococtl did not create (peer-pods-secret, ssh-key-secret); cococtl never deletes Secrets it only references".to_string()]
    );
    for name in ["peer-pods-secret", "ssh-key-secret"] {
        assert!(s
            .get("/api/v1", "secrets", "confidential-containers-system", name)
            .is_some());
    }
    assert!(s
        .get("/api/v1", "namespaces", "", "peer-pods-webhook-system")
        .is_none());
    assert!(s
        .get(
            "/api/v1",
            "namespaces",
            "",
            "confidential-containers-system"
        )
        .is_some());
}

// ---------------------------------------------------------------- status (item 6)

fn pod(node: &str, ready: bool, reason: &str) -> cococtl_cluster::core::snapshot::PodSnap {
    cococtl_cluster::core::snapshot::PodSnap {
        name: format!("cloud-api-adaptor-daemonset-{node}"),
        node: node.into(),
        phase: if ready { "Running" } else { "Pending" }.into(),
        ready,
        reason: reason.into(),
        ..Default::default()
    }
}

#[test]
fn status_names_caa_pods_vm_capacity_leaks_and_the_webhook() {
    let nodes = [
        pp::NodeVm {
            name: "a".into(),
            worker: true,
            capacity: Some("10".into()),
            allocatable: Some("10".into()),
        },
        pp::NodeVm {
            name: "b".into(),
            worker: true,
            ..Default::default()
        },
        pp::NodeVm {
            name: "c".into(),
            ..Default::default()
        },
    ];
    let pods = [pod("a", true, ""), pod("b", false, "ImagePullBackOff")];
    let peer = [
        snap("default", "web", "web"),
        snap("default", "gone", "gone"),
    ];
    let live: BTreeSet<String> = ["default/web".to_string()].into();
    let r = pp::report(&nodes, &pods, &peer, &live, Some((0, Ok(()))));
    assert_eq!(r.nodes.len(), 2, "{r:#?}");
    assert_eq!(r.nodes[0].caa_pod, "running");
    assert_eq!(r.nodes[0].vm_allocatable.as_deref(), Some("10"));
    assert_eq!(r.nodes[1].caa_pod, "not ready: ImagePullBackOff");
    assert_eq!(r.peerpods, 2);
    assert_eq!(
        r.leak_suspects,
        ["PeerPod default/gone (pod gone, VM vm-1)"]
    );
    assert_eq!(r.webhook_ready_endpoints, Some(0));
    assert_eq!(r.certificate.as_deref(), Some("Ready"));
    assert_eq!(
        r.problems,
        [
            "node b: cloud-api-adaptor pod not ready: ImagePullBackOff",
            "PeerPod default/gone (pod gone, VM vm-1): its pod is gone (leaked VM?)",
            "the peer-pods webhook has no ready endpoint: every pod creation in the selected namespaces fails (failurePolicy Fail)",
        ]
    );
    let healthy = pp::report(&nodes[..1], &pods[..1], &[], &live, None);
    assert!(healthy.problems.is_empty(), "{healthy:#?}");
    assert!(pp::certificate_ready(None).is_err());
    assert_eq!(
        pp::certificate_ready(Some(
            &json!({"status": {"conditions": [{"type": "Ready", "status": "False", "message": "Issuing"}]}})
        )),
        Err("Ready=False (Issuing)".into())
    );
}

#[tokio::test]
async fn status_reads_the_peer_pods_of_the_release() {
    let s = server(true, true);
    install(&s, LIBVIRT, Some(Duration::from_secs(30)))
        .await
        .unwrap_or_else(|f| panic!("{}", f.error));
    let c = cluster(&s);
    let h = release_store::history(&c, "coco-system", "default")
        .await
        .unwrap();
    let inv = h.latest().unwrap().inventory.clone();
    until("VM capacity", || {
        s.get("/api/v1", "nodes", "", "node-b")
            .and_then(|n| {
                n.pointer("/status/allocatable/kata.peerpods.io~1vm")
                    .cloned()
            })
            .is_some()
    })
    .await;
    let r = cococtl_cluster::peerpods::status(&c, &inv)
        .await
        .unwrap()
        .unwrap();
    assert!(r.problems.is_empty(), "{r:#?}");
    assert_eq!(r.nodes.len(), 2);
    assert!(
        r.nodes
            .iter()
            .all(|n| n.caa_pod == "running" && n.vm_capacity.as_deref() == Some("10")),
        "{r:#?}"
    );
    assert_eq!(r.webhook_ready_endpoints, Some(2));
    assert_eq!(r.certificate.as_deref(), Some("Ready"));
    assert!(
        !r.webhooks.is_empty() && r.webhooks.iter().all(|w| w.healthy),
        "{r:#?}"
    );

    // Its pods gone and none ready again: the release's webhook is unhealthy, with why.
    s.sim(|sim| sim.stuck_deployments = vec!["peer-pods-webhook-controller-manager".into()]);
    for p in s.list("/api/v1", "pods") {
        if p["metadata"]["namespace"] == "peer-pods-webhook-system" {
            s.remove(
                "/api/v1",
                "pods",
                "peer-pods-webhook-system",
                p["metadata"]["name"].as_str().unwrap(),
            );
        }
    }
    let mut r = None;
    for _ in 0..100 {
        let now = cococtl_cluster::peerpods::status(&c, &inv)
            .await
            .unwrap()
            .unwrap();
        if now.webhook_ready_endpoints == Some(0) {
            r = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = r.expect("the webhook without endpoints");
    let w = r
        .webhooks
        .iter()
        .find(|w| w.name == "mwebhook.peerpods.io")
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert!(
        !w.healthy && w.reason.starts_with("no ready endpoint"),
        "{w:?}"
    );
    assert!(
        r.problems
            .iter()
            .any(|p| p.starts_with("webhook mwebhook.peerpods.io is unhealthy: no ready endpoint")),
        "{r:#?}"
    );
}

#[tokio::test]
async fn a_deployment_whose_replicaset_pods_a_webhook_rejects_ends_the_wait_early_and_shows_in_status(
) {
    let s = server(true, true);
    let hook = "validate.kyverno.svc-fail";
    s.sim(|sim| {
        sim.denying_webhooks = vec![DenyingWebhook::bad_certificate(
            hook,
            "confidential-containers-system",
            "kyverno-svc",
            "kyverno",
        )]
    });
    let timeout = Duration::from_secs(60);
    let t = std::time::Instant::now();
    let f = install(&s, LIBVIRT, Some(timeout)).await.unwrap_err();
    let elapsed = t.elapsed();
    assert!(elapsed < timeout / 2, "the wait ran {elapsed:?}");
    assert!(
        matches!(f.error, ClusterError::Rejected { .. }),
        "{:?}",
        f.error
    );
    let e = f.error.to_string();
    assert!(
        e.contains(&format!("Deployment confidential-containers-system/peerpodctrl-controller-manager cannot create its pods: admission webhook {hook} rejects them: Internal error occurred: failed calling webhook \"{hook}\"")),
        "{e}"
    );
    assert!(
        e.contains("x509: certificate signed by unknown authority"),
        "{e}"
    );
    assert!(e.contains(&format!("fix: check the webhook {hook}")), "{e}");
    assert_eq!(f.error.exit_code(), 1);
    // The stand-in wrote what the controllers write: a FailedCreate event on the
    // ReplicaSet, its ReplicaFailure condition copied to the Deployment.
    let d = s
        .get(
            "/apis/apps/v1",
            "deployments",
            "confidential-containers-system",
            "peerpodctrl-controller-manager",
        )
        .unwrap();
    let cond = d["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "ReplicaFailure")
        .cloned()
        .unwrap_or_else(|| panic!("{d:#}"));
    assert_eq!(cond["reason"], "FailedCreate");
    assert!(s
        .list("/api/v1", "events")
        .iter()
        .any(|e| e["reason"] == "FailedCreate"
            && e["involvedObject"]["kind"] == "ReplicaSet"
            && e["source"]["component"] == "replicaset-controller"));

    // status names the Deployment, its reason and the webhook.
    let c = cluster(&s);
    let h = release_store::history(&c, "coco-system", "default")
        .await
        .unwrap();
    let inv = h.latest().unwrap().inventory.clone();
    let r = cococtl_cluster::peerpods::status(&c, &inv)
        .await
        .unwrap()
        .unwrap();
    assert!(
        r.problems.iter().any(|p| p.starts_with("Deployment confidential-containers-system/peerpodctrl-controller-manager is not available: 0 of 1 replica(s) available, 0 updated; cannot create its pods: admission webhook validate.kyverno.svc-fail rejects them")),
        "{r:#?}"
    );
    let w = r
        .webhooks
        .iter()
        .find(|w| w.name == hook)
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert!(!w.healthy, "{w:?}");
    assert!(
        w.reason.starts_with("rejects the pods of Deployment confidential-containers-system/peerpodctrl-controller-manager: Internal error occurred"),
        "{w:?}"
    );
}

// ---------------------------------------------------------------- verify (item 7)

#[test]
fn a_failed_peer_pod_names_its_stage() {
    use pp::Stage;
    assert_eq!(pp::failed_stage(false, None, false, &[]), Stage::Admission);
    assert_eq!(
        pp::failed_stage(
            true,
            Some("0/2 nodes are available: 2 Insufficient kata.peerpods.io/vm."),
            false,
            &[]
        ),
        Stage::Caa
    );
    assert_eq!(
        pp::failed_stage(
            true,
            None,
            false,
            &["Failed: failed to create pod VM: InsufficientInstanceCapacity quota".into()]
        ),
        Stage::CloudApi
    );
    assert_eq!(
        pp::failed_stage(
            true,
            None,
            true,
            &["dial tcp 10.0.0.7:15150: i/o timeout".into()]
        ),
        Stage::AgentConnection
    );
    assert_eq!(
        pp::failed_stage(true, None, true, &[]),
        Stage::AgentConnection
    );
    assert_eq!(pp::failed_stage(true, None, false, &[]), Stage::Caa);
    assert_eq!(
        Stage::AgentConnection.to_string(),
        "agent connection (port 15150 in the pod VM)"
    );
}

#[tokio::test]
async fn verify_follows_a_peer_pod_through_every_stage() {
    use cococtl_cluster::verify;
    let s = server(true, true);
    install(&s, LIBVIRT, Some(Duration::from_secs(30)))
        .await
        .unwrap_or_else(|f| panic!("{}", f.error));
    let c = cluster(&s);
    let check = verify::PeerPodsCheck {
        runtime_class: "kata-remote".into(),
        webhook: true,
    };
    let classes = vec!["kata-remote".to_string()];
    let r = verify::run_with(
        &c,
        "coco-system",
        &classes,
        verify::DEFAULT_IMAGE,
        Duration::from_secs(20),
        Some(&check),
    )
    .await
    .unwrap();
    assert_eq!(r[0].error, None, "{r:#?}");
    assert_eq!(r[0].in_vm, Some(true));
    // verify saw the VM resource the webhook added (else it names the admission stage).
    let created = s
        .requests()
        .into_iter()
        .find(|q| q.method == "POST" && q.path == "/api/v1/namespaces/coco-system/pods")
        .unwrap();
    assert_eq!(created.body["spec"]["runtimeClassName"], "kata-remote");
    assert!(s
        .list("/apis/confidentialcontainers.org/v1alpha1", "peerpods")
        .is_empty());
    assert!(s.requests().iter().any(|q| q.path.contains("/peerpods")));

    // Without CAA no PeerPod appears: the stage is named.
    s.remove(
        "/apis/apps/v1",
        "daemonsets",
        "confidential-containers-system",
        "cloud-api-adaptor-daemonset",
    );
    let r = verify::run_with(
        &c,
        "coco-system",
        &classes,
        verify::DEFAULT_IMAGE,
        Duration::from_secs(20),
        Some(&check),
    )
    .await
    .unwrap();
    let e = r[0].error.clone().unwrap();
    assert!(
        e.starts_with("stage cloud-api-adaptor: the pod ran but no PeerPod object appeared"),
        "{e}"
    );

    // The webhook stops answering: admission fails, and says so.
    s.sim(|sim| sim.stuck_deployments = vec!["peer-pods-webhook-controller-manager".into()]);
    for p in s.list("/api/v1", "pods") {
        if p["metadata"]["namespace"] == "peer-pods-webhook-system" {
            s.remove(
                "/api/v1",
                "pods",
                "peer-pods-webhook-system",
                p["metadata"]["name"].as_str().unwrap(),
            );
        }
    }
    until("the webhook endpoints to go", || {
        s.list("/apis/discovery.k8s.io/v1", "endpointslices")
            .iter()
            .filter(|e| e["metadata"]["namespace"] == "peer-pods-webhook-system")
            .all(|e| {
                e["endpoints"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|x| x["conditions"]["ready"] == false)
            })
    })
    .await;
    let r = verify::run_with(
        &c,
        "coco-system",
        &classes,
        verify::DEFAULT_IMAGE,
        Duration::from_secs(20),
        Some(&check),
    )
    .await
    .unwrap();
    let e = r[0].error.clone().unwrap();
    assert!(e.starts_with("stage admission (peer-pods webhook):"), "{e}");
    assert!(e.contains("no endpoints available for service"), "{e}");
}

#[tokio::test]
async fn a_release_namespace_holding_user_secrets_is_kept() {
    let s = server(true, true);
    let values = format!("{LIBVIRT}  namespace: coco-system\n");
    install(&s, &values, Some(Duration::from_secs(30)))
        .await
        .unwrap_or_else(|f| panic!("{}", f.error));
    // The user keeps their own Secret next to CAA after the install.
    s.put_raw(
        "/api/v1",
        "secrets",
        "coco-system",
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "my-cloud-creds", "namespace": "coco-system"},
            "type": "Opaque", "data": {"K": "dg=="}}),
    );
    let (r, lines) = uninstall_release(&s, false, Duration::from_secs(20)).await;
    let out = r.unwrap_or_else(|e| panic!("{e}\n{lines:#?}"));
    assert_eq!(
        out.kept,
        vec!["namespace coco-system kept: it holds Secret(s) cococtl did not create (my-cloud-creds); cococtl never deletes Secrets it only references".to_string()]
    );
    assert!(s
        .get("/api/v1", "secrets", "coco-system", "my-cloud-creds")
        .is_some());
    // cococtl's own Secrets there (create mode) are gone.
    assert!(s
        .get("/api/v1", "secrets", "coco-system", "ssh-key-secret")
        .is_none());
}

#[tokio::test]
async fn renamed_sub_charts_install_wait_report_and_uninstall_under_their_names() {
    let values = format!(
        "{LIBVIRT}  resourceCtrl:\n    namePrefix: acme-ctrl-\n  webhook:\n    namePrefix: acme-wh-\n    namespaceOverride: acme-webhooks\n"
    );
    let s = server(true, true);
    install(&s, &values, Some(Duration::from_secs(30)))
        .await
        .unwrap_or_else(|f| panic!("{}", f.error));
    assert!(s
        .get(
            "/apis/apps/v1",
            "deployments",
            "acme-webhooks",
            "acme-wh-controller-manager"
        )
        .is_some());
    assert!(s
        .list("/apis/apps/v1", "deployments")
        .iter()
        .any(|d| d["metadata"]["name"] == "acme-ctrl-controller-manager"));
    assert!(s
        .get("/api/v1", "namespaces", "", "peer-pods-webhook-system")
        .is_none());
    let c = cluster(&s);
    let h = release_store::history(&c, "coco-system", "default")
        .await
        .unwrap();
    let inv = h.latest().unwrap().inventory.clone();
    let r = cococtl_cluster::peerpods::status(&c, &inv)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.webhook_ready_endpoints, Some(2), "{r:#?}");
    assert_eq!(r.certificate.as_deref(), Some("Ready"), "{r:#?}");

    let (r, _) = uninstall_release(&s, true, Duration::from_secs(20)).await;
    let out = r.unwrap_or_else(|e| panic!("{e}"));
    assert!(out.leftovers.is_empty(), "{:?}", out.leftovers);
    for d in s.list("/apis/apps/v1", "deployments") {
        let name = d["metadata"]["name"].as_str().unwrap_or_default();
        assert!(!name.starts_with("acme-"), "left: {name}");
    }
}
