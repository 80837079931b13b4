//! Objects as the server handles them: JSON values with a few well-known
//! metadata fields, and their encoding in the store.
//!
//! The store holds each object's JSON without `metadata.resourceVersion`:
//! the revision is the store's, so it is put back on every read (as
//! Kubernetes' etcd3 storage does). That keeps one source of truth for it.
//!
//! Stored bytes begin with `{"metadata":{`, so the revision can be spliced
//! into them without parsing ([`with_revision`]): a plain list of thousands
//! of objects is then a concatenation, not a parse and a print of each.
//! (Key order in a JSON object carries no meaning; clients sort or ignore it.)

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

/// The prefix every stored object starts with (see the module docs).
const STORED_PREFIX: &[u8] = b"{\"metadata\":{";

/// Encodes an object for the store: `metadata` first, without its
/// resourceVersion, and without copying the object.
pub fn encode(obj: &Value) -> Bytes {
    // Serializing a Value cannot fail: its keys are strings.
    let Some(map) = obj.as_object() else {
        return Bytes::from(serde_json::to_vec(obj).unwrap_or_default());
    };
    let mut out = Vec::with_capacity(1024);
    out.push(b'{');
    let mut first = true;
    if let Some(meta) = map.get("metadata") {
        out.extend_from_slice(b"\"metadata\":");
        match meta.as_object() {
            Some(m) if m.contains_key("resourceVersion") => {
                let mut m = m.clone();
                m.remove("resourceVersion");
                let _ = serde_json::to_writer(&mut out, &m);
            }
            _ => {
                let _ = serde_json::to_writer(&mut out, meta);
            }
        }
        first = false;
    }
    for (k, v) in map.iter().filter(|(k, _)| k.as_str() != "metadata") {
        if !first {
            out.push(b',');
        }
        first = false;
        let _ = serde_json::to_writer(&mut out, k);
        out.push(b':');
        let _ = serde_json::to_writer(&mut out, v);
    }
    out.push(b'}');
    Bytes::from(out)
}

/// The stored bytes with `metadata.resourceVersion` put back, without
/// parsing them; `None` for bytes not in the stored layout (decode those).
pub fn with_revision(stored: &[u8], rev: Revision) -> Option<Vec<u8>> {
    let rest = stored.strip_prefix(STORED_PREFIX)?;
    let mut out = Vec::with_capacity(stored.len() + 32);
    out.extend_from_slice(STORED_PREFIX);
    out.extend_from_slice(b"\"resourceVersion\":\"");
    out.extend_from_slice(rev.to_string().as_bytes());
    out.push(b'"');
    if rest.first() != Some(&b'}') {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    Some(out)
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
    fn splicing_the_revision_equals_decoding() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "resourceVersion": "3", "labels": {"x": "y"}}, "data": {"k": "v"}});
        let stored = encode(&obj);
        assert!(stored.starts_with(STORED_PREFIX));
        let spliced: Value =
            serde_json::from_slice(&with_revision(&stored, 42).expect("layout")).expect("json");
        let kv = KeyValue {
            key: "/k".into(),
            value: stored,
            create_revision: 1,
            mod_revision: 42,
        };
        assert_eq!(spliced, decode(&kv).expect("decodes"));
        // Empty metadata still makes valid JSON; other layouts are refused.
        let bare = encode(&json!({"metadata": {}, "x": 1}));
        let v: Value =
            serde_json::from_slice(&with_revision(&bare, 7).expect("layout")).expect("json");
        assert_eq!(v["metadata"]["resourceVersion"], "7");
        assert!(with_revision(b"{\"kind\":\"X\"}", 1).is_none());
    }

    #[test]
    fn bad_resource_versions_are_client_errors() {
        assert!(resource_version(&json!({"metadata": {"resourceVersion": "x"}})).is_err());
        assert!(resource_version(&json!({"metadata": {"resourceVersion": 5}})).is_err());
        assert_eq!(resource_version(&json!({})).ok(), Some(None));
    }
}
