//! The conformance suite on [`RedbStore`], plus redb-specific behaviour.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use skiff_store::{RedbConfig, RedbStore, Store, StoreError};
use tempfile::TempDir;

use crate::conformance;

/// A fresh database file in its own temporary directory.
pub struct Fixture {
    _dir: TempDir,
    pub path: PathBuf,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store.redb");
        Fixture { _dir: dir, path }
    }

    pub fn open(&self) -> RedbStore {
        self.open_with(RedbConfig::default())
    }

    pub fn open_with(&self, config: RedbConfig) -> RedbStore {
        RedbStore::open(&self.path, config).expect("open store")
    }
}

#[tokio::test]
async fn crud() {
    let f = Fixture::new();
    conformance::crud(&f.open()).await;
}

#[tokio::test]
async fn cas_conflict() {
    let f = Fixture::new();
    conformance::cas_conflict(&f.open()).await;
}

#[tokio::test]
async fn list_order_paging_prefix() {
    let f = Fixture::new();
    conformance::list_order_paging_prefix(&f.open()).await;
}

#[tokio::test]
async fn consistent_list_revision() {
    let f = Fixture::new();
    conformance::consistent_list_revision(&f.open()).await;
}

#[tokio::test]
async fn watch_history_then_live() {
    let f = Fixture::new();
    conformance::watch_history_then_live(&f.open()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_no_gap_under_concurrent_writes() {
    let f = Fixture::new();
    conformance::watch_no_gap_under_concurrent_writes(Arc::new(f.open())).await;
}

#[tokio::test]
async fn watch_expired_and_future() {
    let f = Fixture::new();
    conformance::watch_expired_and_future(&f.open()).await;
}

#[tokio::test]
async fn compaction() {
    let f = Fixture::new();
    conformance::compaction(&f.open()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers() {
    let f = Fixture::new();
    let store = Arc::new(f.open());
    let (tasks, per_task) = (64, 200);
    let elapsed = conformance::concurrent_writers(Arc::clone(&store), tasks, per_task).await;
    let rate = (tasks * per_task) as f64 / elapsed.as_secs_f64();
    eprintln!(
        "{} durable creates from {tasks} tasks in {elapsed:?}: {rate:.0}/s",
        tasks * per_task
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_watchers() {
    let f = Fixture::new();
    let slowest = conformance::many_watchers(&f.open(), 2000).await;
    eprintln!("slowest of 2000 watchers saw the write {slowest:?} after it was issued");
}

#[tokio::test]
async fn revisions_persist() {
    let f = Fixture::new();
    conformance::revisions_persist(|| f.open()).await;
}

/// With `history` events retained, the one before them is expired.
#[tokio::test]
async fn history_is_bounded() {
    let f = Fixture::new();
    let store = f.open_with(RedbConfig {
        history: 3,
        max_batch: 1,
    });
    for i in 0..6 {
        store
            .create(&format!("/h/{i}"), Bytes::from("v"))
            .await
            .expect("create");
    }
    assert!(matches!(
        store.watch("/h/", 2),
        Err(StoreError::Expired {
            requested: 2,
            oldest: 3
        })
    ));
    let replayed: Vec<_> = store
        .watch("/h/", 3)
        .expect("watch")
        .take(3)
        .map(|e| e.expect("event").revision)
        .collect()
        .await;
    assert_eq!(replayed, [4, 5, 6]);
}

/// A watcher that never reads is cut off with one Expired, then the stream ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_watcher_expires() {
    let f = Fixture::new();
    let store = Arc::new(f.open());
    let mut slow = store.watch("/slow/", 0).expect("watch");
    // More events than a watcher may buffer (8192 with the default config).
    let writers: Vec<_> = (0..32)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for i in 0..300 {
                    store
                        .create(&format!("/slow/{t}/{i}"), Bytes::from("v"))
                        .await
                        .expect("create");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    let mut delivered = 0;
    let last = loop {
        match slow.next().await {
            Some(Ok(_)) => delivered += 1,
            other => break other,
        }
    };
    assert!(
        matches!(last, Some(Err(StoreError::Expired { .. }))),
        "{last:?}"
    );
    assert!(delivered < 32 * 300);
    assert!(slow.next().await.is_none(), "the stream ends after Expired");
}

/// Dropping the store ends watches with Closed.
#[tokio::test]
async fn shutdown_closes_watches() {
    let f = Fixture::new();
    let store = f.open();
    let mut watch = store.watch("", 0).expect("watch");
    store.create("/x", Bytes::from("v")).await.expect("create");
    drop(store);
    assert_eq!(
        watch.next().await.map(|e| e.map(|e| e.revision).ok()),
        Some(Some(1))
    );
    assert!(matches!(watch.next().await, Some(Err(StoreError::Closed))));
    assert!(watch.next().await.is_none());
    // The file is closed: it opens again.
    assert_eq!(f.open().current_revision(), 1);
}

/// A failed precondition in a batch fails that write alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_write_fails_alone_in_a_batch() {
    let f = Fixture::new();
    let store = Arc::new(f.open());
    store
        .create("/dup", Bytes::from("v"))
        .await
        .expect("create");
    let results = futures::future::join_all((0..100).map(|i| {
        let store = Arc::clone(&store);
        async move {
            let key = if i % 10 == 0 {
                "/dup".to_owned()
            } else {
                format!("/ok/{i}")
            };
            store.create(&key, Bytes::from("v")).await
        }
    }))
    .await;
    let refused = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(refused, 10);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, StoreError::AlreadyExists { .. }))
    );
    assert_eq!(store.current_revision(), 1 + 90);
}

/// A second open of the same file is refused while the first holds it.
#[tokio::test]
async fn second_open_is_refused() {
    let f = Fixture::new();
    let _first = f.open();
    assert!(matches!(
        RedbStore::open(&f.path, RedbConfig::default()),
        Err(StoreError::Backend { .. })
    ));
}
