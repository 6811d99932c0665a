//! TEMPORARY stand-in until the Helm strvals port lands (same API).
use serde_yaml::Value;

#[derive(Debug, Clone, Copy)]
pub enum Mode {
    Typed,
    String,
}

#[derive(Debug, thiserror::Error)]
#[error("--set '{arg}': {message}")]
pub struct SetError {
    pub arg: String,
    pub message: String,
}

pub fn parse(arg: &str, mode: Mode) -> Result<Value, SetError> {
    let mut tree = Value::Mapping(Default::default());
    for pair in arg.split(',') {
        let (k, v) = pair.split_once('=').ok_or_else(|| SetError {
            arg: arg.into(),
            message: "missing =".into(),
        })?;
        let val = match mode {
            Mode::String => Value::String(v.into()),
            Mode::Typed => serde_yaml::from_str(v).unwrap_or(Value::String(v.into())),
        };
        let keys: Vec<&str> = k.split('.').collect();
        crate::tree::set(&mut tree, &keys, val);
    }
    Ok(tree)
}
