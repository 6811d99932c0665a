//! `cococtl probe`: can this host run confidential containers, and which profile fits?

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use cococtl_core::Arch;
use cococtl_probe::host::{fixture::FixtureHost, real::RealHost, Host};
use cococtl_probe::recommend::ProfileShims;

use crate::exit;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Output {
    Text,
    Json,
}

/// Check whether this host can run confidential containers, and which profile fits
#[derive(clap::Args)]
#[command(after_help = "Examples:
  cococtl probe                        # this host, human report
  cococtl probe -o json                # versioned machine report (schema cococtl.probe/v1)
  cococtl probe --profile x86_64       # verdict for one profile's shims
  cococtl probe --root DIR --hw FILE   # run against a fixture instead of this host
  cococtl probe capture OUTDIR         # record this host's inputs as a new fixture

Nothing on the host is changed. Without root the probe still runs; checks that need root
are skipped with the reason, and a TEE whose readiness then cannot be proven is reported
as unknown. Exit codes: 0 ready for the requested (or recommended) profile, through one of
its confidential shims when it has any; 1 not ready or unknown; 2 the probe itself
failed. Checks, report schema and fixture format: docs/probe-checks.md")]
pub struct ProbeArgs {
    #[command(subcommand)]
    command: Option<Command>,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: Output,
    /// Judge this profile (built-in name or values file) instead of the recommended one
    #[arg(short = 'p', long, value_name = "NAME|PATH")]
    profile: Option<String>,
    /// Read files from this fixture root instead of /
    #[arg(long, value_name = "DIR", requires = "hw")]
    root: Option<PathBuf>,
    /// Hardware facts (CPUID, MSRs, ioctls, kernel log) of the fixture, as written by capture
    #[arg(long, value_name = "FILE")]
    hw: Option<PathBuf>,
    /// Show the evidence of passing checks too
    #[arg(short = 'v', long)]
    verbose: bool,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Record this host's probe inputs (exactly what the checks read) as a fixture
    Capture {
        /// Directory to write root/ and hw.json into
        out: PathBuf,
    },
}

fn host(args: &ProbeArgs) -> Result<Box<dyn Host>, String> {
    match &args.root {
        Some(root) => FixtureHost::load(root, args.hw.as_deref())
            .map(|h| Box::new(h) as Box<dyn Host>)
            .map_err(|e| e.to_string()),
        None => Ok(Box::new(RealHost::default())),
    }
}

fn profile_shims(name: &str, host: &dyn Host) -> Result<ProfileShims, String> {
    let text = match cococtl_profile::builtin::source(name) {
        Some(t) => t.to_string(),
        None => std::fs::read_to_string(name).map_err(|e| {
            format!("--profile {name}: not a built-in profile and not readable: {e}")
        })?,
    };
    let by_arch = cococtl_profile::builtin::enabled_shims(&text)
        .map_err(|e| format!("--profile {name}: {e}"))?;
    let arch = host
        .read(&cococtl_probe::input::Input::file(
            cococtl_probe::checks::ARCH,
        ))
        .text()
        .and_then(|a| Arch::from_kernel_name(a.trim()));
    let shims = arch
        .and_then(|a| by_arch.get(&a).cloned())
        .unwrap_or_default();
    Ok(ProfileShims {
        profile: name.to_string(),
        arch,
        shims,
    })
}

pub fn run(args: ProbeArgs) -> ExitCode {
    let host = match host(&args) {
        Ok(h) => h,
        Err(e) => return exit::invalid(&e),
    };
    if let Some(Command::Capture { out }) = &args.command {
        return match cococtl_probe::capture::capture(host.as_ref(), out) {
            Ok(c) => {
                eprintln!(
                    "captured {} files under {} and {}",
                    c.files,
                    c.root.display(),
                    c.hw.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => exit::invalid(&e.to_string()),
        };
    }
    let profile = match args
        .profile
        .as_deref()
        .map(|p| profile_shims(p, host.as_ref()))
        .transpose()
    {
        Ok(p) => p,
        Err(e) => return exit::invalid(&e),
    };
    let report = cococtl_probe::probe(host.as_ref(), profile);
    let text = match args.output {
        Output::Json => report.to_json(),
        Output::Text => {
            let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            cococtl_probe::report::text::render(&report, colour, args.verbose)
        }
    };
    let printed = exit::print(&text);
    if printed != ExitCode::SUCCESS {
        return printed;
    }
    if report.ready() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
