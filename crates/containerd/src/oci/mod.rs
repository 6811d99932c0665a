//! The containerd tarball from an OCI registry (`oci://registry/repo@sha256:<manifest>`):
//! an air-gapped cluster has no internet URL for it, but it has the image mirror.
//!
//! The tarball is stored as an OCI artifact: an image manifest with
//! `artifactType: application/vnd.cococtl.containerd.tarball.v1`, the empty config
//! (`application/vnd.oci.empty.v1+json`, `{}`) and exactly one layer
//! (`application/vnd.oci.image.layer.v1.tar+gzip`) whose blob is the tarball, byte for
//! byte. [`Registry::layer`] reads and checks the manifest (its bytes must hash to the
//! reference's digest); [`crate::fetch::fetch`] then downloads the blob through the same
//! path as an HTTPS URL (progress, stall timeout, retries, size cap, SHA-256). [`push`]
//! writes such an artifact (`cococtl artifact push`).
//!
//! Auth follows the distribution spec's challenge: anonymous first; on 401 `Basic`, the
//! credentials from the pull secret ([`auth`]); on 401 `Bearer realm=…`, a token from the
//! realm (fetched with those credentials when there are any). TLS: the system roots plus
//! an optional extra CA file.

pub mod auth;
mod error;
mod manifest;
pub mod push;

pub use error::OciError;
pub use manifest::parse_manifest;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use cococtl_core::oci_ref::{OciRef, Reference};
use cococtl_core::proxy::Proxy;
use sha2::{Digest, Sha256};

pub use cococtl_core::oci_ref::ARTIFACT_TYPE;

/// The OCI image manifest's media type (the artifact's manifest).
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker's schema 2 manifest (accepted when reading: some mirrors convert).
pub const DOCKER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The layer media type `push` writes: the tarball is a gzip'd tar.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The config of an artifact without one.
pub const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The layer media types accepted when reading.
pub const ACCEPTED_LAYER_TYPES: &[&str] = &[
    LAYER_MEDIA_TYPE,
    "application/octet-stream",
    "application/gzip",
    "application/x-gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
];
/// Index media types: recognised only to say what to do instead.
const INDEX_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
/// Container-image configs: such a manifest is an image, not a tarball artifact.
const IMAGE_CONFIG_TYPES: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];
/// A manifest larger than this is not a one-layer manifest.
const MAX_MANIFEST: usize = 4 << 20;
/// Each registry API request (manifest, token, blob check, upload start), body included:
/// a mirror that hangs must not hang the agent (the blob download has its own stall
/// timeout and deadline).
pub(crate) const API_TIMEOUT: Duration = Duration::from_secs(60);
/// Docker Hub's API host (`docker.io` names it in references only).
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Where the agent finds its registry credentials and extra CA.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// A `.dockerconfigjson` file (the mounted pull secret); `None`: anonymous.
    pub pull_secret: Option<PathBuf>,
    /// A PEM file of extra CAs trusted besides the system roots.
    pub ca_file: Option<PathBuf>,
}

/// The tarball's blob, as the manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The layer digest (hex SHA-256): the tarball's SHA-256.
    pub sha256: String,
    /// Its size in bytes, per the manifest.
    pub size: u64,
    /// The manifest's digest (hex).
    pub manifest_sha256: String,
    /// The blob's URL.
    pub url: String,
}

/// The credentials of a session and how messages name them.
#[derive(Debug, Clone, Default)]
pub struct Login {
    /// The credentials; `None`: anonymous.
    pub creds: Option<auth::Credentials>,
    /// Where they came from ("the pull secret /etc/…", "--username").
    pub source: String,
    /// Why there are none (when `creds` is `None`).
    pub missing_why: String,
    /// What to do when the registry wants some and there are none.
    pub missing_fix: String,
}

/// A registry session for one repository: the client (system roots plus the extra CA),
/// the credentials, and the `Authorization` the last challenge led to.
pub struct Registry {
    pub(crate) client: reqwest::Client,
    base: String,
    host: String,
    repository: String,
    creds: Option<auth::Credentials>,
    /// Where `creds` came from, for messages ("the pull secret /etc/…").
    creds_source: String,
    /// Why there are no credentials, for the 401 message.
    no_creds_why: String,
    /// What to do about it.
    no_creds_fix: String,
    authorization: Mutex<Option<String>>,
}

fn network(url: &str, e: reqwest::Error) -> OciError {
    // reqwest's Display hides the cause (a certificate error is just "error sending
    // request"); the chain says what happened.
    let mut message = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        message.push_str(&format!(": {s}"));
        src = s.source();
    }
    OciError::Network {
        url: url.into(),
        message,
    }
}

