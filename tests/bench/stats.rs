//! Load driving, latency percentiles and the report table the bench prints.

use std::future::Future;

use anyhow::Context;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one load run did: operations, wall time, and every latency, sorted.
pub(crate) struct Run {
    pub(crate) ops: usize,
    pub(crate) errors: usize,
    pub(crate) first_error: Option<String>,
    pub(crate) elapsed: Duration,
    pub(crate) latencies: Vec<Duration>,
}

impl Run {
    /// Completed operations per second over the whole run.
    pub(crate) fn rate(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `p`th percentile (0–100) of the latencies.
    pub(crate) fn pct(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }

    /// One line for the console.
    pub(crate) fn summary(&self) -> String {
        let mut s = format!(
            "{} ops in {:.2?}: {:.0}/s, p50 {}, p99 {}, max {}",
            self.ops,
            self.elapsed,
            self.rate(),
            ms(self.pct(50.0)),
            ms(self.pct(99.0)),
            ms(self.pct(100.0)),
        );
        if self.errors > 0 {
            s.push_str(&format!(
                ", {} errors (first: {})",
                self.errors,
                self.first_error.as_deref().unwrap_or("?")
            ));
        }
        s
    }
}

/// Stop a run once this many operations have failed: something is broken.
const MAX_ERRORS: usize = 1000;

/// Runs `op(worker, i)` for i in 0..count from `workers` concurrent tasks,
/// each task issuing its next operation when the previous one answered, until
/// `count` operations were started or `limit` has passed.
pub(crate) async fn drive<F, Fut>(workers: usize, count: usize, limit: Duration, op: F) -> Run
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let began = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (op, next, errors, first_error) = (
                op.clone(),
                next.clone(),
                errors.clone(),
                first_error.clone(),
            );
            tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count
                        || began.elapsed() >= limit
                        || errors.load(Ordering::Relaxed) >= MAX_ERRORS
                    {
                        break;
                    }
                    let t = Instant::now();
                    match op(w, i).await {
                        Ok(()) => lat.push(t.elapsed()),
                        Err(e) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut first) = first_error.lock() {
                                first.get_or_insert_with(|| format!("{e:#}"));
                            }
                        }
                    }
                }
                lat
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        // A panicking worker only loses its own samples; the count shows it.
        if let Ok(lat) = t.await {
            latencies.extend(lat);
        }
    }
    let elapsed = began.elapsed();
    latencies.sort_unstable();
    let first_error = first_error.lock().ok().and_then(|mut f| f.take());
    Run {
        ops: latencies.len(),
        errors: errors.load(Ordering::Relaxed),
        first_error,
        elapsed,
        latencies,
    }
}

/// Polls `check` every `every` until it returns `Some`; false after `limit`.
pub(crate) async fn poll_until<F, Fut>(limit: Duration, every: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<()>>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await.is_some() {
            return true;
        }
        tokio::time::sleep(every).await;
    }
    false
}

/// The `p`th percentile (nearest rank) of sorted samples; zero if empty.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A `Vm*` field (kB) of /proc/PID/status.
pub(crate) fn rss_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .strip_prefix(':')?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// Milliseconds with one decimal.
pub(crate) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// KiB as MiB with one decimal.
pub(crate) fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Whether a row met its target.
#[derive(Clone, Copy)]
pub(crate) enum Verdict {
    Pass,
    Miss,
    /// No target: the number is reported for comparison.
    Info,
    /// The measurement could not be taken.
    NotRun,
}

impl Verdict {
    pub(crate) fn of(ok: bool) -> Verdict {
        if ok { Verdict::Pass } else { Verdict::Miss }
    }

    fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Miss => "**miss**",
            Verdict::Info => "—",
            Verdict::NotRun => "not run",
        }
    }
}

/// The rows printed at the end as a Markdown table.
#[derive(Default)]
pub(crate) struct Report {
    rows: Vec<[String; 4]>,
}

impl Report {
    /// Adds a row and echoes it at once, so a later failure loses nothing.
    pub(crate) fn row(&mut self, what: &str, target: &str, result: String, verdict: Verdict) {
        match verdict {
            Verdict::Info => println!("  => {what}: {result}"),
            _ => println!(
                "  => {what}: {result} (target {target}: {})",
                verdict.word()
            ),
        }
        self.rows.push([
            what.to_owned(),
            target.to_owned(),
            result,
            verdict.word().to_owned(),
        ]);
    }

    /// The table, Markdown.
    pub(crate) fn table(&self) -> String {
        let mut s =
            String::from("| Measurement | Target | Result | Pass/miss |\n|---|---|---|---|\n");
        for r in &self.rows {
            s.push_str(&format!("| {} | {} | {} | {} |\n", r[0], r[1], r[2], r[3]));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&v[..1], 99.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
