//! The peer-pods webhook (the `peerpods-webhook` sub-chart, alias `webhook`) in its own
//! namespace: RBAC, the cert-manager Issuer and Certificate, the Service, the Deployment and
//! the MutatingWebhookConfiguration (applied only once the Deployment is ready).

use std::collections::BTreeMap;

use cococtl_profile::peerpods::{PeerPods, Webhook};
use cococtl_profile::Config;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ServiceReference,
    WebhookClientConfig,
};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    SecretVolumeSource, SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec,
    TCPSocketAction, Volume, VolumeMount,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::ctrl::{http_probe, https_port, leader_election_rules, role_ref};
use super::{meta_cluster, meta_in, rule, scaffold, strings, url_rule};
use crate::{Object, ResourceType};

const PART_OF: &str = "peerpods-webhook";

/// An object name: the sub-chart's `namePrefix`, then `s`.
fn n(pp: &PeerPods, s: &str) -> String {
    format!("{}{s}", pp.webhook_prefix)
}

fn subject(pp: &PeerPods) -> Vec<Subject> {
    vec![Subject {
        kind: "ServiceAccount".into(),
        name: n(pp, "controller-manager"),
        namespace: Some(pp.webhook_namespace.clone()),
        api_group: None,
    }]
}

/// ServiceAccount, manager, metrics-auth, metrics-reader and leader-election RBAC.
pub fn rbac(config: &Config, pp: &PeerPods) -> Vec<Object> {
    let ns = &pp.webhook_namespace;
    vec![
        Object::new(ServiceAccount {
            metadata: meta_in(
                config,
                ns,
                &n(pp, "controller-manager"),
                &scaffold("serviceaccount", "controller-manager", "rbac", PART_OF),
            ),
            ..Default::default()
        }),
        Object::new(ClusterRole {
            metadata: meta_cluster(config, &n(pp, "manager-role"), &[]),
            rules: Some(vec![rule(
                &[""],
                &["pods"],
                &[],
                &[
                    "create", "delete", "get", "list", "patch", "update", "watch",
                ],
            )]),
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
                ns,
                &n(pp, "leader-election-role"),
                &scaffold("role", "leader-election-role", "rbac", PART_OF),
            ),
            rules: Some(leader_election_rules()),
        }),
        Object::new(RoleBinding {
            metadata: meta_in(
                config,
                ns,
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
        Object::new(ClusterRole {
            metadata: meta_cluster(
                config,
                &n(pp, "metrics-auth-role"),
                &scaffold("clusterrole", "metrics-auth-role", "rbac", PART_OF),
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
                &n(pp, "metrics-auth-rolebinding"),
                &scaffold(
                    "clusterrolebinding",
                    "metrics-auth-rolebinding",
                    "rbac",
                    PART_OF,
                ),
            ),
            subjects: Some(subject(pp)),
            role_ref: role_ref("ClusterRole", n(pp, "metrics-auth-role")),
        }),
        Object::new(ClusterRole {
            metadata: meta_cluster(
                config,
                &n(pp, "metrics-reader"),
                &scaffold("clusterrole", "metrics-reader", "rbac", PART_OF),
            ),
            rules: Some(vec![url_rule("/metrics")]),
            aggregation_rule: None,
        }),
    ]
}

fn cert_manager(kind: &str, plural: &str) -> ResourceType {
    ResourceType {
        group: "cert-manager.io".into(),
        version: "v1".into(),
        kind: kind.into(),
        plural: plural.into(),
        namespaced: true,
    }
}

fn control_plane() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "control-plane".to_string(),
        "controller-manager".to_string(),
    )])
}

