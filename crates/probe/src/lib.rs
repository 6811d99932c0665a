//! Host readiness for confidential containers: which TEE this node offers (AMD SEV-SNP,
//! Intel TDX, IBM SE), whether it is itself a confidential VM, whether its GPUs can be
//! passed to Kata, and which cococtl profile and shims fit it.
//!
//! Start with [`probe`]. Every check ([`checks`], ids in [`id::CheckId`]) declares its
//! inputs and evaluates them purely; [`host::Host`] is the only way anything is read, with
//! a real implementation for this machine and a fixture implementation (`--root`, `--hw`)
//! for tests. Nothing on the host is ever changed. The catalogue, the recommendation rules
//! and the report schema are described in `docs/probe-checks.md`.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod capture;
pub mod check;
pub mod checks;
pub mod fleet;
pub mod host;
pub mod id;
pub mod input;
pub mod parse;
pub mod publish;
pub mod recommend;
pub mod report;

use std::collections::BTreeSet;

use cococtl_core::Arch;
use serde::{Deserialize, Serialize};

use check::{Ctx, Group, Outcome, Results};
use id::CheckId;
use input::{Input, Snapshot, View};

/// Schema of the JSON report; bump on incompatible changes.
pub const SCHEMA: &str = "cococtl.probe/v1";

/// Every check's declared inputs, deduplicated: what a probe run reads and `capture` records.
pub fn declared_inputs() -> BTreeSet<Input> {
    checks::all().into_iter().flat_map(|c| c.inputs).collect()
}

/// One check's result, ready for the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check.
    pub id: CheckId,
    /// Its title.
    pub title: String,
    /// Its report section.
    pub group: Group,
    /// Its verdict.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Runs every check against `host`, and the verdict for `profile` (its shims for this
/// host's arch) when one is given.
pub fn probe(host: &dyn host::Host, profile: Option<recommend::ProfileShims>) -> report::Report {
    let snapshot = Snapshot::gather(host, &declared_inputs());
    let mut earlier = Results::new();
    let mut results = vec![];
    let mut defects = vec![];
    for c in checks::all() {
        let outcome = {
            let ctx = Ctx {
                view: View::new(&snapshot, &c.inputs),
                earlier: &earlier,
            };
            let o = (c.eval)(&ctx);
            for v in ctx.view.violations.borrow().iter() {
                tracing::warn!(check = %c.id, input = %v.source(), "check read an undeclared input");
                defects.push(format!("{} read undeclared input {}", c.id, v.source()));
            }
            o
        };
        tracing::debug!(check = %c.id, status = ?outcome.status, message = %outcome.message, "evaluated");
        earlier.insert(c.id, outcome.clone());
        results.push(CheckResult {
            id: c.id,
            title: c.id.title().to_string(),
            group: c.id.group(),
            outcome,
        });
    }
    let arch = snapshot
        .readings
        .get(&Input::file(checks::ARCH))
        .and_then(|r| r.text())
        .and_then(|a| Arch::from_kernel_name(a.trim()));
    let recommendation = recommend::recommend(&earlier, arch);
    let verdict = profile.map(|p| recommend::verdict(&earlier, p));
    let mut report = report::Report::new(results, recommendation, verdict, defects);
    report.shims = arch.map_or_else(Vec::new, |a| recommend::all_shims(&earlier, a));
    report
}
