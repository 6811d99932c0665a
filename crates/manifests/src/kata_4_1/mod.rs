//! The kata-deploy 4.1.0 objects, as the upstream chart renders them in `daemonset` mode
//! for the same effective values (docs/kata-deploy-contract.md#objects).

pub mod cleanup;
pub mod config_maps;
pub mod custom_runtimes;
pub mod daemonset;
pub mod env;
pub mod monitor;
pub mod names;
pub mod node_feature_rules;
pub mod rbac;
pub mod runtime_classes;
pub mod state;
pub mod volumes;

use cococtl_profile::Config;

use crate::{ClusterFacts, Object};

/// The install-phase objects, grouped so the caller can interleave its own.
pub struct Objects {
    /// The DaemonSet's ServiceAccount, ClusterRole and binding.
    pub rbac: Vec<Object>,
    /// The drop-in ConfigMaps (when set), the state ConfigMap, and the NodeFeatureRule
    /// (when `nodeFeatureRules.create` is on).
    pub config: Vec<Object>,
    /// The kata-deploy DaemonSet, and kata-monitor's when enabled.
    pub workloads: Vec<Object>,
    /// The RuntimeClasses, the custom runtimes' after the shims'.
    pub runtime_classes: Vec<Object>,
}

/// The install objects for `c`; `wait_for_agent` when the custom containerd agent runs.
pub fn install(c: &Config, facts: ClusterFacts, wait_for_agent: bool) -> Objects {
    Objects {
        rbac: rbac::objects(c),
        config: [config_maps::custom_configs(c), config_maps::user_drop_in(c)]
            .into_iter()
            .flatten()
            .map(Object::new)
            .chain([state::config_map(c)])
            .chain(node_feature_rules::objects(c))
            .collect(),
        workloads: [
            Some(daemonset::daemonset(c, wait_for_agent)),
            monitor::daemonset(c),
        ]
        .into_iter()
        .flatten()
        .collect(),
        runtime_classes: runtime_classes::objects(c, facts)
            .into_iter()
            .chain(custom_runtimes::objects(c))
            .collect(),
    }
}
