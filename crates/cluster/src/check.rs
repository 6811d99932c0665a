//! `cococtl check`'s kube edge: the nodes' published probe summaries (one paged list), and a
//! one-off probe run: apply `cococtl-check` (namespace, identity, a DaemonSet pinned to the
//! selected nodes), wait until each node published this run's summary or its pod says why it
//! cannot, then remove everything it applied (also on timeout or Ctrl-C, unless `--keep`).
//!
//! Pure parts ([`node_facts`], [`pod_problem`]) take API objects and return the probe crate's
//! fleet input; the table itself is `cococtl_probe::fleet`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cococtl_manifests::Object;
use cococtl_probe::fleet::{NodeFacts, Probe};
use cococtl_probe::publish::{self, SUMMARY_ANNOTATION};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;

use crate::apply::{self, ApplyOptions};
use crate::client::Cluster;
use crate::core::inventory::Item;
use crate::error::ClusterError;
use crate::list::list_all;

/// What a Node says about itself and its published probe summary.
pub fn node_facts(n: &Node) -> NodeFacts {
    let info = n.status.as_ref().and_then(|s| s.node_info.as_ref());
    let probe = match n
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SUMMARY_ANNOTATION))
    {
        None => Probe::Missing,
        Some(a) => match publish::parse(a) {
            Ok(s) => Probe::Summary(Box::new(s)),
            Err(e) => Probe::Unreadable(e.to_string()),
        },
    };
    NodeFacts {
        name: n.metadata.name.clone().unwrap_or_default(),
        arch: info.map(|i| i.architecture.clone()).unwrap_or_default(),
        kernel: info.map(|i| i.kernel_version.clone()).unwrap_or_default(),
        runtime: info
            .map(|i| i.container_runtime_version.clone())
            .unwrap_or_default(),
        probe,
    }
}

/// Why a probe pod cannot deliver (not scheduled, image pull, crash), or `None` while it
/// may still.
pub fn pod_problem(p: &Pod) -> Option<String> {
    let st = p.status.as_ref()?;
    if st.phase.as_deref() == Some("Failed") {
        return Some(format!(
            "the probe pod failed: {}",
            st.message.clone().unwrap_or_default()
        ));
    }
    for c in st.conditions.iter().flatten() {
        if c.type_ == "PodScheduled" && c.status == "False" {
            return Some(format!(
                "pod not scheduled: {}",
                c.message.clone().unwrap_or_default()
            ));
        }
    }
    for cs in st.container_statuses.iter().flatten() {
        if let Some(w) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) {
            let reason = w.reason.clone().unwrap_or_default();
            if matches!(
                reason.as_str(),
                "ImagePullBackOff"
                    | "ErrImagePull"
                    | "InvalidImageName"
                    | "CrashLoopBackOff"
                    | "CreateContainerConfigError"
                    | "CreateContainerError"
            ) {
                return Some(format!(
                    "{reason}: {}",
                    w.message.clone().unwrap_or_default()
                ));
            }
        }
    }
    None
}

/// Every node matching `selector`, as the published summaries describe it.
pub async fn published(
    cluster: &Cluster,
    selector: Option<&str>,
) -> Result<Vec<NodeFacts>, ClusterError> {
    let api: Api<Node> = Api::all(cluster.client.clone());
    let (nodes, _) = list_all(cluster, &api, selector, None, "listing nodes").await?;
    Ok(nodes.iter().map(node_facts).collect())
}

/// The nodes `selector` picks, by name.
pub async fn node_names(
    cluster: &Cluster,
    selector: Option<&str>,
) -> Result<Vec<String>, ClusterError> {
    let api: Api<Node> = Api::all(cluster.client.clone());
    let (nodes, _) = list_all(cluster, &api, selector, None, "listing nodes").await?;
    Ok(nodes.into_iter().filter_map(|n| n.metadata.name).collect())
}

/// A probe run in progress: what it applied, to remove it again.
pub struct Run {
    objects: Vec<Object>,
}

impl Run {
    /// Applies `objects` (namespace first).
    pub async fn start(cluster: &Cluster, objects: Vec<Object>) -> Result<Run, ClusterError> {
        let run = Run { objects };
        for o in &run.objects {
            if let Err(e) = apply::apply(cluster, o, ApplyOptions::default()).await {
                // Leave nothing half-applied behind.
                run.remove(cluster).await;
                return Err(e);
            }
        }
        Ok(run)
    }

    /// Waits until every node in `nodes` published a summary of `run_id`, or its pod says
    /// why it cannot, or `timeout`; `progress` hears each step. Returns the facts per node.
    pub async fn collect(
        &self,
        cluster: &Cluster,
        nodes: &[String],
        run_id: &str,
        timeout: Duration,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<NodeFacts>, ClusterError> {
        let node_api: Api<Node> = Api::all(cluster.client.clone());
        let pod_api: Api<Pod> = Api::namespaced(
            cluster.client.clone(),
            cococtl_manifests::probe_agent::CHECK_NAME,
        );
        let deadline = Instant::now() + timeout;
        loop {
            let (all, _) = list_all(cluster, &node_api, None, None, "listing nodes").await?;
            let (pods, _) = list_all(
                cluster,
                &pod_api,
                Some(&format!(
                    "name={}",
                    cococtl_manifests::probe_agent::CHECK_NAME
                )),
                None,
                "listing the probe pods",
            )
            .await?;
            let pod_on: BTreeMap<String, &Pod> = pods
                .iter()
                .filter_map(|p| Some((p.spec.as_ref()?.node_name.clone()?, p)))
                .collect();
            let mut facts = vec![];
            let mut done = 0;
            for n in all
                .iter()
                .filter(|n| n.metadata.name.as_ref().is_some_and(|x| nodes.contains(x)))
            {
                let mut f = node_facts(n);
                let fresh =
                    matches!(&f.probe, Probe::Summary(s) if s.run.as_deref() == Some(run_id));
                if fresh {
                    done += 1;
                } else if let Some(problem) = pod_on.get(&f.name).and_then(|p| pod_problem(p)) {
                    f.probe = Probe::NotRun(problem);
                    done += 1;
                } else if Instant::now() >= deadline {
                    let why = match pod_on.get(&f.name) {
                        Some(p) => format!(
                            "timed out; its probe pod is {}",
                            p.status
                                .as_ref()
                                .and_then(|s| s.phase.clone())
                                .unwrap_or_else(|| "unknown".into())
                        ),
                        None => {
                            "timed out; no probe pod was created on it (not schedulable?)".into()
                        }
                    };
                    f.probe = Probe::NotRun(why);
                } else {
                    f.probe = Probe::NotRun("waiting".into());
                }
                facts.push(f);
            }
            progress(done, nodes.len());
            if done == nodes.len() || Instant::now() >= deadline {
                return Ok(facts);
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// Removes everything the run applied, last first; failures are logged, not fatal (the
    /// caller reports what it found either way).
    pub async fn remove(&self, cluster: &Cluster) {
        for o in self.objects.iter().rev() {
            let item = Item::of(o);
            if let Err(e) = apply::delete(cluster, &item).await {
                tracing::warn!("could not remove {}: {e}", o.id());
            }
        }
    }
}
