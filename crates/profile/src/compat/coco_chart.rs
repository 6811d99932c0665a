//! Translates one values layer from the CoCo chart 0.16 / kata-deploy 3.22 vocabulary into
//! kata-deploy 4.1.0 structured values.
//!
//! The CoCo chart nests kata-deploy under its dependency alias `kata-as-coco-runtime` and
//! passes the flat 3.22 `env.*` strings (`shims: "a b"`, `snapshotterHandlerMapping:
//! "a:nydus,b:nydus"`, ...). In 4.1.0 the same intent is per-shim structured values. A flat
//! shim list is exhaustive, so every other shim is explicitly disabled; otherwise a profile
//! underneath would keep its own shims enabled.

use serde_yaml::{Mapping, Value};

use crate::error::{Problem, Warning};
use crate::source::Source;
use crate::tree;
use cococtl_core::catalog::{shim_by_name, SHIMS};
use cococtl_core::Arch;

/// The key the CoCo chart aliases kata-deploy to.
const ALIAS: &str = "kata-as-coco-runtime";

/// The result of translating one layer.
pub struct Translated {
    pub tree: Value,
    pub warnings: Vec<Warning>,
    pub problems: Vec<Problem>,
}

struct Ctx<'a> {
    source: &'a Source,
    warnings: Vec<Warning>,
    problems: Vec<Problem>,
}

impl Ctx<'_> {
    fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.warnings.push(Warning {
            path: path.to_string(),
            source: Some(self.source.clone()),
            message: message.into(),
        });
    }

    fn problem(&mut self, path: &str, message: impl Into<String>, fix: impl Into<String>) {
        self.problems
            .push(Problem::new(path, message, fix).from(Some(self.source.clone())));
    }
}

fn take(m: &mut Mapping, key: &str) -> Option<Value> {
    m.remove(Value::String(key.to_string()))
}

fn str_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

/// Translates `layer` (already parsed, YAML merge keys applied).
pub fn translate(layer: Value, source: &Source) -> Translated {
    let mut ctx = Ctx {
        source,
        warnings: vec![],
        problems: vec![],
    };
    let Value::Mapping(mut root) = layer else {
        return Translated {
            tree: layer,
            warnings: vec![],
            problems: vec![],
        };
    };

    // Anchor holders (`_commonConfig: &x`) exist only to be merged elsewhere.
    root.retain(|k, _| !k.as_str().is_some_and(|k| k.starts_with('_')));
    // The CoCo chart's CI variant of the same settings; it never reaches kata-deploy.
    take(&mut root, "kata-as-coco-runtime-for-ci");

    let mut arch = None;
    if let Some(v) = take(&mut root, "architecture") {
        let name = str_of(&v).unwrap_or_default();
        match Arch::from_kernel_name(&name) {
            Some(a) => arch = Some(a),
            None => ctx.problem(
                "architecture",
                format!("unknown architecture `{name}`"),
                "use one of x86_64, aarch64, s390x, ppc64le",
            ),
        }
    }

    let mut out = Value::Mapping(Mapping::new());
    let mut prefix = "";
    if let Some(sub) = take(&mut root, ALIAS) {
        prefix = ALIAS;
        match sub {
            Value::Mapping(mut sub) => {
                if let Some(enabled) = take(&mut sub, "enabled") {
                    if enabled == Value::Bool(false) {
                        ctx.problem(
                            "kata-as-coco-runtime.enabled",
                            "cococtl always installs the kata runtime; `false` would install nothing",
                            "remove the key",
                        );
                    }
                }
                tree::merge(&mut out, Value::Mapping(root));
                root = sub;
            }
            Value::Null => {}
            _ => ctx.problem(
                ALIAS,
                "must be a mapping",
                "nest kata-deploy values under it",
            ),
        }
    }

    let env = take(&mut root, "env");
    let rest = Value::Mapping(root);
    tree::merge(&mut out, rest);
    let mut out = normalise_scalars(out, prefix, &mut ctx);
    if let Some(env) = env {
        legacy_env(env, prefix, arch, &mut out, &mut ctx);
    } else if arch.is_some() {
        restrict_daemonset(&mut out, arch);
    }
    Translated {
        tree: out,
        warnings: ctx.warnings,
        problems: ctx.problems,
    }
}

