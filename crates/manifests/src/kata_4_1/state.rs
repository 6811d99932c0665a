//! The chart's `<release>-kata-deploy-state` ConfigMap, one per instance
//! (`cococtl[-<sfx>]-kata-deploy-state`): the suffix and deployment mode are immutable per
//! install (changing them would orphan the first install's files), so they are recorded and
//! an upgrade compares against them.

use cococtl_profile::Config;
use k8s_openapi::api::core::v1::ConfigMap;

use super::names;
use crate::meta;
use crate::Object;

/// The `<release>-kata-deploy-state` ConfigMap.
pub fn config_map(c: &Config) -> Object {
    Object::new(ConfigMap {
        metadata: meta::namespaced(c, &names::state_config_map(c)),
        data: Some(meta::labels([
            ("multiInstallSuffix", c.suffix.as_str()),
            ("deploymentMode", "daemonset"),
        ])),
        ..Default::default()
    })
}
