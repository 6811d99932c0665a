//! API errors as users meet them: conflicts naming the other manager, 403 naming the
//! permission, 422 causes, 429/503 with Retry-After honoured, unreachable servers, paged
//! lists (and an expired continue token), watches resuming after bookmarks and relisting
//! after 410.

use std::time::{Duration, Instant};

use cococtl_cluster::apply::{self, ApplyOptions};
use cococtl_cluster::client::Cluster;
use cococtl_cluster::error::ClusterError;
use cococtl_cluster::list::{list_all, Change, Watched};
use cococtl_cluster::testing::{forbidden, ApiServer, Fault, Sim};
use cococtl_manifests::{plan, ClusterFacts, Object};
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use serde_json::json;

fn cluster(server: &ApiServer) -> Cluster {
    cococtl_cluster::tls_provider();
    let config = kube::Config::new(server.url.parse().unwrap());
    Cluster::from_client(kube::Client::try_from(config).unwrap(), &server.url)
}

fn objects() -> Vec<Object> {
    let i = cococtl_profile::Inputs {
        profile: Some((
            "x86_64".into(),
            cococtl_profile::builtin_profile("x86_64").unwrap().into(),
        )),
        files: vec![],
        sets: vec![],
        kata_version: None,
        namespace: "coco-system".into(),
    };
    let r = cococtl_profile::resolve(&i).unwrap();
    plan(&r.config, ClusterFacts::default())
        .install()
        .cloned()
        .collect()
}

fn quiet() -> ApiServer {
    ApiServer::start(Sim {
        enabled: false,
        watch_quiet: Duration::from_millis(300),
        ..Default::default()
    })
}

#[tokio::test]
async fn a_conflict_names_the_other_manager_and_fields_and_force_takes_them_over() {
    let server = quiet();
    let objs = objects();
    let ns = objs.iter().find(|o| o.kind() == "Namespace").unwrap();
    server.put_raw("/api/v1", "namespaces", "", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "coco-system", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}));
    server.foreign_owner(
        "/api/v1",
        "namespaces",
        "",
        "coco-system",
        "kubectl-label",
        &[".metadata.labels.pod-security.kubernetes.io/enforce"],
    );
    let cl = cluster(&server);
    let e = apply::apply(&cl, ns, ApplyOptions::default())
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, ClusterError::Conflict { .. }), "{text}");
    assert!(
        text.contains(
            ".metadata.labels.pod-security.kubernetes.io/enforce (manager \"kubectl-label\")"
        ),
        "{text}"
    );
    assert!(text.contains("--force-conflicts"), "{text}");
    assert_eq!(server.requests().len(), 1, "a conflict is not retried");
    let live = apply::apply(
        &cl,
        ns,
        ApplyOptions {
            force_conflicts: true,
            dry_run: false,
        },
    )
    .await
    .unwrap();
    assert!(live
        .metadata
        .managed_fields
        .unwrap()
        .iter()
        .any(|m| m.manager.as_deref() == Some("cococtl")));
    let last = server.requests().pop().unwrap();
    assert_eq!(last.query.get("force").map(String::as_str), Some("true"));
}

#[tokio::test]
async fn forbidden_names_the_permission_without_a_debug_dump() {
    let server = quiet();
    server.deny("patch", "runtimeclasses");
    let rc = objects()
        .into_iter()
        .find(|o| o.kind() == "RuntimeClass")
        .unwrap();
    let e = apply::apply(&cluster(&server), &rc, ApplyOptions::default())
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("cannot patch resource \"runtimeclasses\" in API group \"node.k8s.io\""),
        "{text}"
    );
    assert!(
        !text.contains("Status {") && !text.contains("ErrorResponse"),
        "{text}"
    );
    assert_eq!(e.exit_code(), 3);
    assert_eq!(server.requests().len(), 1, "403 is not retried");
}

#[tokio::test]
async fn invalid_objects_show_each_cause() {
    let server = quiet();
    server.put_raw(
        "/api/v1",
        "namespaces",
        "",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "coco-system"}}),
    );
    server.fault(Fault {
        method: "PATCH".into(),
        path_contains: "/daemonsets/kata-deploy".into(),
        query_has: None,
        status: 422,
        body: json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Invalid", "code": 422,
            "message": "DaemonSet.apps \"kata-deploy\" is invalid: spec.template.spec.containers[0].image: Required value",
            "details": {"name": "kata-deploy", "group": "apps", "kind": "DaemonSet", "causes": [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.template.spec.containers[0].image"}]}}),
        retry_after: None,
        times: 1,
    });
    let ds = objects()
        .into_iter()
        .find(|o| o.kind() == "DaemonSet")
        .unwrap();
    let e = apply::apply(&cluster(&server), &ds, ApplyOptions::default())
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("DaemonSet/coco-system/kata-deploy is invalid (422)"),
        "{text}"
    );
    assert!(
        text.contains("- spec.template.spec.containers[0].image: Required value"),
        "{text}"
    );
}

