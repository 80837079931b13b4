//! Skiff's state store: the API server's only persistence.
//!
//! Every Kubernetes object the API server accepts ends up here as one key (for
//! example `/registry/pods/default/web-0`) holding the serialized object. The
//! semantics are etcd's, because the API machinery above is built on them:
//!
//! - one global, strictly increasing **revision** counter; every successful
//!   write gets the next revision, which becomes the object's
//!   `resourceVersion` (`mod_revision`);
//! - **compare-and-swap** on `mod_revision` for updates and deletes
//!   (optimistic concurrency, HTTP 409 on conflict);
//! - **consistent lists**: one snapshot, reported with its revision, pageable
//!   with [`ListOptions::revision`] (continue tokens);
//! - **watch from a revision**: the retained history is replayed, then live
//!   events follow with no gap and no duplicate; a revision that is no longer
//!   retained answers [`StoreError::Expired`] (HTTP 410, the client re-lists);
//! - **compaction** of that history.
//!
//! The [`Store`] trait is the contract; [`RedbStore`] is the default backend
//! (an embedded [redb](::redb) file) and an etcd backend can be added beside it.
//! The conformance suite in `tests/all` is written against the trait, so any
//! backend must pass it.
//!
//! # Why group commit
//!
//! A write is acknowledged only once it is durable (fsync). One fsync costs
//! milliseconds, so one transaction per write would cap the whole cluster at a
//! few hundred writes per second. [`RedbStore`] instead runs one writer thread
//! that takes every write queued while the previous commit was syncing, applies
//! them in one redb transaction (each with its own revision and its own CAS
//! check; a failed check fails that write alone), commits once, then answers
//! every caller and publishes the events. Under load the cost of an fsync is
//! shared by the whole batch.
//!
//! # Example
//!
//! ```
//! use skiff_store::{RedbConfig, RedbStore, Store};
//! use futures::StreamExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = RedbStore::open(&dir.path().join("state.redb"), RedbConfig::default())?;
//! let mut watch = store.watch("/registry/pods/", store.current_revision())?;
//! let created = store.create("/registry/pods/default/web-0", "{}".into()).await?;
//! let event = watch.next().await.expect("stream is live")?;
//! assert_eq!(event.revision, created.mod_revision);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

use std::future::Future;

use bytes::Bytes;

mod error;
mod redb;
mod watch;

pub use error::StoreError;
pub use redb::{RedbConfig, RedbStore};
pub use watch::Watch;

/// A position in the store's history: the value of the global write counter.
pub type Revision = u64;

/// One stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The object's key.
    pub key: String,
    /// The stored bytes.
    pub value: Bytes,
    /// Revision of the write that created the key.
    pub create_revision: Revision,
    /// Revision of the last write to the key (the `resourceVersion`).
    pub mod_revision: Revision,
}

/// What a watch event did to its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The key was created or updated.
    Put,
    /// The key was deleted.
    Delete,
}

/// One change, in revision order.
///
/// For `Put`: `value` is the new value, `prev` the old [`KeyValue`] if it
/// existed (`None` = created). For `Delete`: `value` is the deleted value and
/// `prev` is `Some` (the [`KeyValue`] as it was).
#[derive(Clone, Debug)]
pub struct Event {
    /// Revision of this change; for a `Put` also the key's new `mod_revision`.
    pub revision: Revision,
    /// Put or delete.
    pub kind: EventKind,
    /// The changed key.
    pub key: String,
    /// New value (put) or deleted value (delete).
    pub value: Bytes,
    /// The key's `create_revision`.
    pub create_revision: Revision,
    /// The key as it was before this change, if it existed.
    pub prev: Option<KeyValue>,
}

/// Paging and snapshot options of [`Store::list`].
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// Return only keys strictly greater than this one (the continue token).
    pub start_after: Option<String>,
    /// Return at most this many items; `None` or `Some(0)` means no limit.
    pub limit: Option<usize>,
    /// Serve the snapshot at this revision (the next page of a paged list).
    pub revision: Option<Revision>,
}

/// A consistent page: every item as of `revision`.
#[derive(Clone, Debug)]
pub struct ListResult {
    /// The items of this page, in key order.
    pub items: Vec<KeyValue>,
    /// The revision of the snapshot the page was read from.
    pub revision: Revision,
    /// How many more keys under the prefix follow this page (`more` = `remaining > 0`).
    pub remaining: usize,
}

/// The storage contract the API server is written against.
///
/// Every write gets the next global revision; reads are consistent snapshots;
/// watches replay retained history and then follow live changes.
pub trait Store: Send + Sync + 'static {
    /// The key's current value, `None` if absent.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<KeyValue>, StoreError>> + Send;

    /// Keys starting with `prefix`, in key order, from one consistent snapshot.
    ///
    /// `opts.revision: Some(r)` serves the snapshot at `r` (paging with continue
    /// tokens); if that snapshot is no longer retained the answer is
    /// [`StoreError::Expired`], if `r` is not reached yet [`StoreError::FutureRevision`].
    fn list(
        &self,
        prefix: &str,
        opts: ListOptions,
    ) -> impl Future<Output = Result<ListResult, StoreError>> + Send;

    /// Creates `key`; [`StoreError::AlreadyExists`] if it exists.
    fn create(
        &self,
        key: &str,
        value: Bytes,
    ) -> impl Future<Output = Result<KeyValue, StoreError>> + Send;

    /// Replaces `key`'s value; compare-and-swap on `mod_revision` when `expected`
    /// is `Some`. [`StoreError::NotFound`] if missing, [`StoreError::Conflict`]
    /// if the revision differs.
    fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Option<Revision>,
    ) -> impl Future<Output = Result<KeyValue, StoreError>> + Send;

    /// Deletes `key` (compare-and-swap when `expected` is `Some`). Returns the
    /// deleted value with `mod_revision` = the revision of the delete.
    fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> impl Future<Output = Result<KeyValue, StoreError>> + Send;

    /// The revision of the last write whose events have been published.
    fn current_revision(&self) -> Revision;

    /// Events under `prefix` with revision > `after`: first the retained
    /// history, then live, with no gap and no duplicate, in revision order.
    ///
    /// [`StoreError::Expired`] if `after` is older than the retained history,
    /// [`StoreError::FutureRevision`] if `after` is beyond the current revision.
    fn watch(&self, prefix: &str, after: Revision) -> Result<Watch, StoreError>;

    /// Drops history (watch events and retained list snapshots) at or below
    /// `revision`; watching from `revision` itself stays possible.
    fn compact(&self, revision: Revision) -> impl Future<Output = Result<(), StoreError>> + Send;
}
