//! Which cluster: `--kubeconfig`, `--context`, else `KUBECONFIG`/`~/.kube/config`, else
//! the in-cluster service account (kubectl's order). Every call goes through [`Cluster`],
//! which rides out an unreachable or overloaded server for its patience
//! ([`crate::retry`]), tells the user it does, and maps the rest to [`ClusterError`].

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::time::Instant;

use crate::error::ClusterError;
use crate::retry;

/// Where to connect.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
}

/// Hears that the API server is unreachable (or overloaded), with how long it has been:
/// the CLI shows "API server unreachable since 12 s, retrying".
pub type OutageHook = Arc<dyn Fn(Duration) + Send + Sync>;

/// A connected client and the server it talks to (for messages).
#[derive(Clone)]
pub struct Cluster {
    /// The kube-rs client.
    pub client: kube::Client,
    /// The server URL.
    pub server: String,
    /// The kubeconfig's user of the chosen context, when there is one (messages).
    pub user: Option<String>,
    /// How long each call rides out an unreachable or overloaded server.
    patience: Duration,
    /// When the current outage began (shared by the clones, so every call of a command
    /// counts from the first failure).
    outage: Arc<Mutex<Option<Instant>>>,
    hook: Option<OutageHook>,
    /// Whether lists are read as watch-lists ([`crate::list`]); cleared, for the clones
    /// too, the first time the server refuses one.
    streaming: Arc<AtomicBool>,
}

impl Cluster {
    /// Builds the client (no request is made yet).
    pub async fn connect(t: &Target) -> Result<Cluster, ClusterError> {
        crate::tls_provider();
        let opts = KubeConfigOptions {
            context: t.context.clone(),
            ..Default::default()
        };
        let mut user = None;
        let config = match (&t.kubeconfig, &t.context) {
            (Some(path), _) => {
                let kc = read_kubeconfig(path)?;
                user = context_user(&kc, t.context.as_deref());
                kube::Config::from_custom_kubeconfig(kc, &opts)
                    .await
                    .map_err(|e| ClusterError::Config(format!("--kubeconfig {}: {e}", path.display())))?
            }
            (None, Some(ctx)) => kube::Config::from_kubeconfig(&opts)
                .await
                .map_err(|e| ClusterError::Config(format!("--context {ctx}: {e}")))?,
            (None, None) => kube::Config::infer().await.map_err(|e| {
                ClusterError::Config(format!(
                    "no Kubernetes configuration: {e}\n  fix: pass --kubeconfig, set KUBECONFIG, or run in a pod"
                ))
            })?,
        };
        if user.is_none() {
            // Only for naming the user in messages: an unreadable default kubeconfig was
            // already reported above if it mattered.
            user = Kubeconfig::read()
                .ok()
                .and_then(|kc| context_user(&kc, t.context.as_deref()));
        }
        let mut config = config;
        let own = kubeconfig_proxy(&t.kubeconfig, t.context.as_deref());
        let env = cococtl_core::proxy::Proxy::from_env(|k| std::env::var(k).ok());
        config.proxy_url = proxy_url(own.as_deref(), &env, &config.cluster_url.to_string())?;
        // An unreachable server fails in seconds per attempt, not minutes (the retries
        // in `call` then give up with the server's name).
        config.connect_timeout = Some(std::time::Duration::from_secs(10));
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(|e| {
            ClusterError::Config(format!("cannot build a client for {server}: {e}"))
        })?;
        let mut c = Cluster::from_client(client, &server);
        c.user = user;
        Ok(c)
    }

    /// From an existing client (tests), with [`retry::STEP_PATIENCE`].
    pub fn from_client(client: kube::Client, server: &str) -> Cluster {
        Cluster {
            client,
            server: server.to_string(),
            user: None,
            patience: retry::STEP_PATIENCE,
            outage: Arc::new(Mutex::new(None)),
            hook: None,
            streaming: Arc::new(AtomicBool::new(true)),
        }
    }

