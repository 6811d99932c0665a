//! The agent's settings for this node, resolved from flags/env: which tarball for this
//! architecture, how it is verified, and how it is installed.

use std::path::PathBuf;

use cococtl_profile::catalog::Arch;

/// Side (reversible drop-in) or in-place (with backups): the same setting the values carry.
pub use cococtl_profile::config::ContainerdMode as Mode;

/// How the tarball is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    Sha256(String),
    /// A `sha256sum`-format file listing the tarball's file name.
    Url(String),
    /// Explicitly allowed to skip verification.
    None,
}

/// Everything `install` needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub host_root: PathBuf,
    pub arch: Arch,
    pub url: String,
    pub checksum: Checksum,
    pub mode: Mode,
    pub node_name: Option<String>,
}

/// A setting that cannot work. Nothing on the host was changed.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}\n  fix: {fix}")]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
    pub fix: String,
}

fn err(setting: &str, message: impl Into<String>, fix: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.into(),
        message: message.into(),
        fix: fix.into(),
    }
}

/// Raw settings as flags or env give them.
#[derive(Debug, Clone, Default)]
pub struct Raw {
    pub host_root: PathBuf,
    pub url: Option<String>,
    /// Per-arch URL for this node's arch, if given (wins over `url`).
    pub arch_url: Option<String>,
    pub sha256: Option<String>,
    pub arch_sha256: Option<String>,
    pub checksum_url: Option<String>,
    pub arch_checksum_url: Option<String>,
    pub mode: Mode,
    pub allow_insecure_http: bool,
    pub allow_unverified: bool,
    pub distribution: String,
    pub node_name: Option<String>,
}

/// Distributions that ship their own containerd.
const OWN_CONTAINERD: &[&str] = &["k3s", "rke2", "k0s", "microk8s"];

pub fn resolve(raw: Raw, arch: Arch) -> Result<Config, ConfigError> {
    let arch_flag = format!("--tarball-url-{}", arch.k8s_name());
    if OWN_CONTAINERD.contains(&raw.distribution.as_str()) {
        return Err(err(
            "--k8s-distribution",
            format!("{} ships and manages its own containerd; replacing it would break the distribution", raw.distribution),
            "do not enable customContainerd on this cluster; upgrade the distribution instead",
        ));
    }
    if raw.distribution != "k8s" {
        return Err(err(
            "--k8s-distribution",
            format!("unknown distribution `{}`", raw.distribution),
            "use k8s",
        ));
    }
    let url = raw
        .arch_url
        .or(raw.url)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            err(
                "--tarball-url",
                format!("no containerd tarball for {arch}"),
                format!(
                    "pass --tarball-url or {arch_flag} (env COCOCTL_CONTAINERD_TARBALL_URL[_{}])",
                    arch.k8s_name().to_uppercase()
                ),
            )
        })?;
    let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or("");
    match scheme {
        "https" => {}
        "http" if raw.allow_insecure_http => {}
        "http" => {
            return Err(err(
                "--tarball-url",
                format!("`{url}` is plain HTTP"),
                "use https, or --allow-insecure-http with a pinned --sha256",
            ))
        }
        _ => {
            return Err(err(
                "--tarball-url",
                format!("`{url}` is not an http(s) URL"),
                "use https://host/path/containerd-<version>-linux-<arch>.tar.gz",
            ))
        }
    }
    let sha = raw.arch_sha256.or(raw.sha256).filter(|s| !s.is_empty());
    let sum_url = raw
        .arch_checksum_url
        .or(raw.checksum_url)
        .filter(|s| !s.is_empty());
    let checksum = match (sha, sum_url) {
        (Some(s), _) => {
            if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err("--sha256", format!("`{s}` is not a SHA-256 (64 hex digits)"), "sha256sum the tarball"));
            }
            Checksum::Sha256(s.to_ascii_lowercase())
        }
        (None, Some(u)) => {
            if u.starts_with("http://") && !raw.allow_insecure_http {
                return Err(err("--checksum-url", format!("`{u}` is plain HTTP"), "use https"));
            }
            Checksum::Url(u)
        }
        (None, None) if raw.allow_unverified => Checksum::None,
        (None, None) => {
            return Err(err(
                "--sha256",
                format!("no checksum for {url}: an unverified binary would replace the node's container runtime"),
                "pass --sha256 (or --checksum-url), or --allow-unverified",
            ))
        }
    };
    Ok(Config {
        host_root: raw.host_root,
        arch,
        url,
        checksum,
        mode: raw.mode,
        node_name: raw.node_name.filter(|n| !n.is_empty()),
    })
}
