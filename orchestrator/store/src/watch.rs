//! Watch history and live fan-out, independent of the backend.
//!
//! The [`Hub`] keeps the last `history` events in a ring and the live
//! subscribers grouped by prefix. Publishing and subscribing take the same
//! lock, so a new watch gets exactly the retained events after its revision
//! plus every event published afterwards: no gap, no duplicate.
//!
//! Each subscriber has a bounded channel. The publisher never waits: a
//! subscriber whose channel is full is dropped and told it expired, so a slow
//! consumer costs at most its buffer and re-lists, as in Kubernetes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

use crate::{Event, Revision, StoreError};

/// Why a subscriber's channel was closed by the hub.
const END_NONE: u8 = 0;
const END_LAGGED: u8 = 1;
const END_CLOSED: u8 = 2;

/// A live subscriber as the hub sees it.
struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Arc<Event>>,
    /// Events at or below this revision are already covered (the watch started
    /// from a revision whose commit was still being published).
    skip_through: Revision,
    end: Arc<AtomicU8>,
}

impl Subscriber {
    /// Hands `event` over; false when the subscriber must be dropped.
    fn deliver(&self, event: &Arc<Event>) -> bool {
        if event.revision <= self.skip_through {
            return true;
        }
        match self.tx.try_send(Arc::clone(event)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.end.store(END_LAGGED, Ordering::SeqCst);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

struct HubState {
    history: usize,
    buffer: usize,
    /// Events with revisions in `floor + 1 ..= current`, oldest first.
    ring: VecDeque<Arc<Event>>,
    /// Watching from `floor` or later is possible; older is expired.
    floor: Revision,
    /// The last published revision.
    current: Revision,
    /// The last revision of the commit in flight (`current` when none): a list
    /// may already see it, so a watch may start from it.
    pending: Revision,
    /// Subscribers by prefix.
    groups: HashMap<String, Vec<Subscriber>>,
    /// How many prefixes of each byte length are subscribed, so publishing an
    /// event looks up only the lengths in use rather than every subscriber.
    prefix_lens: BTreeMap<usize, usize>,
    next_id: u64,
    closed: bool,
}

impl HubState {
    fn fan_out(&mut self, event: &Arc<Event>) {
        let key = event.key.as_str();
        let mut emptied = Vec::new();
        for &len in self.prefix_lens.keys() {
            if len > key.len() {
                break;
            }
            let Some(prefix) = key.get(..len) else {
                continue;
            };
            if let Some(subs) = self.groups.get_mut(prefix) {
                subs.retain(|sub| sub.deliver(event));
                if subs.is_empty() {
                    emptied.push(len);
                }
            }
        }
        for len in emptied {
            if let Some(prefix) = key.get(..len) {
                self.remove_group_if_empty(prefix);
            }
        }
    }

    fn remove_group_if_empty(&mut self, prefix: &str) {
        if self.groups.get(prefix).is_some_and(Vec::is_empty) {
            self.groups.remove(prefix);
            if let Some(count) = self.prefix_lens.get_mut(&prefix.len()) {
                *count -= 1;
                if *count == 0 {
                    self.prefix_lens.remove(&prefix.len());
                }
            }
        }
    }

    /// Ends every subscriber matching `doomed` with `reason`.
    fn end_where(&mut self, reason: u8, doomed: impl Fn(&Subscriber) -> bool) {
        let prefixes: Vec<String> = self.groups.keys().cloned().collect();
        for prefix in prefixes {
            if let Some(subs) = self.groups.get_mut(&prefix) {
                subs.retain(|sub| {
                    if doomed(sub) {
                        sub.end.store(reason, Ordering::SeqCst);
                        false
                    } else {
                        true
                    }
                });
            }
            self.remove_group_if_empty(&prefix);
        }
    }
}

/// Retained history plus live subscribers; shared by the store and its watches.
pub(crate) struct Hub {
    state: Mutex<HubState>,
    /// Mirror of `state.current` for lock-free reads.
    current: AtomicU64,
}

impl Hub {
    /// A hub whose history starts empty at `revision`.
    ///
    /// `buffer` is each subscriber's channel capacity: how far a consumer may
    /// fall behind before it expires.
    pub(crate) fn new(history: usize, buffer: usize, revision: Revision) -> Self {
        Hub {
            state: Mutex::new(HubState {
                history,
                buffer: buffer.max(1),
                ring: VecDeque::new(),
                floor: revision,
                current: revision,
                pending: revision,
                groups: HashMap::new(),
                prefix_lens: BTreeMap::new(),
                next_id: 0,
                closed: false,
            }),
            current: AtomicU64::new(revision),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        // The state stays consistent between statements, so a panic elsewhere
        // while holding the lock leaves nothing half-done worth refusing.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last published revision.
    pub(crate) fn current(&self) -> Revision {
        self.current.load(Ordering::SeqCst)
    }

    /// The oldest revision a watch may start from.
    pub(crate) fn floor(&self) -> Revision {
        self.lock().floor
    }

    /// Announces that revisions up to `last` are being committed.
    pub(crate) fn begin_commit(&self, last: Revision) {
        let mut state = self.lock();
        state.pending = state.pending.max(last);
    }

    /// The commit announced by [`Hub::begin_commit`] failed: its revisions
    /// will be reused, so watches that started inside it must re-list.
    pub(crate) fn abort_commit(&self) {
        let mut state = self.lock();
        let current = state.current;
        state.pending = current;
        state.end_where(END_LAGGED, |sub| sub.skip_through > current);
    }

    /// Records committed events (consecutive revisions after the current one)
    /// and hands them to the matching subscribers.
    pub(crate) fn publish(&self, events: Vec<Event>) {
        let mut state = self.lock();
        for event in events {
            let event = Arc::new(event);
            state.current = event.revision;
            state.pending = state.pending.max(event.revision);
            state.fan_out(&event);
            if state.history > 0 {
                state.ring.push_back(event);
            } else {
                state.floor = state.current;
            }
            while state.ring.len() > state.history {
                if let Some(old) = state.ring.pop_front() {
                    state.floor = old.revision;
                }
            }
        }
        self.current.store(state.current, Ordering::SeqCst);
    }

    /// Subscribes to events under `prefix` after revision `after`.
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        prefix: &str,
        after: Revision,
    ) -> Result<Watch, StoreError> {
        let mut state = self.lock();
        if state.closed {
            return Err(StoreError::Closed);
        }
        if after > state.pending {
            return Err(StoreError::FutureRevision {
                requested: after,
                current: state.current,
            });
        }
        if after < state.floor {
            return Err(StoreError::Expired {
                requested: after,
                oldest: state.floor,
            });
        }
        let start = state.ring.partition_point(|e| e.revision <= after);
        let backlog: Vec<Arc<Event>> = state
            .ring
            .range(start..)
            .filter(|e| e.key.starts_with(prefix))
            .cloned()
            .collect();
        let (tx, rx) = mpsc::channel(state.buffer);
        let end = Arc::new(AtomicU8::new(END_NONE));
        let id = state.next_id;
        state.next_id += 1;
        let subscriber = Subscriber {
            id,
            tx,
            skip_through: after,
            end: Arc::clone(&end),
        };
        match state.groups.get_mut(prefix) {
            Some(subs) => subs.push(subscriber),
            None => {
                state.groups.insert(prefix.to_owned(), vec![subscriber]);
                *state.prefix_lens.entry(prefix.len()).or_insert(0) += 1;
            }
        }
        Ok(Watch {
            backlog: backlog.into_iter(),
            rx,
            end,
            hub: Arc::clone(self),
            id,
            prefix: prefix.to_owned(),
            last: after,
            done: false,
        })
    }

    fn unsubscribe(&self, prefix: &str, id: u64) {
        let mut state = self.lock();
        if let Some(subs) = state.groups.get_mut(prefix) {
            subs.retain(|sub| sub.id != id);
        }
        state.remove_group_if_empty(prefix);
    }

    /// Drops retained events at or below `revision`.
    pub(crate) fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let mut state = self.lock();
        if revision > state.current {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: state.current,
            });
        }
        if revision <= state.floor {
            return Ok(());
        }
        while state.ring.front().is_some_and(|e| e.revision <= revision) {
            state.ring.pop_front();
        }
        state.floor = revision;
        Ok(())
    }

    /// Ends every watch with [`StoreError::Closed`] and refuses new ones.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.end_where(END_CLOSED, |_| true);
    }
}

