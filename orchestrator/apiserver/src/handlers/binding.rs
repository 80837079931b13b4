//! `pods/binding`: the scheduler's write.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};
use skiff_api::status::ApiError;
use skiff_store::Store;

use super::update::{Part, write};
use super::{Ctx, json_response};
use crate::{body, objects};

/// POST pods/NAME/binding: sets `spec.nodeName` once, as Kubernetes'
/// binding REST does, and records the PodScheduled condition.
pub async fn bind<S: Store>(api: &super::Api<S>, ctx: &Ctx) -> Result<Response, ApiError> {
    let binding = body::object(&ctx.headers, &ctx.body)?;
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("binding target.name is required"))?
        .to_owned();
    let name = ctx.name().to_owned();
    write(api, ctx, Part::Main, None, |pod| {
        let current = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !current.is_empty() {
            return Err(ApiError::conflict(
                "",
                "pods",
                &name,
                &format!("pod {name} is already assigned to node \"{current}\""),
            ));
        }
        if objects::is_deleting(pod) {
            return Err(ApiError::conflict(
                "",
                "pods",
                &name,
                "pod is being deleted, cannot be assigned to a host",
            ));
        }
        let mut next = pod.clone();
        next["spec"]["nodeName"] = node.clone().into();
        Ok(next)
    })
    .await?;
    // The condition is status: written through the status path.
    let now = objects::now();
    write(api, ctx, Part::Status, None, |pod| {
        let mut next = pod.clone();
        let conditions = next["status"]["conditions"].as_array().cloned().unwrap_or_default();
        let mut conditions: Vec<Value> =
            conditions.into_iter().filter(|c| c["type"] != "PodScheduled").collect();
        conditions.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}));
        next["status"]["conditions"] = Value::Array(conditions);
        Ok(next)
    })
    .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}
