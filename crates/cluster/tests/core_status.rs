//! Wait evaluation, status aggregation and preflight decisions over node and pod
//! snapshots: pure, including a 5,000-node / 50,000-pod cluster.

use std::collections::BTreeMap;
use std::time::Instant;

use cococtl_cluster::core::preflight::{self, DistributionDecision};
use cococtl_cluster::core::readiness::{evaluate, Expect, NodeState};
use cococtl_cluster::core::snapshot::{EventSnap, NodeSnap, PodSnap, Targeting};
use cococtl_cluster::core::status::{aggregate, RuntimeClassSnap, StatusInput};
use cococtl_core::Distribution;
use k8s_openapi::api::core::v1::Toleration;

fn node(name: &str, labels: &[(&str, &str)]) -> NodeSnap {
    NodeSnap {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        arch: "amd64".into(),
        kernel: "6.8.0".into(),
        container_runtime: "containerd://2.1.9".into(),
        kubelet: "v1.33.1".into(),
        ready: true,
        ..Default::default()
    }
}

fn pod(name: &str, app: &str, node: &str, phase: &str) -> PodSnap {
    PodSnap {
        name: name.into(),
        namespace: "coco-system".into(),
        node: node.into(),
        app: app.into(),
        phase: phase.into(),
        ready: phase == "Running",
        ..Default::default()
    }
}

const KATA: &str = "katacontainers.io/kata-runtime";
const OWN: &str = "kata-deploy.katacontainers.io/default";
const AGENT: &str = "cococtl.confidentialcontainers.org/containerd";

fn expect(agent: bool) -> Expect {
    Expect {
        instance: "default".into(),
        kata_pods: "kata-deploy".into(),
        kata_targeting: Targeting::default(),
        agent_pods: agent.then(|| "cococtl-containerd".to_string()),
        agent_targeting: None,
        kata_generation: None,
    }
}

#[test]
fn a_node_is_ready_only_with_both_kata_labels_true() {
    let nodes = [
        node("a", &[(KATA, "true"), (OWN, "true")]),
        node("b", &[(KATA, "true"), (OWN, "false")]),
        node("c", &[(KATA, "false")]),
        node("d", &[]),
    ];
    let p = evaluate(&expect(false), &nodes, &[], &[]);
    let states: Vec<_> = p.nodes.iter().map(|n| n.state.word()).collect();
    assert_eq!(states, ["ready", "waiting", "waiting", "waiting"]);
    assert!(!p.settled());
    assert!(
        matches!(&p.nodes[1].state, NodeState::Waiting(w) if w.contains("kata-deploy installing"))
    );
    assert!(matches!(&p.nodes[3].state, NodeState::Waiting(w) if w.contains("no kata-deploy pod")));
}

#[test]
fn waiting_names_the_pod_phase_restarts_and_last_event() {
    let nodes = [node("a", &[])];
    let mut p = pod("kata-deploy-x1", "kata-deploy", "a", "Pending");
    p.reason = "ImagePullBackOff".into();
    p.restarts = 3;
    let ev = EventSnap {
        kind: "Pod".into(),
        name: "kata-deploy-x1".into(),
        reason: "Failed".into(),
        message: "Back-off pulling image".into(),
        last: "2026-01-01T00:00:02Z".into(),
        count: 1,
    };
    let older = EventSnap {
        message: "old".into(),
        last: "2026-01-01T00:00:01Z".into(),
        ..ev.clone()
    };
    let pr = evaluate(&expect(false), &nodes, &[p], &[ev, older]);
    let NodeState::Waiting(why) = &pr.nodes[0].state else {
        panic!()
    };
    assert!(
        why.contains("kata-deploy pod kata-deploy-x1 Pending (ImagePullBackOff), 3 restarts"),
        "{why}"
    );
    assert!(
        why.contains("last event Failed: Back-off pulling image"),
        "{why}"
    );
}

