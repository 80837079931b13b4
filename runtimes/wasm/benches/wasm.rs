//! Wasm runtime benchmarks. Prints numbers and the command to rerun them;
//! asserts nothing about timing.
//!
//! Run (after `wasm-examples/build.sh`; `ulimit -n` ≥ 4096 for the 1,000
//! services; `wasmtime` 48.0.8 and `wrk` on PATH for the comparison):
//!
//! ```text
//! ulimit -n 8192; cargo bench -p skiff-runtime-wasm --bench wasm
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use skiff_runtime::{ContainerConfig, ImageSpec, PodSandboxConfig, Runtime};
use skiff_runtime_wasm::engine::{EngineConfig, Prepared, WasmEngine};
use skiff_runtime_wasm::logs::LogFile;
use skiff_runtime_wasm::service::Service;
use skiff_runtime_wasm::spec::RunSpec;
use skiff_runtime_wasm::{WasmRuntime, WasmRuntimeConfig};

const RERUN: &str = "ulimit -n 8192; cargo bench -p skiff-runtime-wasm --bench wasm";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wasm-examples/out")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let out = examples();
    assert!(
        out.join("hello-http.wasm").exists(),
        "run wasm-examples/build.sh first"
    );
    println!("# Wasm runtime benchmarks (rerun: {RERUN} [latency|command|burst|idle|rps])");
    if want("latency") {
        latency(&out).await;
    }
    if want("command") {
        command(&out).await;
    }
    if want("burst") {
        burst(&out).await;
    }
    if want("idle") {
        idle(&out).await;
    }
    if want("rps") {
        rps(&out).await;
    }
}

/// Instantiate-and-handle latency, in process: no socket, one fresh
/// instance per request, response body read to the end.
async fn latency(out: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let engine = WasmEngine::new(&EngineConfig::default(), &dir.path().join("compiled")).unwrap();
    let wasm = std::fs::read(out.join("hello-http.wasm")).unwrap();
    let Prepared::Http(pre) = engine.prepare("hello", &wasm).unwrap() else {
        panic!("hello-http is not a service")
    };
    let sandbox = PodSandboxConfig::new("bench", "hello", dir.path());
    let config = ContainerConfig::new("hello", ImageSpec::new("hello")).with_port(0);
    let log = LogFile::open(
        &dir.path().join("hello.log"),
        skiff_runtime::logs::RotationPolicy::default(),
    )
    .unwrap();
    let spec = Arc::new(RunSpec::new(&config, &sandbox, log).unwrap());
    let svc = Service::new(engine.engine().clone(), pre, spec, Duration::from_secs(10));
    let once = || async {
        let req = hyper::Request::get("http://hello/")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = svc.handle(req).await;
        assert_eq!(resp.status(), 200);
        resp.into_body().collect().await.unwrap().to_bytes()
    };
    for _ in 0..500 {
        once().await;
    }
    let n = 10_000;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        once().await;
        times.push(t0.elapsed());
    }
    times.sort();
    println!(
        "latency: instantiate+handle hello-http in process, n={n}: p50 {:.1} µs, p99 {:.1} µs",
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        percentile(&times, 0.99).as_secs_f64() * 1e6
    );
}

/// Start of a cached command container to its exit, through the Runtime
/// trait (create + start + wait; the code was compiled by an earlier start).
async fn command(out: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let rt = WasmRuntime::new(WasmRuntimeConfig::new(dir.path().join("state"))).unwrap();
    for (name, file) in [("P2 job", "job.wasm"), ("P1 job", "job-p1.wasm")] {
        let (image, _) = rt.import_file(&out.join(file), None).await.unwrap();
        let sb = rt
            .run_pod_sandbox(&PodSandboxConfig::new(
                "bench",
                "job",
                dir.path().join("logs"),
            ))
            .await
            .unwrap();
        let config = ContainerConfig::new("job", ImageSpec::new(&image)).with_args(["exit", "0"]);
        let mut times = Vec::new();
        for i in 0..520 {
            let t0 = Instant::now();
            let id = rt.create_container(&sb, &config).await.unwrap();
            rt.start_container(&id).await.unwrap();
            let st = rt.wait_container(&id).await.unwrap();
            let took = t0.elapsed();
            assert_eq!(st.exit_code, Some(0));
            rt.remove_container(&id).await.unwrap();
            // The first start compiles; the next few warm caches.
            if i >= 20 {
                times.push(took);
            }
        }
        times.sort();
        println!(
            "command: cached {name} create+start+exit, n={}: p50 {:.2} ms, p99 {:.2} ms",
            times.len(),
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3
        );
    }
}

