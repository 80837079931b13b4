//! Command containers: output, env, args, exit codes, limits, stop, volumes.

use std::time::{Duration, Instant};

use skiff_runtime::{
    ContainerState, EXIT_CODE_KILLED, ExitReason, Resources, Runtime, RuntimeError,
};
use skiff_runtime_wasm::WasmKind;

use crate::support::{Env, examples};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinds_are_detected_from_the_binary() {
    let env = Env::new();
    for (name, kind) in [
        ("job", WasmKind::P2Command),
        ("job-p1", WasmKind::P1Command),
        ("cpu-hog", WasmKind::P2Command),
        ("hello-http", WasmKind::HttpService),
        ("http-caller", WasmKind::HttpService),
    ] {
        let image = env.image(name).await;
        assert_eq!(
            env.rt.image_kind(&image.image).await.unwrap(),
            kind,
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greeting_uses_env_and_pod_name() {
    let env = Env::new();
    for job in ["job", "job-p1"] {
        let config = env
            .config(job, "greeter")
            .await
            .with_env("GREETING", "Ahoy")
            .with_env("POD_NAME", "batch-7");
        let (st, out) = env.run(&config).await;
        assert_eq!(out, ["Ahoy from a Wasm job in batch-7"], "{job}");
        assert_eq!(
            (st.exit_code, st.reason),
            (Some(0), Some(ExitReason::Completed))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_holds_config_and_hostname() {
    let env = Env::new();
    let config = env
        .config("job", "envy")
        .await
        .with_args(["env"])
        .with_env("A", "1")
        .with_env("B", "two words");
    let (_, out) = env.run(&config).await;
    assert!(
        out.contains(&"A=1".to_owned()) && out.contains(&"B=two words".to_owned()),
        "{out:?}"
    );
    // The kubelet's convention: HOSTNAME is the pod name.
    assert!(
        out.iter().any(|l| l.starts_with("HOSTNAME=envy-")),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_exit_codes_from_p1_and_p2() {
    let env = Env::new();
    for (job, code) in [("job", 42), ("job-p1", 7), ("job", 255)] {
        let config = env
            .config(job, "failing")
            .await
            .with_args(["exit".to_owned(), code.to_string()]);
        let (st, out) = env.run(&config).await;
        assert_eq!(st.exit_code, Some(code), "{job}: {st:?}");
        assert_eq!(st.reason, Some(ExitReason::Error));
        assert_eq!(out, [format!("exiting with {code} as asked")]);
    }
    // A bad argument is the program's own usage error (exit 2), on stderr.
    let (st, out) = env
        .run(&env.config("job", "usage").await.with_args(["bogus"]))
        .await;
    assert_eq!((st.exit_code, out.len()), (Some(2), 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_kills_the_hog_as_oomkilled() {
    let env = Env::new();
    let limits = Resources::from_limits(Some("32Mi"), None).unwrap();
    let config = env.config("mem-hog", "hog").await.with_resources(limits);
    let (st, out) = env.run(&config).await;
    assert_eq!(st.reason, Some(ExitReason::OomKilled), "{st:?}");
    assert_eq!(st.exit_code, Some(EXIT_CODE_KILLED));
    // It got close to the limit before dying, and no further.
    let held: Vec<u32> = out
        .iter()
        .filter_map(|l| {
            l.strip_prefix("holding ")?
                .strip_suffix(" MiB")?
                .parse()
                .ok()
        })
        .collect();
    assert!(
        held.last().is_some_and(|&m| (16..32).contains(&m)),
        "{out:?}"
    );

    // Under the limit the same program completes.
    let config = env
        .config("mem-hog", "small")
        .await
        .with_resources(limits)
        .with_env("MAX_MB", "8");
    let (st, out) = env.run(&config).await;
    assert_eq!(st.reason, Some(ExitReason::Completed), "{st:?}");
    assert_eq!(out.last().map(String::as_str), Some("holding 8 MiB, done"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_limit_throttles_and_stop_interrupts_a_busy_guest() {
    let env = Env::new();
    let sb = env.sandbox("cpu").await;
    let limited = env
        .config("cpu-hog", "limited")
        .await
        .with_args(["forever"])
        .with_resources(Resources::from_limits(None, Some("100m")).unwrap());
    let id = env.rt.create_container(&sb, &limited).await.unwrap();
    let t0 = Instant::now();
    env.rt.start_container(&id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let used = Duration::from_nanos(env.rt.container_stats(&id).await.unwrap().cpu_usage_nanos);
    let wall = t0.elapsed();
    // 100m is 10 ms per 100 ms period; allow one period of slack.
    assert!(used > Duration::ZERO, "the hog never ran");
    assert!(
        used <= wall / 10 + Duration::from_millis(100),
        "used {used:?} of CPU in {wall:?} under a 100m limit"
    );
    assert_eq!(
        env.rt.container_status(&id).await.unwrap().state,
        ContainerState::Running
    );

    // The hog never yields on its own: only epoch interruption can stop it.
    let t0 = Instant::now();
    env.rt
        .stop_container(&id, Duration::from_millis(200))
        .await
        .unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        t0.elapsed()
    );
    let st = env.rt.container_status(&id).await.unwrap();
    assert_eq!(
        (st.state, st.exit_code),
        (ContainerState::Exited, Some(EXIT_CODE_KILLED))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_job_completes_with_its_answer() {
    let env = Env::new();
    let (st, out) = env
        .run(&env.config("cpu-hog", "primes").await.with_args(["100000"]))
        .await;
    assert_eq!(out, ["9592 primes below 100000"]);
    assert_eq!(st.exit_code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_writes_and_working_dir() {
    let env = Env::new();
    let vol = env.dir.path().join("vol");
    std::fs::create_dir_all(vol.join("sub")).unwrap();
    let config = env
        .config("volume-writer", "writer")
        .await
        .with_args(["/data/report.txt", "42 widgets"])
        .with_mount(&vol, "/data", false);
    let (st, _) = env.run(&config).await;
    assert_eq!(st.exit_code, Some(0), "{st:?}");
    assert_eq!(
        std::fs::read_to_string(vol.join("report.txt")).unwrap(),
        "42 widgets"
    );

    // A relative path lands in the working directory, inside the volume.
    let mut config = env
        .config("volume-writer", "relative")
        .await
        .with_args(["rel.txt", "here"])
        .with_mount(&vol, "/data", false);
    config.working_dir = Some("/data/sub".to_owned());
    let (st, _) = env.run(&config).await;
    assert_eq!(st.exit_code, Some(0), "{st:?}");
    assert_eq!(
        std::fs::read_to_string(vol.join("sub/rel.txt")).unwrap(),
        "here"
    );

    // A working directory outside every volume is refused at create time.
    let sb = env.sandbox("bad-wd").await;
    let mut config = env.config("volume-writer", "nowhere").await;
    config.working_dir = Some("/elsewhere".to_owned());
    match env.rt.create_container(&sb, &config).await {
        Err(RuntimeError::InvalidConfig { field, .. }) => assert_eq!(field, "workingDir"),
        other => panic!("create with a bad workingDir: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_images_fail_clearly() {
    let env = Env::new();
    let junk = env.dir.path().join("junk.wasm");
    std::fs::write(&junk, "#!/bin/sh\necho hi\n").unwrap();
    let err = env.rt.import_file(&junk, None).await.unwrap_err();
    assert!(matches!(err, RuntimeError::InvalidImage { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("not a WebAssembly module or component"),
        "{err}"
    );

    // A valid module that is a library, not a command.
    let lib = env.dir.path().join("lib.wasm");
    std::fs::write(&lib, b"\0asm\x01\0\0\0").unwrap();
    let (reference, _) = env.rt.import_file(&lib, None).await.unwrap();
    let sb = env.sandbox("bad").await;
    let config =
        skiff_runtime::ContainerConfig::new("lib", skiff_runtime::ImageSpec::new(reference));
    let err = env.rt.create_container(&sb, &config).await.unwrap_err();
    assert!(err.to_string().contains("no _start export"), "{err}");

    // An HTTP service needs a port.
    let config = env.config("hello-http", "portless").await;
    let err = env.rt.create_container(&sb, &config).await.unwrap_err();
    assert!(matches!(err, RuntimeError::InvalidConfig { .. }), "{err:?}");

    let missing = skiff_runtime::ContainerConfig::new(
        "x",
        skiff_runtime::ImageSpec::new("localhost/absent:1"),
    );
    assert!(matches!(
        env.rt.create_container(&sb, &missing).await,
        Err(RuntimeError::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_code_is_cached_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let job = examples().join("job.wasm");
    for _ in 0..2 {
        let rt = skiff_runtime_wasm::WasmRuntime::new(skiff_runtime_wasm::WasmRuntimeConfig::new(
            &state,
        ))
        .unwrap();
        let (reference, _) = rt.import_file(&job, None).await.unwrap();
        rt.image_kind(&reference).await.unwrap();
    }
    let entries = walk(&state.join("compiled"));
    assert!(!entries.is_empty(), "no compiled code was cached");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}
