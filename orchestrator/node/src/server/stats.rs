//! `GET /stats/summary`: the kubelet's Summary API (`stats/v1alpha1`),
//! which metrics-server — and Skiff's API server, for `metrics.k8s.io` —
//! reads to answer `kubectl top`.
//!
//! The node's numbers come from `/proc/stat` and `/proc/meminfo`; each
//! running container's from its runtime's [`StatsService`]
//! (`Runtime::container_stats`). Only the fields `kubectl top` needs are
//! filled: cpu `usageNanoCores`/`usageCoreNanoSeconds`, memory
//! `workingSetBytes` (plus `usageBytes`/`availableBytes` for the node).
//!
//! A rate (`usageNanoCores`) needs two samples of the cumulative CPU time.
//! [`Samples`] keeps the last one per container (and for the node); a
//! container seen for the first time is sampled again after
//! [`MIN_WINDOW`], so the first `kubectl top` already has numbers.
//!
//! [`StatsService`]: skiff_runtime::StatsService

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Response, StatusCode};
use serde_json::{Value, json};
use skiff_runtime::{ContainerFilter, ContainerState, ContainerStats, Runtime};

use super::{Body, Node, full, status};

/// The shortest interval a rate is computed over: shorter ones are mostly
/// scheduling noise.
pub const MIN_WINDOW: Duration = Duration::from_secs(1);

/// Most entries kept; a node runs far fewer containers, so reaching it
/// means entries leak and the cache is emptied rather than grown.
const MAX_ENTRIES: usize = 4096;

/// The key of the node's own sample (container ids are never empty).
const NODE_KEY: &str = "";

/// Clock ticks per second in `/proc/stat` (`USER_HZ`). It is part of the
/// kernel's user-space ABI and 100 on every architecture Skiff builds for.
const USER_HZ: u64 = 100;

/// One reading of a cumulative CPU counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// CPU time used so far, in nanoseconds.
    pub cpu_nanos: u64,
    /// When it was read.
    pub at: Instant,
}

/// What is remembered per container: the sample a rate is computed from,
/// and the last rate (answered again while the window is too short).
#[derive(Clone, Copy, Debug)]
struct Entry {
    base: Sample,
    rate: Option<u64>,
}

/// The last CPU samples, per container id (and for the node).
#[derive(Default)]
pub struct Samples(Mutex<HashMap<String, Entry>>);

/// Nanocores used between two samples: CPU nanoseconds per second. `None`
/// when the samples are not at least [`MIN_WINDOW`] apart or the counter
/// went backwards (a restarted container starts again from zero).
pub fn rate(prev: Sample, cur: Sample) -> Option<u64> {
    let dt = cur.at.checked_duration_since(prev.at)?;
    if dt < MIN_WINDOW {
        return None;
    }
    let used = u128::from(cur.cpu_nanos.checked_sub(prev.cpu_nanos)?);
    u64::try_from(used * 1_000_000_000 / dt.as_nanos()).ok()
}

impl Samples {
    /// Records `cur` for `key` and answers the rate since the kept sample;
    /// `None` the first time a key is seen.
    pub fn record(&self, key: &str, cur: Sample) -> Option<u64> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES && !map.contains_key(key) {
            map.clear();
        }
        match map.get_mut(key) {
            None => {
                map.insert(
                    key.to_owned(),
                    Entry {
                        base: cur,
                        rate: None,
                    },
                );
                None
            }
            Some(e) if cur.cpu_nanos < e.base.cpu_nanos => {
                // A reset counter: start over from this sample.
                *e = Entry {
                    base: cur,
                    rate: None,
                };
                None
            }
            Some(e) => match rate(e.base, cur) {
                Some(r) => {
                    *e = Entry {
                        base: cur,
                        rate: Some(r),
                    };
                    Some(r)
                }
                // Too soon after the kept sample: keep it, so the next
                // rate covers a full window, and answer the last one.
                None => e.rate,
            },
        }
    }

    /// Whether `key` has a sample.
    pub fn has(&self, key: &str) -> bool {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.contains_key(key)
    }

    /// Forgets every key but the node's and those in `live`.
    pub fn retain(&self, live: &HashSet<String>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|k, _| k == NODE_KEY || live.contains(k));
    }
}

