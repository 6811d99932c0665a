//! The cluster-wide view (`cococtl check`): every node's published probe summary in one
//! table, which profile fits which nodes, how many nodes can run each RuntimeClass of a
//! chosen profile and why the others cannot, and the distinct fixes with the nodes each
//! applies to. Pure: the caller lists the Nodes.
//!
//! A node whose probe failed, or that published nothing, is named as such and never counted
//! as "not ready".

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::check::Status;
use crate::publish::{Capability, Summary, Verdict};
use crate::recommend::{confidential, KvmVerdict};

/// What is known of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFacts {
    /// The Node's name.
    pub name: String,
    /// `status.nodeInfo.architecture`.
    pub arch: String,
    /// `status.nodeInfo.kernelVersion`.
    pub kernel: String,
    /// `status.nodeInfo.containerRuntimeVersion`.
    pub runtime: String,
    /// What its probe published.
    pub probe: Probe,
}

/// A node's probe result, as far as it could be obtained.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// The published summary.
    Summary(Box<Summary>),
    /// Nothing published (no probe agent ran there).
    Missing,
    /// Published, but not readable (another version, damaged).
    Unreadable(String),
    /// The probe could not run there (pod not scheduled, image pull error, timeout).
    NotRun(String),
}

/// A profile's shims per architecture (`kubernetes.io/arch` names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSpec {
    /// The profile.
    pub name: String,
    /// Its enabled shims per architecture.
    pub shims: BTreeMap<String, Vec<String>>,
}

/// One table row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// Node.
    pub node: String,
    /// Architecture.
    pub arch: String,
    /// Kernel.
    pub kernel: String,
    /// Container runtime and version.
    pub runtime: String,
    /// `/dev/kvm`: yes, no, ?.
    pub kvm: String,
    /// Per capability: the verdict and its first blocking check.
    pub verdicts: BTreeMap<String, String>,
    /// GPUs: count, vfio, CC mode.
    pub gpus: String,
    /// Confidential-VM kind, `no`, or `?`.
    pub cvm: String,
    /// The erofs snapshotter's prerequisites (kernel, mkfs.erofs, fs-verity): `yes`,
    /// `no (<check>)`, `? (<check>)`.
    pub erofs: String,
    /// Recommended profile (or why there is none).
    pub profile: String,
    /// Ready for the requested profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_for_profile: Option<bool>,
}

/// How many nodes can run one RuntimeClass of the requested profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassCount {
    /// The RuntimeClass (`kata-<shim>`).
    pub runtime_class: String,
    /// Nodes that can run it.
    pub ready: Vec<String>,
    /// Nodes that cannot, with why (first reason per node).
    pub not_ready: Vec<(String, String)>,
}

/// The whole view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fleet {
    /// One row per node, by name.
    pub rows: Vec<Row>,
    /// Recommended profile → nodes.
    pub profiles: BTreeMap<String, Vec<String>>,
    /// For a requested profile: its RuntimeClasses and where each can run.
    pub runtime_classes: Vec<ClassCount>,
    /// Distinct fixes → the nodes they apply to.
    pub remediations: Vec<(String, Vec<String>)>,
    /// Nodes whose probe result could not be had, with why.
    pub failures: Vec<(String, String)>,
    /// The requested profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

fn cell(s: &Summary, c: Capability) -> String {
    let Some(v) = s.verdicts.get(&c) else {
        return "?".into();
    };
    match (v.verdict, v.blocked_by.first()) {
        (Verdict::Blocked | Verdict::Unknown, Some((id, _))) => {
            format!("{} ({id})", v.verdict.as_str())
        }
        (Verdict::NotApplicable, _) => "-".into(),
        _ => v.verdict.as_str().into(),
    }
}

/// The erofs checks the EROFS column reads, in the order a fix is needed.
const EROFS_CHECKS: [&str; 3] = ["erofs.kernel", "erofs.mkfs", "erofs.fsverity"];

/// `yes` when the kernel, mkfs.erofs and fs-verity passed; `no (<check>)` at the first that
/// failed or warned (a warning there is an absence: no mkfs.erofs, no fs-verity);
/// `? (<check>)` at the first not observed or not in the summary (an older probe).
fn erofs_cell(s: &Summary) -> String {
    let status = |id: &str| s.checks.get(id).copied();
    if let Some(id) = EROFS_CHECKS
        .iter()
        .find(|id| matches!(status(id), Some('f' | 'w')))
    {
        return format!("no ({id})");
    }
    match EROFS_CHECKS.iter().find(|id| status(id) != Some('p')) {
        Some(id) => format!("? ({id})"),
        None => "yes".into(),
    }
}

