//! `update`: PUT of a whole object, of its status, or a namespace's
//! finalizers; also the write path that patch ends in.
//!
//! This is Kubernetes' "guaranteed update": read, compute the new object
//! from the current one, carry over what the client may not change, admit,
//! and compare-and-swap; when the client named no resourceVersion a lost
//! race is retried rather than reported.

use axum::response::Response;
use http::StatusCode;
use serde_json::Value;
use skiff_api::status::ApiError;
use skiff_store::{Store, StoreError};

use super::{Ctx, object_response, with_warnings};
use crate::admit::{admit, check_type};
use crate::state::{Api, store_error};
use crate::{body, kinds, objects};

/// Which part of the object a write may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Everything but status (when status is a subresource) and server fields.
    Main,
    /// Only `.status`.
    Status,
    /// Only a namespace's `spec.finalizers`.
    Finalize,
    /// As `Main`, but `deletionTimestamp` and `deletionGracePeriodSeconds`
    /// come from the new object: the delete handler's write.
    Delete,
}

/// How many times a write without a precondition retries a lost race.
const RETRIES: usize = 16;

/// PUT.
pub async fn update<S: Store>(api: &Api<S>, ctx: &Ctx, part: Part) -> Result<Response, ApiError> {
    let mut new = body::object(&ctx.headers, &ctx.body)?;
    check_type(&ctx.res, &mut new)?;
    let body_name = objects::name(&new);
    if !body_name.is_empty() && body_name != ctx.name() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            ctx.name()
        )));
    }
    let precondition = objects::resource_version(&new)?;
    let (obj, warnings) = write(api, ctx, part, precondition, |_| Ok(new.clone())).await?;
    Ok(with_warnings(
        object_response(ctx, StatusCode::OK, obj)?,
        &warnings,
    ))
}

/// Reads the current object, computes the new one with `f`, and stores it.
///
/// `precondition` is the resourceVersion the client based its change on:
/// if set, a mismatch is a 409; if not, a concurrent change is retried.
pub async fn write<S: Store>(
    api: &Api<S>,
    ctx: &Ctx,
    part: Part,
    precondition: Option<u64>,
    f: impl Fn(&Value) -> Result<Value, ApiError>,
) -> Result<(Value, Vec<String>), ApiError> {
    let res = &ctx.res;
    let name = ctx.name();
    for _ in 0..RETRIES {
        let (current, kv) = api.read(res, ctx.ns(), name).await?;
        if let Some(rv) = precondition
            && rv != kv.mod_revision
        {
            return Err(ApiError::conflict(
                &res.group,
                &res.plural,
                name,
                ApiError::MODIFIED,
            ));
        }
        let mut new = f(&current)?;
        // A JSON patch may replace the whole document with anything.
        if !new.is_object() {
            return Err(ApiError::bad_request(
                "the patched object must be a JSON object",
            ));
        }
        check_type(res, &mut new)?;
        let mut new = merge_server_fields(res, &current, new, part);
        let warnings = admit(res, &mut new, ctx.field_validation()?)?;
        kinds::prepare(res, &mut new)?;
        crate::managed::track(ctx, Some(&current), &mut new)?;
        objects::set_revision(&mut new, kv.mod_revision);
        if new == current {
            return Ok((new, warnings));
        }
        let dry_run = ctx.dry_run()?;
        let reserved = kinds::before_update(api, res, &current, &mut new, dry_run).await?;
        if dry_run {
            return Ok((new, warnings));
        }
        // The last finalizer is gone from an object being deleted: it goes,
        // unless it is in its grace period (a pod its node is stopping).
        let finished = objects::is_deleting(&new)
            && objects::finalizers(&new).is_empty()
            && objects::meta(&new)
                .get("deletionGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                == 0
            && !(res.kind == "Namespace" && has_spec_finalizers(&new));
        let key = res.object_key(ctx.ns(), name);
        let result = if finished {
            kinds::before_delete(api, res, &new).await;
            api.store
                .delete(&key, Some(kv.mod_revision))
                .await
                .map(|kv| kv.mod_revision)
        } else {
            api.store
                .update(&key, objects::encode(&new), Some(kv.mod_revision))
                .await
                .map(|kv| kv.mod_revision)
        };
        match result {
            Ok(rev) => {
                objects::set_revision(&mut new, rev);
                if finished {
                    kinds::after_delete(api, res, &new).await;
                } else {
                    kinds::after_write(api, res, Some(&current), &new).await;
                }
                return Ok((new, warnings));
            }
            Err(StoreError::Conflict { .. }) if precondition.is_none() => {
                kinds::abort(api, reserved).await;
                continue;
            }
            Err(e) => {
                kinds::abort(api, reserved).await;
                return Err(store_error(res, name, e));
            }
        }
    }
    Err(ApiError::conflict(
        &res.group,
        &res.plural,
        name,
        "the object is changing too fast; try again",
    ))
}

fn has_spec_finalizers(ns: &Value) -> bool {
    ns.pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

/// Builds the object to store from the current one and the client's, so
/// that a client can change only what it owns: server metadata always comes
/// from the current object; status and spec depend on the subresource.
pub fn merge_server_fields(
    res: &skiff_api::registry::Resource,
    current: &Value,
    mut new: Value,
    part: Part,
) -> Value {
    match part {
        Part::Status => {
            let mut out = current.clone();
            match new.get_mut("status").map(Value::take) {
                Some(s) => out["status"] = s,
                None => {
                    if let Some(o) = out.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
            return out;
        }
        Part::Finalize => {
            let mut out = current.clone();
            out["spec"]["finalizers"] = new
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or(Value::Array(vec![]));
            return out;
        }
        Part::Main | Part::Delete => {}
    }
    // A delete may set status (a namespace's `Terminating` phase); other
    // main-resource writes never change it.
    if res.has_status() && part != Part::Delete {
        match current.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("status");
                }
            }
        }
    }
    let cur = objects::meta(current);
    let meta = objects::meta_mut(&mut new);
    for f in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        if part == Part::Delete && f.starts_with("deletion") {
            continue;
        }
        match cur.get(f) {
            Some(v) => meta.insert(f.into(), v.clone()),
            None => meta.remove(f),
        };
    }
    // generation counts changes of the desired state: everything but
    // metadata and status.
    let changed = spec_of(current) != spec_of(&new);
    if changed {
        let gen_now = objects::meta(current)
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        objects::meta_mut(&mut new).insert("generation".into(), (gen_now + 1).into());
    }
    new
}

fn spec_of(obj: &Value) -> Vec<(&String, &Value)> {
    obj.as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                })
                .collect()
        })
        .unwrap_or_default()
}
