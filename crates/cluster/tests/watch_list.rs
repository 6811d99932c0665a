//! Lists as watch-lists (issue 18 item 17: a command's requests must not grow with the
//! node count): one `sendInitialEvents` request reads a collection of any size, and a
//! watched store goes on with the same stream; a user who may list but not watch gets
//! pages for that list only, and a server that refuses watch-lists (or ignores them: no
//! bookmark ends the objects) is asked once.

use std::time::Duration;

use cococtl_cluster::client::Cluster;
use cococtl_cluster::list::{list_all, Change, Watched};
use cococtl_cluster::testing::{ApiServer, Sim};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;

fn cluster(server: &ApiServer) -> Cluster {
    cococtl_cluster::tls_provider();
    let config = kube::Config::new(server.url.parse().unwrap());
    Cluster::from_client(kube::Client::try_from(config).unwrap(), &server.url)
}

fn quiet() -> ApiServer {
    ApiServer::start(Sim {
        enabled: false,
        watch_quiet: Duration::from_millis(1500),
        ..Default::default()
    })
}

#[tokio::test]
async fn a_list_of_thousands_of_nodes_is_one_request_with_the_watch_list_options() {
    let server = quiet();
    for i in 0..1234 {
        server.add_node(&format!("n{i:04}"), &[]);
    }
    let cl = cluster(&server);
    let api: Api<Node> = Api::all(cl.client.clone());
    let (nodes, rv) = list_all(&cl, &api, Some("kubernetes.io/arch=amd64"), None, "nodes")
        .await
        .unwrap();
    assert_eq!(nodes.len(), 1234);
    let names: Vec<&str> = nodes
        .iter()
        .map(|n| n.metadata.name.as_deref().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "in key order, as a list's items are");
    let reqs = server.requests();
    assert_eq!(
        reqs.len(),
        1,
        "{:#?}",
        reqs.iter().map(|r| r.line()).collect::<Vec<_>>()
    );
    let q = &reqs[0].query;
    assert!(reqs[0].is_watch());
    for (k, v) in [
        ("sendInitialEvents", "true"),
        ("resourceVersionMatch", "NotOlderThan"),
        ("allowWatchBookmarks", "true"),
        ("labelSelector", "kubernetes.io/arch=amd64"),
    ] {
        assert_eq!(q.get(k).map(String::as_str), Some(v), "{k} in {q:?}");
    }
    // No resourceVersion: a consistent read, as an ordinary list is.
    assert!(
        q.get("resourceVersion").is_none_or(String::is_empty),
        "{q:?}"
    );
    // The version is the bookmark's: the newest object's at least.
    let newest = nodes
        .iter()
        .filter_map(|n| n.metadata.resource_version.as_deref()?.parse::<u64>().ok())
        .max()
        .unwrap();
    assert!(rv.parse::<u64>().unwrap() >= newest, "{rv} < {newest}");
}

#[tokio::test]
async fn a_watched_store_lists_and_follows_changes_on_one_request() {
    let server = quiet();
    for i in 0..700 {
        server.add_node(&format!("n{i:04}"), &[]);
    }
    let cl = cluster(&server);
    let api: Api<Node> = Api::all(cl.client.clone());
    let mut w = Watched::start(&cl, api, None, None, "nodes").await.unwrap();
    assert_eq!(w.items.len(), 700);
    server.add_node("added-after-the-list", &[]);
    assert_eq!(w.next_change().await.unwrap(), Change::Object);
    assert!(w.items.contains_key("/added-after-the-list"));
    server.remove("/api/v1", "nodes", "", "n0000");
    assert_eq!(w.next_change().await.unwrap(), Change::Object);
    assert!(!w.items.contains_key("/n0000"));
    assert_eq!(w.items.len(), 700);
    assert_eq!(
        server.requests().len(),
        1,
        "the list's stream carried the changes"
    );
    assert_eq!(w.requests, 1);
    // When the server closes the stream, the store resumes from the last version it saw
    // (an ordinary watch now: nothing is listed again).
    tokio::time::sleep(Duration::from_millis(4000)).await;
    server.add_node("after-the-stream-closed", &[]);
    assert_eq!(w.next_change().await.unwrap(), Change::Object);
    assert!(w.items.contains_key("/after-the-stream-closed"));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert!(!reqs[1].query.contains_key("sendInitialEvents"));
    assert!(reqs[1]
        .query
        .get("resourceVersion")
        .is_some_and(|v| !v.is_empty()));
}

