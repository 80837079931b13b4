//! Keeps a running pod's ConfigMap, Secret, downward API and projected
//! volumes current: a watch per referenced ConfigMap and Secret (bounded),
//! pod metadata changes from the worker, and a periodic resync. Updates
//! carry the pod's fsGroup ownership as the first write did.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use futures::stream::{BoxStream, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Volume};
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::watch;

use super::{FsGroup, NodeFacts, blocking, payload, uses_downward_api, write_payload};
use crate::env::Lookup;

/// How many ConfigMaps and Secrets one pod's refresher watches; the rest
/// are picked up by the periodic resync.
const MAX_WATCHES: usize = 16;
/// Resync period for what no watch covers (the kubelet's sync period).
const RESYNC: Duration = Duration::from_secs(60);

/// The names of the ConfigMaps and Secrets the volumes read.
fn referenced(volumes: &[(Volume, PathBuf)]) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut cms, mut secrets) = (BTreeSet::new(), BTreeSet::new());
    for (v, _) in volumes {
        if let Some(c) = &v.config_map {
            cms.insert(c.name.clone());
        }
        if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            secrets.insert(s);
        }
        for src in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(c) = &src.config_map {
                cms.insert(c.name.clone());
            }
            if let Some(s) = &src.secret {
                secrets.insert(s.name.clone());
            }
        }
    }
    (cms, secrets)
}

/// Watches one object by name; yields on each change.
fn watch_one<K>(api: Api<K>, name: &str) -> BoxStream<'static, ()>
where
    K: kube::Resource
        + Clone
        + std::fmt::Debug
        + k8s_openapi::serde::de::DeserializeOwned
        + Send
        + 'static,
{
    watcher(
        api,
        watcher::Config::default().fields(&format!("metadata.name={name}")),
    )
    .default_backoff()
    .filter_map(|ev| async move {
        match ev {
            Ok(
                watcher::Event::InitApply(_) | watcher::Event::Apply(_) | watcher::Event::Delete(_),
            ) => Some(()),
            _ => None,
        }
    })
    .boxed()
}

pub(super) async fn refresh_loop(
    client: Client,
    volumes: Vec<(Volume, PathBuf)>,
    mut pod_rx: watch::Receiver<Arc<Pod>>,
    facts: NodeFacts,
) {
    let ns = pod_rx
        .borrow()
        .namespace()
        .unwrap_or_else(|| "default".into());
    let (cms, secrets) = referenced(&volumes);
    let mut streams: Vec<BoxStream<'static, ()>> = Vec::new();
    for name in cms.iter().take(MAX_WATCHES) {
        streams.push(watch_one(
            Api::<ConfigMap>::namespaced(client.clone(), &ns),
            name,
        ));
    }
    for name in secrets
        .iter()
        .take(MAX_WATCHES.saturating_sub(streams.len()))
    {
        streams.push(watch_one(
            Api::<Secret>::namespaced(client.clone(), &ns),
            name,
        ));
    }
    let mut changes = futures::stream::select_all(streams);
    let mut resync = tokio::time::interval(RESYNC);
    resync.reset();
    loop {
        let only_downward = tokio::select! {
            changed = pod_rx.changed() => {
                if changed.is_err() {
                    return;
                }
                true
            }
            Some(()) = changes.next(), if !changes.is_empty() => {
                // Several events at once (the initial list) need one pass.
                while let Some(Some(())) = changes.next().now_or_never() {}
                false
            }
            _ = resync.tick() => false,
        };
        let pod = pod_rx.borrow_and_update().clone();
        let info = facts.info(&pod);
        // What is written now is group-owned as at setup.
        let owner = FsGroup::of_pod(&pod);
        let mut lookup = Lookup::new(&client, &ns);
        for (v, dir) in &volumes {
            if only_downward && !uses_downward_api(v) {
                continue;
            }
            match payload(v, &info, &mut lookup).await {
                Ok(Some(p)) => {
                    let d = dir.clone();
                    match blocking(move || write_payload(&d, p, owner)).await {
                        Ok(true) => tracing::info!(volume = %v.name, "volume updated"),
                        Ok(false) => {}
                        Err(e) => tracing::warn!(volume = %v.name, error = %e, "updating volume"),
                    }
                }
                Ok(None) => {}
                // As the kubelet: keep the last good content.
                Err(e) => tracing::warn!(volume = %v.name, error = %e, "refreshing volume"),
            }
        }
    }
}
