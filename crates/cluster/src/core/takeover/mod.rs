//! Taking over the kata installs a cluster already has (issue 14): which installs are there
//! ([`detect`]), read from the objects the API lists (Helm's release payload in
//! [`helm_release`]), and what a take-over would do about each ([`plan`]). Pure: the edge
//! (`crate::preflight`) lists the objects as JSON; nothing here reads or writes a cluster.
//! The steps as data are [`actions`]; the record of how far a take-over got is [`record`].

pub mod actions;
pub mod detect;
pub mod helm_release;
pub mod plan;
pub mod record;

use serde::Serialize;
use serde_json::Value;

pub use detect::detect;
pub use plan::{plan, render, Plan, Target};

/// What cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TakeoverError {
    /// A Helm release Secret whose payload does not decode.
    #[error("Helm release Secret {secret}: {why}")]
    HelmRelease {
        /// The Secret's name.
        secret: String,
        /// What failed.
        why: String,
    },
}

/// The objects detection looks at, as the API lists them (JSON, one list per kind).
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// apps/v1 DaemonSets.
    pub daemonsets: Vec<Value>,
    /// apps/v1 Deployments.
    pub deployments: Vec<Value>,
    /// batch/v1 Jobs.
    pub jobs: Vec<Value>,
    /// node.k8s.io/v1 RuntimeClasses.
    pub runtime_classes: Vec<Value>,
    /// ServiceAccounts.
    pub service_accounts: Vec<Value>,
    /// ClusterRoles.
    pub cluster_roles: Vec<Value>,
    /// ClusterRoleBindings.
    pub cluster_role_bindings: Vec<Value>,
    /// ConfigMaps.
    pub config_maps: Vec<Value>,
    /// Secrets of type `helm.sh/release.v1` (others are ignored).
    pub helm_secrets: Vec<Value>,
    /// Namespaces.
    pub namespaces: Vec<Value>,
    /// confidentialcontainers.org CcRuntimes.
    pub ccruntimes: Vec<Value>,
    /// CustomResourceDefinitions.
    pub crds: Vec<Value>,
    /// Nodes.
    pub nodes: Vec<Value>,
    /// Pods (optional: the kata pods an install runs; empty when not listed).
    pub pods: Vec<Value>,
}

impl Inputs {
    /// Sorts the items of one or more v1 Lists by `kind` (fixtures, `kubectl get -o json`).
    pub fn from_items<'a>(items: impl IntoIterator<Item = &'a Value>) -> Inputs {
        let mut i = Inputs::default();
        for o in items {
            let list = match o.get("kind").and_then(Value::as_str).unwrap_or_default() {
                "DaemonSet" => &mut i.daemonsets,
                "Deployment" => &mut i.deployments,
                "Job" => &mut i.jobs,
                "RuntimeClass" => &mut i.runtime_classes,
                "ServiceAccount" => &mut i.service_accounts,
                "ClusterRole" => &mut i.cluster_roles,
                "ClusterRoleBinding" => &mut i.cluster_role_bindings,
                "ConfigMap" => &mut i.config_maps,
                "Secret" => &mut i.helm_secrets,
                "Namespace" => &mut i.namespaces,
                "CcRuntime" => &mut i.ccruntimes,
                "CustomResourceDefinition" => &mut i.crds,
                "Node" => &mut i.nodes,
                "Pod" => &mut i.pods,
                _ => continue,
            };
            list.push(o.clone());
        }
        i
    }
}

/// One object, by kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct ObjRef {
    /// Kind.
    pub kind: String,
    /// Namespace (`None`: cluster-scoped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ObjRef {
    /// Of a listed object (`kind` given: list items may lack it).
    pub fn of(kind: &str, o: &Value) -> ObjRef {
        ObjRef {
            kind: kind.to_string(),
            namespace: o
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_string),
            name: name(o).to_string(),
        }
    }
}

impl std::fmt::Display for ObjRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// A Helm release, as found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HelmRef {
    /// Release name.
    pub name: String,
    /// Release namespace.
    pub namespace: String,
    /// Revision that counts.
    pub revision: u64,
    /// `info.status` of that revision.
    pub status: String,
    /// Chart name.
    pub chart: String,
    /// Chart version.
    pub chart_version: String,
    /// The user's values (`config`).
    pub values: Value,
}

