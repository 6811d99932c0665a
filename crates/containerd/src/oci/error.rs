//! Why an `oci://` download or push failed, each naming the registry, the reference or the
//! file, and what to do. Nothing on the host was changed by any of them.

/// Why the registry part failed. Nothing on the host was changed.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The reference does not parse.
    #[error(transparent)]
    Reference(#[from] cococtl_core::oci_ref::ParseError),
    /// The pull secret file cannot be used.
    #[error("pull secret {path}: {message}")]
    PullSecret {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The CA file cannot be used.
    #[error("registry CA {path}: {message}\n  fix: give a PEM file of CA certificates")]
    Ca {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The registry wants credentials and there are none.
    #[error("registry {registry} refused anonymous access to {repository}: {why}\n  fix: {fix}")]
    NoCredentials {
        /// The registry host.
        registry: String,
        /// The repository.
        repository: String,
        /// Why there were no credentials.
        why: String,
        /// What to do.
        fix: String,
    },
    /// The registry refused the credentials.
    #[error("registry {registry} refused the credentials of {source_name} (user `{username}`) for {repository} (HTTP {status})\n  fix: check that they are a valid login for {registry} with access to {repository}")]
    Refused {
        /// The registry host.
        registry: String,
        /// The repository.
        repository: String,
        /// Where the credentials came from ("the pull secret /path").
        source_name: String,
        /// The user.
        username: String,
        /// 401 or 403.
        status: u16,
    },
    /// No such tag or digest.
    #[error("{reference}: not found in the registry (HTTP 404)\n  fix: push it with `cococtl artifact push`, or use the reference that command printed")]
    NotFound {
        /// The reference.
        reference: String,
    },
    /// Another HTTP status.
    #[error("{method} {url}: HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Http {
        /// The method.
        method: String,
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// The start of the error body (the registry's error code).
        body: String,
    },
    /// Connection or TLS error.
    #[error("{url}: {message}")]
    Network {
        /// The URL.
        url: String,
        /// The error.
        message: String,
    },
    /// The manifest's bytes are not the ones the reference's digest names.
    #[error("{reference}: the registry sent a manifest whose digest is sha256:{actual}, not the sha256:{expected} asked for; refused (a tampered or broken mirror)")]
    ManifestDigest {
        /// The reference.
        reference: String,
        /// The digest in the reference.
        expected: String,
        /// The digest of what was sent.
        actual: String,
    },
    /// The manifest is not a one-layer tarball artifact.
    #[error("{reference}: {message}")]
    Manifest {
        /// The reference.
        reference: String,
        /// What is wrong.
        message: String,
    },
    /// The configured checksum is not the layer's digest.
    #[error("{reference}: the configured sha256 {configured} is not the digest of the artifact's layer, sha256:{layer}; refused, nothing downloaded\n  fix: use the sha256 `cococtl artifact push` printed for this tarball, or the reference of the artifact holding it")]
    LayerMismatch {
        /// The reference.
        reference: String,
        /// The configured SHA-256.
        configured: String,
        /// The layer's digest.
        layer: String,
    },
    /// A local file (the tarball to push).
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// The error.
        message: String,
    },
}
