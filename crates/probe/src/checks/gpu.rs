//! NVIDIA GPUs for Kata passthrough: inventory, host driver, vfio binding, IOMMU group
//! viability, vfio cdevs for iommufd, and confidential-computing mode from the GPU
//! operator's node labels.

use std::collections::BTreeMap;

use cococtl_core::labels::GPU_CC_READY_LABEL;

use crate::check::{Check, Ctx, Evidence, Facts, Outcome, SkipReason};
use crate::id::CheckId;
use crate::input::{Input, Reading};
use crate::parse::pci;

const DEVICES: &str = "sys/bus/pci/devices";
const GROUPS: &str = "sys/kernel/iommu_groups";
/// Drivers that leave a device safe to share an IOMMU group with a passed-through GPU.
const VFIO_DRIVERS: &[&str] = &["vfio-pci", "nvgrace_gpu_vfio_pci", "nvgrace-gpu-vfio-pci"];
const HARMLESS_DRIVERS: &[&str] = &["pci-stub", "pcieport", "shpchp"];

/// One PCI function as sysfs describes it.
#[derive(Debug, Clone)]
pub struct Pci {
    pub bdf: String,
    pub vendor: u32,
    pub device: u32,
    pub class: (u8, u8),
    pub driver: Option<String>,
    pub group: Option<String>,
    pub virtual_function: bool,
    pub vfio_cdev: bool,
}

impl Pci {
    pub fn is_nvidia_gpu(&self) -> bool {
        self.vendor == pci::NVIDIA && self.class.0 == 0x03 && !self.virtual_function
    }
    pub fn is_nvswitch(&self) -> bool {
        self.vendor == pci::NVIDIA && self.class == (0x06, 0x80)
    }
    fn vfio_bound(&self) -> bool {
        self.driver
            .as_deref()
            .is_some_and(|d| VFIO_DRIVERS.contains(&d))
    }
    fn label(&self) -> String {
        format!(
            "{} ({:04x}:{:04x}, driver {})",
            self.bdf,
            self.vendor,
            self.device,
            self.driver.as_deref().unwrap_or("none")
        )
    }
}

fn inputs() -> Vec<Input> {
    vec![
        Input::each_file(DEVICES, "vendor"),
        Input::each_file(DEVICES, "device"),
        Input::each_file(DEVICES, "class"),
        Input::each_link(DEVICES, "driver"),
        Input::each_link(DEVICES, "iommu_group"),
        Input::each_link(DEVICES, "physfn"),
        Input::each_dir(DEVICES, "vfio-dev"),
        Input::each_dir(GROUPS, "devices"),
    ]
}

/// Every PCI function, by BDF.
pub fn devices(ctx: &Ctx) -> BTreeMap<String, Pci> {
    let mut out = BTreeMap::new();
    for bdf in ctx.view.dir(DEVICES) {
        let f = |n: &str| {
            ctx.view
                .file(&format!("{DEVICES}/{bdf}/{n}"))
                .text()
                .and_then(pci::hex_id)
        };
        let (Some(vendor), Some(device)) = (f("vendor"), f("device")) else {
            continue;
        };
        let class = ctx
            .view
            .file(&format!("{DEVICES}/{bdf}/class"))
            .text()
            .and_then(pci::class)
            .unwrap_or((0, 0));
        let link = |n: &str| {
            ctx.view
                .link(&format!("{DEVICES}/{bdf}/{n}"))
                .map(|t| pci::link_name(t).to_string())
        };
        out.insert(
            bdf.clone(),
            Pci {
                bdf: bdf.clone(),
                vendor,
                device,
                class,
                driver: link("driver"),
                group: link("iommu_group"),
                virtual_function: link("physfn").is_some(),
                vfio_cdev: !ctx
                    .view
                    .dir(&format!("{DEVICES}/{bdf}/vfio-dev"))
                    .is_empty(),
            },
        );
    }
    out
}

