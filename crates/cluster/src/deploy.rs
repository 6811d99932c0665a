//! `install`, `upgrade` and `rollback`: one flow. Write a `pending-*` record with the
//! planned inventory before the first object (right after the namespace, which holds the
//! record), apply the phases in order, prune what the previous revision had and this one
//! does not (only objects still carrying this release's label), wait, then mark the
//! revision `deployed` or `failed` and supersede the older one. An interruption at any
//! point leaves a `pending-*` record that the next run takes over.

use std::time::Duration;

use cococtl_manifests::{Phase, Plan};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::Api;

use crate::apply::{self, ApplyOptions};
use crate::client::Cluster;
use crate::core::inventory::{self, Item, Keep};
use crate::core::readiness::Progress;
use crate::core::release::{self, History, InstallStart, Release, Status, UpgradeStart};
use crate::core::snapshot::NodeSnap;
use crate::core::status::RuntimeClassSnap;
use crate::core::upgrade;
use crate::error::ClusterError;
use crate::observe::Observer;
use crate::release_store;
use crate::spec::{install_objects, planned_inventory, ReleaseSpec};
use crate::wait;

/// How long an install waits for each peer-pods gate without `--wait`.
pub const GATE_TIMEOUT: Duration = Duration::from_secs(300);

/// Which operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `install`.
    Install,
    /// `upgrade`.
    Upgrade,
    /// `rollback` to a recorded revision.
    Rollback {
        /// The revision whose inputs are re-applied.
        to: u32,
    },
}

/// Everything a deploy needs.
pub struct Request<'a> {
    /// The operation.
    pub mode: Mode,
    /// The release.
    pub spec: &'a ReleaseSpec,
    /// The objects.
    pub plan: &'a Plan,
    /// The inputs, recorded.
    pub inputs: release::Inputs,
    /// The effective values, recorded.
    pub values: serde_json::Value,
    /// cococtl's version.
    pub tool_version: String,
    /// `--force-conflicts`.
    pub force_conflicts: bool,
    /// `--wait` with its timeout.
    pub wait: Option<Duration>,
    /// The clock (RFC 3339), from the caller.
    pub now: &'a (dyn Fn() -> String + Sync),
}

/// What a deploy did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The revision written.
    pub revision: u32,
    /// The previous deployed revision (the rollback target of `--atomic`).
    pub previous: Option<u32>,
    /// Objects applied.
    pub applied: Vec<Item>,
    /// Objects pruned.
    pub pruned: Vec<Item>,
    /// Prune candidates left alone, and why.
    pub kept: Vec<(Item, String)>,
    /// The last evaluation, when waited.
    pub progress: Option<Progress>,
    /// The RuntimeClasses of this release, as applied (for the summary's node counts).
    pub classes: Vec<RuntimeClassSnap>,
    /// Every node as the wait last saw it, when waited.
    pub nodes: Option<Vec<NodeSnap>>,
}

/// A deploy that failed, with the revision it recorded (if it got that far).
#[derive(Debug)]
pub struct Failure {
    /// The error.
    pub error: ClusterError,
    /// What had been done.
    pub outcome: Outcome,
}

impl From<ClusterError> for Failure {
    fn from(error: ClusterError) -> Self {
        Failure {
            error,
            outcome: Outcome::default(),
        }
    }
}

