//! The synthetic fixture matrix of `docs/probe-checks.md#fixtures`: each case is a host built from
//! the documented paths, and the test pins the verdicts and the recommendation.

mod common;

use cococtl_core::Arch;
use cococtl_probe::check::{SkipReason, Status};
use cococtl_probe::host::fixture::Hw;
use cococtl_probe::report::Report;
use common::*;

fn st(r: &Report, id: &str) -> Status {
    r.check(id)
        .unwrap_or_else(|| panic!("no check {id}"))
        .outcome
        .status
}

fn msg(r: &Report, id: &str) -> String {
    let o = &r.check(id).unwrap().outcome;
    format!(
        "{} | fix: {}",
        o.message,
        o.remediation.clone().unwrap_or_default()
    )
}

fn shims(r: &Report) -> Vec<String> {
    r.recommendation
        .shims
        .iter()
        .filter(|s| s.ready)
        .map(|s| s.shim.clone())
        .collect()
}

fn assert_clean(r: &Report) {
    assert!(
        r.defects.is_empty(),
        "checks read undeclared inputs: {:?}",
        r.defects
    );
}

#[test]
fn snp_ready_milan_recommends_qemu_snp() {
    let r = snp_host(1, "AMD EPYC 7763 64-Core Processor").probe();
    assert_clean(&r);
    for id in [
        "snp.cpuid",
        "snp.bios.cpuinfo",
        "snp.bios.msr",
        "snp.iommu",
        "snp.kvm.params",
        "snp.dev",
        "snp.fw.status",
        "snp.capacity",
        "snp.ready",
    ] {
        assert_eq!(st(&r, id), Status::Pass, "{id}: {}", msg(&r, id));
    }
    assert_eq!(r.recommendation.profile.as_deref(), Some("x86_64"));
    assert_eq!(shims(&r), ["qemu-snp"]);
    assert!(msg(&r, "snp.capacity").contains("99"));
    assert!(r.ready());
}

#[test]
fn snp_ready_genoa_with_firmware_2_0_passes_the_api_check() {
    let mut f = snp_host(0x11, "AMD EPYC 9654 96-Core Processor");
    f.hw.snp_status = Some(Hw::Value(snp_status((2, 0))));
    let r = f.probe();
    assert_eq!(
        st(&r, "snp.fw.status"),
        Status::Pass,
        "{}",
        msg(&r, "snp.fw.status")
    );
}

#[test]
fn snp_blocked_by_iommu_pt_names_the_token() {
    let r = snp_host(1, "AMD EPYC 7763")
        .file("proc/cmdline", "ro iommu=pt")
        .probe();
    assert_eq!(st(&r, "snp.iommu"), Status::Fail);
    assert!(msg(&r, "snp.iommu").contains("iommu=pt"));
    assert_eq!(st(&r, "snp.ready"), Status::Fail);
    assert_eq!(
        shims(&r),
        ["qemu-coco-dev"],
        "falls back to the non-confidential shim"
    );
}

#[test]
fn snp_blocked_by_an_identity_iommu_group() {
    let r = snp_host(1, "AMD EPYC 7763")
        .file("sys/kernel/iommu_groups/0/type", "identity")
        .probe();
    assert_eq!(st(&r, "snp.iommu"), Status::Fail);
    assert!(msg(&r, "snp.iommu").contains("identity"));
}

#[test]
fn snp_bios_snpen_off_fails_the_msr_check_with_the_bios_fix() {
    let r = snp_host(1, "AMD EPYC 7763")
        .msr(0xC001_0010, Hw::Value(1 << 23))
        .probe();
    assert_eq!(st(&r, "snp.bios.msr"), Status::Fail);
    assert!(
        msg(&r, "snp.bios.msr").contains("SNPEn=false") && msg(&r, "snp.bios.msr").contains("BIOS")
    );
}

#[test]
fn snp_iommu_without_snp_support_is_seen_in_the_kernel_log() {
    let r = snp_host(1, "AMD EPYC 7763")
        .kmsg(
            &["AMD-Vi: SNP: IOMMU SNP feature not enabled, SNP cannot be supported."],
            true,
        )
        .probe();
    assert_eq!(
        st(&r, "snp.iommu"),
        Status::Fail,
        "{}",
        msg(&r, "snp.iommu")
    );
}

