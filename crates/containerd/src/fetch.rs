//! Downloads the tarball to disk through SHA-256, never holding it in memory: fixed-size
//! chunks, resume with `Range` after a dropped connection, retries with exponential
//! backoff on transient errors (connect, 5xx, 408, 429; `Retry-After` honoured), a stall
//! timeout between chunks, an overall deadline and a size cap (an endless body must not
//! fill the node's disk), progress through `tracing`.
//!
//! The proxy comes only from [`Options::proxy`] (the agent reads `HTTPS_PROXY`/`HTTP_PROXY`/
//! `NO_PROXY` into it once): reqwest's own environment lookup is switched off, so what a
//! download goes through is what the agent's settings say and what its errors name.
//! fill the node's disk), progress through `tracing`. An `oci://` tarball is the single
//! layer of an artifact in a registry ([`crate::oci`]): the manifest is read and checked
//! first, then the blob comes down this same path.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cococtl_core::proxy::Proxy;
use sha2::{Digest, Sha256};

use crate::config::Checksum;

/// How a download behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Attempts in all.
    pub attempts: u32,
    /// No byte for this long: the attempt is abandoned (and retried).
    pub stall: Duration,
    /// The whole download, retries included.
    pub deadline: Duration,
    /// The first retry's delay; doubled each time.
    pub backoff: Duration,
    /// Largest tarball accepted (a containerd release is ~40 MiB).
    pub max_bytes: u64,
    /// The proxy downloads go through; none when unset.
    pub proxy: Proxy,
    /// Credentials and CA for `oci://` tarballs.
    pub registry: crate::oci::Access,
}

/// Default [`Options::max_bytes`]: far above any containerd release.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
/// A checksum file larger than this is not a checksum file.
pub const MAX_CHECKSUM_FILE: u64 = 64 << 10;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

impl Default for Options {
    fn default() -> Self {
        Options {
            attempts: 5,
            stall: Duration::from_secs(30),
            deadline: Duration::from_secs(15 * 60),
            backoff: Duration::from_millis(500),
            max_bytes: DEFAULT_MAX_BYTES,
            proxy: Proxy::default(),
            registry: crate::oci::Access::default(),
        }
    }
}

/// Why the download failed. Nothing on the host was changed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Bigger than allowed.
    #[error("GET {url}: more than {limit} bytes; refused (raise --max-download if this really is the tarball)")]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap.
        limit: u64,
    },
    /// The staging filesystem is full.
    #[error("no space left on the filesystem holding {path} while downloading; nothing was installed (free some space there)")]
    NoSpace {
        /// The download's path.
        path: String,
    },
    /// A status that retrying will not change (404, 403, …).
    #[error("GET {url}: HTTP {status}{}", via_note(.via))]
    Http {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The proxy the request went through, when one did.
        via: Option<String>,
    },
    /// The proxy settings cannot be used.
    #[error("proxy {proxy}: {message}\n  fix: set HTTPS_PROXY/HTTP_PROXY (proxy.httpsProxy/httpProxy) to http://host:port")]
    ProxyConfig {
        /// The proxy as given (credentials removed).
        proxy: String,
        /// What is wrong.
        message: String,
    },
    /// Every attempt stalled.
    #[error("GET {url}: no data for {secs} s (stalled), {attempts} attempts")]
    Stalled {
        /// The URL.
        url: String,
        /// The stall timeout.
        secs: u64,
        /// Attempts made.
        attempts: u32,
    },
    /// The overall deadline passed.
    #[error("GET {url}: not finished within {secs} s")]
    Deadline {
        /// The URL.
        url: String,
        /// The deadline.
        secs: u64,
    },
    /// Connection errors or 5xx until the attempts ran out.
    #[error("GET {url}: {message} ({attempts} attempts)")]
    Network {
        /// The URL.
        url: String,
        /// The last error.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Writing the download failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The digest is not the expected one.
    #[error(
        "{url}: SHA-256 mismatch: expected {expected}, got {actual}; the download was discarded"
    )]
    Checksum {
        /// The URL.
        url: String,
        /// The digest expected.
        expected: String,
        /// The digest of what was downloaded.
        actual: String,
    },
    /// The checksum file has no usable line for the tarball.
    #[error("checksum file {url}: {message}")]
    ChecksumFile {
        /// The checksum file's URL.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The `oci://` registry refused, or its manifest did (before any download).
    #[error(transparent)]
    Registry(#[from] crate::oci::OciError),
}

fn via_note(via: &Option<String>) -> String {
    match via {
        Some(p) => format!(
            " (through proxy {p}; a proxy that refuses a request answers with such a status too: check its access rules, or list the host in NO_PROXY / proxy.noProxy)"
        ),
        None => String::new(),
    }
}

/// `scheme://host:port` of a proxy URL, without any credentials (errors and logs must not
/// carry the password of an authenticating proxy).
fn redact(uri: &http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    let host = uri.host().unwrap_or("?");
    match uri.port_u16() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    }
}

