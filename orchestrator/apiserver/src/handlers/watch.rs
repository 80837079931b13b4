//! `watch`: a stream of ADDED / MODIFIED / DELETED / BOOKMARK / ERROR events,
//! one JSON object per line, as Kubernetes streams them.
//!
//! Without a resourceVersion (or with "0") the stream begins with the
//! current objects as ADDED events; with one it resumes right after it, or
//! answers an ERROR event with a 410 Status when that revision is gone, so
//! the client re-lists. Selectors are applied to both the old and the new
//! state, so an object that stops matching is seen as DELETED.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, StatusCode};
use serde_json::{Value, json};
use skiff_api::registry::Resource;
use skiff_api::status::ApiError;
use skiff_api::table::Include;
use skiff_store::{Event, EventKind, ListOptions, Revision, Store, StoreError};
use tokio::sync::mpsc;

use super::Ctx;
use super::list::Filter;
use crate::negotiate::Shape;
use crate::objects;
use crate::state::{Api, store_error};
use crate::watch_cache::Decoded;

/// How often a bookmark is sent to clients that allow them.
const BOOKMARK_EVERY: Duration = Duration::from_secs(15);

/// Everything the streaming task needs, detached from the request.
struct Stream {
    res: Arc<Resource>,
    filter: Filter,
    name: Option<String>,
    shape: Shape,
    include: Include,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
}

impl Stream {
    fn selected(&self, obj: &Value) -> bool {
        self.name.as_deref().is_none_or(|n| objects::name(obj) == n)
            && self.filter.matches(&self.res, obj)
    }

    /// Sends one store event; false once the client is gone. Plain object
    /// watches share the printed line with every other watcher.
    async fn send_event(&self, kind: &'static str, ev: &Decoded) -> bool {
        let line = match self.shape {
            Shape::Object => ev.line(kind, &self.res),
            Shape::Metadata => ev.metadata_line(kind),
            _ => ev.new_object().map(|o| {
                let mut obj = o.clone();
                objects::as_version(&self.res, &mut obj);
                self.encode(kind, obj)
            }),
        };
        match line {
            Ok(line) => self.tx.send(Ok(line)).await.is_ok(),
            Err(e) => {
                self.send("ERROR", e.to_status()).await;
                false
            }
        }
    }

    /// Sends one event; false once the client is gone.
    async fn send(&self, kind: &str, obj: Value) -> bool {
        let line = self.encode(kind, obj);
        self.tx.send(Ok(line)).await.is_ok()
    }

    /// One event's line in this watch's shape.
    fn encode(&self, kind: &str, obj: Value) -> Bytes {
        let obj = match (self.shape, kind) {
            (_, "BOOKMARK" | "ERROR") | (Shape::Object, _) => obj,
            (Shape::Table, _) => {
                skiff_api::table::table(&self.res, &[obj], self.include, jiff::Timestamp::now())
            }
            (Shape::Metadata, _) => skiff_api::table::partial_metadata(&obj),
        };
        let mut line =
            serde_json::to_vec(&json!({"type": kind, "object": obj})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }

    fn bookmark(&self, rev: Revision, initial_end: bool) -> Value {
        let mut meta = json!({"resourceVersion": rev.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        json!({"kind": self.res.kind, "apiVersion": self.res.api_version(), "metadata": meta})
    }

    /// What this watcher sees of a store event, if anything. A watcher
    /// that selects everything needs no parsing to know.
    fn translate(&self, ev: &Event, decoded: &Decoded) -> Result<Option<&'static str>, ApiError> {
        if self.name.is_none() && self.filter.is_empty() {
            return Ok(Some(match ev.kind {
                EventKind::Delete => "DELETED",
                EventKind::Put if ev.prev.is_some() => "MODIFIED",
                EventKind::Put => "ADDED",
            }));
        }
        let now = self.selected(decoded.new_object()?);
        Ok(match ev.kind {
            EventKind::Delete => now.then_some("DELETED"),
            EventKind::Put => match (decoded.prev_object()?.map(|p| self.selected(p)), now) {
                (Some(true), true) => Some("MODIFIED"),
                (None | Some(false), true) => Some("ADDED"),
                (Some(true), false) => Some("DELETED"),
                (_, false) => None,
            },
        })
    }
}

/// GET with `watch=true`.
pub async fn watch<S: Store>(api: &Arc<Api<S>>, ctx: &Ctx) -> Result<Response, ApiError> {
    let filter = Filter::from_ctx(ctx)?;
    let timeout = match ctx.q("timeoutSeconds") {
        Some(t) => t
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request("timeoutSeconds must be an integer"))?,
        None => api.limits.max_watch_seconds,
    };
    let bookmarks = ctx.q("allowWatchBookmarks") == Some("true");
    let initial_events = ctx.q("sendInitialEvents") == Some("true");
    let rv = ctx
        .q("resourceVersion")
        .filter(|rv| *rv != "0")
        .map(objects::parse_revision)
        .transpose()?;
    let prefix = ctx.res.collection_key(ctx.ns());
    let (tx, rx) = mpsc::channel(256);
    let stream = Stream {
        res: ctx.res.clone(),
        filter,
        name: ctx.target.name.clone(),
        shape: ctx.shape()?,
        include: ctx.include(),
        tx,
    };
    // Start position: resume after rv, or replay the current state first.
    let (initial, start) = match rv {
        Some(rv) if !initial_events => (vec![], rv),
        _ => {
            let page = api
                .store
                .list(&prefix, ListOptions::default())
                .await
                .map_err(|e| store_error(&ctx.res, "", e))?;
            let items = page
                .items
                .iter()
                .map(|kv| objects::decode_for(&ctx.res, kv))
                .collect::<Result<Vec<_>, _>>()?;
            (items, page.revision)
        }
    };
    let watch = api.store.watch(&prefix, start);
    let events = api.events.clone();
    tokio::spawn(async move {
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        let mut watch = match watch {
            Ok(w) => w,
            Err(e) => {
                let status = store_error(&stream.res, "", e).to_status();
                stream.send("ERROR", status).await;
                return;
            }
        };
        for obj in initial {
            if stream.selected(&obj) && !stream.send("ADDED", obj).await {
                return;
            }
        }
        if initial_events && !stream.send("BOOKMARK", stream.bookmark(start, true)).await {
            return;
        }
        let mut last = start;
        let mut ticker =
            tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_EVERY, BOOKMARK_EVERY);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = stream.tx.closed() => return,
                _ = ticker.tick(), if bookmarks => {
                    if !stream.send("BOOKMARK", stream.bookmark(last, false)).await {
                        return;
                    }
                }
                next = watch.next() => match next {
                    Some(Ok(ev)) => {
                        last = ev.revision;
                        let decoded = events.decode(&ev);
                        match stream.translate(&ev, &decoded) {
                            Ok(Some(kind)) => {
                                if !stream.send_event(kind, &decoded).await {
                                    return;
                                }
                            }
                            Ok(None) => {}
                            Err(e) => {
                                stream.send("ERROR", e.to_status()).await;
                                return;
                            }
                        }
                    }
                    Some(Err(e)) => {
                        let e = match e {
                            StoreError::Expired { requested, oldest } => ApiError::expired(requested, oldest),
                            other => store_error(&stream.res, "", other),
                        };
                        stream.send("ERROR", e.to_status()).await;
                        return;
                    }
                    None => return,
                },
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}
