//! `skiff-bench api`: the API server over HTTPS, driven the way clients
//! drive it — creates from concurrent clients, real HTTP watches, full lists
//! (JSON and Table) — and the server's resident memory.
//!
//! The server is the real `skiff server` started by the e2e harness
//! ([`skiff_tests::Cluster`]); the load comes from this process, on the same
//! machine and cores, as kube-rs clients (one TLS connection each).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{AsyncBufReadExt, StreamExt};
use http::header::{ACCEPT, CONTENT_TYPE};
use kube::Client;
use serde_json::Value;
use skiff_tests::Cluster;
use tokio::sync::{Semaphore, watch};

use crate::pods::pod_bytes;
use crate::stats::{Report, Run, Verdict, drive, mib, ms, percentile, rss_kib};

/// What `skiff-bench api` measures, and how much.
#[derive(clap::Args, Debug)]
pub(crate) struct ApiArgs {
    /// Concurrent clients for creates (each its own kube client and connection).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Creates in the sustained-create run (it also stops after --create-secs).
    #[arg(long, default_value_t = 50_000)]
    creates: usize,
    /// Time limit of the sustained-create run, seconds.
    #[arg(long, default_value_t = 30)]
    create_secs: u64,
    /// Pods in the namespace that is listed.
    #[arg(long, default_value_t = 10_000)]
    list_pods: usize,
    /// Full lists timed per representation (JSON, Table).
    #[arg(long, default_value_t = 5)]
    list_runs: usize,
    /// Concurrent HTTP watches.
    #[arg(long, default_value_t = 1000)]
    watchers: usize,
    /// Pods created (one at a time) while the watchers watch.
    #[arg(long, default_value_t = 20)]
    watch_events: usize,
    /// Pause between two watched creates, milliseconds.
    #[arg(long, default_value_t = 100)]
    watch_interval_ms: u64,
    /// Objects (pods) in the store when memory is measured the second time.
    #[arg(long, default_value_t = 100_000)]
    objects: usize,
    /// Seconds the server is left alone before its memory is read.
    #[arg(long, default_value_t = 3)]
    settle_secs: u64,
}

