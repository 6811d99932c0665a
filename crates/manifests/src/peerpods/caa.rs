//! cloud-api-adaptor: its ServiceAccount and RBAC (`templates/rbac.yaml`), the Secrets and
//! `peer-pods-cm` (`templates/secrets.yaml`, `templates/configmap.yaml`) and the DaemonSet
//! (`templates/daemonset.yaml`) of the peerpods chart.

use std::collections::BTreeMap;

use cococtl_profile::peerpods::{PeerPods, SecretsMode, CONFIG_MAP, TLS_SECRET};
use cococtl_profile::Config;
use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapEnvSource, Container, EnvFromSource, EnvVar, EnvVarSource,
    HTTPGetAction, HostPathVolumeSource, ObjectFieldSelector, PodSpec, PodTemplateSpec, Probe,
    ProjectedVolumeSource, Secret, SecretEnvSource, SecretVolumeSource, SecurityContext,
    ServiceAccount, ServiceAccountTokenProjection, Volume, VolumeMount, VolumeProjection,
};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{meta_cluster, meta_in, rule, strings};
use crate::Object;

const NAME: &str = "cloud-api-adaptor";

/// The chart's labels on its ConfigMap and Secrets; `instance` and `managed-by` name
/// cococtl's install instead of a Helm release (docs/peerpods.md#deviations).
fn chart_labels(config: &Config) -> [(&'static str, String); 3] {
    [
        ("app.kubernetes.io/name", "peerpods".to_string()),
        ("app.kubernetes.io/instance", config.release_name.clone()),
        ("app.kubernetes.io/managed-by", "cococtl".to_string()),
    ]
}

fn labelled(config: &Config, ns: &str, name: &str) -> ObjectMeta {
    let l = chart_labels(config);
    let pairs: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
    meta_in(config, ns, name, &pairs)
}

fn subject(pp: &PeerPods) -> Vec<Subject> {
    vec![Subject {
        kind: "ServiceAccount".into(),
        name: NAME.into(),
        namespace: Some(pp.namespace.clone()),
        api_group: None,
    }]
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: "rbac.authorization.k8s.io".into(),
        kind: kind.into(),
        name: name.into(),
    }
}

/// ServiceAccount `cloud-api-adaptor`, its six ClusterRoles with bindings and the
/// namespaced `pp-secrets` Role.
pub fn rbac(config: &Config, pp: &PeerPods) -> Vec<Object> {
    let mut sa_meta = meta_in(config, &pp.namespace, NAME, &[]);
    if !pp.service_account_annotations.is_empty() {
        sa_meta.annotations = Some(pp.service_account_annotations.clone());
    }
    let mut out = vec![Object::new(ServiceAccount {
        metadata: sa_meta,
        ..Default::default()
    })];
    let cluster_roles = [
        (
            "pod-viewer",
            vec![
                rule(&[""], &["pods"], &[], &["get", "list"]),
                rule(&[""], &["secrets"], &[], &["get", "list"]),
                rule(&[""], &["serviceaccounts"], &[], &["get", "list"]),
            ],
        ),
        (
            "peerpod-editor",
            vec![rule(
                &["confidentialcontainers.org"],
                &["peerpods"],
                &[],
                &["create", "patch", "update"],
            )],
        ),
        ("node-viewer", vec![rule(&[""], &["nodes"], &[], &["get"])]),
        (
            "node-status-patcher",
            vec![rule(&[""], &["nodes/status"], &[], &["patch"])],
        ),
        (
            "cm-editor",
            vec![
                rule(&[""], &["configmaps"], &[], &["create"]),
                rule(
                    &[""],
                    &["configmaps"],
                    &["byom-ip-pool-state"],
                    &["delete", "patch", "update", "get", "watch"],
                ),
            ],
        ),
    ];
    for (name, rules) in cluster_roles {
        out.push(Object::new(ClusterRole {
            metadata: meta_cluster(config, name, &[]),
            rules: Some(rules),
            aggregation_rule: None,
        }));
        out.push(Object::new(ClusterRoleBinding {
            metadata: meta_cluster(config, name, &[]),
            subjects: Some(subject(pp)),
            role_ref: role_ref("ClusterRole", name),
        }));
    }
    out.push(Object::new(Role {
        metadata: meta_in(config, &pp.namespace, "pp-secrets", &[]),
        rules: Some(vec![rule(
            &[""],
            &["secrets"],
            &[],
            &[
                "delete", "create", "patch", "update", "get", "watch", "list",
            ],
        )]),
    }));
    out.push(Object::new(RoleBinding {
        metadata: meta_in(config, &pp.namespace, "pp-secrets", &[]),
        subjects: Some(subject(pp)),
        role_ref: role_ref("Role", "pp-secrets"),
    }));
    out
}

