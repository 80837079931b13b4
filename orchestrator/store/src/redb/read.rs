//! Reads against one redb read transaction (one consistent snapshot).
//!
//! These are blocking calls; the store runs them on tokio's blocking pool.

use std::ops::Bound;

use ::redb::ReadTransaction;

use super::codec::{self, KV, META, REVISION_KEY};
use crate::{KeyValue, Revision, StoreError};

/// The revision the snapshot was committed at.
pub(crate) fn revision(txn: &ReadTransaction) -> Result<Revision, StoreError> {
    let meta = txn
        .open_table(META)
        .map_err(StoreError::backend_with("open the meta table"))?;
    let revision = meta
        .get(REVISION_KEY)
        .map_err(StoreError::backend_with("read the revision"))?
        .map(|guard| guard.value())
        .unwrap_or(0);
    Ok(revision)
}

/// One key.
pub(crate) fn get(txn: &ReadTransaction, key: &str) -> Result<Option<KeyValue>, StoreError> {
    let kv = txn
        .open_table(KV)
        .map_err(StoreError::backend_with("open the kv table"))?;
    let guard = kv
        .get(key)
        .map_err(StoreError::backend_with("read a key"))?;
    guard
        .map(|record| codec::decode(key, record.value()))
        .transpose()
}

/// One page of keys under `prefix` after `start_after`, and how many keys
/// under the prefix follow it. A `limit` of `None` or 0 means no limit.
pub(crate) fn list(
    txn: &ReadTransaction,
    prefix: &str,
    start_after: Option<&str>,
    limit: Option<usize>,
) -> Result<(Vec<KeyValue>, usize), StoreError> {
    let kv = txn
        .open_table(KV)
        .map_err(StoreError::backend_with("open the kv table"))?;
    let lower = match start_after {
        Some(after) if after >= prefix => Bound::Excluded(after),
        _ => Bound::Included(prefix),
    };
    let range = kv
        .range::<&str>((lower, Bound::Unbounded))
        .map_err(StoreError::backend_with("scan keys"))?;
    let limit = limit.filter(|&n| n > 0).unwrap_or(usize::MAX);
    let mut items = Vec::new();
    let mut remaining = 0;
    for entry in range {
        let (key, record) = entry.map_err(StoreError::backend_with("scan keys"))?;
        let key = key.value();
        if !key.starts_with(prefix) {
            break;
        }
        if items.len() < limit {
            items.push(codec::decode(key, record.value())?);
        } else {
            // Counting the rest costs a key scan without decoding values; it
            // gives Kubernetes its `remainingItemCount`.
            remaining += 1;
        }
    }
    Ok((items, remaining))
}