/// The CoCo chart quotes booleans (`debug: "false"`); 4.1.0 wants real ones.
fn normalise_scalars(mut v: Value, prefix: &str, ctx: &mut Ctx) -> Value {
    if let Some(Value::String(s)) = v.get("debug").cloned() {
        match s.as_str() {
            "true" | "false" => tree::set(&mut v, &["debug"], Value::Bool(s == "true")),
            _ => ctx.problem(
                &tree::join(prefix, "debug"),
                format!("`{s}` is not a boolean"),
                "use true or false",
            ),
        }
    }
    v
}

fn words(s: &str, sep: impl Fn(char) -> bool) -> Vec<String> {
    s.split(sep)
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn env_path(prefix: &str, key: &str) -> String {
    tree::join(&tree::join(prefix, "env"), key)
}

/// The `env.*` keys the CoCo chart passes and this translation understands.
const ENV_KEYS: [&str; 15] = [
    "installationPrefix",
    "multiInstallSuffix",
    "hostOS",
    "debug",
    "createDefaultRuntimeClass",
    "createRuntimeClasses",
    "_experimentalSetupSnapshotter",
    "shims",
    "defaultShim",
    "snapshotterHandlerMapping",
    "pullTypeMapping",
    "agentHttpsProxy",
    "agentNoProxy",
    "allowedHypervisorAnnotations",
    "_experimentalForceGuestPull",
];

/// One layer's flat 3.22 `env` mapping, with where it sits in the user's file.
struct LegacyEnv<'a> {
    map: &'a Mapping,
    prefix: &'a str,
    arch: Option<Arch>,
}

impl LegacyEnv<'_> {
    /// The value of `key` as a string (booleans and numbers spelled out).
    fn get(&self, key: &str) -> Option<String> {
        self.map.get(key).and_then(str_of)
    }

    /// `<prefix>.env.<key>`, the user's own key path for messages.
    fn path(&self, key: &str) -> String {
        env_path(self.prefix, key)
    }
}

/// Translates the flat 3.22 `env.*` keys.
fn legacy_env(env: Value, prefix: &str, arch: Option<Arch>, out: &mut Value, ctx: &mut Ctx) {
    let Value::Mapping(map) = env else {
        ctx.problem(&tree::join(prefix, "env"), "must be a mapping", "");
        return;
    };
    let env = LegacyEnv {
        map: &map,
        prefix,
        arch,
    };
    env_scalars(&env, out, ctx);
    let listed = env_shim_list(&env, out, ctx);
    let listed = listed.as_deref();
    env_default_shim(&env, listed, out, ctx);
    env_mappings(&env, listed, out, ctx);
    env_global_shim_settings(&env, listed.unwrap_or_default(), out, ctx);
    env_force_guest_pull(&env, out, ctx);
    warn_unknown_env_keys(&env, ctx);
}

/// Keys 4.1.0 still has under `env`, `debug`, the RuntimeClass switches and the snapshotter
/// setup list.
fn env_scalars(env: &LegacyEnv, out: &mut Value, ctx: &mut Ctx) {
    for key in ["installationPrefix", "multiInstallSuffix", "hostOS"] {
        if let Some(v) = env.get(key) {
            tree::set(out, &["env", key], Value::String(v));
        }
    }
    if let Some(v) = env.get("debug") {
        match v.as_str() {
            "true" | "false" | "" => {
                tree::set(out, &["debug"], Value::Bool(v == "true"));
            }
            _ => ctx.problem(
                &env.path("debug"),
                format!("`{v}` is not a boolean"),
                "use \"true\" or \"false\"",
            ),
        }
    }
    if let Some(v) = env.get("createDefaultRuntimeClass") {
        tree::set(
            out,
            &["runtimeClasses", "createDefault"],
            Value::Bool(v == "true"),
        );
    }
    if env.get("createRuntimeClasses").as_deref() == Some("false") {
        ctx.warn(
            &env.path("createRuntimeClasses"),
            "ignored: since kata-deploy 3.23 RuntimeClasses come with the deployment (use runtimeClasses.enabled=false to skip them)",
        );
    }
    if let Some(v) = env.get("_experimentalSetupSnapshotter") {
        let list = words(&v, |c| c == ',');
        tree::set(
            out,
            &["snapshotter", "setup"],
            Value::Sequence(list.into_iter().map(Value::String).collect()),
        );
    }
}

