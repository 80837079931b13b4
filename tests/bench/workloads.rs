//! `skiff-bench pods`: pods and workloads on a real `skiff up` (API server,
//! scheduler, controller manager and node agent in one process) — pod
//! startup latency, a 1,000-replica Deployment, rolling updates of a Wasm
//! and a native (busybox) Deployment and a 1,000-completion Job; native
//! busybox startup beside the Wasm one; and, on a second `skiff up` whose
//! controllers run as their own process, the controller manager's CPU with
//! 1,000 pods at steady state ([`crate::controllers`]).
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

pub(crate) const HELLO_V1: &str = "localhost/skiff-bench/hello-http:v1";
const HELLO_V2: &str = "localhost/skiff-bench/hello-http:v2";
const JOB: &str = "localhost/skiff-bench/job:v1";
/// How often workload status is read.
const POLL: Duration = Duration::from_millis(20);
/// `--pod-cidr` of the bench's clusters: 2,046 addresses, room for more than
/// the 253 of the default /24.
pub(crate) const POD_CIDR: &str = "10.42.0.0/21";

/// What `skiff-bench pods` measures, and how much.
#[derive(clap::Args, Debug)]
pub(crate) struct PodsArgs {
    /// Measure only these, comma-separated (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Section>,
    /// Pods created per runtime for the startup latency.
    #[arg(long, default_value_t = 200)]
    startups: usize,
    /// Pods being started at once in the startup run.
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// Skip the native (busybox) startup and rolling update.
    #[arg(long)]
    no_native: bool,
    /// Replicas of the batch Deployment.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Replicas of the Deployments that are rolled from one image to another.
    #[arg(long, default_value_t = 100)]
    rollout: usize,
    /// Completions of the Job.
    #[arg(long, default_value_t = 1000)]
    completions: usize,
    /// Parallelism of the Job.
    #[arg(long, default_value_t = 100)]
    parallelism: usize,
    /// Controller CPU: how many Deployments run at steady state.
    #[arg(long, default_value_t = 10)]
    kcm_deployments: usize,
    /// Controller CPU: Wasm replicas of each of those Deployments.
    #[arg(long, default_value_t = 100)]
    kcm_replicas: usize,
    /// Controller CPU: the steady-state window, seconds.
    #[arg(long, default_value_t = 60)]
    steady_secs: u64,
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

/// The measurements of `skiff-bench pods`, for `--only`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    /// Pod startup latency, Wasm and native.
    Startup,
    /// The 1,000-replica Wasm Deployment.
    Batch,
    /// The rolling update of the Wasm Deployment.
    Rollout,
    /// The rolling update of the native (busybox) Deployment.
    NativeRollout,
    /// The 1,000-completion Job.
    Job,
    /// The controller manager's CPU at steady state (a cluster of its own).
    Controllers,
}

impl PodsArgs {
    fn wants(&self, s: Section) -> bool {
        self.only.is_empty() || self.only.contains(&s)
    }
}

/// Runs the pod and workload measurements against one fresh `skiff up`,
/// then the controller CPU against another.
pub(crate) async fn run(args: &PodsArgs, report: &mut Report) -> anyhow::Result<()> {
    println!("skiff binary: {}", skiff_tests::skiff_bin().display());
    println!("load average at start: {}", load_average());
    let limit = Duration::from_secs(args.timeout_secs);
    let shared = [
        Section::Startup,
        Section::Batch,
        Section::Rollout,
        Section::NativeRollout,
        Section::Job,
    ];
    if shared.iter().any(|s| args.wants(*s)) {
        workloads(args, limit, report).await?;
    }
    if args.wants(Section::Controllers) {
        let kcm = crate::controllers::Steady {
            deployments: args.kcm_deployments,
            replicas: args.kcm_replicas,
            window: Duration::from_secs(args.steady_secs),
            max_pods: args.max_pods,
        };
        crate::controllers::run(&kcm, limit, report).await?;
    }
    println!("load average at end: {}", load_average());
    report.row(
        "Load average (1/5/15 min) at the end",
        "—",
        load_average(),
        Verdict::Info,
    );
    Ok(())
}

/// Everything but the controller CPU, on one `skiff up`.
async fn workloads(args: &PodsArgs, limit: Duration, report: &mut Report) -> anyhow::Result<()> {
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
    up_args.extend(["--pod-cidr".to_owned(), POD_CIDR.to_owned()]);
    up_args.extend(["--max-pods".to_owned(), args.max_pods.to_string()]);
    let cluster = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = up_args.iter().map(String::as_str).collect();
        Cluster::up(&args)
    })
    .await??;
    let client = cluster.client().await?;
    let result = measure(args, &cluster, &client, limit, report).await;
    if result.is_err() {
        print_log_tail("skiff", &cluster.log());
    }
    if let Some(path) = &args.keep_log {
        std::fs::write(path, cluster.log())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    result
}

