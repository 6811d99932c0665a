//! The merged values tree read into Rust types, before cross-field validation. Field names
//! follow the chart's values (camelCase); every field has a value because the chart
//! defaults are merged underneath.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::DaemonSetUpdateStrategy;
use k8s_openapi::api::core::v1::{
    Affinity, LocalObjectReference, ResourceRequirements, SecurityContext, Toleration,
};
use serde::{Deserialize, Deserializer};

/// Accepts a string, number or bool as a string (`tag: 4.1` or `multiInstallSuffix: 2` in a
/// values file mean the text, as in Helm templates).
pub(crate) fn stringish<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Int(i64),
        Float(f64),
        Bool(bool),
        Null(()),
    }
    Ok(match Scalar::deserialize(d)? {
        Scalar::Text(s) => s,
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => f.to_string(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Null(()) => String::new(),
    })
}

/// A map of strings (labels, selectors, annotations, per-arch URLs): `--set a.b=true` gives a
/// boolean in Helm, which the API server would then reject for a label value; here any
/// scalar is kept as its text.
pub(crate) fn string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    struct Text(#[serde(deserialize_with = "stringish")] String);
    let m = Option::<BTreeMap<String, Text>>::deserialize(d)?;
    Ok(m.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

/// `true`/`false`, also quoted (`debug: "false"` is common in the CoCo chart's files).
pub(crate) fn boolish<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum BoolOrText {
        Bool(bool),
        Text(String),
    }
    match BoolOrText::deserialize(d)? {
        BoolOrText::Bool(b) => Ok(b),
        BoolOrText::Text(s) if s == "true" => Ok(true),
        BoolOrText::Text(s) if s == "false" || s.is_empty() => Ok(false),
        BoolOrText::Text(s) => Err(serde::de::Error::custom(format!(
            "`{s}` is not a boolean (use true or false)"
        ))),
    }
}

fn opt_boolish<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    struct W(#[serde(deserialize_with = "boolish")] bool);
    Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Values {
    pub image_pull_policy: String,
    pub image_pull_secrets: Vec<LocalObjectReference>,
    pub image: Image,
    pub k8s_distribution: String,
    pub deployment_mode: String,
    #[serde(deserialize_with = "string_map")]
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
    pub affinity: Affinity,
    pub priority_class_name: String,
    pub resources: ResourceRequirements,
    pub update_strategy: DaemonSetUpdateStrategy,
    #[serde(deserialize_with = "string_map")]
    pub pod_labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "string_map")]
    pub pod_annotations: BTreeMap<String, String>,
    #[serde(deserialize_with = "boolish")]
    pub debug: bool,
    #[serde(deserialize_with = "boolish")]
    pub devkit: bool,
    #[serde(deserialize_with = "stringish")]
    pub log_level: String,
    pub startup_taints: Vec<StartupTaint>,
    pub env: Env,
    pub containerd: Containerd,
    pub snapshotter: Snapshotter,
    pub health: Health,
    pub runtime_classes: RuntimeClasses,
    #[serde(deserialize_with = "string_map")]
    pub default_shim: BTreeMap<String, String>,
    pub shims: BTreeMap<String, serde_yaml::Value>,
    pub custom_runtimes: CustomRuntimes,
    pub monitor: Monitor,
    pub verification: Verification,
    pub node_feature_rules: NodeFeatureRules,
    #[serde(rename = "node-feature-discovery")]
    pub node_feature_discovery: Toggle,
    pub kubectl_image: Image,
    pub custom_containerd: CustomContainerd,
    pub probe: Probe,
    pub global: Global,
    pub proxy: Proxy,
}

/// `global.*`, Helm's common keys (docs/values.md#global).
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Global {
    #[serde(deserialize_with = "stringish")]
    pub image_registry: String,
    pub image_pull_secrets: Vec<PullSecret>,
}

/// A `global.imagePullSecrets` entry: charts take both `- name` and `- {name: name}`.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum PullSecret {
    Name(String),
    Object { name: String },
}

impl PullSecret {
    pub fn name(&self) -> &str {
        match self {
            PullSecret::Name(n) | PullSecret::Object { name: n } => n,
        }
    }
}

