//! Field ownership on every write: the server side of
//! [`skiff_api::apply`].
//!
//! [`track`] is called by create and by the guaranteed-update write, after
//! admission, with the live object (none for a create) and the object about
//! to be stored, and sets its `metadata.managedFields`: an `Apply` entry for
//! server-side apply, an `Update` entry otherwise. [`apply`] computes the
//! object a server-side apply produces. The manager is the `fieldManager`
//! query parameter or, as in Kubernetes, the User-Agent up to its first `/`
//! (`kubectl-client-side-apply`, `kubectl-edit`, …).

use serde_json::Value;
use skiff_api::apply::{self, Request, Schema, Scope};
use skiff_api::status::ApiError;

use crate::body::{self, PatchType};
use crate::handlers::Ctx;
use crate::objects;

/// Sets `new`'s `metadata.managedFields` for this request's write over `live`.
pub fn track(ctx: &Ctx, live: Option<&Value>, new: &mut Value) -> Result<(), ApiError> {
    let managed = if is_apply(ctx) {
        let config = body::parse(&body::content_type(&ctx.headers), &ctx.body)?;
        let mut out = apply(ctx, live, &config)?;
        out.pointer_mut("/metadata/managedFields").map(Value::take)
    } else {
        // Only the list: the object is not rebuilt on every write.
        let now = objects::now();
        let api_version = api_version(ctx);
        apply::updated_managed_fields(
            &Schema::for_resource(&ctx.res),
            live,
            new,
            &request(ctx, &api_version, &now)?,
        )?
    };
    let meta = objects::meta_mut(new);
    match managed {
        Some(mf) => meta.insert("managedFields".into(), mf),
        None => meta.shift_remove("managedFields"),
    };
    Ok(())
}

/// The object server-side apply of `config` over `live` makes, with its
/// managed fields; a 409 with one cause per field if it would change fields
/// other managers own and `force` is not set.
pub fn apply(ctx: &Ctx, live: Option<&Value>, config: &Value) -> Result<Value, ApiError> {
    let now = objects::now();
    let api_version = api_version(ctx);
    let req = request(ctx, &api_version, &now)?;
    Ok(apply::apply(
        &Schema::for_resource(&ctx.res),
        live,
        config,
        &req,
    )?)
}

fn is_apply(ctx: &Ctx) -> bool {
    matches!(body::patch_type(&ctx.headers), Ok(PatchType::Apply))
}

fn api_version(ctx: &Ctx) -> String {
    ctx.res.api_version()
}

fn request<'a>(ctx: &'a Ctx, api_version: &'a str, now: &'a str) -> Result<Request<'a>, ApiError> {
    let subresource = ctx.target.subresource.as_deref();
    Ok(Request {
        manager: manager(ctx),
        api_version,
        subresource,
        scope: match subresource {
            Some("status") => Scope::Status,
            _ => Scope::Main {
                has_status: ctx.res.has_status(),
            },
        },
        now,
        force: force(ctx)?,
    })
}

/// `fieldManager`, else the program name of the User-Agent.
fn manager(ctx: &Ctx) -> &str {
    ctx.q("fieldManager").unwrap_or_else(|| {
        ctx.headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map_or("", |ua| ua.split('/').next().unwrap_or(ua))
    })
}

/// `force` of an apply, parsed as Go's `strconv.ParseBool`.
fn force(ctx: &Ctx) -> Result<bool, ApiError> {
    match ctx.q("force") {
        None => Ok(false),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(other) => Err(ApiError::bad_request(format!(
            "force: Invalid value: \"{other}\": must be a boolean"
        ))),
    }
}