/// `env.shims`, the exhaustive shim list: validated against the catalog with the user's own
/// key path, every shim enabled or disabled, and the DaemonSet kept on `arch`. Returns the
/// list, if given.
fn env_shim_list(env: &LegacyEnv, out: &mut Value, ctx: &mut Ctx) -> Option<Vec<String>> {
    let listed = words(&env.get("shims")?, char::is_whitespace);
    let shims_path = env.path("shims");
    for name in &listed {
        check_shim(name, &shims_path, env.arch, ctx);
    }
    tree::set(out, &["shims", "disableAll"], Value::Bool(true));
    for shim in SHIMS {
        let on = listed.iter().any(|l| l == shim.name);
        tree::set(out, &["shims", shim.name, "enabled"], Value::Bool(on));
        if on {
            if let Some(a) = env.arch {
                tree::set(
                    out,
                    &["shims", shim.name, "supportedArches"],
                    Value::Sequence(vec![Value::String(a.k8s_name().into())]),
                );
            }
        }
    }
    restrict_daemonset(out, env.arch);
    Some(listed)
}

/// `env.defaultShim` for every architecture in play; without it, the first listed shim
/// built for each architecture.
fn env_default_shim(env: &LegacyEnv, listed: Option<&[String]>, out: &mut Value, ctx: &mut Ctx) {
    let default = env.get("defaultShim").unwrap_or_default();
    if !default.is_empty() {
        check_shim(&default, &env.path("defaultShim"), None, ctx);
        for a in arches_for(env.arch) {
            tree::set(
                out,
                &["defaultShim", a.k8s_name()],
                Value::String(default.clone()),
            );
        }
    } else if let Some(listed) = listed {
        // 3.22 only used DEFAULT_SHIM for the optional `kata` RuntimeClass; 4.1.0 requires a
        // valid one on every arch with shims (docs/kata-deploy-contract.md#g5), so pick the
        // first listed shim per arch.
        for a in arches_for(env.arch) {
            if let Some(first) = listed
                .iter()
                .find(|n| shim_by_name(n).is_some_and(|s| s.builds_for(a)))
            {
                tree::set(
                    out,
                    &["defaultShim", a.k8s_name()],
                    Value::String(first.clone()),
                );
            }
        }
    }
}

/// The `shim:value` mapping strings: `snapshotterHandlerMapping` and `pullTypeMapping`.
fn env_mappings(env: &LegacyEnv, listed: Option<&[String]>, out: &mut Value, ctx: &mut Ctx) {
    env_mapping(
        env,
        listed,
        EnvMapping {
            key: "snapshotterHandlerMapping",
            reset_path: &["containerd", "snapshotter"],
            reset: Value::String(String::new()),
            value: |val| Value::String(val.into()),
        },
        out,
        ctx,
    );
    env_mapping(
        env,
        listed,
        EnvMapping {
            key: "pullTypeMapping",
            reset_path: &["crio", "guestPull"],
            reset: Value::Bool(false),
            value: |val| Value::Bool(val == "guest-pull"),
        },
        out,
        ctx,
    );
}

/// One comma-separated `shim:value` key of the flat env and the per-shim value it sets.
struct EnvMapping {
    key: &'static str,
    /// Under `shims.<name>`.
    reset_path: &'static [&'static str],
    /// What a shim the mapping leaves out gets.
    reset: Value,
    value: fn(&str) -> Value,
}

