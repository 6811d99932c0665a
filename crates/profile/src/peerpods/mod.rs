//! Peer-pods: the values of the upstream `peerpods` chart 0.4.0 (cloud-api-adaptor v0.22.0)
//! nested under `peerpods:`, validated into [`PeerPods`].
//!
//! [`defaults`] is the chart's vocabulary with cococtl's defaults (the schema unknown keys are
//! checked against); [`providers`] holds what each provider's entry point requires; the
//! rules live in `validate/peerpods.rs`. [`add_remote_shim`] adds kata-deploy's `remote` shim
//! when peer pods are turned on from a profile that does not have it (a mixed cluster).
//! docs/peerpods.md explains every deviation from the chart.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_yaml::{Mapping, Value};

use crate::error::Problem;
use crate::tree;
use crate::validate::Provenance;
use cococtl_core::catalog::{shim_by_name, SHIMS};
use cococtl_core::Arch;

pub mod providers;

pub use providers::Provider;

const DEFAULTS: &str = include_str!("defaults.yaml");

/// The upstream `peerpods` Helm chart whose values and objects are followed.
pub const CHART_VERSION: &str = "0.4.0";
/// The cloud-api-adaptor release the objects are rendered for.
pub const CAA_VERSION: &str = "v0.22.0";
/// The commit of that release: the released chart's image tag for CAA, peerpod-ctrl and the
/// webhook (docs/peerpods.md#images).
pub const CAA_RELEASE_COMMIT: &str = "61b1aba91df646a663e60ab6b55c6a7dc93cd167";
/// The CAA tag for libvirt, which needs the dev image: the release's
/// `providers/libvirt.yaml` pins `<commit>-dev`.
pub fn libvirt_dev_tag() -> String {
    format!("{CAA_RELEASE_COMMIT}-dev")
}
/// The kube-rbac-proxy sidecar of peerpod-ctrl (the sub-chart pins it).
pub const KUBE_RBAC_PROXY_IMAGE: &str = "registry.k8s.io/kubebuilder/kube-rbac-proxy:v0.14.0";
/// The Secret peerpod-ctrl always reads credentials from (and the chart creates).
pub const CREDENTIALS_SECRET: &str = "peer-pods-secret";
/// The SSH key Secret peerpod-ctrl always mounts (and the chart creates for libvirt/byom).
pub const SSH_KEY_SECRET: &str = "ssh-key-secret";
/// The custom TLS certificates Secret of create mode.
pub const TLS_SECRET: &str = "certs-for-tls";
/// The ConfigMap every component reads its settings from.
pub const CONFIG_MAP: &str = "peer-pods-cm";

/// The `peerpods:` defaults tree.
pub fn defaults() -> Value {
    // Embedded and covered by tests: failing to parse it is a build defect.
    serde_yaml::from_str(DEFAULTS).unwrap_or(Value::Mapping(Mapping::new()))
}

/// `secrets.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretsMode {
    /// cococtl creates the Secrets from `providerSecrets` and `secrets.tlsCerts`.
    Create,
    /// The user manages the Secrets; cococtl only references them by name.
    Reference,
}

/// A peer-pods component's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Full reference, `repo:tag` or `repo@digest`.
    pub reference: String,
    /// `imagePullPolicy`.
    pub pull_policy: String,
}

/// `resourceCtrl.*`: peerpod-ctrl, which deletes cloud VMs whose pod is gone.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceCtrl {
    /// The manager image.
    pub image: Image,
    /// Extra pod labels (cloud workload identity).
    pub pod_labels: BTreeMap<String, String>,
    /// ServiceAccount annotations (cloud workload identity).
    pub service_account_annotations: BTreeMap<String, String>,
    /// `authProxy.enabled`: the kube-rbac-proxy sidecar with its RBAC and metrics Service.
    pub auth_proxy: bool,
    /// The sidecar's image: [`KUBE_RBAC_PROXY_IMAGE`], moved by `global.imageRegistry`.
    pub auth_proxy_image: String,
}