fn gpus_cell(s: &Summary) -> String {
    let Some(g) = &s.gpus else { return "-".into() };
    let count = g.count.map_or("?".into(), |c| c.to_string());
    let vfio = match g.vfio_bound {
        Some(true) => "vfio",
        Some(false) => "not vfio",
        None => "vfio ?",
    };
    match &g.cc_mode {
        Some(m) => format!("{count} {vfio} cc={m}"),
        None => format!("{count} {vfio}"),
    }
}

/// Whether the node can run `shims` (its profile's, for its arch): one confidential shim
/// ready, or any shim when the profile has no confidential ones.
fn ready_for(s: &Summary, shims: &[String]) -> bool {
    let ready = |n: &String| s.shims.get(n).is_some_and(|r| r.ready);
    let conf: Vec<&String> = shims.iter().filter(|n| confidential(n)).collect();
    if conf.is_empty() {
        shims.iter().any(ready)
    } else {
        conf.into_iter().any(ready)
    }
}

/// The view of `nodes`, judged for `profile` when given.
pub fn assess(nodes: &[NodeFacts], profile: Option<&ProfileSpec>) -> Fleet {
    let mut nodes: Vec<&NodeFacts> = nodes.iter().collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let mut rows = Vec::with_capacity(nodes.len());
    let mut profiles: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut fixes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut failures = vec![];
    let mut classes: BTreeMap<String, ClassCount> = BTreeMap::new();
    if let Some(p) = profile {
        for shim in p.shims.values().flatten() {
            let rc = format!("kata-{shim}");
            classes.entry(rc.clone()).or_insert(ClassCount {
                runtime_class: rc,
                ready: vec![],
                not_ready: vec![],
            });
        }
    }
    for n in nodes {
        let base = |kvm: &str, cvm: &str, profile: String| Row {
            node: n.name.clone(),
            arch: n.arch.clone(),
            kernel: n.kernel.clone(),
            runtime: n.runtime.clone(),
            kvm: kvm.into(),
            verdicts: BTreeMap::new(),
            gpus: "?".into(),
            cvm: cvm.into(),
            erofs: "?".into(),
            profile,
            ready_for_profile: None,
        };
        let s = match &n.probe {
            Probe::Summary(s) if s.error.is_none() => s,
            other => {
                let why = match other {
                    Probe::Summary(s) => {
                        format!("the probe failed: {}", s.error.clone().unwrap_or_default())
                    }
                    Probe::Missing => "no probe result published (no probe agent ran here)".into(),
                    Probe::Unreadable(e) => format!("published probe result unreadable: {e}"),
                    Probe::NotRun(e) => format!("the probe did not run: {e}"),
                };
                failures.push((n.name.clone(), why.clone()));
                for c in classes.values_mut() {
                    c.not_ready.push((n.name.clone(), why.clone()));
                }
                let mut row = base("?", "?", "(no result)".into());
                for c in Capability::ALL {
                    row.verdicts.insert(c.key().into(), "?".into());
                }
                rows.push(row);
                continue;
            }
        };
        // The verdict the shims' reasons were computed from, not a second reading.
        let kvm = KvmVerdict::of(|id| {
            s.checks
                .get(id.as_str())
                .and_then(|c| Status::from_code(*c))
        })
        .cell();
        let cvm = match s.verdicts.get(&Capability::Cvm).map(|v| v.verdict) {
            Some(Verdict::Ready) => s.cvm_kind.clone().unwrap_or_else(|| "yes".into()),
            Some(Verdict::NotApplicable) => "no".into(),
            _ => "?".into(),
        };
        let rec = s.profile.clone().unwrap_or_else(|| "none".into());
        profiles
            .entry(rec.clone())
            .or_default()
            .push(n.name.clone());
        let mut row = base(&kvm, &cvm, rec);
        for c in Capability::ALL {
            if c != Capability::Cvm {
                row.verdicts.insert(c.key().into(), cell(s, c));
            }
        }
        row.gpus = gpus_cell(s);
        row.erofs = erofs_cell(s);
        if let Some(p) = profile {
            let shims = p.shims.get(&n.arch).cloned().unwrap_or_default();
            row.ready_for_profile = Some(ready_for(s, &shims));
            for (rc, count) in classes.iter_mut() {
                let shim = rc.trim_start_matches("kata-");
                if !shims.iter().any(|x| x == shim) {
                    count.not_ready.push((
                        n.name.clone(),
                        format!("not a {} shim of {} for {}", shim, p.name, n.arch),
                    ));
                    continue;
                }
                match s.shims.get(shim) {
                    Some(r) if r.ready => count.ready.push(n.name.clone()),
                    Some(r) => count.not_ready.push((n.name.clone(), r.why.clone())),
                    None => count.not_ready.push((
                        n.name.clone(),
                        format!("its probe result says nothing about {shim}"),
                    )),
                }
            }
        }
        for (_, fix) in &s.remediations {
            fixes.entry(fix.clone()).or_default().push(n.name.clone());
        }
        rows.push(row);
    }
    let mut remediations: Vec<(String, Vec<String>)> = fixes.into_iter().collect();
    // The fix that helps most nodes first.
    remediations.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    Fleet {
        rows,
        profiles,
        runtime_classes: classes.into_values().collect(),
        remediations,
        failures,
        profile: profile.map(|p| p.name.clone()),
    }
}

