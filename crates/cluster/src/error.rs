//! API errors as a user can act on them: which server, which permission, which other
//! field manager, which fields. Never a Rust debug dump.

use std::fmt;
use std::time::Duration;

use crate::core::preflight::Finding;

/// What went wrong talking to the cluster, or what the cluster's state forbids.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No kubeconfig, a bad context, no in-cluster environment.
    #[error("{0}")]
    Config(String),
    /// The API server did not answer (after retries).
    #[error("cannot reach the Kubernetes API server at {server} ({what}): {detail}\n  fix: check the server address in your kubeconfig (--kubeconfig, --context) and that the cluster is up")]
    Unreachable {
        /// The server URL.
        server: String,
        /// What was being done.
        what: String,
        /// The transport error.
        detail: String,
    },
    /// 401.
    #[error("{what}: the API server rejected the credentials (401 Unauthorized): {message}\n  fix: refresh your kubeconfig's credentials (expired token or certificate?)")]
    Unauthorized {
        /// What was being done.
        what: String,
        /// The server's message.
        message: String,
    },
    /// 403.
    #[error("{what}: forbidden (403): {message}\n  fix: run as a user allowed to do this, or grant the permission named above")]
    Forbidden {
        /// What was being done.
        what: String,
        /// The server's message (names the user, verb and resource).
        message: String,
    },
    /// 403 with cause `NamespaceTerminating`: not a permission problem.
    #[error("{what}: namespace {namespace} is being deleted (Terminating), and the API server refuses new objects in it\n  fix: wait until `kubectl get namespace {namespace}` says NotFound and run again, or install into another namespace with -n")]
    NamespaceTerminating {
        /// What was being done.
        what: String,
        /// The namespace.
        namespace: String,
    },
    /// 409 from server-side apply: fields owned by another manager.
    #[error("{object}: {} field(s) are owned by another field manager:\n{}\n  fix: rerun with --force-conflicts to take them over (the other manager may set them back), or remove them from the other tool's configuration", .conflicts.len(), .conflicts.iter().map(|c| format!("    - {} (manager {:?})", c.field, c.manager)).collect::<Vec<_>>().join("\n"))]
    Conflict {
        /// `Kind/ns/name`.
        object: String,
        /// Each conflicting field and its manager.
        conflicts: Vec<FieldConflict>,
    },
    /// 422: the object is invalid.
    #[error("{object} is invalid (422): {message}{}", .causes.iter().map(|c| format!("\n    - {c}")).collect::<String>())]
    Invalid {
        /// `Kind/ns/name`.
        object: String,
        /// The server's message.
        message: String,
        /// Each cause, `field: message`.
        causes: Vec<String>,
    },
    /// 404 where something had to exist.
    #[error("{what}: not found: {message}")]
    NotFound {
        /// What was being done.
        what: String,
        /// The server's message.
        message: String,
    },
    /// Any other API status.
    #[error("{what}: the API server answered {code} {reason}: {message}")]
    Api {
        /// What was being done.
        what: String,
        /// HTTP status.
        code: u16,
        /// `reason`.
        reason: String,
        /// `message`.
        message: String,
    },
    /// The preflight found reasons not to start.
    #[error("preflight found {} problem(s); nothing was changed:\n{}", .0.len(), .0.iter().map(|f| format!("  - {}", f.to_string().replace('\n', "\n    "))).collect::<Vec<_>>().join("\n"))]
    Preflight(Vec<Finding>),
    /// The request is valid, but the state of the release forbids it.
    #[error("{0}")]
    Refused(String),
    /// The input is wrong (exit 2).
    #[error("{0}")]
    Input(String),
    /// A wait ran out.
    #[error("timed out after {after:?} waiting for {what}{}", .still.iter().map(|s| format!("\n    - {s}")).collect::<String>())]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        after: Duration,
        /// What was still not there, one line each.
        still: Vec<String>,
    },
    /// A wait stopped before its timeout: admission keeps refusing a workload's pods
    /// (docs/cluster-lifecycle.md#admission).
    #[error("stopped waiting after {after:?}, before the timeout: {explanation}")]
    Rejected {
        /// The object, the webhook, its error and the fix ([`crate::core::admission::Rejection::explain`]).
        explanation: String,
        /// How long the wait ran.
        after: Duration,
    },
    /// Interrupted (Ctrl-C).
    #[error("interrupted: {0}")]
    Interrupted(String),
}

