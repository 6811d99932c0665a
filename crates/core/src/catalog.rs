//! The shims kata-deploy 4.1.0 builds, per architecture, with what each one needs from a host.
//!
//! Source: `docs/kata-deploy-contract.md#overheads` and `docs/kata-deploy-contract.md#shim-catalog`. This is the
//! single place the tool knows shim facts; profiles, validation, manifests and the probe's
//! recommendation all read it.

use crate::arch::Arch;
use crate::labels::{GPU_CC_READY_LABEL, SNP_NFD_LABEL, TDX_NFD_LABEL};

/// Which containerd shim binary serves the handler (decides `runtime_path` on the node).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// The Go runtime (`containerd-shim-kata-v2`).
    Go,
    /// The Rust runtime (`runtime-rs`).
    RuntimeRs,
}

/// Hardware trusted execution environment a shim launches its guest in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tee {
    /// AMD SEV-SNP.
    SevSnp,
    /// Intel TDX.
    Tdx,
    /// IBM Secure Execution.
    Se,
}

impl Tee {
    /// `sev-snp`, `tdx`, `se`.
    pub fn name(self) -> &'static str {
        match self {
            Tee::SevSnp => "sev-snp",
            Tee::Tdx => "tdx",
            Tee::Se => "se",
        }
    }
}

/// What kind of isolation a pod on this shim gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// A plain Kata VM: isolation, no confidentiality.
    Vm,
    /// The CoCo software stack (attestation agent, guest pull) without a TEE: for development.
    CocoDev,
    /// A confidential VM backed by hardware.
    Tee(Tee),
    /// Peer-pods: the pod VM is created by the cloud-api-adaptor outside this node.
    PeerPods,
}

/// `overhead.podFixed` of the shim's RuntimeClass in the 4.1.0 chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overhead {
    /// Memory.
    pub memory: &'static str,
    /// CPU.
    pub cpu: &'static str,
}

const SMALL: Overhead = Overhead {
    memory: "130Mi",
    cpu: "250m",
};
const QEMU: Overhead = Overhead {
    memory: "320Mi",
    cpu: "250m",
};
const COCO_DEV: Overhead = Overhead {
    memory: "160Mi",
    cpu: "250m",
};
const SE: Overhead = Overhead {
    memory: "1024Mi",
    cpu: "1.0",
};
const TEE: Overhead = Overhead {
    memory: "2048Mi",
    cpu: "1.0",
};
const GPU: Overhead = Overhead {
    memory: "10240Mi",
    cpu: "1.0",
};
const REMOTE: Overhead = Overhead {
    memory: "120Mi",
    cpu: "250m",
};

/// One shim kata-deploy 4.1.0 knows, with the chart's defaults for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shim {
    /// The shim's name (`qemu-snp`).
    pub name: &'static str,
    /// The chart's default `supportedArches` (the architectures it is built for).
    pub arches: &'static [Arch],
    /// Which runtime serves it.
    pub runtime: Runtime,
    /// What isolation its pods get.
    pub isolation: Isolation,
    /// Passes a GPU through to the guest.
    pub gpu: bool,
    /// The RuntimeClass overhead.
    pub overhead: Overhead,
    /// Default `containerd.snapshotter` in the chart values (`""` when none).
    pub default_snapshotter: &'static str,
    /// Default `crio.guestPull` in the chart values.
    pub default_crio_guest_pull: bool,
    /// Default `enabled` in the chart values (`None` = follows `shims.disableAll`).
    pub default_enabled: Option<bool>,
    /// Default `runtimeClass.nodeSelector` in the chart values.
    pub default_node_selector: &'static [(&'static str, &'static str)],
}

use Arch::*;
const X86: &[Arch] = &[Amd64];
const ALL_ARCHES: &[Arch] = &[Amd64, Arm64, S390x, Ppc64le];

const fn shim(
    name: &'static str,
    arches: &'static [Arch],
    runtime: Runtime,
    isolation: Isolation,
    overhead: Overhead,
) -> Shim {
    Shim {
        name,
        arches,
        runtime,
        isolation,
        gpu: false,
        overhead,
        default_snapshotter: "",
        default_crio_guest_pull: false,
        default_enabled: None,
        default_node_selector: &[],
    }
}

/// A CoCo shim: nydus snapshotter for containerd and guest pull for CRI-O by default.
const fn coco(mut s: Shim) -> Shim {
    s.default_snapshotter = "nydus";
    s.default_crio_guest_pull = true;
    s
}

const fn gpu(mut s: Shim, selector: &'static [(&'static str, &'static str)]) -> Shim {
    s.gpu = true;
    s.default_node_selector = selector;
    s
}

const GPU_NON_CC: &[(&str, &str)] = &[(GPU_CC_READY_LABEL, "false")];
const GPU_SNP: &[(&str, &str)] = &[(GPU_CC_READY_LABEL, "true"), (SNP_NFD_LABEL, "true")];
const GPU_TDX: &[(&str, &str)] = &[(GPU_CC_READY_LABEL, "true"), (TDX_NFD_LABEL, "true")];

use Isolation::{CocoDev, Vm};
use Runtime::{Go, RuntimeRs as Rs};
const SNP: Isolation = Isolation::Tee(Tee::SevSnp);
const TDX: Isolation = Isolation::Tee(Tee::Tdx);
const SEL: Isolation = Isolation::Tee(Tee::Se);

