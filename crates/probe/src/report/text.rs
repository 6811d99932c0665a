//! The human report: checks grouped by TEE, one line each with evidence and the fix,
//! then the recommendation. Colour only when asked (a terminal without NO_COLOR).

use std::fmt::Write;

use super::Report;
use crate::check::Status;

struct Paint(bool);

impl Paint {
    fn status(&self, s: Status) -> String {
        let (word, code) = match s {
            Status::Pass => ("PASS", "32"),
            Status::Warn => ("WARN", "33"),
            Status::Fail => ("FAIL", "31"),
            Status::Skip => ("SKIP", "90"),
            Status::Unknown => ("UNKN", "35"),
        };
        if self.0 {
            format!("\x1b[{code}m{word}\x1b[0m")
        } else {
            word.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        if self.0 {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// The report as text; `verbose` adds the evidence of passing checks.
pub fn render(r: &Report, colour: bool, verbose: bool) -> String {
    let p = Paint(colour);
    let mut out = String::new();
    let mut group = None;
    for c in &r.checks {
        if group != Some(c.group) {
            group = Some(c.group);
            let _ = writeln!(out, "\n{}", p.bold(c.group.title()));
        }
        let o = &c.outcome;
        let reason = o
            .skip_reason
            .map(|s| {
                format!(
                    " [{}]",
                    serde_json::to_value(s)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}  {:<22} {}{reason}",
            p.status(o.status),
            c.id,
            o.message
        );
        let show_evidence =
            verbose || matches!(o.status, Status::Fail | Status::Warn | Status::Unknown);
        if show_evidence {
            for e in &o.evidence {
                let _ = writeln!(out, "{:8}{}: {}", "", e.source, e.value);
            }
        }
        for b in &o.blocked_by {
            let kind = match b.kind {
                crate::check::BlockKind::Failed => "failed",
                crate::check::BlockKind::NotObserved => "not observed",
            };
            let _ = writeln!(out, "{:8}{} {kind}: {}", "", b.check, b.reason);
        }
        if let Some(fix) = &o.remediation {
            if matches!(o.status, Status::Fail | Status::Warn) || verbose {
                let _ = writeln!(out, "{:8}fix: {fix}", "");
            }
        }
    }
    let rec = &r.recommendation;
    let _ = writeln!(out, "\n{}", p.bold("Recommendation"));
    match &rec.profile {
        Some(profile) => {
            let _ = writeln!(
                out,
                "  profile: {profile}   (cococtl install --profile {profile})"
            );
        }
        None => {
            let _ = writeln!(out, "  no profile fits this host");
        }
    }
    for reason in &rec.reasons {
        let _ = writeln!(out, "  because: {reason}");
    }
    for s in &rec.shims {
        shim_line(&mut out, &p, s);
    }
    if let Some(v) = &r.profile {
        let _ = writeln!(
            out,
            "\n{}",
            p.bold(&format!(
                "Profile {}: {}",
                v.profile,
                if v.ready { "ready" } else { "not ready" }
            ))
        );
        if !v.confidential_ready.is_empty() {
            let _ = writeln!(
                out,
                "  confidential shims ready: {}",
                v.confidential_ready.join(", ")
            );
        }
        if !v.dev_only_ready.is_empty() {
            let _ = writeln!(
                out,
                "  {}: {} (not confidential)",
                if v.ready {
                    "also ready, for development only"
                } else {
                    "only non-confidential shims are ready"
                },
                v.dev_only_ready.join(", ")
            );
        }
        for s in &v.shims {
            shim_line(&mut out, &p, s);
        }
    }
    if !r.defects.is_empty() {
        let _ = writeln!(
            out,
            "\nprobe defects (please report): {}",
            r.defects.join("; ")
        );
    }
    out
}

fn shim_line(out: &mut String, p: &Paint, s: &crate::recommend::ShimAdvice) {
    let status = if s.ready { Status::Pass } else { Status::Fail };
    let labels: Vec<String> = s
        .node_labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(
        out,
        "  {}  {:<28} RuntimeClass {}: {}",
        p.status(status),
        s.shim,
        s.runtime_class,
        s.why
    );
    let _ = writeln!(
        out,
        "{:8}node labels it selects on: {}",
        "",
        labels.join(", ")
    );
}
