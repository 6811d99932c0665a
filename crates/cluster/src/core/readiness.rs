//! When is a node done: the wait evaluation over node and pod snapshots.
//!
//! A targeted node is ready when kata-deploy labelled it (`katacontainers.io/kata-runtime`
//! and `kata-deploy.katacontainers.io/<instance>` both `true`,
//! docs/kata-deploy-contract.md#node-labels) and, with the containerd agent, the agent's
//! label says `ready` (docs/node-agent.md#node-labels). It has failed when the agent says
//! `failed` or `rolled-back`. Anything else is waiting, with the reason a user can act on.

use std::collections::HashMap;

use cococtl_core::labels::{
    CONTAINERD_READY, CONTAINERD_STATE, KATA_INSTANCE_LABEL_PREFIX, KATA_RUNTIME_LABEL,
};
use serde::Serialize;

use super::snapshot::{EventSnap, NodeSnap, PodSnap, Targeting};

/// Where one node stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "reason")]
pub enum NodeState {
    /// Kata is usable here.
    Ready,
    /// Not yet, and why.
    Waiting(String),
    /// It will not get there without a change, and why.
    Failed(String),
}

impl NodeState {
    /// `ready`, `waiting`, `failed`.
    pub fn word(&self) -> &'static str {
        match self {
            NodeState::Ready => "ready",
            NodeState::Waiting(_) => "waiting",
            NodeState::Failed(_) => "failed",
        }
    }
}

/// What the release expects on its nodes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expect {
    /// The kata instance (`default` or the suffix).
    pub instance: String,
    /// kata-deploy's pod label value (`name=<base>`).
    pub kata_pods: String,
    /// Where kata-deploy runs.
    pub kata_targeting: Targeting,
    /// The containerd agent's pod label value, when enabled.
    pub agent_pods: Option<String>,
    /// Where the containerd agent runs (when enabled; `None`: wherever kata-deploy does).
    pub agent_targeting: Option<Targeting>,
    /// The kata-deploy DaemonSet's `metadata.generation` as applied: a node is ready only
    /// once its pod runs that template and is Ready (an upgrade rolls the pods while the
    /// node labels stay `true`). `None`: labels alone decide.
    pub kata_generation: Option<i64>,
}

impl Expect {
    /// `kata-deploy.katacontainers.io/<instance>`.
    pub fn instance_label(&self) -> String {
        format!("{KATA_INSTANCE_LABEL_PREFIX}/{}", self.instance)
    }

    /// Whether the release targets this node.
    pub fn targets(&self, n: &NodeSnap) -> bool {
        let ignore = self.agent_pods.as_ref().map(|_| CONTAINERD_STATE);
        // With the agent, kata-deploy only follows it: a node the agent does not run on
        // never gets kata.
        self.kata_targeting.selects(n, ignore)
            && self
                .agent_targeting
                .as_ref()
                .is_none_or(|t| t.selects(n, None))
    }
}

/// One targeted node's progress.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeProgress {
    /// Node name.
    pub node: String,
    /// Where it stands.
    #[serde(flatten)]
    pub state: NodeState,
}

/// The evaluation of every targeted node.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Progress {
    /// Targeted nodes, by name.
    pub nodes: Vec<NodeProgress>,
}

impl Progress {
    /// Count of ready nodes.
    pub fn ready(&self) -> usize {
        self.count(|s| matches!(s, NodeState::Ready))
    }
    /// Count of failed nodes.
    pub fn failed(&self) -> usize {
        self.count(|s| matches!(s, NodeState::Failed(_)))
    }
    /// Count of waiting nodes.
    pub fn waiting(&self) -> usize {
        self.count(|s| matches!(s, NodeState::Waiting(_)))
    }
    fn count(&self, f: impl Fn(&NodeState) -> bool) -> usize {
        self.nodes.iter().filter(|n| f(&n.state)).count()
    }
    /// Nothing is waiting any more (and there is at least one node).
    pub fn settled(&self) -> bool {
        !self.nodes.is_empty() && self.waiting() == 0
    }
    /// Every targeted node is ready.
    pub fn all_ready(&self) -> bool {
        !self.nodes.is_empty() && self.ready() == self.nodes.len()
    }
}

/// Indexes pods and the latest warning event per object, once per evaluation.
pub struct Index<'a> {
    /// Pods by (app label, node).
    pub pods: HashMap<(&'a str, &'a str), &'a PodSnap>,
    /// Latest warning by (kind, name).
    pub warnings: HashMap<(&'a str, &'a str), &'a EventSnap>,
}

impl<'a> Index<'a> {
    /// Builds the index.
    pub fn new(pods: &'a [PodSnap], events: &'a [EventSnap]) -> Self {
        let mut by = HashMap::with_capacity(pods.len());
        for p in pods {
            if p.node.is_empty() {
                continue;
            }
            // Prefer the pod that is not being deleted (a rolling update has both).
            let e = by.entry((p.app.as_str(), p.node.as_str())).or_insert(p);
            if e.deleting && !p.deleting {
                *e = p;
            }
        }
        let mut warnings: HashMap<(&str, &str), &EventSnap> = HashMap::new();
        for e in events {
            let slot = warnings
                .entry((e.kind.as_str(), e.name.as_str()))
                .or_insert(e);
            if e.last > slot.last {
                *slot = e;
            }
        }
        Index { pods: by, warnings }
    }