/// 0: some node is ready (for the requested profile, or for a confidential profile);
/// 1: none is; 2: no node's probe result could be had at all.
pub fn exit_code(f: &Fleet) -> u8 {
    if !f.rows.is_empty() && f.failures.len() == f.rows.len() {
        return 2;
    }
    let ready = match &f.profile {
        Some(_) => f.rows.iter().any(|r| r.ready_for_profile == Some(true)),
        None => f.profiles.keys().any(|p| p != "none"),
    };
    if ready {
        0
    } else {
        1
    }
}

fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

/// The view as a user reads it.
pub fn render(f: &Fleet) -> String {
    let mut rows = vec![[
        "NODE", "ARCH", "KERNEL", "RUNTIME", "KVM", "SNP", "TDX", "SE", "GPUS", "CVM", "EROFS",
        "PROFILE",
    ]
    .map(String::from)
    .to_vec()];
    for r in &f.rows {
        let v = |k: &str| r.verdicts.get(k).cloned().unwrap_or_else(|| "?".into());
        let mut profile = r.profile.clone();
        if let Some(ok) = r.ready_for_profile {
            profile = format!("{profile}{}", if ok { "" } else { " (not ready)" });
        }
        rows.push(vec![
            r.node.clone(),
            r.arch.clone(),
            r.kernel.clone(),
            r.runtime.clone(),
            r.kvm.clone(),
            v("snp"),
            v("tdx"),
            v("se"),
            r.gpus.clone(),
            r.cvm.clone(),
            r.erofs.clone(),
            profile,
        ]);
    }
    let mut out = table(&rows);
    if !f.profiles.is_empty() {
        out.push_str("\nProfiles that fit:\n");
        for (p, nodes) in &f.profiles {
            let _ = writeln!(out, "  {p}: {} node(s): {}", nodes.len(), list(nodes));
        }
    }
    if let Some(p) = &f.profile {
        let _ = writeln!(out, "\nRuntimeClasses of profile {p}:");
        for c in &f.runtime_classes {
            let _ = writeln!(
                out,
                "  {}: {} node(s){}",
                c.runtime_class,
                c.ready.len(),
                if c.ready.is_empty() {
                    String::new()
                } else {
                    format!(": {}", list(&c.ready))
                }
            );
            let mut by_reason: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for (n, why) in &c.not_ready {
                by_reason.entry(why).or_default().push(n.clone());
            }
            for (why, nodes) in by_reason {
                let _ = writeln!(out, "    not on {}: {why}", list(&nodes));
            }
        }
    }
    if !f.remediations.is_empty() {
        out.push_str("\nTo fix:\n");
        for (fix, nodes) in &f.remediations {
            let _ = writeln!(out, "  - {fix}\n    on {}", list(nodes));
        }
    }
    if !f.failures.is_empty() {
        out.push_str("\nNo result:\n");
        for (n, why) in &f.failures {
            let _ = writeln!(out, "  {n}: {why}");
        }
    }
    out
}

/// `a, b, c` or `a, b, c and 12 more`.
fn list(nodes: &[String]) -> String {
    const SHOWN: usize = 5;
    if nodes.len() <= SHOWN {
        return nodes.join(", ");
    }
    format!(
        "{} and {} more",
        nodes[..SHOWN].join(", "),
        nodes.len() - SHOWN
    )
}
