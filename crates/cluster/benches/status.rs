//! `status` after the lists arrived: 5,000 Nodes and 50,000 Pods (k8s-openapi objects, as
//! the paged lists return them) turned into the report. Prints the peak extra heap too.
//!
//! `cargo bench -p cococtl-cluster --bench status`
//!
//! The one unsafe piece is the counting allocator that measures the heap peak: it forwards
//! every call to the system allocator unchanged.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use cococtl_cluster::core::readiness::Expect;
use cococtl_cluster::core::snapshot::{EventSnap, NodeSnap, PodSnap};
use cococtl_cluster::core::status::{aggregate, RuntimeClassSnap, StatusInput};
use criterion::Criterion;
use k8s_openapi::api::core::v1::{
    ContainerStatus, Node, NodeCondition, NodeStatus, NodeSystemInfo, Pod, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

struct Counting;
static CUR: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = CUR.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator, under the caller's contract.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        CUR.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` above, i.e. from the system allocator, with `l`.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const KATA: &str = "katacontainers.io/kata-runtime";
const OWN: &str = "kata-deploy.katacontainers.io/default";
const AGENT: &str = "cococtl.confidentialcontainers.org/containerd";

fn cluster() -> (Vec<Node>, Vec<Pod>, Vec<EventSnap>) {
    let nodes = (0..5_000)
        .map(|i| {
            let mut labels: BTreeMap<String, String> = [
                ("kubernetes.io/arch".to_string(), "amd64".to_string()),
                (AGENT.to_string(), "ready".to_string()),
                ("kubernetes.io/hostname".to_string(), format!("node-{i:05}")),
            ]
            .into();
            if i % 10 != 0 {
                labels.insert(KATA.into(), "true".into());
                labels.insert(OWN.into(), "true".into());
            }
            Node {
                metadata: ObjectMeta {
                    name: Some(format!("node-{i:05}")),
                    labels: Some(labels),
                    ..Default::default()
                },
                spec: None,
                status: Some(NodeStatus {
                    conditions: Some(vec![NodeCondition {
                        type_: "Ready".into(),
                        status: "True".into(),
                        ..Default::default()
                    }]),
                    node_info: Some(NodeSystemInfo {
                        architecture: "amd64".into(),
                        kernel_version: "6.8.0-45-generic".into(),
                        os_image: "Ubuntu 24.04.1 LTS".into(),
                        container_runtime_version: "containerd://2.1.9".into(),
                        kubelet_version: "v1.36.0".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            }
        })
        .collect();
    let pods = (0..50_000)
        .map(|i| {
            let app = match i % 10 {
                0 => "kata-deploy",
                1 => "cococtl-containerd",
                _ => "other",
            };
            Pod {
                metadata: ObjectMeta {
                    name: Some(format!("pod-{i}")),
                    namespace: Some("coco-system".into()),
                    labels: Some([("name".to_string(), app.to_string())].into()),
                    ..Default::default()
                },
                spec: Some(PodSpec {
                    node_name: Some(format!("node-{:05}", i % 5_000)),
                    ..Default::default()
                }),
                status: Some(PodStatus {
                    phase: Some("Running".into()),
                    container_statuses: Some(vec![ContainerStatus {
                        name: "c".into(),
                        ready: true,
                        restart_count: i % 3,
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            }
        })
        .collect();
    let events = (0..2_500)
        .map(|i| EventSnap {
            kind: "Pod".into(),
            name: format!("pod-{}", i * 10),
            reason: "BackOff".into(),
            message: "Back-off restarting failed container".into(),
            last: format!("2026-01-01T00:{:02}:00Z", i % 60),
            count: 1,
        })
        .collect();
    (nodes, pods, events)
}

fn classes() -> Vec<RuntimeClassSnap> {
    let sel: BTreeMap<String, String> = [
        (KATA.to_string(), "true".to_string()),
        (OWN.to_string(), "true".to_string()),
    ]
    .into();
    [
        "kata-qemu-coco-dev",
        "kata-qemu-snp",
        "kata-qemu-tdx",
        "kata-qemu-nvidia-gpu-snp",
        "kata-qemu-nvidia-gpu-tdx",
        "kata",
    ]
    .iter()
    .map(|n| RuntimeClassSnap {
        name: n.to_string(),
        handler: n.to_string(),
        node_selector: sel.clone(),
    })
    .collect()
}

fn status(
    nodes: &[Node],
    pods: &[Pod],
    events: &[EventSnap],
    rcs: &[RuntimeClassSnap],
    e: &Expect,
) -> usize {
    let ns: Vec<NodeSnap> = nodes.iter().map(NodeSnap::of).collect();
    let ps: Vec<PodSnap> = pods.iter().map(PodSnap::of).collect();
    let r = aggregate(&StatusInput {
        namespace: "coco-system",
        release: None,
        expect: Some(e),
        nodes: &ns,
        pods: &ps,
        events,
        runtime_classes: rcs,
    });
    r.ready_nodes
}

fn main() {
    let (nodes, pods, events) = cluster();
    let rcs = classes();
    let e = Expect {
        instance: "default".into(),
        kata_pods: "kata-deploy".into(),
        kata_targeting: Default::default(),
        agent_pods: Some("cococtl-containerd".into()),
        agent_targeting: None,
        kata_generation: None,
    };
    // One cold run, with CPU time and the peak heap on top of the lists.
    let base = CUR.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let cpu0 = cpu_time();
    let t = Instant::now();
    let ready = status(&nodes, &pods, &events, &rcs, &e);
    let wall = t.elapsed();
    let cpu = cpu_time() - cpu0;
    let peak = PEAK.load(Ordering::Relaxed) - base;
    println!(
        "status over 5000 nodes / 50000 pods / 2500 events / 6 RuntimeClasses: {ready} ready; cold run {:.1} ms wall, {:.1} ms CPU, peak extra heap {:.1} MiB",
        wall.as_secs_f64() * 1e3,
        cpu * 1e3,
        peak as f64 / (1024.0 * 1024.0)
    );
    let mut c = Criterion::default().configure_from_args().sample_size(20);
    c.bench_function("status 5000 nodes 50000 pods", |b| {
        b.iter(|| status(&nodes, &pods, &events, &rcs, &e))
    });
    c.final_summary();
}

/// Process CPU time in seconds (user + system), from /proc/self/stat.
fn cpu_time() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
