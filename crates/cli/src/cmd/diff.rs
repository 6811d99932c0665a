//! `cococtl diff`: what install/upgrade would create, change (field paths, old → new) and
//! prune, from server-side dry-run applies; exit 1 when something would change. With
//! `--take-over`: the kata installs the cluster already has and the plan to take them over
//! (nothing is changed; the take-over itself is not implemented yet).

use std::process::ExitCode;

use cococtl_cluster::diff::{self, Change};
use cococtl_cluster::release_store;
use cococtl_manifests::{plan, ClusterFacts};

use super::kube_args::{fail, KubeArgs, Output, INPUT, NOT_READY};
use super::values_args::ValuesArgs;
use crate::exit;

/// Show what install or upgrade would change, object by object
#[derive(clap::Args)]
#[command(
    after_help = "Exit codes (like kubectl diff): 0 no changes, 1 changes, 2 input, 3 cluster or API error.
With --take-over: 0 the plan can run, 2 something refuses it (listed), 3 cluster or API error."
)]
pub struct DiffArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Compare as if taking over fields other managers own (--force-conflicts)
    #[arg(long)]
    pub force_conflicts: bool,
    /// Show the kata installs the cluster already has and the plan to take them over
    #[arg(long)]
    pub take_over: bool,
    /// With --take-over: plan to evict the kata pods of the old installs node by node
    /// (`install --take-over --drain`) instead of refusing while they run
    #[arg(long, requires = "take_over")]
    pub drain: bool,
    /// Output format of --take-over
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Output,
}

/// `--take-over`: what is found, then the plan (text, or the same as JSON/YAML).
async fn take_over(
    cluster: &cococtl_cluster::client::Cluster,
    p: &cococtl_manifests::Plan,
    namespace: &str,
    output: Output,
    drain: bool,
) -> ExitCode {
    use cococtl_cluster::core::takeover;
    let have = cococtl_cluster::takeover::Listed {
        with_pods: true,
        ..Default::default()
    };
    let (found, errors) = match cococtl_cluster::takeover::detect(cluster, have).await {
        Ok(f) => f,
        Err(e) => return fail(&e),
    };
    for e in &errors {
        eprintln!("warning: {e}: that release is not taken into account");
    }
    let target = takeover::Target::of(p, namespace, drain);
    let the_plan = takeover::plan(&found, &target);
    let doc = serde_json::json!({"found": found, "plan": the_plan, "target": target});
    let out = match output {
        Output::Text => takeover::render(&found, &the_plan, &target),
        Output::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        ),
        Output::Yaml => serde_yaml::to_string(&doc).unwrap_or_default(),
    };
    let code = exit::print(&out);
    if the_plan.refusals.is_empty() {
        code
    } else {
        ExitCode::from(INPUT)
    }
}

pub async fn run(args: DiffArgs) -> ExitCode {
    let inputs = match args.values.inputs() {
        Ok(i) => i,
        Err(e) => return exit::invalid(&e),
    };
    let mut resolved = match cococtl_profile::resolve(&inputs) {
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
    // As install settles it, so the diff compares what install would apply.
    if let Err(e) = cococtl_cluster::preflight::settle_node_feature_rules(
        &cluster,
        &mut resolved.config,
        nfd_detected,
    )
    .await
    {
        return fail(&e);
    }
    let p = plan(&resolved.config, ClusterFacts { nfd_detected });
    if args.take_over {
        return take_over(
            &cluster,
            &p,
            &resolved.config.namespace,
            args.output,
            args.drain,
        )
        .await;
    }
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
