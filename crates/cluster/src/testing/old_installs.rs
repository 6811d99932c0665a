//! What the installs cococtl takes over do on their own, played as the stand-in's kubelets
//! and controllers would see it (docs/take-over.md#execution; the captures in
//! tests/fixtures/brownfield/ and the contracts in docs/kata-deploy-contract.md):
//!
//! - a pod whose container runs kata-deploy's clean-up (`kata-deploy.sh cleanup`,
//!   `/usr/bin/kata-deploy cleanup`) or the legacy `reset` cleans its node once running: the
//!   script's labels go, and with `CREATE_RUNTIMECLASSES=true` the script's RuntimeClasses
//!   (`kata-<shim>` for its `SHIMS`);
//! - the CoCo operator's finalizer on a CcRuntime being deleted: the nodes get
//!   `confidentialcontainers.org/startuninstall=true`, then its uninstall payload flips
//!   `katacontainers.io/kata-runtime` to `cleanup` and deletes the RuntimeClasses, then the
//!   operator strips its labels, deletes its DaemonSets and lets the CcRuntime go.
//!
//! - the legacy generation (`katadocker/kata-deploy` 1.x images): its installer's preStop
//!   marks the node `kata-containers.io/kata-runtime=cleanup`, and its `kata-cleanup`
//!   DaemonSet's `reset` (a running clean-up pod above) removes the labels.
//!
//! The 3.22.0 installer (CoCo chart) does nothing when its pods stop, which is the kubelet's
//! default here; kata-deploy 4.x's SIGTERM and the 3.21 manifests' preStop clean-up are in
//! the main kubelet loop (they behave alike: the node's labels go as the pod stops).

use serde_json::{json, Value};

use super::{key, not_found, now, status, Route, State};

const KATA_RUNTIME: &str = "katacontainers.io/kata-runtime";
const CC: &str = "/apis/confidentialcontainers.org/v1beta1";

/// What a running pod's command cleans, if it is a clean-up.
enum Cleanup {
    /// kata-deploy's `cleanup` (script or binary).
    Kata,
    /// The legacy `reset`.
    Reset,
}

fn cleanup_of(p: &Value) -> Option<Cleanup> {
    let cmd = p
        .pointer("/spec/containers/0/command")
        .map(Value::to_string)
        .unwrap_or_default();
    if !cmd.contains("kata-deploy") {
        return None;
    }
    if cmd.contains("cleanup") {
        Some(Cleanup::Kata)
    } else if cmd.contains("reset") {
        Some(Cleanup::Reset)
    } else {
        None
    }
}

fn env<'a>(p: &'a Value, name: &str) -> Option<&'a str> {
    p.pointer("/spec/containers/0/env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
        .and_then(|e| e.get("value").and_then(Value::as_str))
}

/// A running clean-up pod on `node` does its work; `true` when it changed something.
pub(super) fn run_cleanup_pod(s: &mut State, p: &Value, node: &str) -> bool {
    let Some(kind) = cleanup_of(p) else {
        return false;
    };
    let nk = key("/api/v1", "nodes", "", node);
    let Some(mut n) = s.objects.get(&nk).cloned() else {
        return false;
    };
    let Some(l) = n
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    else {
        return false;
    };
    let mut changed = false;
    match kind {
        Cleanup::Kata => {
            let sfx = env(p, "MULTI_INSTALL_SUFFIX").unwrap_or("default");
            changed |= l
                .remove(&format!("kata-deploy.katacontainers.io/{sfx}"))
                .is_some();
            changed |= l.remove(KATA_RUNTIME).is_some();
        }
        Cleanup::Reset => {
            changed |= l.remove("kata-containers.io/kata-runtime").is_some();
            changed |= l.remove("kata-containers.io/container-runtime").is_some();
        }
    }
    if changed {
        s.put(&nk, n, false);
        if env(p, "CREATE_RUNTIMECLASSES") == Some("true") {
            for shim in env(p, "SHIMS").unwrap_or_default().split_whitespace() {
                let rk = key(
                    "/apis/node.k8s.io/v1",
                    "runtimeclasses",
                    "",
                    &format!("kata-{shim}"),
                );
                s.remove(&rk);
            }
        }
    }
    changed
}

