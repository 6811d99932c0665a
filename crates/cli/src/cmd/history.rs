//! `cococtl history`: the recorded revisions of a release, newest last (like Helm).

use std::process::ExitCode;

use cococtl_cluster::release_store;
use serde_json::json;

use super::kube_args::{fail, KubeArgs, Output};
use crate::exit;

/// List the recorded revisions of the release
#[derive(clap::Args)]
pub struct HistoryArgs {
    /// Namespace of the release
    #[arg(short = 'n', long, default_value = "coco-system")]
    pub namespace: String,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Output,
    #[command(flatten)]
    pub kube: KubeArgs,
}

pub async fn run(args: HistoryArgs) -> ExitCode {
    let cluster = match args.kube.connect().await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut all = match release_store::load_all(&cluster, &args.namespace).await {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    all.sort_by(|a, b| (a.instance.as_str(), a.revision).cmp(&(b.instance.as_str(), b.revision)));
    let rows: Vec<serde_json::Value> = all
        .iter()
        .map(|r| {
            json!({"instance": r.instance, "revision": r.revision, "status": r.status.as_str(),
                   "updated": r.updated, "kataVersion": r.kata_version, "toolVersion": r.tool_version,
                   "description": r.description, "inputs": r.inputs_summary(), "objects": r.inventory.len()})
        })
        .collect();
    match args.output {
        super::kube_args::Output::Json => exit::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({"schema": "cococtl.confidentialcontainers.org/history/v1", "revisions": rows})).unwrap_or_default()
        )),
        super::kube_args::Output::Yaml => exit::print(
            &serde_yaml::to_string(&json!({"schema": "cococtl.confidentialcontainers.org/history/v1", "revisions": rows})).unwrap_or_default(),
        ),
        super::kube_args::Output::Text => {
            if all.is_empty() {
                eprintln!("no release recorded in namespace {}", args.namespace);
                return ExitCode::from(1);
            }
            let mut out = format!(
                "{:<10} {:<9} {:<17} {:<21} {:<6} {}\n",
                "INSTANCE", "REVISION", "STATUS", "UPDATED", "KATA", "DESCRIPTION"
            );
            for r in &all {
                out.push_str(&format!(
                    "{:<10} {:<9} {:<17} {:<21} {:<6} {} ({})\n",
                    r.instance,
                    r.revision,
                    r.status.as_str(),
                    format!("{}Z", r.updated.chars().take(19).collect::<String>()),
                    r.kata_version,
                    r.description,
                    r.inputs_summary()
                ));
            }
            exit::print(&out)
        }
    }
}
