//! `uninstall`: the steps of [`crate::core::uninstall::plan`], each with a timeout, then a
//! check that nothing is left. A node whose cleanup failed is named with its reason.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cococtl_core::labels::{
    CONTAINERD_MESSAGE, CONTAINERD_READY, CONTAINERD_STATE, INSTANCE, KATA_INSTANCE_LABEL_PREFIX,
};
use cococtl_core::node_keys;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::DynamicObject;
use kube::Api;
use tokio::time::Instant;

use crate::apply;
use crate::client::Cluster;
use crate::core::inventory::Item;
use crate::core::release::{History, Status};
use crate::core::snapshot::NodeSnap;
use crate::core::uninstall::{self, Step};
use crate::error::ClusterError;
use crate::list::{list_all, Watched};
use crate::node_labels;
use crate::observe::Observer;
use crate::release_store;
use crate::spec::ReleaseSpec;
use crate::wait;

/// Options.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Go on while pods use the RuntimeClasses.
    pub force: bool,
    /// The limit of each wait.
    pub timeout: Duration,
}

/// What is left after an uninstall.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Leftovers {
    /// Objects still carrying the instance label.
    pub objects: Vec<String>,
    /// Per node, what is left on it and why.
    pub nodes: BTreeMap<String, Vec<String>>,
}

impl Leftovers {
    /// Nothing is left.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.nodes.is_empty()
    }
}

/// The result.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Objects deleted.
    pub deleted: Vec<String>,
    /// Nodes whose containerd agent restored containerd.
    pub restored: Vec<String>,
    /// Nodes whose cleanup failed, with the reason.
    pub failed_nodes: BTreeMap<String, String>,
    /// What is left.
    pub leftovers: Leftovers,
    /// What was deliberately kept, and why (a namespace holding referenced Secrets).
    pub kept: Vec<String>,
}

