//! `status`: per node and per RuntimeClass, from one list of nodes, one of the release's
//! pods and one of warning events. Versioned output schema ([`SCHEMA`]).

use std::collections::{BTreeMap, HashMap};

use cococtl_core::labels::{CONTAINERD_STATE, KATA_RUNTIME_LABEL};
use serde::Serialize;

use super::readiness::{node_state, Expect, Index, NodeState};
use super::release::Release;
use super::snapshot::{EventSnap, NodeSnap, PodSnap};

/// The `apiVersion`-like schema tag of `status -o json|yaml`.
pub const SCHEMA: &str = "cococtl.confidentialcontainers.org/status/v1";

/// A RuntimeClass as status needs it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuntimeClassSnap {
    /// Name.
    pub name: String,
    /// Handler.
    pub handler: String,
    /// `scheduling.nodeSelector`.
    pub node_selector: BTreeMap<String, String>,
}

impl RuntimeClassSnap {
    /// The facts of a RuntimeClass.
    pub fn of(rc: &k8s_openapi::api::node::v1::RuntimeClass) -> RuntimeClassSnap {
        RuntimeClassSnap {
            name: rc.metadata.name.clone().unwrap_or_default(),
            handler: rc.handler.clone(),
            node_selector: rc
                .scheduling
                .as_ref()
                .and_then(|s| s.node_selector.clone())
                .unwrap_or_default(),
        }
    }
}

/// The release in a status report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseSummary {
    /// Revision.
    pub revision: u32,
    /// Status.
    pub status: String,
    /// The inputs, as flags.
    pub inputs: String,
    /// kata-deploy version.
    pub kata_version: String,
    /// When last written.
    pub updated: String,
    /// Description.
    pub description: String,
}

impl ReleaseSummary {
    /// From a record.
    pub fn of(r: &Release) -> Self {
        ReleaseSummary {
            revision: r.revision,
            status: r.status.as_str().into(),
            inputs: r.inputs_summary(),
            kata_version: r.kata_version.clone(),
            updated: r.updated.clone(),
            description: r.description.clone(),
        }
    }
}

/// A pod in a status report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PodSummary {
    /// Name.
    pub name: String,
    /// Phase.
    pub phase: String,
    /// Ready.
    pub ready: bool,
    /// Restarts.
    pub restarts: i32,
    /// Waiting/terminated reason.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl PodSummary {
    fn of(p: &PodSnap) -> Self {
        PodSummary {
            name: p.name.clone(),
            phase: p.phase.clone(),
            ready: p.ready,
            restarts: p.restarts,
            reason: p.reason.clone(),
        }
    }
}

/// One node in a status report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Name.
    pub name: String,
    /// Architecture.
    pub arch: String,
    /// Kernel.
    pub kernel: String,
    /// Container runtime and version.
    pub container_runtime: String,
    /// The node's Ready condition.
    pub node_ready: bool,
    /// The containerd agent's label (`installing`, `ready`, …), when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containerd_agent: Option<String>,
    /// The containerd version the agent installed.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub containerd_agent_version: String,
    /// The agent's message (why it failed or rolled back).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub containerd_agent_message: String,
    /// `katacontainers.io/kata-runtime`, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kata_runtime: Option<String>,
    /// The kata-deploy pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kata_deploy_pod: Option<PodSummary>,
    /// The containerd agent pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_pod: Option<PodSummary>,
    /// The latest warning event about the node or its pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_warning: Option<String>,
    /// Whether this release targets the node.
    pub targeted: bool,
    /// Ready, waiting (why) or failed (why); absent when not targeted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<NodeState>,
    /// What the probe agent published on the node (docs/probe-checks.md#published):
    /// `snp`, `tdx`, `se`, `gpu-passthrough`, `cvm` verdicts and `profile`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub probe: BTreeMap<String, String>,
}

/// The probe agent's labels on a node, by their short name.
fn probe_labels(n: &NodeSnap) -> BTreeMap<String, String> {
    let prefix = format!("{}/", cococtl_probe::publish::DOMAIN);
    n.labels
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|s| (s.to_string(), v.clone())))
        .collect()
}

/// One RuntimeClass in a status report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeClassStatus {
    /// Name.
    pub name: String,
    /// Handler.
    pub handler: String,
    /// Nodes its selector matches now (where its pods can run).
    pub nodes: usize,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// The namespace.
    pub namespace: String,
    /// The release, when one is recorded.
    pub release: Option<ReleaseSummary>,
    /// Targeted nodes that are ready.
    pub ready_nodes: usize,
    /// Targeted nodes.
    pub targeted_nodes: usize,
    /// Nodes in the cluster.
    pub total_nodes: usize,
    /// Something needs attention: not deployed, a targeted node not ready, a failed node.
    pub degraded: bool,
    /// Per node, by name.
    pub nodes: Vec<NodeStatus>,
    /// Per RuntimeClass, by name.
    pub runtime_classes: Vec<RuntimeClassStatus>,
    /// Admission webhooks that reject the pods of the release's DaemonSets (from their
    /// `FailedCreate` events, while a targeted node lacks its pod).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<super::admission::WebhookHealth>,
    /// Peer pods, when the release installed them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peerpods: Option<super::peerpods::PeerPodsReport>,
    /// A take-over in progress (its record exists): where it is, per node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub takeover: Option<super::takeover::record::Progress>,
}