/// The CoCo operator's finalizer, one phase per tick, for every CcRuntime being deleted.
pub(super) fn tick_operator(s: &mut State) {
    let deleting: Vec<(String, Value)> = s
        .all_ns_items(CC, "ccruntimes")
        .into_iter()
        .filter(|(_, c)| c.pointer("/metadata/deletionTimestamp").is_some())
        .collect();
    for (ck, cr) in deleting {
        let cr_name = cr
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let nodes = s.all_ns_items("/api/v1", "nodes");
        let label = |n: &Value, k: &str| {
            n.pointer("/metadata/labels")
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let served: Vec<&(String, Value)> = nodes
            .iter()
            .filter(|(_, n)| label(n, KATA_RUNTIME).is_some())
            .collect();
        let started = served
            .iter()
            .all(|(_, n)| label(n, "confidentialcontainers.org/startuninstall").is_some());
        if !served.is_empty() && !started {
            for (nk, n) in &served {
                let mut n = n.clone();
                n["metadata"]["labels"]["confidentialcontainers.org/startuninstall"] =
                    json!("true");
                s.put(nk, n, false);
            }
            continue;
        }
        if served
            .iter()
            .any(|(_, n)| label(n, KATA_RUNTIME).as_deref() != Some("cleanup"))
        {
            // The uninstall payload's `kata-deploy.sh cleanup` on every node.
            for (nk, n) in &served {
                let mut n = n.clone();
                n["metadata"]["labels"][KATA_RUNTIME] = json!("cleanup");
                s.put(nk, n, false);
            }
            for (rk, rc) in s.all_ns_items("/apis/node.k8s.io/v1", "runtimeclasses") {
                if rc
                    .get("handler")
                    .and_then(Value::as_str)
                    .is_some_and(|h| h.starts_with("kata"))
                {
                    s.remove(&rk);
                }
            }
            continue;
        }
        // Done: labels stripped, DaemonSets gone, the finalizer off.
        for (nk, n) in &nodes {
            let mut n = n.clone();
            let mut changed = false;
            if let Some(l) = n
                .pointer_mut("/metadata/labels")
                .and_then(Value::as_object_mut)
            {
                for k in [
                    KATA_RUNTIME,
                    "confidentialcontainers.org/startuninstall",
                    "confidentialcontainers.org/preinstall",
                    "confidentialcontainers.org/postuninstall",
                ] {
                    changed |= l.remove(k).is_some();
                }
            }
            if changed {
                s.put(nk, n, false);
            }
        }
        // The garbage collector: the CcRuntime's DaemonSets go, their pods stop.
        for (dk, ds) in s.all_ns_items("/apis/apps/v1", "daemonsets") {
            // By kind and name: a seeded capture keeps the owner's old uid.
            let owned = ds
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|o| o["kind"] == "CcRuntime" && o["name"] == cr_name.as_str());
            if !owned {
                continue;
            }
            let ds_uid = ds.pointer("/metadata/uid").cloned();
            s.remove(&dk);
            for (pk, mut pod) in s.all_ns_items("/api/v1", "pods") {
                if ds_uid.is_some()
                    && pod.pointer("/metadata/ownerReferences/0/uid") == ds_uid.as_ref()
                    && pod.pointer("/metadata/deletionTimestamp").is_none()
                {
                    pod["metadata"]["deletionTimestamp"] = json!(now());
                    s.put(&pk, pod, false);
                }
            }
        }
        s.remove(&ck);
    }
}

