//! `list`: a consistent, filtered, paged read of a collection.
//!
//! Pages are cut from one store snapshot: the continue token carries the
//! snapshot's revision and the last key served, and the next page reads the
//! same snapshot (or answers 410 once the store no longer keeps it, as
//! Kubernetes does after compaction).

use axum::response::Response;
use base64::Engine;
use http::StatusCode;
use serde_json::{Value, json};
use skiff_api::fields::field_value;
use skiff_api::registry::Resource;
use skiff_api::selector::{FieldSelector, LabelSelector};
use skiff_api::status::{ApiError, Reason};
use skiff_store::{KeyValue, ListOptions, Revision, Store};

use super::{Ctx, json_response};
use crate::negotiate::Shape;
use crate::objects;
use crate::state::{Api, store_error};

/// Label and field selectors of a request.
pub struct Filter {
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

impl Filter {
    /// Parses `labelSelector` and `fieldSelector`, refusing fields the kind
    /// cannot be selected by.
    pub fn from_ctx(ctx: &Ctx) -> Result<Filter, ApiError> {
        let labels = ctx
            .q("labelSelector")
            .map(LabelSelector::parse)
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
        let fields = ctx
            .q("fieldSelector")
            .map(FieldSelector::parse)
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("invalid field selector: {e}")))?;
        if let Some(f) = &fields {
            let probe = json!({});
            for field in f.requirements().iter().map(|r| r.field.as_str()) {
                if field_value(&ctx.res, &probe, field).is_none() {
                    return Err(ApiError::bad_request(format!(
                        "field label not supported: {field}"
                    )));
                }
            }
        }
        Ok(Filter { labels, fields })
    }

    /// Whether the filter selects nothing out (cheap path for plain lists).
    pub fn is_empty(&self) -> bool {
        self.labels.as_ref().is_none_or(LabelSelector::is_empty)
            && self.fields.as_ref().is_none_or(FieldSelector::is_empty)
    }

    /// Whether `obj` is selected.
    pub fn matches(&self, res: &Resource, obj: &Value) -> bool {
        if let Some(l) = &self.labels
            && !l.matches_json(obj.pointer("/metadata/labels"))
        {
            return false;
        }
        if let Some(f) = &self.fields
            && !f.matches(&|field: &str| field_value(res, obj, field))
        {
            return false;
        }
        true
    }
}

/// What a continue token holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct Continue {
    v: String,
    rv: Revision,
    start: String,
}

fn encode_continue(rv: Revision, last_key: &str) -> String {
    let c = Continue {
        v: "skiff/v1".into(),
        rv,
        start: last_key.to_owned(),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&c).unwrap_or_default())
}

fn decode_continue(token: &str, prefix: &str) -> Result<Continue, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let c: Continue = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    // A token from another collection must not read outside this one.
    if c.v != "skiff/v1" || !c.start.starts_with(prefix) {
        return Err(bad());
    }
    Ok(c)
}

/// One page of a collection: the stored entries selected, the snapshot's
/// revision, the continue token and how many remain.
pub struct Page {
    /// Selected entries, as stored (decoded only where a filter needed it).
    pub items: Vec<KeyValue>,
    /// Snapshot revision.
    pub revision: Revision,
    /// Continue token, if more follow.
    pub token: Option<String>,
    /// `remainingItemCount`, when known.
    pub remaining: Option<usize>,
}

/// Reads the matching objects of a collection: one page when `limit` is set.
pub async fn read_page<S: Store>(
    api: &Api<S>,
    ctx: &Ctx,
    filter: &Filter,
) -> Result<Page, ApiError> {
    let res = &ctx.res;
    let prefix = res.collection_key(ctx.ns());
    let limit = match ctx.q("limit") {
        Some(l) => Some(
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request("limit must be a non-negative integer"))?,
        )
        .filter(|l| *l > 0),
        None => None,
    };
    let mut opts = ListOptions::default();
    if let Some(token) = ctx.q("continue") {
        if ctx.q("resourceVersion").is_some_and(|rv| rv != "0") {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        let c = decode_continue(token, &prefix)?;
        opts.revision = Some(c.rv);
        opts.start_after = Some(c.start);
    } else {
        match (ctx.q("resourceVersion"), ctx.q("resourceVersionMatch")) {
            (None | Some("0"), _) => {}
            (Some(rv), Some("Exact")) => opts.revision = Some(objects::parse_revision(rv)?),
            (Some(rv), None | Some("NotOlderThan")) => {
                let rv = objects::parse_revision(rv)?;
                let current = api.store.current_revision();
                if rv > current {
                    return Err(ApiError::new(
                        Reason::Timeout,
                        format!("Too large resource version: {rv}, current: {current}"),
                    ));
                }
            }
            (Some(_), Some(m)) => {
                return Err(ApiError::bad_request(format!(
                    "resourceVersionMatch: Unsupported value: \"{m}\": supported values: \"Exact\", \"NotOlderThan\""
                )));
            }
        }
    }
    let mut items = Vec::new();
    loop {
        // Read in chunks until the page is full of *matching* objects, as
        // Kubernetes does, so a selective filter still honours `limit`.
        let want = limit.map(|l| (l - items.len()).max(64));
        opts.limit = want;
        let page = api
            .store
            .list(&prefix, opts.clone())
            .await
            .map_err(|e| store_error(res, "", e))?;
        let rev = page.revision;
        opts.revision = Some(rev);
        let (page_len, page_remaining) = (page.items.len(), page.remaining);
        let mut served = 0;
        let mut last_key = None;
        for kv in page.items {
            served += 1;
            last_key = Some(kv.key.clone());
            // Without a filter nothing needs decoding here at all.
            if filter.is_empty() || filter.matches(res, &objects::decode_for(res, &kv)?) {
                items.push(kv);
                if limit.is_some_and(|l| items.len() >= l) {
                    break;
                }
            }
        }
        let done = |items, token, remaining| Page {
            items,
            revision: rev,
            token,
            remaining,
        };
        let Some(k) = last_key else {
            return Ok(done(items, None, None));
        };
        let left = page_remaining + (page_len - served);
        if limit.is_some_and(|l| items.len() >= l) {
            let token = (left > 0).then(|| encode_continue(rev, &k));
            let remaining = (filter.is_empty() && left > 0).then_some(left);
            return Ok(done(items, token, remaining));
        }
        if left == 0 {
            return Ok(done(items, None, None));
        }
        opts.start_after = Some(k);
    }
}

