//! What the rendered `cococtl-containerd` DaemonSet tells the node agent: the settings, the
//! environment variable that carries each one (one definition, read by the agent's flags
//! and written by the renderer), and the single validator of a tarball source.
//!
//! The values layer (`customContainerd.*`) and the agent's flags both build a [`Settings`]
//! and both validate it here, so a setting `render` accepts is one the agent accepts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::arch::Arch;
use crate::distribution::Distribution;

/// How the custom containerd goes onto the node (`docs/node-agent.md#side-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Binaries under `/opt/confidential-containers/bin` plus a systemd drop-in; the
    /// distribution's files are never touched.
    #[default]
    Side,
    /// Replace the distribution's binaries next to the unit's `ExecStart`, keeping copies.
    InPlace,
}

impl Mode {
    /// `side` or `in-place`, as values, flags and env spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Side => "side",
            Mode::InPlace => "in-place",
        }
    }

    /// Parses `side` / `in-place`.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "side" => Some(Mode::Side),
            "in-place" => Some(Mode::InPlace),
            _ => None,
        }
    }
}

/// Where one architecture's containerd tarball comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tarball {
    /// `https://…/containerd-<version>-linux-<arch>.tar.gz`.
    pub url: String,
    /// Hex SHA-256 of the tarball, lowercase; empty when none is pinned.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sha256: String,
    /// A `sha256sum`-format file that lists the tarball; empty when none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub checksum_url: String,
}

/// Everything the agent is told, for every architecture.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// For every architecture without its own entry.
    pub default: Option<Tarball>,
    /// Per architecture; wins over `default`.
    pub per_arch: BTreeMap<Arch, Tarball>,
    /// Side or in-place.
    pub mode: Mode,
    /// Plain-HTTP URLs are accepted (with a pinned checksum).
    pub allow_insecure_http: bool,
    /// No checksum at all is accepted.
    pub allow_unverified: bool,
    /// The cluster's distribution (a custom containerd is refused where it ships its own).
    pub distribution: Distribution,
    /// An extra CA (PEM file on the node, absolute) the agent trusts for `oci://`
    /// registries, besides the system roots; empty when none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registry_ca: String,
}

/// How one tarball is checked once downloaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Checksum {
    /// The pinned SHA-256, lowercase hex.
    Sha256(String),
    /// The URL of a `sha256sum`-format file listing the tarball's file name.
    Url(String),
    /// Explicitly allowed to skip verification.
    None,
}

/// The tarball this node installs, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The tarball's URL.
    pub url: String,
    /// How it is verified.
    pub checksum: Checksum,
}

/// Which setting of a tarball a [`Problem`] is about; each caller names it its own way
/// (a values key path, a flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The tarball URL.
    Url,
    /// The pinned SHA-256.
    Sha256,
    /// The checksum file's URL.
    ChecksumUrl,
    /// The distribution.
    Distribution,
}

/// What the user can do about a [`Problem`]; each caller words it for its own input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// Give an `https://host/path` URL.
    UseHttpsUrl,
    /// Use https, or allow plain HTTP explicitly (checksum pinned).
    UseHttpsOrAllowHttp,
    /// Give the tarball's SHA-256 as 64 hex digits.
    GiveSha256,
    /// Give a SHA-256 or a checksum URL, or allow unverified installs explicitly.
    GiveChecksumOrAllowUnverified,
    /// Give a tarball URL for this architecture.
    GiveUrl,
    /// Do not install a custom containerd on this distribution.
    DisableOnThisDistribution,
    /// Give `oci://host/repo@sha256:<manifest digest>`.
    UseOciReference,
}

/// One reason a setting cannot work. Nothing was changed anywhere.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Problem {
    /// Which setting.
    pub field: Field,
    /// What is wrong, naming the offending value.
    pub message: String,
    /// What to do.
    pub remedy: Remedy,
}

fn problem(field: Field, message: String, remedy: Remedy) -> Problem {
    Problem {
        field,
        message,
        remedy,
    }
}

