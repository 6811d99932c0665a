//! The edge of `install --take-over`: performs the [`Action`]s the pure core planned, in
//! order, recording after each one how far it got ([`record`]), so that an interruption
//! (kill -9, an API outage that outlasts the patience, the timeout) leaves a record the next
//! run continues from. Waits poll the API every second, bounded by the caller's timeout.
//! Nothing is removed that the record (made from the plan shown first) does not list.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::Api;
use serde_json::{json, Value};

use crate::apply::{self, FIELD_MANAGER};
use crate::client::Cluster;
use crate::core::inventory::Item;
use crate::core::takeover::actions::{self, Action, CLEANUP_NODE_LABEL};
use crate::core::takeover::record::{self, Record};
use crate::error::ClusterError;
use crate::list::list_all;
use crate::observe::Observer;

/// How a take-over runs.
pub struct Options<'a> {
    /// cococtl's release namespace (the record lives there).
    pub namespace: &'a str,
    /// cococtl's instance label value.
    pub instance: &'a str,
    /// How many nodes a clean-up DaemonSet works on at once.
    pub max_unavailable: usize,
    /// How long each wait may take.
    pub timeout: Duration,
    /// Poll interval of the waits.
    pub poll: Duration,
    /// Tests: stop (as a crash would) after this many actions of this run.
    pub stop_after: Option<usize>,
}

/// The waits' poll interval outside tests.
pub const POLL: Duration = Duration::from_secs(1);

/// The record of a take-over in progress in `namespace`, if any.
pub async fn load(cluster: &Cluster, namespace: &str) -> Result<Option<Record>, ClusterError> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), namespace);
    let cm = cluster
        .call_opt(
            &format!("reading the take-over record {namespace}/{}", record::NAME),
            || api.get(record::NAME),
        )
        .await?;
    match cm {
        None => Ok(None),
        Some(cm) => Record::from_config_map(&cm)
            .map(Some)
            .map_err(|e| ClusterError::Input(format!("{e}\n  fix: delete it (kubectl -n {namespace} delete configmap {}) and run `cococtl diff --take-over` again", record::NAME))),
    }
}

/// Writes the record (creating the namespace first when it does not exist yet: the record
/// must be there before the first change).
pub async fn save(cluster: &Cluster, r: &Record, o: &Options<'_>) -> Result<(), ClusterError> {
    let ns_api: Api<Namespace> = Api::all(cluster.client.clone());
    let have = cluster
        .call_opt(&format!("reading namespace {}", o.namespace), || {
            ns_api.get(o.namespace)
        })
        .await?;
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    if have.is_none() {
        let body = Patch::Apply(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": o.namespace}}),
        );
        cluster
            .call(&format!("creating namespace {}", o.namespace), || {
                ns_api.patch(o.namespace, &pp, &body)
            })
            .await?;
    }
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), o.namespace);
    let mut cm = r.to_config_map(o.namespace, o.instance);
    cm.metadata.namespace = None;
    let mut body = serde_json::to_value(&cm).unwrap_or_default();
    body["apiVersion"] = json!("v1");
    body["kind"] = json!("ConfigMap");
    let body = Patch::Apply(body);
    cluster
        .call(
            &format!(
                "writing the take-over record {}/{}",
                o.namespace,
                record::NAME
            ),
            || api.patch(record::NAME, &pp, &body),
        )
        .await
        .map(|_| ())
}

/// Deletes the record (gone already is fine).
pub async fn forget(cluster: &Cluster, namespace: &str) -> Result<(), ClusterError> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), namespace);
    let dp = DeleteParams::default();
    cluster
        .call_opt(
            &format!("deleting the take-over record {namespace}/{}", record::NAME),
            || api.delete(record::NAME, &dp),
        )
        .await
        .map(|_| ())
}