/// Uninstalls the release `spec` (names from its records).
pub async fn run(
    cluster: &Cluster,
    spec: &ReleaseSpec,
    history: &History,
    opts: Options,
    now: &(dyn Fn() -> String + Sync),
    obs: &mut dyn Observer,
) -> Result<Outcome, ClusterError> {
    let inventory: Vec<Item> = history.all_items().into_iter().cloned().collect();
    let created_ns = history.records().iter().any(|r| r.created_namespace);
    let steps = uninstall::plan(&inventory, &spec.names, created_ns);
    let mut out = Outcome::default();

    let mut agent_nodes: Vec<String> = vec![];
    for step in steps {
        match step {
            Step::RefuseIfInUse { runtime_classes } => {
                obs.step("checking for pods that use this release's RuntimeClasses");
                let users = pods_using(cluster, &runtime_classes).await?;
                if !users.is_empty() {
                    let list = users
                        .iter()
                        .map(|u| format!("    - {u}"))
                        .collect::<Vec<_>>()
                        .join("\n");
                    if !opts.force {
                        return Err(ClusterError::Refused(format!(
                            "{} pod(s) still use this release's RuntimeClasses:\n{list}\n  fix: delete them first, or rerun with --force (they will fail once the runtime is gone)",
                            users.len()
                        )));
                    }
                    obs.line(&format!(
                        "--force: going on although {} pod(s) use the RuntimeClasses:\n{list}",
                        users.len()
                    ));
                }
                if let Some(latest) = history.latest() {
                    if latest.status != Status::Uninstalling {
                        let mut r = latest.clone();
                        r.status = Status::Uninstalling;
                        r.description = "uninstall".into();
                        r.updated = now();
                        release_store::save(cluster, &r).await?;
                    }
                }
            }
            Step::RefuseIfPeerPods => {
                obs.step("checking for PeerPod objects (peer-pod VMs)");
                let left = crate::peerpods::peerpods(cluster).await?;
                crate::core::peerpods::refuse_peerpods(&left, opts.force)
                    .map_err(ClusterError::Refused)?;
                if !left.is_empty() {
                    obs.line(&format!(
                        "--force: {} PeerPod(s) exist; peerpod-ctrl stays until it has deleted their VMs",
                        left.len()
                    ));
                }
            }
            Step::WaitPeerPodsReaped => {
                obs.step(&format!(
                    "waiting up to {} for peerpod-ctrl to delete every peer-pod VM",
                    crate::deploy::human(opts.timeout)
                ));
                crate::peerpods::wait_peerpods_gone(cluster, opts.timeout, obs).await?;
            }
            Step::DeleteNamespaceUnlessForeign(i) => {
                let foreign =
                    crate::peerpods::foreign_secrets(cluster, &i.name, &spec.instance, &inventory)
                        .await?;
                match crate::core::peerpods::namespace_deletable(&i.name, &foreign) {
                    Ok(()) => {
                        obs.step(&format!("deleting namespace {}", i.name));
                        if apply::delete(cluster, &i).await? {
                            out.deleted.push(i.id());
                        }
                        namespace_gone(cluster, &i, opts.timeout).await?;
                    }
                    Err(why) => {
                        obs.step(&why);
                        apply::release_fields(cluster, &i).await?;
                        out.kept.push(why);
                    }
                }
            }
            Step::DeleteWorkload(i) if i.name == spec.names.kata_deploy => {
                // Every targeted node needs a pod to clean it: let a rollout in flight
                // finish first (bounded; a node left without a pod is reported at the end).
                obs.step(&format!(
                    "waiting up to {} for DaemonSet {} to have an up-to-date pod on every node",
                    crate::deploy::human(opts.timeout.min(Duration::from_secs(120))),
                    i.name
                ));
                if let Err(e) = rollout_settled(cluster, &i, opts.timeout).await {
                    obs.line(&format!("going on: {e}"));
                }
                obs.step(&format!(
                    "deleting DaemonSet {}: each pod cleans its node on SIGTERM",
                    i.name
                ));
                if apply::delete(cluster, &i).await? {
                    out.deleted.push(i.id());
                }
            }
            Step::DeleteWorkload(i) => {
                if i.name == spec.names.agent {
                    // The nodes the agent changed: they must report `restored`.
                    let nodes_api: Api<Node> = Api::all(cluster.client.clone());
                    let (nodes, _) = list_all(
                        cluster,
                        &nodes_api,
                        Some(&format!("{CONTAINERD_STATE}={CONTAINERD_READY}")),
                        None,
                        "listing nodes the containerd agent changed",
                    )
                    .await?;
                    agent_nodes = nodes
                        .iter()
                        .filter_map(|n| n.metadata.name.clone())
                        .collect();
                    obs.step(&format!(
                        "deleting DaemonSet {}: the agent restores containerd on {} node(s)",
                        i.name,
                        agent_nodes.len()
                    ));
                } else {
                    obs.step(&format!(
                        "deleting DaemonSet {}: each pod cleans its node on SIGTERM",
                        i.name
                    ));
                }
                if apply::delete(cluster, &i).await? {
                    out.deleted.push(i.id());
                }
            }
            Step::WaitPodsGone {
                namespace,
                selector,
                what,
            } => {
                obs.step(&format!(
                    "waiting up to {} for {what}",
                    crate::deploy::human(opts.timeout)
                ));
                wait::pods_gone(cluster, &namespace, &selector, &what, opts.timeout, obs).await?;
            }
            Step::WaitNodesRestored => {
                obs.step(&format!(
                    "waiting up to {} for the containerd agent to restore {} node(s)",
                    crate::deploy::human(opts.timeout),
                    agent_nodes.len()
                ));
                let (restored, failed) =
                    nodes_restored(cluster, &agent_nodes, opts.timeout, obs).await?;
                out.restored = restored;
                out.failed_nodes.extend(failed);
            }
            Step::Delete { what, items } => {
                obs.step(&format!("deleting {what}"));
                for i in items {
                    if apply::delete(cluster, &i).await? {
                        obs.line(&format!("{} deleted", i.id()));
                        out.deleted.push(i.id());
                    }
                }
            }
            Step::CleanNodes => {
                obs.step("removing cococtl's node labels and annotations");
                clean_nodes(cluster, &out.failed_nodes, obs).await?;
            }
            Step::DeleteNamespace(i) | Step::ReleaseNamespace(i)
                if keep_for_neighbours(cluster, &i, &spec.instance, obs, &mut out).await? => {}
            Step::DeleteNamespace(i) => {
                // Peer pods in the release namespace (peerpods.namespace = -n): Secrets the
                // user referenced live here too, and are never deleted.
                let caa_here = inventory.iter().any(|x| {
                    x.kind == "DaemonSet"
                        && x.name == "cloud-api-adaptor-daemonset"
                        && x.namespace.as_deref() == Some(i.name.as_str())
                });
                if caa_here {
                    let foreign = crate::peerpods::foreign_secrets(
                        cluster,
                        &i.name,
                        &spec.instance,
                        &inventory,
                    )
                    .await?;
                    if let Err(why) = crate::core::peerpods::namespace_deletable(&i.name, &foreign)
                    {
                        obs.step(&why);
                        apply::release_fields(cluster, &i).await?;
                        out.kept.push(why);
                        continue;
                    }
                }
                obs.step(&format!(
                    "deleting namespace {} (this release created it)",
                    i.name
                ));
                if apply::delete(cluster, &i).await? {
                    out.deleted.push(i.id());
                }
                namespace_gone(cluster, &i, opts.timeout).await?;
            }
            Step::ReleaseNamespace(i) => {
                obs.step(&format!(
                    "namespace {} was not created by this release: removing cococtl's labels from it",
                    i.name
                ));
                apply::release_fields(cluster, &i).await?;
            }
            Step::DeleteRecords => {
                for r in history.records() {
                    release_store::delete(cluster, &r.namespace, &r.instance, r.revision).await?;
                }
            }
            Step::VerifyNothingLeft => {
                obs.step("checking that nothing is left");
                out.leftovers = leftovers(cluster, spec, &inventory, &out.failed_nodes).await?;
            }
        }
    }
    Ok(out)
}

