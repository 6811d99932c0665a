//! The take-over plan: per found install, the steps in the order they would run, in the
//! words a user reads, and the reasons to refuse (exit 2). Only what was found is removed;
//! a custom containerd an old install put on a node stays (cococtl's agent leaves it).
//! Nothing here runs the steps: [`super::actions`] is the same plan as data, which
//! `install --take-over` performs (docs/take-over.md#plan).

use std::collections::BTreeSet;

use serde::Serialize;

use super::detect::shared_nodes;
use super::{FoundInstall, InstallKind, ObjRef};

/// What cococtl is about to install, as far as the plan needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The release namespace.
    pub namespace: String,
    /// The RuntimeClass names cococtl plans.
    pub runtime_classes: Vec<String>,
    /// `--drain`: evict the old installs' kata pods node by node instead of refusing.
    #[serde(default)]
    pub drain: bool,
}

impl Target {
    /// What `plan` installs into `namespace` (its RuntimeClass names, sorted).
    pub fn of(plan: &cococtl_manifests::Plan, namespace: &str, drain: bool) -> Target {
        let mut runtime_classes: Vec<String> = plan
            .install()
            .filter(|o| o.kind() == "RuntimeClass")
            .filter_map(|o| o.name().map(str::to_string))
            .collect();
        runtime_classes.sort();
        Target {
            namespace: namespace.to_string(),
            runtime_classes,
            drain,
        }
    }
}

/// The steps for one found install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallPlan {
    /// The install, named for a user.
    pub install: String,
    /// The steps, in order.
    pub steps: Vec<String>,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Per found install, in the order found.
    pub installs: Vec<InstallPlan>,
    /// Why the take-over cannot be done safely (empty: it can).
    pub refusals: Vec<String>,
}

