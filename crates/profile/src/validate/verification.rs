//! `verification.*`: the user's Pod that the chart's post-install Job applies once kata is
//! on every node; cococtl's `install` runs it the same way (docs/values.md#verification).
//! Validated here, as strictly as an object cococtl renders: it must parse as a Pod with a
//! name and at least one container.

use super::V;
use crate::config::Verification;
use crate::raw;

pub(super) fn verification(v: &mut V, r: &raw::Verification) -> Option<Verification> {
    if r.pod.trim().is_empty() {
        return None;
    }
    let fix = "give verification.pod a whole Pod manifest (apiVersion: v1, kind: Pod, metadata.name, spec.containers)";
    let value: serde_yaml::Value = match serde_yaml::from_str(&r.pod) {
        Ok(x) => x,
        Err(e) => {
            v.err("verification.pod", format!("not YAML: {e}"), fix);
            return None;
        }
    };
    let kind = value.get("kind").and_then(serde_yaml::Value::as_str);
    if kind != Some("Pod") {
        v.err(
            "verification.pod",
            format!(
                "kind is {}, not Pod",
                kind.map_or("missing".into(), |k| format!("`{k}`"))
            ),
            fix,
        );
        return None;
    }
    let pod: k8s_openapi::api::core::v1::Pod = match serde_yaml::from_value(value) {
        Ok(p) => p,
        Err(e) => {
            v.err("verification.pod", format!("not a valid Pod: {e}"), fix);
            return None;
        }
    };
    if pod.metadata.name.as_deref().unwrap_or_default().is_empty() {
        v.err(
            "verification.pod",
            "the Pod has no metadata.name (the chart applies it by name)",
            fix,
        );
    }
    if pod.spec.as_ref().is_none_or(|s| s.containers.is_empty()) {
        v.err("verification.pod", "the Pod has no spec.containers", fix);
    }
    let namespace = if r.namespace.is_empty() {
        "default".to_string()
    } else {
        r.namespace.clone()
    };
    let timeout_secs = match r.timeout.parse::<u64>() {
        Ok(t) if t > 0 => t,
        _ => {
            v.err(
                "verification.timeout",
                format!("`{}`: seconds, a whole number above 0", r.timeout),
                "--set verification.timeout=180",
            );
            180
        }
    };
    Some(Verification {
        pod,
        namespace,
        timeout_secs,
    })
}
