//! `skiff-bench pods`: pods and workloads on a real `skiff up` (API server,
//! scheduler, controller manager and node agent in one process) — pod
//! startup latency, a 1,000-replica Deployment, a rolling update and a
//! 1,000-completion Job, all Wasm; native busybox startup beside the Wasm one.
//!
//! The cluster is the e2e harness's ([`skiff_tests::Cluster::up`]): `skiff
//! up` in a network namespace the harness creates (its pod network, the
//! bridge `skiff0`, stays in there), reached over the namespace's veth.
//! Startup latency is client-side: from just before the POST to the watch
//! event that first shows the pod's Ready condition True (the API's
//! timestamps have one-second precision). Workload times poll the object's
//! status every [`POLL`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::{Api, Client};
use serde_json::{Value, json};
use skiff_runtime_native::testing::Registry;
use skiff_tests::Cluster;
use tokio::sync::oneshot;

use crate::stats::{Report, Run, Verdict, drive, ms, poll_until};

const HELLO_V1: &str = "localhost/skiff-bench/hello-http:v1";
const HELLO_V2: &str = "localhost/skiff-bench/hello-http:v2";
const JOB: &str = "localhost/skiff-bench/job:v1";
/// How often workload status is read.
const POLL: Duration = Duration::from_millis(20);

/// What `skiff-bench pods` measures, and how much.
#[derive(clap::Args, Debug)]
pub(crate) struct PodsArgs {
    /// Pods created per runtime for the startup latency.
    #[arg(long, default_value_t = 200)]
    startups: usize,
    /// Pods being started at once in the startup run.
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// Skip the native (busybox) startup run.
    #[arg(long)]
    no_native: bool,
    /// Replicas of the batch Deployment.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Replicas of the Deployment that is rolled from v1 to v2.
    #[arg(long, default_value_t = 100)]
    rollout: usize,
    /// Completions of the Job.
    #[arg(long, default_value_t = 1000)]
    completions: usize,
    /// Parallelism of the Job.
    #[arg(long, default_value_t = 100)]
    parallelism: usize,
    /// Limit for each measurement, seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
    /// `skiff up --max-pods`: the node's `pods` capacity, above the
    /// kubelet's default 110 so the 1,000-replica workloads fit on one node.
    #[arg(long, default_value_t = 2000)]
    max_pods: usize,
    /// Copy `skiff up`'s log here at the end.
    #[arg(long)]
    keep_log: Option<std::path::PathBuf>,
}

/// Runs every pod and workload measurement against one fresh `skiff up`.
pub(crate) async fn run(args: &PodsArgs, report: &mut Report) -> anyhow::Result<()> {
    println!("skiff binary: {}", skiff_tests::skiff_bin().display());
    println!("load average at start: {}", load_average());
    let hello = skiff_tests::wasm_example("hello-http");
    let job = skiff_tests::wasm_example("job");
    let mut up_args: Vec<String> = [
        format!("{}={HELLO_V1}", hello.display()),
        format!("{}={HELLO_V2}", hello.display()),
        format!("{}={JOB}", job.display()),
    ]
    .into_iter()
    .flat_map(|i| ["--import".to_owned(), i])
    .collect();
    // Room for more than the 253 addresses of the default /24.
    up_args.extend(["--pod-cidr".to_owned(), "10.42.0.0/21".to_owned()]);
    up_args.extend(["--max-pods".to_owned(), args.max_pods.to_string()]);
    let cluster = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = up_args.iter().map(String::as_str).collect();
        Cluster::up(&args)
    })
    .await??;
    let client = cluster.client().await?;
    let limit = Duration::from_secs(args.timeout_secs);
    let result = measure(args, &cluster, &client, limit, report).await;
    if result.is_err() {
        let log = cluster.log();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        eprintln!("last lines of the skiff log:");
        for l in tail.iter().rev() {
            eprintln!("  {l}");
        }
    }
    println!("load average at end: {}", load_average());
    if let Some(path) = &args.keep_log {
        std::fs::write(path, cluster.log())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    result
}

