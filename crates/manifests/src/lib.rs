//! Turns a validated [`Config`] into the Kubernetes objects that install Confidential
//! Containers: the upstream kata-deploy DaemonSet, RBAC and RuntimeClasses exactly as that
//! version expects them, plus cococtl's own objects (namespace, containerd agent).
//!
//! Start with [`plan`]: it returns a [`Plan`], the objects grouped in named [`Phase`]s in
//! apply order. Each [`Object`] is built typed (k8s-openapi) and carries its
//! [`ResourceType`], so the cluster edge applies any kind the same way (kube-rs
//! `Api<DynamicObject>`, see [`Object::to_dynamic`]) and [`emit`] prints any kind.
//!
//! [`images::inventory`] reads back from the objects every image they run and every URL a
//! node fetches (`cococtl images`).
//!
//! Everything here is pure: no network, no filesystem, no clock. The objects for one kata
//! version live in one module ([`kata_4_1`]), so supporting another version means adding a
//! module, not editing branches all over.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod containerd_agent;
pub mod emit;
pub mod images;
pub mod kata_4_1;
mod meta;
pub mod namespace;
mod object;
pub mod peerpods;
mod plan;
pub mod probe_agent;
pub mod yaml;

pub use object::{Object, ObjectError, ResourceType};
pub use plan::{Phase, Plan};

use cococtl_profile::{Config, KataVersion};

/// Facts about the target cluster that the chart would look up
/// (docs/kata-deploy-contract.md#g18). Offline they come from flags; against a cluster, from
/// the API.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClusterFacts {
    /// Node Feature Discovery runs: pure-TEE RuntimeClasses get the NFD TEE node selectors.
    pub nfd_detected: bool,
}

/// Refuses a configuration that cannot work on a cluster with these facts: probe-verified
/// TEE labels where Node Feature Discovery already manages the same labels (the two would
/// keep overwriting each other, and NFD's CPUID-only view would win half the time).
pub fn check_facts(config: &Config, facts: ClusterFacts) -> Result<(), String> {
    if facts.nfd_detected && config.probe.as_ref().is_some_and(|p| p.tee_labels) {
        return Err("probe.teeLabels: Node Feature Discovery manages the TEE labels on this cluster (amd.feature.node.kubernetes.io/snp, intel.feature.node.kubernetes.io/tdx, feature.node.kubernetes.io/cpu-security.se.enabled); cococtl's probe would fight it over them\n  fix: --set probe.teeLabels=false (the RuntimeClasses then select on NFD's labels), or remove NFD's TEE rules first".into());
    }
    Ok(())
}

/// The objects for `config`, by phase.
///
/// Install: [`Phase::Crds`] (peer pods), [`Phase::Namespace`], [`Phase::Rbac`],
/// [`Phase::Config`], [`Phase::NodeAgent`] (the custom containerd agent, when enabled),
/// [`Phase::PeerPodCtrl`], [`Phase::Webhook`], [`Phase::WebhookConfiguration`],
/// [`Phase::CloudApiAdaptor`] (peer pods, when enabled: [`peerpods`]), [`Phase::Runtime`]
/// (the kata-deploy DaemonSet), [`Phase::RuntimeClasses`].
///
/// Uninstall ([`Phase::Cleanup`]): the RBAC-cleanup objects the chart runs as post-delete
/// hooks. There are no hooks here: uninstall deletes the DaemonSet, waits for its pods to
/// finish their SIGTERM cleanup (which needs the DaemonSet's RBAC,
/// docs/kata-deploy-contract.md#g16), then applies these; the Job removes the kept RBAC and
/// the cleanup objects are deleted after it succeeds.
pub fn plan(config: &Config, facts: ClusterFacts) -> Plan {
    let mut plan = Plan::new();
    match config.kata_version {
        KataVersion::V4_1_0 => {
            let agent = config
                .custom_containerd
                .as_ref()
                .map(|cc| containerd_agent::objects(config, cc));
            // Probe-verified TEE labels stand in for NFD's: the TEE RuntimeClasses select on
            // them exactly as when NFD runs.
            let facts = ClusterFacts {
                nfd_detected: facts.nfd_detected
                    || config.probe.as_ref().is_some_and(|p| p.tee_labels),
            };
            let kata = kata_4_1::install(config, facts, agent.is_some());
            let pp = peerpods::objects(config);
            plan.add(Phase::Crds, pp.crds);
            plan.add(Phase::Namespace, [namespace::namespace(config)]);
            plan.add(Phase::Namespace, pp.namespaces);
            plan.add(Phase::Rbac, kata.rbac);
            plan.add(Phase::Config, kata.config);
            if let Some(agent) = agent {
                plan.add(Phase::Rbac, agent.rbac);
                plan.add(Phase::NodeAgent, agent.workloads);
            }
            if let Some(probe) = config
                .probe
                .as_ref()
                .map(|p| probe_agent::objects(config, p))
            {
                plan.add(Phase::Rbac, probe.rbac);
                plan.add(Phase::NodeAgent, probe.workloads);
            }
            plan.add(Phase::Rbac, pp.rbac);
            plan.add(Phase::Config, pp.config);
            plan.add(Phase::PeerPodCtrl, pp.ctrl);
            plan.add(Phase::Webhook, pp.webhook);
            plan.add(Phase::WebhookConfiguration, pp.webhook_config);
            plan.add(Phase::CloudApiAdaptor, pp.caa);
            plan.add(Phase::Runtime, kata.workloads);
            plan.add(Phase::RuntimeClasses, kata.runtime_classes);
            plan.add(Phase::Cleanup, kata_4_1::cleanup::objects(config));
        }
    }
    plan
}
