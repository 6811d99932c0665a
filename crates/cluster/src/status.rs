//! `status`: seven requests whatever the cluster size (records, the kata-deploy DaemonSet,
//! nodes, the release's pods, warning events in the namespace and about nodes,
//! RuntimeClasses; each list one request, see [`crate::list`]), then the pure aggregation in [`crate::core::status`].

use cococtl_core::labels::INSTANCE;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::Api;

use crate::client::Cluster;
use crate::core::readiness::Expect;
use crate::core::release::Release;
use crate::core::snapshot::{NodeSnap, PodSnap, Targeting};
use crate::core::status::{aggregate, RuntimeClassSnap, StatusInput, StatusReport};
use crate::error::ClusterError;
use crate::list::list_all;
use crate::release_store;
use crate::spec::ReleaseSpec;
use crate::wait;

/// The raw facts status aggregates (kept so `--watch` can re-aggregate).
pub struct Facts {
    /// The latest record of the instance.
    pub release: Option<Release>,
    /// The expectations (None without a release).
    pub expect: Option<Expect>,
    /// Nodes.
    pub nodes: Vec<NodeSnap>,
    /// The release's pods.
    pub pods: Vec<PodSnap>,
    /// Warnings.
    pub events: Vec<crate::core::snapshot::EventSnap>,
    /// RuntimeClasses.
    pub runtime_classes: Vec<RuntimeClassSnap>,
}