async fn measure(
    args: &PodsArgs,
    cluster: &Cluster,
    client: &Client,
    limit: Duration,
    report: &mut Report,
) -> anyhow::Result<()> {
    // 1. Startup latency, Wasm (and native).
    create_namespace(client, "bench-wasm").await?;
    let wasm = startup(client, "bench-wasm", args, limit, |name| {
        wasm_pod(name, HELLO_V1)
    })
    .await?;
    println!("wasm startup: {}", wasm.summary());
    startup_rows(
        report,
        "Wasm (hello-http)",
        args.concurrency,
        &wasm,
        Duration::from_millis(50),
        "p99 < 50 ms",
    );

    if !args.no_native {
        let netns = cluster.netns().context("skiff up runs in a netns")?.path();
        let registry = tokio::task::spawn_blocking(move || {
            let r = Registry::start(Some(&netns));
            let image = r.push_busybox("1");
            (r, image)
        })
        .await;
        match registry {
            Ok((_registry, busybox)) => {
                create_namespace(client, "bench-native").await?;
                let native = startup(client, "bench-native", args, limit, |name| {
                    native_pod(name, &busybox)
                })
                .await?;
                println!("native startup: {}", native.summary());
                startup_rows(
                    report,
                    "native (busybox)",
                    args.concurrency,
                    &native,
                    Duration::from_millis(500),
                    "p99 < 500 ms",
                );
            }
            Err(e) => report.row(
                "Pod startup create→Ready, native (busybox)",
                "p99 < 500 ms",
                format!("registry did not start: {e}"),
                Verdict::NotRun,
            ),
        }
    }

    // 2. A 1,000-replica Deployment.
    let n = args.batch;
    create_namespace(client, "bench-batch").await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "bench-batch");
    let t = Instant::now();
    deployments
        .create(
            &PostParams::default(),
            &serde_json::from_value(deployment("batch", n, HELLO_V1))?,
        )
        .await?;
    let done = poll_until(limit, POLL, || async {
        let d = deployments.get("batch").await.ok()?;
        let ready = d
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        (ready as usize >= n).then_some(())
    })
    .await;
    let took = t.elapsed();
    let ready = deployments
        .get("batch")
        .await
        .ok()
        .and_then(|d| d.status.and_then(|s| s.ready_replicas))
        .unwrap_or(0);
    report.row(
        &format!("{n}-replica Wasm Deployment (hello-http): create → all Ready"),
        "< 5 s",
        result_text(done, took, &format!("{ready}/{n} Ready")),
        Verdict::of(done && took < Duration::from_secs(5)),
    );
    delete_and_drain(client, &deployments, "batch", "bench-batch", limit).await;

    // 3. A rolling update of a 100-replica Deployment.
    let n = args.rollout;
    create_namespace(client, "bench-roll").await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "bench-roll");
    deployments
        .create(
            &PostParams::default(),
            &serde_json::from_value(deployment("roll", n, HELLO_V1))?,
        )
        .await?;
    let rolled_out = |image: &'static str| {
        let deployments = deployments.clone();
        move || {
            let deployments = deployments.clone();
            async move { rolled_out(&deployments.get("roll").await.ok()?, n, image).then_some(()) }
        }
    };
    if !poll_until(limit, POLL, rolled_out(HELLO_V1)).await {
        bail!("the {n}-replica Deployment did not become available in {limit:?}");
    }
    let t = Instant::now();
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": HELLO_V2, "ports": [{"containerPort": 8080}]}
    ]}}}});
    deployments
        .patch("roll", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let done = poll_until(limit, POLL, rolled_out(HELLO_V2)).await;
    let took = t.elapsed();
    report.row(
        &format!("Rolling update of a {n}-replica Wasm Deployment v1 → v2: patch → all updated and available"),
        "< 3 s",
        result_text(done, took, "not rolled out"),
        Verdict::of(done && took < Duration::from_secs(3)),
    );
    delete_and_drain(client, &deployments, "roll", "bench-roll", limit).await;

    // 4. A Job of 1,000 completions.
    let (n, p) = (args.completions, args.parallelism);
    create_namespace(client, "bench-job").await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "bench-job");
    let t = Instant::now();
    jobs.create(
        &PostParams::default(),
        &serde_json::from_value(job_manifest("batch", n, p))?,
    )
    .await?;
    let done = poll_until(limit, POLL, || async {
        let j = jobs.get("batch").await.ok()?;
        let complete = j
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Complete" && c.status == "True")
            });
        complete.then_some(())
    })
    .await;
    let took = t.elapsed();
    let succeeded = jobs
        .get("batch")
        .await
        .ok()
        .and_then(|j| j.status.and_then(|s| s.succeeded))
        .unwrap_or(0);
    report.row(
        &format!("Wasm Job (job `exit 0`), {n} completions, parallelism {p}: create → Complete"),
        "< 10 s",
        result_text(done, took, &format!("{succeeded}/{n} succeeded")),
        Verdict::of(done && took < Duration::from_secs(10)),
    );
    report.row(
        "Load average (1/5/15 min) at the end",
        "—",
        load_average(),
        Verdict::Info,
    );
    Ok(())
}

