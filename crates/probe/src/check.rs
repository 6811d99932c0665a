//! What a check is (id, group, declared inputs, pure evaluator) and what it reports.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::input::{Input, Reading, View};

/// The report section a check belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Host,
    Cvm,
    Snp,
    Tdx,
    Se,
    Iommu,
    Gpu,
    Kubernetes,
}

impl Group {
    pub fn title(self) -> &'static str {
        match self {
            Group::Host => "Host and KVM",
            Group::Cvm => "Is this node itself a confidential VM?",
            Group::Snp => "AMD SEV-SNP host",
            Group::Tdx => "Intel TDX host",
            Group::Se => "IBM Secure Execution host",
            Group::Iommu => "IOMMU and VFIO",
            Group::Gpu => "NVIDIA GPUs",
            Group::Kubernetes => "Kubernetes node",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    NotApplicable,
    NeedsRoot,
    NotObservable,
    DependencyFailed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Skip,
}

/// Where a check read and what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub source: String,
    pub value: String,
}

/// A check's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<SkipReason>,
    pub message: String,
    pub evidence: Vec<Evidence>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
}

impl Outcome {
    fn new(status: Status, message: impl Into<String>) -> Self {
        Outcome {
            status,
            skip_reason: None,
            message: message.into(),
            evidence: vec![],
            remediation: None,
        }
    }
    pub fn pass(m: impl Into<String>) -> Self {
        Outcome::new(Status::Pass, m)
    }
    pub fn warn(m: impl Into<String>) -> Self {
        Outcome::new(Status::Warn, m)
    }
    pub fn fail(m: impl Into<String>) -> Self {
        Outcome::new(Status::Fail, m)
    }
    pub fn skip(reason: SkipReason, m: impl Into<String>) -> Self {
        Outcome {
            skip_reason: Some(reason),
            ..Outcome::new(Status::Skip, m)
        }
    }
    pub fn fix(mut self, remediation: impl Into<String>) -> Self {
        self.remediation = Some(remediation.into());
        self
    }
    pub fn with(mut self, evidence: Vec<Evidence>) -> Self {
        self.evidence.extend(evidence);
        self
    }
    pub fn ok(&self) -> bool {
        matches!(self.status, Status::Pass | Status::Warn)
    }
}

/// What an evaluator sees: its declared inputs and the verdicts of the checks before it.
pub struct Ctx<'a> {
    pub view: View<'a>,
    pub earlier: &'a BTreeMap<&'static str, Outcome>,
}

impl Ctx<'_> {
    /// Evidence for a concrete input, as read.
    pub fn ev(&self, input: &Input) -> Evidence {
        Evidence {
            source: input.source(),
            value: self.view.get(input).summary(),
        }
    }

    pub fn ev_file(&self, path: &str) -> Evidence {
        self.ev(&Input::file(path))
    }

    pub fn earlier(&self, id: &str) -> Option<&Outcome> {
        self.earlier.get(id)
    }

    /// Whether an earlier check passed (or only warned).
    pub fn passed(&self, id: &str) -> bool {
        self.earlier(id).is_some_and(Outcome::ok)
    }

    /// The skip a check should report when `reading` could not be had.
    pub fn unreadable(&self, reading: &Reading, what: &str) -> Outcome {
        match reading {
            Reading::Denied { .. } => {
                Outcome::skip(SkipReason::NeedsRoot, format!("{what} needs root"))
                    .fix("run the probe as root")
            }
            Reading::NotObservable { detail } => {
                Outcome::skip(SkipReason::NotObservable, format!("{what}: {detail}"))
            }
            Reading::Error { detail } => {
                Outcome::fail(format!("{what} could not be read: {detail}"))
            }
            _ => Outcome::skip(SkipReason::NotObservable, format!("{what} is absent")),
        }
    }
}

/// One host check.
pub struct Check {
    pub id: &'static str,
    pub title: &'static str,
    pub group: Group,
    pub inputs: Vec<Input>,
    pub eval: fn(&Ctx) -> Outcome,
}
