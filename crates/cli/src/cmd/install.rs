//! `cococtl install`: preflight, apply the plan `render` prints with server-side apply,
//! record the release, wait for every targeted node. The flow is shared with `upgrade` and
//! `rollback` ([`deploy`]).

use std::process::ExitCode;
use std::time::Duration;

use cococtl_cluster::client::Cluster;
use cococtl_cluster::core::preflight::DistributionDecision;
use cococtl_cluster::core::release;
use cococtl_cluster::core::status::runtime_class_counts;
use cococtl_cluster::deploy::{self, Mode, Request};
use cococtl_cluster::diff::{self, Change};
use cococtl_cluster::observe::Observer;
use cococtl_cluster::spec::ReleaseSpec;
use cococtl_cluster::{preflight, release_store, status, uninstall};
use cococtl_manifests::{plan, ClusterFacts, Phase, Plan};
use cococtl_profile::{Inputs, Resolved, SetArg};

use super::kube_args::{self, fail, parse_duration, Display, KubeArgs};
use super::values_args::ValuesArgs;
use crate::exit;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DryRun {
    /// Print what would be applied; no cluster needed
    Client,
    /// Ask the API server to validate every object without storing it
    Server,
}

/// Options shared by install and upgrade.
#[derive(clap::Args, Debug, Clone)]
pub struct DeployArgs {
    /// Wait until every targeted node reports kata ready (default on a terminal; --wait=false
    /// to return right after applying)
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub wait: Option<bool>,
    /// How long --wait and each step may take
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// If the release does not become ready, undo it (install: uninstall; upgrade: roll back
    /// to the previous revision)
    #[arg(long)]
    pub atomic: bool,
    /// Take over fields another field manager owns (server-side apply `force`)
    #[arg(long)]
    pub force_conflicts: bool,
    /// Peer pods: label exactly these nodes `node.kubernetes.io/worker=` (cloud-api-adaptor
    /// runs only there) once preflight passes
    #[arg(long, num_args = 1.., value_name = "NODE")]
    pub label_workers: Vec<String>,
    /// Apply nothing: `client` prints the objects, `server` has the API server validate them
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "client", require_equals = true)]
    pub dry_run: Option<DryRun>,
}

/// Install Confidential Containers on the cluster
#[derive(clap::Args)]
#[command(after_help = "Examples:
  cococtl install --profile x86_64
  cococtl install --profile s390x -f site.yaml --set debug=true --wait --timeout 20m
  cococtl install --profile x86_64 --dry-run=server      # validate against the cluster
  cococtl install --context prod -n coco-system --atomic
  cococtl install --profile x86_64 --take-over --max-unavailable 2   # replace a Helm/operator install

Exit codes: 0 installed (and ready with --wait), 1 not ready in time or a node failed,
2 invalid input, 3 cluster or API error (preflight refusals included).")]
pub struct InstallArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(flatten)]
    pub deploy: DeployArgs,
    /// Take over the kata installs the cluster already has: print the plan (`cococtl diff
    /// --take-over` shows it without changing anything), clean each old install up the way
    /// its version does, then install
    #[arg(long)]
    pub take_over: bool,
    /// With --take-over: how many nodes an old install's clean-up DaemonSet works on at once
    /// (each restarts its container runtime)
    #[arg(long, default_value_t = 1, value_name = "N", requires = "take_over")]
    pub max_unavailable: usize,
    /// With --take-over: cordon each node that runs pods with an old install's
    /// RuntimeClasses and evict them (PodDisruptionBudgets respected) instead of refusing
    #[arg(long, requires = "take_over")]
    pub drain: bool,
}

pub async fn run(args: InstallArgs) -> ExitCode {
    let inputs = match args.values.inputs() {
        Ok(i) => i,
        Err(e) => return exit::invalid(&e),
    };
    if args.take_over {
        let t = super::take_over::TakeOver {
            max_unavailable: args.max_unavailable,
            drain: args.drain,
        };
        return super::take_over::run(inputs, &args.kube, &args.deploy, t).await;
    }
    deploy_inputs(Mode::Install, inputs, &args.kube, &args.deploy).await
}

/// The recorded form of the inputs.
pub fn recorded(i: &Inputs) -> release::Inputs {
    release::Inputs {
        profile: i.profile.clone(),
        files: i.files.clone(),
        sets: i
            .sets
            .iter()
            .map(|s| release::SetInput {
                string: s.string,
                arg: s.arg.clone(),
            })
            .collect(),
        kata_version: i.kata_version.clone(),
        namespace: i.namespace.clone(),
    }
}

