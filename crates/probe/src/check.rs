//! What a check is (id, declared inputs, pure evaluator) and what it reports: a status,
//! a message, evidence, a fix, and for the checks others decide from, structured
//! [`Facts`] and (aggregates) the [`Blocker`]s that stand in the way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::CheckId;
use crate::input::{Input, Reading, View};

/// The report section a check belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Architecture, kernel, privilege, KVM.
    Host,
    /// Whether this node is itself a confidential VM.
    Cvm,
    /// AMD SEV-SNP host.
    Snp,
    /// Intel TDX host.
    Tdx,
    /// IBM Secure Execution host.
    Se,
    /// IOMMU and VFIO.
    Iommu,
    /// NVIDIA GPUs.
    Gpu,
    /// The Kubernetes node.
    Kubernetes,
}

impl Group {
    /// The section heading of the human report.
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

/// Why a check was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Another vendor or architecture: the question does not arise here.
    NotApplicable,
    /// An input needs privileges the probe lacks.
    NeedsRoot,
    /// An input cannot be observed here (module absent, log rotated, no API access).
    NotObservable,
    /// A check this one depends on did not pass.
    DependencyFailed,
}

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Positively observed to be fine.
    Pass,
    /// Works, with a caveat.
    Warn,
    /// Positively observed to be broken.
    Fail,
    /// Not evaluated (see the skip reason).
    Skip,
    /// An aggregate without enough positive evidence to say yes or no.
    Unknown,
}

impl Status {
    /// The status from its one-letter code in a published summary (`p`, `w`, `f`, `s`,
    /// `u`; `docs/probe-checks.md#published`).
    pub fn from_code(c: char) -> Option<Status> {
        match c {
            'p' => Some(Status::Pass),
            'w' => Some(Status::Warn),
            'f' => Some(Status::Fail),
            's' => Some(Status::Skip),
            'u' => Some(Status::Unknown),
            _ => None,
        }
    }
}

/// Where a check read and what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The input: a path, register, ioctl or "kernel log".
    pub source: String,
    /// What was read, verbatim or summarised.
    pub value: String,
}

/// What kind of confidential guest a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CvmKind {
    /// Intel TDX trust domain.
    Tdx,
    /// AMD SEV-SNP guest.
    SevSnp,
    /// AMD SEV or SEV-ES guest.
    SevEs,
    /// Hyper-V (Azure) VM isolated with SEV-SNP.
    HypervSnp,
    /// Hyper-V (Azure) VM isolated with TDX.
    HypervTdx,
    /// IBM Secure Execution guest.
    SecureExecution,
    /// Arm CCA realm.
    Cca,
}

impl CvmKind {
    /// A short human name.
    pub fn name(self) -> &'static str {
        match self {
            CvmKind::Tdx => "TDX",
            CvmKind::SevSnp => "SEV-SNP",
            CvmKind::SevEs => "SEV/SEV-ES",
            CvmKind::HypervSnp => "Hyper-V SEV-SNP isolated",
            CvmKind::HypervTdx => "Hyper-V TDX isolated",
            CvmKind::SecureExecution => "Secure Execution",
            CvmKind::Cca => "Arm CCA realm",
        }
    }
}

/// Structured facts a check found, for the checks and the recommendation that build on
/// it (never parsed back out of the message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Facts {
    /// A `cvm.*` check: the guest kind, or `None` when the node was observed not to be one.
    Guest {
        /// The kind of confidential guest this node is.
        guest: Option<CvmKind>,
    },
    /// `snp.kmsg`: what the kernel log of this boot positively shows.
    SnpLog {
        /// `SEV-SNP: RMP table physical range …`: the BIOS reserved an RMP.
        rmp_reserved: bool,
        /// `SEV-SNP API:x.y build:z`: the firmware initialised SNP.
        firmware_initialised: bool,
        /// `kvm_amd: SEV-SNP enabled` (or the older ASID line): KVM enabled SNP.
        kvm_snp: bool,
        /// `AMD-Vi: IOMMU SNP support enabled`.
        iommu_snp: bool,
    },
    /// `gpu.inventory`: the NVIDIA GPUs found.
    Gpus {
        /// GPUs identified.
        count: u32,
        /// PCI functions that could not be identified (they may be GPUs too).
        unidentified: u32,
    },
    /// `gpu.cc_capable`: whether every GPU's family has confidential computing.
    GpuCcCapable {
        /// `Some(false)` when some GPU is of a family known to lack it.
        capable: Option<bool>,
    },
    /// `gpu.cc_mode`: the GPU operator's view of the GPUs' confidential-computing mode.
    GpuCc {
        /// `nvidia.com/cc.ready.state`: `Some(true)` when the GPUs are in CC mode.
        cc_ready: Option<bool>,
        /// `nvidia.com/cc.mode(.state)` as labelled.
        mode: Option<String>,
    },
}

