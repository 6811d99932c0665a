//! Cross-field validation: the merged values become a [`Config`] or a list of problems, each
//! naming the key, the input that set it and the fix. Covers the contract's gotchas: an
//! empty shim list on a schedulable arch (docs/kata-deploy-contract.md#g4), a default shim that is not
//! enabled (docs/kata-deploy-contract.md#g5) and a nydus mapping without the nydus snapshotter set up
//! (docs/kata-deploy-contract.md#g7); and refuses chart features not rendered yet.

use cococtl_core::Distribution;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, LocalObjectReference};
use serde_yaml::Value;

use crate::config::*;
use crate::error::{Problem, Warning};
use crate::names;
use crate::raw;
use crate::schema::did_you_mean;
use crate::source::Source;
use cococtl_core::Arch;

mod custom_runtimes;
mod features;
mod monitor;
mod peerpods;
mod per_arch;
mod shims;
mod verification;

pub use monitor::{distribution_socket, socket_dir};
pub use per_arch::schedulable_arches;

/// Which input last set each leaf key path, with that input's position in the layering.
pub type Provenance = BTreeMap<String, (usize, Source)>;

struct V<'a> {
    prov: &'a Provenance,
    problems: Vec<Problem>,
    warnings: Vec<Warning>,
    /// `global.imageRegistry`, once validated.
    registry: Option<String>,
}

impl V<'_> {
    /// `reference`, the image set at `key` (the key holding its repository), moved to
    /// `global.imageRegistry` unless the user set `key` in a file or `--set`: an explicit
    /// per-image choice wins over the global mirror (docs/values.md#global).
    fn mirrored(&self, reference: String, key: &str) -> String {
        let user_set = self.prov.get(key).is_some_and(|(_, s)| s.is_user_input());
        match &self.registry {
            Some(r) if !user_set => crate::mirror::rewrite(&reference, r),
            _ => reference,
        }
    }

    /// The input that set `path` or the nearest key above or below it.
    fn source(&self, path: &str) -> Option<Source> {
        let below = format!("{path}.");
        let exact_or_below = self.prov.get(path).or_else(|| {
            self.prov
                .range(below.clone()..)
                .next()
                .filter(|(k, _)| k.starts_with(&below))
                .map(|(_, v)| v)
        });
        if let Some((_, s)) = exact_or_below {
            return Some(s.clone());
        }
        let mut p = path;
        while let Some((parent, _)) = p.rsplit_once('.') {
            if let Some((_, s)) = self.prov.get(parent) {
                return Some(s.clone());
            }
            p = parent;
        }
        None
    }

    /// Whether the user set `path` in the same or a later layer than any of `decided_by`
    /// (so a later file that disables a shim does not blame an earlier file's mapping).
    fn user_set_after(&self, path: &str, decided_by: &[&str]) -> bool {
        let Some((at, src)) = self.prov.get(path) else {
            return false;
        };
        let decided = decided_by
            .iter()
            .filter_map(|p| self.prov.get(*p))
            .map(|(i, _)| *i)
            .max();
        src.is_user_input() && decided.is_none_or(|d| *at >= d)
    }

    fn err(&mut self, path: &str, message: impl Into<String>, fix: impl Into<String>) {
        let p = Problem::new(path, message, fix).from(self.source(path));
        self.problems.push(p);
    }

    fn warn(&mut self, path: &str, message: impl Into<String>) {
        let w = Warning {
            path: path.to_string(),
            source: self.source(path),
            message: message.into(),
        };
        self.warnings.push(w);
    }
}

/// Names that are fixed per install and not values (yet).
pub struct Identity {
    /// The kata-deploy version to render for.
    pub kata_version: KataVersion,
    /// The install namespace.
    pub namespace: String,
}

/// Turns the merged, defaulted values into a [`Config`].
pub fn validate(
    tree: &Value,
    prov: &Provenance,
    id: Identity,
) -> Result<(Config, Vec<Warning>), Vec<Problem>> {
    let mut v = V {
        prov,
        problems: vec![],
        warnings: vec![],
        registry: None,
    };
    let raw: raw::Values = match serde_path_to_error::deserialize(tree.clone()) {
        Ok(r) => r,
        Err(e) => {
            let path = e.path().to_string();
            let msg = e.inner().to_string();
            v.err(
                &path,
                msg,
                "correct the value's type (see the kata-deploy 4.1.0 chart values)",
            );
            return Err(v.problems);
        }
    };
    let mut config = build(&mut v, raw, id);
    features::refuse_alibabacloud_rrsa(&mut v, tree);
    config.peerpods = peerpods::peerpods(&mut v, tree);
    if let Some(w) = config.peerpods.as_ref().and_then(|p| p.webhook.as_ref()) {
        let class = format!("kata-remote-{}", config.suffix);
        if !config.suffix.is_empty() && w.target_runtime_class != class {
            v.err(
                "peerpods.webhook.webhook.targetRuntimeClass",
                format!(
                    "`{}`, but with env.multiInstallSuffix the remote RuntimeClass is `{class}`, so the webhook would leave peer pods' resources on the worker",
                    w.target_runtime_class
                ),
                format!("--set peerpods.webhook.webhook.targetRuntimeClass={class}"),
            );
        }
    }
    if v.problems.is_empty() {
        Ok((config, v.warnings))
    } else {
        Err(v.problems)
    }
}

