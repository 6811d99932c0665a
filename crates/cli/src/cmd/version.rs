//! `cococtl version`: what this binary is (its version, the commit and target it was built
//! from) and the upstream releases it renders, for bug reports and for checking that a
//! node agent image matches the CLI.

use std::process::ExitCode;

use serde::Serialize;

use crate::exit;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Output {
    Text,
    Json,
    Yaml,
}

/// Print the version, build and pinned upstream versions
#[derive(clap::Args)]
#[command(after_help = "Examples:
  cococtl version
  cococtl version -o json")]
pub struct VersionArgs {
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    output: Output,
}

/// The report; the field names are the JSON/YAML keys.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Version {
    version: &'static str,
    git_commit: &'static str,
    target: &'static str,
    upstream: Upstream,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Upstream {
    /// The kata-deploy release rendered without `--kata-version`.
    kata_deploy: &'static str,
    /// The peerpods chart and the cloud-api-adaptor release of `--profile remote`.
    peerpods_chart: &'static str,
    cloud_api_adaptor: &'static str,
}

fn report() -> Version {
    Version {
        version: env!("CARGO_PKG_VERSION"),
        // Set by build.rs ("unknown" outside a git checkout).
        git_commit: env!("COCOCTL_GIT_COMMIT"),
        target: env!("COCOCTL_TARGET"),
        upstream: Upstream {
            kata_deploy: cococtl_profile::KataVersion::DEFAULT.as_str(),
            peerpods_chart: cococtl_profile::peerpods::CHART_VERSION,
            cloud_api_adaptor: cococtl_profile::peerpods::CAA_VERSION,
        },
    }
}

pub fn run(args: VersionArgs) -> ExitCode {
    let v = report();
    let text = match args.output {
        Output::Text => format!(
            "cococtl {}\n  git commit:        {}\n  target:            {}\n  kata-deploy:       {}\n  peerpods chart:    {}\n  cloud-api-adaptor: {}\n",
            v.version,
            v.git_commit,
            v.target,
            v.upstream.kata_deploy,
            v.upstream.peerpods_chart,
            v.upstream.cloud_api_adaptor
        ),
        Output::Json => match serde_json::to_string_pretty(&v) {
            Ok(s) => s + "\n",
            Err(e) => return exit::failed(&format!("cannot encode the version: {e}")),
        },
        Output::Yaml => match serde_yaml::to_string(&v) {
            Ok(s) => s,
            Err(e) => return exit::failed(&format!("cannot encode the version: {e}")),
        },
    };
    exit::print(&text)
}
