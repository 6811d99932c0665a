//! Host basics: architecture, kernel, privilege, bare metal or VM, KVM and its vendor
//! module, the vhost modules Kata needs.

use cococtl_core::Arch;

use super::{arch, arch_unobservable, cpu, identity, ARCH};
use crate::check::{Check, Ctx, Evidence, Outcome, SkipReason};
use crate::id::CheckId;
use crate::input::{Input, KvmInfo, Reading};
use crate::parse::kernel_version;

const OSRELEASE: &str = "proc/sys/kernel/osrelease";
const STATUS: &str = "proc/self/status";
const LIMITS: &str = "proc/self/limits";
const FILESYSTEMS: &str = "proc/filesystems";
/// The default Kata guest memory (2 GiB): a pinned guest needs at least that much.
const GUEST_RAM: u64 = 2 << 30;
const SEV_SNP_PARAM: &str = "sys/module/kvm_amd/parameters/sev_snp";
const TDX_PARAM: &str = "sys/module/kvm_intel/parameters/tdx";

/// The host basics, in evaluation order.
pub fn checks() -> Vec<Check> {
    vec![
        Check::new(CheckId::HostArch, identity(), host_arch),
        Check::new(
            CheckId::HostKernel,
            [
                identity(),
                vec![
                    Input::file(OSRELEASE),
                    Input::file(SEV_SNP_PARAM),
                    Input::file(TDX_PARAM),
                    Input::Kvm,
                ],
            ]
            .concat(),
            host_kernel,
        ),
        Check::new(
            CheckId::HostPrivilege,
            vec![Input::file(STATUS)],
            host_privilege,
        ),
        Check::new(
            CheckId::HostVirt,
            vec![
                Input::cpuid(1, 0),
                Input::cpuid(0x4000_0000, 0),
                Input::file("sys/class/dmi/id/sys_vendor"),
                Input::file(super::CPUINFO),
            ],
            host_virt,
        ),
        Check::new(
            CheckId::KvmPresent,
            [identity(), vec![Input::device("dev/kvm")]].concat(),
            kvm_present,
        ),
        Check::new(CheckId::KvmApi, vec![Input::Kvm], kvm_api),
        Check::new(
            CheckId::KvmVendorModule,
            [
                identity(),
                vec![
                    Input::dir("sys/module/kvm_amd"),
                    Input::dir("sys/module/kvm_intel"),
                    Input::dir("sys/module/kvm"),
                    Input::dir("sys/module"),
                ],
            ]
            .concat(),
            kvm_vendor_module,
        ),
        Check::new(
            CheckId::KataKmods,
            vec![
                Input::dir("sys/module/vhost"),
                Input::dir("sys/module/vhost_net"),
                Input::dir("sys/module/vhost_vsock"),
            ],
            kata_kmods,
        ),
        Check::new(
            CheckId::ProcMemlock,
            vec![Input::file(LIMITS)],
            proc_memlock,
        ),
        Check::new(
            CheckId::ErofsKernel,
            vec![
                Input::file(FILESYSTEMS),
                Input::dir("sys/module/erofs"),
                Input::file(OSRELEASE),
                Input::each_file("lib/modules", "modules.dep"),
            ],
            erofs_kernel,
        ),
    ]
}