#[test]
fn with_the_agent_a_node_waits_for_containerd_first_and_fails_when_it_rolled_back() {
    let mut failed = node("c", &[(AGENT, "rolled-back")]);
    failed.agent_message = "containerd did not answer".into();
    let nodes = [
        node("a", &[(AGENT, "ready"), (KATA, "true"), (OWN, "true")]),
        node("b", &[(AGENT, "installing"), (KATA, "true"), (OWN, "true")]),
        failed,
        node("d", &[]),
    ];
    let p = evaluate(
        &expect(true),
        &nodes,
        &[pod("agent-d", "cococtl-containerd", "d", "Running")],
        &[],
    );
    let states: Vec<_> = p.nodes.iter().map(|n| n.state.clone()).collect();
    assert_eq!(states[0], NodeState::Ready);
    assert!(
        matches!(&states[1], NodeState::Waiting(w) if w.starts_with("containerd agent installing"))
    );
    assert_eq!(
        states[2],
        NodeState::Failed("containerd agent rolled-back: containerd did not answer".into())
    );
    assert!(
        matches!(&states[3], NodeState::Waiting(w) if w.contains("containerd agent pod agent-d Running"))
    );
    assert_eq!((p.ready(), p.waiting(), p.failed()), (1, 2, 1));
}

#[test]
fn settled_means_nothing_waits_and_all_ready_means_no_failure() {
    let mut failed = node("b", &[(AGENT, "failed")]);
    failed.agent_message = "x".into();
    let nodes = [
        node("a", &[(AGENT, "ready"), (KATA, "true"), (OWN, "true")]),
        failed,
    ];
    let p = evaluate(&expect(true), &nodes, &[], &[]);
    assert!(p.settled() && !p.all_ready());
    let none = evaluate(&expect(false), &[], &[], &[]);
    assert!(
        !none.settled() && !none.all_ready(),
        "no targeted node is never done"
    );
}

#[test]
fn tainted_and_unselected_nodes_are_not_targeted_but_the_agent_label_requirement_is_ignored() {
    let mut e = expect(true);
    e.kata_targeting.node_selector = [("pool".to_string(), "tee".to_string())].into();
    e.kata_targeting.terms = vec![vec![(
        AGENT.to_string(),
        "In".to_string(),
        vec!["ready".to_string()],
    )]];
    let mut tainted = node("tainted", &[("pool", "tee")]);
    tainted.taints = vec![(
        "node-role.kubernetes.io/control-plane".into(),
        String::new(),
        "NoSchedule".into(),
    )];
    let mut not_ready = node("notready", &[("pool", "tee")]);
    not_ready.taints = vec![(
        "node.kubernetes.io/not-ready".into(),
        String::new(),
        "NoExecute".into(),
    )];
    let nodes = [
        node("other", &[("pool", "cpu")]),
        tainted.clone(),
        not_ready,
        node("tee", &[("pool", "tee")]),
    ];
    let p = evaluate(&e, &nodes, &[], &[]);
    let names: Vec<_> = p.nodes.iter().map(|n| n.node.as_str()).collect();
    assert_eq!(names, ["notready", "tee"]);
    e.kata_targeting.tolerations = vec![Toleration {
        key: Some("node-role.kubernetes.io/control-plane".into()),
        operator: Some("Exists".into()),
        effect: Some("NoSchedule".into()),
        ..Default::default()
    }];
    assert!(e.targets(&tainted));
}

#[test]
fn affinity_operators_follow_the_kubernetes_rules() {
    let n = node("a", &[("kubernetes.io/arch", "amd64"), ("cores", "8")]);
    let t = |terms: Vec<Vec<(&str, &str, Vec<&str>)>>| Targeting {
        terms: terms
            .into_iter()
            .map(|t| {
                t.into_iter()
                    .map(|(k, o, v)| {
                        (
                            k.to_string(),
                            o.to_string(),
                            v.into_iter().map(String::from).collect(),
                        )
                    })
                    .collect()
            })
            .collect(),
        ..Default::default()
    };
    assert!(t(vec![vec![(
        "kubernetes.io/arch",
        "In",
        vec!["amd64", "s390x"]
    )]])
    .selects(&n, None));
    assert!(!t(vec![vec![("kubernetes.io/arch", "NotIn", vec!["amd64"])]]).selects(&n, None));
    assert!(t(vec![vec![("x", "DoesNotExist", vec![])]]).selects(&n, None));
    assert!(!t(vec![vec![("x", "Exists", vec![])]]).selects(&n, None));
    assert!(t(vec![vec![("cores", "Gt", vec!["4"])]]).selects(&n, None));
    assert!(!t(vec![vec![("cores", "Lt", vec!["4"])]]).selects(&n, None));
    // Terms are ORed.
    assert!(t(vec![
        vec![("x", "Exists", vec![])],
        vec![("cores", "Exists", vec![])]
    ])
    .selects(&n, None));
}

