//! The garbage collector: deletes objects whose owners are gone, and
//! finishes `Foreground` and `Orphan` deletions, for every resource the API
//! server serves (built-in kinds and CRDs alike), as Kubernetes' does.
//!
//! It cannot be one `kube::runtime::Controller` over one type, so it has
//! the same parts spelled out: [`discovery`] finds every resource that can
//! be listed, watched and deleted (again every 30 s and whenever a
//! CustomResourceDefinition changes); one metadata-only watch per resource
//! feeds the [`graph`] of owner references by uid; a queue of uids feeds
//! workers that act in [`collect`]. The graph is only a hint of where to
//! look: before deleting or changing anything a worker re-reads the object
//! and confirms every owner it believes absent with a live GET (name, then
//! uid), so a stale graph can delay the collector but not mislead it. A
//! restart rebuilds the graph from lists; nothing else is remembered.

mod collect;
pub mod discovery;
pub mod graph;

use std::collections::{HashMap, HashSet};
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::watcher;
use kube::runtime::watcher::{self, Event};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};

use crate::{Ctx, Shutdown};
use discovery::{Resources, Served};
use graph::{Graph, Node, ResourceKey, resource_key};

/// How often resources are rediscovered and the whole graph re-examined.
const RESYNC: Duration = Duration::from_secs(30);
/// How long to let a burst of CRD changes settle before rediscovering.
const CRD_SETTLE: Duration = Duration::from_millis(200);
/// How long a failed item waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// How many items are worked on at once.
const WORKERS: usize = 4;