/// Prints the last 30 lines of a component's log (after a failure).
pub(crate) fn print_log_tail(what: &str, log: &str) {
    let tail: Vec<&str> = log.lines().rev().take(30).collect();
    eprintln!("last lines of the {what} log:");
    for l in tail.iter().rev() {
        eprintln!("  {l}");
    }
}

/// The busybox image under two tags, from the native runtime's test
/// registry inside the cluster's network namespace (where the node pulls).
struct NativeImages {
    /// Serves the images; stops when dropped.
    _registry: Registry,
    v1: String,
    v2: String,
}

/// Starts the registry and pushes busybox as `busybox:1` and `busybox:2`:
/// two references (with one digest — the rollout changes the pod template,
/// so every pod is replaced all the same).
async fn native_images(cluster: &Cluster) -> anyhow::Result<NativeImages> {
    let netns = cluster.netns().context("skiff up runs in a netns")?.path();
    tokio::task::spawn_blocking(move || {
        let registry = Registry::start(Some(&netns));
        let v1 = registry.push_busybox("1");
        let v2 = registry.push_busybox("2");
        NativeImages {
            _registry: registry,
            v1,
            v2,
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("the registry did not start: {e}"))
}

async fn measure(
    args: &PodsArgs,
    cluster: &Cluster,
    client: &Client,
    limit: Duration,
    report: &mut Report,
) -> anyhow::Result<()> {
    let native = if !args.no_native
        && (args.wants(Section::Startup) || args.wants(Section::NativeRollout))
    {
        Some(native_images(cluster).await)
    } else {
        None
    };

    // 1. Startup latency, Wasm (and native).
    if args.wants(Section::Startup) {
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
        match &native {
            None => {}
            Some(Ok(images)) => {
                create_namespace(client, "bench-native").await?;
                let native = startup(client, "bench-native", args, limit, |name| {
                    native_pod(name, &images.v1)
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
            Some(Err(e)) => report.row(
                "Pod startup create→Ready, native (busybox)",
                "p99 < 500 ms",
                format!("{e:#}"),
                Verdict::NotRun,
            ),
        }
    }

    // 2. A 1,000-replica Deployment.
    if args.wants(Section::Batch) {
        let n = args.batch;
        create_namespace(client, "bench-batch").await?;
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), "bench-batch");
        let t = Instant::now();
        deployments
            .create(
                &PostParams::default(),
                &serde_json::from_value(deployment("batch", n, wasm_spec(HELLO_V1)))?,
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
    }

    // 3. Rolling updates of 100-replica Deployments, Wasm and native.
    let n = args.rollout;
    if args.wants(Section::Rollout) {
        let rolled = rolling_update(
            client,
            "bench-roll",
            n,
            (wasm_spec(HELLO_V1), wasm_spec(HELLO_V2)),
            limit,
        )
        .await?;
        report.row(
            &format!(
                "Rolling update of a {n}-replica Wasm Deployment v1 → v2: patch → all updated and available"
            ),
            "< 3 s",
            rolled.text(),
            rolled.verdict(Duration::from_secs(3)),
        );
    }
    if args.wants(Section::NativeRollout) {
        let what = format!(
            "Rolling update of a {n}-replica native Deployment (busybox `sleep`) busybox:1 → busybox:2: patch → all updated and available"
        );
        match &native {
            None => {}
            Some(Ok(images)) => {
                let rolled = rolling_update(
                    client,
                    "bench-roll-native",
                    n,
                    (native_spec(&images.v1), native_spec(&images.v2)),
                    limit,
                )
                .await?;
                report.row(
                    &what,
                    "< 3 s (as Wasm)",
                    rolled.text(),
                    rolled.verdict(Duration::from_secs(3)),
                );
            }
            Some(Err(e)) => report.row(&what, "< 3 s (as Wasm)", format!("{e:#}"), Verdict::NotRun),
        }
    }

    // 4. A Job of 1,000 completions.
    if args.wants(Section::Job) {
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
            &format!(
                "Wasm Job (job `exit 0`), {n} completions, parallelism {p}: create → Complete"
            ),
            "< 10 s",
            result_text(done, took, &format!("{succeeded}/{n} succeeded")),
            Verdict::of(done && took < Duration::from_secs(10)),
        );
    }
    Ok(())
}

/// How a rolling update went: done in time or not, and how long it took.
struct Rolled {
    done: bool,
    took: Duration,
}

impl Rolled {
    fn text(&self) -> String {
        result_text(self.done, self.took, "not rolled out")
    }

    fn verdict(&self, target: Duration) -> Verdict {
        Verdict::of(self.done && self.took < target)
    }
}

/// In a fresh namespace `ns`: creates an `n`-replica Deployment with pod
/// spec `from`, waits until it is available, patches its template to `to`
/// and times the patch until the rollout is done as `kubectl rollout
/// status` decides it; then deletes the Deployment and waits for its pods
/// to go. Each wait is bounded by `limit`.
async fn rolling_update(
    client: &Client,
    ns: &str,
    n: usize,
    (from, to): (Value, Value),
    limit: Duration,
) -> anyhow::Result<Rolled> {
    let image = |spec: &Value| spec["containers"][0]["image"].as_str().map(str::to_owned);
    let (Some(from_image), Some(to_image)) = (image(&from), image(&to)) else {
        bail!("a pod spec without an image");
    };
    create_namespace(client, ns).await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    deployments
        .create(
            &PostParams::default(),
            &serde_json::from_value(deployment("roll", n, from))?,
        )
        .await?;
    let rolled_out = |image: String| {
        let deployments = deployments.clone();
        move || {
            let (deployments, image) = (deployments.clone(), image.clone());
            async move { rolled_out(&deployments.get("roll").await.ok()?, n, &image).then_some(()) }
        }
    };
    if !poll_until(limit, POLL, rolled_out(from_image)).await {
        bail!("the {n}-replica Deployment in {ns} did not become available in {limit:?}");
    }
    let t = Instant::now();
    let patch = json!({"spec": {"template": {"spec": to}}});
    deployments
        .patch("roll", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let done = poll_until(limit, POLL, rolled_out(to_image)).await;
    let took = t.elapsed();
    delete_and_drain(client, &deployments, "roll", ns, limit).await;
    Ok(Rolled { done, took })
}
async fn startup(
    client: &Client,
    ns: &str,
    args: &PodsArgs,
    limit: Duration,
    make: impl Fn(&str) -> Value,
) -> anyhow::Result<Run> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let waiting: Arc<Mutex<HashMap<String, Waiter>>> = Arc::default();
    let watcher = tokio::spawn(watch_ready(api.clone(), waiting.clone()));
    // The watch is open before the first create.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let bodies = |prefix: &str, n: usize| -> anyhow::Result<Arc<Vec<Pod>>> {
        let pods = (0..n)
            .map(|i| serde_json::from_value(make(&format!("{prefix}{i}"))))
            .collect::<Result<_, _>>()?;
        Ok(Arc::new(pods))
    };
    // Warm-up, not counted: one round of `concurrency` pods, so the
    // client's connections (a TLS handshake each) and the node's first
    // pod of this image are not charged to the measured pods.
    let warm = args.concurrency.max(1);
    let (warm_run, _) = start_pods(&api, &waiting, bodies("w", warm)?, warm, limit).await;
    println!("  warm-up (not counted): {}", warm_run.summary());
    let (run, hops) = start_pods(
        &api,
        &waiting,
        bodies("p", args.startups)?,
        args.concurrency.max(1),
        limit,
    )
    .await;
    watcher.abort();
    print_hops(&hops);
    Ok(run)
}

/// Creates `bodies`, `concurrency` at a time, each timed from its POST to
/// the watch showing it Ready, then deleted in the background.
async fn start_pods(
    api: &Api<Pod>,
    waiting: &Arc<Mutex<HashMap<String, Waiter>>>,
    bodies: Arc<Vec<Pod>>,
    concurrency: usize,
    limit: Duration,
) -> (Run, Vec<Hops>) {
    let hops: Arc<Mutex<Vec<Hops>>> = Arc::default();
    let count = bodies.len();
    let run = drive(concurrency, count, limit, {
        let (api, waiting, hops) = (api.clone(), waiting.clone(), hops.clone());
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
    let hops = hops.lock().map(|h| h.clone()).unwrap_or_default();
    (run, hops)
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
        "spec": native_spec(image)
    })
}

/// The pod spec of a hello-http replica on the Wasm runtime.
pub(crate) fn wasm_spec(image: &str) -> Value {
    json!({
        "runtimeClassName": "wasmtime",
        "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "main", "image": image, "ports": [{"containerPort": 8080}]}]
    })
}

/// The pod spec of a busybox `sleep` on the native runtime (no
/// RuntimeClass).
fn native_spec(image: &str) -> Value {
    json!({
        "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "main", "image": image, "command": ["sleep", "3600"]}]
    })
}

/// A Deployment of `replicas` pods with pod spec `spec`.
pub(crate) fn deployment(name: &str, replicas: usize, spec: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": spec
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

pub(crate) fn result_text(done: bool, took: Duration, otherwise: &str) -> String {
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

pub(crate) async fn create_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
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
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" / "))
        .unwrap_or_else(|_| "?".to_owned())
}
