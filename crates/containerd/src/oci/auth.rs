//! Registry credentials and challenges: the pull secret (a `.dockerconfigjson`, as
//! kubelet reads it) matched to the registry host, and the `WWW-Authenticate` challenge a
//! registry answers 401 with (`Basic realm=…` or `Bearer realm=…,service=…,scope=…`).
//! Pure: no I/O besides reading the secret's file.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;

/// A user name and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user.
    pub username: String,
    /// The password (or identity token).
    pub password: String,
}

// The password never reaches a log line.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// `Authorization: Basic …` for these credentials.
    pub fn basic(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

#[derive(serde::Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
}

#[derive(serde::Deserialize, Default)]
struct Entry {
    #[serde(default)]
    auth: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// The host a `.dockerconfigjson` key names: keys may be `host`, `host:port`,
/// `https://host/v1/`, … (kubelet accepts all of them).
fn key_host(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    // Docker Hub's historical key names the index, the API lives elsewhere.
    match host.as_str() {
        "index.docker.io" | "docker.io" => "registry-1.docker.io".into(),
        _ => host,
    }
}

/// The credentials a `.dockerconfigjson` document holds for `host`: the `auth` field
/// (base64 `user:password`) or the `username`/`password` fields. `Ok(None)`: the
/// document has no entry for this host (anonymous access is tried).
pub fn credentials_for(doc: &str, host: &str) -> Result<Option<Credentials>, String> {
    let cfg: DockerConfig =
        serde_json::from_str(doc).map_err(|e| format!("not a .dockerconfigjson document: {e}"))?;
    let want = key_host(host);
    let Some((key, e)) = cfg.auths.iter().find(|(k, _)| key_host(k) == want) else {
        return Ok(None);
    };
    if !e.auth.is_empty() {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(e.auth.trim())
            .map_err(|err| format!("auths.{key}.auth is not base64: {err}"))?;
        let raw = String::from_utf8(raw)
            .map_err(|_| format!("auths.{key}.auth does not decode to text"))?;
        let (u, p) = raw
            .split_once(':')
            .ok_or_else(|| format!("auths.{key}.auth does not decode to user:password"))?;
        return Ok(Some(Credentials {
            username: u.into(),
            password: p.into(),
        }));
    }
    if !e.username.is_empty() {
        return Ok(Some(Credentials {
            username: e.username.clone(),
            password: e.password.clone(),
        }));
    }
    // An entry without credentials (the test harness writes one for anonymous access).
    Ok(None)
}

/// Reads the pull secret at `path` for `host`.
pub fn read_pull_secret(path: &Path, host: &str) -> Result<Option<Credentials>, String> {
    let doc = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    credentials_for(&doc, host)
}

/// What a registry's 401 asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="…"`: send the credentials with every request.
    Basic,
    /// `Bearer realm="…",service="…",scope="…"`: fetch a token from `realm`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// `service`, passed back to the token endpoint.
        service: Option<String>,
        /// `scope`, passed back to the token endpoint.
        scope: Option<String>,
    },
}

/// Splits `k1="v1",k2=v2` (quoted values may hold commas and `\"`).
fn params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
}

/// Parses a `WWW-Authenticate` header value; `None` for schemes a registry does not use.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let h = header.trim();
    let (scheme, rest) = h.split_once(char::is_whitespace).unwrap_or((h, ""));
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => {
            let mut p = params(rest);
            let realm = p.remove("realm").filter(|r| !r.is_empty())?;
            Some(Challenge::Bearer {
                realm,
                service: p.remove("service"),
                scope: p.remove("scope"),
            })
        }
        _ => None,
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The token endpoint's URL for a Bearer challenge (`scope` defaulted when the
/// registry gave none).
pub fn token_url(realm: &str, service: Option<&str>, scope: &str) -> String {
    let mut url = realm.to_string();
    let mut sep = if realm.contains('?') { '&' } else { '?' };
    if let Some(s) = service {
        url.push_str(&format!("{sep}service={}", query_escape(s)));
        sep = '&';
    }
    url.push_str(&format!("{sep}scope={}", query_escape(scope)));
    url
}

/// The token in a token endpoint's answer (`token`, or OAuth2's `access_token`).
pub fn token_from(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct T {
        #[serde(default)]
        token: String,
        #[serde(default)]
        access_token: String,
    }
    let t: T = serde_json::from_slice(body).ok()?;
    [t.token, t.access_token]
        .into_iter()
        .find(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_challenge_gives_realm_service_and_scope() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:coco/containerd:pull""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                scope: Some("repository:coco/containerd:pull".into()),
            }
        );
    }

    #[test]
    fn a_bearer_scope_with_commas_and_unquoted_values_parse() {
        let c = parse_challenge(
            r#"bearer  service=reg,realm="https://a/t?x=1",scope="repository:r:pull,push",error="insufficient_scope""#,
        )
        .unwrap();
        let Challenge::Bearer {
            realm,
            service,
            scope,
        } = c
        else {
            panic!("{c:?}")
        };
        assert_eq!(realm, "https://a/t?x=1");
        assert_eq!(service.as_deref(), Some("reg"));
        assert_eq!(scope.as_deref(), Some("repository:r:pull,push"));
        assert_eq!(
            token_url(&realm, service.as_deref(), "repository:r:pull,push"),
            "https://a/t?x=1&service=reg&scope=repository%3Ar%3Apull%2Cpush"
        );
    }

    #[test]
    fn basic_challenges_and_unknown_schemes() {
        assert_eq!(
            parse_challenge(r#"Basic realm="cococtl-test""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate abc"), None);
        assert_eq!(parse_challenge(r#"Bearer service="x""#), None, "no realm");
    }

    #[test]
    fn the_pull_secret_entry_for_the_host_gives_credentials_either_way() {
        let auth = base64::engine::general_purpose::STANDARD.encode("robot:pa:ss");
        let doc = format!(
            r#"{{"auths":{{"https://mirror.local:5000/v1/":{{"auth":"{auth}"}},"other.example":{{"username":"u","password":"p"}}}}}}"#
        );
        let c = credentials_for(&doc, "mirror.local:5000").unwrap().unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("robot", "pa:ss")
        );
        let c = credentials_for(&doc, "OTHER.example").unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        assert_eq!(
            credentials_for(&doc, "mirror.local").unwrap(),
            None,
            "the port counts"
        );
        assert!(credentials_for("{", "x").is_err());
        assert!(format!("{c:?}").contains("redacted") && !format!("{c:?}").contains("\"p\""));
    }

    #[test]
    fn tokens_come_from_token_or_access_token() {
        assert_eq!(token_from(br#"{"token":"t1"}"#).as_deref(), Some("t1"));
        assert_eq!(
            token_from(br#"{"access_token":"t2","expires_in":60}"#).as_deref(),
            Some("t2")
        );
        assert_eq!(token_from(b"{}"), None);
    }
}