/// What kind of install was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InstallKind {
    /// The kata-deploy chart (4.x), installed with Helm.
    HelmKataDeploy {
        /// The release.
        release: HelmRef,
        /// `env.multiInstallSuffix` (`None`: the default instance).
        suffix: Option<String>,
        /// The DaemonSet's image.
        image: Option<String>,
    },
    /// The CoCo chart (`confidential-containers`), with kata-deploy as a sub-chart.
    CocoChart {
        /// The release.
        release: HelmRef,
        /// The kata-deploy sub-chart's version.
        kata_deploy_version: Option<String>,
        /// The DaemonSet's image.
        image: Option<String>,
        /// The pre-install containerd installer Job (`customContainerd.enabled`).
        custom_containerd_job: Option<String>,
    },
    /// kata-deploy's plain manifests (`kubectl apply`, up to 3.21.0).
    ManifestKataDeploy {
        /// The DaemonSet's image.
        image: String,
        /// The image tag, unless it names no version (`latest`).
        version: Option<String>,
    },
    /// The pre-3.x manifests: runtime-labeler / kata-cleanup DaemonSets.
    LegacyKataDeploy {
        /// The images.
        images: Vec<String>,
    },
    /// The CoCo operator.
    Operator {
        /// The operator's image tag.
        version: Option<String>,
        /// Its CcRuntimes.
        ccruntimes: Vec<String>,
        /// A CcRuntime is being deleted (finalizer pending).
        deleting: bool,
    },
    /// What an uninstalled install left.
    Leftovers {
        /// What it is.
        what: String,
        /// Whose it was.
        owner: String,
    },
    /// A kata-deploy in none of the known shapes.
    Unknown {
        /// Why it is not one of the known ones.
        reason: String,
    },
}

/// One install found on the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundInstall {
    /// What it is.
    #[serde(flatten)]
    pub kind: InstallKind,
    /// The objects it owns (sorted).
    pub objects: Vec<ObjRef>,
    /// The nodes it serves (sorted).
    pub nodes: Vec<String>,
    /// How the nodes were decided.
    pub nodes_by: String,
    /// The RuntimeClasses it made (sorted).
    pub runtime_classes: Vec<String>,
    /// Pods running with its RuntimeClasses (`namespace/name`; empty when pods were not given).
    pub kata_pods: Vec<String>,
}

impl FoundInstall {
    /// Its objects of this kind.
    pub fn of_kind(&self, kind: &str) -> Vec<ObjRef> {
        self.objects
            .iter()
            .filter(|o| o.kind == kind)
            .cloned()
            .collect()
    }

    /// Its objects of none of these kinds.
    pub fn except(&self, kinds: &[&str]) -> Vec<ObjRef> {
        self.objects
            .iter()
            .filter(|o| !kinds.contains(&o.kind.as_str()))
            .cloned()
            .collect()
    }

    /// Whether a take-over leaves it as it is: only the CoCo operator without a CcRuntime
    /// (it serves no node; removing the operator is its own manifests' job). Everything
    /// else found, unknown installs included, is in the way of cococtl's release.
    pub fn stays(&self) -> bool {
        matches!(&self.kind, InstallKind::Operator { ccruntimes, .. } if ccruntimes.is_empty())
    }

    /// One line naming it for a user: kind, version, owner.
    pub fn title(&self) -> String {
        match &self.kind {
            InstallKind::HelmKataDeploy {
                release, suffix, ..
            } => format!(
                "kata-deploy chart {} from Helm release {} (namespace {}, revision {}, {}){}",
                release.chart_version,
                release.name,
                release.namespace,
                release.revision,
                release.status,
                suffix
                    .as_ref()
                    .map(|s| format!(", multi-install suffix {s}"))
                    .unwrap_or_default()
            ),
            InstallKind::CocoChart {
                release,
                kata_deploy_version,
                custom_containerd_job,
                ..
            } => format!(
                "CoCo chart {} {} (kata-deploy {}) from Helm release {} (namespace {}, revision {}, {}){}",
                release.chart,
                release.chart_version,
                kata_deploy_version.as_deref().unwrap_or("unknown"),
                release.name,
                release.namespace,
                release.revision,
                release.status,
                if custom_containerd_job.is_some() {
                    ", with a custom containerd"
                } else {
                    ""
                }
            ),
            InstallKind::ManifestKataDeploy { image, version } => format!(
                "kata-deploy {} applied by hand (kubectl), image {image}",
                version.as_deref().unwrap_or("of unknown version")
            ),
            InstallKind::LegacyKataDeploy { images } => format!(
                "legacy kata-deploy (runtime-labeler / kata-cleanup) applied by hand, image(s) {}",
                images.join(", ")
            ),
            InstallKind::Operator {
                version,
                ccruntimes,
                deleting,
            } => format!(
                "CoCo operator {}, CcRuntime(s): {}{}",
                version.as_deref().unwrap_or("of unknown version"),
                if ccruntimes.is_empty() {
                    "none".to_string()
                } else {
                    ccruntimes.join(", ")
                },
                if *deleting { " (being deleted)" } else { "" }
            ),
            InstallKind::Leftovers { what, owner } => format!("leftovers: {what} ({owner})"),
            InstallKind::Unknown { reason } => format!("unknown kata install: {reason}"),
        }
    }
}

pub(crate) fn name(o: &Value) -> &str {
    o.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub(crate) fn namespace(o: &Value) -> &str {
    o.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub(crate) fn label<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    o.pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}

pub(crate) fn annotation<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    o.pointer("/metadata/annotations")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}
