//! Small builders for metadata and common fields, so object code reads like the manifest.

use std::collections::BTreeMap;

use cococtl_profile::labels;
use cococtl_profile::Config;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub fn labels<const N: usize>(pairs: [(&str, &str); N]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
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