/// The node's memory, from `/proc/meminfo`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeMemory {
    /// `MemTotal`.
    pub total: u64,
    /// `MemAvailable`.
    pub available: u64,
    /// `MemFree`.
    pub free: u64,
}

/// Parses `/proc/meminfo` (values in kB).
pub fn parse_meminfo(text: &str) -> NodeMemory {
    let mut m = NodeMemory::default();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(key), Some(val)) = (it.next(), it.next()) else {
            continue;
        };
        let Ok(kb) = val.parse::<u64>() else { continue };
        let bytes = kb.saturating_mul(1024);
        match key {
            "MemTotal:" => m.total = bytes,
            "MemAvailable:" => m.available = bytes,
            "MemFree:" => m.free = bytes,
            _ => {}
        }
    }
    m
}

/// The node's CPU time used (all but idle and iowait) in nanoseconds,
/// and its boot time in seconds since the epoch, from `/proc/stat`.
pub fn parse_proc_stat(text: &str) -> (Option<u64>, Option<i64>) {
    let mut cpu = None;
    let mut btime = None;
    for line in text.lines() {
        let mut it = line.split_whitespace();
        match it.next() {
            Some("cpu") => {
                let ticks: Vec<u64> = it.filter_map(|v| v.parse().ok()).collect();
                // user nice system idle iowait irq softirq steal (guest
                // time is already counted in user and nice).
                let busy: u64 = ticks
                    .iter()
                    .take(8)
                    .enumerate()
                    .filter(|(i, _)| *i != 3 && *i != 4)
                    .map(|(_, t)| *t)
                    .fold(0u64, u64::saturating_add);
                if ticks.len() >= 4 {
                    cpu = Some(busy.saturating_mul(1_000_000_000 / USER_HZ));
                }
            }
            Some("btime") => btime = it.next().and_then(|v| v.parse().ok()),
            _ => {}
        }
    }
    (cpu, btime)
}

/// The `cpu` object of the Summary API.
pub fn cpu_json(time: &str, total_nanos: u64, rate: Option<u64>) -> Value {
    let mut v = json!({"time": time, "usageCoreNanoSeconds": total_nanos});
    if let Some(r) = rate {
        v["usageNanoCores"] = r.into();
    }
    v
}

/// A running container, as sampled.
struct Seen {
    runtime: Arc<dyn Runtime>,
    id: String,
    name: String,
    sandbox: String,
    started: Option<jiff::Timestamp>,
    stats: Option<ContainerStats>,
    at: Instant,
}

async fn sample_containers(runtimes: &[Arc<dyn Runtime>]) -> Vec<Seen> {
    let filter = ContainerFilter {
        sandbox_id: None,
        state: Some(ContainerState::Running),
    };
    let mut out = Vec::new();
    for rt in runtimes {
        let Ok(list) = rt.list_containers(&filter).await else {
            continue;
        };
        for c in list {
            // A runtime without stats still lists its containers; they are
            // reported without numbers, as the kubelet does.
            let stats = rt.container_stats(&c.id).await.ok();
            out.push(Seen {
                runtime: rt.clone(),
                id: c.id,
                name: c.name,
                sandbox: c.sandbox_id,
                started: c.started_at,
                stats,
                at: Instant::now(),
            });
        }
    }
    out
}

fn node_cpu() -> (Option<Sample>, Option<i64>) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let (cpu, btime) = parse_proc_stat(&text);
    let sample = cpu.map(|cpu_nanos| Sample {
        cpu_nanos,
        at: Instant::now(),
    });
    (sample, btime)
}

