//! The order uninstall removes a release in (docs/kata-deploy-contract.md#cleanup, #g16):
//!
//! 1. refuse while pods use the release's RuntimeClasses (unless `--force`);
//! 2. delete the kata-deploy DaemonSet: each pod cleans its node on SIGTERM;
//! 3. wait until every kata-deploy pod is gone (its RBAC stays until then);
//! 4. delete the containerd agent's DaemonSet: on SIGTERM each agent sees its DaemonSet
//!    going, restores containerd and sets its node label to `restored` (or `failed`);
//! 5. wait for that label on every node that had it `ready`, and for the agent pods to go;
//! 6. delete the RuntimeClasses;
//! 7. delete the remaining objects (the kept RBAC among them: cococtl removes it itself
//!    rather than running the chart's cleanup Job, which a `restricted` namespace may
//!    never start);
//! 8. wait for the probe agent's pods to exit, then remove every node label and annotation
//!    of `cococtl_core::node_keys` (the labels owned by others only where cococtl recorded
//!    setting them);
//! 9. delete the namespace, only if this release created it (else give up cococtl's
//!    labels on it);
//! 10. delete the release records, then check that nothing is left.
//!
//! With peer pods (docs/peerpods.md#uninstall): refuse first while PeerPod objects exist
//! (unless `--force`); right after the checks, delete the MutatingWebhookConfiguration (pod
//! creation must never wait on a webhook that is going away), then wait for peerpod-ctrl to
//! delete every PeerPod's VM before anything else goes. The peer-pods namespaces are deleted
//! only when they hold no Secret cococtl did not create (referenced Secrets stay).

use super::inventory::Item;

/// One step of an uninstall.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Stop if PeerPod objects exist (each a cloud VM), unless `--force`.
    RefuseIfPeerPods,
    /// Wait until peerpod-ctrl has deleted every PeerPod's VM (no PeerPod object left).
    WaitPeerPodsReaped,
    /// Delete a peer-pods namespace unless it holds Secrets cococtl did not create (then
    /// only give up cococtl's fields on it).
    DeleteNamespaceUnlessForeign(Item),
    /// Stop if pods use these RuntimeClasses.
    RefuseIfInUse {
        /// The release's RuntimeClass names.
        runtime_classes: Vec<String>,
    },
    /// Delete a workload whose pods clean their node on SIGTERM.
    DeleteWorkload(Item),
    /// Wait until no pod matches `selector` in `namespace`.
    WaitPodsGone {
        /// Namespace of the pods.
        namespace: String,
        /// Label selector (`name=<base>`).
        selector: String,
        /// For messages: whose pods.
        what: String,
    },
    /// Wait until every node whose containerd label was `ready` says `restored` or `failed`.
    WaitNodesRestored,
    /// Delete these objects (any order inside the step).
    Delete {
        /// What the step is, for progress lines.
        what: &'static str,
        /// The objects.
        items: Vec<Item>,
    },
    /// Remove cococtl's node labels and annotations (and the kata labels of nodes whose
    /// pod could not clean them).
    CleanNodes,
    /// Delete the namespace (the release created it).
    DeleteNamespace(Item),
    /// Give up cococtl's fields of a namespace it did not create (its Pod Security and
    /// instance labels): an empty server-side apply.
    ReleaseNamespace(Item),
    /// Delete the release records.
    DeleteRecords,
    /// List what is left, by ownership label, across the kinds ever applied.
    VerifyNothingLeft,
}

/// Names the uninstall needs from the configuration that was installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The release namespace.
    pub namespace: String,
    /// The kata-deploy DaemonSet and pod label (`<base>`).
    pub kata_deploy: String,
    /// The containerd agent's DaemonSet and pod label.
    pub agent: String,
}

