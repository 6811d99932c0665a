//! What the probe agent publishes on its Node (`docs/probe-checks.md#published`): one label
//! per TEE in cococtl's probe domain, the recommended profile, and an annotation holding a
//! compact, versioned summary of the report. Pure: the agent and `cococtl check` share these
//! functions, and nothing here reads a clock or the network.
//!
//! A probe that failed is published as `probe-failed`, never as "not ready"; a verdict the
//! probe could not reach is `unknown`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use cococtl_core::node_keys;

use crate::check::{Facts, SkipReason, Status};
use crate::id::CheckId;
use crate::report::Report;

/// Label and annotation domain of the probe agent (listed in `cococtl_core::node_keys`).
pub const DOMAIN: &str = cococtl_core::node_keys::PROBE_DOMAIN;
/// The annotation holding the [`Summary`] as compact JSON.
pub const SUMMARY_ANNOTATION: &str = cococtl_core::node_keys::PROBE_REPORT;
/// The label holding the recommended profile (`none` when nothing fits).
pub const PROFILE_LABEL: &str = cococtl_core::node_keys::PROBE_PROFILE;
/// Schema of the summary; bump on incompatible changes.
pub const SUMMARY_SCHEMA: &str = "cococtl.probe-summary/v1";
/// A reason longer than this is cut (the annotation must stay small at any host size).
const REASON_MAX: usize = 160;
/// At most this many blockers per verdict and remediations per node.
const LIST_MAX: usize = 4;

/// What the node can do, per capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// AMD SEV-SNP host.
    Snp,
    /// Intel TDX host.
    Tdx,
    /// IBM Secure Execution host.
    Se,
    /// NVIDIA GPUs can be passed to a Kata VM.
    GpuPassthrough,
    /// The node is itself a confidential VM (fit for peer-pods only).
    Cvm,
}

impl Capability {
    /// Every capability, in table order.
    pub const ALL: [Capability; 5] = [
        Capability::Snp,
        Capability::Tdx,
        Capability::Se,
        Capability::GpuPassthrough,
        Capability::Cvm,
    ];

    /// The label name within [`DOMAIN`].
    pub fn key(self) -> &'static str {
        match self {
            Capability::Snp => "snp",
            Capability::Tdx => "tdx",
            Capability::Se => "se",
            Capability::GpuPassthrough => "gpu-passthrough",
            Capability::Cvm => "cvm",
        }
    }

    /// The full label key.
    pub fn label(self) -> String {
        format!("{DOMAIN}/{}", self.key())
    }
}

/// One capability's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Positively observed to be ready (for `cvm`: the node is a confidential VM).
    Ready,
    /// Positively observed not to be ready: something blocks it.
    Blocked,
    /// The probe could not observe enough to say.
    Unknown,
    /// The question does not arise (another vendor, no GPU; for `cvm`: not a CVM).
    NotApplicable,
    /// The probe itself failed on this node.
    ProbeFailed,
}

impl Verdict {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ready => "ready",
            Verdict::Blocked => "blocked",
            Verdict::Unknown => "unknown",
            Verdict::NotApplicable => "not-applicable",
            Verdict::ProbeFailed => "probe-failed",
        }
    }
}

/// A capability's verdict with what stands in its way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilityVerdict {
    /// The verdict.
    pub verdict: Verdict,
    /// `(check id, reason)`, first blockers first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked_by: Vec<(String, String)>,
}

/// The node's GPUs, as the probe saw them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gpus {
    /// NVIDIA GPUs found (`None`: could not tell).
    pub count: Option<u32>,
    /// All of them bound to vfio-pci.
    pub vfio_bound: Option<bool>,
    /// The GPU operator's CC mode label, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc_mode: Option<String>,
}

/// A shim's readiness on the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimReadiness {
    /// Ready here.
    pub ready: bool,
    /// Why (not).
    pub why: String,
}