/// Register bytes as text (CPUID vendor strings).
pub fn regs_text(regs: &[u32]) -> String {
    let bytes: Vec<u8> = regs.iter().flat_map(|r| r.to_le_bytes()).collect();
    String::from_utf8_lossy(&bytes)
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

/// `host.arch`: see `docs/probe-checks.md#host-arch`.
fn host_arch(ctx: &Ctx) -> Outcome {
    let c = cpu(ctx);
    let info = ctx.view.file(super::CPUINFO);
    let ev = vec![
        ctx.ev_file(ARCH),
        Evidence {
            source: format!("/{} vendor", super::CPUINFO),
            value: if info.known() {
                c.vendor.clone().unwrap_or_else(|| "none".into())
            } else {
                info.summary()
            },
        },
    ];
    match arch(ctx) {
        Some(a) => Outcome::pass(format!(
            "{} {} {}",
            a.kernel_name(),
            c.vendor.unwrap_or_default(),
            c.model_name.unwrap_or_default()
        ))
        .with(ev),
        None => match arch_unobservable(ctx) {
            Some(why) => Outcome::skip(
                SkipReason::NotObservable,
                format!("the architecture is not observable ({why})"),
            )
            .with(ev),
            None => Outcome::fail("kata-deploy supports x86_64, aarch64, s390x and ppc64le only")
                .with(ev),
        },
    }
}

/// Whether the running kernel shows `what` host support (a parameter that only exists
/// with it, or the KVM VM type), whatever its version says.
fn shows_support(ctx: &Ctx, param: &str, vm_type: u64) -> Option<String> {
    if ctx.view.file(param).text().is_some() {
        return Some(format!("/{param} exists"));
    }
    match ctx.view.get(&Input::Kvm) {
        Reading::Kvm(k) if k.offers(vm_type) == Some(true) => Some("KVM offers the VM type".into()),
        _ => None,
    }
}

/// `host.kernel`: see `docs/probe-checks.md#host-kernel`.
fn host_kernel(ctx: &Ctx) -> Outcome {
    let ev = vec![ctx.ev_file(OSRELEASE)];
    let Some(rel) = ctx.view.file(OSRELEASE).text() else {
        return ctx
            .unreadable(ctx.view.file(OSRELEASE), "the kernel release")
            .with(ev);
    };
    let Some(v) = kernel_version(rel) else {
        return Outcome::warn(format!("cannot read a version from `{rel}`")).with(ev);
    };
    // Judge by observed capability: distribution kernels carry the host support long
    // before mainline has it.
    match cpu(ctx).vendor.as_deref() {
        Some("AuthenticAMD") if v < (6, 11) => {
            match shows_support(ctx, SEV_SNP_PARAM, KvmInfo::SNP) {
                Some(why) => Outcome::pass(format!(
                    "{rel}: carries SEV-SNP host support ({why})"
                ))
                .with(ev),
                None => Outcome::warn(format!(
                    "{rel}: SEV-SNP host support is in mainline from 6.11, and this kernel shows none (no kvm_amd sev_snp parameter)"
                ))
                .fix("use a 6.11+ kernel or a vendor kernel with the SNP host patches")
                .with(ev),
            }
        }
        Some("GenuineIntel") if v < (6, 16) => match shows_support(ctx, TDX_PARAM, KvmInfo::TDX) {
            Some(why) => {
                Outcome::pass(format!("{rel}: carries TDX host support ({why})")).with(ev)
            }
            None => Outcome::warn(format!(
                "{rel}: KVM TDX host support is in mainline from 6.16, and this kernel shows none (no kvm_intel tdx parameter)"
            ))
            .fix("use a 6.16+ kernel or a TDX-enabled vendor kernel (Ubuntu/CentOS Stream TDX builds)")
            .with(ev),
        },
        _ => Outcome::pass(rel.to_string()).with(ev),
    }
}

/// `host.privilege`: see `docs/probe-checks.md#host-privilege`.
fn host_privilege(ctx: &Ctx) -> Outcome {
    let ev = vec![ctx.ev_file(STATUS)];
    let text = ctx.view.file(STATUS).text().unwrap_or_default();
    let euid = text
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse::<u32>().ok());
    match euid {
        Some(0) => Outcome::pass("running as root: every check can read its inputs").with(ev),
        Some(u) => Outcome::warn(format!(
            "running as uid {u}: checks that need root (MSRs, /dev/sev, kernel log) are skipped"
        ))
        .fix("run `sudo cococtl probe` for the full answer")
        .with(ev),
        None => Outcome::skip(SkipReason::NotObservable, "cannot tell the effective uid").with(ev),
    }
}