/// A proxy URL as messages show it: any `user:password@` removed.
pub fn redact_str(proxy: &str) -> String {
    match proxy.parse::<http::Uri>() {
        Ok(u) if u.host().is_some() => redact(&u),
        _ => "(unparsable URL)".into(),
    }
}

/// The configured proxy `url` goes through under `proxy`, as given (credentials included),
/// decided by the no-proxy matcher reqwest itself uses: IPs, CIDRs, domains with or without
/// a leading dot (each matching its subdomains) and `*`. The API client shares it.
pub fn configured_proxy_for<'a>(proxy: &'a Proxy, url: &str) -> Option<&'a str> {
    if !proxy.is_set() || proxy.bypasses_all() {
        return None;
    }
    let m = hyper_util::client::proxy::matcher::Matcher::builder()
        .http(proxy.http_proxy.clone())
        .https(proxy.https_proxy.clone())
        .no(proxy.no_proxy.clone())
        .build();
    let uri: http::Uri = url.parse().ok()?;
    m.intercept(&uri)?;
    match uri.scheme_str() {
        Some("https") => Some(&proxy.https_proxy),
        _ => Some(&proxy.http_proxy),
    }
}

/// Which proxy `url` goes through under `proxy`, credentials removed (for messages).
pub fn proxy_for(proxy: &Proxy, url: &str) -> Option<String> {
    configured_proxy_for(proxy, url).map(redact_str)
}

/// A reqwest error with its causes: the top level alone says only "error sending
/// request", the cause says the proxy refused the tunnel or the connection was refused.
fn chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        src = s.source();
    }
    out
}

/// `proxy`, or none when `NO_PROXY` lists `*` ([`Proxy::bypasses_all`]).
fn effective(proxy: &Proxy) -> Proxy {
    if proxy.bypasses_all() {
        Proxy::default()
    } else {
        proxy.clone()
    }
}

/// A client builder that goes through `proxy` or, when none is configured, through no proxy
/// at all (reqwest would otherwise read the variables itself). Shared with the `oci://`
/// registry client so both honour the same settings. The error is (proxy as shown, why).
pub(crate) fn proxied_builder(proxy: &Proxy) -> Result<reqwest::ClientBuilder, (String, String)> {
    let proxy = &effective(proxy);
    let mut b = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
    if !proxy.is_set() {
        b = b.no_proxy();
    }
    let no = reqwest::NoProxy::from_string(&proxy.no_proxy);
    for (given, https) in [(&proxy.https_proxy, true), (&proxy.http_proxy, false)] {
        if given.is_empty() {
            continue;
        }
        let made = if https {
            reqwest::Proxy::https(given.as_str())
        } else {
            reqwest::Proxy::http(given.as_str())
        };
        let p = made.map_err(|e| (redact_str(given), chain(&e)))?;
        b = b.proxy(p.no_proxy(no.clone()));
    }
    Ok(b)
}

