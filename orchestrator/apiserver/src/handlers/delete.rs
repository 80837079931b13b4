//! `delete` and `deletecollection` (`pods/eviction` ends here too, see
//! [`super::eviction`]).
//!
//! An object with finalizers is not removed: it gets a deletionTimestamp and
//! waits for its finalizers to go (the last update removes it, see
//! [`super::update`]). A pod on a node is deleted gracefully: the node agent
//! stops it and then deletes it with grace 0.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};
use skiff_api::status::ApiError;
use skiff_store::{ListOptions, Store};

use super::update::{Part, write};
use super::{Ctx, json_response, list};
use crate::state::{Api, store_error};
use crate::{body, kinds, objects};

/// DeleteOptions from the body and query.
#[derive(Debug, Default)]
pub(super) struct Options {
    pub(super) grace: Option<i64>,
    pub(super) uid: Option<String>,
    pub(super) resource_version: Option<String>,
    pub(super) propagation: Option<String>,
}

fn options(ctx: &Ctx) -> Result<Options, ApiError> {
    let mut o = Options::default();
    if !ctx.body.is_empty() {
        let b = body::parse(&body::content_type(&ctx.headers), &ctx.body)?;
        o.grace = b.get("gracePeriodSeconds").and_then(Value::as_i64);
        o.uid = b
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_owned);
        o.resource_version = b
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned);
        o.propagation = b
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if b.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
            o.propagation = Some("Orphan".into());
        }
    }
    if let Some(g) = ctx.q("gracePeriodSeconds") {
        o.grace = Some(
            g.parse()
                .map_err(|_| ApiError::bad_request("gracePeriodSeconds must be an integer"))?,
        );
    }
    if let Some(p) = ctx.q("propagationPolicy") {
        o.propagation = Some(p.to_owned());
    }
    match o.propagation.as_deref() {
        None | Some("Background" | "Foreground" | "Orphan") => Ok(o),
        Some(p) => Err(ApiError::bad_request(format!(
            "propagationPolicy: Unsupported value: \"{p}\": supported values: \"Background\", \"Foreground\", \"Orphan\""
        ))),
    }
}

/// DELETE of one object.
pub async fn delete<S: Store>(api: &Api<S>, ctx: &Ctx) -> Result<Response, ApiError> {
    let opts = options(ctx)?;
    let obj = delete_one(api, ctx, ctx.name(), &opts).await?;
    Ok(json_response(StatusCode::OK, &obj))
}

/// DELETE of a collection: each selected object as if deleted one by one.
pub async fn delete_collection<S: Store>(api: &Api<S>, ctx: &Ctx) -> Result<Response, ApiError> {
    let opts = options(ctx)?;
    let filter = list::Filter::from_ctx(ctx)?;
    let res = &ctx.res;
    let page = api
        .store
        .list(&res.collection_key(ctx.ns()), ListOptions::default())
        .await
        .map_err(|e| store_error(res, "", e))?;
    let mut deleted = Vec::new();
    for kv in &page.items {
        let obj = objects::decode(kv)?;
        if !filter.matches(res, &obj) {
            continue;
        }
        let name = objects::name(&obj).to_owned();
        match delete_one(api, ctx, &name, &opts).await {
            Ok(o) => deleted.push(o),
            Err(e) if e.code() == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "kind": res.list_kind(),
            "apiVersion": res.api_version(),
            "metadata": {"resourceVersion": api.store.current_revision().to_string()},
            "items": deleted,
        }),
    ))
}

pub(super) async fn delete_one<S: Store>(
    api: &Api<S>,
    ctx: &Ctx,
    name: &str,
    opts: &Options,
) -> Result<Value, ApiError> {
    // The delete is a compare-and-swap on what was just read; a concurrent
    // writer (the scheduler noting a pod unschedulable, a status update)
    // makes it conflict. Like Kubernetes' GuaranteedUpdate, read again and
    // retry, re-checking the caller's preconditions each time, rather than
    // hand the caller a 409 it did not ask for.
    let mut attempts = 0;
    loop {
        match delete_once(api, ctx, name, opts).await {
            Err(e) if e.code() == 409 && attempts < CONFLICT_RETRIES => attempts += 1,
            done => return done,
        }
    }
}

