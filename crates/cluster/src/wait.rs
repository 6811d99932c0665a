//! Waits driven by watches: one list of nodes and one of the release's pods, then watch
//! events re-evaluate the pure [`readiness`](crate::core::readiness) rules (never a relist
//! per check). Every wait has a deadline and says what it is waiting for.
//!
//! The release namespace's warning events are watched too (one watch, whatever the node
//! count): a DaemonSet whose pods admission keeps refusing ends the wait at once with the
//! webhook and its error ([`crate::core::admission`]), instead of at the timeout.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::Api;
use tokio::time::Instant;

use crate::client::Cluster;
use crate::core::admission::{Persistence, Rejection};
use crate::core::readiness::{evaluate, Expect, Index, NodeState, Progress};
use crate::core::snapshot::{EventSnap, NodeSnap, PodSnap};
use crate::error::ClusterError;
use crate::list::{list_all, Watched};
use crate::observe::Observer;

/// The pod selector of the release's workloads.
pub fn pod_selector(e: &Expect) -> String {
    match &e.agent_pods {
        Some(a) => format!("name in ({},{a})", e.kata_pods),
        None => format!("name={}", e.kata_pods),
    }
}

/// What a wait ended with: the final evaluation and the nodes as it last saw them (the
/// install's summary is made from them instead of reading everything again).
pub struct Waited {
    /// The final evaluation.
    pub progress: Progress,
    /// Every node, as last seen.
    pub nodes: Vec<NodeSnap>,
}