/// `host.virt`: see `docs/probe-checks.md#host-virt`.
fn host_virt(ctx: &Ctx) -> Outcome {
    let ev = vec![
        ctx.ev(&Input::cpuid(1, 0)),
        ctx.ev(&Input::cpuid(0x4000_0000, 0)),
    ];
    match ctx.view.get(&Input::cpuid(1, 0)) {
        Reading::Cpuid { ecx, .. } if ecx & (1 << 31) != 0 => {
            let vendor = match ctx.view.get(&Input::cpuid(0x4000_0000, 0)) {
                Reading::Cpuid { ebx, ecx, edx, .. } => regs_text(&[*ebx, *ecx, *edx]),
                _ => String::new(),
            };
            Outcome::pass(format!("virtual machine (hypervisor `{}`): Kata needs nested virtualization here, and TEE shims need bare metal", vendor.trim())).with(ev)
        }
        Reading::Cpuid { .. } => Outcome::pass("bare metal").with(ev),
        // The cpuinfo `hypervisor` flag mirrors the CPUID bit; its absence counts only in a
        // line complete up to the flag's place.
        other => {
            let ev = [ev, vec![super::flags_evidence(ctx, &["hypervisor"])]].concat();
            match cpu(ctx).bare_metal() {
                Some(true) => Outcome::pass(
                    "bare metal (a complete cpuinfo flags line without `hypervisor`)",
                )
                .with(ev),
                Some(false) => Outcome::pass(
                    "virtual machine (cpuinfo flag `hypervisor`): Kata needs nested virtualization here, and TEE shims need bare metal",
                )
                .with(ev),
                None => ctx.unreadable(other, "CPUID").with(ev),
            }
        }
    }
}

/// The firmware/module advice for enabling KVM on `arch`.
fn kvm_fix(arch: Option<Arch>) -> &'static str {
    match arch {
        Some(Arch::Amd64) | None => "enable virtualization (BIOS: SVM/VT-x; on a VM: nested virtualization) and load kvm_amd or kvm_intel, or use the peer-pods profile `remote`",
        Some(Arch::S390x) => "run on an LPAR (or a z/VM guest with nested virtualization) and modprobe kvm, or use the peer-pods profile `remote`",
        Some(Arch::Arm64) => "boot the kernel at EL2 so KVM can initialise (on a VM: nested virtualization), or use the peer-pods profile `remote`",
        Some(Arch::Ppc64le) => "load kvm_hv on a POWER host that runs in hypervisor mode, or use the peer-pods profile `remote`",
    }
}

/// `kvm.present`: see `docs/probe-checks.md#kvm-present`.
fn kvm_present(ctx: &Ctx) -> Outcome {
    let ev = vec![ctx.ev(&Input::device("dev/kvm"))];
    match ctx.view.get(&Input::device("dev/kvm")) {
        Reading::Device { .. } => Outcome::pass("/dev/kvm exists").with(ev),
        Reading::Missing => Outcome::fail("no /dev/kvm: this host cannot start Kata VMs")
            .fix(kvm_fix(arch(ctx)))
            .with(ev),
        other => ctx.unreadable(other, "/dev/kvm").with(ev),
    }
}

/// `kvm.api`: see `docs/probe-checks.md#kvm-api`.
fn kvm_api(ctx: &Ctx) -> Outcome {
    if !ctx.passed(CheckId::KvmPresent) {
        return Outcome::skip(SkipReason::DependencyFailed, "/dev/kvm was not observed");
    }
    let ev = vec![ctx.ev(&Input::Kvm)];
    match ctx.view.get(&Input::Kvm) {
        Reading::Kvm(k) if k.api_version == 12 => {
            let types = match k.vm_types {
                Some(t) => format!(
                    "VM types {t:#x}{}{}{}",
                    if t & KvmInfo::SEV_ES != 0 {
                        " SEV-ES"
                    } else {
                        ""
                    },
                    if t & KvmInfo::SNP != 0 {
                        " SEV-SNP"
                    } else {
                        ""
                    },
                    if t & KvmInfo::TDX != 0 { " TDX" } else { "" },
                ),
                None => "VM types not observable".into(),
            };
            Outcome::pass(format!("API 12; {types}")).with(ev)
        }
        Reading::Kvm(k) => {
            Outcome::fail(format!("unexpected KVM API version {}", k.api_version)).with(ev)
        }
        other => ctx.unreadable(other, "KVM ioctls").with(ev),
    }
}

