//! The validated configuration: everything the manifests need, typed, with the chart's
//! defaults applied and every cross-field rule already checked.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::DaemonSetUpdateStrategy;
use k8s_openapi::api::core::v1::{
    Affinity, LocalObjectReference, ResourceRequirements, SecurityContext, Toleration,
};
use k8s_openapi::api::node::v1::RuntimeClass;

use cococtl_core::catalog::Shim;
use cococtl_core::Arch;

/// A kata-deploy version the tool has a contract for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KataVersion {
    /// kata-deploy 4.1.0.
    V4_1_0,
}

impl KataVersion {
    /// Every supported version, oldest first.
    pub const SUPPORTED: &'static [KataVersion] = &[KataVersion::V4_1_0];
    /// The version rendered without `--kata-version`.
    pub const DEFAULT: KataVersion = KataVersion::V4_1_0;

    /// `4.1.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            KataVersion::V4_1_0 => "4.1.0",
        }
    }

    /// A supported version from `4.1.0` or `v4.1.0`.
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
    /// The catalog entry (name, isolation, arches it builds for, default overhead).
    pub shim: &'static Shim,
    /// Architectures it is enabled for (`supportedArches`), in [`Arch::ALL`] order.
    pub arches: Vec<Arch>,
    /// `allowedHypervisorAnnotations`.
    pub allowed_hypervisor_annotations: Vec<String>,
    /// `containerd.snapshotter` (`""` = none).
    pub snapshotter: String,
    /// `containerd.forceGuestPull`.
    pub force_guest_pull: bool,
    /// `crio.guestPull`.
    pub crio_guest_pull: bool,
    /// `agent.httpsProxy` (`""` = none).
    pub https_proxy: String,
    /// `agent.noProxy` (`""` = none).
    pub no_proxy: String,
    /// `runtimeClass.nodeSelector` from the values.
    pub node_selector: BTreeMap<String, String>,
    /// `runtimeClass.overhead` overrides merged over the catalog's table entry.
    pub overhead: BTreeMap<String, String>,
    /// `runtimeClass.overheadEnabled`: whether its RuntimeClass gets a `podFixed` overhead.
    pub overhead_enabled: bool,
    /// `dropIn`: TOML the binary installs as the shim's `50-user-overrides.toml`.
    pub drop_in: String,
}

impl ShimConfig {
    /// The shim's name, e.g. `qemu-snp`.
    pub fn name(&self) -> &'static str {
        self.shim.name
    }
}

/// The kata-deploy health server (`health.*`): its port and the three probes on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// `health.port`: `HEALTH_PORT` and the port of every probe.
    pub port: u16,
    /// `startupProbe`, `None` when disabled.
    pub startup: Option<ProbeTiming>,
    /// `livenessProbe`, `None` when disabled.
    pub liveness: Option<ProbeTiming>,
    /// `readinessProbe`, `None` when disabled.
    pub readiness: Option<ProbeTiming>,
}

/// One probe's timing (`health.<probe>.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeTiming {
    /// `initialDelaySeconds` (`None` = omitted).
    pub initial_delay_seconds: Option<i32>,
    /// `periodSeconds`.
    pub period_seconds: i32,
    /// `failureThreshold`.
    pub failure_threshold: i32,
    /// `timeoutSeconds`.
    pub timeout_seconds: i32,
}

/// `runtimeClasses.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeClasses {
    /// `runtimeClasses.enabled`: render RuntimeClasses at all.
    pub enabled: bool,
    /// `runtimeClasses.createDefault`: also the cluster-wide default alias.
    pub create_default: bool,
    /// `runtimeClasses.defaultName`: the alias's name.
    pub default_name: String,
    /// `runtimeClasses.overheadEnabled`: RuntimeClasses carry pod overheads.
    pub overhead_enabled: bool,
}

/// `monitor.*`, validated; present only when `monitor.enabled` (docs/values.md#monitor).
#[derive(Debug, Clone, PartialEq)]
pub struct Monitor {
    /// The kata-monitor image reference (`monitor.image`, tag defaulting to AppVersion).
    pub image: String,
    /// `-listen-address`.
    pub listen_address: String,
    /// `-log-level`: `monitor.logLevel`, else `logLevel`, else `debug` with `debug: true`,
    /// else `info`.
    pub log_level: String,
    /// `-runtime-endpoint`: `monitor.runtimeEndpoint`, else `containerd.runtimeSocket`, else
    /// the distribution's CRI socket.
    pub runtime_endpoint: String,
    /// The host directory holding that socket, mounted at the same path.
    pub socket_dir: String,
    /// `containerPort` (`monitor.port`).
    pub port: i32,
    /// The container's `securityContext` as given.
    pub security_context: SecurityContext,
    /// The container's `resources` as given.
    pub resources: ResourceRequirements,
}