/// The compact report the agent publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// [`SUMMARY_SCHEMA`].
    pub schema: String,
    /// The cococtl version that probed.
    pub probe_version: String,
    /// Set by `cococtl check` to tell its run's results from older ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Why the probe failed (then every verdict is `probe-failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Per capability.
    pub verdicts: BTreeMap<Capability, CapabilityVerdict>,
    /// The kind of confidential VM the node is, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvm_kind: Option<String>,
    /// The GPUs, when the node has (or may have) any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<Gpus>,
    /// The recommended profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Every shim built for the node's architecture: ready or not, and why.
    #[serde(default)]
    pub shims: BTreeMap<String, ShimReadiness>,
    /// Every check's status, compactly: `p` pass, `w` warn, `f` fail, `s` skip, `u` unknown.
    #[serde(default)]
    pub checks: BTreeMap<String, char>,
    /// `(check id, fix)` of the failed and warned checks that have one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remediations: Vec<(String, String)>,
}

fn cut(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() <= REASON_MAX {
        return s.to_string();
    }
    let mut t: String = s.chars().take(REASON_MAX - 1).collect();
    t.push('…');
    t
}

fn status_char(s: Status) -> char {
    match s {
        Status::Pass => 'p',
        Status::Warn => 'w',
        Status::Fail => 'f',
        Status::Skip => 's',
        Status::Unknown => 'u',
    }
}

fn aggregate(r: &Report, id: CheckId) -> CapabilityVerdict {
    let Some(c) = r.get(id) else {
        return CapabilityVerdict {
            verdict: Verdict::Unknown,
            blocked_by: vec![],
        };
    };
    let o = &c.outcome;
    let verdict = match (o.status, o.skip_reason) {
        (Status::Pass | Status::Warn, _) => Verdict::Ready,
        (Status::Fail, _) => Verdict::Blocked,
        (Status::Skip, Some(SkipReason::NotApplicable)) => Verdict::NotApplicable,
        (Status::Skip, _) | (Status::Unknown, _) => Verdict::Unknown,
    };
    let blocked_by = if o.blocked_by.is_empty() && verdict != Verdict::Ready {
        vec![(id.as_str().to_string(), cut(&o.message))]
    } else {
        o.blocked_by
            .iter()
            .take(LIST_MAX)
            .map(|b| (b.check.as_str().to_string(), cut(&b.reason)))
            .collect()
    };
    CapabilityVerdict {
        verdict,
        blocked_by: if verdict == Verdict::Ready {
            vec![]
        } else {
            blocked_by
        },
    }
}

/// GPU passthrough: no GPU is not applicable; ready only when the GPUs are free of host
/// drivers, bound to vfio-pci and in viable IOMMU groups; a failed part blocks; anything
/// not observed leaves it unknown.
fn gpu_passthrough(r: &Report) -> CapabilityVerdict {
    let inv = r.get(CheckId::GpuInventory);
    if inv.is_some_and(|c| {
        c.outcome.status == Status::Skip && c.outcome.skip_reason == Some(SkipReason::NotApplicable)
    }) {
        return CapabilityVerdict {
            verdict: Verdict::NotApplicable,
            blocked_by: vec![],
        };
    }
    let parts = [
        CheckId::GpuInventory,
        CheckId::IommuEnabled,
        CheckId::GpuHostDriver,
        CheckId::GpuVfioBound,
        CheckId::GpuGroupViable,
    ];
    let mut failed = vec![];
    let mut unseen = vec![];
    for id in parts {
        match r.get(id).map(|c| &c.outcome) {
            Some(o) if matches!(o.status, Status::Pass | Status::Warn) => {}
            Some(o) if o.status == Status::Fail => {
                failed.push((id.as_str().to_string(), cut(&o.message)))
            }
            Some(o) => unseen.push((id.as_str().to_string(), cut(&o.message))),
            None => unseen.push((id.as_str().to_string(), "not evaluated".into())),
        }
    }
    let (verdict, mut by) = if !failed.is_empty() {
        (Verdict::Blocked, failed)
    } else if !unseen.is_empty() {
        (Verdict::Unknown, unseen)
    } else {
        (Verdict::Ready, vec![])
    };
    by.truncate(LIST_MAX);
    CapabilityVerdict {
        verdict,
        blocked_by: by,
    }
}

