//! The node agent's uninstall trigger, the way kata-deploy decides it
//! (`docs/kata-deploy-contract.md#daemonset-name`): on SIGTERM the agent reads its own
//! DaemonSet. Still there, not being deleted, and still selecting this node: a restart or
//! a rolling update, so the node keeps its containerd. Gone, being deleted, or no longer
//! selecting the node: an uninstall, so the agent restores the node.
//!
//! When the API cannot be read the answer is "keep": an unreadable DaemonSet is not a
//! deleted one, and restoring containerd on every API hiccup would be far worse than a
//! node left for `cococtl uninstall` to report.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement};

/// What SIGTERM means for this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Restore the node: why.
    Uninstall(String),
    /// Leave the node as it is: why.
    Keep(String),
}

fn requirement_holds(r: &NodeSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let v = labels.get(&r.key);
    let values = r.values.as_deref().unwrap_or_default();
    match r.operator.as_str() {
        "In" => v.is_some_and(|v| values.contains(v)),
        "NotIn" => v.is_none_or(|v| !values.contains(v)),
        "Exists" => v.is_some(),
        "DoesNotExist" => v.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                v.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// Whether the DaemonSet's pod template (nodeSelector and required node affinity) selects
/// a node with these labels.
pub fn selects(ds: &DaemonSet, labels: &BTreeMap<String, String>) -> bool {
    let Some(spec) = ds.spec.as_ref().and_then(|s| s.template.spec.as_ref()) else {
        return true;
    };
    let selector_ok = spec
        .node_selector
        .as_ref()
        .is_none_or(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    // Terms are ORed; the expressions of one term are ANDed.
    let affinity_ok = required.is_none_or(|r| {
        r.node_selector_terms.iter().any(|t| {
            t.match_expressions
                .as_deref()
                .unwrap_or_default()
                .iter()
                .all(|e| requirement_holds(e, labels))
        })
    });
    selector_ok && affinity_ok
}

/// The verdict from what was read: the DaemonSet (`None`: not found) and the node's labels.
pub fn verdict(ds: Option<&DaemonSet>, node_labels: &BTreeMap<String, String>) -> Verdict {
    match ds {
        None => Verdict::Uninstall("its DaemonSet is gone".into()),
        Some(d) if d.metadata.deletion_timestamp.is_some() => {
            Verdict::Uninstall("its DaemonSet is being deleted".into())
        }
        Some(d) if !selects(d, node_labels) => {
            Verdict::Uninstall("its DaemonSet no longer selects this node".into())
        }
        Some(_) => Verdict::Keep("its DaemonSet still runs here (a restart or an update)".into()),
    }
}

/// Reads the DaemonSet and the Node and decides.
pub async fn decide(
    client: &kube::Client,
    namespace: &str,
    daemonset: &str,
    node: &str,
) -> Verdict {
    let dss: kube::Api<DaemonSet> = kube::Api::namespaced(client.clone(), namespace);
    let ds = match dss.get_opt(daemonset).await {
        Ok(d) => d,
        Err(e) => {
            return Verdict::Keep(format!(
                "cannot read DaemonSet {namespace}/{daemonset} ({e}); leaving the node as it is"
            ))
        }
    };
    let nodes: kube::Api<Node> = kube::Api::all(client.clone());
    let labels = match nodes.get(node).await {
        Ok(n) => n.metadata.labels.unwrap_or_default(),
        // Without the node's labels only presence and deletion can be judged.
        Err(e) if ds.is_none() => {
            return Verdict::Uninstall(format!("its DaemonSet is gone (node unreadable: {e})"))
        }
        Err(e) => {
            if ds
                .as_ref()
                .is_some_and(|d| d.metadata.deletion_timestamp.is_some())
            {
                return Verdict::Uninstall("its DaemonSet is being deleted".into());
            }
            return Verdict::Keep(format!(
                "cannot read node {node} ({e}); leaving it as it is"
            ));
        }
    };
    verdict(ds.as_ref(), &labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DaemonSetSpec;
    use k8s_openapi::api::core::v1::{
        Affinity, NodeAffinity, NodeSelector, NodeSelectorTerm, PodSpec, PodTemplateSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn ds(selector: &[(&str, &str)], arch_in: &[&str]) -> DaemonSet {
        DaemonSet {
            spec: Some(DaemonSetSpec {
                template: PodTemplateSpec {
                    spec: Some(PodSpec {
                        node_selector: Some(
                            selector
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_string()))
                                .collect(),
                        ),
                        affinity: Some(Affinity {
                            node_affinity: Some(NodeAffinity {
                                required_during_scheduling_ignored_during_execution: Some(
                                    NodeSelector {
                                        node_selector_terms: vec![NodeSelectorTerm {
                                            match_expressions: Some(vec![
                                                NodeSelectorRequirement {
                                                    key: "kubernetes.io/arch".into(),
                                                    operator: "In".into(),
                                                    values: Some(
                                                        arch_in
                                                            .iter()
                                                            .map(|s| s.to_string())
                                                            .collect(),
                                                    ),
                                                },
                                            ]),
                                            ..Default::default()
                                        }],
                                    },
                                ),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn labels(l: &[(&str, &str)]) -> BTreeMap<String, String> {
        l.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_restart_or_rolling_update_keeps_the_node() {
        let d = ds(&[("coco", "yes")], &["amd64"]);
        let n = labels(&[("coco", "yes"), ("kubernetes.io/arch", "amd64")]);
        assert!(matches!(verdict(Some(&d), &n), Verdict::Keep(_)));
    }

    #[test]
    fn a_deleted_or_deleting_daemonset_uninstalls() {
        let n = labels(&[("kubernetes.io/arch", "amd64")]);
        assert!(matches!(verdict(None, &n), Verdict::Uninstall(_)));
        let mut d = ds(&[], &["amd64"]);
        d.metadata.deletion_timestamp = Some(Time(Default::default()));
        assert!(matches!(verdict(Some(&d), &n), Verdict::Uninstall(_)));
    }

    #[test]
    fn a_daemonset_that_no_longer_selects_the_node_uninstalls_there() {
        let n = labels(&[("kubernetes.io/arch", "amd64")]);
        assert!(matches!(
            verdict(Some(&ds(&[("coco", "yes")], &["amd64"])), &n),
            Verdict::Uninstall(_)
        ));
        assert!(matches!(
            verdict(Some(&ds(&[], &["s390x"])), &n),
            Verdict::Uninstall(_)
        ));
    }
}
