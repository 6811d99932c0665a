//! `cococtl`: install and check Confidential Containers on Kubernetes.
//!
//! This crate is the thin edge: argument parsing, reading files, printing, exit codes. Each
//! subcommand lives in `cmd/<name>.rs` and owns its own arguments.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod env_errors;
mod exit;
mod host_exec;
mod idle;

/// The log filter for `-v` given `verbosity` times: cococtl's own words by default (its
/// crates' targets all start with `cococtl`), then cococtl's debug lines and other crates'
/// warnings, then everything.
fn log_filter(verbosity: u8) -> &'static str {
    match verbosity {
        0 => "off,cococtl=info",
        1 => "warn,cococtl=debug",
        2 => "info,cococtl=trace",
        _ => "trace",
    }
}

#[derive(Parser)]
#[command(
    name = "cococtl",
    version,
    about = "Install and check Confidential Containers (CoCo) on Kubernetes",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the Kubernetes objects that install CoCo (offline)
    Render(cmd::render::RenderArgs),
    /// List the images and URLs an install pulls; plan a registry mirror (offline)
    Images(cmd::images::ImagesArgs),
    /// List, show and explain the built-in profiles
    Profiles(cmd::profiles::ProfilesArgs),
    /// Check whether this host can run confidential containers, and which profile fits
    Probe(cmd::probe::ProbeArgs),
    /// Node agent commands (run by cococtl's DaemonSets on each node)
    Node(cmd::node::NodeArgs),
    /// Install Confidential Containers on a cluster
    Install(cmd::install::InstallArgs),
    /// Change an installed release
    Upgrade(cmd::upgrade::UpgradeArgs),
    /// Re-apply a recorded revision
    Rollback(cmd::rollback::RollbackArgs),
    /// List the recorded revisions of a release
    History(cmd::history::HistoryArgs),
    /// Remove the release from the cluster and its nodes
    Uninstall(cmd::uninstall::UninstallArgs),
    /// Show the release and each node's state
    Status(cmd::status::StatusArgs),
    /// Run a pod with each RuntimeClass and check that it ran in a VM
    Verify(cmd::verify::VerifyArgs),
    /// Show what install or upgrade would change
    Diff(cmd::diff::DiffArgs),
    /// Which nodes can run which confidential profile, and why not, cluster-wide
    Check(cmd::check::CheckArgs),
    /// Put a containerd tarball into an image registry, for air-gapped installs (oci://)
    Artifact(cmd::artifact::ArtifactArgs),
    /// Print the version, the build (commit, target) and the pinned upstream versions
    Version(cmd::version::VersionArgs),
}

impl Command {
    /// `-v` given to a cluster command (it sits with `--kubeconfig`, so that `probe -v`
    /// keeps its own meaning).
    fn verbosity(&self) -> u8 {
        match self {
            Command::Install(a) => a.kube.verbose,
            Command::Upgrade(a) => a.kube.verbose,
            Command::Rollback(a) => a.kube.verbose,
            Command::History(a) => a.kube.verbose,
            Command::Uninstall(a) => a.kube.verbose,
            Command::Status(a) => a.kube.verbose,
            Command::Verify(a) => a.kube.verbose,
            Command::Diff(a) => a.kube.verbose,
            Command::Check(a) => a.kube.verbose,
            Command::Render(_)
            | Command::Images(_)
            | Command::Profiles(_)
            | Command::Probe(_)
            | Command::Node(_)
            | Command::Artifact(_)
            | Command::Version(_) => 0,
        }
    }
}

fn main() -> ExitCode {
    // The agent's way into the host's mount namespace: first, while the process still has
    // one thread (setns(CLONE_NEWNS) is refused to a threaded process; the runtime below
    // and any logging must not have started). See host_exec.rs.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == host_exec::SUBCOMMAND) {
        return host_exec::run(&args[2..]);
    }
    let cli: Cli = env_errors::parse();
    // Library crates log through `tracing`; users see plain lines on stderr. kube, hyper
    // and tower log their retries and broken streams at info, which is noise next to
    // cococtl's own message, so only cococtl's crates speak unless asked.
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => match tracing_subscriber::EnvFilter::try_new(&v) {
            Ok(f) => f,
            Err(e) => return exit::invalid(&format!("RUST_LOG={v}: {e}\n  fix: use tracing's syntax, e.g. RUST_LOG=cococtl=debug,kube=info")),
        },
        _ => tracing_subscriber::EnvFilter::new(log_filter(cli.command.verbosity())),
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .without_time()
        .with_target(false)
        .with_level(false)
        .init();
    // The one runtime; every async edge (downloads, the node agent, the API) runs on it.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return exit::failed(&format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async {
        match cli.command {
            Command::Render(args) => cmd::render::run(args),
            Command::Images(args) => cmd::images::run(args),
            Command::Profiles(args) => cmd::profiles::run(args),
            Command::Probe(args) => cmd::probe::run(args),
            Command::Node(args) => cmd::node::run(args).await,
            Command::Install(args) => cmd::install::run(args).await,
            Command::Upgrade(args) => cmd::upgrade::run(args).await,
            Command::Rollback(args) => cmd::rollback::run(args).await,
            Command::History(args) => cmd::history::run(args).await,
            Command::Uninstall(args) => cmd::uninstall::run(args).await,
            Command::Status(args) => cmd::status::run(args).await,
            Command::Verify(args) => cmd::verify::run(args).await,
            Command::Check(args) => cmd::check::run(args).await,
            Command::Diff(args) => cmd::diff::run(args).await,
            Command::Artifact(args) => cmd::artifact::run(args).await,
            Command::Version(args) => cmd::version::run(args),
        }
    })
}
