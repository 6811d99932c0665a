//! This machine. Files come from `/`; CPUID from the instruction itself; MSRs from
//! `/dev/cpu/0/msr`; KVM facts from read-only ioctls on `/dev/kvm`; the SNP platform status
//! from `/dev/sev` through the `sev` crate; the kernel log from `/dev/kmsg`. Nothing is
//! written, no VM is created, no firmware command with side effects is issued.
//!
//! The one module of the crate with `unsafe` code (the CPUID instruction and two
//! read-only KVM ioctls); every block says why it is sound.

#![allow(unsafe_code)]

use std::io::ErrorKind;
use std::os::unix::fs::FileExt;

use super::fs::RootFs;
use super::Host;
use crate::input::{Input, Kmsg, KvmInfo, Reading};
#[cfg(target_arch = "x86_64")]
use crate::input::{SevStatus, SnpStatus};

/// This machine, read-only.
pub struct RealHost {
    fs: RootFs,
    /// Where the host's programs are read ([`Input::Strings`]): `/` on the host itself; in
    /// the probe pod, the host directories the DaemonSet mounts (the pod's own `/` is the
    /// image, which has no host programs, so reading it would call them absent).
    programs: Programs,
}

enum Programs {
    Root,
    Mounted {
        fs: RootFs,
        /// The host directories mounted under the root, relative (`usr`).
        dirs: Vec<String>,
        root: String,
    },
}

impl Default for RealHost {
    fn default() -> Self {
        RealHost {
            fs: RootFs::host(),
            programs: Programs::Root,
        }
    }
}

impl RealHost {
    /// This machine seen from a pod: the kernel's files at `/`, the host's `dirs` (such as
    /// `usr`) mounted read-only under `root`. A host program outside them is not
    /// observable, never absent.
    pub fn in_pod(root: &std::path::Path, dirs: &[&str]) -> std::io::Result<Self> {
        Ok(RealHost {
            fs: RootFs::host(),
            programs: Programs::Mounted {
                fs: RootFs::fixture(root)?,
                dirs: dirs
                    .iter()
                    .map(|d| d.trim_matches('/').to_string())
                    .collect(),
                root: root.display().to_string(),
            },
        })
    }

    fn program(&self, path: &str) -> Reading {
        match &self.programs {
            Programs::Root => self.fs.strings(path),
            Programs::Mounted { fs, dirs, root } => {
                let rel = path.trim_start_matches('/');
                if dirs
                    .iter()
                    .any(|d| rel == d || rel.starts_with(&format!("{d}/")))
                {
                    fs.strings(rel)
                } else {
                    Reading::NotObservable {
                        detail: format!(
                            "/{rel} is not mounted into the probe pod (only {} of the host, under {root})",
                            dirs.iter().map(|d| format!("/{d}")).collect::<Vec<_>>().join(", ")
                        ),
                    }
                }
            }
        }
    }
}

fn io_err(e: &std::io::Error, what: &str) -> Reading {
    match e.kind() {
        ErrorKind::NotFound => Reading::Missing,
        ErrorKind::PermissionDenied => Reading::Denied {
            detail: format!("{what}: {e}"),
        },
        _ => Reading::Error {
            detail: format!("{what}: {e}"),
        },
    }
}

