//! `cococtl uninstall`: removes the release in the order the kata contract requires, then
//! checks that nothing is left.

use std::process::ExitCode;
use std::time::Duration;

use cococtl_cluster::core::release::History;
use cococtl_cluster::observe::Observer;
use cococtl_cluster::release_store;
use cococtl_cluster::spec::ReleaseSpec;
use cococtl_cluster::uninstall::{self, Options};

use super::kube_args::{self, exit_with, fail, parse_duration, Display, KubeArgs, NOT_READY};
use crate::exit;

/// Remove the release from the cluster and its nodes
#[derive(clap::Args)]
#[command(
    after_help = "Order: refuse while pods use the RuntimeClasses (--force overrides); with peer pods, refuse
first while PeerPod objects (cloud VMs) exist (--force: wait, up to --timeout, for peerpod-ctrl to
delete them) and delete the MutatingWebhookConfiguration before anything else; delete the
kata-deploy DaemonSet (each pod cleans its node on SIGTERM); wait for its pods; delete the
containerd agent's DaemonSet and wait until each node it changed says `restored`; delete the
RuntimeClasses, the remaining objects (the kept RBAC last), cococtl's node labels, the namespace
if this release created it (a peer-pods namespace holding Secrets cococtl did not create is kept),
and the release records; then list anything left, per node.

Exit codes: 0 removed and nothing left, 1 something is left or a node failed, 2 input, 3 cluster or API error."
)]
pub struct UninstallArgs {
    /// Namespace of the release
    #[arg(short = 'n', long, default_value = "coco-system")]
    pub namespace: String,
    /// The release instance (the multi-install suffix, or `default`)
    #[arg(long)]
    pub instance: Option<String>,
    /// Go on although pods still use the release's RuntimeClasses (peer pods: wait for
    /// peerpod-ctrl to delete the PeerPods' VMs instead of refusing)
    #[arg(long)]
    pub force: bool,
    /// Accepted for kubectl/helm habits: uninstall always waits for each step
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", hide = true)]
    pub wait: Option<bool>,
    /// How long each wait may take
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub kube: KubeArgs,
}

pub async fn run(args: UninstallArgs) -> ExitCode {
    let cluster = match args.kube.connect_for(args.timeout).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let all = match release_store::load_all(&cluster, &args.namespace).await {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let instances: std::collections::BTreeSet<String> =
        all.iter().map(|r| r.instance.clone()).collect();
    let instance = match (&args.instance, instances.len()) {
        (Some(i), _) => i.clone(),
        (None, 1) => instances.into_iter().next().unwrap_or_default(),
        (None, 0) => {
            eprintln!(
                "no release recorded in namespace {}: nothing to uninstall",
                args.namespace
            );
            return ExitCode::SUCCESS;
        }
        (None, _) => {
            return exit_with(
                kube_args::INPUT,
                &format!(
                    "namespace {} holds several releases ({}): pick one with --instance",
                    args.namespace,
                    instances.into_iter().collect::<Vec<_>>().join(", ")
                ),
            )
        }
    };
    let h = History::new(all.into_iter().filter(|r| r.instance == instance).collect());
    let Some(latest) = h.latest() else {
        eprintln!(
            "no release `{instance}` in namespace {}: nothing to uninstall",
            args.namespace
        );
        return ExitCode::SUCCESS;
    };
    let agent = h
        .all_items()
        .iter()
        .any(|i| i.kind == "DaemonSet" && i.name == cococtl_manifests::containerd_agent::NAME);
    let spec = ReleaseSpec::from_record(&args.namespace, &latest.suffix, &instance, agent);
    eprintln!(
        "uninstalling release {instance} (revision {}, {}) from {}",
        latest.revision, latest.status, args.namespace
    );
    let opts = Options {
        force: args.force,
        timeout: args.timeout,
    };
    let mut display = Display::new();
    let result = tokio::select! {
        r = uninstall::run(&cluster, &spec, &h, opts, &kube_args::now, &mut display) => r,
        _ = tokio::signal::ctrl_c() => {
            return exit_with(NOT_READY, "interrupted: the release record says uninstalling; run `cococtl uninstall` again to finish");
        }
    };
    display.done();
    let out = match result {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    let mut text = format!(
        "\nrelease {instance} uninstalled: {} object(s) deleted",
        out.deleted.len()
    );
    if !out.restored.is_empty() {
        text.push_str(&format!(
            ", containerd restored on {} node(s)",
            out.restored.len()
        ));
    }
    text.push('\n');
    for k in &out.kept {
        text.push_str(&format!("{k}\n"));
    }
    let mut code = ExitCode::SUCCESS;
    if !out.failed_nodes.is_empty() {
        text.push_str("nodes whose cleanup failed:\n");
        for (n, why) in &out.failed_nodes {
            text.push_str(&format!("  {n}: {why}\n"));
        }
        code = ExitCode::from(NOT_READY);
    }
    if out.leftovers.is_empty() {
        text.push_str(
            "nothing left: no object labelled for this release, no kata or cococtl node label\n",
        );
    } else {
        text.push_str("left behind:\n");
        for o in &out.leftovers.objects {
            text.push_str(&format!("  {o}\n"));
        }
        for (n, what) in &out.leftovers.nodes {
            for w in what {
                text.push_str(&format!("  node {n}: {w}\n"));
            }
        }
        code = ExitCode::from(NOT_READY);
    }
    let _ = exit::print(&text);
    code
}
