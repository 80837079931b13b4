//! Resource handlers: one module per verb, all generic over the registry.
//!
//! [`dispatch`] resolves the URL to a [`Resource`], chooses the verb and
//! calls the module that implements it. A custom resource and a Pod take the
//! same path; what differs lives in [`crate::admit`].

mod binding;
pub(crate) mod create;
mod delete;
mod eviction;
mod get;
mod list;
pub mod metrics;
pub mod node_proxy;
mod patch;
mod scale;
mod tokenreview;
mod update;
mod watch;

use std::collections::HashMap;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use serde_json::Value;
use skiff_api::registry::Resource;
use skiff_api::status::ApiError;
use skiff_api::table::Include;
use skiff_store::Store;

use crate::auth::User;
use crate::negotiate::{self, Shape};
use crate::route::{self, Target, Verb};
use crate::state::Api;

/// Everything a verb handler needs to know about its request.
pub struct Ctx {
    /// What the URL addresses.
    pub target: Target,
    /// The resolved resource.
    pub res: Arc<Resource>,
    /// Query parameters (last value wins).
    pub query: HashMap<String, String>,
    /// Request headers.
    pub headers: HeaderMap,
    /// The request body.
    pub body: Bytes,
    /// Who is asking.
    pub user: User,
}

/// How strictly to treat unknown or duplicate fields (`fieldValidation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them and warn.
    Warn,
    /// Refuse the request.
    Strict,
}

impl Ctx {
    /// A query parameter.
    pub fn q(&self, key: &str) -> Option<&str> {
        self.query
            .get(key)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The namespace from the URL.
    pub fn ns(&self) -> Option<&str> {
        self.target.namespace.as_deref()
    }

    /// The object name from the URL ("" for collections).
    pub fn name(&self) -> &str {
        self.target.name.as_deref().unwrap_or("")
    }

    /// `dryRun=All`.
    pub fn dry_run(&self) -> Result<bool, ApiError> {
        match self.q("dryRun") {
            None => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
            ))),
        }
    }

    /// `fieldValidation`, defaulting to Warn as Kubernetes does.
    pub fn field_validation(&self) -> Result<FieldValidation, ApiError> {
        match self.q("fieldValidation") {
            None | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }

    /// The representation asked for.
    pub fn shape(&self) -> Result<Shape, ApiError> {
        negotiate::shape(&self.headers)
    }

    /// `includeObject` of a Table request.
    pub fn include(&self) -> Include {
        match self.q("includeObject") {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        }
    }
}