/// Performs the record's actions from `r.done` on, saving the record after each one (and
/// with the error when one fails). Returns when all are done.
pub async fn run(
    cluster: &Cluster,
    r: &mut Record,
    o: &Options<'_>,
    obs: &mut dyn Observer,
) -> Result<(), ClusterError> {
    let total = r.total();
    let mut this_run = 0;
    while r.done < total {
        if o.stop_after == Some(this_run) {
            return Err(ClusterError::Interrupted(format!(
                "stopped after {this_run} take-over step(s) (test)"
            )));
        }
        let (install, action) = {
            let flat = r.flat();
            let (i, a) = flat[r.done];
            (i.to_string(), a.clone())
        };
        obs.step(&format!(
            "take-over {}/{total}: {} ({install})",
            r.done + 1,
            action.title()
        ));
        if let Err(e) = perform(cluster, &action, o, obs).await {
            r.stopped = Some(e.to_string().lines().next().unwrap_or_default().to_string());
            // Best effort: the error is what the user needs, the record says where.
            let _ = save(cluster, r, o).await;
            return Err(e);
        }
        r.done += 1;
        r.stopped = None;
        this_run += 1;
        save(cluster, r, o).await?;
    }
    Ok(())
}

async fn perform(
    cluster: &Cluster,
    a: &Action,
    o: &Options<'_>,
    obs: &mut dyn Observer,
) -> Result<(), ClusterError> {
    match a {
        Action::DeleteDaemonSet {
            namespace,
            name,
            selector,
        } => delete_daemonset(cluster, namespace, name, selector, o, obs).await,
        Action::Cleanup {
            daemonset,
            label,
            nodes,
        } => cleanup(cluster, daemonset, label, nodes, o, obs).await,
        Action::DeleteCcRuntime { name } => {
            delete_and_wait(cluster, &item("CcRuntime", None, name)?, o).await
        }
        Action::WaitNodesUnlabelled { nodes, labels } => {
            wait_nodes(cluster, nodes, labels, o, "the old install's clean-up").await
        }
        Action::Delete { objects } => {
            for r in objects {
                delete_and_wait(cluster, &item(&r.kind, r.namespace.as_deref(), &r.name)?, o)
                    .await?;
                obs.line(&format!("deleted {r}"));
            }
            Ok(())
        }
        Action::Unlabel { nodes, labels } => unlabel(cluster, nodes, labels).await,
        Action::Disown { namespaces } => {
            for n in namespaces {
                if disown(cluster, n).await? {
                    obs.line(&format!("namespace {n}: Helm's marks removed"));
                }
            }
            Ok(())
        }
        Action::Drain { node, pods } => drain(cluster, node, pods, o, obs).await,
        Action::Uncordon { nodes } => {
            for n in nodes {
                cordon(cluster, n, false).await?;
                obs.line(&format!("node {n}: uncordoned"));
            }
            Ok(())
        }
    }
}

/// Takes Helm's ownership marks off namespace `name` (see [`Action::Disown`]); `false`
/// when it carries none (or is gone): nothing to do.
async fn disown(cluster: &Cluster, name: &str) -> Result<bool, ClusterError> {
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    let what = format!("reading namespace {name}");
    let Some(ns) = cluster.call_opt(&what, || api.get(name)).await? else {
        return Ok(false);
    };
    let Some(patch) = actions::helm_marks_removal(&ns.metadata) else {
        return Ok(false);
    };
    let pp = PatchParams::default();
    let patch = Patch::Merge(patch);
    let what = format!("removing Helm's marks from namespace {name}");
    cluster
        .call_opt(&what, || api.patch(name, &pp, &patch))
        .await
        .map(|n| n.is_some())
}

async fn cordon(cluster: &Cluster, node: &str, on: bool) -> Result<(), ClusterError> {
    let api: Api<Node> = Api::all(cluster.client.clone());
    // `null`, not `false`: the field goes, as `kubectl uncordon` leaves it.
    let patch = Patch::Merge(
        json!({"spec": {"unschedulable": if on { json!(true) } else { Value::Null }}}),
    );
    let pp = PatchParams::default();
    cluster
        .call_opt(
            &format!(
                "{} node {node}",
                if on { "cordoning" } else { "uncordoning" }
            ),
            || api.patch(node, &pp, &patch),
        )
        .await
        .map(|_| ())
}