/// `proxy.*` (docs/values.md#proxy).
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Proxy {
    #[serde(deserialize_with = "stringish")]
    pub https_proxy: String,
    #[serde(deserialize_with = "stringish")]
    pub http_proxy: String,
    #[serde(deserialize_with = "stringish")]
    pub no_proxy: String,
    #[serde(deserialize_with = "boolish")]
    pub containerd: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Image {
    #[serde(deserialize_with = "stringish")]
    pub reference: String,
    #[serde(deserialize_with = "stringish")]
    pub tag: String,
}

/// `startupTaints` entries: `key`, `key:effect`, or `{key, effect}`.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum StartupTaint {
    Text(String),
    Object { key: String, effect: Option<String> },
}

impl StartupTaint {
    pub fn render(&self) -> String {
        match self {
            StartupTaint::Text(s) => s.clone(),
            StartupTaint::Object {
                key,
                effect: Some(e),
            } if !e.is_empty() => format!("{key}:{e}"),
            StartupTaint::Object { key, .. } => key.clone(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Env {
    #[serde(deserialize_with = "stringish")]
    pub installation_prefix: String,
    #[serde(deserialize_with = "stringish")]
    pub multi_install_suffix: String,
    #[serde(rename = "hostOS", deserialize_with = "stringish")]
    pub host_os: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Containerd {
    #[serde(deserialize_with = "stringish")]
    pub config_dir: String,
    #[serde(deserialize_with = "stringish")]
    pub config_file_name: String,
    #[serde(deserialize_with = "stringish")]
    pub user_drop_in: String,
    #[serde(deserialize_with = "stringish")]
    pub runtime_socket: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Snapshotter {
    pub setup: Vec<String>,
    #[serde(deserialize_with = "stringish")]
    pub erofs_merge_mode: String,
    #[serde(deserialize_with = "stringish")]
    pub erofs_snapshotter_mode: String,
    #[serde(deserialize_with = "boolish")]
    pub erofs_dmverity: bool,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Health {
    pub port: i64,
    pub startup_probe: Toggle,
    pub liveness_probe: Toggle,
    pub readiness_probe: Toggle,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Toggle {
    #[serde(deserialize_with = "boolish")]
    pub enabled: bool,
    pub initial_delay_seconds: Option<i64>,
    pub period_seconds: i64,
    pub failure_threshold: i64,
    pub timeout_seconds: i64,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct RuntimeClasses {
    #[serde(deserialize_with = "boolish")]
    pub enabled: bool,
    #[serde(deserialize_with = "boolish")]
    pub create_default: bool,
    #[serde(deserialize_with = "stringish")]
    pub default_name: String,
    #[serde(deserialize_with = "boolish")]
    pub overhead_enabled: bool,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Verification {
    #[serde(deserialize_with = "stringish")]
    pub pod: String,
    #[serde(deserialize_with = "stringish")]
    pub namespace: String,
    #[serde(deserialize_with = "stringish")]
    pub timeout: String,
    #[serde(deserialize_with = "stringish")]
    pub daemonset_timeout: String,
}

/// `monitor.*`: the optional kata-monitor DaemonSet (docs/values.md#monitor).
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Monitor {
    #[serde(deserialize_with = "boolish")]
    pub enabled: bool,
    pub image: Image,
    #[serde(deserialize_with = "stringish")]
    pub listen_address: String,
    #[serde(deserialize_with = "stringish")]
    pub log_level: String,
    #[serde(deserialize_with = "stringish")]
    pub runtime_endpoint: String,
    pub port: i64,
    pub security_context: Option<SecurityContext>,
    pub resources: ResourceRequirements,
}

/// `customRuntimes.*` (docs/values.md#customruntimes); each runtime is read on its own so
/// an error names its key path.
#[derive(Deserialize, Default, Clone)]
#[serde(default, deny_unknown_fields)]
pub struct CustomRuntimes {
    #[serde(deserialize_with = "boolish")]
    pub enabled: bool,
    pub runtimes: BTreeMap<String, serde_yaml::Value>,
}

/// One `customRuntimes.runtimes.<name>` entry.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomRuntime {
    #[serde(default, deserialize_with = "stringish")]
    pub base_config: String,
    #[serde(default, deserialize_with = "stringish")]
    pub drop_in: String,
    #[serde(default, deserialize_with = "stringish")]
    pub runtime_class: String,
    #[serde(default, deserialize_with = "opt_boolish")]
    pub inherit_base_overhead: Option<bool>,
    #[serde(default)]
    pub containerd: CustomRuntimeContainerd,
    #[serde(default)]
    pub crio: CustomRuntimeCrio,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomRuntimeContainerd {
    #[serde(default, deserialize_with = "stringish")]
    pub snapshotter: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomRuntimeCrio {
    #[serde(default, deserialize_with = "stringish")]
    pub pull_type: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NodeFeatureRules {
    #[serde(deserialize_with = "stringish")]
    pub create: String,
}

/// One `shims.<name>` entry.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShimValues {
    #[serde(default, deserialize_with = "opt_boolish")]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub supported_arches: Vec<String>,
    #[serde(default)]
    pub allowed_hypervisor_annotations: Vec<String>,
    #[serde(default, deserialize_with = "stringish")]
    pub drop_in: String,
    #[serde(default)]
    pub containerd: ShimContainerd,
    #[serde(default)]
    pub crio: ShimCrio,
    #[serde(default)]
    pub agent: ShimAgent,
    #[serde(default)]
    pub runtime_class: ShimRuntimeClass,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ShimContainerd {
    #[serde(default, deserialize_with = "stringish")]
    pub snapshotter: String,
    #[serde(default, deserialize_with = "boolish")]
    pub force_guest_pull: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ShimCrio {
    #[serde(default, deserialize_with = "boolish")]
    pub guest_pull: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ShimAgent {
    #[serde(default, deserialize_with = "stringish")]
    pub https_proxy: String,
    #[serde(default, deserialize_with = "stringish")]
    pub no_proxy: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ShimRuntimeClass {
    #[serde(default)]
    #[serde(deserialize_with = "string_map")]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default)]
    pub overhead: BTreeMap<String, serde_yaml::Value>,
    /// Unset follows `runtimeClasses.overheadEnabled`; set, it wins over it either way.
    #[serde(default, deserialize_with = "opt_boolish")]
    pub overhead_enabled: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct Probe {
    #[serde(deserialize_with = "boolish")]
    pub enabled: bool,
    #[serde(deserialize_with = "stringish")]
    pub interval: String,
    #[serde(deserialize_with = "boolish")]
    pub tee_labels: bool,
    pub image: AgentImage,
    #[serde(deserialize_with = "string_map")]
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct CustomContainerd {
    #[serde(deserialize_with = "boolish")]
    pub enabled: bool,
    #[serde(deserialize_with = "stringish")]
    pub tarball_url: String,
    #[serde(deserialize_with = "string_map")]
    pub tarball_urls: BTreeMap<String, String>,
    #[serde(deserialize_with = "stringish")]
    pub sha256: String,
    #[serde(deserialize_with = "string_map")]
    pub sha256s: BTreeMap<String, String>,
    #[serde(deserialize_with = "stringish")]
    pub checksum_url: String,
    #[serde(deserialize_with = "string_map")]
    pub checksum_urls: BTreeMap<String, String>,
    #[serde(deserialize_with = "stringish")]
    pub mode: String,
    #[serde(deserialize_with = "boolish")]
    pub allow_insecure_http: bool,
    #[serde(deserialize_with = "boolish")]
    pub allow_unverified: bool,
    #[serde(deserialize_with = "stringish")]
    pub pull_secret: String,
    #[serde(rename = "registryCA", deserialize_with = "stringish")]
    pub registry_ca: String,
    pub image: AgentImage,
    #[serde(deserialize_with = "string_map")]
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct AgentImage {
    #[serde(deserialize_with = "stringish")]
    pub repository: String,
    #[serde(deserialize_with = "stringish")]
    pub tag: String,
    /// `sha256:<hex>`: pins the image by digest next to its tag.
    #[serde(deserialize_with = "stringish")]
    pub digest: String,
    #[serde(deserialize_with = "stringish")]
    pub pull_policy: String,
}
