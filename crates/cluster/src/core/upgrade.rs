//! What an upgrade may not change: the kata contract fixes the multi-install suffix and the
//! namespace of a release (docs/kata-deploy-contract.md#refusals; the chart refuses a
//! suffix change against its state ConfigMap, and `DAEMONSET_NAME` is resolved in the
//! pod's own namespace).

use std::fmt;

/// A change an upgrade refuses, with the reason and the way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forbidden {
    /// `env.multiInstallSuffix` changed.
    Suffix {
        /// Recorded.
        from: String,
        /// Asked for.
        to: String,
    },
    /// The namespace changed.
    Namespace {
        /// Recorded.
        from: String,
        /// Asked for.
        to: String,
    },
}

fn shown(s: &str) -> &str {
    if s.is_empty() {
        "(none)"
    } else {
        s
    }
}

impl fmt::Display for Forbidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Forbidden::Suffix { from, to } => write!(
                f,
                "env.multiInstallSuffix cannot change on upgrade ({} → {}): every object name, \
                 the node labels and the host directories of an install are derived from it, \
                 and kata-deploy refuses the change (docs/kata-deploy-contract.md#refusals)\n  \
                 fix: keep --set env.multiInstallSuffix={}, or `cococtl uninstall` then \
                 `cococtl install` with the new suffix",
                shown(from),
                shown(to),
                from
            ),
            Forbidden::Namespace { from, to } => write!(
                f,
                "the namespace of a release cannot change on upgrade ({from} → {to}): the \
                 kata-deploy pods find their DaemonSet in their own namespace, so moving it \
                 would make every pod clean its node (docs/kata-deploy-contract.md#daemonset-name)\n  \
                 fix: upgrade with -n {from}, or `cococtl uninstall -n {from}` then \
                 `cococtl install -n {to}`"
            ),
        }
    }
}

/// Checks the new suffix and namespace against the recorded ones.
pub fn check(
    recorded_suffix: &str,
    recorded_namespace: &str,
    suffix: &str,
    namespace: &str,
) -> Vec<Forbidden> {
    let mut out = vec![];
    if recorded_suffix != suffix {
        out.push(Forbidden::Suffix {
            from: recorded_suffix.into(),
            to: suffix.into(),
        });
    }
    if recorded_namespace != namespace {
        out.push(Forbidden::Namespace {
            from: recorded_namespace.into(),
            to: namespace.into(),
        });
    }
    out
}
