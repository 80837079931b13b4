//! Which fields each kind can be selected by (`fieldSelector`), and their
//! values — Kubernetes' per-kind `GetAttrs`/field label conversion.
//!
//! A field Kubernetes does not index for a kind is refused with
//! `field label not supported`, so a selector never silently matches
//! everything.

use serde_json::Value;

use crate::registry::Resource;

/// The value of `field` on `obj` for selection, `None` if the kind does not
/// support selecting by it. Missing fields select as "" (so
/// `spec.nodeName=` finds unscheduled pods, as in Kubernetes).
pub fn field_value(res: &Resource, obj: &Value, field: &str) -> Option<String> {
    let at = |p: &str| -> String {
        match obj.pointer(p) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        }
    };
    match field {
        "metadata.name" => return Some(at("/metadata/name")),
        "metadata.namespace" if res.namespaced => return Some(at("/metadata/namespace")),
        _ => {}
    }
    let path = match (res.group.as_str(), res.kind.as_str(), field) {
        (
            "",
            "Pod",
            "spec.nodeName"
            | "spec.restartPolicy"
            | "spec.schedulerName"
            | "spec.serviceAccountName"
            | "spec.hostNetwork"
            | "status.phase"
            | "status.podIP"
            | "status.nominatedNodeName",
        ) => field,
        (
            "",
            "Event",
            "involvedObject.kind"
            | "involvedObject.namespace"
            | "involvedObject.name"
            | "involvedObject.uid"
            | "involvedObject.apiVersion"
            | "involvedObject.resourceVersion"
            | "involvedObject.fieldPath"
            | "reason"
            | "reportingComponent"
            | "source"
            | "type",
        ) => {
            if field == "source" {
                "source.component"
            } else {
                field
            }
        }
        (
            "events.k8s.io",
            "Event",
            "regarding.kind"
            | "regarding.namespace"
            | "regarding.name"
            | "regarding.uid"
            | "reason"
            | "type"
            | "reportingController",
        ) => field,
        ("", "Secret", "type") => field,
        ("", "Node", "spec.unschedulable") => field,
        ("", "Namespace", "status.phase") => field,
        ("", "ReplicationController", "status.replicas") => field,
        ("apps", "ReplicaSet", "status.replicas") => field,
        ("batch", "Job", "status.successful") => field,
        _ => return None,
    };
    let pointer = format!("/{}", path.replace('.', "/"));
    let v = at(&pointer);
    // Booleans and counters select by their text; absent ones as false/0.
    Some(match (field, v.as_str()) {
        ("spec.unschedulable" | "spec.hostNetwork", "") => "false".into(),
        ("status.replicas" | "status.successful", "") => "0".into(),
        _ => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use serde_json::json;

    #[test]
    fn pod_fields_and_unsupported_ones() {
        let reg = Registry::builtin();
        let pods = reg.get("", "v1", "pods").expect("pods");
        let pod =
            json!({"metadata": {"name": "p", "namespace": "d"}, "status": {"phase": "Running"}});
        assert_eq!(
            field_value(&pods, &pod, "status.phase").as_deref(),
            Some("Running")
        );
        assert_eq!(
            field_value(&pods, &pod, "spec.nodeName").as_deref(),
            Some("")
        );
        assert_eq!(
            field_value(&pods, &pod, "metadata.namespace").as_deref(),
            Some("d")
        );
        assert_eq!(field_value(&pods, &pod, "spec.containers"), None);
        let nodes = reg.get("", "v1", "nodes").expect("nodes");
        assert_eq!(
            field_value(&nodes, &json!({}), "spec.unschedulable").as_deref(),
            Some("false")
        );
        assert_eq!(field_value(&nodes, &json!({}), "metadata.namespace"), None);
    }
}