/// Waits until every targeted node is ready or failed, or `timeout` passes. Returns the
/// final evaluation (`Ok` also when nodes failed: the caller decides).
pub async fn until_ready(
    cluster: &Cluster,
    namespace: &str,
    expect: &Expect,
    timeout: Duration,
    obs: &mut dyn Observer,
) -> Result<Waited, ClusterError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let nodes_api: Api<Node> = Api::all(cluster.client.clone());
    let pods_api: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
    let events_api: Api<Event> = Api::namespaced(cluster.client.clone(), namespace);
    let sel = pod_selector(expect);
    let mut nodes = Watched::start(cluster, nodes_api, None, None, "nodes").await?;
    let mut pods = Watched::start(
        cluster,
        pods_api,
        Some(&sel),
        None,
        &format!("pods in {namespace}"),
    )
    .await?;
    let mut events = Watched::start(
        cluster,
        events_api,
        None,
        Some("type=Warning"),
        &format!("warning events in {namespace}"),
    )
    .await?;
    let mut persistence = Persistence::default();
    let mut last = None;
    loop {
        let ns: Vec<NodeSnap> = nodes.values().map(NodeSnap::of).collect();
        let ps: Vec<PodSnap> = pods.values().map(PodSnap::of).collect();
        let evs: Vec<EventSnap> = events.values().map(EventSnap::of).collect();
        let p = evaluate(expect, &ns, &ps, &evs);
        if p.nodes.is_empty() {
            return Err(ClusterError::Refused(format!(
                "no node is targeted: the kata-deploy DaemonSet's nodeSelector, node affinity and tolerations select none of the {} node(s) (tainted nodes need a toleration)\n  fix: check nodeSelector, affinity and tolerations in the values, and the nodes' labels and taints (cococtl status)",
                ns.len()
            )));
        }
        if let Some(r) = persistent_rejection(expect, &p, &ps, &evs, &mut persistence, started) {
            obs.progress(&p);
            obs.done();
            return Err(ClusterError::Rejected {
                explanation: r.explain(namespace),
                after: Duration::from_secs(started.elapsed().as_secs()),
            });
        }
        let timed_out = Instant::now() >= deadline;
        if p.settled() || timed_out {
            obs.progress(&p);
            obs.done();
            if timed_out && !p.settled() {
                let still = p
                    .nodes
                    .iter()
                    .filter_map(|n| match &n.state {
                        NodeState::Waiting(w) => Some(format!("{}: {w}", n.node)),
                        _ => None,
                    })
                    .collect();
                return Err(ClusterError::Timeout {
                    what: format!(
                        "kata to be ready on every targeted node ({} of {} ready)",
                        p.ready(),
                        p.nodes.len()
                    ),
                    after: timeout,
                    still,
                });
            }
            return Ok(Waited {
                progress: p,
                nodes: ns,
            });
        }
        if last.as_ref() != Some(&p) {
            obs.progress(&p);
            last = Some(p);
        }
        tokio::select! {
            r = nodes.next_change() => { r?; }
            r = pods.next_change() => { r?; }
            r = events.next_change() => { r?; }
            // A rejection becomes persistent with time, not only with a new event.
            _ = tokio::time::sleep(RECHECK) => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// How often a wait re-evaluates without a change (no request is made).
const RECHECK: Duration = Duration::from_secs(1);

/// A DaemonSet of the release that lacks its pod on a waiting node while admission keeps
/// refusing them; every other DaemonSet is forgotten by `persistence`.
fn persistent_rejection(
    expect: &Expect,
    p: &Progress,
    ps: &[PodSnap],
    evs: &[EventSnap],
    persistence: &mut Persistence,
    started: Instant,
) -> Option<Rejection> {
    let idx = Index::new(ps, &[]);
    let dss = std::iter::once(expect.kata_pods.as_str()).chain(expect.agent_pods.as_deref());
    let mut found = None;
    for ds in dss {
        let missing = p
            .nodes
            .iter()
            .any(|n| matches!(n.state, NodeState::Waiting(_)) && idx.pod(ds, &n.node).is_none());
        let latest = evs
            .iter()
            .filter(|e| e.kind == "DaemonSet" && e.name == ds && e.reason == "FailedCreate")
            .max_by(|a, b| a.last.cmp(&b.last).then(a.count.cmp(&b.count)));
        match latest.filter(|_| missing) {
            Some(e) => {
                let Some(r) = Rejection::of_event(e) else {
                    continue;
                };
                if persistence.observe(&r, Some(e.count), started.elapsed()) && found.is_none() {
                    found = Some(r);
                }
            }
            None => persistence.clear("DaemonSet", ds),
        }
    }
    found
}

/// Warning events in `namespace` (one list).
pub async fn warnings(cluster: &Cluster, namespace: &str) -> Result<Vec<EventSnap>, ClusterError> {
    let api: Api<Event> = Api::namespaced(cluster.client.clone(), namespace);
    let (evs, _) = list_all(
        cluster,
        &api,
        None,
        Some("type=Warning"),
        &format!("listing warning events in {namespace}"),
    )
    .await?;
    Ok(evs.iter().map(EventSnap::of).collect())
}

/// Waits until no pod matches `selector` in `namespace`.
pub async fn pods_gone(
    cluster: &Cluster,
    namespace: &str,
    selector: &str,
    what: &str,
    timeout: Duration,
    obs: &mut dyn Observer,
) -> Result<(), ClusterError> {
    let deadline = Instant::now() + timeout;
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
    let mut pods = Watched::start(cluster, api, Some(selector), None, what).await?;
    let mut shown = usize::MAX;
    loop {
        let left = pods.items.len();
        if left == 0 {
            return Ok(());
        }
        if left != shown {
            obs.line(&format!(
                "{left} pod(s) left: {}",
                names(pods.values().map(PodSnap::of))
            ));
            shown = left;
        }
        if Instant::now() >= deadline {
            return Err(ClusterError::Timeout {
                what: what.to_string(),
                after: timeout,
                still: pods
                    .values()
                    .map(PodSnap::of)
                    .map(|p| format!("pod {} on node {} ({})", p.name, p.node, p.phase))
                    .collect(),
            });
        }
        tokio::select! {
            r = pods.next_change() => { r?; }
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

fn names(pods: impl Iterator<Item = PodSnap>) -> String {
    let v: Vec<String> = pods.map(|p| format!("{} ({})", p.name, p.node)).collect();
    if v.len() > 5 {
        format!("{}, … ({} more)", v[..5].join(", "), v.len() - 5)
    } else {
        v.join(", ")
    }
}
