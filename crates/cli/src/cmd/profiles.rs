//! `cococtl profiles`: the built-in profiles and the shims kata-deploy builds.

use std::process::ExitCode;

use cococtl_core::catalog::{Isolation, SHIMS};
use cococtl_profile::builtin;

use crate::exit;

/// List, show and explain the built-in profiles
#[derive(clap::Args)]
#[command(after_help = "Examples:
  cococtl profiles list
  cococtl profiles show x86_64 > my-profile.yaml
  cococtl profiles shims")]
pub struct ProfilesArgs {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Name and purpose of each built-in profile
    List,
    /// Print a built-in profile (a kata-deploy values file)
    Show { name: String },
    /// The shims kata-deploy 4.1.0 builds, per architecture, with their TEE
    Shims,
}

/// The first comment line after the `cococtl profile `name`:` prefix.
fn summary(text: &str) -> String {
    let first = text.lines().next().unwrap_or("");
    first.split_once(": ").map_or(first, |(_, s)| s).to_string()
}

pub fn run(args: ProfilesArgs) -> ExitCode {
    match args.command {
        Command::List => {
            let mut out = String::new();
            for (name, text) in builtin::PROFILES {
                let shims = builtin::enabled_shims(text).unwrap_or_default();
                let arches: Vec<_> = shims.keys().map(|a| a.k8s_name()).collect();
                out.push_str(&format!(
                    "{name:<11} {:<14} {}\n",
                    arches.join(","),
                    summary(text)
                ));
            }
            exit::print(&out)
        }
        Command::Show { name } => match cococtl_profile::builtin_profile(&name) {
            Ok(text) => exit::print(text),
            Err(e) => exit::invalid(&e.to_string()),
        },
        Command::Shims => {
            let mut out = format!(
                "{:<32} {:<26} {:<10} {}\n",
                "SHIM", "ARCHES", "RUNTIME", "ISOLATION"
            );
            for s in SHIMS {
                let arches: Vec<_> = s.arches.iter().map(|a| a.k8s_name()).collect();
                let iso = match s.isolation {
                    Isolation::Vm => "vm".to_string(),
                    Isolation::CocoDev => "coco-dev (no TEE)".to_string(),
                    Isolation::Tee(t) => format!("tee: {}", t.name()),
                    Isolation::PeerPods => "peer-pods".to_string(),
                };
                let gpu = if s.gpu { " + gpu" } else { "" };
                let rt = match s.runtime {
                    cococtl_core::catalog::Runtime::Go => "go",
                    cococtl_core::catalog::Runtime::RuntimeRs => "runtime-rs",
                };
                out.push_str(&format!(
                    "{:<32} {:<26} {:<10} {iso}{gpu}\n",
                    s.name,
                    arches.join(","),
                    rt
                ));
            }
            exit::print(&out)
        }
    }
}
