//! `cococtl node probe`: the probe agent of the optional probe DaemonSet. Probes the host,
//! publishes the verdicts on its Node (`docs/probe-checks.md#published`) when they changed,
//! and probes again every `--interval` and on SIGHUP, until SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cococtl_cluster::probe_publish::{self, Published};
use cococtl_core::agent::env;
use cococtl_probe::host::{fixture::FixtureHost, real::RealHost, Host};
use cococtl_probe::publish::{self, Summary};

use crate::exit;

/// The probe agent
#[derive(clap::Args)]
#[command(after_help = "Examples (the probe DaemonSet runs the first):
  cococtl node probe --publish --interval 10m
  cococtl node probe --once                      # print the summary it would publish

The labels and the summary annotation are described in docs/probe-checks.md#published.")]
pub struct ProbeAgentArgs {
    /// Publish on this node's Node object (needs NODE_NAME and API access)
    #[arg(long)]
    publish: bool,
    /// This node
    #[arg(long, env = env::NODE_NAME)]
    node_name: Option<String>,
    /// Probe again this often (e.g. 30s, 10m, 1h); SIGHUP probes at once
    #[arg(long, default_value = "10m", value_parser = parse_interval)]
    interval: Duration,
    /// Probe once, publish (with --publish) or print, and exit
    #[arg(long)]
    once: bool,
    /// Also publish the NFD TEE labels kata-deploy's RuntimeClasses select on, where the
    /// TEE is ready (probe.teeLabels)
    #[arg(long)]
    tee_labels: bool,
    /// Marks this run's summary (set by `cococtl check` to tell its results from older ones)
    #[arg(long, env = "COCOCTL_PROBE_RUN", hide_short_help = true)]
    run: Option<String>,
    /// Where the host's /usr, /bin and /sbin are mounted (read-only): the host programs
    /// the probe reads (mkfs.erofs) are read there. The probe DaemonSet passes /host.
    #[arg(long, value_name = "DIR")]
    host_programs: Option<PathBuf>,
    /// Probe a fixture root instead of this host (tests)
    #[arg(long, hide = true)]
    root: Option<PathBuf>,
    /// The fixture's hardware file (with --root)
    #[arg(long, hide = true)]
    hw: Option<PathBuf>,
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.trim().split_at(
        s.trim()
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(s.trim().len()),
    );
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30s, 10m or 1h"))?;
    let secs = match unit {
        "s" => n,
        "m" | "" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("`{s}`: use s, m or h")),
    };
    if secs < 10 {
        return Err(format!("`{s}` is too short: at least 10s"));
    }
    Ok(Duration::from_secs(secs))
}

/// The host directories the probe DaemonSet mounts under `--host-programs`.
const HOST_PROGRAM_DIRS: [&str; 3] = cococtl_manifests::probe_agent::HOST_PROGRAM_DIRS;

fn summary(args: &ProbeAgentArgs) -> Summary {
    let host: Result<Box<dyn Host>, String> = match &args.root {
        Some(root) => FixtureHost::load(root, args.hw.as_deref())
            .map(|h| Box::new(h) as Box<dyn Host>)
            .map_err(|e| e.to_string()),
        None => match &args.host_programs {
            None => Ok(Box::new(RealHost::default())),
            Some(dir) => RealHost::in_pod(dir, &HOST_PROGRAM_DIRS)
                .map(|h| Box::new(h) as Box<dyn Host>)
                .map_err(|e| format!("--host-programs {}: {e}", dir.display())),
        },
    };
    match host {
        Ok(h) => publish::summarize(&cococtl_probe::probe(h.as_ref(), None), args.run.as_deref()),
        Err(e) => publish::failed(&e, args.run.as_deref()),
    }
}

pub async fn run(args: ProbeAgentArgs) -> ExitCode {
    let client = if args.publish {
        if args.node_name.as_deref().is_none_or(str::is_empty) {
            return exit::invalid("--publish needs the node's name: --node-name or NODE_NAME (the DaemonSet sets it from spec.nodeName)");
        }
        match cococtl_cluster::agent_client().await {
            Ok(c) => Some(c),
            Err(e) => return exit::failed(&e),
        }
    } else {
        None
    };
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut hup) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(t), Ok(h)) => (t, h),
        _ => return exit::failed("cannot watch for signals"),
    };
    loop {
        let s = summary(&args);
        match (&client, &args.node_name) {
            (Some(c), Some(node)) => {
                match probe_publish::publish(c, node, &s, args.tee_labels).await {
                    Ok(Published::Patched) => {
                        tracing::info!("published on node {node}: {}", verdicts(&s))
                    }
                    Ok(Published::Unchanged) => {
                        tracing::info!("node {node} already shows this result: {}", verdicts(&s))
                    }
                    Err(e) if args.once => return exit::failed(&e),
                    Err(e) => tracing::warn!("{e}; trying again at the next probe"),
                }
            }
            _ => {
                let printed = exit::print(&format!("{}\n", publish::annotation(&s)));
                if printed != ExitCode::SUCCESS {
                    return printed;
                }
            }
        }
        if args.once {
            return ExitCode::SUCCESS;
        }
        let released = crate::idle::release_code_pages();
        tracing::debug!(
            "idle until the next probe; released {} KiB of code mappings",
            released >> 10
        );
        tokio::select! {
            _ = tokio::time::sleep(args.interval) => {}
            _ = hup.recv() => tracing::info!("SIGHUP: probing again"),
            _ = term.recv() => return ExitCode::SUCCESS,
            _ = tokio::signal::ctrl_c() => return ExitCode::SUCCESS,
        }
    }
}

fn verdicts(s: &Summary) -> String {
    publish::labels(s)
        .into_iter()
        .map(|(k, v)| format!("{}={v}", k.rsplit('/').next().unwrap_or(&k)))
        .collect::<Vec<_>>()
        .join(" ")
}
