//! The optional probe DaemonSet (`probe.enabled`, docs/values.md#probe): `cococtl node
//! probe --publish` on every node, publishing each node's TEE verdicts on its Node
//! (docs/probe-checks.md#published). The pod gets only what the probe reads, and the
//! pod template says why in an annotation, privilege by privilege.

use std::collections::BTreeMap;

use cococtl_profile::config::Probe;
use cococtl_profile::Config;
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Container, EnvVar, HostPathVolumeSource, LocalObjectReference, PodSpec,
    PodTemplateSpec, ResourceRequirements, SecurityContext, Toleration, Volume, VolumeMount,
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
    ("hostPath /usr, /bin, /sbin at /host/usr, /host/bin, /host/sbin (read-only)", "the host's programs the probe reads as bytes, never runs: mkfs.erofs for its version and options (erofs.mkfs)"),
    ("nodes get, patch", "publishes the verdict labels and the summary annotation on its own Node"),
];

/// The host directories mounted read-only under [`HOST_PROGRAMS`] (systemd's service
/// `PATH` lies in them; on a merged-/usr host /bin and /sbin are links the mount follows).
pub const HOST_PROGRAM_DIRS: [&str; 3] = ["usr", "bin", "sbin"];
/// Where the probe pod sees the host's programs (`cococtl node probe --host-programs`).
pub const HOST_PROGRAMS: &str = "/host";

/// The probe's objects: RBAC, then the DaemonSet.
pub struct Objects {
    /// ServiceAccount, ClusterRole, ClusterRoleBinding.
    pub rbac: Vec<Object>,
    /// The DaemonSet.
    pub workloads: Vec<Object>,
}

/// How one probe DaemonSet is built: the installed one, or `cococtl check`'s.
struct Spec<'a> {
    meta: ObjectMeta,
    name: &'a str,
    image: &'a str,
    pull_policy: &'a str,
    command: Vec<String>,
    env: Vec<EnvVar>,
    node_selector: BTreeMap<String, String>,
    affinity: Option<Affinity>,
    tolerations: Vec<Toleration>,
    pull_secrets: Option<Vec<LocalObjectReference>>,
}