/// One `customRuntimes.runtimes.<name>` entry, validated (docs/values.md#customruntimes).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomRuntime {
    /// The key under `customRuntimes.runtimes`.
    pub name: String,
    /// The containerd/CRI-O handler, from the `handler:` line of `runtimeClass`.
    pub handler: String,
    /// `baseConfig`: the catalog shim whose configuration the runtime starts from.
    pub base: &'static Shim,
    /// `dropIn`: TOML installed over the base configuration (`""` = none).
    pub drop_in: String,
    /// `containerd.snapshotter` (`""` = none).
    pub snapshotter: String,
    /// `crio.pullType` (`""` = none).
    pub pull_type: String,
    /// `runtimeClass`, parsed. The chart only ever renders entries that have one.
    pub runtime_class: RuntimeClass,
    /// `inheritBaseOverhead`: merge the base shim's overhead table entry under the class's
    /// own `overhead.podFixed`.
    pub inherit_base_overhead: bool,
}

/// `probe.*`, validated; present only when enabled (docs/values.md#probe).
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// `cococtl node probe --interval` value (`30s`, `10m`, `1h`).
    pub interval: String,
    /// Also publish the NFD TEE labels kata-deploy's RuntimeClasses select on, on nodes
    /// where the probe found the TEE ready (and render those selectors).
    pub tee_labels: bool,
    /// The agent image (cococtl's own).
    pub image: String,
    /// Its pull policy.
    pub image_pull_policy: String,
    /// Narrows where the probe runs.
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations of the probe pods.
    pub tolerations: Vec<Toleration>,
}

/// `customContainerd.*`, validated; present only when enabled.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomContainerd {
    /// What the agent is told: tarballs per arch, mode, and the explicit allowances.
    pub agent: cococtl_core::agent::Settings,
    /// The agent's image reference.
    pub image: String,
    /// The agent's `imagePullPolicy`.
    pub image_pull_policy: String,
    /// Narrows the agent to these nodes (on top of kata-deploy's own node selector).
    pub node_selector: BTreeMap<String, String>,
    /// The agent pods' tolerations.
    pub tolerations: Vec<Toleration>,
    /// `pullSecret`: the `kubernetes.io/dockerconfigjson` Secret the agent reads its
    /// `oci://` registry login from (`None`: the pod's first `imagePullSecrets`, if any).
    pub pull_secret: Option<String>,
}

/// Everything `render` and `install` need, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The kata-deploy version the objects are rendered for.
    pub kata_version: KataVersion,
    /// The install namespace.
    pub namespace: String,
    /// Chart name the objects are named after (`kata-deploy`).
    pub chart_name: String,
    /// Release name (names the state ConfigMap).
    pub release_name: String,
    /// `env.multiInstallSuffix` (empty = none).
    pub suffix: String,
    /// Full image reference (`repo:tag` or `repo@digest`).
    pub image: String,
    /// `imagePullPolicy` of the kata-deploy container.
    pub image_pull_policy: String,
    /// `imagePullSecrets` of the kata-deploy pods (with `global.imagePullSecrets` merged in).
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// The image of the uninstall RBAC-cleanup Job (`kubectlImage`).
    pub kubectl_image: String,
    /// `k8sDistribution`: where the containerd configuration lives.
    pub k8s_distribution: cococtl_core::Distribution,
    /// `debug`: debug logging and the `-debug` RuntimeClasses.
    pub debug: bool,
    /// `devkit` (with `debug`): the `-devkit` RuntimeClasses and `DEVKIT=true`.
    pub devkit: bool,
    /// `--log-level` for the binary, if any.
    pub log_level: Option<String>,
    /// Enabled shims, sorted by name.
    pub shims: Vec<ShimConfig>,
    /// `defaultShim.<arch>` as given (emitted only where that shim is enabled).
    pub default_shim: BTreeMap<Arch, String>,
    /// `snapshotter.setup`: snapshotters kata-deploy installs (`nydus`, `erofs`).
    pub snapshotter_setup: Vec<String>,
    /// `snapshotter.erofsMergeMode` (`""` = unset).
    pub erofs_merge_mode: String,
    /// `snapshotter.erofsSnapshotterMode` (`""` = unset).
    pub erofs_snapshotter_mode: String,
    /// `snapshotter.erofsDmverity`.
    pub erofs_dmverity: bool,
    /// `env.installationPrefix` (`""` = `/opt/kata`).
    pub installation_prefix: String,
    /// `env.hostOS` (`""` = unset).
    pub host_os: String,
    /// `containerd.configDir`: overrides the distribution's containerd directory.
    pub containerd_config_dir: String,
    /// `containerd.configFileName` (`""` = the binary's default).
    pub containerd_config_file_name: String,
    /// `containerd.userDropIn`: TOML loaded after kata's containerd drop-in.
    pub containerd_user_drop_in: String,
    /// `startupTaints`: taints the binary removes once the node is ready.
    pub startup_taints: Vec<String>,
    /// `runtimeClasses.*`.
    pub runtime_classes: RuntimeClasses,
    /// `nodeSelector` of the kata-deploy pods.
    pub node_selector: BTreeMap<String, String>,
    /// `tolerations` of the kata-deploy pods.
    pub tolerations: Vec<Toleration>,
    /// `affinity` of the kata-deploy pods.
    pub affinity: Option<Affinity>,
    /// `priorityClassName` of the kata-deploy pods (`""` = none).
    pub priority_class_name: String,
    /// `resources` of the kata-deploy container.
    pub resources: ResourceRequirements,
    /// `updateStrategy` of the DaemonSet.
    pub update_strategy: DaemonSetUpdateStrategy,
    /// Which health probes are on.
    pub health: Health,
    /// `podLabels`.
    pub pod_labels: BTreeMap<String, String>,
    /// `podAnnotations`.
    pub pod_annotations: BTreeMap<String, String>,
    /// Architectures the kata-deploy DaemonSet can be scheduled on (from its arch affinity).
    pub schedulable_arches: Vec<Arch>,
    /// `customContainerd.*`, when enabled.
    pub custom_containerd: Option<CustomContainerd>,
    /// `monitor.*`, when enabled: the kata-monitor DaemonSet.
    pub monitor: Option<Monitor>,
    /// `customRuntimes.runtimes`, sorted by key; empty unless `customRuntimes.enabled`.
    pub custom_runtimes: Vec<CustomRuntime>,
    /// Whether the NodeFeatureRule is rendered and the TEE RuntimeClasses request the TEE
    /// keys it advertises (`nodeFeatureRules.create`, docs/values.md#nodefeaturerules).
    pub node_feature_rules: NodeFeatureRules,
    /// `verification.pod`, when given: the pod `install` runs once the release is ready,
    /// as the chart's post-install verification Job does (docs/values.md#verification).
    pub verification: Option<Verification>,
    /// `probe.*`, when enabled.
    pub probe: Option<Probe>,
    /// `peerpods.*`, when enabled (docs/peerpods.md).
    pub peerpods: Option<crate::peerpods::PeerPods>,
    /// `global.*` (docs/values.md#global).
    pub global: Global,
    /// `proxy.httpsProxy`/`httpProxy`/`noProxy` (docs/values.md#proxy).
    pub proxy: cococtl_core::proxy::Proxy,
    /// `proxy.containerd`: the node agent also gives containerd the proxy (a systemd
    /// drop-in and a restart).
    pub proxy_containerd: bool,
}

