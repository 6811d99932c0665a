//! The control plane blinks (issue 18 item 1): the stand-in really stops listening
//! (connection refused) and comes back on the same port; lists, watches and the node
//! agent's report ride it out within their patience, and a definite refusal still ends
//! at once.

use std::time::{Duration, Instant};

use cococtl_cluster::client::Cluster;
use cococtl_cluster::list::{list_all, Watched};
use cococtl_cluster::node_report::KubeReporter;
use cococtl_cluster::testing::{listening, ApiServer, OutageTrigger, Sim};
use cococtl_containerd::report::{Report, Reporter, State};
use k8s_openapi::api::core::v1::Node;
use kube::Api;

fn server() -> ApiServer {
    let s = ApiServer::start(Sim {
        enabled: false,
        watch_quiet: Duration::from_millis(300),
        ..Default::default()
    });
    s.add_node("node-a", &[]);
    s
}

fn client(server: &ApiServer) -> kube::Client {
    cococtl_cluster::tls_provider();
    kube::Client::try_from(kube::Config::new(server.url.parse().unwrap())).unwrap()
}

fn cluster(server: &ApiServer, patience: Duration) -> Cluster {
    Cluster::from_client(client(server), &server.url).with_patience(patience)
}

fn addr(server: &ApiServer) -> String {
    server.url.trim_start_matches("http://").to_string()
}

#[test]
fn an_outage_closes_the_port_and_the_server_comes_back_on_the_same_one() {
    let s = server();
    assert!(listening(&addr(&s)));
    s.outage(Duration::from_millis(800));
    assert!(!listening(&addr(&s)), "connection refused, not an answer");
    std::thread::sleep(Duration::from_millis(1300));
    assert!(listening(&addr(&s)), "listening again on {}", s.url);
}

#[tokio::test]
async fn a_list_rides_out_an_outage_within_its_patience() {
    let s = server();
    // Longer than the old five retries (about 6 s in all) lasted.
    s.outage(Duration::from_secs(8));
    let cl = cluster(&s, Duration::from_secs(20));
    let api: Api<Node> = Api::all(cl.client.clone());
    let t0 = Instant::now();
    let (nodes, _) = list_all(&cl, &api, None, None, "listing nodes")
        .await
        .unwrap();
    assert_eq!(nodes.len(), 1);
    assert!(
        t0.elapsed() >= Duration::from_millis(7500),
        "it waited for the server"
    );
}

#[tokio::test]
async fn an_outage_longer_than_the_patience_is_an_unreachable_error() {
    let s = server();
    s.outage(Duration::from_secs(30));
    let cl = cluster(&s, Duration::from_secs(2));
    let api: Api<Node> = Api::all(cl.client.clone());
    let t0 = Instant::now();
    let e = list_all(&cl, &api, None, None, "listing nodes")
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("cannot reach the Kubernetes API server"),
        "{e}"
    );
    assert!(t0.elapsed() < Duration::from_secs(6));
}

#[tokio::test]
async fn a_definite_refusal_ends_at_once_whatever_the_patience() {
    let s = server();
    // Neither a watch-list nor a paged list is allowed.
    s.deny("watch", "nodes");
    s.deny("list", "nodes");
    let cl = cluster(&s, Duration::from_secs(600));
    let api: Api<Node> = Api::all(cl.client.clone());
    let t0 = Instant::now();
    let e = list_all(&cl, &api, None, None, "listing nodes")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("forbidden (403)"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(2));
    let lists = s
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/nodes")
        .count();
    assert_eq!(
        lists, 2,
        "a 403 is not retried: the watch-list's, then the paged list's"
    );
}

#[tokio::test]
async fn a_watch_cut_by_an_outage_resumes_and_sees_what_changed_meanwhile() {
    let s = server();
    let cl = cluster(&s, Duration::from_secs(20));
    let api: Api<Node> = Api::all(cl.client.clone());
    let mut w = Watched::start(&cl, api, None, None, "nodes").await.unwrap();
    w.watch_timeout = 30;
    s.outage_on(OutageTrigger {
        method: "GET".into(),
        path_contains: "/api/v1/nodes".into(),
        watch: true,
        down: Duration::from_secs(8),
    });
    let t0 = Instant::now();
    let next = tokio::spawn(async move {
        while w.items.len() < 2 {
            w.next_change().await.unwrap();
        }
        w.items.keys().cloned().collect::<Vec<_>>()
    });
    // Changed while the server is away: the resumed watch must still see it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !listening(&addr(&s)),
        "the watch request started the outage"
    );
    s.add_node("node-b", &[]);
    let keys = tokio::time::timeout(Duration::from_secs(20), next)
        .await
        .expect("the watch resumed")
        .unwrap();
    assert_eq!(keys, vec!["/node-a".to_string(), "/node-b".to_string()]);
    assert_eq!(s.outages_fired(), 1);
    assert!(t0.elapsed() >= Duration::from_millis(7500));
}

#[tokio::test]
async fn the_node_agents_report_rides_out_an_api_server_restart() {
    let s = server();
    // Longer than the old five retries (about 6 s in all) lasted.
    s.outage(Duration::from_secs(8));
    let r = KubeReporter::with_client("node-a", client(&s));
    let rep = Report {
        state: State::Ready,
        version: "2.1.9".into(),
        sha256: String::new(),
        message: String::new(),
    };
    r.report(&rep).await.unwrap();
    let node = s.get("/api/v1", "nodes", "", "node-a").unwrap();
    assert!(
        node["metadata"]["labels"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("cococtl.confidentialcontainers.org/")),
        "{node}"
    );
}
