//! Builds fixture hosts (a fake root plus `hw.json`) from the documented paths, so each
//! matrix case reads as the host it describes.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cococtl_core::Arch;
use cococtl_probe::host::fixture::{cpuid_key, msr_key, FixtureHost, Hw, HwFile, Unavailable};
use cococtl_probe::input::{Kmsg, KvmInfo, SnpStatus};
use cococtl_probe::recommend::ProfileShims;
use cococtl_probe::report::Report;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub hw: HwFile,
}

impl Fixture {
    pub fn empty() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root")).unwrap();
        Fixture {
            dir,
            hw: HwFile::default(),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn file(self, path: &str, content: &str) -> Self {
        let p = self.root().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, format!("{content}\n")).unwrap();
        self
    }

    pub fn rm(self, path: &str) -> Self {
        let p = self.root().join(path);
        let _ = std::fs::remove_file(&p).or_else(|_| std::fs::remove_dir_all(&p));
        self
    }

    pub fn dir(self, path: &str) -> Self {
        std::fs::create_dir_all(self.root().join(path)).unwrap();
        self
    }

    pub fn link(self, path: &str, target: &str) -> Self {
        let p = self.root().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(&p);
        std::os::unix::fs::symlink(target, p).unwrap();
        self
    }

    pub fn cpuid(mut self, leaf: u32, regs: [u32; 4]) -> Self {
        self.hw.cpuid.insert(cpuid_key(leaf, 0), Hw::Value(regs));
        self
    }

    /// A CPUID leaf that could not be read (`not_observable`, `denied`, ...).
    pub fn cpuid_unavailable(mut self, leaf: u32, kind: &str) -> Self {
        self.hw.cpuid.insert(cpuid_key(leaf, 0), marker(kind));
        self
    }

    /// A `/dev` node whose existence is unknown.
    pub fn device_unavailable(mut self, path: &str, kind: &str) -> Self {
        self.hw.devices.insert(path.into(), marker(kind));
        self
    }

    /// A file, directory or link that could not be read for a reason other than EACCES.
    pub fn unavailable(mut self, path: &str, kind: &str) -> Self {
        self.hw.unavailable.insert(
            path.into(),
            Unavailable {
                unavailable: kind.into(),
                detail: format!("recorded as {kind}"),
            },
        );
        self
    }

    /// KVM's API version known, its VM types not.
    pub fn vm_types_unknown(mut self) -> Self {
        self.hw.kvm = Some(Hw::Value(KvmInfo {
            api_version: 12,
            vm_types: None,
        }));
        self
    }

    pub fn msr(mut self, index: u32, value: Hw<u64>) -> Self {
        self.hw.msr.insert(msr_key(index), value);
        self
    }

    pub fn device(mut self, path: &str) -> Self {
        self.hw
            .devices
            .insert(path.into(), Hw::Value("char".into()));
        self
    }

    pub fn no_device(mut self, path: &str) -> Self {
        self.hw.devices.remove(path);
        self
    }

    pub fn kmsg(mut self, lines: &[&str], complete: bool) -> Self {
        self.hw.kmsg = Some(Hw::Value(Kmsg {
            lines: lines.iter().map(|s| s.to_string()).collect(),
            complete,
        }));
        self
    }

