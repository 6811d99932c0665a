//! IOMMU and VFIO prerequisites for passing devices (GPUs) into Kata VMs.

use cococtl_core::Arch;

use super::{arch, cpu, CMDLINE};
use crate::check::{Check, Ctx, Outcome};
use crate::id::CheckId;
use crate::input::{Input, Reading};
use crate::parse::cmdline;

/// The IOMMU checks, in evaluation order.
pub fn checks() -> Vec<Check> {
    vec![
        Check::new(
            CheckId::IommuEnabled,
            vec![
                Input::dir("sys/class/iommu"),
                Input::dir("sys/kernel/iommu_groups"),
                Input::file(super::CPUINFO),
                Input::file(super::ARCH),
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
    let listing = ctx.view.get(&Input::dir("sys/kernel/iommu_groups"));
    let groups = listing.entries().len();
    if groups > 0 {
        return Outcome::pass(format!("{groups} IOMMU groups")).with(ev);
    }
    if !listing.known() {
        return ctx.unreadable(listing, "/sys/kernel/iommu_groups").with(ev);
    }
    let fix = match (arch(ctx), cpu(ctx).vendor.as_deref()) {
        (Some(Arch::Amd64), Some("GenuineIntel")) => "BIOS: enable VT-d; kernel: intel_iommu=on",
        (Some(Arch::Amd64), _) => {
            "BIOS: enable the IOMMU (AMD-Vi); it is on by default in the kernel"
        }
        (Some(Arch::Arm64), _) => {
            "firmware: enable the SMMU (ACPI IORT or device tree) and boot a kernel with arm-smmu-v3"
        }
        (Some(Arch::S390x), _) => {
            "assign PCI functions to the LPAR (the s390 PCI IOMMU is always on when there are any)"
        }
        _ => "enable the platform IOMMU in the firmware",
    };
    Outcome::fail("no IOMMU groups: devices cannot be passed to VMs")
        .fix(fix)
        .with(ev)
}

/// `iommu.irq_remap`: see `docs/probe-checks.md#iommu-irq_remap`.
fn iommu_irq_remap(ctx: &Ctx) -> Outcome {
    let p = "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts";
    let ev = vec![ctx.ev_file(p)];
    match super::param(ctx, p) {
        (Some(true), _) => Outcome::fail("vfio allows unsafe interrupts: no interrupt remapping isolates passed-through devices")
            .fix("enable interrupt remapping in BIOS and drop vfio_iommu_type1.allow_unsafe_interrupts=1")
            .with(ev),
        (Some(false), _) | (None, Reading::Missing) => {
            Outcome::pass("unsafe interrupts not allowed").with(ev)
        }
        (None, other) => ctx.unreadable(other, "allow_unsafe_interrupts").with(ev),
    }
}

/// `iommu.acs_override`: see `docs/probe-checks.md#iommu-acs_override`.
fn iommu_acs_override(ctx: &Ctx) -> Outcome {
    let ev = vec![ctx.ev_file(CMDLINE)];
    let Some(cl) = ctx.view.file(CMDLINE).text() else {
        return ctx
            .unreadable(ctx.view.file(CMDLINE), "the kernel command line")
            .with(ev);
    };
    if cmdline::has(cl, "pcie_acs_override") {
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
        other if !other.known() => ctx.unreadable(other, "/dev/iommu").with(ev),
        _ => Outcome::warn("no /dev/iommu: confidential GPU passthrough needs iommufd")
            .fix("kernel with CONFIG_IOMMUFD and CONFIG_VFIO_DEVICE_CDEV; modprobe iommufd")
            .with(ev),
    }
}
