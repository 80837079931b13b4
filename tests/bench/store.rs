//! `skiff-bench store`: the store alone, with no API server in front —
//! [`RedbStore`] with group commit, the same store with one transaction per
//! write (`max_batch = 1`), and etcd (Debian's `etcd-server`, fsync on) fed the
//! same keys and values from the same number of clients, in one run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use skiff_store::{ListOptions, RedbConfig, RedbStore, Store};

use crate::pods::pod_bytes;
use crate::stats::{Report, Run, Verdict, drive, mib, ms, percentile, rss_kib};

/// What `skiff-bench store` measures, and how much.
#[derive(clap::Args, Debug)]
pub(crate) struct StoreArgs {
    /// Concurrent writers (tasks for redb; etcd clients, one connection each).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Writes per run (a run also stops after --secs).
    #[arg(long, default_value_t = 100_000)]
    writes: usize,
    /// Time limit of each run, seconds.
    #[arg(long, default_value_t = 30)]
    secs: u64,
    /// Rounds of group commit against etcd (alternating); the median counts.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Keys in the store-level list measurement.
    #[arg(long, default_value_t = 10_000)]
    list_keys: usize,
    /// Values stored when the store's own memory is measured.
    #[arg(long, default_value_t = 100_000)]
    mem_keys: usize,
    /// The etcd binary (Debian's etcd-server package installs /usr/bin/etcd).
    #[arg(long, default_value = "etcd")]
    etcd_bin: String,
    /// Skip the etcd comparison.
    #[arg(long)]
    no_etcd: bool,
}

/// The key of write `i`, as the API server would store pod `i`.
pub(crate) fn key(i: usize) -> String {
    format!("/registry/pods/bench/pod-{i:06}")
}

/// The value every run writes: a pod as JSON.
pub(crate) fn value() -> Bytes {
    Bytes::from(pod_bytes("bench", "pod-000000"))
}

/// Runs the three stores one after another and reports them side by side.
pub(crate) async fn run(args: &StoreArgs, report: &mut Report) -> anyhow::Result<()> {
    let value = value();
    let limit = Duration::from_secs(args.secs);
    println!(
        "store: {} writers, up to {} writes or {} s each, values of {} bytes, data under {}",
        args.clients,
        args.writes,
        args.secs,
        value.len(),
        std::env::temp_dir().display()
    );

    // Group commit and etcd alternate, round by round, so that a change in
    // the machine's background load hits both sides alike.
    let (mut group, mut etcd, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let mut etcd_error = args.no_etcd.then(|| "skipped (--no-etcd)".to_owned());
    for round in 1..=args.rounds.max(1) {
        let g = redb_run(
            args.clients,
            args.writes,
            limit,
            RedbConfig::default(),
            value.clone(),
        )
        .await?;
        println!("round {round}: redb, group commit: {}", g.summary());
        if etcd_error.is_none() {
            match crate::etcd::run(
                &args.etcd_bin,
                args.clients,
                args.writes,
                limit,
                value.clone(),
            )
            .await
            {
                Ok(e) => {
                    println!("round {round}: etcd: {}", e.summary());
                    ratios.push(g.rate() / e.rate().max(1e-9));
                    etcd.push(e);
                }
                Err(e) => {
                    println!("etcd: not run: {e:#}");
                    etcd_error = Some(format!("not run: {e:#}"));
                }
            }
        }
        group.push(g);
    }
    let group_median = median_run(&mut group);
    rounds_row(report, "RedbStore, group commit (max_batch 1024)", &group);

    let single = redb_run(
        args.clients,
        args.writes,
        limit,
        RedbConfig {
            max_batch: 1,
            ..RedbConfig::default()
        },
        value.clone(),
    )
    .await?;
    println!("redb, one transaction per write: {}", single.summary());
    rounds_row(
        report,
        "RedbStore, one transaction per write (max_batch 1)",
        std::slice::from_ref(&single),
    );
    report.row(
        "Group commit ÷ one transaction per write",
        "—",
        format!("{:.1}×", group_median / single.rate().max(1e-9)),
        Verdict::Info,
    );

    match etcd_error {
        Some(why) if etcd.is_empty() => {
            report.row("etcd 3.4 puts", "—", why, Verdict::NotRun);
            report.row(
                "RedbStore group commit ÷ etcd puts/s",
                "≥ 2×",
                "not measured".to_owned(),
                Verdict::NotRun,
            );
        }
        _ => {
            median_run(&mut etcd);
            rounds_row(report, "etcd 3.4 puts (fsync on)", &etcd);
            ratios.sort_by(f64::total_cmp);
            let median = ratios[ratios.len() / 2];
            let errors = group.iter().chain(&etcd).map(|r| r.errors).sum::<usize>();
            let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
            report.row(
                &format!(
                    "RedbStore group commit ÷ etcd puts/s, median of {} rounds",
                    ratios.len()
                ),
                "≥ 2×",
                format!("{median:.2}× (rounds: {})", each.join(", ")),
                Verdict::of(median >= 2.0 && errors == 0),
            );
        }
    }

    for history in [RedbConfig::default().history, 0] {
        match rss_of_child(args.mem_keys, history) {
            Ok(kib) => report.row(
                &format!(
                    "RedbStore alone: process RSS holding {} pod values, watch history {history} events",
                    args.mem_keys
                ),
                "—",
                mib(kib),
                Verdict::Info,
            ),
            Err(e) => println!("store rss: {e:#}"),
        }
    }

    let (n, list) = redb_list(args.list_keys, value.clone()).await?;
    report.row(
        &format!("RedbStore list of {n} pod values (no API server), median of 5"),
        "—",
        ms(list),
        Verdict::Info,
    );
    Ok(())
}

/// Sorts runs by rate; returns the median rate.
fn median_run(runs: &mut [Run]) -> f64 {
    runs.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    runs.get(runs.len() / 2).map_or(0.0, Run::rate)
}

/// One row for runs sorted by rate: the median run in full, every rate after it.
fn rounds_row(report: &mut Report, what: &str, runs: &[Run]) {
    let Some(run) = runs.get(runs.len() / 2) else {
        return;
    };
    let mut result = format!(
        "{:.0}/s (p50 {}, p99 {}; {} writes in {:.1} s)",
        run.rate(),
        ms(run.pct(50.0)),
        ms(run.pct(99.0)),
        run.ops,
        run.elapsed.as_secs_f64()
    );
    if runs.len() > 1 {
        let all: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.rate())).collect();
        result.push_str(&format!("; median of rounds {}/s", all.join(", ")));
    }
    let errors: usize = runs.iter().map(|r| r.errors).sum();
    if errors > 0 {
        result.push_str(&format!(", {errors} errors"));
    }
    report.row(what, "—", result, Verdict::Info);
}

