//! `cococtl rollback [REVISION]`: re-applies the inputs recorded in a revision (default:
//! the one before the latest deployed), as a new revision.

use std::process::ExitCode;

use cococtl_cluster::core::release::{History, Status};
use cococtl_cluster::deploy::Mode;
use cococtl_cluster::release_store;

use super::install::{deploy_inputs, from_record, DeployArgs};
use super::kube_args::{exit_with, fail, KubeArgs, INPUT};

/// Re-apply a recorded revision
#[derive(clap::Args)]
#[command(after_help = "Examples:
  cococtl rollback            # to the revision before the current one
  cococtl rollback 3 --wait

Exit codes: 0 rolled back, 1 not ready in time, 2 no such revision, 3 cluster or API error.")]
pub struct RollbackArgs {
    /// The revision to return to (see `cococtl history`)
    pub revision: Option<u32>,
    /// Namespace of the release
    #[arg(short = 'n', long, default_value = "coco-system")]
    pub namespace: String,
    /// The release instance (the multi-install suffix, or `default`)
    #[arg(long, default_value = "default")]
    pub instance: String,
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(flatten)]
    pub deploy: DeployArgs,
}

pub async fn run(args: RollbackArgs) -> ExitCode {
    let target = match args.revision {
        Some(r) => r,
        None => {
            let cluster = match args.kube.connect().await {
                Ok(c) => c,
                Err(code) => return code,
            };
            let h = match release_store::history(&cluster, &args.namespace, &args.instance).await {
                Ok(h) => h,
                Err(e) => return fail(&e),
            };
            let current = h.deployed().map(|r| r.revision);
            match h.records().iter().find(|r| {
                Some(r.revision) != current
                    && matches!(r.status, Status::Superseded | Status::Deployed)
            }) {
                Some(r) => r.revision,
                None => {
                    return exit_with(
                        INPUT,
                        "no earlier revision to roll back to (cococtl history)",
                    )
                }
            }
        }
    };
    to_revision(
        target,
        &args.namespace,
        &args.instance,
        &args.kube,
        &args.deploy,
    )
    .await
}

/// Rolls back to `revision`.
pub async fn to_revision(
    revision: u32,
    namespace: &str,
    instance: &str,
    kube: &KubeArgs,
    deploy: &DeployArgs,
) -> ExitCode {
    let patience = super::kube_args::step_patience(
        deploy.wait.unwrap_or_else(super::kube_args::terminal),
        deploy.timeout,
    );
    let cluster = match kube.connect_for(patience).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let h: History = match release_store::history(&cluster, namespace, instance).await {
        Ok(h) => h,
        Err(e) => return fail(&e),
    };
    let Some(r) = h.get(revision) else {
        let have: Vec<String> = h.records().iter().map(|r| r.revision.to_string()).collect();
        return exit_with(
            INPUT,
            &format!(
                "revision {revision} of `{instance}` is not recorded in {namespace} (recorded: {})",
                if have.is_empty() {
                    "none".into()
                } else {
                    have.join(", ")
                }
            ),
        );
    };
    eprintln!(
        "rolling back to revision {revision} ({})",
        r.inputs_summary()
    );
    let mut d = deploy.clone();
    d.atomic = false;
    deploy_inputs(
        Mode::Rollback { to: revision },
        from_record(&r.inputs),
        kube,
        &d,
    )
    .await
}