fn cvm(r: &Report) -> (CapabilityVerdict, Option<String>) {
    let Some(c) = r.get(CheckId::CvmSummary) else {
        return (
            CapabilityVerdict {
                verdict: Verdict::Unknown,
                blocked_by: vec![],
            },
            None,
        );
    };
    let kind = match &c.outcome.facts {
        Some(Facts::Guest { guest }) => Some(*guest),
        _ => None,
    };
    let verdict = match kind {
        Some(Some(_)) => Verdict::Ready,
        Some(None) => Verdict::NotApplicable,
        None => Verdict::Unknown,
    };
    let blocked_by = if verdict == Verdict::Unknown {
        vec![(
            CheckId::CvmSummary.as_str().to_string(),
            cut(&c.outcome.message),
        )]
    } else {
        vec![]
    };
    (
        CapabilityVerdict {
            verdict,
            blocked_by,
        },
        kind.flatten().map(|k| k.name().to_string()),
    )
}

fn gpus(r: &Report) -> Option<Gpus> {
    let inv = r.get(CheckId::GpuInventory)?;
    if inv.outcome.skip_reason == Some(SkipReason::NotApplicable) {
        return None;
    }
    let count = match &inv.outcome.facts {
        Some(Facts::Gpus { count, .. }) => Some(*count),
        _ => None,
    };
    let vfio_bound = r
        .get(CheckId::GpuVfioBound)
        .and_then(|c| match c.outcome.status {
            Status::Pass => Some(true),
            Status::Fail | Status::Warn => Some(false),
            _ => None,
        });
    let cc_mode = match r
        .get(CheckId::GpuCcMode)
        .and_then(|c| c.outcome.facts.clone())
    {
        Some(Facts::GpuCc { mode, cc_ready }) => {
            mode.or(cc_ready.map(|b| if b { "on".into() } else { "off".into() }))
        }
        _ => None,
    };
    Some(Gpus {
        count,
        vfio_bound,
        cc_mode,
    })
}

/// The summary of a report.
pub fn summarize(r: &Report, run: Option<&str>) -> Summary {
    let mut verdicts = BTreeMap::new();
    verdicts.insert(Capability::Snp, aggregate(r, CheckId::SnpReady));
    verdicts.insert(Capability::Tdx, aggregate(r, CheckId::TdxReady));
    verdicts.insert(Capability::Se, aggregate(r, CheckId::SeReady));
    verdicts.insert(Capability::GpuPassthrough, gpu_passthrough(r));
    let (cvm_verdict, cvm_kind) = cvm(r);
    verdicts.insert(Capability::Cvm, cvm_verdict);
    let remediations = r
        .checks
        .iter()
        .filter(|c| matches!(c.outcome.status, Status::Fail | Status::Warn))
        .filter_map(|c| {
            c.outcome
                .remediation
                .as_ref()
                .map(|f| (c.id.as_str().to_string(), cut(f)))
        })
        .take(LIST_MAX * 2)
        .collect();
    Summary {
        schema: SUMMARY_SCHEMA.into(),
        probe_version: r.probe_version.clone(),
        run: run.map(String::from),
        error: None,
        verdicts,
        cvm_kind,
        gpus: gpus(r),
        profile: r.recommendation.profile.clone(),
        shims: r
            .shims
            .iter()
            .map(|s| {
                (
                    s.shim.clone(),
                    ShimReadiness {
                        ready: s.ready,
                        why: cut(&s.why),
                    },
                )
            })
            .collect(),
        checks: r
            .checks
            .iter()
            .map(|c| (c.id.as_str().to_string(), status_char(c.outcome.status)))
            .collect(),
        remediations,
    }
}

/// The summary of a probe that could not run: every verdict `probe-failed`.
pub fn failed(error: &str, run: Option<&str>) -> Summary {
    Summary {
        schema: SUMMARY_SCHEMA.into(),
        probe_version: env!("CARGO_PKG_VERSION").into(),
        run: run.map(String::from),
        error: Some(cut(error)),
        verdicts: Capability::ALL
            .into_iter()
            .map(|c| {
                (
                    c,
                    CapabilityVerdict {
                        verdict: Verdict::ProbeFailed,
                        blocked_by: vec![],
                    },
                )
            })
            .collect(),
        cvm_kind: None,
        gpus: None,
        profile: None,
        shims: BTreeMap::new(),
        checks: BTreeMap::new(),
        remediations: vec![],
    }
}