/// Creates `args.startups` pods from `make(name)`, `args.concurrency` at a
/// time, each timed from just before its POST to the first watch event
/// showing it Ready; each is deleted once Ready.
async fn startup(
    client: &Client,
    ns: &str,
    args: &PodsArgs,
    limit: Duration,
    make: impl Fn(&str) -> Value,
) -> anyhow::Result<Run> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let waiting: Arc<Mutex<HashMap<String, Waiter>>> = Arc::default();
    let hops: Arc<Mutex<Vec<Hops>>> = Arc::default();
    let watcher = tokio::spawn(watch_ready(api.clone(), waiting.clone()));
    // The watch is open before the first create.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let bodies: Arc<Vec<Pod>> = Arc::new(
        (0..args.startups)
            .map(|i| serde_json::from_value(make(&format!("p{i}"))))
            .collect::<Result<_, _>>()?,
    );
    let run = drive(args.concurrency.max(1), args.startups, limit, {
        let hops = hops.clone();
        move |_, i| {
            let (api, waiting, bodies, hops) =
                (api.clone(), waiting.clone(), bodies.clone(), hops.clone());
            async move {
                let pod = &bodies[i];
                let name = pod.metadata.name.clone().unwrap_or_default();
                let (tx, rx) = oneshot::channel();
                if let Ok(mut w) = waiting.lock() {
                    w.insert(name.clone(), Waiter::new(tx));
                }
                api.create(&PostParams::default(), pod).await?;
                let h = tokio::time::timeout(Duration::from_secs(30), rx)
                    .await
                    .with_context(|| format!("pod {name} not Ready in 30 s"))?
                    .context("the watch ended")?;
                if let Ok(mut all) = hops.lock() {
                    all.push(h);
                }
                // Deleted in the background: `drive` times the operation,
                // which ends at Ready.
                tokio::spawn(async move {
                    let _ = api
                        .delete(&name, &DeleteParams::default().grace_period(0))
                        .await;
                });
                Ok(())
            }
        }
    })
    .await;
    watcher.abort();
    let hops = hops.lock().map(|h| h.clone()).unwrap_or_default();
    print_hops(&hops);
    Ok(run)
}

/// Where one pod's startup went, as the watch saw it, from the POST.
#[derive(Clone, Copy, Debug)]
struct Hops {
    /// The first version with `spec.nodeName` (the scheduler's binding).
    bound: Option<Duration>,
    /// The first version the node agent wrote (a container status).
    agent: Option<Duration>,
    /// The first version showing Ready.
    ready: Duration,
}

/// A pod the bench waits for, and its hops so far.
struct Waiter {
    posted: Instant,
    bound: Option<Duration>,
    agent: Option<Duration>,
    tx: oneshot::Sender<Hops>,
}

impl Waiter {
    fn new(tx: oneshot::Sender<Hops>) -> Self {
        Waiter {
            posted: Instant::now(),
            bound: None,
            agent: None,
            tx,
        }
    }
}

/// Prints p50/p99 of each hop: POST → bound, bound → first agent status,
/// that → Ready (0 when the first status already says Ready).
fn print_hops(hops: &[Hops]) {
    let mut create_bind = Vec::new();
    let mut bind_agent = Vec::new();
    let mut agent_ready = Vec::new();
    for h in hops {
        if let (Some(b), Some(a)) = (h.bound, h.agent) {
            create_bind.push(b);
            bind_agent.push(a.saturating_sub(b));
            agent_ready.push(h.ready.saturating_sub(a));
        }
    }
    for (what, v) in [
        ("POST → bound", &mut create_bind),
        ("bound → first node status", &mut bind_agent),
        ("first node status → Ready", &mut agent_ready),
    ] {
        v.sort();
        println!(
            "  {what}: p50 {} / p99 {} ({} pods)",
            ms(crate::stats::percentile(v, 50.0)),
            ms(crate::stats::percentile(v, 99.0)),
            v.len()
        );
    }
}

