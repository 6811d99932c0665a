//! The custom containerd installer: a DaemonSet running `cococtl node containerd install` on
//! every targeted node (never a single Job: the CoCo chart's Job upgraded one node only).
//! The agent labels its node `ready` only after the new containerd passed its health gate,
//! and the kata-deploy DaemonSet requires that label, so kata-deploy on each node, including
//! nodes added later, starts only once that node's containerd is in place.

use std::collections::BTreeMap;

use cococtl_core::agent::env as agent_env;
use cococtl_profile::config::CustomContainerd;
use cococtl_profile::Config;
use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, EnvVarSource, HostPathVolumeSource, KeyToPath, ObjectFieldSelector, PodSpec,
    PodTemplateSpec, ResourceRequirements, SecretVolumeSource, SecurityContext, Volume,
    VolumeMount,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::kata_4_1::rbac;
use crate::meta;
use crate::Object;

/// Name of the agent's DaemonSet, ServiceAccount and ClusterRole(Binding).
pub const NAME: &str = "cococtl-containerd";
/// Where the host's `/` is mounted in the agent pod (`--host-root`).
pub const HOST_ROOT: &str = "/host";
/// Where the pull secret is mounted for `oci://` tarballs.
pub const PULL_SECRET_DIR: &str = "/etc/cococtl/pull-secret";
/// The pull secret's `.dockerconfigjson`, as the agent reads it (`--pull-secret`).
pub const PULL_SECRET_FILE: &str = "/etc/cococtl/pull-secret/config.json";

/// The agent's objects, by phase.
pub struct Objects {
    /// ServiceAccount, ClusterRole (patch its own Node) and binding.
    pub rbac: Vec<Object>,
    /// The agent's DaemonSet.
    pub workloads: Vec<Object>,
}

/// The agent's settings, as the environment its flags read (one contract:
/// [`cococtl_core::agent::env`]), and `proxy.*` as `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`
/// (the agent passes them to its downloads explicitly, and to containerd's drop-in when
/// `proxy.containerd` is set).
pub fn env(c: &Config, cc: &CustomContainerd) -> Vec<EnvVar> {
    let mut env = vec![
        meta::node_name_env(),
        EnvVar {
            name: agent_env::POD_NAMESPACE.into(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version: None,
                    field_path: "metadata.namespace".into(),
                }),
                ..Default::default()
            }),
        },
        meta::env(agent_env::DAEMONSET, NAME),
    ];
    env.extend(cc.agent.to_env().into_iter().map(|(k, v)| meta::env(k, v)));
    env.extend(c.proxy.env().into_iter().map(|(k, v)| meta::env(k, v)));
    if c.proxy_containerd {
        env.push(meta::env(agent_env::CONTAINERD_PROXY, "true"));
    }
    env
}

/// An `oci://` tarball's registry login: `customContainerd.pullSecret`, else the pod's
/// first `imagePullSecrets` (the mirror that serves the images usually serves the tarball
/// too), mounted read-only for the agent. The explicit Secret must exist (the pod waits
/// for it); the fallback is optional, so a pull secret without this registry's entry, or
/// none, leaves the agent anonymous and its error says so.
fn mount_pull_secret(spec: &mut PodSpec, cc: &CustomContainerd) {
    let (name, optional) = match &cc.pull_secret {
        Some(n) => (n.clone(), false),
        None => match spec
            .image_pull_secrets
            .as_ref()
            .and_then(|s| s.first())
            .map(|r| r.name.clone())
        {
            Some(n) => (n, true),
            None => return,
        },
    };
    spec.volumes.get_or_insert_with(Vec::new).push(Volume {
        name: "pull-secret".into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(name),
            items: Some(vec![KeyToPath {
                key: ".dockerconfigjson".into(),
                path: "config.json".into(),
                mode: None,
            }]),
            optional: Some(optional),
            ..Default::default()
        }),
        ..Default::default()
    });
    if let Some(c) = spec.containers.first_mut() {
        c.volume_mounts
            .get_or_insert_with(Vec::new)
            .push(VolumeMount {
                name: "pull-secret".into(),
                mount_path: PULL_SECRET_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            });
        c.env
            .get_or_insert_with(Vec::new)
            .push(meta::env(agent_env::PULL_SECRET, PULL_SECRET_FILE));
    }
}

