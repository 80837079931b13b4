//! `skiff agent`: the node agent alone, joining a cluster over HTTPS with a
//! bearer token — the same join path `skiff up` uses for its embedded agent
//! (there the client is in process, nothing else differs).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use skiff_node::network::{DEFAULT_BRIDGE, Ipv4Cidr, NodeNetwork};
use skiff_runtime::Runtime;
use skiff_runtime_native::{NativeRuntime, NativeRuntimeConfig, PodNetwork};
use skiff_runtime_wasm::{WasmRuntime, WasmRuntimeConfig};
use tokio::task::JoinHandle;

use crate::cli::{AgentArgs, DiskArgs, default_data_dir};

/// What a node agent starts with.
pub struct Join {
    /// The node's name.
    pub node_name: String,
    /// Its address.
    pub node_ip: std::net::IpAddr,
    /// Agent state (image store, pod logs).
    pub dir: PathBuf,
    /// `.wasm` files to import first, as PATH or PATH=REF.
    pub imports: Vec<String>,
    /// The node's pod CIDR.
    pub pod_cidr: Ipv4Cidr,
    /// Port of the node's HTTPS API (0: any free port).
    pub kubelet_port: u16,
    /// The node's `pods` capacity (`--max-pods`).
    pub max_pods: u32,
    /// Image GC thresholds and log rotation bounds.
    pub disk: DiskArgs,
}

/// Sets up the bridge; without it (no CAP_NET_ADMIN) pods get loopback
/// addresses and the reason is logged.
async fn pod_network(pod_cidr: Ipv4Cidr) -> Option<NodeNetwork> {
    let net = NodeNetwork {
        bridge: DEFAULT_BRIDGE.to_owned(),
        pod_cidr,
    };
    match net.ensure_bridge().await {
        Ok(()) => {
            tracing::info!(bridge = %net.bridge, %pod_cidr, "pod network ready");
            Some(net)
        }
        Err(e) => {
            tracing::warn!(error = %e, fallback = skiff_node::LOOPBACK_POD_CIDR,
                "no pod network: pods get loopback addresses reachable from this node only");
            None
        }
    }
}

/// Opens the native runtime; when this host cannot run containers (not
/// root, no shim, no cgroups) it logs why and the node serves Wasm only.
async fn native_runtime(
    dir: &Path,
    net: Option<&NodeNetwork>,
    disk: &DiskArgs,
) -> Option<NativeRuntime> {
    let mut cfg = NativeRuntimeConfig::new(dir.join("native"));
    cfg.log_max_bytes = disk.container_log_max_size;
    cfg.log_max_files = disk.container_log_max_files;
    if let Some(shim) = std::env::var_os("SKIFF_NATIVE_SHIM") {
        cfg.shim = PathBuf::from(shim);
    }
    cfg.network = net.map(|n| PodNetwork {
        bridge: n.bridge.clone(),
        gateway: n.pod_cidr.gateway(),
        prefix_len: n.pod_cidr.prefix_len(),
    });
    if let Err(why) = cfg.check_host() {
        tracing::warn!(reason = %why, "native runtime unavailable: serving Wasm pods only");
        return None;
    }
    match tokio::task::spawn_blocking(move || NativeRuntime::new(cfg)).await {
        Ok(Ok(rt)) => Some(rt),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "native runtime unavailable: serving Wasm pods only");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "native runtime unavailable: serving Wasm pods only");
            None
        }
    }
}

/// Opens the runtimes, imports images and starts the node agent on
/// `client`; it runs until `stop` completes.
pub async fn start(
    client: kube::Client,
    join: Join,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<JoinHandle<Result<(), skiff_node::Error>>> {
    let image_gc = join.disk.image_gc()?;
    let mut wasm_cfg = WasmRuntimeConfig::new(join.dir.join("wasm"));
    wasm_cfg.log_max_bytes = join.disk.container_log_max_size;
    wasm_cfg.log_max_files = join.disk.container_log_max_files;
    let wasm = tokio::task::spawn_blocking(move || WasmRuntime::new(wasm_cfg))
        .await
        .context("starting the Wasm runtime")?
        .context("starting the Wasm runtime")?;
    let network = pod_network(join.pod_cidr).await;
    let native = native_runtime(&join.dir, network.as_ref(), &join.disk).await;
    for spec in &join.imports {
        super::images::import(spec, native.as_ref(), &wasm).await?;
    }
    let mut cfg = skiff_node::Config::new(join.node_name, join.dir);
    cfg.address = join.node_ip;
    cfg.kubelet_port = join.kubelet_port;
    cfg.max_pods = join.max_pods;
    cfg.network = network;
    cfg.image_gc = image_gc;
    // Native is Kubernetes' default handler when it runs here; the Wasm
    // runtime still takes RuntimeClass-less pods whose images it holds.
    if let Some(native) = native {
        let native: Arc<dyn Runtime> = Arc::new(native);
        cfg.default_handler = Some(native.handler().to_owned());
        cfg.runtimes.push(native);
    }
    let wasm: Arc<dyn Runtime> = Arc::new(wasm);
    cfg.wasm_handler = Some(wasm.handler().to_owned());
    cfg.runtimes.push(wasm);
    let agent = skiff_node::NodeAgent::new(client, cfg);
    Ok(tokio::spawn(agent.run(stop)))
}

/// Runs the node agent until SIGINT or SIGTERM.
pub fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let client = super::remote_client(&args.remote).await?;
        let join = Join {
            node_name: args
                .node_name
                .clone()
                .unwrap_or_else(skiff_node::sysinfo::hostname),
            node_ip: args.node_ip,
            dir: args
                .data_dir
                .clone()
                .unwrap_or_else(default_data_dir)
                .join("agent"),
            imports: args.import.clone(),
            pod_cidr: args.network.node_cidr()?,
            kubelet_port: args.network.kubelet_port,
            max_pods: args.max_pods,
            disk: args.disk.clone(),
        };
        let name = join.node_name.clone();
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let mut task = start(client, join, async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        })
        .await?;
        println!("Skiff node agent {name} joining {}", args.remote.server);
        let ended = tokio::select! {
            signal = super::shutdown_signal() => {
                signal?;
                None
            }
            r = &mut task => Some(r),
        };
        let _ = stop_tx.send(true);
        let result = match ended {
            Some(r) => r,
            None => task.await,
        };
        match result {
            Ok(Ok(())) => Ok(ExitCode::SUCCESS),
            Ok(Err(e)) => Err(e).context("node agent"),
            Err(e) => Err(e).context("node agent task"),
        }
    })
}