#[test]
fn snp_host_probed_without_root_degrades_to_the_non_root_signals() {
    let mut f = snp_host(1, "AMD EPYC 7763")
        .file(
            "proc/self/status",
            "Name:\tcococtl\nUid:\t1000\t1000\t1000\t1000",
        )
        .msr(
            0xC001_0010,
            Hw::Unavailable {
                unavailable: "denied".into(),
                detail: String::new(),
            },
        );
    f.hw.snp_status = Some(Hw::Unavailable {
        unavailable: "denied".into(),
        detail: "EACCES".into(),
    });
    f.hw.kmsg = Some(Hw::Unavailable {
        unavailable: "denied".into(),
        detail: "dmesg_restrict".into(),
    });
    let r = f.probe();
    assert_eq!(st(&r, "host.privilege"), Status::Warn);
    let msr = &r.check("snp.bios.msr").unwrap().outcome;
    assert_eq!(
        (msr.status, msr.skip_reason),
        (Status::Skip, Some(SkipReason::NeedsRoot))
    );
    let fw = &r.check("snp.fw.status").unwrap().outcome;
    assert_eq!(fw.skip_reason, Some(SkipReason::NeedsRoot));
    assert_eq!(
        st(&r, "snp.bios.cpuinfo"),
        Status::Pass,
        "cpuinfo still tells"
    );
    // Skips do not block, but they do not prove either: without the firmware status or
    // the kernel log nothing shows that SNP firmware initialised.
    let ready = &r.check("snp.ready").unwrap().outcome;
    assert_eq!(ready.status, Status::Unknown, "{}", ready.message);
    assert!(ready
        .blocked_by
        .iter()
        .any(|b| b.check == cococtl_probe::id::CheckId::SnpFwStatus
            && b.kind == cococtl_probe::check::BlockKind::NotObserved));
    assert!(!r.ready(), "unknown is not ready");
}

#[test]
fn snp_firmware_without_alias_check_warns() {
    let mut f = snp_host(1, "AMD EPYC 7763");
    let mut s = snp_status((1, 55));
    s.alias_check_complete = false;
    f.hw.snp_status = Some(Hw::Value(s));
    let r = f.probe();
    assert_eq!(st(&r, "snp.fw.status"), Status::Warn);
    assert!(msg(&r, "snp.fw.status").contains("AMD-SB-3015"));
}

#[test]
fn snp_firmware_too_old_fails() {
    let mut f = snp_host(1, "AMD EPYC 7763");
    f.hw.snp_status = Some(Hw::Value(snp_status((1, 49))));
    let r = f.probe();
    assert_eq!(st(&r, "snp.fw.status"), Status::Fail);
    assert!(msg(&r, "snp.fw.status").contains("1.49 is older than 1.51"));
}

#[test]
fn snp_kernel_without_sev_snp_param_says_why() {
    let r = snp_host(1, "AMD EPYC 7763")
        .rm("sys/module/kvm_amd/parameters/sev_snp")
        .probe();
    assert_eq!(st(&r, "snp.kvm.params"), Status::Fail);
    assert!(msg(&r, "snp.kvm.params").contains("6.11"));
}

#[test]
fn tdx_ready_recommends_qemu_tdx() {
    let r = tdx_host().probe();
    assert_clean(&r);
    for id in [
        "tdx.cpuinfo",
        "tdx.kmsg",
        "tdx.kvm.param",
        "tdx.kvm.prereqs",
        "tdx.capacity",
        "tdx.ready",
    ] {
        assert_eq!(st(&r, id), Status::Pass, "{id}: {}", msg(&r, id));
    }
    assert_eq!(st(&r, "snp.ready"), Status::Skip);
    assert_eq!(shims(&r), ["qemu-tdx"]);
}