/// 20 concurrent creates of one image that this runtime has not compiled
/// yet: the burst of pods of one Deployment landing on a fresh node. Each
/// round uses a fresh state directory ("cold": nothing compiled on disk
/// either) or a fresh runtime over the previous round's directory ("disk":
/// code in wasmtime's on-disk cache, nothing in memory). Latency is per
/// create_container call, from the moment all 20 are issued. Since import
/// compiles the image (as a pull does), the import pays the compile and the
/// creates find the code in memory: this now shows creates after an import.
async fn burst(out: &Path) {
    let n = 20;
    let rounds = 3;
    let wasm = out.join("hello-http.wasm");
    for warm_disk in [false, true] {
        let mut times = Vec::new();
        let mut walls = Vec::new();
        let mut compilations = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        for round in 0..rounds {
            let state = if warm_disk {
                dir.path().join("state")
            } else {
                dir.path().join(format!("state-{round}"))
            };
            if warm_disk && round == 0 {
                // Fill the disk cache once.
                let rt = WasmRuntime::new(WasmRuntimeConfig::new(&state)).unwrap();
                let (image, _) = rt.import_file(&wasm, None).await.unwrap();
                rt.image_kind(&image).await.unwrap();
            }
            let rt = WasmRuntime::new(WasmRuntimeConfig::new(&state)).unwrap();
            let (image, _) = rt.import_file(&wasm, None).await.unwrap();
            let mut sandboxes = Vec::new();
            for i in 0..n {
                sandboxes.push(
                    rt.run_pod_sandbox(&PodSandboxConfig::new(
                        "bench",
                        format!("web-{i}"),
                        dir.path().join(format!("logs/{round}/{i}")),
                    ))
                    .await
                    .unwrap(),
                );
            }
            let config = ContainerConfig::new("web", ImageSpec::new(&image)).with_port(0);
            let t0 = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for sb in sandboxes {
                let (rt, config) = (rt.clone(), config.clone());
                tasks.spawn(async move {
                    rt.create_container(&sb, &config).await.unwrap();
                    t0.elapsed()
                });
            }
            while let Some(took) = tasks.join_next().await {
                times.push(took.unwrap());
            }
            walls.push(t0.elapsed());
            compilations.push(rt.compilations());
        }
        times.sort();
        walls.sort();
        println!(
            "burst: {n} concurrent creates of hello-http not yet compiled in memory ({}), {rounds} rounds: per create p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; all {n} done: median {:.1} ms; {} compilations per round (rerun: {RERUN} burst)",
            if warm_disk {
                "code in the on-disk cache"
            } else {
                "cold: nothing on disk"
            },
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3,
            times.last().map_or(0.0, |t| t.as_secs_f64() * 1e3),
            walls[walls.len() / 2].as_secs_f64() * 1e3,
            compilations
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join("/"),
        );
    }
}

