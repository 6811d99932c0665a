//! NVIDIA GPUs for Kata passthrough: inventory, confidential-computing capable models,
//! host driver, vfio binding, IOMMU group viability, vfio cdevs for iommufd, and
//! confidential-computing mode from the GPU operator's node labels.
//!
//! Every sysfs fact of a device is kept as observed: a driver link that cannot be read is
//! "unknown", not "unbound", and a device whose ids cannot be read is "unidentified", not
//! "not a GPU".

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

/// A sysfs link as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// The link's last component (driver name, group number).
    To(String),
    /// There is no such link.
    Absent,
    /// It could not be read; why.
    Unknown(String),
}

impl Link {
    fn from(r: &Reading) -> Link {
        match r {
            Reading::Link { target } => Link::To(pci::link_name(target).to_string()),
            Reading::Missing => Link::Absent,
            other => Link::Unknown(other.summary()),
        }
    }

    fn name(&self) -> Option<&str> {
        match self {
            Link::To(n) => Some(n),
            _ => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Link::To(n) => n.clone(),
            Link::Absent => "none".into(),
            Link::Unknown(why) => format!("unknown: {why}"),
        }
    }
}

/// One PCI function as sysfs describes it.
#[derive(Debug, Clone)]
pub struct Pci {
    /// Its address (`0000:41:00.0`).
    pub bdf: String,
    /// PCI vendor id; `None` when it could not be read.
    pub vendor: Option<u32>,
    /// PCI device id; `None` when it could not be read.
    pub device: Option<u32>,
    /// Base class and subclass.
    pub class: (u8, u8),
    /// The bound driver.
    pub driver: Link,
    /// The IOMMU group.
    pub group: Link,
    /// An SR-IOV virtual function.
    pub virtual_function: bool,
    /// Why it was taken for a physical function without seeing `physfn`, if it was.
    pub pf_assumed: Option<String>,
    /// `vfio-dev/vfioN` exists: `Some(true)`; absent: `Some(false)`; unreadable: `None`.
    pub vfio_cdev: Option<bool>,
    /// Why its ids could not be read, if they could not.
    pub unidentified: Option<String>,
}

impl Pci {
    /// An NVIDIA display controller that is not a virtual function.
    pub fn is_nvidia_gpu(&self) -> bool {
        self.vendor == Some(pci::NVIDIA) && self.class.0 == 0x03 && !self.virtual_function
    }
    /// An NVIDIA NVSwitch.
    pub fn is_nvswitch(&self) -> bool {
        self.vendor == Some(pci::NVIDIA) && self.class == (0x06, 0x80)
    }
    /// Bound to a VFIO driver: `None` when the driver is unknown.
    fn vfio_bound(&self) -> Option<bool> {
        match &self.driver {
            Link::To(d) => Some(VFIO_DRIVERS.contains(&d.as_str())),
            Link::Absent => Some(false),
            Link::Unknown(_) => None,
        }
    }
    fn label(&self) -> String {
        let id = |v: Option<u32>| v.map_or("????".into(), |v| format!("{v:04x}"));
        format!(
            "{} ({}:{}, driver {})",
            self.bdf,
            id(self.vendor),
            id(self.device),
            self.driver.describe()
        )
    }
}

fn inputs() -> Vec<Input> {
    vec![
        Input::dir(DEVICES),
        Input::each_file(DEVICES, "vendor"),
        Input::each_file(DEVICES, "device"),
        Input::each_file(DEVICES, "class"),
        Input::each_link(DEVICES, "driver"),
        Input::each_link(DEVICES, "iommu_group"),
        Input::each_link(DEVICES, "physfn"),
        Input::each_file(DEVICES, "sriov_totalvfs"),
        Input::each_dir(DEVICES, "vfio-dev"),
        Input::each_dir(GROUPS, "devices"),
    ]
}

