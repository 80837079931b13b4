//! `metadata` validation (`ValidateObjectMeta`): names, namespace, labels,
//! annotations, owner references, finalizers.

use serde_json::Value;

use super::field::{BadValue, FieldError, FieldPath};
use super::names::{
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
    is_valid_label_value,
};
use super::{get, get_i64, get_list, str_or_empty};
use crate::registry::Resource;

/// The most bytes all annotations of an object may hold together (keys and values).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Which format an object's name must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain (most kinds, and custom resources).
    DnsSubdomain,
    /// DNS-1123 label (Namespace, StatefulSet).
    DnsLabel,
    /// DNS-1035 label (Service).
    Dns1035Label,
    /// A URL path segment: not `.` or `..`, no `/` or `%` (RBAC kinds).
    PathSegment,
    /// Anything non-empty.
    Any,
}

impl NameRule {
    /// The rule Kubernetes applies to a kind's names.
    pub fn for_kind(group: &str, kind: &str) -> NameRule {
        match (group, kind) {
            ("", "Namespace") | ("apps", "StatefulSet") => NameRule::DnsLabel,
            ("", "Service") => NameRule::Dns1035Label,
            (
                "rbac.authorization.k8s.io",
                "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding",
            ) => NameRule::PathSegment,
            _ => NameRule::DnsSubdomain,
        }
    }

    /// The problems with `name`; with `prefix` it is a `generateName` prefix.
    pub fn check(self, name: &str, prefix: bool) -> Vec<String> {
        let name = if prefix
            && matches!(
                self,
                NameRule::DnsSubdomain | NameRule::DnsLabel | NameRule::Dns1035Label
            ) {
            mask_trailing_dash(name)
        } else {
            name.to_owned()
        };
        match self {
            NameRule::DnsSubdomain => is_dns1123_subdomain(&name),
            NameRule::DnsLabel => is_dns1123_label(&name),
            NameRule::Dns1035Label => is_dns1035_label(&name),
            NameRule::PathSegment => path_segment_errors(&name, prefix),
            NameRule::Any => Vec::new(),
        }
    }
}

/// A `generateName` may end in `-`; Kubernetes masks the end before checking
/// (replacing the last two characters with `a`, as its code does).
fn mask_trailing_dash(name: &str) -> String {
    if name.len() > 1 && name.ends_with('-') {
        let cut = name.char_indices().rev().nth(1).map_or(0, |(i, _)| i);
        format!("{}a", &name[..cut])
    } else {
        name.to_owned()
    }
}

fn path_segment_errors(name: &str, prefix: bool) -> Vec<String> {
    if !prefix {
        for bad in [".", ".."] {
            if name == bad {
                return vec![format!("may not be '{bad}'")];
            }
        }
    }
    ["/", "%"]
        .iter()
        .filter(|c| name.contains(**c))
        .map(|c| format!("may not contain '{c}'"))
        .collect()
}

/// Validates `metadata` of `obj` for the resource `res` (its scope and name rule).
pub fn validate_object_meta(res: &Resource, obj: &Value) -> Vec<FieldError> {
    let empty = Value::Object(serde_json::Map::new());
    let meta = get(obj, "metadata").unwrap_or(&empty);
    validate_meta(
        meta,
        res.namespaced,
        NameRule::for_kind(&res.group, &res.kind),
    )
}

/// Validates an object's `metadata` value: name or generateName, namespace
/// required or forbidden, generation, labels, annotations, owner references
/// and finalizers.
pub fn validate_meta(meta: &Value, namespaced: bool, name_rule: NameRule) -> Vec<FieldError> {
    let path = FieldPath::new("metadata");
    let mut errs = Vec::new();
    let generate_name = str_or_empty(meta, "generateName");
    if !generate_name.is_empty() {
        for msg in name_rule.check(generate_name, true) {
            errs.push(FieldError::invalid(
                &path.child("generateName"),
                generate_name,
                msg,
            ));
        }
    }
    let name = str_or_empty(meta, "name");
    if name.is_empty() {
        errs.push(FieldError::required(
            &path.child("name"),
            "name or generateName is required",
        ));
    } else {
        for msg in name_rule.check(name, false) {
            errs.push(FieldError::invalid(&path.child("name"), name, msg));
        }
    }
    let namespace = str_or_empty(meta, "namespace");
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required(&path.child("namespace"), ""));
        } else {
            for msg in NameRule::DnsLabel.check(namespace, false) {
                errs.push(FieldError::invalid(
                    &path.child("namespace"),
                    namespace,
                    msg,
                ));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(
            &path.child("namespace"),
            "not allowed on this type",
        ));
    }
    if let Some(g) = get_i64(meta, "generation")
        && g < 0
    {
        errs.push(FieldError::invalid(
            &path.child("generation"),
            g,
            "must be greater than or equal to 0",
        ));
    }
    errs.extend(validate_labels(get(meta, "labels"), &path.child("labels")));
    errs.extend(validate_annotations(
        get(meta, "annotations"),
        &path.child("annotations"),
    ));
    errs.extend(validate_owner_references(
        get_list(meta, "ownerReferences"),
        &path.child("ownerReferences"),
    ));
    errs.extend(validate_finalizers(
        get_list(meta, "finalizers"),
        &path.child("finalizers"),
    ));
    errs
}

