//! Patches: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and
//! Kubernetes' strategic merge patch.
//!
//! Strategic merge follows `k8s.io/apimachinery/pkg/util/strategicpatch` as
//! the API server applies it: lists with a merge key merge element by
//! element, lists of primitives with the merge strategy merge as sets, other
//! lists are replaced; `null` deletes; the directives `$patch`,
//! `$retainKeys`, `$deleteFromPrimitiveList/…` and `$setElementOrder/…` work
//! as in Kubernetes, including where new list elements land. Which lists
//! merge comes from [`PatchMeta`], a table built from the Go struct tags of
//! the built-in types.
//!
//! # Examples
//!
//! ```
//! use serde_json::json;
//! use skiff_api::patch::{strategic_merge, PatchMeta};
//!
//! let pod = json!({"spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}});
//! let patch = json!({"spec": {"containers": [{"name": "b", "image": "y:2"}]}});
//! let out = strategic_merge(&pod, &patch, &PatchMeta::for_kind("", "Pod")).unwrap();
//! assert_eq!(out["spec"]["containers"][1], json!({"name": "b", "image": "y:2"}));
//! assert_eq!(out["spec"]["containers"][0]["image"], "x:1");
//! ```

mod meta;
mod strategic;

use serde_json::Value;
use thiserror::Error;

pub use meta::{ListStrategy, PatchMeta};
pub use strategic::strategic_merge;

/// The most operations a JSON patch may have (Kubernetes' limit).
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// Why a patch could not be applied. Messages follow Kubernetes'.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum PatchError {
    /// The patch body is not a valid patch document (HTTP 400).
    #[error("{0}")]
    BadPatch(String),
    /// A JSON patch has more operations than allowed (HTTP 422).
    #[error(
        "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {0}"
    )]
    TooManyOperations(usize),
    /// A JSON patch operation failed, a `test` included (HTTP 422).
    #[error("{0}")]
    JsonPatch(String),
    /// The document or patch is not a JSON object.
    #[error("invalid JSON document")]
    BadJsonDoc,
    /// A list element lacks the list's merge key.
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey {
        /// The element, printed as Go prints a map.
        map: String,
        /// The merge key.
        key: String,
    },
    /// A `$patch` directive other than `replace`, `delete` (or `merge` in lists).
    #[error("unknown patch type: {directive} in map: {map}")]
    UnknownPatchType {
        /// The directive's value.
        directive: String,
        /// The map holding it.
        map: String,
    },
    /// `$patch: merge` in a list.
    #[error("merging lists cannot yet be specified in the patch")]
    MergeDirectiveInList,
    /// A list of maps with the merge strategy but no merge key.
    #[error("cannot merge lists without merge key for {0}")]
    NoMergeKeyDeclared(String),
    /// A malformed `$retainKeys` directive, or patch keys outside it.
    #[error("invalid patch format of retainKeys")]
    RetainKeys,
    /// A malformed `$deleteFromPrimitiveList` directive.
    #[error("invalid patch format of primitive list")]
    PrimitiveList,
    /// A malformed `$setElementOrder` directive.
    #[error("invalid patch format of setElementOrder list")]
    SetElementOrder,
    /// The patch list's order contradicts its `$setElementOrder` list.
    #[error("The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n")]
    OrderMismatch {
        /// The patch list.
        patch: String,
        /// The `$setElementOrder` list.
        order: String,
    },
    /// A list holds lists.
    #[error("lists of lists are not supported")]
    ListOfLists,
    /// A list mixes element types.
    #[error("list element types are not identical: {0}")]
    MixedListTypes(String),
    /// Lists of nothing but nulls.
    #[error("no elements in any of the given slices")]
    NoElements,
    /// A value of the wrong JSON type where a map or list is required.
    #[error("expected a {expected}, but received a {actual}")]
    BadArgType {
        /// What was expected, as Go names it.
        expected: &'static str,
        /// What was found, as Go names it.
        actual: &'static str,
    },
    /// A merge-list element that is not a map.
    #[error("value for key {0} is not a map")]
    NotAMap(usize),
}

impl PatchError {
    /// The HTTP status Kubernetes answers this error with: 400 for an
    /// unreadable patch, 422 when a well-formed patch cannot be applied.
    pub fn status_code(&self) -> u16 {
        match self {
            PatchError::BadPatch(_) | PatchError::BadJsonDoc => 400,
            _ => 422,
        }
    }
}

/// Applies an RFC 6902 JSON patch given as its raw JSON body. On error `doc`
/// is unchanged.
pub fn json_patch(doc: &mut Value, patch: &[u8]) -> Result<(), PatchError> {
    let ops: json_patch::Patch =
        serde_json::from_slice(patch).map_err(|e| PatchError::BadPatch(e.to_string()))?;
    if ops.0.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations(ops.0.len()));
    }
    // Patch a copy so a failing operation leaves `doc` untouched.
    let mut work = doc.clone();
    json_patch::patch_unsafe(&mut work, &ops.0)
        .map_err(|e| PatchError::JsonPatch(e.to_string()))?;
    *doc = work;
    Ok(())
}

