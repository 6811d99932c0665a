//! The chart's RBAC remover (post-delete hooks in Helm), as plain objects for the uninstall
//! phase. The DaemonSet's RBAC must outlive its pods, whose SIGTERM cleanup talks to the API
//! (docs/kata-deploy-contract.md#g16); this Job waits until no kata-deploy pod is left, then deletes that
//! RBAC.

use cococtl_profile::Config;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRole;

use super::{names, rbac};
use crate::meta;
use crate::Object;

/// Polls for the DaemonSet's pods (up to 300 s), then deletes the kept RBAC, three tries
/// per object, tolerating objects already gone.
fn script(c: &Config) -> String {
    let ns = &c.namespace;
    format!(
        r#"set -u
for i in $(seq 1 60); do
  if [ -z "$(kubectl get pods -n {ns} -l name={pod} -o name)" ]; then break; fi
  echo "waiting for kata-deploy pods to finish their cleanup ($i/60)"
  sleep 5
done
del() {{
  for try in 1 2 3; do
    kubectl delete "$@" --ignore-not-found --wait=false && return 0
    sleep 2
  done
  return 1
}}
del clusterrolebinding {crb}
del clusterrole {role}
del serviceaccount -n {ns} {sa}
"#,
        pod = c.base_name(),
        crb = names::cluster_role_binding(c),
        role = names::cluster_role(c),
        sa = names::service_account(c),
    )
}

/// The uninstall-phase objects: ServiceAccount, ClusterRole, binding and the cleanup Job.
pub fn objects(c: &Config) -> Vec<Object> {
    let sa = names::cleanup_service_account(c);
    let role = names::cleanup_cluster_role(c);
    let job = Job {
        metadata: meta::namespaced(c, &names::cleanup_job(c)),
        spec: Some(JobSpec {
            backoff_limit: Some(3),
            ttl_seconds_after_finished: Some(300),
            template: PodTemplateSpec {
                metadata: None,
                spec: Some(PodSpec {
                    image_pull_secrets: meta::pull_secrets(c),
                    service_account_name: Some(sa.clone()),
                    restart_policy: Some("OnFailure".into()),
                    containers: vec![Container {
                        name: "rbac-cleanup".into(),
                        image: Some(c.kubectl_image.clone()),
                        command: Some(vec!["sh".into(), "-c".into(), script(c)]),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    };
    vec![
        Object::new(ServiceAccount {
            metadata: meta::namespaced(c, &sa),
            ..Default::default()
        }),
        Object::new(ClusterRole {
            metadata: meta::cluster(c, &role),
            rules: Some(vec![
                rbac::rule(
                    "rbac.authorization.k8s.io",
                    &[
                        "clusterroles",
                        "clusterrolebindings",
                        "roles",
                        "rolebindings",
                    ],
                    &["delete"],
                ),
                rbac::rule("", &["serviceaccounts"], &["delete"]),
                rbac::rule("", &["pods"], &["get", "list"]),
            ]),
            ..Default::default()
        }),
        Object::new(rbac::binding(
            c,
            &names::cleanup_cluster_role_binding(c),
            &role,
            &sa,
        )),
        Object::new(job),
    ]
}