/// Why the collector could not act on an object.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API request failed.
    #[error("{what}")]
    Api {
        /// The request, e.g. `deleting v1/configmaps default/a`.
        what: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// A JSON patch could not be built.
    #[error("building a JSON patch")]
    Patch(#[source] serde_json::Error),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Uids waiting for a worker, each at most once.
struct Queue {
    tx: mpsc::UnboundedSender<String>,
    pending: Mutex<HashSet<String>>,
}

impl Queue {
    fn add(&self, uid: &str) {
        if lock(&self.pending).insert(uid.to_owned()) {
            // The receiver lives as long as the collector; after shutdown
            // there is nobody left to tell.
            let _ = self.tx.send(uid.to_owned());
        }
    }

    fn taken(&self, uid: &str) {
        lock(&self.pending).remove(uid);
    }
}

/// The collector's shared state.
struct Gc {
    client: Client,
    graph: Mutex<Graph>,
    resources: Mutex<Arc<Resources>>,
    queue: Queue,
}

impl Gc {
    fn resources(&self) -> Arc<Resources> {
        lock(&self.resources).clone()
    }

    /// A watch saw `node` created or changed.
    fn observe(&self, node: Node) {
        let mut wake = Vec::new();
        {
            let mut g = lock(&self.graph);
            let old = g.upsert(node.clone());
            if g.needs_attention(&node) {
                wake.push(node.uid.clone());
            }
            // An owner waiting in the foreground hears of every change to
            // its dependents: one may have stopped blocking it.
            for r in old.iter().flat_map(|o| o.owners.iter()).chain(&node.owners) {
                if g.get(&r.uid)
                    .is_some_and(|o| o.deleting_with(graph::FOREGROUND))
                {
                    wake.push(r.uid.clone());
                }
            }
        }
        for uid in wake {
            self.queue.add(&uid);
        }
    }

    /// A watch saw the object with `uid` go.
    fn forget(&self, uid: &str) {
        let mut wake = Vec::new();
        {
            let mut g = lock(&self.graph);
            let old = g.remove(uid);
            wake.extend(g.dependents_of(uid).into_iter().map(|d| d.uid));
            for r in old.iter().flat_map(|o| o.owners.iter()) {
                if g.get(&r.uid)
                    .is_some_and(|o| o.deleting_with(graph::FOREGROUND))
                {
                    wake.push(r.uid.clone());
                }
            }
        }
        for uid in wake {
            self.queue.add(&uid);
        }
    }

    /// Queues every object that may need the collector.
    fn resync(&self) {
        let uids = lock(&self.graph).attention();
        for uid in uids {
            self.queue.add(&uid);
        }
    }
}

/// Runs the garbage collector until `shutdown` completes.
pub async fn run(ctx: Arc<Ctx>, shutdown: Shutdown) {
    let (tx, rx) = mpsc::unbounded_channel();
    let gc = Arc::new(Gc {
        client: ctx.client.clone(),
        graph: Mutex::new(Graph::default()),
        resources: Mutex::new(Arc::new(Resources::default())),
        queue: Queue {
            tx,
            pending: Mutex::new(HashSet::new()),
        },
    });
    tokio::select! {
        () = work(gc.clone(), rx) => {}
        () = discover_and_watch(gc) => {}
        () = shutdown => {}
    }
}

async fn work(gc: Arc<Gc>, rx: mpsc::UnboundedReceiver<String>) {
    let items = futures::stream::unfold(rx, |mut rx| async move {
        let uid = rx.recv().await?;
        Some((uid, rx))
    });
    items
        .for_each_concurrent(WORKERS, |uid| {
            let gc = gc.clone();
            async move {
                gc.queue.taken(&uid);
                if let Err(e) = gc.process(&uid).await {
                    tracing::info!(uid, error = %e, cause = ?std::error::Error::source(&e), "garbage collector will retry");
                    tokio::time::sleep(RETRY).await;
                    gc.queue.add(&uid);
                }
            }
        })
        .await;
}

/// The watches running, by resource.
#[derive(Default)]
struct Watches {
    tasks: JoinSet<()>,
    by_resource: HashMap<ResourceKey, AbortHandle>,
}

impl Watches {
    /// Starts watches for new resources and stops those no longer served.
    fn sync(&mut self, gc: &Arc<Gc>, resources: &Resources) {
        while self.tasks.try_join_next().is_some() {}
        let wanted: HashMap<ResourceKey, &Served> = resources
            .collectable()
            .map(|s| (resource_key(&s.resource), s))
            .collect();
        let gone: Vec<ResourceKey> = self
            .by_resource
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(h) = self.by_resource.remove(&key) {
                h.abort();
            }
            tracing::debug!(resource = key, "garbage collector stops watching");
            let uids = lock(&gc.graph).missing(&key, &HashSet::new());
            for uid in uids {
                gc.forget(&uid);
            }
        }
        for (key, served) in wanted {
            if !self.by_resource.contains_key(&key) {
                let h = self.tasks.spawn(watch(gc.clone(), served.clone()));
                self.by_resource.insert(key, h);
            }
        }
    }
}

async fn discover_and_watch(gc: Arc<Gc>) {
    let crds = watcher(
        Api::<CustomResourceDefinition>::all(gc.client.clone()),
        watcher::Config::default(),
    )
    .default_backoff();
    let mut crds = pin!(crds);
    let mut watches = Watches::default();
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            ev = crds.next() => {
                // A CRD came, went or changed what it serves: look again
                // soon (once the API server has established it).
                if let Some(Ok(Event::Apply(_) | Event::Delete(_) | Event::InitDone)) = ev {
                    wait = CRD_SETTLE;
                }
                continue;
            }
        }
        wait = RESYNC;
        match discovery::discover(&gc.client).await {
            Ok(resources) => {
                watches.sync(&gc, &resources);
                *lock(&gc.resources) = Arc::new(resources);
            }
            Err(e) => {
                tracing::warn!(error = %e, "garbage collector discovery failed");
                wait = RETRY;
            }
        }
        gc.resync();
    }
}

/// Feeds the graph from a metadata-only watch of one resource.
async fn watch(gc: Arc<Gc>, served: Served) {
    let api =
        Api::<PartialObjectMeta<DynamicObject>>::all_with(gc.client.clone(), &served.resource);
    let key = resource_key(&served.resource);
    let events = watcher(api, watcher::Config::default()).default_backoff();
    let mut events = pin!(events);
    // Uids a relist returned, to forget those it did not.
    let mut relist: Option<HashSet<String>> = None;
    while let Some(ev) = events.next().await {
        match ev {
            Ok(Event::Init) => relist = Some(HashSet::new()),
            Ok(Event::InitApply(m) | Event::Apply(m)) => {
                if let Some(node) =
                    Node::from_meta(&served.resource, served.namespaced, &m.metadata)
                {
                    if let Some(seen) = relist.as_mut() {
                        seen.insert(node.uid.clone());
                    }
                    gc.observe(node);
                }
            }
            Ok(Event::Delete(m)) => {
                if let Some(uid) = &m.metadata.uid {
                    gc.forget(uid);
                }
            }
            Ok(Event::InitDone) => {
                if let Some(seen) = relist.take() {
                    let missing = lock(&gc.graph).missing(&key, &seen);
                    for uid in missing {
                        gc.forget(&uid);
                    }
                }
            }
            Err(e) => tracing::debug!(resource = key, error = %e, "garbage collector watch"),
        }
    }
}
