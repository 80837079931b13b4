//! Recent read snapshots kept for paged lists.
//!
//! redb keeps no old versions once no transaction refers to them, so the only
//! way to serve "the next page as of revision r" is to keep the read
//! transaction of the first page open. A list that leaves keys for a further
//! page parks its transaction here under its revision; the next page's
//! `ListOptions::revision` finds it. Entries live [`TTL`] after their last use
//! and at most [`MAX_SNAPSHOTS`] are kept, because an open read transaction
//! pins pages the writer could otherwise reuse (the file grows while it lives).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ::redb::ReadTransaction;

use crate::Revision;

/// How long an unused snapshot is kept.
pub(crate) const TTL: Duration = Duration::from_secs(30);
/// How many snapshots are kept at most; the least recently used goes first.
pub(crate) const MAX_SNAPSHOTS: usize = 32;

struct Entry {
    revision: Revision,
    txn: Arc<ReadTransaction>,
    last_used: Instant,
}

/// Parked read transactions, keyed by revision.
#[derive(Default)]
pub(crate) struct Snapshots {
    entries: Mutex<VecDeque<Entry>>,
}

impl Snapshots {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn prune(entries: &mut VecDeque<Entry>, now: Instant) {
        entries.retain(|e| now.duration_since(e.last_used) < TTL);
    }

    /// The snapshot at `revision`, if still kept.
    pub(crate) fn get(&self, revision: Revision) -> Option<Arc<ReadTransaction>> {
        let now = Instant::now();
        let mut entries = self.lock();
        Self::prune(&mut entries, now);
        let entry = entries.iter_mut().find(|e| e.revision == revision)?;
        entry.last_used = now;
        Some(Arc::clone(&entry.txn))
    }

    /// Keeps `txn` as the snapshot at `revision`.
    pub(crate) fn insert(&self, revision: Revision, txn: Arc<ReadTransaction>) {
        let now = Instant::now();
        let mut entries = self.lock();
        Self::prune(&mut entries, now);
        if let Some(entry) = entries.iter_mut().find(|e| e.revision == revision) {
            entry.last_used = now;
            return;
        }
        while entries.len() >= MAX_SNAPSHOTS {
            let lru = entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(i, _)| i);
            match lru {
                Some(i) => drop(entries.remove(i)),
                None => break,
            }
        }
        entries.push_back(Entry {
            revision,
            txn,
            last_used: now,
        });
    }

    /// The oldest revision still kept.
    pub(crate) fn oldest(&self) -> Option<Revision> {
        let mut entries = self.lock();
        Self::prune(&mut entries, Instant::now());
        entries.iter().map(|e| e.revision).min()
    }

    /// Drops the snapshots at or below `revision`.
    pub(crate) fn compact(&self, revision: Revision) {
        self.lock().retain(|e| e.revision > revision);
    }

    /// Drops every snapshot.
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }
}