    /// How long each call rides out an unreachable or overloaded server (the user's
    /// `--timeout`, or a per-step default).
    pub fn with_patience(mut self, patience: Duration) -> Cluster {
        self.patience = patience;
        self
    }

    /// Whether lists are read as watch-lists (until the server refuses one).
    pub fn streams_lists(&self) -> bool {
        self.streaming.load(Ordering::Relaxed)
    }

    /// Reads lists page by page from now on (the server refused a watch-list).
    pub fn page_lists(&self) {
        self.streaming.store(false, Ordering::Relaxed);
    }

    /// The patience in force.
    pub fn patience(&self) -> Duration {
        self.patience
    }

    /// Tells `hook` about every retried failure, with how long the outage has lasted.
    pub fn on_outage(mut self, hook: OutageHook) -> Cluster {
        self.hook = Some(hook);
        self
    }

    /// Runs `f`, riding out transient failures (unreachable, reset, 5xx, 408, 429 with
    /// Retry-After honoured) for the patience, and maps the final error for `what`.
    pub async fn call<T, F, Fut>(&self, what: &str, f: F) -> Result<T, ClusterError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let r = retry::with_patience(self.patience, retry::is_retryable, f, |e, d| {
            let since = self.outage_began();
            tracing::debug!("{what}: {}; retrying in {d:?}", short(e));
            if let Some(h) = &self.hook {
                h(since.elapsed());
            }
        })
        .await;
        match &r {
            Err(e) if retry::is_retryable(e) => {}
            _ => self.outage_ended(),
        }
        r.map_err(|e| ClusterError::from_kube(e, what, &self.server))
    }

    fn outage_began(&self) -> Instant {
        let mut o = self.outage.lock().unwrap_or_else(|p| p.into_inner());
        *o.get_or_insert_with(Instant::now)
    }

    fn outage_ended(&self) {
        *self.outage.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Who the API server says the user is (SelfSubjectReview), else the kubeconfig's user
    /// name, else "you": for messages such as "alice is missing 3 permission(s)".
    pub async fn whoami(&self) -> String {
        use k8s_openapi::api::authentication::v1::SelfSubjectReview;
        let api: kube::Api<SelfSubjectReview> = kube::Api::all(self.client.clone());
        let review = SelfSubjectReview::default();
        let asked = api
            .create(&kube::api::PostParams::default(), &review)
            .await
            .ok()
            .and_then(|r| r.status?.user_info?.username)
            .filter(|u| !u.is_empty());
        asked
            .or_else(|| self.user.clone())
            .unwrap_or_else(|| "you".into())
    }

    /// Like [`Cluster::call`], with 404 as `None`.
    pub async fn call_opt<T, F, Fut>(&self, what: &str, f: F) -> Result<Option<T>, ClusterError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        match self.call(what, f).await {
            Ok(v) => Ok(Some(v)),
            Err(ClusterError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Reads and parses a kubeconfig, naming the path as the user wrote it (kube's own
/// message quotes it with Rust's Debug format).
fn read_kubeconfig(path: &std::path::Path) -> Result<Kubeconfig, ClusterError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ClusterError::Config(format!(
            "--kubeconfig {}: cannot read it: {e}\n  fix: check the path (or leave --kubeconfig out to use $KUBECONFIG or ~/.kube/config)",
            path.display()
        ))
    })?;
    Kubeconfig::from_yaml(&text).map_err(|e| {
        ClusterError::Config(format!(
            "--kubeconfig {}: not a kubeconfig: {e}\n  fix: point --kubeconfig at a kubeconfig file (kubectl config view --raw writes one)",
            path.display()
        ))
    })
}

/// The `proxy-url` of the cluster `context` (else the current context) points at, in the
/// kubeconfig `--kubeconfig` names, else `KUBECONFIG` / `~/.kube/config`.
fn kubeconfig_proxy(path: &Option<PathBuf>, context: Option<&str>) -> Option<String> {
    let kc = match path {
        Some(p) => read_kubeconfig(p).ok()?,
        None => Kubeconfig::read().ok()?,
    };
    let name = context.map(str::to_string).or(kc.current_context.clone())?;
    let cluster = kc
        .contexts
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())?;
    kc.clusters
        .iter()
        .find(|c| c.name == cluster)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.proxy_url.clone())
        .filter(|p| !p.is_empty())
}

