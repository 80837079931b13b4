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
//! registers the native runtime as `runc`, the default handler, and the
//! Wasm runtime as `wasmtime`. A pod without a RuntimeClass runs native
//! unless every image it names is already in the Wasm runtime's store
//! ([`Config::wasm_handler`]): a Wasm artifact cannot run as a container.
//!
//! Each pod gets an address from the node's pod CIDR on the bridge
//! `skiff0` ([`network`], [`podip`]).
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

pub mod adopt;
pub mod env;
pub mod event_queue;
pub mod imagegc;
pub mod lifecycle;
pub mod netlink;
pub mod network;
pub mod podip;
pub mod probe;
pub mod pull;
pub mod pullsecrets;
pub mod register;
pub mod security;
pub mod server;
pub mod status;
pub mod sysinfo;
pub mod volumes;
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
    /// handler: the native runtime when it could start).
    pub default_handler: Option<String>,
    /// The Wasm runtime's handler. Its pods share the node's network
    /// namespace, so the agent puts their addresses on the bridge; and it
    /// takes a pod without a RuntimeClass whose images it all holds.
    pub wasm_handler: Option<String>,
    /// The pod network (bridge and pod CIDR). `None` when the bridge could
    /// not be set up (no CAP_NET_ADMIN): pods then get loopback addresses
    /// from [`LOOPBACK_POD_CIDR`], reachable from this node only.
    pub network: Option<network::NodeNetwork>,
    /// First restart back-off after the immediate one (the kubelet's 10 s).
    pub backoff_initial: std::time::Duration,
    /// Longest restart back-off (the kubelet's 5 min).
    pub backoff_max: std::time::Duration,
    /// Port of the node's HTTPS API (logs, exec) on [`Config::address`];
    /// 0 picks a free one. The Node status reports the port bound.
    pub kubelet_port: u16,
    /// When unused images are removed to free disk ([`imagegc`]).
    pub image_gc: imagegc::ImageGcPolicy,
}

impl Config {
    /// Defaults: loopback address, 110 pods, kubelet back-off, no runtimes.
    pub fn new(node_name: impl Into<String>, data_dir: PathBuf) -> Self {
        Config {
            node_name: node_name.into(),
            address: IpAddr::from([127, 0, 0, 1]),
            labels: BTreeMap::new(),
            max_pods: DEFAULT_MAX_PODS,
            data_dir,
            runtimes: Vec::new(),
            default_handler: None,
            wasm_handler: None,
            network: None,
            backoff_initial: std::time::Duration::from_secs(10),
            backoff_max: std::time::Duration::from_secs(300),
            kubelet_port: server::DEFAULT_PORT,
            image_gc: imagegc::ImageGcPolicy::default(),
        }
    }

