//! What to apply, grouped in named phases, in order.
//!
//! A phase is a step the cluster edge applies and then waits on (the namespace exists, the
//! node agents report ready, …), so new kinds of work (CRDs, webhooks, peer pods) get a
//! phase of their own in [`Phase::INSTALL`] instead of being slotted into a flat list.

use std::collections::BTreeMap;
use std::fmt;

use crate::Object;

/// One step of an install or uninstall. The declaration order is the apply order.
///
/// Deliberately not `#[non_exhaustive]`: adding a phase should fail to compile wherever a
/// `match` decides what to wait for after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// CustomResourceDefinitions (the PeerPod CRD), applied first and waited on until
    /// `Established`.
    Crds,
    /// The install namespace (and the peer-pods namespaces).
    Namespace,
    /// ServiceAccounts, ClusterRoles and their bindings.
    Rbac,
    /// ConfigMaps the workloads mount or read.
    Config,
    /// cococtl's own node agents (the custom containerd installer), which must be ready
    /// on a node before the runtime is installed there.
    NodeAgent,
    /// peerpod-ctrl, which deletes leaked peer-pod VMs (ready before CAA creates any).
    PeerPodCtrl,
    /// The peer-pods webhook: cert-manager Issuer and Certificate, Service and Deployment,
    /// ready before its configuration exists.
    Webhook,
    /// The MutatingWebhookConfiguration: applied only once the webhook answers, so pod
    /// admission never fails cluster-wide during an install.
    WebhookConfiguration,
    /// The cloud-api-adaptor DaemonSet.
    CloudApiAdaptor,
    /// The kata-deploy DaemonSet that installs the runtime on every node.
    Runtime,
    /// The RuntimeClasses pods select the runtime with.
    RuntimeClasses,
    /// Uninstall: the RBAC-cleanup objects, applied once the runtime's pods are gone.
    Cleanup,
}

impl Phase {
    /// The install phases, in apply order.
    pub const INSTALL: &'static [Phase] = &[
        Phase::Crds,
        Phase::Namespace,
        Phase::Rbac,
        Phase::Config,
        Phase::NodeAgent,
        Phase::PeerPodCtrl,
        Phase::Webhook,
        Phase::WebhookConfiguration,
        Phase::CloudApiAdaptor,
        Phase::Runtime,
        Phase::RuntimeClasses,
    ];

    /// The uninstall phases that apply objects, in order.
    pub const UNINSTALL: &'static [Phase] = &[Phase::Cleanup];

    /// A short lower-case name, for progress messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Crds => "crds",
            Phase::Namespace => "namespace",
            Phase::Rbac => "rbac",
            Phase::Config => "config",
            Phase::NodeAgent => "node-agent",
            Phase::PeerPodCtrl => "peerpod-ctrl",
            Phase::Webhook => "webhook",
            Phase::WebhookConfiguration => "webhook-configuration",
            Phase::CloudApiAdaptor => "cloud-api-adaptor",
            Phase::Runtime => "runtime",
            Phase::RuntimeClasses => "runtime-classes",
            Phase::Cleanup => "cleanup",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The objects of every phase. Built by [`crate::plan`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    phases: BTreeMap<Phase, Vec<Object>>,
}

impl Plan {
    /// An empty plan.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `objects` to `phase`.
    pub fn add(&mut self, phase: Phase, objects: impl IntoIterator<Item = Object>) {
        self.phases.entry(phase).or_default().extend(objects);
    }

    /// The objects of one phase, in apply order (empty when the phase has none).
    pub fn objects(&self, phase: Phase) -> &[Object] {
        self.phases.get(&phase).map_or(&[], Vec::as_slice)
    }

    /// `phases` with their objects, in the given order; phases without objects are left out.
    pub fn steps<'a>(
        &'a self,
        phases: &'a [Phase],
    ) -> impl Iterator<Item = (Phase, &'a [Object])> + 'a {
        phases
            .iter()
            .map(|p| (*p, self.objects(*p)))
            .filter(|(_, o)| !o.is_empty())
    }

    /// Every install object, in apply order.
    pub fn install(&self) -> impl Iterator<Item = &Object> + '_ {
        self.steps(Phase::INSTALL).flat_map(|(_, o)| o)
    }

    /// Every object uninstall applies, in order.
    pub fn uninstall(&self) -> impl Iterator<Item = &Object> + '_ {
        self.steps(Phase::UNINSTALL).flat_map(|(_, o)| o)
    }
}
