//! Object names of the 4.1.0 chart (`<chart>-sa[-<sfx>]`, note the suffix goes last).

use cococtl_profile::Config;

fn with_suffix(c: &Config, stem: &str) -> String {
    c.suffixed(&format!("{}-{stem}", c.chart_name))
}

/// `<chart>-sa[-<sfx>]`: the DaemonSet's ServiceAccount.
pub fn service_account(c: &Config) -> String {
    with_suffix(c, "sa")
}
/// `<chart>-role[-<sfx>]`.
pub fn cluster_role(c: &Config) -> String {
    with_suffix(c, "role")
}
/// `<chart>-rb[-<sfx>]`.
pub fn cluster_role_binding(c: &Config) -> String {
    with_suffix(c, "rb")
}
/// `<chart>-sa-cleanup[-<sfx>]`: the cleanup Job's ServiceAccount.
pub fn cleanup_service_account(c: &Config) -> String {
    with_suffix(c, "sa-cleanup")
}
/// `<chart>-cleanup-role[-<sfx>]`.
pub fn cleanup_cluster_role(c: &Config) -> String {
    with_suffix(c, "cleanup-role")
}
/// `<chart>-cleanup-rb[-<sfx>]`.
pub fn cleanup_cluster_role_binding(c: &Config) -> String {
    with_suffix(c, "cleanup-rb")
}
/// `<chart>-rb-cleanup[-<sfx>]`: the Job that removes the kept RBAC.
pub fn cleanup_job(c: &Config) -> String {
    with_suffix(c, "rb-cleanup")
}
/// `<chart>-custom-configs[-<sfx>]`: the per-shim drop-ins ConfigMap.
pub fn custom_configs(c: &Config) -> String {
    with_suffix(c, "custom-configs")
}
/// `<chart>-containerd-user-dropin[-<sfx>]`: the containerd drop-in ConfigMap.
pub fn user_drop_in(c: &Config) -> String {
    with_suffix(c, "containerd-user-dropin")
}
/// `<release>-kata-deploy-state`, truncated to 63 like the chart. Each instance is its own
/// release (`cococtl`, or `cococtl-<sfx>` with a multi-install suffix), so two installs in
/// one namespace never share, and never overwrite, each other's recorded suffix.
pub fn state_config_map(c: &Config) -> String {
    let mut n = format!("{}-kata-deploy-state", c.suffixed(&c.release_name));
    n.truncate(63);
    n
}
