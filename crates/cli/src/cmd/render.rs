//! `cococtl render`: print the objects an install would apply, with no cluster.

use std::process::ExitCode;

use cococtl_manifests::{emit, plan, ClusterFacts, Object};

use super::values_args::ValuesArgs;
use crate::exit;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Output {
    Yaml,
    Json,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Phase {
    /// What install applies
    Install,
    /// The RBAC-cleanup objects uninstall applies after the kata-deploy pods are gone
    Uninstall,
}

/// Print the Kubernetes objects that install Confidential Containers (no cluster needed)
#[derive(clap::Args)]
#[command(after_help = "Examples:
  cococtl render --profile x86_64
  cococtl render --profile s390x -f my-values.yaml --set debug=true -n coco-system
  cococtl render --profile remote -f my-peerpods.yaml -o json   # peer pods: provider keys under peerpods:
  cococtl render --profile remote --set peerpods.provider=aws -f aws.yaml
  cococtl render --profile x86_64 --set peerpods.enabled=true -f aws.yaml   # TEE nodes plus peer pods
  cococtl render -f values/kata-s390x.yaml          # a CoCo chart values file, as it is
  cococtl render --profile x86_64 | kubectl apply --server-side -f -
  cococtl render --profile s390x -f site.yaml --show-values   # what the layers add up to

Exit codes: 0 rendered, 2 invalid input (nothing printed on stdout).")]
pub struct RenderArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    /// Output format: a YAML stream or a JSON v1/List
    #[arg(short = 'o', long, value_enum, default_value = "yaml")]
    pub output: Output,
    /// Which objects to print
    #[arg(long, value_enum, default_value = "install")]
    pub phase: Phase,
    /// Render as if Node Feature Discovery ran in the cluster (adds the NFD TEE node
    /// selectors to pure-TEE RuntimeClasses, as the chart does when it finds NFD). It does
    /// not settle `nodeFeatureRules.create: auto`: only `true` renders the NodeFeatureRule
    /// offline
    #[arg(long)]
    pub assume_nfd: bool,
    /// Print the effective values (chart defaults, profile, files and --set merged) instead
    /// of the objects
    #[arg(long)]
    pub show_values: bool,
}

pub fn run(args: RenderArgs) -> ExitCode {
    let inputs = match args.values.inputs() {
        Ok(i) => i,
        Err(e) => return exit::invalid(&e),
    };
    let resolved = match cococtl_profile::resolve(&inputs) {
        Ok(r) => r,
        Err(e) => return exit::invalid(&e.to_string()),
    };
    exit::warnings(&resolved.warnings);
    if args.show_values {
        return exit::print(&cococtl_manifests::yaml::document(&resolved.values));
    }
    let facts = ClusterFacts {
        nfd_detected: args.assume_nfd,
    };
    if let Err(e) = cococtl_manifests::check_facts(&resolved.config, facts) {
        return exit::invalid(&e);
    }
    let plan = plan(&resolved.config, facts);
    let objects: Vec<&Object> = match args.phase {
        Phase::Install => plan.install().collect(),
        Phase::Uninstall => plan.uninstall().collect(),
    };
    exit::print(&match args.output {
        Output::Yaml => emit::yaml(objects),
        Output::Json => emit::json(objects),
    })
}