#[tokio::test]
async fn a_user_who_may_list_but_not_watch_gets_pages_for_that_list_only() {
    let server = quiet();
    server.deny("watch", "nodes");
    for i in 0..600 {
        server.add_node(&format!("n{i:04}"), &[]);
    }
    let cl = cluster(&server);
    let api: Api<Node> = Api::all(cl.client.clone());
    let (nodes, _) = list_all(&cl, &api, None, None, "nodes").await.unwrap();
    assert_eq!(nodes.len(), 600);
    let lines: Vec<String> = server.requests().iter().map(|r| r.line()).collect();
    assert_eq!(
        lines.len(),
        3,
        "the refused watch-list, then two pages: {lines:#?}"
    );
    assert!(lines[1].contains("limit=500") && lines[2].contains("continue="));
    assert!(
        cl.streams_lists(),
        "a permission is not the server's refusal"
    );
    server.clear_requests();
    let pods: Api<Pod> = Api::namespaced(cl.client.clone(), "coco-system");
    list_all(&cl, &pods, None, None, "pods").await.unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0].query.contains_key("sendInitialEvents"));
}

#[tokio::test]
async fn a_server_without_watch_lists_is_asked_once_and_watched_stores_still_follow() {
    let server = quiet();
    server.sim(|s| s.watch_list = false);
    server.add_node("a", &[]);
    let cl = cluster(&server);
    let api: Api<Node> = Api::all(cl.client.clone());
    let mut w = Watched::start(&cl, api.clone(), None, None, "nodes")
        .await
        .unwrap();
    assert_eq!(w.items.len(), 1);
    server.add_node("b", &[]);
    assert_eq!(w.next_change().await.unwrap(), Change::Object);
    assert_eq!(w.items.len(), 2);
    let mut other = Watched::start(&cl, api, None, None, "nodes again")
        .await
        .unwrap();
    assert_eq!(other.items.len(), 2);
    server.add_node("c", &[]);
    assert_eq!(other.next_change().await.unwrap(), Change::Object);
    let asked: usize = server
        .requests()
        .iter()
        .filter(|r| r.query.contains_key("sendInitialEvents"))
        .count();
    assert_eq!(
        asked, 1,
        "the 422 is remembered by every store of the command"
    );
}

/// A server that ignores `sendInitialEvents` streams the objects and no bookmark: when it
/// closes the stream, or after 15 s of silence, the list is read in pages instead, and
/// the command stops asking.
#[tokio::test]
async fn a_watch_list_never_ended_by_its_bookmark_is_read_in_pages() {
    for quiet in [Duration::from_millis(300), Duration::from_secs(60)] {
        let server = ApiServer::start(Sim {
            enabled: false,
            watch_quiet: quiet,
            watch_list_ignored: true,
            ..Default::default()
        });
        for i in 0..30 {
            server.add_node(&format!("n{i:02}"), &[]);
        }
        let cl = cluster(&server);
        let api: Api<Node> = Api::all(cl.client.clone());
        let t = std::time::Instant::now();
        let (nodes, rv) = list_all(&cl, &api, None, None, "nodes").await.unwrap();
        assert_eq!(nodes.len(), 30, "quiet {quiet:?}");
        assert!(!rv.is_empty());
        assert!(!cl.streams_lists());
        assert!(t.elapsed() < Duration::from_secs(25), "{:?}", t.elapsed());
        let lines: Vec<String> = server.requests().iter().map(|r| r.line()).collect();
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(
            lines[1].starts_with("GET /api/v1/nodes?limit=500"),
            "{lines:#?}"
        );
    }
}