/// Runs every API measurement against one fresh server.
pub(crate) async fn run(args: &ApiArgs, report: &mut Report) -> anyhow::Result<()> {
    println!("skiff binary: {}", skiff_tests::skiff_bin().display());
    let cluster = tokio::task::spawn_blocking(Cluster::start).await??;
    let pid = server_pid().context("finding the skiff server's pid")?;
    tokio::time::sleep(Duration::from_secs(args.settle_secs)).await;
    let idle = rss_kib(pid, "VmRSS")?;
    report.row(
        "Idle server RSS just after start",
        "< 50 MiB",
        mib(idle),
        Verdict::of(idle < 50 * 1024),
    );

    let admin = cluster.client().await?;
    for ns in ["bench-create", "bench-list", "bench-watch", "bench-mem"] {
        create_namespace(&admin, ns).await?;
    }
    let mut clients = Vec::with_capacity(args.clients);
    for _ in 0..args.clients.max(1) {
        clients.push(cluster.client().await?);
    }
    let mut stored = 0;

    // Sustained creates.
    println!(
        "creates: {} clients, up to {} pods or {} s",
        clients.len(),
        args.creates,
        args.create_secs
    );
    let run = create_pods(
        &clients,
        "bench-create",
        "pod",
        0,
        args.creates,
        Duration::from_secs(args.create_secs),
    )
    .await;
    println!("  {}", run.summary());
    stored += run.ops;
    report.row(
        &format!(
            "Sustained creates over HTTPS, {} clients ({} pods, {:.1} s)",
            clients.len(),
            run.ops,
            run.elapsed.as_secs_f64()
        ),
        "≥ 5,000/s",
        format!("{:.0}/s", run.rate()),
        Verdict::of(run.rate() >= 5000.0 && run.errors == 0),
    );
    report.row(
        "Create latency p50 / p99 / max",
        "p99 < 50 ms",
        format!(
            "{} / {} / {}",
            ms(run.pct(50.0)),
            ms(run.pct(99.0)),
            ms(run.pct(100.0))
        ),
        Verdict::of(run.pct(99.0) < Duration::from_millis(50) && run.errors == 0),
    );
    if run.errors > 0 {
        report.row(
            "Create errors",
            "0",
            format!("{} ({})", run.errors, run.first_error.unwrap_or_default()),
            Verdict::Miss,
        );
    }
    phase_rss(pid, &format!("after {stored} creates"));
    let stored_size = stored_pod_size(&admin).await.unwrap_or(0);
    println!("  one stored pod as served: {stored_size} bytes of JSON");

    // List.
    let fill = create_pods(
        &clients,
        "bench-list",
        "pod",
        0,
        args.list_pods,
        Duration::from_secs(600),
    )
    .await;
    println!("list fill: {}", fill.summary());
    stored += fill.ops;
    phase_rss(pid, &format!("with {stored} pods stored"));
    list_test(&admin, args, report).await?;
    phase_rss(pid, "after the lists");

    // Watch.
    watch_test(&cluster, &admin, args, pid, report).await?;
    stored += args.watch_events;
    phase_rss(pid, "after the watches closed");

    // Memory with many objects.
    if args.objects > stored {
        let n = args.objects - stored;
        println!(
            "memory fill: {n} more pods to reach {} objects",
            args.objects
        );
        let fill = create_pods(
            &clients,
            "bench-mem",
            "pod",
            0,
            n,
            Duration::from_secs(1200),
        )
        .await;
        println!("  {}", fill.summary());
        stored += fill.ops;
    }
    tokio::time::sleep(Duration::from_secs(args.settle_secs)).await;
    let full = rss_kib(pid, "VmRSS")?;
    let peak = rss_kib(pid, "VmHWM")?;
    report.row(
        &format!("Server RSS with {stored} pods stored (peak during the run)"),
        "— (k3s server ~1.6 GB)",
        format!(
            "{} (peak {}); data dir {}",
            mib(full),
            mib(peak),
            mib(dir_size(cluster.dir.path()) / 1024)
        ),
        Verdict::Info,
    );
    drop(clients);
    drop(admin);
    drop(cluster);
    Ok(())
}

/// Creates `count` pods `{prefix}-{i}` in `ns` from all clients at once.
async fn create_pods(
    clients: &[Client],
    ns: &str,
    prefix: &str,
    first: usize,
    count: usize,
    limit: Duration,
) -> Run {
    let clients = clients.to_vec();
    let (ns, prefix) = (ns.to_owned(), prefix.to_owned());
    drive(clients.len(), count, limit, move |w, i| {
        let client = clients[w % clients.len()].clone();
        let (ns, name) = (ns.clone(), format!("{prefix}-{:06}", first + i));
        async move { create_pod(&client, &ns, &name).await }
    })
    .await
}

async fn create_pod(client: &Client, ns: &str, name: &str) -> anyhow::Result<()> {
    let req = http::Request::post(format!("/api/v1/namespaces/{ns}/pods"))
        .header(CONTENT_TYPE, "application/json")
        .body(pod_bytes(ns, name))?;
    client.request_text(req).await?;
    Ok(())
}

async fn create_namespace(client: &Client, ns: &str) -> anyhow::Result<()> {
    let body =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    let req = http::Request::post("/api/v1/namespaces")
        .header(CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&body)?)?;
    client
        .request_text(req)
        .await
        .with_context(|| format!("creating namespace {ns}"))?;
    Ok(())
}

async fn stored_pod_size(client: &Client) -> anyhow::Result<usize> {
    let req =
        http::Request::get("/api/v1/namespaces/bench-create/pods/pod-000000").body(Vec::new())?;
    Ok(client.request_text(req).await?.len())
}