/// `kvm.vendor_module`: see `docs/probe-checks.md#kvm-vendor_module`.
fn kvm_vendor_module(ctx: &Ctx) -> Outcome {
    let module = |m: &str| ctx.view.get(&Input::dir(&format!("sys/module/{m}")));
    let has = |m: &str| module(m).present();
    let ev = vec![
        ctx.ev(&Input::dir("sys/module/kvm_amd")),
        ctx.ev(&Input::dir("sys/module/kvm_intel")),
    ];
    let unknown = |what: &str, r: &Reading| {
        Outcome::skip(
            SkipReason::NotObservable,
            format!(
                "cannot tell whether {what} is loaded: /sys/module {}",
                r.summary()
            ),
        )
    };
    match arch(ctx) {
        Some(Arch::Amd64) => {
            if has("kvm_amd") == Some(true) || has("kvm_intel") == Some(true) {
                return Outcome::pass(if has("kvm_amd") == Some(true) {
                    "kvm_amd"
                } else {
                    "kvm_intel"
                })
                .with(ev);
            }
            if let Some(r) = [module("kvm_amd"), module("kvm_intel")]
                .into_iter()
                .find(|r| !r.known())
            {
                return unknown("kvm_amd or kvm_intel", r).with(ev);
            }
            let others: Vec<&str> = ctx
                .view
                .dir("sys/module")
                .iter()
                .map(String::as_str)
                .filter(|m| m.starts_with("kvm"))
                .collect();
            Outcome::fail(format!(
                "/dev/kvm is served by neither kvm_amd nor kvm_intel{}: the TEE shims need the vendor module",
                if others.is_empty() { String::new() } else { format!(" (loaded: {})", others.join(", ")) }
            ))
            .fix("on bare metal: modprobe kvm_amd or kvm_intel; in a sandbox VM without them, use the peer-pods profile `remote`")
            .with(ev)
            .with(vec![crate::check::Evidence {
                source: "/sys/module".into(),
                value: match ctx.view.get(&Input::dir("sys/module")) {
                    r if !r.known() => r.summary(),
                    _ => others.join(" "),
                },
            }])
        }
        Some(a) => {
            let ev = vec![ctx.ev(&Input::dir("sys/module/kvm"))];
            match module("kvm") {
                r if r.present() == Some(true) => Outcome::pass("kvm").with(ev),
                Reading::Missing => Outcome::fail("the kvm module is not loaded")
                    .fix(kvm_fix(Some(a)))
                    .with(ev),
                r => unknown("kvm", r).with(ev),
            }
        }
        None => Outcome::skip(SkipReason::NotObservable, "unknown architecture"),
    }
}

/// `kata.kmods`: see `docs/probe-checks.md#kata-kmods`.
fn kata_kmods(ctx: &Ctx) -> Outcome {
    let module = |m: &str| ctx.view.get(&Input::dir(&format!("sys/module/{m}")));
    let ev = ["vhost", "vhost_net", "vhost_vsock"]
        .iter()
        .map(|m| ctx.ev(&Input::dir(&format!("sys/module/{m}"))))
        .collect();
    let missing: Vec<&str> = ["vhost", "vhost_net"]
        .into_iter()
        .filter(|m| module(m).present() == Some(false))
        .collect();
    if !missing.is_empty() {
        return Outcome::fail(format!("{} not loaded", missing.join(", ")))
            .fix("modprobe vhost_net (and add it to /etc/modules-load.d/)")
            .with(ev);
    }
    let unknown: Vec<&str> = ["vhost", "vhost_net", "vhost_vsock"]
        .into_iter()
        .filter(|m| module(m).present().is_none())
        .collect();
    if !unknown.is_empty() {
        return Outcome::skip(
            SkipReason::NotObservable,
            format!(
                "cannot tell whether {} are loaded (/sys/module not readable)",
                unknown.join(", ")
            ),
        )
        .with(ev);
    }
    if module("vhost_vsock").present() == Some(false) {
        return Outcome::warn(
            "vhost_vsock not loaded (unless built in): the Kata agent talks over vsock",
        )
        .fix("modprobe vhost_vsock")
        .with(ev);
    }
    Outcome::pass("vhost, vhost_net, vhost_vsock").with(ev)
}

/// The soft `Max locked memory` of a `/proc/<pid>/limits` text: `None` for unlimited.
fn memlock(limits: &str) -> Option<Option<u64>> {
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max locked memory"))?;
    let soft = line
        .trim_start_matches("Max locked memory")
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        return Some(None);
    }
    soft.parse().ok().map(Some)
}

