//! kubectl's conventions shared by the cluster commands: `--kubeconfig`, `--context`,
//! durations, the clock, exit codes, and the progress display (a live per-node view on a
//! terminal, plain lines otherwise).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cococtl_cluster::client::{Cluster, OutageHook, Target};
use cococtl_cluster::core::readiness::{NodeState, Progress};
use cococtl_cluster::error::ClusterError;
use cococtl_cluster::observe::Observer;
use cococtl_cluster::retry;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Which cluster.
#[derive(clap::Args, Debug, Clone)]
pub struct KubeArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or the pod's
    /// service account when run in a cluster)
    #[arg(long, value_name = "PATH", global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use
    #[arg(long, value_name = "NAME", global = true)]
    pub context: Option<String>,
    /// Say more on stderr: -v adds cococtl's debug lines and other libraries' warnings,
    /// -vv their info lines, -vvv everything (RUST_LOG, when set, decides instead)
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

impl KubeArgs {
    /// Connects; each API call rides out an outage for [`retry::STEP_PATIENCE`].
    pub async fn connect(&self) -> Result<Cluster, ExitCode> {
        self.connect_for(retry::STEP_PATIENCE).await
    }

    /// Connects; each API call rides out an unreachable or overloaded server for
    /// `patience` (the command's `--timeout`), saying so on stderr.
    pub async fn connect_for(&self, patience: Duration) -> Result<Cluster, ExitCode> {
        Cluster::connect(&Target {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        })
        .await
        .map(|c| c.with_patience(patience).on_outage(outage_notice()))
        .map_err(|e| fail(&e))
    }
}

/// The patience of a deploy step: the whole `--timeout` when waiting, else a step's
/// default, never more than `--timeout`.
pub fn step_patience(wait: bool, timeout: Duration) -> Duration {
    if wait {
        timeout
    } else {
        timeout.min(retry::STEP_PATIENCE)
    }
}

/// "API server unreachable since 12 s, retrying" on stderr: at once, then every 5 s of
/// the same outage (a retry every few seconds would flood the terminal).
fn outage_notice() -> OutageHook {
    let last: Mutex<Option<u64>> = Mutex::new(None);
    Arc::new(move |since: Duration| {
        let secs = since.as_secs();
        let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
        let due = match *last {
            Some(l) if secs >= l => secs - l >= 5,
            _ => true,
        };
        if due {
            *last = Some(secs);
            eprintln!("  API server unreachable since {secs} s, retrying");
        }
    })
}

/// Output formats of the read commands.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
    Yaml,
}

/// Exit codes: 0 ok, 1 not ready or degraded, 2 usage or input, 3 cluster or API.
pub const NOT_READY: u8 = 1;
pub const INPUT: u8 = 2;

/// Prints the error and returns its exit code.
pub fn fail(e: &ClusterError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(e.exit_code())
}

/// Prints `msg` and exits with `code`.
pub fn exit_with(code: u8, msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(code)
}

/// `15m`, `90s`, `1h`, `1h30m`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let err = || format!("`{s}` is not a duration (examples: 90s, 15m, 1h)");
    if let Ok(n) = s.parse::<u64>() {
        return Ok(Duration::from_secs(n));
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().map_err(|_| err())?;
        num.clear();
        total += match c {
            's' => n,
            'm' => n * 60,
            'h' => n * 3600,
            _ => return Err(err()),
        };
    }
    if !num.is_empty() {
        return Err(err());
    }
    Ok(Duration::from_secs(total))
}

/// Now, RFC 3339 UTC.
pub fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

/// Whether stderr is a terminal (the default for `--wait` and the live display).
pub fn terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// The progress display: on a terminal, a bar and one live line per node that is not
/// ready; otherwise a line per step and per change of a node's state.
pub struct Display {
    live: Option<Live>,
    last: BTreeMap<String, String>,
    counts: (usize, usize, usize),
}

struct Live {
    multi: MultiProgress,
    bar: ProgressBar,
    lines: BTreeMap<String, ProgressBar>,
}

impl Display {
    pub fn new() -> Display {
        Display {
            live: None,
            last: BTreeMap::new(),
            counts: (usize::MAX, 0, 0),
        }
    }

    fn live(&mut self) -> &mut Live {
        self.live.get_or_insert_with(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let bar = multi.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template("  {bar:30} {pos}/{len} nodes ready {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            Live {
                multi,
                bar,
                lines: BTreeMap::new(),
            }
        })
    }
}

fn node_line(node: &str, s: &NodeState) -> String {
    match s {
        NodeState::Ready => format!("{node}: ready"),
        NodeState::Waiting(w) => format!("{node}: waiting: {w}"),
        NodeState::Failed(w) => format!("{node}: FAILED: {w}"),
    }
}

impl Observer for Display {
    fn step(&mut self, what: &str) {
        if let Some(l) = &self.live {
            let _ = l.multi.println(what);
        } else {
            eprintln!("{what}");
        }
    }

    fn line(&mut self, text: &str) {
        if let Some(l) = &self.live {
            let _ = l.multi.println(format!("  {text}"));
        } else {
            eprintln!("  {text}");
        }
    }

    fn progress(&mut self, p: &Progress) {
        if terminal() {
            let live = self.live();
            live.bar.set_length(p.nodes.len() as u64);
            live.bar.set_position(p.ready() as u64);
            let failed = p.failed();
            live.bar.set_message(if failed > 0 {
                format!("({failed} failed)")
            } else {
                String::new()
            });
            for n in &p.nodes {
                let text = node_line(&n.node, &n.state);
                let line = live.lines.entry(n.node.clone()).or_insert_with(|| {
                    let b = live.multi.add(ProgressBar::new_spinner());
                    b.set_style(
                        ProgressStyle::with_template("    {spinner} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    b.enable_steady_tick(Duration::from_millis(120));
                    b
                });
                if matches!(n.state, NodeState::Waiting(_)) {
                    line.set_message(text);
                } else if !line.is_finished() {
                    line.finish_and_clear();
                    let _ = live.multi.println(format!("    {text}"));
                }
            }
            return;
        }
        let mut changed = false;
        for n in &p.nodes {
            let text = node_line(&n.node, &n.state);
            if self.last.get(&n.node) != Some(&text) {
                eprintln!("  {text}");
                self.last.insert(n.node.clone(), text);
                changed = true;
            }
        }
        let counts = (p.ready(), p.waiting(), p.failed());
        if !changed || counts == self.counts {
            return;
        }
        self.counts = counts;
        eprintln!(
            "  {}/{} nodes ready, {} waiting, {} failed",
            p.ready(),
            p.nodes.len(),
            p.waiting(),
            p.failed()
        );
    }

    fn done(&mut self) {
        if let Some(l) = self.live.take() {
            for b in l.lines.values() {
                b.finish_and_clear();
            }
            l.bar.finish_and_clear();
            let _ = l.multi.clear();
        }
    }
}
