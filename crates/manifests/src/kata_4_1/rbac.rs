//! The DaemonSet's identity (docs/kata-deploy-contract.md#rbac). The chart marks these
//! `helm.sh/resource-policy: keep` because the pods' SIGTERM cleanup still needs them while
//! they terminate (docs/kata-deploy-contract.md#g16); cococtl keeps the annotation so a later Helm
//! adoption behaves alike.

use cococtl_profile::Config;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};

use super::names;
use crate::meta;
use crate::Object;

/// A rule granting `verbs` on `resources` of API group `group` (`""` for core).
pub fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn keep(
    mut m: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    m.annotations = Some(meta::labels([("helm.sh/resource-policy", "keep")]));
    m
}

/// The identity of a cococtl node agent that reports on its own Node: a ServiceAccount
/// `name`, a ClusterRole `name` allowing `nodes` get and patch, and their binding.
pub fn node_reporter(c: &Config, name: &str) -> Vec<Object> {
    vec![
        Object::new(ServiceAccount {
            metadata: meta::namespaced(c, name),
            ..Default::default()
        }),
        Object::new(ClusterRole {
            metadata: meta::cluster(c, name),
            rules: Some(vec![rule("", &["nodes"], &["get", "patch"])]),
            ..Default::default()
        }),
        Object::new(binding(c, name, name, name)),
    ]
}

/// A ClusterRoleBinding of `role` to the ServiceAccount `sa` in the install namespace.
pub fn binding(c: &Config, name: &str, role: &str, sa: &str) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta::cluster(c, name),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: role.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: sa.into(),
            namespace: Some(c.namespace.clone()),
            ..Default::default()
        }]),
    }
}

/// The DaemonSet's ServiceAccount, ClusterRole and binding, all kept on `helm uninstall`.
pub fn objects(c: &Config) -> Vec<Object> {
    let sa = names::service_account(c);
    let role = names::cluster_role(c);
    let mut crb = binding(c, &names::cluster_role_binding(c), &role, &sa);
    crb.metadata = keep(crb.metadata);
    vec![
        Object::new(ServiceAccount {
            metadata: keep(meta::namespaced(c, &sa)),
            ..Default::default()
        }),
        Object::new(ClusterRole {
            metadata: keep(meta::cluster(c, &role)),
            rules: Some(vec![
                // Labels its node, removes startup taints.
                rule("", &["nodes"], &["get", "patch"]),
                // Reads the kubelet's /configz for runtimeRequestTimeout.
                rule("", &["nodes/proxy"], &["get"]),
                // Decides on SIGTERM whether its DaemonSet still selects the node
                // (docs/kata-deploy-contract.md#daemonset-name).
                rule("apps", &["daemonsets"], &["get", "list", "watch"]),
            ]),
            ..Default::default()
        }),
        Object::new(crb),
    ]
}
