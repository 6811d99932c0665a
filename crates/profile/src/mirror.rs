//! `global.imageRegistry`: one registry mirror for every image cococtl renders, with Helm's
//! common-chart convention (docs/values.md#global).
//!
//! The rule is a pure string rewrite, shared by the validator (the images in the
//! [`Config`](crate::Config)), `cococtl images --mirror` and the defaults of `verify --image`
//! and `check --image`, so all of them agree on where a mirrored image lives.

/// Whether `first`, the first `/`-separated component of a reference, names a registry host
/// (the Docker convention: it holds a `.` or a `:`, or is `localhost`); otherwise the
/// reference is a Docker Hub path with `docker.io` implied.
fn is_registry_host(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

/// The repository path of `reference` without its registry host, tag and digest kept:
/// `quay.io/kata-containers/kata-deploy:3.x` → `kata-containers/kata-deploy:3.x`;
/// `busybox:1.36` (Docker Hub) → `busybox:1.36`.
pub fn without_registry(reference: &str) -> &str {
    match reference.split_once('/') {
        Some((first, rest)) if is_registry_host(first) => rest,
        _ => reference,
    }
}

/// `reference` moved to `registry`: the registry host replaced by the mirror (a reference
/// without a host, a Docker Hub one, gets the mirror in front), the repository path, tag
/// and digest kept. `registry` may carry a path (`registry.example.com/coco`); a trailing
/// `/` is ignored.
pub fn rewrite(reference: &str, registry: &str) -> String {
    format!(
        "{}/{}",
        registry.trim_end_matches('/'),
        without_registry(reference)
    )
}

/// Why `registry` cannot be a `global.imageRegistry` value (`None` when it can): a host
/// with an optional port and path, as the first part of an image reference, without a
/// scheme, tag or digest.
pub fn check_registry(registry: &str) -> Option<String> {
    let r = registry.trim_end_matches('/');
    if r.contains("://") {
        return Some("must be a registry host and path without a scheme (registry.example.com/coco, not https://…)".into());
    }
    let first = r.split('/').next().unwrap_or("");
    if !is_registry_host(first) {
        return Some(format!(
            "`{first}` is not a registry host (it needs a `.` or a `:port`, or is localhost), so the mirrored references would be read as Docker Hub paths"
        ));
    }
    if r.contains('@') {
        return Some("must not hold a digest".into());
    }
    // Any valid repository works as a probe: the result must be a valid reference.
    crate::names::check_image(&format!("{r}/x:1"))
        .err()
        .map(|why| format!("does not give valid image references: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_host_is_replaced_and_the_path_tag_and_digest_are_kept() {
        let m = "registry.example.com/coco";
        assert_eq!(
            rewrite("quay.io/kata-containers/kata-deploy:3.x", m),
            "registry.example.com/coco/kata-containers/kata-deploy:3.x"
        );
        assert_eq!(
            rewrite("localhost:5000/a/b@sha256:00", m),
            "registry.example.com/coco/a/b@sha256:00"
        );
        assert_eq!(rewrite("localhost/a:1", "mirror:5000/"), "mirror:5000/a:1");
        assert_eq!(
            rewrite("ghcr.io/x/cococtl:0.1.0@sha256:ab", m),
            "registry.example.com/coco/x/cococtl:0.1.0@sha256:ab"
        );
    }

    #[test]
    fn a_docker_hub_reference_keeps_its_whole_path() {
        let m = "registry.example.com/coco";
        assert_eq!(
            rewrite("busybox:1.36", m),
            "registry.example.com/coco/busybox:1.36"
        );
        assert_eq!(
            rewrite("library/busybox:1.36", m),
            "registry.example.com/coco/library/busybox:1.36"
        );
        assert_eq!(
            rewrite("docker.io/library/busybox:1.36", m),
            "registry.example.com/coco/library/busybox:1.36"
        );
    }

    #[test]
    fn a_registry_needs_a_host_and_no_scheme() {
        assert_eq!(check_registry("registry.example.com/coco"), None);
        assert_eq!(check_registry("127.0.0.1:5000/coco/"), None);
        assert_eq!(check_registry("localhost:5000"), None);
        for bad in [
            "coco",
            "https://registry.example.com",
            "Registry.example.com/x y",
            "r.io/x@sha256:00",
        ] {
            assert!(check_registry(bad).is_some(), "{bad}");
        }
    }
}