/// The download client: the configured proxy or none at all.
fn client(proxy: &Proxy) -> Result<reqwest::Client, FetchError> {
    let config = |(proxy, message)| FetchError::ProxyConfig { proxy, message };
    proxied_builder(proxy)
        .map_err(config)?
        .build()
        .map_err(|e| config((redact_str(&proxy.https_proxy), chain(&e))))
}

/// A verified download.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Where it is.
    pub path: PathBuf,
    /// Its SHA-256.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
}

enum Attempt {
    Done,
    Retry(String, Option<Duration>),
    Stalled,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> FetchError + '_ {
    move |source| {
        if source.kind() == std::io::ErrorKind::StorageFull {
            FetchError::NoSpace {
                path: path.display().to_string(),
            }
        } else {
            FetchError::Io {
                path: path.display().to_string(),
                source,
            }
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare for downloads and ignored).
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let secs: u64 = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// Rehashes what a previous attempt left, so a resumed download is hashed in full.
fn rehash(path: &Path, hasher: &mut Sha256) -> Result<u64, FetchError> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(path)(e)),
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let r = f.read(&mut buf).map_err(io(path))?;
        if r == 0 {
            return Ok(n);
        }
        hasher.update(&buf[..r]);
        n += r as u64;
    }
}

// One attempt's state is threaded through explicitly so a retry resumes it.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    client: &reqwest::Client,
    url: &str,
    dest: &Path,
    hasher: &mut Sha256,
    have: &mut u64,
    opts: &Options,
    limit: u64,
    auth: Option<&str>,
) -> Result<Attempt, FetchError> {
    let mut req = client.get(url);
    if let Some(a) = auth {
        // reqwest drops it on a redirect to another host (a blob store's presigned URL).
        req = req.header(reqwest::header::AUTHORIZATION, a);
    }
    if *have > 0 {
        req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let via = proxy_for(&opts.proxy, url);
    let resp = match tokio::time::timeout(opts.stall, req.send()).await {
        Err(_) => return Ok(Attempt::Stalled),
        Ok(Err(e)) => {
            let why = match &via {
                Some(p) => format!("through proxy {p}: {}", chain(&e)),
                None => chain(&e),
            };
            return Ok(Attempt::Retry(why, None));
        }
        Ok(Ok(r)) => r,
    };
    let status = resp.status().as_u16();
    if status >= 500 || status == 408 || status == 429 {
        return Ok(Attempt::Retry(format!("HTTP {status}"), retry_after(&resp)));
    }
    let append = status == 206 && *have > 0;
    if !(200..300).contains(&status) {
        return Err(FetchError::Http {
            url: url.into(),
            status,
            via,
        });
    }
    if !append {
        // The server ignored the range: start over.
        *hasher = Sha256::new();
        *have = 0;
    }
    let total = resp.content_length().map(|l| l + *have);
    if total.is_some_and(|t| t > limit) {
        return Err(FetchError::TooLarge {
            url: url.into(),
            limit,
        });
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(dest)
        .map_err(io(dest))?;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, file);
    let mut resp = resp;
    let mut next_report = *have + (32 << 20);
    loop {
        let chunk = match tokio::time::timeout(opts.stall, resp.chunk()).await {
            Err(_) => {
                out.flush().map_err(io(dest))?;
                return Ok(Attempt::Stalled);
            }
            Ok(Err(e)) => {
                out.flush().map_err(io(dest))?;
                return Ok(Attempt::Retry(e.to_string(), None));
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(c))) => c,
        };
        if *have + chunk.len() as u64 > limit {
            drop(out);
            let _ = std::fs::remove_file(dest);
            return Err(FetchError::TooLarge {
                url: url.into(),
                limit,
            });
        }
        hasher.update(&chunk);
        out.write_all(&chunk).map_err(io(dest))?;
        *have += chunk.len() as u64;
        if *have >= next_report {
            tracing::info!(
                "download: {} MiB{}",
                *have >> 20,
                total
                    .map(|t| format!(" of {} MiB", t >> 20))
                    .unwrap_or_default()
            );
            next_report += 32 << 20;
        }
    }
    out.flush().map_err(io(dest))?;
    out.get_ref().sync_all().map_err(io(dest))?;
    if let Some(t) = total {
        if *have < t {
            return Ok(Attempt::Retry(
                format!("connection closed after {} of {t} bytes", *have),
                None,
            ));
        }
    }
    Ok(Attempt::Done)
}

