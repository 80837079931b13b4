//! `skiff up`: the API server, scheduler, controller manager and node agent
//! in one process.
//!
//! Each component holds its own `kube::Client` built on the API server's
//! router as a tower service — no socket, no TLS, but the full request path
//! (authentication, admission, watch) — carrying its own bearer token, so
//! the API server sees `system:kube-scheduler`,
//! `system:kube-controller-manager` and `system:node:<name>` as
//! it would across machines. The tokens are fresh each start and never
//! written to disk.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::api::{Api, PostParams};
use skiff_apiserver::auth::User;

use crate::cli::{UpArgs, default_data_dir};

/// A random bearer token.
fn new_token() -> anyhow::Result<String> {
    use std::io::Read;
    let mut buf = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("reading /dev/urandom")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn user(name: &str, groups: &[&str]) -> User {
    User {
        name: name.to_owned(),
        uid: name.to_owned(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
    }
}

/// A client that calls the router in process with `token`.
fn in_process_client(router: axum::Router, token: &str) -> anyhow::Result<kube::Client> {
    Ok(skiff_client::connect::in_process(router, token)?)
}

/// Runs everything until SIGINT or SIGTERM.
pub fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(up(args))
}

async fn up(args: UpArgs) -> anyhow::Result<ExitCode> {
    let t0 = Instant::now();
    // Refused before anything starts, not once the server runs.
    args.disk.image_gc()?;
    let dir = args.data_dir.unwrap_or_else(default_data_dir);
    let node_name = args.node_name.unwrap_or_else(skiff_node::sysinfo::hostname);
    let (sched_token, node_token, boot_token) = (new_token()?, new_token()?, new_token()?);
    let kcm_token = new_token()?;
    let mut cfg = skiff_apiserver::Config::new(dir.clone());
    cfg.listen = args.listen;
    cfg.extra_sans = args.tls_san;
    cfg.extra_tokens = vec![
        (
            sched_token.clone(),
            user("system:kube-scheduler", &["system:authenticated"]),
        ),
        (
            kcm_token.clone(),
            user("system:kube-controller-manager", &["system:authenticated"]),
        ),
        (
            node_token.clone(),
            user(
                &format!("system:node:{node_name}"),
                &["system:nodes", "system:authenticated"],
            ),
        ),
        // The API server's own loopback identity, as in Kubernetes.
        (
            boot_token.clone(),
            user(
                "system:apiserver",
                &["system:masters", "system:authenticated"],
            ),
        ),
    ];
    let server = skiff_apiserver::start(cfg)
        .await
        .context("starting the API server")?;
    let router = skiff_apiserver::router(server.api.clone());
    let boot = in_process_client(router.clone(), &boot_token)?;
    ensure_runtime_class(&boot, "wasmtime").await?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let scheduler =
        skiff_scheduler::Scheduler::new(in_process_client(router.clone(), &sched_token)?);
    let sched_task = tokio::spawn(scheduler.run(stopped(stop_rx.clone())));
    let kcm = skiff_controllers::Config {
        root_ca: Some(
            std::fs::read_to_string(dir.join("tls/ca.crt")).context("reading the cluster CA")?,
        ),
    };
    // With --disable-controller-manager a `skiff controller-manager`
    // process elsewhere does this work.
    let kcm_task = if args.disable_controller_manager {
        None
    } else {
        Some(tokio::spawn(skiff_controllers::run(
            in_process_client(router.clone(), &kcm_token)?,
            kcm,
            stopped(stop_rx.clone()),
        )))
    };
    // The embedded agent joins through the same path as `skiff agent`.
    let join = super::agent::Join {
        node_name: node_name.clone(),
        node_ip: args.node_ip,
        dir: dir.join("agent"),
        imports: args.import,
        pod_cidr: args.network.node_cidr()?,
        kubelet_port: args.network.kubelet_port,
        max_pods: args.max_pods,
        disk: args.disk.clone(),
    };
    let agent_task = super::agent::start(
        in_process_client(router, &node_token)?,
        join,
        stopped(stop_rx.clone()),
    )
    .await?;
    wait_for_node(&boot, &node_name).await?;
    println!(
        "Skiff is up in {} ms: API server on https://{}, node {node_name} ready",
        t0.elapsed().as_millis(),
        server.local_addr
    );
    println!("kubeconfig: {}", server.kubeconfig.display());
    println!("try: skiff kubectl --data-dir {} get nodes", dir.display());

    super::shutdown_signal().await?;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    let _ = sched_task.await;
    if let Some(task) = kcm_task {
        let _ = task.await;
    }
    match agent_task.await {
        Ok(Err(e)) => tracing::warn!(error = %e, "node agent stopped with an error"),
        Err(e) => tracing::warn!(error = %e, "node agent task failed"),
        Ok(Ok(())) => {}
    }
    server.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// Creates a RuntimeClass for a handler this process serves, as k3s does
/// for the runtimes it finds.
async fn ensure_runtime_class(client: &kube::Client, handler: &str) -> anyhow::Result<()> {
    let api = Api::<RuntimeClass>::all(client.clone());
    if api.get_opt(handler).await?.is_some() {
        return Ok(());
    }
    let rc: RuntimeClass = serde_json::from_value(serde_json::json!({
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": handler, "labels": {"app.kubernetes.io/managed-by": "skiff"}},
        "handler": handler,
    }))?;
    match api.create(&PostParams::default(), &rc).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e).context("creating RuntimeClass"),
    }
}

/// Waits until the agent has registered its node (the readiness signal
/// `skiff up` reports).
async fn wait_for_node(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    let api = Api::<Node>::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = api.get_opt(name).await?.is_some_and(|n| {
            n.status
                .and_then(|s| s.conditions)
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        });
        if ready {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "node {name} did not register in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
