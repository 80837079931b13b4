//! Structural schemas of CustomResourceDefinitions: the checks a CRD's
//! `openAPIV3Schema` must pass, and pruning, defaulting and validation of
//! custom objects against it — the roles of
//! `k8s.io/apiextensions-apiserver/pkg/apiserver/schema/{pruning,defaulting}`,
//! `.../apis/apiextensions/validation` and kube-openapi's validator.
//!
//! Schemas are `apiextensions.k8s.io/v1` `JSONSchemaProps` as
//! [`serde_json::Value`]; objects are the decoded request bodies. The API
//! server runs, for a custom resource write: [`prune`] (unknown fields become
//! warnings, or errors under `fieldValidation=Strict`), then [`default`], then
//! [`validate`].
//!
//! `x-kubernetes-validations` (CEL rules) are out of scope: they are accepted
//! in schemas (and their shape checked) but never evaluated.
//!
//! ```
//! use serde_json::json;
//! use skiff_api::schema;
//!
//! let s = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
//!     "replicas": {"type": "integer", "default": 1}}}}});
//! assert!(schema::check_structural(&s).is_empty());
//! let mut obj = json!({"apiVersion": "example.com/v1", "kind": "Widget",
//!     "metadata": {"name": "w"}, "spec": {"foo": 1}});
//! assert_eq!(schema::prune(&mut obj, &s), ["spec.foo"]);
//! schema::default(&mut obj, &s);
//! assert_eq!(obj["spec"]["replicas"], 1);
//! assert!(schema::validate(&obj, &s).is_empty());
//! ```

use std::fmt;

use serde_json::{Map, Value};

mod defaulting;
mod pruning;
mod structural;
mod validation;

pub use defaulting::default;
pub use pruning::prune;
pub use structural::{check_structural, check_structural_at};
pub use validation::validate;

/// The kind of a [`SchemaViolation`], as Kubernetes' `field.ErrorType`.
#[derive(Clone, Debug, PartialEq)]
pub enum ViolationKind {
    /// A required value is missing (`Required value`).
    Required,
    /// The field must not be set this way (`Forbidden`).
    Forbidden,
    /// The value is invalid (`Invalid value: <value>`).
    Invalid(Value),
    /// The value has the wrong type (`Invalid value: <value>`).
    TypeInvalid(Value),
    /// The value is not one of an enumeration (`Unsupported value: <value>`).
    NotSupported(Value),
    /// The value repeats an earlier one (`Duplicate value: <value>`).
    Duplicate(Value),
    /// A string is too long (`Too long`).
    TooLong,
    /// A list or map has too many entries (`Too many: <count>`).
    TooMany(usize),
}

impl ViolationKind {
    /// The `reason` of a `metav1.StatusCause` for this kind.
    pub fn cause_reason(&self) -> &'static str {
        match self {
            ViolationKind::Required => "FieldValueRequired",
            ViolationKind::Forbidden => "FieldValueForbidden",
            ViolationKind::Invalid(_) => "FieldValueInvalid",
            ViolationKind::TypeInvalid(_) => "FieldValueTypeInvalid",
            ViolationKind::NotSupported(_) => "FieldValueNotSupported",
            ViolationKind::Duplicate(_) => "FieldValueDuplicate",
            ViolationKind::TooLong => "FieldValueTooLong",
            ViolationKind::TooMany(_) => "FieldValueTooMany",
        }
    }
}

/// One reason a schema or an object is rejected, shaped like Kubernetes'
/// `field.Error`: its [`Display`](fmt::Display) is the message Kubernetes
/// prints, e.g. `spec.replicas: Invalid value: "string": spec.replicas in
/// body must be of type integer: "string"`.
#[derive(Clone, Debug, PartialEq)]
pub struct SchemaViolation {
    /// Field path, e.g. `spec.replicas` or
    /// `spec.versions[0].schema.openAPIV3Schema.properties[spec].type`.
    pub field: String,
    /// What kind of problem, with the offending value where Kubernetes shows one.
    pub kind: ViolationKind,
    /// The detail after the kind and value (may be empty).
    pub detail: String,
}