    /// The pod of `app` on `node`.
    pub fn pod(&self, app: &str, node: &str) -> Option<&'a PodSnap> {
        self.pods.get(&(app, node)).copied()
    }

    /// The latest warning about a pod or node.
    pub fn warning(&self, kind: &str, name: &str) -> Option<&'a EventSnap> {
        self.warnings.get(&(kind, name)).copied()
    }
}

/// Why the DaemonSet `ds` has no pod: its controller's latest `FailedCreate` warning
/// (an admission webhook rejecting the pods, a quota, Pod Security), named at once rather
/// than at the timeout.
pub fn failed_create(ds: &str, idx: &Index<'_>) -> Option<String> {
    let e = idx
        .warning("DaemonSet", ds)
        .filter(|e| e.reason == "FailedCreate")?;
    let webhook = e
        .message
        .split_once("webhook \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(name, _)| name);
    Some(match webhook {
        Some(w) => format!(
            "DaemonSet {ds} cannot create its pods: admission webhook {w} rejects them: {}",
            e.message
        ),
        None => format!("DaemonSet {ds} cannot create its pods: {}", e.message),
    })
}

fn describe_pod(what: &str, ds: &str, p: Option<&PodSnap>, idx: &Index<'_>) -> String {
    let Some(p) = p else {
        return match failed_create(ds, idx) {
            Some(why) => format!("no {what} pod on the node: {why}"),
            None => format!("no {what} pod on the node yet"),
        };
    };
    let mut s = format!("{what} pod {} {}", p.name, p.phase);
    if !p.reason.is_empty() {
        s.push_str(&format!(" ({})", p.reason));
    }
    if p.restarts > 0 {
        s.push_str(&format!(", {} restarts", p.restarts));
    }
    if let Some(e) = idx.warning("Pod", &p.name) {
        s.push_str(&format!("; last event {}: {}", e.reason, e.message));
    }
    s
}

/// One node's state.
pub fn node_state(expect: &Expect, n: &NodeSnap, idx: &Index<'_>) -> NodeState {
    if let Some(agent) = &expect.agent_pods {
        match n.label(CONTAINERD_STATE) {
            Some(CONTAINERD_READY) => {}
            Some(state @ ("failed" | "rolled-back")) => {
                let why = if n.agent_message.is_empty() {
                    "no message".to_string()
                } else {
                    n.agent_message.clone()
                };
                return NodeState::Failed(format!("containerd agent {state}: {why}"));
            }
            state => {
                let pod = describe_pod("containerd agent", agent, idx.pod(agent, &n.name), idx);
                return NodeState::Waiting(match state {
                    Some(s) => format!("containerd agent {s}; {pod}"),
                    None => pod,
                });
            }
        }
    }
    let shared = n.label(KATA_RUNTIME_LABEL);
    let own = n.label(&expect.instance_label());
    if shared == Some("true") && own == Some("true") {
        let Some(want) = expect.kata_generation else {
            return NodeState::Ready;
        };
        let pod = idx.pod(&expect.kata_pods, &n.name);
        return match pod {
            // A pod without the label (older controllers): labels decide.
            Some(p)
                if p.template_generation.is_none_or(|g| g >= want) && p.ready && !p.deleting =>
            {
                NodeState::Ready
            }
            Some(p) if p.template_generation.is_some_and(|g| g < want) || p.deleting => {
                NodeState::Waiting(format!(
                    "kata-deploy rolling out: pod {} still runs the previous template",
                    p.name
                ))
            }
            _ => NodeState::Waiting(format!(
                "kata-deploy rolling out: {}",
                describe_pod("kata-deploy", &expect.kata_pods, pod, idx)
            )),
        };
    }
    let pod = describe_pod(
        "kata-deploy",
        &expect.kata_pods,
        idx.pod(&expect.kata_pods, &n.name),
        idx,
    );
    let mut why = match own {
        Some(_) => format!("kata-deploy installing; {pod}"),
        None => pod,
    };
    if !n.ready {
        why.push_str("; node NotReady");
    }
    NodeState::Waiting(why)
}

/// Evaluates every targeted node. `pods` need only be the release's pods; `events` only
/// warnings.
pub fn evaluate(
    expect: &Expect,
    nodes: &[NodeSnap],
    pods: &[PodSnap],
    events: &[EventSnap],
) -> Progress {
    let idx = Index::new(pods, events);
    let mut out: Vec<NodeProgress> = nodes
        .iter()
        .filter(|n| expect.targets(n))
        .map(|n| NodeProgress {
            node: n.name.clone(),
            state: node_state(expect, n, &idx),
        })
        .collect();
    out.sort_by(|a, b| a.node.cmp(&b.node));
    Progress { nodes: out }
}