/// Watches the namespace's pods and, the first time one shows Ready=True,
/// tells whoever waits for it. Re-watches from the last version seen when
/// the server ends a watch.
async fn watch_ready(
    api: Api<Pod>,
    waiting: Arc<Mutex<HashMap<String, Waiter>>>,
) -> anyhow::Result<()> {
    let mut version = "0".to_owned();
    loop {
        let mut events = api
            .watch(&WatchParams::default().timeout(290), &version)
            .await?
            .boxed();
        while let Some(event) = events.try_next().await? {
            let pod = match event {
                WatchEvent::Added(p) | WatchEvent::Modified(p) => p,
                WatchEvent::Bookmark(b) => {
                    version = b.metadata.resource_version;
                    continue;
                }
                WatchEvent::Deleted(_) => continue,
                WatchEvent::Error(e) => bail!("watch error: {e:?}"),
            };
            if let Some(v) = &pod.metadata.resource_version {
                version.clone_from(v);
            }
            let name = pod.metadata.name.clone().unwrap_or_default();
            let Ok(mut w) = waiting.lock() else {
                continue;
            };
            if is_ready(&pod) {
                if let Some(wt) = w.remove(&name) {
                    let ready = wt.posted.elapsed();
                    let _ = wt.tx.send(Hops {
                        bound: wt.bound.or(Some(ready)),
                        agent: wt.agent.or(Some(ready)),
                        ready,
                    });
                }
            } else if let Some(wt) = w.get_mut(&name) {
                let bound = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
                if wt.bound.is_none() && bound.is_some_and(|n| !n.is_empty()) {
                    wt.bound = Some(wt.posted.elapsed());
                }
                let agent = pod
                    .status
                    .as_ref()
                    .is_some_and(|s| s.container_statuses.is_some());
                if wt.agent.is_none() && agent {
                    wt.agent = Some(wt.posted.elapsed());
                }
            }
        }
    }
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn startup_rows(
    report: &mut Report,
    what: &str,
    at_once: usize,
    run: &Run,
    p99: Duration,
    target: &str,
) {
    report.row(
        &format!(
            "Pod startup POST → Ready (watch), {what}, {} pods, {} at a time",
            run.ops + run.errors,
            at_once
        ),
        target,
        format!(
            "p50 {} / p99 {} / max {}",
            ms(run.pct(50.0)),
            ms(run.pct(99.0)),
            ms(run.pct(100.0))
        ),
        Verdict::of(run.errors == 0 && run.ops > 0 && run.pct(99.0) < p99),
    );
    if run.errors > 0 {
        report.row(
            &format!("Startup errors, {what}"),
            "0",
            format!(
                "{} ({})",
                run.errors,
                run.first_error.as_deref().unwrap_or_default()
            ),
            Verdict::Miss,
        );
    }
}

/// A hello-http pod on the Wasm runtime.
fn wasm_pod(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "startup"}},
        "spec": {
            "runtimeClassName": "wasmtime",
            "containers": [{"name": "main", "image": image, "ports": [{"containerPort": 8080}]}]
        }
    })
}

/// A busybox pod on the native runtime (no RuntimeClass).
fn native_pod(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "startup"}},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "main", "image": image, "command": ["sleep", "3600"]}]
        }
    })
}

/// A Deployment of `replicas` hello-http pods.
fn deployment(name: &str, replicas: usize, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "runtimeClassName": "wasmtime",
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "main", "image": image, "ports": [{"containerPort": 8080}]}]
                }
            }
        }
    })
}

/// A Job running the job example's `exit 0`.
fn job_manifest(name: &str, completions: usize, parallelism: usize) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "completions": completions,
            "parallelism": parallelism,
            "backoffLimit": 10,
            "template": {
                "spec": {
                    "runtimeClassName": "wasmtime",
                    "restartPolicy": "Never",
                    "containers": [{"name": "job", "image": JOB, "args": ["exit", "0"]}]
                }
            }
        }
    })
}

/// Whether the Deployment's rollout to `image` is done, as `kubectl rollout
/// status` decides it.
fn rolled_out(d: &Deployment, replicas: usize, image: &str) -> bool {
    let generation = d.metadata.generation.unwrap_or(0);
    let on_image = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.as_deref())
        == Some(image);
    let Some(s) = &d.status else { return false };
    let n = replicas as i32;
    on_image
        && s.observed_generation.unwrap_or(0) >= generation
        && s.updated_replicas.unwrap_or(0) == n
        && s.replicas.unwrap_or(0) == n
        && s.available_replicas.unwrap_or(0) == n
}

fn result_text(done: bool, took: Duration, otherwise: &str) -> String {
    if done {
        format!("{:.2} s", took.as_secs_f64())
    } else {
        format!("timed out after {:.0} s: {otherwise}", took.as_secs_f64())
    }
}

/// Deletes the Deployment and waits (bounded) until its namespace has no
/// pods, so the next measurement starts on an empty node.
async fn delete_and_drain(
    client: &Client,
    deployments: &Api<Deployment>,
    name: &str,
    ns: &str,
    limit: Duration,
) {
    let t = Instant::now();
    let _ = deployments.delete(name, &DeleteParams::background()).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let drained = poll_until(limit, POLL, || async {
        let left = pods.list_metadata(&ListParams::default()).await.ok()?;
        left.items.is_empty().then_some(())
    })
    .await;
    println!(
        "  deleting {ns}/{name}: {} after {:.1} s",
        if drained { "drained" } else { "pods left" },
        t.elapsed().as_secs_f64()
    );
}

async fn create_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": name}}))?,
    )
    .await
    .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}

/// /proc/loadavg's three averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" / "))
        .unwrap_or_else(|_| "?".to_owned())
}
