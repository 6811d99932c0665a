//! The probe's report: every check result, the recommendation, the verdict for a requested
//! profile, and the exit code they imply. Rendered as text ([`text`]) or JSON (versioned by
//! [`crate::SCHEMA`]).

pub mod text;

use serde::{Deserialize, Serialize};

use crate::id::CheckId;
use crate::recommend::{Recommendation, Verdict};
use crate::CheckResult;

/// A probe report (schema [`crate::SCHEMA`]): owned, so a published report can be read
/// back with [`Report::from_json`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `cococtl.probe/v1`.
    pub schema: String,
    /// The cococtl version that probed.
    pub probe_version: String,
    /// Every check, in evaluation order.
    pub checks: Vec<CheckResult>,
    /// The profile and shims that fit this host.
    pub recommendation: Recommendation,
    /// The verdict for the requested profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Verdict>,
    /// Every shim kata-deploy builds for this host's architecture, ready or not and why:
    /// what a cluster-wide check judges any profile from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shims: Vec<crate::recommend::ShimAdvice>,
    /// Checks that read inputs they did not declare (a bug in the probe, never the host).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub defects: Vec<String>,
}

/// Why a JSON report cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Not JSON, or not the shape of a report.
    #[error("not a probe report: {0}")]
    Parse(#[from] serde_json::Error),
    /// Another schema.
    #[error("probe report schema `{found}` is not `{}`", crate::SCHEMA)]
    Schema {
        /// The schema the report names.
        found: String,
    },
}

impl Report {
    /// A report of this probe version.
    pub fn new(
        checks: Vec<CheckResult>,
        recommendation: Recommendation,
        profile: Option<Verdict>,
        defects: Vec<String>,
    ) -> Self {
        Report {
            schema: crate::SCHEMA.to_string(),
            probe_version: env!("CARGO_PKG_VERSION").to_string(),
            checks,
            recommendation,
            profile,
            shims: vec![],
            defects,
        }
    }

    /// Ready for the requested profile, or (without one) for the recommended one. Without
    /// a profile, a recommendation of only non-confidential shims is not "ready" while a
    /// TEE readiness is unknown: the probe could not see enough to say there is no TEE.
    pub fn ready(&self) -> bool {
        if let Some(v) = &self.profile {
            return v.ready;
        }
        let shims = &self.recommendation.shims;
        let any = shims.iter().any(|s| s.ready);
        let confidential = shims
            .iter()
            .any(|s| s.ready && crate::recommend::confidential(&s.shim));
        let tee_unknown = self.checks.iter().any(|c| {
            matches!(
                c.id,
                CheckId::SnpReady | CheckId::TdxReady | CheckId::SeReady
            ) && c.outcome.status == crate::check::Status::Unknown
        });
        any && (confidential || !tee_unknown)
    }

    /// A check's result by dotted id (`snp.ready`).
    pub fn check(&self, id: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.id.as_str() == id)
    }

    /// A check's result.
    pub fn get(&self, id: CheckId) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// Reads a JSON report back (`cococtl status`/`check`), refusing other schemas.
    pub fn from_json(text: &str) -> Result<Report, ReportError> {
        let r: Report = serde_json::from_str(text)?;
        if r.schema != crate::SCHEMA {
            return Err(ReportError::Schema { found: r.schema });
        }
        Ok(r)
    }

    /// The report as pretty JSON, newline-terminated.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        s.push('\n');
        s
    }
}
