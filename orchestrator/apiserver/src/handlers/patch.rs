//! `patch`: JSON patch, merge patch, strategic merge patch and server-side
//! apply, each ending in the same guaranteed-update write as PUT.

use axum::response::Response;
use http::StatusCode;
use serde_json::Value;
use skiff_api::patch::{self, PatchMeta};
use skiff_api::registry::Origin;
use skiff_api::status::ApiError;
use skiff_store::Store;

use super::update::{Part, write};
use super::{Ctx, create, object_response, with_warnings};
use crate::body::{self, PatchType};
use crate::{managed, objects};

/// PATCH.
pub async fn patch<S: Store>(
    api: &super::Api<S>,
    ctx: &Ctx,
    part: Part,
) -> Result<Response, ApiError> {
    let kind = body::patch_type(&ctx.headers)?;
    let res = &ctx.res;
    if kind == PatchType::Strategic && matches!(res.origin, Origin::Custom { .. }) {
        return Err(ApiError::unsupported_media_type(
            "application/strategic-merge-patch+json is not supported for custom resources",
        ));
    }
    let ct = body::content_type(&ctx.headers);
    let patch_doc: Value = match kind {
        // A JSON patch is applied from its raw bytes (it is a list).
        PatchType::Json => Value::Null,
        _ => body::parse(&ct, &ctx.body)?,
    };
    if kind != PatchType::Json && !patch_doc.is_object() {
        return Err(ApiError::bad_request("the patch must be a JSON object"));
    }
    if kind == PatchType::Apply {
        return apply(api, ctx, part, patch_doc).await;
    }
    let precondition = objects::resource_version(&patch_doc).unwrap_or(None);
    let meta = PatchMeta::for_kind(&res.group, &res.kind);
    let (obj, warnings) = write(api, ctx, part, precondition, |current| {
        apply_patch(kind, current, &ctx.body, &patch_doc, &meta)
    })
    .await?;
    Ok(with_warnings(
        object_response(ctx, StatusCode::OK, obj)?,
        &warnings,
    ))
}

fn apply_patch(
    kind: PatchType,
    current: &Value,
    raw: &[u8],
    doc: &Value,
    meta: &PatchMeta,
) -> Result<Value, ApiError> {
    let invalid = |e: patch::PatchError| {
        let reason = match e.status_code() {
            400 => skiff_api::status::Reason::BadRequest,
            _ => skiff_api::status::Reason::Invalid,
        };
        ApiError::new(reason, e.to_string())
    };
    match kind {
        PatchType::Json => {
            let mut out = current.clone();
            patch::json_patch(&mut out, raw).map_err(invalid)?;
            Ok(out)
        }
        PatchType::Merge => {
            let mut out = current.clone();
            patch::merge_patch(&mut out, doc);
            Ok(out)
        }
        PatchType::Strategic | PatchType::Apply => {
            patch::strategic_merge(current, doc, meta).map_err(invalid)
        }
    }
}

/// Server-side apply: the applied configuration is created if the object
/// does not exist, and otherwise merged into it with field ownership and
/// conflicts ([`crate::managed`], [`skiff_api::apply`]); `force=true` takes
/// conflicting fields over.
async fn apply<S: Store>(
    api: &super::Api<S>,
    ctx: &Ctx,
    part: Part,
    mut doc: Value,
) -> Result<Response, ApiError> {
    if ctx.q("fieldManager").is_none() {
        return Err(ApiError::bad_request(
            "PATCH requests using the application/apply-patch+yaml content type require the fieldManager query parameter",
        ));
    }
    let res = &ctx.res;
    let key = res.object_key(ctx.ns(), ctx.name());
    let exists = api
        .store
        .get(&key)
        .await
        .map_err(|e| crate::state::store_error(res, ctx.name(), e))?
        .is_some();
    if !exists && part == Part::Main {
        let n = objects::name(&doc);
        if !n.is_empty() && n != ctx.name() {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({})",
                ctx.name()
            )));
        }
        objects::meta_mut(&mut doc).insert("name".into(), ctx.name().into());
        // Managed fields are set by the create path's hook.
        let (obj, warnings) = create::prepare_create(api, ctx, &mut doc).await?;
        let created = create::store_create(api, ctx, obj).await?;
        return Ok(with_warnings(
            object_response(ctx, StatusCode::CREATED, created)?,
            &warnings,
        ));
    }
    let precondition = objects::resource_version(&doc).unwrap_or(None);
    let (obj, warnings) = write(api, ctx, part, precondition, |current| {
        managed::apply(ctx, Some(current), &doc)
    })
    .await?;
    Ok(with_warnings(
        object_response(ctx, StatusCode::OK, obj)?,
        &warnings,
    ))
}