/// How often a delete that lost a race is tried again.
const CONFLICT_RETRIES: u32 = 5;

async fn delete_once<S: Store>(
    api: &Api<S>,
    ctx: &Ctx,
    name: &str,
    opts: &Options,
) -> Result<Value, ApiError> {
    let res = &ctx.res;
    let (current, kv) = api.read(res, ctx.ns(), name).await?;
    let meta = objects::meta(&current);
    if let Some(uid) = &opts.uid {
        let actual = meta.get("uid").and_then(Value::as_str).unwrap_or("");
        if uid != actual {
            return Err(ApiError::conflict(
                &res.group,
                &res.plural,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                ),
            ));
        }
    }
    if let Some(rv) = &opts.resource_version
        && *rv != kv.mod_revision.to_string()
    {
        return Err(ApiError::conflict(
            &res.group,
            &res.plural,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                kv.mod_revision
            ),
        ));
    }
    let dry_run = ctx.dry_run()?;
    let mut finalizers = objects::finalizers(&current);
    match opts.propagation.as_deref() {
        Some("Foreground") => add(&mut finalizers, "foregroundDeletion"),
        Some("Orphan") => add(&mut finalizers, "orphan"),
        _ => {}
    }
    let grace = graceful_period(res.kind.as_str(), &current, opts.grace);
    // A namespace waits for its `kubernetes` finalizer (the namespace
    // controller empties it first); one without goes at once.
    let is_namespace = res.group.is_empty()
        && res.kind == "Namespace"
        && current
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
    let sub_ctx = Ctx {
        target: crate::route::Target {
            name: Some(name.to_owned()),
            ..ctx.target.clone()
        },
        res: ctx.res.clone(),
        query: ctx.query.clone(),
        headers: http::HeaderMap::new(),
        body: bytes::Bytes::new(),
        user: ctx.user.clone(),
    };
    if !finalizers.is_empty() || grace > 0 || is_namespace {
        // Mark for deletion; finalizers, the node agent or the namespace
        // controller finish it.
        let (obj, _) = write(api, &sub_ctx, Part::Delete, None, |cur| {
            let mut next = cur.clone();
            let m = objects::meta_mut(&mut next);
            if !m.contains_key("deletionTimestamp") {
                let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(grace.max(0));
                m.insert(
                    "deletionTimestamp".into(),
                    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string().into(),
                );
                m.insert("deletionGracePeriodSeconds".into(), grace.max(0).into());
            }
            m.insert("finalizers".into(), json!(finalizers.clone()));
            if m.get("finalizers")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
            {
                m.remove("finalizers");
            }
            if is_namespace {
                next["status"]["phase"] = "Terminating".into();
            }
            Ok(next)
        })
        .await?;
        return Ok(obj);
    }
    if dry_run {
        return Ok(current);
    }
    kinds::before_delete(api, res, &current).await;
    let gone = api
        .store
        .delete(&kv.key, Some(kv.mod_revision))
        .await
        .map_err(|e| store_error(res, name, e))?;
    let mut obj = current;
    objects::set_revision(&mut obj, gone.mod_revision);
    kinds::after_delete(api, res, &obj).await;
    Ok(obj)
}

fn add(list: &mut Vec<String>, f: &str) {
    if !list.iter().any(|x| x == f) {
        list.push(f.to_owned());
    }
}

/// Seconds a pod on a node gets to stop; everything else goes at once.
fn graceful_period(kind: &str, obj: &Value, asked: Option<i64>) -> i64 {
    if kind != "Pod"
        || obj
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
    {
        return 0;
    }
    // A pod that already finished needs no grace.
    if matches!(
        obj.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    ) {
        return 0;
    }
    asked.unwrap_or_else(|| {
        obj.pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(30)
    })
}