/// A live watch: a [`Stream`] of events in revision order.
///
/// A consumer too slow to keep up gets one `Err(StoreError::Expired)` and
/// then the stream ends (the client re-lists, as with Kubernetes); when the
/// store shuts down it gets `Err(StoreError::Closed)`. Dropping the watch
/// unsubscribes it.
pub struct Watch {
    /// Retained events replayed before the live ones.
    backlog: std::vec::IntoIter<Arc<Event>>,
    rx: mpsc::Receiver<Arc<Event>>,
    end: Arc<AtomicU8>,
    hub: Arc<Hub>,
    id: u64,
    prefix: String,
    /// Revision of the last event yielded (or the start revision).
    last: Revision,
    done: bool,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("prefix", &self.prefix)
            .field("last", &self.last)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Watch {
    /// The key prefix this watch follows.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The revision of the last event yielded, or the revision the watch started after.
    pub fn last_revision(&self) -> Revision {
        self.last
    }

    fn yield_event(&mut self, event: Arc<Event>) -> Poll<Option<Result<Event, StoreError>>> {
        self.last = event.revision;
        Poll::Ready(Some(Ok(Arc::unwrap_or_clone(event))))
    }
}

impl Stream for Watch {
    type Item = Result<Event, StoreError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(event) = this.backlog.next() {
            return this.yield_event(event);
        }
        match this.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(event)) => this.yield_event(event),
            Poll::Ready(None) => {
                this.done = true;
                match this.end.load(Ordering::SeqCst) {
                    END_LAGGED => Poll::Ready(Some(Err(StoreError::Expired {
                        requested: this.last,
                        oldest: this.hub.floor(),
                    }))),
                    END_CLOSED => Poll::Ready(Some(Err(StoreError::Closed))),
                    _ => Poll::Ready(None),
                }
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.hub.unsubscribe(&self.prefix, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventKind;
    use futures::StreamExt;

    fn put(revision: Revision, key: &str) -> Event {
        Event {
            revision,
            kind: EventKind::Put,
            key: key.to_owned(),
            value: bytes::Bytes::from_static(b"v"),
            create_revision: revision,
            prev: None,
        }
    }

    fn revisions(events: &[Result<Event, StoreError>]) -> Vec<Revision> {
        events
            .iter()
            .map(|e| e.as_ref().map(|e| e.revision).unwrap_or(0))
            .collect()
    }

    #[tokio::test]
    async fn replays_history_then_live_filtered_by_prefix() {
        let hub = Arc::new(Hub::new(10, 16, 0));
        hub.publish(vec![put(1, "/a/1"), put(2, "/ab/1"), put(3, "/a/2")]);
        let mut watch = hub.subscribe("/a/", 1).expect("subscribe");
        hub.publish(vec![put(4, "/a/3"), put(5, "/b/1")]);
        hub.close();
        let got: Vec<_> = watch.by_ref().collect().await;
        assert_eq!(revisions(&got), vec![3, 4, 0]);
        assert!(matches!(got.last(), Some(Err(StoreError::Closed))));
    }

    #[tokio::test]
    async fn ring_trims_and_expires_old_starts() {
        let hub = Arc::new(Hub::new(2, 16, 0));
        hub.publish((1..=5).map(|r| put(r, "/k")).collect());
        assert!(matches!(
            hub.subscribe("/", 2),
            Err(StoreError::Expired {
                requested: 2,
                oldest: 3
            })
        ));
        assert!(hub.subscribe("/", 3).is_ok());
        assert!(matches!(
            hub.subscribe("/", 6),
            Err(StoreError::FutureRevision {
                requested: 6,
                current: 5
            })
        ));
    }

    #[tokio::test]
    async fn slow_consumer_expires_after_its_buffer() {
        let hub = Arc::new(Hub::new(100, 2, 0));
        let mut watch = hub.subscribe("", 0).expect("subscribe");
        hub.publish((1..=5).map(|r| put(r, "/k")).collect());
        let got: Vec<_> = watch.by_ref().collect().await;
        assert_eq!(revisions(&got), vec![1, 2, 0]);
        assert!(matches!(
            got[2],
            Err(StoreError::Expired { requested: 2, .. })
        ));
        // The lagging subscriber is gone from the hub.
        assert!(hub.lock().groups.is_empty());
    }

    #[tokio::test]
    async fn watch_inside_pending_commit_skips_covered_events() {
        let hub = Arc::new(Hub::new(100, 16, 0));
        hub.begin_commit(2);
        let mut watch = hub
            .subscribe("", 1)
            .expect("pending revisions are watchable");
        hub.publish(vec![put(1, "/k"), put(2, "/k")]);
        assert_eq!(
            watch.next().await.map(|e| e.map(|e| e.revision).ok()),
            Some(Some(2))
        );
    }

    #[tokio::test]
    async fn aborted_commit_expires_watches_started_inside_it() {
        let hub = Arc::new(Hub::new(100, 16, 0));
        hub.begin_commit(3);
        let mut inside = hub.subscribe("", 2).expect("subscribe");
        let mut before = hub.subscribe("", 0).expect("subscribe");
        hub.abort_commit();
        hub.publish(vec![put(1, "/k")]);
        assert!(matches!(
            inside.next().await,
            Some(Err(StoreError::Expired { .. }))
        ));
        assert_eq!(
            before.next().await.map(|e| e.map(|e| e.revision).ok()),
            Some(Some(1))
        );
    }

    #[tokio::test]
    async fn compaction_moves_the_floor() {
        let hub = Arc::new(Hub::new(100, 16, 0));
        hub.publish((1..=5).map(|r| put(r, "/k")).collect());
        hub.compact(3).expect("compact");
        assert!(matches!(
            hub.subscribe("", 2),
            Err(StoreError::Expired { .. })
        ));
        let watch = hub
            .subscribe("", 3)
            .expect("watch from the compacted revision");
        assert_eq!(watch.backlog.len(), 2);
        assert!(matches!(
            hub.compact(9),
            Err(StoreError::FutureRevision { .. })
        ));
    }

    #[tokio::test]
    async fn dropping_a_watch_unsubscribes() {
        let hub = Arc::new(Hub::new(100, 16, 0));
        let a = hub.subscribe("/a/", 0).expect("subscribe");
        let b = hub.subscribe("/a/", 0).expect("subscribe");
        drop(a);
        assert_eq!(hub.lock().groups.get("/a/").map(Vec::len), Some(1));
        drop(b);
        assert!(hub.lock().groups.is_empty());
        assert!(hub.lock().prefix_lens.is_empty());
    }
}
