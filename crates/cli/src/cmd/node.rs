//! `cococtl node ...`: what cococtl's DaemonSets run on each node.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cococtl_cluster::node_report::KubeReporter;
use cococtl_containerd::agent::{self, Agent, Error, Outcome};
use cococtl_containerd::config::{self, Mode};
use cococtl_containerd::faults::Faults;
use cococtl_containerd::fetch;
use cococtl_containerd::health::CtrQuery;
use cococtl_containerd::report::{LogReporter, Reporter};
use cococtl_containerd::service::ServiceManager;
use cococtl_containerd::stop::Stop;
use cococtl_core::agent::{env, Settings, Tarball};
use cococtl_core::proxy::Proxy;
use cococtl_core::{Arch, Distribution};

use crate::exit;

/// Node agent commands (run by cococtl's DaemonSets on each node)
#[derive(clap::Args)]
pub struct NodeArgs {
    #[command(subcommand)]
    command: NodeCommand,
}

#[derive(clap::Subcommand)]
enum NodeCommand {
    /// Install, restore or inspect a custom containerd on this node
    Containerd(ContainerdArgs),
    /// Probe this host and publish the verdicts on its Node (the probe DaemonSet)
    Probe(super::node_probe::ProbeAgentArgs),
}

#[derive(clap::Args)]
#[command(
    after_help = "Examples (the cococtl-containerd DaemonSet runs the first, with env):
  cococtl node containerd install --host-root /host --tarball-url https://.../containerd-2.1.9-linux-amd64.tar.gz --sha256 <hex>
  cococtl node containerd install --host-root /host --tarball-url oci://mirror.local/coco/containerd@sha256:<manifest> --sha256 <hex> --pull-secret /etc/cococtl/pull-secret/config.json
  cococtl node containerd status --host-root /host -o json
  cococtl node containerd restore --host-root /host

Exit codes: 0 installed (or already installed) / restored, 1 the install failed and was
rolled back (or the node needs attention), 2 bad input: nothing on the host changed."
)]
struct ContainerdArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Download, verify and install the tarball for this node's architecture, then keep
    /// running until SIGTERM (unless --once)
    Install(Box<InstallArgs>),
    /// Undo what cococtl installed and check the original containerd runs again
    Restore(RestoreArgs),
    /// Download, verify and unpack the tarball into DEST only (pre-staging; the host is
    /// not touched)
    Fetch(FetchArgs),
    /// What is installed, from which tarball, in what state
    Status(StatusArgs),
}

#[derive(clap::Args)]
struct Common {
    /// Where the host's / is (mounted); every host path is resolved under it
    #[arg(long, default_value = "/", env = env::HOST_ROOT)]
    host_root: PathBuf,
    /// Seconds to wait for containerd to become healthy after a restart
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    health_timeout: u64,
}