/// Times full lists of the `bench-list` namespace as JSON and as a Table.
async fn list_test(client: &Client, args: &ApiArgs, report: &mut Report) -> anyhow::Result<()> {
    const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    for (shape, accept, field) in [
        ("JSON", "application/json", "items"),
        ("Table", TABLE, "rows"),
    ] {
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..args.list_runs.max(1) {
            let req = http::Request::get("/api/v1/namespaces/bench-list/pods")
                .header(ACCEPT, accept)
                .body(Vec::new())?;
            let began = Instant::now();
            let body = client.request_text(req).await?;
            times.push(began.elapsed());
            if bytes == 0 {
                let v: Value = serde_json::from_str(&body)?;
                let n = v[field].as_array().map_or(0, Vec::len);
                if n != args.list_pods {
                    bail!(
                        "list as {shape} returned {n} {field}, expected {}",
                        args.list_pods
                    );
                }
            }
            bytes = body.len();
        }
        println!("list as {shape}: {:?}", times);
        let first = times[0];
        times.sort_unstable();
        let median = percentile(&times, 50.0);
        report.row(
            &format!(
                "List {} pods as {shape} ({:.1} MiB), median of {} (first / max)",
                args.list_pods,
                bytes as f64 / 1048576.0,
                times.len()
            ),
            "< 300 ms",
            format!(
                "{} ({} / {})",
                ms(median),
                ms(first),
                ms(percentile(&times, 100.0))
            ),
            Verdict::of(median < Duration::from_millis(300)),
        );
    }
    Ok(())
}

/// Opens `--watchers` HTTP watches on `bench-watch`, creates pods one at a
/// time, and measures from just before each create is sent to the moment
/// each watcher has read the event's line.
async fn watch_test(
    cluster: &Cluster,
    admin: &Client,
    args: &ApiArgs,
    pid: u32,
    report: &mut Report,
) -> anyhow::Result<()> {
    let (watchers, events) = (args.watchers, args.watch_events);
    let req = http::Request::get("/api/v1/namespaces/bench-watch/pods").body(Vec::new())?;
    let list: Value = serde_json::from_str(&admin.request_text(req).await?)?;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .context("list without resourceVersion")?
        .to_owned();

    // Watches spread over a few clients; each watch is its own connection anyway.
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(cluster.client().await?);
    }
    let connecting = std::sync::Arc::new(Semaphore::new(32));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(watchers.max(1));
    let without_watchers = rss_kib(pid, "VmRSS")?;
    let began = Instant::now();
    let tasks: Vec<_> = (0..watchers)
        .map(|w| {
            let client = clients[w % clients.len()].clone();
            let (connecting, ready_tx, mut stop) = (connecting.clone(), ready_tx.clone(), stop_rx.clone());
            let url = format!("/api/v1/namespaces/bench-watch/pods?watch=true&resourceVersion={rv}&timeoutSeconds=600");
            tokio::spawn(async move {
                let mut seen: Vec<Option<Instant>> = vec![None; events];
                let stream = {
                    let _permit = connecting.acquire().await?;
                    client.request_stream(http::Request::get(url).body(Vec::new())?).await?
                };
                let _ = ready_tx.send(()).await;
                let mut lines = stream.lines();
                let mut got = 0;
                while got < events {
                    tokio::select! {
                        line = lines.next() => match line {
                            Some(Ok(line)) => {
                                let now = Instant::now();
                                if let Some(i) = event_index(&line).filter(|i| *i < events && seen[*i].is_none()) {
                                    seen[i] = Some(now);
                                    got += 1;
                                }
                            }
                            _ => break,
                        },
                        _ = stop.changed() => break,
                    }
                }
                Ok::<_, anyhow::Error>(seen)
            })
        })
        .collect();
    drop(ready_tx);
    let mut connected = 0;
    let connect_deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while connected < watchers {
        match tokio::time::timeout_at(connect_deadline, ready_rx.recv()).await {
            Ok(Some(())) => connected += 1,
            _ => break,
        }
    }
    println!(
        "watch: {connected}/{watchers} watches open after {:.2?}",
        began.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let with_watchers = rss_kib(pid, "VmRSS")?;

    let mut sent = Vec::with_capacity(events);
    for i in 0..events {
        sent.push(Instant::now());
        create_pod(admin, "bench-watch", &format!("watch-ev-{i:05}")).await?;
        tokio::time::sleep(Duration::from_millis(args.watch_interval_ms)).await;
    }
    let grace = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut samples = Vec::with_capacity(watchers * events);
    let mut slowest = vec![Duration::ZERO; events];
    let (mut missing, mut failed) = (0, 0);
    let mut stopping = false;
    for t in tasks {
        let res = if stopping {
            t.await
        } else {
            let mut t = t;
            match tokio::time::timeout_at(grace, &mut t).await {
                Ok(r) => r,
                Err(_) => {
                    // Past the grace period: make the rest return what they have.
                    stopping = true;
                    let _ = stop_tx.send(true);
                    t.await
                }
            }
        };
        match res {
            Ok(Ok(seen)) => {
                for (i, at) in seen.iter().enumerate() {
                    match at {
                        Some(at) => {
                            let d = at.saturating_duration_since(sent[i]);
                            slowest[i] = slowest[i].max(d);
                            samples.push(d);
                        }
                        None => missing += 1,
                    }
                }
            }
            _ => failed += 1,
        }
    }
    let _ = stop_tx.send(true);
    samples.sort_unstable();
    slowest.sort_unstable();
    println!(
        "watch: {} deliveries, {missing} missing, {failed} watches failed",
        samples.len()
    );
    report.row(
        &format!("Watch: create → event read by each of {watchers} watchers, p50 / p99 / max ({} deliveries)", samples.len()),
        "p99 < 100 ms",
        format!("{} / {} / {}", ms(percentile(&samples, 50.0)), ms(percentile(&samples, 99.0)), ms(percentile(&samples, 100.0))),
        Verdict::of(percentile(&samples, 99.0) < Duration::from_millis(100) && missing == 0 && failed == 0),
    );
    report.row(
        &format!("Watch: time until the last of {watchers} watchers has the event, median / max over {events} events"),
        "—",
        format!("{} / {}", ms(percentile(&slowest, 50.0)), ms(percentile(&slowest, 100.0))),
        Verdict::Info,
    );
    if missing > 0 || failed > 0 {
        report.row(
            "Watch: events not delivered / watches failed",
            "0 / 0",
            format!("{missing} / {failed}"),
            Verdict::Miss,
        );
    }
    report.row(
        &format!("Server RSS with {watchers} watches open (just before opening them)"),
        "—",
        format!("{} ({})", mib(with_watchers), mib(without_watchers)),
        Verdict::Info,
    );
    Ok(())
}