fn gpus(ctx: &Ctx) -> Vec<Pci> {
    devices(ctx)
        .into_values()
        .filter(Pci::is_nvidia_gpu)
        .collect()
}

fn no_gpus() -> Outcome {
    Outcome::skip(SkipReason::NotApplicable, "no NVIDIA GPU on this host")
}

fn evidence(gs: &[Pci]) -> Vec<Evidence> {
    gs.iter()
        .map(|g| Evidence {
            source: format!("/{DEVICES}/{}", g.bdf),
            value: g.label(),
        })
        .collect()
}

pub fn checks() -> Vec<Check> {
    vec![
        Check::new(CheckId::GpuInventory, inputs(), gpu_inventory),
        Check::new(CheckId::NvswitchInventory, inputs(), nvswitch_inventory),
        Check::new(CheckId::GpuHostDriver, inputs(), gpu_host_driver),
        Check::new(CheckId::GpuVfioBound, inputs(), gpu_vfio_bound),
        Check::new(CheckId::GpuGroupViable, inputs(), gpu_group_viable),
        Check::new(CheckId::GpuVfioCdev, inputs(), gpu_vfio_cdev),
        Check::new(
            CheckId::GpuCcMode,
            [inputs(), vec![Input::NodeLabels]].concat(),
            gpu_cc_mode,
        ),
    ]
}

/// `gpu.inventory`: see `docs/probe-checks.md#gpu-inventory`.
fn gpu_inventory(ctx: &Ctx) -> Outcome {
    let gs = gpus(ctx);
    if gs.is_empty() {
        return no_gpus();
    }
    Outcome::pass(format!("{} NVIDIA GPU(s)", gs.len())).with(evidence(&gs))
}

/// `nvswitch.inventory`: see `docs/probe-checks.md#nvswitch-inventory`.
fn nvswitch_inventory(ctx: &Ctx) -> Outcome {
    let n = devices(ctx).into_values().filter(Pci::is_nvswitch).count();
    if n == 0 {
        return Outcome::skip(SkipReason::NotApplicable, "no NVSwitch");
    }
    Outcome::pass(format!(
        "{n} NVSwitch(es): multi-GPU confidential computing needs protected PCIe (PPCIe) mode"
    ))
}

/// `gpu.host_driver`: see `docs/probe-checks.md#gpu-host_driver`.
fn gpu_host_driver(ctx: &Ctx) -> Outcome {
    let gs = gpus(ctx);
    if gs.is_empty() {
        return no_gpus();
    }
    let held: Vec<Pci> = gs
        .into_iter()
        .filter(|g| matches!(g.driver.as_deref(), Some("nvidia" | "nouveau")))
        .collect();
    if held.is_empty() {
        Outcome::pass("no GPU is bound to nvidia or nouveau")
    } else {
        Outcome::fail(format!("{} GPU(s) bound to a host driver", held.len()))
            .fix("let the GPU operator's vfio-manager rebind them (sandbox workloads), or blacklist nouveau/nvidia and bind with vfio_pci.ids=10de:<device>")
            .with(evidence(&held))
    }
}

/// `gpu.vfio_bound`: see `docs/probe-checks.md#gpu-vfio_bound`.
fn gpu_vfio_bound(ctx: &Ctx) -> Outcome {
    let gs = gpus(ctx);
    if gs.is_empty() {
        return no_gpus();
    }
    let unbound: Vec<Pci> = gs.iter().filter(|g| !g.vfio_bound()).cloned().collect();
    if unbound.is_empty() {
        Outcome::pass(format!("all {} GPU(s) on vfio-pci", gs.len())).with(evidence(&gs))
    } else {
        Outcome::fail(format!("{} of {} GPU(s) not on vfio-pci", unbound.len(), gs.len()))
            .fix("GPU operator with sandboxWorkloads.enabled=true (vfio-manager), or echo <bdf> > /sys/bus/pci/drivers/vfio-pci/bind")
            .with(evidence(&unbound))
    }
}

