//! The environment of the kata-deploy 4.1.0 container (docs/kata-deploy-contract.md#env), in
//! the chart's order. The separators differ per variable (docs/kata-deploy-contract.md#g6) and only
//! the arch-suffixed variables are read by the binary (docs/kata-deploy-contract.md#g3), so each rule
//! is spelled out here and unit-tested.

use cococtl_core::Arch;
use cococtl_profile::config::ShimConfig;
use cococtl_profile::Config;
use k8s_openapi::api::core::v1::EnvVar;

use crate::meta;

/// `SHIMS_<ARCH>`: space-separated, sorted by name.
pub fn shims(c: &Config, arch: Arch) -> String {
    c.shims_for(arch)
        .map(ShimConfig::name)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `ALLOWED_HYPERVISOR_ANNOTATIONS_<ARCH>`: space-separated `shim:a,b` entries.
pub fn annotations(c: &Config, arch: Arch) -> String {
    c.shims_for(arch)
        .filter(|s| !s.allowed_hypervisor_annotations.is_empty())
        .map(|s| {
            format!(
                "{}:{}",
                s.name(),
                s.allowed_hypervisor_annotations.join(",")
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `SNAPSHOTTER_HANDLER_MAPPING_<ARCH>`: comma-separated `shim:snapshotter`.
pub fn snapshotter_mapping(c: &Config, arch: Arch) -> String {
    c.shims_for(arch)
        .filter(|s| !s.snapshotter.is_empty())
        .map(|s| format!("{}:{}", s.name(), s.snapshotter))
        .collect::<Vec<_>>()
        .join(",")
}

/// `PULL_TYPE_MAPPING_<ARCH>`: comma-separated `shim:guest-pull` (only CRI-O reads it,
/// docs/kata-deploy-contract.md#g8).
pub fn pull_type_mapping(c: &Config, arch: Arch) -> String {
    c.shims_for(arch)
        .filter(|s| s.force_guest_pull || s.crio_guest_pull)
        .map(|s| format!("{}:guest-pull", s.name()))
        .collect::<Vec<_>>()
        .join(",")
}

/// `EXPERIMENTAL_FORCE_GUEST_PULL_<ARCH>`: comma-separated shims (crio.guestPull ignored).
pub fn force_guest_pull(c: &Config, arch: Arch) -> String {
    c.shims_for(arch)
        .filter(|s| s.force_guest_pull)
        .map(ShimConfig::name)
        .collect::<Vec<_>>()
        .join(",")
}

/// `AGENT_HTTPS_PROXY` / `AGENT_NO_PROXY`: `shim=value` joined by `;`, not per arch.
pub fn proxy(c: &Config, pick: fn(&ShimConfig) -> &str) -> String {
    c.shims
        .iter()
        .filter(|s| !pick(s).is_empty())
        .map(|s| format!("{}={}", s.name(), pick(s)))
        .collect::<Vec<_>>()
        .join(";")
}

/// The `K8S_DISTRIBUTION`/containerd-conf decision is shared with the volumes.
pub fn containerd_config_dir_set(c: &Config) -> bool {
    !c.containerd_config_dir.is_empty()
}

/// The full env list of the DaemonSet container.
pub fn env(c: &Config) -> Vec<EnvVar> {
    let mut e = vec![
        meta::node_name_env(),
        meta::env("DAEMONSET_NAME", c.base_name()),
        meta::env("DEBUG", c.debug.to_string()),
    ];
    let per_arch = |e: &mut Vec<EnvVar>, prefix: &str, f: &dyn Fn(Arch) -> String| {
        for arch in Arch::ALL {
            let v = f(arch);
            if !v.is_empty() {
                e.push(meta::env(format!("{prefix}_{}", arch.env_suffix()), v));
            }
        }
    };
    per_arch(&mut e, "SHIMS", &|a| shims(c, a));
    per_arch(&mut e, "DEFAULT_SHIM", &|a| {
        c.default_shim_for(a).unwrap_or("").to_string()
    });
    per_arch(&mut e, "ALLOWED_HYPERVISOR_ANNOTATIONS", &|a| {
        annotations(c, a)
    });
    per_arch(&mut e, "SNAPSHOTTER_HANDLER_MAPPING", &|a| {
        snapshotter_mapping(c, a)
    });
    let https = proxy(c, |s| &s.https_proxy);
    if !https.is_empty() {
        e.push(meta::env("AGENT_HTTPS_PROXY", https));
    }
    let no = proxy(c, |s| &s.no_proxy);
    if !no.is_empty() {
        e.push(meta::env("AGENT_NO_PROXY", no));
    }
    per_arch(&mut e, "PULL_TYPE_MAPPING", &|a| pull_type_mapping(c, a));
    e.push(meta::env(
        "INSTALLATION_PREFIX",
        c.installation_prefix.clone(),
    ));
    e.push(meta::env("MULTI_INSTALL_SUFFIX", c.suffix.clone()));
    if !c.snapshotter_setup.is_empty() {
        e.push(meta::env(
            "EXPERIMENTAL_SETUP_SNAPSHOTTER",
            c.snapshotter_setup.join(","),
        ));
    }
    if !c.erofs_merge_mode.is_empty() {
        e.push(meta::env("EROFS_MERGE_MODE", c.erofs_merge_mode.clone()));
    }
    if !c.erofs_snapshotter_mode.is_empty() {
        e.push(meta::env(
            "EROFS_SNAPSHOTTER_MODE",
            c.erofs_snapshotter_mode.clone(),
        ));
    }
    if c.erofs_dmverity {
        e.push(meta::env("EROFS_DMVERITY", "dmverity"));
    }
    per_arch(&mut e, "EXPERIMENTAL_FORCE_GUEST_PULL", &|a| {
        force_guest_pull(c, a)
    });
    if !c.containerd_config_file_name.is_empty() {
        e.push(meta::env(
            "CONTAINERD_CONFIG_FILE_NAME",
            c.containerd_config_file_name.clone(),
        ));
    }
    if !containerd_config_dir_set(c) {
        e.push(meta::env("K8S_DISTRIBUTION", c.k8s_distribution.as_str()));
    }
    if !c.containerd_user_drop_in.trim().is_empty() {
        e.push(meta::env(
            "CONTAINERD_USER_DROP_IN_SOURCE_FILE",
            format!(
                "{}{}",
                super::config_maps::USER_DROP_IN_DIR,
                super::config_maps::USER_DROP_IN_KEY
            ),
        ));
    }
    if !c.host_os.is_empty() {
        e.push(meta::env("HOST_OS", c.host_os.clone()));
    }
    // The binary reads `/custom-configs/custom-runtimes.list` only when told to.
    if !c.custom_runtimes.is_empty() {
        e.push(meta::env("CUSTOM_RUNTIMES_ENABLED", "true"));
    }
    if c.debug && c.devkit {
        e.push(meta::env("DEVKIT", "true"));
    }
    if !c.startup_taints.is_empty() {
        e.push(meta::env("STARTUP_TAINTS", c.startup_taints.join(",")));
    }
    e.push(meta::env("HEALTH_PORT", c.health.port.to_string()));
    e
}
