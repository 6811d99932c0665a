//! `monitor.*`: the optional kata-monitor DaemonSet (docs/values.md#monitor). Resolves the
//! log level, the CRI endpoint and the socket directory the way the 4.1.0 chart's helpers
//! do, so the manifests only copy fields.

use cococtl_core::Distribution;

use super::{image_ref, KataVersion, V};
use crate::config::Monitor;
use crate::raw;

/// The CRI socket of each distribution (the chart's `containerdRuntimeSocket`).
pub fn distribution_socket(d: Distribution) -> &'static str {
    match d {
        Distribution::K8s => "unix:///run/containerd/containerd.sock",
        Distribution::K3s | Distribution::Rke2 => "unix:///run/k3s/containerd/containerd.sock",
        Distribution::K0s => "unix:///run/k0s/containerd.sock",
        Distribution::Microk8s => "unix:///var/snap/microk8s/common/run/containerd.sock",
    }
}

/// The directory of the socket an endpoint names: `unix://` or `unix:` stripped, then the
/// parent directory (Go's `path.Dir`, which the chart's `dir` is).
pub fn socket_dir(endpoint: &str) -> String {
    let path = endpoint
        .strip_prefix("unix://")
        .or_else(|| endpoint.strip_prefix("unix:"))
        .unwrap_or(endpoint);
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => trimmed[..i].into(),
        None => ".".into(),
    }
}

pub(super) fn monitor(v: &mut V, r: &raw::Values) -> Option<Monitor> {
    let m = &r.monitor;
    if !m.enabled {
        return None;
    }
    let image = image_ref(v, "monitor.image", &m.image, KataVersion::DEFAULT.as_str());
    let log_level = [m.log_level.trim(), r.log_level.trim()]
        .into_iter()
        .find(|l| !l.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| if r.debug { "debug" } else { "info" }.to_string());
    let distribution = Distribution::parse(&r.k8s_distribution).unwrap_or_default();
    let runtime_endpoint = [
        m.runtime_endpoint.trim(),
        r.containerd.runtime_socket.trim(),
    ]
    .into_iter()
    .find(|e| !e.is_empty())
    .unwrap_or(distribution_socket(distribution))
    .to_string();
    let path = runtime_endpoint
        .strip_prefix("unix://")
        .or_else(|| runtime_endpoint.strip_prefix("unix:"))
        .unwrap_or(&runtime_endpoint);
    if !path.starts_with('/') || path.ends_with('/') {
        let key = if m.runtime_endpoint.trim().is_empty() {
            "containerd.runtimeSocket"
        } else {
            "monitor.runtimeEndpoint"
        };
        v.err(
            key,
            format!("`{runtime_endpoint}` is not a unix socket path: kata-monitor mounts the directory that holds it"),
            format!("--set {key}=unix:///run/containerd/containerd.sock"),
        );
    }
    let port = match i32::try_from(m.port) {
        Ok(p) if (1..=65535).contains(&p) => p,
        _ => {
            v.err(
                "monitor.port",
                format!("`{}` is not a TCP port", m.port),
                "--set monitor.port=8090",
            );
            8090
        }
    };
    if m.listen_address.trim().is_empty() {
        v.err(
            "monitor.listenAddress",
            "is empty: kata-monitor needs an address to serve its metrics on",
            "--set monitor.listenAddress=0.0.0.0:8090",
        );
    }
    if !r.env.multi_install_suffix.trim().is_empty() {
        v.warn(
            "monitor.enabled",
            "the kata-monitor DaemonSet is not suffixed (as in the chart): every install with a multi-install suffix in this namespace shares the one `kata-monitor`".to_string(),
        );
    }
    Some(Monitor {
        image,
        listen_address: m.listen_address.trim().to_string(),
        log_level,
        socket_dir: socket_dir(&runtime_endpoint),
        runtime_endpoint,
        port,
        security_context: m.security_context.clone().unwrap_or_default(),
        resources: m.resources.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_dir_is_the_parent_of_the_socket_path() {
        assert_eq!(
            socket_dir("unix:///run/containerd/containerd.sock"),
            "/run/containerd"
        );
        assert_eq!(socket_dir("unix:/run/k0s/containerd.sock"), "/run/k0s");
        assert_eq!(socket_dir("/var/run/crio/crio.sock"), "/var/run/crio");
    }
}
