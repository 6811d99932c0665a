//! The node reporter against an API server stub that answers like kube-apiserver: the
//! merge patch it sends, retry on 503, and no retry on 403 Forbidden.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use cococtl_cluster::node_report::KubeReporter;
use cococtl_containerd::report::{Report, Reporter, State};

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    content_type: String,
    body: serde_json::Value,
}

/// Serves `responses` in order (status, JSON body), recording each request.
fn api_server(responses: Vec<(u16, &'static str)>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(vec![]));
    let rec = seen.clone();
    std::thread::spawn(move || {
        for (status, body) in responses {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap_or("").to_string(),
                parts.next().unwrap_or("").to_string(),
            );
            let (mut len, mut ctype) = (0usize, String::new());
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                if h == "\r\n" || h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap_or((&h, ""));
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "content-type" => ctype = v.trim().to_string(),
                    _ => {}
                }
            }
            let mut buf = vec![0; len];
            r.read_exact(&mut buf).unwrap();
            rec.lock().unwrap().push(Seen {
                method,
                path,
                content_type: ctype,
                body: serde_json::from_slice(&buf).unwrap_or_default(),
            });
            let reason = match status {
                200 => "OK",
                403 => "Forbidden",
                _ => "Service Unavailable",
            };
            let mut s = stream;
            write!(
                s,
                "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        }
    });
    (url, seen)
}

fn reporter(url: &str) -> KubeReporter {
    let config = kube::Config::new(url.parse().unwrap());
    KubeReporter::with_client("node-a", kube::Client::try_from(config).unwrap())
}

fn report(state: State, version: &str, sha256: &str, message: &str) -> Report {
    Report {
        state,
        version: version.into(),
        sha256: sha256.into(),
        message: message.into(),
    }
}

const NODE: &str = r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-a","labels":{"cococtl.confidentialcontainers.org/containerd":"ready"}}}"#;
const FORBIDDEN: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"nodes \"node-a\" is forbidden: User \"system:serviceaccount:coco-system:cococtl-containerd\" cannot patch resource \"nodes\"","reason":"Forbidden","details":{"name":"node-a","kind":"nodes"},"code":403}"#;
const UNAVAILABLE: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"etcdserver: leader changed","reason":"ServiceUnavailable","code":503}"#;

#[tokio::test]
async fn ready_is_a_merge_patch_of_the_label_and_annotations_with_field_manager_cococtl() {
    let (url, seen) = api_server(vec![(200, NODE)]);
    reporter(&url)
        .report(&report(State::Ready, "2.1.9", "abc", ""))
        .await
        .unwrap();
    let s = seen.lock().unwrap()[0].clone();
    assert_eq!(s.method, "PATCH");
    assert!(
        s.path.starts_with("/api/v1/nodes/node-a?") && s.path.contains("fieldManager=cococtl"),
        "{}",
        s.path
    );
    assert_eq!(s.content_type, "application/merge-patch+json");
    assert_eq!(
        s.body["metadata"]["labels"]["cococtl.confidentialcontainers.org/containerd"],
        "ready"
    );
    assert_eq!(
        s.body["metadata"]["annotations"]["cococtl.confidentialcontainers.org/containerd-version"],
        "2.1.9"
    );
    assert_eq!(
        s.body["metadata"]["annotations"]["cococtl.confidentialcontainers.org/containerd-message"],
        serde_json::Value::Null,
        "an empty message removes the annotation"
    );
}

#[tokio::test]
async fn unavailable_api_server_is_retried() {
    let (url, seen) = api_server(vec![(503, UNAVAILABLE), (200, NODE)]);
    reporter(&url)
        .report(&report(
            State::RolledBack,
            "1.6.20",
            "",
            "new containerd failed",
        ))
        .await
        .unwrap();
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn forbidden_is_reported_without_retrying() {
    let (url, seen) = api_server(vec![(403, FORBIDDEN), (200, NODE)]);
    let e = reporter(&url)
        .report(&report(State::Ready, "2.1.9", "abc", ""))
        .await
        .unwrap_err();
    assert!(
        e.contains("403") && e.contains("cannot patch resource"),
        "{e}"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}
