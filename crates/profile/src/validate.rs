//! Cross-field validation: the merged values become a [`Config`] or a list of problems, each
//! naming the key, the input that set it and the fix. Covers the contract's gotchas G4
//! (empty shim list on a schedulable arch), G5 (default shim not enabled) and G7 (nydus
//! mapping without the nydus snapshotter set up), and refuses chart features not rendered yet.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Affinity;
use serde_yaml::Value;

use crate::catalog::{shim_by_name, Arch, SHIMS};
use crate::config::*;
use crate::error::{Problem, Warning};
use crate::names;
use crate::raw;
use crate::schema::did_you_mean;
use crate::source::Source;

/// Which input last set each leaf key path, with that input's position in the layering.
pub type Provenance = BTreeMap<String, (usize, Source)>;

struct V<'a> {
    prov: &'a Provenance,
    problems: Vec<Problem>,
    warnings: Vec<Warning>,
}

impl V<'_> {
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
    pub kata_version: KataVersion,
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
    let config = build(&mut v, raw, id);
    if v.problems.is_empty() {
        Ok((config, v.warnings))
    } else {
        Err(v.problems)
    }
}

fn build(v: &mut V, r: raw::Values, id: Identity) -> Config {
    refuse_unrendered_features(v, &r);
    one_of(
        v,
        "k8sDistribution",
        &r.k8s_distribution,
        &["k8s", "k3s", "rke2", "k0s", "microk8s"],
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

    let shims = shims(v, &r);
    let default_shim = default_shims(v, &r.default_shim);
    snapshotters(v, &r, &shims);

    let affinity = (r.affinity != Affinity::default()).then_some(r.affinity);
    let schedulable_arches = schedulable_arches(&r.node_selector, affinity.as_ref());

    let mut config = Config {
        kata_version: id.kata_version,
        namespace: id.namespace,
        chart_name,
        release_name: "cococtl".into(),
        suffix,
        image,
        image_pull_policy: r.image_pull_policy,
        image_pull_secrets: r.image_pull_secrets,
        kubectl_image,
        k8s_distribution: r.k8s_distribution,
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
            startup: r.health.startup_probe.enabled,
            liveness: r.health.liveness_probe.enabled,
            readiness: r.health.readiness_probe.enabled,
        },
        pod_labels: r.pod_labels,
        pod_annotations: r.pod_annotations,
        schedulable_arches,
        custom_containerd: None,
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
    per_arch_rules(v, &config);
    runtime_class_rules(v, &config);
    config.custom_containerd =
        crate::custom_containerd::validate(v_ctx(v), r.custom_containerd, &config);
    config
}

/// Gives sibling modules the same error sink.
fn v_ctx<'a, 'b>(v: &'a mut V<'b>) -> &'a mut dyn Sink {
    v
}

/// Where sibling validators report.
pub trait Sink {
    fn err(&mut self, path: &str, message: String, fix: String);
    fn warn(&mut self, path: &str, message: String);
}