/// Creates keys 0.. in a fresh redb file from `clients` concurrent tasks.
async fn redb_run(
    clients: usize,
    writes: usize,
    limit: Duration,
    config: RedbConfig,
    value: Bytes,
) -> anyhow::Result<Run> {
    let dir = tempfile::Builder::new()
        .prefix("skiff-bench-redb-")
        .tempdir()?;
    let store = Arc::new(RedbStore::open(&dir.path().join("state.redb"), config)?);
    let run = {
        let store = store.clone();
        drive(clients, writes, limit, move |_, i| {
            let (store, value) = (store.clone(), value.clone());
            async move {
                store.create(&key(i), value).await?;
                Ok(())
            }
        })
        .await
    };
    // Dropping the last handle commits what is queued and closes the file.
    drop(store);
    Ok(run)
}

/// Stores `n` values, then times full lists of them straight from the store:
/// the floor under the API server's list. Returns (items listed, median).
async fn redb_list(n: usize, value: Bytes) -> anyhow::Result<(usize, Duration)> {
    let dir = tempfile::Builder::new()
        .prefix("skiff-bench-redb-")
        .tempdir()?;
    let store = Arc::new(RedbStore::open(
        &dir.path().join("state.redb"),
        RedbConfig::default(),
    )?);
    let writer = store.clone();
    let fill = drive(64, n, Duration::from_secs(300), move |_, i| {
        let (store, value) = (writer.clone(), value.clone());
        async move {
            store.create(&key(i), value).await?;
            Ok(())
        }
    })
    .await;
    if let Some(e) = fill.first_error {
        anyhow::bail!("filling the store for the list: {e}");
    }
    let mut times = Vec::new();
    let mut items = 0;
    for _ in 0..5 {
        let began = Instant::now();
        let page = store
            .list("/registry/pods/bench/", ListOptions::default())
            .await?;
        times.push(began.elapsed());
        items = page.items.len();
    }
    times.sort_unstable();
    Ok((items, percentile(&times, 50.0)))
}

/// Arguments of the hidden `store-rss` subcommand.
#[derive(clap::Args, Debug)]
pub(crate) struct StoreRssArgs {
    #[arg(long)]
    keys: usize,
    #[arg(long)]
    history: usize,
}

/// Measures the store's memory in a process of its own, so nothing an
/// earlier run allocated is counted: runs `skiff-bench store-rss`.
fn rss_of_child(keys: usize, history: usize) -> anyhow::Result<u64> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .args([
            "store-rss",
            "--keys",
            &keys.to_string(),
            "--history",
            &history.to_string(),
        ])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("rss_kib=")?.parse().ok())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "store-rss printed no rss: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

/// The child side: fills a fresh store with `keys` pod values from 64
/// writers, waits a moment, prints `rss_kib=N`.
pub(crate) async fn rss_child(args: &StoreRssArgs) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("skiff-bench-redb-")
        .tempdir()?;
    let config = RedbConfig {
        history: args.history,
        ..RedbConfig::default()
    };
    let store = Arc::new(RedbStore::open(&dir.path().join("state.redb"), config)?);
    let writer = store.clone();
    let value = value();
    let fill = drive(64, args.keys, Duration::from_secs(600), move |_, i| {
        // A buffer of its own per write, as values arriving in requests have.
        let (store, value) = (writer.clone(), Bytes::copy_from_slice(&value));
        async move {
            store.create(&key(i), value).await?;
            Ok(())
        }
    })
    .await;
    if let Some(e) = fill.first_error {
        anyhow::bail!("filling the store: {e}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!("rss_kib={}", rss_kib(std::process::id(), "VmRSS")?);
    drop(store);
    Ok(())
}