/// A block-scalar value as the chart writes it (`key: |` + the text indented): the text
/// with its trailing newlines folded into exactly one.
fn block(text: &str) -> String {
    let mut s = text.trim_end_matches('\n').to_string();
    s.push('\n');
    s
}

fn secret(config: &Config, pp: &PeerPods, name: &str, data: BTreeMap<String, String>) -> Object {
    Object::new(Secret {
        metadata: labelled(config, &pp.namespace, name),
        type_: Some("Opaque".into()),
        // The chart's template renders `stringData:` with no entries (null) when empty.
        string_data: (!data.is_empty()).then_some(data),
        ..Default::default()
    })
}

/// Create mode: `ssh-key-secret` (libvirt, byom, when a key is given), `peer-pods-secret`
/// (always, maybe empty) and `certs-for-tls` (when certificates are given); then
/// `peer-pods-cm`.
pub fn config(config: &Config, pp: &PeerPods) -> Vec<Object> {
    let mut out = vec![];
    if pp.mode == SecretsMode::Create {
        if pp.provider.uses_ssh_keys() && !pp.ssh_keys.is_empty() {
            let data = pp
                .ssh_keys
                .iter()
                .map(|(k, v)| (k.clone(), block(v)))
                .collect();
            out.push(secret(
                config,
                pp,
                cococtl_profile::peerpods::SSH_KEY_SECRET,
                data,
            ));
        }
        out.push(secret(
            config,
            pp,
            cococtl_profile::peerpods::CREDENTIALS_SECRET,
            pp.credentials.clone(),
        ));
        if pp.tls_certs.any() {
            let mut data = BTreeMap::new();
            for (k, v) in [
                ("ca.crt", &pp.tls_certs.ca_cert),
                ("client.crt", &pp.tls_certs.client_cert),
                ("client.key", &pp.tls_certs.client_key),
            ] {
                if !v.is_empty() {
                    data.insert(k.to_string(), block(v));
                }
            }
            out.push(secret(config, pp, TLS_SECRET, data));
        }
    }
    out.push(Object::new(ConfigMap {
        metadata: labelled(config, &pp.namespace, CONFIG_MAP),
        data: Some(pp.config.clone()),
        ..Default::default()
    }));
    out
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: path.into(),
            }),
            ..Default::default()
        }),
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..Default::default()
    }
}

fn host_path(name: &str, path: &str, type_: Option<&str>) -> Volume {
    Volume {
        name: name.into(),
        host_path: Some(HostPathVolumeSource {
            path: path.into(),
            type_: type_.map(str::to_string),
        }),
        ..Default::default()
    }
}

fn secret_volume(name: &str, secret: &str) -> Volume {
    Volume {
        name: name.into(),
        secret: Some(SecretVolumeSource {
            default_mode: Some(384),
            optional: Some(true),
            secret_name: Some(secret.into()),
            items: None,
        }),
        ..Default::default()
    }
}

/// The CAA container's own env: what the released chart passes, plus `proxy.*` so the
/// cloud API calls and image downloads it makes leave through the proxy
/// (docs/values.md#proxy).
fn caa_env(config: &Config) -> Vec<EnvVar> {
    // The released chart passes only NODE_NAME (POD_UID came after v0.22.0).
    let mut env = vec![field_env("NODE_NAME", "spec.nodeName")];
    env.extend(
        config
            .proxy
            .env()
            .into_iter()
            .map(|(k, v)| crate::meta::env(k, v)),
    );
    env
}

