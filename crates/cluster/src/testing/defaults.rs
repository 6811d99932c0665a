//! The fields kube-apiserver fills in on every write, outside any field manager: API
//! defaulting (`SetDefaults_*` of the core, apps and batch groups) and the status a new
//! object starts with. Captured in crates/cluster/tests/fixtures/kube-apiserver-1.36/10 (a DaemonSet:
//! pod-spec and probe defaults, `revisionHistoryLimit`, `maxSurge`, zeroed status) and 07
//! (a Namespace's `phase: Active`).
//!
//! A stand-in that stores exactly what was sent hides the bugs a real server shows on the
//! first upgrade: a diff that compares the live object with the manifest never settles, a
//! wait that reads a status field before any controller wrote it. These defaults are in
//! the object but never in `managedFields`, as on the real server.

use serde_json::{json, Map, Value};

/// Fills in what the API server defaults on a written object of `plural`.
pub(super) fn apply(plural: &str, obj: &mut Value) {
    match plural {
        "daemonsets" => {
            let spec = ensure_obj(obj, "spec");
            default(spec, "revisionHistoryLimit", json!(10));
            let strategy = ensure_obj(spec, "updateStrategy");
            default(strategy, "type", json!("RollingUpdate"));
            if strategy["type"] == "RollingUpdate" {
                let ru = ensure_obj(strategy, "rollingUpdate");
                default(ru, "maxUnavailable", json!(1));
                default(ru, "maxSurge", json!(0));
            }
            template(spec);
        }
        "deployments" => {
            let spec = ensure_obj(obj, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "progressDeadlineSeconds", json!(600));
            let strategy = ensure_obj(spec, "strategy");
            default(strategy, "type", json!("RollingUpdate"));
            if strategy["type"] == "RollingUpdate" {
                let ru = ensure_obj(strategy, "rollingUpdate");
                default(ru, "maxUnavailable", json!("25%"));
                default(ru, "maxSurge", json!("25%"));
            }
            template(spec);
        }
        "jobs" => {
            let spec = ensure_obj(obj, "spec");
            default(spec, "backoffLimit", json!(6));
            default(spec, "completions", json!(1));
            default(spec, "parallelism", json!(1));
            default(spec, "completionMode", json!("NonIndexed"));
            default(spec, "suspend", json!(false));
            default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
            // A Job template's restartPolicy is required (Never or OnFailure), so the
            // pod-spec default below never applies to it.
            template(spec);
        }
        "pods" => {
            let spec = ensure_obj(obj, "spec");
            pod_spec(spec);
            default(spec, "enableServiceLinks", json!(true));
            default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
        }
        _ => {}
    }
}

/// What a Node gets when it is created (not on later writes): the not-ready taint the
/// TaintNodesByCondition admission adds, and the API's defaults (fixture 44).
pub(super) fn new_node(obj: &mut Value) {
    // The NodeRestriction/TaintNodesByCondition admission and the API's own
    // defaults on a new Node (fixture 44).
    let spec = ensure_obj(obj, "spec");
    if spec.get("taints").is_none() {
        spec["taints"] = json!([{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]);
    }
    let status = ensure_obj(obj, "status");
    default(
        status,
        "daemonEndpoints",
        json!({"kubeletEndpoint": {"Port": 0}}),
    );
    let info = ensure_obj(status, "nodeInfo");
    for f in [
        "machineID",
        "systemUUID",
        "bootID",
        "kernelVersion",
        "osImage",
        "containerRuntimeVersion",
        "kubeletVersion",
        "kubeProxyVersion",
        "operatingSystem",
        "architecture",
    ] {
        default(info, f, json!(""));
    }
    if let Some(cs) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        for c in cs {
            for t in ["lastHeartbeatTime", "lastTransitionTime"] {
                if c.get(t).is_none() {
                    c[t] = Value::Null;
                }
            }
        }
    }
}

/// The status a newly created object has before any controller wrote one.
pub(super) fn initial_status(plural: &str, obj: &mut Value) {
    if obj.get("status").is_some_and(|s| !s.is_null()) {
        return;
    }
    let status = match plural {
        "daemonsets" => json!({
            "currentNumberScheduled": 0,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": 0,
            "numberReady": 0
        }),
        "deployments" | "jobs" | "replicasets" => json!({}),
        "namespaces" => json!({"phase": "Active"}),
        _ => return,
    };
    obj["status"] = status;
}

fn ensure_obj<'a>(v: &'a mut Value, key: &str) -> &'a mut Value {
    if !v[key].is_object() {
        v[key] = Value::Object(Map::new());
    }
    &mut v[key]
}

