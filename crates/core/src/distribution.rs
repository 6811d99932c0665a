//! The Kubernetes distributions kata-deploy knows (`k8sDistribution`), and which of them
//! ship their own containerd (cococtl never replaces that one).

use std::fmt;

/// A Kubernetes distribution as `k8sDistribution` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    /// Upstream Kubernetes (kubeadm, managed clouds): containerd is the host's.
    #[default]
    K8s,
    /// k3s: bundles containerd under `/var/lib/rancher/k3s`.
    K3s,
    /// RKE2: bundles containerd under `/var/lib/rancher/rke2`.
    Rke2,
    /// k0s: bundles containerd.
    K0s,
    /// MicroK8s: containerd inside the snap.
    Microk8s,
}

impl Distribution {
    /// Every distribution, in the order messages list them.
    pub const ALL: [Distribution; 5] = [
        Distribution::K8s,
        Distribution::K3s,
        Distribution::Rke2,
        Distribution::K0s,
        Distribution::Microk8s,
    ];

    /// The `k8sDistribution` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Distribution::K8s => "k8s",
            Distribution::K3s => "k3s",
            Distribution::Rke2 => "rke2",
            Distribution::K0s => "k0s",
            Distribution::Microk8s => "microk8s",
        }
    }

    /// Parses the `k8sDistribution` spelling.
    pub fn parse(s: &str) -> Option<Distribution> {
        Distribution::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The distribution ships and manages its own containerd: replacing it would break the
    /// distribution, so a custom containerd is refused there.
    pub fn ships_own_containerd(self) -> bool {
        self != Distribution::K8s
    }

    /// `k8s, k3s, rke2, k0s, microk8s`, for messages.
    pub fn names() -> String {
        Distribution::ALL.map(Distribution::as_str).join(", ")
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
