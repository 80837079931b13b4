//! The two pieces every applier-based controller (ReplicaSet, Deployment,
//! DaemonSet, PodDisruptionBudget) repeats: a watch cache over all objects
//! of a kind, and driving the applier until shutdown.

use std::fmt::Debug;

use futures::{Stream, StreamExt};
use kube::Resource;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;

use crate::Shutdown;

/// A cache of every `K` in the cluster, and the event stream that fills it
/// (poll it, e.g. through a trigger, or the cache stays empty).
pub fn all<K>(
    client: &kube::Client,
) -> (
    Store<K>,
    impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let (store, writer) = reflector::store::<K>();
    let events = reflector::reflector(
        writer,
        watcher(Api::<K>::all(client.clone()), watcher::Config::default()).default_backoff(),
    );
    (store, events)
}

/// Drives an applier's results until `shutdown`; a failed reconcile was
/// already requeued by its error policy, so it is only logged here.
pub async fn drive<T, E: std::fmt::Display>(
    results: impl Stream<Item = Result<T, E>>,
    shutdown: Shutdown,
    what: &str,
) {
    results
        .take_until(shutdown)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "{what} reconcile");
            }
        })
        .await;
}
