//! IBM Secure Execution host readiness (s390x): the ultravisor facility, `prot_virt_host`,
//! and the `prot_virt` boot parameter.

use cococtl_core::Arch;

use super::{aggregate, arch, identity, CMDLINE};
use crate::check::{Check, Ctx, Outcome, SkipReason};
use crate::id::CheckId;
use crate::input::Input;
use crate::parse::cmdline;

fn not_s390x(ctx: &Ctx) -> Option<Outcome> {
    (arch(ctx) != Some(Arch::S390x)).then(|| {
        Outcome::skip(
            SkipReason::NotApplicable,
            "Secure Execution needs an s390x host",
        )
    })
}

pub fn checks() -> Vec<Check> {
    vec![
        Check::new(CheckId::SeFacility, identity(), se_facility),
        Check::new(
            CheckId::SeHost,
            [
                identity(),
                vec![Input::file("sys/firmware/uv/prot_virt_host")],
            ]
            .concat(),
            se_host,
        ),
        Check::new(
            CheckId::SeCmdline,
            [identity(), vec![Input::file(CMDLINE)]].concat(),
            se_cmdline,
        ),
        Check::new(CheckId::SeReady, identity(), se_ready),
    ]
}

/// `se.facility`: see `docs/probe-checks.md#se-facility`.
fn se_facility(ctx: &Ctx) -> Outcome {
    if let Some(o) = not_s390x(ctx) {
        return o;
    }
    let ev = vec![ctx.ev_file(super::CPUINFO)];
    if super::cpu(ctx).facilities.contains(&158) {
        Outcome::pass("facility 158 present").with(ev)
    } else {
        Outcome::fail("facility 158 (ultravisor call) absent")
            .fix("Secure Execution needs IBM z15 / LinuxONE III or newer")
            .with(ev)
    }
}

/// `se.host`: see `docs/probe-checks.md#se-host`.
fn se_host(ctx: &Ctx) -> Outcome {
    if let Some(o) = not_s390x(ctx) {
        return o;
    }
    let ev = vec![ctx.ev_file("sys/firmware/uv/prot_virt_host")];
    match ctx.view.file("sys/firmware/uv/prot_virt_host").text() {
        Some(v) if v.trim() == "1" => {
            Outcome::pass("the host can run Secure Execution guests").with(ev)
        }
        _ => Outcome::fail("prot_virt_host is not 1")
            .fix(
                "add prot_virt=1 to the kernel parameters in /etc/zipl.conf, run `zipl -V`, reboot",
            )
            .with(ev),
    }
}

/// `se.cmdline`: see `docs/probe-checks.md#se-cmdline`.
fn se_cmdline(ctx: &Ctx) -> Outcome {
    if let Some(o) = not_s390x(ctx) {
        return o;
    }
    let ev = vec![ctx.ev_file(CMDLINE)];
    match cmdline::get(
        ctx.view.file(CMDLINE).text().unwrap_or_default(),
        "prot_virt",
    ) {
        Some("1" | "on" | "y" | "yes") => {
            Outcome::pass("prot_virt enabled on the command line").with(ev)
        }
        _ => Outcome::warn("no prot_virt=1 on the command line")
            .fix("add prot_virt=1 to /etc/zipl.conf and run `zipl -V`")
            .with(ev),
    }
}

/// `se.ready`: see `docs/probe-checks.md#se-ready`.
fn se_ready(ctx: &Ctx) -> Outcome {
    aggregate(
        ctx,
        &[
            CheckId::SeFacility,
            CheckId::SeHost,
            CheckId::KvmPresent,
            CheckId::KvmVendorModule,
        ],
        "Secure Execution host",
    )
}