/// Cordons `node` and evicts `pods` through the Eviction API, so that PodDisruptionBudgets
/// are honoured: an eviction refused with 429 is retried (the budget allows it once other
/// pods are ready again) until the timeout, which names the pod and the reason.
async fn drain(
    cluster: &Cluster,
    node: &str,
    pods: &[String],
    o: &Options<'_>,
    obs: &mut dyn Observer,
) -> Result<(), ClusterError> {
    cordon(cluster, node, true).await?;
    obs.line(&format!("node {node}: cordoned"));
    let start = Instant::now();
    for id in pods {
        let (ns, name) = id.split_once('/').unwrap_or(("default", id));
        let api: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
        let ep = kube::api::EvictParams::default();
        let mut said = false;
        loop {
            match api.evict(name, &ep).await {
                Ok(_) => break,
                Err(kube::Error::Api(s)) if s.code == 404 => break,
                Err(kube::Error::Api(s)) if s.code == 429 => {
                    if !said {
                        obs.line(&format!(
                            "pod {id}: eviction refused for now ({}); retrying",
                            s.message
                        ));
                        said = true;
                    }
                    if start.elapsed() >= o.timeout {
                        return Err(ClusterError::Timeout {
                            what: format!("evicting the kata pods of node {node}"),
                            after: o.timeout,
                            still: vec![format!("pod {id}: {}", s.message)],
                        });
                    }
                }
                Err(e) if crate::retry::is_retryable(&e) && start.elapsed() < o.timeout => {}
                Err(e) => {
                    return Err(ClusterError::from_kube(
                        e,
                        &format!("evicting pod {id}"),
                        &cluster.server,
                    ))
                }
            }
            tokio::time::sleep(o.poll).await;
        }
        obs.line(&format!("pod {id}: evicted"));
    }
    for id in pods {
        let (ns, name) = id.split_once('/').unwrap_or(("default", id));
        let api: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
        loop {
            let have = cluster
                .call_opt(&format!("reading pod {id}"), || api.get(name))
                .await?;
            if have.is_none() {
                break;
            }
            if start.elapsed() >= o.timeout {
                return Err(ClusterError::Timeout {
                    what: format!("the evicted kata pods of node {node} to stop"),
                    after: o.timeout,
                    still: vec![format!("pod {id}")],
                });
            }
            tokio::time::sleep(o.poll).await;
        }
    }
    Ok(())
}

/// The object of a kind the take-over deletes, as the inventory names objects (so the
/// shared delete and wait of `crate::apply` serve it).
fn item(kind: &str, namespace: Option<&str>, name: &str) -> Result<Item, ClusterError> {
    let Some((group, version, plural)) = actions::resource_of(kind) else {
        return Err(ClusterError::Input(format!(
            "the take-over record lists a {kind}, which cococtl does not know how to delete\n  fix: delete it yourself, then run again"
        )));
    };
    Ok(Item {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        namespaced: namespace.is_some(),
        namespace: namespace.map(str::to_string),
        name: name.into(),
        uid: String::new(),
    })
}

/// Deletes `i` and waits until it is gone (already gone is fine: the step is repeated
/// after an interruption).
async fn delete_and_wait(cluster: &Cluster, i: &Item, o: &Options<'_>) -> Result<(), ClusterError> {
    apply::delete(cluster, i).await?;
    apply::wait_gone(cluster, i, o.timeout).await
}