/// Every PCI function, by BDF (unidentified ones included).
pub fn devices(ctx: &Ctx) -> BTreeMap<String, Pci> {
    let mut out = BTreeMap::new();
    for bdf in ctx.view.dir(DEVICES) {
        let file = |n: &str| ctx.view.file(&format!("{DEVICES}/{bdf}/{n}"));
        let (vr, dr) = (file("vendor"), file("device"));
        // A device that vanished between the listing and the read is simply gone.
        if matches!(vr, Reading::Missing) && matches!(dr, Reading::Missing) {
            continue;
        }
        let vendor = vr.text().and_then(pci::hex_id);
        let device = dr.text().and_then(pci::hex_id);
        let cr = file("class");
        let class = cr.text().and_then(pci::class);
        // Whether it is a GPU is decided by vendor and class; the device id only names
        // the model.
        let unidentified = match (vendor, class) {
            (Some(_), Some(_)) => None,
            (Some(v), None) if v != pci::NVIDIA => None,
            _ => Some(format!("vendor {}, class {}", vr.summary(), cr.summary())),
        };
        let class = class.unwrap_or((0, 0));
        let link =
            |n: &str| Link::from(ctx.view.get(&Input::link(&format!("{DEVICES}/{bdf}/{n}"))));
        let cdev = ctx
            .view
            .get(&Input::dir(&format!("{DEVICES}/{bdf}/vfio-dev")));
        // A VF has a `physfn` link; only a PF has `sriov_*` files. An unreadable link is
        // not a VF: without other evidence the function is taken as a PF, and says so.
        let (virtual_function, pf_assumed) = match link("physfn") {
            Link::To(_) => (true, None),
            Link::Absent => (false, None),
            Link::Unknown(why) => match file("sriov_totalvfs") {
                Reading::Text { .. } => (false, None),
                _ => (
                    false,
                    Some(format!(
                        "physfn {why}: taken as a physical function (no SR-IOV evidence says otherwise)"
                    )),
                ),
            },
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
                virtual_function,
                pf_assumed,
                vfio_cdev: match cdev {
                    Reading::Entries { names } => Some(!names.is_empty()),
                    Reading::Missing => Some(false),
                    _ => None,
                },
                unidentified,
            },
        );
    }
    out
}

/// The GPUs, or the skip to report: no GPU (`not_applicable`), or none found while some
/// functions could not be identified (`not_observable`).
fn gpus(ctx: &Ctx) -> Result<Vec<Pci>, Box<Outcome>> {
    let listing = ctx.view.get(&Input::dir(DEVICES));
    if !listing.known() {
        return Err(Box::new(
            ctx.unreadable(listing, "the PCI device list")
                .with(vec![ctx.ev(&Input::dir(DEVICES))]),
        ));
    }
    let all = devices(ctx);
    let gs: Vec<Pci> = all
        .values()
        .filter(|p| p.is_nvidia_gpu())
        .cloned()
        .collect();
    if !gs.is_empty() {
        return Ok(gs);
    }
    let unidentified: Vec<&Pci> = all.values().filter(|p| p.unidentified.is_some()).collect();
    if unidentified.is_empty() {
        return Err(Box::new(Outcome::skip(
            SkipReason::NotApplicable,
            "no NVIDIA GPU on this host",
        )));
    }
    Err(Box::new(
        Outcome::skip(
            SkipReason::NotObservable,
            format!(
                "no NVIDIA GPU found, but {} PCI function(s) could not be identified",
                unidentified.len()
            ),
        )
        .with(unidentified_evidence(&unidentified)),
    ))
}

fn unidentified_evidence(ps: &[&Pci]) -> Vec<Evidence> {
    ps.iter()
        .map(|p| Evidence {
            source: format!("/{DEVICES}/{}", p.bdf),
            value: p.unidentified.clone().unwrap_or_default(),
        })
        .collect()
}

fn evidence(gs: &[Pci]) -> Vec<Evidence> {
    gs.iter()
        .map(|g| Evidence {
            source: format!("/{DEVICES}/{}", g.bdf),
            value: match &g.pf_assumed {
                Some(a) => format!("{}; {a}", g.label()),
                None => g.label(),
            },
        })
        .collect()
}