/// Serves one resource request.
pub async fn dispatch<S: Store>(
    api: Arc<Api<S>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    user: User,
) -> Response {
    match route_and_run(&api, &method, &uri, headers, body, user).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

async fn route_and_run<S: Store>(
    api: &Arc<Api<S>>,
    method: &Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Bytes,
    user: User,
) -> Result<Response, ApiError> {
    let target = route::parse(uri.path()).ok_or_else(ApiError::no_route)?;
    if target.group == "authentication.k8s.io"
        && target.version == "v1"
        && target.resource == "tokenreviews"
        && target.name.is_none()
        && *method == Method::POST
    {
        return tokenreview::create(&api.auth, &user, &body);
    }
    if metrics::handles(&target) {
        // Computed from the nodes on request, not stored: no registry entry.
        let query: HashMap<String, String> = uri
            .query()
            .map(|q| url_pairs(q).collect())
            .unwrap_or_default();
        return metrics::serve(api, method, &target, &query).await;
    }
    let res = api
        .registry()
        .get(&target.group, &target.version, &target.resource)
        .ok_or_else(ApiError::no_route)?;
    if !res.namespaced && target.namespace.is_some() {
        return Err(ApiError::no_route());
    }
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| url_pairs(q).collect())
        .unwrap_or_default();
    let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    let verb = Verb::from_request(method, target.name.is_some(), watch)?;
    let sub = match &target.subresource {
        Some(s) => Some(res.subresource(s).cloned().ok_or_else(ApiError::no_route)?),
        None => None,
    };
    let ctx = Ctx {
        target,
        res,
        query,
        headers,
        body,
        user,
    };
    tracing::debug!(verb = verb.as_str(), resource = %ctx.res.plural, name = ctx.name(), "request");
    use skiff_api::registry::Subresource as Sub;
    match (verb, sub) {
        (Verb::Get, None | Some(Sub::Status)) => get::get(api, &ctx).await,
        (Verb::List, None) => list::list(api, &ctx).await,
        (Verb::Watch, None) => watch::watch(api, &ctx).await,
        (Verb::Create, None) => create::create(api, &ctx).await,
        (Verb::Update, None) => update::update(api, &ctx, update::Part::Main).await,
        (Verb::Update, Some(Sub::Status)) => update::update(api, &ctx, update::Part::Status).await,
        (Verb::Update, Some(Sub::Finalize)) => {
            update::update(api, &ctx, update::Part::Finalize).await
        }
        (Verb::Patch, None) => patch::patch(api, &ctx, update::Part::Main).await,
        (Verb::Patch, Some(Sub::Status)) => patch::patch(api, &ctx, update::Part::Status).await,
        (Verb::Delete, None) => delete::delete(api, &ctx).await,
        (Verb::DeleteCollection, None) => delete::delete_collection(api, &ctx).await,
        (Verb::Get, Some(Sub::Scale(p))) => scale::get(api, &ctx, &p).await,
        (Verb::Update, Some(Sub::Scale(p))) => scale::update(api, &ctx, &p, false).await,
        (Verb::Patch, Some(Sub::Scale(p))) => scale::update(api, &ctx, &p, true).await,
        (Verb::Create, Some(Sub::Binding)) => binding::bind(api, &ctx).await,
        (Verb::Create, Some(Sub::Eviction)) => eviction::evict(api, &ctx).await,
        // The listener hands these to `node_proxy` before reading the body;
        // only a caller that bypasses it (no connection to upgrade) lands here.
        (Verb::Get | Verb::Create, Some(Sub::Log | Sub::Exec | Sub::Attach | Sub::PortForward)) => {
            Err(ApiError::bad_request(format!(
                "pods/{} is proxied to the node agent and needs the HTTPS listener",
                ctx.target.subresource.as_deref().unwrap_or("")
            )))
        }
        (v, _) => Err(ApiError::method_not_allowed(
            v.as_str(),
            &format!(
                "{}{}",
                ctx.res.plural,
                ctx.target
                    .subresource
                    .as_deref()
                    .map(|s| format!("/{s}"))
                    .unwrap_or_default()
            ),
        )),
    }
}

/// Splits a query string into decoded pairs.
pub fn url_pairs(q: &str) -> impl Iterator<Item = (String, String)> + '_ {
    q.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (percent_decode(k), percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// A JSON response.
pub fn json_response(code: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut r = (code, bytes).into_response();
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A `Status` response for an error.
pub fn error_response(e: &ApiError) -> Response {
    let code = StatusCode::from_u16(e.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, &e.to_status())
}

/// Adds `Warning` headers (RFC 7234 code 299, as Kubernetes sends them).
pub fn with_warnings(mut r: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text = format!("299 - {}", serde_json::Value::String(w.clone()));
        if let Ok(v) = HeaderValue::from_str(&text) {
            r.headers_mut().append(http::header::WARNING, v);
        }
    }
    r
}

/// Writes one object in the representation the client asked for.
pub fn object_response(ctx: &Ctx, code: StatusCode, obj: Value) -> Result<Response, ApiError> {
    Ok(match ctx.shape()? {
        Shape::Object => json_response(code, &obj),
        Shape::Table => {
            let now = jiff::Timestamp::now();
            let t = skiff_api::table::table(&ctx.res, &[obj], ctx.include(), now);
            json_response(code, &t)
        }
        Shape::Metadata => json_response(code, &skiff_api::table::partial_metadata(&obj)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        let m: HashMap<String, String> =
            url_pairs("labelSelector=app%3Dweb%2Ctier+in+(a)&watch=1&x").collect();
        assert_eq!(m["labelSelector"], "app=web,tier in (a)");
        assert_eq!(m["watch"], "1");
        assert_eq!(m["x"], "");
        let odd: HashMap<String, String> = url_pairs("a=%zz&b=%4").collect();
        assert_eq!(odd["a"], "%zz");
        assert_eq!(odd["b"], "%4");
    }
}