fn build(v: &mut V, mut r: raw::Values, id: Identity) -> Config {
    features::refuse_unrendered_features(v, &r);
    // First: every image below is computed with the mirror applied.
    let global = global(v, &r.global);
    one_of(
        v,
        "k8sDistribution",
        &r.k8s_distribution,
        &Distribution::ALL.map(Distribution::as_str),
    );
    one_of(
        v,
        "imagePullPolicy",
        &r.image_pull_policy,
        &["Always", "IfNotPresent", "Never"],
    );
    if !r.log_level.is_empty() {
        one_of(
            v,
            "logLevel",
            &r.log_level,
            &["error", "warn", "info", "debug", "trace"],
        );
    }
    if r.devkit && !r.debug {
        v.warn("devkit", "has no effect without debug=true");
    }

    let suffix = r.env.multi_install_suffix.trim().to_string();
    let chart_name = "kata-deploy".to_string();
    if !suffix.is_empty() {
        if let Err(why) = names::check_suffix(&suffix, &chart_name) {
            v.err(
                "env.multiInstallSuffix",
                format!("`{suffix}` {why}"),
                "use lowercase letters, digits and '-', e.g. --set env.multiInstallSuffix=pr123",
            );
        }
    }
    let prefix = r.env.installation_prefix.clone();
    if !prefix.is_empty()
        && (!prefix.starts_with('/')
            || prefix.ends_with('/')
            || prefix.split('/').any(|c| c == ".."))
    {
        v.err(
            "env.installationPrefix",
            format!("`{prefix}` must be an absolute path without `..` or a trailing `/` (kata installs to <prefix>/opt/kata)"),
            "e.g. --set env.installationPrefix=/var/lib/kata-prefix, or leave it empty for /opt/kata",
        );
    }
    let image = image_ref(v, "image", &r.image, KataVersion::DEFAULT.as_str());
    let kubectl_image = image_ref(v, "kubectlImage", &r.kubectl_image, "latest");

    let monitor = monitor::monitor(v, &r);
    let node_feature_rules = features::node_feature_rules(v, &r);
    let verification = verification::verification(v, &r.verification);
    let custom = std::mem::take(&mut r.custom_runtimes);
    let mut shims = shims::shims(v, &r);
    let (proxy, proxy_containerd) =
        crate::proxy::validate(v_ctx(v), &r.proxy, r.custom_containerd.enabled);
    crate::proxy::default_shim_agents(&mut shims, &proxy);
    let default_shim = shims::default_shims(v, &r.default_shim);
    shims::snapshotters(v, &r, &shims);

    let affinity = (r.affinity != Affinity::default()).then_some(r.affinity);
    let schedulable_arches = schedulable_arches(&r.node_selector, affinity.as_ref());

    let health_port = match u16::try_from(r.health.port) {
        Ok(p) if p > 0 => p,
        _ => {
            v.err(
                "health.port",
                format!("`{}` is not a TCP port", r.health.port),
                "--set health.port=8090 (any port from 1 to 65535 free in the pod)",
            );
            8090
        }
    };
    let mut config = Config {
        kata_version: id.kata_version,
        namespace: id.namespace,
        chart_name,
        release_name: "cococtl".into(),
        suffix,
        image,
        image_pull_policy: r.image_pull_policy,
        image_pull_secrets: global.pull_secrets_with(&r.image_pull_secrets),
        kubectl_image,
        k8s_distribution: Distribution::parse(&r.k8s_distribution).unwrap_or_default(),
        debug: r.debug,
        devkit: r.devkit,
        log_level: Some(r.log_level).filter(|l| !l.is_empty()),
        shims,
        default_shim,
        snapshotter_setup: r.snapshotter.setup,
        erofs_merge_mode: r.snapshotter.erofs_merge_mode,
        erofs_snapshotter_mode: r.snapshotter.erofs_snapshotter_mode,
        erofs_dmverity: r.snapshotter.erofs_dmverity,
        installation_prefix: prefix,
        host_os: r.env.host_os,
        containerd_config_dir: r.containerd.config_dir,
        containerd_config_file_name: r.containerd.config_file_name,
        containerd_user_drop_in: r.containerd.user_drop_in,
        startup_taints: r
            .startup_taints
            .iter()
            .map(raw::StartupTaint::render)
            .collect(),
        runtime_classes: RuntimeClasses {
            enabled: r.runtime_classes.enabled,
            create_default: r.runtime_classes.create_default,
            default_name: r.runtime_classes.default_name,
            overhead_enabled: r.runtime_classes.overhead_enabled,
        },
        node_selector: r.node_selector,
        tolerations: r.tolerations,
        affinity,
        priority_class_name: r.priority_class_name,
        resources: r.resources,
        update_strategy: r.update_strategy,
        health: Health {
            port: health_port,
            startup: probe_timing(v, "startupProbe", &r.health.startup_probe),
            liveness: probe_timing(v, "livenessProbe", &r.health.liveness_probe),
            readiness: probe_timing(v, "readinessProbe", &r.health.readiness_probe),
        },
        pod_labels: r.pod_labels,
        pod_annotations: r.pod_annotations,
        schedulable_arches,
        custom_containerd: None,
        monitor,
        custom_runtimes: vec![],
        node_feature_rules,
        verification,
        probe: None,
        peerpods: None,
        global,
        proxy,
        proxy_containerd,
    };
    if config.containerd_config_file_name.contains('/') {
        v.err(
            "containerd.configFileName",
            "must be a bare file name under /etc/containerd",
            "e.g. --set containerd.configFileName=config.toml",
        );
    }
    if !config.containerd_user_drop_in.trim().is_empty() {
        let text = config.containerd_user_drop_in.clone();
        check_toml(v, "containerd.userDropIn", &text);
    }
    per_arch::per_arch_rules(v, &config);
    runtime_class_rules(v, &config);
    config.custom_runtimes = custom_runtimes::custom_runtimes(v, &custom, &config);
    config.custom_containerd =
        crate::custom_containerd::validate(v_ctx(v), r.custom_containerd, &config);
    config.probe = crate::probe::validate(v_ctx(v), r.probe);
    // The rule makes NFD publish the same TEE labels the probe would publish: the two would
    // keep overwriting each other (as with a detected NFD, see cococtl_manifests::check_facts).
    if config.node_feature_rules.active() && config.probe.as_ref().is_some_and(|p| p.tee_labels) {
        v.err(
            "probe.teeLabels",
            "with nodeFeatureRules.create=true, Node Feature Discovery publishes the TEE labels (amd.feature.node.kubernetes.io/snp, intel.feature.node.kubernetes.io/tdx); cococtl's probe would fight it over them",
            "--set probe.teeLabels=false, or --set nodeFeatureRules.create=false",
        );
    }
    config
}

