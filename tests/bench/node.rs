//! `skiff-bench node`: what one node holds and how fast its parts start
//! (issue 6).
//!
//! - **up**: `skiff up` on a fresh data directory (CA, certificates,
//!   kubeconfig, store, node registration) until it prints that it is up,
//!   i.e. its Node is Ready. Median of `--up-runs`.
//! - **density**: `--pods` hello-http Wasm pods (services, each listening on
//!   its own pod IP) on one `skiff up` node; time until all Running and the
//!   process's resident memory per pod (RSS after minus RSS before, over the
//!   pod count). In `skiff up` one process holds the API server, its store
//!   and watch caches, the controllers, the scheduler and the agent, so the
//!   figure is an upper bound on the agent's own share.
//! - **scheduler**: `skiff server` with `--nodes` Node objects (no agents)
//!   and `--bindings` pending pods already stored; then a `skiff scheduler`
//!   process starts, and the clock runs from its spawn until every pod has a
//!   `spec.nodeName`: bindings/s including its start-up and initial list.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use skiff_tests::Cluster;

use crate::stats::{Report, Verdict, drive, mib, ms, poll_until, rss_kib};

/// How often the waits list pods: thousands of them, so not too often.
const POLL: Duration = Duration::from_millis(250);

/// The image reference the density pods use.
const HELLO: &str = "localhost/bench/hello-http:1";

/// Flags of `skiff-bench node`.
#[derive(clap::Args, Debug)]
pub(crate) struct NodeArgs {
    /// Fresh `skiff up` starts for the ready time (0 skips).
    #[arg(long, default_value_t = 5)]
    up_runs: usize,
    /// Wasm pods on the one node (0 skips the density measurement).
    #[arg(long, default_value_t = 5000)]
    pods: usize,
    /// Pending pods for the scheduler to bind (0 skips).
    #[arg(long, default_value_t = 2000)]
    bindings: usize,
    /// Nodes the scheduler chooses among.
    #[arg(long, default_value_t = 50)]
    nodes: usize,
    /// Bound on every wait, in seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
}

pub(crate) async fn run(args: &NodeArgs, report: &mut Report) -> anyhow::Result<()> {
    let limit = Duration::from_secs(args.timeout_secs);
    if args.up_runs > 0 {
        up_ready(args.up_runs, report).await?;
    }
    if args.pods > 0 {
        density(args.pods, limit, report).await?;
    }
    if args.bindings > 0 {
        scheduler(args.bindings, args.nodes, limit, report).await?;
    }
    Ok(())
}

async fn up_ready(runs: usize, report: &mut Report) -> anyhow::Result<()> {
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let cluster = tokio::task::spawn_blocking(|| Cluster::up(&[])).await??;
        times.push(t.elapsed());
        drop(cluster);
    }
    times.sort();
    let median = times[times.len() / 2];
    let all: Vec<String> = times.iter().map(|t| ms(*t)).collect();
    report.row(
        &format!("`skiff up` fresh data dir → node Ready, median of {runs}"),
        "< 2 s",
        format!("{} (runs: {})", ms(median), all.join(", ")),
        Verdict::of(median < Duration::from_secs(2)),
    );
    Ok(())
}

async fn density(n: usize, limit: Duration, report: &mut Report) -> anyhow::Result<()> {
    let hello = skiff_tests::wasm_example("hello-http");
    let import = format!("{}={HELLO}", hello.display());
    let max_pods = (n + 100).to_string();
    let up_args = [
        "--import".to_owned(),
        import,
        // A /18: 16,382 addresses.
        "--pod-cidr".to_owned(),
        "10.40.0.0/18".to_owned(),
        "--max-pods".to_owned(),
        max_pods,
    ];
    let cluster = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = up_args.iter().map(String::as_str).collect();
        Cluster::up(&args)
    })
    .await??;
    let pid = cluster.pid().context("skiff up has no process")?;
    let client = cluster.client().await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = rss_kib(pid, "VmRSS")?;
    let t = Instant::now();
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    create_pods(&api, n, limit, "density", |i| {
        wasm_pod(&format!("dense-{i}"))
    })
    .await;
    let running = poll_until(limit, POLL, || async {
        let pods = api.list(&ListParams::default()).await.ok()?;
        let running = pods
            .items
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .count();
        (running >= n).then_some(())
    })
    .await;
    let took = t.elapsed();
    // Let the status writes and caches settle before reading memory.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(pid, "VmRSS")?;
    let per_pod = after.saturating_sub(before) as f64 / n as f64;
    report.row(
        &format!("{n} Wasm pods (hello-http) on one node: create → all Running"),
        "≥ 5,000 pods",
        if running {
            format!("{:.2} s", took.as_secs_f64())
        } else {
            format!("not all Running in {limit:?}")
        },
        Verdict::of(running && n >= 5000),
    );
    report.row(
        &format!("`skiff up` RSS per Wasm pod ({n} pods; whole process)"),
        "< 2 MiB",
        format!(
            "{:.2} MiB ({} before, {} after)",
            per_pod / 1024.0,
            mib(before),
            mib(after)
        ),
        Verdict::of(running && per_pod < 2048.0),
    );
    Ok(())
}