/// The client every registry request (and the blob download) goes through: the system
/// roots plus the CAs in `ca_file`, through `proxy` (the same settings as plain downloads).
pub fn client(
    ca_file: Option<&std::path::Path>,
    proxy: &Proxy,
) -> Result<reqwest::Client, OciError> {
    crate::fetch::tls_provider();
    let mut b =
        crate::fetch::proxied_builder(proxy).map_err(|(proxy, message)| OciError::Network {
            url: format!("(proxy {proxy})"),
            message,
        })?;
    if let Some(path) = ca_file {
        let ca_err = |message: String| OciError::Ca {
            path: path.display().to_string(),
            message,
        };
        let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_err(e.to_string()))?;
        if certs.is_empty() {
            return Err(ca_err("no PEM certificate in it".into()));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build().map_err(|e| network("(client)", e))
}

impl Registry {
    /// A session for `r`'s repository with `access`'s credentials and CA, through `proxy`.
    pub fn new(r: &OciRef, access: &Access, proxy: &Proxy) -> Result<Registry, OciError> {
        let (creds, creds_source, no_creds_why) = match &access.pull_secret {
            None => (
                None,
                String::new(),
                "the agent was given no pull secret".to_string(),
            ),
            Some(p) => {
                let source = format!("the pull secret {}", p.display());
                match auth::read_pull_secret(p, &r.host) {
                    Ok(Some(c)) => (Some(c), source, String::new()),
                    Ok(None) => (
                        None,
                        source.clone(),
                        format!("{source} has no entry for {}", r.host),
                    ),
                    // A secret that is not mounted (optional volume) means anonymous.
                    Err(_) if !p.exists() => (
                        None,
                        source.clone(),
                        format!("{source} does not exist (the Secret is missing or not mounted)"),
                    ),
                    Err(message) => {
                        return Err(OciError::PullSecret {
                            path: p.display().to_string(),
                            message,
                        })
                    }
                }
            }
        };
        let fix = format!(
            "give the agent a pull secret with a login for {} (customContainerd.pullSecret, a kubernetes.io/dockerconfigjson Secret in the install namespace)",
            r.host
        );
        Ok(Self::with_login(
            r,
            client(access.ca_file.as_deref(), proxy)?,
            Login {
                creds,
                source: creds_source,
                missing_why: no_creds_why,
                missing_fix: fix,
            },
        ))
    }

    /// A session with explicit credentials (`cococtl artifact push --username`).
    pub fn with_login(r: &OciRef, client: reqwest::Client, login: Login) -> Registry {
        Registry {
            client,
            base: format!(
                "https://{}",
                if r.host == "docker.io" {
                    DOCKER_HUB_API
                } else {
                    &r.host
                }
            ),
            host: r.host.clone(),
            repository: r.repository.clone(),
            creds: login.creds,
            creds_source: login.source,
            no_creds_why: login.missing_why,
            no_creds_fix: login.missing_fix,
            authorization: Mutex::new(None),
        }
    }

    /// The same session over plain HTTP (unit tests' stand-in registries only).
    #[cfg(test)]
    pub(crate) fn plain_http(mut self) -> Registry {
        self.base = format!("http://{}", self.host);
        self
    }

    /// The registry's URL for `path` (`/v2/…`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `/v2/<repo>/<kind>/<reference>`.
    pub fn api(&self, kind: &str, reference: &str) -> String {
        self.url(&format!("/v2/{}/{kind}/{reference}", self.repository))
    }

    /// The `Authorization` header value the last challenge led to, if any.
    pub fn authorization(&self) -> Option<String> {
        self.authorization.lock().ok().and_then(|a| a.clone())
    }

    fn set_authorization(&self, v: String) {
        if let Ok(mut a) = self.authorization.lock() {
            *a = Some(v);
        }
    }

    fn refused(&self, status: u16) -> OciError {
        match &self.creds {
            Some(c) => OciError::Refused {
                registry: self.host.clone(),
                repository: self.repository.clone(),
                source_name: self.creds_source.clone(),
                username: c.username.clone(),
                status,
            },
            None => OciError::NoCredentials {
                registry: self.host.clone(),
                repository: self.repository.clone(),
                why: self.no_creds_why.clone(),
                fix: self.no_creds_fix.clone(),
            },
        }
    }

    /// Answers a 401's challenge: sets the `Authorization` later requests carry.
    async fn authenticate(
        &self,
        resp: &reqwest::Response,
        default_scope: &str,
    ) -> Result<(), OciError> {
        let challenge = resp
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(auth::parse_challenge)
            // Bearer first: a registry offering both prefers tokens.
            .max_by_key(|c| matches!(c, auth::Challenge::Bearer { .. }));
        match challenge {
            Some(auth::Challenge::Basic) | None => match &self.creds {
                Some(c) => {
                    self.set_authorization(c.basic());
                    Ok(())
                }
                None => Err(self.refused(401)),
            },
            Some(auth::Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let url = auth::token_url(
                    &realm,
                    service.as_deref(),
                    scope.as_deref().unwrap_or(default_scope),
                );
                let mut req = self.client.get(&url).timeout(API_TIMEOUT);
                if let Some(c) = &self.creds {
                    req = req.header(reqwest::header::AUTHORIZATION, c.basic());
                }
                let tr = req.send().await.map_err(|e| network(&realm, e))?;
                let status = tr.status().as_u16();
                if status == 401 || status == 403 {
                    return Err(self.refused(status));
                }
                let body = tr.bytes().await.map_err(|e| network(&realm, e))?;
                if !(200..300).contains(&status) {
                    return Err(OciError::Http {
                        method: "GET".into(),
                        url: realm,
                        status,
                        body: snippet(&body),
                    });
                }
                let token = auth::token_from(&body).ok_or_else(|| OciError::Http {
                    method: "GET".into(),
                    url: realm.clone(),
                    status,
                    body: "the answer holds no token".into(),
                })?;
                self.set_authorization(format!("Bearer {token}"));
                Ok(())
            }
        }
    }

    /// Sends the request `build` makes, answering one 401 challenge. A 401/403 after
    /// authenticating means the credentials were refused.
    pub(crate) async fn send(
        &self,
        url: &str,
        scope: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, OciError> {
        for round in 0..2 {
            let mut req = build(&self.client);
            if let Some(a) = self.authorization() {
                req = req.header(reqwest::header::AUTHORIZATION, a);
            }
            let resp = req.send().await.map_err(|e| network(url, e))?;
            let status = resp.status().as_u16();
            let authed = self.authorization().is_some();
            // A token from an earlier challenge may lack this request's scope (pull
            // then push): a Bearer challenge is answered again; refused Basic is final.
            if status == 401 && round == 0 && (!authed || bearer_challenge(&resp)) {
                self.authenticate(&resp, scope).await?;
                continue;
            }
            if (status == 401 || status == 403) && (authed || self.creds.is_none()) {
                return Err(self.refused(status));
            }
            return Ok(resp);
        }
        Err(self.refused(401))
    }

    /// The pull scope of this repository, for registries whose challenge names none.
    fn pull_scope(&self) -> String {
        format!("repository:{}:pull", self.repository)
    }

    /// Reads `r`'s manifest, checks it, and returns the tarball's layer (`r` names this
    /// session's repository).
    pub async fn layer(&self, r: &OciRef) -> Result<Layer, OciError> {
        let url = self.api("manifests", &r.api_reference());
        let accept = [
            MANIFEST_MEDIA_TYPE,
            DOCKER_MANIFEST_MEDIA_TYPE,
            INDEX_TYPES[0],
            INDEX_TYPES[1],
        ]
        .join(", ");
        let resp = self
            .send(&url, &self.pull_scope(), |c| {
                c.get(&url)
                    .timeout(API_TIMEOUT)
                    .header(reqwest::header::ACCEPT, accept.as_str())
            })
            .await?;
        let status = resp.status().as_u16();
        if status == 404 {
            return Err(OciError::NotFound {
                reference: r.to_string(),
            });
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
            .unwrap_or_default();
        let body = read_capped(resp, &url, MAX_MANIFEST).await?;
        if !(200..300).contains(&status) {
            return Err(OciError::Http {
                method: "GET".into(),
                url,
                status,
                body: snippet(&body),
            });
        }
        let actual = hex::encode(Sha256::digest(&body));
        match &r.reference {
            Reference::Digest(expected) if *expected != actual => {
                return Err(OciError::ManifestDigest {
                    reference: r.to_string(),
                    expected: expected.clone(),
                    actual,
                })
            }
            Reference::Digest(_) => {}
            Reference::Tag(t) => tracing::warn!(
                "{r}: tag `{t}` is mutable; it names {} now (pin that reference)",
                r.with_digest(&actual)
            ),
        }
        let layer = parse_manifest(&body, &content_type).map_err(|message| OciError::Manifest {
            reference: r.to_string(),
            message,
        })?;
        Ok(Layer {
            url: self.api("blobs", &format!("sha256:{}", layer.0)),
            sha256: layer.0,
            size: layer.1,
            manifest_sha256: actual,
        })
    }
}

fn bearer_challenge(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            matches!(
                auth::parse_challenge(v),
                Some(auth::Challenge::Bearer { .. })
            )
        })
}

/// The start of an error body, for messages (registries answer JSON error codes).
pub(crate) fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s = s.trim();
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

async fn read_capped(
    mut resp: reqwest::Response,
    url: &str,
    cap: usize,
) -> Result<Vec<u8>, OciError> {
    let mut out = Vec::new();
    while let Some(c) = resp.chunk().await.map_err(|e| network(url, e))? {
        if out.len() + c.len() > cap {
            return Err(OciError::Http {
                method: "GET".into(),
                url: url.into(),
                status: resp.status().as_u16(),
                body: format!("more than {cap} bytes: not a manifest"),
            });
        }
        out.extend_from_slice(&c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
