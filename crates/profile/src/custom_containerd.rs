//! `customContainerd.*`: where each architecture's containerd tarball comes from and how the
//! node agent installs it. Same keys as the CoCo chart, plus the checksums and mode that
//! chart lacked. Plain HTTP and unverified downloads are refused unless explicitly allowed.

use std::collections::BTreeMap;

use cococtl_core::agent::{Field, Mode, Remedy, Settings, Tarball};
use cococtl_core::Arch;

use crate::config::{Config, CustomContainerd};
use crate::raw;
use crate::validate::Sink;

/// The agent image when the values name none: this tool's own image, same version.
pub const DEFAULT_AGENT_IMAGE: &str = "ghcr.io/confidential-containers/cococtl";

/// Where each tarball field lives in the values, and the `--set` fix for each remedy.
struct Keys {
    url: String,
    sha256: String,
    checksum_url: String,
}

fn fix(keys: &Keys, remedy: Remedy) -> String {
    match remedy {
        Remedy::UseHttpsUrl => "use https://host/path/containerd-<version>-linux-<arch>.tar.gz".into(),
        Remedy::UseHttpsOrAllowHttp => format!(
            "use https, or --set {P}.allowInsecureHttp=true if the checksum is pinned"
        ),
        Remedy::GiveSha256 => format!("sha256sum the tarball and --set {}=<hex>", keys.sha256),
        Remedy::GiveChecksumOrAllowUnverified => format!(
            "--set {}=<sha256 of the tarball>, or {P}.checksumUrl, or --set {P}.allowUnverified=true",
            keys.sha256
        ),
        Remedy::GiveUrl => format!("--set {}=<url>", keys.url),
        Remedy::DisableOnThisDistribution => {
            format!("--set {P}.enabled=false (upgrade the distribution instead)")
        }
        Remedy::UseOciReference => format!(
            "--set {}=oci://<registry>/<repository>@sha256:<manifest digest> (`cococtl artifact push` prints it)",
            keys.url
        ),
    }
}

/// Reports the tarball's problems through the one validator the agent uses too.
fn check_tarball(v: &mut dyn Sink, t: &Tarball, keys: &Keys, s: &Settings) {
    if let Some(w) = cococtl_core::agent::url_warning(&t.url) {
        v.warn(&keys.url, w);
    }
    for p in t.problems(s.allow_insecure_http, s.allow_unverified) {
        let key = match p.field {
            Field::Url | Field::Distribution => &keys.url,
            Field::Sha256 => &keys.sha256,
            Field::ChecksumUrl => &keys.checksum_url,
        };
        v.err(key, p.message, fix(keys, p.remedy));
    }
}

fn arch_map(v: &mut dyn Sink, path: &str, m: &BTreeMap<String, String>) -> BTreeMap<Arch, String> {
    let mut out = BTreeMap::new();
    for (k, val) in m {
        match Arch::from_k8s_name(k) {
            Some(a) => {
                if !val.trim().is_empty() {
                    out.insert(a, val.trim().to_string());
                }
            }
            None => v.err(
                &format!("{path}.{k}"),
                format!("`{k}` is not a Kubernetes architecture name"),
                "use amd64, arm64, s390x or ppc64le".into(),
            ),
        }
    }
    out
}

const P: &str = "customContainerd";

/// Lowercase when it is a SHA-256; as given otherwise (the validator names it).
fn normalise_sha256(s: &str) -> String {
    cococtl_core::agent::parse_sha256(s).unwrap_or_else(|| s.trim().to_string())
}

