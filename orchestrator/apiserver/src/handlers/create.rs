//! `create`: POST to a collection.

use axum::response::Response;
use http::StatusCode;
use rand::Rng;
use serde_json::Value;
use skiff_api::status::ApiError;
use skiff_store::Store;

use super::{Ctx, object_response, with_warnings};
use crate::admit::{admit, check_type};
use crate::state::{Api, store_error};
use crate::{body, kinds, objects};

/// Characters Kubernetes uses for generated name suffixes (no vowels, so no
/// words, and no look-alike digits).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// POST: decode, name, admit, store, answer 201.
pub async fn create<S: Store>(api: &Api<S>, ctx: &Ctx) -> Result<Response, ApiError> {
    let mut obj = body::object(&ctx.headers, &ctx.body)?;
    let (obj, warnings) = prepare_create(api, ctx, &mut obj).await?;
    let created = store_create(api, ctx, obj).await?;
    Ok(with_warnings(
        object_response(ctx, StatusCode::CREATED, created)?,
        &warnings,
    ))
}

/// Everything create does before the store: shared with apply-as-create.
/// Returns the prepared object, moved out of `obj`.
pub async fn prepare_create<S: Store>(
    api: &Api<S>,
    ctx: &Ctx,
    obj: &mut Value,
) -> Result<(Value, Vec<String>), ApiError> {
    let res = &ctx.res;
    check_type(res, obj)?;
    let meta = objects::meta_mut(obj);
    if res.namespaced {
        let url_ns = ctx.ns().unwrap_or("default");
        match meta.get("namespace").and_then(Value::as_str) {
            None | Some("") => {
                meta.insert("namespace".into(), url_ns.into());
            }
            Some(ns) if ns == url_ns => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
    } else {
        meta.remove("namespace");
    }
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if name.is_empty()
        && let Some(prefix) = meta.get("generateName").and_then(Value::as_str)
        && !prefix.is_empty()
    {
        let mut rng = rand::rng();
        let suffix: String = (0..5)
            .map(|_| char::from(SUFFIX_ALPHABET[rng.random_range(0..SUFFIX_ALPHABET.len())]))
            .collect();
        meta.insert("name".into(), format!("{prefix}{suffix}").into());
    }
    // Server-owned metadata: whatever the client sent is replaced.
    meta.insert("uid".into(), uuid::Uuid::new_v4().to_string().into());
    meta.insert("creationTimestamp".into(), objects::now().into());
    meta.insert("generation".into(), 1.into());
    for f in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        meta.remove(f);
    }
    if res.has_status()
        && !keeps_status_on_create(&res.group, &res.kind)
        && let Some(o) = obj.as_object_mut()
    {
        o.remove("status");
    }
    let warnings = admit(res, obj, ctx.field_validation()?)?;
    initial_status(&res.group, &res.kind, obj);
    kinds::prepare(res, obj)?;
    crate::managed::track(ctx, None, obj)?;
    if let Some(ns) = objects::namespace(obj) {
        api.check_namespace(ns).await?;
    }
    // Taken, not copied: both callers go on with the returned object only.
    Ok((std::mem::take(obj), warnings))
}

/// Stores a prepared object (unless dry run) and returns it as stored.
pub async fn store_create<S: Store>(
    api: &Api<S>,
    ctx: &Ctx,
    mut obj: Value,
) -> Result<Value, ApiError> {
    let res = &ctx.res;
    let name = objects::name(&obj).to_owned();
    let key = res.object_key(objects::namespace(&obj), &name);
    let dry_run = ctx.dry_run()?;
    if api
        .store
        .get(&key)
        .await
        .map_err(|e| store_error(res, &name, e))?
        .is_some()
    {
        // Checked first so a duplicate does not consume allocations.
        return Err(ApiError::already_exists(&res.group, &res.plural, &name));
    }
    let reserved = kinds::before_create(api, res, &mut obj, dry_run).await?;
    if dry_run {
        return Ok(obj);
    }
    let kv = match api.store.create(&key, objects::encode(&obj)).await {
        Ok(kv) => kv,
        Err(e) => {
            kinds::abort(api, reserved).await;
            return Err(store_error(res, &name, e));
        }
    };
    objects::set_revision(&mut obj, kv.mod_revision);
    kinds::after_write(api, res, None, &obj).await;
    Ok(obj)
}

/// Kinds whose creator writes the first status (the rest start empty).
fn keeps_status_on_create(group: &str, kind: &str) -> bool {
    matches!((group, kind), ("", "Node"))
}

/// The status Kubernetes gives a new object of some kinds.
fn initial_status(group: &str, kind: &str, obj: &mut Value) {
    match (group, kind) {
        ("", "Pod") => {
            let qos = skiff_api::validation::qos_class(obj);
            obj["status"] = serde_json::json!({"phase": "Pending", "qosClass": qos});
        }
        ("", "Namespace") => {
            obj["status"] = serde_json::json!({"phase": "Active"});
            // Kubernetes' namespace strategy: every new namespace carries
            // the `kubernetes` finalizer the namespace controller removes
            // once the contents are gone.
            let spec = &mut obj["spec"];
            if !spec.is_object() {
                *spec = serde_json::json!({});
            }
            let fin = &mut spec["finalizers"];
            match fin.as_array_mut() {
                Some(list) if list.iter().any(|f| f == "kubernetes") => {}
                Some(list) => list.push("kubernetes".into()),
                None => *fin = serde_json::json!(["kubernetes"]),
            }
        }
        ("", "PersistentVolumeClaim" | "PersistentVolume") => {
            obj["status"] = serde_json::json!({"phase": "Pending"});
        }
        _ => {}
    }
}