/// Finds why `upgrade` sees no release here: another instance in this namespace (the
/// suffix changed) or this instance in another namespace (the namespace changed).
async fn not_installed(cluster: &Cluster, spec: &ReleaseSpec) -> ClusterError {
    if let Ok(all) = release_store::load_all(cluster, &spec.namespace).await {
        let others: std::collections::BTreeSet<&str> =
            all.iter().map(|r| r.suffix.as_str()).collect();
        if others.len() == 1 {
            if let Some(f) = others
                .iter()
                .flat_map(|s| upgrade::check(s, &spec.namespace, &spec.suffix, &spec.namespace))
                .next()
            {
                return ClusterError::Input(f.to_string());
            }
        }
    }
    // The kata-deploy ClusterRoleBinding names the namespace of this instance's install.
    let rb_name = if spec.suffix.is_empty() {
        "kata-deploy-rb".to_string()
    } else {
        format!("kata-deploy-rb-{}", spec.suffix)
    };
    let api: Api<ClusterRoleBinding> = Api::all(cluster.client.clone());
    if let Ok(Some(rb)) = cluster
        .call_opt("reading the kata-deploy ClusterRoleBinding", || {
            api.get(&rb_name)
        })
        .await
    {
        let ours = rb
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(cococtl_core::labels::INSTANCE))
            .is_some_and(|i| *i == spec.instance);
        if let Some(ns) = rb
            .subjects
            .iter()
            .flatten()
            .find_map(|s| s.namespace.clone())
        {
            if ours && ns != spec.namespace {
                if let Some(f) =
                    upgrade::check(&spec.suffix, &ns, &spec.suffix, &spec.namespace).first()
                {
                    return ClusterError::Input(f.to_string());
                }
            }
        }
    }
    ClusterError::Refused(format!(
        "no release `{}` is installed in namespace {}\n  fix: `cococtl install`, or pass -n with the release's namespace",
        spec.instance, spec.namespace
    ))
}