/// Validates the section; `None` when disabled (or invalid, with problems reported).
pub fn validate(
    v: &mut dyn Sink,
    r: raw::CustomContainerd,
    c: &Config,
) -> Option<CustomContainerd> {
    if !r.enabled {
        return None;
    }
    let mut settings = Settings {
        mode: mode(v, &r.mode),
        allow_insecure_http: r.allow_insecure_http,
        allow_unverified: r.allow_unverified,
        distribution: c.k8s_distribution,
        ..Settings::default()
    };
    if !distribution_allows_it(v, &settings, c) {
        return None;
    }
    tarballs(v, &r, &mut settings);
    if !every_arch_has_a_tarball(v, &settings, c) {
        return None;
    }
    let pull_secret = registry_access(v, &r, &mut settings);
    let image = agent_image(v, &r.image);
    Some(CustomContainerd {
        agent: settings,
        image,
        image_pull_policy: if r.image.pull_policy.is_empty() {
            "IfNotPresent".into()
        } else {
            r.image.pull_policy
        },
        node_selector: r.node_selector,
        tolerations: r.tolerations,
        pull_secret,
    })
}

/// `pullSecret` and `registryCA`: how the agent reaches an `oci://` tarball's registry.
/// Both are checked, and ignored with a warning when no tarball is `oci://`.
fn registry_access(
    v: &mut dyn Sink,
    r: &raw::CustomContainerd,
    settings: &mut Settings,
) -> Option<String> {
    let secret = r.pull_secret.trim();
    let ca = r.registry_ca.trim();
    if !settings.uses_oci() {
        for (key, given) in [("pullSecret", secret), ("registryCA", ca)] {
            if !given.is_empty() {
                v.warn(
                    &format!("{P}.{key}"),
                    "only used for oci:// tarballs, and none is configured; ignored".into(),
                );
            }
        }
        return None;
    }
    if !secret.is_empty() {
        if let Err(why) = crate::names::check_dns_subdomain(secret) {
            v.err(
                &format!("{P}.pullSecret"),
                format!("`{secret}` is not a Secret name: {why}"),
                "name a kubernetes.io/dockerconfigjson Secret in the install namespace".into(),
            );
        }
    }
    if !ca.is_empty() {
        if ca.starts_with('/') && !ca.contains(char::is_whitespace) {
            settings.registry_ca = ca.to_string();
        } else {
            v.err(
                &format!("{P}.registryCA"),
                format!("`{ca}` is not an absolute path on the node"),
                format!("--set {P}.registryCA=/etc/containerd/certs.d/<registry>/ca.crt (a PEM file every node has; the agent reads it under the host's /)"),
            );
        }
    }
    Some(secret.to_string()).filter(|s| !s.is_empty())
}

/// `customContainerd.mode`: `side` when empty; an unknown mode is reported (and `side`
/// assumed so validation goes on).
fn mode(v: &mut dyn Sink, given: &str) -> Mode {
    Mode::parse(if given.is_empty() { "side" } else { given }).unwrap_or_else(|| {
        v.err(
            &format!("{P}.mode"),
            format!("`{given}` is not side or in-place"),
            "--set customContainerd.mode=side".into(),
        );
        Mode::Side
    })
}

/// Distributions that ship their own containerd (k3s, rke2, …) refuse a custom one.
fn distribution_allows_it(v: &mut dyn Sink, settings: &Settings, c: &Config) -> bool {
    let Some(p) = settings.distribution_problem() else {
        return true;
    };
    let keys = Keys {
        url: format!("{P}.enabled"),
        sha256: String::new(),
        checksum_url: String::new(),
    };
    v.err(
        &keys.url,
        format!("k8sDistribution `{}`: {}", c.k8s_distribution, p.message),
        fix(&keys, p.remedy),
    );
    false
}