fn big_cluster(nodes: usize, pods: usize) -> (Vec<NodeSnap>, Vec<PodSnap>, Vec<EventSnap>) {
    let ns: Vec<NodeSnap> = (0..nodes)
        .map(|i| {
            let mut n = node(
                &format!("node-{i:05}"),
                &[("kubernetes.io/arch", "amd64"), (AGENT, "ready")],
            );
            if i % 10 != 0 {
                n.labels.insert(KATA.into(), "true".into());
                n.labels.insert(OWN.into(), "true".into());
            }
            if i % 7 == 0 {
                n.labels
                    .insert("amd.feature.node.kubernetes.io/snp".into(), "true".into());
            }
            n
        })
        .collect();
    let ps: Vec<PodSnap> = (0..pods)
        .map(|i| {
            let app = match i % 10 {
                0 => "kata-deploy",
                1 => "cococtl-containerd",
                _ => "other",
            };
            pod(
                &format!("pod-{i}"),
                app,
                &format!("node-{:05}", i % nodes),
                "Running",
            )
        })
        .collect();
    let es: Vec<EventSnap> = (0..nodes / 2)
        .map(|i| EventSnap {
            kind: "Pod".into(),
            name: format!("pod-{}", i * 10),
            reason: "BackOff".into(),
            message: "Back-off restarting failed container".into(),
            last: format!("2026-01-01T00:{:02}:00Z", i % 60),
            count: 1,
        })
        .collect();
    (ns, ps, es)
}

fn classes() -> Vec<RuntimeClassSnap> {
    let base: BTreeMap<String, String> = [
        (KATA.to_string(), "true".to_string()),
        (OWN.to_string(), "true".to_string()),
    ]
    .into();
    let mut snp = base.clone();
    snp.insert("amd.feature.node.kubernetes.io/snp".into(), "true".into());
    vec![
        RuntimeClassSnap {
            name: "kata-qemu-coco-dev".into(),
            handler: "kata-qemu-coco-dev".into(),
            node_selector: base.clone(),
        },
        RuntimeClassSnap {
            name: "kata-qemu-snp".into(),
            handler: "kata-qemu-snp".into(),
            node_selector: snp,
        },
        RuntimeClassSnap {
            name: "kata".into(),
            handler: "kata-qemu-coco-dev".into(),
            node_selector: base,
        },
    ]
}

#[test]
fn status_counts_nodes_per_runtime_class_and_is_degraded_while_nodes_wait() {
    let (nodes, pods, events) = big_cluster(70, 700);
    let r = aggregate(&StatusInput {
        namespace: "coco-system",
        release: None,
        expect: Some(&expect(true)),
        nodes: &nodes,
        pods: &pods,
        events: &events,
        runtime_classes: &classes(),
    });
    assert_eq!(r.schema, "cococtl.confidentialcontainers.org/status/v1");
    assert_eq!(
        (r.targeted_nodes, r.ready_nodes, r.total_nodes),
        (70, 63, 70)
    );
    assert!(r.degraded);
    let counts: Vec<_> = r
        .runtime_classes
        .iter()
        .map(|c| (c.name.as_str(), c.nodes))
        .collect();
    // snp: every 7th node, minus those also every 10th (0, 70 → only node 0 in 0..70).
    assert_eq!(
        counts,
        [
            ("kata", 63),
            ("kata-qemu-coco-dev", 63),
            ("kata-qemu-snp", 9)
        ]
    );
    let n0 = &r.nodes[0];
    assert_eq!(n0.kata_deploy_pod.as_ref().unwrap().name, "pod-0");
    assert_eq!(
        n0.last_warning.as_deref(),
        Some("BackOff: Back-off restarting failed container")
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["nodes"][0]["state"]["state"], "waiting");
    assert_eq!(json["nodes"][1]["state"]["state"], "ready");
}

#[test]
fn status_without_a_release_targets_nothing_and_is_degraded() {
    let (nodes, pods, events) = big_cluster(3, 3);
    let r = aggregate(&StatusInput {
        namespace: "coco-system",
        release: None,
        expect: None,
        nodes: &nodes,
        pods: &pods,
        events: &events,
        runtime_classes: &[],
    });
    assert_eq!(r.targeted_nodes, 0);
    assert!(r.degraded && r.nodes.iter().all(|n| n.state.is_none()));
}

