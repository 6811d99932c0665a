//! Webhooks that reject pods, and what the workload controllers make of it.
//!
//! A [`DenyingWebhook`] refuses pod creations in one namespace with the API server's own
//! message. The DaemonSet and ReplicaSet controllers played in `tick` create their pods
//! through [`controller_create`]: a refusal becomes a `FailedCreate` warning event on the
//! object, aggregated like the event recorder does (one Event per object and message,
//! `count` and `lastTimestamp` moving on; shape of fixture 55, `daemonset-controller`
//! source), and the controller backs off before it tries again (the real ones double a
//! 5 ms delay up to 1000 s; here 250 ms up to 4 s, so tests stay short).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{key, now, State};

/// An admission webhook that denies pod creation.
#[derive(Debug, Clone)]
pub struct DenyingWebhook {
    /// The webhook's name (`deny.policy.example.com`).
    pub name: String,
    /// Pods created in this namespace are refused.
    pub namespace: String,
    /// The API server's error message.
    pub message: String,
    /// How many creations it refuses (`None`: all of them).
    pub times: Option<usize>,
}

impl DenyingWebhook {
    /// A webhook that answers and denies: `admission webhook "<name>" denied the request:
    /// <reason>`.
    pub fn denies(name: &str, namespace: &str, reason: &str) -> DenyingWebhook {
        DenyingWebhook {
            name: name.into(),
            namespace: namespace.into(),
            message: format!("admission webhook \"{name}\" denied the request: {reason}"),
            times: None,
        }
    }

    /// A webhook the API server cannot call because its serving certificate is not signed
    /// by the caBundle (`failurePolicy: Fail`).
    pub fn bad_certificate(
        name: &str,
        namespace: &str,
        service: &str,
        service_namespace: &str,
    ) -> DenyingWebhook {
        DenyingWebhook {
            name: name.into(),
            namespace: namespace.into(),
            message: format!("Internal error occurred: failed calling webhook \"{name}\": failed to call webhook: Post \"https://{service}.{service_namespace}.svc:443/mutate-v1-pod?timeout=10s\": tls: failed to verify certificate: x509: certificate signed by unknown authority"),
            times: None,
        }
    }

    /// Refuses only the first `n` creations (a blip).
    pub fn times(mut self, n: usize) -> DenyingWebhook {
        self.times = Some(n);
        self
    }
}

/// The status code and message a denying webhook answers a pod creation in `ns` with,
/// counting the refusal.
pub(super) fn deny(s: &mut State, ns: &str) -> Option<(u16, String)> {
    let w = s
        .sim
        .denying_webhooks
        .iter_mut()
        .find(|w| w.namespace == ns && w.times != Some(0))?;
    if let Some(t) = &mut w.times {
        *t -= 1;
    }
    // A denial carries the webhook's code (400 when it gives none); a webhook that cannot
    // be called is the API server's 500.
    let code = if w.message.starts_with("Internal error") {
        500
    } else {
        400
    };
    Some((code, w.message.clone()))
}

/// Why the controller of `owner` (its store key) could not create a pod, and since when:
/// the last failure, cleared by a success (the `ReplicaFailure` condition's source).
pub(super) fn last_failure(s: &State, owner: &str) -> Option<(String, String)> {
    s.create_failures.get(owner).cloned()
}

/// The controller of `owner` (kind, store key, object) creates `pod` in `ns`, if its
/// back-off allows: `false` when it did not (refused or backing off), so it stops for this
/// round like the real slow-start batches do.
pub(super) fn controller_create(
    s: &mut State,
    owner_kind: &str,
    owner_key: &str,
    owner: &Value,
    ns: &str,
    pod: Value,
) -> bool {
    if let Some((next, _)) = s.create_backoff.get(owner_key) {
        if Instant::now() < *next {
            return false;
        }
    }
    let Some((_, message)) = deny(s, ns) else {
        s.create_backoff.remove(owner_key);
        s.create_failures.remove(owner_key);
        s.create("/api/v1", "pods", ns, pod);
        return true;
    };
    let delay = s
        .create_backoff
        .get(owner_key)
        .map(|(_, d)| (*d * 2).min(Duration::from_secs(4)))
        .unwrap_or(Duration::from_millis(250));
    s.create_backoff
        .insert(owner_key.to_string(), (Instant::now() + delay, delay));
    let since = s
        .create_failures
        .get(owner_key)
        .filter(|(m, _)| *m == message)
        .map(|(_, t)| t.clone())
        .unwrap_or_else(now);
    s.create_failures
        .insert(owner_key.to_string(), (message.clone(), since));
    failed_create_event(
        s,
        owner_kind,
        owner,
        ns,
        &format!("Error creating: {message}"),
    );
    false
}

/// A `FailedCreate` warning on `owner`, aggregated with an earlier one of the same message.
fn failed_create_event(s: &mut State, kind: &str, owner: &Value, ns: &str, message: &str) {
    let name = owner
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let uid = owner.pointer("/metadata/uid").cloned().unwrap_or_default();
    let existing = s
        .items(&format!("/api/v1|events|{ns}"))
        .into_iter()
        .find(|e| {
            e.pointer("/involvedObject/uid") == Some(&uid)
                && e["reason"] == json!("FailedCreate")
                && e["message"] == json!(message)
        })
        .cloned();
    if let Some(mut e) = existing {
        let n = e["count"].as_i64().unwrap_or(1) + 1;
        e["count"] = json!(n);
        e["lastTimestamp"] = json!(now());
        let ek = key(
            "/api/v1",
            "events",
            ns,
            e.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or(""),
        );
        s.put(&ek, e, false);
        return;
    }
    let component = if kind == "DaemonSet" {
        "daemonset-controller"
    } else {
        "replicaset-controller"
    };
    s.uid += 1;
    let t = now();
    let ev = json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{:016x}", 0x18ee_caa1_0000_0000_u64 + s.uid), "namespace": ns},
        "involvedObject": {"kind": kind, "namespace": ns, "name": name, "uid": uid, "apiVersion": "apps/v1",
            "resourceVersion": owner.pointer("/metadata/resourceVersion").cloned().unwrap_or_default()},
        "reason": "FailedCreate", "message": message, "source": {"component": component},
        "firstTimestamp": t, "lastTimestamp": t, "count": 1, "type": "Warning", "eventTime": null,
        "reportingComponent": component, "reportingInstance": ""});
    s.create("/api/v1", "events", ns, ev);
}