#[derive(clap::Args)]
struct RestoreArgs {
    #[command(flatten)]
    common: Common,
    /// Restore the originals even where a file cococtl wrote was changed since (e.g. the
    /// distribution upgraded containerd): that can downgrade it
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args)]
struct InstallArgs {
    #[command(flatten)]
    common: Common,
    /// Tarball URL for every architecture without its own
    #[arg(long, env = env::TARBALL_URL)]
    tarball_url: Option<String>,
    #[arg(
        long,
        env = env::TARBALL_URL_AMD64,
        hide_short_help = true
    )]
    tarball_url_amd64: Option<String>,
    #[arg(
        long,
        env = env::TARBALL_URL_ARM64,
        hide_short_help = true
    )]
    tarball_url_arm64: Option<String>,
    #[arg(
        long,
        env = env::TARBALL_URL_S390X,
        hide_short_help = true
    )]
    tarball_url_s390x: Option<String>,
    #[arg(
        long,
        env = env::TARBALL_URL_PPC64LE,
        hide_short_help = true
    )]
    tarball_url_ppc64le: Option<String>,
    /// SHA-256 of the tarball
    #[arg(long, env = env::SHA256)]
    sha256: Option<String>,
    #[arg(long, env = env::SHA256_AMD64, hide_short_help = true)]
    sha256_amd64: Option<String>,
    #[arg(long, env = env::SHA256_ARM64, hide_short_help = true)]
    sha256_arm64: Option<String>,
    #[arg(long, env = env::SHA256_S390X, hide_short_help = true)]
    sha256_s390x: Option<String>,
    #[arg(
        long,
        env = env::SHA256_PPC64LE,
        hide_short_help = true
    )]
    sha256_ppc64le: Option<String>,
    /// URL of a sha256sum-format file listing the tarball
    #[arg(long, env = env::CHECKSUM_URL)]
    checksum_url: Option<String>,
    #[arg(
        long,
        env = env::CHECKSUM_URL_AMD64,
        hide_short_help = true
    )]
    checksum_url_amd64: Option<String>,
    #[arg(
        long,
        env = env::CHECKSUM_URL_ARM64,
        hide_short_help = true
    )]
    checksum_url_arm64: Option<String>,
    #[arg(
        long,
        env = env::CHECKSUM_URL_S390X,
        hide_short_help = true
    )]
    checksum_url_s390x: Option<String>,
    #[arg(
        long,
        env = env::CHECKSUM_URL_PPC64LE,
        hide_short_help = true
    )]
    checksum_url_ppc64le: Option<String>,
    /// side: binaries under /opt/confidential-containers plus a systemd drop-in (reversible);
    /// in-place: replace the distribution's binaries, keeping copies
    #[arg(
        long,
        value_enum,
        default_value = "side",
        env = env::MODE
    )]
    mode: ModeArg,
    /// Allow a plain-HTTP tarball URL (with a pinned checksum)
    #[arg(long, env = env::ALLOW_INSECURE_HTTP)]
    allow_insecure_http: bool,
    /// Allow installing without any checksum
    #[arg(long, env = env::ALLOW_UNVERIFIED)]
    allow_unverified: bool,
    /// Give containerd itself HTTPS_PROXY/HTTP_PROXY/NO_PROXY (this process's) through a
    /// systemd drop-in; containerd is restarted
    #[arg(long, env = env::CONTAINERD_PROXY)]
    containerd_proxy: bool,
    /// The cluster's distribution; k3s, rke2, k0s and microk8s ship their own containerd
    #[arg(long, default_value = "k8s", env = env::DISTRIBUTION)]
    k8s_distribution: String,
    /// This node (reports state on it through the API when set)
    #[arg(long, env = env::NODE_NAME)]
    node_name: Option<String>,
    /// The agent's namespace (with --daemonset: decides on SIGTERM whether this is an
    /// uninstall)
    #[arg(long, env = env::POD_NAMESPACE, hide_short_help = true)]
    namespace: Option<String>,
    /// The agent's own DaemonSet: on SIGTERM the node is restored only when it is gone,
    /// being deleted, or no longer selects the node
    #[arg(long, env = env::DAEMONSET, hide_short_help = true)]
    daemonset: Option<String>,
    /// Exit after the work instead of waiting for SIGTERM
    #[arg(long)]
    once: bool,
    /// Print the settings as the agent understood them (flags and env) and the tarball
    /// this node would install, as JSON; change nothing
    #[arg(long)]
    dry_run: bool,
    /// Seconds without data before a download attempt is abandoned
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    stall_timeout: u64,
    /// Largest tarball accepted, in MiB (a containerd release is about 40)
    #[arg(long, default_value_t = fetch::DEFAULT_MAX_BYTES >> 20, value_parser = clap::value_parser!(u64).range(1..))]
    max_download: u64,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Access to the registry an `oci://` tarball is in.
#[derive(clap::Args)]
struct RegistryArgs {
    /// A .dockerconfigjson file (the mounted pull secret) with the login for an oci://
    /// tarball's registry; without it, anonymous
    #[arg(long, env = env::PULL_SECRET, value_name = "FILE")]
    pull_secret: Option<PathBuf>,
    /// A PEM file of extra CAs for an oci:// tarball's registry, besides the system roots
    /// (install: a path on the host, resolved under --host-root)
    #[arg(long, env = env::REGISTRY_CA, value_name = "FILE")]
    registry_ca: Option<PathBuf>,
}

impl RegistryArgs {
    /// The download's registry access; the CA is on the host, under `host_root` when given.
    fn access(&self, host_root: Option<&std::path::Path>) -> cococtl_containerd::oci::Access {
        cococtl_containerd::oci::Access {
            pull_secret: self
                .pull_secret
                .clone()
                .filter(|p| !p.as_os_str().is_empty()),
            ca_file: self
                .registry_ca
                .as_ref()
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| match host_root {
                    Some(root) => cococtl_containerd::layout::at(root, &p.to_string_lossy()),
                    None => p.clone(),
                }),
        }
    }
}