fn list(v: &[ObjRef]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn nodes(f: &FoundInstall) -> String {
    if f.nodes.is_empty() {
        "no node".into()
    } else {
        f.nodes.join(", ")
    }
}

/// What happens to the old install's RuntimeClasses: those cococtl plans too are replaced
/// by cococtl's of the same name; the others go.
fn classes_step(f: &FoundInstall, t: &Target, deleted_by_cleanup: bool) -> Option<String> {
    if f.runtime_classes.is_empty() {
        return None;
    }
    let planned: BTreeSet<&str> = t.runtime_classes.iter().map(String::as_str).collect();
    // A suffixed install's `kata-<shim>-<sfx>` is cococtl's `kata-<shim>`: the name changes.
    let suffix = match &f.kind {
        InstallKind::HelmKataDeploy {
            suffix: Some(s), ..
        } => Some(format!("-{s}")),
        _ => None,
    };
    let mut stay = vec![];
    let mut renamed = vec![];
    let mut go = vec![];
    for c in &f.runtime_classes {
        let unsuffixed = suffix.as_deref().and_then(|s| c.strip_suffix(s));
        if planned.contains(c.as_str()) {
            stay.push(c.clone());
        } else if let Some(new) = unsuffixed.filter(|n| planned.contains(n)) {
            renamed.push(format!("{c} → {new}"));
        } else {
            go.push(c.clone());
        }
    }
    let join = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let renamed_text = if renamed.is_empty() {
        String::new()
    } else {
        format!(
            "; the name changes ({}, pods must name cococtl's): {}",
            renamed.len(),
            join(&renamed)
        )
    };
    let gone = if go.is_empty() {
        String::new()
    } else {
        format!(
            "; gone for good ({}, cococtl does not plan them): {}",
            go.len(),
            join(&go)
        )
    };
    let stay = join(&stay);
    Some(if deleted_by_cleanup {
        format!(
            "RuntimeClasses: the old clean-up deletes all {} of them (cococtl deletes any it \
             leaves); cococtl creates its own again under these names: \
             {stay}{renamed_text}{gone}; until cococtl's exist, a pod naming one cannot be \
             scheduled",
            f.runtime_classes.len()
        )
    } else {
        format!(
            "RuntimeClasses: all {} deleted once the nodes are clean; cococtl creates its own \
             again under these names: {stay}{renamed_text}{gone}",
            f.runtime_classes.len()
        )
    })
}

/// The namespaces the release rendered: they stay (cococtl never deletes a namespace) but
/// lose Helm's marks, so no later Helm run takes them for its own.
fn disown_step(f: &FoundInstall) -> Option<String> {
    let ns = f.of_kind("Namespace");
    (!ns.is_empty()).then(|| {
        format!(
            "{} stays (cococtl never deletes a namespace); Helm's marks are taken off it \
             (meta.helm.sh/* annotations, app.kubernetes.io/managed-by=Helm and helm.sh/chart \
             labels)",
            list(&ns)
        )
    })
}

fn helm_record_step(f: &FoundInstall) -> Option<String> {
    let secrets = f.of_kind("Secret");
    (!secrets.is_empty()).then(|| {
        format!(
            "Helm's record, last (so `helm` still shows the release until everything else is \
             gone): delete {}",
            list(&secrets)
        )
    })
}

/// The clean-up DaemonSet the 3.x script installs need: their pods do no clean-up when
/// killed, so the old image's own clean-up command runs on the nodes they served.
fn script_cleanup_step(f: &FoundInstall, image: &str) -> String {
    format!(
        "run a clean-up DaemonSet with the old image {image} and its command \
         `/opt/kata-artifacts/scripts/kata-deploy.sh cleanup` (reverts containerd's \
         configuration, removes /opt/kata, removes the node label katacontainers.io/kata-runtime) \
         on {}; wait until each of those nodes has no katacontainers.io/kata-runtime label, then \
         delete that DaemonSet; a rolling clean-up: --max-unavailable bounds how many \
         nodes restart containerd at once",
        nodes(f)
    )
}

/// The legacy generation's clean-up: `reset` on the nodes its installer marked `cleanup`.
fn legacy_reset_step(f: &FoundInstall, image: &str) -> String {
    format!(
        "run a clean-up DaemonSet with the old image {image} and its command \
         `/opt/kata-artifacts/scripts/kata-deploy.sh reset` (releases the node labels, restarts \
         the CRI and the kubelet) on {}; wait until each of those nodes has no \
         kata-containers.io/kata-runtime label, then delete that DaemonSet; --max-unavailable \
         bounds how many nodes restart at once",
        nodes(f)
    )
}

/// The plan for every found install, and what refuses it.
pub fn plan(found: &[FoundInstall], t: &Target) -> Plan {
    let mut installs = vec![];
    let mut refusals = vec![];
    for f in found {
        let mut steps: Vec<String> = vec![];
        if t.drain && !f.kata_pods.is_empty() {
            steps.push(format!(
                "--drain, first: node by node, cordon the node and evict its pods that use these \
                 RuntimeClasses ({}); an eviction a PodDisruptionBudget refuses is retried until \
                 --timeout; the nodes cococtl cordoned are uncordoned at the end of the \
                 take-over (the pods' controllers recreate them; they run once cococtl's \
                 RuntimeClasses exist)",
                f.kata_pods.join(", ")
            ));
        }
        match &f.kind {
            InstallKind::HelmKataDeploy {
                release, suffix, ..
            } => {
                if release.status != "deployed" {
                    refusals.push(format!(
                        "Helm release {} (namespace {}) is {} (revision {}): wait until Helm \
                         finishes, or repair it with helm first",
                        release.name, release.namespace, release.status, release.revision
                    ));
                }
                for ds in f.of_kind("DaemonSet") {
                    steps.push(format!(
                        "delete {ds}: kata-deploy 4.x cleans up in its pods' SIGTERM path, so \
                         deleting the DaemonSet stops its pods and cleans every node it serves \
                         ({}) at once, each restarting containerd; --max-unavailable cannot \
                         bound this",
                        nodes(f)
                    ));
                }
                steps.push(format!(
                    "wait until its pods are gone (its RBAC stays until then: the pods need \
                     it to relabel their nodes); a node that still carries \
                     kata-deploy.katacontainers.io/{} after that gets the image's own \
                     `/usr/bin/kata-deploy cleanup` from a clean-up DaemonSet, \
                     --max-unavailable nodes at a time",
                    suffix.as_deref().unwrap_or("default")
                ));
                let others = f.except(&["DaemonSet", "RuntimeClass", "Secret", "Namespace"]);
                if !others.is_empty() {
                    steps.push(format!(
                        "delete what the release kept (helm.sh/resource-policy: keep included): {}",
                        list(&others)
                    ));
                }
                steps.extend(classes_step(f, t, false));
                steps.extend(disown_step(f));
                steps.extend(helm_record_step(f));
            }
            InstallKind::CocoChart {
                image,
                custom_containerd_job,
                ..
            } => {
                for ds in f.of_kind("DaemonSet") {
                    steps.push(format!(
                        "delete {ds}: kata-deploy 3.22.0 does no clean-up when its pods are \
                         killed (only Helm's post-delete Job does, on one node)"
                    ));
                }
                steps.push(script_cleanup_step(
                    f,
                    image.as_deref().unwrap_or("of the DaemonSet"),
                ));
                let others = f.except(&["DaemonSet", "RuntimeClass", "Secret", "Job", "Namespace"]);
                if !others.is_empty() {
                    steps.push(format!("delete: {}", list(&others)));
                }
                if let Some(job) = custom_containerd_job {
                    steps.push(format!(
                        "custom containerd: the containerd Job {job} installed stays on the \
                         nodes (cococtl's agent leaves it; its backup in .containerd-backup is \
                         not restored); the Job object is deleted"
                    ));
                }
                let jobs: Vec<ObjRef> = f
                    .of_kind("Job")
                    .into_iter()
                    .filter(|j| Some(&j.name) != custom_containerd_job.as_ref())
                    .collect();
                if !jobs.is_empty() {
                    steps.push(format!("delete Helm hook Jobs: {}", list(&jobs)));
                }
                steps.extend(classes_step(f, t, true));
                steps.extend(disown_step(f));
                steps.extend(helm_record_step(f));
            }
            InstallKind::ManifestKataDeploy { image, version } => {
                for ds in f.of_kind("DaemonSet") {
                    steps.push(format!(
                        "delete {ds} and wait until its pods are gone: the {} manifests' \
                         preStop hook runs `kata-deploy.sh cleanup` as each pod stops",
                        version.as_deref().unwrap_or("kata-deploy")
                    ));
                }
                steps.push(format!(
                    "on nodes that still carry katacontainers.io/kata-runtime after that (the \
                     preStop hook did not finish): {}",
                    script_cleanup_step(f, image)
                ));
                let others = f.except(&["DaemonSet", "RuntimeClass"]);
                if !others.is_empty() {
                    steps.push(format!(
                        "delete (after the clean-up, which needs it): {}",
                        list(&others)
                    ));
                }
                steps.extend(classes_step(f, t, true));
                steps.push("no Helm record: it was applied by hand (kubectl)".into());
            }
            InstallKind::LegacyKataDeploy { images } => {
                steps.push(format!(
                    "delete the installer DaemonSet(s) and wait until their pods are gone (their \
                     preStop marks each node kata-containers.io/kata-runtime=cleanup); delete: {}",
                    list(&f.of_kind("DaemonSet"))
                ));
                steps.push(legacy_reset_step(
                    f,
                    images.first().map_or("of the DaemonSet", String::as_str),
                ));
                steps.push(
                    "remove the node labels kata-containers.io/kata-runtime and \
                     kata-containers.io/container-runtime where they are left"
                        .into(),
                );
                steps.extend(classes_step(f, t, true));
                steps.push("no Helm record: it was applied by hand (kubectl)".into());
            }
            InstallKind::Operator {
                ccruntimes,
                deleting,
                ..
            } => {
                if *deleting {
                    refusals.push(format!(
                        "the CoCo operator's CcRuntime ({}) is being deleted: its finalizer is \
                         still cleaning the nodes; wait until `kubectl get ccruntime` lists none \
                         and no node carries katacontainers.io/kata-runtime=cleanup, then run \
                         again",
                        ccruntimes.join(", ")
                    ));
                }
                if ccruntimes.is_empty() {
                    steps.push(
                        "nothing to take over: the operator has no CcRuntime and serves no node; \
                         it stays installed (it would install again if a CcRuntime were created)"
                            .into(),
                    );
                } else {
                    for c in ccruntimes {
                        steps.push(format!(
                            "delete CcRuntime {c}: the operator's finalizer labels each node it \
                             serves ({}) confidentialcontainers.org/startuninstall=true, its \
                             cc-operator-daemon-uninstall DaemonSet runs kata-deploy.sh cleanup \
                             there (it deletes the RuntimeClasses) and the node label turns \
                             katacontainers.io/kata-runtime=cleanup; then its post-uninstall \
                             DaemonSet reverts its containerd/nydus side-install",
                            nodes(f)
                        ));
                    }
                    steps.push(
                        "wait until the CcRuntime is gone and no node carries \
                         katacontainers.io/kata-runtime=cleanup or \
                         confidentialcontainers.org/startuninstall (the operator's DaemonSets \
                         go with it)"
                            .into(),
                    );
                    steps.extend(classes_step(f, t, true));
                    steps.push(
                        "containerd under /opt/confidential-containers (the operator's \
                         side-install): what its post-uninstall leaves stays; cococtl's agent \
                         leaves it"
                            .into(),
                    );
                    steps.push(
                        "the operator itself (Deployment, CRD, RBAC, namespace) stays: remove it \
                         with its own manifests once no CcRuntime is left"
                            .into(),
                    );
                }
            }
            InstallKind::Leftovers { what, .. } => {
                if f.objects.is_empty() {
                    steps.push(format!("remove the {what}"));
                } else {
                    let (ns, objs): (Vec<ObjRef>, Vec<ObjRef>) = f
                        .objects
                        .iter()
                        .cloned()
                        .partition(|o| o.kind == "Namespace");
                    if !objs.is_empty() {
                        steps.push(format!("delete: {}", list(&objs)));
                    }
                    if !ns.is_empty() {
                        steps.push(format!(
                            "stays (cococtl never deletes a namespace): {}",
                            list(&ns)
                        ));
                    }
                    if what.contains("containerd") {
                        steps.push(
                            "custom containerd: whatever the hook Jobs left on the nodes stays \
                             (cococtl's agent leaves it)"
                                .into(),
                        );
                    }
                }
            }
            InstallKind::Unknown { reason } => {
                refusals.push(format!(
                    "{reason}: cococtl cannot tell what it installed or how to clean it up; \
                     remove it yourself, then run again"
                ));
                steps.push("none: not recognised (see refusals)".into());
            }
        }
        // The old install's namespace may be the one cococtl installs into (the CoCo chart's
        // coco-system is cococtl's default): say it is kept, since nothing here deletes it.
        let same_ns = f
            .objects
            .iter()
            .any(|o| o.namespace.as_deref() == Some(t.namespace.as_str()));
        if same_ns && !matches!(f.kind, InstallKind::Unknown { .. }) {
            steps.push(format!(
                "namespace {} stays: cococtl installs into it; the steps above leave none of \
                 the old install's objects there",
                t.namespace
            ));
        }
        installs.push(InstallPlan {
            install: f.title(),
            steps,
        });
    }
    let pods: Vec<&str> = found
        .iter()
        .flat_map(|f| f.kata_pods.iter().map(String::as_str))
        .collect();
    if !pods.is_empty() && !t.drain {
        refusals.push(format!(
            "{} pod(s) run with the old RuntimeClasses ({}): the clean-up would pull kata from \
             under them; move or delete them first, or give --drain (cordon each of their \
             nodes and evict them, PodDisruptionBudgets respected)",
            pods.len(),
            pods.join(", ")
        ));
    }
    for (node, who) in shared_nodes(found) {
        refusals.push(format!(
            "node {node} is served by {} installs at once ({}): cococtl cannot tell which owns \
             its containerd configuration; remove all but one first",
            who.len(),
            who.join("; ")
        ));
    }
    Plan { installs, refusals }
}

/// The text `diff --take-over` prints: what was found, then the plan.
pub fn render(found: &[FoundInstall], p: &Plan, t: &Target) -> String {
    let mut out = String::new();
    if found.is_empty() {
        out.push_str("Found: no other kata install.\n");
        return out;
    }
    out.push_str(&format!("Found {} install(s):\n", found.len()));
    for (n, f) in found.iter().enumerate() {
        out.push_str(&format!("{}. {}\n", n + 1, f.title()));
        let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
        for o in &f.objects {
            *kinds.entry(o.kind.as_str()).or_default() += 1;
        }
        if !kinds.is_empty() {
            out.push_str(&format!(
                "   objects: {}\n",
                kinds
                    .iter()
                    .map(|(k, c)| format!("{c} {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        out.push_str(&format!("   nodes: {} (by {})\n", nodes(f), f.nodes_by));
        if !f.runtime_classes.is_empty() {
            out.push_str(&format!(
                "   RuntimeClasses: {}\n",
                f.runtime_classes.join(", ")
            ));
        }
        if !f.kata_pods.is_empty() {
            out.push_str(&format!("   kata pods: {}\n", f.kata_pods.join(", ")));
        }
    }
    out.push_str(&format!(
        "\nTake-over plan (into namespace {}; `install --take-over` runs it, `diff` changes nothing):\n",
        t.namespace
    ));
    for (n, ip) in p.installs.iter().enumerate() {
        out.push_str(&format!("{}. {}\n", n + 1, ip.install));
        for (s, step) in ip.steps.iter().enumerate() {
            out.push_str(&format!("   {}.{} {step}\n", n + 1, s + 1));
        }
    }
    if found.iter().any(|f| !f.stays()) {
        out.push_str(
            "\nThen cococtl installs its own release. Its kata-deploy starts on every node at \
             once, after every old install is cleaned up: no node has two installers writing \
             its containerd configuration, and kata is unavailable on a node from its clean-up \
             until cococtl's install reaches it.\n",
        );
    }
    if p.refusals.is_empty() {
        out.push_str("\nNothing refuses the take-over.\n");
    } else {
        out.push_str("\nRefused (exit 2):\n");
        for r in &p.refusals {
            out.push_str(&format!("- {r}\n"));
        }
    }
    out
}
