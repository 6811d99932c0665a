//! The release record: what was installed, from which inputs, and how that went; one
//! Secret per revision in the release namespace, like Helm's, with its own type and labels.
//!
//! Pure: the edge ([`crate::release_store`]) reads and writes the Secrets; everything that
//! decides (the next revision, what an interrupted run left, which revisions to drop) is
//! here.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use serde::{Deserialize, Serialize};

use super::inventory::Item;

/// The Secret `type` of a release record.
pub const SECRET_TYPE: &str = "cococtl.confidentialcontainers.org/release.v1";
/// Label on every record: the release's instance (`default` or the multi-install suffix).
pub const RELEASE_LABEL: &str = "cococtl.confidentialcontainers.org/release";
/// Label on every record: its revision.
pub const REVISION_LABEL: &str = "cococtl.confidentialcontainers.org/revision";
/// Label on every record: its [`Status`].
pub const STATUS_LABEL: &str = "cococtl.confidentialcontainers.org/release-status";
/// Label on every record: `owner=cococtl`, as Helm's `owner=helm`.
pub const OWNER_LABEL: &str = "owner";
/// The key in the Secret's data that holds the record as JSON.
pub const DATA_KEY: &str = "release";
/// How many revisions are kept.
pub const KEEP: usize = 10;

/// Where a revision stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Written before the first object of an install; still here means it was interrupted.
    PendingInstall,
    /// Written before the first object of an upgrade or rollback.
    PendingUpgrade,
    /// Applied and (with `--wait`) ready.
    Deployed,
    /// Applied, but did not become ready, or an apply failed.
    Failed,
    /// A later revision was deployed.
    Superseded,
    /// An uninstall started; still here means it was interrupted.
    Uninstalling,
}

impl Status {
    /// The spelling in records, labels and `history`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::PendingInstall => "pending-install",
            Status::PendingUpgrade => "pending-upgrade",
            Status::Deployed => "deployed",
            Status::Failed => "failed",
            Status::Superseded => "superseded",
            Status::Uninstalling => "uninstalling",
        }
    }

    /// A `pending-*` or `uninstalling` record: an operation started and did not record its end.
    pub fn in_progress(self) -> bool {
        matches!(
            self,
            Status::PendingInstall | Status::PendingUpgrade | Status::Uninstalling
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `--set` or `--set-string` as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetInput {
    /// `--set-string` (every value stays a string).
    #[serde(default)]
    pub string: bool,
    /// `KEY=VALUE`.
    pub arg: String,
}

/// The inputs of a revision, enough to compute it again (`rollback`, `--reuse-values`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Inputs {
    /// The profile: its name or path, and its text.
    pub profile: Option<(String, String)>,
    /// Each `-f` file: its path and its content, in order.
    #[serde(default)]
    pub files: Vec<(String, String)>,
    /// Each `--set`/`--set-string`, in the order applied.
    #[serde(default)]
    pub sets: Vec<SetInput>,
    /// `--kata-version`, if given.
    #[serde(default)]
    pub kata_version: Option<String>,
    /// The namespace.
    pub namespace: String,
}

/// One revision of a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    /// The instance: `default` or the multi-install suffix.
    pub instance: String,
    /// The release namespace.
    pub namespace: String,
    /// 1, 2, …
    pub revision: u32,
    /// Where this revision stands.
    pub status: Status,
    /// A sentence for `history` (`install`, `upgrade`, `rollback to 2`, why it failed, …).
    #[serde(default)]
    pub description: String,
    /// The inputs as given.
    pub inputs: Inputs,
    /// The effective values (defaults, profile, files and sets merged).
    pub values: serde_json::Value,
    /// The cococtl version that wrote this revision.
    pub tool_version: String,
    /// The kata-deploy version installed.
    pub kata_version: String,
    /// The multi-install suffix (empty for none).
    #[serde(default)]
    pub suffix: String,
    /// Whether this release created its namespace (uninstall deletes it only then).
    #[serde(default)]
    pub created_namespace: bool,
    /// Every object applied, with its uid.
    #[serde(default)]
    pub inventory: Vec<Item>,
    /// When the operation started (RFC 3339, from the caller's clock).
    pub started: String,
    /// When the record was last written.
    pub updated: String,
}