/// The default tarball (`tarballUrl`, `sha256`, `checksumUrl`) and the per-arch ones
/// (`tarballUrls`, `sha256s`, `checksumUrls`), each checked, into `settings`. Checksums for
/// an arch without a tarball (and no default) are warned about and ignored.
fn tarballs(v: &mut dyn Sink, r: &raw::CustomContainerd, settings: &mut Settings) {
    let urls = arch_map(v, &format!("{P}.tarballUrls"), &r.tarball_urls);
    let sums = arch_map(v, &format!("{P}.sha256s"), &r.sha256s);
    let sum_urls = arch_map(v, &format!("{P}.checksumUrls"), &r.checksum_urls);

    if !r.tarball_url.is_empty() {
        let t = Tarball {
            url: r.tarball_url.trim().to_string(),
            sha256: normalise_sha256(&r.sha256),
            checksum_url: r.checksum_url.trim().to_string(),
        };
        let keys = Keys {
            url: format!("{P}.tarballUrl"),
            sha256: format!("{P}.sha256"),
            checksum_url: format!("{P}.checksumUrl"),
        };
        check_tarball(v, &t, &keys, settings);
        settings.default = Some(t);
    }
    for (arch, url) in &urls {
        let t = Tarball {
            url: url.clone(),
            sha256: sums
                .get(arch)
                .map_or(String::new(), |s| normalise_sha256(s)),
            checksum_url: sum_urls.get(arch).cloned().unwrap_or_default(),
        };
        let keys = Keys {
            url: format!("{P}.tarballUrls.{arch}"),
            sha256: format!("{P}.sha256s.{arch}"),
            checksum_url: format!("{P}.checksumUrls.{arch}"),
        };
        check_tarball(v, &t, &keys, settings);
        settings.per_arch.insert(*arch, t);
    }
    for arch in sums.keys().chain(sum_urls.keys()) {
        if !urls.contains_key(arch) && settings.default.is_none() {
            v.warn(
                &format!("{P}.sha256s.{arch}"),
                format!("has no tarball for {arch}; ignored"),
            );
        }
    }
}

/// Some tarball at all, and without a default one, one for every architecture the
/// kata-deploy DaemonSet may run on. Returns `false` when there is none at all (nothing
/// further to check).
fn every_arch_has_a_tarball(v: &mut dyn Sink, settings: &Settings, c: &Config) -> bool {
    if settings.default.is_none() && settings.per_arch.is_empty() {
        v.err(
            &format!("{P}.tarballUrl"),
            "customContainerd is enabled but names no tarball".into(),
            "--set customContainerd.tarballUrl=https://.../containerd-<version>-linux-amd64.tar.gz"
                .into(),
        );
        return false;
    }
    if settings.default.is_none() {
        for arch in &c.schedulable_arches {
            if !settings.per_arch.contains_key(arch) {
                v.err(
                    &format!("{P}.tarballUrls.{arch}"),
                    format!("kata-deploy may run on {arch} nodes but no containerd tarball is given for {arch}"),
                    format!("--set {P}.tarballUrls.{arch}=<url>, or restrict the install to the architectures you have tarballs for"),
                );
            }
        }
    }
    true
}

/// The agent's image: cococtl's own (this version) unless the values name another; the
/// CoCo chart's `alpine` Job image is replaced with a warning.
fn agent_image(v: &mut dyn Sink, i: &raw::AgentImage) -> String {
    agent_image_for(v, P, i)
}

/// The digest of cococtl's own image for this version, when the build knew it
/// (`COCOCTL_IMAGE_DIGEST=sha256:… cargo build`, set by the release build once the image is
/// pushed): the default agent image is then pulled by digest.
pub const BUILD_IMAGE_DIGEST: Option<&str> = option_env!("COCOCTL_IMAGE_DIGEST");

/// cococtl's own image for this version, `repo:version`, or `repo:version@sha256:…` when the
/// build knew its digest ([`BUILD_IMAGE_DIGEST`]); before any `global.imageRegistry`.
pub fn default_agent_image() -> String {
    pinned(
        format!("{DEFAULT_AGENT_IMAGE}:{}", env!("CARGO_PKG_VERSION")),
        BUILD_IMAGE_DIGEST.unwrap_or(""),
    )
}

/// `reference@digest`, or `reference` without a digest. A bare 64-hex digest gets its
/// `sha256:` prefix.
fn pinned(reference: String, digest: &str) -> String {
    let d = digest.trim();
    if d.is_empty() {
        reference
    } else if d.contains(':') {
        format!("{reference}@{d}")
    } else {
        format!("{reference}@sha256:{d}")
    }
}

