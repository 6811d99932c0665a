//! What a command costs the API server (issue 18 item 17): the requests of `install
//! --wait`, `status`, `upgrade --wait` and `uninstall` on a stand-in with many nodes
//! (`COCOCTL_BENCH_NODES`, default 5,000), with the simulated controllers and kubelets on.
//! Ignored in the ordinary run (adding the nodes and the wait take a while); run by
//! `scripts/bench-api-requests`, which prints the table.
//!
//! A paged list counts once per page (500 objects), a watch once per request made.

mod standin;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cococtl_cluster::testing::{ApiServer, Request, Sim};
use standin::{cococtl, text};

/// `GET /api/v1/nodes/worker-17` → `GET /api/v1/nodes/*`: per-object requests group.
fn shape(r: &Request) -> String {
    let mut path: Vec<String> = r.path.split('/').map(str::to_string).collect();
    for seg in path.iter_mut() {
        if seg.starts_with("worker-") || seg.starts_with("kata-deploy-") {
            *seg = "*".into();
        }
    }
    let watch = if r.is_watch() { " (watch)" } else { "" };
    let page = if r.query.contains_key("continue") {
        " (next page)"
    } else {
        ""
    };
    format!("{} {}{watch}{page}", r.method, path.join("/"))
}

struct Row {
    command: String,
    exit: Option<i32>,
    seconds: f64,
    requests: usize,
    watches: usize,
    pages: usize,
    shapes: BTreeMap<String, usize>,
}

fn measure(server: &ApiServer, kc: &std::path::Path, args: &[&str]) -> Row {
    server.clear_requests();
    let t = Instant::now();
    let o = cococtl(kc, args);
    let seconds = t.elapsed().as_secs_f64();
    let reqs = server.requests();
    if std::env::var_os("COCOCTL_BENCH_ORDER").is_some() {
        println!("{} in order:", args.join(" "));
        for r in &reqs {
            println!("  {}", shape(r));
        }
    }
    let mut shapes = BTreeMap::new();
    for r in &reqs {
        *shapes.entry(shape(r)).or_insert(0) += 1;
    }
    let row = Row {
        command: args.join(" "),
        exit: o.status.code(),
        seconds,
        requests: reqs.len(),
        watches: reqs.iter().filter(|r| r.is_watch()).count(),
        pages: reqs
            .iter()
            .filter(|r| r.query.contains_key("continue"))
            .count(),
        shapes,
    };
    if row.exit != Some(0) && row.exit != Some(1) {
        eprintln!("{}:\n{}", row.command, text(&o));
    }
    row
}

#[test]
#[ignore = "a benchmark: scripts/bench-api-requests runs it"]
fn requests_per_command_on_a_large_cluster() {
    let nodes: usize = std::env::var("COCOCTL_BENCH_NODES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5000);
    let t = Instant::now();
    // A real server keeps a quiet watch open for minutes (kube-rs asks for 290 s); the
    // test harness's 400 ms would count a watch request per 400 ms of waiting instead.
    let server = ApiServer::start(Sim {
        watch_quiet: Duration::from_secs(60),
        // A rollout in a few ticks (a tick walks every node and pod: about a second here).
        work_per_tick: nodes.div_ceil(4).max(1),
        ..Default::default()
    });
    for i in 0..nodes {
        server.add_node(&format!("worker-{}", i + 1), &[]);
    }
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("config");
    std::fs::write(&kc, server.kubeconfig()).unwrap();
    println!(
        "stand-in with {nodes} nodes in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let rows = [
        measure(
            &server,
            &kc,
            &[
                "install",
                "--profile",
                "x86_64",
                "--wait",
                "--timeout",
                "10m",
            ],
        ),
        measure(&server, &kc, &["status"]),
        measure(
            &server,
            &kc,
            &[
                "upgrade",
                "--reuse-values",
                "--set",
                "debug=true",
                "--wait",
                "--timeout",
                "10m",
            ],
        ),
        measure(&server, &kc, &["uninstall", "--timeout", "10m"]),
    ];
    println!(
        "\n{:<40} {:>5} {:>8} {:>9} {:>8} {:>11}",
        "COMMAND", "EXIT", "SECONDS", "REQUESTS", "WATCHES", "LIST PAGES+"
    );
    for r in &rows {
        println!(
            "{:<40} {:>5} {:>8.1} {:>9} {:>8} {:>11}",
            r.command.split(" --").next().unwrap_or(&r.command),
            r.exit.map_or("-".into(), |c| c.to_string()),
            r.seconds,
            r.requests,
            r.watches,
            r.pages
        );
    }
    for r in &rows {
        println!("\n{}:", r.command);
        let mut by: Vec<(&String, &usize)> = r.shapes.iter().collect();
        by.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (s, n) in by {
            println!("  {n:>6}  {s}");
        }
    }
}