/// kubectl's choice of proxy for the API server: the kubeconfig's own `proxy-url`, else
/// `HTTPS_PROXY` (`HTTP_PROXY` for an `http://` server) unless `NO_PROXY` lists the
/// server's host. kube-rs reads `HTTPS_PROXY` itself but tests `NO_PROXY` against the proxy's
/// address instead of the server's, so the choice is made here.
pub fn proxy_url(
    kubeconfig: Option<&str>,
    env: &cococtl_core::proxy::Proxy,
    server: &str,
) -> Result<Option<http::Uri>, ClusterError> {
    let chosen = match kubeconfig {
        Some(p) => Some(p),
        None => cococtl_containerd::fetch::configured_proxy_for(env, server),
    };
    let Some(p) = chosen else {
        return Ok(None);
    };
    p.parse::<http::Uri>().map(Some).map_err(|e| {
        ClusterError::Config(format!(
            "proxy for {server}: `{}` is not a URL: {e}\n  fix: set HTTPS_PROXY (or the kubeconfig's proxy-url) to http://host:port",
            cococtl_containerd::fetch::redact_str(p)
        ))
    })
}

/// The user name of `context` (else the current context) in `kc`.
fn context_user(kc: &Kubeconfig, context: Option<&str>) -> Option<String> {
    let name = context.map(str::to_string).or(kc.current_context.clone())?;
    kc.contexts
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.user.clone())
        .filter(|u| !u.is_empty())
}

fn short(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}", s.code, s.message),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cococtl_core::proxy::Proxy;

    fn env(https: &str, no: &str) -> Proxy {
        Proxy {
            https_proxy: https.into(),
            http_proxy: String::new(),
            no_proxy: no.into(),
        }
    }

    fn chosen(kc: Option<&str>, e: &Proxy, server: &str) -> Option<String> {
        proxy_url(kc, e, server).unwrap().map(|u| u.to_string())
    }

    #[test]
    fn https_proxy_from_the_environment_is_used_for_the_api_server() {
        let e = env("http://proxy.corp:3128", "");
        assert_eq!(
            chosen(None, &e, "https://api.example.com:6443/").as_deref(),
            Some("http://proxy.corp:3128/")
        );
    }

    #[test]
    fn no_proxy_is_matched_against_the_server_not_the_proxy() {
        for (no, server, direct) in [
            ("api.example.com", "https://api.example.com:6443/", true),
            (".example.com", "https://api.example.com:6443/", true),
            ("example.com", "https://api.example.com:6443/", true),
            ("10.0.0.0/8", "https://10.1.2.3:6443/", true),
            ("10.1.2.3", "https://10.1.2.3:6443/", true),
            ("*", "https://10.1.2.3:6443/", true),
            ("10.0.0.0/8", "https://api.example.com:6443/", false),
            ("notexample.com", "https://api.example.com:6443/", false),
            // What kube-rs tests: NO_PROXY naming the proxy does not exempt the server.
            ("proxy.corp", "https://api.example.com:6443/", false),
        ] {
            let e = env("http://proxy.corp:3128", no);
            assert_eq!(chosen(None, &e, server).is_none(), direct, "{no} {server}");
        }
    }

    #[test]
    fn the_kubeconfigs_own_proxy_url_wins_over_the_environment() {
        let e = env("http://proxy.corp:3128", "api.example.com");
        assert_eq!(
            chosen(
                Some("http://kc-proxy:8080"),
                &e,
                "https://api.example.com:6443/"
            )
            .as_deref(),
            Some("http://kc-proxy:8080/")
        );
    }

    #[test]
    fn no_proxy_setting_means_a_direct_connection() {
        assert_eq!(chosen(None, &Proxy::default(), "https://api:6443/"), None);
    }
}
