//! Host basics: architecture, kernel, privilege, bare metal or VM, KVM and its vendor
//! module, the vhost modules Kata needs.

use cococtl_core::Arch;

use super::{arch, cpu, identity, ARCH};
use crate::check::{Check, Ctx, Outcome, SkipReason};
use crate::id::CheckId;
use crate::input::{Input, Reading};
use crate::parse::kernel_version;

const OSRELEASE: &str = "proc/sys/kernel/osrelease";
const STATUS: &str = "proc/self/status";

pub fn checks() -> Vec<Check> {
    vec![
        Check::new(CheckId::HostArch, identity(), host_arch),
        Check::new(
            CheckId::HostKernel,
            [identity(), vec![Input::file(OSRELEASE)]].concat(),
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
            ],
            host_virt,
        ),
        Check::new(
            CheckId::KvmPresent,
            vec![Input::device("dev/kvm")],
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
    let ev = vec![ctx.ev_file(ARCH)];
    match arch(ctx) {
        Some(a) => Outcome::pass(format!(
            "{} {} {}",
            a.kernel_name(),
            c.vendor.unwrap_or_default(),
            c.model_name.unwrap_or_default()
        ))
        .with(ev),
        None => {
            Outcome::fail("kata-deploy supports x86_64, aarch64, s390x and ppc64le only").with(ev)
        }
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
    match cpu(ctx).vendor.as_deref() {
        Some("AuthenticAMD") if v < (6, 11) => Outcome::warn(format!(
            "{rel}: SEV-SNP host support is in mainline from 6.11"
        ))
        .fix("use a 6.11+ kernel or a vendor kernel with the SNP host patches")
        .with(ev),
        Some("GenuineIntel") if v < (6, 16) => Outcome::warn(format!(
            "{rel}: KVM TDX host support is in mainline from 6.16"
        ))
        .fix("use a 6.16+ kernel or a TDX-enabled vendor kernel (Ubuntu/CentOS Stream TDX builds)")
        .with(ev),
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
        other => ctx.unreadable(other, "CPUID").with(ev),
    }
}

/// `kvm.present`: see `docs/probe-checks.md#kvm-present`.
fn kvm_present(ctx: &Ctx) -> Outcome {
    let ev = vec![ctx.ev(&Input::device("dev/kvm"))];
    match ctx.view.get(&Input::device("dev/kvm")) {
        Reading::Device { .. } => Outcome::pass("/dev/kvm exists").with(ev),
        _ => Outcome::fail("no /dev/kvm: this host cannot start Kata VMs")
            .fix("enable virtualization (BIOS: SVM/VT-x; on a VM: nested virtualization) and load kvm_amd or kvm_intel, or use the peer-pods profile `remote`")
            .with(ev),
    }
}

/// `kvm.api`: see `docs/probe-checks.md#kvm-api`.
fn kvm_api(ctx: &Ctx) -> Outcome {
    if !ctx.passed(CheckId::KvmPresent) {
        return Outcome::skip(SkipReason::DependencyFailed, "no /dev/kvm");
    }
    let ev = vec![ctx.ev(&Input::Kvm)];
    match ctx.view.get(&Input::Kvm) {
        Reading::Kvm(k) if k.api_version == 12 => Outcome::pass(format!(
            "API 12; VM types {:#x}{}{}{}",
            k.vm_types,
            if k.vm_types & (1 << 3) != 0 {
                " SEV-ES"
            } else {
                ""
            },
            if k.vm_types & (1 << 4) != 0 {
                " SEV-SNP"
            } else {
                ""
            },
            if k.vm_types & (1 << 5) != 0 {
                " TDX"
            } else {
                ""
            },
        ))
        .with(ev),
        Reading::Kvm(k) => {
            Outcome::fail(format!("unexpected KVM API version {}", k.api_version)).with(ev)
        }
        other => ctx.unreadable(other, "KVM ioctls").with(ev),
    }
}

/// `kvm.vendor_module`: see `docs/probe-checks.md#kvm-vendor_module`.
fn kvm_vendor_module(ctx: &Ctx) -> Outcome {
    let has = |m: &str| {
        matches!(
            ctx.view.get(&Input::dir(&format!("sys/module/{m}"))),
            Reading::Entries { .. }
        )
    };
    let ev = vec![
        ctx.ev(&Input::dir("sys/module/kvm_amd")),
        ctx.ev(&Input::dir("sys/module/kvm_intel")),
    ];
    match arch(ctx) {
        Some(Arch::Amd64) => {
            if has("kvm_amd") || has("kvm_intel") {
                return Outcome::pass(if has("kvm_amd") {
                    "kvm_amd"
                } else {
                    "kvm_intel"
                })
                .with(ev);
            }
            let others: Vec<&String> = ctx
                .view
                .dir("sys/module")
                .iter()
                .filter(|m| m.starts_with("kvm"))
                .collect();
            Outcome::fail(format!(
                "/dev/kvm is served by neither kvm_amd nor kvm_intel{}: the TEE shims need the vendor module",
                if others.is_empty() { String::new() } else { format!(" (loaded: {})", others.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")) }
            ))
            .fix("on bare metal: modprobe kvm_amd or kvm_intel; in a sandbox VM without them, use the peer-pods profile `remote`")
            .with(ev)
            .with(vec![crate::check::Evidence { source: "/sys/module".into(), value: others.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ") }])
        }
        Some(_) if has("kvm") => {
            Outcome::pass("kvm").with(vec![ctx.ev(&Input::dir("sys/module/kvm"))])
        }
        Some(_) => Outcome::fail("the kvm module is not loaded")
            .fix("modprobe kvm")
            .with(vec![ctx.ev(&Input::dir("sys/module/kvm"))]),
        None => Outcome::skip(SkipReason::NotObservable, "unknown architecture"),
    }
}

/// `kata.kmods`: see `docs/probe-checks.md#kata-kmods`.
fn kata_kmods(ctx: &Ctx) -> Outcome {
    let has = |m: &str| {
        matches!(
            ctx.view.get(&Input::dir(&format!("sys/module/{m}"))),
            Reading::Entries { .. }
        )
    };
    let ev = ["vhost", "vhost_net", "vhost_vsock"]
        .iter()
        .map(|m| ctx.ev(&Input::dir(&format!("sys/module/{m}"))))
        .collect();
    let missing: Vec<&str> = ["vhost", "vhost_net"]
        .into_iter()
        .filter(|m| !has(m))
        .collect();
    if !missing.is_empty() {
        return Outcome::fail(format!("{} not loaded", missing.join(", ")))
            .fix("modprobe vhost_net (and add it to /etc/modules-load.d/)")
            .with(ev);
    }
    if !has("vhost_vsock") {
        return Outcome::warn(
            "vhost_vsock not loaded (unless built in): the Kata agent talks over vsock",
        )
        .fix("modprobe vhost_vsock")
        .with(ev);
    }
    Outcome::pass("vhost, vhost_net, vhost_vsock").with(ev)
}