/// Creates pods `manifest(0..n)` from 16 concurrent clients; prints how it
/// went (`what` names the measurement).
async fn create_pods(
    api: &Api<Pod>,
    n: usize,
    limit: Duration,
    what: &str,
    manifest: fn(usize) -> Value,
) {
    let api = api.clone();
    let run = drive(16, n, limit, move |_, i| {
        let api = api.clone();
        async move {
            let pod: Pod = serde_json::from_value(manifest(i))?;
            api.create(&PostParams::default(), &pod).await?;
            Ok(())
        }
    })
    .await;
    println!("{what} creates: {}", run.summary());
}

fn wasm_pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "dense"}},
        "spec": {
            "runtimeClassName": "wasmtime",
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "web",
                "image": HELLO,
                "ports": [{"containerPort": 8080}]
            }]
        }
    })
}

async fn scheduler(
    n: usize,
    nodes: usize,
    limit: Duration,
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut cluster = tokio::task::spawn_blocking(Cluster::start).await??;
    // The scheduler's identity, as an operator adds it to tokens.csv.
    cluster.kill();
    let tokens = cluster.dir.path().join("tokens.csv");
    let mut csv = std::fs::read_to_string(&tokens)?;
    csv.push_str("bench-sched-token,system:kube-scheduler,sched\n");
    std::fs::write(&tokens, csv)?;
    cluster.spawn()?;
    let client = cluster.client().await?;
    for i in 0..nodes {
        add_node(&client, &format!("bench-node-{i}")).await?;
    }
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    create_pods(&api, n, limit, "scheduler", |i| {
        pending_pod(&format!("sched-{i}"))
    })
    .await;
    let server = std::fs::read_to_string(&cluster.kubeconfig)?
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: ").map(str::to_owned))
        .context("server in kubeconfig")?;
    let t = Instant::now();
    let mut child = KillOnDrop(
        std::process::Command::new(skiff_tests::skiff_bin())
            .args([
                "scheduler",
                "--server",
                &server,
                "--token",
                "bench-sched-token",
            ])
            .arg("--ca-file")
            .arg(cluster.dir.path().join("tls/ca.crt"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting skiff scheduler")?,
    );
    let bound = poll_until(limit, POLL, || async {
        let pods = api.list(&ListParams::default()).await.ok()?;
        let bound = pods
            .items
            .iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some())
            .count();
        (bound >= n).then_some(())
    })
    .await;
    let took = t.elapsed();
    if let Ok(Some(status)) = child.0.try_wait() {
        bail!("skiff scheduler exited early: {status}");
    }
    report.row(
        &format!("Scheduler: {n} pending pods, {nodes} nodes, process start → all bound"),
        "—",
        if bound {
            format!(
                "{:.0} bindings/s ({:.2} s)",
                n as f64 / took.as_secs_f64(),
                took.as_secs_f64()
            )
        } else {
            format!("not all bound in {limit:?}")
        },
        Verdict::Info,
    );
    Ok(())
}

/// A Ready Node with room for everything, as an agent would register it.
async fn add_node(client: &Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
    }))?;
    api.create(&PostParams::default(), &node).await?;
    let capacity = json!({"cpu": "64", "memory": "256Gi", "pods": "10000"});
    let status = json!({"status": {
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "bench node"}]
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

fn pending_pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "sched"}},
        "spec": {
            "containers": [{
                "name": "main",
                "image": "localhost/bench/none:1",
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}
            }]
        }
    })
}

/// Kills the child process when dropped.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