#[test]
fn tdx_bios_only_keyids_fails_on_the_module() {
    let r = tdx_host()
        .file("sys/module/kvm_intel/parameters/tdx", "N")
        .kmsg(
            &[
                "virt/tdx: BIOS enabled: private KeyID range [32, 64)",
                "virt/tdx: module not loaded",
            ],
            true,
        )
        .probe();
    assert_eq!(st(&r, "tdx.cpuinfo"), Status::Pass);
    assert_eq!(st(&r, "tdx.kmsg"), Status::Fail);
    assert_eq!(st(&r, "tdx.kvm.param"), Status::Fail);
    assert_eq!(st(&r, "tdx.ready"), Status::Fail);
}

#[test]
fn tdx_module_never_initialised_with_a_complete_log_fails() {
    let r = tdx_host()
        .kmsg(
            &["virt/tdx: BIOS enabled: private KeyID range [32, 64)"],
            true,
        )
        .probe();
    assert_eq!(st(&r, "tdx.kmsg"), Status::Fail);
}

#[test]
fn tdx_rotated_log_is_not_observable_rather_than_failed() {
    let r = tdx_host().kmsg(&["some later line"], false).probe();
    assert_eq!(
        r.check("tdx.kmsg").unwrap().outcome.skip_reason,
        Some(SkipReason::NotObservable)
    );
}

#[test]
fn tdx_without_host_platform_flag_points_to_the_bios() {
    let r = tdx_host()
        .file(
            "proc/cpuinfo",
            "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: vmx xsave movdir64b\n",
        )
        .probe();
    assert_eq!(st(&r, "tdx.cpuinfo"), Status::Fail);
    assert!(msg(&r, "tdx.cpuinfo").contains("BIOS"));
}

#[test]
fn tdx_tdp_mmu_off_explains_why_tdx_stayed_n() {
    let r = tdx_host()
        .file("sys/module/kvm/parameters/tdp_mmu", "N")
        .file("sys/module/kvm_intel/parameters/tdx", "N")
        .probe();
    assert_eq!(st(&r, "tdx.kvm.prereqs"), Status::Fail);
    assert!(msg(&r, "tdx.kvm.prereqs").contains("tdp_mmu"));
}

#[test]
fn se_ready_recommends_qemu_se() {
    let r = se_host().probe();
    assert_clean(&r);
    for id in ["se.facility", "se.host", "se.cmdline", "se.ready"] {
        assert_eq!(st(&r, id), Status::Pass, "{id}: {}", msg(&r, id));
    }
    assert_eq!(r.recommendation.profile.as_deref(), Some("s390x"));
    assert_eq!(shims(&r), ["qemu-se"]);
    assert_eq!(st(&r, "host.virt"), Status::Skip, "no CPUID on s390x");
}

#[test]
fn se_without_prot_virt_fails_with_the_zipl_fix() {
    let r = se_host()
        .file("sys/firmware/uv/prot_virt_host", "0")
        .file("proc/cmdline", "root=/dev/dasda1")
        .probe();
    assert_eq!(st(&r, "se.host"), Status::Fail);
    assert!(msg(&r, "se.host").contains("zipl"));
    assert_eq!(shims(&r), ["qemu-coco-dev"]);
}

#[test]
fn se_guest_is_pointed_to_peer_pods() {
    let r = se_host()
        .file("sys/firmware/uv/prot_virt_guest", "1")
        .probe();
    assert_eq!(st(&r, "cvm.se"), Status::Warn);
    assert_eq!(r.recommendation.profile.as_deref(), Some("remote"));
}

#[test]
fn tdx_guest_node_is_pointed_to_peer_pods() {
    // CPUID 0x21 = "IntelTDX    " in EBX, EDX, ECX.
    let r = tdx_host()
        .cpuid(0, [0x23, 0x756e_6547, 0x6c65_746e, 0x4965_6e69])
        .cpuid(0x21, [0, 0x6574_6e49, 0x2020_2020, 0x5844_546c])
        .probe();
    assert_eq!(st(&r, "cvm.tdx"), Status::Warn, "{}", msg(&r, "cvm.tdx"));
    assert_eq!(st(&r, "cvm.summary"), Status::Warn);
    assert_eq!(r.recommendation.profile.as_deref(), Some("remote"));
    assert_eq!(shims(&r), ["remote"]);
}