/// Every shim of kata-deploy 4.1.0, sorted by name (the order Helm iterates `shims`).
pub static SHIMS: &[Shim] = &[
    shim("clh", X86, Go, Vm, SMALL),
    shim("clh-azure", X86, Go, Vm, SMALL),
    shim("clh-azure-runtime-rs", X86, Rs, Vm, SMALL),
    shim("clh-runtime-rs", X86, Rs, Vm, SMALL),
    shim("dragonball", X86, Rs, Vm, SMALL),
    Shim {
        default_snapshotter: "devmapper",
        ..shim("fc", X86, Go, Vm, SMALL)
    },
    shim("openvmm-azure-runtime-rs", X86, Rs, Vm, SMALL),
    shim("qemu", ALL_ARCHES, Go, Vm, QEMU),
    coco(shim(
        "qemu-coco-dev",
        &[Amd64, S390x],
        Go,
        CocoDev,
        COCO_DEV,
    )),
    coco(shim(
        "qemu-coco-dev-runtime-rs",
        &[Amd64, Arm64, S390x],
        Rs,
        CocoDev,
        QEMU,
    )),
    shim("qemu-nvidia-cpu", &[Amd64, Arm64], Go, Vm, QEMU),
    shim("qemu-nvidia-cpu-runtime-rs", &[Amd64, Arm64], Rs, Vm, QEMU),
    gpu(shim("qemu-nvidia-gpu", X86, Go, Vm, GPU), GPU_NON_CC),
    gpu(
        shim("qemu-nvidia-gpu-runtime-rs", &[Amd64, Arm64], Rs, Vm, GPU),
        GPU_NON_CC,
    ),
    gpu(
        coco(shim("qemu-nvidia-gpu-snp", X86, Go, SNP, GPU)),
        GPU_SNP,
    ),
    gpu(
        coco(shim("qemu-nvidia-gpu-snp-runtime-rs", X86, Rs, SNP, GPU)),
        GPU_SNP,
    ),
    gpu(
        coco(shim("qemu-nvidia-gpu-tdx", X86, Go, TDX, GPU)),
        GPU_TDX,
    ),
    gpu(
        coco(shim("qemu-nvidia-gpu-tdx-runtime-rs", X86, Rs, TDX, GPU)),
        GPU_TDX,
    ),
    shim("qemu-runtime-rs", ALL_ARCHES, Rs, Vm, QEMU),
    coco(shim("qemu-se", &[S390x], Go, SEL, SE)),
    coco(shim("qemu-se-runtime-rs", &[S390x], Rs, SEL, SE)),
    coco(shim("qemu-snp", X86, Go, SNP, TEE)),
    coco(shim("qemu-snp-runtime-rs", X86, Rs, SNP, TEE)),
    coco(shim("qemu-tdx", X86, Go, TDX, TEE)),
    coco(shim("qemu-tdx-runtime-rs", X86, Rs, TDX, TEE)),
    Shim {
        default_enabled: Some(false),
        ..coco(shim(
            "remote",
            &[Amd64, Ppc64le, S390x],
            Go,
            Isolation::PeerPods,
            REMOTE,
        ))
    },
];

/// Looks a shim up by its name.
pub fn shim_by_name(name: &str) -> Option<&'static Shim> {
    SHIMS.iter().find(|s| s.name == name)
}

impl Shim {
    /// Whether the 4.1.0 image builds this shim for `arch`.
    pub fn builds_for(&self, arch: Arch) -> bool {
        self.arches.contains(&arch)
    }

    /// The RuntimeClass (and containerd handler) name: `kata-<shim>[-<suffix>]`.
    pub fn runtime_class(&self, suffix: &str) -> String {
        runtime_class_name(self.name, suffix)
    }

    /// A "pure TEE" shim in the chart's sense (gets NFD TEE selectors): has `snp`/`tdx` in its
    /// name or ends in `-se`/`-se-runtime-rs`, and is not a GPU shim.
    pub fn is_pure_tee(&self) -> bool {
        let n = self.name;
        !n.contains("nvidia-gpu")
            && (n.contains("snp")
                || n.contains("tdx")
                || n.ends_with("-se")
                || n.ends_with("-se-runtime-rs"))
    }
}

/// `kata-<shim>` or `kata-<shim>-<suffix>`.
pub fn runtime_class_name(shim: &str, suffix: &str) -> String {
    if suffix.is_empty() {
        format!("kata-{shim}")
    } else {
        format!("kata-{shim}-{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_is_sorted_by_name_like_helm_iterates_it() {
        let names: Vec<_> = SHIMS.iter().map(|s| s.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }

    #[test]
    fn arch_names_round_trip() {
        for a in Arch::ALL {
            assert_eq!(Arch::from_k8s_name(a.k8s_name()), Some(a));
            assert_eq!(Arch::from_kernel_name(a.kernel_name()), Some(a));
        }
        assert_eq!(Arch::from_kernel_name("powerpc64"), Some(Arch::Ppc64le));
    }

    #[test]
    fn pure_tee_follows_the_chart_rule() {
        let pure: Vec<_> = SHIMS
            .iter()
            .filter(|s| s.is_pure_tee())
            .map(|s| s.name)
            .collect();
        assert_eq!(
            pure,
            [
                "qemu-se",
                "qemu-se-runtime-rs",
                "qemu-snp",
                "qemu-snp-runtime-rs",
                "qemu-tdx",
                "qemu-tdx-runtime-rs"
            ]
        );
    }
}