/// The inputs of a record, to resolve again.
pub fn from_record(r: &release::Inputs) -> Inputs {
    Inputs {
        profile: r.profile.clone(),
        files: r.files.clone(),
        sets: r
            .sets
            .iter()
            .map(|s| SetArg {
                string: s.string,
                arg: s.arg.clone(),
            })
            .collect(),
        kata_version: r.kata_version.clone(),
        namespace: r.namespace.clone(),
    }
}

/// Whether the user gave `k8sDistribution`: in a values file, a `--set`, or a profile of
/// their own (the built-in profiles spell out the default `k8s`, which does not count).
fn distribution_set(i: &Inputs) -> bool {
    let in_text = |t: &str| t.contains("k8sDistribution");
    i.profile
        .as_ref()
        .is_some_and(|(name, t)| cococtl_profile::builtin::source(name).is_none() && in_text(t))
        || i.files.iter().any(|(_, t)| in_text(t))
        || i.sets.iter().any(|s| in_text(&s.arg))
}

fn resolve(i: &Inputs, facts: ClusterFacts) -> Result<(Resolved, Plan), ExitCode> {
    let r = cococtl_profile::resolve(i).map_err(|e| exit::invalid(&e.to_string()))?;
    let p = plan(&r.config, facts);
    Ok((r, p))
}