/// `proc.memlock`: see `docs/probe-checks.md#proc-memlock`.
fn proc_memlock(ctx: &Ctx) -> Outcome {
    let ev = vec![Evidence {
        source: format!("/{LIMITS} Max locked memory"),
        value: ctx
            .view
            .file(LIMITS)
            .text()
            .and_then(|t| t.lines().find(|l| l.starts_with("Max locked memory")))
            .map_or_else(
                || ctx.view.file(LIMITS).summary(),
                |l| l.split_whitespace().collect::<Vec<_>>().join(" "),
            ),
    }];
    let Some(text) = ctx.view.file(LIMITS).text() else {
        return ctx
            .unreadable(ctx.view.file(LIMITS), "the locked-memory limit")
            .with(ev);
    };
    match memlock(text) {
        Some(None) => Outcome::pass("unlimited").with(ev),
        Some(Some(n)) if n >= GUEST_RAM => {
            Outcome::pass(format!("{} MiB", n >> 20)).with(ev)
        }
        Some(Some(n)) => Outcome::warn(format!(
            "{} KiB for this process: VFIO passthrough and TEE guests pin their memory, so the container runtime needs RLIMIT_MEMLOCK unlimited or at least the guest memory (2 GiB by default)",
            n >> 10
        ))
        .fix("set LimitMEMLOCK=infinity for containerd (systemd drop-in) or memlock unlimited in /etc/security/limits.conf")
        .with(ev),
        None => Outcome::skip(
            SkipReason::NotObservable,
            "no Max locked memory line in the limits",
        )
        .with(ev),
    }
}

/// `erofs.kernel`: see `docs/probe-checks.md#erofs-kernel`.
fn erofs_kernel(ctx: &Ctx) -> Outcome {
    let fs = ctx.view.file(FILESYSTEMS);
    let mut ev = vec![ctx.ev(&Input::dir("sys/module/erofs"))];
    let registered = fs.text().map(|t| {
        t.lines()
            .any(|l| l.split_whitespace().last() == Some("erofs"))
    });
    ev.insert(
        0,
        Evidence {
            source: format!("/{FILESYSTEMS}"),
            value: match registered {
                Some(true) => "erofs listed".into(),
                Some(false) => "erofs not listed".into(),
                None => fs.summary(),
            },
        },
    );
    if registered == Some(true) {
        return Outcome::pass("erofs is registered (/proc/filesystems)").with(ev);
    }
    let module = ctx.view.get(&Input::dir("sys/module/erofs"));
    if module.present() == Some(true) {
        return Outcome::pass("the erofs module is loaded").with(ev);
    }
    // Not loaded yet: a mount loads it on demand when the running kernel ships it.
    let dep = ctx
        .view
        .file(OSRELEASE)
        .text()
        .map(|r| format!("lib/modules/{}/modules.dep", r.trim()));
    let shipped = dep.as_deref().map(|p| (p, ctx.view.file(p)));
    if let Some((p, r)) = shipped {
        if let Some(t) = r.text() {
            ev.push(Evidence {
                source: format!("/{p}"),
                value: if t.contains("/erofs.ko") {
                    "erofs.ko listed".into()
                } else {
                    "no erofs.ko".into()
                },
            });
            if t.contains("/erofs.ko") {
                return Outcome::pass(
                    "the erofs module ships with this kernel (loaded on the first erofs mount)",
                )
                .with(ev);
            }
            if registered == Some(false) && module.present() == Some(false) {
                return Outcome::fail(
                    "this kernel has no erofs: not registered, not loaded, and no erofs.ko in its modules",
                )
                .fix("for the erofs snapshotter use a kernel with CONFIG_EROFS_FS (most distribution kernels since 5.4 ship the erofs module), or keep the nydus/overlayfs snapshotters")
                .with(ev);
            }
        } else {
            ev.push(ctx.ev_file(p));
        }
    }
    Outcome::skip(
        SkipReason::NotObservable,
        "cannot tell whether this kernel has erofs (/proc/filesystems, /sys/module/erofs or the modules list not readable)",
    )
    .with(ev)
}
