//! The challenge flow against a plain-HTTP stand-in registry with a token endpoint (the
//! test registry, Debian's docker-registry with htpasswd, only speaks Basic).

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use super::*;

/// One request as the stand-in saw it: request line and the Authorization header.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    authorization: Option<String>,
}

/// Serves `answer(request line, authorization)` → (status, headers, body) on 127.0.0.1.
fn stand_in(
    answer: impl Fn(&str, Option<&str>, &str) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let me = host.clone();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            let mut buf = Vec::new();
            let mut b = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&b[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf).to_string();
            let line = head.lines().next().unwrap_or("").to_string();
            let authorization = head.lines().find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                    .map(|(_, v)| v.trim().to_string())
            });
            log.lock().unwrap().push(Seen {
                line: line.clone(),
                authorization: authorization.clone(),
            });
            let (status, headers, body) = answer(&line, authorization.as_deref(), &me);
            let mut out = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            let _ = s.write_all(out.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    (host, seen)
}

fn session(host: &str, creds: Option<auth::Credentials>) -> (Registry, OciRef) {
    let r = OciRef::parse(&format!("oci://{host}/coco/containerd:2.1.9")).unwrap();
    let reg = Registry::with_login(
        &r,
        client(None, &Proxy::default()).unwrap(),
        Login {
            creds,
            source: "the pull secret /test/config.json".into(),
            missing_why: "the agent was given no pull secret".into(),
            missing_fix: "give one".into(),
        },
    )
    .plain_http();
    (reg, r)
}

fn one_layer_manifest() -> Vec<u8> {
    let config = push::Descriptor {
        media_type: EMPTY_CONFIG_MEDIA_TYPE.into(),
        digest: format!("sha256:{}", hex::encode(Sha256::digest(b"{}"))),
        size: 2,
    };
    let layer = push::Descriptor {
        media_type: LAYER_MEDIA_TYPE.into(),
        digest: format!("sha256:{}", "c".repeat(64)),
        size: 10,
    };
    push::manifest(&config, &[layer])
}

fn bearer_registry() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let manifest = one_layer_manifest();
    stand_in(move |line, authz, me| {
        if line.starts_with("GET /token?") {
            return if authz
                == Some(
                    &auth::Credentials {
                        username: "robot".into(),
                        password: "pw".into(),
                    }
                    .basic(),
                ) {
                (200, vec![], br#"{"token":"tok-1"}"#.to_vec())
            } else {
                (401, vec![], b"{}".to_vec())
            };
        }
        if authz == Some("Bearer tok-1") {
            return (
                200,
                vec![("Content-Type".into(), MANIFEST_MEDIA_TYPE.into())],
                manifest.clone(),
            );
        }
        (
            401,
            vec![(
                "WWW-Authenticate".into(),
                format!(
                    r#"Bearer realm="http://{me}/token",service="stand-in",scope="repository:coco/containerd:pull""#
                ),
            )],
            br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.to_vec(),
        )
    })
}

