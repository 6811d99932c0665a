//! The inventory: which objects a revision applied, and what an upgrade prunes.
//!
//! Prune rule: an object of the previous inventory that the new plan no longer has is
//! deleted only if its live copy still carries this release's instance label (so an object
//! someone else took over, or re-created, is never touched).

use std::collections::{BTreeMap, BTreeSet};

use cococtl_core::labels::INSTANCE;
use cococtl_manifests::{Object, ResourceType};
use serde::{Deserialize, Serialize};

/// One applied object: where the API serves it, and which one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// API group (`""` for core).
    #[serde(default)]
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// URL plural.
    pub plural: String,
    /// Whether the kind is namespaced.
    pub namespaced: bool,
    /// Namespace, for namespaced kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// The uid the server gave it (empty until applied, or on a dry run).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

/// What identifies an object across revisions: group, kind, namespace, name (not the
/// version, which may move, nor the uid, which changes when it is re-created).
pub type Key = (String, String, Option<String>, String);

impl Item {
    /// The item for a planned object (no uid yet).
    pub fn of(o: &Object) -> Item {
        let r = o.resource();
        Item {
            group: r.group.clone(),
            version: r.version.clone(),
            kind: r.kind.clone(),
            plural: r.plural.clone(),
            namespaced: r.namespaced,
            namespace: o.namespace().map(str::to_string),
            name: o.name().unwrap_or_default().to_string(),
            uid: String::new(),
        }
    }

    /// Its identity across revisions.
    pub fn key(&self) -> Key {
        (
            self.group.clone(),
            self.kind.clone(),
            self.namespace.clone(),
            self.name.clone(),
        )
    }

    /// The resource type, for the edge's `Api<DynamicObject>`.
    pub fn resource(&self) -> ResourceType {
        ResourceType {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
            plural: self.plural.clone(),
            namespaced: self.namespaced,
        }
    }

    /// `Kind/name` or `Kind/namespace/name`.
    pub fn id(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{ns}/{}", self.kind, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }
}

/// Object by object, what applying a new plan over a previous inventory does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InventoryDiff {
    /// In the plan, not in the previous inventory.
    pub added: Vec<Item>,
    /// In both.
    pub kept: Vec<Item>,
    /// In the previous inventory only: prune candidates (see [`may_prune`]).
    pub removed: Vec<Item>,
}

/// Compares the previous inventory with the planned objects.
pub fn diff(previous: &[Item], planned: &[Item]) -> InventoryDiff {
    let before: BTreeSet<Key> = previous.iter().map(Item::key).collect();
    let after: BTreeSet<Key> = planned.iter().map(Item::key).collect();
    let mut d = InventoryDiff::default();
    for p in planned {
        if before.contains(&p.key()) {
            d.kept.push(p.clone());
        } else {
            d.added.push(p.clone());
        }
    }
    d.removed = previous
        .iter()
        .filter(|i| !after.contains(&i.key()))
        .cloned()
        .collect();
    // Delete namespaced objects before cluster-scoped ones, and never the namespace
    // before what lives in it.
    d.removed
        .sort_by_key(|i| (i.kind == "Namespace", !i.namespaced, i.key()));
    d
}

/// Why a prune candidate is left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keep {
    /// Already gone.
    Gone,
    /// Someone else's now: its instance label is missing or names another install.
    NotOurs {
        /// The label value found (`None` when absent).
        found: Option<String>,
    },
    /// Re-created since it was recorded (another uid): not the object we applied.
    Recreated,
}

/// Whether a prune candidate may be deleted, given its live labels and uid (`None` when
/// it no longer exists).
pub fn may_prune(
    item: &Item,
    instance: &str,
    live: Option<(&BTreeMap<String, String>, &str)>,
) -> Result<(), Keep> {
    let Some((labels, uid)) = live else {
        return Err(Keep::Gone);
    };
    match labels.get(INSTANCE) {
        Some(v) if v == instance => {}
        found => {
            return Err(Keep::NotOurs {
                found: found.cloned(),
            })
        }
    }
    if !item.uid.is_empty() && !uid.is_empty() && item.uid != uid {
        return Err(Keep::Recreated);
    }
    Ok(())
}