/// A record that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The Secret has no `release` key.
    #[error("Secret {0} has no `{DATA_KEY}` data")]
    Missing(String),
    /// The JSON in it is not a release record.
    #[error("Secret {name}: not a cococtl release record: {source}")]
    Decode {
        /// The Secret's name.
        name: String,
        /// What serde said.
        source: serde_json::Error,
    },
}

impl Release {
    /// The record's Secret name: `cococtl.release.<instance>.v<revision>`.
    pub fn secret_name(&self) -> String {
        secret_name(&self.instance, self.revision)
    }

    /// The labels a record carries, so `history` lists them with one label selector.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut l = selector_labels(&self.instance);
        l.insert(REVISION_LABEL.into(), self.revision.to_string());
        l.insert(STATUS_LABEL.into(), self.status.as_str().into());
        l
    }

    /// The record as its Secret.
    pub fn to_secret(&self) -> Secret {
        // A record is plain data; serde_json cannot fail on it.
        let json = serde_json::to_vec(self).unwrap_or_default();
        Secret {
            metadata: ObjectMeta {
                name: Some(self.secret_name()),
                namespace: Some(self.namespace.clone()),
                labels: Some(self.labels()),
                ..Default::default()
            },
            type_: Some(SECRET_TYPE.into()),
            data: Some([(DATA_KEY.to_string(), ByteString(json))].into()),
            ..Default::default()
        }
    }

    /// Reads a record from its Secret.
    pub fn from_secret(s: &Secret) -> Result<Release, RecordError> {
        let name = s.metadata.name.clone().unwrap_or_default();
        let data = s
            .data
            .as_ref()
            .and_then(|d| d.get(DATA_KEY))
            .ok_or_else(|| RecordError::Missing(name.clone()))?;
        serde_json::from_slice(&data.0).map_err(|source| RecordError::Decode { name, source })
    }

    /// A one-line summary of the inputs, for `history` and `status`.
    pub fn inputs_summary(&self) -> String {
        let mut parts = vec![];
        if let Some((p, _)) = &self.inputs.profile {
            parts.push(format!("--profile {p}"));
        }
        for (f, _) in &self.inputs.files {
            parts.push(format!("-f {f}"));
        }
        for s in &self.inputs.sets {
            let flag = if s.string { "--set-string" } else { "--set" };
            parts.push(format!("{flag} {}", s.arg));
        }
        parts.join(" ")
    }
}

/// `cococtl.release.<instance>.v<revision>`.
pub fn secret_name(instance: &str, revision: u32) -> String {
    format!("cococtl.release.{instance}.v{revision}")
}

/// The labels that select every record of one release.
pub fn selector_labels(instance: &str) -> BTreeMap<String, String> {
    [
        (OWNER_LABEL.to_string(), "cococtl".to_string()),
        (RELEASE_LABEL.to_string(), instance.to_string()),
    ]
    .into()
}

/// The label selector for [`selector_labels`].
pub fn selector(instance: &str) -> String {
    format!("{OWNER_LABEL}=cococtl,{RELEASE_LABEL}={instance}")
}

/// A release's records, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    records: Vec<Release>,
}

/// What `install` finds, and does.
#[derive(Debug, Clone, PartialEq)]
pub enum InstallStart {
    /// Nothing recorded: revision 1.
    Fresh,
    /// The last install never finished (`pending-install`, or `failed` with nothing ever
    /// deployed): take it over with the same revision number and converge.
    Resume {
        /// The revision to reuse.
        revision: u32,
        /// Its status as found.
        found: Status,
    },
    /// A release is installed: `install` stops and points to `upgrade`.
    Installed {
        /// The latest revision.
        revision: u32,
        /// Its status.
        status: Status,
    },
}

/// What `upgrade`/`rollback` start from.
#[derive(Debug, Clone, PartialEq)]
pub enum UpgradeStart<'a> {
    /// Nothing installed.
    NotInstalled,
    /// The base (the last `deployed` revision, or failing that the latest) and the new
    /// revision number.
    From {
        /// The revision to upgrade from (its inventory is the prune baseline).
        base: &'a Release,
        /// The new revision.
        revision: u32,
        /// An interrupted operation found on the way (reported, then marked failed).
        interrupted: Option<&'a Release>,
    },
}