#[test]
fn status_over_5000_nodes_and_50000_pods_takes_under_100ms() {
    let (nodes, pods, events) = big_cluster(5_000, 50_000);
    let cls = classes();
    let e = expect(true);
    let input = StatusInput {
        namespace: "coco-system",
        release: None,
        expect: Some(&e),
        nodes: &nodes,
        pods: &pods,
        events: &events,
        runtime_classes: &cls,
    };
    let _warm = aggregate(&input);
    let t = Instant::now();
    let r = aggregate(&input);
    let took = t.elapsed();
    assert_eq!(r.targeted_nodes, 5_000);
    assert_eq!(r.ready_nodes, 4_500);
    // Debug builds are several times slower than release; the bench reports release figures.
    let limit = if cfg!(debug_assertions) { 1000 } else { 100 };
    assert!(took.as_millis() < limit, "status took {took:?}");
}

#[test]
fn distribution_comes_from_the_kubelet_version_or_the_microk8s_label() {
    let mut k3s = node("a", &[]);
    k3s.kubelet = "v1.33.1+k3s1".into();
    let mut rke2 = node("b", &[]);
    rke2.kubelet = "v1.33.1+rke2r1".into();
    let mut k0s = node("c", &[]);
    k0s.kubelet = "v1.33.1+k0s".into();
    let micro = node("d", &[("microk8s.io/cluster", "true")]);
    assert_eq!(preflight::node_distribution(&k3s), Distribution::K3s);
    assert_eq!(preflight::node_distribution(&rke2), Distribution::Rke2);
    assert_eq!(preflight::node_distribution(&k0s), Distribution::K0s);
    assert_eq!(preflight::node_distribution(&micro), Distribution::Microk8s);
    assert_eq!(
        preflight::node_distribution(&node("e", &[])),
        Distribution::K8s
    );
    assert_eq!(
        preflight::detect_distribution(&[k3s.clone(), k3s.clone()]).unwrap(),
        Distribution::K3s
    );
    let mixed = preflight::detect_distribution(&[k3s, node("e", &[])]).unwrap_err();
    assert!(mixed.problem.contains("k3s, k8s"), "{mixed}");
}

#[test]
fn an_unset_distribution_is_auto_set_and_a_contradiction_refused() {
    use preflight::check_distribution as c;
    assert_eq!(
        c(Distribution::K8s, Distribution::K8s, true).unwrap(),
        DistributionDecision::Agrees
    );
    assert_eq!(
        c(Distribution::K3s, Distribution::K8s, false).unwrap(),
        DistributionDecision::AutoSet(Distribution::K3s)
    );
    let f = c(Distribution::K3s, Distribution::K8s, true).unwrap_err();
    assert!(
        f.problem
            .contains("k8sDistribution is k8s, but the nodes run k3s"),
        "{f}"
    );
    assert!(f.fix.contains("--set k8sDistribution=k3s"));
}

#[test]
fn missing_arches_name_what_the_cluster_has() {
    let mut s390 = node("z", &[]);
    s390.arch = "s390x".into();
    assert!(preflight::check_arches(&[node("a", &[]), s390.clone()], &["s390x".into()]).is_ok());
    let f = preflight::check_arches(&[s390], &["amd64".into()]).unwrap_err();
    assert!(f.problem.contains("(amd64); the cluster has: s390x"), "{f}");
    let f = preflight::check_arches(&[], &["amd64".into()]).unwrap_err();
    assert!(f.problem.contains("no nodes"));
}