/// Answers `GET /stats/summary`.
pub async fn summary(node: &Node) -> Response<Body> {
    let (node_sample, btime) = node_cpu();
    let mut containers = sample_containers(&node.runtimes).await;
    let node_new = !node.samples.has(NODE_KEY);
    let any_new = containers
        .iter()
        .any(|c| c.stats.is_some() && !node.samples.has(&c.id));
    let node_rate = node_sample.and_then(|s| node.samples.record(NODE_KEY, s));
    let mut rates: HashMap<String, Option<u64>> = HashMap::new();
    for c in &containers {
        if let Some(s) = c.stats {
            let sample = Sample {
                cpu_nanos: s.cpu_usage_nanos,
                at: c.at,
            };
            rates.insert(c.id.clone(), node.samples.record(&c.id, sample));
        }
    }
    let (node_sample, node_rate) = if node_new || any_new {
        // First sight of something: sample once more after a window so the
        // answer has rates rather than making the caller ask twice.
        tokio::time::sleep(MIN_WINDOW).await;
        let (again, _) = node_cpu();
        for c in &mut containers {
            if c.stats.is_none() || rates.get(&c.id).is_some_and(Option::is_some) {
                continue;
            }
            if let Ok(s) = c.runtime.container_stats(&c.id).await {
                c.stats = Some(s);
                c.at = Instant::now();
                let sample = Sample {
                    cpu_nanos: s.cpu_usage_nanos,
                    at: c.at,
                };
                rates.insert(c.id.clone(), node.samples.record(&c.id, sample));
            }
        }
        let rate = again.and_then(|s| node.samples.record(NODE_KEY, s));
        (again.or(node_sample), rate.or(node_rate))
    } else {
        (node_sample, node_rate)
    };
    let live: HashSet<String> = containers.iter().map(|c| c.id.clone()).collect();
    node.samples.retain(&live);

    let now = jiff::Timestamp::now().to_string();
    let mem = parse_meminfo(&std::fs::read_to_string("/proc/meminfo").unwrap_or_default());
    let mut node_json = json!({
        "nodeName": node.node_name,
        "memory": {
            "time": now,
            "availableBytes": mem.available,
            "usageBytes": mem.total.saturating_sub(mem.free),
            "workingSetBytes": mem.total.saturating_sub(mem.available),
        },
    });
    if let Some(s) = node_sample {
        node_json["cpu"] = cpu_json(&now, s.cpu_nanos, node_rate);
    }
    if let Some(t) = btime.and_then(|b| jiff::Timestamp::from_second(b).ok()) {
        node_json["startTime"] = t.to_string().into();
    }

    // Group containers by sandbox, in a stable order.
    let mut by_sandbox: Vec<(String, Arc<dyn Runtime>, Vec<&Seen>)> = Vec::new();
    for c in &containers {
        match by_sandbox.iter_mut().find(|(s, _, _)| *s == c.sandbox) {
            Some((_, _, v)) => v.push(c),
            None => by_sandbox.push((c.sandbox.clone(), c.runtime.clone(), vec![c])),
        }
    }
    let mut pods = Vec::new();
    for (sandbox, rt, cs) in by_sandbox {
        let Ok(sb) = rt.pod_sandbox_status(&sandbox).await else {
            continue;
        };
        let mut pod_cpu = (0u64, Some(0u64));
        let mut pod_mem = Some(0u64);
        let mut list = Vec::new();
        for c in cs {
            let mut cj = json!({"name": c.name});
            if let Some(t) = c.started {
                cj["startTime"] = t.to_string().into();
            }
            match c.stats {
                Some(s) => {
                    let r = rates.get(&c.id).copied().flatten();
                    cj["cpu"] = cpu_json(&now, s.cpu_usage_nanos, r);
                    cj["memory"] = json!({
                        "time": now,
                        "workingSetBytes": s.memory_working_set_bytes,
                        "usageBytes": s.memory_working_set_bytes,
                    });
                    pod_cpu.0 = pod_cpu.0.saturating_add(s.cpu_usage_nanos);
                    pod_cpu.1 = pod_cpu.1.zip(r).map(|(a, b)| a.saturating_add(b));
                    pod_mem = pod_mem.map(|m| m.saturating_add(s.memory_working_set_bytes));
                }
                None => {
                    pod_cpu.1 = None;
                    pod_mem = None;
                }
            }
            list.push(cj);
        }
        let mut pj = json!({
            "podRef": {
                "name": sb.config.name,
                "namespace": sb.config.namespace,
                "uid": sb.config.uid,
            },
            "startTime": sb.created_at.to_string(),
            "containers": list,
        });
        if let Some(m) = pod_mem {
            pj["cpu"] = cpu_json(&now, pod_cpu.0, pod_cpu.1);
            pj["memory"] = json!({"time": now, "workingSetBytes": m, "usageBytes": m});
        }
        pods.push(pj);
    }
    let body = json!({"node": node_json, "pods": pods});
    let Ok(bytes) = serde_json::to_vec(&body) else {
        return status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "encoding the summary",
        );
    };
    let mut r = Response::new(full(bytes));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64, cpu: u64) -> Sample {
        Sample {
            cpu_nanos: cpu,
            at: base + Duration::from_millis(ms),
        }
    }

    #[test]
    fn rates_need_a_window_and_a_forward_counter() {
        let t = Instant::now();
        // Half a core for two seconds.
        assert_eq!(
            rate(at(t, 0, 0), at(t, 2000, 1_000_000_000)),
            Some(500_000_000)
        );
        assert_eq!(rate(at(t, 0, 0), at(t, 10, 5)), None);
        assert_eq!(rate(at(t, 0, 10), at(t, 5000, 5)), None);
        assert_eq!(rate(at(t, 5000, 0), at(t, 0, 5)), None);
    }

    #[test]
    fn cache_keeps_the_base_until_a_window_passed() {
        let s = Samples::default();
        let t = Instant::now();
        assert_eq!(s.record("c", at(t, 0, 0)), None);
        assert_eq!(s.record("c", at(t, 500, 100)), None);
        assert_eq!(s.record("c", at(t, 1000, 250_000_000)), Some(250_000_000));
        // Too soon: the last rate again, the base kept.
        assert_eq!(s.record("c", at(t, 1200, 900_000_000)), Some(250_000_000));
        assert_eq!(
            s.record("c", at(t, 2000, 1_250_000_000)),
            Some(1_000_000_000)
        );
        // A restart resets.
        assert_eq!(s.record("c", at(t, 3000, 7)), None);
        s.retain(&HashSet::new());
        assert!(!s.has("c"));
    }

    #[test]
    fn proc_files_parse() {
        let stat = "cpu  100 5 50 1000 20 1 2 3 0 0\ncpu0 1 2 3 4\nbtime 1700000000\n";
        let (cpu, btime) = parse_proc_stat(stat);
        assert_eq!(cpu, Some(161 * 10_000_000));
        assert_eq!(btime, Some(1_700_000_000));
        assert_eq!(parse_proc_stat("garbage\ncpu x"), (None, None));
        let mem = parse_meminfo("MemTotal: 2048 kB\nMemFree: 512 kB\nMemAvailable: 1024 kB\nbad\n");
        assert_eq!(
            mem,
            NodeMemory {
                total: 2 << 20,
                available: 1 << 20,
                free: 512 << 10,
            }
        );
    }

    #[test]
    fn cpu_object_has_the_summary_field_names() {
        let v = cpu_json("t", 42, Some(7));
        assert_eq!(v["usageCoreNanoSeconds"], 42);
        assert_eq!(v["usageNanoCores"], 7);
        assert!(cpu_json("t", 1, None).get("usageNanoCores").is_none());
    }
}
