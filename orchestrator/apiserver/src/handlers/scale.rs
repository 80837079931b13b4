//! The `/scale` subresource: an `autoscaling/v1` Scale view of any resource
//! with replicas, driven by the resource's scale paths (so CRDs get it too).

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};
use skiff_api::jsonpath::JsonPath;
use skiff_api::registry::ScalePaths;
use skiff_api::status::ApiError;
use skiff_store::Store;

use super::update::{Part, write};
use super::{Ctx, json_response};
use crate::{body, objects};

fn path(p: &str) -> Result<JsonPath, ApiError> {
    JsonPath::parse(p).map_err(|e| ApiError::internal(format!("bad scale path {p}: {e}")))
}

fn scale_of(obj: &Value, paths: &ScalePaths) -> Result<Value, ApiError> {
    let int_at = |p: &str| -> Result<i64, ApiError> {
        Ok(path(p)?
            .eval(obj)
            .first()
            .and_then(|v| v.as_i64())
            .unwrap_or(0))
    };
    let selector = match &paths.label_selector {
        Some(p) => path(p)?
            .eval(obj)
            .first()
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        None => None,
    };
    let m = objects::meta(obj);
    let mut status = json!({"replicas": int_at(&paths.status_replicas)?});
    if let Some(s) = selector {
        status["selector"] = s.into();
    }
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m.get("name"),
            "namespace": m.get("namespace"),
            "uid": m.get("uid"),
            "resourceVersion": m.get("resourceVersion"),
            "creationTimestamp": m.get("creationTimestamp"),
        },
        "spec": {"replicas": int_at(&paths.spec_replicas)?},
        "status": status,
    }))
}

/// GET /scale.
pub async fn get<S: Store>(
    api: &super::Api<S>,
    ctx: &Ctx,
    paths: &ScalePaths,
) -> Result<Response, ApiError> {
    let (obj, _) = api.read(&ctx.res, ctx.ns(), ctx.name()).await?;
    Ok(json_response(StatusCode::OK, &scale_of(&obj, paths)?))
}

/// PUT or PATCH /scale: changes only the replica count of the object.
pub async fn update<S: Store>(
    api: &super::Api<S>,
    ctx: &Ctx,
    paths: &ScalePaths,
    is_patch: bool,
) -> Result<Response, ApiError> {
    let (current, _) = api.read(&ctx.res, ctx.ns(), ctx.name()).await?;
    let mut scale = scale_of(&current, paths)?;
    let doc = if is_patch {
        let kind = body::patch_type(&ctx.headers)?;
        let mut s = scale.clone();
        match kind {
            body::PatchType::Json => skiff_api::patch::json_patch(&mut s, &ctx.body)
                .map_err(|e| ApiError::bad_request(e.to_string()))?,
            _ => {
                let p = body::parse(&body::content_type(&ctx.headers), &ctx.body)?;
                skiff_api::patch::merge_patch(&mut s, &p);
            }
        }
        s
    } else {
        body::object(&ctx.headers, &ctx.body)?
    };
    let replicas = doc
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            ctx.name(),
            vec![skiff_api::status::Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                field: "spec.replicas".into(),
            }],
        ));
    }
    let precondition = objects::resource_version(&doc)?;
    let spec_path = path(&paths.spec_replicas)?;
    let (obj, _) = write(api, ctx, Part::Main, precondition, |cur| {
        let mut next = cur.clone();
        spec_path
            .set(&mut next, Value::from(replicas))
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(next)
    })
    .await?;
    scale = scale_of(&obj, paths)?;
    Ok(json_response(StatusCode::OK, &scale))
}
