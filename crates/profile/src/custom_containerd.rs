//! `customContainerd.*`: where each architecture's containerd tarball comes from and how the
//! node agent installs it. Same keys as the CoCo chart, plus the checksums and mode that
//! chart lacked. Plain HTTP and unverified downloads are refused unless explicitly allowed.

use std::collections::BTreeMap;

use crate::catalog::Arch;
use crate::config::{Config, ContainerdMode, CustomContainerd, Tarball};
use crate::raw;
use crate::validate::Sink;

/// The agent image when the values name none: this tool's own image, same version.
pub const DEFAULT_AGENT_IMAGE: &str = "ghcr.io/confidential-containers/cococtl";

fn check_url(v: &mut dyn Sink, path: &str, url: &str, allow_http: bool) {
    let Some((scheme, rest)) = url.split_once("://") else {
        v.err(
            path,
            format!("`{url}` is not a URL"),
            "use https://host/path/containerd-<version>-linux-<arch>.tar.gz".into(),
        );
        return;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || url.contains(char::is_whitespace) {
        v.err(
            path,
            format!("`{url}` has no host or contains spaces"),
            "use https://host/path/file.tar.gz".into(),
        );
    }
    match scheme {
        "https" => {}
        "http" if allow_http => {}
        "http" => v.err(
            path,
            format!("`{url}` is plain HTTP: anyone on the path could swap the binary"),
            "use https, or --set customContainerd.allowInsecureHttp=true if the checksum is pinned"
                .into(),
        ),
        other => v.err(
            path,
            format!("scheme `{other}` is not supported"),
            "use https".into(),
        ),
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn arch_map(v: &mut dyn Sink, path: &str, m: &BTreeMap<String, String>) -> BTreeMap<Arch, String> {
    let mut out = BTreeMap::new();
    for (k, val) in m {
        match Arch::from_k8s_name(k) {
            Some(a) => {
                if !val.is_empty() {
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

/// Validates the section; `None` when disabled (or invalid, with problems reported).
pub fn validate(
    v: &mut dyn Sink,
    r: raw::CustomContainerd,
    c: &Config,
) -> Option<CustomContainerd> {
    if !r.enabled {
        return None;
    }
    const P: &str = "customContainerd";
    if c.k8s_distribution != "k8s" {
        v.err(
            &format!("{P}.enabled"),
            format!("k8sDistribution `{}` ships and manages its own containerd; replacing it is not supported", c.k8s_distribution),
            "--set customContainerd.enabled=false (upgrade the distribution instead)".into(),
        );
        return None;
    }
    let mode = match r.mode.as_str() {
        "side" | "" => ContainerdMode::Side,
        "in-place" => ContainerdMode::InPlace,
        other => {
            v.err(
                &format!("{P}.mode"),
                format!("`{other}` is not side or in-place"),
                "--set customContainerd.mode=side".into(),
            );
            ContainerdMode::Side
        }
    };
    let urls = arch_map(v, &format!("{P}.tarballUrls"), &r.tarball_urls);
    let sums = arch_map(v, &format!("{P}.sha256s"), &r.sha256s);
    let sum_urls = arch_map(v, &format!("{P}.checksumUrls"), &r.checksum_urls);

    let tarball = |v: &mut dyn Sink,
                   url: &str,
                   url_path: &str,
                   sha: &str,
                   sha_path: &str,
                   sum_url: &str,
                   sum_url_path: &str|
     -> Tarball {
        check_url(v, url_path, url, r.allow_insecure_http);
        if !sha.is_empty() && !is_sha256(sha) {
            v.err(
                sha_path,
                format!("`{sha}` is not a SHA-256 (64 hex digits)"),
                format!("sha256sum the tarball and --set {sha_path}=<hex>"),
            );
        }
        if !sum_url.is_empty() {
            check_url(v, sum_url_path, sum_url, r.allow_insecure_http);
        }
        if sha.is_empty() && sum_url.is_empty() && !r.allow_unverified {
            v.err(
                sha_path,
                format!("no checksum for {url}: the agent would install an unverified binary on every node"),
                format!("--set {sha_path}=<sha256 of the tarball>, or {P}.checksumUrl, or --set {P}.allowUnverified=true"),
            );
        }
        Tarball {
            url: url.to_string(),
            sha256: sha.to_ascii_lowercase(),
            checksum_url: sum_url.to_string(),
        }
    };

    let default = (!r.tarball_url.is_empty()).then(|| {
        tarball(
            v,
            &r.tarball_url,
            &format!("{P}.tarballUrl"),
            r.sha256.trim(),
            &format!("{P}.sha256"),
            &r.checksum_url,
            &format!("{P}.checksumUrl"),
        )
    });
    let mut per_arch = BTreeMap::new();
    for (arch, url) in &urls {
        let sha = sums.get(arch).map(String::as_str).unwrap_or("");
        let sum_url = sum_urls.get(arch).map(String::as_str).unwrap_or("");
        let t = tarball(
            v,
            url,
            &format!("{P}.tarballUrls.{arch}"),
            sha,
            &format!("{P}.sha256s.{arch}"),
            sum_url,
            &format!("{P}.checksumUrls.{arch}"),
        );
        per_arch.insert(*arch, t);
    }
    for arch in sums.keys().chain(sum_urls.keys()) {
        if !urls.contains_key(arch) && default.is_none() {
            v.warn(
                &format!("{P}.sha256s.{arch}"),
                format!("has no tarball for {arch}; ignored"),
            );
        }
    }
    if default.is_none() && per_arch.is_empty() {
        v.err(
            &format!("{P}.tarballUrl"),
            "customContainerd is enabled but names no tarball".into(),
            "--set customContainerd.tarballUrl=https://.../containerd-<version>-linux-amd64.tar.gz"
                .into(),
        );
        return None;
    }
    if default.is_none() {
        for arch in &c.schedulable_arches {
            if !per_arch.contains_key(arch) {
                v.err(
                    &format!("{P}.tarballUrls.{arch}"),
                    format!("kata-deploy may run on {arch} nodes but no containerd tarball is given for {arch}"),
                    format!("--set {P}.tarballUrls.{arch}=<url>, or restrict the install to the architectures you have tarballs for"),
                );
            }
        }
    }
    let repo = r.image.repository.trim();
    let image = if repo.is_empty() || repo.ends_with("/alpine") || repo == "alpine" {
        if !repo.is_empty() {
            v.warn(
                &format!("{P}.image.repository"),
                format!("`{repo}` is the CoCo chart's shell-Job image; the cococtl agent runs in its own image, which is used instead"),
            );
        }
        format!("{DEFAULT_AGENT_IMAGE}:{}", env!("CARGO_PKG_VERSION"))
    } else if repo.contains('@') {
        repo.to_string()
    } else {
        let tag = if r.image.tag.is_empty() {
            env!("CARGO_PKG_VERSION")
        } else {
            r.image.tag.as_str()
        };
        format!("{repo}:{tag}")
    };
    if let Err(why) = crate::names::check_image(&image) {
        v.err(
            &format!("{P}.image.repository"),
            format!("`{image}` is not a valid image reference: {why}"),
            "use registry/repository and image.tag".into(),
        );
    }
    Some(CustomContainerd {
        default,
        per_arch,
        mode,
        allow_insecure_http: r.allow_insecure_http,
        allow_unverified: r.allow_unverified,
        image,
        image_pull_policy: if r.image.pull_policy.is_empty() {
            "IfNotPresent".into()
        } else {
            r.image.pull_policy
        },
        node_selector: r.node_selector,
        tolerations: r.tolerations,
    })
}
