//! Core `v1` Events as Kubernetes components write them, so that
//! `kubectl describe` lists them: one builder for every Skiff component
//! (scheduler, node agent, controllers), which then only has to post it.

use serde_json::{Value, json};

/// Who reports an event.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    /// `source.component` and `reportingComponent`, e.g. `kubelet`.
    pub component: &'a str,
    /// `reportingInstance` (and `source.host` for node components).
    pub instance: &'a str,
    /// Whether `instance` is a node name (`source.host`).
    pub on_node: bool,
    /// `action`, if the component names one (`Scheduling`).
    pub action: Option<&'a str>,
}

/// A core/v1 Event about `involved` (an ObjectReference as JSON: apiVersion,
/// kind, namespace, name, uid, resourceVersion, optional fieldPath).
pub fn core_event(
    involved: Value,
    source: Source<'_>,
    type_: &str,
    reason: &str,
    message: &str,
    now: jiff::Timestamp,
) -> Value {
    let stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let namespace = involved["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_owned();
    let name = involved["name"].as_str().unwrap_or("").to_owned();
    let mut src = json!({"component": source.component});
    if source.on_node {
        src["host"] = source.instance.into();
    }
    let mut event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        // Kubernetes names events <object>.<unique hex>.
        "metadata": {"name": format!("{name}.{:x}", now.as_nanosecond()), "namespace": namespace},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": type_,
        "source": src,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "count": 1,
        "reportingComponent": source.component,
        "reportingInstance": source.instance,
    });
    if let Some(a) = source.action {
        event["action"] = a.into();
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_like_kubernetes() {
        let now: jiff::Timestamp = "2026-01-02T03:04:05Z".parse().expect("ts");
        let pod =
            json!({"apiVersion": "v1", "kind": "Pod", "namespace": "ns", "name": "p", "uid": "u"});
        let src = Source {
            component: "kubelet",
            instance: "n1",
            on_node: true,
            action: None,
        };
        let e = core_event(pod, src, "Normal", "Started", "Started container c", now);
        assert_eq!(e["metadata"]["namespace"], "ns");
        assert!(
            e["metadata"]["name"]
                .as_str()
                .expect("name")
                .starts_with("p.")
        );
        assert_eq!(e["source"]["host"], "n1");
        assert_eq!(e["lastTimestamp"], "2026-01-02T03:04:05Z");
        assert!(e.get("action").is_none());
    }
}