/// Checks a download URL: `http(s)://host/...` (scheme case-insensitive, as RFC 3986 says),
/// no white space, plain HTTP only when allowed; or, for the tarball itself, an
/// `oci://registry/repo@sha256:…` (or `:tag`) reference ([`crate::oci_ref`]).
pub fn check_url(field: Field, url: &str, allow_http: bool) -> Result<(), Problem> {
    if crate::oci_ref::is_oci(url) {
        if field != Field::Url {
            return Err(problem(
                field,
                format!("`{url}`: only the tarball can come from an OCI registry"),
                Remedy::UseHttpsUrl,
            ));
        }
        return crate::oci_ref::OciRef::parse(url)
            .map(|_| ())
            .map_err(|e| problem(field, e.to_string(), Remedy::UseOciReference));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(problem(
            field,
            format!("`{url}` is not a URL"),
            Remedy::UseHttpsUrl,
        ));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || url.contains(char::is_whitespace) {
        return Err(problem(
            field,
            format!("`{url}` has no host or contains white space"),
            Remedy::UseHttpsUrl,
        ));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(()),
        "http" if allow_http => Ok(()),
        "http" => Err(problem(
            field,
            format!("`{url}` is plain HTTP: anyone on the path could swap the binary"),
            Remedy::UseHttpsOrAllowHttp,
        )),
        other => Err(problem(
            field,
            format!("scheme `{other}` is not supported"),
            Remedy::UseHttpsUrl,
        )),
    }
}

/// The warning for a tarball URL that works but should be changed: an `oci://` reference
/// by tag (a tag is mutable; the digest form pins the manifest).
pub fn url_warning(url: &str) -> Option<String> {
    match crate::oci_ref::OciRef::parse(url).ok()?.reference {
        crate::oci_ref::Reference::Tag(t) => Some(format!(
            "`{url}` names the tarball by tag `{t}`, which whoever can push to the registry can move; prefer oci://…@sha256:<manifest digest> (what `cococtl artifact push` prints)"
        )),
        crate::oci_ref::Reference::Digest(_) => None,
    }
}

/// A SHA-256 as 64 hex digits (any case); returns it lowercase.
pub fn parse_sha256(s: &str) -> Option<String> {
    let s = s.trim();
    (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

/// The file name a URL names: its last path segment, without query or fragment (a
/// presigned URL's query is not part of the name a checksum file lists).
pub fn url_file_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path)
}

impl Tarball {
    /// Every problem of this tarball's settings (all of them, not only the first).
    pub fn problems(&self, allow_http: bool, allow_unverified: bool) -> Vec<Problem> {
        let mut out = Vec::new();
        if let Err(p) = check_url(Field::Url, &self.url, allow_http) {
            out.push(p);
        }
        if !self.sha256.is_empty() && parse_sha256(&self.sha256).is_none() {
            out.push(problem(
                Field::Sha256,
                format!("`{}` is not a SHA-256 (64 hex digits)", self.sha256),
                Remedy::GiveSha256,
            ));
        }
        if !self.checksum_url.is_empty() {
            if let Err(p) = check_url(Field::ChecksumUrl, &self.checksum_url, allow_http) {
                out.push(p);
            }
        }
        if self.sha256.is_empty() && self.checksum_url.is_empty() && !allow_unverified {
            out.push(problem(
                Field::Sha256,
                format!(
                    "no checksum for {}: an unverified binary would replace the node's container runtime",
                    self.url
                ),
                Remedy::GiveChecksumOrAllowUnverified,
            ));
        }
        out
    }

    /// The checksum to verify against: the SHA-256 when pinned, else the checksum file.
    fn checksum(&self) -> Checksum {
        match (parse_sha256(&self.sha256), self.checksum_url.is_empty()) {
            (Some(s), _) => Checksum::Sha256(s),
            (None, false) => Checksum::Url(self.checksum_url.clone()),
            (None, true) => Checksum::None,
        }
    }
}

impl Settings {
    /// The tarball configured for `arch`, if any.
    pub fn tarball(&self, arch: Arch) -> Option<&Tarball> {
        self.per_arch
            .get(&arch)
            .or(self.default.as_ref())
            .filter(|t| !t.url.is_empty())
    }

    /// Problems that hold whatever the architecture (the distribution).
    pub fn distribution_problem(&self) -> Option<Problem> {
        self.distribution.ships_own_containerd().then(|| {
            problem(
                Field::Distribution,
                format!(
                    "{} ships and manages its own containerd; replacing it would break the distribution",
                    self.distribution
                ),
                Remedy::DisableOnThisDistribution,
            )
        })
    }

    /// The validated source for a node of `arch`: the one place a setting is accepted.
    pub fn resolve(&self, arch: Arch) -> Result<Source, Vec<Problem>> {
        if let Some(p) = self.distribution_problem() {
            return Err(vec![p]);
        }
        let Some(t) = self.tarball(arch) else {
            return Err(vec![problem(
                Field::Url,
                format!("no containerd tarball for {arch}"),
                Remedy::GiveUrl,
            )]);
        };
        let problems = t.problems(self.allow_insecure_http, self.allow_unverified);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Source {
            url: t.url.clone(),
            checksum: t.checksum(),
        })
    }

    /// The agent container's environment for these settings (see [`env`]).
    pub fn to_env(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut tarball = |arch: Option<Arch>, t: &Tarball| {
            out.push((env::tarball_url(arch).to_string(), t.url.clone()));
            if !t.sha256.is_empty() {
                out.push((env::sha256(arch).to_string(), t.sha256.clone()));
            }
            if !t.checksum_url.is_empty() {
                out.push((env::checksum_url(arch).to_string(), t.checksum_url.clone()));
            }
        };
        if let Some(t) = &self.default {
            tarball(None, t);
        }
        for (arch, t) in &self.per_arch {
            tarball(Some(*arch), t);
        }
        out.push((env::MODE.into(), self.mode.as_str().into()));
        if self.allow_insecure_http {
            out.push((env::ALLOW_INSECURE_HTTP.into(), "true".into()));
        }
        if self.allow_unverified {
            out.push((env::ALLOW_UNVERIFIED.into(), "true".into()));
        }
        out.push((env::DISTRIBUTION.into(), self.distribution.as_str().into()));
        if !self.registry_ca.is_empty() {
            out.push((env::REGISTRY_CA.into(), self.registry_ca.clone()));
        }
        out
    }

    /// Some tarball comes from an OCI registry (the agent then needs the pull secret).
    pub fn uses_oci(&self) -> bool {
        self.default
            .iter()
            .chain(self.per_arch.values())
            .any(|t| crate::oci_ref::is_oci(&t.url))
    }
}