#[test]
fn another_kata_deploy_is_named_with_where_it_runs() {
    use preflight::{ForeignDaemonSet, ForeignRuntimeClass};
    let helm = ForeignDaemonSet {
        namespace: "kube-system".into(),
        name: "kata-deploy".into(),
        images: vec!["quay.io/kata-containers/kata-deploy:3.22.0".into()],
        instance: None,
    };
    let ours = ForeignDaemonSet {
        namespace: "coco-system".into(),
        name: "kata-deploy".into(),
        images: vec!["quay.io/kata-containers/kata-deploy:4.1.0".into()],
        instance: Some("default".into()),
    };
    let unrelated = ForeignDaemonSet {
        name: "fluentd".into(),
        images: vec!["fluentd".into()],
        ..helm.clone()
    };
    let rc = |name: &str, inst: Option<&str>| ForeignRuntimeClass {
        name: name.into(),
        handler: name.into(),
        instance: inst.map(String::from),
    };
    let planned = vec!["kata-qemu-snp".to_string()];
    let neighbours = preflight::other_kata_deploy(
        std::slice::from_ref(&helm),
        &[],
        "coco-system",
        "kata-deploy-gpu",
        "gpu",
        true,
        &[],
    );
    assert!(
        neighbours.is_empty(),
        "a suffixed install lives next to another kata-deploy: {neighbours:?}"
    );
    let same_name = preflight::other_kata_deploy(
        std::slice::from_ref(&helm),
        &[],
        "coco-system",
        "kata-deploy",
        "default",
        true,
        &[],
    );
    assert_eq!(same_name.len(), 1);
    // The unsuffixed install next to a suffixed one (its upgrade, or installed second).
    let suffixed_neighbour = ForeignDaemonSet {
        namespace: "coco-system".into(),
        name: "kata-deploy-teamb".into(),
        images: vec!["quay.io/kata-containers/kata-deploy:4.1.0".into()],
        instance: Some("teamb".into()),
    };
    let helm_suffixed = ForeignDaemonSet {
        name: "kata-deploy-ci".into(),
        ..helm.clone()
    };
    let next_to_suffixed = preflight::other_kata_deploy(
        &[suffixed_neighbour, helm_suffixed],
        &[],
        "coco-system",
        "kata-deploy",
        "default",
        false,
        &[],
    );
    assert!(
        next_to_suffixed.is_empty(),
        "an unsuffixed install lives next to suffixed ones: {next_to_suffixed:?}"
    );
    let f = preflight::other_kata_deploy(
        &[helm, ours, unrelated],
        &[
            rc("kata-qemu-snp", None),
            rc("kata-qemu-tdx", None),
            rc("kata-qemu-snp", Some("default")),
        ],
        "coco-system",
        "kata-deploy",
        "default",
        false,
        &planned,
    );
    assert_eq!(f.len(), 2, "{f:#?}");
    assert!(f[0].problem.contains(
        "DaemonSet kube-system/kata-deploy (quay.io/kata-containers/kata-deploy:3.22.0)"
    ));
    assert!(f[1].problem.contains("RuntimeClass kata-qemu-snp"));
}

#[test]
fn restricted_pod_security_owned_by_someone_else_is_refused_before_writing() {
    assert!(preflight::check_pod_security("coco-system", None, false).is_ok());
    assert!(preflight::check_pod_security("coco-system", Some("privileged"), false).is_ok());
    assert!(preflight::check_pod_security("coco-system", Some("restricted"), true).is_ok());
    let f = preflight::check_pod_security("apps", Some("restricted"), false).unwrap_err();
    assert!(
        f.problem.contains("enforces Pod Security `restricted`"),
        "{f}"
    );
}

#[test]
fn missing_permissions_are_listed_one_per_line() {
    let perms = preflight::install_permissions(
        &[
            ("apps".into(), "daemonsets".into(), true),
            ("node.k8s.io".into(), "runtimeclasses".into(), false),
        ],
        "coco-system",
    );
    assert!(perms
        .iter()
        .any(|p| p.to_string() == "patch daemonsets.apps in coco-system"));
    assert!(perms
        .iter()
        .any(|p| p.to_string() == "create runtimeclasses.node.k8s.io (cluster-wide)"));
    assert!(perms
        .iter()
        .any(|p| p.to_string() == "list nodes (cluster-wide)"));
    let f = preflight::missing_permissions(&perms[..2], "alice").unwrap();
    assert!(
        f.problem.starts_with("alice is missing 2 permission(s)"),
        "{f}"
    );
    assert!(preflight::missing_permissions(&[], "alice").is_none());
}

#[test]
fn with_the_agent_only_nodes_the_agent_runs_on_are_targeted() {
    let mut e = expect(true);
    e.agent_targeting = Some(Targeting {
        node_selector: [("containerd-pool".to_string(), "yes".to_string())].into(),
        ..Default::default()
    });
    let p = evaluate(
        &e,
        &[node("a", &[("containerd-pool", "yes")]), node("b", &[])],
        &[],
        &[],
    );
    let names: Vec<_> = p.nodes.iter().map(|n| n.node.as_str()).collect();
    assert_eq!(names, ["a"]);
}