impl Sink for V<'_> {
    fn err(&mut self, path: &str, message: String, fix: String) {
        V::err(self, path, message, fix)
    }
    fn warn(&mut self, path: &str, message: String) {
        V::warn(self, path, message)
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

fn refuse_unrendered_features(v: &mut V, r: &raw::Values) {
    let not_yet = "cococtl does not render this kata-deploy feature yet";
    if r.deployment_mode != "daemonset" {
        if r.deployment_mode == "job" {
            v.err(
                "deploymentMode",
                format!("`job` mode: {not_yet}"),
                "--set deploymentMode=daemonset",
            );
        } else {
            one_of(
                v,
                "deploymentMode",
                &r.deployment_mode,
                &["daemonset", "job"],
            );
        }
    }
    if r.monitor.enabled {
        v.err(
            "monitor.enabled",
            format!("kata-monitor: {not_yet}"),
            "--set monitor.enabled=false",
        );
    }
    if r.custom_runtimes.enabled {
        v.err(
            "customRuntimes.enabled",
            format!("custom runtimes: {not_yet}"),
            "--set customRuntimes.enabled=false",
        );
    }
    if !r.verification.pod.is_empty() {
        v.err(
            "verification.pod",
            format!("the verification Job: {not_yet}"),
            "remove verification.pod",
        );
    }
    if r.node_feature_discovery.enabled {
        v.err(
            "node-feature-discovery.enabled",
            format!("the NFD subchart: {not_yet}"),
            "install NFD separately and --set node-feature-discovery.enabled=false",
        );
    }
    match r.node_feature_rules.create.as_str() {
        "auto" | "false" => {}
        "true" => v.err(
            "nodeFeatureRules.create",
            format!("the NodeFeatureRule: {not_yet}"),
            "--set nodeFeatureRules.create=false",
        ),
        other => one_of(
            v,
            "nodeFeatureRules.create",
            other,
            &["auto", "true", "false"],
        ),
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
    full
}

fn shims(v: &mut V, r: &raw::Values) -> Vec<ShimConfig> {
    let disable_all = match r.shims.get("disableAll") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
        Some(other) => {
            v.err(
                "shims.disableAll",
                format!(
                    "`{}` is not a boolean",
                    serde_yaml::to_string(other).unwrap_or_default().trim()
                ),
                "--set shims.disableAll=true",
            );
            false
        }
    };
    for name in r.shims.keys() {
        if name != "disableAll" && shim_by_name(name).is_none() {
            let hint = did_you_mean(name, SHIMS.iter().map(|s| s.name));
            v.err(
                &format!("shims.{name}"),
                format!("`{name}` is not a kata-deploy 4.1.0 shim{hint}"),
                "see `cococtl profiles shims` for the shims of 4.1.0",
            );
        }
    }
    let mut out = vec![];
    for shim in SHIMS {
        let Some(raw) = r.shims.get(shim.name) else {
            continue;
        };
        let path = format!("shims.{}", shim.name);
        let sv: raw::ShimValues = match serde_path_to_error::deserialize(raw.clone()) {
            Ok(s) => s,
            Err(e) => {
                let p = format!("{path}.{}", e.path());
                v.err(&p, e.inner().to_string(), "correct the value's type");
                continue;
            }
        };
        let enabled = sv.enabled.unwrap_or(!disable_all);
        if !enabled {
            for (key, set) in [
                (
                    "containerd.snapshotter",
                    !sv.containerd.snapshotter.is_empty(),
                ),
                ("containerd.forceGuestPull", sv.containerd.force_guest_pull),
                ("agent.httpsProxy", !sv.agent.https_proxy.is_empty()),
                ("agent.noProxy", !sv.agent.no_proxy.is_empty()),
                (
                    "allowedHypervisorAnnotations",
                    !sv.allowed_hypervisor_annotations.is_empty(),
                ),
            ] {
                let p = format!("{path}.{key}");
                if set && v.user_set_after(&p, &[&format!("{path}.enabled"), "shims.disableAll"]) {
                    v.err(
                        &p,
                        format!("is set, but shim `{}` is not enabled", shim.name),
                        format!("--set {path}.enabled=true, or remove {p}"),
                    );
                }
            }
            continue;
        }
        let mut arches = vec![];
        for a in &sv.supported_arches {
            match Arch::from_k8s_name(a) {
                Some(arch) if shim.builds_for(arch) => arches.push(arch),
                Some(arch) => v.err(
                    &format!("{path}.supportedArches"),
                    format!(
                        "kata-deploy 4.1.0 does not build `{}` for {arch}; it builds it for {}",
                        shim.name,
                        list(shim.arches.iter().map(|a| a.k8s_name()))
                    ),
                    alternatives(shim.name, arch),
                ),
                None => v.err(
                    &format!("{path}.supportedArches"),
                    format!(
                        "`{a}` is not a Kubernetes architecture name{}",
                        did_you_mean(a, Arch::ALL.iter().map(|a| a.k8s_name()))
                    ),
                    "use amd64, arm64, s390x or ppc64le",
                ),
            }
        }
        arches.sort();
        arches.dedup();
        if !sv.drop_in.trim().is_empty() {
            check_toml(v, &format!("{path}.dropIn"), &sv.drop_in);
        }
        let mut overhead = BTreeMap::new();
        for (k, val) in &sv.runtime_class.overhead {
            let val = match val {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            if k != "memory" && k != "cpu" {
                v.err(
                    &format!("{path}.runtimeClass.overhead.{k}"),
                    "only memory and cpu overheads exist",
                    "remove the key",
                );
            } else if !names::is_quantity(&val) {
                v.err(
                    &format!("{path}.runtimeClass.overhead.{k}"),
                    format!("`{val}` is not a Kubernetes quantity"),
                    "e.g. 2048Mi or 1.0",
                );
            } else {
                overhead.insert(k.clone(), val);
            }
        }
        for ann in &sv.allowed_hypervisor_annotations {
            if ann.is_empty()
                || ann.contains(char::is_whitespace)
                || ann.contains(',')
                || ann.contains(':')
            {
                v.err(
                    &format!("{path}.allowedHypervisorAnnotations"),
                    format!("`{ann}` is not an annotation name"),
                    "list plain names such as default_memory, one per entry",
                );
            }
        }
        out.push(ShimConfig {
            shim,
            arches,
            allowed_hypervisor_annotations: sv.allowed_hypervisor_annotations,
            snapshotter: sv.containerd.snapshotter,
            force_guest_pull: sv.containerd.force_guest_pull,
            crio_guest_pull: sv.crio.guest_pull,
            https_proxy: sv.agent.https_proxy,
            no_proxy: sv.agent.no_proxy,
            node_selector: sv.runtime_class.node_selector,
            overhead,
            overhead_enabled: sv.runtime_class.overhead_enabled,
            drop_in: sv.drop_in,
        });
    }
    for s in &out {
        for (key, val) in [("httpsProxy", &s.https_proxy), ("noProxy", &s.no_proxy)] {
            // The binary splits AGENT_*_PROXY on `;` and `=`: such characters would corrupt it.
            if val.contains(';') {
                v.err(
                    &format!("shims.{}.agent.{key}", s.name()),
                    "must not contain `;` (kata-deploy separates shims with it)",
                    "remove the `;`",
                );
            }
        }
    }
    out
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

fn alternatives(name: &str, arch: Arch) -> String {
    let Some(shim) = shim_by_name(name) else {
        return String::new();
    };
    let alts: Vec<_> = SHIMS
        .iter()
        .filter(|s| s.builds_for(arch) && s.isolation == shim.isolation && s.gpu == shim.gpu)
        .map(|s| s.name)
        .collect();
    if alts.is_empty() {
        format!("remove {arch} from shims.{name}.supportedArches")
    } else {
        format!(
            "remove {arch} from shims.{name}.supportedArches; for {arch} enable {} instead",
            alts.join(" or ")
        )
    }
}

fn default_shims(v: &mut V, given: &BTreeMap<String, String>) -> BTreeMap<Arch, String> {
    let mut out = BTreeMap::new();
    for (arch, shim) in given {
        let path = format!("defaultShim.{arch}");
        let Some(a) = Arch::from_k8s_name(arch) else {
            v.err(
                &path,
                format!("`{arch}` is not a Kubernetes architecture name"),
                "use defaultShim.amd64, .arm64, .s390x or .ppc64le",
            );
            continue;
        };
        if !shim.is_empty() && shim_by_name(shim).is_none() {
            let hint = did_you_mean(shim, SHIMS.iter().map(|s| s.name));
            v.err(
                &path,
                format!("`{shim}` is not a kata-deploy 4.1.0 shim{hint}"),
                "see `cococtl profiles shims`",
            );
            continue;
        }
        out.insert(a, shim.clone());
    }
    out
}

fn snapshotters(v: &mut V, r: &raw::Values, shims: &[ShimConfig]) {
    for s in &r.snapshotter.setup {
        if s != "nydus" && s != "erofs" {
            v.err(
                "snapshotter.setup",
                format!(
                    "`{s}` cannot be set up by kata-deploy{}",
                    did_you_mean(s, ["nydus", "erofs"].into_iter())
                ),
                "use nydus and/or erofs",
            );
        }
    }
    for shim in shims {
        let sn = shim.snapshotter.as_str();
        if (sn == "nydus" || sn == "erofs") && !r.snapshotter.setup.iter().any(|s| s == sn) {
            v.err(
                &format!("shims.{}.containerd.snapshotter", shim.name()),
                format!("maps `{}` to {sn}, but snapshotter.setup does not set {sn} up, so the handler would reference a snapshotter nobody defined (G7)", shim.name()),
                format!("add {sn} to snapshotter.setup, or --set shims.{}.containerd.snapshotter=\"\"", shim.name()),
            );
        }
    }
    let m = &r.snapshotter.erofs_merge_mode;
    if !m.is_empty() {
        one_of(v, "snapshotter.erofsMergeMode", m, &["merged", "unmerged"]);
    }
    let m = &r.snapshotter.erofs_snapshotter_mode;
    if !m.is_empty() {
        one_of(
            v,
            "snapshotter.erofsSnapshotterMode",
            m,
            &["disk", "memory"],
        );
    }
}

/// G4 and G5, per architecture.
fn per_arch_rules(v: &mut V, c: &Config) {
    for arch in Arch::ALL {
        let enabled: Vec<&str> = c.shims_for(arch).map(|s| s.name()).collect();
        if enabled.is_empty() {
            if c.schedulable_arches.contains(&arch) {
                v.err(
                    "affinity",
                    format!(
                        "the kata-deploy DaemonSet may run on {arch} nodes, but no shim is enabled for {arch}; kata-deploy would then install its whole built-in shim list there (G4)"
                    ),
                    format!(
                        "restrict the DaemonSet to the architectures you configured (affinity on kubernetes.io/arch, e.g. `values: [{}]`), or enable a shim for {arch}",
                        list(c.shims.iter().flat_map(|s| s.arches.iter()).map(|a| a.k8s_name()).collect::<std::collections::BTreeSet<_>>().into_iter())
                    ),
                );
            }
            continue;
        }
        if c.default_shim_for(arch).is_none() {
            let path = format!("defaultShim.{arch}");
            let given = c.default_shim.get(&arch).map(String::as_str).unwrap_or("");
            let msg = if given.is_empty() {
                format!("no default shim for {arch}; kata-deploy 4.1.0 requires DEFAULT_SHIM_{} to be one of its shims (G5)", arch.env_suffix())
            } else {
                format!("`{given}` is not enabled for {arch}; kata-deploy 4.1.0 would fail on every {arch} node (G5)")
            };
            v.err(
                &path,
                format!("{msg}\n  enabled for {arch}: {}", enabled.join(", ")),
                format!(
                    "--set {path}={}{}",
                    enabled[0],
                    if given.is_empty() {
                        String::new()
                    } else {
                        format!(", or enable {given} for {arch}")
                    }
                ),
            );
        }
    }
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

/// The architectures a pod with this nodeSelector and affinity can land on.
pub fn schedulable_arches(
    node_selector: &BTreeMap<String, String>,
    affinity: Option<&Affinity>,
) -> Vec<Arch> {
    const ARCH: &str = "kubernetes.io/arch";
    let mut allowed: Vec<Arch> = Arch::ALL.to_vec();
    if let Some(a) = node_selector.get(ARCH) {
        allowed.retain(|x| x.k8s_name() == a);
    }
    let terms = affinity
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .map(|r| r.node_selector_terms.clone());
    let Some(terms) = terms else { return allowed };
    // Terms are OR-ed, expressions within a term AND-ed.
    let mut union = vec![];
    for term in terms {
        let mut term_arches = Arch::ALL.to_vec();
        for e in term.match_expressions.unwrap_or_default() {
            if e.key != ARCH {
                continue;
            }
            let vals = e.values.unwrap_or_default();
            match e.operator.as_str() {
                "In" => term_arches.retain(|a| vals.iter().any(|v| v == a.k8s_name())),
                "NotIn" => term_arches.retain(|a| !vals.iter().any(|v| v == a.k8s_name())),
                "DoesNotExist" => term_arches.clear(),
                _ => {}
            }
        }
        union.extend(term_arches);
    }
    allowed.retain(|a| union.contains(a));
    allowed
}