/// `gpu.group_viable`: see `docs/probe-checks.md#gpu-group_viable`.
fn gpu_group_viable(ctx: &Ctx) -> Outcome {
    let all = devices(ctx);
    let gs: Vec<&Pci> = all.values().filter(|p| p.is_nvidia_gpu()).collect();
    if gs.is_empty() {
        return no_gpus();
    }
    let mut bad = vec![];
    for g in &gs {
        let Some(group) = &g.group else {
            bad.push(format!("{} has no IOMMU group", g.bdf));
            continue;
        };
        for member in ctx.view.dir(&format!("{GROUPS}/{group}/devices")) {
            let Some(m) = all.get(member) else { continue };
            let driver = m.driver.as_deref();
            let ok = m.vfio_bound()
                || driver.is_none()
                || driver.is_some_and(|d| HARMLESS_DRIVERS.contains(&d));
            if !ok {
                bad.push(format!(
                    "group {group} of {} also holds {} (a host device)",
                    g.bdf,
                    m.label()
                ));
            }
        }
    }
    if bad.is_empty() {
        Outcome::pass(format!(
            "every GPU's IOMMU group holds only vfio-bound, bridge or unbound functions ({} GPUs)",
            gs.len()
        ))
    } else {
        Outcome::fail(bad.join("; "))
            .fix("bind every function of the group to vfio-pci, or move the GPU to a slot with its own group (ACS-capable switch)")
    }
}

/// `gpu.vfio_cdev`: see `docs/probe-checks.md#gpu-vfio_cdev`.
fn gpu_vfio_cdev(ctx: &Ctx) -> Outcome {
    let gs = gpus(ctx);
    if gs.is_empty() {
        return no_gpus();
    }
    let missing: Vec<Pci> = gs
        .iter()
        .filter(|g| g.vfio_bound() && !g.vfio_cdev)
        .cloned()
        .collect();
    if missing.is_empty() {
        Outcome::pass("vfio-bound GPUs have vfio-dev cdevs")
    } else {
        Outcome::warn(format!(
            "{} GPU(s) without a vfio cdev: confidential GPUs need iommufd",
            missing.len()
        ))
        .fix("kernel with CONFIG_VFIO_DEVICE_CDEV=y")
        .with(evidence(&missing))
    }
}

/// `gpu.cc_mode`: see `docs/probe-checks.md#gpu-cc_mode`.
fn gpu_cc_mode(ctx: &Ctx) -> Outcome {
    if gpus(ctx).is_empty() {
        return no_gpus();
    }
    let ev = vec![ctx.ev(&Input::NodeLabels)];
    let labels = match ctx.view.get(&Input::NodeLabels) {
        Reading::Labels { labels } => labels,
        other => return ctx.unreadable(other, "the node labels").with(ev),
    };
    let mode = labels
        .get("nvidia.com/cc.mode.state")
        .or_else(|| labels.get("nvidia.com/cc.mode"))
        .cloned();
    let ready = labels.get(GPU_CC_READY_LABEL).cloned().unwrap_or_default();
    let ev = vec![Evidence {
        source: "node labels".into(),
        value: format!(
            "nvidia.com/cc.mode={} {GPU_CC_READY_LABEL}={ready}",
            mode.as_deref().unwrap_or_default()
        ),
    }];
    let cc_ready = match ready.as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    let facts = Facts::GpuCc {
        cc_ready,
        mode: mode.clone(),
    };
    match cc_ready {
        Some(true) => Outcome::pass(format!(
            "GPUs in confidential mode ({})",
            mode.as_deref().unwrap_or_default()
        )),
        Some(false) => Outcome::pass(
            "GPUs not in confidential mode: qemu-nvidia-gpu fits, the -snp/-tdx GPU shims do not",
        ),
        None => Outcome::skip(
            SkipReason::NotObservable,
            format!("no {GPU_CC_READY_LABEL} label: is the GPU operator's cc-manager running?"),
        ),
    }
    .with(ev)
    .facts(facts)
}