/// install, upgrade and rollback from inputs.
pub async fn deploy_inputs(
    mode: Mode,
    mut inputs: Inputs,
    kube: &KubeArgs,
    args: &DeployArgs,
) -> ExitCode {
    let (mut resolved, mut the_plan) = match resolve(&inputs, ClusterFacts::default()) {
        Ok(x) => x,
        Err(c) => return c,
    };
    exit::warnings(&resolved.warnings);
    if args.dry_run == Some(DryRun::Client) {
        let mut out = String::new();
        for (phase, objects) in the_plan.steps(Phase::INSTALL) {
            out.push_str(&format!("{phase}:\n"));
            for o in objects {
                out.push_str(&format!("  {} (would be applied)\n", o.id()));
            }
        }
        return exit::print(&out);
    }
    let patience =
        kube_args::step_patience(args.wait.unwrap_or_else(kube_args::terminal), args.timeout);
    let cluster = match kube.connect_for(patience).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let spec = ReleaseSpec::new(&resolved.config, &the_plan);
    eprintln!("preflight: checking {} …", cluster.server);
    let facts = match preflight::run(
        &cluster,
        &spec,
        &the_plan,
        &cococtl_cluster::core::runtime_versions::needs_of(&resolved.config),
        resolved.config.k8s_distribution,
        preflight::Options {
            user_set: distribution_set(&inputs),
            force_conflicts: args.force_conflicts,
            profile: inputs
                .profile
                .as_ref()
                .map_or("<profile>", |(name, _)| name.as_str()),
        },
    )
    .await
    {
        Ok(f) => f,
        Err(e) => return fail(&e),
    };
    eprintln!(
        "preflight: Kubernetes {}, {} node(s), permissions ok, no other kata-deploy",
        facts.server_version,
        facts.nodes.len()
    );
    for n in &facts.notes {
        eprintln!("warning: {n}");
    }
    if let DistributionDecision::AutoSet(d) = facts.distribution {
        eprintln!("preflight: the nodes run {d}: setting k8sDistribution={d}");
        inputs.sets.push(SetArg {
            string: false,
            arg: format!("k8sDistribution={d}"),
        });
    }
    if facts.nfd {
        eprintln!("preflight: Node Feature Discovery runs: pure-TEE RuntimeClasses get its TEE node selectors");
    }
    let tee_shims: Vec<(&str, cococtl_core::catalog::Isolation)> = resolved
        .config
        .shims
        .iter()
        .map(|s| (s.shim.name, s.shim.isolation))
        .collect();
    if let Some(w) = cococtl_cluster::core::probe_hint::tee_warning(&facts.nodes, &tee_shims) {
        eprintln!("warning: {w}");
    }
    if facts.nfd || matches!(facts.distribution, DistributionDecision::AutoSet(_)) {
        (resolved, the_plan) = match resolve(
            &inputs,
            ClusterFacts {
                nfd_detected: facts.nfd,
            },
        ) {
            Ok(x) => x,
            Err(c) => return c,
        };
    }
    match preflight::settle_node_feature_rules(&cluster, &mut resolved.config, facts.nfd).await {
        Ok(Some(note)) => {
            eprintln!("preflight: {note}");
            the_plan = plan(
                &resolved.config,
                ClusterFacts {
                    nfd_detected: facts.nfd,
                },
            );
        }
        Ok(None) => {}
        Err(e) => return fail(&e),
    }
    let spec = ReleaseSpec::new(&resolved.config, &the_plan);
    if let Some(pp) = &resolved.config.peerpods {
        let apply_labels = args.dry_run.is_none();
        match cococtl_cluster::peerpods::preflight(
            &cluster,
            pp,
            &spec.instance,
            &facts.nodes,
            &facts.daemonsets,
            &args.label_workers,
            apply_labels,
        )
        .await
        {
            Ok(f) => {
                let cm = if pp.webhook.is_some() {
                    "cert-manager ready, "
                } else {
                    ""
                };
                eprintln!("preflight: peer pods: {cm}worker nodes labelled, no other cloud-api-adaptor, referenced Secrets present");
                for n in &f.labelled {
                    eprintln!("preflight: labelled node {n} node.kubernetes.io/worker=");
                }
                if let Some(note) = f.note {
                    eprintln!("preflight: {note}");
                }
            }
            Err(e) => return fail(&e),
        }
    } else if !args.label_workers.is_empty() {
        return kube_args::exit_with(
            kube_args::INPUT,
            "--label-workers is for peer pods (the cloud-api-adaptor DaemonSet selects node.kubernetes.io/worker), which this configuration does not turn on",
        );
    }
    if args.dry_run == Some(DryRun::Server) {
        let history = match release_store::history(&cluster, &spec.namespace, &spec.instance).await
        {
            Ok(h) => h,
            Err(e) => return fail(&e),
        };
        return match diff::dry_run(&cluster, &the_plan, &history, args.force_conflicts).await {
            Ok(d) => {
                let mut out = String::new();
                for o in d {
                    let what = match o.change {
                        Change::Create => "would be created (validated by the server)".to_string(),
                        Change::CreateUnvalidated => "would be created (in the namespace this install creates; the server cannot dry-run into it before it exists)".to_string(),
                        Change::Update(c) => format!("would be configured ({} field(s))", c.len()),
                        Change::Unchanged => "unchanged".to_string(),
                        Change::Prune => "would be pruned".to_string(),
                    };
                    out.push_str(&format!("{} {what}\n", o.id));
                }
                exit::print(&out)
            }
            Err(e) => fail(&e),
        };
    }
    let wait = args.wait.unwrap_or_else(kube_args::terminal);
    let values = serde_json::to_value(&resolved.values).unwrap_or_default();
    let req = Request {
        mode,
        spec: &spec,
        plan: &the_plan,
        inputs: recorded(&inputs),
        values,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        force_conflicts: args.force_conflicts,
        wait: wait.then_some(args.timeout),
        now: &kube_args::now,
    };
    let mut display = Display::new();
    let result = tokio::select! {
        r = deploy::run(&cluster, &req, &mut display) => r,
        _ = tokio::signal::ctrl_c() => {
            display.done();
            return kube_args::exit_with(kube_args::NOT_READY, "interrupted: the release record says pending; run the same command again to converge, or `cococtl uninstall`");
        }
    };
    display.done();
    match result {
        Ok(out) => {
            summary(&cluster, &spec, &out, wait).await;
            verification(&cluster, &resolved.config, mode, wait).await
        }
        Err(f) => {
            eprintln!("error: {}", f.error);
            if f.outcome.revision > 0 {
                eprintln!(
                    "  revision {} is recorded as failed (cococtl history)",
                    f.outcome.revision
                );
            }
            if args.atomic {
                return atomic(&cluster, mode, &spec, &f, kube, args).await;
            }
            ExitCode::from(f.error.exit_code())
        }
    }
}

