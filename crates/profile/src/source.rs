//! Where a value came from, so every message can name the input the user has to change.

use std::fmt;

/// One input layer, in Helm's precedence order (later wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The defaults of the pinned kata-deploy chart version.
    ChartDefaults,
    /// A profile, by name (built-in) or path.
    Profile(String),
    /// A `-f` values file.
    File(String),
    /// A `--set` argument.
    Set(String),
    /// A `--set-string` argument.
    SetString(String),
}

impl Source {
    /// Whether the user typed or named this input (as opposed to tool or chart defaults).
    pub fn is_user_input(&self) -> bool {
        matches!(
            self,
            Source::File(_) | Source::Set(_) | Source::SetString(_)
        )
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::ChartDefaults => f.write_str("kata-deploy chart defaults"),
            Source::Profile(p) => write!(f, "profile {p}"),
            Source::File(p) => write!(f, "-f {p}"),
            Source::Set(a) => write!(f, "--set '{a}'"),
            Source::SetString(a) => write!(f, "--set-string '{a}'"),
        }
    }
}
