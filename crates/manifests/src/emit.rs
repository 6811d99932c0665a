//! Serialising a list of objects: a YAML multi-document stream `kubectl apply -f -` accepts,
//! or a JSON `v1/List`. Same input, byte-identical output.

use crate::Object;

#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    #[error("cannot serialise {id} as YAML: {source}")]
    Yaml {
        id: String,
        source: serde_yaml::Error,
    },
    #[error("cannot serialise {id} as JSON: {source}")]
    Json {
        id: String,
        source: serde_json::Error,
    },
}

/// `---`-separated YAML documents.
pub fn yaml(objects: &[Object]) -> Result<String, EmitError> {
    let mut out = String::new();
    for o in objects {
        out.push_str("---\n");
        out.push_str(
            &o.to_yaml()
                .map_err(|source| EmitError::Yaml { id: o.id(), source })?,
        );
    }
    Ok(out)
}

/// A `{"apiVersion": "v1", "kind": "List", "items": [...]}` document.
pub fn json(objects: &[Object]) -> Result<String, EmitError> {
    let items = objects
        .iter()
        .map(|o| {
            o.to_json_value()
                .map_err(|source| EmitError::Json { id: o.id(), source })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let list = serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": items });
    let mut s = serde_json::to_string_pretty(&list).map_err(|source| EmitError::Json {
        id: "List".into(),
        source,
    })?;
    s.push('\n');
    Ok(s)
}
