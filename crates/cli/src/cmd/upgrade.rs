//! `cococtl upgrade`: the new inputs (or the recorded ones with `--reuse-values` plus the
//! new overrides) applied over the release, pruning what is no longer planned.

use std::process::ExitCode;

use cococtl_cluster::core::release::History;
use cococtl_cluster::deploy::Mode;
use cococtl_cluster::release_store;

use super::install::{deploy_inputs, from_record, DeployArgs};
use super::kube_args::{fail, KubeArgs};
use super::values_args::ValuesArgs;
use crate::exit;

/// Change an installed release
#[derive(clap::Args)]
#[command(after_help = "Examples:
  cococtl upgrade --profile x86_64 -f site.yaml
  cococtl upgrade --reuse-values --set debug=true --wait
  cococtl upgrade --reuse-values --kata-version 4.1.0 --atomic

Refused: a new env.multiInstallSuffix or namespace (uninstall, then install).
Exit codes: 0 upgraded, 1 not ready in time, 2 invalid input or forbidden change, 3 cluster or API error.")]
pub struct UpgradeArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(flatten)]
    pub deploy: DeployArgs,
    /// Start from the inputs recorded in the last deployed revision; -f and --set add to them
    #[arg(long)]
    pub reuse_values: bool,
    /// The release instance (the multi-install suffix, or `default`), with --reuse-values
    #[arg(long, default_value = "default")]
    pub instance: String,
}

pub async fn run(args: UpgradeArgs) -> ExitCode {
    let mut inputs = match args.values.inputs() {
        Ok(i) => i,
        Err(e) => return exit::invalid(&e),
    };
    if args.reuse_values {
        let cluster = match args.kube.connect().await {
            Ok(c) => c,
            Err(code) => return code,
        };
        let all = match release_store::load_all(&cluster, &args.values.namespace).await {
            Ok(a) => a,
            Err(e) => return fail(&e),
        };
        let h = History::new(
            all.into_iter()
                .filter(|r| r.instance == args.instance)
                .collect(),
        );
        let Some(base) = h.deployed().or(h.latest()) else {
            return exit::invalid(&format!(
                "--reuse-values: no release `{}` in namespace {}\n  fix: cococtl install",
                args.instance, args.values.namespace
            ));
        };
        let mut reused = from_record(&base.inputs);
        reused.files.extend(inputs.files);
        reused.sets.extend(inputs.sets);
        if inputs.kata_version.is_some() {
            reused.kata_version = inputs.kata_version;
        }
        reused.namespace = inputs.namespace;
        inputs = reused;
    }
    deploy_inputs(Mode::Upgrade, inputs, &args.kube, &args.deploy).await
}
