//! peerpod-ctrl (the `peerpodctrl` sub-chart, alias `resourceCtrl`): RBAC, the metrics
//! Service and the Deployment with its kube-rbac-proxy sidecar. It reaps cloud VMs whose
//! pod is gone, with the provider credentials CAA has (docs/peerpods.md#fixed-secret-names).

use std::collections::BTreeMap;

use cococtl_profile::peerpods::{
    PeerPods, ResourceCtrl, CONFIG_MAP, CREDENTIALS_SECRET, SSH_KEY_SECRET,
};
use cococtl_profile::Config;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMapEnvSource, Container, ContainerPort, EnvFromSource, EnvVar,
    EnvVarSource, HTTPGetAction, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SecretEnvSource, SecretVolumeSource, SecurityContext, Service,
    ServiceAccount, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{meta_cluster, meta_in, rule, scaffold, strings, url_rule};
use crate::Object;

const PART_OF: &str = "peerpodctrl";

/// An object name: the sub-chart's `namePrefix`, then `s`.
fn n(pp: &PeerPods, s: &str) -> String {
    format!("{}{s}", pp.ctrl_prefix)
}

fn subject(pp: &PeerPods) -> Vec<Subject> {
    vec![Subject {
        kind: "ServiceAccount".into(),
        name: n(pp, "controller-manager"),
        namespace: Some(pp.namespace.clone()),
        api_group: None,
    }]
}

pub(super) fn role_ref(kind: &str, name: String) -> RoleRef {
    RoleRef {
        api_group: "rbac.authorization.k8s.io".into(),
        kind: kind.into(),
        name,
    }
}

/// The leader-election rules both sub-charts share.
pub(super) fn leader_election_rules() -> Vec<k8s_openapi::api::rbac::v1::PolicyRule> {
    let all = &[
        "get", "list", "watch", "create", "update", "patch", "delete",
    ];
    vec![
        rule(&[""], &["configmaps"], &[], all),
        rule(&["coordination.k8s.io"], &["leases"], &[], all),
        rule(&[""], &["events"], &[], &["create", "patch"]),
    ]
}

/// ServiceAccount, manager, proxy, metrics-reader and leader-election RBAC.
pub fn rbac(config: &Config, pp: &PeerPods) -> Vec<Object> {
    let rc = pp.resource_ctrl.as_ref();
    let mut sa = meta_in(
        config,
        &pp.namespace,
        &n(pp, "controller-manager"),
        &scaffold("serviceaccount", "controller-manager", "rbac", PART_OF),
    );
    if let Some(a) = rc
        .map(|r| &r.service_account_annotations)
        .filter(|a| !a.is_empty())
    {
        sa.annotations = Some(a.clone());
    }
    let mut out = vec![
        Object::new(ServiceAccount {
            metadata: sa,
            ..Default::default()
        }),
        Object::new(ClusterRole {
            metadata: meta_cluster(config, &n(pp, "manager-role"), &[]),
            rules: Some(vec![
                rule(
                    &[""],
                    &["configmaps"],
                    &["byom-ip-pool-state"],
                    &["get", "patch", "update"],
                ),
                rule(
                    &[""],
                    &["configmaps", "secrets"],
                    &[CONFIG_MAP, CREDENTIALS_SECRET],
                    &["get"],
                ),
                rule(
                    &["confidentialcontainers.org"],
                    &["peerpods"],
                    &[],
                    &[
                        "create", "delete", "get", "list", "patch", "update", "watch",
                    ],
                ),
                rule(
                    &["confidentialcontainers.org"],
                    &["peerpods/finalizers"],
                    &[],
                    &["update"],
                ),
                rule(
                    &["confidentialcontainers.org"],
                    &["peerpods/status"],
                    &[],
                    &["get", "patch", "update"],
                ),
            ]),
            aggregation_rule: None,
        }),
        Object::new(ClusterRoleBinding {
            metadata: meta_cluster(
                config,
                &n(pp, "manager-rolebinding"),
                &scaffold("clusterrolebinding", "manager-rolebinding", "rbac", PART_OF),
            ),
            subjects: Some(subject(pp)),
            role_ref: role_ref("ClusterRole", n(pp, "manager-role")),
        }),
        Object::new(Role {
            metadata: meta_in(
                config,
                &pp.namespace,
                &n(pp, "leader-election-role"),
                &scaffold("role", "leader-election-role", "rbac", PART_OF),
            ),
            rules: Some(leader_election_rules()),
        }),
        Object::new(RoleBinding {
            metadata: meta_in(
                config,
                &pp.namespace,
                &n(pp, "leader-election-rolebinding"),
                &scaffold(
                    "rolebinding",
                    "leader-election-rolebinding",
                    "rbac",
                    PART_OF,
                ),
            ),
            subjects: Some(subject(pp)),
            role_ref: role_ref("Role", n(pp, "leader-election-role")),
        }),
    ];
    // kube-rbac-proxy's own RBAC goes with it (resourceCtrl.authProxy.enabled).
    if rc.is_some_and(|r| r.auth_proxy) {
        out.extend([
            Object::new(ClusterRole {
                metadata: meta_cluster(
                    config,
                    &n(pp, "proxy-role"),
                    &scaffold("clusterrole", "proxy-role", "kube-rbac-proxy", PART_OF),
                ),
                rules: Some(vec![
                    rule(
                        &["authentication.k8s.io"],
                        &["tokenreviews"],
                        &[],
                        &["create"],
                    ),
                    rule(
                        &["authorization.k8s.io"],
                        &["subjectaccessreviews"],
                        &[],
                        &["create"],
                    ),
                ]),
                aggregation_rule: None,
            }),
            Object::new(ClusterRoleBinding {
                metadata: meta_cluster(
                    config,
                    &n(pp, "proxy-rolebinding"),
                    &scaffold(
                        "clusterrolebinding",
                        "proxy-rolebinding",
                        "kube-rbac-proxy",
                        PART_OF,
                    ),
                ),
                subjects: Some(subject(pp)),
                role_ref: role_ref("ClusterRole", n(pp, "proxy-role")),
            }),
            Object::new(ClusterRole {
                metadata: meta_cluster(
                    config,
                    &n(pp, "metrics-reader"),
                    &scaffold("clusterrole", "metrics-reader", "kube-rbac-proxy", PART_OF),
                ),
                rules: Some(vec![url_rule("/metrics")]),
                aggregation_rule: None,
            }),
        ]);
    }
    out
}

