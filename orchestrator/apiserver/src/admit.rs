//! The admission chain every write goes through, after decoding and before
//! the store: type check, unknown fields, defaulting, validation.
//!
//! Built-in kinds are checked by a typed round trip and the rules in
//! `skiff_api::validation`; custom kinds by their CRD's structural schema.
//! Both end in the same `422 Invalid` with field causes.

use serde_json::Value;
use skiff_api::registry::{Origin, Resource};
use skiff_api::status::{ApiError, Cause};
use skiff_api::{schema, typed, validation};

use crate::handlers::FieldValidation;
use crate::objects;

/// Decodes, defaults and validates `obj` for `res`. Returns warnings.
pub fn admit(
    res: &Resource,
    obj: &mut Value,
    fv: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let mut unknown = Vec::new();
    match &res.origin {
        Origin::Builtin => {
            if let Some(rt) = typed::round_trip(&res.group, &res.version, &res.kind, obj) {
                let normalized = rt.map_err(|e| ApiError::bad_request(e.to_string()))?;
                unknown = typed::unknown_fields(obj, &normalized);
                *obj = normalized;
            }
            // Kubernetes defaults every decoded object, on update too: a
            // patch that adds a port gets its protocol like a create does.
            validation::default_object(&res.group, &res.kind, obj);
        }
        Origin::Custom {
            schema: Some(s), ..
        } => {
            unknown = schema::prune(obj, s);
            schema::default(obj, s);
        }
        Origin::Custom { schema: None, .. } => {}
    }
    let warnings = unknown_field_policy(unknown, fv)?;
    let name = objects::name(obj).to_owned();
    let mut errors: Vec<Cause> = validation::validate_object_meta(res, obj)
        .iter()
        .map(Cause::from)
        .collect();
    match &res.origin {
        Origin::Builtin => errors.extend(
            validation::validate(&res.group, &res.kind, obj)
                .iter()
                .map(Cause::from),
        ),
        Origin::Custom {
            schema: Some(s), ..
        } => errors.extend(schema::validate(obj, s).into_iter().map(|v| Cause {
            reason: v.kind.cause_reason().into(),
            message: v.body(),
            field: v.field,
        })),
        Origin::Custom { schema: None, .. } => {}
    }
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(ApiError::invalid(&res.group, &res.kind, &name, errors))
    }
}

/// Applies `fieldValidation` to the unknown fields a decode found.
fn unknown_field_policy(
    unknown: Vec<String>,
    fv: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    if unknown.is_empty() {
        return Ok(vec![]);
    }
    let msgs: Vec<String> = unknown
        .iter()
        .map(|p| format!("unknown field \"{p}\""))
        .collect();
    match fv {
        FieldValidation::Ignore => Ok(vec![]),
        FieldValidation::Warn => Ok(msgs),
        FieldValidation::Strict => Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            msgs.join(", ")
        ))),
    }
}

/// Checks `apiVersion` and `kind` of a body against the resource the URL
/// names, filling them in when absent, as Kubernetes' decoder does.
pub fn check_type(res: &Resource, obj: &mut Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request("the object must be a JSON object"));
    }
    let want_av = res.api_version();
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => obj["apiVersion"] = Value::String(want_av),
        Some(av) if av == want_av => {}
        Some(av) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )));
        }
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => obj["kind"] = Value::String(res.kind.clone()),
        Some(k) if k == res.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                res.kind
            )));
        }
    }
    Ok(())
}
