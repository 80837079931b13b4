//! `skiff agent`: the node agent alone, joining a cluster over HTTPS with a
//! bearer token — the same join path `skiff up` uses for its embedded agent
//! (there the client is in process, nothing else differs).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use skiff_runtime::Runtime;
use skiff_runtime_wasm::{WasmRuntime, WasmRuntimeConfig};
use tokio::task::JoinHandle;

use crate::cli::{AgentArgs, default_data_dir};

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
}

/// Opens the runtimes, imports images and starts the node agent on
/// `client`; it runs until `stop` completes.
pub async fn start(
    client: kube::Client,
    join: Join,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<JoinHandle<Result<(), skiff_node::Error>>> {
    let wasm_root = join.dir.join("wasm");
    let wasm =
        tokio::task::spawn_blocking(move || WasmRuntime::new(WasmRuntimeConfig::new(wasm_root)))
            .await
            .context("starting the Wasm runtime")?
            .context("starting the Wasm runtime")?;
    for spec in &join.imports {
        let (path, reference) = match spec.split_once('=') {
            Some((p, r)) => (p, Some(r)),
            None => (spec.as_str(), None),
        };
        let (r, id) = wasm
            .import_file(Path::new(path), reference)
            .await
            .with_context(|| format!("importing {path}"))?;
        println!("imported {path} as {r} ({id})");
    }
    let mut cfg = skiff_node::Config::new(join.node_name, join.dir);
    cfg.address = join.node_ip;
    // The native runtime plugs in here by its handler once it exists.
    let wasm: Arc<dyn Runtime> = Arc::new(wasm);
    cfg.runtimes.push(wasm);
    let agent = skiff_node::NodeAgent::new(client, cfg);
    Ok(tokio::spawn(agent.run(stop)))
}

/// A client for a remote API server from the command line's flags.
async fn remote_client(args: &AgentArgs) -> anyhow::Result<kube::Client> {
    use skiff_client::connect::{self, Trust};
    let trust = match (&args.ca_file, args.insecure_skip_tls_verify) {
        (Some(ca), _) => Trust::Ca(ca.clone()),
        (None, true) => Trust::InsecureSkipVerify,
        (None, false) => return Err(connect::Error::NoTrust.into()),
    };
    Ok(connect::remote(&args.server, &args.token, trust).await?)
}

/// Runs the node agent until SIGINT or SIGTERM.
pub fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let client = remote_client(&args).await?;
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
        };
        let name = join.node_name.clone();
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let mut task = start(client, join, async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        })
        .await?;
        println!("Skiff node agent {name} joining {}", args.server);
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
