//! Validation of names, labels and objects, with field causes; and the
//! defaulting the server applies before validating.
//!
//! The rules and messages are Kubernetes' (v1.33): `FieldError::message()`
//! prints exactly what `kubectl` shows, and `reason()` is the cause type of
//! the `422 Invalid` Status.
//!
//! Objects are checked as `serde_json::Value`, after the server's typed round
//! trip has rejected type errors and after [`default_object`]: like
//! Kubernetes, validation requires fields that defaulting always sets
//! (`restartPolicy`, `imagePullPolicy`, port `protocol`, …).
//!
//! # Examples
//!
//! ```
//! use serde_json::json;
//! use skiff_api::validation::{default_object, validate};
//!
//! let mut pod = json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "c"}]}});
//! default_object("", "Pod", &mut pod);
//! let errs = validate("", "Pod", &pod);
//! assert_eq!(errs[0].message(), "spec.containers[0].image: Required value");
//! ```

mod defaults;
pub mod field;
mod kinds;
mod meta;
pub mod names;
mod pod;
mod workloads;

use serde_json::Value;

pub use defaults::{default_object, generate_job_selector};
pub use field::{BadValue, FieldError, FieldErrorKind, FieldPath};
pub use meta::{
    NameRule, TOTAL_ANNOTATION_SIZE_LIMIT, validate_annotations, validate_labels, validate_meta,
    validate_object_meta,
};
pub use pod::qos_class;

/// Validates the kind-specific parts of a built-in object (spec, data,
/// templates); metadata is [`validate_object_meta`]'s job. Kinds without
/// rules here yield nothing.
pub fn validate(group: &str, kind: &str, obj: &Value) -> Vec<FieldError> {
    match (group, kind) {
        ("", "Pod") => pod::validate_pod(obj),
        ("", "PodTemplate") => pod::validate_pod_template(obj),
        ("", "Service") => kinds::validate_service(obj),
        ("", "ConfigMap") => kinds::validate_config_map(obj),
        ("", "Secret") => kinds::validate_secret(obj),
        ("", "Namespace") => kinds::validate_namespace(obj),
        ("", "PersistentVolumeClaim") => kinds::validate_pvc(obj),
        ("", "ReplicationController") => workloads::validate_replication_controller(obj),
        ("apps", "Deployment") => workloads::validate_deployment(obj),
        ("apps", "ReplicaSet") => workloads::validate_replica_set(obj),
        ("apps", "StatefulSet") => workloads::validate_stateful_set(obj),
        ("apps", "DaemonSet") => workloads::validate_daemon_set(obj),
        ("batch", "Job") => workloads::validate_job(obj),
        ("batch", "CronJob") => workloads::validate_cron_job(obj),
        _ => Vec::new(),
    }
}

/// Whether [`validate`] has rules for a kind.
pub fn has_rules(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        (
            "",
            "Pod"
                | "PodTemplate"
                | "Service"
                | "ConfigMap"
                | "Secret"
                | "Namespace"
                | "PersistentVolumeClaim"
                | "ReplicationController"
        ) | (
            "apps",
            "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet"
        ) | ("batch", "Job" | "CronJob")
    )
}

/// A field of a JSON object, with `null` read as absent.
pub(crate) fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

/// A string field; absent, null or non-string read as `None`.
pub(crate) fn get_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A string field, empty when absent (Go's zero value).
pub(crate) fn str_or_empty<'a>(v: &'a Value, key: &str) -> &'a str {
    get_str(v, key).unwrap_or("")
}

/// A list field; absent or non-list read as empty.
pub(crate) fn get_list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// An integer field.
pub(crate) fn get_i64(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

/// `Invalid: must be greater than or equal to 0` when negative.
pub(crate) fn nonnegative(v: &Value, key: &str, path: &FieldPath, errs: &mut Vec<FieldError>) {
    if let Some(n) = get_i64(v, key)
        && n < 0
    {
        errs.push(FieldError::invalid(
            &path.child(key),
            n,
            "must be greater than or equal to 0",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_without_rules_pass() {
        assert!(validate("example.com", "Widget", &json!({"anything": 1})).is_empty());
        assert!(!has_rules("example.com", "Widget"));
        assert!(has_rules("apps", "Deployment"));
        assert!(has_rules("", "Pod"));
    }

    #[test]
    fn helpers_treat_null_as_absent() {
        let v = json!({"a": null, "b": "x", "c": [1], "d": 3});
        assert!(get(&v, "a").is_none());
        assert_eq!(get_str(&v, "b"), Some("x"));
        assert_eq!(str_or_empty(&v, "zz"), "");
        assert_eq!(get_list(&v, "c").len(), 1);
        assert!(get_list(&v, "b").is_empty());
        assert_eq!(get_i64(&v, "d"), Some(3));
        let mut errs = Vec::new();
        nonnegative(&json!({"n": -2}), "n", &FieldPath::new("spec"), &mut errs);
        assert_eq!(
            errs[0].message(),
            "spec.n: Invalid value: -2: must be greater than or equal to 0"
        );
    }
}
