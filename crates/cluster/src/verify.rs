//! `verify`: one short-lived pod per RuntimeClass prints its kernel (`uname -r`); a kernel
//! other than the node's (`status.nodeInfo.kernelVersion`) proves the pod ran in a VM. The
//! pods are always deleted, also on timeout (and on Ctrl-C by the caller, with
//! [`cleanup`]).

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{DeleteParams, ListParams, LogParams, PostParams};
use kube::Api;
use serde::Serialize;
use serde_json::json;
use tokio::time::Instant;

use crate::client::Cluster;
use crate::error::ClusterError;
use crate::list::Watched;

/// The label on verify pods.
pub const VERIFY_LABEL: &str = "cococtl.confidentialcontainers.org/verify";
/// The default image (`uname` is all it needs).
pub const DEFAULT_IMAGE: &str = "registry.k8s.io/e2e-test-images/busybox:1.36.1-1";

/// One RuntimeClass's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassResult {
    /// RuntimeClass.
    pub runtime_class: String,
    /// Where the pod ran.
    pub node: Option<String>,
    /// The kernel inside the pod.
    pub guest_kernel: Option<String>,
    /// The node's kernel.
    pub node_kernel: Option<String>,
    /// The pod ran in a VM (kernels differ).
    pub in_vm: Option<bool>,
    /// Seconds from creation to running (or done).
    pub seconds_to_running: Option<f64>,
    /// Why it failed, with the pod's events.
    pub error: Option<String>,
}

/// Runs the check for each class, one after the other.
pub async fn run(
    cluster: &Cluster,
    namespace: &str,
    classes: &[String],
    image: &str,
    timeout: Duration,
) -> Result<Vec<ClassResult>, ClusterError> {
    run_with(cluster, namespace, classes, image, timeout, None).await
}

/// Peer pods in the release: the class the webhook targets and whether the webhook is on.
#[derive(Debug, Clone)]
pub struct PeerPodsCheck {
    /// The webhook's target RuntimeClass (`kata-remote`).
    pub runtime_class: String,
    /// The webhook is installed (the pod must get `kata.peerpods.io/vm`).
    pub webhook: bool,
}

/// [`run`], with the peer-pods stages checked for `peer`'s class: the webhook added the VM
/// resource, a PeerPod appeared, the pod ran, and pod and PeerPod are gone after deletion.
pub async fn run_with(
    cluster: &Cluster,
    namespace: &str,
    classes: &[String],
    image: &str,
    timeout: Duration,
    peer: Option<&PeerPodsCheck>,
) -> Result<Vec<ClassResult>, ClusterError> {
    run_pulling(cluster, namespace, classes, image, &[], timeout, peer).await
}

/// [`run_with`], the pods pulling `image` with the Secrets `pull_secrets` (the release's
/// `global.imagePullSecrets`, for a mirror that needs credentials).
pub async fn run_pulling(
    cluster: &Cluster,
    namespace: &str,
    classes: &[String],
    image: &str,
    pull_secrets: &[String],
    timeout: Duration,
    peer: Option<&PeerPodsCheck>,
) -> Result<Vec<ClassResult>, ClusterError> {
    let mut out = vec![];
    for c in classes {
        let p = peer.filter(|p| p.runtime_class == *c);
        let pod = VerifyPod {
            class: c,
            image,
            pull_secrets,
        };
        out.push(one(cluster, namespace, &pod, timeout, p).await?);
    }
    Ok(out)
}

/// What one verify pod is made of.
struct VerifyPod<'a> {
    class: &'a str,
    image: &'a str,
    pull_secrets: &'a [String],
}

/// Whether the pod's containers request the VM resource.
fn has_vm_resource(p: &Pod) -> bool {
    p.spec.as_ref().is_some_and(|s| {
        s.containers.iter().any(|c| {
            c.resources
                .as_ref()
                .and_then(|r| r.limits.as_ref())
                .is_some_and(|l| l.contains_key(crate::core::peerpods::VM_RESOURCE))
        })
    })
}

async fn peerpod_of(
    cluster: &Cluster,
    namespace: &str,
    pod: &str,
) -> Result<Option<crate::core::peerpods::PeerPodSnap>, ClusterError> {
    Ok(crate::peerpods::peerpods(cluster)
        .await?
        .into_iter()
        .find(|p| p.namespace == namespace && p.pod == pod))
}