/// One field another manager owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldConflict {
    /// The other manager.
    pub manager: String,
    /// The field path, as the server gives it.
    pub field: String,
}

impl fmt::Display for FieldConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (manager {})", self.field, self.manager)
    }
}

impl ClusterError {
    /// The exit code: 1 not ready / timed out, 2 input, 3 cluster or API.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClusterError::Timeout { .. } | ClusterError::Rejected { .. } => 1,
            ClusterError::Input(_) | ClusterError::Config(_) => 2,
            _ => 3,
        }
    }

    /// From a kube-rs error, for `what` (`applying DaemonSet/coco-system/kata-deploy`),
    /// against `server`.
    pub fn from_kube(e: kube::Error, what: &str, server: &str) -> ClusterError {
        let what = what.to_string();
        match e {
            kube::Error::Api(s) => {
                let message = s.message.clone();
                match s.code {
                    401 => ClusterError::Unauthorized { what, message },
                    403 if terminating_namespace(&s).is_some() => ClusterError::NamespaceTerminating {
                        what,
                        namespace: terminating_namespace(&s).unwrap_or_default(),
                    },
                    403 => ClusterError::Forbidden { what, message },
                    404 => ClusterError::NotFound { what, message },
                    409 if is_field_conflict(&s) => ClusterError::Conflict {
                        object: what
                            .strip_prefix("applying ")
                            .unwrap_or(&what)
                            .to_string(),
                        conflicts: conflicts(&s),
                    },
                    422 => ClusterError::Invalid {
                        object: what
                            .strip_prefix("applying ")
                            .unwrap_or(&what)
                            .to_string(),
                        message,
                        causes: s
                            .details
                            .as_ref()
                            .map(|d| {
                                d.causes
                                    .iter()
                                    .map(|c| {
                                        if c.field.is_empty() {
                                            c.message.clone()
                                        } else {
                                            format!("{}: {}", c.field, c.message)
                                        }
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    },
                    code => ClusterError::Api {
                        what,
                        code,
                        reason: s.reason.clone(),
                        message,
                    },
                }
            }
            kube::Error::Auth(e) => ClusterError::Unauthorized {
                what,
                message: e.to_string(),
            },
            kube::Error::InferConfig(e) => ClusterError::Config(format!(
                "no Kubernetes configuration: {e}\n  fix: pass --kubeconfig, set KUBECONFIG, or run in a pod"
            )),
            kube::Error::SerdeError(e) => ClusterError::Api {
                what,
                code: 0,
                reason: "UnreadableResponse".into(),
                message: format!("the API server's answer could not be read: {e}"),
            },
            other => ClusterError::Unreachable {
                server: server.to_string(),
                what,
                detail: transport_detail(&other),
            },
        }
    }
}

/// The innermost message of a transport error (hyper and tower wrap it several times).
fn transport_detail(e: &kube::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
    }
    msg
}

/// A 409 from server-side apply: its causes are `FieldManagerConflict`s.
pub fn is_field_conflict(s: &kube::core::Status) -> bool {
    s.code == 409
        && s.details
            .as_ref()
            .is_some_and(|d| d.causes.iter().any(|c| c.reason == "FieldManagerConflict"))
}

/// The namespace a `403` names as terminating (cause `NamespaceTerminating`, message
/// `namespace <ns> is being terminated`), if that is what it is.
fn terminating_namespace(s: &kube::core::Status) -> Option<String> {
    let cause = s
        .details
        .as_ref()?
        .causes
        .iter()
        .find(|c| c.reason == "NamespaceTerminating")?;
    Some(
        cause
            .message
            .strip_prefix("namespace ")
            .and_then(|m| m.strip_suffix(" is being terminated"))
            .unwrap_or("")
            .to_string(),
    )
}

/// The conflicts of a 409 apply answer: `conflict with "kubectl" using apps/v1` and
/// the field path.
pub fn conflicts(s: &kube::core::Status) -> Vec<FieldConflict> {
    s.details
        .as_ref()
        .map(|d| {
            d.causes
                .iter()
                .filter(|c| c.reason == "FieldManagerConflict")
                .map(|c| FieldConflict {
                    manager: c
                        .message
                        .split('"')
                        .nth(1)
                        .unwrap_or(&c.message)
                        .to_string(),
                    field: c.field.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}