#[cfg(target_arch = "x86_64")]
fn cpuid(leaf: u32, subleaf: u32) -> Reading {
    use std::arch::x86_64::__cpuid_count;
    // SAFETY: CPUID is available on every x86_64 CPU and only reads registers; the
    // intrinsic is `unsafe` only because of its target-feature contract, which x86_64
    // always meets. `unused_unsafe`: newer toolchains made the intrinsic safe.
    #[allow(unused_unsafe)]
    let raw = |l: u32, s: u32| unsafe { __cpuid_count(l, s) };
    // Only leaves the CPU (or hypervisor) reports: beyond the range the instruction
    // returns another leaf's data.
    let max = match leaf {
        0x4000_0000..=0x4fff_ffff => {
            let hypervisor = raw(1, 0).ecx & (1 << 31) != 0;
            if !hypervisor {
                return Reading::Missing;
            }
            raw(0x4000_0000, 0).eax.max(0x4000_0000)
        }
        0x8000_0000..=0xffff_ffff => raw(0x8000_0000, 0).eax,
        _ => raw(0, 0).eax,
    };
    if leaf > max && leaf != 0x4000_0000 && leaf != 0x8000_0000 && leaf != 0 {
        return Reading::Missing;
    }
    let r = raw(leaf, subleaf);
    Reading::Cpuid {
        eax: r.eax,
        ebx: r.ebx,
        ecx: r.ecx,
        edx: r.edx,
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn cpuid(_leaf: u32, _subleaf: u32) -> Reading {
    Reading::NotObservable {
        detail: "no CPUID on this architecture".into(),
    }
}

fn msr(index: u32) -> Reading {
    let f = match std::fs::File::open("/dev/cpu/0/msr") {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Reading::NotObservable {
                detail: "no /dev/cpu/0/msr (modprobe msr)".into(),
            }
        }
        Err(e) => return io_err(&e, "/dev/cpu/0/msr"),
    };
    let mut buf = [0u8; 8];
    match f.read_exact_at(&mut buf, u64::from(index)) {
        Ok(()) => Reading::Msr {
            value: u64::from_le_bytes(buf),
        },
        // EIO: the register does not exist on this CPU.
        Err(e) if e.raw_os_error() == Some(libc::EIO) => Reading::Missing,
        Err(e) => io_err(&e, "/dev/cpu/0/msr"),
    }
}

const KVM_GET_API_VERSION: libc::c_ulong = 0xAE00;
const KVM_CHECK_EXTENSION: libc::c_ulong = 0xAE03;
const KVM_CAP_VM_TYPES: libc::c_ulong = 235;

fn kvm() -> Reading {
    use std::os::fd::AsRawFd;
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        Ok(f) => f,
        Err(e) => return io_err(&e, "/dev/kvm"),
    };
    let fd = f.as_raw_fd();
    // SAFETY: both ioctls take an integer argument and only return an integer; `fd` is
    // an open /dev/kvm descriptor owned by `f` for the duration of the calls.
    let (api, types) = unsafe {
        (
            libc::ioctl(fd, KVM_GET_API_VERSION as _, 0),
            libc::ioctl(fd, KVM_CHECK_EXTENSION as _, KVM_CAP_VM_TYPES),
        )
    };
    if api < 0 {
        return Reading::Error {
            detail: format!("KVM_GET_API_VERSION: {}", std::io::Error::last_os_error()),
        };
    }
    Reading::Kvm(KvmInfo {
        api_version: api,
        // Kernels without the capability answer 0: only default VMs. A negative answer is
        // an error: the VM types are then unknown, not "default only".
        vm_types: match types {
            t if t > 0 => Some(t as u64),
            0 => Some(1),
            _ => None,
        },
    })
}

#[cfg(target_arch = "x86_64")]
fn tcb(t: &sev::firmware::host::TcbVersion) -> String {
    format!("{}.{}.{}.{}", t.bootloader, t.tee, t.snp, t.microcode)
}

#[cfg(target_arch = "x86_64")]
fn snp_status() -> Reading {
    let mut fw = match sev::firmware::host::Firmware::open() {
        Ok(f) => f,
        Err(e) => return io_err(&e, "/dev/sev"),
    };
    match fw.snp_platform_status() {
        Ok(s) => Reading::Snp(SnpStatus {
            api_major: s.version.0,
            api_minor: s.version.1,
            build_id: s.build_id,
            state: s.state,
            rmp_initialized: s.is_rmp_init.is_rmp_init(),
            alias_check_complete: s.is_rmp_init.alias_check_complete(),
            guest_count: s.guest_count,
            platform_tcb: tcb(&s.platform_tcb_version),
            reported_tcb: tcb(&s.reported_tcb_version),
        }),
        Err(e) => Reading::Error {
            detail: format!("SNP_PLATFORM_STATUS: {e}"),
        },
    }
}