/// Picks the instance: the one asked for, or the only one recorded in the namespace.
pub async fn latest_release(
    cluster: &Cluster,
    namespace: &str,
    instance: Option<&str>,
) -> Result<Option<Release>, ClusterError> {
    let all = release_store::load_all(cluster, namespace).await?;
    let mut rs: Vec<Release> = all
        .into_iter()
        .filter(|r| instance.is_none_or(|i| i == r.instance))
        .collect();
    let instances: std::collections::BTreeSet<String> =
        rs.iter().map(|r| r.instance.clone()).collect();
    if instances.len() > 1 {
        return Err(ClusterError::Input(format!(
            "namespace {namespace} holds several releases ({}): pick one with --instance",
            instances.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    rs.sort_by_key(|r| r.revision);
    Ok(rs.pop())
}

/// Gathers the facts.
pub async fn gather(
    cluster: &Cluster,
    namespace: &str,
    instance: Option<&str>,
) -> Result<Facts, ClusterError> {
    let release = latest_release(cluster, namespace, instance).await?;
    let expect = match &release {
        Some(r) => {
            let agent = r.inventory.iter().any(|i| {
                i.kind == "DaemonSet" && i.name == cococtl_manifests::containerd_agent::NAME
            });
            let mut spec = ReleaseSpec::from_record(namespace, &r.suffix, &r.instance, agent);
            // Both DaemonSets (kata-deploy, the agent) in one list: their scheduling says
            // which nodes are targeted.
            let ds_api: Api<DaemonSet> = Api::namespaced(cluster.client.clone(), namespace);
            let (dss, _) = list_all(
                cluster,
                &ds_api,
                Some(&format!("{INSTANCE}={}", r.instance)),
                None,
                &format!("listing the release's DaemonSets in {namespace}"),
            )
            .await?;
            for ds in dss {
                let name = ds.metadata.name.clone().unwrap_or_default();
                let generation = ds.metadata.generation;
                let Some(s) = ds.spec.and_then(|s| s.template.spec) else {
                    continue;
                };
                if name == spec.names.kata_deploy {
                    spec.expect.kata_targeting = Targeting::of(&s);
                    spec.expect.kata_generation = generation;
                } else if agent && name == spec.names.agent {
                    spec.expect.agent_targeting = Some(Targeting::of(&s));
                }
            }
            Some(spec.expect)
        }
        None => None,
    };
    let nodes_api: Api<Node> = Api::all(cluster.client.clone());
    let (nodes, _) = list_all(cluster, &nodes_api, None, None, "listing nodes").await?;
    let nodes: Vec<NodeSnap> = nodes.iter().map(NodeSnap::of).collect();
    let (pods, events) = match &expect {
        Some(e) => {
            let pods_api: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
            let (pods, _) = list_all(
                cluster,
                &pods_api,
                Some(&wait::pod_selector(e)),
                None,
                &format!("listing the release's pods in {namespace}"),
            )
            .await?;
            let pods: Vec<PodSnap> = pods.iter().map(PodSnap::of).collect();
            let mut events = wait::warnings(cluster, namespace).await?;
            events.extend(node_warnings(cluster).await?);
            (pods, events)
        }
        None => (vec![], vec![]),
    };
    let runtime_classes = match &release {
        Some(r) => {
            let rc_api: Api<RuntimeClass> = Api::all(cluster.client.clone());
            let (rcs, _) = list_all(
                cluster,
                &rc_api,
                Some(&format!("{INSTANCE}={}", r.instance)),
                None,
                "listing RuntimeClasses",
            )
            .await?;
            rcs.iter().map(RuntimeClassSnap::of).collect()
        }
        None => vec![],
    };
    Ok(Facts {
        release,
        expect,
        nodes,
        pods,
        events,
        runtime_classes,
    })
}

/// The report for gathered facts.
pub fn report(namespace: &str, f: &Facts) -> StatusReport {
    aggregate(&StatusInput {
        namespace,
        release: f.release.as_ref(),
        expect: f.expect.as_ref(),
        nodes: &f.nodes,
        pods: &f.pods,
        events: &f.events,
        runtime_classes: &f.runtime_classes,
    })
}

/// `status --watch`: the facts kept current by watches on nodes and the release's pods
/// (the release, RuntimeClasses and events as first read).
pub struct Follow {
    nodes: crate::list::Watched<Node>,
    pods: Option<crate::list::Watched<Pod>>,
    /// The current facts.
    pub facts: Facts,
}

impl Follow {
    /// Reads everything once and starts the watches.
    pub async fn start(
        cluster: &Cluster,
        namespace: &str,
        instance: Option<&str>,
    ) -> Result<Follow, ClusterError> {
        let facts = gather(cluster, namespace, instance).await?;
        let nodes = crate::list::Watched::start(
            cluster,
            Api::all(cluster.client.clone()),
            None,
            None,
            "nodes",
        )
        .await?;
        let pods = match &facts.expect {
            Some(e) => Some(
                crate::list::Watched::start(
                    cluster,
                    Api::namespaced(cluster.client.clone(), namespace),
                    Some(&wait::pod_selector(e)),
                    None,
                    &format!("pods in {namespace}"),
                )
                .await?,
            ),
            None => None,
        };
        Ok(Follow { nodes, pods, facts })
    }

    /// Waits for the next change of a node or pod and updates the facts.
    pub async fn next(&mut self) -> Result<(), ClusterError> {
        match &mut self.pods {
            Some(p) => {
                tokio::select! {
                    r = self.nodes.next_change() => { r?; }
                    r = p.next_change() => { r?; }
                }
            }
            None => {
                self.nodes.next_change().await?;
            }
        }
        self.facts.nodes = self.nodes.values().map(NodeSnap::of).collect();
        if let Some(p) = &self.pods {
            self.facts.pods = p.values().map(PodSnap::of).collect();
        }
        Ok(())
    }
}

/// Warning events about nodes, in any namespace (one list).
pub async fn node_warnings(
    cluster: &Cluster,
) -> Result<Vec<crate::core::snapshot::EventSnap>, ClusterError> {
    let api: Api<k8s_openapi::api::core::v1::Event> = Api::all(cluster.client.clone());
    let (evs, _) = list_all(
        cluster,
        &api,
        None,
        Some("type=Warning,involvedObject.kind=Node"),
        "listing warning events about nodes",
    )
    .await?;
    Ok(evs
        .iter()
        .map(crate::core::snapshot::EventSnap::of)
        .collect())
}
