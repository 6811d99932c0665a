//! Helm's release record, read from its Secrets (`sh.helm.release.v1.<name>.v<N>`, type
//! `helm.sh/release.v1`): the payload, not the labels, says which chart and version a
//! release installed and whether it is deployed (labels are only Helm's index).

use std::collections::BTreeMap;
use std::io::Read;

use base64::Engine;
use serde_json::Value;

use super::TakeoverError;

/// One decoded release revision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HelmRelease {
    /// Release name.
    pub name: String,
    /// Release namespace.
    pub namespace: String,
    /// Revision (`version` in the payload).
    pub revision: u64,
    /// `info.status` (`deployed`, `failed`, `pending-upgrade`, ...).
    pub status: String,
    /// `chart.metadata.name`.
    pub chart: String,
    /// `chart.metadata.version`.
    pub chart_version: String,
    /// `chart.metadata.dependencies`: alias (or name) to version.
    pub dependencies: BTreeMap<String, String>,
    /// `config`: the user's values, as given.
    pub config: Value,
    /// The Secret's name.
    pub secret: String,
}

/// Decodes one release Secret (as the API returns it: `data.release` is base64 of Helm's
/// own base64 of gzip of JSON).
pub fn decode(secret: &Value) -> Result<HelmRelease, TakeoverError> {
    let name = secret
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let bad = |why: String| TakeoverError::HelmRelease {
        secret: name.clone(),
        why,
    };
    let data = secret
        .pointer("/data/release")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no data.release".into()))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let outer = b64
        .decode(data.trim())
        .map_err(|e| bad(format!("data.release is not base64: {e}")))?;
    let inner = b64
        .decode(trim_ascii(&outer))
        .map_err(|e| bad(format!("the release is not base64: {e}")))?;
    // Helm gzips the JSON; very old releases were stored plain.
    let json = if inner.starts_with(&[0x1f, 0x8b]) {
        let mut out = vec![];
        flate2::read::GzDecoder::new(inner.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| bad(format!("the release is not gzip: {e}")))?;
        out
    } else {
        inner
    };
    let r: Value =
        serde_json::from_slice(&json).map_err(|e| bad(format!("the release is not JSON: {e}")))?;
    let s = |p: &str| {
        r.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let dependencies = r
        .pointer("/chart/metadata/dependencies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| {
            let key = d
                .get("alias")
                .and_then(Value::as_str)
                .or_else(|| d.get("name").and_then(Value::as_str))?;
            let v = d.get("version").and_then(Value::as_str)?;
            Some((key.to_string(), v.to_string()))
        })
        .collect();
    Ok(HelmRelease {
        name: s("/name"),
        namespace: s("/namespace"),
        revision: r.get("version").and_then(Value::as_u64).unwrap_or(0),
        status: s("/info/status"),
        chart: s("/chart/metadata/name"),
        chart_version: s("/chart/metadata/version"),
        dependencies,
        config: r.get("config").cloned().unwrap_or(Value::Null),
        secret: name,
    })
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// Per `(namespace, release)`: the revision that counts and every release Secret's name.
pub type Releases = BTreeMap<(String, String), (HelmRelease, Vec<String>)>;

/// The revision that counts per `(namespace, release)`: the highest deployed one, else the
/// highest (a release mid-upgrade or failed shows as such). Also every Secret's name per
/// release (Helm's whole record, removed last). Secrets that do not decode are returned as
/// errors, never guessed from.
pub fn current(secrets: &[Value]) -> (Releases, Vec<TakeoverError>) {
    let mut all: BTreeMap<(String, String), Vec<HelmRelease>> = BTreeMap::new();
    let mut errors = vec![];
    for s in secrets {
        if s.get("type").and_then(Value::as_str) != Some("helm.sh/release.v1") {
            continue;
        }
        match decode(s) {
            Ok(r) => all
                .entry((r.namespace.clone(), r.name.clone()))
                .or_default()
                .push(r),
            Err(e) => errors.push(e),
        }
    }
    let mut out = BTreeMap::new();
    for (k, mut revs) in all {
        revs.sort_by_key(|r| r.revision);
        let mut names: Vec<String> = revs.iter().map(|r| r.secret.clone()).collect();
        names.sort();
        let best = revs
            .iter()
            .rev()
            .find(|r| r.status == "deployed")
            .or_else(|| revs.last())
            .cloned();
        if let Some(b) = best {
            out.insert(k, (b, names));
        }
    }
    (out, errors)
}
