//! Watch events decoded once for all watchers.
//!
//! Every watch stream sees every event under its prefix; with a thousand
//! watchers, decoding each event's JSON and printing its line per watcher
//! was most of the fan-out cost. This cache keeps the last events decoded,
//! and the printed `{"type":…,"object":…}` lines per event type and
//! apiVersion, so the thousandth watcher only filters and sends.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use serde_json::{Value, json};
use skiff_api::registry::Resource;
use skiff_api::status::ApiError;
use skiff_store::{Event, Revision};

use crate::objects;

/// How many recent events stay decoded: enough for every watcher to catch
/// up with a burst (the store cuts watchers that fall further behind).
const KEEP: usize = 1024;

/// One store event, decoded.
#[derive(Debug)]
pub struct Decoded {
    /// The object after the event (with its resourceVersion).
    pub new: Value,
    /// The object before it, if there was one.
    pub prev: Option<Value>,
    /// Printed lines, by (event type, apiVersion).
    lines: Mutex<Vec<(&'static str, String, Bytes)>>,
}

impl Decoded {
    /// The watch line of this event as `res` serves it.
    pub fn line(&self, kind: &'static str, res: &Resource) -> Bytes {
        let api_version = res.api_version();
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, _, l)) = lines
            .iter()
            .find(|(k, v, _)| *k == kind && *v == api_version)
        {
            return l.clone();
        }
        let mut obj = self.new.clone();
        objects::as_version(res, &mut obj);
        let mut line =
            serde_json::to_vec(&json!({"type": kind, "object": obj})).unwrap_or_default();
        line.push(b'\n');
        let line = Bytes::from(line);
        lines.push((kind, api_version, line.clone()));
        line
    }
}

/// The recently decoded events.
#[derive(Debug, Default)]
pub struct EventCache {
    recent: Mutex<VecDeque<(Revision, String, Arc<Decoded>)>>,
}

impl EventCache {
    /// The decoded form of `ev`, decoding it if no watcher has yet.
    pub fn decode(&self, ev: &Event) -> Result<Arc<Decoded>, ApiError> {
        {
            let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, _, d)) = recent
                .iter()
                .rev()
                .find(|(r, k, _)| *r == ev.revision && *k == ev.key)
            {
                return Ok(d.clone());
            }
        }
        let mut new: Value = serde_json::from_slice(&ev.value).map_err(|e| {
            ApiError::internal(format!("stored object {} is not JSON: {e}", ev.key))
        })?;
        objects::set_revision(&mut new, ev.revision);
        let prev = ev.prev.as_ref().map(objects::decode).transpose()?;
        let decoded = Arc::new(Decoded {
            new,
            prev,
            lines: Mutex::default(),
        });
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        // Two watchers may have decoded the same event at once; keep one.
        if let Some((_, _, d)) = recent
            .iter()
            .rev()
            .find(|(r, k, _)| *r == ev.revision && *k == ev.key)
        {
            return Ok(d.clone());
        }
        recent.push_back((ev.revision, ev.key.clone(), decoded.clone()));
        while recent.len() > KEEP {
            recent.pop_front();
        }
        Ok(decoded)
    }
}
