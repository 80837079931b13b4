//! The default backend: one embedded redb file.
//!
//! Writes go through the group-commit [`writer`] thread; reads open a redb
//! read transaction on tokio's blocking pool; watches are served from the
//! in-memory [`Hub`] the writer publishes to.

mod codec;
mod read;
mod snapshots;
mod writer;

use std::path::Path;
use std::sync::Arc;

use ::redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable};
use bytes::Bytes;

use crate::watch::{Hub, Watch};
use crate::{KeyValue, ListOptions, ListResult, Revision, Store, StoreError};
use codec::{FORMAT, FORMAT_KEY, KV, META, REVISION_KEY};
use snapshots::Snapshots;
use writer::{WriteOp, Writer};

/// Tuning of a [`RedbStore`].
#[derive(Clone, Debug)]
pub struct RedbConfig {
    /// Events kept in memory for watches to resume from (default 100 000).
    pub history: usize,
    /// Most writes committed in one transaction (default 1024); 1 makes every
    /// write its own transaction and fsync (for benchmarks).
    pub max_batch: usize,
}

impl Default for RedbConfig {
    fn default() -> Self {
        RedbConfig {
            history: 100_000,
            max_batch: 1024,
        }
    }
}

/// A [`Store`] in one redb file, with group commit and in-memory watch history.
///
/// Share it with `Arc<RedbStore>`. Dropping it stops accepting writes, commits
/// the writes already queued, ends every watch with [`StoreError::Closed`] and
/// closes the file (once in-flight reads have finished).
///
/// After a restart the watch history starts empty at the stored revision:
/// watching from an older revision answers [`StoreError::Expired`].
///
/// Reads and lists must run inside a tokio runtime to be off-loaded to its
/// blocking pool; outside one they run on the calling thread.
pub struct RedbStore {
    db: Arc<Database>,
    writer: Writer,
    hub: Arc<Hub>,
    snapshots: Arc<Snapshots>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("revision", &self.hub.current())
            .finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens (or creates) the store at `path`.
    ///
    /// A file left by a crash is repaired by redb during the open (a full scan
    /// of the file, logged as a warning); committed writes survive.
    pub fn open(path: &Path, config: RedbConfig) -> Result<RedbStore, StoreError> {
        let file = path.display().to_string();
        let db = Database::builder()
            .set_repair_callback(move |session| {
                tracing::warn!(
                    path = %file,
                    progress = session.progress(),
                    "repairing the store after an unclean shutdown"
                );
            })
            .create(path)
            .map_err(StoreError::backend_with("open the database file"))?;
        let revision = init(&db)?;
        tracing::info!(path = %path.display(), revision, "store opened");
        let db = Arc::new(db);
        // A consumer may fall this far behind before it expires: at least two
        // full batches, since a batch is published at once.
        let buffer = config.max_batch.max(1).saturating_mul(2).max(8192);
        let hub = Arc::new(Hub::new(config.history, buffer, revision));
        let writer = Writer::spawn(
            Arc::clone(&db),
            Arc::clone(&hub),
            revision,
            config.max_batch,
        )?;
        Ok(RedbStore {
            db,
            writer,
            hub,
            snapshots: Arc::new(Snapshots::default()),
        })
    }

    async fn write(&self, op: WriteOp) -> Result<KeyValue, StoreError> {
        self.writer.submit(op).await
    }

    /// Runs a blocking read with a fresh read transaction.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Arc<Database>, &Snapshots) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = Arc::clone(&self.db);
        let snapshots = Arc::clone(&self.snapshots);
        let job = move || f(&db, &snapshots);
        if tokio::runtime::Handle::try_current().is_err() {
            return job();
        }
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|_| StoreError::Internal {
                context: "a store read task failed",
            })?
    }
}

/// Creates the tables on first open, checks the layout, returns the revision.
fn init(db: &Database) -> Result<Revision, StoreError> {
    let txn = db
        .begin_write()
        .map_err(StoreError::backend_with("begin the opening transaction"))?;
    let revision = {
        txn.open_table(KV)
            .map_err(StoreError::backend_with("create the kv table"))?;
        let mut meta = txn
            .open_table(META)
            .map_err(StoreError::backend_with("create the meta table"))?;
        let format = meta
            .get(FORMAT_KEY)
            .map_err(StoreError::backend_with("read the layout version"))?
            .map(|v| v.value());
        match format {
            None => {
                meta.insert(FORMAT_KEY, FORMAT)
                    .map_err(StoreError::backend_with("write the layout version"))?;
            }
            Some(FORMAT) => {}
            Some(other) => {
                return Err(StoreError::Corrupt {
                    key: FORMAT_KEY.to_owned(),
                    reason: format!("layout version {other}, this build reads {FORMAT}"),
                });
            }
        }
        meta.get(REVISION_KEY)
            .map_err(StoreError::backend_with("read the revision"))?
            .map_or(0, |v| v.value())
    };
    txn.commit()
        .map_err(StoreError::backend_with("commit the opening transaction"))?;
    Ok(revision)
}