#[tokio::test]
async fn a_bearer_challenge_is_answered_with_a_token_fetched_with_the_pull_secret() {
    let (host, seen) = bearer_registry();
    let (reg, r) = session(
        &host,
        Some(auth::Credentials {
            username: "robot".into(),
            password: "pw".into(),
        }),
    );
    let layer = reg.layer(&r).await.unwrap();
    assert_eq!(layer.sha256, "c".repeat(64));
    assert_eq!(reg.authorization().as_deref(), Some("Bearer tok-1"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen[0].authorization.is_none(), "anonymous first");
    assert_eq!(
        seen[1].line,
        "GET /token?service=stand-in&scope=repository%3Acoco%2Fcontainerd%3Apull HTTP/1.1"
    );
    assert!(seen[1]
        .authorization
        .as_deref()
        .unwrap()
        .starts_with("Basic "));
    assert_eq!(seen[2].authorization.as_deref(), Some("Bearer tok-1"));
}

#[tokio::test]
async fn a_token_endpoint_refusing_the_credentials_names_the_registry_and_the_pull_secret() {
    let (host, _) = bearer_registry();
    let (reg, r) = session(
        &host,
        Some(auth::Credentials {
            username: "robot".into(),
            password: "wrong".into(),
        }),
    );
    let e = reg.layer(&r).await.unwrap_err().to_string();
    assert!(e.contains(&format!("registry {host} refused the credentials of the pull secret /test/config.json (user `robot`)")), "{e}");
}

#[tokio::test]
async fn a_basic_challenge_without_credentials_says_there_is_no_pull_secret() {
    let (host, _) = stand_in(|_, _, _| {
        (
            401,
            vec![("WWW-Authenticate".into(), r#"Basic realm="r""#.into())],
            vec![],
        )
    });
    let (reg, r) = session(&host, None);
    let e = reg.layer(&r).await.unwrap_err().to_string();
    assert!(e.contains(&format!("registry {host} refused anonymous access to coco/containerd: the agent was given no pull secret")), "{e}");
}

#[test]
fn manifests_that_are_not_one_layer_tarball_artifacts_are_refused_saying_why() {
    let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    assert!(parse_manifest(index, "")
        .unwrap_err()
        .contains("image index"));
    let image = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:00","size":1},"layers":[]}"#;
    assert!(parse_manifest(image, "")
        .unwrap_err()
        .contains("container image"));
    let two = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST_MEDIA_TYPE}","layers":[{{"mediaType":"{LAYER_MEDIA_TYPE}","digest":"sha256:{h}","size":1}},{{"mediaType":"{LAYER_MEDIA_TYPE}","digest":"sha256:{h}","size":1}}]}}"#,
        h = "a".repeat(64)
    );
    assert!(parse_manifest(two.as_bytes(), "")
        .unwrap_err()
        .contains("has 2 layers"));
    let odd = format!(
        r#"{{"schemaVersion":2,"layers":[{{"mediaType":"text/plain","digest":"sha256:{h}","size":1}}]}}"#,
        h = "a".repeat(64)
    );
    assert!(parse_manifest(odd.as_bytes(), MANIFEST_MEDIA_TYPE)
        .unwrap_err()
        .contains("text/plain"));
}

#[tokio::test]
async fn a_registry_blip_is_retried_and_a_404_is_not() {
    let manifest = one_layer_manifest();
    let calls = Arc::new(Mutex::new(0));
    let n = calls.clone();
    let (host, _) = stand_in(move |line, _, _| {
        let mut n = n.lock().unwrap();
        *n += 1;
        if line.contains("/missing") {
            return (
                404,
                vec![],
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#.to_vec(),
            );
        }
        if *n == 1 {
            (503, vec![], b"busy".to_vec())
        } else {
            (
                200,
                vec![("Content-Type".into(), MANIFEST_MEDIA_TYPE.into())],
                manifest.clone(),
            )
        }
    });
    let (reg, r) = session(&host, None);
    let opts = crate::fetch::Options {
        backoff: Duration::from_millis(10),
        ..Default::default()
    };
    let layer = crate::fetch::layer_with_retries(&reg, &r, &opts)
        .await
        .unwrap();
    assert_eq!(layer.sha256, "c".repeat(64));
    assert_eq!(*calls.lock().unwrap(), 2);
    let missing = OciRef::parse(&format!("oci://{host}/coco/missing:v1")).unwrap();
    let reg = Registry::with_login(
        &missing,
        client(None, &Proxy::default()).unwrap(),
        Login::default(),
    )
    .plain_http();
    let e = crate::fetch::layer_with_retries(&reg, &missing, &opts)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not found in the registry"), "{e}");
    assert_eq!(*calls.lock().unwrap(), 3, "a 404 is asked once");
}

#[tokio::test]
async fn a_blob_redirected_to_another_host_is_followed_without_the_registry_token() {
    let blob = b"the tarball".to_vec();
    let served = blob.clone();
    let (store, store_seen) = stand_in(move |_, _, _| (200, vec![], served.clone()));
    let (registry, registry_seen) = stand_in(move |_, _, _| {
        (
            307,
            vec![(
                "Location".into(),
                format!("http://{store}/presigned/blob?X-Signature=1"),
            )],
            vec![],
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("t.tgz");
    let (sha, n) = crate::fetch::download(
        &client(None, &Proxy::default()).unwrap(),
        &format!("http://{registry}/v2/coco/containerd/blobs/sha256:x"),
        &dest,
        &crate::fetch::Options::default(),
        1 << 20,
        Some("Bearer tok-1"),
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), blob);
    assert_eq!(
        (sha, n),
        (hex::encode(Sha256::digest(&blob)), blob.len() as u64)
    );
    assert_eq!(
        registry_seen.lock().unwrap()[0].authorization.as_deref(),
        Some("Bearer tok-1")
    );
    let store_seen = store_seen.lock().unwrap().clone();
    assert!(store_seen[0]
        .line
        .starts_with("GET /presigned/blob?X-Signature=1"));
    assert_eq!(
        store_seen[0].authorization, None,
        "the token stays with the registry"
    );
}