impl InstallArgs {
    /// The settings for every architecture, as flags and env gave them.
    fn settings(&self) -> Result<Settings, String> {
        let tarball = |url: &Option<String>, sha: &Option<String>, sums: &Option<String>| {
            url.as_ref().filter(|u| !u.is_empty()).map(|u| Tarball {
                url: u.clone(),
                sha256: sha.clone().unwrap_or_default(),
                checksum_url: sums.clone().unwrap_or_default(),
            })
        };
        let per_arch = [
            (
                Arch::Amd64,
                &self.tarball_url_amd64,
                &self.sha256_amd64,
                &self.checksum_url_amd64,
            ),
            (
                Arch::Arm64,
                &self.tarball_url_arm64,
                &self.sha256_arm64,
                &self.checksum_url_arm64,
            ),
            (
                Arch::S390x,
                &self.tarball_url_s390x,
                &self.sha256_s390x,
                &self.checksum_url_s390x,
            ),
            (
                Arch::Ppc64le,
                &self.tarball_url_ppc64le,
                &self.sha256_ppc64le,
                &self.checksum_url_ppc64le,
            ),
        ]
        .into_iter()
        .filter_map(|(a, u, s, c)| tarball(u, s, c).map(|t| (a, t)))
        .collect();
        let distribution = Distribution::parse(&self.k8s_distribution).ok_or_else(|| {
            format!(
                "--k8s-distribution: unknown distribution `{}`\n  fix: use one of {}",
                self.k8s_distribution,
                Distribution::names()
            )
        })?;
        Ok(Settings {
            default: tarball(&self.tarball_url, &self.sha256, &self.checksum_url),
            per_arch,
            mode: match self.mode {
                ModeArg::Side => Mode::Side,
                ModeArg::InPlace => Mode::InPlace,
            },
            allow_insecure_http: self.allow_insecure_http,
            allow_unverified: self.allow_unverified,
            distribution,
            registry_ca: self
                .registry
                .registry_ca
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        })
    }
}

#[derive(clap::Args)]
struct FetchArgs {
    #[arg(long)]
    tarball_url: String,
    #[arg(long)]
    sha256: Option<String>,
    #[arg(long)]
    allow_insecure_http: bool,
    #[arg(long)]
    allow_unverified: bool,
    /// Directory to unpack into (must not exist)
    #[arg(long)]
    dest: PathBuf,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(clap::Args)]
struct StatusArgs {
    #[command(flatten)]
    common: Common,
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: Output,
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum Output {
    Text,
    Json,
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum ModeArg {
    Side,
    InPlace,
}

/// The host root as an absolute path (a relative one would make the gate dial a socket
/// relative to wherever the agent runs).
fn absolute(p: &std::path::Path) -> Result<PathBuf, String> {
    std::path::absolute(p).map_err(|e| format!("--host-root {}: {e}", p.display()))
}

fn service(host_root: &std::path::Path) -> Box<dyn ServiceManager> {
    cococtl_containerd::service::for_host(host_root)
}

/// SIGTERM or SIGINT requests a stop; the receiver fires when one came.
fn watch_signals(stop: Stop) -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("stop requested: finishing or rolling back the current step");
        stop.request();
        let _ = tx.send(());
    });
    rx
}

fn exit_for(e: &Error) -> ExitCode {
    if e.is_input_error() {
        exit::invalid(&e.to_string())
    } else {
        exit::failed(&e.to_string())
    }
}

pub async fn run(args: NodeArgs) -> ExitCode {
    let c = match args.command {
        NodeCommand::Containerd(c) => c,
        NodeCommand::Probe(p) => return super::node_probe::run(p).await,
    };
    match c.action {
        Action::Install(a) => install(*a).await,
        Action::Restore(r) => restore(r).await,
        Action::Fetch(f) => fetch_only(f).await,
        Action::Status(s) => status(s).await,
    }
}