async fn delete_daemonset(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    selector: &str,
    o: &Options<'_>,
    obs: &mut dyn Observer,
) -> Result<(), ClusterError> {
    let api: Api<DaemonSet> = Api::namespaced(cluster.client.clone(), namespace);
    let dp = DeleteParams::background();
    cluster
        .call_opt(&format!("deleting DaemonSet {namespace}/{name}"), || {
            api.delete(name, &dp)
        })
        .await?;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
    let start = Instant::now();
    let mut last = usize::MAX;
    loop {
        let (left, _) = list_all(
            cluster,
            &pods,
            (!selector.is_empty()).then_some(selector),
            None,
            &format!("listing the pods of DaemonSet {namespace}/{name}"),
        )
        .await?;
        if left.is_empty() {
            return Ok(());
        }
        if left.len() != last {
            obs.line(&format!(
                "{} pod(s) of {namespace}/{name} still stopping",
                left.len()
            ));
            last = left.len();
        }
        if start.elapsed() >= o.timeout {
            return Err(ClusterError::Timeout {
                what: format!("the pods of DaemonSet {namespace}/{name} to stop"),
                after: o.timeout,
                still: left
                    .iter()
                    .map(|p| {
                        format!(
                            "pod {} on {}",
                            p.metadata.name.clone().unwrap_or_default(),
                            p.spec
                                .as_ref()
                                .and_then(|s| s.node_name.clone())
                                .unwrap_or_default()
                        )
                    })
                    .collect(),
            });
        }
        tokio::time::sleep(o.poll).await;
    }
}

fn has_any(n: &Node, labels: &[String]) -> bool {
    n.metadata
        .labels
        .as_ref()
        .is_some_and(|l| labels.iter().any(|k| l.contains_key(k)))
}

fn label_of<'a>(n: &'a Node, key: &str) -> Option<&'a str> {
    n.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

async fn nodes_named(cluster: &Cluster, names: &[String]) -> Result<Vec<Node>, ClusterError> {
    let api: Api<Node> = Api::all(cluster.client.clone());
    let (all, _) = list_all(cluster, &api, None, None, "listing nodes").await?;
    let want: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    Ok(all
        .into_iter()
        .filter(|n| want.contains(n.metadata.name.as_deref().unwrap_or_default()))
        .collect())
}

async fn wait_nodes(
    cluster: &Cluster,
    nodes: &[String],
    labels: &[String],
    o: &Options<'_>,
    what: &str,
) -> Result<(), ClusterError> {
    let start = Instant::now();
    loop {
        let left: Vec<String> = nodes_named(cluster, nodes)
            .await?
            .iter()
            .filter(|n| has_any(n, labels))
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= o.timeout {
            return Err(ClusterError::Timeout {
                what: format!("{what} (nodes still labelled {})", labels.join(", ")),
                after: o.timeout,
                still: left.iter().map(|n| format!("node {n}")).collect(),
            });
        }
        tokio::time::sleep(o.poll).await;
    }
}

async fn set_node_labels(
    cluster: &Cluster,
    node: &str,
    labels: serde_json::Map<String, Value>,
) -> Result<(), ClusterError> {
    let api: Api<Node> = Api::all(cluster.client.clone());
    let patch = Patch::Merge(json!({"metadata": {"labels": labels}}));
    let pp = PatchParams::default();
    cluster
        .call_opt(&format!("labelling node {node}"), || {
            api.patch(node, &pp, &patch)
        })
        .await
        .map(|_| ())
}

async fn unlabel(
    cluster: &Cluster,
    nodes: &[String],
    labels: &[String],
) -> Result<(), ClusterError> {
    for n in nodes_named(cluster, nodes).await? {
        if !has_any(&n, labels) {
            continue;
        }
        let name = n.metadata.name.clone().unwrap_or_default();
        let m = labels.iter().map(|k| (k.clone(), Value::Null)).collect();
        set_node_labels(cluster, &name, m).await?;
    }
    Ok(())
}