/// The steps for an inventory, in order. `created_namespace`: the release created its
/// namespace (the namespace is deleted only then).
pub fn plan(inventory: &[Item], names: &Names, created_namespace: bool) -> Vec<Step> {
    let is = |i: &Item, kind: &str, name: &str| i.kind == kind && i.name == name;
    let kata_ds = inventory
        .iter()
        .find(|i| is(i, "DaemonSet", &names.kata_deploy));
    let agent_ds = inventory.iter().find(|i| is(i, "DaemonSet", &names.agent));
    let runtime_classes: Vec<Item> = inventory
        .iter()
        .filter(|i| i.kind == "RuntimeClass")
        .cloned()
        .collect();
    let namespace = inventory
        .iter()
        .find(|i| i.kind == "Namespace" && i.name == names.namespace);

    let peerpods = super::peerpods::has_peerpod_crd(inventory);
    let webhook_configs: Vec<Item> = inventory
        .iter()
        .filter(|i| i.kind == "MutatingWebhookConfiguration")
        .cloned()
        .collect();
    let other_namespaces: Vec<&Item> = inventory
        .iter()
        .filter(|i| i.kind == "Namespace" && i.name != names.namespace)
        .collect();
    let mut steps = vec![];
    if peerpods {
        steps.push(Step::RefuseIfPeerPods);
    }
    steps.push(Step::RefuseIfInUse {
        runtime_classes: runtime_classes.iter().map(|i| i.name.clone()).collect(),
    });
    if !webhook_configs.is_empty() {
        steps.push(Step::Delete {
            what: "the MutatingWebhookConfiguration first (pod creation must never wait on a webhook that is going away)",
            items: webhook_configs.clone(),
        });
    }
    if peerpods {
        steps.push(Step::WaitPeerPodsReaped);
    }
    if let Some(ds) = kata_ds {
        steps.push(Step::DeleteWorkload(ds.clone()));
    }
    // Wait even when the DaemonSet is already gone: an interrupted uninstall may have left
    // pods terminating.
    steps.push(Step::WaitPodsGone {
        namespace: names.namespace.clone(),
        selector: format!("name={}", names.kata_deploy),
        what: format!(
            "kata-deploy pods ({}) to clean their nodes",
            names.kata_deploy
        ),
    });
    if let Some(ds) = agent_ds {
        steps.push(Step::DeleteWorkload(ds.clone()));
        steps.push(Step::WaitNodesRestored);
        steps.push(Step::WaitPodsGone {
            namespace: names.namespace.clone(),
            selector: format!("name={}", names.agent),
            what: format!("containerd agent pods ({}) to exit", names.agent),
        });
    }
    if !runtime_classes.is_empty() {
        steps.push(Step::Delete {
            what: "RuntimeClasses",
            items: runtime_classes,
        });
    }
    let rest: Vec<Item> = inventory
        .iter()
        .filter(|i| {
            !(i.kind == "RuntimeClass"
                || i.kind == "MutatingWebhookConfiguration"
                || (i.kind == "Namespace" && i.name != names.namespace)
                || Some(*i) == kata_ds
                || Some(*i) == agent_ds
                || Some(*i) == namespace)
        })
        .cloned()
        .collect();
    if !rest.is_empty() {
        // Namespaced first, then the cluster-scoped RBAC.
        let mut rest = rest;
        rest.sort_by_key(|i| (!i.namespaced, i.kind.clone(), i.name.clone()));
        steps.push(Step::Delete {
            what: "remaining objects (RBAC, ConfigMaps, ...)",
            items: rest,
        });
    }
    steps.extend(
        other_namespaces
            .into_iter()
            .map(|n| Step::DeleteNamespaceUnlessForeign(n.clone())),
    );
    if inventory
        .iter()
        .any(|i| is(i, "DaemonSet", cococtl_manifests::probe_agent::NAME))
    {
        // A probe agent still running would publish again after the clean-up.
        steps.push(Step::WaitPodsGone {
            namespace: names.namespace.clone(),
            selector: format!("name={}", cococtl_manifests::probe_agent::NAME),
            what: format!(
                "probe agent pods ({}) to exit",
                cococtl_manifests::probe_agent::NAME
            ),
        });
    }
    steps.push(Step::CleanNodes);
    match (namespace, created_namespace) {
        (Some(ns), true) => steps.push(Step::DeleteNamespace(ns.clone())),
        (Some(ns), false) => steps.push(Step::ReleaseNamespace(ns.clone())),
        (None, _) => {}
    }
    steps.push(Step::DeleteRecords);
    steps.push(Step::VerifyNothingLeft);
    steps
}
