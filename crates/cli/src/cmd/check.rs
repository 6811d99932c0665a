//! `cococtl check`: which nodes can run which confidential profile, and why not, for the
//! whole cluster. Either reads what the probe agents published (`--published`), or runs the
//! probe once on every selected node (a short-lived DaemonSet it removes afterwards, also on
//! timeout or Ctrl-C, unless `--keep`) and reads what that run published.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use cococtl_cluster::check::{self, Run};
use cococtl_core::Arch;
use cococtl_probe::fleet::{self, ProfileSpec};

use super::kube_args::{fail, parse_duration, KubeArgs, Output, INPUT};
use crate::exit;

/// Check every node's hardware readiness for confidential containers
#[derive(clap::Args)]
#[command(after_help = "Examples:
  cococtl check                                 # probe every node now, print the table
  cococtl check --profile x86_64                # how many nodes can run each of its RuntimeClasses
  cococtl check --published -o json             # what the probe agents (probe.enabled) published
  cococtl check --nodes node-role.kubernetes.io/worker= --timeout 3m

Exit codes: 0 some node is ready (for --profile: for that profile), 1 none is, 2 no node's
result could be had, 3 cluster or API error. The labels and report are described in
docs/probe-checks.md#published.")]
pub struct CheckArgs {
    /// Only nodes matching this label selector
    #[arg(long, value_name = "SELECTOR")]
    nodes: Option<String>,
    /// Judge the nodes for this profile: how many can run each of its RuntimeClasses
    #[arg(long)]
    profile: Option<String>,
    /// Read what the probe agents published; run no pod
    #[arg(long)]
    published: bool,
    /// Leave the probe DaemonSet in place after the run
    #[arg(long)]
    keep: bool,
    /// How long to wait for every node's result
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
    /// The probe image (default: cococtl's own, this version, moved to --image-registry
    /// when one is given)
    #[arg(long)]
    image: Option<String>,
    /// The registry mirror the cluster pulls from (the install's global.imageRegistry):
    /// the default probe image is pulled from it
    #[arg(long, value_name = "REGISTRY", env = "COCOCTL_IMAGE_REGISTRY")]
    image_registry: Option<String>,
    /// A Secret the probe pods pull their image with (repeatable; the install's
    /// global.imagePullSecrets)
    #[arg(long = "image-pull-secret", value_name = "NAME")]
    image_pull_secrets: Vec<String>,
    /// Label the nodes selected by --nodes nvidia.com/gpu.workload.config=vm-passthrough
    /// (the GPU Operator then hands their GPUs to VMs) before checking
    #[arg(long, requires = "nodes")]
    label_gpu_nodes: bool,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: Output,
    #[command(flatten)]
    pub kube: KubeArgs,
}

fn profile_spec(name: &str) -> Result<ProfileSpec, String> {
    let text = match cococtl_profile::builtin::source(name) {
        Some(t) => t.to_string(),
        None => std::fs::read_to_string(name).map_err(|e| {
            format!("--profile {name}: not a built-in profile and not readable: {e}")
        })?,
    };
    let by_arch = cococtl_profile::builtin::enabled_shims(&text)
        .map_err(|e| format!("--profile {name}: {e}"))?;
    Ok(ProfileSpec {
        name: name.to_string(),
        shims: by_arch
            .into_iter()
            .map(|(a, s): (Arch, Vec<String>)| (a.k8s_name().to_string(), s))
            .collect::<BTreeMap<_, _>>(),
    })
}

fn run_id() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("check-{}-{}", t.as_secs(), std::process::id())
}

