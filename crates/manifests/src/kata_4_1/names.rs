//! Object names of the 4.1.0 chart (`<chart>-sa[-<sfx>]`, note the suffix goes last).

use cococtl_profile::Config;

fn with_suffix(c: &Config, stem: &str) -> String {
    c.suffixed(&format!("{}-{stem}", c.chart_name))
}

pub fn service_account(c: &Config) -> String {
    with_suffix(c, "sa")
}
pub fn cluster_role(c: &Config) -> String {
    with_suffix(c, "role")
}
pub fn cluster_role_binding(c: &Config) -> String {
    with_suffix(c, "rb")
}
pub fn cleanup_service_account(c: &Config) -> String {
    with_suffix(c, "sa-cleanup")
}
pub fn cleanup_cluster_role(c: &Config) -> String {
    with_suffix(c, "cleanup-role")
}
pub fn cleanup_cluster_role_binding(c: &Config) -> String {
    with_suffix(c, "cleanup-rb")
}
pub fn cleanup_job(c: &Config) -> String {
    with_suffix(c, "rb-cleanup")
}
pub fn custom_configs(c: &Config) -> String {
    with_suffix(c, "custom-configs")
}
pub fn user_drop_in(c: &Config) -> String {
    with_suffix(c, "containerd-user-dropin")
}
/// `<release>-kata-deploy-state`, truncated to 63 like the chart.
pub fn state_config_map(c: &Config) -> String {
    let mut n = format!("{}-kata-deploy-state", c.release_name);
    n.truncate(63);
    n
}