/// `webhook.*`: the mutating webhook that moves pod resources to `kata.peerpods.io/vm`.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// The manager image.
    pub image: Image,
    /// Deployment replicas.
    pub replicas: i32,
    /// The manager container's resources.
    pub resources: ResourceRequirements,
    /// `TARGET_RUNTIMECLASS`.
    pub target_runtime_class: String,
    /// `POD_VM_EXTENDED_RESOURCE`.
    pub pod_vm_extended_resource: String,
    /// `failurePolicy` of the MutatingWebhookConfiguration.
    pub failure_policy: String,
    /// `certManager.enabled`: render the Issuer, Certificate and CA injection; off, the
    /// user supplies Secret `webhook-server-cert` and the configuration's CA bundle.
    pub cert_manager: bool,
    /// `tlsMinVersion`: `TLS_MIN_VERSION` of the manager (`""` = not set).
    pub tls_min_version: String,
    /// `tlsCipherSuites`: `TLS_CIPHER_SUITES` of the manager (`""` = not set).
    pub tls_cipher_suites: String,
}

/// `secrets.tlsCerts` (create mode).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsCerts {
    /// `ca.crt`.
    pub ca_cert: String,
    /// `client.crt`.
    pub client_cert: String,
    /// `client.key`.
    pub client_key: String,
}

impl TlsCerts {
    /// Whether any certificate was given.
    pub fn any(&self) -> bool {
        !(self.ca_cert.is_empty() && self.client_cert.is_empty() && self.client_key.is_empty())
    }
}

/// Validated peer-pods settings: everything the peer-pods objects need.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerPods {
    /// The namespace of CAA and peerpod-ctrl (the chart's release namespace).
    pub namespace: String,
    /// The namespace of the webhook: `webhook.namespaceOverride`, or the release namespace
    /// when that is empty (the sub-chart's `namespaceOverride | default .Release.Namespace`).
    pub webhook_namespace: String,
    /// `resourceCtrl.namePrefix`: the start of every peerpod-ctrl object's name.
    pub ctrl_prefix: String,
    /// `webhook.namePrefix`: the start of every webhook object's name.
    pub webhook_prefix: String,
    /// `provider`.
    pub provider: Provider,
    /// `peer-pods-cm` data: `CLOUD_PROVIDER`, the provider's configs, the TLS profile and
    /// `PEERPODS_LIMIT_PER_NODE`, each value exactly the string given.
    pub config: BTreeMap<String, String>,
    /// `secrets.mode`.
    pub mode: SecretsMode,
    /// Create mode: `peer-pods-secret` data (credentials, without the SSH keys).
    pub credentials: BTreeMap<String, String>,
    /// Create mode: `ssh-key-secret` data (`id_rsa`, `id_rsa.pub`), libvirt and byom only.
    pub ssh_keys: BTreeMap<String, String>,
    /// Create mode: the custom TLS certificates.
    pub tls_certs: TlsCerts,
    /// The Secret both CAA and peerpod-ctrl take credentials from (`None` in reference mode
    /// without `existingSecretName`).
    pub credentials_secret: Option<String>,
    /// The SSH key Secret CAA (libvirt, byom) and peerpod-ctrl mount.
    pub ssh_key_secret: Option<String>,
    /// The TLS Secret CAA mounts at `/etc/certificates` (`None` = automatic certificates).
    pub tls_secret: Option<String>,
    /// The CAA image.
    pub image: Image,
    /// `daemonset.updateStrategy.maxUnavailable`.
    pub max_unavailable: IntOrString,
    /// `daemonset.updateStrategy.maxSurge`.
    pub max_surge: IntOrString,
    /// `daemonset.podLabels`.
    pub pod_labels: BTreeMap<String, String>,
    /// `daemonset.serviceAccount.annotations`.
    pub service_account_annotations: BTreeMap<String, String>,
    /// `resourceCtrl.*` when enabled.
    pub resource_ctrl: Option<ResourceCtrl>,
    /// `webhook.*` when enabled.
    pub webhook: Option<Webhook>,
}

