//! Serialising a list of objects: a YAML multi-document stream `kubectl apply -f -` accepts,
//! or a JSON `v1/List`. Same input, byte-identical output.

use crate::Object;

/// `---`-separated YAML documents, each exactly [`Object::to_yaml`].
pub fn yaml<'a>(objects: impl IntoIterator<Item = &'a Object>) -> String {
    let mut out = String::new();
    for o in objects {
        out.push_str("---\n");
        out.push_str(&o.to_yaml());
    }
    out
}

/// A `{"apiVersion": "v1", "kind": "List", "items": [...]}` document, pretty-printed, keys
/// sorted.
pub fn json<'a>(objects: impl IntoIterator<Item = &'a Object>) -> String {
    let items: Vec<serde_json::Value> = objects.into_iter().map(Object::to_json).collect();
    let mut list = serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": items });
    // Sorted today anyway (serde_json's map is a BTreeMap); explicit in case a crate in the
    // build turns on serde_json's `preserve_order`.
    list.sort_all_objects();
    let mut s = format!("{list:#}");
    s.push('\n');
    s
}
