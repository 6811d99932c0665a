//! Errors and warnings about values, each naming the key path, the input it came from and
//! the fix.

use std::fmt;

use crate::source::Source;

/// One thing wrong with the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Key path as `--set` spells it, e.g. `defaultShim.amd64`.
    pub path: String,
    /// The input that set the offending value, when one did.
    pub source: Option<Source>,
    /// What is wrong.
    pub message: String,
    /// What to do about it, e.g. `--set defaultShim.amd64=qemu-snp`.
    pub fix: String,
}

impl Problem {
    /// A problem at `path` with no source yet (see [`Problem::from`]).
    pub fn new(
        path: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Problem {
            path: path.into(),
            source: None,
            message: message.into(),
            fix: fix.into(),
        }
    }

    /// The same problem, attributed to the input `source`.
    pub fn from(mut self, source: Option<Source>) -> Self {
        self.source = source;
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some(s) = &self.source {
            write!(f, " (from {s})")?;
        }
        write!(f, ": {}", self.message)?;
        if !self.fix.is_empty() {
            write!(f, "\n  fix: {}", self.fix)?;
        }
        Ok(())
    }
}

/// Something accepted but probably not what the user meant (unknown keys, translations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Key path as `--set` spells it.
    pub path: String,
    /// The input the key came from, when known.
    pub source: Option<Source>,
    /// What was done with it, with a suggestion when there is one.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some(s) = &self.source {
            write!(f, " (from {s})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why values could not become a configuration. Nothing was rendered or changed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A profile or `-f` file is not a YAML mapping.
    #[error("{source_}: not a valid values file: {message}\n  fix: correct the YAML (it must be a mapping of keys to values)")]
    Parse {
        /// The file.
        source_: Source,
        /// What the YAML parser said.
        message: String,
    },
    /// A `--set` argument does not parse.
    #[error("{0}")]
    Set(#[from] crate::set_syntax::SetError),
    /// `--profile` names neither a built-in profile nor a readable file.
    #[error("unknown profile `{name}`\n  built-in profiles: {builtin}\n  fix: pass one of those, or a path to a values file")]
    UnknownProfile {
        /// The name given.
        name: String,
        /// The built-in profiles, comma-separated.
        builtin: String,
    },
    /// `--kata-version` is not one the tool has a contract for.
    #[error("kata-deploy version `{requested}` is not supported\n  supported: {supported}\n  fix: --kata-version {default}")]
    UnsupportedKataVersion {
        /// The version given.
        requested: String,
        /// The supported versions, comma-separated.
        supported: String,
        /// The default version.
        default: String,
    },
    /// The values are well-formed but wrong; every problem found, in key order.
    #[error("{}", render_problems(.0))]
    Invalid(Vec<Problem>),
}

fn render_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\nerror: ")
}
