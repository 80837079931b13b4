//! Objects every cluster has from its first start: the system namespaces,
//! the `kubernetes` Service, and the `wasmtime` RuntimeClass.
//!
//! They are created through the same create path as any client's objects
//! (defaulting, validation), and only when missing, so a user's changes to
//! them survive restarts.

use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Value, json};
use skiff_api::status::ApiError;
use skiff_store::Store;

use crate::auth::User;
use crate::handlers::{Ctx, create};
use crate::route::Target;
use crate::state::Api;

fn first_start_objects() -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Value,
)> {
    let ns =
        |name: &str| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    vec![
        ("", "v1", "namespaces", None, ns("default")),
        ("", "v1", "namespaces", None, ns("kube-system")),
        ("", "v1", "namespaces", None, ns("kube-public")),
        ("", "v1", "namespaces", None, ns("kube-node-lease")),
        (
            "",
            "v1",
            "services",
            Some("default"),
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"type": "ClusterIP", "clusterIP": "10.43.0.1", "clusterIPs": ["10.43.0.1"],
                         "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}
            }),
        ),
        (
            "node.k8s.io",
            "v1",
            "runtimeclasses",
            None,
            json!({
                "apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                "metadata": {"name": "wasmtime"}, "handler": "wasmtime"
            }),
        ),
    ]
}

/// Creates the first-start objects that do not exist yet.
pub async fn ensure<S: Store>(api: &Arc<Api<S>>) -> Result<(), ApiError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    for (group, version, resource, namespace, obj) in first_start_objects() {
        let res = api
            .registry()
            .get(group, version, resource)
            .ok_or_else(|| ApiError::internal(format!("{resource} is not a served resource")))?;
        let key = res.object_key(namespace, obj["metadata"]["name"].as_str().unwrap_or(""));
        if api
            .store
            .get(&key)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .is_some()
        {
            continue;
        }
        let ctx = Ctx {
            target: Target {
                group: group.into(),
                version: version.into(),
                namespace: namespace.map(str::to_owned),
                resource: resource.into(),
                name: None,
                subresource: None,
            },
            res,
            query: Default::default(),
            headers: headers.clone(),
            body: Bytes::from(serde_json::to_vec(&obj).unwrap_or_default()),
            user: User {
                name: "system:apiserver".into(),
                uid: String::new(),
                groups: vec!["system:masters".into()],
            },
        };
        match create::create(api, &ctx).await {
            Ok(_) => {}
            Err(e) if e.code() == 409 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
