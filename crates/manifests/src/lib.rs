//! Turns a validated [`Config`] into the Kubernetes objects that install Confidential
//! Containers: the upstream kata-deploy DaemonSet, RBAC and RuntimeClasses exactly as that
//! version expects them, plus cococtl's own objects (namespace, containerd agent).
//!
//! Start with [`plan`]. Everything here is pure: no network, no filesystem, no clock. The
//! objects for one kata version live in one module ([`kata_4_1`]), so supporting another
//! version means adding a module, not editing branches all over.

pub mod containerd_agent;
pub mod emit;
pub mod kata_4_1;
mod meta;
pub mod namespace;
mod object;
pub mod yaml;

pub use object::Object;

use cococtl_profile::{Config, KataVersion};

/// Facts about the target cluster that the chart would look up
/// (docs/kata-deploy-contract.md#g18). Offline they come from flags; against a cluster, from the API.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClusterFacts {
    /// Node Feature Discovery runs: pure-TEE RuntimeClasses get the NFD TEE node selectors.
    pub nfd_detected: bool,
}

/// Everything to apply, in order, and what uninstall applies once the workloads are gone.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Namespace, RBAC, configuration, workloads, RuntimeClasses: the apply order.
    pub install: Vec<Object>,
    /// The RBAC-cleanup objects the chart runs as post-delete hooks. There are no hooks
    /// here: uninstall deletes the DaemonSet, waits for its pods to finish their SIGTERM
    /// cleanup (which needs the DaemonSet's RBAC, docs/kata-deploy-contract.md#g16), then
    /// applies these; the Job removes the kept RBAC and the cleanup objects are deleted after it succeeds.
    pub uninstall: Vec<Object>,
}

/// The objects for `config`.
pub fn plan(config: &Config, facts: ClusterFacts) -> Plan {
    match config.kata_version {
        KataVersion::V4_1_0 => {
            let mut install = vec![namespace::namespace(config)];
            let agent = config
                .custom_containerd
                .as_ref()
                .map(|cc| containerd_agent::objects(config, cc));
            let kata = kata_4_1::install(config, facts, agent.is_some());
            install.extend(kata.rbac);
            if let Some(agent) = &agent {
                install.extend(agent.rbac.iter().cloned());
            }
            install.extend(kata.config);
            if let Some(agent) = agent {
                install.extend(agent.workloads);
            }
            install.extend(kata.workloads);
            install.extend(kata.runtime_classes);
            Plan {
                install,
                uninstall: kata_4_1::cleanup::objects(config),
            }
        }
    }
}