/// `nodeFeatureRules.create`: `true` and `false` are final; `auto` depends on whether Node
/// Feature Discovery is on the cluster, which only an install can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NodeFeatureRules {
    /// `auto`: rendered when NFD is found on the cluster (resolved by the installer with
    /// [`NodeFeatureRules::resolve`]); offline it means off.
    #[default]
    Auto,
    /// `true`: always rendered.
    On,
    /// `false`: never rendered.
    Off,
}

impl NodeFeatureRules {
    /// Whether the rule is rendered, given whether NFD was found on the cluster (the
    /// chart's `kata-deploy.nfdRulesActive`: this release's NFD, an existing NFD, or the
    /// `nfd.k8s-sigs.io/v1alpha1` API). Offline `render` passes `false`.
    pub fn resolve(self, nfd_found: bool) -> bool {
        match self {
            NodeFeatureRules::On => true,
            NodeFeatureRules::Off => false,
            NodeFeatureRules::Auto => nfd_found,
        }
    }

    /// `auto` settled for a cluster where NFD was (`nfd_found`) or was not found; `true` and
    /// `false` stay. The installer stores the result back in [`Config::node_feature_rules`].
    pub fn resolved(self, nfd_found: bool) -> NodeFeatureRules {
        if self.resolve(nfd_found) {
            NodeFeatureRules::On
        } else {
            NodeFeatureRules::Off
        }
    }

    /// Whether the objects render the rule now: only `true` (or `auto` once resolved to it).
    pub fn active(self) -> bool {
        self == NodeFeatureRules::On
    }
}

/// `global.*`, Helm's common keys: already applied to every image reference in the
/// [`Config`]; the pull secrets are for the renderer to put on every pod spec.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Global {
    /// `global.imageRegistry` (`None` = no mirror), without a trailing `/`.
    pub image_registry: Option<String>,
    /// `global.imagePullSecrets`, in the order given, without duplicates.
    pub image_pull_secrets: Vec<LocalObjectReference>,
}

impl Global {
    /// `reference` as pods of this install pull it: moved to the mirror when one is set.
    pub fn mirrored(&self, reference: &str) -> String {
        match &self.image_registry {
            Some(r) => crate::mirror::rewrite(reference, r),
            None => reference.to_string(),
        }
    }

    /// `own` followed by the global pull secrets it does not already name.
    pub fn pull_secrets_with(&self, own: &[LocalObjectReference]) -> Vec<LocalObjectReference> {
        let mut out = own.to_vec();
        for s in &self.image_pull_secrets {
            if !out.iter().any(|o| o.name == s.name) {
                out.push(s.clone());
            }
        }
        out
    }
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

/// The chart's verification Job, as `install` runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    /// The user's Pod, parsed (typed; its namespace is [`Verification::namespace`]).
    pub pod: k8s_openapi::api::core::v1::Pod,
    /// `verification.namespace`.
    pub namespace: String,
    /// `verification.timeout`: how long the pod may take to succeed.
    pub timeout_secs: u64,
}
