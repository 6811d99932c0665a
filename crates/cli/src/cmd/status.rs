//! `cococtl status`: per node and per RuntimeClass, from a few lists; `--watch`
//! follows changes; exit 1 when degraded.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use cococtl_cluster::core::status::StatusReport;
use cococtl_cluster::core::takeover::record::Record;
use cococtl_cluster::status;

use super::kube_args::{fail, KubeArgs, Output, NOT_READY};
use crate::exit;

/// How often `--watch` reads the release's and a take-over's records again.
const REREAD: Duration = Duration::from_secs(2);

/// Show the release and every node's state
#[derive(clap::Args)]
#[command(
    after_help = "Exit codes: 0 every targeted node ready, 1 degraded (or no release), 2 input, 3 cluster or API error.
-o json|yaml follow the schema cococtl.confidentialcontainers.org/status/v1."
)]
pub struct StatusArgs {
    /// Namespace of the release
    #[arg(short = 'n', long, default_value = "coco-system")]
    pub namespace: String,
    /// The release instance (the multi-install suffix, or `default`)
    #[arg(long)]
    pub instance: Option<String>,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Output,
    /// Print again whenever something changes (Ctrl-C to stop)
    #[arg(short = 'w', long)]
    pub watch: bool,
    #[command(flatten)]
    pub kube: KubeArgs,
}

pub fn text(r: &StatusReport) -> String {
    let mut s = String::new();
    match &r.release {
        Some(rel) => s.push_str(&format!(
            "release: revision {} {} (kata-deploy {}, updated {})\n  inputs: {}\n",
            rel.revision, rel.status, rel.kata_version, rel.updated, rel.inputs
        )),
        None => s.push_str(&format!("release: none recorded in {}\n", r.namespace)),
    }
    s.push_str(&format!(
        "nodes: {}/{} targeted ready ({} in the cluster){}\n\n",
        r.ready_nodes,
        r.targeted_nodes,
        r.total_nodes,
        if r.degraded { " — DEGRADED" } else { "" }
    ));
    s.push_str(&format!(
        "{:<14} {:<6} {:<22} {:<20} {:<10} {:<6} {:<18} {}\n",
        "NODE", "ARCH", "KERNEL", "RUNTIME", "CONTAINERD", "KATA", "KATA-DEPLOY POD", "STATE"
    ));
    for n in &r.nodes {
        let pod = n
            .kata_deploy_pod
            .as_ref()
            .map(|p| {
                let mut t = p.phase.clone();
                if p.restarts > 0 {
                    t.push_str(&format!(" ({}r)", p.restarts));
                }
                t
            })
            .unwrap_or_else(|| "-".into());
        let state = match &n.state {
            None => "not targeted".to_string(),
            Some(st) => match st {
                cococtl_cluster::core::readiness::NodeState::Ready => "ready".into(),
                cococtl_cluster::core::readiness::NodeState::Waiting(w) => format!("waiting: {w}"),
                cococtl_cluster::core::readiness::NodeState::Failed(w) => format!("FAILED: {w}"),
            },
        };
        s.push_str(&format!(
            "{:<14} {:<6} {:<22} {:<20} {:<10} {:<6} {:<18} {}\n",
            n.name,
            n.arch,
            n.kernel,
            n.container_runtime,
            n.containerd_agent.as_deref().unwrap_or("-"),
            n.kata_runtime.as_deref().unwrap_or("-"),
            pod,
            state
        ));
        if let Some(w) = &n.last_warning {
            s.push_str(&format!("{:<14} last warning: {w}\n", ""));
        }
        if !n.probe.is_empty() {
            // The probe agent's verdicts (probe.enabled), the TEEs that apply only.
            let verdicts: Vec<String> = n
                .probe
                .iter()
                .filter(|(k, v)| *k != "profile" && v.as_str() != "not-applicable")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            s.push_str(&format!(
                "{:<14} probe: {} (fits {})\n",
                "",
                if verdicts.is_empty() {
                    "no TEE".to_string()
                } else {
                    verdicts.join(" ")
                },
                n.probe.get("profile").map_or("?", String::as_str)
            ));
        }
    }
    for w in &r.webhooks {
        // Only unhealthy ones are listed here: a webhook rejecting the release's pods.
        s.push_str(&format!("webhook {}: UNHEALTHY: {}\n", w.name, w.reason));
    }
    if let Some(p) = &r.peerpods {
        s.push_str(&peerpods_text(p));
    }
    if let Some(t) = &r.takeover {
        s.push_str(&format!("\n{}\n", t.summary));
        for (node, state) in &t.nodes {
            s.push_str(&format!("  {node:<14} {state}\n"));
        }
    }
    if !r.runtime_classes.is_empty() {
        s.push_str(&format!(
            "\n{:<32} {:<32} {}\n",
            "RUNTIMECLASS", "HANDLER", "NODES"
        ));
        for rc in &r.runtime_classes {
            s.push_str(&format!(
                "{:<32} {:<32} {}\n",
                rc.name, rc.handler, rc.nodes
            ));
        }
    }
    s
}