/// The environment variables of the agent's contract (`docs/node-agent.md#env-contract`).
/// The agent's flags read exactly these names; the renderer writes exactly these names.
pub mod env {
    use crate::arch::Arch;

    /// The node's name (downward API); the agent reports its state on this Node.
    pub const NODE_NAME: &str = "NODE_NAME";
    /// Where the host's `/` is mounted.
    pub const HOST_ROOT: &str = "COCOCTL_HOST_ROOT";
    /// The agent pod's namespace (downward API).
    pub const POD_NAMESPACE: &str = "POD_NAMESPACE";
    /// The agent's own DaemonSet: on SIGTERM the agent restores the node only when this
    /// DaemonSet is gone, being deleted, or no longer selects the node (an uninstall), never
    /// on an ordinary restart or rolling update.
    pub const DAEMONSET: &str = "COCOCTL_AGENT_DAEMONSET";
    /// `side` or `in-place`.
    pub const MODE: &str = "COCOCTL_CONTAINERD_MODE";
    /// `true`: plain-HTTP URLs accepted.
    pub const ALLOW_INSECURE_HTTP: &str = "COCOCTL_CONTAINERD_ALLOW_INSECURE_HTTP";
    /// `true`: installing without a checksum accepted.
    pub const ALLOW_UNVERIFIED: &str = "COCOCTL_CONTAINERD_ALLOW_UNVERIFIED";
    /// `k8sDistribution`.
    pub const DISTRIBUTION: &str = "COCOCTL_K8S_DISTRIBUTION";
    /// `true` (`proxy.containerd`): containerd gets the agent's `HTTPS_PROXY`/`HTTP_PROXY`/
    /// `NO_PROXY` through a systemd drop-in (the proxy itself is in those standard
    /// variables, [`crate::proxy`]).
    pub const CONTAINERD_PROXY: &str = "COCOCTL_CONTAINERD_PROXY";
    /// A `.dockerconfigjson` file (the mounted pull secret) with credentials for `oci://`
    /// tarballs.
    pub const PULL_SECRET: &str = "COCOCTL_CONTAINERD_PULL_SECRET";
    /// An extra CA (PEM file on the host, resolved under the host root) for `oci://`
    /// registries.
    pub const REGISTRY_CA: &str = "COCOCTL_CONTAINERD_REGISTRY_CA";