impl SchemaViolation {
    fn new(field: impl Into<String>, kind: ViolationKind, detail: impl Into<String>) -> Self {
        SchemaViolation {
            field: field.into(),
            kind,
            detail: detail.into(),
        }
    }

    /// The message without the field path: `Invalid value: "x": detail`.
    pub fn body(&self) -> String {
        let mut s = match &self.kind {
            ViolationKind::Required => "Required value".to_owned(),
            ViolationKind::Forbidden => "Forbidden".to_owned(),
            ViolationKind::TooLong => "Too long".to_owned(),
            ViolationKind::Invalid(v) | ViolationKind::TypeInvalid(v) => {
                format!("Invalid value: {}", go_value(v))
            }
            ViolationKind::NotSupported(v) => format!("Unsupported value: {}", go_value(v)),
            ViolationKind::Duplicate(v) => format!("Duplicate value: {}", go_value(v)),
            ViolationKind::TooMany(n) => format!("Too many: {n}"),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = if self.field.is_empty() {
            "<nil>"
        } else {
            &self.field
        };
        write!(f, "{field}: {}", self.body())
    }
}

/// Renders a value as Go's `field.Error` does: strings quoted, scalars
/// plain, anything else as JSON.
fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Number(n) => go_number(n),
        other => other.to_string(),
    }
}

/// A number as Go's `%v` prints a float64 that holds it (`3`, `1.5`).
fn go_number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        Some(f) => f.to_string(),
        None => n.to_string(),
    }
}

// ---- path helpers (Kubernetes `field.Path` rendering) ----

/// `base.name`, or `name` at the root.
fn child(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_owned()
    } else {
        format!("{base}.{name}")
    }
}

/// `base[i]`.
fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

/// `base[key]` (map keys in schema paths, e.g. `properties[spec]`).
fn key(base: &str, k: &str) -> String {
    format!("{base}[{k}]")
}

// ---- schema node accessors ----

fn flag(s: &Value, name: &str) -> bool {
    s.get(name).and_then(Value::as_bool).unwrap_or(false)
}

fn type_of(s: &Value) -> &str {
    s.get("type").and_then(Value::as_str).unwrap_or("")
}

fn properties(s: &Value) -> Option<&Map<String, Value>> {
    s.get("properties").and_then(Value::as_object)
}

/// `additionalProperties` as a schema; `true` is an empty schema that allows
/// anything, `false` is reported as absent (it forbids other keys).
enum Additional<'a> {
    None,
    Any,
    Forbid,
    Schema(&'a Value),
}

fn additional(s: &Value) -> Additional<'_> {
    match s.get("additionalProperties") {
        None | Some(Value::Null) => Additional::None,
        Some(Value::Bool(true)) => Additional::Any,
        Some(Value::Bool(false)) => Additional::Forbid,
        Some(v) if v.is_object() => Additional::Schema(v),
        Some(_) => Additional::None,
    }
}

fn items(s: &Value) -> Option<&Value> {
    s.get("items").filter(|v| v.is_object())
}

fn preserves_unknown(s: &Value) -> bool {
    flag(s, "x-kubernetes-preserve-unknown-fields")
}

fn embedded(s: &Value) -> bool {
    flag(s, "x-kubernetes-embedded-resource")
}

fn int_or_string(s: &Value) -> bool {
    flag(s, "x-kubernetes-int-or-string")
}

fn nullable(s: &Value) -> bool {
    flag(s, "nullable")
}

/// The schema of the value under `k` in an object governed by `s`.
fn field_schema<'a>(s: &'a Value, k: &str) -> Option<&'a Value> {
    if let Some(p) = properties(s).and_then(|p| p.get(k)) {
        return Some(p);
    }
    match additional(s) {
        Additional::Schema(a) => Some(a),
        _ => None,
    }
}
