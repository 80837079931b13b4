//! Core `v1` Events about pods, as `kubectl describe` lists them.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

/// Posts an Event about `pod` from `default-scheduler`, stamped `now`;
/// failures are logged, never fatal (events are best effort in Kubernetes
/// too).
pub async fn record(
    client: &Client,
    pod: &Pod,
    now: jiff::Timestamp,
    type_: &str,
    reason: &str,
    message: &str,
) {
    let ns = pod.namespace().unwrap_or_else(|| "default".into());
    let involved = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "namespace": ns,
        "name": pod.name_any(),
        "uid": pod.uid(),
        "resourceVersion": pod.resource_version(),
    });
    let source = skiff_api::events::Source {
        component: crate::DEFAULT_SCHEDULER,
        instance: crate::DEFAULT_SCHEDULER,
        on_node: false,
        action: Some("Scheduling"),
    };
    let event = skiff_api::events::core_event(involved, source, type_, reason, message, now);
    let api = Api::<k8s_openapi::api::core::v1::Event>::namespaced(client.clone(), &ns);
    let event = match serde_json::from_value(event) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "building an event");
            return;
        }
    };
    if let Err(e) = api.create(&PostParams::default(), &event).await {
        tracing::warn!(error = %e, %reason, "posting an event");
    }
}
