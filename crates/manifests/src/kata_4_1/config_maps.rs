//! The ConfigMaps the 4.1.0 chart mounts into the DaemonSet: per-shim configuration
//! drop-ins (docs/kata-deploy-contract.md#config-maps), and the user's containerd drop-in
//! (docs/kata-deploy-contract.md#user-drop-in).

use cococtl_profile::Config;
use k8s_openapi::api::core::v1::ConfigMap;

use super::names;
use crate::meta;

/// Where the user's containerd drop-in is mounted (`CONTAINERD_USER_DROP_IN_SOURCE_FILE`).
pub const USER_DROP_IN_DIR: &str = "/custom-containerd-config/";
/// The key (file name) of the user's drop-in in its ConfigMap.
pub const USER_DROP_IN_KEY: &str = "containerd-user-dropin.toml";
/// Where the shim drop-ins are mounted; the binary reads `dropin-<shim>.toml` there.
pub const CUSTOM_CONFIGS_DIR: &str = "/custom-configs/";

/// `<chart>-custom-configs[-<sfx>]` with `dropin-<shim>.toml` per enabled shim that has one.
pub fn custom_configs(c: &Config) -> Option<ConfigMap> {
    let data: std::collections::BTreeMap<String, String> = c
        .shims
        .iter()
        .filter(|s| !s.drop_in.trim().is_empty())
        .map(|s| (format!("dropin-{}.toml", s.name()), s.drop_in.clone()))
        .collect();
    (!data.is_empty()).then(|| ConfigMap {
        metadata: meta::namespaced(c, &names::custom_configs(c)),
        data: Some(data),
        ..Default::default()
    })
}

/// `<chart>-containerd-user-dropin[-<sfx>]`, when `containerd.userDropIn` is set.
pub fn user_drop_in(c: &Config) -> Option<ConfigMap> {
    (!c.containerd_user_drop_in.trim().is_empty()).then(|| ConfigMap {
        metadata: meta::namespaced(c, &names::user_drop_in(c)),
        data: Some(meta::labels([(
            USER_DROP_IN_KEY,
            c.containerd_user_drop_in.as_str(),
        )])),
        ..Default::default()
    })
}