/// The rolling clean-up: the DaemonSet selects [`CLEANUP_NODE_LABEL`]`=<its name>`; at most
/// `max_unavailable` nodes carry it at once; each node loses it as soon as `label` is gone
/// from it. Nodes that never had `label` (or lost it already) are skipped.
async fn cleanup(
    cluster: &Cluster,
    daemonset: &Value,
    label: &str,
    nodes: &[String],
    o: &Options<'_>,
    obs: &mut dyn Observer,
) -> Result<(), ClusterError> {
    let ns = daemonset
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = daemonset
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let dirty = |all: &[Node]| -> Vec<String> {
        all.iter()
            .filter(|n| label_of(n, label).is_some())
            .filter_map(|n| n.metadata.name.clone())
            .collect()
    };
    let api: Api<DaemonSet> = Api::namespaced(cluster.client.clone(), ns);
    let first = dirty(&nodes_named(cluster, nodes).await?);
    if !first.is_empty() {
        obs.line(&format!(
            "{} node(s) still carry {label}: running the old image's clean-up there",
            first.len()
        ));
        let mut body = daemonset.clone();
        if let Some(m) = body.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("namespace");
        }
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        let body = Patch::Apply(body);
        cluster
            .call(&format!("applying DaemonSet {ns}/{name}"), || {
                api.patch(name, &pp, &body)
            })
            .await?;
    }
    let start = Instant::now();
    loop {
        let now = nodes_named(cluster, nodes).await?;
        let dirty = dirty(&now);
        // Finished nodes give their turn back.
        let mut working = 0;
        for n in &now {
            let node = n.metadata.name.clone().unwrap_or_default();
            if label_of(n, CLEANUP_NODE_LABEL) == Some(name) {
                if dirty.contains(&node) {
                    working += 1;
                } else {
                    let mut m = serde_json::Map::new();
                    m.insert(CLEANUP_NODE_LABEL.into(), Value::Null);
                    set_node_labels(cluster, &node, m).await?;
                    obs.line(&format!("node {node}: clean"));
                }
            }
        }
        if dirty.is_empty() {
            break;
        }
        let room = o.max_unavailable.max(1).saturating_sub(working);
        for node in now
            .iter()
            .filter(|n| label_of(n, CLEANUP_NODE_LABEL) != Some(name))
            .filter_map(|n| n.metadata.name.clone())
            .filter(|n| dirty.contains(n))
            .take(room)
        {
            let mut m = serde_json::Map::new();
            m.insert(CLEANUP_NODE_LABEL.into(), json!(name));
            set_node_labels(cluster, &node, m).await?;
            obs.line(&format!("node {node}: cleaning up"));
        }
        if start.elapsed() >= o.timeout {
            return Err(ClusterError::Timeout {
                what: format!(
                    "the old clean-up (DaemonSet {ns}/{name}) to remove {label} from every node"
                ),
                after: o.timeout,
                still: dirty
                    .iter()
                    .map(|n| format!("node {n} (see: kubectl -n {ns} logs -l name={name} --field-selector spec.nodeName={n})"))
                    .collect(),
            });
        }
        tokio::time::sleep(o.poll).await;
    }
    let dp = DeleteParams::background();
    cluster
        .call_opt(&format!("deleting DaemonSet {ns}/{name}"), || {
            api.delete(name, &dp)
        })
        .await?;
    // Its pods only sleep after the clean-up: nothing to wait for on the nodes.
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let start = Instant::now();
    loop {
        let (left, _) = list_all(
            cluster,
            &pods,
            Some(&format!("name={name}")),
            None,
            &format!("listing the pods of DaemonSet {ns}/{name}"),
        )
        .await?;
        if left.is_empty() || start.elapsed() >= o.timeout {
            break;
        }
        tokio::time::sleep(o.poll).await;
    }
    // A node whose turn label is still there (an interrupted earlier run) loses it.
    let stale: Vec<String> = nodes_named(cluster, nodes)
        .await?
        .iter()
        .filter(|n| label_of(n, CLEANUP_NODE_LABEL).is_some())
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    unlabel(cluster, &stale, &[CLEANUP_NODE_LABEL.to_string()]).await?;
    Ok(())
}