fn pod_body(p: &VerifyPod) -> Result<Pod, ClusterError> {
    let (class, image) = (p.class, p.image);
    let name: String = format!("cococtl-verify-{class}-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": name, "labels": {VERIFY_LABEL: class}},
        "spec": {
            "runtimeClassName": class,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "automountServiceAccountToken": false,
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "verify", "image": image, "command": ["uname", "-r"],
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}
            }]
        }
    }))
    .map(|mut pod: Pod| {
        if let (Some(spec), false) = (pod.spec.as_mut(), p.pull_secrets.is_empty()) {
            spec.image_pull_secrets = Some(
                p.pull_secrets
                    .iter()
                    .map(|n| k8s_openapi::api::core::v1::LocalObjectReference { name: n.clone() })
                    .collect(),
            );
        }
        pod
    })
    .map_err(|e| ClusterError::Input(format!("verify pod: {e}")))
}

fn empty(class: &str) -> ClassResult {
    ClassResult {
        runtime_class: class.into(),
        node: None,
        guest_kernel: None,
        node_kernel: None,
        in_vm: None,
        seconds_to_running: None,
        error: None,
    }
}

async fn one(
    cluster: &Cluster,
    namespace: &str,
    pod: &VerifyPod<'_>,
    timeout: Duration,
    peer: Option<&PeerPodsCheck>,
) -> Result<ClassResult, ClusterError> {
    use crate::core::peerpods::Stage;
    // One class's pod has `timeout` in all: an outage (or a webhook that cannot be
    // called) is ridden out no longer than that.
    let bounded = cluster
        .clone()
        .with_patience(cluster.patience().min(timeout));
    let cluster = &bounded;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
    let class = pod.class;
    let body = pod_body(pod)?;
    let pp = PostParams::default();
    let created = match cluster
        .call(&format!("creating the verify pod for {class}"), || {
            pods.create(&pp, &body)
        })
        .await
    {
        Ok(c) => c,
        // The webhook refused (or could not be called): say so, nothing to delete.
        Err(e) if peer.is_some() && e.to_string().contains("webhook") => {
            let mut r = empty(class);
            r.error = Some(format!(
                "stage {}: {}",
                Stage::Admission,
                e.to_string().lines().next().unwrap_or_default()
            ));
            return Ok(r);
        }
        Err(e) => return Err(e),
    };
    let name = created.metadata.name.clone().unwrap_or_default();
    let started = Instant::now();
    let mut result = observe(cluster, namespace, class, &name, started, timeout).await;
    let mut peerpod = None;
    if let (Some(p), Ok(r)) = (peer, &mut result) {
        let added = has_vm_resource(&created);
        peerpod = peerpod_of(cluster, namespace, &name).await?;
        if p.webhook && !added && r.error.is_none() {
            r.error = Some(format!(
                "stage {}: the pod ran without {} (the webhook did not mutate it: check the MutatingWebhookConfiguration and its namespaceSelector)",
                Stage::Admission,
                crate::core::peerpods::VM_RESOURCE
            ));
            r.in_vm = Some(false);
        } else if r.error.is_none() && peerpod.is_none() {
            r.error = Some(format!(
                "stage {}: the pod ran but no PeerPod object appeared for it",
                Stage::Caa
            ));
            r.in_vm = Some(false);
        } else if let Some(e) = r.error.clone() {
            let unschedulable = e.contains("Insufficient").then_some(e.as_str());
            let events: Vec<String> = vec![e.clone()];
            let stage = crate::core::peerpods::failed_stage(
                added || !p.webhook,
                unschedulable,
                peerpod.is_some(),
                &events,
            );
            r.error = Some(format!("stage {stage}: {e}"));
        }
    }
    // Always delete, whatever happened.
    let dp = DeleteParams::default().grace_period(0);
    if let Err(e) = cluster
        .call_opt(&format!("deleting verify pod {namespace}/{name}"), || {
            pods.delete(&name, &dp)
        })
        .await
    {
        tracing::warn!("{e}");
    }
    if let (Some(_), Some(pp_obj), Ok(r)) = (peer, &peerpod, &mut result) {
        // After deletion, peerpod-ctrl deletes the VM and its PeerPod.
        let deadline = Instant::now() + timeout.min(Duration::from_secs(120));
        loop {
            if peerpod_of(cluster, namespace, &name).await?.is_none() {
                break;
            }
            if Instant::now() >= deadline {
                let e = format!(
                    "stage {}: {pp_obj} still exists after its pod was deleted (a leaked VM: check peerpod-ctrl's logs and credentials)",
                    Stage::PeerPodCtrl
                );
                r.error = Some(match r.error.take() {
                    Some(x) => format!("{x}; {e}"),
                    None => e,
                });
                r.in_vm = Some(false);
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    result
}

async fn observe(
    cluster: &Cluster,
    namespace: &str,
    class: &str,
    name: &str,
    started: Instant,
    timeout: Duration,
) -> Result<ClassResult, ClusterError> {
    let deadline = started + timeout;
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
    let mut w = Watched::start(
        cluster,
        pods.clone(),
        None,
        Some(&format!("metadata.name={name}")),
        &format!("verify pod {name}"),
    )
    .await?;
    let mut res = ClassResult {
        runtime_class: class.into(),
        node: None,
        guest_kernel: None,
        node_kernel: None,
        in_vm: None,
        seconds_to_running: None,
        error: None,
    };
    let phase = loop {
        let pod = w.values().next().cloned();
        let phase = pod
            .as_ref()
            .and_then(|p| p.status.as_ref())
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        if let Some(p) = &pod {
            res.node = p.spec.as_ref().and_then(|s| s.node_name.clone());
        }
        if matches!(phase.as_str(), "Running" | "Succeeded") && res.seconds_to_running.is_none() {
            res.seconds_to_running = Some(started.elapsed().as_secs_f64());
        }
        if matches!(phase.as_str(), "Succeeded" | "Failed") {
            break phase;
        }
        if Instant::now() >= deadline {
            res.error = Some(format!(
                "not done after {}s (phase {}){}",
                timeout.as_secs(),
                if phase.is_empty() { "unknown" } else { &phase },
                events(cluster, namespace, name).await
            ));
            return Ok(res);
        }
        tokio::select! {
            r = w.next_change() => { r?; }
            _ = tokio::time::sleep_until(deadline) => {}
        }
    };
    if phase == "Failed" {
        res.error = Some(format!(
            "the pod failed{}",
            events(cluster, namespace, name).await
        ));
        return Ok(res);
    }
    let lp = LogParams::default();
    let log = cluster
        .call(&format!("reading the log of {name}"), || {
            pods.logs(name, &lp)
        })
        .await?;
    res.guest_kernel = Some(log.trim().to_string());
    if let Some(n) = &res.node {
        let nodes: Api<Node> = Api::all(cluster.client.clone());
        if let Some(node) = cluster
            .call_opt(&format!("reading node {n}"), || nodes.get(n))
            .await?
        {
            res.node_kernel = node
                .status
                .and_then(|s| s.node_info)
                .map(|i| i.kernel_version);
        }
    }
    res.in_vm = match (&res.guest_kernel, &res.node_kernel) {
        (Some(g), Some(n)) => Some(g != n),
        _ => None,
    };
    Ok(res)
}

/// `; events: Reason: message; …` for a pod, or nothing.
async fn events(cluster: &Cluster, namespace: &str, pod: &str) -> String {
    let api: Api<Event> = Api::namespaced(cluster.client.clone(), namespace);
    let lp = ListParams::default().fields(&format!("involvedObject.name={pod}"));
    match api.list(&lp).await {
        Ok(l) if !l.items.is_empty() => format!(
            "; events: {}",
            l.items
                .iter()
                .map(|e| format!(
                    "{}: {}",
                    e.reason.as_deref().unwrap_or(""),
                    e.message.as_deref().unwrap_or("")
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        _ => String::new(),
    }
}

/// Deletes every verify pod left in `namespace` (after Ctrl-C).
pub async fn cleanup(cluster: &Cluster, namespace: &str) -> Result<(), ClusterError> {
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
    let dp = DeleteParams::default().grace_period(0);
    let lp = ListParams::default().labels(VERIFY_LABEL);
    cluster
        .call("deleting verify pods", || api.delete_collection(&dp, &lp))
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verify_pod_pulls_with_the_given_secrets_and_none_without() {
        let secrets = ["mirror".to_string()];
        let pod = pod_body(&VerifyPod {
            class: "kata-qemu-snp",
            image: "registry.example.com/coco/e2e-test-images/busybox:1.36.1-1",
            pull_secrets: &secrets,
        })
        .unwrap();
        let spec = pod.spec.unwrap();
        assert_eq!(spec.image_pull_secrets.unwrap()[0].name, "mirror");
        assert_eq!(
            spec.containers[0].image.as_deref(),
            Some("registry.example.com/coco/e2e-test-images/busybox:1.36.1-1")
        );
        let plain = pod_body(&VerifyPod {
            class: "kata-qemu-snp",
            image: DEFAULT_IMAGE,
            pull_secrets: &[],
        })
        .unwrap();
        assert!(plain.spec.unwrap().image_pull_secrets.is_none());
    }
}
