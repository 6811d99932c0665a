//! `verification.pod`: the user's pod that the kata-deploy chart's post-install Job applies
//! once kata is on every node, run by `install`/`upgrade` the same way after their wait:
//! created in `verification.namespace` (an older one of the same name is deleted first),
//! recreated up to 3 times while its sandbox cannot be created (`FailedCreatePodSandBox`),
//! waited for until it `Succeeded` within `verification.timeout`, and deleted in every case
//! (docs/values.md#verification).

use std::time::{Duration, Instant};

use cococtl_manifests::Object;
use cococtl_profile::config::Verification;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{ListParams, PostParams};
use kube::Api;

use crate::apply;
use crate::client::Cluster;
use crate::core::inventory::Item;
use crate::error::ClusterError;
use crate::observe::Observer;

/// How many times a pod whose sandbox fails is created again (the chart's 3 retries).
const SANDBOX_RETRIES: usize = 3;

/// What a run ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The pod succeeded.
    Succeeded,
    /// It failed, did not succeed in time, or its sandbox kept failing: why.
    Failed(String),
}

/// Deletes the pod and waits until it is gone (already gone is fine), for as long as
/// [`GONE_POLLS`] polls take: a pod that stays (a finalizer, a node that never confirms)
/// is a timeout naming it, not something to create over or leave behind.
async fn gone(cluster: &Cluster, pod: &Item, poll: Duration) -> Result<(), ClusterError> {
    apply::delete(cluster, pod).await?;
    apply::wait_gone(cluster, pod, poll * GONE_POLLS).await
}

/// How many polls of the verification loop [`gone`] waits for a deleted pod.
const GONE_POLLS: u32 = 600;

/// A `FailedCreatePodSandBox` event of this very pod (`uid`: events outlive a deleted pod,
/// and the one created again has the same name).
async fn sandbox_failure(
    cluster: &Cluster,
    ns: &str,
    name: &str,
    uid: &str,
) -> Result<Option<String>, ClusterError> {
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), ns);
    let lp = ListParams::default().fields(&format!("involvedObject.name={name}"));
    let list = cluster
        .call(
            &format!("listing the events of verification pod {name}"),
            || events.list(&lp),
        )
        .await?;
    Ok(list
        .items
        .into_iter()
        .find(|e| {
            e.reason.as_deref() == Some("FailedCreatePodSandBox")
                && e.involved_object.uid.as_deref() == Some(uid)
        })
        .map(|e| e.message.unwrap_or_default()))
}

/// Runs the pod; `poll` is the interval of its waits.
pub async fn run(
    cluster: &Cluster,
    v: &Verification,
    poll: Duration,
    obs: &mut dyn Observer,
) -> Result<Verdict, ClusterError> {
    let ns = &v.namespace;
    let name = v.pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let mut pod = v.pod.clone();
    pod.metadata.namespace = Some(ns.clone());
    let item = Item::of(&Object::new(pod.clone()));
    obs.step(&format!(
        "verification: running pod {ns}/{name} (verification.pod), up to {} s",
        v.timeout_secs
    ));
    gone(cluster, &item, poll).await?;
    let timeout = Duration::from_secs(v.timeout_secs);
    let start = Instant::now();
    let mut attempts = 0;
    let verdict = 'attempt: loop {
        attempts += 1;
        let pp = PostParams::default();
        let created = cluster
            .call(&format!("creating verification pod {ns}/{name}"), || {
                api.create(&pp, &pod)
            })
            .await?;
        let uid = created.metadata.uid.unwrap_or_default();
        loop {
            let p = cluster
                .call(&format!("reading verification pod {ns}/{name}"), || {
                    api.get(&name)
                })
                .await?;
            let phase = p
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default();
            match phase.as_str() {
                "Succeeded" => break 'attempt Verdict::Succeeded,
                "Failed" => {
                    break 'attempt Verdict::Failed(format!(
                        "pod {ns}/{name} failed: {}",
                        p.status
                            .as_ref()
                            .and_then(|s| s.message.clone().or(s.reason.clone()))
                            .unwrap_or_else(|| "no reason given".into())
                    ))
                }
                _ => {}
            }
            if let Some(msg) = sandbox_failure(cluster, ns, &name, &uid).await? {
                if attempts <= SANDBOX_RETRIES {
                    obs.line(&format!(
                        "verification: the pod's sandbox could not be created ({msg}); creating it again ({attempts}/{SANDBOX_RETRIES})"
                    ));
                    gone(cluster, &item, poll).await?;
                    continue 'attempt;
                }
                break 'attempt Verdict::Failed(format!(
                    "pod {ns}/{name}: its sandbox could not be created, {} times: {msg}",
                    attempts
                ));
            }
            if start.elapsed() >= timeout {
                break 'attempt Verdict::Failed(format!(
                    "pod {ns}/{name} did not succeed within verification.timeout ({} s): phase {}",
                    v.timeout_secs,
                    if phase.is_empty() { "unknown" } else { &phase }
                ));
            }
            tokio::time::sleep(poll).await;
        }
    };
    gone(cluster, &item, poll).await?;
    match &verdict {
        Verdict::Succeeded => obs.line(&format!("verification: pod {ns}/{name} succeeded")),
        Verdict::Failed(why) => obs.line(&format!("verification: FAILED: {why}")),
    }
    Ok(verdict)
}
