//! The probe's report: every check result, the recommendation, the verdict for a requested
//! profile, and the exit code they imply. Rendered as text ([`text`]) or JSON (versioned by
//! [`crate::SCHEMA`]).

pub mod text;

use serde::Serialize;

use crate::recommend::{Recommendation, Verdict};
use crate::CheckResult;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub probe_version: &'static str,
    pub checks: Vec<CheckResult>,
    pub recommendation: Recommendation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Verdict>,
    /// Checks that read inputs they did not declare (a bug in the probe, never the host).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub defects: Vec<String>,
}

impl Report {
    pub fn new(
        checks: Vec<CheckResult>,
        recommendation: Recommendation,
        profile: Option<Verdict>,
        defects: Vec<String>,
    ) -> Self {
        Report {
            schema: crate::SCHEMA,
            probe_version: env!("CARGO_PKG_VERSION"),
            checks,
            recommendation,
            profile,
            defects,
        }
    }

    /// Ready for the requested profile, or (without one) for the recommended one.
    pub fn ready(&self) -> bool {
        match &self.profile {
            Some(v) => v.ready,
            None => self.recommendation.shims.iter().any(|s| s.ready),
        }
    }

    pub fn check(&self, id: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.id == id)
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        s.push('\n');
        s
    }
}