fn peerpods_text(p: &cococtl_cluster::core::peerpods::PeerPodsReport) -> String {
    let mut s = format!(
        "\npeer pods:\n{:<14} {:<28} {:<12} {}\n",
        "NODE", "CLOUD-API-ADAPTOR", "VM CAPACITY", "VM ALLOCATABLE"
    );
    for n in &p.nodes {
        s.push_str(&format!(
            "{:<14} {:<28} {:<12} {}\n",
            n.name,
            n.caa_pod,
            n.vm_capacity.as_deref().unwrap_or("-"),
            n.vm_allocatable.as_deref().unwrap_or("-")
        ));
    }
    s.push_str(&format!(
        "PeerPods: {} ({} without a pod)\n",
        p.peerpods,
        p.leak_suspects.len()
    ));
    for l in &p.leak_suspects {
        s.push_str(&format!("  leak suspect: {l}\n"));
    }
    if let Some(n) = p.webhook_ready_endpoints {
        s.push_str(&format!("webhook: {n} ready endpoint(s)\n"));
    }
    if let Some(c) = &p.certificate {
        s.push_str(&format!("webhook certificate: {c}\n"));
    }
    for w in &p.webhooks {
        s.push_str(&format!(
            "webhook {}: {}\n",
            w.name,
            if w.healthy {
                "healthy"
            } else {
                "UNHEALTHY (see below)"
            }
        ));
    }
    for pr in &p.problems {
        s.push_str(&format!("  ! {pr}\n"));
    }
    s
}

/// A take-over in progress (its record) shown per node; the release is degraded meanwhile.
fn with_takeover(rep: &mut StatusReport, rec: Option<&Record>, facts: &status::Facts) {
    let Some(rec) = rec else { return };
    let labels: Vec<(String, std::collections::BTreeMap<String, String>)> = facts
        .nodes
        .iter()
        .map(|n| (n.name.clone(), n.labels.clone()))
        .collect();
    rep.takeover = Some(rec.progress(&labels));
    // Between two installs: not what the user asked for yet.
    rep.degraded = true;
}

/// The report with the peer-pods part, when the release has one (degraded on its problems).
async fn full_report(
    cluster: &cococtl_cluster::client::Cluster,
    namespace: &str,
    facts: &status::Facts,
) -> Result<StatusReport, cococtl_cluster::error::ClusterError> {
    let mut rep = status::report(namespace, facts);
    let rec = cococtl_cluster::takeover_run::load(cluster, namespace).await?;
    with_takeover(&mut rep, rec.as_ref(), facts);
    if let Some(r) = &facts.release {
        rep.peerpods = cococtl_cluster::peerpods::status(cluster, &r.inventory).await?;
        if rep
            .peerpods
            .as_ref()
            .is_some_and(|p| !p.problems.is_empty())
        {
            rep.degraded = true;
        }
    }
    Ok(rep)
}

fn render(r: &StatusReport, o: Output) -> String {
    match o {
        Output::Text => text(r),
        Output::Json => format!("{}\n", serde_json::to_string_pretty(r).unwrap_or_default()),
        Output::Yaml => serde_yaml::to_string(r).unwrap_or_default(),
    }
}

pub async fn run(args: StatusArgs) -> ExitCode {
    let cluster = match args.kube.connect().await {
        Ok(c) => c,
        Err(code) => return code,
    };
    if !args.watch {
        let facts = match status::gather(&cluster, &args.namespace, args.instance.as_deref()).await
        {
            Ok(f) => f,
            Err(e) => return fail(&e),
        };
        let rep = match full_report(&cluster, &args.namespace, &facts).await {
            Ok(r) => r,
            Err(e) => return fail(&e),
        };
        let _ = exit::print(&render(&rep, args.output));
        return if rep.degraded {
            ExitCode::from(NOT_READY)
        } else {
            ExitCode::SUCCESS
        };
    }
    let mut follow =
        match status::Follow::start(&cluster, &args.namespace, args.instance.as_deref()).await {
            Ok(f) => f,
            Err(e) => return fail(&e),
        };
    let mut last = String::new();
    // Neither the release record nor a take-over's record is watched: both are read again
    // at most every REREAD (on a change, else on a timer), so a take-over's steps show as
    // they finish and a release installed, upgraded or rolled back meanwhile is followed
    // (the watches start again for it). A failed read keeps what was last read: never
    // "no take-over" or "no release" from an error.
    let mut takeover = match cococtl_cluster::takeover_run::load(&cluster, &args.namespace).await {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let mut read_at = Instant::now();
    loop {
        let mut rep = status::report(&args.namespace, &follow.facts);
        with_takeover(&mut rep, takeover.as_ref(), &follow.facts);
        let out = render(&rep, args.output);
        if out != last {
            let _ = exit::print(&format!("{out}\n"));
            last = out;
        }
        tokio::select! {
            r = follow.next() => if let Err(e) = r { return fail(&e) },
            _ = tokio::time::sleep(REREAD) => {},
            _ = tokio::signal::ctrl_c() => return ExitCode::SUCCESS,
        }
        if read_at.elapsed() < REREAD {
            continue;
        }
        read_at = Instant::now();
        if let Ok(r) = cococtl_cluster::takeover_run::load(&cluster, &args.namespace).await {
            takeover = r;
        }
        let now = status::latest_release(&cluster, &args.namespace, args.instance.as_deref()).await;
        let seen =
            |r: Option<&cococtl_cluster::core::release::Release>| r.map(|r| (r.revision, r.status));
        if now.is_ok_and(|r| seen(r.as_ref()) != seen(follow.facts.release.as_ref())) {
            if let Ok(f) =
                status::Follow::start(&cluster, &args.namespace, args.instance.as_deref()).await
            {
                follow = f;
            }
        }
    }
}