/// Whether the merged values turn peer pods on.
pub fn enabled(values: &Value) -> bool {
    match tree::get(values, &["peerpods", "enabled"]) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

fn shim_enabled(values: &Value, name: &str) -> bool {
    let disable_all = matches!(
        tree::get(values, &["shims", "disableAll"]),
        Some(Value::Bool(true))
    ) || matches!(tree::get(values, &["shims", "disableAll"]), Some(Value::String(s)) if s == "true");
    match tree::get(values, &["shims", name, "enabled"]) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => !disable_all,
    }
}

/// With peer pods on, makes sure kata-deploy installs the `remote` shim (nydus, guest pull,
/// docs/peerpods.md#mixed-clusters): a profile without it (x86_64 with `--set
/// peerpods.enabled=true`, a mixed cluster) gets it on the architectures its other shims
/// run on. A user who disabled `remote` explicitly is told why that cannot work.
pub fn add_remote_shim(values: &mut Value, prov: &Provenance) -> Result<(), Problem> {
    if !enabled(values) {
        return Ok(());
    }
    if shim_enabled(values, "remote") {
        return Ok(());
    }
    if prov.contains_key("shims.remote.enabled") {
        let src = prov.get("shims.remote.enabled").map(|(_, s)| s.clone());
        return Err(Problem::new(
            "shims.remote.enabled",
            "is false, but peer pods (peerpods.enabled) run every pod through kata-deploy's `remote` shim",
            "remove shims.remote.enabled=false, or --set peerpods.enabled=false",
        )
        .from(src));
    }
    let remote = shim_by_name("remote").map_or(&[][..], |s| s.arches);
    let mut arches: Vec<Arch> = SHIMS
        .iter()
        .filter(|s| s.name != "remote" && shim_enabled(values, s.name))
        .flat_map(|s| {
            let given: Vec<Arch> = match tree::get(values, &["shims", s.name, "supportedArches"]) {
                Some(Value::Sequence(seq)) => seq
                    .iter()
                    .filter_map(|a| a.as_str().and_then(Arch::from_k8s_name))
                    .collect(),
                _ => s.arches.to_vec(),
            };
            given
        })
        .filter(|a| remote.contains(a))
        .collect();
    arches.sort();
    arches.dedup();
    if arches.is_empty() {
        arches = remote.to_vec();
    }
    let names = Value::Sequence(
        arches
            .iter()
            .map(|a| Value::String(a.k8s_name().into()))
            .collect(),
    );
    tree::set(values, &["shims", "remote", "enabled"], Value::Bool(true));
    tree::set(values, &["shims", "remote", "supportedArches"], names);
    tree::set(
        values,
        &["shims", "remote", "containerd", "snapshotter"],
        Value::String("nydus".into()),
    );
    tree::set(
        values,
        &["shims", "remote", "crio", "guestPull"],
        Value::Bool(true),
    );
    let setup = match tree::get(values, &["snapshotter", "setup"]) {
        Some(Value::Sequence(s)) => s.clone(),
        _ => vec![],
    };
    if !setup.iter().any(|s| s.as_str() == Some("nydus")) {
        let mut setup = setup;
        setup.push(Value::String("nydus".into()));
        tree::set(values, &["snapshotter", "setup"], Value::Sequence(setup));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_parse_and_pin_the_release() {
        let d = defaults();
        for image in [
            &d["image"],
            &d["resourceCtrl"]["image"],
            &d["webhook"]["image"],
        ] {
            assert_eq!(image["tag"], Value::from(CAA_RELEASE_COMMIT));
        }
        assert_eq!(d["enabled"], Value::Bool(false));
    }
}