/// Whether namespace `ns` also holds another instance's release (installed side by side
/// with a multi-install suffix): then it is left as it is, Pod Security labels included,
/// since that release's pods need them; both instances apply it as field manager cococtl,
/// so giving up cococtl's fields would strip them from the neighbour too. Its instance
/// label is handed to the neighbour, so the check that nothing of this release is left
/// does not find it.
async fn keep_for_neighbours(
    cluster: &Cluster,
    ns: &Item,
    instance: &str,
    obs: &mut dyn Observer,
    out: &mut Outcome,
) -> Result<bool, ClusterError> {
    let others: BTreeSet<String> = release_store::load_all(cluster, &ns.name)
        .await?
        .into_iter()
        .map(|r| r.instance)
        .filter(|i| i != instance)
        .collect();
    let Some(heir) = others.first() else {
        return Ok(false);
    };
    let why = format!(
        "namespace {} also holds release {}: kept as it is",
        ns.name,
        others.iter().cloned().collect::<Vec<_>>().join(", ")
    );
    obs.step(&why);
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cluster.client.clone());
    let body = serde_json::json!({"metadata": {"labels": {INSTANCE: heir}}});
    let patch = kube::api::Patch::Merge(&body);
    let pp = kube::api::PatchParams::default();
    cluster
        .call_opt(
            &format!("handing namespace {} over to release {heir}", ns.name),
            || api.patch(&ns.name, &pp, &patch),
        )
        .await?;
    out.kept.push(why);
    Ok(true)
}

/// `namespace/name (RuntimeClass rc, node n)` for every pod using one of `classes`.
async fn pods_using(cluster: &Cluster, classes: &[String]) -> Result<Vec<String>, ClusterError> {
    if classes.is_empty() {
        return Ok(vec![]);
    }
    let api: Api<Pod> = Api::all(cluster.client.clone());
    // No field selector exists for spec.runtimeClassName: one list of all pods.
    let (pods, _) = list_all(
        cluster,
        &api,
        None,
        None,
        "listing pods (RuntimeClass users)",
    )
    .await?;
    let set: BTreeSet<&str> = classes.iter().map(String::as_str).collect();
    Ok(pods
        .iter()
        .filter_map(|p| {
            let rc = p.spec.as_ref()?.runtime_class_name.as_deref()?;
            let phase = p
                .status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .unwrap_or("");
            (set.contains(rc) && !matches!(phase, "Succeeded" | "Failed")).then(|| {
                format!(
                    "{}/{} (RuntimeClass {rc}, node {})",
                    p.metadata.namespace.as_deref().unwrap_or(""),
                    p.metadata.name.as_deref().unwrap_or(""),
                    p.spec
                        .as_ref()
                        .and_then(|s| s.node_name.as_deref())
                        .unwrap_or("-")
                )
            })
        })
        .collect())
}

