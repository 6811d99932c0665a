//! The ConfigMaps the 4.1.0 chart mounts into the DaemonSet: per-shim configuration
//! drop-ins (docs/kata-deploy-contract.md#config-maps) and custom runtimes
//! (docs/kata-deploy-contract.md#custom-runtimes), and the user's containerd drop-in
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

/// The key of the custom runtimes' list in the custom-configs ConfigMap.
pub const CUSTOM_RUNTIMES_LIST_KEY: &str = "custom-runtimes.list";

/// `custom-runtimes.list`: one `handler:baseConfig:snapshotter:pullType` line per custom
/// runtime, in key order as the chart ranges over them (docs/kata-deploy-contract.md#custom-runtimes).
pub fn custom_runtimes_list(c: &Config) -> String {
    c.custom_runtimes
        .iter()
        .map(|r| {
            format!(
                "{}:{}:{}:{}\n",
                r.handler, r.base.name, r.snapshotter, r.pull_type
            )
        })
        .collect()
}

/// `<chart>-custom-configs[-<sfx>]`: `custom-runtimes.list` and `dropin-<handler>.toml` of
/// the custom runtimes, and `dropin-<shim>.toml` per enabled shim that has a drop-in.
pub fn custom_configs(c: &Config) -> Option<ConfigMap> {
    let mut data: std::collections::BTreeMap<String, String> = c
        .shims
        .iter()
        .filter(|s| !s.drop_in.trim().is_empty())
        .map(|s| (format!("dropin-{}.toml", s.name()), s.drop_in.clone()))
        .collect();
    if !c.custom_runtimes.is_empty() {
        data.insert(CUSTOM_RUNTIMES_LIST_KEY.into(), custom_runtimes_list(c));
        for r in c
            .custom_runtimes
            .iter()
            .filter(|r| !r.drop_in.trim().is_empty())
        {
            // The chart writes it as a YAML block scalar, which keeps exactly one final
            // line break.
            let text = format!("{}\n", r.drop_in.trim_end_matches('\n'));
            data.insert(format!("dropin-{}.toml", r.handler), text);
        }
    }
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
