//! Small builders for metadata and common fields, so object code reads like the manifest.

use std::collections::BTreeMap;

use cococtl_core::labels;
use cococtl_profile::Config;
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, LocalObjectReference, ObjectFieldSelector};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// A plain `name=value` environment variable.
pub fn env(name: impl Into<String>, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

/// `NODE_NAME` from the pod's `spec.nodeName`.
pub fn node_name_env() -> EnvVar {
    EnvVar {
        name: "NODE_NAME".into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: "spec.nodeName".into(),
            }),
            ..Default::default()
        }),
    }
}

pub fn labels<const N: usize>(pairs: [(&str, &str); N]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `imagePullSecrets` of every pod cococtl renders besides kata-deploy's (which merges its
/// own): `global.imagePullSecrets`, left out when empty so the output without it is as before.
pub fn pull_secrets(config: &Config) -> Option<Vec<LocalObjectReference>> {
    Some(config.global.image_pull_secrets.clone()).filter(|s| !s.is_empty())
}

/// Metadata of a cluster-scoped object, with cococtl's instance label.
pub fn cluster(config: &Config, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        labels: Some(labels([(labels::INSTANCE, config.instance())])),
        ..Default::default()
    }
}

/// Metadata of an object in the install namespace.
pub fn namespaced(config: &Config, name: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: Some(config.namespace.clone()),
        ..cluster(config, name)
    }
}