/// Runs install, upgrade or rollback.
pub async fn run(
    cluster: &Cluster,
    req: &Request<'_>,
    obs: &mut dyn Observer,
) -> Result<Outcome, Failure> {
    let spec = req.spec;
    let history = release_store::history(cluster, &spec.namespace, &spec.instance).await?;
    let ns_item = req.plan.objects(Phase::Namespace).first().map(Item::of);
    let ns_exists = match &ns_item {
        Some(i) => apply::get(cluster, i).await?.is_some(),
        None => true,
    };
    let (revision, created_namespace, previous, base_inventory, description) = match req.mode {
        Mode::Install => match history.install_start() {
            InstallStart::Fresh => (1, !ns_exists, None, vec![], "install".to_string()),
            InstallStart::Resume { revision, found } => {
                obs.line(&format!(
                    "found revision {revision} {found} (an earlier run did not finish): converging"
                ));
                let created = history
                    .records()
                    .iter()
                    .any(|r| r.created_namespace)
                    || !ns_exists;
                let inv = history.all_items().into_iter().cloned().collect();
                (revision, created, None, inv, "install".to_string())
            }
            InstallStart::Installed { revision, status } => {
                return Err(ClusterError::Refused(format!(
                    "release `{}` is already installed in {} (revision {revision}, {status})\n  fix: `cococtl upgrade` to change it, or `cococtl uninstall` first",
                    spec.instance, spec.namespace
                ))
                .into())
            }
        },
        Mode::Upgrade | Mode::Rollback { .. } => match history.upgrade_start() {
            UpgradeStart::NotInstalled => return Err(not_installed(cluster, spec).await.into()),
            UpgradeStart::From {
                base,
                revision,
                interrupted,
            } => {
                if let Some(f) = upgrade::check(&base.suffix, &base.namespace, &spec.suffix, &spec.namespace).first() {
                    return Err(ClusterError::Input(f.to_string()).into());
                }
                let inv = history.prune_baseline();
                if let Some(i) = interrupted {
                    obs.line(&format!(
                        "revision {} was left {} by an interrupted run: marking it failed",
                        i.revision, i.status
                    ));
                    let mut r = i.clone();
                    r.status = Status::Failed;
                    r.description = format!("{} (interrupted)", r.description);
                    r.updated = (req.now)();
                    release_store::save(cluster, &r).await?;
                }
                let description = match req.mode {
                    Mode::Rollback { to } => format!("rollback to {to}"),
                    _ => "upgrade".into(),
                };
                (
                    revision,
                    base.created_namespace,
                    Some(base.revision),
                    inv,
                    description,
                )
            }
        },
    };
    let pending = match req.mode {
        Mode::Install => Status::PendingInstall,
        _ => Status::PendingUpgrade,
    };
    let started = (req.now)();
    let mut record = Release {
        instance: spec.instance.clone(),
        namespace: spec.namespace.clone(),
        revision,
        status: pending,
        description,
        inputs: req.inputs.clone(),
        values: req.values.clone(),
        tool_version: req.tool_version.clone(),
        kata_version: spec.kata_version.clone(),
        suffix: spec.suffix.clone(),
        created_namespace,
        inventory: planned_inventory(req.plan),
        started: started.clone(),
        updated: started,
    };
    let mut out = Outcome {
        revision,
        previous,
        classes: req
            .plan
            .objects(Phase::RuntimeClasses)
            .iter()
            .filter_map(|o| o.decode::<RuntimeClass>().and_then(Result::ok))
            .map(|rc| RuntimeClassSnap::of(&rc))
            .collect(),
        ..Default::default()
    };
    let opts = ApplyOptions {
        dry_run: false,
        force_conflicts: req.force_conflicts,
    };
    let mut recorded = false;
    let mut expect = spec.expect.clone();
    for (phase, objects) in install_objects(req.plan) {
        obs.step(&format!("applying {phase} ({} object(s))", objects.len()));
        for o in &objects {
            match apply::apply(cluster, o, opts).await {
                Ok(live) => {
                    if o.kind() == "DaemonSet" && o.name() == Some(spec.names.kata_deploy.as_str())
                    {
                        expect.kata_generation = live.metadata.generation;
                    }
                    let mut item = Item::of(o);
                    item.uid = live.metadata.uid.clone().unwrap_or_default();
                    if let Some(slot) = record.inventory.iter_mut().find(|i| i.key() == item.key())
                    {
                        slot.uid = item.uid.clone();
                    }
                    obs.line(&format!("{} applied", o.id()));
                    out.applied.push(item);
                }
                Err(e) => {
                    let e = explain_pod_security(o.kind(), e);
                    if recorded {
                        record.status = Status::Failed;
                        record.description = format!("{}: {}", record.description, first_line(&e));
                        record.updated = (req.now)();
                        let _ = release_store::save(cluster, &record).await;
                    }
                    return Err(Failure {
                        error: e,
                        outcome: out,
                    });
                }
            }
        }
        if !recorded && phase >= Phase::Namespace {
            // The namespace exists now: record the revision before anything else.
            release_store::save(cluster, &record)
                .await
                .map_err(|e| Failure {
                    error: e,
                    outcome: out.clone(),
                })?;
            recorded = true;
        }
        // Peer pods: CRD Established, peerpod-ctrl available, the webhook answering before
        // its MutatingWebhookConfiguration exists.
        let gates = crate::core::peerpods::gates_after(phase, &objects);
        if !gates.is_empty() {
            let why = crate::core::peerpods::gate_reason(phase);
            let timeout = req.wait.unwrap_or(GATE_TIMEOUT);
            if let Err(e) = crate::peerpods::wait_gates(cluster, &gates, timeout, why, obs).await {
                if recorded {
                    record.status = Status::Failed;
                    record.description = format!("{}: {}", record.description, first_line(&e));
                    record.updated = (req.now)();
                    let _ = release_store::save(cluster, &record).await;
                }
                return Err(Failure {
                    error: e,
                    outcome: out,
                });
            }
        }
    }

    // Prune what the previous revision had and this one does not.
    let d = inventory::diff(&base_inventory, &record.inventory);
    if !d.removed.is_empty() {
        obs.step(&format!(
            "pruning {} object(s) no longer planned",
            d.removed.len()
        ));
    }
    for i in d.removed {
        let live = apply::get(cluster, &i).await.map_err(|e| Failure {
            error: e,
            outcome: out.clone(),
        })?;
        let verdict = match &live {
            None => Err(Keep::Gone),
            Some(l) => {
                let labels = l.metadata.labels.clone().unwrap_or_default();
                let uid = l.metadata.uid.clone().unwrap_or_default();
                inventory::may_prune(&i, &spec.instance, Some((&labels, &uid)))
            }
        };
        match verdict {
            Ok(()) => {
                apply::delete(cluster, &i).await.map_err(|e| Failure {
                    error: e,
                    outcome: out.clone(),
                })?;
                obs.line(&format!("{} pruned", i.id()));
                out.pruned.push(i);
            }
            Err(Keep::Gone) => {}
            Err(k) => {
                let why = match k {
                    Keep::NotOurs { found: Some(f) } => format!("now labelled for instance `{f}`"),
                    Keep::NotOurs { found: None } => {
                        "no longer carries cococtl's instance label".into()
                    }
                    _ => "re-created by someone else since it was applied".into(),
                };
                obs.line(&format!("{} left in place: {why}", i.id()));
                out.kept.push((i, why));
            }
        }
    }

    let mut result = Ok(());
    if let Some(timeout) = req.wait {
        obs.step(&format!(
            "waiting up to {} for kata on every targeted node",
            human(timeout)
        ));
        match wait::until_ready(cluster, &spec.namespace, &expect, timeout, obs).await {
            Ok(w) => {
                let p = w.progress;
                out.nodes = Some(w.nodes);
                if !p.all_ready() {
                    let failed: Vec<String> = p
                        .nodes
                        .iter()
                        .filter_map(|n| match &n.state {
                            crate::core::readiness::NodeState::Failed(w) => {
                                Some(format!("{}: {w}", n.node))
                            }
                            _ => None,
                        })
                        .collect();
                    result = Err(ClusterError::Refused(format!(
                        "{} of {} node(s) failed:\n{}",
                        failed.len(),
                        p.nodes.len(),
                        failed
                            .iter()
                            .map(|f| format!("    - {f}"))
                            .collect::<Vec<_>>()
                            .join("\n")
                    )));
                }
                out.progress = Some(p);
            }
            Err(e) => result = Err(e),
        }
    }
    record.status = if result.is_ok() {
        Status::Deployed
    } else {
        Status::Failed
    };
    if let Err(e) = &result {
        record.description = format!("{}: {}", record.description, first_line(e));
    }
    record.updated = (req.now)();
    release_store::save(cluster, &record)
        .await
        .map_err(|e| Failure {
            error: e,
            outcome: out.clone(),
        })?;
    if record.status == Status::Deployed {
        finish_history(cluster, &history, &record, req.now).await;
    }
    match result {
        Ok(()) => Ok(out),
        Err(error) => Err(Failure {
            error,
            outcome: out,
        }),
    }
}

