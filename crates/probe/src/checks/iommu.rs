//! IOMMU and VFIO prerequisites for passing devices (GPUs) into Kata VMs.

use super::{cpu, CMDLINE};
use crate::check::{Check, Group, Outcome};
use crate::input::{Input, Reading};
use crate::parse::cmdline;

pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "iommu.enabled",
            title: "IOMMU on",
            group: Group::Iommu,
            inputs: vec![
                Input::dir("sys/class/iommu"),
                Input::dir("sys/kernel/iommu_groups"),
                Input::file(super::CPUINFO),
            ],
            eval: |ctx| {
                let ev = vec![
                    ctx.ev(&Input::dir("sys/class/iommu")),
                    ctx.ev(&Input::dir("sys/kernel/iommu_groups")),
                ];
                let groups = ctx.view.dir("sys/kernel/iommu_groups").len();
                if groups > 0 {
                    return Outcome::pass(format!("{groups} IOMMU groups")).with(ev);
                }
                let fix = if cpu(ctx).vendor.as_deref() == Some("GenuineIntel") {
                    "BIOS: enable VT-d; kernel: intel_iommu=on"
                } else {
                    "BIOS: enable the IOMMU (AMD-Vi); it is on by default in the kernel"
                };
                Outcome::fail("no IOMMU groups: devices cannot be passed to VMs")
                    .fix(fix)
                    .with(ev)
            },
        },
        Check {
            id: "iommu.irq_remap",
            title: "Interrupt remapping",
            group: Group::Iommu,
            inputs: vec![Input::file(
                "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
            )],
            eval: |ctx| {
                let p = "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts";
                let ev = vec![ctx.ev_file(p)];
                match super::param(ctx, p).0 {
                    Some(true) => Outcome::fail("vfio allows unsafe interrupts: no interrupt remapping isolates passed-through devices")
                        .fix("enable interrupt remapping in BIOS and drop vfio_iommu_type1.allow_unsafe_interrupts=1")
                        .with(ev),
                    _ => Outcome::pass("unsafe interrupts not allowed").with(ev),
                }
            },
        },
        Check {
            id: "iommu.acs_override",
            title: "No ACS override",
            group: Group::Iommu,
            inputs: vec![Input::file(CMDLINE)],
            eval: |ctx| {
                let ev = vec![ctx.ev_file(CMDLINE)];
                if cmdline::has(
                    ctx.view.file(CMDLINE).text().unwrap_or_default(),
                    "pcie_acs_override",
                ) {
                    Outcome::warn("pcie_acs_override splits IOMMU groups without real isolation")
                        .fix("remove pcie_acs_override; place GPUs behind ACS-capable switches")
                        .with(ev)
                } else {
                    Outcome::pass("no pcie_acs_override").with(ev)
                }
            },
        },
        Check {
            id: "iommu.iommufd",
            title: "iommufd (/dev/iommu)",
            group: Group::Iommu,
            inputs: vec![Input::device("dev/iommu")],
            eval: |ctx| {
                let ev = vec![ctx.ev(&Input::device("dev/iommu"))];
                match ctx.view.get(&Input::device("dev/iommu")) {
                    Reading::Device { .. } => Outcome::pass("/dev/iommu present").with(ev),
                    _ => Outcome::warn("no /dev/iommu: confidential GPU passthrough needs iommufd").fix("kernel with CONFIG_IOMMUFD and CONFIG_VFIO_DEVICE_CDEV; modprobe iommufd").with(ev),
                }
            },
        },
    ]
}
