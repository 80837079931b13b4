//! The group-commit writer thread.
//!
//! Writes are queued to one dedicated OS thread (redb commits block on fsync,
//! which must not stall the tokio runtime). The thread takes everything queued
//! — up to `max_batch` writes — applies it in one write transaction, each write
//! with its own revision and its own precondition check, commits once with
//! fsync, publishes the events and then answers the callers. Writes arriving
//! during an fsync wait for the next batch, so the batch size adapts to the
//! load without a timer.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use ::redb::{Database, Durability, ReadableTable, Table, WriteTransaction};
use bytes::Bytes;
use tokio::sync::oneshot;

use super::codec::{self, KV, MAX_VALUE, META, REVISION_KEY};
use crate::watch::Hub;
use crate::{Event, EventKind, KeyValue, Revision, StoreError};

/// One write as queued by a caller.
pub(crate) enum WriteOp {
    Create {
        key: String,
        value: Bytes,
    },
    Update {
        key: String,
        value: Bytes,
        expected: Option<Revision>,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
}

struct Request {
    op: WriteOp,
    reply: oneshot::Sender<Result<KeyValue, StoreError>>,
}

/// Handle to the writer thread; dropping the queue stops it after it has
/// committed what was already queued.
pub(crate) struct Writer {
    queue: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread; `revision` is the last committed revision.
    pub(crate) fn spawn(
        db: Arc<Database>,
        hub: Arc<Hub>,
        revision: Revision,
        max_batch: usize,
    ) -> Result<Writer, StoreError> {
        let (queue, requests) = mpsc::channel();
        let state = WriterThread {
            db,
            hub,
            revision,
            max_batch: max_batch.max(1),
        };
        let thread = std::thread::Builder::new()
            .name("skiff-store-writer".into())
            .spawn(move || state.run(requests))
            .map_err(StoreError::backend_with("start the writer thread"))?;
        Ok(Writer {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Queues `op` and waits until it is durably committed (or refused).
    pub(crate) async fn submit(&self, op: WriteOp) -> Result<KeyValue, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(Request { op, reply })
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Stops accepting writes, lets the thread finish the queue, and waits for it.
    pub(crate) fn shutdown(&mut self) {
        self.queue = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("store writer thread panicked");
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct WriterThread {
    db: Arc<Database>,
    hub: Arc<Hub>,
    revision: Revision,
    max_batch: usize,
}

/// A batch applied but not yet committed.
struct Applied {
    txn: WriteTransaction,
    /// One answer per request, in order.
    answers: Vec<Result<KeyValue, StoreError>>,
    events: Vec<Event>,
    revision: Revision,
}

impl WriterThread {
    fn run(mut self, requests: mpsc::Receiver<Request>) {
        let mut batch = Vec::with_capacity(self.max_batch);
        while let Ok(first) = requests.recv() {
            batch.push(first);
            while batch.len() < self.max_batch {
                match requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            self.commit_batch(&mut batch);
        }
        tracing::debug!(revision = self.revision, "store writer stopped");
    }

    fn commit_batch(&mut self, batch: &mut Vec<Request>) {
        let answers = match self.apply(batch) {
            Err(error) => vec![Err(error); batch.len()],
            Ok(applied) if applied.events.is_empty() => {
                // Every write was refused: nothing to make durable.
                if let Err(error) = applied.txn.abort() {
                    tracing::warn!(%error, "aborting an empty store transaction failed");
                }
                applied.answers
            }
            Ok(applied) => {
                self.hub.begin_commit(applied.revision);
                match applied.txn.commit() {
                    Ok(()) => {
                        tracing::trace!(
                            writes = batch.len(),
                            revision = applied.revision,
                            "store batch committed"
                        );
                        self.revision = applied.revision;
                        self.hub.publish(applied.events);
                        applied.answers
                    }
                    Err(error) => {
                        self.hub.abort_commit();
                        let error = StoreError::backend("commit a write batch", error);
                        tracing::error!(%error, writes = batch.len(), "store commit failed");
                        vec![Err(error); batch.len()]
                    }
                }
            }
        };
        for (request, answer) in batch.drain(..).zip(answers) {
            // The caller may have given up waiting; the write stands regardless.
            let _ = request.reply.send(answer);
        }
    }

    /// Applies every request in one transaction. An `Err` is a backend failure
    /// that fails the whole batch; refused preconditions are per-request answers.
    fn apply(&self, batch: &[Request]) -> Result<Applied, StoreError> {
        let mut txn = self
            .db
            .begin_write()
            .map_err(StoreError::backend_with("begin a write transaction"))?;
        txn.set_durability(Durability::Immediate)
            .map_err(StoreError::backend_with("request durable commits"))?;
        let mut answers = Vec::with_capacity(batch.len());
        let mut events = Vec::with_capacity(batch.len());
        let mut revision = self.revision;
        {
            let mut kv = txn
                .open_table(KV)
                .map_err(StoreError::backend_with("open the kv table"))?;
            for request in batch {
                let next = revision.checked_add(1).ok_or(StoreError::Internal {
                    context: "revision counter overflow",
                })?;
                match apply_one(&mut kv, &request.op, next)? {
                    Ok((answer, event)) => {
                        revision = next;
                        answers.push(Ok(answer));
                        events.push(event);
                    }
                    Err(refused) => answers.push(Err(refused)),
                }
            }
        }
        if revision != self.revision {
            let mut meta = txn
                .open_table(META)
                .map_err(StoreError::backend_with("open the meta table"))?;
            meta.insert(REVISION_KEY, revision)
                .map_err(StoreError::backend_with("store the revision"))?;
        }
        Ok(Applied {
            txn,
            answers,
            events,
            revision,
        })
    }
}

type Outcome = Result<(KeyValue, Event), StoreError>;

/// Applies one write at `revision`. The outer error is a backend failure, the
/// inner one a refused precondition.
fn apply_one(
    kv: &mut Table<&str, &[u8]>,
    op: &WriteOp,
    revision: Revision,
) -> Result<Outcome, StoreError> {
    let key = match op {
        WriteOp::Create { key, .. } | WriteOp::Update { key, .. } | WriteOp::Delete { key, .. } => {
            key.as_str()
        }
    };
    let existing = match kv
        .get(key)
        .map_err(StoreError::backend_with("read a key"))?
    {
        None => None,
        // A corrupt record fails the write to it, not the whole batch.
        Some(record) => match codec::decode(key, record.value()) {
            Ok(current) => Some(current),
            Err(corrupt) => return Ok(Err(corrupt)),
        },
    };
    if let WriteOp::Create { value, .. } | WriteOp::Update { value, .. } = op
        && value.len() > MAX_VALUE
    {
        return Ok(Err(StoreError::ValueTooLarge {
            key: key.to_owned(),
            size: value.len(),
            max: MAX_VALUE,
        }));
    }
    let (answer, event) = match (op, existing) {
        (WriteOp::Create { .. }, Some(_)) => {
            return Ok(Err(StoreError::AlreadyExists {
                key: key.to_owned(),
            }));
        }
        (WriteOp::Update { .. } | WriteOp::Delete { .. }, None) => {
            return Ok(Err(StoreError::NotFound {
                key: key.to_owned(),
            }));
        }
        (
            WriteOp::Update {
                expected: Some(expected),
                ..
            }
            | WriteOp::Delete {
                expected: Some(expected),
                ..
            },
            Some(current),
        ) if *expected != current.mod_revision => {
            return Ok(Err(StoreError::Conflict {
                key: key.to_owned(),
                expected: *expected,
                actual: current.mod_revision,
            }));
        }
        (WriteOp::Create { value, .. }, None) => put(key, value, revision, None),
        (WriteOp::Update { value, .. }, Some(current)) => put(key, value, revision, Some(current)),
        (WriteOp::Delete { .. }, Some(current)) => {
            kv.remove(key)
                .map_err(StoreError::backend_with("delete a key"))?;
            let deleted = KeyValue {
                mod_revision: revision,
                ..current.clone()
            };
            let event = Event {
                revision,
                kind: EventKind::Delete,
                key: key.to_owned(),
                value: current.value.clone(),
                create_revision: current.create_revision,
                prev: Some(current),
            };
            return Ok(Ok((deleted, event)));
        }
    };
    kv.insert(
        key,
        codec::encode(answer.create_revision, revision, &answer.value).as_slice(),
    )
    .map_err(StoreError::backend_with("write a key"))?;
    Ok(Ok((answer, event)))
}

/// The stored value and event of a create (`prev` None) or update.
fn put(key: &str, value: &Bytes, revision: Revision, prev: Option<KeyValue>) -> (KeyValue, Event) {
    let create_revision = prev.as_ref().map_or(revision, |p| p.create_revision);
    let stored = KeyValue {
        key: key.to_owned(),
        value: value.clone(),
        create_revision,
        mod_revision: revision,
    };
    let event = Event {
        revision,
        kind: EventKind::Put,
        key: key.to_owned(),
        value: value.clone(),
        create_revision,
        prev,
    };
    (stored, event)
}
