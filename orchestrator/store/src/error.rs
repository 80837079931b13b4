//! The store's error type.

use std::sync::Arc;

use crate::Revision;

/// Why a store operation failed.
///
/// The first six variants are the semantic answers the API server maps onto
/// Kubernetes `Status` reasons (404, 409, 409, 410, 504/"too large resource
/// version", 503); the rest are failures of the backend itself.
///
/// The error is `Clone` so that one backend failure can be answered to every
/// caller of a failed group commit.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// The key does not exist.
    #[error("key {key:?} not found")]
    NotFound {
        /// The key asked for.
        key: String,
    },
    /// A create found the key already present.
    #[error("key {key:?} already exists")]
    AlreadyExists {
        /// The key asked for.
        key: String,
    },
    /// A compare-and-swap found another revision than expected.
    #[error("key {key:?} is at revision {actual}, not the expected {expected}")]
    Conflict {
        /// The key asked for.
        key: String,
        /// The `mod_revision` the caller expected.
        expected: Revision,
        /// The key's actual `mod_revision`.
        actual: Revision,
    },
    /// The revision asked for is no longer retained (compacted or too old).
    #[error("revision {requested} is no longer available; the oldest available is {oldest}")]
    Expired {
        /// The revision asked for.
        requested: Revision,
        /// The oldest revision that can still be asked for.
        oldest: Revision,
    },
    /// The revision asked for has not been reached yet.
    #[error("revision {requested} is ahead of the current revision {current}")]
    FutureRevision {
        /// The revision asked for.
        requested: Revision,
        /// The store's current revision.
        current: Revision,
    },
    /// The store has been shut down.
    #[error("the store is closed")]
    Closed,
    /// The value is larger than the backend can store.
    #[error("value of key {key:?} is {size} bytes, more than the maximum of {max}")]
    ValueTooLarge {
        /// The key written.
        key: String,
        /// The size of the value.
        size: usize,
        /// The largest value the backend accepts.
        max: usize,
    },
    /// The database failed (I/O, corruption, …).
    #[error("storage backend failed to {context}")]
    Backend {
        /// What the store was doing.
        context: &'static str,
        /// The backend's error, shared by every caller it failed.
        #[source]
        source: Arc<::redb::Error>,
    },
    /// A stored record could not be decoded.
    #[error("stored record {key:?} is corrupt: {reason}")]
    Corrupt {
        /// The key (or metadata entry) that failed to decode.
        key: String,
        /// What was wrong with it.
        reason: String,
    },
    /// An internal invariant failed (a worker task died, a counter overflowed).
    #[error("internal store error: {context}")]
    Internal {
        /// What went wrong.
        context: &'static str,
    },
}

impl StoreError {
    /// Wraps a redb error with what the store was doing.
    pub(crate) fn backend(context: &'static str, source: impl Into<::redb::Error>) -> Self {
        StoreError::Backend {
            context,
            source: Arc::new(source.into()),
        }
    }

    /// A closure for `map_err` that wraps a redb error with `context`.
    pub(crate) fn backend_with<E: Into<::redb::Error>>(
        context: &'static str,
    ) -> impl FnOnce(E) -> Self {
        move |source| Self::backend(context, source)
    }
}