    pub fn labels(mut self, pairs: &[(&str, &str)]) -> Self {
        self.hw.node_labels = Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        );
        self
    }

    pub fn denied(mut self, path: &str) -> Self {
        self.hw.denied.push(path.into());
        self
    }

    pub fn write_hw(&self) -> PathBuf {
        let p = self.dir.path().join("hw.json");
        std::fs::write(&p, serde_json::to_string_pretty(&self.hw).unwrap()).unwrap();
        p
    }

    pub fn host(&self) -> FixtureHost {
        FixtureHost::new(&self.root(), self.hw.clone()).unwrap()
    }

    pub fn probe(&self) -> Report {
        cococtl_probe::probe(&self.host(), None)
    }

    pub fn probe_profile(&self, profile: &str, arch: Arch) -> Report {
        let shims = cococtl_profile::builtin::enabled_shims(
            cococtl_profile::builtin::source(profile).unwrap(),
        )
        .unwrap();
        let p = ProfileShims {
            profile: profile.into(),
            arch: Some(arch),
            shims: shims.get(&arch).cloned().unwrap_or_default(),
        };
        cococtl_probe::probe(&self.host(), Some(p))
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// An unavailable marker of `kind`.
pub fn marker<T>(kind: &str) -> Hw<T> {
    Hw::Unavailable {
        unavailable: kind.into(),
        detail: format!("recorded as {kind}"),
    }
}

/// EFR:EFR2 of an AMD IOMMU with SNPSup (bit 63) set, as `amd-iommu/features` shows it.
pub const EFR_SNPSUP: &str = "a5bf732ef82a2eef:0000000000000001";

const ROOT_STATUS: &str = "Name:\tcococtl\nUid:\t0\t0\t0\t0\nCapEff:\t000001ffffffffff";

fn common(f: Fixture) -> Fixture {
    f.file("proc/self/status", ROOT_STATUS)
        .file(
            "proc/cmdline",
            "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet",
        )
        .dir("sys/module/kvm")
        .dir("sys/module/vhost")
        .dir("sys/module/vhost_net")
        .dir("sys/module/vhost_vsock")
        .dir("sys/class/iommu/ivhd0")
        .file("sys/kernel/iommu_groups/0/type", "DMA")
        .dir("sys/kernel/iommu_groups/0/devices")
        .device("dev/kvm")
}

pub const SNP_SYSCFG: u64 = (1 << 23) | (1 << 24) | (1 << 25);

pub fn snp_status(api: (u8, u8)) -> SnpStatus {
    SnpStatus {
        api_major: api.0,
        api_minor: api.1,
        build_id: 21,
        state: 1,
        rmp_initialized: true,
        alias_check_complete: true,
        guest_count: 0,
        platform_tcb: "3.0.8.115".into(),
        reported_tcb: "3.0.8.115".into(),
    }
}

/// A bare-metal AMD EPYC host with SEV-SNP ready (Milan unless `model_name` says otherwise).
pub fn snp_host(model: u32, model_name: &str) -> Fixture {
    let mut f = common(Fixture::empty())
        .file("proc/sys/kernel/arch", "x86_64")
        .file("proc/sys/kernel/osrelease", "6.12.8-snp")
        .file(
            "proc/cpuinfo",
            &format!("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: {model}\nmodel name\t: {model_name}\nflags\t\t: fpu vme svm sme sev sev_es sev_snp xsave\n"),
        )
        .dir("sys/module/kvm_amd")
        .file("sys/module/kvm_amd/parameters/sev", "Y")
        .file("sys/module/kvm_amd/parameters/sev_es", "Y")
        .file("sys/module/kvm_amd/parameters/sev_snp", "Y")
        .file("sys/fs/cgroup/misc.capacity", "sev 410\nsev_es 99")
        .file("sys/class/iommu/ivhd0/amd-iommu/features", EFR_SNPSUP)
        .cpuid(0, [0x10, 0x6874_7541, 0x444d_4163, 0x6974_6e65])
        .cpuid(1, [0x00a0_0f11, 0, 0, 0])
        .cpuid(0x8000_0000, [0x8000_0028, 0, 0, 0])
        .cpuid(0x8000_001F, [0x0001_781b, 0x0000_4173, 0x0000_01fd, 0x0000_0064])
        .msr(0xC001_0010, Hw::Value(SNP_SYSCFG))
        .msr(0xC001_0132, Hw::Value(0x0000_0040_0000_0000))
        .msr(0xC001_0133, Hw::Value(0x0000_0041_ffff_ffff))
        .msr(0xC001_0131, Hw::Value(0))
        .device("dev/sev")
        .kmsg(&["SEV-SNP: RMP table physical range [0x0000004000000000 - 0x00000041ffffffff]", "kvm_amd: SEV-SNP enabled (ASIDs 1 - 99)"], true);
    f.hw.kvm = Some(Hw::Value(KvmInfo {
        api_version: 12,
        vm_types: Some(0x19),
    }));
    f.hw.snp_status = Some(Hw::Value(snp_status((1, 55))));
    f
}

/// A bare-metal Intel Xeon host with TDX ready.
pub fn tdx_host() -> Fixture {
    let mut f = common(Fixture::empty())
        .file("proc/sys/kernel/arch", "x86_64")
        .file("proc/sys/kernel/osrelease", "6.16.3")
        .file(
            "proc/cpuinfo",
            "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu vmx xsave movdir64b tdx_host_platform\n",
        )
        .rm("sys/class/iommu/ivhd0")
        .dir("sys/class/iommu/dmar0")
        .dir("sys/module/kvm_intel")
        .file("sys/module/kvm_intel/parameters/tdx", "Y")
        .file("sys/module/kvm_intel/parameters/ept", "Y")
        .file("sys/module/kvm_intel/parameters/enable_apicv", "Y")
        .file("sys/module/kvm/parameters/tdp_mmu", "Y")
        .file("sys/module/kvm/parameters/enable_virt_at_load", "Y")
        .file("sys/module/kvm/parameters/mmio_caching", "Y")
        .file("sys/fs/cgroup/misc.capacity", "tdx 31")
        .cpuid(0, [0x20, 0x756e_6547, 0x6c65_746e, 0x4965_6e69])
        .cpuid(1, [0x000c_06f2, 0, 0, 0])
        .kmsg(&["virt/tdx: BIOS enabled: private KeyID range [32, 64)", "virt/tdx: module initialized"], true);
    f.hw.kvm = Some(Hw::Value(KvmInfo {
        api_version: 12,
        vm_types: Some(0x21),
    }));
    f
}

/// An IBM z16 LPAR able to run Secure Execution guests.
pub fn se_host() -> Fixture {
    common(Fixture::empty())
        .rm("sys/class/iommu/ivhd0")
        .file("proc/sys/kernel/arch", "s390x")
        .file("proc/sys/kernel/osrelease", "6.8.0-45-generic")
        .file("proc/cpuinfo", "vendor_id       : IBM/S390\n# processors    : 8\nfacilities      : 0 1 2 3 4 6 7 8 9 10 158 159\nprocessor 0: version = FF,  identification = 0A1B2C,  machine = 3931")
        .file("proc/cmdline", "root=/dev/dasda1 prot_virt=1")
        .file("sys/firmware/uv/prot_virt_host", "1")
        .file("sys/firmware/uv/prot_virt_guest", "0")
}

/// Adds an NVIDIA GPU (and its IOMMU group) at `bdf`.
pub fn with_gpu(f: Fixture, bdf: &str, group: u32, driver: Option<&str>) -> Fixture {
    let dev = format!("sys/bus/pci/devices/{bdf}");
    let mut f = f
        .file(&format!("{dev}/vendor"), "0x10de")
        .file(&format!("{dev}/device"), "0x2330")
        .file(&format!("{dev}/class"), "0x030200")
        .link(
            &format!("{dev}/iommu_group"),
            &format!("../../../../kernel/iommu_groups/{group}"),
        )
        .file(&format!("sys/kernel/iommu_groups/{group}/type"), "DMA")
        .dir(&format!("sys/kernel/iommu_groups/{group}/devices/{bdf}"));
    if let Some(d) = driver {
        f = f.link(
            &format!("{dev}/driver"),
            &format!("../../../../bus/pci/drivers/{d}"),
        );
        if d == "vfio-pci" {
            f = f.dir(&format!("{dev}/vfio-dev/vfio{group}"));
        }
    }
    f
}

/// Adds a non-GPU PCI function into an existing group.
pub fn with_device(
    f: Fixture,
    bdf: &str,
    group: u32,
    vendor: &str,
    class: &str,
    driver: Option<&str>,
) -> Fixture {
    let dev = format!("sys/bus/pci/devices/{bdf}");
    let mut f = f
        .file(&format!("{dev}/vendor"), vendor)
        .file(&format!("{dev}/device"), "0x0001")
        .file(&format!("{dev}/class"), class)
        .link(
            &format!("{dev}/iommu_group"),
            &format!("../../../../kernel/iommu_groups/{group}"),
        )
        .dir(&format!("sys/kernel/iommu_groups/{group}/devices/{bdf}"));
    if let Some(d) = driver {
        f = f.link(
            &format!("{dev}/driver"),
            &format!("../../../../bus/pci/drivers/{d}"),
        );
    }
    f
}

/// GPU operator labels and kubelet facts for a confidential-GPU node.
pub fn cc_gpu_node(f: Fixture) -> Fixture {
    let mut f = f
        .device("dev/iommu")
        .labels(&[("nvidia.com/cc.mode.state", "on"), ("nvidia.com/cc.ready.state", "true")])
        .file("var/lib/kubelet/config.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfeatureGates:\n  KubeletPodResourcesGet: true");
    f.hw.kubelet_version = Some("v1.33.4".into());
    f
}