#[test]
fn kubernetes_older_than_1_25_is_refused() {
    assert!(preflight::check_version("v1.36.0").is_ok());
    assert!(preflight::check_version("v1.25.3+k3s1").is_ok());
    assert!(preflight::check_version("v2.0.0").is_ok());
    assert!(preflight::check_version("weird").is_ok());
    let f = preflight::check_version("v1.24.17").unwrap_err();
    assert!(
        f.problem.contains("v1.24.17") && f.problem.contains("1.25 or newer"),
        "{f}"
    );
}

#[test]
fn after_an_upgrade_a_node_is_ready_only_once_its_pod_runs_the_new_template() {
    let mut e = expect(false);
    e.kata_generation = Some(2);
    let n = node("a", &[(KATA, "true"), (OWN, "true")]);
    let mut old = pod("kata-deploy-a1", "kata-deploy", "a", "Running");
    old.template_generation = Some(1);
    let p = evaluate(&e, std::slice::from_ref(&n), &[old], &[]);
    assert!(
        matches!(&p.nodes[0].state, NodeState::Waiting(w) if w.contains("still runs the previous template")),
        "{p:?}"
    );
    let mut new = pod("kata-deploy-a2", "kata-deploy", "a", "Pending");
    new.template_generation = Some(2);
    let p = evaluate(&e, std::slice::from_ref(&n), &[new.clone()], &[]);
    assert!(
        matches!(&p.nodes[0].state, NodeState::Waiting(w) if w.contains("rolling out: kata-deploy pod kata-deploy-a2 Pending")),
        "{p:?}"
    );
    new.phase = "Running".into();
    new.ready = true;
    let p = evaluate(&e, &[n], &[new], &[]);
    assert_eq!(p.nodes[0].state, NodeState::Ready);
}

#[test]
fn a_daemonset_whose_pods_a_webhook_rejects_names_the_webhook_and_its_error_on_every_node() {
    let nodes = [node("a", &[]), node("b", &[])];
    let msg = "Error creating: Internal error occurred: failed calling webhook \"mwebhook.peerpods.confidentialcontainers.org\": failed to call webhook: Post \"https://peer-pods-webhook-webhook-service.peer-pods-webhook-system.svc:443/mutate-v1-pod?timeout=10s\": tls: failed to verify certificate: x509: certificate signed by unknown authority";
    let failed = |ds: &str, last: &str| EventSnap {
        kind: "DaemonSet".into(),
        name: ds.into(),
        reason: "FailedCreate".into(),
        message: msg.into(),
        last: last.into(),
        count: 1,
    };
    for (agent, ds) in [(false, "kata-deploy"), (true, "cococtl-containerd")] {
        let pr = evaluate(
            &expect(agent),
            &nodes,
            &[],
            &[failed(ds, "2026-01-01T00:00:02Z")],
        );
        for n in &pr.nodes {
            let NodeState::Waiting(why) = &n.state else {
                panic!("{:?}", n.state)
            };
            assert!(
                why.contains(&format!("DaemonSet {ds} cannot create its pods: admission webhook mwebhook.peerpods.confidentialcontainers.org rejects them"))
                    && why.contains("x509: certificate signed by unknown authority"),
                "{why}"
            );
        }
    }
    // Another warning on the DaemonSet (or a FailedCreate of another one) is not the reason.
    let other = EventSnap {
        reason: "SomethingElse".into(),
        ..failed("kata-deploy", "2026-01-01T00:00:03Z")
    };
    let pr = evaluate(
        &expect(false),
        &nodes,
        &[],
        &[other, failed("other-ds", "2026-01-01T00:00:01Z")],
    );
    assert!(
        matches!(&pr.nodes[0].state, NodeState::Waiting(w) if w == "no kata-deploy pod on the node yet"),
        "{:?}",
        pr.nodes[0].state
    );
    // A quota or Pod Security refusal is named too, without a webhook.
    let quota = EventSnap {
        message: "Error creating: pods \"kata-deploy-x\" is forbidden: exceeded quota: q".into(),
        ..failed("kata-deploy", "2026-01-01T00:00:02Z")
    };
    let pr = evaluate(&expect(false), &nodes, &[], &[quota]);
    assert!(
        matches!(&pr.nodes[0].state, NodeState::Waiting(w) if w.contains("DaemonSet kata-deploy cannot create its pods: Error creating: pods \"kata-deploy-x\" is forbidden: exceeded quota")),
        "{:?}",
        pr.nodes[0].state
    );
}
