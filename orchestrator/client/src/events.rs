//! Posting core/v1 Events about any object, best effort as in Kubernetes:
//! a failed post is logged, never fatal to the component that reports it.

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

/// `Normal` or `Warning`, the two event types Kubernetes knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    /// Routine progress.
    Normal,
    /// Something the user should look at.
    Warning,
}

impl Type {
    fn as_str(self) -> &'static str {
        match self {
            Type::Normal => "Normal",
            Type::Warning => "Warning",
        }
    }
}

/// Records events on behalf of one component instance.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    component: String,
    instance: String,
    on_node: bool,
    action: Option<String>,
}

impl Recorder {
    /// A recorder for `component` (e.g. `replicaset-controller`), running as
    /// `instance`.
    pub fn new(client: Client, component: &str, instance: &str) -> Self {
        Recorder {
            client,
            component: component.to_owned(),
            instance: instance.to_owned(),
            on_node: false,
            action: None,
        }
    }

    /// Marks `instance` as a node name (`source.host`), as the kubelet does.
    pub fn on_node(mut self) -> Self {
        self.on_node = true;
        self
    }

    /// Sets the `action` every event carries (`Scheduling` for the scheduler).
    pub fn with_action(mut self, action: &str) -> Self {
        self.action = Some(action.to_owned());
        self
    }

    /// Posts an event about `obj`; `field_path` points into it
    /// (`spec.containers{web}`).
    pub async fn record<K>(
        &self,
        obj: &K,
        field_path: Option<&str>,
        type_: Type,
        reason: &str,
        message: &str,
    ) where
        K: Resource<DynamicType = ()>,
    {
        self.record_at(
            obj,
            field_path,
            type_,
            reason,
            message,
            jiff::Timestamp::now(),
        )
        .await;
    }

    /// [`Recorder::record`] stamped `at`, for a reporter that must order
    /// its event before another component's (the scheduler's `Scheduled`
    /// before the kubelet's `Pulling`).
    pub async fn record_at<K>(
        &self,
        obj: &K,
        field_path: Option<&str>,
        type_: Type,
        reason: &str,
        message: &str,
        at: jiff::Timestamp,
    ) where
        K: Resource<DynamicType = ()>,
    {
        let ns = obj.namespace().unwrap_or_else(|| "default".into());
        let mut involved = json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "name": obj.name_any(),
            "uid": obj.uid(),
            "resourceVersion": obj.resource_version(),
        });
        if let Some(n) = obj.namespace() {
            involved["namespace"] = n.into();
        }
        if let Some(f) = field_path {
            involved["fieldPath"] = f.into();
        }
        let source = skiff_api::events::Source {
            component: &self.component,
            instance: &self.instance,
            on_node: self.on_node,
            action: self.action.as_deref(),
        };
        let event =
            skiff_api::events::core_event(involved, source, type_.as_str(), reason, message, at);
        let event: Event = match serde_json::from_value(event) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "building an event");
                return;
            }
        };
        if let Err(e) = Api::<Event>::namespaced(self.client.clone(), &ns)
            .create(&PostParams::default(), &event)
            .await
        {
            tracing::debug!(error = %e, %reason, "posting an event");
        }
    }
}
