//! Watch events decoded once for all watchers, and only when needed.
//!
//! Every watch stream sees every event under its prefix. Most watchers
//! (informers, the scheduler, controllers) select everything, and what
//! they are sent is the stored object with its resourceVersion: that line
//! is spliced from the stored bytes ([`objects::with_revision`]) without
//! parsing. Only a watcher with a selector (the node agent's
//! `spec.nodeName=…`), a Table or metadata watch, or a custom resource
//! (whose apiVersion is rewritten) needs the object as JSON, and it is
//! parsed once for all of them. This cache keeps the last events and their
//! printed `{"type":…,"object":…}` lines per event type and apiVersion, so
//! the thousandth watcher only filters and sends.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::Bytes;
use serde_json::{Value, json};
use skiff_api::registry::{Origin, Resource};
use skiff_api::status::ApiError;
use skiff_store::{Event, KeyValue, Revision};

use crate::objects;

/// How many recent events stay decoded: enough for every watcher to catch
/// up with a burst (the store cuts watchers that fall further behind).
const KEEP: usize = 1024;

/// One store event, parsed on first need.
#[derive(Debug)]
pub struct Decoded {
    key: String,
    revision: Revision,
    /// The stored bytes after the event (for a delete, the last state).
    raw: Bytes,
    /// The key before the event.
    prev_raw: Option<KeyValue>,
    new: OnceLock<Result<Value, String>>,
    prev: OnceLock<Result<Option<Value>, String>>,
    /// Printed lines, by (event type, apiVersion).
    lines: Mutex<Vec<(&'static str, String, Bytes)>>,
}

impl Decoded {
    fn of(ev: &Event) -> Self {
        Decoded {
            key: ev.key.clone(),
            revision: ev.revision,
            raw: ev.value.clone(),
            prev_raw: ev.prev.clone(),
            new: OnceLock::new(),
            prev: OnceLock::new(),
            lines: Mutex::default(),
        }
    }

    /// The object after the event, with its resourceVersion.
    pub fn new_object(&self) -> Result<&Value, ApiError> {
        self.new
            .get_or_init(|| {
                let mut v: Value = serde_json::from_slice(&self.raw)
                    .map_err(|e| format!("stored object {} is not JSON: {e}", self.key))?;
                objects::set_revision(&mut v, self.revision);
                Ok(v)
            })
            .as_ref()
            .map_err(|e| ApiError::internal(e.clone()))
    }

    /// The object before the event, if there was one.
    pub fn prev_object(&self) -> Result<Option<&Value>, ApiError> {
        self.prev
            .get_or_init(|| {
                self.prev_raw
                    .as_ref()
                    .map(objects::decode)
                    .transpose()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map(Option::as_ref)
            .map_err(|e| ApiError::internal(e.clone()))
    }

    /// The watch line of this event as `res` serves it.
    pub fn line(&self, kind: &'static str, res: &Resource) -> Result<Bytes, ApiError> {
        let api_version = res.api_version();
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, _, l)) = lines
            .iter()
            .find(|(k, v, _)| *k == kind && *v == api_version)
        {
            return Ok(l.clone());
        }
        // Built-in kinds are served as stored; a custom resource's
        // apiVersion follows the version asked for (`objects::as_version`).
        let spliced = (!matches!(res.origin, Origin::Custom { .. }))
            .then(|| objects::with_revision(&self.raw, self.revision))
            .flatten();
        let line = match spliced {
            Some(obj) => {
                let mut line = Vec::with_capacity(obj.len() + 32);
                line.extend_from_slice(b"{\"type\":\"");
                line.extend_from_slice(kind.as_bytes());
                line.extend_from_slice(b"\",\"object\":");
                line.extend_from_slice(&obj);
                line.extend_from_slice(b"}\n");
                line
            }
            None => {
                let mut obj = self.new_object()?.clone();
                objects::as_version(res, &mut obj);
                let mut line =
                    serde_json::to_vec(&json!({"type": kind, "object": obj})).unwrap_or_default();
                line.push(b'\n');
                line
            }
        };
        let line = Bytes::from(line);
        lines.push((kind, api_version, line.clone()));
        Ok(line)
    }
}

impl Decoded {
    /// The watch line of this event for a metadata-only watch (what the
    /// garbage collector and namespace controller ask for): a
    /// PartialObjectMetadata built from the stored `metadata` bytes, with
    /// the event's resourceVersion, without parsing the object into values.
    pub fn metadata_line(&self, kind: &'static str) -> Result<Bytes, ApiError> {
        const META: &str = "meta.k8s.io/v1 PartialObjectMetadata";
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, _, l)) = lines.iter().find(|(k, v, _)| *k == kind && v == META) {
            return Ok(l.clone());
        }
        #[derive(serde::Deserialize)]
        struct Stored<'a> {
            #[serde(borrow)]
            metadata: Option<&'a serde_json::value::RawValue>,
        }
        let stored: Stored<'_> = serde_json::from_slice(&self.raw).map_err(|e| {
            ApiError::internal(format!("stored object {} is not JSON: {e}", self.key))
        })?;
        let meta = stored.metadata.map_or("{}", |m| m.get());
        let rest = meta.strip_prefix('{').unwrap_or("}");
        let mut line = Vec::with_capacity(meta.len() + 160);
        line.extend_from_slice(b"{\"type\":\"");
        line.extend_from_slice(kind.as_bytes());
        line.extend_from_slice(
            b"\",\"object\":{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{\"resourceVersion\":\"",
        );
        line.extend_from_slice(self.revision.to_string().as_bytes());
        line.push(b'"');
        if !rest.trim_start().starts_with('}') {
            line.push(b',');
        }
        line.extend_from_slice(rest.as_bytes());
        line.extend_from_slice(b"}}\n");
        let line = Bytes::from(line);
        lines.push((kind, META.to_owned(), line.clone()));
        Ok(line)
    }
}

