//! `oci://registry/repository@sha256:<digest>` (or `:tag`): where an air-gapped node finds
//! the containerd tarball, stored as a one-layer OCI artifact in the cluster's image
//! mirror. Pure parsing here, so the values validator and the agent accept the same
//! references; the registry client is `cococtl_containerd::oci`.

use std::fmt;

/// The URL scheme that selects the registry download.
pub const SCHEME: &str = "oci://";

/// `artifactType` of the manifest `cococtl artifact push` writes (and the agent expects).
pub const ARTIFACT_TYPE: &str = "application/vnd.cococtl.containerd.tarball.v1";

/// What a manifest reference names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// `@sha256:<hex>`: immutable, verified against the manifest's bytes.
    Digest(String),
    /// `:tag`: mutable; whoever can push to the mirror decides what it names.
    Tag(String),
}

/// A parsed `oci://` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRef {
    /// `host[:port]`, as the registry's URL and the pull secret spell it.
    pub host: String,
    /// `path/to/repo` (lowercase path components, as the distribution spec requires).
    pub repository: String,
    /// The tag or digest.
    pub reference: Reference,
}

/// Why a string is not an `oci://` reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not an oci:// reference: {why}")]
pub struct ParseError {
    /// The input.
    pub given: String,
    /// What is wrong.
    pub why: String,
}

/// Whether `url` asks for the registry download (scheme case-insensitive, as RFC 3986 says).
pub fn is_oci(url: &str) -> bool {
    url.len() >= SCHEME.len() && url[..SCHEME.len()].eq_ignore_ascii_case(SCHEME)
}

fn component_ok(c: &str) -> bool {
    // The distribution spec's path component: [a-z0-9]+ separated by `.`, `_`, `__` or `-`s.
    !c.is_empty()
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

fn tag_ok(t: &str) -> bool {
    // [A-Za-z0-9_][A-Za-z0-9._-]{0,127}
    !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl OciRef {
    /// Parses `oci://host[:port]/repo[/more]@sha256:<64 hex>` or `oci://host/repo:tag`.
    pub fn parse(s: &str) -> Result<OciRef, ParseError> {
        let err = |why: &str| ParseError {
            given: s.to_string(),
            why: why.to_string(),
        };
        if !is_oci(s) {
            return Err(err("it does not start with oci://"));
        }
        if s.contains(char::is_whitespace) {
            return Err(err("it contains white space"));
        }
        let rest = &s[SCHEME.len()..];
        let (host, path) = rest
            .split_once('/')
            .ok_or_else(|| err("no repository after the registry host"))?;
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        {
            return Err(err(
                "the registry host is empty or has characters a host cannot have",
            ));
        }
        let (repo, reference) = if let Some((repo, digest)) = path.split_once('@') {
            let hex = digest
                .strip_prefix("sha256:")
                .ok_or_else(|| err("the digest must be sha256:<64 hex digits>"))?;
            let hex = crate::agent::parse_sha256(hex)
                .filter(|_| !hex.contains(char::is_uppercase))
                .ok_or_else(|| err("the digest must be sha256:<64 lowercase hex digits>"))?;
            (repo, Reference::Digest(hex))
        } else {
            // A `:` in the last path component separates the tag (one in the host was
            // split off above).
            let last = path.rsplit('/').next().unwrap_or(path);
            match last.split_once(':') {
                Some((_, tag)) => {
                    if !tag_ok(tag) {
                        return Err(err("the tag must be [A-Za-z0-9_][A-Za-z0-9._-]{0,127}"));
                    }
                    (&path[..path.len() - tag.len() - 1], Reference::Tag(tag.into()))
                }
                None => {
                    return Err(err(
                        "no tag or digest: add @sha256:<manifest digest> (what `cococtl artifact push` prints)",
                    ))
                }
            }
        };
        if !repo.split('/').all(component_ok) {
            return Err(err(
                "the repository must be lowercase path components (a-z, 0-9, `.`, `_`, `-`)",
            ));
        }
        Ok(OciRef {
            host: host.to_string(),
            repository: repo.to_string(),
            reference,
        })
    }

    /// The reference as the registry API takes it: the tag, or `sha256:<hex>`.
    pub fn api_reference(&self) -> String {
        match &self.reference {
            Reference::Digest(h) => format!("sha256:{h}"),
            Reference::Tag(t) => t.clone(),
        }
    }

    /// The same repository at `digest` (hex).
    pub fn with_digest(&self, hex: &str) -> OciRef {
        OciRef {
            reference: Reference::Digest(hex.to_string()),
            ..self.clone()
        }
    }
}

impl fmt::Display for OciRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reference {
            Reference::Digest(h) => {
                write!(f, "{SCHEME}{}/{}@sha256:{h}", self.host, self.repository)
            }
            Reference::Tag(t) => write!(f, "{SCHEME}{}/{}:{t}", self.host, self.repository),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_and_tag_references_parse_with_a_port_and_nested_repository() {
        let d = "a".repeat(64);
        let r = OciRef::parse(&format!(
            "oci://mirror.local:5000/coco/containerd@sha256:{d}"
        ))
        .unwrap();
        assert_eq!(r.host, "mirror.local:5000");
        assert_eq!(r.repository, "coco/containerd");
        assert_eq!(r.reference, Reference::Digest(d.clone()));
        assert_eq!(
            r.to_string(),
            format!("oci://mirror.local:5000/coco/containerd@sha256:{d}")
        );
        let t = OciRef::parse("OCI://127.0.0.1:5000/containerd:2.1.9").unwrap();
        assert_eq!(t.repository, "containerd");
        assert_eq!(t.reference, Reference::Tag("2.1.9".into()));
        assert_eq!(t.api_reference(), "2.1.9");
    }

    #[test]
    fn references_without_tag_or_with_bad_parts_are_refused() {
        for bad in [
            "oci://host/repo",
            "oci://host",
            "oci:///repo:tag",
            "oci://host/Repo:tag",
            "oci://host/repo@sha256:abc",
            "oci://host/repo@sha512:".to_string().as_str(),
            "oci://host/repo:-tag",
            "https://host/repo:tag",
            "oci://host/re po:tag",
        ] {
            assert!(OciRef::parse(bad).is_err(), "{bad}");
        }
        assert!(is_oci("Oci://x/y:z"));
        assert!(!is_oci("oci:/x"));
    }
}
