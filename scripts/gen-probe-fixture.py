#!/usr/bin/env python3
"""Writes a large probe fixture: an SEV-SNP HGX-style host with 8 NVIDIA GPUs (vfio-pci),
4 NVSwitches and 256 IOMMU groups (the rest NVMe drives, NICs and bridges), as sysfs lays
them out (devices under /sys/devices, relative links from /sys/bus/pci/devices).
Usage: gen-probe-fixture.py OUTDIR"""
import json, os, sys

out = sys.argv[1]
root = os.path.join(out, "root")

def write(path, text):
    p = os.path.join(root, path)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text + "\n")

def link(path, target):
    p = os.path.join(root, path)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    if os.path.lexists(p):
        os.remove(p)
    os.symlink(target, p)

def mkdir(path):
    os.makedirs(os.path.join(root, path), exist_ok=True)

write("proc/sys/kernel/arch", "x86_64")
write("proc/sys/kernel/osrelease", "6.12.8-snp")
write("proc/self/status", "Name:\tcococtl\nUid:\t0\t0\t0\t0")
write("proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/nvme0n1p2 ro")
write("proc/cpuinfo", "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n"
      "model name\t: AMD EPYC 9654 96-Core Processor\nflags\t\t: fpu svm sme sev sev_es sev_snp xsave")
for m in ["kvm", "kvm_amd", "vhost", "vhost_net", "vhost_vsock"]:
    mkdir(f"sys/module/{m}")
for p in ["sev", "sev_es", "sev_snp"]:
    write(f"sys/module/kvm_amd/parameters/{p}", "Y")
write("sys/fs/cgroup/misc.capacity", "sev 410\nsev_es 99")
# EFR:EFR2 with bit 63 (SNPSup) set: the IOMMU supports SEV-SNP.
write("sys/class/iommu/ivhd0/amd-iommu/features", "a5bf732ef82a2eef:0000000000000001")
write("var/lib/kubelet/config.yaml", "kind: KubeletConfiguration\nfeatureGates:\n  KubeletPodResourcesGet: true")

kinds = [("gpu", 8), ("nvswitch", 4), ("other", 244)]
group = 0
for kind, count in kinds:
    for i in range(count):
        bus = group + 1
        bdf = f"0000:{bus // 256:02x}:{bus % 256:02x}.0" if bus < 256 else f"0001:{bus % 256:02x}:00.0"
        dev = f"sys/devices/pci0000:00/{bdf}"
        if kind == "gpu":
            vendor, device, cls, driver = "0x10de", "0x2330", "0x030200", "vfio-pci"
            mkdir(f"{dev}/vfio-dev/vfio{group}")
        elif kind == "nvswitch":
            vendor, device, cls, driver = "0x10de", "0x22a3", "0x068000", None
        elif i % 3 == 0:
            vendor, device, cls, driver = "0x144d", "0xa80a", "0x010802", "nvme"
        elif i % 3 == 1:
            vendor, device, cls, driver = "0x15b3", "0x1021", "0x020000", "mlx5_core"
        else:
            vendor, device, cls, driver = "0x1022", "0x14ab", "0x060400", "pcieport"
        write(f"{dev}/vendor", vendor)
        write(f"{dev}/device", device)
        write(f"{dev}/class", cls)
        write(f"{dev}/resource", "0x00000000fd000000 0x00000000fdffffff 0x0000000000040200")
        if driver:
            link(f"{dev}/driver", f"../../../bus/pci/drivers/{driver}")
        link(f"{dev}/iommu_group", f"../../../kernel/iommu_groups/{group}")
        link(f"sys/bus/pci/devices/{bdf}", f"../../../devices/pci0000:00/{bdf}")
        write(f"sys/kernel/iommu_groups/{group}/type", "DMA")
        link(f"sys/kernel/iommu_groups/{group}/devices/{bdf}", f"../../../../devices/pci0000:00/{bdf}")
        group += 1

hw = {
    "cpuid": {"0x0/0": [16, 0x68747541, 0x444d4163, 0x69746e65], "0x1/0": [0x00a10f11, 0, 0, 0],
              "0x80000000/0": [0x80000028, 0, 0, 0], "0x8000001f/0": [0x0001781b, 0x4173, 0x1fd, 0x64]},
    "msr": {"0xc0010010": (1 << 23) | (1 << 24) | (1 << 25), "0xc0010132": 0x4000000000, "0xc0010133": 0x41ffffffff, "0xc0010131": 0},
    "kvm": {"api_version": 12, "vm_types": 0x19},
    "snp_status": {"api_major": 1, "api_minor": 55, "build_id": 21, "state": 1, "rmp_initialized": True,
                   "alias_check_complete": True, "guest_count": 0, "platform_tcb": "3.0.8.115", "reported_tcb": "3.0.8.115"},
    "kmsg": {"lines": ["SEV-SNP: RMP table physical range [0x0000004000000000 - 0x00000041ffffffff]",
                       "AMD-Vi: IOMMU SNP support enabled.",
                       "ccp 0000:45:00.1: SEV-SNP API:1.55 build:21",
                       "kvm_amd: SEV-SNP enabled (ASIDs 1 - 99)"], "complete": True},
    "devices": {"dev/kvm": "char", "dev/sev": "char", "dev/iommu": "char"},
    "node_labels": {"nvidia.com/cc.mode.state": "on", "nvidia.com/cc.ready.state": "true"},
    "kubelet_version": "v1.34.1",
}
with open(os.path.join(out, "hw.json"), "w") as f:
    json.dump(hw, f, indent=1)