#[test]
fn leaf_0x21_beyond_the_maximum_leaf_is_ignored() {
    // Beyond the max basic leaf the CPU answers with another leaf's data.
    let r = tdx_host()
        .cpuid(0x21, [0, 0x6574_6e49, 0x2020_2020, 0x5844_546c])
        .probe();
    assert_eq!(st(&r, "cvm.tdx"), Status::Pass);
}

#[test]
fn azure_snp_cvm_node_is_pointed_to_peer_pods() {
    // "Microsoft Hv" vendor leaf; isolation type 2 (SNP) in leaf 0x4000000C EBX[3:0].
    let r = snp_host(1, "AMD EPYC 7763")
        .cpuid(1, [0, 0, 1 << 31, 0])
        .cpuid(
            0x4000_0000,
            [0x4000_000C, 0x7263_694d, 0x666f_736f, 0x7648_2074],
        )
        .cpuid(0x4000_000C, [0, 2, 0, 0])
        .probe();
    assert_eq!(
        st(&r, "cvm.hyperv_isolation"),
        Status::Warn,
        "{}",
        msg(&r, "cvm.hyperv_isolation")
    );
    assert_eq!(r.recommendation.profile.as_deref(), Some("remote"));
}

#[test]
fn kvm_without_vendor_module_recommends_peer_pods() {
    let r = snp_host(1, "AMD EPYC")
        .rm("sys/module/kvm_amd")
        .dir("sys/module/kvm_pvm")
        .probe();
    assert_eq!(st(&r, "kvm.vendor_module"), Status::Fail);
    assert!(msg(&r, "kvm.vendor_module").contains("kvm_pvm"));
    assert_eq!(r.recommendation.profile.as_deref(), Some("remote"));
    let v = snp_host(1, "AMD EPYC")
        .rm("sys/module/kvm_amd")
        .probe_profile("x86_64", Arch::Amd64);
    assert!(
        !v.ready(),
        "the x86_64 profile is not ready without kvm_amd"
    );
}

#[test]
fn no_kvm_at_all_recommends_peer_pods() {
    let r = snp_host(1, "AMD EPYC").no_device("dev/kvm").probe();
    assert_eq!(st(&r, "kvm.present"), Status::Fail);
    assert_eq!(
        r.check("kvm.api").unwrap().outcome.skip_reason,
        Some(SkipReason::DependencyFailed)
    );
    assert_eq!(r.recommendation.profile.as_deref(), Some("remote"));
}

fn gpu_snp_host() -> Fixture {
    cc_gpu_node(with_gpu(
        snp_host(0x11, "AMD EPYC 9654"),
        "0000:41:00.0",
        12,
        Some("vfio-pci"),
    ))
}

#[test]
fn gpu_h100_vfio_iommufd_ready_adds_the_confidential_gpu_shim() {
    let r = gpu_snp_host().probe();
    assert_clean(&r);
    for id in [
        "gpu.inventory",
        "gpu.host_driver",
        "gpu.vfio_bound",
        "gpu.group_viable",
        "gpu.vfio_cdev",
        "gpu.cc_mode",
        "iommu.iommufd",
        "k8s.podresources",
    ] {
        assert_eq!(st(&r, id), Status::Pass, "{id}: {}", msg(&r, id));
    }
    assert_eq!(shims(&r), ["qemu-snp", "qemu-nvidia-gpu-snp"]);
    let gpu = r
        .recommendation
        .shims
        .iter()
        .find(|s| s.shim == "qemu-nvidia-gpu-snp")
        .unwrap();
    assert_eq!(
        gpu.node_labels
            .get("nvidia.com/cc.ready.state")
            .map(String::as_str),
        Some("true")
    );
    assert_eq!(
        gpu.node_labels
            .get("amd.feature.node.kubernetes.io/snp")
            .map(String::as_str),
        Some("true")
    );
}

#[test]
fn gpu_bound_to_nvidia_fails_with_the_rebind_fix() {
    let r = cc_gpu_node(with_gpu(
        snp_host(1, "AMD EPYC"),
        "0000:41:00.0",
        12,
        Some("nvidia"),
    ))
    .probe();
    assert_eq!(st(&r, "gpu.host_driver"), Status::Fail);
    assert_eq!(st(&r, "gpu.vfio_bound"), Status::Fail);
    assert!(msg(&r, "gpu.vfio_bound").contains("vfio-manager"));
    assert_eq!(shims(&r), ["qemu-snp"]);
}

