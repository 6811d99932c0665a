//! The optional kata-monitor DaemonSet of the 4.1.0 chart (`monitor.enabled`,
//! docs/kata-deploy-contract.md#monitor): one pod per node serving the kata sandboxes'
//! metrics for Prometheus. The chart renders no RBAC or Service for it.

use cococtl_profile::config::Monitor;
use cococtl_profile::Config;
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, HostPathVolumeSource, PodSpec, PodTemplateSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::meta;
use crate::Object;

/// The name the chart gives it, without the multi-install suffix.
pub const NAME: &str = "kata-monitor";
/// Where the kata shims publish their sandboxes' sockets, which kata-monitor reads.
const SANDBOXES_DIR: &str = "/run/vc/sbs/";

fn host_path(name: &str, path: &str, kind: &str) -> Volume {
    Volume {
        name: name.into(),
        host_path: Some(HostPathVolumeSource {
            path: path.into(),
            type_: Some(kind.into()),
        }),
        ..Default::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(true),
        ..Default::default()
    }
}

/// `app.kubernetes.io/name: kata-monitor` and `app.kubernetes.io/instance: <release>`: the
/// chart's selector and pod labels.
fn selector(c: &Config) -> std::collections::BTreeMap<String, String> {
    let release = c.suffixed(&c.release_name);
    meta::labels([
        ("app.kubernetes.io/name", NAME),
        ("app.kubernetes.io/instance", release.as_str()),
    ])
}

fn container(c: &Config, m: &Monitor) -> Container {
    Container {
        name: NAME.into(),
        image: Some(m.image.clone()),
        // The chart reuses kata-deploy's pull policy.
        image_pull_policy: Some(c.image_pull_policy.clone()),
        security_context: Some(m.security_context.clone()),
        args: Some(vec![
            format!("-listen-address={}", m.listen_address),
            format!("-log-level={}", m.log_level),
            format!("-runtime-endpoint={}", m.runtime_endpoint),
        ]),
        ports: Some(vec![ContainerPort {
            container_port: m.port,
            ..Default::default()
        }]),
        resources: Some(m.resources.clone()),
        volume_mounts: Some(vec![
            mount("containerd-sock", &m.socket_dir),
            mount("sbs", SANDBOXES_DIR),
        ]),
        ..Default::default()
    }
}

/// The kata-monitor DaemonSet, when `monitor.enabled`. It goes where kata-deploy goes
/// (`nodeSelector`, `tolerations`, `priorityClassName`, `imagePullSecrets` of the values;
/// not `affinity`, which the chart does not give it).
pub fn daemonset(c: &Config) -> Option<Object> {
    let m = c.monitor.as_ref()?;
    let labels = selector(c);
    let mut metadata = meta::namespaced(c, NAME);
    metadata
        .labels
        .get_or_insert_with(Default::default)
        .extend(labels.clone());
    let spec = PodSpec {
        image_pull_secrets: Some(c.image_pull_secrets.clone()).filter(|s| !s.is_empty()),
        node_selector: Some(c.node_selector.clone()).filter(|s| !s.is_empty()),
        tolerations: Some(c.tolerations.clone()).filter(|t| !t.is_empty()),
        priority_class_name: Some(c.priority_class_name.clone()).filter(|p| !p.is_empty()),
        containers: vec![container(c, m)],
        termination_grace_period_seconds: Some(30),
        volumes: Some(vec![
            host_path("containerd-sock", &m.socket_dir, "Directory"),
            host_path("sbs", SANDBOXES_DIR, "DirectoryOrCreate"),
        ]),
        ..Default::default()
    };
    Some(Object::new(DaemonSet {
        metadata,
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations: Some(meta::labels([("prometheus.io/scrape", "true")])),
                    ..Default::default()
                }),
                spec: Some(spec),
            },
            ..Default::default()
        }),
        status: None,
    }))
}