/// `global.*`: the registry is checked and kept in `v` for every image computed after it;
/// the pull secrets are deduplicated by name, in the order given.
fn global(v: &mut V, g: &raw::Global) -> Global {
    let registry = g.image_registry.trim().trim_end_matches('/').to_string();
    if !registry.is_empty() {
        match crate::mirror::check_registry(&registry) {
            None => v.registry = Some(registry),
            Some(why) => v.err(
                "global.imageRegistry",
                format!("`{registry}` {why}"),
                "--set global.imageRegistry=registry.example.com/coco",
            ),
        }
    }
    let mut secrets: Vec<LocalObjectReference> = vec![];
    for (i, s) in g.image_pull_secrets.iter().enumerate() {
        let name = s.name().trim();
        if let Err(why) = names::check_dns_subdomain(name) {
            v.err(
                &format!("global.imagePullSecrets[{i}]"),
                format!("`{name}` {why} (a Secret name)"),
                "--set global.imagePullSecrets[0]=my-registry-secret",
            );
        } else if !secrets.iter().any(|o| o.name == name) {
            secrets.push(LocalObjectReference { name: name.into() });
        }
    }
    Global {
        image_registry: v.registry.clone(),
        image_pull_secrets: secrets,
    }
}

/// Gives sibling modules the same error sink.
fn v_ctx<'a, 'b>(v: &'a mut V<'b>) -> &'a mut dyn Sink {
    v
}

