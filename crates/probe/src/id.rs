//! Check ids as a closed, typed set: a misspelled id does not compile. Each id serialises
//! to its dotted string (`snp.bios.msr`), which is also its anchor in
//! `docs/probe-checks.md` (dots become dashes).

use serde::{Deserialize, Serialize};

use crate::check::Group;

macro_rules! check_ids {
    ($($(#[$doc:meta])* $variant:ident => $id:literal, $group:ident, $title:literal;)*) => {
        /// Every check of the catalogue, in evaluation order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum CheckId {
            $($(#[$doc])* #[serde(rename = $id)] $variant,)*
        }

        impl CheckId {
            /// Every id, in evaluation order.
            pub const ALL: &'static [CheckId] = &[$(CheckId::$variant,)*];

            /// The dotted id, as in reports (`snp.bios.msr`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(CheckId::$variant => $id,)*
                }
            }

            /// The report section the check belongs to.
            pub fn group(self) -> Group {
                match self {
                    $(CheckId::$variant => Group::$group,)*
                }
            }

            /// A short human title.
            pub fn title(self) -> &'static str {
                match self {
                    $(CheckId::$variant => $title,)*
                }
            }
        }
    };
}

check_ids! {
    /// The CPU architecture.
    HostArch => "host.arch", Host, "CPU architecture";
    /// The kernel release, judged by the host support it shows.
    HostKernel => "host.kernel", Host, "Kernel version";
    /// Whether the probe runs as root.
    HostPrivilege => "host.privilege", Host, "Privilege";
    /// Bare metal or a virtual machine.
    HostVirt => "host.virt", Host, "Bare metal or virtual machine";
    /// `/dev/kvm` exists.
    KvmPresent => "kvm.present", Host, "/dev/kvm";
    /// KVM API version and VM types.
    KvmApi => "kvm.api", Host, "KVM API and VM types";
    /// `kvm_amd` or `kvm_intel` is loaded.
    KvmVendorModule => "kvm.vendor_module", Host, "KVM vendor module";
    /// The vhost modules Kata needs.
    KataKmods => "kata.kmods", Host, "vhost modules for Kata";
    /// The locked-memory limit.
    ProcMemlock => "proc.memlock", Host, "Locked-memory limit";
    /// The kernel's erofs support (the erofs snapshotter's prerequisite).
    ErofsKernel => "erofs.kernel", Host, "Kernel erofs support";
    /// The host's `mkfs.erofs` (erofs-utils ≥ 1.8.2 with `--mkfs-time` and `--sort`).
    ErofsMkfs => "erofs.mkfs", Host, "Host mkfs.erofs (erofs-utils 1.8.2 or newer)";
    /// The kernel's fs-verity, which kata-deploy's erofs configuration turns on.
    ErofsFsverity => "erofs.fsverity", Host, "Kernel fs-verity for the erofs snapshotter";
    /// The kernel's dm-verity (`snapshotter.erofsDmverity`).
    ErofsDmverity => "erofs.dmverity", Host, "Kernel dm-verity for erofs layers (snapshotter.erofsDmverity)";
    /// Inside an Intel TDX guest.
    CvmTdx => "cvm.tdx", Cvm, "Intel TDX guest";
    /// Inside an AMD SEV, SEV-ES or SEV-SNP guest.
    CvmSnp => "cvm.snp", Cvm, "AMD SEV / SEV-SNP guest";
    /// Inside a Hyper-V isolated VM.
    CvmHypervIsolation => "cvm.hyperv_isolation", Cvm, "Hyper-V isolated VM (Azure confidential VM)";
    /// Inside an IBM Secure Execution guest.
    CvmSe => "cvm.se", Cvm, "IBM Secure Execution guest";
    /// Inside an Arm CCA realm.
    CvmCca => "cvm.cca", Cvm, "Arm CCA realm";
    /// Whether this node is a confidential VM, from the `cvm.*` checks.
    CvmSummary => "cvm.summary", Cvm, "Node is a confidential VM";
    /// The CPU generation (family/model) and whether it has SEV-SNP at all.
    SnpCpu => "snp.cpu", Snp, "CPU generation with SEV-SNP";
    /// The CPU offers SEV-SNP.
    SnpCpuid => "snp.cpuid", Snp, "CPU supports SEV-SNP";
    /// BIOS and kernel enabled SEV-SNP (cpuinfo flags).
    SnpBiosCpuinfo => "snp.bios.cpuinfo", Snp, "SEV-SNP enabled by BIOS and kernel (cpuinfo)";
    /// SYSCFG and the RMP range MSRs.
    SnpBiosMsr => "snp.bios.msr", Snp, "SEV-SNP in SYSCFG and RMP (MSRs)";
    /// IOMMU settings and support compatible with SEV-SNP.
    SnpIommu => "snp.iommu", Snp, "IOMMU settings compatible with SEV-SNP";
    /// `kvm_amd` SEV-SNP parameters.
    SnpKvmParams => "snp.kvm.params", Snp, "kvm_amd SEV-SNP parameters";
    /// KVM offers the SNP VM type.
    SnpKvmVmtype => "snp.kvm.vmtype", Snp, "KVM offers SNP VMs";
    /// `/dev/sev` exists.
    SnpDev => "snp.dev", Snp, "/dev/sev";
    /// The SEV (legacy) firmware status.
    SnpFwLegacy => "snp.fw.legacy", Snp, "SEV firmware (PLATFORM_STATUS)";
    /// SNP firmware status.
    SnpFwStatus => "snp.fw.status", Snp, "SNP firmware (SNP_PLATFORM_STATUS)";
    /// The SEV-SNP lines of the kernel log.
    SnpKmsg => "snp.kmsg", Snp, "SEV-SNP in the kernel log";
    /// How many SNP guests fit (ASIDs).
    SnpCapacity => "snp.capacity", Snp, "SEV-SNP guest capacity (ASIDs)";
    /// Whether this is a ready SEV-SNP host.
    SnpReady => "snp.ready", Snp, "SEV-SNP host ready";
    /// BIOS enabled TDX (cpuinfo flag).
    TdxCpuinfo => "tdx.cpuinfo", Tdx, "TDX enabled by BIOS (cpuinfo)";
    /// The BIOS settings TDX needs, from the MSRs.
    TdxBiosMsr => "tdx.bios.msr", Tdx, "TDX BIOS settings (MSRs)";
    /// The TDX module initialised (kernel log).
    TdxKmsg => "tdx.kmsg", Tdx, "TDX module initialised (kernel log)";
    /// `kvm_intel tdx`.
    TdxKvmParam => "tdx.kvm.param", Tdx, "kvm_intel tdx";
    /// What KVM needs before it enables TDX.
    TdxKvmPrereqs => "tdx.kvm.prereqs", Tdx, "Why kvm_intel tdx would stay N";
    /// KVM offers the TDX VM type.
    TdxKvmVmtype => "tdx.kvm.vmtype", Tdx, "KVM offers TDX VMs";
    /// How many TDs fit (KeyIDs).
    TdxCapacity => "tdx.capacity", Tdx, "TDX guest capacity (KeyIDs)";
    /// What TD attestation needs (SGX, DCAP, the quote generation service).
    TdxAttestation => "tdx.attestation", Tdx, "TDX attestation (SGX, QGS)";
    /// The TDX kernel parameters.
    TdxCmdline => "tdx.cmdline", Tdx, "TDX kernel parameters";
    /// Whether this is a ready TDX host.
    TdxReady => "tdx.ready", Tdx, "TDX host ready";
    /// The ultravisor facility.
    SeFacility => "se.facility", Se, "Ultravisor facility (158)";
    /// `prot_virt_host`.
    SeHost => "se.host", Se, "prot_virt_host";
    /// The `prot_virt` boot parameter.
    SeCmdline => "se.cmdline", Se, "prot_virt boot parameter";
    /// Whether this is a ready Secure Execution host.
    SeReady => "se.ready", Se, "Secure Execution host ready";
    /// The IOMMU is on.
    IommuEnabled => "iommu.enabled", Iommu, "IOMMU on";
    /// Interrupt remapping isolates passed-through devices.
    IommuIrqRemap => "iommu.irq_remap", Iommu, "Interrupt remapping";
    /// No ACS override on the command line.
    IommuAcsOverride => "iommu.acs_override", Iommu, "No ACS override";
    /// iommufd (`/dev/iommu`).
    IommuIommufd => "iommu.iommufd", Iommu, "iommufd (/dev/iommu)";
    /// The NVIDIA GPUs of the host.
    GpuInventory => "gpu.inventory", Gpu, "NVIDIA GPUs";
    /// The NVIDIA NVSwitches of the host.
    NvswitchInventory => "nvswitch.inventory", Gpu, "NVIDIA NVSwitches";
    /// Whether the GPUs are models with confidential-computing support.
    GpuCcCapable => "gpu.cc_capable", Gpu, "GPU models with confidential computing";
    /// No GPU held by a host driver.
    GpuHostDriver => "gpu.host_driver", Gpu, "GPUs not held by a host driver";
    /// GPUs bound to vfio-pci.
    GpuVfioBound => "gpu.vfio_bound", Gpu, "GPUs bound to vfio-pci";
    /// GPU IOMMU groups can be passed through whole.
    GpuGroupViable => "gpu.group_viable", Gpu, "GPU IOMMU groups can be passed through";
    /// VFIO cdevs for iommufd.
    GpuVfioCdev => "gpu.vfio_cdev", Gpu, "VFIO cdevs (iommufd)";
    /// GPU confidential-computing mode (GPU operator labels).
    GpuCcMode => "gpu.cc_mode", Gpu, "GPU confidential-computing mode (GPU operator labels)";
    /// The kubelet's PodResources `Get`.
    K8sPodresources => "k8s.podresources", Kubernetes, "kubelet PodResources Get";
}

impl CheckId {
    /// The anchor of the check in `docs/probe-checks.md` (dots replaced by dashes).
    pub fn anchor(self) -> String {
        self.as_str().replace('.', "-")
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for CheckId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CheckId::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("no check `{s}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::CheckId;

    #[test]
    fn ids_serialise_to_their_dotted_strings_and_back() {
        for id in CheckId::ALL {
            let json = serde_json::to_string(id).unwrap();
            assert_eq!(json, format!("\"{}\"", id.as_str()));
            assert_eq!(serde_json::from_str::<CheckId>(&json).unwrap(), *id);
            assert_eq!(id.as_str().parse::<CheckId>().unwrap(), *id);
        }
        assert_eq!(CheckId::SnpBiosMsr.as_str(), "snp.bios.msr");
        assert_eq!(CheckId::SnpBiosMsr.anchor(), "snp-bios-msr");
    }
}
