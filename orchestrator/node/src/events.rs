//! Core `v1` Events about pods from the node agent (source `kubelet`), as
//! `kubectl describe pod` lists them.

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

/// Posts an Event about `pod` (and, with `container`, the field path of
/// that container); failures are logged, never fatal.
pub async fn record(
    client: &Client,
    node: &str,
    pod: &Pod,
    container: Option<&str>,
    type_: &str,
    reason: &str,
    message: &str,
) {
    let ns = pod.namespace().unwrap_or_else(|| "default".into());
    let mut involved = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "namespace": ns,
        "name": pod.name_any(),
        "uid": pod.uid(),
        "resourceVersion": pod.resource_version(),
    });
    if let Some(c) = container {
        involved["fieldPath"] = format!("spec.containers{{{c}}}").into();
    }
    let source = skiff_api::events::Source {
        component: "kubelet",
        instance: node,
        on_node: true,
        action: None,
    };
    let event = skiff_api::events::core_event(
        involved,
        source,
        type_,
        reason,
        message,
        jiff::Timestamp::now(),
    );
    let event: Event = match serde_json::from_value(event) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "building an event");
            return;
        }
    };
    if let Err(e) = Api::<Event>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &event)
        .await
    {
        tracing::warn!(error = %e, %reason, "posting an event");
    }
}