async fn atomic(
    cluster: &Cluster,
    mode: Mode,
    spec: &ReleaseSpec,
    f: &deploy::Failure,
    kube: &KubeArgs,
    args: &DeployArgs,
) -> ExitCode {
    let code = ExitCode::from(f.error.exit_code());
    match (mode, f.outcome.previous) {
        (Mode::Install, _) => {
            eprintln!("--atomic: uninstalling the failed install");
            let h = match release_store::history(cluster, &spec.namespace, &spec.instance).await {
                Ok(h) => h,
                Err(e) => return fail(&e),
            };
            let opts = uninstall::Options {
                force: true,
                timeout: args.timeout,
            };
            if let Err(e) = uninstall::run(
                cluster,
                spec,
                &h,
                opts,
                &kube_args::now,
                &mut Display::new(),
            )
            .await
            {
                eprintln!("error: --atomic uninstall: {e}");
            }
            code
        }
        (_, Some(prev)) => {
            eprintln!("--atomic: rolling back to revision {prev}");
            let _ = Box::pin(super::rollback::to_revision(
                prev,
                &spec.namespace,
                &spec.instance,
                kube,
                args,
            ))
            .await;
            code
        }
        (_, None) => code,
    }
}

/// What a user needs next: the usable RuntimeClasses, on how many nodes, and a pod.
async fn summary(cluster: &Cluster, spec: &ReleaseSpec, out: &deploy::Outcome, waited: bool) {
    let mut text = format!(
        "\nrelease {} revision {} deployed in {}",
        spec.instance, out.revision, spec.namespace
    );
    if !out.pruned.is_empty() {
        text.push_str(&format!(" ({} object(s) pruned)", out.pruned.len()));
    }
    text.push('\n');
    // After a wait, its last view of the nodes says it all: no request is made again.
    let seen = match (&out.progress, &out.nodes) {
        (Some(p), Some(nodes)) => Some((
            p.ready(),
            p.nodes.len(),
            runtime_class_counts(&out.classes, nodes),
        )),
        _ => status::gather(cluster, &spec.namespace, Some(&spec.instance))
            .await
            .ok()
            .map(|facts| {
                let rep = status::report(&spec.namespace, &facts);
                (rep.ready_nodes, rep.targeted_nodes, rep.runtime_classes)
            }),
    };
    if let Some((ready, targeted, classes)) = seen {
        if waited {
            text.push_str(&format!("{ready} of {targeted} targeted node(s) ready\n"));
        }
        text.push_str("RuntimeClasses:\n");
        for rc in &classes {
            text.push_str(&format!("  {:<32} {} node(s)\n", rc.name, rc.nodes));
        }
        if let Some(rc) = classes.iter().find(|r| r.nodes > 0).or(classes.first()) {
            text.push_str(&format!(
                "\nTry it:\n  kubectl run coco-test --rm -it --restart=Never --image=busybox \\\n    --overrides='{{\"spec\":{{\"runtimeClassName\":\"{}\"}}}}' -- uname -r\n  cococtl verify -n {}      # checks each class runs pods in a VM\n",
                rc.name, spec.namespace
            ));
        }
    }
    if !waited {
        text.push_str("not waited: follow progress with `cococtl status --watch`\n");
    }
    let _ = exit::print(&text);
}

/// `verification.pod`: run after the release is ready, as the chart's post-install and
/// post-upgrade verification Job does; it needs kata on the nodes, so only with --wait.
async fn verification(
    cluster: &cococtl_cluster::client::Cluster,
    config: &cococtl_profile::Config,
    mode: Mode,
    wait: bool,
) -> ExitCode {
    let Some(v) = &config.verification else {
        return ExitCode::SUCCESS;
    };
    if matches!(mode, Mode::Rollback { .. }) {
        return ExitCode::SUCCESS;
    }
    if !wait {
        eprintln!("note: verification.pod runs only with --wait (it needs kata ready on the nodes): run `cococtl install --wait` again, or `cococtl verify`");
        return ExitCode::SUCCESS;
    }
    let mut display = Display::new();
    let r = cococtl_cluster::verification::run(
        cluster,
        v,
        std::time::Duration::from_secs(1),
        &mut display,
    )
    .await;
    display.done();
    match r {
        Ok(cococtl_cluster::verification::Verdict::Succeeded) => ExitCode::SUCCESS,
        Ok(cococtl_cluster::verification::Verdict::Failed(why)) => kube_args::exit_with(
            kube_args::NOT_READY,
            &format!("verification failed: {why}\n  the release is installed and recorded as deployed; `cococtl verify` checks every RuntimeClass"),
        ),
        Err(e) => fail(&e),
    }
}