fn default(v: &mut Value, key: &str, value: Value) {
    if v.get(key).is_none_or(Value::is_null) {
        v[key] = value;
    }
}

fn template(spec: &mut Value) {
    let t = ensure_obj(spec, "template");
    let ps = ensure_obj(t, "spec");
    pod_spec(ps);
}

fn pod_spec(ps: &mut Value) {
    default(ps, "restartPolicy", json!("Always"));
    default(ps, "dnsPolicy", json!("ClusterFirst"));
    default(ps, "schedulerName", json!("default-scheduler"));
    default(ps, "securityContext", json!({}));
    default(ps, "terminationGracePeriodSeconds", json!(30));
    if let Some(sa) = ps.get("serviceAccountName").cloned() {
        // The deprecated field mirrors the current one.
        default(ps, "serviceAccount", sa);
    }
    for list in ["containers", "initContainers"] {
        if let Some(cs) = ps.get_mut(list).and_then(Value::as_array_mut) {
            cs.iter_mut().for_each(container);
        }
    }
    if let Some(vs) = ps.get_mut("volumes").and_then(Value::as_array_mut) {
        for v in vs {
            if let Some(hp) = v.get_mut("hostPath").filter(|h| h.is_object()) {
                default(hp, "type", json!(""));
            }
            for source in ["configMap", "secret", "projected"] {
                if let Some(s) = v.get_mut(source).filter(|s| s.is_object()) {
                    default(s, "defaultMode", json!(420));
                }
            }
        }
    }
}

fn container(c: &mut Value) {
    default(c, "terminationMessagePath", json!("/dev/termination-log"));
    default(c, "terminationMessagePolicy", json!("File"));
    default(c, "resources", json!({}));
    if c.get("imagePullPolicy").is_none_or(Value::is_null) {
        let image = c["image"].as_str().unwrap_or("");
        let untagged_or_latest = {
            let name = image.split('@').next().unwrap_or("");
            let last = name.rsplit('/').next().unwrap_or("");
            !image.contains('@') && last.split_once(':').is_none_or(|(_, t)| t == "latest")
        };
        c["imagePullPolicy"] = json!(if untagged_or_latest {
            "Always"
        } else {
            "IfNotPresent"
        });
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).filter(|p| p.is_object()) {
            default(p, "timeoutSeconds", json!(1));
            default(p, "periodSeconds", json!(10));
            default(p, "successThreshold", json!(1));
            default(p, "failureThreshold", json!(3));
            if let Some(h) = p.get_mut("httpGet").filter(|h| h.is_object()) {
                default(h, "scheme", json!("HTTP"));
            }
        }
    }
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            default(p, "protocol", json!("TCP"));
        }
    }
    if let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) {
        for e in env {
            if let Some(fr) = e.pointer_mut("/valueFrom/fieldRef") {
                default(fr, "apiVersion", json!("v1"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemonset_gets_the_defaults_fixture_10_shows() {
        let mut ds = json!({"spec": {"template": {"spec": {
            "serviceAccountName": "sa",
            "containers": [{"name": "c", "image": "quay.io/x/y:1.0",
                "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 5}}],
            "volumes": [{"name": "h", "hostPath": {"path": "/x"}}]}}}});
        apply("daemonsets", &mut ds);
        initial_status("daemonsets", &mut ds);
        let s = &ds["spec"];
        assert_eq!(s["revisionHistoryLimit"], 10);
        assert_eq!(s["updateStrategy"]["rollingUpdate"]["maxSurge"], 0);
        let ps = &s["template"]["spec"];
        assert_eq!(ps["serviceAccount"], "sa");
        assert_eq!(ps["dnsPolicy"], "ClusterFirst");
        let c = &ps["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c["readinessProbe"]["periodSeconds"], 5, "set values stay");
        assert_eq!(c["readinessProbe"]["httpGet"]["scheme"], "HTTP");
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(ps["volumes"][0]["hostPath"]["type"], "");
        assert_eq!(ds["status"]["numberReady"], 0);
    }

    #[test]
    fn latest_or_untagged_images_are_pulled_always() {
        for (image, want) in [
            ("busybox", "Always"),
            ("busybox:latest", "Always"),
            ("localhost:5000/busybox", "Always"),
            ("localhost:5000/busybox:1", "IfNotPresent"),
            ("quay.io/a/b@sha256:00", "IfNotPresent"),
        ] {
            let mut c = json!({"image": image});
            container(&mut c);
            assert_eq!(c["imagePullPolicy"], want, "{image}");
        }
    }
}
