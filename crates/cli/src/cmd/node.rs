//! `cococtl node ...`: what cococtl's DaemonSets run on each node.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cococtl_containerd::config::{self, Mode};
use cococtl_containerd::fetch;
use cococtl_containerd::install::{self, Agent};
use cococtl_containerd::report::{KubeReporter, LogReporter, Reporter};
use cococtl_containerd::systemd::{ProcessSystemd, RealSystemd, Systemd};
use cococtl_core::agent::{env, Settings, Tarball};
use cococtl_core::Arch;
use cococtl_core::Distribution;

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
}

#[derive(clap::Args)]
#[command(
    after_help = "Examples (the cococtl-containerd DaemonSet runs the first, with env):
  cococtl node containerd install --host-root /host --tarball-url https://.../containerd-2.1.9-linux-amd64.tar.gz --sha256 <hex>
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
    Restore(Common),
    /// Download, verify and unpack the tarball into DEST only (pre-staging; the host is
    /// not touched)
    Fetch(FetchArgs),
    /// What is installed, from which tarball, in what state
    Status(StatusArgs),
}

#[derive(clap::Args)]
struct Common {
    /// Where the host's / is (mounted) ; every host path is resolved under it
    #[arg(long, default_value = "/", env = env::HOST_ROOT)]
    host_root: PathBuf,
    /// Seconds to wait for containerd to become healthy after a restart
    #[arg(long, default_value_t = 60)]
    health_timeout: u64,
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
    /// The cluster's distribution; k3s, rke2, k0s and microk8s ship their own containerd
    #[arg(long, default_value = "k8s", env = env::DISTRIBUTION)]
    k8s_distribution: String,
    /// This node (reports state on it through the API when set)
    #[arg(long, env = env::NODE_NAME)]
    node_name: Option<String>,
    /// Exit after the work instead of waiting for SIGTERM
    #[arg(long)]
    once: bool,
    /// Print the settings as the agent understood them (flags and env) and the tarball
    /// this node would install, as JSON; change nothing
    #[arg(long)]
    dry_run: bool,
    /// Seconds without data before a download attempt is abandoned
    #[arg(long, default_value_t = 30)]
    stall_timeout: u64,
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

/// `COCOCTL_TEST_SYSTEMD=process` swaps systemd for the process-based test implementation
/// (the end-to-end tests run the real binary against a temporary host root).
fn systemd(host_root: &std::path::Path) -> Box<dyn Systemd> {
    if std::env::var("COCOCTL_TEST_SYSTEMD").as_deref() == Ok("process") {
        Box::new(ProcessSystemd {
            host_root: host_root.to_path_buf(),
        })
    } else {
        Box::new(RealSystemd {
            host_root: host_root.to_path_buf(),
        })
    }
}

fn wait_for_sigterm() {
    // SAFETY: blocking SIGTERM/SIGINT in this thread and waiting for one with sigwait.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let mut sig = 0;
        libc::sigwait(&set, &mut sig);
    }
}

pub fn run(args: NodeArgs) -> ExitCode {
    let NodeCommand::Containerd(c) = args.command;
    match c.action {
        Action::Install(a) => install(*a),
        Action::Restore(common) => {
            let sd = systemd(&common.host_root);
            let agent = Agent {
                host_root: common.host_root.clone(),
                systemd: sd.as_ref(),
                reporter: &LogReporter,
                fetch: fetch::Options::default(),
                health_timeout: Duration::from_secs(common.health_timeout),
            };
            match agent.restore() {
                Ok(Some(v)) => {
                    eprintln!("restored: the original containerd {v} is running");
                    ExitCode::SUCCESS
                }
                Ok(None) => ExitCode::SUCCESS,
                Err(e) => exit::failed(&e.to_string()),
            }
        }
        Action::Fetch(f) => fetch_only(f),
        Action::Status(s) => match install::load_state(&s.common.host_root) {
            Err(e) => exit::failed(&e.to_string()),
            Ok(state) => {
                let pending = cococtl_containerd::journal::Journal::load(&s.common.host_root)
                    .ok()
                    .flatten();
                let text = match s.output {
                    Output::Json => format!(
                        "{}\n",
                        serde_json::json!({"installed": state, "interrupted_change": pending.map(|j| j.steps.len() - j.committed.min(j.steps.len()))})
                    ),
                    Output::Text => match (&state, &pending) {
                        (None, None) => "no custom containerd installed by cococtl\n".to_string(),
                        (Some(i), _) => format!(
                            "containerd {} installed ({} mode) from {}\nsha256 {}\n{} host change(s) recorded for restore\n{}",
                            i.version,
                            if i.mode == Mode::Side { "side" } else { "in-place" },
                            i.url,
                            i.sha256,
                            i.steps.len(),
                            if pending.is_some() { "an interrupted change is pending: the next install or restore rolls it back\n" } else { "" }
                        ),
                        (None, Some(_)) => "an interrupted change is pending: the next install or restore rolls it back\n".to_string(),
                    },
                };
                exit::print(&text)
            }
        },
    }
}

fn install(a: InstallArgs) -> ExitCode {
    let Some(arch) = Arch::host() else {
        return exit::invalid("this architecture is not one kata-deploy supports");
    };
    let settings = match a.settings() {
        Ok(s) => s,
        Err(e) => return exit::invalid(&e),
    };
    let cfg = match config::resolve(
        &settings,
        arch,
        a.common.host_root.clone(),
        a.node_name.clone(),
    ) {
        Ok(c) => c,
        Err(e) => return exit::invalid(&e.to_string()),
    };
    if a.dry_run {
        let out = serde_json::json!({ "settings": settings, "arch": arch, "url": cfg.url, "checksum": cfg.checksum });
        return exit::print(&format!("{out:#}\n"));
    }
    let reporter: Box<dyn Reporter> = match &cfg.node_name {
        Some(node) => match KubeReporter::new(node) {
            Ok(r) => Box::new(r),
            Err(e) => return exit::failed(&e),
        },
        None => Box::new(LogReporter),
    };
    let sd = systemd(&cfg.host_root);
    let agent = Agent {
        host_root: cfg.host_root.clone(),
        systemd: sd.as_ref(),
        reporter: reporter.as_ref(),
        fetch: fetch::Options {
            stall: Duration::from_secs(a.stall_timeout),
            ..fetch::Options::default()
        },
        health_timeout: Duration::from_secs(a.common.health_timeout),
    };
    let code = match agent.install(&cfg) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) if e.nothing_changed() => return exit::invalid(&e.to_string()),
        Err(e) => exit::failed(&e.to_string()),
    };
    if !a.once && code == ExitCode::SUCCESS {
        wait_for_sigterm();
    }
    code
}

fn fetch_only(f: FetchArgs) -> ExitCode {
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
    let result = fetch::fetch(
        &cfg.url,
        &tarball,
        &cfg.checksum,
        &fetch::Options::default(),
    )
    .map_err(|e| e.to_string())
    .and_then(|_| {
        cococtl_containerd::extract::extract(&tarball, &f.dest, Default::default())
            .map_err(|e| e.to_string())
    })
    .and_then(|_| cococtl_containerd::verify::verify(&f.dest, arch).map_err(|e| e.to_string()));
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
        Err(e) => exit::invalid(&e),
    }
}
