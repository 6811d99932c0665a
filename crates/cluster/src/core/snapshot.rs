//! The slices of Nodes, Pods and Events that waits and `status` read, taken from the API
//! objects once, so the evaluation over thousands of them is a few hash lookups.

use std::collections::BTreeMap;

use cococtl_core::labels;
use k8s_openapi::api::core::v1::{Event, Node, Pod, PodSpec, Toleration};
use serde::Serialize;

/// What matters about a node.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NodeSnap {
    /// Name.
    pub name: String,
    /// All labels (kata's, cococtl's, the arch, NFD's).
    pub labels: BTreeMap<String, String>,
    /// `status.nodeInfo.architecture` (Kubernetes spelling).
    pub arch: String,
    /// `status.nodeInfo.kernelVersion`.
    pub kernel: String,
    /// `status.nodeInfo.osImage`.
    pub os_image: String,
    /// `status.nodeInfo.containerRuntimeVersion` (`containerd://2.1.9`).
    pub container_runtime: String,
    /// `status.nodeInfo.kubeletVersion` (`v1.33.1+k3s1`).
    pub kubelet: String,
    /// The Ready condition is True.
    pub ready: bool,
    /// `spec.unschedulable`.
    pub unschedulable: bool,
    /// `spec.taints`: key, value, effect.
    pub taints: Vec<(String, String, String)>,
    /// containerd agent version annotation.
    pub agent_version: String,
    /// containerd agent message annotation (why it failed or rolled back).
    pub agent_message: String,
}

impl NodeSnap {
    /// From a Node.
    pub fn of(n: &Node) -> NodeSnap {
        let info = n.status.as_ref().and_then(|s| s.node_info.as_ref());
        let ann = |k: &str| {
            n.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(k))
                .cloned()
                .unwrap_or_default()
        };
        NodeSnap {
            name: n.metadata.name.clone().unwrap_or_default(),
            labels: n.metadata.labels.clone().unwrap_or_default(),
            arch: info.map(|i| i.architecture.clone()).unwrap_or_default(),
            kernel: info.map(|i| i.kernel_version.clone()).unwrap_or_default(),
            os_image: info.map(|i| i.os_image.clone()).unwrap_or_default(),
            container_runtime: info
                .map(|i| i.container_runtime_version.clone())
                .unwrap_or_default(),
            kubelet: info.map(|i| i.kubelet_version.clone()).unwrap_or_default(),
            ready: n
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
            unschedulable: n
                .spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false),
            taints: n
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .map(|t| {
                    t.iter()
                        .map(|t| {
                            (
                                t.key.clone(),
                                t.value.clone().unwrap_or_default(),
                                t.effect.clone(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            agent_version: ann(labels::CONTAINERD_VERSION),
            agent_message: ann(labels::CONTAINERD_MESSAGE),
        }
    }

    /// A label's value.
    pub fn label(&self, k: &str) -> Option<&str> {
        self.labels.get(k).map(String::as_str)
    }

    /// The arch label or, failing that, the node info.
    pub fn arch(&self) -> &str {
        self.label("kubernetes.io/arch").unwrap_or(&self.arch)
    }
}

/// What matters about a pod.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PodSnap {
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// `spec.nodeName`, once scheduled.
    pub node: String,
    /// The `name` label (the DaemonSets' pod selector).
    pub app: String,
    /// `status.phase`.
    pub phase: String,
    /// Every container ready.
    pub ready: bool,
    /// Restarts, summed over containers.
    pub restarts: i32,
    /// A container's waiting reason (`CrashLoopBackOff`, `ImagePullBackOff`, …) or its
    /// last termination reason.
    pub reason: String,
    /// `spec.runtimeClassName`.
    pub runtime_class: String,
    /// Being deleted.
    pub deleting: bool,
    /// The DaemonSet template generation it was created from (`pod-template-generation`).
    pub template_generation: Option<i64>,
}

impl PodSnap {
    /// From a Pod.
    pub fn of(p: &Pod) -> PodSnap {
        let spec = p.spec.as_ref();
        let status = p.status.as_ref();
        let cs = status
            .and_then(|s| s.container_statuses.as_deref())
            .unwrap_or(&[]);
        let reason = cs
            .iter()
            .find_map(|c| {
                let st = c.state.as_ref()?;
                st.waiting
                    .as_ref()
                    .and_then(|w| w.reason.clone())
                    .or_else(|| st.terminated.as_ref().and_then(|t| t.reason.clone()))
            })
            .unwrap_or_default();
        PodSnap {
            name: p.metadata.name.clone().unwrap_or_default(),
            namespace: p.metadata.namespace.clone().unwrap_or_default(),
            node: spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
            app: p
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("name"))
                .cloned()
                .unwrap_or_default(),
            phase: status.and_then(|s| s.phase.clone()).unwrap_or_default(),
            ready: !cs.is_empty() && cs.iter().all(|c| c.ready),
            restarts: cs.iter().map(|c| c.restart_count).sum(),
            reason,
            runtime_class: spec
                .and_then(|s| s.runtime_class_name.clone())
                .unwrap_or_default(),
            deleting: p.metadata.deletion_timestamp.is_some(),
            template_generation: p
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("pod-template-generation"))
                .and_then(|g| g.parse().ok()),
        }
    }
}

/// A warning event.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EventSnap {
    /// `involvedObject.kind`.
    pub kind: String,
    /// `involvedObject.name`.
    pub name: String,
    /// `reason`.
    pub reason: String,
    /// `message`.
    pub message: String,
    /// The last time it was seen (RFC 3339; compared as text, which orders RFC 3339 UTC).
    pub last: String,
    /// How many times it happened (`count`, or `series.count` of an events.k8s.io event;
    /// 1 when neither is set).
    pub count: i32,
}