/// Validates a label map (keys qualified names, values label values) at `path`.
pub fn validate_labels(labels: Option<&Value>, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(map) = labels.and_then(Value::as_object) else {
        return errs;
    };
    for (k, v) in map {
        for msg in is_qualified_name(k) {
            errs.push(FieldError::invalid(path, k.as_str(), msg));
        }
        let v = v.as_str().unwrap_or("");
        for msg in is_valid_label_value(v) {
            errs.push(FieldError::invalid(path, v, msg));
        }
    }
    errs
}

/// Validates annotations: keys are qualified names (case-insensitively),
/// and all together hold at most 256 KiB.
pub fn validate_annotations(annotations: Option<&Value>, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(map) = annotations.and_then(Value::as_object) else {
        return errs;
    };
    let mut total = 0usize;
    for (k, v) in map {
        for msg in is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path, k.as_str(), msg));
        }
        total = total
            .saturating_add(k.len())
            .saturating_add(v.as_str().map_or(0, str::len));
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

fn validate_owner_references(refs: &[Value], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut first_controller: Option<String> = None;
    for r in refs {
        let api_version = str_or_empty(r, "apiVersion");
        let kind = str_or_empty(r, "kind");
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        if version.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        if kind.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("kind"),
                kind,
                "kind must not be empty",
            ));
        }
        let name = str_or_empty(r, "name");
        if name.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("name"),
                name,
                "name must not be empty",
            ));
        }
        let uid = str_or_empty(r, "uid");
        if uid.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("uid"),
                uid,
                "uid must not be empty",
            ));
        }
        if group.is_empty() && version == "v1" && kind == "Event" {
            errs.push(FieldError::invalid(
                path,
                BadValue::Raw(r.to_string()),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            let current = format!("{kind}/{name}");
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    path,
                    BadValue::Raw(Value::Array(refs.to_vec()).to_string()),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
    errs
}

fn validate_finalizers(finalizers: &[Value], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let names: Vec<&str> = finalizers.iter().filter_map(Value::as_str).collect();
    for f in &names {
        for msg in is_qualified_name(f) {
            errs.push(FieldError::invalid(path, *f, msg));
        }
    }
    if names.contains(&"orphan") && names.contains(&"foregroundDeletion") {
        errs.push(FieldError::invalid(
            path,
            BadValue::string_list(&names),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msgs(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(FieldError::message).collect()
    }

    #[test]
    fn name_required_and_formatted() {
        let e = validate_meta(&json!({}), false, NameRule::DnsSubdomain);
        assert_eq!(
            msgs(&e),
            ["metadata.name: Required value: name or generateName is required"]
        );
        let e = validate_meta(&json!({"name": "Foo_bar"}), false, NameRule::DnsSubdomain);
        assert_eq!(
            msgs(&e),
            [
                "metadata.name: Invalid value: \"Foo_bar\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ]
        );
        assert!(validate_meta(&json!({"name": "a.b"}), false, NameRule::DnsSubdomain).is_empty());
        let e = validate_meta(&json!({"name": "a.b"}), false, NameRule::DnsLabel);
        assert_eq!(
            msgs(&e),
            ["metadata.name: Invalid value: \"a.b\": must not contain dots"]
        );
    }

    #[test]
    fn generate_name_prefix() {
        assert!(
            validate_meta(
                &json!({"name": "x", "generateName": "web-"}),
                false,
                NameRule::DnsSubdomain
            )
            .is_empty()
        );
        let e = validate_meta(
            &json!({"name": "x", "generateName": "Web-"}),
            false,
            NameRule::DnsSubdomain,
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "metadata.generateName");
        assert_eq!(mask_trailing_dash("ab-"), "aa");
        assert_eq!(mask_trailing_dash("-"), "-");
        assert_eq!(mask_trailing_dash("é-"), "a");
    }

    #[test]
    fn namespace_rules() {
        let e = validate_meta(&json!({"name": "a"}), true, NameRule::DnsSubdomain);
        assert_eq!(msgs(&e), ["metadata.namespace: Required value"]);
        let e = validate_meta(
            &json!({"name": "a", "namespace": "x"}),
            false,
            NameRule::DnsSubdomain,
        );
        assert_eq!(
            msgs(&e),
            ["metadata.namespace: Forbidden: not allowed on this type"]
        );
        let e = validate_meta(
            &json!({"name": "a", "namespace": "Bad"}),
            true,
            NameRule::DnsSubdomain,
        );
        assert_eq!(e[0].field, "metadata.namespace");
    }

    #[test]
    fn labels_and_annotations() {
        let e = validate_meta(
            &json!({"name": "a", "labels": {"ok": "fine", "bad key": "-v"}}),
            false,
            NameRule::DnsSubdomain,
        );
        assert_eq!(e.len(), 2);
        assert!(e.iter().all(|x| x.field == "metadata.labels"));
        assert!(
            e[0].message()
                .starts_with("metadata.labels: Invalid value: \"bad key\": name part must consist")
        );
        assert!(
            e[1].message()
                .starts_with("metadata.labels: Invalid value: \"-v\": a valid label must be")
        );
        // annotation keys are checked lower-cased
        assert!(
            validate_meta(
                &json!({"name": "a", "annotations": {"Example.COM/Key": "v"}}),
                false,
                NameRule::DnsSubdomain
            )
            .is_empty()
        );
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        let e = validate_meta(
            &json!({"name": "a", "annotations": {"k": big}}),
            false,
            NameRule::DnsSubdomain,
        );
        assert_eq!(
            msgs(&e),
            ["metadata.annotations: Too long: may not be more than 262144 bytes"]
        );
        let e = validate_meta(
            &json!({"name": "a", "annotations": {"a/b/c": ""}}),
            false,
            NameRule::DnsSubdomain,
        );
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn owner_references() {
        let e = validate_meta(
            &json!({"name": "a", "ownerReferences": [{"apiVersion": "apps/", "kind": "", "name": "", "uid": ""}]}),
            true,
            NameRule::Any,
        );
        let m = msgs(&e);
        assert!(m.contains(&"metadata.namespace: Required value".to_owned()));
        assert!(m.contains(&"metadata.ownerReferences.apiVersion: Invalid value: \"apps/\": version must not be empty".to_owned()));
        assert!(
            m.contains(
                &"metadata.ownerReferences.kind: Invalid value: \"\": kind must not be empty"
                    .to_owned()
            )
        );
        assert!(m.contains(
            &"metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty".to_owned()
        ));
        let two = json!({"name": "a", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r1", "uid": "1", "controller": true},
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r2", "uid": "2", "controller": true}
        ]});
        let e = validate_meta(&two, false, NameRule::Any);
        assert_eq!(e.len(), 1);
        assert!(e[0].detail.ends_with("for ReplicaSet/r1 and ReplicaSet/r2"));
        let ev = json!({"name": "a", "ownerReferences": [{"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "1"}]});
        assert!(
            validate_meta(&ev, false, NameRule::Any)[0]
                .detail
                .contains("disallowed")
        );
    }

    #[test]
    fn finalizers() {
        assert!(
            validate_meta(
                &json!({"name": "a", "finalizers": ["kubernetes", "example.com/x"]}),
                false,
                NameRule::Any
            )
            .is_empty()
        );
        let e = validate_meta(
            &json!({"name": "a", "finalizers": ["bad finalizer"]}),
            false,
            NameRule::Any,
        );
        assert_eq!(e[0].field, "metadata.finalizers");
        let e = validate_meta(
            &json!({"name": "a", "finalizers": ["orphan", "foregroundDeletion"]}),
            false,
            NameRule::Any,
        );
        assert_eq!(
            msgs(&e),
            [
                "metadata.finalizers: Invalid value: []string{\"orphan\", \"foregroundDeletion\"}: finalizer orphan and foregroundDeletion cannot be both set"
            ]
        );
    }

    #[test]
    fn generation_and_rules() {
        let e = validate_meta(
            &json!({"name": "a", "generation": -1}),
            false,
            NameRule::Any,
        );
        assert_eq!(
            msgs(&e),
            ["metadata.generation: Invalid value: -1: must be greater than or equal to 0"]
        );
        assert_eq!(NameRule::for_kind("", "Service"), NameRule::Dns1035Label);
        assert_eq!(NameRule::for_kind("", "Namespace"), NameRule::DnsLabel);
        assert_eq!(
            NameRule::for_kind("rbac.authorization.k8s.io", "Role"),
            NameRule::PathSegment
        );
        assert_eq!(
            NameRule::for_kind("example.com", "Widget"),
            NameRule::DnsSubdomain
        );
        assert_eq!(
            NameRule::PathSegment.check("..", false),
            ["may not be '..'"]
        );
        assert_eq!(
            NameRule::PathSegment.check("a/b%", false),
            ["may not contain '/'", "may not contain '%'"]
        );
        assert!(
            NameRule::PathSegment
                .check("system:admin", false)
                .is_empty()
        );
        assert!(NameRule::Dns1035Label.check("1svc", false).len() == 1);
    }

    #[test]
    fn object_meta_uses_resource_scope() {
        let res = test_resource();
        let e = validate_object_meta(&res, &json!({"metadata": {"name": "x"}}));
        assert_eq!(msgs(&e), ["metadata.namespace: Required value"]);
        let e = validate_object_meta(&res, &json!({}));
        assert_eq!(e.len(), 2);
    }

    fn test_resource() -> Resource {
        let reg = crate::registry::Registry::builtin();
        let pod = reg.by_kind("v1", "Pod").expect("Pod is built in");
        (*pod).clone()
    }
}
