//! What the edge needs to know about a release, taken from the validated configuration and
//! its plan: names, the instance, where kata-deploy runs, whether the agent is on.

use cococtl_manifests::{containerd_agent, Object, Phase, Plan};
use cococtl_profile::Config;
use k8s_openapi::api::apps::v1::DaemonSet;

use crate::core::inventory::Item;
use crate::core::readiness::Expect;
use crate::core::snapshot::Targeting;
use crate::core::uninstall::Names;

/// One release's identity and expectations.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseSpec {
    /// Namespace.
    pub namespace: String,
    /// `default` or the suffix.
    pub instance: String,
    /// The multi-install suffix.
    pub suffix: String,
    /// kata-deploy version.
    pub kata_version: String,
    /// Architectures kata-deploy is scheduled on (Kubernetes spelling).
    pub arches: Vec<String>,
    /// The node expectations for waits and status.
    pub expect: Expect,
    /// DaemonSet names.
    pub names: Names,
    /// `proxy.*` (preflight checks its `noProxy` against the cluster's networks).
    pub proxy: cococtl_core::proxy::Proxy,
}

/// The install phases' objects, in order.
pub fn install_objects(plan: &Plan) -> Vec<(Phase, Vec<Object>)> {
    plan.steps(Phase::INSTALL)
        .map(|(p, o)| (p, o.to_vec()))
        .collect()
}

/// The inventory of the install phases (no uids yet).
pub fn planned_inventory(plan: &Plan) -> Vec<Item> {
    plan.install().map(Item::of).collect()
}

impl ReleaseSpec {
    /// From the configuration and its plan.
    pub fn new(c: &Config, plan: &Plan) -> ReleaseSpec {
        let base = c.base_name();
        let targeting_of = |name: &str| {
            plan.install()
                .filter(|o| o.kind() == "DaemonSet" && o.name() == Some(name))
                .find_map(|o| o.decode::<DaemonSet>().and_then(Result::ok))
                .and_then(|ds| ds.spec.and_then(|s| s.template.spec))
                .map(|s| Targeting::of(&s))
        };
        let targeting = targeting_of(&base).unwrap_or_default();
        let agent_targeting = c
            .custom_containerd
            .as_ref()
            .and_then(|_| targeting_of(containerd_agent::NAME));
        ReleaseSpec {
            namespace: c.namespace.clone(),
            instance: c.instance().to_string(),
            suffix: c.suffix.clone(),
            kata_version: c.kata_version.as_str().to_string(),
            arches: c
                .schedulable_arches
                .iter()
                .map(|a| a.k8s_name().to_string())
                .collect(),
            expect: Expect {
                instance: c.instance().to_string(),
                kata_pods: base.clone(),
                kata_targeting: targeting,
                agent_pods: c
                    .custom_containerd
                    .as_ref()
                    .map(|_| containerd_agent::NAME.to_string()),
                agent_targeting,
                kata_generation: None,
            },
            names: Names {
                namespace: c.namespace.clone(),
                kata_deploy: base,
                agent: containerd_agent::NAME.to_string(),
            },
            proxy: c.proxy.clone(),
        }
    }

    /// For a release known only by its record (uninstall, status): names from the suffix.
    pub fn from_record(namespace: &str, suffix: &str, instance: &str, agent: bool) -> Self {
        let base = if suffix.is_empty() {
            "kata-deploy".to_string()
        } else {
            format!("kata-deploy-{suffix}")
        };
        ReleaseSpec {
            namespace: namespace.into(),
            instance: instance.into(),
            suffix: suffix.into(),
            kata_version: String::new(),
            arches: vec![],
            expect: Expect {
                instance: instance.into(),
                kata_pods: base.clone(),
                kata_targeting: Targeting::default(),
                agent_pods: agent.then(|| containerd_agent::NAME.to_string()),
                agent_targeting: None,
                kata_generation: None,
            },
            names: Names {
                namespace: namespace.into(),
                kata_deploy: base,
                agent: containerd_agent::NAME.to_string(),
            },
            proxy: Default::default(),
        }
    }
}