/// POST `pods/<name>/eviction`, as the API server answers it: 404 for a pod that is gone;
/// 429 while a PodDisruptionBudget selecting the pod allows no disruption (its
/// `disruptionsAllowed`, computed here from the matching pods as the disruption controller
/// would); otherwise the pod is deleted gracefully and the answer is a `Success` Status.
pub(super) fn evict(s: &mut State, r: &Route, k: &str) -> (u16, Value) {
    let Some(mut pod) = s.objects.get(k).cloned() else {
        return not_found(r);
    };
    let labels = pod
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    let selects = |pdb: &Value| {
        pdb.pointer("/spec/selector/matchLabels")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels.get(k) == Some(v)))
    };
    let pdbs: Vec<Value> = s
        .all_ns_items("/apis/policy/v1", "poddisruptionbudgets")
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| p.pointer("/metadata/namespace").and_then(Value::as_str) == Some(r.ns.as_str()))
        .filter(|p| selects(p))
        .collect();
    for pdb in &pdbs {
        let matching: Vec<Value> = s
            .all_ns_items("/api/v1", "pods")
            .into_iter()
            .map(|(_, p)| p)
            .filter(|p| {
                p.pointer("/metadata/namespace").and_then(Value::as_str) == Some(r.ns.as_str())
            })
            .filter(|p| {
                let l = p.pointer("/metadata/labels").cloned().unwrap_or(json!({}));
                pdb.pointer("/spec/selector/matchLabels")
                    .and_then(Value::as_object)
                    .is_some_and(|m| m.iter().all(|(k, v)| l.get(k) == Some(v)))
            })
            .collect();
        let healthy = matching
            .iter()
            .filter(|p| {
                p.pointer("/status/phase") == Some(&json!("Running"))
                    && p.pointer("/metadata/deletionTimestamp").is_none()
            })
            .count() as i64;
        let allowed = match (
            pdb.pointer("/spec/minAvailable").and_then(Value::as_i64),
            pdb.pointer("/spec/maxUnavailable").and_then(Value::as_i64),
        ) {
            (Some(min), _) => healthy - min,
            (None, Some(max)) => max - (matching.len() as i64 - healthy),
            _ => 0,
        };
        if allowed <= 0 {
            let pdb_name = pdb
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            return (
                429,
                status(
                    429,
                    "TooManyRequests",
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                    json!({"causes": [{"reason": "DisruptionBudget",
                        "message": format!("The disruption budget {pdb_name} needs {} healthy pods and has {healthy} currently", healthy - allowed)}]}),
                ),
            );
        }
    }
    if pod.pointer("/metadata/deletionTimestamp").is_none() {
        pod["metadata"]["deletionTimestamp"] = json!(now());
        pod["metadata"]["deletionGracePeriodSeconds"] = json!(30);
        s.put(k, pod, false);
    }
    (
        201,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
    )
}

/// A pod of the legacy generation (its images were `katadocker/kata-deploy` 1.x).
pub(super) fn legacy(p: &Value) -> bool {
    p.pointer("/spec/containers/0/image")
        .and_then(Value::as_str)
        .is_some_and(|i| i.contains("katadocker/kata-deploy"))
}

/// A stopping legacy installer pod: its preStop (`kata-deploy.sh cleanup`) removed the
/// runtime and marks the node `cleanup` for the `kata-cleanup` DaemonSet.
pub(super) fn legacy_pre_stop(s: &mut State, p: &Value, node: &str) {
    let hook = p
        .pointer("/spec/containers/0/lifecycle/preStop")
        .map(Value::to_string)
        .unwrap_or_default();
    if !hook.contains("cleanup") {
        return;
    }
    let nk = key("/api/v1", "nodes", "", node);
    if let Some(mut n) = s.objects.get(&nk).cloned() {
        if n.pointer("/metadata/labels/kata-containers.io~1kata-runtime")
            .is_some()
        {
            n["metadata"]["labels"]["kata-containers.io/kata-runtime"] = json!("cleanup");
            s.put(&nk, n, false);
        }
    }
}