/// Issuer, Certificate, Service and Deployment, in that order (the Deployment mounts the
/// Certificate's Secret).
pub fn workloads(config: &Config, pp: &PeerPods, w: &Webhook) -> Vec<Object> {
    let ns = &pp.webhook_namespace;
    let service = n(pp, "webhook-service");
    // cert-manager kinds are not in k8s-openapi; their bodies are plain maps. The chart's
    // Helm hook annotations are dropped: the phases order them (docs/peerpods.md#deviations).
    let issuer = Object::from_parts(
        cert_manager("Issuer", "issuers"),
        &serde_json::json!({
            "metadata": meta_in(config, ns, &n(pp, "selfsigned-issuer"), &[]),
            "spec": { "selfSigned": {} },
        }),
    );
    let certificate = Object::from_parts(
        cert_manager("Certificate", "certificates"),
        &serde_json::json!({
            "metadata": meta_in(config, ns, &n(pp, "serving-cert"), &[]),
            "spec": {
                "dnsNames": [
                    format!("{service}.{ns}.svc"),
                    format!("{service}.{ns}.svc.cluster.local"),
                ],
                "issuerRef": { "kind": "Issuer", "name": n(pp, "selfsigned-issuer") },
                "secretName": "webhook-server-cert",
            },
        }),
    );
    let svc = Object::new(Service {
        metadata: meta_in(config, ns, &service, &[]),
        spec: Some(ServiceSpec {
            ports: Some(vec![
                ServicePort {
                    name: Some("https".into()),
                    port: 8443,
                    protocol: Some("TCP".into()),
                    target_port: Some(IntOrString::String("https".into())),
                    ..Default::default()
                },
                ServicePort {
                    name: Some("webhook".into()),
                    port: 443,
                    protocol: Some("TCP".into()),
                    target_port: Some(IntOrString::Int(9443)),
                    ..Default::default()
                },
            ]),
            selector: Some(control_plane()),
            ..Default::default()
        }),
        status: None,
    });
    let manager = Container {
        name: "manager".into(),
        command: Some(strings(&["/manager"])),
        args: Some(strings(&[
            "--leader-elect",
            "--health-probe-bind-address=:8081",
            "--metrics-bind-address=:8443",
        ])),
        image: Some(w.image.reference.clone()),
        image_pull_policy: Some(w.image.pull_policy.clone()),
        // The released chart's order: metrics first, then the webhook server.
        ports: Some(vec![
            https_port(8443),
            ContainerPort {
                container_port: 9443,
                name: Some("webhook-server".into()),
                protocol: Some("TCP".into()),
                ..Default::default()
            },
        ]),
        env: Some(manager_env(w)),
        liveness_probe: Some(http_probe("/healthz", 8081, 15, 20)),
        readiness_probe: Some(Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::Int(9443),
                host: None,
            }),
            initial_delay_seconds: Some(5),
            period_seconds: Some(10),
            ..Default::default()
        }),
        resources: Some(w.resources.clone()),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            ..Default::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            mount_path: "/tmp/k8s-webhook-server/serving-certs".into(),
            name: "cert".into(),
            read_only: Some(true),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let deployment = Object::new(Deployment {
        metadata: meta_in(
            config,
            ns,
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
            replicas: Some(w.replicas),
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
                    labels: Some(control_plane()),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    image_pull_secrets: crate::meta::pull_secrets(config),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        ..Default::default()
                    }),
                    containers: vec![manager],
                    service_account_name: Some(n(pp, "controller-manager")),
                    termination_grace_period_seconds: Some(10),
                    volumes: Some(vec![Volume {
                        name: "cert".into(),
                        secret: Some(SecretVolumeSource {
                            default_mode: Some(420),
                            secret_name: Some("webhook-server-cert".into()),
                            ..Default::default()
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
    let mut out = vec![];
    // The bodies are plain JSON maps built above; they always serialise.
    // Without cert-manager the user supplies Secret webhook-server-cert (and the CA bundle).
    if w.cert_manager {
        out.extend(issuer.ok());
        out.extend(certificate.ok());
    }
    out.push(svc);
    out.push(deployment);
    out
}

/// `peer-pods-webhook-mutating-webhook-configuration`.
pub fn configuration(config: &Config, pp: &PeerPods, w: &Webhook) -> Object {
    let ns = &pp.webhook_namespace;
    let mut metadata = meta_cluster(config, &n(pp, "mutating-webhook-configuration"), &[]);
    if w.cert_manager {
        metadata.annotations = Some(BTreeMap::from([(
            "cert-manager.io/inject-ca-from".to_string(),
            format!("{ns}/{}", n(pp, "serving-cert")),
        )]));
    }
    Object::new(MutatingWebhookConfiguration {
        metadata,
        webhooks: Some(vec![MutatingWebhook {
            admission_review_versions: strings(&["v1"]),
            client_config: WebhookClientConfig {
                service: Some(ServiceReference {
                    name: n(pp, "webhook-service"),
                    namespace: ns.clone(),
                    path: Some("/mutate-v1-pod".into()),
                    port: None,
                }),
                ..Default::default()
            },
            failure_policy: Some(w.failure_policy.clone()),
            name: "mwebhook.peerpods.io".into(),
            namespace_selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "kubernetes.io/metadata.name".into(),
                    operator: "NotIn".into(),
                    values: Some(vec![ns.clone(), "kube-system".into()]),
                }]),
                match_labels: None,
            }),
            reinvocation_policy: Some("IfNeeded".into()),
            rules: Some(vec![RuleWithOperations {
                api_groups: Some(strings(&[""])),
                api_versions: Some(strings(&["v1"])),
                operations: Some(strings(&["CREATE"])),
                resources: Some(strings(&["pods"])),
                scope: Some("Namespaced".into()),
            }]),
            side_effects: "None".into(),
            ..Default::default()
        }]),
    })
}

/// The manager's env as the sub-chart writes it: the TLS settings only when given.
fn manager_env(w: &Webhook) -> Vec<k8s_openapi::api::core::v1::EnvVar> {
    let mut env = vec![
        crate::meta::env("TARGET_RUNTIMECLASS", w.target_runtime_class.clone()),
        crate::meta::env(
            "POD_VM_EXTENDED_RESOURCE",
            w.pod_vm_extended_resource.clone(),
        ),
    ];
    if !w.tls_min_version.is_empty() {
        env.push(crate::meta::env(
            "TLS_MIN_VERSION",
            w.tls_min_version.clone(),
        ));
    }
    if !w.tls_cipher_suites.is_empty() {
        env.push(crate::meta::env(
            "TLS_CIPHER_SUITES",
            w.tls_cipher_suites.clone(),
        ));
    }
    env
}