pub(crate) async fn download(
    client: &reqwest::Client,
    url: &str,
    dest: &Path,
    opts: &Options,
    limit: u64,
    auth: Option<&str>,
) -> Result<(String, u64), FetchError> {
    use backon::BackoffBuilder;
    let mut delays = backon::ExponentialBuilder::default()
        .with_min_delay(opts.backoff)
        .with_max_delay(Duration::from_secs(60))
        .with_factor(2.0)
        .without_max_times()
        .build();
    let start = Instant::now();
    let mut hasher = Sha256::new();
    let mut have = rehash(dest, &mut hasher)?;
    let mut last = String::new();
    let mut stalls = 0;
    let mut server_wait: Option<Duration> = None;
    for n in 1..=opts.attempts {
        let left = opts.deadline.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(FetchError::Deadline {
                url: url.into(),
                secs: opts.deadline.as_secs(),
            });
        }
        match tokio::time::timeout(
            left,
            attempt(client, url, dest, &mut hasher, &mut have, opts, limit, auth),
        )
        .await
        {
            Err(_) => {
                return Err(FetchError::Deadline {
                    url: url.into(),
                    secs: opts.deadline.as_secs(),
                })
            }
            Ok(r) => match r? {
                Attempt::Done => return Ok((hex::encode(hasher.finalize()), have)),
                Attempt::Retry(why, after) => {
                    last = why;
                    server_wait = after;
                }
                Attempt::Stalled => {
                    stalls += 1;
                    last = "stalled".into();
                }
            },
        }
        let backoff = delays.next().unwrap_or(opts.backoff);
        if n < opts.attempts {
            // The server's Retry-After wins over our own schedule.
            let wait = server_wait.take().unwrap_or(backoff);
            tracing::warn!(
                "download: attempt {n} failed ({last}); retrying in {} ms{}",
                wait.as_millis(),
                if have > 0 {
                    format!(", resuming at {have} bytes")
                } else {
                    String::new()
                }
            );
            tokio::time::sleep(wait).await;
        }
    }
    if stalls == opts.attempts {
        return Err(FetchError::Stalled {
            url: url.into(),
            secs: opts.stall.as_secs(),
            attempts: opts.attempts,
        });
    }
    Err(FetchError::Network {
        url: url.into(),
        message: last,
        attempts: opts.attempts,
    })
}

/// The expected digest for the tarball from a `sha256sum`-format file.
fn from_checksum_file(text: &str, url: &str, tarball_url: &str) -> Result<String, FetchError> {
    let name = cococtl_core::agent::url_file_name(tarball_url);
    let entries: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?, it.next().unwrap_or("").trim_start_matches('*')))
        })
        .collect();
    let pick = entries
        .iter()
        .find(|(_, f)| *f == name)
        .or_else(|| (entries.len() == 1).then(|| &entries[0]));
    match pick {
        Some((h, _)) if cococtl_core::agent::parse_sha256(h).is_some() => {
            Ok(h.to_ascii_lowercase())
        }
        Some((h, _)) => Err(FetchError::ChecksumFile {
            url: url.into(),
            message: format!("`{h}` is not a SHA-256"),
        }),
        None => Err(FetchError::ChecksumFile {
            url: url.into(),
            message: format!("no line for {name}"),
        }),
    }
}