    /// The range pod addresses come from.
    pub fn pod_cidr(&self) -> network::Ipv4Cidr {
        match &self.network {
            Some(n) => n.pod_cidr,
            None => network::Ipv4Cidr::new(std::net::Ipv4Addr::new(127, 42, 0, 0), 16)
                .unwrap_or_else(|| unreachable!("a /16 is a valid prefix")),
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

/// The kubelet's default `--max-pods`: the `pods` capacity a node reports
/// unless told otherwise.
pub const DEFAULT_MAX_PODS: u32 = 110;

/// Pod addresses without a pod network: every 127.0.0.0/8 address reaches
/// `lo` on Linux, so pods still listen side by side on one port, and no
/// packet leaves the node.
pub const LOOPBACK_POD_CIDR: &str = "127.42.0.0/16";

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
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        // Bound before registering, so the Node names the port in use. A
        // port already taken (say, by a real kubelet) leaves the node
        // without logs and exec, not without pods.
        let api_server: futures::future::BoxFuture<'static, ()> = match self.node_api().await {
            Ok(serve) => Box::pin(serve),
            Err(e) => {
                tracing::error!(error = %e, "node API not served: kubectl logs and exec will not reach this node");
                self.cfg.kubelet_port = 0;
                Box::pin(std::future::pending())
            }
        };
        let handlers: Vec<String> = self
            .cfg
            .runtimes
            .iter()
            .map(|r| r.handler().to_owned())
            .collect();
        register::register(&self.client, &self.cfg, &handlers).await?;
        tracing::info!(node = %self.cfg.node_name, ?handlers, "node registered");
        let heartbeat = register::heartbeat(self.client.clone(), self.cfg.clone(), handlers);
        // Before any worker starts: what the runtimes still hold from an
        // earlier agent process, and the addresses its sandboxes keep.
        let adoptable = adopt::Inventory::collect(&self.cfg.runtimes).await;
        let events = skiff_client::events::Recorder::new(
            self.client.clone(),
            "kubelet",
            &self.cfg.node_name,
        )
        .on_node();
        let (runtime_classes, classes_w) = kube::runtime::reflector::store();
        let classes = kube::runtime::reflector::reflector(
            classes_w,
            watcher(
                Api::<k8s_openapi::api::node::v1::RuntimeClass>::all(self.client.clone()),
                watcher::Config::default(),
            ),
        )
        .default_backoff()
        .for_each(|_| async {});
        let ctx = Arc::new(worker::Ctx {
            runtime_classes,
            client: self.client.clone(),
            cfg: self.cfg.clone(),
            ips: podip::Allocator::new(self.cfg.pod_cidr()),
            event_queue: event_queue::EventQueue::start(&events),
            events,
            adoptable,
            pulls: pull::Pulls::default(),
        });
        ctx.adoptable.claim_addresses(&ctx.ips);
        let image_gc = imagegc::run(imagegc::Collector {
            runtimes: self.cfg.runtimes.clone(),
            data_dir: self.cfg.data_dir.clone(),
            policy: self.cfg.image_gc,
            node_name: self.cfg.node_name.clone(),
            events: ctx.events.clone(),
        });
        let mut orphans_removed = false;
        let pods = watcher(
            Api::<Pod>::all(self.client.clone()),
            watcher::Config::default().fields(&format!("spec.nodeName={}", self.cfg.node_name)),
        )
        .default_backoff();
        let mut workers: HashMap<String, watch::Sender<Option<Arc<Pod>>>> = HashMap::new();
        let mut seen_in_relist: HashSet<String> = HashSet::new();
        // A (re)list is delivered whole at its end, after every listed pod
        // has claimed the address in its status: a restarted agent must not
        // hand a running pod's address to a new one.
        let mut relisted: Vec<Pod> = Vec::new();
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
                    watcher::Event::Init => {
                        seen_in_relist.clear();
                        relisted.clear();
                    }
                    watcher::Event::InitApply(p) => {
                        seen_in_relist.insert(p.uid().unwrap_or_default());
                        relisted.push(p);
                    }
                    watcher::Event::InitDone => {
                        for p in &relisted {
                            reclaim_address(&ctx, p);
                        }
                        for p in relisted.drain(..) {
                            deliver(&ctx, &mut workers, p);
                        }
                        if !std::mem::replace(&mut orphans_removed, true) {
                            let (ctx, bound) = (ctx.clone(), seen_in_relist.clone());
                            tokio::spawn(async move {
                                ctx.adoptable.remove_orphans(&bound, &ctx.ips).await;
                            });
                        }
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
            _ = api_server => {}
            _ = image_gc => {}
            _ = classes => {}
        }
        Ok(())
    }

    /// Binds the node's HTTPS API ([`server`]) and returns its serve loop.
    async fn node_api(&mut self) -> Result<impl Future<Output = ()> + use<>, Error> {
        let internal = |e: server::ServerError| {
            Error::Internal(format!("node API: {}", server::error_chain(&e)))
        };
        let listener = server::bind(std::net::SocketAddr::new(
            self.cfg.address,
            self.cfg.kubelet_port,
        ))
        .await
        .map_err(internal)?;
        self.cfg.kubelet_port = listener
            .local_addr()
            .map_err(|e| Error::Internal(format!("node API: {e}")))?
            .port();
        let tls = server::tls_config(vec![
            self.cfg.address.to_string(),
            self.cfg.node_name.clone(),
            "localhost".to_owned(),
        ])
        .map_err(internal)?;
        let node = Arc::new(server::Node {
            client: self.client.clone(),
            data_dir: self.cfg.data_dir.clone(),
            runtimes: self.cfg.runtimes.clone(),
            reviews: server::auth::Cache::default(),
            node_name: self.cfg.node_name.clone(),
            samples: server::stats::Samples::default(),
        });
        tracing::info!(port = self.cfg.kubelet_port, "node API listening");
        Ok(server::serve(listener, tls, node))
    }
}

/// Holds the address a pod's status names for it, if it is still free.
fn reclaim_address(ctx: &worker::Ctx, pod: &Pod) {
    let ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .and_then(|ip| ip.parse::<IpAddr>().ok());
    // A `hostNetwork` pod's address is the node's, not the allocator's.
    let host_network = pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
    if let Some(ip) = ip
        && pod.metadata.deletion_timestamp.is_none()
        && !host_network
    {
        ctx.ips.allocate(&pod.uid().unwrap_or_default(), Some(ip));
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
