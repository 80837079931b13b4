//! The behaviour every [`Store`] backend must have, written against the trait
//! only. A backend's test module calls each function with a fresh, empty store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use skiff_store::{Event, EventKind, ListOptions, Revision, Store, StoreError, Watch};

/// How long a watch may take to deliver an event before the test fails.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn next_event(watch: &mut Watch) -> Event {
    tokio::time::timeout(EVENT_TIMEOUT, watch.next())
        .await
        .expect("event within timeout")
        .expect("stream still open")
        .expect("event, not error")
}

fn keys(items: &[skiff_store::KeyValue]) -> Vec<&str> {
    items.iter().map(|kv| kv.key.as_str()).collect()
}

/// Create, get, update, delete and their answers.
pub async fn crud<S: Store>(store: &S) {
    let start = store.current_revision();
    assert_eq!(store.get("/k").await.expect("get"), None);

    let created = store.create("/k", b("one")).await.expect("create");
    assert_eq!(created.key, "/k");
    assert_eq!(created.value, b("one"));
    assert!(created.mod_revision > start);
    assert_eq!(created.create_revision, created.mod_revision);
    assert_eq!(store.current_revision(), created.mod_revision);
    assert_eq!(store.get("/k").await.expect("get"), Some(created.clone()));

    match store.create("/k", b("again")).await {
        Err(StoreError::AlreadyExists { key }) => assert_eq!(key, "/k"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }

    let updated = store.update("/k", b("two"), None).await.expect("update");
    assert_eq!(updated.value, b("two"));
    assert_eq!(updated.create_revision, created.create_revision);
    assert!(updated.mod_revision > created.mod_revision);
    assert_eq!(store.get("/k").await.expect("get"), Some(updated.clone()));

    let deleted = store.delete("/k", None).await.expect("delete");
    assert_eq!(deleted.value, b("two"));
    assert_eq!(deleted.create_revision, created.create_revision);
    assert!(deleted.mod_revision > updated.mod_revision);
    assert_eq!(store.current_revision(), deleted.mod_revision);
    assert_eq!(store.get("/k").await.expect("get"), None);

    assert!(matches!(
        store.update("/k", b("x"), None).await,
        Err(StoreError::NotFound { key }) if key == "/k"
    ));
    assert!(matches!(
        store.delete("/k", None).await,
        Err(StoreError::NotFound { .. })
    ));

    // Recreating starts a new life: a new create_revision.
    let again = store.create("/k", b("three")).await.expect("recreate");
    assert!(again.create_revision > deleted.mod_revision);

    // Empty values and unusual keys are data like any other.
    let empty = store
        .create("/empty", Bytes::new())
        .await
        .expect("empty value");
    assert_eq!(store.get("/empty").await.expect("get"), Some(empty));
    let odd = "/ünïcode/\u{0}/key with spaces";
    store.create(odd, b("v")).await.expect("odd key");
    assert_eq!(
        store.get(odd).await.expect("get").map(|kv| kv.value),
        Some(b("v"))
    );
}

/// Compare-and-swap on `mod_revision`; refused writes consume no revision.
pub async fn cas_conflict<S: Store>(store: &S) {
    let created = store.create("/cas", b("v1")).await.expect("create");
    let v2 = store
        .update("/cas", b("v2"), Some(created.mod_revision))
        .await
        .expect("CAS update with the right revision");
    let before = store.current_revision();
    match store
        .update("/cas", b("stale"), Some(created.mod_revision))
        .await
    {
        Err(StoreError::Conflict {
            key,
            expected,
            actual,
        }) => {
            assert_eq!(key, "/cas");
            assert_eq!(expected, created.mod_revision);
            assert_eq!(actual, v2.mod_revision);
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert!(matches!(
        store.delete("/cas", Some(created.mod_revision)).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        store.current_revision(),
        before,
        "refused writes consume no revision"
    );
    assert_eq!(store.get("/cas").await.expect("get"), Some(v2.clone()));
    let deleted = store
        .delete("/cas", Some(v2.mod_revision))
        .await
        .expect("CAS delete with the right revision");
    assert_eq!(deleted.value, b("v2"));
}

/// Key order, paging, prefix isolation.
pub async fn list_order_paging_prefix<S: Store>(store: &S) {
    for key in ["/a/3", "/a/1", "/ab/1", "/a/2", "/b/1", "/a", "/a/0/nested"] {
        store.create(key, b(key)).await.expect("create");
    }
    let all = store
        .list("/a/", ListOptions::default())
        .await
        .expect("list");
    assert_eq!(keys(&all.items), ["/a/0/nested", "/a/1", "/a/2", "/a/3"]);
    assert_eq!(all.remaining, 0);
    assert!(all.items.iter().all(|kv| kv.value == b(&kv.key)));

    let ab = store
        .list("/ab/", ListOptions::default())
        .await
        .expect("list");
    assert_eq!(keys(&ab.items), ["/ab/1"]);
    let none = store
        .list("/zz/", ListOptions::default())
        .await
        .expect("list");
    assert!(none.items.is_empty());
    let everything = store.list("", ListOptions::default()).await.expect("list");
    assert_eq!(everything.items.len(), 7);

    // Page through /a/ two at a time.
    let mut seen = Vec::new();
    let mut opts = ListOptions {
        limit: Some(2),
        ..Default::default()
    };
    let mut pages = 0;
    loop {
        let page = store.list("/a/", opts.clone()).await.expect("page");
        pages += 1;
        seen.extend(page.items.iter().map(|kv| kv.key.clone()));
        assert_eq!(page.remaining, 4 - seen.len());
        if page.remaining == 0 {
            break;
        }
        opts.start_after = page.items.last().map(|kv| kv.key.clone());
        opts.revision = Some(page.revision);
    }
    assert_eq!(pages, 2);
    assert_eq!(seen, ["/a/0/nested", "/a/1", "/a/2", "/a/3"]);

    // A start_after before the prefix starts at the prefix; after it, nothing.
    let from_start = store
        .list(
            "/a/",
            ListOptions {
                start_after: Some("/".into()),
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(from_start.items.len(), 4);
    let past = store
        .list(
            "/a/",
            ListOptions {
                start_after: Some("/a/3".into()),
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert!(past.items.is_empty());
    assert_eq!(past.remaining, 0);
}

/// A list reports the revision of its snapshot, and a continued list sees
/// that snapshot even after further writes.
pub async fn consistent_list_revision<S: Store>(store: &S) {
    for i in 0..6 {
        store
            .create(&format!("/c/{i}"), b("v"))
            .await
            .expect("create");
    }
    let current = store.current_revision();
    let first = store
        .list(
            "/c/",
            ListOptions {
                limit: Some(3),
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(first.revision, current);
    assert!(
        first
            .items
            .iter()
            .all(|kv| kv.mod_revision <= first.revision)
    );

    store
        .update("/c/4", b("changed"), None)
        .await
        .expect("update");
    store.delete("/c/5", None).await.expect("delete");
    store.create("/c/6", b("v")).await.expect("create");

    let rest = store
        .list(
            "/c/",
            ListOptions {
                start_after: first.items.last().map(|kv| kv.key.clone()),
                limit: None,
                revision: Some(first.revision),
            },
        )
        .await
        .expect("continue at the first page's revision");
    assert_eq!(rest.revision, first.revision);
    assert_eq!(keys(&rest.items), ["/c/3", "/c/4", "/c/5"]);
    assert!(rest.items.iter().all(|kv| kv.value == b("v")));

    // The current revision can always be asked for explicitly.
    let now = store.current_revision();
    let fresh = store
        .list(
            "/c/",
            ListOptions {
                revision: Some(now),
                ..Default::default()
            },
        )
        .await
        .expect("list at the current revision");
    assert_eq!(fresh.revision, now);
    assert_eq!(
        keys(&fresh.items),
        ["/c/0", "/c/1", "/c/2", "/c/3", "/c/4", "/c/6"]
    );

    assert!(matches!(
        store
            .list(
                "/c/",
                ListOptions {
                    revision: Some(now + 100),
                    ..Default::default()
                }
            )
            .await,
        Err(StoreError::FutureRevision { .. })
    ));
}

/// A watch replays the retained history after its revision, then follows
/// live changes, filtered by prefix, with full event contents.
pub async fn watch_history_then_live<S: Store>(store: &S) {
    let start = store.current_revision();
    let a1 = store.create("/w/1", b("a")).await.expect("create");
    store
        .create("/wx/1", b("other prefix"))
        .await
        .expect("create");
    let a1u = store.update("/w/1", b("b"), None).await.expect("update");

    let mut watch = store.watch("/w/", start).expect("watch from the past");
    let e1 = next_event(&mut watch).await;
    assert_eq!(
        (e1.revision, e1.kind, e1.key.as_str()),
        (a1.mod_revision, EventKind::Put, "/w/1")
    );
    assert_eq!(e1.value, b("a"));
    assert_eq!(e1.create_revision, a1.create_revision);
    assert!(e1.prev.is_none(), "a create has no prev");
    let e2 = next_event(&mut watch).await;
    assert_eq!(e2.revision, a1u.mod_revision);
    assert_eq!(e2.value, b("b"));
    assert_eq!(e2.prev, Some(a1.clone()));

    // Live, after the replay.
    let deleted = store.delete("/w/1", None).await.expect("delete");
    store
        .create("/wx/2", b("other prefix"))
        .await
        .expect("create");
    let a2 = store.create("/w/2", b("c")).await.expect("create");
    let e3 = next_event(&mut watch).await;
    assert_eq!(
        (e3.kind, e3.revision),
        (EventKind::Delete, deleted.mod_revision)
    );
    assert_eq!(e3.value, b("b"));
    assert_eq!(e3.create_revision, a1.create_revision);
    assert_eq!(e3.prev, Some(a1u));
    let e4 = next_event(&mut watch).await;
    assert_eq!((e4.key.as_str(), e4.revision), ("/w/2", a2.mod_revision));

    // Watching from the middle replays only what follows.
    let mut mid = store.watch("/w/", e2.revision).expect("watch");
    assert_eq!(next_event(&mut mid).await.revision, e3.revision);
    assert_eq!(next_event(&mut mid).await.revision, e4.revision);

    // Watching from now sees only new events.
    let mut now = store.watch("", store.current_revision()).expect("watch");
    let last = store.create("/w/3", b("d")).await.expect("create");
    assert_eq!(next_event(&mut now).await.revision, last.mod_revision);
}

/// While writes keep arriving, a watch started from any recent revision sees
/// every later event exactly once, in order.
pub async fn watch_no_gap_under_concurrent_writes<S: Store>(store: Arc<S>) {
    const WRITES: usize = 300;
    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for i in 0..WRITES {
                store
                    .create(&format!("/gap/{i:04}"), b("v"))
                    .await
                    .expect("create");
            }
        })
    };
    let mut watches = Vec::new();
    while watches.len() < 20 {
        let from = store.current_revision();
        watches.push((from, store.watch("/gap/", from).expect("watch")));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    writer.await.expect("writer task");
    let end = store.current_revision();
    for (from, mut watch) in watches {
        let mut expected = from;
        while expected < end {
            let event = next_event(&mut watch).await;
            assert_eq!(
                event.revision,
                expected + 1,
                "gap or duplicate after {expected}"
            );
            expected = event.revision;
        }
    }
}

/// Watching from a revision beyond the current one is refused; so is
/// watching from before compacted history.
pub async fn watch_expired_and_future<S: Store>(store: &S) {
    for i in 0..5 {
        store
            .create(&format!("/e/{i}"), b("v"))
            .await
            .expect("create");
    }
    let current = store.current_revision();
    match store.watch("/e/", current + 1) {
        Err(StoreError::FutureRevision {
            requested,
            current: c,
        }) => {
            assert_eq!((requested, c), (current + 1, current));
        }
        other => panic!("expected FutureRevision, got {other:?}"),
    }
    store.compact(current - 2).await.expect("compact");
    match store.watch("/e/", current - 3) {
        Err(StoreError::Expired { requested, oldest }) => {
            assert_eq!(requested, current - 3);
            assert!(oldest >= current - 2, "oldest {oldest}");
        }
        other => panic!("expected Expired, got {other:?}"),
    }
    // The compacted revision itself is still a valid start.
    let mut watch = store.watch("/e/", current - 2).expect("watch");
    assert_eq!(next_event(&mut watch).await.revision, current - 1);
    assert_eq!(next_event(&mut watch).await.revision, current);
}

/// Compaction drops history and parked list snapshots, keeps the data.
pub async fn compaction<S: Store>(store: &S) {
    for i in 0..4 {
        store
            .create(&format!("/k/{i}"), b("v"))
            .await
            .expect("create");
    }
    let page = store
        .list(
            "/k/",
            ListOptions {
                limit: Some(1),
                ..Default::default()
            },
        )
        .await
        .expect("list");
    store.update("/k/0", b("w"), None).await.expect("update");
    let current = store.current_revision();
    store.compact(current).await.expect("compact to current");
    store
        .compact(current - 1)
        .await
        .expect("compacting again below is harmless");
    assert!(matches!(
        store
            .list(
                "/k/",
                ListOptions {
                    start_after: Some("/k/0".into()),
                    limit: None,
                    revision: Some(page.revision),
                }
            )
            .await,
        Err(StoreError::Expired { .. })
    ));
    assert!(matches!(
        store.watch("/k/", current - 1),
        Err(StoreError::Expired { .. })
    ));
    assert!(store.watch("/k/", current).is_ok());
    assert!(matches!(
        store.compact(current + 1).await,
        Err(StoreError::FutureRevision { .. })
    ));
    let all = store
        .list("/k/", ListOptions::default())
        .await
        .expect("list");
    assert_eq!(all.items.len(), 4);
    assert_eq!(all.revision, current);
}

/// Many tasks writing at once: every write acknowledged, present, with a
/// unique revision, and the events arrive in revision order.
pub async fn concurrent_writers<S: Store>(
    store: Arc<S>,
    tasks: usize,
    per_task: usize,
) -> Duration {
    let start = store.current_revision();
    let total = tasks * per_task;
    let mut watch = store.watch("/conc/", start).expect("watch");
    // Consumed while the writes run, as a real watcher would be.
    let watcher = tokio::spawn(async move {
        let mut last = start;
        for _ in 0..total {
            let event = next_event(&mut watch).await;
            assert!(event.revision > last, "events in revision order");
            last = event.revision;
        }
        last
    });
    let began = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut revisions = Vec::with_capacity(per_task);
                for i in 0..per_task {
                    let kv = store
                        .create(&format!("/conc/{t:03}/{i:04}"), b("v"))
                        .await
                        .expect("create");
                    revisions.push(kv.mod_revision);
                }
                revisions
            })
        })
        .collect();
    let mut revisions = Vec::with_capacity(tasks * per_task);
    for handle in handles {
        revisions.extend(handle.await.expect("writer task"));
    }
    let elapsed = began.elapsed();
    revisions.sort_unstable();
    revisions.dedup();
    assert_eq!(revisions.len(), total, "revisions are unique");
    assert_eq!(store.current_revision(), start + total as Revision);
    let listed = store
        .list("/conc/", ListOptions::default())
        .await
        .expect("list");
    assert_eq!(listed.items.len(), total);
    assert_eq!(
        watcher.await.expect("watcher task"),
        start + total as Revision
    );
    elapsed
}

/// Many watchers: each sees a write promptly. Returns how long the slowest took.
pub async fn many_watchers<S: Store>(store: &S, count: usize) -> Duration {
    const KEY: &str = "/fan/1/object";
    let from = store.current_revision();
    let mut waiters = Vec::with_capacity(count);
    for i in 0..count {
        // Every length of prefix of the key, so watchers sit in many groups.
        let prefix = &KEY[..1 + i % KEY.len()];
        let mut watch = store.watch(prefix, from).expect("watch");
        waiters.push(tokio::spawn(async move {
            let event = next_event(&mut watch).await;
            (event.revision, Instant::now())
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let written = Instant::now();
    let kv = store.create(KEY, b("v")).await.expect("create");
    let mut slowest = Duration::ZERO;
    for waiter in waiters {
        let (revision, seen) = waiter.await.expect("watcher task");
        assert_eq!(revision, kv.mod_revision);
        slowest = slowest.max(seen.duration_since(written));
    }
    slowest
}

/// Revisions survive reopening and keep increasing; so does the data.
pub async fn revisions_persist<S: Store>(mut open: impl FnMut() -> S) {
    let (last, kept) = {
        let store = open();
        let kept = store.create("/p/kept", b("v")).await.expect("create");
        store.create("/p/gone", b("v")).await.expect("create");
        let gone = store.delete("/p/gone", None).await.expect("delete");
        (gone.mod_revision, kept)
    };
    let store = open();
    assert_eq!(store.current_revision(), last);
    assert_eq!(store.get("/p/kept").await.expect("get"), Some(kept));
    assert_eq!(store.get("/p/gone").await.expect("get"), None);
    let list = store
        .list("/p/", ListOptions::default())
        .await
        .expect("list");
    assert_eq!(list.revision, last);
    // History starts empty at the reopened revision.
    assert!(matches!(
        store.watch("/p/", last - 1),
        Err(StoreError::Expired { .. })
    ));
    let mut watch = store
        .watch("/p/", last)
        .expect("watch from the current revision");
    let next = store.create("/p/new", b("v")).await.expect("create");
    assert!(next.mod_revision > last);
    assert_eq!(next_event(&mut watch).await.revision, next.mod_revision);
}