/// Waits until each of `nodes` says `restored` or `failed` (watching nodes).
async fn nodes_restored(
    cluster: &Cluster,
    nodes: &[String],
    timeout: Duration,
    obs: &mut dyn Observer,
) -> Result<(Vec<String>, BTreeMap<String, String>), ClusterError> {
    let deadline = Instant::now() + timeout;
    let api: Api<Node> = Api::all(cluster.client.clone());
    let mut watched = Watched::start(cluster, api, None, None, "nodes").await?;
    let want: BTreeSet<&str> = nodes.iter().map(String::as_str).collect();
    let mut reported = BTreeSet::new();
    loop {
        let mut restored = vec![];
        let mut failed = BTreeMap::new();
        let mut waiting = vec![];
        for n in watched.values().map(NodeSnap::of) {
            if !want.contains(n.name.as_str()) {
                continue;
            }
            match n.label(CONTAINERD_STATE) {
                Some("restored") | None => restored.push(n.name.clone()),
                Some("failed") => {
                    failed.insert(
                        n.name.clone(),
                        format!("containerd restore failed: {}", n.agent_message),
                    );
                }
                Some(s) => waiting.push(format!("{}: containerd agent says {s}", n.name)),
            }
        }
        for n in restored.iter().chain(failed.keys()) {
            if reported.insert(n.clone()) {
                obs.line(&match failed.get(n) {
                    Some(why) => format!("{n}: {why}"),
                    None => format!("{n}: containerd restored"),
                });
            }
        }
        if waiting.is_empty() {
            return Ok((restored, failed));
        }
        if Instant::now() >= deadline {
            return Err(ClusterError::Timeout {
                what: "the containerd agent to restore containerd (node label cococtl.confidentialcontainers.org/containerd=restored)".into(),
                after: timeout,
                still: waiting,
            });
        }
        tokio::select! {
            r = watched.next_change() => { r?; }
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// Removes every key of `cococtl_core::node_keys` from every node (one list, then one
/// merge patch per node that carries any) and restores the labels owned by others that
/// cococtl recorded setting. Nodes whose restore failed keep the containerd agent's label
/// and message as evidence.
async fn clean_nodes(
    cluster: &Cluster,
    failed: &BTreeMap<String, String>,
    obs: &mut dyn Observer,
) -> Result<(), ClusterError> {
    let api: Api<Node> = Api::all(cluster.client.clone());
    // Annotations and prefixed labels cannot be selected on: every node, in one list.
    let (nodes, _) = list_all(cluster, &api, None, None, "listing nodes").await?;
    for n in nodes {
        let name = n.metadata.name.clone().unwrap_or_default();
        let c = node_cleanup(&n, failed.contains_key(&name));
        if c.is_empty() {
            continue;
        }
        node_labels::patch(
            cluster,
            &name,
            &c,
            &format!("removing cococtl's labels from node {name}"),
        )
        .await?;
        obs.line(&format!(
            "node {name}: cococtl's labels and annotations removed ({})",
            c.labels
                .keys()
                .chain(c.annotations.keys())
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(())
}

/// What uninstall still has to change on `n` (`evidence`: keep the agent's failure keys).
fn node_cleanup(n: &Node, evidence: bool) -> node_keys::Changes {
    let (labels, annotations) = node_labels::keys_of(n);
    node_keys::cleanup(&labels, &annotations, &|_, k| {
        evidence && (k == CONTAINERD_STATE || k == CONTAINERD_MESSAGE)
    })
}

async fn namespace_gone(
    cluster: &Cluster,
    ns: &Item,
    timeout: Duration,
) -> Result<(), ClusterError> {
    let deadline = Instant::now() + timeout;
    loop {
        if apply::get(cluster, ns).await?.is_none() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ClusterError::Timeout {
                what: format!(
                    "namespace {} to be deleted (finalizers still running?)",
                    ns.name
                ),
                after: timeout,
                still: vec![],
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Everything still labelled for this instance, across the kinds ever applied, and the
/// nodes still carrying kata's or cococtl's labels.
pub async fn leftovers(
    cluster: &Cluster,
    spec: &ReleaseSpec,
    inventory: &[Item],
    failed: &BTreeMap<String, String>,
) -> Result<Leftovers, ClusterError> {
    let mut out = Leftovers::default();
    let kinds: BTreeSet<(String, String, String, String, bool)> = inventory
        .iter()
        .map(|i| {
            (
                i.group.clone(),
                i.version.clone(),
                i.kind.clone(),
                i.plural.clone(),
                i.namespaced,
            )
        })
        .collect();
    let selector = format!("{INSTANCE}={}", spec.instance);
    for (group, version, kind, plural, namespaced) in kinds {
        let item = Item {
            group,
            version,
            kind: kind.clone(),
            plural,
            namespaced,
            namespace: None,
            name: String::new(),
            uid: String::new(),
        };
        let api: Api<DynamicObject> = apply::api(
            cluster,
            &item.resource(),
            namespaced.then_some(spec.namespace.as_str()),
        );
        match list_all(
            cluster,
            &api,
            Some(&selector),
            None,
            &format!("listing {kind} left over"),
        )
        .await
        {
            Ok((objs, _)) => out.objects.extend(objs.iter().map(|o| {
                let name = o.metadata.name.clone().unwrap_or_default();
                match &o.metadata.namespace {
                    Some(ns) => format!("{kind}/{ns}/{name}"),
                    None => format!("{kind}/{name}"),
                }
            })),
            // The namespace is gone: nothing namespaced is left in it.
            Err(ClusterError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let nodes_api: Api<Node> = Api::all(cluster.client.clone());
    let own = format!("{KATA_INSTANCE_LABEL_PREFIX}/{}", spec.instance);
    let (nodes, _) = list_all(
        cluster,
        &nodes_api,
        None,
        None,
        "listing nodes for leftover labels",
    )
    .await?;
    for node in &nodes {
        let n = NodeSnap::of(node);
        let mut left = vec![];
        if let Some(v) = n.label(&own) {
            left.push(format!("label {own}={v} (kata-deploy's SIGTERM cleanup did not finish on this node: see its pod's logs, or clean it by hand per docs/kata-deploy-contract.md#cleanup)"));
        }
        let c = node_cleanup(node, false);
        let (labels, _) = node_labels::keys_of(node);
        for (k, v) in &c.labels {
            let why = match v {
                Some(v) => format!("label {k} (cococtl set it; was {v})"),
                None => {
                    let mut why = format!("label {k}={}", labels.get(k).map_or("", String::as_str));
                    if let Some(f) = failed.get(&n.name).filter(|_| k == CONTAINERD_STATE) {
                        why.push_str(&format!(" ({f})"));
                    }
                    why
                }
            };
            left.push(why);
        }
        for k in c.annotations.keys() {
            left.push(format!("annotation {k}"));
        }
        if left.is_empty() {
            continue;
        }
        out.nodes.entry(n.name.clone()).or_default().extend(left);
    }
    Ok(out)
}

/// Waits until the DaemonSet's controller reports an up-to-date pod on every desired node
/// (polling the one object once a second), at most `timeout` or two minutes.
async fn rollout_settled(
    cluster: &Cluster,
    ds: &Item,
    timeout: Duration,
) -> Result<(), ClusterError> {
    let timeout = timeout.min(Duration::from_secs(120));
    let deadline = Instant::now() + timeout;
    let api: Api<k8s_openapi::api::apps::v1::DaemonSet> = Api::namespaced(
        cluster.client.clone(),
        ds.namespace.as_deref().unwrap_or_default(),
    );
    loop {
        let Some(d) = cluster
            .call_opt(&format!("reading DaemonSet {}", ds.id()), || {
                api.get(&ds.name)
            })
            .await?
        else {
            return Ok(());
        };
        let generation = d.metadata.generation.unwrap_or(0);
        let st = d.status.unwrap_or_default();
        // Updated pods on every node are enough: a pod that is not ready still gets its
        // SIGTERM; only a node without a pod would be left uncleaned.
        let settled = st.observed_generation.unwrap_or(0) >= generation
            && st.updated_number_scheduled.unwrap_or(0) >= st.desired_number_scheduled
            && st.current_number_scheduled >= st.desired_number_scheduled;
        if settled {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ClusterError::Timeout {
                what: format!("DaemonSet {} to finish its rollout", ds.id()),
                after: timeout,
                still: vec![format!(
                    "{} of {} pods updated, {} available",
                    st.updated_number_scheduled.unwrap_or(0),
                    st.desired_number_scheduled,
                    st.number_available.unwrap_or(0)
                )],
            });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