impl History {
    /// From records in any order.
    pub fn new(mut records: Vec<Release>) -> Self {
        records.sort_by_key(|r| std::cmp::Reverse(r.revision));
        History { records }
    }

    /// Newest first.
    pub fn records(&self) -> &[Release] {
        &self.records
    }

    /// The newest record.
    pub fn latest(&self) -> Option<&Release> {
        self.records.first()
    }

    /// The newest `deployed` record.
    pub fn deployed(&self) -> Option<&Release> {
        self.records.iter().find(|r| r.status == Status::Deployed)
    }

    /// A revision by number.
    pub fn get(&self, revision: u32) -> Option<&Release> {
        self.records.iter().find(|r| r.revision == revision)
    }

    /// The next revision number.
    pub fn next_revision(&self) -> u32 {
        self.latest().map_or(1, |r| r.revision + 1)
    }

    /// What `install` does given these records.
    pub fn install_start(&self) -> InstallStart {
        let Some(latest) = self.latest() else {
            return InstallStart::Fresh;
        };
        let ever_deployed = self.records.iter().any(|r| {
            matches!(
                r.status,
                Status::Deployed | Status::Superseded | Status::PendingUpgrade
            )
        });
        match latest.status {
            Status::PendingInstall | Status::Failed if !ever_deployed => InstallStart::Resume {
                revision: latest.revision,
                found: latest.status,
            },
            // An uninstall that was interrupted: install again converges by re-applying.
            Status::Uninstalling => InstallStart::Resume {
                revision: latest.revision + 1,
                found: latest.status,
            },
            status => InstallStart::Installed {
                revision: latest.revision,
                status,
            },
        }
    }

    /// What `upgrade` starts from.
    pub fn upgrade_start(&self) -> UpgradeStart<'_> {
        let Some(latest) = self.latest() else {
            return UpgradeStart::NotInstalled;
        };
        let base = self.deployed().unwrap_or(latest);
        UpgradeStart::From {
            base,
            revision: latest.revision + 1,
            interrupted: latest.status.in_progress().then_some(latest),
        }
    }

    /// What an upgrade or rollback may have to prune: the inventory of the last deployed
    /// revision plus that of every later one (failed or interrupted attempts may have
    /// applied objects the new plan no longer has).
    pub fn prune_baseline(&self) -> Vec<Item> {
        let since = self.deployed().map_or(0, |d| d.revision);
        let mut seen = std::collections::BTreeSet::new();
        self.records
            .iter()
            .filter(|r| r.revision >= since)
            .flat_map(|r| &r.inventory)
            .filter(|i| seen.insert(i.key()))
            .cloned()
            .collect()
    }

    /// The revisions to mark `superseded` once `revision` is deployed: every older
    /// `deployed` one.
    pub fn to_supersede(&self, revision: u32) -> Vec<u32> {
        self.records
            .iter()
            .filter(|r| r.revision != revision && r.status == Status::Deployed)
            .map(|r| r.revision)
            .collect()
    }

    /// The revisions beyond the newest [`KEEP`] (with `adding` new ones about to be
    /// written), oldest first; a `deployed` one is never dropped.
    pub fn to_drop(&self, adding: usize) -> Vec<u32> {
        let keep = KEEP.saturating_sub(adding);
        let mut drop: Vec<u32> = self
            .records
            .iter()
            .skip(keep)
            .filter(|r| r.status != Status::Deployed)
            .map(|r| r.revision)
            .collect();
        drop.sort_unstable();
        drop
    }

    /// The union of every recorded inventory (for uninstall's "nothing left" check: kinds
    /// ever applied).
    pub fn all_items(&self) -> Vec<&Item> {
        let mut seen = std::collections::BTreeSet::new();
        self.records
            .iter()
            .flat_map(|r| &r.inventory)
            .filter(|i| seen.insert(i.key()))
            .collect()
    }
}