/// The NVIDIA device-id families with confidential computing: Hopper (GH100, 0x23xx) and
/// Blackwell (GB100/GB102, 0x29xx). Families known to lack it: Volta (0x1db*), Turing
/// (0x1e**-0x1f**), Ampere (0x20**-0x25**, but 0x23** is Hopper), Ada (0x26**-0x28**).
fn cc_capable(device: u32) -> Option<bool> {
    match device >> 8 {
        0x23 | 0x29 => Some(true),
        0x1d | 0x1e | 0x1f | 0x20 | 0x21 | 0x22 | 0x24 | 0x25 | 0x26 | 0x27 | 0x28 => Some(false),
        _ => None,
    }
}

/// The family name of a device id without confidential computing.
fn family(device: u32) -> &'static str {
    match device >> 8 {
        0x1d => "Volta",
        0x1e | 0x1f => "Turing",
        0x26..=0x28 => "Ada",
        _ => "Ampere",
    }
}

/// The GPU checks, in evaluation order.
pub fn checks() -> Vec<Check> {
    vec![
        Check::new(CheckId::GpuInventory, inputs(), gpu_inventory),
        Check::new(CheckId::NvswitchInventory, inputs(), nvswitch_inventory),
        Check::new(CheckId::GpuCcCapable, inputs(), gpu_cc_capable),
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
    let gs = match gpus(ctx) {
        Ok(g) => g,
        Err(o) => return *o,
    };
    let all = devices(ctx);
    let unidentified: Vec<&Pci> = all.values().filter(|p| p.unidentified.is_some()).collect();
    let facts = Facts::Gpus {
        count: gs.len() as u32,
        unidentified: unidentified.len() as u32,
    };
    if unidentified.is_empty() {
        return Outcome::pass(format!("{} NVIDIA GPU(s)", gs.len()))
            .with(evidence(&gs))
            .facts(facts);
    }
    Outcome::warn(format!(
        "{} NVIDIA GPU(s); {} more PCI function(s) could not be identified and may be GPUs too",
        gs.len(),
        unidentified.len()
    ))
    .fix("run the probe as root")
    .with(evidence(&gs))
    .with(unidentified_evidence(&unidentified))
    .facts(facts)
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

/// `gpu.cc_capable`: see `docs/probe-checks.md#gpu-cc_capable`.
fn gpu_cc_capable(ctx: &Ctx) -> Outcome {
    let gs = match gpus(ctx) {
        Ok(g) => g,
        Err(o) => return *o,
    };
    let by = |want: Option<bool>| -> Vec<Pci> {
        gs.iter()
            .filter(|g| g.device.and_then(cc_capable) == want)
            .cloned()
            .collect()
    };
    let (no, unknown) = (by(Some(false)), by(None));
    let unreadable: Vec<Pci> = gs.iter().filter(|g| g.device.is_none()).cloned().collect();
    // Not capable is a fact about the model, not a fault: these GPUs still fit plain
    // passthrough, so it warns and the facts keep the confidential GPU shims off.
    if !no.is_empty() {
        let families: Vec<String> = no
            .iter()
            .filter_map(|g| g.device.map(|d| format!("{d:04x} {}", family(d))))
            .collect();
        return Outcome::warn(format!(
            "not capable: {} GPU(s) of a family without confidential computing ({}; only Hopper and Blackwell have it): the -snp/-tdx GPU shims cannot use them",
            no.len(),
            families.join(", ")
        ))
        .fix("use Hopper (H100/H200/GH200) or Blackwell (B200/GB200) GPUs for confidential GPU pods; these GPUs fit qemu-nvidia-gpu")
        .with(evidence(&no))
        .facts(Facts::GpuCcCapable { capable: Some(false) });
    }
    if !unreadable.is_empty() {
        return Outcome::skip(
            SkipReason::NotObservable,
            format!(
                "the device id of {} GPU(s) is not observable: confidential-computing support unknown",
                unreadable.len()
            ),
        )
        .with(evidence(&unreadable));
    }
    if !unknown.is_empty() {
        return Outcome::warn(format!(
            "{} GPU(s) with a device id this probe does not know: confidential-computing support unknown",
            unknown.len()
        ))
        .with(evidence(&unknown));
    }
    Outcome::pass(format!(
        "all {} GPU(s) are Hopper or Blackwell (confidential computing capable)",
        gs.len()
    ))
    .with(evidence(&gs))
}

/// `gpu.host_driver`: see `docs/probe-checks.md#gpu-host_driver`.
fn gpu_host_driver(ctx: &Ctx) -> Outcome {
    let gs = match gpus(ctx) {
        Ok(g) => g,
        Err(o) => return *o,
    };
    let held: Vec<Pci> = gs
        .iter()
        .filter(|g| matches!(g.driver.name(), Some("nvidia" | "nouveau")))
        .cloned()
        .collect();
    if !held.is_empty() {
        return Outcome::fail(format!("{} GPU(s) bound to a host driver", held.len()))
            .fix("let the GPU operator's vfio-manager rebind them (sandbox workloads), or blacklist nouveau/nvidia and bind with vfio_pci.ids=10de:<device>")
            .with(evidence(&held));
    }
    let unknown: Vec<Pci> = gs
        .iter()
        .filter(|g| matches!(g.driver, Link::Unknown(_)))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Outcome::skip(
            SkipReason::NotObservable,
            format!("the driver of {} GPU(s) is not observable", unknown.len()),
        )
        .with(evidence(&unknown));
    }
    Outcome::pass("no GPU is bound to nvidia or nouveau")
}

/// `gpu.vfio_bound`: see `docs/probe-checks.md#gpu-vfio_bound`.
fn gpu_vfio_bound(ctx: &Ctx) -> Outcome {
    let gs = match gpus(ctx) {
        Ok(g) => g,
        Err(o) => return *o,
    };
    let unbound: Vec<Pci> = gs
        .iter()
        .filter(|g| g.vfio_bound() == Some(false))
        .cloned()
        .collect();
    if !unbound.is_empty() {
        return Outcome::fail(format!("{} of {} GPU(s) not on vfio-pci", unbound.len(), gs.len()))
            .fix("GPU operator with sandboxWorkloads.enabled=true (vfio-manager), or echo <bdf> > /sys/bus/pci/drivers/vfio-pci/bind")
            .with(evidence(&unbound));
    }
    let unknown: Vec<Pci> = gs
        .iter()
        .filter(|g| g.vfio_bound().is_none())
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Outcome::skip(
            SkipReason::NotObservable,
            format!("the driver of {} GPU(s) is not observable", unknown.len()),
        )
        .with(evidence(&unknown));
    }
    Outcome::pass(format!("all {} GPU(s) on vfio-pci", gs.len())).with(evidence(&gs))
}

