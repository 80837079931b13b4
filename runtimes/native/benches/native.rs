//! Start-to-exit of `/bin/true` in busybox: Skiff's executor against `runc
//! run` on the same bundle, side by side in one run; and cold pull+unpack
//! throughput from a loopback registry. Needs root, like the tests.
//!
//! `cargo bench -p skiff-runtime-native` (set `SKIFF_BENCH_RUNS`, default 30).

#[path = "../tests/all/fixture.rs"]
#[allow(dead_code, reason = "the bench uses part of the test fixture")]
mod fixture;

use std::process::Command;
use std::time::{Duration, Instant};

use skiff_runtime::{ContainerConfig, ImageSpec, PodSandboxConfig, RegistryAuth, Runtime};
use skiff_runtime_native::{NativeRuntime, NativeRuntimeConfig};

fn stats(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    let mean = v.iter().sum::<Duration>() / v.len().max(1) as u32;
    (
        v.get(v.len() / 2).copied().unwrap_or_default(),
        mean,
        v.last().copied().unwrap_or_default(),
    )
}

#[tokio::main]
async fn main() {
    let Some(f) = fixture::fixture() else { return };
    let runs: usize = std::env::var("SKIFF_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = NativeRuntimeConfig::new(dir.path().join("state"));
    cfg.shim = fixture::shim().to_owned();
    let rt = NativeRuntime::new(cfg).unwrap();
    let image = ImageSpec::new(&f.image);

    let t = Instant::now();
    let st = rt
        .images()
        .pull_image(&image, &RegistryAuth::Anonymous)
        .await
        .unwrap();
    let pull = t.elapsed();
    println!(
        "cold pull+unpack: {:.2} MB in {:.1} ms = {:.1} MB/s",
        st.size as f64 / 1e6,
        pull.as_secs_f64() * 1e3,
        st.size as f64 / 1e6 / pull.as_secs_f64()
    );

    let pod = rt
        .run_pod_sandbox(&PodSandboxConfig::new(
            "bench",
            "bench",
            dir.path().join("logs"),
        ))
        .await
        .unwrap();
    let mut c = ContainerConfig::new("true", image.clone());
    c.command = vec!["/bin/true".into()];
    let mut ids = Vec::new();
    for _ in 0..runs {
        ids.push(rt.create_container(&pod, &c).await.unwrap());
    }
    let runc_root = tempfile::tempdir().unwrap();
    let bundle = rt.bundle_dir(&ids[0]).unwrap();
    let (mut skiff, mut runc) = (Vec::new(), Vec::new());
    // Interleaved, so both see the same machine load.
    for (i, id) in ids.iter().enumerate() {
        let t = Instant::now();
        let out = Command::new("runc")
            .arg("--root")
            .arg(runc_root.path())
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(format!("bench-{i}"))
            .output()
            .unwrap();
        runc.push(t.elapsed());
        assert!(out.status.success(), "{out:?}");
        let t = Instant::now();
        rt.start_container(id).await.unwrap();
        let st = rt.wait_container(id).await.unwrap();
        skiff.push(t.elapsed());
        assert_eq!(st.exit_code, Some(0));
    }
    for id in &ids {
        rt.remove_container(id).await.unwrap();
    }
    rt.remove_pod_sandbox(&pod).await.unwrap();
    let (sm, sa, sx) = stats(skiff);
    let (rm, ra, rx) = stats(runc);
    println!("start-to-exit of /bin/true, {runs} runs each (median / mean / max):");
    println!("  skiff  {sm:>10.2?} {sa:>10.2?} {sx:>10.2?}");
    println!("  runc   {rm:>10.2?} {ra:>10.2?} {rx:>10.2?}");
    println!(
        "  skiff / runc (median): {:.2}x",
        sm.as_secs_f64() / rm.as_secs_f64()
    );
}
