//! IOMMU and VFIO prerequisites for passing devices (GPUs) into Kata VMs.

use super::{cpu, CMDLINE};
use crate::check::{Check, Ctx, Outcome};
use crate::id::CheckId;
use crate::input::{Input, Reading};
use crate::parse::cmdline;

pub fn checks() -> Vec<Check> {
    vec![
        Check::new(
            CheckId::IommuEnabled,
            vec![
                Input::dir("sys/class/iommu"),
                Input::dir("sys/kernel/iommu_groups"),
                Input::file(super::CPUINFO),
            ],
            iommu_enabled,
        ),
        Check::new(
            CheckId::IommuIrqRemap,
            vec![Input::file(
                "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
            )],
            iommu_irq_remap,
        ),
        Check::new(
            CheckId::IommuAcsOverride,
            vec![Input::file(CMDLINE)],
            iommu_acs_override,
        ),
        Check::new(
            CheckId::IommuIommufd,
            vec![Input::device("dev/iommu")],
            iommu_iommufd,
        ),
    ]
}

/// `iommu.enabled`: see `docs/probe-checks.md#iommu-enabled`.
fn iommu_enabled(ctx: &Ctx) -> Outcome {
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
}

/// `iommu.irq_remap`: see `docs/probe-checks.md#iommu-irq_remap`.
fn iommu_irq_remap(ctx: &Ctx) -> Outcome {
    let p = "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts";
    let ev = vec![ctx.ev_file(p)];
    match super::param(ctx, p).0 {
        Some(true) => Outcome::fail("vfio allows unsafe interrupts: no interrupt remapping isolates passed-through devices")
            .fix("enable interrupt remapping in BIOS and drop vfio_iommu_type1.allow_unsafe_interrupts=1")
            .with(ev),
        _ => Outcome::pass("unsafe interrupts not allowed").with(ev),
    }
}

/// `iommu.acs_override`: see `docs/probe-checks.md#iommu-acs_override`.
fn iommu_acs_override(ctx: &Ctx) -> Outcome {
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
}

/// `iommu.iommufd`: see `docs/probe-checks.md#iommu-iommufd`.
fn iommu_iommufd(ctx: &Ctx) -> Outcome {
    let ev = vec![ctx.ev(&Input::device("dev/iommu"))];
    match ctx.view.get(&Input::device("dev/iommu")) {
        Reading::Device { .. } => Outcome::pass("/dev/iommu present").with(ev),
        _ => Outcome::warn("no /dev/iommu: confidential GPU passthrough needs iommufd")
            .fix("kernel with CONFIG_IOMMUFD and CONFIG_VFIO_DEVICE_CDEV; modprobe iommufd")
            .with(ev),
    }
}
