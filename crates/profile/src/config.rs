//! The validated configuration: everything the manifests need, typed, with the chart's
//! defaults applied and every cross-field rule already checked.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::DaemonSetUpdateStrategy;
use k8s_openapi::api::core::v1::{
    Affinity, LocalObjectReference, ResourceRequirements, Toleration,
};

use cococtl_core::catalog::Shim;
use cococtl_core::Arch;

/// A kata-deploy version the tool has a contract for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KataVersion {
    V4_1_0,
}

impl KataVersion {
    pub const SUPPORTED: &'static [KataVersion] = &[KataVersion::V4_1_0];
    pub const DEFAULT: KataVersion = KataVersion::V4_1_0;

    pub fn as_str(self) -> &'static str {
        match self {
            KataVersion::V4_1_0 => "4.1.0",
        }
    }

    pub fn parse(s: &str) -> Option<KataVersion> {
        let s = s.strip_prefix('v').unwrap_or(s);
        KataVersion::SUPPORTED
            .iter()
            .copied()
            .find(|v| v.as_str() == s)
    }
}

/// One enabled shim with its effective settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ShimConfig {
    pub shim: &'static Shim,
    /// Architectures it is enabled for (`supportedArches`), in [`Arch::ALL`] order.
    pub arches: Vec<Arch>,
    pub allowed_hypervisor_annotations: Vec<String>,
    /// `containerd.snapshotter` (`""` = none).
    pub snapshotter: String,
    pub force_guest_pull: bool,
    pub crio_guest_pull: bool,
    pub https_proxy: String,
    pub no_proxy: String,
    /// `runtimeClass.nodeSelector` from the values.
    pub node_selector: BTreeMap<String, String>,
    /// `runtimeClass.overhead` overrides merged over the catalog's table entry.
    pub overhead: BTreeMap<String, String>,
    pub overhead_enabled: bool,
    /// `dropIn`: TOML the binary installs as the shim's `50-user-overrides.toml`.
    pub drop_in: String,
}

impl ShimConfig {
    pub fn name(&self) -> &'static str {
        self.shim.name
    }
}

/// Which kata-deploy health probes are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    pub startup: bool,
    pub liveness: bool,
    pub readiness: bool,
}

/// `runtimeClasses.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeClasses {
    pub enabled: bool,
    pub create_default: bool,
    pub default_name: String,
    pub overhead_enabled: bool,
}

/// `customContainerd.*`, validated; present only when enabled.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomContainerd {
    /// What the agent is told: tarballs per arch, mode, and the explicit allowances.
    pub agent: cococtl_core::agent::Settings,
    pub image: String,
    pub image_pull_policy: String,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
}

/// Everything `render` and `install` need, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub kata_version: KataVersion,
    pub namespace: String,
    /// Chart name the objects are named after (`kata-deploy`).
    pub chart_name: String,
    /// Release name (names the state ConfigMap).
    pub release_name: String,
    /// `env.multiInstallSuffix` (empty = none).
    pub suffix: String,
    /// Full image reference (`repo:tag` or `repo@digest`).
    pub image: String,
    pub image_pull_policy: String,
    pub image_pull_secrets: Vec<LocalObjectReference>,
    pub kubectl_image: String,
    pub k8s_distribution: cococtl_core::Distribution,
    pub debug: bool,
    pub devkit: bool,
    /// `--log-level` for the binary, if any.
    pub log_level: Option<String>,
    /// Enabled shims, sorted by name.
    pub shims: Vec<ShimConfig>,
    /// `defaultShim.<arch>` as given (emitted only where that shim is enabled).
    pub default_shim: BTreeMap<Arch, String>,
    pub snapshotter_setup: Vec<String>,
    pub erofs_merge_mode: String,
    pub erofs_snapshotter_mode: String,
    pub erofs_dmverity: bool,
    pub installation_prefix: String,
    pub host_os: String,
    pub containerd_config_dir: String,
    pub containerd_config_file_name: String,
    /// `containerd.userDropIn`: TOML loaded after kata's containerd drop-in.
    pub containerd_user_drop_in: String,
    pub startup_taints: Vec<String>,
    pub runtime_classes: RuntimeClasses,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
    pub affinity: Option<Affinity>,
    pub priority_class_name: String,
    pub resources: ResourceRequirements,
    pub update_strategy: DaemonSetUpdateStrategy,
    pub health: Health,
    pub pod_labels: BTreeMap<String, String>,
    pub pod_annotations: BTreeMap<String, String>,
    /// Architectures the kata-deploy DaemonSet can be scheduled on (from its arch affinity).
    pub schedulable_arches: Vec<Arch>,
    pub custom_containerd: Option<CustomContainerd>,
}

impl Config {
    /// Enabled shims built for `arch`, sorted by name (the chart's `SHIMS_<ARCH>`).
    pub fn shims_for(&self, arch: Arch) -> impl Iterator<Item = &ShimConfig> {
        self.shims.iter().filter(move |s| s.arches.contains(&arch))
    }

    /// `defaultShim.<arch>` when that shim is enabled for `arch` (else the chart omits it).
    pub fn default_shim_for(&self, arch: Arch) -> Option<&str> {
        let d = self.default_shim.get(&arch)?;
        self.shims_for(arch)
            .any(|s| s.name() == d)
            .then_some(d.as_str())
    }

    /// `kata-deploy` or `kata-deploy-<suffix>`: the DaemonSet and pod-label name.
    pub fn base_name(&self) -> String {
        self.suffixed(&self.chart_name)
    }

    /// `<name>` or `<name>-<suffix>`.
    pub fn suffixed(&self, name: &str) -> String {
        if self.suffix.is_empty() {
            name.to_string()
        } else {
            format!("{name}-{}", self.suffix)
        }
    }

    /// The 4.1 per-install ownership marker value: the suffix or `default`.
    pub fn instance(&self) -> &str {
        if self.suffix.is_empty() {
            "default"
        } else {
            &self.suffix
        }
    }
}
