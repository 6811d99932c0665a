//! `cococtl check`'s kube edge: the nodes' published probe summaries (one list), and a
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

/// Every node `selector` picks (one list): its published summary is
/// [`node_facts`], its GPU Operator state [`gpu_flow`].
pub async fn nodes(cluster: &Cluster, selector: Option<&str>) -> Result<Vec<Node>, ClusterError> {
    let api: Api<Node> = Api::all(cluster.client.clone());
    let (nodes, _) = list_all(cluster, &api, selector, None, "listing nodes").await?;
    Ok(nodes)
}

/// The nodes' names.
pub fn names(nodes: &[Node]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect()
}

/// How long a run waits for its namespace to finish terminating.
const NAMESPACE_GONE: Duration = Duration::from_secs(120);

/// A probe run in progress: what it applied, to remove it again.
pub struct Run {
    objects: Vec<Object>,
}

impl Run {
    /// Applies `objects` (namespace first).
    pub async fn start(cluster: &Cluster, objects: Vec<Object>) -> Result<Run, ClusterError> {
        let run = Run { objects };
        if let Some(ns) = run.namespace() {
            // An earlier run's namespace may still be terminating: the API server refuses
            // new objects in it until it is gone.
            let terminating = apply::get(cluster, &ns)
                .await?
                .is_some_and(|o| o.metadata.deletion_timestamp.is_some());
            if terminating {
                tracing::info!(
                    "waiting for namespace {} (an earlier run's) to be deleted",
                    ns.name
                );
                apply::wait_gone(cluster, &ns, NAMESPACE_GONE).await?;
            }
        }
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
        // Done means gone: the next run (or install) could not create anything in a
        // namespace that is still terminating.
        if let Some(ns) = self.namespace() {
            if let Err(e) = apply::wait_gone(cluster, &ns, NAMESPACE_GONE).await {
                tracing::warn!("{e}");
            }
        }
    }

    fn namespace(&self) -> Option<Item> {
        self.objects
            .first()
            .filter(|o| o.kind() == "Namespace")
            .map(Item::of)
    }
}

/// The NVIDIA GPU Operator's ClusterPolicy, as far as it could be read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum GpuOperator {
    /// No ClusterPolicy CRD or object: the operator is not installed.
    Absent,
    /// Installed; whether `spec.sandboxWorkloads.enabled` is true.
    Installed {
        /// Sandbox (VM) workloads enabled.
        sandbox_workloads: bool,
    },
    /// Could not be read (e.g. 403): not the same as absent.
    Unknown {
        /// Why.
        why: String,
    },
}

/// One GPU node in the GPU Operator flow.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GpuNode {
    /// Node.
    pub node: String,
    /// GPUs the probe found (`None`: no probe result).
    pub gpus: Option<u32>,
    /// `nvidia.com/gpu.workload.config`.
    pub workload: Option<String>,
    /// All GPUs bound to vfio-pci, per the probe.
    pub vfio_bound: Option<bool>,
    /// `nvidia.com/cc.mode` (or the probe's view of it).
    pub cc_mode: Option<String>,
    /// What stands between this node and confidential GPU pods, with the fix.
    pub issues: Vec<String>,
}

/// The GPU Operator flow (the Kata + GPU Operator guide): the operator with sandbox
/// workloads, each GPU node labelled `vm-passthrough`, its GPUs on vfio-pci and in CC
/// mode for the confidential GPU RuntimeClasses. cococtl never deploys kata-deploy's NFD
/// subchart (it is refused), which the guide requires disabled.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GpuFlow {
    /// The operator.
    pub operator: GpuOperator,
    /// Nodes with GPUs (or labelled for them).
    pub nodes: Vec<GpuNode>,
}