/// A flat mapping string is the whole mapping: shims it leaves out have none, even when a
/// lower layer (the profile) mapped them. Each entry must name a known shim that is listed.
fn env_mapping(
    env: &LegacyEnv,
    listed: Option<&[String]>,
    m: EnvMapping,
    out: &mut Value,
    ctx: &mut Ctx,
) {
    let Some(v) = env.get(m.key) else { return };
    let all_shims: Vec<&str> = match listed {
        Some(l) => l.iter().map(String::as_str).collect(),
        None => SHIMS.iter().map(|s| s.name).collect(),
    };
    let shim_path = |shim: &str| {
        let mut p = vec!["shims".to_string(), shim.to_string()];
        p.extend(m.reset_path.iter().map(|s| s.to_string()));
        p
    };
    for shim in &all_shims {
        if shim_by_name(shim).is_some() {
            let p = shim_path(shim);
            tree::set(
                out,
                &p.iter().map(String::as_str).collect::<Vec<_>>(),
                m.reset.clone(),
            );
        }
    }
    let path = env.path(m.key);
    let shims_path = env.path("shims");
    let is_listed = |s: &str| listed.is_none_or(|l| l.iter().any(|x| x == s));
    for entry in words(&v, |c| c == ',') {
        let Some((shim, val)) = entry.split_once(':') else {
            ctx.problem(
                &path,
                format!("entry `{entry}` is not `shim:value`"),
                "write entries as shim:value separated by commas",
            );
            continue;
        };
        if check_shim(shim, &path, None, ctx) && !is_listed(shim) {
            ctx.problem(
                &path,
                format!("`{shim}` is mapped but not in {shims_path}"),
                format!("add {shim} to {shims_path}, or remove the entry"),
            );
            continue;
        }
        let p = shim_path(shim);
        tree::set(
            out,
            &p.iter().map(String::as_str).collect::<Vec<_>>(),
            (m.value)(val),
        );
    }
}

/// Proxies and allowed hypervisor annotations: global in 3.22, so they apply to every
/// listed shim.
fn env_global_shim_settings(env: &LegacyEnv, targets: &[String], out: &mut Value, ctx: &mut Ctx) {
    for (key, dest) in [
        ("agentHttpsProxy", "httpsProxy"),
        ("agentNoProxy", "noProxy"),
    ] {
        if let Some(v) = env.get(key).filter(|v| !v.is_empty()) {
            if targets.is_empty() {
                ctx.problem(
                    &env.path(key),
                    "a global proxy needs the shim list in the same file",
                    format!("set shims.<name>.agent.{dest} per shim instead"),
                );
            }
            for shim in targets {
                tree::set(
                    out,
                    &["shims", shim, "agent", dest],
                    Value::String(v.clone()),
                );
            }
        }
    }
    if let Some(v) = env
        .get("allowedHypervisorAnnotations")
        .filter(|v| !v.is_empty())
    {
        let anns: Vec<Value> = words(&v, char::is_whitespace)
            .into_iter()
            .map(Value::String)
            .collect();
        for shim in targets {
            tree::set(
                out,
                &["shims", shim, "allowedHypervisorAnnotations"],
                Value::Sequence(anns.clone()),
            );
        }
    }
}

/// `env._experimentalForceGuestPull`: comma-separated shims.
fn env_force_guest_pull(env: &LegacyEnv, out: &mut Value, ctx: &mut Ctx) {
    let Some(v) = env.get("_experimentalForceGuestPull") else {
        return;
    };
    let path = env.path("_experimentalForceGuestPull");
    for shim in words(&v, |c| c == ',') {
        if check_shim(&shim, &path, None, ctx) {
            tree::set(
                out,
                &["shims", &shim, "containerd", "forceGuestPull"],
                Value::Bool(true),
            );
        }
    }
}

/// Every other `env` key is a warning with a did-you-mean suggestion.
fn warn_unknown_env_keys(env: &LegacyEnv, ctx: &mut Ctx) {
    for (k, _) in env.map {
        let k = tree::key_str(k);
        if !ENV_KEYS.contains(&k.as_str()) {
            let hint = crate::schema::did_you_mean(&k, ENV_KEYS.iter().copied());
            ctx.warn(&env.path(&k), format!("unknown key, ignored{hint}"));
        }
    }
}