#[cfg(target_arch = "x86_64")]
fn sev_status() -> Reading {
    use sev::firmware::host::State;
    let mut fw = match sev::firmware::host::Firmware::open() {
        Ok(f) => f,
        Err(e) => return io_err(&e, "/dev/sev"),
    };
    match fw.platform_status() {
        Ok(s) => Reading::Sev(SevStatus {
            api_major: s.build.version.major,
            api_minor: s.build.version.minor,
            build_id: u32::from(s.build.build),
            state: match s.state {
                State::Uninitialized => 0,
                State::Initialized => 1,
                State::Working => 2,
            },
            guest_count: s.guests,
        }),
        Err(e) => Reading::Error {
            detail: format!("PLATFORM_STATUS: {e}"),
        },
    }
}

// SEV is AMD's, on x86_64 only, and the `sev` crate (through rdrand) builds only there:
// elsewhere there is no /dev/sev to ask.
#[cfg(not(target_arch = "x86_64"))]
fn snp_status() -> Reading {
    Reading::NotObservable {
        detail: "no SEV firmware on this architecture".into(),
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn sev_status() -> Reading {
    snp_status()
}

fn kmsg() -> Reading {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
    {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            return Reading::Denied {
                detail: "/dev/kmsg (kernel.dmesg_restrict)".into(),
            }
        }
        Err(e) => return io_err(&e, "/dev/kmsg"),
    };
    let mut lines = vec![];
    let mut first_seq = None;
    let mut buf = vec![0u8; 8192];
    let mut reached_end = false;
    let mut lost = false;
    // Each read returns one record: "prio,seq,usec,flags;message".
    for _ in 0..100_000 {
        match f.read(&mut buf) {
            Ok(0) => {
                reached_end = true;
                break;
            }
            Ok(n) => {
                let rec = String::from_utf8_lossy(&buf[..n]);
                if let Some((head, msg)) = rec.split_once(';') {
                    if first_seq.is_none() {
                        first_seq = head.split(',').nth(1).and_then(|s| s.parse::<u64>().ok());
                    }
                    lines.push(msg.lines().next().unwrap_or("").to_string());
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                reached_end = true;
                break;
            }
            // EPIPE: records were overwritten while reading; keep going, but the log is
            // then partial.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {
                lost = true;
                continue;
            }
            Err(e) => return io_err(&e, "/dev/kmsg"),
        }
    }
    Reading::Kmsg(Kmsg {
        complete: first_seq == Some(0) && reached_end && !lost,
        lines,
    })
}

impl Host for RealHost {
    fn read(&self, input: &Input) -> Reading {
        match input {
            Input::File { path } => self.fs.file(path),
            Input::Strings { path } => self.program(path),
            Input::Dir { path } => self.fs.dir(path),
            Input::Link { path } => self.fs.link(path),
            Input::Device { path } => self.fs.device(path),
            Input::Cpuid { leaf, subleaf } => cpuid(*leaf, *subleaf),
            Input::Msr { index } => msr(*index),
            Input::Kvm => kvm(),
            Input::SnpStatus => snp_status(),
            Input::SevStatus => sev_status(),
            Input::Kmsg => kmsg(),
            Input::NodeLabels | Input::KubeletVersion => Reading::NotObservable {
                detail: "needs the Node object (the node agent reads it; or pass --hw)".into(),
            },
            Input::EachFile { .. } | Input::EachLink { .. } | Input::EachDir { .. } => {
                Reading::Error {
                    detail: "pattern inputs are expanded by the snapshot".into(),
                }
            }
        }
    }
}