#[tokio::test]
async fn throttling_is_retried_after_the_servers_retry_after() {
    let server = quiet();
    server.fault(Fault {
        method: "GET".into(),
        path_contains: "/api/v1/nodes".into(),
        query_has: None,
        status: 429,
        body: json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "TooManyRequests", "code": 429,
            "message": "too many requests, please try again later", "details": {"retryAfterSeconds": 1}}),
        retry_after: Some(1),
        times: 1,
    });
    server.fault(Fault {
        method: "GET".into(),
        path_contains: "/api/v1/nodes".into(),
        query_has: None,
        status: 503,
        body: json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "ServiceUnavailable", "code": 503, "message": "etcdserver: leader changed"}),
        retry_after: None,
        times: 1,
    });
    server.add_node("n1", &[]);
    let cl = cluster(&server);
    let t = Instant::now();
    let api: Api<Node> = Api::all(cl.client.clone());
    let (nodes, _) = list_all(&cl, &api, None, None, "listing nodes")
        .await
        .unwrap();
    assert_eq!(nodes.len(), 1);
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        t.elapsed()
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn an_unreachable_server_is_named_after_the_retries() {
    let cl = {
        cococtl_cluster::tls_provider();
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        Cluster::from_client(
            kube::Client::try_from(config).unwrap(),
            "http://127.0.0.1:9",
        )
        .with_patience(Duration::from_secs(2))
    };
    let api: Api<Node> = Api::all(cl.client.clone());
    let t0 = Instant::now();
    let e = list_all(&cl, &api, None, None, "listing nodes")
        .await
        .unwrap_err();
    // It kept trying for its patience, and not much longer.
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "{took:?}"
    );
    let text = e.to_string();
    assert!(
        text.starts_with(
            "cannot reach the Kubernetes API server at http://127.0.0.1:9 (listing nodes)"
        ),
        "{text}"
    );
    assert!(text.contains("fix:"), "{text}");
}

/// Discovery as a client walks it (kube-rs' `Discovery` reads the legacy documents): the
/// built-in groups with their resources and scopes, and a custom resource's group once its
/// CRD is stored, as on a real cluster.
#[tokio::test]
async fn discovery_lists_the_served_groups_and_a_crds_group_once_it_exists() {
    use kube::discovery::{Discovery, Scope};
    let server = quiet();
    let cl = cluster(&server);
    let d = Discovery::new(cl.client.clone()).run().await.unwrap();
    let (ar, caps) = d
        .groups()
        .flat_map(|g| g.recommended_resources())
        .find(|(ar, _)| ar.kind == "DaemonSet")
        .expect("apps/v1 DaemonSet discovered");
    assert_eq!(
        (ar.group.as_str(), ar.version.as_str(), ar.plural.as_str()),
        ("apps", "v1", "daemonsets")
    );
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(d.has_group("node.k8s.io") && !d.has_group("nfd.k8s-sigs.io"));

    server.put_raw("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", "", json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "nodefeaturerules.nfd.k8s-sigs.io"},
        "spec": {"group": "nfd.k8s-sigs.io", "scope": "Cluster",
            "names": {"plural": "nodefeaturerules", "singular": "nodefeaturerule", "kind": "NodeFeatureRule", "shortNames": ["nfr"]},
            "versions": [{"name": "v1alpha1", "served": true, "storage": true}]}}));
    let d = Discovery::new(cl.client.clone()).run().await.unwrap();
    let (ar, caps) = d
        .groups()
        .flat_map(|g| g.recommended_resources())
        .find(|(ar, _)| ar.kind == "NodeFeatureRule")
        .expect("the CRD's group discovered");
    assert_eq!(
        (ar.group.as_str(), ar.version.as_str()),
        ("nfd.k8s-sigs.io", "v1alpha1")
    );
    assert_eq!(caps.scope, Scope::Cluster);
}

