//! Admission failures: a workload controller that cannot create its pods because an
//! admission webhook rejects them (docs/cluster-lifecycle.md#admission).
//!
//! The DaemonSet and ReplicaSet controllers say so only in a `FailedCreate` warning event
//! (`Error creating: admission webhook "x" denied the request: …`, or `Internal error
//! occurred: failed calling webhook "x": …` when the webhook cannot be called), and the
//! Deployment controller copies the ReplicaSet's `ReplicaFailure` condition. Start with
//! [`Rejection::of_event`]; [`Persistence`] decides when a wait stops waiting for pods
//! that will not come. Pure: the edge passes the time since the wait started.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;

use super::snapshot::EventSnap;

/// How long the same rejection must keep coming back before a wait gives up on it: long
/// enough that a webhook restarting (a few seconds without endpoints) is ridden out, short
/// enough that nobody waits out a 15-minute timeout for pods that will never be created.
pub const PERSIST_FOR: Duration = Duration::from_secs(10);

/// How many failed creations (the event's `count`) must be seen before a rejection counts
/// as persistent: one refusal is a blip, a controller retrying and failing again is not.
pub const PERSIST_ATTEMPTS: i32 = 3;

/// A controller that cannot create its pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// `DaemonSet`, `ReplicaSet` or `Deployment`.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// The webhook the API server names, when it is a webhook.
    pub webhook: Option<String>,
    /// The API server's error, without the controller's `Error creating: ` prefix.
    pub error: String,
}

impl Rejection {
    /// From a `FailedCreate` warning event; `None` for any other event.
    pub fn of_event(e: &EventSnap) -> Option<Rejection> {
        if e.reason != "FailedCreate" {
            return None;
        }
        Some(Rejection::new(&e.kind, &e.name, &e.message))
    }

    /// From a controller's message (event or condition).
    pub fn new(kind: &str, name: &str, message: &str) -> Rejection {
        let error = clean(message);
        Rejection {
            kind: kind.to_string(),
            name: name.to_string(),
            webhook: webhook_of(&error),
            error,
        }
    }

    /// `DaemonSet coco-system/kata-deploy cannot create its pods: …`, with the fix.
    pub fn explain(&self, namespace: &str) -> String {
        let what = format!(
            "{} {namespace}/{} cannot create its pods",
            self.kind, self.name
        );
        match &self.webhook {
            Some(w) => format!(
                "{what}: admission webhook {w} rejects them: {}\n  fix: check the webhook {w} (kubectl get mutatingwebhookconfigurations,validatingwebhookconfigurations -o wide): its Service has ready endpoints, its caBundle matches the serving certificate, its rules and namespaceSelector; `kubectl get events -n {namespace} --field-selector reason=FailedCreate` shows every refusal",
                self.error
            ),
            None => format!(
                "{what}: {}\n  fix: `kubectl get events -n {namespace} --field-selector reason=FailedCreate` shows every refusal",
                self.error
            ),
        }
    }
}

/// The message without what the event recorder and the controller put around the API
/// server's error.
fn clean(message: &str) -> String {
    let m = message
        .strip_prefix("(combined from similar events): ")
        .unwrap_or(message);
    m.strip_prefix("Error creating: ").unwrap_or(m).to_string()
}

/// The webhook named in an API server admission error: `admission webhook "x" denied the
/// request` or `failed calling webhook "x"`.
pub fn webhook_of(message: &str) -> Option<String> {
    ["admission webhook \"", "failed calling webhook \""]
        .iter()
        .find_map(|p| message.split_once(p))
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(name, _)| name.to_string())
}

/// The Deployment's own account of why it is not available: `ReplicaFailure` (the
/// ReplicaSet could not create pods), then `Progressing=False` with
/// `ProgressDeadlineExceeded`. `None`: nothing beyond the replica counts.
pub fn deployment_problem(d: &Deployment) -> Option<DeploymentProblem> {
    let name = d.metadata.name.clone().unwrap_or_default();
    let conds = d.status.as_ref().and_then(|s| s.conditions.as_ref())?;
    if let Some(c) = conds
        .iter()
        .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
    {
        return Some(DeploymentProblem::ReplicaFailure(Rejection::new(
            "Deployment",
            &name,
            c.message.as_deref().unwrap_or_default(),
        )));
    }
    conds
        .iter()
        .find(|c| {
            c.type_ == "Progressing"
                && c.status == "False"
                && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        })
        .map(|c| {
            DeploymentProblem::DeadlineExceeded(
                c.message
                    .clone()
                    .unwrap_or_else(|| format!("Deployment {name} exceeded its progress deadline")),
            )
        })
}

