//! `cococtl diff`: what install/upgrade would create, change (field paths, old → new) and
//! prune, from server-side dry-run applies; exit 1 when something would change.

use std::process::ExitCode;

use cococtl_cluster::diff::{self, Change};
use cococtl_cluster::release_store;
use cococtl_manifests::{plan, ClusterFacts};

use super::kube_args::{fail, KubeArgs, NOT_READY};
use super::values_args::ValuesArgs;
use crate::exit;

/// Show what install or upgrade would change, object by object
#[derive(clap::Args)]
#[command(
    after_help = "Exit codes (like kubectl diff): 0 no changes, 1 changes, 2 input, 3 cluster or API error."
)]
pub struct DiffArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Compare as if taking over fields other managers own (--force-conflicts)
    #[arg(long)]
    pub force_conflicts: bool,
}

pub async fn run(args: DiffArgs) -> ExitCode {
    let inputs = match args.values.inputs() {
        Ok(i) => i,
        Err(e) => return exit::invalid(&e),
    };
    let resolved = match cococtl_profile::resolve(&inputs) {
        Ok(r) => r,
        Err(e) => return exit::invalid(&e.to_string()),
    };
    exit::warnings(&resolved.warnings);
    let cluster = match args.kube.connect().await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let nfd_detected = match cococtl_cluster::preflight::detect_nfd(&cluster).await {
        Ok(n) => n,
        Err(e) => return fail(&e),
    };
    let p = plan(&resolved.config, ClusterFacts { nfd_detected });
    let history = match release_store::history(
        &cluster,
        &resolved.config.namespace,
        resolved.config.instance(),
    )
    .await
    {
        Ok(h) => h,
        Err(e) => return fail(&e),
    };
    let d = match diff::dry_run(&cluster, &p, &history, args.force_conflicts).await {
        Ok(d) => d,
        Err(e) => return fail(&e),
    };
    let mut out = String::new();
    let mut changes = 0;
    for o in &d {
        match &o.change {
            Change::Unchanged => {}
            Change::Create | Change::CreateUnvalidated => {
                changes += 1;
                out.push_str(&format!("+ {} (create)\n", o.id));
            }
            Change::Prune => {
                changes += 1;
                out.push_str(&format!("- {} (prune)\n", o.id));
            }
            Change::Update(fields) => {
                changes += 1;
                out.push_str(&format!("~ {} ({} field(s))\n", o.id, fields.len()));
                for f in fields {
                    out.push_str(&format!(
                        "    {}: {} → {}\n",
                        f.path,
                        f.old.as_deref().unwrap_or("(absent)"),
                        f.new.as_deref().unwrap_or("(removed)")
                    ));
                }
            }
        }
    }
    let unchanged = d.len() - changes;
    out.push_str(&format!(
        "{changes} object(s) would change, {unchanged} unchanged\n"
    ));
    let _ = exit::print(&out);
    if changes > 0 {
        ExitCode::from(NOT_READY)
    } else {
        ExitCode::SUCCESS
    }
}
