//! The agent's settings for this node: the tarball for this node's architecture, validated
//! by the one validator in [`cococtl_core::agent`], plus where the host is.

use std::path::PathBuf;

use cococtl_core::agent::{Problem, Remedy, Settings, Source};
use cococtl_core::Arch;

pub use cococtl_core::agent::{Checksum, Mode};

/// Everything `install` needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the host's `/` is.
    pub host_root: PathBuf,
    /// This node's architecture.
    pub arch: Arch,
    /// The tarball's URL.
    pub url: String,
    /// How the tarball is verified.
    pub checksum: Checksum,
    /// Side or in-place.
    pub mode: Mode,
    /// The Node to report on, when the agent has API access.
    pub node_name: Option<String>,
    /// The proxy containerd itself gets through a systemd drop-in (`proxy.containerd`);
    /// `None` leaves containerd's environment alone (and removes a drop-in cococtl wrote).
    pub containerd_proxy: Option<cococtl_core::proxy::Proxy>,
}

/// A setting that cannot work. Nothing on the host was changed.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}\n  fix: {fix}")]
pub struct ConfigError {
    /// The flag (and its env variable) at fault.
    pub setting: String,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub fix: String,
}

/// The flag and the environment variable at fault: the DaemonSet passes env, so the pod's
/// log must name the variable a user finds in the rendered manifest.
fn flag(p: &Problem, arch: Arch) -> String {
    use cococtl_core::agent::{env, Field};
    let a = arch.k8s_name();
    let both = |flag: &str, var: fn(Option<Arch>) -> &'static str| {
        format!(
            "--{flag} / {} (or --{flag}-{a} / {})",
            var(None),
            var(Some(arch))
        )
    };
    match p.field {
        Field::Url => both("tarball-url", env::tarball_url),
        Field::Sha256 => both("sha256", env::sha256),
        Field::ChecksumUrl => both("checksum-url", env::checksum_url),
        Field::Distribution => format!("--k8s-distribution / {}", env::DISTRIBUTION),
    }
}

fn fix(r: Remedy) -> String {
    use cococtl_core::agent::env;
    match r {
        Remedy::UseHttpsUrl => {
            "use https://host/path/containerd-<version>-linux-<arch>.tar.gz".into()
        }
        Remedy::UseHttpsOrAllowHttp => format!(
            "use https, or --allow-insecure-http ({}=true) with a pinned --sha256",
            env::ALLOW_INSECURE_HTTP
        ),
        Remedy::GiveSha256 => "sha256sum the tarball".into(),
        Remedy::GiveChecksumOrAllowUnverified => format!(
            "pass --sha256 (or --checksum-url), or --allow-unverified ({}=true)",
            env::ALLOW_UNVERIFIED
        ),
        Remedy::GiveUrl => format!(
            "pass --tarball-url ({}) or the per-arch flag (see --help)",
            env::TARBALL_URL
        ),
        Remedy::DisableOnThisDistribution => {
            "do not enable customContainerd on this cluster; upgrade the distribution instead"
                .into()
        }
        Remedy::UseOciReference => {
            "use oci://<registry>/<repository>@sha256:<manifest digest>, as `cococtl artifact push` prints it".into()
        }
    }
}

/// Resolves `settings` for a node of `arch`: the first problem, worded for the agent's
/// flags, or the validated config.
pub fn resolve(
    settings: &Settings,
    arch: Arch,
    host_root: PathBuf,
    node_name: Option<String>,
) -> Result<Config, ConfigError> {
    let Source { url, checksum } = settings.resolve(arch).map_err(|problems| {
        let p = &problems[0];
        ConfigError {
            setting: flag(p, arch),
            message: problems
                .iter()
                .map(|p| p.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            fix: fix(p.remedy),
        }
    })?;
    Ok(Config {
        host_root,
        arch,
        url,
        checksum,
        mode: settings.mode,
        node_name: node_name.filter(|n| !n.is_empty()),
        containerd_proxy: None,
    })
}
