//! Every spelling of a CPU architecture cococtl meets: Kubernetes (`kubernetes.io/arch`,
//! values keys), the kernel (`uname -m`), kata-deploy's env suffixes and ELF `e_machine`.

use std::fmt;

/// A CPU architecture as Kubernetes names it (`kubernetes.io/arch`, `supportedArches`,
/// `defaultShim.<arch>`). The kata-deploy binary uses the kernel names in env suffixes
/// (`docs/kata-deploy-contract.md#g2`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// x86_64.
    Amd64,
    /// aarch64.
    Arm64,
    /// IBM Z.
    S390x,
    /// Little-endian POWER.
    Ppc64le,
}

impl Arch {
    /// In the order the chart emits per-arch env vars.
    pub const ALL: [Arch; 4] = [Arch::Amd64, Arch::Arm64, Arch::S390x, Arch::Ppc64le];

    /// `amd64`, `arm64`, `s390x`, `ppc64le`.
    pub fn k8s_name(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
            Arch::S390x => "s390x",
            Arch::Ppc64le => "ppc64le",
        }
    }

    /// `x86_64`, `aarch64`, `s390x`, `ppc64le` (what `uname -m` prints).
    pub fn kernel_name(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64",
            Arch::Arm64 => "aarch64",
            Arch::S390x => "s390x",
            Arch::Ppc64le => "ppc64le",
        }
    }

    /// Suffix of kata-deploy's per-arch env vars: `X86_64`, `AARCH64`, `S390X`, `PPC64LE`.
    pub fn env_suffix(self) -> &'static str {
        match self {
            Arch::Amd64 => "X86_64",
            Arch::Arm64 => "AARCH64",
            Arch::S390x => "S390X",
            Arch::Ppc64le => "PPC64LE",
        }
    }

    /// ELF `e_machine` of binaries built for this architecture.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::Amd64 => 62,
            Arch::Arm64 => 183,
            Arch::S390x => 22,
            Arch::Ppc64le => 21,
        }
    }

    /// `amd64`, `arm64`, `s390x`, `ppc64le`; `None` for anything else.
    pub fn from_k8s_name(s: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.k8s_name() == s)
    }

    /// Accepts `uname -m` spellings, including `powerpc64` and `arm64`.
    pub fn from_kernel_name(s: &str) -> Option<Arch> {
        match s {
            "x86_64" | "amd64" => Some(Arch::Amd64),
            "aarch64" | "arm64" => Some(Arch::Arm64),
            "s390x" => Some(Arch::S390x),
            "ppc64le" | "powerpc64" | "powerpc64le" => Some(Arch::Ppc64le),
            _ => None,
        }
    }

    /// The architecture this binary was built for, if kata-deploy supports it.
    pub fn host() -> Option<Arch> {
        Arch::from_kernel_name(std::env::consts::ARCH)
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.k8s_name())
    }
}

/// A readable name for an ELF `e_machine`, for messages about a binary of the wrong arch.
pub fn elf_machine_name(m: u16) -> &'static str {
    match m {
        3 => "i386",
        40 => "arm",
        _ => Arch::ALL
            .into_iter()
            .find(|a| a.elf_machine() == m)
            .map_or("another architecture", |a| a.kernel_name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_round_trips() {
        for a in Arch::ALL {
            assert_eq!(Arch::from_k8s_name(a.k8s_name()), Some(a));
            assert_eq!(Arch::from_kernel_name(a.kernel_name()), Some(a));
            assert_eq!(elf_machine_name(a.elf_machine()), a.kernel_name());
        }
    }
}
