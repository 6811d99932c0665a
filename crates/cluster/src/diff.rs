//! `diff` and `install --dry-run=server`: every planned object is applied with
//! `dryRun=All` and the result compared with the live object (so the server's defaulting
//! and canonicalisation — quantities, dropped empty env values — never show as changes)
//! over the fields cococtl's own managedFields entry in that result names (so fields the
//! server sets never show either), plus what an upgrade would prune.

use cococtl_manifests::{Object, Plan};

use crate::apply::{self, ApplyOptions};
use crate::client::Cluster;
use crate::core::fielddiff::{self, FieldChange};
use crate::core::inventory::{self, Item};
use crate::core::release::History;
use crate::error::ClusterError;

/// What applying one object would do.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// It does not exist yet.
    Create,
    /// These fields would change.
    Update(Vec<FieldChange>),
    /// Nothing would change.
    Unchanged,
    /// It would be created in a namespace this install creates: a server-side dry run
    /// cannot validate it before the namespace exists.
    CreateUnvalidated,
    /// An upgrade would delete it.
    Prune,
}

/// One object's line in the diff.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectDiff {
    /// `Kind/ns/name`.
    pub id: String,
    /// What would happen.
    pub change: Change,
}

/// Dry-runs every install object of `plan`.
pub async fn dry_run(
    cluster: &Cluster,
    plan: &Plan,
    history: &History,
    force_conflicts: bool,
) -> Result<Vec<ObjectDiff>, ClusterError> {
    let namespace_missing = match plan.objects(cococtl_manifests::Phase::Namespace).first() {
        Some(ns) => apply::get(cluster, &Item::of(ns)).await?.is_none(),
        None => false,
    };
    let mut out = vec![];
    for o in plan.install() {
        out.push(ObjectDiff {
            id: o.id(),
            change: one(cluster, o, namespace_missing, force_conflicts).await?,
        });
    }
    if let Some(base) = history.deployed().or(history.latest()) {
        let planned: Vec<Item> = plan.install().map(Item::of).collect();
        for i in inventory::diff(&base.inventory, &planned).removed {
            out.push(ObjectDiff {
                id: i.id(),
                change: Change::Prune,
            });
        }
    }
    Ok(out)
}

async fn one(
    cluster: &Cluster,
    o: &Object,
    namespace_missing: bool,
    force_conflicts: bool,
) -> Result<Change, ClusterError> {
    let item = Item::of(o);
    if namespace_missing && o.namespace().is_some() {
        return Ok(Change::CreateUnvalidated);
    }
    let live = apply::get(cluster, &item).await?;
    let after = apply::apply(
        cluster,
        o,
        ApplyOptions {
            dry_run: true,
            force_conflicts,
        },
    )
    .await?;
    let Some(live) = live else {
        return Ok(Change::Create);
    };
    let old = serde_json::to_value(&live).unwrap_or_default();
    let new = serde_json::to_value(&after).unwrap_or_default();
    // Only what cococtl applies: the server's own fields (defaults, status, the
    // DaemonSet's template-generation annotation) are not cococtl's changes. A server
    // that keeps no managedFields gets the whole-object comparison.
    let changes = match fielddiff::applied_fields(&new, apply::FIELD_MANAGER) {
        Some(owned) => fielddiff::managed_diff(&old, &new, owned),
        None => fielddiff::diff(&old, &new),
    };
    Ok(if changes.is_empty() {
        Change::Unchanged
    } else {
        Change::Update(changes)
    })
}
