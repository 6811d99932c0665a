//! Host mounts of the 4.1.0 DaemonSet (docs/kata-deploy-contract.md#volumes). 4.1.0 is
//! unprivileged: it reaches systemd through its private socket and sees only these paths.

use cococtl_profile::Config;
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, EmptyDirVolumeSource, HostPathVolumeSource, Volume, VolumeMount,
};

use super::config_maps::{self, CUSTOM_CONFIGS_DIR, USER_DROP_IN_DIR};

/// Host directory holding the containerd config for a distribution (mounted at
/// `/etc/containerd/`).
pub fn containerd_conf_dir(distribution: &str) -> &'static str {
    match distribution {
        "k3s" => "/var/lib/rancher/k3s/agent/etc/containerd/",
        "rke2" => "/var/lib/rancher/rke2/agent/etc/containerd/",
        "k0s" => "/etc/k0s/",
        "microk8s" => "/var/snap/microk8s/current/args/",
        _ => "/etc/containerd/",
    }
}

/// `<prefix>/opt/kata[-<suffix>]`, mounted at the same absolute path.
pub fn install_dir(c: &Config) -> String {
    format!("{}{}", c.installation_prefix, c.suffixed("/opt/kata"))
}

struct Mount {
    name: &'static str,
    host: String,
    kind: Option<&'static str>,
    at: String,
    read_only: bool,
}

fn mounts(c: &Config) -> Vec<Mount> {
    let conf = if c.containerd_config_dir.is_empty() {
        containerd_conf_dir(c.k8s_distribution.as_str()).to_string()
    } else {
        c.containerd_config_dir.clone()
    };
    let install = install_dir(c);
    let m = |name, host: &str, kind, at: &str, read_only| Mount {
        name,
        host: host.to_string(),
        kind,
        at: at.to_string(),
        read_only,
    };
    vec![
        m("crio-conf", "/etc/crio/", None, "/etc/crio/", false),
        m("containerd-conf", &conf, None, "/etc/containerd/", false),
        m(
            "kata-install",
            &install,
            Some("DirectoryOrCreate"),
            &install,
            false,
        ),
        m(
            "systemd-system",
            "/etc/systemd/system",
            Some("DirectoryOrCreate"),
            "/etc/systemd/system",
            false,
        ),
        m(
            "systemd-private",
            "/run/systemd/private",
            Some("Socket"),
            "/run/systemd/private",
            false,
        ),
        m("boot", "/boot", None, "/boot", true),
        m(
            "host-machine-id",
            "/etc/machine-id",
            Some("File"),
            "/host-machine-id",
            true,
        ),
        m(
            "host-run-lock",
            "/run/lock",
            Some("DirectoryOrCreate"),
            "/host-run-lock",
            false,
        ),
        m("host-usr-bin", "/usr/bin", None, "/host-usr/bin", true),
        m("host-usr-sbin", "/usr/sbin", None, "/host-usr/sbin", true),
        m(
            "host-usr-local-bin",
            "/usr/local/bin",
            None,
            "/host-usr-local/bin",
            true,
        ),
        m(
            "host-usr-local-sbin",
            "/usr/local/sbin",
            None,
            "/host-usr-local/sbin",
            true,
        ),
        m("host-bin", "/bin", None, "/host-bin", true),
        m("host-sbin", "/sbin", None, "/host-sbin", true),
    ]
}

/// The mounted ConfigMaps: (volume name, ConfigMap name, mount path).
fn config_map_mounts(c: &Config) -> Vec<(&'static str, String, &'static str)> {
    let mut v = vec![];
    if let Some(cm) = config_maps::user_drop_in(c) {
        v.push((
            "custom-containerd-config",
            cm.metadata.name.unwrap_or_default(),
            USER_DROP_IN_DIR,
        ));
    }
    if let Some(cm) = config_maps::custom_configs(c) {
        v.push((
            "custom-configs",
            cm.metadata.name.unwrap_or_default(),
            CUSTOM_CONFIGS_DIR,
        ));
    }
    v
}

/// The pod's volumes, `tmp` first.
pub fn volumes(c: &Config) -> Vec<Volume> {
    let mut v = vec![Volume {
        name: "tmp".into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }];
    v.extend(mounts(c).into_iter().map(|m| Volume {
        name: m.name.into(),
        host_path: Some(HostPathVolumeSource {
            path: m.host,
            type_: m.kind.map(str::to_string),
        }),
        ..Default::default()
    }));
    v.extend(
        config_map_mounts(c)
            .into_iter()
            .map(|(name, cm, _)| Volume {
                name: name.into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: cm,
                    ..Default::default()
                }),
                ..Default::default()
            }),
    );
    v
}

/// The container's mounts, in the same order.
pub fn volume_mounts(c: &Config) -> Vec<VolumeMount> {
    let mut v = vec![VolumeMount {
        name: "tmp".into(),
        mount_path: "/tmp".into(),
        ..Default::default()
    }];
    v.extend(mounts(c).into_iter().map(|m| VolumeMount {
        name: m.name.into(),
        mount_path: m.at,
        read_only: m.read_only.then_some(true),
        ..Default::default()
    }));
    v.extend(
        config_map_mounts(c)
            .into_iter()
            .map(|(name, _, at)| VolumeMount {
                name: name.into(),
                mount_path: at.into(),
                read_only: Some(true),
                ..Default::default()
            }),
    );
    v
}