/// Where sibling validators report.
pub trait Sink {
    /// A problem at `path`: what is wrong and the fix.
    fn err(&mut self, path: &str, message: String, fix: String);
    /// A warning at `path`.
    fn warn(&mut self, path: &str, message: String);
    /// `reference` (set at `key`) as the install pulls it: `global.imageRegistry` applied
    /// unless the user set `key` (docs/values.md#global). Unchanged by default.
    fn mirrored(&self, reference: String, _key: &str) -> String {
        reference
    }
}

impl Sink for V<'_> {
    fn err(&mut self, path: &str, message: String, fix: String) {
        V::err(self, path, message, fix)
    }
    fn warn(&mut self, path: &str, message: String) {
        V::warn(self, path, message)
    }
    fn mirrored(&self, reference: String, key: &str) -> String {
        V::mirrored(self, reference, key)
    }
}

fn one_of(v: &mut V, path: &str, value: &str, allowed: &[&str]) {
    if !allowed.contains(&value) {
        let hint = did_you_mean(value, allowed.iter().copied());
        v.err(
            path,
            format!("`{value}` is not one of {}{hint}", allowed.join(", ")),
            format!("--set {path}={}", allowed[0]),
        );
    }
}

/// The binary copies these files verbatim into containerd's or kata's configuration, where
/// a syntax error would only surface on every node at restart time.
fn check_toml(v: &mut V, path: &str, text: &str) {
    if let Err(e) = text.parse::<toml::Table>() {
        let msg = e.to_string();
        let first = msg.lines().next().unwrap_or("").to_string();
        v.err(
            path,
            format!("is not valid TOML: {first}"),
            "fix the TOML (the value is copied into the node's configuration as it is)",
        );
    }
}

fn image_ref(v: &mut V, path: &str, image: &raw::Image, default_tag: &str) -> String {
    let full = if image.reference.contains('@') {
        image.reference.clone()
    } else {
        let tag = if image.tag.is_empty() {
            default_tag
        } else {
            &image.tag
        };
        format!("{}:{tag}", image.reference)
    };
    if let Err(why) = names::check_image(&full) {
        v.err(
            &format!("{path}.reference"),
            format!("`{full}` is not a valid image reference: {why}"),
            "use registry/repository with tag (image.tag) or @sha256:<64 hex digits>",
        );
    }
    v.mirrored(full, &format!("{path}.reference"))
}

fn runtime_class_rules(v: &mut V, c: &Config) {
    if !c.runtime_classes.create_default {
        return;
    }
    if !c.suffix.is_empty() {
        v.warn("runtimeClasses.createDefault", "ignored with env.multiInstallSuffix (the chart never creates the default alias for a suffixed install)");
        return;
    }
    // The chart takes the alias from defaultShim.amd64 (falling back to the other arches'
    // keys) and silently skips it when that shim is not enabled.
    let default = Arch::ALL.iter().find_map(|a| {
        c.default_shim
            .get(a)
            .filter(|s| !s.is_empty())
            .map(|s| (a, s))
    });
    match default {
        Some((_, shim)) if c.shims.iter().any(|s| s.name() == shim) => {}
        Some((arch, shim)) => v.warn(
            &format!("defaultShim.{arch}"),
            format!("`{shim}` is not enabled, so runtimeClasses.createDefault creates no `{}` RuntimeClass", c.runtime_classes.default_name),
        ),
        None => v.warn("runtimeClasses.createDefault", "no defaultShim is set, so no default RuntimeClass is created"),
    }
    if let Err(why) = names::check_dns_subdomain(&c.runtime_classes.default_name) {
        v.err(
            "runtimeClasses.defaultName",
            format!("`{}` {why}", c.runtime_classes.default_name),
            "use a lowercase DNS name such as kata",
        );
    }
}

/// A probe's timing when it is enabled; every number must be one the API server accepts.
fn probe_timing(v: &mut V, name: &str, t: &raw::Toggle) -> Option<ProbeTiming> {
    let path = |k: &str| format!("health.{name}.{k}");
    let mut check = |key: &str, n: i64, min: i64| -> i32 {
        match i32::try_from(n) {
            Ok(x) if n >= min => x,
            _ => {
                v.err(
                    &path(key),
                    format!("`{n}` is out of range (at least {min})"),
                    format!("--set {}={}", path(key), min.max(1)),
                );
                min as i32
            }
        }
    };
    let timing = ProbeTiming {
        initial_delay_seconds: t
            .initial_delay_seconds
            .map(|n| check("initialDelaySeconds", n, 0)),
        period_seconds: check("periodSeconds", t.period_seconds, 1),
        failure_threshold: check("failureThreshold", t.failure_threshold, 1),
        timeout_seconds: check("timeoutSeconds", t.timeout_seconds, 1),
    };
    t.enabled.then_some(timing)
}
