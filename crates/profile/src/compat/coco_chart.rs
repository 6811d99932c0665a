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

/// Translates the flat 3.22 `env.*` keys.
fn legacy_env(env: Value, prefix: &str, arch: Option<Arch>, out: &mut Value, ctx: &mut Ctx) {
    let Value::Mapping(env) = env else {
        ctx.problem(&tree::join(prefix, "env"), "must be a mapping", "");
        return;
    };
    let get = |k: &str| env.get(k).and_then(str_of);

    // Keys 4.1.0 still has under `env`.
    for key in ["installationPrefix", "multiInstallSuffix", "hostOS"] {
        if let Some(v) = get(key) {
            tree::set(out, &["env", key], Value::String(v));
        }
    }
    if let Some(v) = get("debug") {
        match v.as_str() {
            "true" | "false" | "" => {
                tree::set(out, &["debug"], Value::Bool(v == "true"));
            }
            _ => ctx.problem(
                &env_path(prefix, "debug"),
                format!("`{v}` is not a boolean"),
                "use \"true\" or \"false\"",
            ),
        }
    }
    if let Some(v) = get("createDefaultRuntimeClass") {
        tree::set(
            out,
            &["runtimeClasses", "createDefault"],
            Value::Bool(v == "true"),
        );
    }
    if get("createRuntimeClasses").as_deref() == Some("false") {
        ctx.warn(
            &env_path(prefix, "createRuntimeClasses"),
            "ignored: since kata-deploy 3.23 RuntimeClasses come with the deployment (use runtimeClasses.enabled=false to skip them)",
        );
    }
    if let Some(v) = get("_experimentalSetupSnapshotter") {
        let list = words(&v, |c| c == ',');
        tree::set(
            out,
            &["snapshotter", "setup"],
            Value::Sequence(list.into_iter().map(Value::String).collect()),
        );
    }

    // The exhaustive shim list, validated against the catalog with the user's own key path.
    let shims_path = env_path(prefix, "shims");
    let listed: Option<Vec<String>> = get("shims").map(|s| words(&s, char::is_whitespace));
    if let Some(listed) = &listed {
        for name in listed {
            check_shim(name, &shims_path, arch, ctx);
        }
        tree::set(out, &["shims", "disableAll"], Value::Bool(true));
        for shim in SHIMS {
            let on = listed.iter().any(|l| l == shim.name);
            tree::set(out, &["shims", shim.name, "enabled"], Value::Bool(on));
            if on {
                if let Some(a) = arch {
                    tree::set(
                        out,
                        &["shims", shim.name, "supportedArches"],
                        Value::Sequence(vec![Value::String(a.k8s_name().into())]),
                    );
                }
            }
        }
        restrict_daemonset(out, arch);
    }
    let is_listed = |s: &str| listed.as_ref().is_none_or(|l| l.iter().any(|x| x == s));

    let default = get("defaultShim").unwrap_or_default();
    if !default.is_empty() {
        check_shim(&default, &env_path(prefix, "defaultShim"), None, ctx);
        for a in arches_for(arch) {
            tree::set(
                out,
                &["defaultShim", a.k8s_name()],
                Value::String(default.clone()),
            );
        }
    } else if let Some(listed) = &listed {
        // 3.22 only used DEFAULT_SHIM for the optional `kata` RuntimeClass; 4.1.0 requires a
        // valid one on every arch with shims (docs/kata-deploy-contract.md#g5), so pick the first listed
        // shim per arch.
        for a in arches_for(arch) {
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

    // A flat mapping string is the whole mapping: shims it leaves out have none, even when a
    // lower layer (the profile) mapped them.
    let all_shims: Vec<&str> = match &listed {
        Some(l) => l.iter().map(String::as_str).collect(),
        None => SHIMS.iter().map(|s| s.name).collect(),
    };
    let mut per_shim = |key: &str,
                        sep: char,
                        apply: &mut dyn FnMut(&mut Value, &str, &str),
                        reset: Value,
                        reset_path: &[&str]| {
        let Some(v) = get(key) else { return };
        for shim in &all_shims {
            if shim_by_name(shim).is_some() {
                let mut p = vec!["shims", shim];
                p.extend_from_slice(reset_path);
                tree::set(out, &p, reset.clone());
            }
        }
        let path = env_path(prefix, key);
        for entry in words(&v, |c| c == sep) {
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
            apply(out, shim, val);
        }
    };
    per_shim(
        "snapshotterHandlerMapping",
        ',',
        &mut |out, shim, val| {
            tree::set(
                out,
                &["shims", shim, "containerd", "snapshotter"],
                Value::String(val.into()),
            );
        },
        Value::String(String::new()),
        &["containerd", "snapshotter"],
    );
    per_shim(
        "pullTypeMapping",
        ',',
        &mut |out, shim, val| {
            tree::set(
                out,
                &["shims", shim, "crio", "guestPull"],
                Value::Bool(val == "guest-pull"),
            );
        },
        Value::Bool(false),
        &["crio", "guestPull"],
    );

    // Global in 3.22: applies to every listed shim.
    let targets: Vec<String> = listed.clone().unwrap_or_default();
    for (key, dest) in [
        ("agentHttpsProxy", "httpsProxy"),
        ("agentNoProxy", "noProxy"),
    ] {
        if let Some(v) = get(key).filter(|v| !v.is_empty()) {
            if targets.is_empty() {
                ctx.problem(
                    &env_path(prefix, key),
                    "a global proxy needs the shim list in the same file",
                    format!("set shims.<name>.agent.{dest} per shim instead"),
                );
            }
            for shim in &targets {
                tree::set(
                    out,
                    &["shims", shim, "agent", dest],
                    Value::String(v.clone()),
                );
            }
        }
    }
    if let Some(v) = get("allowedHypervisorAnnotations").filter(|v| !v.is_empty()) {
        let anns: Vec<Value> = words(&v, char::is_whitespace)
            .into_iter()
            .map(Value::String)
            .collect();
        for shim in &targets {
            tree::set(
                out,
                &["shims", shim, "allowedHypervisorAnnotations"],
                Value::Sequence(anns.clone()),
            );
        }
    }
    if let Some(v) = get("_experimentalForceGuestPull") {
        for shim in words(&v, |c| c == ',') {
            if check_shim(
                &shim,
                &env_path(prefix, "_experimentalForceGuestPull"),
                None,
                ctx,
            ) {
                tree::set(
                    out,
                    &["shims", &shim, "containerd", "forceGuestPull"],
                    Value::Bool(true),
                );
            }
        }
    }

    let known = [
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
    for (k, _) in &env {
        let k = tree::key_str(k);
        if !known.contains(&k.as_str()) {
            let hint = crate::schema::did_you_mean(&k, known.iter().copied());
            ctx.warn(&env_path(prefix, &k), format!("unknown key, ignored{hint}"));
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