/// Selects rustls's ring provider for the whole process (reqwest and kube share it; a
/// second call is a no-op).
pub fn tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Downloads `url` to `dest`, verifying it against `checksum`. A mismatch deletes `dest`.
pub async fn fetch(
    url: &str,
    dest: &Path,
    checksum: &Checksum,
    opts: &Options,
) -> Result<Fetched, FetchError> {
    if cococtl_core::oci_ref::is_oci(url) {
        return fetch_oci(url, dest, checksum, opts).await;
    }
    tls_provider();
    let client = client(&opts.proxy)?;
    if let Some(p) = proxy_for(&opts.proxy, url) {
        tracing::info!("download: {url} through proxy {p}");
    }
    let expected = match checksum {
        Checksum::Sha256(h) => Some(h.clone()),
        Checksum::Url(u) => {
            let sums = dest.with_extension("sha256sums");
            let _ = std::fs::remove_file(&sums);
            download(&client, u, &sums, opts, MAX_CHECKSUM_FILE, None).await?;
            let text = std::fs::read_to_string(&sums).map_err(io(&sums))?;
            let _ = std::fs::remove_file(&sums);
            Some(from_checksum_file(&text, u, url)?)
        }
        Checksum::None => None,
    };
    let (actual, bytes) = download(&client, url, dest, opts, opts.max_bytes, None).await?;
    if let Some(expected) = expected {
        if expected != actual {
            let _ = std::fs::remove_file(dest);
            return Err(FetchError::Checksum {
                url: url.into(),
                expected,
                actual,
            });
        }
    }
    Ok(Fetched {
        path: dest.to_path_buf(),
        sha256: actual,
        bytes,
    })
}

/// The manifest, retried as downloads are (connection errors, 5xx, 408, 429, with
/// backoff); refusals (auth, 404, a bad manifest) are final.
pub(crate) async fn layer_with_retries(
    reg: &crate::oci::Registry,
    r: &cococtl_core::oci_ref::OciRef,
    opts: &Options,
) -> Result<crate::oci::Layer, FetchError> {
    use crate::oci::OciError;
    let mut wait = opts.backoff;
    let mut n = 1;
    loop {
        match reg.layer(r).await {
            Err(e @ (OciError::Network { .. } | OciError::Http { .. }))
                if n < opts.attempts
                    && match &e {
                        OciError::Http { status, .. } => {
                            *status >= 500 || *status == 408 || *status == 429
                        }
                        _ => true,
                    } =>
            {
                tracing::warn!(
                    "registry: attempt {n} failed ({e}); retrying in {} ms",
                    wait.as_millis()
                );
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(60));
                n += 1;
            }
            other => return Ok(other?),
        }
    }
}