/// The flow from the listed Nodes (with their published summaries) and the ClusterPolicy.
pub fn gpu_flow(nodes: &[Node], operator: GpuOperator) -> GpuFlow {
    use cococtl_core::labels::{GPU_CC_MODE_LABEL, GPU_WORKLOAD_LABEL};
    let mut out = vec![];
    for n in nodes {
        let facts = node_facts(n);
        let labels = n.metadata.labels.clone().unwrap_or_default();
        let gpus = match &facts.probe {
            Probe::Summary(s) => s.gpus.as_ref(),
            _ => None,
        };
        let workload = labels.get(GPU_WORKLOAD_LABEL).cloned();
        let count = gpus.and_then(|g| g.count);
        if count.unwrap_or(0) == 0 && workload.is_none() {
            continue;
        }
        let vfio_bound = gpus.and_then(|g| g.vfio_bound);
        let cc_mode = labels
            .get(GPU_CC_MODE_LABEL)
            .cloned()
            .or_else(|| gpus.and_then(|g| g.cc_mode.clone()));
        let mut issues = vec![];
        if workload.as_deref() != Some("vm-passthrough") {
            issues.push(format!(
                "{GPU_WORKLOAD_LABEL} is {}: the operator gives the GPUs to containers, not VMs (fix: cococtl check --label-gpu-nodes --nodes kubernetes.io/hostname={})",
                workload.as_deref().unwrap_or("not set"),
                facts.name
            ));
        }
        match vfio_bound {
            Some(true) => {}
            Some(false) => issues.push("GPUs not bound to vfio-pci (the operator's sandbox device plugin binds them once the node is vm-passthrough)".into()),
            None => issues.push("vfio binding unknown: no probe result for the GPUs (run cococtl check without --published)".into()),
        }
        if cc_mode.as_deref() != Some("on") {
            issues.push(format!(
                "CC mode {}: the -snp/-tdx GPU RuntimeClasses need {GPU_CC_MODE_LABEL}=on (the plain qemu-nvidia-gpu class does not)",
                cc_mode.as_deref().unwrap_or("unknown")
            ));
        }
        out.push(GpuNode {
            node: facts.name,
            gpus: count,
            workload,
            vfio_bound,
            cc_mode,
            issues,
        });
    }
    GpuFlow {
        operator,
        nodes: out,
    }
}

/// Reads the GPU Operator's ClusterPolicy (`clusterpolicies.nvidia.com/v1`).
pub async fn gpu_operator(cluster: &Cluster) -> GpuOperator {
    use kube::api::{ApiResource, DynamicObject, ListParams};
    let ar = ApiResource {
        group: "nvidia.com".into(),
        version: "v1".into(),
        api_version: "nvidia.com/v1".into(),
        kind: "ClusterPolicy".into(),
        plural: "clusterpolicies".into(),
    };
    let api: Api<DynamicObject> = Api::all_with(cluster.client.clone(), &ar);
    match api.list(&ListParams::default()).await {
        Ok(l) => match l.items.first() {
            None => GpuOperator::Absent,
            Some(p) => GpuOperator::Installed {
                sandbox_workloads: p.data["spec"]["sandboxWorkloads"]["enabled"]
                    == serde_json::Value::Bool(true),
            },
        },
        // No such resource: the CRD (so the operator) is not installed.
        Err(kube::Error::Api(s)) if s.code == 404 => GpuOperator::Absent,
        Err(e) => GpuOperator::Unknown { why: e.to_string() },
    }
}

/// Labels exactly `nodes` `nvidia.com/gpu.workload.config=vm-passthrough`.
pub async fn label_gpu_nodes(cluster: &Cluster, nodes: &[String]) -> Result<(), ClusterError> {
    for n in nodes {
        // Recorded as set by cococtl: uninstall restores the operator's value.
        crate::node_labels::set_foreign(
            cluster,
            n,
            cococtl_core::labels::GPU_WORKLOAD_LABEL,
            "vm-passthrough",
        )
        .await?;
    }
    Ok(())
}

/// The flow as a user reads it (empty when there is no GPU node and no operator).
pub fn render_gpu_flow(f: &GpuFlow) -> String {
    use std::fmt::Write;
    if f.nodes.is_empty() && f.operator == GpuOperator::Absent {
        return String::new();
    }
    let mut out = String::from("\nNVIDIA GPU Operator:\n");
    let _ = match &f.operator {
        GpuOperator::Absent => writeln!(out, "  not installed (confidential GPU pods need it with sandboxWorkloads.enabled=true)"),
        GpuOperator::Installed { sandbox_workloads: true } => writeln!(out, "  installed, sandbox workloads enabled"),
        GpuOperator::Installed { sandbox_workloads: false } => writeln!(out, "  installed, but sandboxWorkloads.enabled is false: GPUs are never handed to VMs (fix: set it in the ClusterPolicy)"),
        GpuOperator::Unknown { why } => writeln!(out, "  cannot tell: {why}"),
    };
    let _ = writeln!(
        out,
        "  kata-deploy's NFD subchart: not deployed by cococtl (the guide requires it off)"
    );
    for n in &f.nodes {
        let _ = writeln!(
            out,
            "  {}: {} GPU(s), workload={}, vfio={}, cc={}",
            n.node,
            n.gpus.map_or("?".into(), |c| c.to_string()),
            n.workload.as_deref().unwrap_or("-"),
            n.vfio_bound.map_or("?", |b| if b { "yes" } else { "no" }),
            n.cc_mode.as_deref().unwrap_or("?")
        );
        for i in &n.issues {
            let _ = writeln!(out, "    - {i}");
        }
    }
    out
}