    /// Tarball URL for every architecture without its own.
    pub const TARBALL_URL: &str = "COCOCTL_CONTAINERD_TARBALL_URL";
    /// Tarball URL for amd64 nodes.
    pub const TARBALL_URL_AMD64: &str = "COCOCTL_CONTAINERD_TARBALL_URL_AMD64";
    /// Tarball URL for arm64 nodes.
    pub const TARBALL_URL_ARM64: &str = "COCOCTL_CONTAINERD_TARBALL_URL_ARM64";
    /// Tarball URL for s390x nodes.
    pub const TARBALL_URL_S390X: &str = "COCOCTL_CONTAINERD_TARBALL_URL_S390X";
    /// Tarball URL for ppc64le nodes.
    pub const TARBALL_URL_PPC64LE: &str = "COCOCTL_CONTAINERD_TARBALL_URL_PPC64LE";
    /// SHA-256 for every architecture without its own.
    pub const SHA256: &str = "COCOCTL_CONTAINERD_SHA256";
    /// SHA-256 of the amd64 tarball.
    pub const SHA256_AMD64: &str = "COCOCTL_CONTAINERD_SHA256_AMD64";
    /// SHA-256 of the arm64 tarball.
    pub const SHA256_ARM64: &str = "COCOCTL_CONTAINERD_SHA256_ARM64";
    /// SHA-256 of the s390x tarball.
    pub const SHA256_S390X: &str = "COCOCTL_CONTAINERD_SHA256_S390X";
    /// SHA-256 of the ppc64le tarball.
    pub const SHA256_PPC64LE: &str = "COCOCTL_CONTAINERD_SHA256_PPC64LE";
    /// Checksum-file URL for every architecture without its own.
    pub const CHECKSUM_URL: &str = "COCOCTL_CONTAINERD_CHECKSUM_URL";
    /// Checksum-file URL for amd64.
    pub const CHECKSUM_URL_AMD64: &str = "COCOCTL_CONTAINERD_CHECKSUM_URL_AMD64";
    /// Checksum-file URL for arm64.
    pub const CHECKSUM_URL_ARM64: &str = "COCOCTL_CONTAINERD_CHECKSUM_URL_ARM64";
    /// Checksum-file URL for s390x.
    pub const CHECKSUM_URL_S390X: &str = "COCOCTL_CONTAINERD_CHECKSUM_URL_S390X";
    /// Checksum-file URL for ppc64le.
    pub const CHECKSUM_URL_PPC64LE: &str = "COCOCTL_CONTAINERD_CHECKSUM_URL_PPC64LE";