/// Prints the server's resident memory at a point of the run.
fn phase_rss(pid: u32, when: &str) {
    match (rss_kib(pid, "VmRSS"), rss_kib(pid, "VmHWM")) {
        (Ok(rss), Ok(peak)) => println!("rss {when}: {} (peak so far {})", mib(rss), mib(peak)),
        (Err(e), _) | (_, Err(e)) => println!("rss {when}: {e:#}"),
    }
}

/// The `i` of a `watch-ev-i` pod named in a watch event line.
fn event_index(line: &str) -> Option<usize> {
    const NAME: &str = "\"name\":\"watch-ev-";
    let rest = &line[line.find(NAME)? + NAME.len()..];
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..digits].parse().ok()
}

/// The pid of the `skiff` server this process started (its only `skiff` child).
fn server_pid() -> anyhow::Result<u32> {
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid …": comm may hold spaces, so split at the last ')'.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map(|(_, c)| c).unwrap_or("");
        let ppid = tail
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if comm == "skiff" && ppid == Some(me) {
            return Ok(pid);
        }
    }
    bail!("no skiff child process")
}

/// Bytes in the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_event_index() {
        let line = r#"{"type":"ADDED","object":{"metadata":{"name":"watch-ev-00017","namespace":"bench-watch"}}}"#;
        assert_eq!(event_index(line), Some(17));
        assert_eq!(event_index(r#"{"type":"BOOKMARK"}"#), None);
    }
}
