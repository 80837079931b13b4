//! # skiff-node
//!
//! Skiff's node agent — its kubelet — and, like everything else in Skiff,
//! only an API client: it registers its Node (capacity and allocatable from
//! /proc, addresses, `kubernetes.io/os|arch|hostname` labels, the
//! RuntimeClass handlers it serves in `status.runtimeHandlers`), renews a
//! Lease in `kube-node-lease`, and watches the pods bound to it
//! (`spec.nodeName=<me>`). Each pod gets a [`worker`] that picks the
//! runtime by the pod's RuntimeClass handler, pulls images, runs the
//! containers through the CRI-shaped [`skiff_runtime::Runtime`] trait,
//! restarts them per `restartPolicy` with back-off, writes `pods/status`
//! as the kubelet does ([`status`]), and on deletion stops them within the
//! grace period and deletes the pod for good.
//!
//! Runtimes plug in by handler name ([`Config::runtimes`]); `skiff up`
//! registers the Wasm runtime as `wasmtime`.
//!
//! # Examples
//!
//! ```no_run
//! # async fn demo(client: kube::Client, rt: std::sync::Arc<dyn skiff_runtime::Runtime>) {
//! let mut cfg = skiff_node::Config::new("node-1", "/var/lib/skiff/agent".into());
//! cfg.runtimes.push(rt);
//! skiff_node::NodeAgent::new(client, cfg).run(std::future::pending()).await.unwrap();
//! # }
//! ```

#![deny(missing_docs)]

pub mod podip;
pub mod register;
pub mod status;
pub mod sysinfo;
pub mod worker;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use skiff_runtime::Runtime;
use tokio::sync::watch;

/// How the node agent is set up.
#[derive(Clone)]
pub struct Config {
    /// The Node's name.
    pub node_name: String,
    /// The node's InternalIP (also each pod's hostIP).
    pub address: IpAddr,
    /// Extra node labels.
    pub labels: BTreeMap<String, String>,
    /// The `pods` capacity.
    pub max_pods: u32,
    /// State directory: pod log directories live under `pods/`.
    pub data_dir: PathBuf,
    /// The runtimes, each serving its [`Runtime::handler`].
    pub runtimes: Vec<Arc<dyn Runtime>>,
    /// Handler for pods without a RuntimeClass (Kubernetes' default
    /// handler); `None` until the native runtime exists.
    pub default_handler: Option<String>,
    /// First restart back-off after the immediate one (the kubelet's 10 s).
    pub backoff_initial: std::time::Duration,
    /// Longest restart back-off (the kubelet's 5 min).
    pub backoff_max: std::time::Duration,
}

impl Config {
    /// Defaults: loopback address, 110 pods, kubelet back-off, no runtimes.
    pub fn new(node_name: impl Into<String>, data_dir: PathBuf) -> Self {
        Config {
            node_name: node_name.into(),
            address: IpAddr::from([127, 0, 0, 1]),
            labels: BTreeMap::new(),
            max_pods: 110,
            data_dir,
            runtimes: Vec::new(),
            default_handler: None,
            backoff_initial: std::time::Duration::from_secs(10),
            backoff_max: std::time::Duration::from_secs(300),
        }
    }

    /// The runtime serving `handler`.
    pub fn runtime(&self, handler: &str) -> Option<Arc<dyn Runtime>> {
        self.runtimes
            .iter()
            .find(|r| r.handler() == handler)
            .cloned()
    }
}

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed.
    #[error("{action}")]
    Api {
        /// What was being done.
        action: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Something that should not happen.
    #[error("{0}")]
    Internal(String),
}

/// The node agent.
pub struct NodeAgent {
    client: Client,
    cfg: Config,
}

impl NodeAgent {
    /// An agent acting through `client` (which should carry this node's
    /// identity, `system:node:<name>`).
    pub fn new(client: Client, cfg: Config) -> Self {
        NodeAgent { client, cfg }
    }

    /// Registers the node, then heartbeats and runs pods until `shutdown`.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let handlers: Vec<String> = self
            .cfg
            .runtimes
            .iter()
            .map(|r| r.handler().to_owned())
            .collect();
        register::register(&self.client, &self.cfg, &handlers).await?;
        tracing::info!(node = %self.cfg.node_name, ?handlers, "node registered");
        let heartbeat = register::heartbeat(self.client.clone(), self.cfg.clone(), handlers);
        let ctx = Arc::new(worker::Ctx {
            client: self.client.clone(),
            cfg: self.cfg.clone(),
            ips: podip::Allocator::new(),
            events: skiff_client::events::Recorder::new(
                self.client.clone(),
                "kubelet",
                &self.cfg.node_name,
            )
            .on_node(),
        });
        let pods = watcher(
            Api::<Pod>::all(self.client.clone()),
            watcher::Config::default().fields(&format!("spec.nodeName={}", self.cfg.node_name)),
        )
        .default_backoff();
        let mut workers: HashMap<String, watch::Sender<Option<Arc<Pod>>>> = HashMap::new();
        let mut seen_in_relist: HashSet<String> = HashSet::new();
        let dispatch = async {
            futures::pin_mut!(pods);
            while let Some(ev) = pods.next().await {
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(e) => {
                        tracing::warn!(error = %e, "pod watch failed");
                        continue;
                    }
                };
                match ev {
                    watcher::Event::Init => seen_in_relist.clear(),
                    watcher::Event::InitApply(p) => {
                        seen_in_relist.insert(p.uid().unwrap_or_default());
                        deliver(&ctx, &mut workers, p);
                    }
                    watcher::Event::InitDone => {
                        workers.retain(|uid, tx| {
                            let keep = seen_in_relist.contains(uid);
                            if !keep {
                                tx.send_replace(None);
                            }
                            keep
                        });
                    }
                    watcher::Event::Apply(p) => deliver(&ctx, &mut workers, p),
                    watcher::Event::Delete(p) => {
                        if let Some(tx) = workers.remove(&p.uid().unwrap_or_default()) {
                            tx.send_replace(None);
                        }
                    }
                }
            }
        };
        tokio::select! {
            _ = shutdown => {}
            _ = heartbeat => {}
            _ = dispatch => {}
        }
        Ok(())
    }
}

/// Hands the latest version of a pod to its worker, starting one for a pod
/// seen for the first time.
fn deliver(
    ctx: &Arc<worker::Ctx>,
    workers: &mut HashMap<String, watch::Sender<Option<Arc<Pod>>>>,
    pod: Pod,
) {
    let uid = pod.uid().unwrap_or_default();
    let pod = Arc::new(pod);
    if let Some(tx) = workers.get(&uid) {
        tx.send_replace(Some(pod));
        return;
    }
    let (tx, rx) = watch::channel(Some(pod.clone()));
    workers.insert(uid, tx);
    let ctx = ctx.clone();
    tokio::spawn(worker::run(ctx, rx));
}