/// The recently seen events.
#[derive(Debug, Default)]
pub struct EventCache {
    recent: Mutex<VecDeque<(Revision, String, Arc<Decoded>)>>,
}

impl EventCache {
    /// The shared form of `ev`: the one other watchers already hold, or a
    /// new one (nothing is parsed until a watcher needs it).
    pub fn decode(&self, ev: &Event) -> Arc<Decoded> {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, _, d)) = recent
            .iter()
            .rev()
            .find(|(r, k, _)| *r == ev.revision && *k == ev.key)
        {
            return d.clone();
        }
        let decoded = Arc::new(Decoded::of(ev));
        recent.push_back((ev.revision, ev.key.clone(), decoded.clone()));
        while recent.len() > KEEP {
            recent.pop_front();
        }
        decoded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_store::EventKind;

    fn event(obj: &Value, revision: Revision, prev: Option<&Value>) -> Event {
        Event {
            revision,
            kind: EventKind::Put,
            key: "/registry/configmaps/default/a".into(),
            value: objects::encode(obj),
            create_revision: 3,
            prev: prev.map(|p| KeyValue {
                key: "/registry/configmaps/default/a".into(),
                value: objects::encode(p),
                create_revision: 3,
                mod_revision: 3,
            }),
        }
    }

    /// The spliced line holds what printing the parsed object gives.
    #[test]
    fn spliced_lines_equal_printed_ones() {
        let res = skiff_api::registry::Registry::builtin()
            .get("", "v1", "configmaps")
            .expect("configmaps");
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "default", "labels": {"x": "y\"z"}},
            "data": {"k": "v\n\u{e9}"}});
        let prev = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
        let cache = EventCache::default();
        let d = cache.decode(&event(&obj, 9, Some(&prev)));
        let line = d.line("MODIFIED", &res).expect("line");
        let mut want = obj.clone();
        objects::set_revision(&mut want, 9);
        // The same JSON (keys in another order: resourceVersion first).
        assert!(line.ends_with(b"}\n"));
        let got: Value = serde_json::from_slice(&line).expect("json");
        assert_eq!(got, json!({"type": "MODIFIED", "object": want}));
        // Parsed on demand, with the event's revision; the old state too.
        assert_eq!(
            d.new_object().expect("new")["metadata"]["resourceVersion"],
            "9"
        );
        let before = d.prev_object().expect("prev").expect("had one");
        assert_eq!(before["metadata"]["resourceVersion"], "3");
        // One shared value per event.
        assert!(Arc::ptr_eq(&d, &cache.decode(&event(&obj, 9, None))));
    }

    /// The spliced metadata line parses to what `partial_metadata` gives.
    #[test]
    fn metadata_lines_are_partial_object_metadata() {
        let obj = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "a", "namespace": "default", "ownerReferences": [{"uid": "u"}]},
            "spec": {"containers": []}});
        let d = EventCache::default().decode(&event(&obj, 12, None));
        let line = d.metadata_line("ADDED").expect("line");
        let got: Value = serde_json::from_slice(&line).expect("json");
        let mut want = obj.clone();
        objects::set_revision(&mut want, 12);
        assert_eq!(got["type"], "ADDED");
        assert_eq!(got["object"], skiff_api::table::partial_metadata(&want));
        let empty = EventCache::default().decode(&event(&json!({"metadata": {}}), 5, None));
        let got: Value =
            serde_json::from_slice(&empty.metadata_line("DELETED").expect("line")).expect("json");
        assert_eq!(got["object"]["metadata"], json!({"resourceVersion": "5"}));
    }

    #[test]
    fn stored_garbage_is_an_internal_error_not_a_panic() {
        let mut ev = event(&json!({}), 4, None);
        ev.value = Bytes::from_static(b"{\"metadata\":{not json");
        let d = EventCache::default().decode(&ev);
        assert!(d.new_object().is_err());
    }
}
