//! IBM Secure Execution host readiness (s390x): the ultravisor facility, `prot_virt_host`,
//! and the `prot_virt` boot parameter.

use cococtl_core::Arch;

use super::{arch, identity, passed, ready, Part, CMDLINE};
use crate::check::{Check, Ctx, Outcome, SkipReason};
use crate::id::CheckId;
use crate::input::{Input, Reading};
use crate::parse::cmdline;

fn not_s390x(ctx: &Ctx) -> Option<Outcome> {
    (arch(ctx) != Some(Arch::S390x)).then(|| {
        Outcome::skip(
            SkipReason::NotApplicable,
            "Secure Execution needs an s390x host",
        )
    })
}

/// The Secure Execution checks, in evaluation order.
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
            [
                identity(),
                vec![Input::file(CMDLINE), Input::file(PROT_VIRT_HOST)],
            ]
            .concat(),
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
    let c = super::cpu(ctx);
    let info = ctx.view.file(super::CPUINFO);
    let ev = vec![crate::check::Evidence {
        source: format!("/{} facilities", super::CPUINFO),
        value: if !info.known() {
            info.summary()
        } else if c.facilities_known {
            format!(
                "158 {}",
                if c.facilities.contains(&158) {
                    "present"
                } else {
                    "absent"
                }
            )
        } else {
            "not observable (no facilities line)".into()
        },
    }];
    if !c.facilities_known {
        let r = ctx.view.file(super::CPUINFO);
        return match r {
            Reading::Text { .. } => Outcome::skip(
                SkipReason::NotObservable,
                "cpuinfo has no facilities line: the ultravisor facility is not observable",
            ),
            other => ctx.unreadable(other, "the cpuinfo facilities"),
        }
        .with(ev);
    }
    if c.facilities.contains(&158) {
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
    const HOST: &str = "sys/firmware/uv/prot_virt_host";
    let ev = vec![ctx.ev_file(HOST)];
    let fix = "add prot_virt=1 to the kernel parameters in /etc/zipl.conf, run `zipl -V`, reboot";
    match ctx.view.file(HOST) {
        Reading::Text { value } if value.trim() == "1" => {
            Outcome::pass("the host can run Secure Execution guests").with(ev)
        }
        Reading::Text { value } => {
            Outcome::fail(format!("prot_virt_host is {}, not 1", value.trim()))
                .fix(fix)
                .with(ev)
        }
        Reading::Missing => Outcome::fail(format!(
            "no /{HOST}: the kernel offers no Secure Execution host support"
        ))
        .fix(fix)
        .with(ev),
        other => ctx.unreadable(other, "prot_virt_host").with(ev),
    }
}

/// `se.cmdline`: see `docs/probe-checks.md#se-cmdline`.
fn se_cmdline(ctx: &Ctx) -> Outcome {
    if let Some(o) = not_s390x(ctx) {
        return o;
    }
    let ev = vec![ctx.ev_file(CMDLINE)];
    let cl = ctx.view.file(CMDLINE);
    if !cl.known() {
        // The kernel sets prot_virt_host only when prot_virt was on its command line.
        if ctx.view.file(PROT_VIRT_HOST).text().map(str::trim) == Some("1") {
            return Outcome::pass(format!(
                "prot_virt was set: /{PROT_VIRT_HOST} reads 1 (/{CMDLINE} itself is not readable)"
            ))
            .with(ev)
            .with(vec![ctx.ev_file(PROT_VIRT_HOST)]);
        }
        return ctx.unreadable(cl, "the kernel command line").with(ev);
    }
    match cmdline::get(cl.text().unwrap_or_default(), "prot_virt") {
        Some("1" | "on" | "y" | "yes") => {
            Outcome::pass("prot_virt enabled on the command line").with(ev)
        }
        _ => Outcome::warn("no prot_virt=1 on the command line")
            .fix("add prot_virt=1 to /etc/zipl.conf and run `zipl -V`")
            .with(ev),
    }
}

const PROT_VIRT_HOST: &str = "sys/firmware/uv/prot_virt_host";

/// The parts a Secure Execution host needs positively observed.
const PARTS: &[Part] = &[
    Part {
        what: "the ultravisor facility (se.facility)",
        checks: &[CheckId::SeFacility],
        proven: |c| passed(c, CheckId::SeFacility),
    },
    Part {
        what: "prot_virt_host=1 (se.host)",
        checks: &[CheckId::SeHost],
        proven: |c| passed(c, CheckId::SeHost),
    },
    Part {
        what: "KVM (kvm.present, kvm.vendor_module)",
        checks: &[CheckId::KvmPresent, CheckId::KvmVendorModule],
        proven: |c| passed(c, CheckId::KvmPresent) && passed(c, CheckId::KvmVendorModule),
    },
];

/// `se.ready`: see `docs/probe-checks.md#se-ready`.
fn se_ready(ctx: &Ctx) -> Outcome {
    ready(ctx, PARTS, "Secure Execution host")
}