/// `gpu.group_viable`: see `docs/probe-checks.md#gpu-group_viable`.
fn gpu_group_viable(ctx: &Ctx) -> Outcome {
    let gs = match gpus(ctx) {
        Ok(g) => g,
        Err(o) => return *o,
    };
    let all = devices(ctx);
    let mut bad = vec![];
    let mut unknown = vec![];
    for g in &gs {
        let group = match &g.group {
            Link::To(group) => group,
            Link::Absent => {
                bad.push(format!("{} has no IOMMU group", g.bdf));
                continue;
            }
            Link::Unknown(why) => {
                unknown.push(format!("the IOMMU group of {} ({why})", g.bdf));
                continue;
            }
        };
        let members = ctx
            .view
            .get(&Input::dir(&format!("{GROUPS}/{group}/devices")));
        if !members.known() {
            unknown.push(format!(
                "the members of group {group} ({})",
                members.summary()
            ));
            continue;
        }
        for member in members.entries() {
            let Some(m) = all.get(member) else {
                unknown.push(format!(
                    "group {group} member {member} (not in the PCI device list)"
                ));
                continue;
            };
            if let Some(why) = &m.unidentified {
                unknown.push(format!("group {group} member {member} ({why})"));
                continue;
            }
            match &m.driver {
                Link::Unknown(why) => {
                    unknown.push(format!("the driver of {member} in group {group} ({why})"))
                }
                Link::Absent => {}
                Link::To(d)
                    if VFIO_DRIVERS.contains(&d.as_str())
                        || HARMLESS_DRIVERS.contains(&d.as_str()) => {}
                Link::To(_) => bad.push(format!(
                    "group {group} of {} also holds {} (a host device)",
                    g.bdf,
                    m.label()
                )),
            }
        }
    }
    if !bad.is_empty() {
        return Outcome::fail(bad.join("; "))
            .fix("bind every function of the group to vfio-pci, or move the GPU to a slot with its own group (ACS-capable switch)");
    }
    if !unknown.is_empty() {
        return Outcome::skip(
            SkipReason::NotObservable,
            format!(
                "cannot tell whether the GPU groups are viable: not observable: {}",
                unknown.join("; ")
            ),
        );
    }
    Outcome::pass(format!(
        "every GPU's IOMMU group holds only vfio-bound, bridge or unbound functions ({} GPUs)",
        gs.len()
    ))
}