pub(super) fn resources(
    limit_cpu: &str,
    limit_mem: &str,
    req_cpu: &str,
    req_mem: &str,
) -> ResourceRequirements {
    let q = |s: &str| Quantity(s.to_string());
    ResourceRequirements {
        limits: Some(BTreeMap::from([
            ("cpu".into(), q(limit_cpu)),
            ("memory".into(), q(limit_mem)),
        ])),
        requests: Some(BTreeMap::from([
            ("cpu".into(), q(req_cpu)),
            ("memory".into(), q(req_mem)),
        ])),
        claims: None,
    }
}

pub(super) fn http_probe(path: &str, port: i32, delay: i32, period: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(port),
            ..Default::default()
        }),
        initial_delay_seconds: Some(delay),
        period_seconds: Some(period),
        ..Default::default()
    }
}

pub(super) fn https_port(port: i32) -> ContainerPort {
    ContainerPort {
        container_port: port,
        name: Some("https".into()),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

fn control_plane() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "control-plane".to_string(),
        "controller-manager".to_string(),
    )])
}

/// The metrics Service and the Deployment.
pub fn workloads(config: &Config, pp: &PeerPods, rc: &ResourceCtrl) -> Vec<Object> {
    let service = Object::new(Service {
        metadata: meta_in(
            config,
            &pp.namespace,
            &n(pp, "controller-manager-metrics-service"),
            &[
                ("app.kubernetes.io/component", "kube-rbac-proxy"),
                ("app.kubernetes.io/created-by", PART_OF),
                (
                    "app.kubernetes.io/instance",
                    "controller-manager-metrics-service",
                ),
                ("app.kubernetes.io/name", "service"),
                ("app.kubernetes.io/part-of", PART_OF),
                ("control-plane", "controller-manager"),
            ],
        ),
        spec: Some(ServiceSpec {
            ports: Some(vec![ServicePort {
                name: Some("https".into()),
                port: 8443,
                protocol: Some("TCP".into()),
                target_port: Some(IntOrString::String("https".into())),
                ..Default::default()
            }]),
            selector: Some(control_plane()),
            ..Default::default()
        }),
        status: None,
    });

    let proxy = Container {
        name: "kube-rbac-proxy".into(),
        image: Some(rc.auth_proxy_image.clone()),
        args: Some(strings(&[
            "--secure-listen-address=0.0.0.0:8443",
            "--upstream=http://127.0.0.1:8080/",
            "--logtostderr=true",
            "--v=0",
        ])),
        ports: Some(vec![https_port(8443)]),
        resources: Some(resources("500m", "128Mi", "5m", "64Mi")),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                add: None,
                drop: Some(strings(&["ALL"])),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    // Upstream hard-codes peer-pods-secret / ssh-key-secret; cococtl gives peerpod-ctrl the
    // Secrets CAA uses (docs/peerpods.md#fixed-secret-names).
    let creds = pp
        .credentials_secret
        .clone()
        .unwrap_or_else(|| CREDENTIALS_SECRET.to_string());
    let ssh = pp
        .ssh_key_secret
        .clone()
        .unwrap_or_else(|| SSH_KEY_SECRET.to_string());
    let manager = Container {
        name: "manager".into(),
        command: Some(strings(&["/manager"])),
        args: Some(strings(&[
            "--health-probe-bind-address=:8081",
            "--metrics-bind-address=127.0.0.1:8080",
            "--leader-elect",
        ])),
        image: Some(rc.image.reference.clone()),
        image_pull_policy: Some(rc.image.pull_policy.clone()),
        env: Some(vec![EnvVar {
            name: "PEERPODS_NAMESPACE".into(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version: None,
                    field_path: "metadata.namespace".into(),
                }),
                ..Default::default()
            }),
        }]),
        env_from: Some(vec![
            EnvFromSource {
                secret_ref: Some(SecretEnvSource {
                    name: creds,
                    optional: Some(true),
                }),
                ..Default::default()
            },
            EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource {
                    name: CONFIG_MAP.into(),
                    optional: Some(true),
                }),
                ..Default::default()
            },
        ]),
        liveness_probe: Some(http_probe("/healthz", 8081, 15, 20)),
        readiness_probe: Some(http_probe("/readyz", 8081, 5, 10)),
        resources: Some(resources("500m", "128Mi", "10m", "64Mi")),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            ..Default::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            mount_path: "/root/.ssh/".into(),
            name: "ssh".into(),
            read_only: Some(true),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let req = |key: &str, values: &[&str]| NodeSelectorRequirement {
        key: key.into(),
        operator: "In".into(),
        values: Some(strings(values)),
    };
    let mut pod_labels = control_plane();
    pod_labels.extend(rc.pod_labels.clone());
    let deployment = Object::new(Deployment {
        metadata: meta_in(
            config,
            &pp.namespace,
            &n(pp, "controller-manager"),
            &[
                ("app.kubernetes.io/component", "manager"),
                ("app.kubernetes.io/created-by", PART_OF),
                ("app.kubernetes.io/instance", "controller-manager"),
                ("app.kubernetes.io/name", "deployment"),
                ("app.kubernetes.io/part-of", PART_OF),
                ("control-plane", "controller-manager"),
            ],
        ),
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(control_plane()),
                match_expressions: None,
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    annotations: Some(BTreeMap::from([(
                        "kubectl.kubernetes.io/default-container".to_string(),
                        "manager".to_string(),
                    )])),
                    labels: Some(pod_labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    image_pull_secrets: crate::meta::pull_secrets(config),
                    affinity: Some(Affinity {
                        node_affinity: Some(NodeAffinity {
                            required_during_scheduling_ignored_during_execution: Some(
                                NodeSelector {
                                    node_selector_terms: vec![NodeSelectorTerm {
                                        match_expressions: Some(vec![
                                            req(
                                                "kubernetes.io/arch",
                                                &["amd64", "arm64", "ppc64le", "s390x"],
                                            ),
                                            req("kubernetes.io/os", &["linux"]),
                                        ]),
                                        match_fields: None,
                                    }],
                                },
                            ),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    containers: if rc.auth_proxy {
                        vec![proxy, manager]
                    } else {
                        vec![manager]
                    },
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(false),
                        ..Default::default()
                    }),
                    service_account_name: Some(n(pp, "controller-manager")),
                    termination_grace_period_seconds: Some(10),
                    volumes: Some(vec![Volume {
                        name: "ssh".into(),
                        secret: Some(SecretVolumeSource {
                            default_mode: Some(384),
                            optional: Some(true),
                            secret_name: Some(ssh),
                            items: None,
                        }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    });
    // The metrics Service fronts kube-rbac-proxy; without it there is nothing to serve.
    if rc.auth_proxy {
        vec![service, deployment]
    } else {
        vec![deployment]
    }
}
