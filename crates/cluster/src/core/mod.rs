//! The pure core of the cluster lifecycle: no client, no clock, no I/O. The edge gathers
//! facts (lists, watch events, the time) and asks these modules what they mean.
//!
//! - [`release`]: the release record (one Secret per revision) and its history rules;
//! - [`fielddiff`]: field-by-field changes, for `diff`;
//! - [`inventory`]: what a revision applied, the diff with a new plan, the prune rule;
//! - [`upgrade`]: what an upgrade may not change;
//! - [`uninstall`]: the order of an uninstall;
//! - [`snapshot`], [`readiness`]: when a node is done, for waits;
//! - [`status`]: the per-node and per-RuntimeClass report;
//! - [`preflight`]: the checks before the first write ([`runtime_versions`] and
//!   [`erofs_published`] among them);
//! - [`admission`]: pods a webhook rejects, and when a wait stops waiting for them.
//! - [`takeover`]: the kata installs a cluster already has, and the plan to take them over.

pub mod admission;
pub mod erofs_published;
pub mod fielddiff;
pub mod inventory;
pub mod peerpods;
pub mod preflight;
pub mod probe_hint;
pub mod rbac_rules;
pub mod readiness;
pub mod release;
pub mod runtime_versions;
pub mod snapshot;
pub mod status;
pub mod takeover;
pub mod uninstall;
pub mod upgrade;
