//! The one map from a built-in (group, version, kind) to its `k8s-openapi`
//! type, and what the server does with it: a typed round trip.
//!
//! Decoding a request body into its typed struct and serializing it back is
//! how a built-in object is checked for type errors (`replicas: "three"`),
//! how fields the kind does not have are found (for `fieldValidation`), and
//! how unknown fields are dropped — what kube-apiserver's decoder does.

use serde_json::{Map, Value};

/// Calls `$m!(group, version, kind, Type)` once per built-in kind, so every
/// module that needs the type of a kind shares this one list.
#[macro_export]
macro_rules! for_each_builtin_type {
    ($m:ident) => {
        $m!("", "v1", "Namespace", k8s_openapi::api::core::v1::Namespace);
        $m!("", "v1", "Pod", k8s_openapi::api::core::v1::Pod);
        $m!("", "v1", "Service", k8s_openapi::api::core::v1::Service);
        $m!("", "v1", "Endpoints", k8s_openapi::api::core::v1::Endpoints);
        $m!("", "v1", "ConfigMap", k8s_openapi::api::core::v1::ConfigMap);
        $m!("", "v1", "Secret", k8s_openapi::api::core::v1::Secret);
        $m!("", "v1", "ServiceAccount", k8s_openapi::api::core::v1::ServiceAccount);
        $m!("", "v1", "Node", k8s_openapi::api::core::v1::Node);
        $m!("", "v1", "Event", k8s_openapi::api::core::v1::Event);
        $m!("", "v1", "PersistentVolume", k8s_openapi::api::core::v1::PersistentVolume);
        $m!("", "v1", "PersistentVolumeClaim", k8s_openapi::api::core::v1::PersistentVolumeClaim);
        $m!("", "v1", "ResourceQuota", k8s_openapi::api::core::v1::ResourceQuota);
        $m!("", "v1", "LimitRange", k8s_openapi::api::core::v1::LimitRange);
        $m!("", "v1", "ReplicationController", k8s_openapi::api::core::v1::ReplicationController);
        $m!("", "v1", "PodTemplate", k8s_openapi::api::core::v1::PodTemplate);
        $m!("apps", "v1", "Deployment", k8s_openapi::api::apps::v1::Deployment);
        $m!("apps", "v1", "ReplicaSet", k8s_openapi::api::apps::v1::ReplicaSet);
        $m!("apps", "v1", "StatefulSet", k8s_openapi::api::apps::v1::StatefulSet);
        $m!("apps", "v1", "DaemonSet", k8s_openapi::api::apps::v1::DaemonSet);
        $m!("apps", "v1", "ControllerRevision", k8s_openapi::api::apps::v1::ControllerRevision);
        $m!("batch", "v1", "Job", k8s_openapi::api::batch::v1::Job);
        $m!("batch", "v1", "CronJob", k8s_openapi::api::batch::v1::CronJob);
        $m!("autoscaling", "v2", "HorizontalPodAutoscaler", k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler);
        $m!("networking.k8s.io", "v1", "Ingress", k8s_openapi::api::networking::v1::Ingress);
        $m!("networking.k8s.io", "v1", "IngressClass", k8s_openapi::api::networking::v1::IngressClass);
        $m!("networking.k8s.io", "v1", "NetworkPolicy", k8s_openapi::api::networking::v1::NetworkPolicy);
        $m!("discovery.k8s.io", "v1", "EndpointSlice", k8s_openapi::api::discovery::v1::EndpointSlice);
        $m!("coordination.k8s.io", "v1", "Lease", k8s_openapi::api::coordination::v1::Lease);
        $m!("node.k8s.io", "v1", "RuntimeClass", k8s_openapi::api::node::v1::RuntimeClass);
        $m!("storage.k8s.io", "v1", "StorageClass", k8s_openapi::api::storage::v1::StorageClass);
        $m!("rbac.authorization.k8s.io", "v1", "Role", k8s_openapi::api::rbac::v1::Role);
        $m!("rbac.authorization.k8s.io", "v1", "RoleBinding", k8s_openapi::api::rbac::v1::RoleBinding);
        $m!("rbac.authorization.k8s.io", "v1", "ClusterRole", k8s_openapi::api::rbac::v1::ClusterRole);
        $m!("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", k8s_openapi::api::rbac::v1::ClusterRoleBinding);
        $m!("events.k8s.io", "v1", "Event", k8s_openapi::api::events::v1::Event);
        $m!("policy", "v1", "PodDisruptionBudget", k8s_openapi::api::policy::v1::PodDisruptionBudget);
        $m!("apiextensions.k8s.io", "v1", "CustomResourceDefinition", k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition);
        $m!("autoscaling", "v1", "Scale", k8s_openapi::api::autoscaling::v1::Scale);
        $m!("", "v1", "Binding", k8s_openapi::api::core::v1::Binding);
        $m!("policy", "v1", "Eviction", k8s_openapi::api::policy::v1::Eviction);
    };
}

/// Why a typed round trip refused an object.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} in version \"{version}\" cannot be handled as a {kind}: {detail}")]
pub struct TypeError {
    /// Kind.
    pub kind: String,
    /// Version.
    pub version: String,
    /// The decoder's message.
    pub detail: String,
}

/// Decodes `obj` as the built-in type of (group, version, kind) and encodes
/// it back. `None` when the kind is not a built-in (custom resources).
pub fn round_trip(
    group: &str,
    version: &str,
    kind: &str,
    obj: &Value,
) -> Option<Result<Value, TypeError>> {
    macro_rules! try_type {
        ($g:literal, $v:literal, $k:literal, $t:ty) => {
            if group == $g && version == $v && kind == $k {
                let typed: Result<$t, _> = serde_json::from_value(obj.clone());
                return Some(
                    typed
                        .and_then(|t| serde_json::to_value(t))
                        .map_err(|e| TypeError {
                            kind: kind.to_owned(),
                            version: version.to_owned(),
                            detail: e.to_string(),
                        }),
                );
            }
        };
    }
    for_each_builtin_type!(try_type);
    None
}

/// Paths of fields present (and not null) in `original` but absent from
/// `normalized`: the fields the kind does not have.
pub fn unknown_fields(original: &Value, normalized: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(original, normalized, String::new(), &mut out);
    out
}

fn walk(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => walk_map(a, b, &path, out),
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(x, y, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn walk_map(a: &Map<String, Value>, b: &Map<String, Value>, path: &str, out: &mut Vec<String>) {
    for (k, v) in a {
        let p = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        match b.get(k) {
            Some(w) => walk(v, w, p, out),
            None if v.is_null() => {}
            // Empty maps and lists may be omitted by the typed encoder.
            None if v.as_object().is_some_and(Map::is_empty)
                || v.as_array().is_some_and(Vec::is_empty) => {}
            None => out.push(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_drops_and_reports_unknown_fields() {
        let obj = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "bogus": 1},
            "data": {"a": "b"}, "extra": {"x": true}
        });
        let out = round_trip("", "v1", "ConfigMap", &obj)
            .expect("built-in")
            .expect("valid");
        assert!(out.get("extra").is_none());
        assert_eq!(unknown_fields(&obj, &out), ["metadata.bogus", "extra"]);
    }

    #[test]
    fn type_errors_read_like_kubernetes() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d"}, "spec": {"replicas": "three"}});
        let err = round_trip("apps", "v1", "Deployment", &obj)
            .expect("built-in")
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Deployment in version \"v1\" cannot be handled as a Deployment")
        );
        assert!(round_trip("example.com", "v1", "Widget", &obj).is_none());
    }
}