/// What a Deployment's conditions say is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentProblem {
    /// Its ReplicaSet cannot create pods (`ReplicaFailure`, reason `FailedCreate`).
    ReplicaFailure(Rejection),
    /// `Progressing=False`, `ProgressDeadlineExceeded`: the controller gave up.
    DeadlineExceeded(String),
}

impl std::fmt::Display for DeploymentProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeploymentProblem::ReplicaFailure(r) => match &r.webhook {
                Some(w) => write!(
                    f,
                    "cannot create its pods: admission webhook {w} rejects them: {}",
                    r.error
                ),
                None => write!(f, "cannot create its pods: {}", r.error),
            },
            DeploymentProblem::DeadlineExceeded(m) => write!(f, "ProgressDeadlineExceeded: {m}"),
        }
    }
}

/// A webhook as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WebhookHealth {
    /// The webhook's name (as in its configuration's `webhooks[].name`), or the
    /// configuration's name when the problem is with all of it.
    pub name: String,
    /// Pods it admits get created.
    pub healthy: bool,
    /// Why not, with the object whose pods it rejects.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// The webhooks named in `rejections` ((namespace, rejection) of the release's objects
/// that lack pods), each unhealthy with the objects it rejects and its first error.
pub fn unhealthy_webhooks(rejections: &[(String, Rejection)]) -> Vec<WebhookHealth> {
    let mut out: Vec<WebhookHealth> = vec![];
    for (ns, r) in rejections {
        let Some(w) = &r.webhook else { continue };
        let object = format!("{} {ns}/{}", r.kind, r.name);
        match out.iter_mut().find(|h| &h.name == w) {
            Some(h) => {
                if !h.reason.contains(&object) {
                    h.reason = h.reason.replacen(": ", &format!(", {object}: "), 1);
                }
            }
            None => out.push(WebhookHealth {
                name: w.clone(),
                healthy: false,
                reason: format!("rejects the pods of {object}: {}", r.error),
            }),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[derive(Debug, Clone)]
struct Seen {
    error: String,
    since: Duration,
    first_count: Option<i32>,
    count: Option<i32>,
}

/// Tells a persistent rejection from a blip, over the observations of one wait.
///
/// The rule: the same webhook rejection of the same object (its latest `FailedCreate`
/// event, or its `ReplicaFailure` condition) observed for at least [`PERSIST_FOR`] of this
/// wait, and, where the event carries a count, at least [`PERSIST_ATTEMPTS`] attempts with
/// one of them during this wait (an hour-old event nobody retried says nothing about now).
/// The caller only reports objects that still lack pods; one that got them, or whose
/// error changed, starts over.
#[derive(Debug, Default)]
pub struct Persistence {
    seen: HashMap<(String, String), Seen>,
}

impl Persistence {
    /// Records that `r` is what the object says at `now` (time since the wait started),
    /// with the event's `count` when there is one. `true` once it is persistent.
    pub fn observe(&mut self, r: &Rejection, count: Option<i32>, now: Duration) -> bool {
        if r.webhook.is_none() {
            // Quotas, Pod Security and the like are named at the timeout, not cut short:
            // a quota can be raised while the wait runs.
            return false;
        }
        let key = (r.kind.clone(), r.name.clone());
        let s = self.seen.entry(key).or_insert_with(|| Seen {
            error: r.error.clone(),
            since: now,
            first_count: count,
            count,
        });
        if s.error != r.error {
            *s = Seen {
                error: r.error.clone(),
                since: now,
                first_count: count,
                count,
            };
        }
        s.count = count.max(s.count);
        let retried = match (s.first_count, s.count) {
            (Some(first), Some(c)) => c >= PERSIST_ATTEMPTS && c > first,
            _ => true,
        };
        retried && now.saturating_sub(s.since) >= PERSIST_FOR
    }

    /// Forgets an object that has its pods (or no rejection) now.
    pub fn clear(&mut self, kind: &str, name: &str) {
        self.seen.remove(&(kind.to_string(), name.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied() -> Rejection {
        Rejection::new(
            "DaemonSet",
            "kata-deploy",
            "Error creating: admission webhook \"deny.policy.example.com\" denied the request: privileged pods are not allowed",
        )
    }

    #[test]
    fn the_webhook_and_its_error_are_read_from_both_api_server_messages() {
        let r = denied();
        assert_eq!(r.webhook.as_deref(), Some("deny.policy.example.com"));
        assert_eq!(
            r.error,
            "admission webhook \"deny.policy.example.com\" denied the request: privileged pods are not allowed"
        );
        let r = Rejection::new("ReplicaSet", "x", "(combined from similar events): Error creating: Internal error occurred: failed calling webhook \"m.example.com\": failed to call webhook: Post \"https://s.ns.svc:443/m?timeout=10s\": tls: failed to verify certificate: x509: certificate signed by unknown authority");
        assert_eq!(r.webhook.as_deref(), Some("m.example.com"));
        assert!(
            r.error.starts_with("Internal error occurred"),
            "{}",
            r.error
        );
        assert_eq!(
            Rejection::new(
                "DaemonSet",
                "d",
                "Error creating: pods \"p\" is forbidden: exceeded quota: q"
            )
            .webhook,
            None
        );
    }

    #[test]
    fn the_explanation_names_object_webhook_error_and_fix() {
        let t = denied().explain("coco-system");
        assert!(t.starts_with("DaemonSet coco-system/kata-deploy cannot create its pods: admission webhook deny.policy.example.com rejects them: admission webhook"), "{t}");
        assert!(
            t.contains("fix: check the webhook deny.policy.example.com"),
            "{t}"
        );
        assert!(t.contains("kubectl get events -n coco-system"), "{t}");
    }

    #[test]
    fn a_rejection_repeated_for_ten_seconds_is_persistent() {
        let mut p = Persistence::default();
        let r = denied();
        assert!(!p.observe(&r, Some(1), Duration::ZERO));
        assert!(!p.observe(&r, Some(5), Duration::from_secs(3)));
        assert!(p.observe(&r, Some(8), Duration::from_secs(11)));
    }

    #[test]
    fn a_single_refusal_never_repeated_is_not_persistent() {
        let mut p = Persistence::default();
        let r = denied();
        assert!(!p.observe(&r, Some(1), Duration::ZERO));
        assert!(!p.observe(&r, Some(1), Duration::from_secs(60)));
    }

    #[test]
    fn an_old_event_not_retried_during_the_wait_is_not_persistent() {
        let mut p = Persistence::default();
        let r = denied();
        assert!(!p.observe(&r, Some(40), Duration::ZERO));
        assert!(!p.observe(&r, Some(40), Duration::from_secs(30)));
        assert!(p.observe(&r, Some(41), Duration::from_secs(31)));
    }

    #[test]
    fn a_changed_error_or_pods_created_start_over() {
        let mut p = Persistence::default();
        let r = denied();
        p.observe(&r, Some(1), Duration::ZERO);
        let other = Rejection::new("DaemonSet", "kata-deploy", "Error creating: admission webhook \"deny.policy.example.com\" denied the request: another reason");
        assert!(!p.observe(&other, Some(9), Duration::from_secs(11)));
        p.clear("DaemonSet", "kata-deploy");
        assert!(!p.observe(&r, Some(12), Duration::from_secs(12)));
    }

    #[test]
    fn quotas_are_never_cut_short() {
        let mut p = Persistence::default();
        let q = Rejection::new(
            "DaemonSet",
            "d",
            "Error creating: pods \"p\" is forbidden: exceeded quota: q",
        );
        p.observe(&q, Some(1), Duration::ZERO);
        assert!(!p.observe(&q, Some(9), Duration::from_secs(60)));
    }

    #[test]
    fn every_webhook_named_in_a_rejection_is_unhealthy_once_with_its_objects() {
        let other = Rejection::new("ReplicaSet", "ctrl-7d9f8b6c5d", "admission webhook \"deny.policy.example.com\" denied the request: privileged pods are not allowed");
        let quota = Rejection::new(
            "DaemonSet",
            "d",
            "pods \"p\" is forbidden: exceeded quota: q",
        );
        let h = unhealthy_webhooks(&[
            ("coco-system".into(), denied()),
            ("ccs".into(), other),
            ("coco-system".into(), quota),
        ]);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(!h[0].healthy);
        assert_eq!(h[0].name, "deny.policy.example.com");
        assert!(h[0].reason.starts_with("rejects the pods of DaemonSet coco-system/kata-deploy, ReplicaSet ccs/ctrl-7d9f8b6c5d: admission webhook"), "{}", h[0].reason);
    }

    #[test]
    fn a_deployment_names_replica_failure_then_a_passed_deadline() {
        let d: Deployment = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "peerpod-ctrl-controller-manager"},
            "status": {"conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"x\" has timed out progressing."},
                {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "admission webhook \"deny.example.com\" denied the request: no"}
            ]}
        }))
        .unwrap_or_default();
        let Some(DeploymentProblem::ReplicaFailure(r)) = deployment_problem(&d) else {
            panic!("{:?}", deployment_problem(&d))
        };
        assert_eq!(r.webhook.as_deref(), Some("deny.example.com"));
        let d: Deployment = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "x"},
            "status": {"conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"x-1\" has timed out progressing."}
            ]}
        }))
        .unwrap_or_default();
        assert_eq!(
            deployment_problem(&d).map(|p| p.to_string()),
            Some("ProgressDeadlineExceeded: ReplicaSet \"x-1\" has timed out progressing.".into())
        );
    }
}
