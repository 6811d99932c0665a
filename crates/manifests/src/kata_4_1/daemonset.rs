//! The kata-deploy 4.1.0 DaemonSet (docs/kata-deploy-contract.md#daemonset).

use std::collections::BTreeMap;

use cococtl_core::labels;
use cococtl_profile::config::ProbeTiming;
use cococtl_profile::Config;
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec};
use k8s_openapi::api::core::v1::{
    Affinity, ConfigMap, Container, HTTPGetAction, NodeAffinity, NodeSelector,
    NodeSelectorRequirement, NodeSelectorTerm, PodSpec, PodTemplateSpec, Probe, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest, Sha256};

use super::{config_maps, env, names, volumes};
use crate::meta;
use crate::Object;

/// The cleanup on SIGTERM restarts the container runtime and waits for the node to be
/// Ready again; the chart gives it ten minutes.
const GRACE_SECONDS: i64 = 600;

fn probe(c: &Config, path: &str, t: ProbeTiming) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(c.health.port.into()),
            ..Default::default()
        }),
        initial_delay_seconds: t.initial_delay_seconds,
        period_seconds: Some(t.period_seconds),
        failure_threshold: Some(t.failure_threshold),
        timeout_seconds: Some(t.timeout_seconds),
        ..Default::default()
    }
}

/// `--log-level` comes from `logLevel`, else `debug` when `debug: true`.
fn command(c: &Config) -> Vec<String> {
    let mut cmd = vec!["/usr/bin/kata-deploy".to_string()];
    let level = c
        .log_level
        .clone()
        .or_else(|| c.debug.then(|| "debug".to_string()));
    if let Some(l) = level {
        cmd.push("--log-level".into());
        cmd.push(l);
    }
    cmd.push("install".into());
    cmd
}

/// The SHA-256 of a ConfigMap as `cococtl render` prints it: the same [`Object::to_yaml`]
/// text the YAML stream holds for it (after its `---` line). The chart hashes its rendered
/// template the same way.
pub fn config_map_checksum(cm: ConfigMap) -> String {
    hex::encode(Sha256::digest(Object::new(cm).to_yaml().as_bytes()))
}

/// `podAnnotations`, then a checksum per mounted ConfigMap, so a changed drop-in rolls the
/// pods. As in the chart (`kata-deploy.configMapChecksumAnnotations`), a checksum is set
/// only when its ConfigMap is rendered, and after `podAnnotations`, so a user's
/// `checksum/*` key cannot disable the roll.
fn checksum_annotations(c: &Config) -> BTreeMap<String, String> {
    let mut a = c.pod_annotations.clone();
    if let Some(cm) = config_maps::user_drop_in(c) {
        a.insert(
            "checksum/containerd-user-dropin".into(),
            config_map_checksum(cm),
        );
    }
    if let Some(cm) = config_maps::custom_configs(c) {
        a.insert("checksum/custom-configs".into(), config_map_checksum(cm));
    }
    a
}

/// Adds "only on nodes where the cococtl containerd agent reported ready" to every
/// required node-selector term (terms are OR-ed, so each needs it).
fn wait_for_containerd(affinity: Option<Affinity>) -> Affinity {
    let ready = NodeSelectorRequirement {
        key: labels::CONTAINERD_STATE.into(),
        operator: "In".into(),
        values: Some(vec![labels::CONTAINERD_READY.into()]),
    };
    let mut a = affinity.unwrap_or_default();
    let na = a.node_affinity.get_or_insert_with(NodeAffinity::default);
    let req = na
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(|| NodeSelector {
            node_selector_terms: vec![],
        });
    if req.node_selector_terms.is_empty() {
        req.node_selector_terms.push(NodeSelectorTerm::default());
    }
    for term in &mut req.node_selector_terms {
        term.match_expressions
            .get_or_insert_with(Vec::new)
            .push(ready.clone());
    }
    a
}

/// The kata-deploy DaemonSet; with `wait_for_agent`, its pods schedule only on nodes the
/// custom containerd agent reported ready on.
pub fn daemonset(c: &Config, wait_for_agent: bool) -> Object {
    let name = c.base_name();
    let mut pod_labels: BTreeMap<String, String> = c.pod_labels.clone();
    pod_labels.insert("name".into(), name.clone());
    let affinity = if wait_for_agent {
        Some(wait_for_containerd(c.affinity.clone()))
    } else {
        c.affinity.clone()
    };
    let container = Container {
        name: "kube-kata".into(),
        image: Some(c.image.clone()),
        image_pull_policy: Some(c.image_pull_policy.clone()),
        command: Some(command(c)),
        env: Some(env::env(c)),
        security_context: Some(SecurityContext {
            privileged: Some(false),
            read_only_root_filesystem: Some(true),
            ..Default::default()
        }),
        startup_probe: c.health.startup.map(|t| probe(c, "/readyz", t)),
        liveness_probe: c.health.liveness.map(|t| probe(c, "/healthz", t)),
        readiness_probe: c.health.readiness.map(|t| probe(c, "/readyz", t)),
        resources: Some(c.resources.clone()),
        volume_mounts: Some(volumes::volume_mounts(c)),
        ..Default::default()
    };
    let spec = PodSpec {
        image_pull_secrets: Some(c.image_pull_secrets.clone()).filter(|s| !s.is_empty()),
        service_account_name: Some(names::service_account(c)),
        node_selector: Some(c.node_selector.clone()).filter(|s| !s.is_empty()),
        tolerations: Some(c.tolerations.clone()).filter(|t| !t.is_empty()),
        priority_class_name: Some(c.priority_class_name.clone()).filter(|p| !p.is_empty()),
        affinity,
        termination_grace_period_seconds: Some(GRACE_SECONDS),
        containers: vec![container],
        volumes: Some(volumes::volumes(c)),
        ..Default::default()
    };
    let mut metadata = meta::namespaced(c, &name);
    // The chart sets no labels on the DaemonSet itself; cococtl's instance label stays.
    metadata.labels.get_or_insert_with(Default::default);
    Object::new(DaemonSet {
        metadata,
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(meta::labels([("name", name.as_str())])),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    // Left out when empty, as the chart's `if $annotations`.
                    annotations: Some(checksum_annotations(c)).filter(|a| !a.is_empty()),
                    ..Default::default()
                }),
                spec: Some(spec),
            },
            update_strategy: Some(c.update_strategy.clone()),
            ..Default::default()
        }),
        status: None,
    })
}