/// The labels for a summary: one per capability, and the profile.
pub fn labels(s: &Summary) -> BTreeMap<String, String> {
    let mut l: BTreeMap<String, String> = s
        .verdicts
        .iter()
        .map(|(c, v)| (c.label(), v.verdict.as_str().to_string()))
        .collect();
    let profile = match (&s.error, &s.profile) {
        (Some(_), _) => "probe-failed".to_string(),
        (None, Some(p)) => p.clone(),
        (None, None) => "none".to_string(),
    };
    l.insert(PROFILE_LABEL.into(), profile);
    l
}

/// The annotation value: the summary as compact JSON.
pub fn annotation(s: &Summary) -> String {
    serde_json::to_string(s).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Why a published summary cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not JSON of that shape.
    #[error("not a probe summary: {0}")]
    Json(#[from] serde_json::Error),
    /// Another schema.
    #[error("probe summary schema `{0}` is not {SUMMARY_SCHEMA} (a different cococtl version published it)")]
    Schema(String),
}

/// Reads a published summary back.
pub fn parse(annotation: &str) -> Result<Summary, ParseError> {
    let s: Summary = serde_json::from_str(annotation)?;
    if s.schema != SUMMARY_SCHEMA {
        return Err(ParseError::Schema(s.schema));
    }
    Ok(s)
}

/// The NFD labels kata-deploy's TEE RuntimeClasses select on (`probe.teeLabels`), as changes
/// to a node with these labels and annotations: `true` where the probe found the TEE ready,
/// recorded as set by cococtl (`cococtl_core::node_keys`); where it is not ready, only a
/// label cococtl set is undone, so a node whose BIOS was changed loses it at the next probe
/// and a label NFD or the user set is never touched.
pub fn tee_labels(
    s: &Summary,
    labels_now: &BTreeMap<String, String>,
    annotations_now: &BTreeMap<String, String>,
) -> node_keys::Changes {
    use cococtl_core::labels::{SE_NFD_LABEL, SNP_NFD_LABEL, TDX_NFD_LABEL};
    let mut out = node_keys::Changes::default();
    for (label, c) in [
        (SNP_NFD_LABEL, Capability::Snp),
        (TDX_NFD_LABEL, Capability::Tdx),
        (SE_NFD_LABEL, Capability::Se),
    ] {
        let ready = s
            .verdicts
            .get(&c)
            .is_some_and(|v| v.verdict == Verdict::Ready);
        out.extend(if ready {
            node_keys::set_foreign(label, "true", labels_now, annotations_now)
        } else {
            node_keys::unset_foreign(label, labels_now, annotations_now)
        });
    }
    out
}

/// The merge patch that publishes `s` on a Node with these labels and annotations, or
/// `None` when the Node already shows exactly that (no write for nothing). With
/// `with_tee_labels`, the NFD TEE labels of [`tee_labels`] too.
pub fn patch(
    labels_now: &BTreeMap<String, String>,
    annotations_now: &BTreeMap<String, String>,
    s: &Summary,
    with_tee_labels: bool,
) -> Option<serde_json::Value> {
    let mut want_labels: BTreeMap<String, Option<String>> = labels(s)
        .into_iter()
        .filter(|(k, v)| labels_now.get(k) != Some(v))
        .map(|(k, v)| (k, Some(v)))
        .collect();
    let mut want_annotations: BTreeMap<String, Option<String>> = BTreeMap::new();
    let report = annotation(s);
    if annotations_now.get(SUMMARY_ANNOTATION) != Some(&report) {
        want_annotations.insert(SUMMARY_ANNOTATION.into(), Some(report));
    }
    if with_tee_labels {
        let tee = tee_labels(s, labels_now, annotations_now);
        want_labels.extend(tee.labels);
        want_annotations.extend(tee.annotations);
    }
    if want_labels.is_empty() && want_annotations.is_empty() {
        return None;
    }
    Some(serde_json::json!({
        "metadata": {
            "labels": want_labels,
            "annotations": want_annotations,
        }
    }))
}
