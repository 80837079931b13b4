//! Objects as the server handles them: JSON values with a few well-known
//! metadata fields, and their encoding in the store.
//!
//! The store holds each object's JSON without `metadata.resourceVersion`:
//! the revision is the store's, so it is put back on every read (as
//! Kubernetes' etcd3 storage does). That keeps one source of truth for it.

use bytes::Bytes;
use serde_json::{Map, Value};
use skiff_api::status::ApiError;
use skiff_store::{KeyValue, Revision};

/// `metadata` of an object (an empty map if absent or not a map).
pub fn meta(obj: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    obj.get("metadata")
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// `metadata`, created if absent.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = Value::Object(Map::new());
    }
    match obj.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        // Unreachable: set to an object just above.
        _ => unreachable!("metadata was just made an object"),
    }
}

/// A string field of `metadata`, or "".
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    meta(obj).get(field).and_then(Value::as_str).unwrap_or("")
}

/// `metadata.name`.
pub fn name(obj: &Value) -> &str {
    meta_str(obj, "name")
}

/// `metadata.namespace`, if set.
pub fn namespace(obj: &Value) -> Option<&str> {
    Some(meta_str(obj, "namespace")).filter(|s| !s.is_empty())
}

/// `metadata.finalizers` as strings.
pub fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)
        .get("finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_deleting(obj: &Value) -> bool {
    meta(obj)
        .get("deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// `metadata.resourceVersion` as a revision, if set and numeric.
pub fn resource_version(obj: &Value) -> Result<Option<Revision>, ApiError> {
    match meta(obj).get("resourceVersion") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => parse_revision(s).map(Some),
        Some(other) => Err(ApiError::bad_request(format!(
            "metadata.resourceVersion must be a string, got {other}"
        ))),
    }
}

/// Parses a resourceVersion string.
pub fn parse_revision(s: &str) -> Result<Revision, ApiError> {
    s.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "resourceVersion: Invalid value: \"{s}\": must be a number"
        ))
    })
}

/// The current time as Kubernetes writes timestamps (RFC 3339, seconds).
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Decodes a stored value and puts its revision back.
pub fn decode(kv: &KeyValue) -> Result<Value, ApiError> {
    let mut obj: Value = serde_json::from_slice(&kv.value).map_err(|e| {
        ApiError::internal(format!("stored object {} is not valid JSON: {e}", kv.key))
    })?;
    set_revision(&mut obj, kv.mod_revision);
    Ok(obj)
}

/// Decodes a stored object as `res` serves it: one storage serves every
/// version of a custom resource (conversion strategy None), so the object
/// takes the apiVersion it is read through.
pub fn decode_for(res: &skiff_api::registry::Resource, kv: &KeyValue) -> Result<Value, ApiError> {
    let mut obj = decode(kv)?;
    as_version(res, &mut obj);
    Ok(obj)
}

/// Sets the apiVersion of a custom resource to the one `res` serves.
pub fn as_version(res: &skiff_api::registry::Resource, obj: &mut Value) {
    if matches!(res.origin, skiff_api::registry::Origin::Custom { .. })
        && let Some(o) = obj.as_object_mut()
    {
        o.insert("apiVersion".into(), Value::String(res.api_version()));
    }
}

/// Sets `metadata.resourceVersion`.
pub fn set_revision(obj: &mut Value, rev: Revision) {
    meta_mut(obj).insert("resourceVersion".into(), Value::String(rev.to_string()));
}

/// Encodes an object for the store, without its resourceVersion.
pub fn encode(obj: &Value) -> Bytes {
    let mut obj = obj.clone();
    meta_mut(&mut obj).remove("resourceVersion");
    // Serializing a Value cannot fail: its keys are strings.
    Bytes::from(serde_json::to_vec(&obj).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn revision_lives_in_the_store_not_the_bytes() {
        let obj = json!({"metadata": {"name": "a", "resourceVersion": "7"}});
        let bytes = encode(&obj);
        assert!(!String::from_utf8_lossy(&bytes).contains("resourceVersion"));
        let kv = KeyValue {
            key: "/k".into(),
            value: bytes,
            create_revision: 3,
            mod_revision: 9,
        };
        let back = decode(&kv).expect("decodes");
        assert_eq!(back["metadata"]["resourceVersion"], "9");
        assert_eq!(name(&back), "a");
    }

    #[test]
    fn bad_resource_versions_are_client_errors() {
        assert!(resource_version(&json!({"metadata": {"resourceVersion": "x"}})).is_err());
        assert!(resource_version(&json!({"metadata": {"resourceVersion": 5}})).is_err());
        assert_eq!(resource_version(&json!({})).ok(), Some(None));
    }
}