pub async fn run(args: CheckArgs) -> ExitCode {
    if let Some(why) = args
        .image_registry
        .as_deref()
        .filter(|r| !r.trim().is_empty())
        .and_then(cococtl_profile::mirror::check_registry)
    {
        return super::kube_args::exit_with(
            INPUT,
            &format!("--image-registry: {why}\n  fix: --image-registry registry.example.com/coco"),
        );
    }
    let profile = match args.profile.as_deref().map(profile_spec).transpose() {
        Ok(p) => p,
        Err(e) => return super::kube_args::exit_with(INPUT, &e),
    };
    let cluster = match args.kube.connect_for(args.timeout).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    if args.label_gpu_nodes {
        let nodes = match check::nodes(&cluster, args.nodes.as_deref()).await {
            Ok(n) => check::names(&n),
            Err(e) => return fail(&e),
        };
        eprintln!(
            "labelling {} node(s) nvidia.com/gpu.workload.config=vm-passthrough: {}",
            nodes.len(),
            nodes.join(", ")
        );
        if let Err(e) = check::label_gpu_nodes(&cluster, &nodes).await {
            return fail(&e);
        }
    }
    // --published reads everything from one node list; a probe run lists them again at the
    // end, since its agents changed the annotations.
    let mut listed = None;
    let facts = if args.published {
        match check::nodes(&cluster, args.nodes.as_deref()).await {
            Ok(n) => {
                let facts = n.iter().map(check::node_facts).collect();
                listed = Some(n);
                facts
            }
            Err(e) => return fail(&e),
        }
    } else {
        let nodes = match check::nodes(&cluster, args.nodes.as_deref()).await {
            Ok(n) if n.is_empty() => {
                return super::kube_args::exit_with(
                    INPUT,
                    &format!(
                        "no node matches {}",
                        args.nodes.as_deref().unwrap_or("(all)")
                    ),
                )
            }
            Ok(n) => check::names(&n),
            Err(e) => return fail(&e),
        };
        let id = run_id();
        let image = args.image.clone().unwrap_or_else(|| {
            let own = cococtl_profile::default_agent_image();
            match args
                .image_registry
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
            {
                Some(m) => cococtl_profile::mirror::rewrite(&own, m),
                None => own,
            }
        });
        eprintln!("probing {} node(s) with {image} (run {id})", nodes.len());
        let run = match Run::start(
            &cluster,
            cococtl_manifests::probe_agent::check_objects_pulling(
                &image,
                &args.image_pull_secrets,
                &id,
                &nodes,
            ),
        )
        .await
        {
            Ok(r) => r,
            Err(e) => return fail(&e),
        };
        let mut last = usize::MAX;
        let mut progress = |done: usize, total: usize| {
            if done != last {
                eprintln!("  {done}/{total} node(s) reported");
                last = done;
            }
        };
        let collected = tokio::select! {
            r = run.collect(&cluster, &nodes, &id, args.timeout, &mut progress) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        };
        if args.keep {
            eprintln!(
                "--keep: the probe DaemonSet stays in namespace {}",
                cococtl_manifests::probe_agent::CHECK_NAME
            );
        } else {
            eprintln!("removing the probe DaemonSet");
            run.remove(&cluster).await;
        }
        match collected {
            None => {
                return super::kube_args::exit_with(130, "interrupted; the probe run was removed")
            }
            Some(Err(e)) => return fail(&e),
            Some(Ok(f)) => f,
        }
    };
    let view = fleet::assess(&facts, profile.as_ref());
    // The GPU Operator flow reads the Nodes' labels and the ClusterPolicy.
    let nodes = match listed {
        Some(n) => n,
        None => match check::nodes(&cluster, args.nodes.as_deref()).await {
            Ok(n) => n,
            Err(e) => return fail(&e),
        },
    };
    let gpu = check::gpu_flow(&nodes, check::gpu_operator(&cluster).await);
    #[derive(serde::Serialize)]
    struct Out<'a> {
        #[serde(flatten)]
        fleet: &'a fleet::Fleet,
        gpu: &'a check::GpuFlow,
    }
    let out = Out {
        fleet: &view,
        gpu: &gpu,
    };
    let text = match args.output {
        Output::Text => format!("{}{}", fleet::render(&view), check::render_gpu_flow(&gpu)),
        Output::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&out).unwrap_or_default()
        ),
        Output::Yaml => serde_yaml::to_string(&out).unwrap_or_default(),
    };
    let printed = exit::print(&text);
    if printed != ExitCode::SUCCESS {
        return printed;
    }
    ExitCode::from(fleet::exit_code(&view))
}
