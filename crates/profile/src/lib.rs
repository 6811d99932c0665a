//! Profiles and values: everything between what the user typed and a validated [`Config`].
//!
//! Start with [`resolve`]: it layers the pinned kata-deploy chart's defaults, a profile, each
//! `-f` file and each `--set` in Helm's order, translates the CoCo chart's vocabulary
//! ([`compat`]), warns about unknown keys with a suggestion ([`schema`]), and validates
//! ([`validate`]). Peer pods (the upstream `peerpods` chart's values under `peerpods:`) are
//! in [`peerpods`]. [`cococtl_core::catalog`] holds what each kata-deploy shim is and where
//! it builds.
//!
//! Everything here is pure: no network, no clock, no files. The caller reads the files it
//! names and passes their text.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod builtin;
pub mod compat;
pub mod config;
mod custom_containerd;
pub mod error;
mod kata_4_1;
pub mod mirror;
pub mod names;
pub mod peerpods;
mod probe;
mod proxy;
mod raw;
pub mod schema;
pub mod set_syntax;
pub mod source;
pub mod tree;
pub mod validate;

pub use config::{Config, Global, KataVersion};
pub use custom_containerd::{default_agent_image, DEFAULT_AGENT_IMAGE};
pub use error::{Error, Problem, Warning};
pub use source::Source;

use serde_yaml::{Mapping, Value};

/// A `--set` or `--set-string` argument, in command-line order.
#[derive(Debug, Clone)]
pub struct SetArg {
    /// `--set-string` (every value a string) rather than `--set`.
    pub string: bool,
    /// The argument as typed, `key=value[,key=value…]`.
    pub arg: String,
}

/// What the user asked for. File contents are read by the caller.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Profile name (built-in) or path, with its YAML text.
    pub profile: Option<(String, String)>,
    /// `-f` files: (path as typed, contents), in order.
    pub files: Vec<(String, String)>,
    /// `--set` / `--set-string` arguments, in command-line order.
    pub sets: Vec<SetArg>,
    /// `--kata-version`; `None` = the default pinned version.
    pub kata_version: Option<String>,
    /// The install namespace (`-n`).
    pub namespace: String,
}

/// A validated configuration, the warnings met on the way, and the effective values.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The validated configuration.
    pub config: Config,
    /// Accepted but suspicious input (unknown keys, translations), in input order.
    pub warnings: Vec<Warning>,
    /// The merged values (chart defaults included), as `helm get values --all` would show.
    pub values: Value,
}

/// The built-in profile `name`, or an error listing them.
pub fn builtin_profile(name: &str) -> Result<&'static str, Error> {
    builtin::source(name).ok_or_else(|| Error::UnknownProfile {
        name: name.to_string(),
        builtin: builtin::names().collect::<Vec<_>>().join(", "),
    })
}

fn parse_layer(text: &str, source: &Source) -> Result<Value, Error> {
    let mut v: Value = serde_yaml::from_str(text).map_err(|e| Error::Parse {
        source_: source.clone(),
        message: e.to_string(),
    })?;
    // The CoCo chart's files share settings through anchors and `<<` merge keys.
    v.apply_merge().map_err(|e| Error::Parse {
        source_: source.clone(),
        message: e.to_string(),
    })?;
    match v {
        Value::Null => Ok(Value::Mapping(Mapping::new())),
        Value::Mapping(_) => Ok(v),
        _ => Err(Error::Parse {
            source_: source.clone(),
            message: "the top level is not a mapping".into(),
        }),
    }
}

/// Layers, translates and validates the inputs.
pub fn resolve(inputs: &Inputs) -> Result<Resolved, Error> {
    let kata_version = match &inputs.kata_version {
        None => KataVersion::DEFAULT,
        Some(v) => KataVersion::parse(v).ok_or_else(|| Error::UnsupportedKataVersion {
            requested: v.clone(),
            supported: KataVersion::SUPPORTED
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            default: KataVersion::DEFAULT.as_str().into(),
        })?,
    };
    let defaults = kata_4_1::defaults::tree();

    let mut layers: Vec<(Source, Value)> = vec![];
    if let Some((name, text)) = &inputs.profile {
        let src = Source::Profile(name.clone());
        layers.push((src.clone(), parse_layer(text, &src)?));
    }
    for (path, text) in &inputs.files {
        let src = Source::File(path.clone());
        layers.push((src.clone(), parse_layer(text, &src)?));
    }

    let mut warnings = vec![];
    let mut problems = vec![];
    let mut user = Value::Mapping(Mapping::new());
    let mut prov = validate::Provenance::new();
    let mut index = 0;
    let mut record = |tree: &Value, src: &Source, prov: &mut validate::Provenance| {
        let mut paths = vec![];
        tree::leaf_paths(tree, "", &mut paths);
        for p in paths {
            prov.insert(p, (index, src.clone()));
        }
        index += 1;
    };
    for (src, layer) in layers {
        let t = compat::translate(layer, &src);
        warnings.extend(t.warnings);
        problems.extend(t.problems);
        warnings.extend(schema::unknown_keys(&t.tree, &defaults, &src));
        record(&t.tree, &src, &mut prov);
        tree::merge(&mut user, t.tree);
    }
    for s in &inputs.sets {
        let (src, mode) = if s.string {
            (Source::SetString(s.arg.clone()), set_syntax::Mode::String)
        } else {
            (Source::Set(s.arg.clone()), set_syntax::Mode::Typed)
        };
        // Parsed on its own too: for translation, the schema check and provenance.
        let layer = set_syntax::parse(&s.arg, mode)?;
        if mode == set_syntax::Mode::String {
            warnings.extend(schema::string_booleans(&layer, &defaults, &src));
        }
        let t = compat::translate(layer.clone(), &src);
        warnings.extend(t.warnings);
        problems.extend(t.problems);
        warnings.extend(schema::unknown_keys(&t.tree, &defaults, &src));
        record(&t.tree, &src, &mut prov);
        if t.tree == layer {
            // Helm's ParseInto: write into the values the profile and files built, so an
            // index reaches into their list and several `--set` on one element compose
            // (docs/values.md#set-into).
            set_syntax::apply(&mut user, &s.arg, mode)?;
        } else {
            // CoCo-chart vocabulary means something only once translated, as its own layer.
            tree::merge(&mut user, t.tree);
        }
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let mut values = defaults;
    tree::merge(&mut values, user);
    tree::drop_nulls(&mut values);
    peerpods::add_remote_shim(&mut values, &prov).map_err(|p| Error::Invalid(vec![p]))?;

    let id = validate::Identity {
        kata_version,
        namespace: inputs.namespace.clone(),
    };
    let (config, more) = validate::validate(&values, &prov, id).map_err(Error::Invalid)?;
    warnings.extend(more);
    if config.debug {
        // kata-deploy 4.1.0's drop-in then also sets containerd's own `[debug] level`:
        // every pod's containerd logging on every node, not only kata's.
        warnings.push(Warning {
            path: "debug".into(),
            source: prov.get("debug").map(|(_, s)| s.clone()),
            message: "also turns on containerd's debug logging node-wide on every targeted node (kata-deploy writes `[debug] level = \"debug\"` into its containerd drop-in) until uninstall (docs/kata-deploy-contract.md#debug)".into(),
        });
    }
    Ok(Resolved {
        config,
        warnings,
        values,
    })
}