fn daemonset(s: Spec<'_>) -> DaemonSet {
    let labels = meta::labels([("name", s.name)]);
    let privileges = PRIVILEGES
        .iter()
        .map(|(what, why)| format!("{what}: {why}"))
        .collect::<Vec<_>>()
        .join("\n");
    let container = Container {
        name: "probe".into(),
        image: Some(s.image.to_string()),
        image_pull_policy: Some(s.pull_policy.to_string()),
        // The flag goes with the mounts below.
        command: Some(
            s.command
                .into_iter()
                .chain(["--host-programs".to_string(), HOST_PROGRAMS.to_string()])
                .collect(),
        ),
        env: Some(s.env),
        security_context: Some(SecurityContext {
            privileged: Some(true),
            read_only_root_filesystem: Some(true),
            ..Default::default()
        }),
        // From the measurement (docs/node-agent.md#idle): 4.7 MiB resident between probes,
        // 13 MiB at the peak of one.
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity("10m".into())),
                ("memory".to_string(), Quantity("16Mi".into())),
            ])),
            limits: Some(BTreeMap::from([(
                "memory".to_string(),
                Quantity("128Mi".into()),
            )])),
            ..Default::default()
        }),
        volume_mounts: Some(
            std::iter::once(VolumeMount {
                name: "kubelet".into(),
                mount_path: "/var/lib/kubelet".into(),
                read_only: Some(true),
                ..Default::default()
            })
            .chain(HOST_PROGRAM_DIRS.iter().map(|d| VolumeMount {
                name: format!("host-{d}"),
                mount_path: format!("{HOST_PROGRAMS}/{d}"),
                read_only: Some(true),
                ..Default::default()
            }))
            .collect(),
        ),
        ..Default::default()
    };
    DaemonSet {
        metadata: s.meta,
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
                    image_pull_secrets: s.pull_secrets,
                    service_account_name: Some(s.name.into()),
                    node_selector: Some(s.node_selector).filter(|n| !n.is_empty()),
                    affinity: s.affinity,
                    tolerations: Some(s.tolerations).filter(|t| !t.is_empty()),
                    termination_grace_period_seconds: Some(10),
                    containers: vec![container],
                    volumes: Some(
                        std::iter::once(("kubelet".to_string(), "/var/lib/kubelet".to_string()))
                            .chain(
                                HOST_PROGRAM_DIRS
                                    .iter()
                                    .map(|d| (format!("host-{d}"), format!("/{d}"))),
                            )
                            .map(|(name, path)| Volume {
                                name,
                                host_path: Some(HostPathVolumeSource {
                                    path,
                                    type_: Some("Directory".into()),
                                }),
                                ..Default::default()
                            })
                            .collect(),
                    ),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

/// The probe's objects for `p`.
pub fn objects(c: &Config, p: &Probe) -> Objects {
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
    let ds = daemonset(Spec {
        meta: meta::namespaced(c, NAME),
        name: NAME,
        image: &p.image,
        pull_policy: &p.image_pull_policy,
        command,
        env: vec![meta::node_name_env()],
        node_selector: p.node_selector.clone(),
        affinity: None,
        tolerations: p.tolerations.clone(),
        pull_secrets: meta::pull_secrets(c),
    });
    Objects {
        // Publishes its verdicts on its own Node.
        rbac: rbac::node_reporter(c, NAME),
        workloads: vec![Object::new(ds)],
    }
}

/// Name of `cococtl check`'s namespace, ServiceAccount, ClusterRole(Binding), DaemonSet.
pub const CHECK_NAME: &str = "cococtl-check";

/// What `cococtl check` applies for one run, in apply order (and removes, in reverse,
/// afterwards): its own privileged namespace, identity and a probe DaemonSet pinned to
/// exactly `nodes`, marking its summaries with `run`.
pub fn check_objects(image: &str, run: &str, nodes: &[String]) -> Vec<Object> {
    check_objects_pulling(image, &[], run, nodes)
}

/// [`check_objects`], the probe pods pulling `image` with the Secrets `pull_secrets`
/// (a mirror that needs credentials).
pub fn check_objects_pulling(
    image: &str,
    pull_secrets: &[String],
    run: &str,
    nodes: &[String],
) -> Vec<Object> {
    use k8s_openapi::api::core::v1::{
        Namespace, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
        ServiceAccount,
    };
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleRef, Subject};
    let owned = meta::labels([
        ("app.kubernetes.io/managed-by", "cococtl"),
        (cococtl_core::labels::INSTANCE, "check"),
    ]);
    let cluster_meta = ObjectMeta {
        name: Some(CHECK_NAME.into()),
        labels: Some(owned.clone()),
        ..Default::default()
    };
    let ns_meta = ObjectMeta {
        namespace: Some(CHECK_NAME.into()),
        ..cluster_meta.clone()
    };
    let mut ns_labels = owned.clone();
    for mode in ["enforce", "audit", "warn"] {
        ns_labels.insert(
            format!("pod-security.kubernetes.io/{mode}"),
            "privileged".into(),
        );
    }
    let affinity = Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_fields: Some(vec![NodeSelectorRequirement {
                        key: "metadata.name".into(),
                        operator: "In".into(),
                        values: Some(nodes.to_vec()),
                    }]),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let ds = daemonset(Spec {
        meta: ns_meta.clone(),
        name: CHECK_NAME,
        image,
        pull_policy: "IfNotPresent",
        command: ["/cococtl", "node", "probe", "--publish", "--interval", "1h"]
            .map(String::from)
            .to_vec(),
        env: vec![meta::node_name_env(), meta::env("COCOCTL_PROBE_RUN", run)],
        node_selector: BTreeMap::new(),
        affinity: Some(affinity),
        // Every selected node, whatever its taints: a node's readiness is the question.
        tolerations: vec![Toleration {
            operator: Some("Exists".into()),
            ..Default::default()
        }],
        pull_secrets: Some(
            pull_secrets
                .iter()
                .map(|n| LocalObjectReference { name: n.clone() })
                .collect::<Vec<_>>(),
        )
        .filter(|s| !s.is_empty()),
    });
    vec![
        Object::new(Namespace {
            metadata: ObjectMeta {
                labels: Some(ns_labels),
                ..cluster_meta.clone()
            },
            ..Default::default()
        }),
        Object::new(ServiceAccount {
            metadata: ns_meta,
            ..Default::default()
        }),
        Object::new(ClusterRole {
            metadata: cluster_meta.clone(),
            rules: Some(vec![rbac::rule("", &["nodes"], &["get", "patch"])]),
            ..Default::default()
        }),
        Object::new(ClusterRoleBinding {
            metadata: cluster_meta,
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: CHECK_NAME.into(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: CHECK_NAME.into(),
                namespace: Some(CHECK_NAME.into()),
                ..Default::default()
            }]),
        }),
        Object::new(ds),
    ]
}