/// `gpu.vfio_cdev`: see `docs/probe-checks.md#gpu-vfio_cdev`.
fn gpu_vfio_cdev(ctx: &Ctx) -> Outcome {
    let gs = match gpus(ctx) {
        Ok(g) => g,
        Err(o) => return *o,
    };
    let bound: Vec<&Pci> = gs.iter().filter(|g| g.vfio_bound() == Some(true)).collect();
    if bound.is_empty() {
        return Outcome::skip(
            SkipReason::DependencyFailed,
            "no GPU is bound to vfio-pci, so none can have a vfio cdev",
        );
    }
    let missing: Vec<Pci> = bound
        .iter()
        .filter(|g| g.vfio_cdev == Some(false))
        .map(|g| (*g).clone())
        .collect();
    if !missing.is_empty() {
        return Outcome::warn(format!(
            "{} GPU(s) without a vfio cdev: confidential GPUs need iommufd",
            missing.len()
        ))
        .fix("kernel with CONFIG_VFIO_DEVICE_CDEV=y")
        .with(evidence(&missing));
    }
    if bound.iter().any(|g| g.vfio_cdev.is_none()) {
        return Outcome::skip(
            SkipReason::NotObservable,
            "the vfio-dev directory of a vfio-bound GPU is not observable",
        );
    }
    Outcome::pass(format!(
        "{} vfio-bound GPU(s) have vfio-dev cdevs{}",
        bound.len(),
        if bound.len() < gs.len() {
            format!(" ({} more are not vfio-bound)", gs.len() - bound.len())
        } else {
            String::new()
        }
    ))
}

/// Why the GPU's own CC-mode register is not the source: gpu-admin-tools reads it (Hopper
/// BAR0 0x1182cc, Blackwell 0x590) through an mmap of `resource0`, after waiting for the
/// FSP to boot and possibly forcing the GPU to D0: that touches the device, and the probe
/// changes nothing on the host.
fn bar0_not_read() -> Evidence {
    Evidence {
        source: "GPU BAR0 CC-mode register".into(),
        value: "not read: reading it maps BAR0 and can wake the GPU (gpu-admin-tools' way), which is not read-only; the CC mode comes from the GPU operator's labels".into(),
    }
}

/// `gpu.cc_mode`: see `docs/probe-checks.md#gpu-cc_mode`.
fn gpu_cc_mode(ctx: &Ctx) -> Outcome {
    if let Err(o) = gpus(ctx) {
        return *o;
    }
    let ev = vec![ctx.ev(&Input::NodeLabels), bar0_not_read()];
    let labels = match ctx.view.get(&Input::NodeLabels) {
        Reading::Labels { labels } => labels,
        other => return ctx.unreadable(other, "the node labels").with(ev),
    };
    let mode = labels
        .get("nvidia.com/cc.mode.state")
        .or_else(|| labels.get("nvidia.com/cc.mode"))
        .cloned();
    let ready = labels.get(GPU_CC_READY_LABEL).cloned().unwrap_or_default();
    let ev = vec![
        Evidence {
            source: "node labels".into(),
            value: format!(
                "nvidia.com/cc.mode={} {GPU_CC_READY_LABEL}={ready}",
                mode.as_deref().unwrap_or_default()
            ),
        },
        bar0_not_read(),
    ];
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