/// The inputs of the aggregation.
pub struct StatusInput<'a> {
    /// The namespace.
    pub namespace: &'a str,
    /// The latest record.
    pub release: Option<&'a Release>,
    /// What the release expects (`None` without a release: nothing is targeted).
    pub expect: Option<&'a Expect>,
    /// Every node.
    pub nodes: &'a [NodeSnap],
    /// The release's pods.
    pub pods: &'a [PodSnap],
    /// Warning events in the namespace and on nodes.
    pub events: &'a [EventSnap],
    /// The release's RuntimeClasses.
    pub runtime_classes: &'a [RuntimeClassSnap],
}

/// Aggregates. Linear in nodes + pods + events (+ nodes × RuntimeClasses).
pub fn aggregate(i: &StatusInput<'_>) -> StatusReport {
    let idx = Index::new(i.pods, i.events);
    let kata_app = i.expect.map(|e| e.kata_pods.as_str()).unwrap_or("");
    let agent_app = i.expect.and_then(|e| e.agent_pods.as_deref()).unwrap_or("");
    let mut nodes = Vec::with_capacity(i.nodes.len());
    let (mut ready, mut targeted, mut failed) = (0, 0, 0);
    for n in i.nodes {
        let kata_pod = idx.pod(kata_app, &n.name);
        let agent_pod = idx.pod(agent_app, &n.name);
        let last_warning = [
            kata_pod.and_then(|p| idx.warning("Pod", &p.name)),
            agent_pod.and_then(|p| idx.warning("Pod", &p.name)),
            idx.warning("Node", &n.name),
        ]
        .into_iter()
        .flatten()
        .max_by(|a, b| a.last.cmp(&b.last))
        .map(|e| format!("{}: {}", e.reason, e.message));
        let state = i
            .expect
            .filter(|e| e.targets(n))
            .map(|e| node_state(e, n, &idx));
        if let Some(s) = &state {
            targeted += 1;
            match s {
                NodeState::Ready => ready += 1,
                NodeState::Failed(_) => failed += 1,
                NodeState::Waiting(_) => {}
            }
        }
        nodes.push(NodeStatus {
            name: n.name.clone(),
            arch: n.arch().to_string(),
            kernel: n.kernel.clone(),
            container_runtime: n.container_runtime.clone(),
            node_ready: n.ready,
            containerd_agent: n.label(CONTAINERD_STATE).map(str::to_string),
            containerd_agent_version: n.agent_version.clone(),
            containerd_agent_message: n.agent_message.clone(),
            kata_runtime: n.label(KATA_RUNTIME_LABEL).map(str::to_string),
            kata_deploy_pod: kata_pod.map(PodSummary::of),
            agent_pod: agent_pod.map(PodSummary::of),
            last_warning,
            targeted: state.is_some(),
            state,
            probe: probe_labels(n),
        });
    }
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let runtime_classes = runtime_class_counts(i.runtime_classes, i.nodes);
    let webhooks = i
        .expect
        .map(|e| release_rejections(e, i.namespace, i.nodes, &idx, i.events))
        .map(|r| super::admission::unhealthy_webhooks(&r))
        .unwrap_or_default();
    let deployed = i
        .release
        .is_some_and(|r| r.status == super::release::Status::Deployed);
    StatusReport {
        schema: SCHEMA,
        namespace: i.namespace.to_string(),
        release: i.release.map(ReleaseSummary::of),
        ready_nodes: ready,
        targeted_nodes: targeted,
        total_nodes: i.nodes.len(),
        degraded: !deployed
            || failed > 0
            || ready < targeted
            || targeted == 0
            || !webhooks.is_empty(),
        nodes,
        runtime_classes,
        webhooks,
        peerpods: None,
        takeover: None,
    }
}

/// The latest `FailedCreate` of each release DaemonSet that lacks its pod on a targeted
/// node (an old event about a DaemonSet that has its pods says nothing about now).
fn release_rejections(
    e: &Expect,
    namespace: &str,
    nodes: &[NodeSnap],
    idx: &Index<'_>,
    events: &[EventSnap],
) -> Vec<(String, super::admission::Rejection)> {
    std::iter::once(e.kata_pods.as_str())
        .chain(e.agent_pods.as_deref())
        .filter(|ds| {
            nodes
                .iter()
                .any(|n| e.targets(n) && idx.pod(ds, &n.name).is_none())
        })
        .filter_map(|ds| {
            events
                .iter()
                .filter(|ev| ev.kind == "DaemonSet" && ev.name == ds)
                .filter_map(|ev| super::admission::Rejection::of_event(ev).map(|r| (ev, r)))
                .max_by(|a, b| a.0.last.cmp(&b.0.last))
                .map(|(_, r)| (namespace.to_string(), r))
        })
        .collect()
}

/// How many nodes each RuntimeClass's selector matches. Groups nodes by their values of
/// the selector keys, so thousands of nodes cost one pass per class.
pub fn runtime_class_counts(
    classes: &[RuntimeClassSnap],
    nodes: &[NodeSnap],
) -> Vec<RuntimeClassStatus> {
    let mut memo: HashMap<&BTreeMap<String, String>, usize> = HashMap::new();
    let mut out: Vec<RuntimeClassStatus> = classes
        .iter()
        .map(|rc| {
            let count = *memo.entry(&rc.node_selector).or_insert_with(|| {
                nodes
                    .iter()
                    .filter(|n| {
                        rc.node_selector
                            .iter()
                            .all(|(k, v)| n.label(k) == Some(v.as_str()))
                    })
                    .count()
            });
            RuntimeClassStatus {
                name: rc.name.clone(),
                handler: rc.handler.clone(),
                nodes: count,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