/// As on the real server, an object with finalizers outlives its DELETE: the answer is
/// the object, terminating, it stays readable until the last finalizer comes off, and
/// then it goes at once, whoever takes the finalizer off.
#[tokio::test]
async fn a_delete_waits_for_the_finalizers_and_the_last_one_off_removes_the_object() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{DeleteParams, Patch, PatchParams};
    let server = quiet();
    server.put_raw(
        "/api/v1",
        "namespaces",
        "",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "held"}}),
    );
    server.put_raw("/api/v1", "configmaps", "held", json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "held", "finalizers": ["example.com/a", "example.com/b"]}}));
    let cl = cluster(&server);
    let api: Api<ConfigMap> = Api::namespaced(cl.client.clone(), "held");
    let answer = api.delete("c", &DeleteParams::default()).await.unwrap();
    let held = answer.left().expect("the object, not a Status");
    assert!(held.metadata.deletion_timestamp.is_some());
    // Again: still the object, the timestamp unchanged.
    let again = api
        .delete("c", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(
        again.metadata.deletion_timestamp,
        held.metadata.deletion_timestamp
    );
    let pp = PatchParams::default();
    api.patch(
        "c",
        &pp,
        &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/b"]}})),
    )
    .await
    .unwrap();
    assert!(
        api.get_opt("c").await.unwrap().is_some(),
        "one finalizer left"
    );
    api.patch(
        "c",
        &pp,
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(
        api.get_opt("c").await.unwrap().is_none(),
        "gone with the last finalizer"
    );
}

/// As on the real server, every page of a paged list carries the first page's
/// resourceVersion: a watch started from it sees what changed while the pages were read.
#[tokio::test]
async fn every_page_of_a_list_carries_the_first_pages_resource_version() {
    let server = quiet();
    for i in 0..700 {
        server.add_node(&format!("n{i:04}"), &[]);
    }
    let cl = cluster(&server);
    let api: Api<Node> = Api::all(cl.client.clone());
    let first = api
        .list(&kube::api::ListParams::default().limit(500))
        .await
        .unwrap();
    // A change between the two pages moves the server's resourceVersion on.
    server.add_node("zz-added-between-pages", &[]);
    let token = first.metadata.continue_.clone().unwrap();
    let second = api
        .list(
            &kube::api::ListParams::default()
                .limit(500)
                .continue_token(&token),
        )
        .await
        .unwrap();
    assert_eq!(first.items.len(), 500);
    assert_eq!(
        second.metadata.resource_version, first.metadata.resource_version,
        "the second page is of the first page's snapshot"
    );
}

/// A server without the WatchList feature (1.33's default) refuses the watch-list once;
/// from then on the command's lists are paged.
#[tokio::test]
async fn lists_are_paged_with_continue_and_restart_when_the_token_expired() {
    let server = quiet();
    server.sim(|s| s.watch_list = false);
    for i in 0..1234 {
        server.add_node(&format!("n{i:04}"), &[]);
    }
    let cl = cluster(&server);
    let api: Api<Node> = Api::all(cl.client.clone());
    let (nodes, rv) = list_all(&cl, &api, None, None, "listing nodes")
        .await
        .unwrap();
    assert_eq!(nodes.len(), 1234);
    assert!(!rv.is_empty());
    let lines: Vec<String> = server.requests().iter().map(|r| r.line()).collect();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(
        lines[0].contains("sendInitialEvents=true"),
        "the watch-list is tried first: {lines:#?}"
    );
    assert!(!cl.streams_lists(), "the refusal is remembered");
    server.clear_requests();
    let (nodes, _) = list_all(&cl, &api, None, None, "listing nodes")
        .await
        .unwrap();
    assert_eq!(nodes.len(), 1234);
    let lines: Vec<String> = server.requests().iter().map(|r| r.line()).collect();
    assert_eq!(
        lines,
        [
            "GET /api/v1/nodes?limit=500",
            "GET /api/v1/nodes?continue=standin:500&limit=500",
            "GET /api/v1/nodes?continue=standin:1000&limit=500"
        ]
    );

    server.clear_requests();
    server.fault(Fault {
        method: "GET".into(),
        path_contains: "/api/v1/nodes".into(),
        query_has: Some("continue".into()),
        status: 410,
        body: json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Expired", "code": 410,
            "message": "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."}),
        retry_after: None,
        times: 1,
    });
    let (nodes, _) = list_all(&cl, &api, None, None, "listing nodes")
        .await
        .unwrap();
    assert_eq!(nodes.len(), 1234);
    assert_eq!(
        server.requests().len(),
        5,
        "page, expired page, then three pages again"
    );
}

#[tokio::test]
async fn a_watch_follows_changes_resumes_after_bookmarks_and_relists_after_410() {
    let server = quiet();
    server.add_node("a", &[]);
    let cl = cluster(&server);
    let api: Api<Node> = Api::all(cl.client.clone());
    let mut w = Watched::start(&cl, api, None, None, "nodes").await.unwrap();
    w.watch_timeout = 5;
    assert_eq!(w.items.len(), 1);
    server.add_node("b", &[]);
    assert_eq!(w.next_change().await.unwrap(), Change::Object);
    assert_eq!(w.items.len(), 2);
    // The server closes the quiet watch with a bookmark; the next change arrives on a
    // watch resumed from the bookmark's resourceVersion.
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.merge(
        "/api/v1",
        "nodes",
        "",
        "a",
        json!({"metadata": {"labels": {"x": "1"}}}),
    );
    assert_eq!(w.next_change().await.unwrap(), Change::Object);
    assert_eq!(w.items["/a"].metadata.labels.as_ref().unwrap()["x"], "1");
    let watches: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.is_watch())
        .collect();
    assert!(watches.len() >= 2);
    assert!(watches
        .iter()
        .all(|r| r.query.get("allowWatchBookmarks").map(String::as_str) == Some("true")));
    // Expire history: the resumed watch gets ERROR 410, and the store relists.
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.compact();
    server.add_node("c", &[]);
    let mut relisted = false;
    for _ in 0..3 {
        if w.next_change().await.unwrap() == Change::Relisted {
            relisted = true;
            break;
        }
    }
    assert!(relisted, "a 410 relists");
    assert_eq!(w.items.len(), 3);
}

#[test]
fn the_403_body_reads_like_kube_apiserver() {
    let b = forbidden("list", "nodes", "", "", "");
    assert_eq!(b["message"], "nodes is forbidden: User \"tester\" cannot list resource \"nodes\" in API group \"\" at the cluster scope");
}
