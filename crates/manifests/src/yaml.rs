//! A YAML writer for rendered objects that every Kubernetes client reads the same way.
//!
//! serde_yaml writes YAML 1.2 and leaves `yes`, `on`, `n` … unquoted; kubectl
//! (sigs.k8s.io/yaml) and Python clients read YAML 1.1, where those are booleans, so a label
//! value `yes` would arrive as `true`. Here a string is written plain only when it cannot be
//! read as anything but that string under either version; otherwise it is double-quoted
//! (JSON escapes, which YAML shares). Multi-line strings become literal blocks.

use std::fmt::Write;

use serde_yaml::{Mapping, Value};

/// Words YAML 1.1 or 1.2 resolves to booleans or null.
const RESERVED: &[&str] = &["y", "yes", "n", "no", "true", "false", "on", "off", "null"];

/// Whether `s` may be written without quotes.
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '/' || first == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:-".contains(c))
        && !s.ends_with(':')
        && !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s))
}

/// Characters a YAML reader may not take literally: line breaks of YAML 1.1 (NEL, LS, PS),
/// the byte-order mark and the non-printables YAML requires escaped (DEL, C1, U+FFFE/F).
fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
    )
}

fn quoted(s: &str) -> String {
    // A JSON string literal is a valid YAML double-quoted scalar; JSON leaves the characters
    // above raw, so they are escaped as \uXXXX too.
    let json = serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""));
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if needs_escape(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

fn scalar(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if plain_ok(s) => s.clone(),
        Value::String(s) => quoted(s),
        Value::Mapping(m) if m.is_empty() => "{}".into(),
        Value::Sequence(s) if s.is_empty() => "[]".into(),
        Value::Tagged(t) => return scalar(&t.value),
        _ => return None,
    })
}

/// A string that reads well as a literal block: several lines, one trailing newline at most,
/// and a first line that does not start with a space (which would need an indent marker).
fn literal_block(v: &Value) -> Option<(&str, &'static str)> {
    let Value::String(s) = v else { return None };
    let body = s.strip_suffix('\n');
    let (text, chomp) = match body {
        Some(b) => (b, "|"),
        None => (s.as_str(), "|-"),
    };
    let ok = text.contains('\n')
        && !text.ends_with('\n')
        && !text.starts_with([' ', '\t'])
        && !text
            .chars()
            .any(|c| (c.is_control() && c != '\n' && c != '\t') || needs_escape(c));
    ok.then_some((text, chomp))
}

fn block(out: &mut String, text: &str, indent: usize) {
    for line in text.split('\n') {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{:indent$}{line}", "");
        }
    }
}

fn key(k: &Value) -> String {
    match k {
        Value::String(s) if plain_ok(s) => s.clone(),
        Value::String(s) => quoted(s),
        other => scalar(other).unwrap_or_default(),
    }
}

/// After `key:` or `- `: the rest of the line and what follows it.
fn value(out: &mut String, v: &Value, indent: usize, in_seq: bool) {
    if let Some((text, chomp)) = literal_block(v) {
        let _ = writeln!(out, " {chomp}");
        block(out, text, indent + 2);
    } else if let Some(s) = scalar(v) {
        let _ = writeln!(out, " {s}");
    } else {
        match v {
            Value::Mapping(m) if in_seq => mapping(out, m, indent + 2, true),
            Value::Mapping(m) => {
                out.push('\n');
                mapping(out, m, indent + 2, false);
            }
            // Sequences under a key sit at the key's indentation (kubectl's own style).
            Value::Sequence(s) => {
                out.push('\n');
                sequence(out, s, if in_seq { indent + 2 } else { indent });
            }
            _ => out.push('\n'),
        }
    }
}

fn mapping(out: &mut String, m: &Mapping, indent: usize, first_inline: bool) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 || !first_inline {
            let _ = write!(out, "{:indent$}", "");
        }
        let _ = write!(out, "{}:", key(k));
        value(out, v, indent, false);
    }
}

fn sequence(out: &mut String, s: &[Value], indent: usize) {
    for item in s {
        let _ = write!(out, "{:indent$}-", "");
        match item {
            Value::Mapping(m) if !m.is_empty() => {
                out.push(' ');
                mapping(out, m, indent + 2, true);
            }
            _ => value(out, item, indent, true),
        }
    }
}

/// One YAML document (without the `---` line).
pub fn document(v: &Value) -> String {
    match v {
        Value::Mapping(m) => mapping_document(m),
        other => format!("{}\n", scalar(other).unwrap_or_default()),
    }
}

/// One YAML document holding the mapping `m` (without the `---` line).
pub fn mapping_document(m: &Mapping) -> String {
    let mut out = String::new();
    if m.is_empty() {
        out.push_str("{}\n");
    } else {
        mapping(&mut out, m, 0, false);
    }
    out
}

/// The same value as JSON. Mapping keys that are not strings are written as their YAML
/// scalar; tags are dropped; a float JSON cannot hold (NaN, infinity) becomes null.
pub fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                J::from(u)
            } else if let Some(i) = n.as_i64() {
                J::from(i)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(J::Null, J::Number)
            }
        }
        Value::String(s) => J::String(s.clone()),
        Value::Sequence(s) => J::Array(s.iter().map(to_json).collect()),
        Value::Mapping(m) => mapping_to_json(m),
        Value::Tagged(t) => to_json(&t.value),
    }
}

/// A mapping as a JSON object; see [`to_json`].
pub fn mapping_to_json(m: &Mapping) -> serde_json::Value {
    serde_json::Value::Object(
        m.iter()
            .map(|(k, v)| {
                let k = match k {
                    Value::String(s) => s.clone(),
                    other => scalar(other).unwrap_or_default(),
                };
                (k, to_json(v))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap()
    }

    #[test]
    fn yaml_1_1_booleans_and_numbers_in_strings_are_quoted() {
        for s in [
            "yes", "No", "on", "OFF", "y", "n", "true", "null", "~", "1", "1e3", "0x1f", "012",
            "1:20", ".inf", "", " x", "a: b", "a #b", "*x", "&x", "!x", "-", "%x", "@x", "`x",
            "a:",
        ] {
            let out = document(&Value::Mapping(
                [(Value::from("k"), Value::from(s))].into_iter().collect(),
            ));
            assert!(out.starts_with("k: \""), "{s:?} gave {out:?}");
        }
    }

    #[test]
    fn ordinary_words_paths_and_urls_stay_plain() {
        for s in [
            "kata-deploy",
            "quay.io/kata-containers/kata-deploy:4.1.0",
            "/usr/bin/kata-deploy",
            "spec.nodeName",
            "http://p:3128",
        ] {
            let out = document(&Value::Mapping(
                [(Value::from("k"), Value::from(s))].into_iter().collect(),
            ));
            assert_eq!(out, format!("k: {s}\n"));
        }
    }

    #[test]
    fn output_reads_back_as_the_same_value() {
        let v = y(r#"
a: {b: [1, "2", {c: "yes", d: [x, [y, z]]}], e: {}, f: []}
script: "set -u\nfor i in 1 2; do\n  echo $i\ndone\n"
nochomp: "line1\nline2"
list:
- - nested
  - "on"
- {k: v, l: "multi\nline\n"}
empty: ""
"#);
        let text = document(&v);
        assert_eq!(serde_yaml::from_str::<Value>(&text).unwrap(), v, "{text}");
    }
}