/// Applies an RFC 7386 JSON merge patch: objects merge recursively, `null`
/// deletes, anything else (lists included) replaces.
pub fn merge_patch(doc: &mut Value, patch: &Value) {
    json_patch::merge(doc, patch);
}

/// Go's `%v` of a decoded JSON value, for error messages (`map[a:1 b:[x y]]`).
pub(crate) fn go_v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(go_v).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_v(&m[k])))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

/// Go's name for the type a JSON value decodes to.
pub(crate) fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_ops() {
        let mut doc =
            json!({"spec": {"replicas": 1, "list": [1, 2]}, "metadata": {"labels": {"a": "b"}}});
        let patch = br#"[
            {"op": "test", "path": "/spec/replicas", "value": 1},
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "add", "path": "/spec/list/-", "value": 3},
            {"op": "remove", "path": "/metadata/labels/a"},
            {"op": "add", "path": "/metadata/labels/x~1y", "value": "z"},
            {"op": "copy", "from": "/spec/replicas", "path": "/spec/copied"},
            {"op": "move", "from": "/spec/copied", "path": "/spec/moved"}
        ]"#;
        json_patch(&mut doc, patch).unwrap();
        assert_eq!(
            doc,
            json!({"spec": {"replicas": 3, "list": [1, 2, 3], "moved": 3}, "metadata": {"labels": {"x/y": "z"}}})
        );
    }

    #[test]
    fn json_patch_failing_test_leaves_doc_alone() {
        let mut doc = json!({"spec": {"replicas": 1}});
        let before = doc.clone();
        let patch = br#"[
            {"op": "replace", "path": "/spec/replicas", "value": 5},
            {"op": "test", "path": "/spec/replicas", "value": 2}
        ]"#;
        let err = json_patch(&mut doc, patch).unwrap_err();
        assert!(matches!(err, PatchError::JsonPatch(_)));
        assert_eq!(err.status_code(), 422);
        assert!(err.to_string().contains("value did not match"), "{err}");
        assert_eq!(doc, before);
    }

    #[test]
    fn json_patch_errors() {
        let mut doc = json!({"a": 1});
        let e = json_patch(&mut doc, b"{not json").unwrap_err();
        assert!(matches!(e, PatchError::BadPatch(_)));
        assert_eq!(e.status_code(), 400);
        assert!(matches!(
            json_patch(&mut doc, br#"{"op": "add"}"#),
            Err(PatchError::BadPatch(_))
        ));
        assert!(matches!(
            json_patch(&mut doc, br#"[{"op": "frobnicate", "path": "/a"}]"#),
            Err(PatchError::BadPatch(_))
        ));
        assert!(matches!(
            json_patch(&mut doc, br#"[{"op": "remove", "path": "/missing"}]"#),
            Err(PatchError::JsonPatch(_))
        ));
        assert!(matches!(
            json_patch(&mut doc, br#"[{"op": "add", "path": "/x/y", "value": 1}]"#),
            Err(PatchError::JsonPatch(_))
        ));
        assert!(matches!(
            json_patch(&mut doc, br#"[{"op": "replace", "path": "a", "value": 1}]"#),
            Err(PatchError::BadPatch(_)) | Err(PatchError::JsonPatch(_))
        ));
        let many = format!(
            "[{}]",
            vec![r#"{"op":"test","path":"/a","value":1}"#; MAX_JSON_PATCH_OPERATIONS + 1].join(",")
        );
        assert_eq!(
            json_patch(&mut doc, many.as_bytes())
                .unwrap_err()
                .to_string(),
            "The allowed maximum operations in a JSON patch is 10000, got 10001"
        );
        assert_eq!(doc, json!({"a": 1}));
        json_patch(&mut doc, b"[]").unwrap();
        assert_eq!(doc, json!({"a": 1}));
    }

    #[test]
    fn merge_patch_rfc7386() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(
            &mut doc,
            &json!({"a": "z", "c": {"f": null}, "l": [3], "n": {"x": null}}),
        );
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}, "l": [3], "n": {}}));
        let mut doc = json!({"a": 1});
        merge_patch(&mut doc, &json!(["x"]));
        assert_eq!(doc, json!(["x"]));
        let mut doc = json!([1]);
        merge_patch(&mut doc, &json!({"a": null, "b": 1}));
        assert_eq!(doc, json!({"b": 1}));
    }

    #[test]
    fn go_formatting() {
        assert_eq!(
            go_v(&json!({"b": [1, "x"], "a": null})),
            "map[a:<nil> b:[1 x]]"
        );
        assert_eq!(go_type(&json!([])), "[]interface {}");
        assert_eq!(go_type(&json!(1)), "float64");
    }
}