    /// The tarball-URL variable for `arch` (`None`: the shared one).
    pub fn tarball_url(arch: Option<Arch>) -> &'static str {
        match arch {
            None => TARBALL_URL,
            Some(Arch::Amd64) => TARBALL_URL_AMD64,
            Some(Arch::Arm64) => TARBALL_URL_ARM64,
            Some(Arch::S390x) => TARBALL_URL_S390X,
            Some(Arch::Ppc64le) => TARBALL_URL_PPC64LE,
        }
    }

    /// The SHA-256 variable for `arch` (`None`: the shared one).
    pub fn sha256(arch: Option<Arch>) -> &'static str {
        match arch {
            None => SHA256,
            Some(Arch::Amd64) => SHA256_AMD64,
            Some(Arch::Arm64) => SHA256_ARM64,
            Some(Arch::S390x) => SHA256_S390X,
            Some(Arch::Ppc64le) => SHA256_PPC64LE,
        }
    }

    /// The checksum-URL variable for `arch` (`None`: the shared one).
    pub fn checksum_url(arch: Option<Arch>) -> &'static str {
        match arch {
            None => CHECKSUM_URL,
            Some(Arch::Amd64) => CHECKSUM_URL_AMD64,
            Some(Arch::Arm64) => CHECKSUM_URL_ARM64,
            Some(Arch::S390x) => CHECKSUM_URL_S390X,
            Some(Arch::Ppc64le) => CHECKSUM_URL_PPC64LE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_arch_variable_names_are_the_shared_name_with_the_k8s_arch_suffix() {
        for a in Arch::ALL {
            let sfx = a.k8s_name().to_ascii_uppercase();
            assert_eq!(
                env::tarball_url(Some(a)),
                format!("{}_{sfx}", env::TARBALL_URL)
            );
            assert_eq!(env::sha256(Some(a)), format!("{}_{sfx}", env::SHA256));
            assert_eq!(
                env::checksum_url(Some(a)),
                format!("{}_{sfx}", env::CHECKSUM_URL)
            );
        }
    }

    #[test]
    fn url_schemes_are_case_insensitive() {
        assert!(check_url(Field::Url, "HTTPS://e.com/c.tgz", false).is_ok());
        assert!(check_url(Field::Url, "HTTP://e.com/c.tgz", true).is_ok());
        assert_eq!(
            check_url(Field::Url, "HTTP://e.com/c.tgz", false).map_err(|p| p.remedy),
            Err(Remedy::UseHttpsOrAllowHttp)
        );
        assert!(check_url(Field::Url, "ftp://e.com/c.tgz", true).is_err());
        assert!(check_url(Field::Url, "https:///c.tgz", true).is_err());
    }

    #[test]
    fn oci_references_are_tarball_urls_and_a_tag_is_warned_about() {
        let d = "b".repeat(64);
        let by_digest = format!("oci://mirror:5000/coco/containerd@sha256:{d}");
        assert!(check_url(Field::Url, &by_digest, false).is_ok());
        assert!(url_warning(&by_digest).is_none());
        assert!(check_url(Field::Url, "oci://mirror/containerd:2.1.9", false).is_ok());
        assert!(url_warning("oci://mirror/containerd:2.1.9").is_some());
        assert_eq!(
            check_url(Field::Url, "oci://mirror/containerd", false).map_err(|p| p.remedy),
            Err(Remedy::UseOciReference)
        );
        assert!(check_url(Field::ChecksumUrl, &by_digest, false).is_err());
    }

    #[test]
    fn a_presigned_urls_query_is_not_part_of_its_file_name() {
        assert_eq!(
            url_file_name(
                "https://b.s3/x/containerd-2.1.9-linux-amd64.tar.gz?X-Amz-Signature=ab/cd#f"
            ),
            "containerd-2.1.9-linux-amd64.tar.gz"
        );
    }

    #[test]
    fn per_arch_tarballs_win_over_the_shared_one() {
        let s = Settings {
            default: Some(Tarball {
                url: "https://e.com/any.tgz".into(),
                sha256: "A".repeat(64),
                ..Tarball::default()
            }),
            per_arch: [(
                Arch::S390x,
                Tarball {
                    url: "https://e.com/s390x.tgz".into(),
                    checksum_url: "https://e.com/sums".into(),
                    ..Tarball::default()
                },
            )]
            .into(),
            ..Settings::default()
        };
        assert_eq!(
            s.resolve(Arch::Amd64).unwrap().checksum,
            Checksum::Sha256("a".repeat(64))
        );
        assert_eq!(
            s.resolve(Arch::S390x).unwrap().checksum,
            Checksum::Url("https://e.com/sums".into())
        );
    }

    #[test]
    fn a_distribution_with_its_own_containerd_is_refused_first() {
        let s = Settings {
            distribution: Distribution::K3s,
            ..Settings::default()
        };
        let p = s.resolve(Arch::Amd64).unwrap_err();
        assert_eq!(p[0].field, Field::Distribution);
    }

    #[test]
    fn every_problem_is_reported_not_only_the_first() {
        let t = Tarball {
            url: "ftp://e.com/x".into(),
            sha256: "xyz".into(),
            checksum_url: "http://e.com/s".into(),
        };
        assert_eq!(t.problems(false, false).len(), 3);
    }
}