/// Supersedes older deployed revisions and drops those beyond the last ten (best effort:
/// a failure here is logged, the release itself is fine).
async fn finish_history(
    cluster: &Cluster,
    history: &History,
    record: &Release,
    now: &(dyn Fn() -> String + Sync),
) {
    for rev in history.to_supersede(record.revision) {
        if let Some(r) = history.get(rev) {
            let mut r = r.clone();
            r.status = Status::Superseded;
            r.updated = now();
            if let Err(e) = release_store::save(cluster, &r).await {
                tracing::warn!("marking revision {rev} superseded: {}", first_line(&e));
            }
        }
    }
    let adding = usize::from(history.get(record.revision).is_none());
    for rev in history.to_drop(adding) {
        if let Err(e) =
            release_store::delete(cluster, &record.namespace, &record.instance, rev).await
        {
            tracing::warn!("dropping revision {rev}: {}", first_line(&e));
        }
    }
}

fn first_line(e: &ClusterError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// `15m`, `90s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// A conflict on the namespace's Pod Security labels: say why cococtl sets them and what
/// each way out means.
fn explain_pod_security(kind: &str, e: ClusterError) -> ClusterError {
    match e {
        ClusterError::Conflict { object, conflicts }
            if kind == "Namespace"
                && conflicts
                    .iter()
                    .any(|c| c.field.contains("pod-security.kubernetes.io")) =>
        {
            let managers: std::collections::BTreeSet<&str> =
                conflicts.iter().map(|c| c.manager.as_str()).collect();
            ClusterError::Refused(format!(
                "{object}: its Pod Security labels are owned by {} ({}).\n  \
                 cococtl labels the namespace `privileged` because the kata-deploy pods (and the \
                 containerd agent) mount host paths, which `baseline` and `restricted` forbid.\n  \
                 fix: rerun with --force-conflicts to let cococtl own the labels (the other \
                 manager may set them back), or install into a namespace of cococtl's own (-n)",
                managers.into_iter().collect::<Vec<_>>().join(", "),
                conflicts
                    .iter()
                    .map(|c| c.field.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
        other => other,
    }
}