/// cococtl's own image for an agent configured under `section` (`customContainerd`,
/// `probe`): this version unless the values name another.
pub(crate) fn agent_image_for(v: &mut dyn Sink, section: &str, i: &raw::AgentImage) -> String {
    agent_image_with(v, section, i, BUILD_IMAGE_DIGEST)
}

/// [`agent_image_for`] with the build's digest given, so both cases can be tested. The
/// digest is `image.digest` when set; the build's digest only for the default image (this
/// version's, the one image that digest is of).
fn agent_image_with(
    v: &mut dyn Sink,
    section: &str,
    i: &raw::AgentImage,
    build_digest: Option<&str>,
) -> String {
    let repo = i.repository.trim();
    let default_repo = repo.is_empty() || repo.ends_with("/alpine") || repo == "alpine";
    let image = if default_repo {
        if !repo.is_empty() {
            v.warn(
                &format!("{section}.image.repository"),
                format!("`{repo}` is the CoCo chart's shell-Job image; the cococtl agent runs in its own image, which is used instead"),
            );
        }
        // Always this version's image (a tag next to the chart's `alpine` is not ours),
        // so the build's digest is its digest.
        let digest = match (i.digest.trim(), build_digest) {
            ("", Some(b)) => b,
            (d, _) => d,
        };
        pinned(
            format!("{DEFAULT_AGENT_IMAGE}:{}", env!("CARGO_PKG_VERSION")),
            digest,
        )
    } else if repo.contains('@') {
        repo.to_string()
    } else {
        let tag = if i.tag.is_empty() {
            env!("CARGO_PKG_VERSION")
        } else {
            i.tag.as_str()
        };
        pinned(format!("{repo}:{tag}"), &i.digest)
    };
    if let Err(why) = crate::names::check_image(&image) {
        let key = if i.digest.trim().is_empty() {
            "repository"
        } else {
            "digest"
        };
        v.err(
            &format!("{section}.image.{key}"),
            format!("`{image}` is not a valid image reference: {why}"),
            "use registry/repository, image.tag and image.digest sha256:<64 lowercase hex digits>"
                .into(),
        );
    }
    v.mirrored(image, &format!("{section}.image.repository"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects what the validators report.
    #[derive(Default)]
    struct Reports {
        errors: Vec<(String, String)>,
        warnings: Vec<(String, String)>,
    }

    impl Sink for Reports {
        fn err(&mut self, path: &str, message: String, _fix: String) {
            self.errors.push((path.into(), message));
        }
        fn warn(&mut self, path: &str, message: String) {
            self.warnings.push((path.into(), message));
        }
    }

    #[test]
    fn an_empty_mode_is_side_and_an_unknown_one_is_reported() {
        let mut r = Reports::default();
        assert_eq!(mode(&mut r, ""), Mode::Side);
        assert_eq!(mode(&mut r, "in-place"), Mode::InPlace);
        assert!(r.errors.is_empty());
        assert_eq!(mode(&mut r, "sideways"), Mode::Side);
        assert_eq!(r.errors[0].0, "customContainerd.mode");
    }

    #[test]
    fn the_chart_alpine_image_is_replaced_by_the_agent_image_with_a_warning() {
        let mut r = Reports::default();
        let image = agent_image(
            &mut r,
            &raw::AgentImage {
                repository: "docker.io/library/alpine".into(),
                ..Default::default()
            },
        );
        assert!(image.starts_with(DEFAULT_AGENT_IMAGE), "{image}");
        assert_eq!(r.warnings[0].0, "customContainerd.image.repository");
        assert!(r.errors.is_empty());
    }

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn the_default_agent_image_is_pinned_by_the_build_digest_when_the_build_knew_it() {
        let mut r = Reports::default();
        let v = env!("CARGO_PKG_VERSION");
        let none = agent_image_with(&mut r, P, &raw::AgentImage::default(), None);
        assert_eq!(none, format!("{DEFAULT_AGENT_IMAGE}:{v}"));
        let built = agent_image_with(&mut r, P, &raw::AgentImage::default(), Some(D));
        assert_eq!(built, format!("{DEFAULT_AGENT_IMAGE}:{v}@{D}"));
        // Another tag is another image: the build's digest is not its digest.
        let other = raw::AgentImage {
            repository: "registry.example.com/cococtl".into(),
            tag: "9.9.9".into(),
            ..Default::default()
        };
        assert_eq!(
            agent_image_with(&mut r, P, &other, Some(D)),
            "registry.example.com/cococtl:9.9.9"
        );
        assert!(r.errors.is_empty(), "{:?}", r.errors);
    }

    #[test]
    fn an_agent_image_digest_value_pins_the_reference_next_to_its_tag() {
        let mut r = Reports::default();
        let i = raw::AgentImage {
            repository: "registry.example.com/cococtl".into(),
            tag: "0.1.0".into(),
            digest: D.into(),
            ..Default::default()
        };
        assert_eq!(
            agent_image_with(&mut r, P, &i, None),
            format!("registry.example.com/cococtl:0.1.0@{D}")
        );
        let bare = raw::AgentImage {
            digest: D.trim_start_matches("sha256:").into(),
            ..Default::default()
        };
        assert!(agent_image_with(&mut r, P, &bare, None).ends_with(&format!("@{D}")));
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        let bad = raw::AgentImage {
            digest: "sha256:abc".into(),
            ..Default::default()
        };
        agent_image_with(&mut r, "probe", &bad, None);
        assert_eq!(r.errors[0].0, "probe.image.digest");
    }

    #[test]
    fn an_oci_tarball_by_tag_is_warned_about_and_registry_settings_are_checked() {
        let mut r = Reports::default();
        let mut settings = Settings::default();
        let raw = raw::CustomContainerd {
            tarball_url: "oci://mirror.local/coco/containerd:2.1.9".into(),
            sha256: "a".repeat(64),
            pull_secret: "Mirror Login".into(),
            registry_ca: "ca.pem".into(),
            ..Default::default()
        };
        tarballs(&mut r, &raw, &mut settings);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.warnings[0].0, "customContainerd.tarballUrl");
        assert!(r.warnings[0].1.contains("@sha256:"), "{}", r.warnings[0].1);
        registry_access(&mut r, &raw, &mut settings);
        let keys: Vec<_> = r.errors.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            keys,
            ["customContainerd.pullSecret", "customContainerd.registryCA"]
        );
    }

    #[test]
    fn registry_settings_without_an_oci_tarball_are_ignored_with_a_warning() {
        let mut r = Reports::default();
        let mut settings = Settings::default();
        let raw = raw::CustomContainerd {
            tarball_url: "https://e.com/c.tgz".into(),
            sha256: "a".repeat(64),
            pull_secret: "mirror".into(),
            ..Default::default()
        };
        tarballs(&mut r, &raw, &mut settings);
        assert_eq!(registry_access(&mut r, &raw, &mut settings), None);
        assert_eq!(r.warnings[0].0, "customContainerd.pullSecret");
    }

    #[test]
    fn checksums_without_a_tarball_are_warned_about_and_ignored() {
        let mut r = Reports::default();
        let mut settings = Settings::default();
        let raw = raw::CustomContainerd {
            tarball_urls: [("amd64".to_string(), "https://e.com/a.tgz".to_string())].into(),
            sha256s: [
                ("amd64".to_string(), "a".repeat(64)),
                ("s390x".to_string(), "b".repeat(64)),
            ]
            .into(),
            ..Default::default()
        };
        tarballs(&mut r, &raw, &mut settings);
        assert!(settings.default.is_none());
        assert_eq!(settings.per_arch.len(), 1);
        assert_eq!(r.warnings[0].0, "customContainerd.sha256s.s390x");
    }
}
