//! Canonical JSON: compact text with object keys sorted at every level, so that two documents that differ
//! only in key order or whitespace have one form. Used to hash credentials' secrets and callback bodies.

use serde_json::{Map, Value};

/// The canonical text of `value`.
pub fn to_canonical_string(value: &Value) -> String {
    canonical(value).to_string()
}

/// Sorts keys explicitly rather than relying on serde_json's map type, whose order depends on a cargo
/// feature any dependency may switch on.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut sorted = Map::new();
            for key in keys {
                sorted.insert(key.clone(), canonical(&map[key]));
            }
            Value::Object(sorted)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [2, {"d": 1, "c": 2}], "x": 3}}"#).expect("json");
        let b: Value = serde_json::from_str(r#"{"a":{"x":3,"y":[2,{"c":2,"d":1}]},"b":1}"#).expect("json");
        assert_eq!(to_canonical_string(&a), to_canonical_string(&b));
        assert_eq!(to_canonical_string(&b), r#"{"a":{"x":3,"y":[2,{"c":2,"d":1}]},"b":1}"#);
    }
}
