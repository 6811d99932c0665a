//! Which cluster: `--kubeconfig`, `--context`, else `KUBECONFIG`/`~/.kube/config`, else
//! the in-cluster service account (kubectl's order). Every call goes through [`Cluster`],
//! which retries transient errors with [`crate::retry`] and maps the rest to
//! [`ClusterError`].

use std::future::Future;
use std::path::PathBuf;

use backon::Retryable;
use kube::config::{KubeConfigOptions, Kubeconfig};

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

/// A connected client and the server it talks to (for messages).
#[derive(Clone)]
pub struct Cluster {
    /// The kube-rs client.
    pub client: kube::Client,
    /// The server URL.
    pub server: String,
}

impl Cluster {
    /// Builds the client (no request is made yet).
    pub async fn connect(t: &Target) -> Result<Cluster, ClusterError> {
        crate::tls_provider();
        let opts = KubeConfigOptions {
            context: t.context.clone(),
            ..Default::default()
        };
        let config = match (&t.kubeconfig, &t.context) {
            (Some(path), _) => {
                let kc = Kubeconfig::read_from(path).map_err(|e| {
                    ClusterError::Config(format!(
                        "--kubeconfig {}: {e}\n  fix: check the path",
                        path.display()
                    ))
                })?;
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
        let mut config = config;
        // An unreachable server fails in seconds per attempt, not minutes (the retries
        // in `call` then give up with the server's name).
        config.connect_timeout = Some(std::time::Duration::from_secs(10));
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(|e| {
            ClusterError::Config(format!("cannot build a client for {server}: {e}"))
        })?;
        Ok(Cluster { client, server })
    }

    /// From an existing client (tests).
    pub fn from_client(client: kube::Client, server: &str) -> Cluster {
        Cluster {
            client,
            server: server.to_string(),
        }
    }

    /// Runs `f`, retrying transient failures (unreachable, 429/503 honouring Retry-After,
    /// 5xx), and maps the final error for `what`.
    pub async fn call<T, F, Fut>(&self, what: &str, f: F) -> Result<T, ClusterError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        f.retry(retry::backoff())
            .when(retry::is_retryable)
            .adjust(|e, d| retry::retry_after(e).or(d))
            .notify(|e, d| tracing::debug!("{what}: {}; retrying in {d:?}", short(e)))
            .await
            .map_err(|e| ClusterError::from_kube(e, what, &self.server))
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

fn short(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}", s.code, s.message),
        other => other.to_string(),
    }
}