/// The agent's RBAC and DaemonSet for `cc`.
pub fn objects(c: &Config, cc: &CustomContainerd) -> Objects {
    let labels = meta::labels([("name", NAME)]);
    // Runs where kata-deploy may run (same arch affinity and node selector), narrowed by
    // customContainerd.nodeSelector.
    let mut node_selector = c.node_selector.clone();
    node_selector.extend(cc.node_selector.clone());
    let container = Container {
        name: "containerd-installer".into(),
        image: Some(cc.image.clone()),
        image_pull_policy: Some(cc.image_pull_policy.clone()),
        command: Some(
            [
                "/cococtl",
                "node",
                "containerd",
                "install",
                "--host-root",
                HOST_ROOT,
            ]
            .map(String::from)
            .to_vec(),
        ),
        env: Some(env(c, cc)),
        // Replaces host binaries and restarts host systemd units.
        security_context: Some(SecurityContext {
            privileged: Some(true),
            ..Default::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "host-root".into(),
            mount_path: HOST_ROOT.into(),
            mount_propagation: Some("HostToContainer".into()),
            ..Default::default()
        }]),
        resources: Some(resources()),
        ..Default::default()
    };
    let mut ds = DaemonSet {
        metadata: meta::namespaced(c, NAME),
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    image_pull_secrets: meta::pull_secrets(c),
                    service_account_name: Some(NAME.into()),
                    host_pid: Some(true),
                    node_selector: Some(node_selector).filter(|s| !s.is_empty()),
                    affinity: c.affinity.clone(),
                    tolerations: Some(cc.tolerations.clone()).filter(|t| !t.is_empty()),
                    priority_class_name: Some("system-node-critical".into()),
                    // On uninstall the agent restores containerd (restart, health gate,
                    // and a rollback's restart and gate if that fails) before it exits.
                    termination_grace_period_seconds: Some(300),
                    containers: vec![container],
                    volumes: Some(vec![Volume {
                        name: "host-root".into(),
                        host_path: Some(HostPathVolumeSource {
                            path: "/".into(),
                            type_: Some("Directory".into()),
                        }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            },
            // One node at a time: a containerd swap that fails must not spread.
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDaemonSet {
                    max_unavailable: Some(IntOrString::Int(1)),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
        status: None,
    };
    if let Some(spec) = ds
        .spec
        .as_mut()
        .and_then(|s| s.template.spec.as_mut())
        .filter(|_| cc.agent.uses_oci())
    {
        mount_pull_secret(spec, cc);
    }
    // Reports state and version on its own Node.
    let mut rbac = rbac::node_reporter(c, NAME);
    rbac.extend([
        // On SIGTERM: is its own DaemonSet being deleted (uninstall) or not (restart)?
        Object::new(Role {
            metadata: meta::namespaced(c, NAME),
            rules: Some(vec![PolicyRule {
                resource_names: Some(vec![NAME.into()]),
                ..rbac::rule("apps", &["daemonsets"], &["get"])
            }]),
        }),
        Object::new(RoleBinding {
            metadata: meta::namespaced(c, NAME),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "Role".into(),
                name: NAME.into(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: NAME.into(),
                namespace: Some(c.namespace.clone()),
                ..Default::default()
            }]),
        }),
    ]);
    Objects {
        rbac,
        workloads: vec![Object::new(ds)],
    }
}

/// From the measurement (docs/node-agent.md#idle): idle 4.2 MiB resident, 12.4 MiB at the
/// peak of an install. The request leaves headroom over the idle figure; the limit leaves
/// room for a larger tarball and for the page cache the download writes, which the
/// container's cgroup is charged for (reclaimable, so it slows an install, never kills
/// it).
fn resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_string(), Quantity("10m".into())),
            ("memory".to_string(), Quantity("16Mi".into())),
        ])),
        limits: Some(BTreeMap::from([(
            "memory".to_string(),
            Quantity("256Mi".into()),
        )])),
        ..Default::default()
    }
}