impl EventSnap {
    /// From an Event (core/v1).
    pub fn of(e: &Event) -> EventSnap {
        let last = e
            .last_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
            .or_else(|| e.first_timestamp.as_ref().map(|t| t.0.to_string()))
            .unwrap_or_default();
        EventSnap {
            kind: e.involved_object.kind.clone().unwrap_or_default(),
            name: e.involved_object.name.clone().unwrap_or_default(),
            reason: e.reason.clone().unwrap_or_default(),
            message: e.message.clone().unwrap_or_default(),
            last,
            count: e
                .count
                .or_else(|| e.series.as_ref().and_then(|s| s.count))
                .unwrap_or(1),
        }
    }
}

/// Where a DaemonSet's pods may run: its node selector, required node affinity and
/// tolerations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Targeting {
    /// `nodeSelector`.
    pub node_selector: BTreeMap<String, String>,
    /// Required node-affinity terms (ORed), each a list of (key, operator, values) ANDed.
    pub terms: Vec<Vec<(String, String, Vec<String>)>>,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
}

impl Targeting {
    /// From a pod template's spec.
    pub fn of(spec: &PodSpec) -> Targeting {
        let terms = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(|r| {
                r.node_selector_terms
                    .iter()
                    .map(|t| {
                        t.match_expressions
                            .iter()
                            .flatten()
                            .map(|e| {
                                (
                                    e.key.clone(),
                                    e.operator.clone(),
                                    e.values.clone().unwrap_or_default(),
                                )
                            })
                            .collect()
                    })
                    .collect()
            })
            .unwrap_or_default();
        Targeting {
            node_selector: spec.node_selector.clone().unwrap_or_default(),
            terms,
            tolerations: spec.tolerations.clone().unwrap_or_default(),
        }
    }

    /// Whether a DaemonSet pod goes to this node, ignoring requirements on `ignore_key`
    /// (the containerd agent's label: such a node is targeted, it waits for the agent).
    pub fn selects(&self, n: &NodeSnap, ignore_key: Option<&str>) -> bool {
        let selector_ok = self
            .node_selector
            .iter()
            .all(|(k, v)| Some(k.as_str()) == ignore_key || n.label(k) == Some(v.as_str()));
        let term_ok = |t: &Vec<(String, String, Vec<String>)>| {
            t.iter().all(|(k, op, vals)| {
                if Some(k.as_str()) == ignore_key {
                    return true;
                }
                let v = n.label(k);
                match op.as_str() {
                    "In" => v.is_some_and(|v| vals.iter().any(|x| x == v)),
                    "NotIn" => v.is_none_or(|v| vals.iter().all(|x| x != v)),
                    "Exists" => v.is_some(),
                    "DoesNotExist" => v.is_none(),
                    // Gt/Lt compare integers.
                    "Gt" | "Lt" => {
                        let (Some(v), Some(x)) = (
                            v.and_then(|v| v.parse::<i64>().ok()),
                            vals.first().and_then(|x| x.parse::<i64>().ok()),
                        ) else {
                            return false;
                        };
                        if op == "Gt" {
                            v > x
                        } else {
                            v < x
                        }
                    }
                    _ => false,
                }
            })
        };
        let affinity_ok = self.terms.is_empty() || self.terms.iter().any(term_ok);
        selector_ok && affinity_ok && self.tolerates(n)
    }

    /// Every `NoSchedule`/`NoExecute` taint of the node is tolerated (DaemonSets tolerate
    /// `unschedulable` and the not-ready/unreachable taints by themselves).
    fn tolerates(&self, n: &NodeSnap) -> bool {
        const AUTO: &[&str] = &[
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
            "node.kubernetes.io/unschedulable",
            "node.kubernetes.io/disk-pressure",
            "node.kubernetes.io/memory-pressure",
            "node.kubernetes.io/pid-pressure",
            "node.kubernetes.io/network-unavailable",
        ];
        n.taints.iter().all(|(k, v, effect)| {
            effect == "PreferNoSchedule"
                || AUTO.contains(&k.as_str())
                || self.tolerations.iter().any(|t| {
                    let key_ok = t.key.as_deref().is_none_or(|tk| tk.is_empty() || tk == k);
                    let op_exists = t.operator.as_deref() == Some("Exists");
                    let value_ok = op_exists || t.value.as_deref().unwrap_or("") == v;
                    let effect_ok = t
                        .effect
                        .as_deref()
                        .is_none_or(|e| e.is_empty() || e == effect);
                    // An empty key matches every key only with Exists.
                    let empty_key = t.key.as_deref().is_none_or(str::is_empty);
                    key_ok && value_ok && effect_ok && (!empty_key || op_exists)
                })
        })
    }
}
