//! The optional probe DaemonSet (`probe.enabled`, docs/values.md#probe): `cococtl node
//! probe --publish` on every node, publishing each node's TEE verdicts on its Node
//! (docs/probe-checks.md#published). The pod gets only what the probe reads, and the
//! pod template says why in an annotation, privilege by privilege.

use std::collections::BTreeMap;

use cococtl_profile::config::Probe;
use cococtl_profile::Config;
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec};
use k8s_openapi::api::core::v1::{
    Container, HostPathVolumeSource, PodSpec, PodTemplateSpec, ResourceRequirements,
    SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::kata_4_1::rbac;
use crate::meta;
use crate::Object;

/// Name of the probe's DaemonSet, ServiceAccount and ClusterRole(Binding).
pub const NAME: &str = "cococtl-probe";
/// The pod-template annotation that lists each privilege and why the probe needs it.
pub const PRIVILEGES_ANNOTATION: &str = "cococtl.confidentialcontainers.org/privileges";

/// Each privilege of the probe pod and why; rendered into [`PRIVILEGES_ANNOTATION`].
pub const PRIVILEGES: &[(&str, &str)] = &[
    ("privileged", "opening host device nodes (/dev/kvm for read-only KVM ioctls, /dev/sev for SNP_PLATFORM_STATUS, /dev/cpu/*/msr for the SNP/TDX BIOS MSRs) is denied by the device cgroup to any non-privileged container; reading /dev/kmsg needs CAP_SYSLOG and the MSRs CAP_SYS_RAWIO. The probe never writes: the root filesystem is read-only"),
    ("hostPath /var/lib/kubelet (read-only)", "the kubelet configuration (KubeletPodResourcesGet, needed to hand GPUs to Kata pods)"),
    ("nodes get, patch", "publishes the verdict labels and the summary annotation on its own Node"),
];

/// The probe's objects: RBAC, then the DaemonSet.
pub struct Objects {
    /// ServiceAccount, ClusterRole, ClusterRoleBinding.
    pub rbac: Vec<Object>,
    /// The DaemonSet.
    pub workloads: Vec<Object>,
}

/// The probe's objects for `p`.
pub fn objects(c: &Config, p: &Probe) -> Objects {
    let labels = meta::labels([("name", NAME)]);
    let mut command: Vec<String> = [
        "/cococtl",
        "node",
        "probe",
        "--publish",
        "--interval",
        &p.interval,
    ]
    .map(String::from)
    .to_vec();
    if p.tee_labels {
        command.push("--tee-labels".into());
    }
    let privileges = PRIVILEGES
        .iter()
        .map(|(what, why)| format!("{what}: {why}"))
        .collect::<Vec<_>>()
        .join("\n");
    let container = Container {
        name: "probe".into(),
        image: Some(p.image.clone()),
        image_pull_policy: Some(p.image_pull_policy.clone()),
        command: Some(command),
        env: Some(vec![meta::node_name_env()]),
        security_context: Some(SecurityContext {
            privileged: Some(true),
            read_only_root_filesystem: Some(true),
            ..Default::default()
        }),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity("10m".into())),
                ("memory".to_string(), Quantity("32Mi".into())),
            ])),
            limits: Some(BTreeMap::from([(
                "memory".to_string(),
                Quantity("128Mi".into()),
            )])),
            ..Default::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "kubelet".into(),
            mount_path: "/var/lib/kubelet".into(),
            read_only: Some(true),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let ds = DaemonSet {
        metadata: meta::namespaced(c, NAME),
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations: Some(BTreeMap::from([(
                        PRIVILEGES_ANNOTATION.to_string(),
                        privileges,
                    )])),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(NAME.into()),
                    node_selector: Some(p.node_selector.clone()).filter(|s| !s.is_empty()),
                    tolerations: Some(p.tolerations.clone()).filter(|t| !t.is_empty()),
                    termination_grace_period_seconds: Some(10),
                    containers: vec![container],
                    volumes: Some(vec![Volume {
                        name: "kubelet".into(),
                        host_path: Some(HostPathVolumeSource {
                            path: "/var/lib/kubelet".into(),
                            type_: Some("Directory".into()),
                        }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    };
    Objects {
        // Publishes its verdicts on its own Node.
        rbac: rbac::node_reporter(c, NAME),
        workloads: vec![Object::new(ds)],
    }
}