fn begin_read(db: &Database) -> Result<ReadTransaction, StoreError> {
    db.begin_read()
        .map_err(StoreError::backend_with("begin a read transaction"))
}

impl Store for RedbStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let key = key.to_owned();
        self.read(move |db, _| read::get(&begin_read(db)?, &key))
            .await
    }

    /// One read transaction per page. A page that leaves keys for a further
    /// page parks its transaction (see the `snapshots` module: 30 s after last
    /// use, at most 32), so `opts.revision: Some(r)` can serve the next page
    /// from the same snapshot. The current revision is always served; another
    /// revision that is not parked answers `Expired`.
    async fn list(&self, prefix: &str, opts: ListOptions) -> Result<ListResult, StoreError> {
        let prefix = prefix.to_owned();
        self.read(move |db, snapshots| {
            let (txn, revision) = match opts.revision {
                None => {
                    let txn = begin_read(db)?;
                    let revision = read::revision(&txn)?;
                    (Arc::new(txn), revision)
                }
                Some(wanted) => match snapshots.get(wanted) {
                    Some(txn) => (txn, wanted),
                    None => {
                        let txn = begin_read(db)?;
                        let current = read::revision(&txn)?;
                        if wanted > current {
                            return Err(StoreError::FutureRevision {
                                requested: wanted,
                                current,
                            });
                        }
                        if wanted < current {
                            return Err(StoreError::Expired {
                                requested: wanted,
                                oldest: snapshots.oldest().unwrap_or(current),
                            });
                        }
                        (Arc::new(txn), current)
                    }
                },
            };
            let (items, remaining) =
                read::list(&txn, &prefix, opts.start_after.as_deref(), opts.limit)?;
            if remaining > 0 {
                snapshots.insert(revision, txn);
            }
            Ok(ListResult {
                items,
                revision,
                remaining,
            })
        })
        .await
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue, StoreError> {
        self.write(WriteOp::Create {
            key: key.to_owned(),
            value,
        })
        .await
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Option<Revision>,
    ) -> Result<KeyValue, StoreError> {
        self.write(WriteOp::Update {
            key: key.to_owned(),
            value,
            expected,
        })
        .await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue, StoreError> {
        self.write(WriteOp::Delete {
            key: key.to_owned(),
            expected,
        })
        .await
    }

    fn current_revision(&self) -> Revision {
        self.hub.current()
    }

    fn watch(&self, prefix: &str, after: Revision) -> Result<Watch, StoreError> {
        self.hub.subscribe(prefix, after)
    }

    /// Compaction only touches memory (watch history, parked snapshots): redb
    /// keeps no old versions of its own. Compacting at or below an earlier
    /// compaction is a no-op; beyond the current revision is `FutureRevision`.
    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.hub.compact(revision)?;
        self.snapshots.compact(revision);
        Ok(())
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        // Commit what is queued first, so its events still reach the watches.
        self.writer.shutdown();
        self.hub.close();
        self.snapshots.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &tempfile::TempDir) -> RedbStore {
        RedbStore::open(&dir.path().join("db"), RedbConfig::default()).expect("open")
    }

    #[tokio::test]
    async fn paged_list_reads_one_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir);
        for i in 0..5 {
            store
                .create(&format!("/p/{i}"), Bytes::from("v"))
                .await
                .expect("create");
        }
        let first = store
            .list(
                "/p/",
                ListOptions {
                    limit: Some(2),
                    ..Default::default()
                },
            )
            .await
            .expect("first page");
        assert_eq!((first.items.len(), first.remaining), (2, 3));
        // Writes after the first page must not show in the next pages.
        store.delete("/p/3", None).await.expect("delete");
        store
            .create("/p/5", Bytes::from("v"))
            .await
            .expect("create");
        let second = store
            .list(
                "/p/",
                ListOptions {
                    start_after: first.items.last().map(|kv| kv.key.clone()),
                    limit: Some(10),
                    revision: Some(first.revision),
                },
            )
            .await
            .expect("second page");
        let keys: Vec<_> = second.items.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["/p/2", "/p/3", "/p/4"]);
        assert_eq!((second.revision, second.remaining), (first.revision, 0));
    }

    #[tokio::test]
    async fn unparked_old_revision_is_expired() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir);
        let a = store.create("/a", Bytes::from("v")).await.expect("create");
        store.create("/b", Bytes::from("v")).await.expect("create");
        let opts = ListOptions {
            revision: Some(a.mod_revision),
            ..Default::default()
        };
        assert!(matches!(
            store.list("/", opts).await,
            Err(StoreError::Expired { .. })
        ));
    }

    #[test]
    fn reads_work_outside_a_runtime() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir);
        let created = futures::executor::block_on(store.create("/k", Bytes::from("v")));
        let got = futures::executor::block_on(store.get("/k")).expect("get");
        assert_eq!(got, created.ok());
    }
}