/// GET of a collection.
pub async fn list<S: Store>(api: &Api<S>, ctx: &Ctx) -> Result<Response, ApiError> {
    let filter = Filter::from_ctx(ctx)?;
    let page = read_page(api, ctx, &filter).await?;
    let mut meta = json!({"resourceVersion": page.revision.to_string()});
    if let Some(t) = page.token {
        meta["continue"] = t.into();
    }
    if let Some(r) = page.remaining {
        meta["remainingItemCount"] = r.into();
    }
    let res = &ctx.res;
    let shape = ctx.shape()?;
    if shape == Shape::Object {
        return raw_list_response(res, &meta, &page.items);
    }
    if shape == Shape::Table {
        // Rows straight from the stored bytes, parsing only what the cells
        // read (see `table::write_table`); other cases decode below.
        let revisions: Vec<String> = page
            .items
            .iter()
            .map(|kv| kv.mod_revision.to_string())
            .collect();
        let raws: Vec<skiff_api::table::RawObject<'_>> = page
            .items
            .iter()
            .zip(&revisions)
            .map(|(kv, rv)| skiff_api::table::RawObject {
                json: &kv.value,
                resource_version: rv,
            })
            .collect();
        if let Some(body) =
            skiff_api::table::write_table(res, &raws, ctx.include(), jiff::Timestamp::now(), &meta)
        {
            return Ok(bytes_response(body));
        }
    }
    let items = page
        .items
        .iter()
        .map(|kv| objects::decode_for(res, kv))
        .collect::<Result<Vec<_>, _>>()?;
    let body = if shape == Shape::Table {
        let mut t = skiff_api::table::table(res, &items, ctx.include(), jiff::Timestamp::now());
        t["metadata"] = meta;
        t
    } else {
        json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta,
            "items": items.iter().map(skiff_api::table::partial_metadata).collect::<Vec<_>>(),
        })
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// A JSON list written from the stored bytes: each item gets its revision
/// spliced in rather than being parsed and printed again (see
/// [`objects::with_revision`]). Custom resources, whose apiVersion depends
/// on the version asked for, and entries stored in an older layout are
/// decoded.
fn raw_list_response(
    res: &Resource,
    meta: &Value,
    items: &[KeyValue],
) -> Result<Response, ApiError> {
    let mut body =
        Vec::with_capacity(items.iter().map(|kv| kv.value.len() + 40).sum::<usize>() + 256);
    let head = json!({"kind": res.list_kind(), "apiVersion": res.api_version(), "metadata": meta});
    let head = serde_json::to_vec(&head).unwrap_or_default();
    // `{"kind":…,"metadata":{…}` then `,"items":[…]}`.
    body.extend_from_slice(&head[..head.len() - 1]);
    body.extend_from_slice(b",\"items\":[");
    let builtin = matches!(res.origin, skiff_api::registry::Origin::Builtin);
    for (i, kv) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        match objects::with_revision(&kv.value, kv.mod_revision).filter(|_| builtin) {
            Some(bytes) => body.extend_from_slice(&bytes),
            None => {
                let obj = objects::decode_for(res, kv)?;
                let _ = serde_json::to_writer(&mut body, &obj);
            }
        }
    }
    body.extend_from_slice(b"]}");
    Ok(bytes_response(body))
}

/// A 200 response of JSON bytes written without a `Value`.
fn bytes_response(body: Vec<u8>) -> Response {
    let mut r = Response::new(axum::body::Body::from(body));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}