/// `cloud-api-adaptor-daemonset`.
pub fn daemonset(config: &Config, pp: &PeerPods) -> Object {
    let app = BTreeMap::from([("app".to_string(), NAME.to_string())]);
    let mut pod_labels = app.clone();
    pod_labels.extend(pp.pod_labels.clone());

    let mut env_from = vec![];
    if let Some(s) = super::credentials_secret(pp) {
        env_from.push(EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: s.into(),
                optional: None,
            }),
            ..Default::default()
        });
    }
    env_from.push(EnvFromSource {
        config_map_ref: Some(ConfigMapEnvSource {
            name: CONFIG_MAP.into(),
            optional: None,
        }),
        ..Default::default()
    });

    let ssh = pp
        .ssh_key_secret
        .as_deref()
        .filter(|_| pp.provider.uses_ssh_keys());
    let ibm = pp.provider == cococtl_profile::peerpods::Provider::Ibmcloud;
    let mut mounts = vec![];
    let mut volumes = vec![];
    if let Some(s) = ssh {
        mounts.push(mount("ssh", "/root/.ssh/", true));
        volumes.push(secret_volume("ssh", s));
    }
    if let Some(t) = &pp.tls_secret {
        mounts.push(mount("certs", "/etc/certificates", true));
        volumes.push(secret_volume("certs", t));
    }
    mounts.push(mount("pods-dir", "/run/peerpod", false));
    mounts.push(VolumeMount {
        mount_propagation: Some("HostToContainer".into()),
        ..mount("netns", "/run/netns", false)
    });
    mounts.push(mount("xtables-lock", "/run/xtables.lock", false));
    mounts.push(mount("lib-modules", "/lib/modules", true));
    mounts.push(mount(
        "kata-direct-volumes-dir",
        "/run/kata-containers/shared/direct-volumes",
        false,
    ));
    if ibm {
        mounts.push(mount("vault-token", "/var/run/secrets/tokens", false));
    }
    volumes.push(host_path("pods-dir", "/run/peerpod", None));
    volumes.push(host_path("netns", "/run/netns", None));
    volumes.push(host_path(
        "xtables-lock",
        "/run/xtables.lock",
        Some("FileOrCreate"),
    ));
    volumes.push(host_path("lib-modules", "/lib/modules", Some("")));
    volumes.push(host_path(
        "kata-direct-volumes-dir",
        "/run/kata-containers/shared/direct-volumes",
        Some("DirectoryOrCreate"),
    ));
    if ibm {
        volumes.push(Volume {
            name: "vault-token".into(),
            projected: Some(ProjectedVolumeSource {
                sources: Some(vec![VolumeProjection {
                    service_account_token: Some(ServiceAccountTokenProjection {
                        path: "vault-token".into(),
                        expiration_seconds: Some(3600),
                        audience: Some("iam".into()),
                    }),
                    ..Default::default()
                }]),
                default_mode: None,
            }),
            ..Default::default()
        });
    }

    let container = Container {
        name: "cloud-api-adaptor-con".into(),
        command: Some(strings(&["/usr/local/bin/entrypoint.sh"])),
        env: Some(caa_env(config)),
        env_from: Some(env_from),
        image: Some(pp.image.reference.clone()),
        image_pull_policy: Some(pp.image.pull_policy.clone()),
        security_context: Some(SecurityContext {
            capabilities: Some(Capabilities {
                add: Some(strings(&["NET_ADMIN", "SYS_ADMIN"])),
                drop: None,
            }),
            ..Default::default()
        }),
        startup_probe: Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/startup".into()),
                port: IntOrString::Int(8000),
                host: Some("127.0.0.1".into()),
                ..Default::default()
            }),
            failure_threshold: Some(30),
            period_seconds: Some(20),
            initial_delay_seconds: Some(20),
            ..Default::default()
        }),
        volume_mounts: Some(mounts),
        ..Default::default()
    };

    let mut metadata = meta_in(config, &pp.namespace, "cloud-api-adaptor-daemonset", &[]);
    metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert("app".into(), NAME.into());
    Object::new(DaemonSet {
        metadata,
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(app),
                match_expressions: None,
            },
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDaemonSet {
                    max_unavailable: Some(pp.max_unavailable.clone()),
                    max_surge: Some(pp.max_surge.clone()),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    image_pull_secrets: crate::meta::pull_secrets(config),
                    service_account_name: Some(NAME.into()),
                    containers: vec![container],
                    host_network: Some(true),
                    dns_policy: Some("ClusterFirstWithHostNet".into()),
                    node_selector: Some(BTreeMap::from([(
                        "node.kubernetes.io/worker".to_string(),
                        String::new(),
                    )])),
                    volumes: Some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    })
}