#[test]
fn gpu_group_with_an_nvme_drive_is_not_viable() {
    let f = with_device(
        gpu_snp_host(),
        "0000:41:00.1",
        12,
        "0x144d",
        "0x010802",
        Some("nvme"),
    );
    let r = f.probe();
    assert_eq!(st(&r, "gpu.group_viable"), Status::Fail);
    assert!(msg(&r, "gpu.group_viable").contains("0000:41:00.1"));
}

#[test]
fn gpu_group_with_bridges_is_viable() {
    let f = with_device(
        gpu_snp_host(),
        "0000:40:01.1",
        12,
        "0x1022",
        "0x060400",
        Some("pcieport"),
    );
    assert_eq!(st(&f.probe(), "gpu.group_viable"), Status::Pass);
}

#[test]
fn gpu_audio_sibling_left_unbound_keeps_the_group_viable() {
    let f = with_device(
        gpu_snp_host(),
        "0000:41:00.1",
        12,
        "0x10de",
        "0x040300",
        None,
    );
    assert_eq!(st(&f.probe(), "gpu.group_viable"), Status::Pass);
}

#[test]
fn hgx_with_nvswitches_reports_them() {
    let mut f = gpu_snp_host();
    for (i, bdf) in ["0000:05:00.0", "0000:06:00.0"].iter().enumerate() {
        f = with_device(f, bdf, 100 + i as u32, "0x10de", "0x068000", None);
    }
    let r = f.probe();
    assert_eq!(st(&r, "nvswitch.inventory"), Status::Pass);
    assert!(msg(&r, "nvswitch.inventory").starts_with("2 NVSwitch"));
}

#[test]
fn kubelet_1_33_without_the_gate_warns_and_blocks_the_confidential_gpu_shim() {
    let mut f = gpu_snp_host().file(
        "var/lib/kubelet/config.yaml",
        "kind: KubeletConfiguration\nfeatureGates:\n  KubeletPodResourcesGet: false",
    );
    f.hw.kubelet_version = Some("v1.33.1".into());
    let r = f.probe();
    assert_eq!(st(&r, "k8s.podresources"), Status::Fail);
    assert_eq!(shims(&r), ["qemu-snp"]);
    let g = gpu_snp_host().rm("var/lib/kubelet/config.yaml").probe();
    assert_eq!(
        st(&g, "k8s.podresources"),
        Status::Warn,
        "1.33 without the gate set"
    );
}

#[test]
fn gpu_in_non_confidential_mode_on_a_kvm_host_recommends_the_nvidia_gpu_profile() {
    let f = with_gpu(
        snp_host(1, "AMD EPYC").file("sys/module/kvm_amd/parameters/sev_snp", "N"),
        "0000:41:00.0",
        12,
        Some("vfio-pci"),
    )
    .labels(&[("nvidia.com/cc.ready.state", "false")]);
    let r = f.probe();
    assert_eq!(r.recommendation.profile.as_deref(), Some("nvidia-gpu"));
    assert_eq!(shims(&r), ["qemu-nvidia-gpu"]);
}

#[test]
fn profile_verdict_is_ready_when_any_of_its_shims_is() {
    let r = snp_host(1, "AMD EPYC").probe_profile("x86_64", Arch::Amd64);
    let v = r.profile.as_ref().unwrap();
    assert!(v.ready);
    let ready: Vec<_> = v
        .shims
        .iter()
        .filter(|s| s.ready)
        .map(|s| s.shim.as_str())
        .collect();
    assert_eq!(ready, ["qemu-coco-dev", "qemu-snp"]);
    let s = se_host().probe_profile("s390x", Arch::S390x);
    assert!(s.ready());
}

#[test]
fn remote_profile_is_ready_anywhere() {
    let r = snp_host(1, "AMD EPYC")
        .no_device("dev/kvm")
        .probe_profile("remote", Arch::Amd64);
    assert!(r.ready());
}