/// Why an aggregate is not a plain yes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// The check failed: positive evidence against.
    Failed,
    /// The check could not observe what the aggregate needs.
    NotObserved,
}

/// One check that stands between an aggregate and "yes".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocker {
    /// The check.
    pub check: CheckId,
    /// Failed, or not observed.
    pub kind: BlockKind,
    /// A short reason (the check's message).
    pub reason: String,
}

/// A check's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Pass, warn, fail, skip, or (aggregates) unknown.
    pub status: Status,
    /// Why the check was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<SkipReason>,
    /// One line for humans.
    pub message: String,
    /// What was read.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// What to do about a fail or warn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
    /// Aggregates: the checks that block a "yes".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked_by: Vec<Blocker>,
    /// Structured facts for the checks and the recommendation built on this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<Facts>,
}

impl Outcome {
    fn new(status: Status, message: impl Into<String>) -> Self {
        Outcome {
            status,
            skip_reason: None,
            message: message.into(),
            evidence: vec![],
            remediation: None,
            blocked_by: vec![],
            facts: None,
        }
    }
    /// A pass.
    pub fn pass(m: impl Into<String>) -> Self {
        Outcome::new(Status::Pass, m)
    }
    /// A warning.
    pub fn warn(m: impl Into<String>) -> Self {
        Outcome::new(Status::Warn, m)
    }
    /// A failure.
    pub fn fail(m: impl Into<String>) -> Self {
        Outcome::new(Status::Fail, m)
    }
    /// An aggregate that cannot say yes or no.
    pub fn unknown(m: impl Into<String>) -> Self {
        Outcome::new(Status::Unknown, m)
    }
    /// A skip, with its reason.
    pub fn skip(reason: SkipReason, m: impl Into<String>) -> Self {
        Outcome {
            skip_reason: Some(reason),
            ..Outcome::new(Status::Skip, m)
        }
    }
    /// Adds the remediation.
    pub fn fix(mut self, remediation: impl Into<String>) -> Self {
        self.remediation = Some(remediation.into());
        self
    }
    /// Adds evidence.
    pub fn with(mut self, evidence: Vec<Evidence>) -> Self {
        self.evidence.extend(evidence);
        self
    }
    /// Sets the structured facts.
    pub fn facts(mut self, facts: Facts) -> Self {
        self.facts = Some(facts);
        self
    }
    /// Sets the blockers.
    pub fn blocked_by(mut self, blockers: Vec<Blocker>) -> Self {
        self.blocked_by = blockers;
        self
    }
    /// Passed, or only warned.
    pub fn ok(&self) -> bool {
        matches!(self.status, Status::Pass | Status::Warn)
    }
}

/// The verdicts so far, by check.
pub type Results = BTreeMap<CheckId, Outcome>;

/// What an evaluator sees: its declared inputs and the verdicts of the checks before it.
pub struct Ctx<'a> {
    /// The declared inputs.
    pub view: View<'a>,
    /// The verdicts of the checks evaluated before this one.
    pub earlier: &'a Results,
}

impl Ctx<'_> {
    /// Evidence for a concrete input, as read.
    pub fn ev(&self, input: &Input) -> Evidence {
        Evidence {
            source: input.source(),
            value: self.view.get(input).summary(),
        }
    }

    /// Evidence for a file input.
    pub fn ev_file(&self, path: &str) -> Evidence {
        self.ev(&Input::file(path))
    }

    /// The verdict of an earlier check.
    pub fn earlier(&self, id: CheckId) -> Option<&Outcome> {
        self.earlier.get(&id)
    }

    /// Whether an earlier check passed (or only warned).
    pub fn passed(&self, id: CheckId) -> bool {
        self.earlier(id).is_some_and(Outcome::ok)
    }

    /// The skip a check should report when `reading` could not be had.
    pub fn unreadable(&self, reading: &Reading, what: &str) -> Outcome {
        match reading {
            Reading::Denied { .. } => {
                Outcome::skip(SkipReason::NeedsRoot, format!("reading {what} needs root"))
                    .fix("run the probe as root")
            }
            Reading::NotObservable { detail } => Outcome::skip(
                SkipReason::NotObservable,
                format!("{what} is not observable: {detail}"),
            ),
            // A read error tells nothing about the host: not a fail.
            Reading::Error { detail } => Outcome::skip(
                SkipReason::NotObservable,
                format!("{what} could not be read: {detail}"),
            ),
            _ => Outcome::skip(SkipReason::NotObservable, format!("{what} is absent")),
        }
    }
}

/// One host check.
pub struct Check {
    /// Its id (also its title and group).
    pub id: CheckId,
    /// Everything it may read.
    pub inputs: Vec<Input>,
    /// The pure evaluator.
    pub eval: fn(&Ctx) -> Outcome,
}

impl Check {
    /// A check with its declared inputs and evaluator.
    pub fn new(id: CheckId, inputs: Vec<Input>, eval: fn(&Ctx) -> Outcome) -> Self {
        Check { id, inputs, eval }
    }
}