/// Resident memory of 1,000 deployed, idle hello-http services in one
/// process (each its own sandbox, container and listening socket).
async fn idle(out: &Path) {
    let n = 1000;
    let dir = tempfile::tempdir().unwrap();
    let rt = WasmRuntime::new(WasmRuntimeConfig::new(dir.path().join("state"))).unwrap();
    let (image, _) = rt
        .import_file(&out.join("hello-http.wasm"), None)
        .await
        .unwrap();
    rt.image_kind(&image).await.unwrap();
    let before = rss_bytes();
    let mut addrs = Vec::new();
    for i in 0..n {
        let sb = rt
            .run_pod_sandbox(&PodSandboxConfig::new(
                "bench",
                format!("web-{i}"),
                dir.path().join(format!("logs/{i}")),
            ))
            .await
            .unwrap();
        let config = ContainerConfig::new("web", ImageSpec::new(&image)).with_port(0);
        let id = match rt.create_container(&sb, &config).await {
            Ok(id) => id,
            Err(e) => {
                println!("idle: stopped at {i} services: {e} (raise `ulimit -n`)");
                return;
            }
        };
        if let Err(e) = rt.start_container(&id).await {
            println!("idle: stopped at {i} services: {e:#} (raise `ulimit -n`)");
            return;
        }
        addrs.push(rt.container_status(&id).await.unwrap().listening[0]);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_bytes();
    // Every one of them really answers.
    let sample: Vec<SocketAddr> = addrs.iter().step_by(97).copied().collect();
    for a in &sample {
        let a = *a;
        let body = tokio::task::spawn_blocking(move || get(a)).await.unwrap();
        assert!(body.contains("Hello from web-"), "{body}");
    }
    println!(
        "idle: {n} hello-http services: RSS {:.1} MiB -> {:.1} MiB, {:.1} KiB each ({} sampled services answered)",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        (after.saturating_sub(before)) as f64 / n as f64 / 1024.0,
        sample.len()
    );
}

fn get(addr: SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    r
}

/// Requests/s of Skiff against `wasmtime serve` on the same component, same
/// wrk load, same machine, one after the other.
async fn rps(out: &Path) {
    let wasm = out.join("hello-http.wasm");
    let (threads, conns, secs) = (2, 32, 5);
    let wrk_args = |addr: SocketAddr| {
        vec![
            format!("-t{threads}"),
            format!("-c{conns}"),
            format!("-d{secs}s"),
            format!("http://{addr}/"),
        ]
    };
    if Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        println!("rps: wrk is not installed (apt-get install wrk); skipped");
        return;
    }
    // Skiff, in this process.
    let dir = tempfile::tempdir().unwrap();
    let rt = WasmRuntime::new(WasmRuntimeConfig::new(dir.path().join("state"))).unwrap();
    let (image, _) = rt.import_file(&wasm, None).await.unwrap();
    let sb = rt
        .run_pod_sandbox(&PodSandboxConfig::new(
            "bench",
            "web",
            dir.path().join("logs"),
        ))
        .await
        .unwrap();
    let id = rt
        .create_container(
            &sb,
            &ContainerConfig::new("web", ImageSpec::new(&image)).with_port(0),
        )
        .await
        .unwrap();
    rt.start_container(&id).await.unwrap();
    let ours = rt.container_status(&id).await.unwrap().listening[0];

    // wasmtime serve 48.0.8.
    let wasmtime = std::env::var("WASMTIME").unwrap_or_else(|_| "wasmtime".to_owned());
    let version = Command::new(&wasmtime)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let Ok(version) = version else {
        let skiff = run_wrk(&wrk_args(ours)).await;
        println!(
            "rps: skiff {skiff:.0} req/s; `{wasmtime}` not found (cargo install wasmtime-cli --version 48.0.8 --locked), no comparison"
        );
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let theirs: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = Command::new(&wasmtime)
        .args(["serve", "-Scli", "--addr", &theirs.to_string()])
        .arg(&wasm)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while std::net::TcpStream::connect(theirs).is_err() && t0.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Alternate the two so background load on a shared machine hits both alike.
    let (mut skiff, mut serve) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        skiff.push(run_wrk(&wrk_args(ours)).await);
        serve.push(run_wrk(&wrk_args(theirs)).await);
    }
    let _ = child.kill();
    let _ = child.wait();
    rt.stop_container(&id, Duration::ZERO).await.unwrap();
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let rounds: Vec<String> = skiff
        .iter()
        .zip(&serve)
        .map(|(a, b)| format!("{a:.0}/{b:.0}"))
        .collect();
    let (s, w) = (median(&mut skiff), median(&mut serve));
    println!(
        "rps: hello-http, wrk -t{threads} -c{conns} -d{secs}s on loopback, 3 alternating rounds (skiff/serve: {}): median skiff {s:.0} req/s, {version} serve {w:.0} req/s, ratio {:.2}",
        rounds.join(", "),
        s / w
    );
}

async fn run_wrk(args: &[String]) -> f64 {
    let args = args.to_vec();
    let out =
        tokio::task::spawn_blocking(move || Command::new("wrk").args(&args).output().unwrap())
            .await
            .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk output:\n{text}"))
}