/// The `oci://` download: manifest first (digest, one layer, the configured checksum
/// equal to the layer's digest), then the blob through [`download`].
async fn fetch_oci(
    url: &str,
    dest: &Path,
    checksum: &Checksum,
    opts: &Options,
) -> Result<Fetched, FetchError> {
    use crate::oci::{OciError, Registry};
    let r = cococtl_core::oci_ref::OciRef::parse(url).map_err(OciError::from)?;
    let reg = Registry::new(&r, &opts.registry, &opts.proxy)?;
    let layer = layer_with_retries(&reg, &r, opts).await?;
    let configured = match checksum {
        Checksum::Sha256(h) => Some(h.clone()),
        Checksum::Url(u) => {
            let sums = dest.with_extension("sha256sums");
            let _ = std::fs::remove_file(&sums);
            download(&reg.client, u, &sums, opts, MAX_CHECKSUM_FILE, None).await?;
            let text = std::fs::read_to_string(&sums).map_err(io(&sums))?;
            let _ = std::fs::remove_file(&sums);
            Some(from_checksum_file(&text, u, url)?)
        }
        Checksum::None => None,
    };
    if let Some(c) = &configured {
        if *c != layer.sha256 {
            return Err(OciError::LayerMismatch {
                reference: url.into(),
                configured: c.clone(),
                layer: layer.sha256,
            }
            .into());
        }
    }
    if layer.size > opts.max_bytes {
        return Err(FetchError::TooLarge {
            url: url.into(),
            limit: opts.max_bytes,
        });
    }
    tracing::info!(
        "download: {url}: layer sha256:{} ({} MiB) of manifest sha256:{}",
        layer.sha256,
        layer.size >> 20,
        layer.manifest_sha256
    );
    let auth = reg.authorization();
    let (actual, bytes) = download(
        &reg.client,
        &layer.url,
        dest,
        opts,
        opts.max_bytes,
        auth.as_deref(),
    )
    .await?;
    // Content-addressed: the blob must hash to the layer digest even where no checksum
    // was configured (allowUnverified), since the manifest pinned it.
    if actual != layer.sha256 {
        let _ = std::fs::remove_file(dest);
        return Err(FetchError::Checksum {
            url: url.into(),
            expected: layer.sha256,
            actual,
        });
    }
    Ok(Fetched {
        path: dest.to_path_buf(),
        sha256: actual,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(no: &str) -> Proxy {
        Proxy {
            https_proxy: "http://user:secret@proxy.corp:3128".into(),
            http_proxy: "http://plain.corp:8080".into(),
            no_proxy: no.into(),
        }
    }

    #[test]
    fn each_scheme_goes_through_its_own_proxy_without_credentials_in_the_name() {
        let p = proxy("");
        assert_eq!(
            proxy_for(&p, "https://dl.example.org/c.tgz").as_deref(),
            Some("http://proxy.corp:3128")
        );
        assert_eq!(
            proxy_for(&p, "http://dl.example.org/c.tgz").as_deref(),
            Some("http://plain.corp:8080")
        );
        assert_eq!(proxy_for(&Proxy::default(), "https://x/y"), None);
    }

    #[test]
    fn no_proxy_takes_cidrs_ips_domain_suffixes_and_a_wildcard() {
        let p = proxy("10.0.0.0/8, 192.168.1.7,.example.com,internal.org");
        for bypassed in [
            "https://10.1.2.3/c.tgz",
            "https://192.168.1.7:8443/c.tgz",
            "https://example.com/c.tgz",
            "https://dl.example.com/c.tgz",
            "https://internal.org/c.tgz",
            "https://mirror.internal.org/c.tgz",
        ] {
            assert_eq!(proxy_for(&p, bypassed), None, "{bypassed}");
        }
        for proxied in [
            "https://11.0.0.1/c.tgz",
            "https://192.168.1.8/c.tgz",
            "https://notexample.com/c.tgz",
            "https://internal.org.evil.net/c.tgz",
        ] {
            assert!(proxy_for(&p, proxied).is_some(), "{proxied}");
        }
        assert_eq!(proxy_for(&proxy("*"), "https://anything.net/c.tgz"), None);
        assert_eq!(
            proxy_for(&proxy("a.com, *"), "https://10.1.1.1/c.tgz"),
            None
        );
    }

    #[test]
    fn an_unusable_proxy_url_is_a_configuration_error_naming_it() {
        let p = Proxy {
            https_proxy: "http://[not a host".into(),
            ..Proxy::default()
        };
        let e = client(&p).unwrap_err().to_string();
        assert!(e.starts_with("proxy "), "{e}");
    }

    #[test]
    fn checksum_files_in_sha256sum_format() {
        let h = "a".repeat(64);
        let text = format!(
            "{h}  containerd-2.1.9-linux-amd64.tar.gz\n{}  other.tar.gz\n",
            "b".repeat(64)
        );
        assert_eq!(
            from_checksum_file(
                &text,
                "u",
                "https://x/y/containerd-2.1.9-linux-amd64.tar.gz"
            )
            .unwrap(),
            h
        );
        assert_eq!(
            from_checksum_file(&format!("{h}\n"), "u", "https://x/z.tgz").unwrap(),
            h,
            "a lone digest applies"
        );
        assert_eq!(
            from_checksum_file(
                &text,
                "u",
                "https://b/containerd-2.1.9-linux-amd64.tar.gz?X-Amz-Signature=1"
            )
            .unwrap(),
            h,
            "a presigned URL's query is not part of the file name"
        );
        assert!(from_checksum_file("zz  z.tgz\n", "u", "https://x/z.tgz").is_err());
        assert!(from_checksum_file(&text, "u", "https://x/missing.tgz").is_err());
    }
}