fn arches_for(arch: Option<Arch>) -> Vec<Arch> {
    arch.map_or_else(|| Arch::ALL.to_vec(), |a| vec![a])
}

/// `architecture: X` means the whole install is for X: keep the DaemonSet there
/// (docs/kata-deploy-contract.md#g4).
fn restrict_daemonset(out: &mut Value, arch: Option<Arch>) {
    let Some(a) = arch else { return };
    let affinity: Value = serde_yaml::from_str(&format!(
        "nodeAffinity: {{requiredDuringSchedulingIgnoredDuringExecution: {{nodeSelectorTerms: [{{matchExpressions: [{{key: kubernetes.io/arch, operator: In, values: [{}]}}]}}]}}}}",
        a.k8s_name()
    ))
    .unwrap_or(Value::Null);
    tree::set(out, &["affinity"], affinity);
}

/// Reports an unknown shim, or one not built for `arch`; returns whether the name is known.
fn check_shim(name: &str, path: &str, arch: Option<Arch>, ctx: &mut Ctx) -> bool {
    let Some(shim) = shim_by_name(name) else {
        let hint = crate::schema::did_you_mean(name, SHIMS.iter().map(|s| s.name));
        ctx.problem(
            path,
            format!("`{name}` is not a kata-deploy 4.1.0 shim{hint}"),
            "use a shim from `cococtl profiles shims`",
        );
        return false;
    };
    if let Some(a) = arch {
        if !shim.builds_for(a) {
            let alternatives: Vec<_> = SHIMS
                .iter()
                .filter(|s| s.builds_for(a) && s.isolation == shim.isolation)
                .map(|s| s.name)
                .collect();
            ctx.problem(
                path,
                format!(
                    "kata-deploy 4.1.0 does not build `{name}` for {}",
                    a.kernel_name()
                ),
                if alternatives.is_empty() {
                    format!("remove {name}")
                } else {
                    format!("use {} instead", alternatives.join(" or "))
                },
            );
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(yaml: &str) -> Mapping {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn a_flat_mapping_resets_listed_shims_it_leaves_out_and_refuses_unlisted_ones() {
        let source = Source::File("values.yaml".into());
        let mut ctx = Ctx {
            source: &source,
            warnings: vec![],
            problems: vec![],
        };
        let map = env_of("snapshotterHandlerMapping: qemu-snp:nydus,qemu-tdx:nydus");
        let env = LegacyEnv {
            map: &map,
            prefix: ALIAS,
            arch: None,
        };
        let listed = ["qemu-snp".to_string(), "qemu-coco-dev".to_string()];
        let mut out = Value::Mapping(Mapping::new());
        env_mappings(&env, Some(&listed), &mut out, &mut ctx);
        let snapshotter =
            |shim| tree::get(&out, &["shims", shim, "containerd", "snapshotter"]).cloned();
        assert_eq!(snapshotter("qemu-snp"), Some(Value::from("nydus")));
        assert_eq!(snapshotter("qemu-coco-dev"), Some(Value::from("")));
        assert_eq!(snapshotter("qemu-tdx"), None);
        assert_eq!(ctx.problems.len(), 1);
        assert!(ctx.problems[0]
            .to_string()
            .contains("`qemu-tdx` is mapped but not in"));
    }

    #[test]
    fn an_unknown_env_key_is_a_warning_with_a_suggestion() {
        let source = Source::File("values.yaml".into());
        let mut ctx = Ctx {
            source: &source,
            warnings: vec![],
            problems: vec![],
        };
        let map = env_of("defaultShm: qemu-snp");
        let env = LegacyEnv {
            map: &map,
            prefix: "",
            arch: None,
        };
        warn_unknown_env_keys(&env, &mut ctx);
        assert_eq!(ctx.warnings.len(), 1);
        assert_eq!(ctx.warnings[0].path, "env.defaultShm");
        assert!(ctx.warnings[0].message.contains("defaultShim"));
    }
}