async fn restore(r: RestoreArgs) -> ExitCode {
    let host_root = match absolute(&r.common.host_root) {
        Ok(p) => p,
        Err(e) => return exit::invalid(&e),
    };
    let sd = service(&host_root);
    let faults = Faults::from_env();
    let stop = Stop::default();
    let _signals = watch_signals(stop.clone());
    let agent = Agent {
        host_root,
        service: sd.as_ref(),
        query: &CtrQuery,
        reporter: &LogReporter,
        fetch: fetch::Options::default(),
        health_timeout: Duration::from_secs(r.common.health_timeout),
        stop,
        faults: &faults,
    };
    match agent.restore(r.force).await {
        Ok(Some(v)) => {
            eprintln!("restored: the original containerd {v} is running");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => exit_for(&e),
    }
}

async fn status(s: StatusArgs) -> ExitCode {
    let host_root = match absolute(&s.common.host_root) {
        Ok(p) => p,
        Err(e) => return exit::invalid(&e),
    };
    let sd = service(&host_root);
    let st = match agent::status(&host_root, sd.as_ref(), &CtrQuery).await {
        Ok(s) => s,
        Err(e) => return exit_for(&e),
    };
    let text = match s.output {
        Output::Json => format!("{}\n", serde_json::json!(st)),
        Output::Text => {
            let mut t = match &st.installed {
                None => "no custom containerd installed by cococtl\n".to_string(),
                Some(i) => format!(
                    "containerd {} installed ({} mode) from {}\nsha256 {}\n{} host file(s) recorded for restore\n",
                    i.version,
                    i.mode.as_str(),
                    i.url,
                    i.sha256,
                    i.files.len()
                ),
            };
            match &st.running_version {
                Some(v) => t.push_str(&format!("running: containerd {v}\n")),
                None => t.push_str("running: nothing answers on the containerd socket\n"),
            }
            if let Some(p) = &st.problem {
                t.push_str(&format!("problem: {p}\n"));
            }
            if st.interrupted_change {
                t.push_str("an interrupted change is pending: the next install or restore finishes or undoes it\n");
            }
            t
        }
    };
    let code = exit::print(&text);
    if st.problem.is_some() {
        return ExitCode::from(1);
    }
    code
}

async fn install(a: InstallArgs) -> ExitCode {
    let Some(arch) = Arch::host() else {
        return exit::invalid("this architecture is not one kata-deploy supports");
    };
    let settings = match a.settings() {
        Ok(s) => s,
        Err(e) => return exit::invalid(&e),
    };
    let host_root = match absolute(&a.common.host_root) {
        Ok(p) => p,
        Err(e) => return exit::invalid(&e),
    };
    let mut cfg = match config::resolve(&settings, arch, host_root, a.node_name.clone()) {
        Ok(c) => c,
        Err(e) => return exit::invalid(&e.to_string()),
    };
    let proxy = Proxy::from_env(|k| std::env::var(k).ok());
    if a.containerd_proxy {
        if !proxy.is_set() {
            return exit::invalid(&format!(
                "--containerd-proxy ({}): neither HTTPS_PROXY nor HTTP_PROXY is set\n  fix: set proxy.httpsProxy (or proxy.httpProxy), or proxy.containerd=false",
                env::CONTAINERD_PROXY
            ));
        }
        cfg.containerd_proxy = Some(proxy.clone());
    }
    if a.dry_run {
        // Credentials in a proxy URL stay out of the output.
        let shown = |u: &str| (!u.is_empty()).then(|| fetch::redact_str(u));
        let access = a.registry.access(Some(&cfg.host_root));
        let out = serde_json::json!({
            "settings": settings, "arch": arch, "url": cfg.url, "checksum": cfg.checksum,
            "proxy": {
                "httpsProxy": shown(&proxy.https_proxy),
                "httpProxy": shown(&proxy.http_proxy),
                "noProxy": proxy.no_proxy,
                "containerd": cfg.containerd_proxy.is_some(),
            },
            "pullSecret": access.pull_secret, "registryCaFile": access.ca_file,
        });
        return exit::print(&format!("{out:#}\n"));
    }
    let reporter: Box<dyn Reporter> = match &cfg.node_name {
        Some(node) => match KubeReporter::new(node).await {
            Ok(r) => Box::new(r),
            Err(e) => return exit::failed(&e),
        },
        None => Box::new(LogReporter),
    };
    let sd = service(&cfg.host_root);
    let faults = Faults::from_env();
    let stop = Stop::default();
    let signalled = watch_signals(stop.clone());
    let agent = Agent {
        host_root: cfg.host_root.clone(),
        service: sd.as_ref(),
        query: &CtrQuery,
        reporter: reporter.as_ref(),
        fetch: fetch::Options {
            stall: Duration::from_secs(a.stall_timeout),
            max_bytes: a.max_download << 20,
            // The rendered DaemonSet carries proxy.* as these standard variables.
            proxy,
            registry: a.registry.access(Some(&cfg.host_root)),
            ..fetch::Options::default()
        },
        health_timeout: Duration::from_secs(a.common.health_timeout),
        stop,
        faults: &faults,
    };
    match agent.install(&cfg).await {
        Ok(Outcome::Installed(_) | Outcome::AlreadyInstalled(_)) | Err(Error::Stopped { .. }) => {}
        Err(e) => return exit_for(&e),
    }
    if a.once && !agent.stop.requested() {
        return ExitCode::SUCCESS;
    }
    // Keep the pod running until SIGTERM; then decide whether it means uninstall. Nothing
    // runs meanwhile: the code pages go back (docs/node-agent.md#idle).
    let released = crate::idle::release_code_pages();
    tracing::debug!(
        "idle until SIGTERM; released {} KiB of code mappings",
        released >> 10
    );
    let _ = signalled.await;
    on_sigterm(&a, &agent).await
}

/// SIGTERM: restore the node when the agent's DaemonSet is gone, being deleted or no
/// longer selects the node (an uninstall); otherwise (a restart, a rolling update) leave it.
async fn on_sigterm(a: &InstallArgs, installed: &Agent<'_>) -> ExitCode {
    let (Some(node), Some(ns), Some(ds)) = (&a.node_name, &a.namespace, &a.daemonset) else {
        tracing::info!("stopping; the node keeps its containerd (no DaemonSet to check)");
        return ExitCode::SUCCESS;
    };
    let client = match cococtl_cluster::agent_client().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("stopping without restoring: {e}");
            return ExitCode::SUCCESS;
        }
    };
    match cococtl_cluster::agent_trigger::decide(&client, ns, ds, node).await {
        cococtl_cluster::agent_trigger::Verdict::Keep(why) => {
            tracing::info!("stopping; the node keeps its containerd: {why}");
            ExitCode::SUCCESS
        }
        cococtl_cluster::agent_trigger::Verdict::Uninstall(why) => {
            tracing::info!("uninstall: {why}; restoring the distribution's containerd");
            // A fresh stop flag: the restore itself must run to its end.
            let agent = Agent {
                host_root: installed.host_root.clone(),
                service: installed.service,
                query: installed.query,
                reporter: installed.reporter,
                fetch: installed.fetch.clone(),
                health_timeout: installed.health_timeout,
                stop: Stop::default(),
                faults: installed.faults,
            };
            match agent.restore(false).await {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => exit_for(&e),
            }
        }
    }
}

