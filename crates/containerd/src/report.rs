//! How the agent tells the cluster what happened on its node: the state label that the
//! kata-deploy DaemonSet waits for ([`cococtl_core::labels::CONTAINERD_STATE`] = `ready`) and
//! annotations with the version, tarball digest and failure message.

use std::time::Duration;

use cococtl_core::labels;

/// The agent's outcome on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Installing,
    Ready,
    Failed,
    RolledBack,
    Restored,
}

impl State {
    pub fn label(self) -> &'static str {
        match self {
            State::Installing => "installing",
            State::Ready => labels::CONTAINERD_READY,
            State::Failed => "failed",
            State::RolledBack => "rolled-back",
            State::Restored => "restored",
        }
    }
}

pub trait Reporter {
    /// Sets the state label and annotations (version, sha256, message) on this node.
    fn report(
        &self,
        state: State,
        version: &str,
        sha256: &str,
        message: &str,
    ) -> Result<(), String>;
}

/// Reports on stderr only: tests, or a run without `NODE_NAME`.
pub struct LogReporter;

impl Reporter for LogReporter {
    fn report(
        &self,
        state: State,
        version: &str,
        sha256: &str,
        message: &str,
    ) -> Result<(), String> {
        eprintln!(
            "node: {}={} {}={version} {}={sha256}{}",
            labels::CONTAINERD_STATE,
            state.label(),
            labels::CONTAINERD_VERSION,
            labels::CONTAINERD_SHA256,
            if message.is_empty() {
                String::new()
            } else {
                format!(" ({message})")
            }
        );
        Ok(())
    }
}

/// The merge patch for a report; empty values remove their annotation.
pub fn patch(state: State, version: &str, sha256: &str, message: &str) -> serde_json::Value {
    let ann = |v: &str| {
        if v.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::Value::from(v)
        }
    };
    serde_json::json!({
        "metadata": {
            "labels": { labels::CONTAINERD_STATE: state.label() },
            "annotations": {
                labels::CONTAINERD_VERSION: ann(version),
                labels::CONTAINERD_SHA256: ann(sha256),
                labels::CONTAINERD_MESSAGE: ann(message),
            }
        }
    })
}

/// Patches this node's Node object (RBAC: nodes get, patch), retrying transient errors.
pub struct KubeReporter {
    node: String,
    client: kube::Client,
    rt: tokio::runtime::Runtime,
}

impl KubeReporter {
    /// In-cluster configuration (the agent's ServiceAccount), or KUBECONFIG.
    pub fn new(node: &str) -> Result<Self, String> {
        crate::fetch::tls_provider();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let client = rt
            .block_on(kube::Client::try_default())
            .map_err(|e| format!("no Kubernetes API access for node reporting: {e}"))?;
        Ok(KubeReporter {
            node: node.into(),
            client,
            rt,
        })
    }

    pub fn with_client(node: &str, client: kube::Client, rt: tokio::runtime::Runtime) -> Self {
        KubeReporter {
            node: node.into(),
            client,
            rt,
        }
    }
}

impl Reporter for KubeReporter {
    fn report(
        &self,
        state: State,
        version: &str,
        sha256: &str,
        message: &str,
    ) -> Result<(), String> {
        LogReporter.report(state, version, sha256, message)?;
        let api: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(self.client.clone());
        let body = patch(state, version, sha256, message);
        let params = kube::api::PatchParams {
            field_manager: Some("cococtl".into()),
            ..Default::default()
        };
        let mut last = String::new();
        for attempt in 0..5u32 {
            match self
                .rt
                .block_on(api.patch(&self.node, &params, &kube::api::Patch::Merge(&body)))
            {
                Ok(_) => return Ok(()),
                // 4xx other than 409/429 will not get better by retrying.
                Err(kube::Error::Api(s))
                    if (400..500).contains(&s.code) && s.code != 409 && s.code != 429 =>
                {
                    return Err(format!(
                        "patching node {}: {} {}",
                        self.node, s.code, s.message
                    ));
                }
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(200 * 2u64.pow(attempt)));
        }
        Err(format!("patching node {}: {last}", self.node))
    }
}
