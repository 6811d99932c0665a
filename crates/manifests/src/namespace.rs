//! The install namespace. The chart leaves it to the user; cococtl creates it with the Pod
//! Security labels the node agents need (hostPath mounts are not allowed under `baseline`),
//! as the CoCo operator did.

use cococtl_profile::Config;
use k8s_openapi::api::core::v1::Namespace;

use crate::meta;
use crate::Object;

/// The install namespace, labelled `privileged` for Pod Security.
pub fn namespace(config: &Config) -> Object {
    privileged(config, &config.namespace)
}

/// Namespace `name`, labelled `privileged` for Pod Security (the peer-pods CAA namespace
/// too: CAA uses the host network, host paths and NET_ADMIN/SYS_ADMIN).
pub fn privileged(config: &Config, name: &str) -> Object {
    let mut m = meta::cluster(config, name);
    let labels = m.labels.get_or_insert_with(Default::default);
    for mode in ["enforce", "audit", "warn"] {
        labels.insert(
            format!("pod-security.kubernetes.io/{mode}"),
            "privileged".into(),
        );
    }
    Object::new(Namespace {
        metadata: m,
        ..Default::default()
    })
}