async fn fetch_only(f: FetchArgs) -> ExitCode {
    let Some(arch) = Arch::host() else {
        return exit::invalid("this architecture is not one kata-deploy supports");
    };
    let settings = Settings {
        default: Some(Tarball {
            url: f.tarball_url,
            sha256: f.sha256.unwrap_or_default(),
            checksum_url: String::new(),
        }),
        allow_insecure_http: f.allow_insecure_http,
        allow_unverified: f.allow_unverified,
        ..Settings::default()
    };
    let cfg = match config::resolve(&settings, arch, PathBuf::from("/"), None) {
        Ok(c) => c,
        Err(e) => return exit::invalid(&e.to_string()),
    };
    if f.dest.exists() {
        return exit::invalid(&format!("--dest {}: already exists", f.dest.display()));
    }
    let tarball = f.dest.with_extension("download");
    let result = async {
        fetch::fetch(
            &cfg.url,
            &tarball,
            &cfg.checksum,
            &fetch::Options {
                proxy: Proxy::from_env(|k| std::env::var(k).ok()),
                registry: f.registry.access(None),
                ..fetch::Options::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        cococtl_containerd::extract::extract(&tarball, &f.dest, Default::default())
            .map_err(|e| e.to_string())?;
        cococtl_containerd::verify::verify(&f.dest, arch)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    let _ = std::fs::remove_file(&tarball);
    match result {
        Ok(v) => {
            // This process's own peak (the `--version` children are not counted).
            let hwm = std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().to_string()))
                })
                .unwrap_or_default();
            eprintln!(
                "verified containerd {} in {} (peak memory of this process: {hwm})",
                v.version,
                f.dest.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&f.dest);
            exit::failed(&e)
        }
    }
}
