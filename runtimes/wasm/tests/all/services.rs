//! HTTP services: serving, per-request deadline, outgoing calls, graceful stop.

use std::net::SocketAddr;
use std::time::Duration;

use skiff_runtime::{ContainerState, ExitReason, Runtime};
use skiff_runtime_wasm::REQUEST_TIMEOUT_ANNOTATION;

use crate::support::{Env, http_get};

async fn serve(
    env: &Env,
    sandbox: &str,
    config: skiff_runtime::ContainerConfig,
) -> (String, SocketAddr) {
    let sb = env.sandbox(sandbox).await;
    let id = env.rt.create_container(&sb, &config).await.unwrap();
    env.rt.start_container(&id).await.unwrap();
    let st = env.rt.container_status(&id).await.unwrap();
    assert_eq!(st.state, ContainerState::Running);
    (id, st.listening[0])
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || http_get(addr, &path))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_http_serves_and_stops_gracefully() {
    let env = Env::new();
    let mut config = env
        .config("hello-http", "web")
        .await
        .with_port(0)
        .with_env("GREETING", "Hi")
        .with_env("POD_NAME", "web-1");
    config
        .annotations
        .insert(REQUEST_TIMEOUT_ANNOTATION.to_owned(), "300ms".to_owned());
    let (id, addr) = serve(&env, "web", config).await;
    for _ in 0..20 {
        assert_eq!(get(addr, "/").await, (200, "Hi from web-1\n".to_owned()));
    }
    // A request that never answers is cut off at its deadline; the service lives on.
    let (status, body) = get(addr, "/spin").await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(get(addr, "/").await.0, 200);
    let stats = env.rt.container_stats(&id).await.unwrap();
    // The spin ran for its 300 ms deadline; on a loaded machine it gets
    // less than all of that on a core, so only ask that it was counted.
    assert!(
        stats.cpu_usage_nanos >= 50_000_000,
        "spinning request used only {}ns",
        stats.cpu_usage_nanos
    );

    env.rt
        .stop_container(&id, Duration::from_secs(2))
        .await
        .unwrap();
    let st = env.rt.container_status(&id).await.unwrap();
    assert_eq!(
        (st.state, st.exit_code, st.reason),
        (ContainerState::Exited, Some(0), Some(ExitReason::Completed))
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening after stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_name_defaults_to_the_hostname() {
    let env = Env::new();
    let (_, addr) = serve(
        &env,
        "frontend-abc12",
        env.config("hello-http", "web").await.with_port(0),
    )
    .await;
    assert_eq!(get(addr, "/").await.1, "Hello from frontend-abc12\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_service_calls_another() {
    let env = Env::new();
    let hello = env
        .config("hello-http", "hello")
        .await
        .with_port(0)
        .with_env("POD_NAME", "backend");
    let (_, backend) = serve(&env, "backend", hello).await;
    let caller = env
        .config("http-caller", "caller")
        .await
        .with_port(0)
        .with_env("UPSTREAM_URL", format!("http://{backend}/"));
    let (_, frontend) = serve(&env, "frontend", caller).await;
    assert_eq!(
        get(frontend, "/").await,
        (200, "caller got 200: Hello from backend\n".to_owned())
    );

    // An upstream that is not there is a 502 from the caller, not a crash.
    let dead = env
        .config("http-caller", "caller")
        .await
        .with_port(0)
        .with_env("UPSTREAM_URL", "http://127.0.0.1:1/");
    let (_, lonely) = serve(&env, "lonely", dead).await;
    let (status, body) = get(lonely, "/").await;
    assert_eq!(status, 502, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_memory_limit_applies_per_request() {
    let env = Env::new();
    let config = env
        .config("hello-http", "tiny")
        .await
        .with_port(0)
        .with_resources(skiff_runtime::Resources::from_limits(Some("64Ki"), None).unwrap());
    let (_, addr) = serve(&env, "tiny", config).await;
    let (status, body) = get(addr, "/").await;
    assert_eq!(
        status, 500,
        "a 64Ki limit must not fit a Rust component: {body}"
    );
    assert!(body.contains("memory limit"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_image_compile_it_once() {
    // A Deployment's pods landing together on a node that never ran the
    // image: every create succeeds and they share one compilation.
    let env = Env::new();
    let config = env.config("hello-http", "web").await.with_port(0);
    let mut sandboxes = Vec::new();
    for i in 0..8 {
        sandboxes.push(env.sandbox(&format!("burst-{i}")).await);
    }
    let mut creates = tokio::task::JoinSet::new();
    for sb in sandboxes {
        let (rt, config) = (env.rt.clone(), config.clone());
        creates.spawn(async move { rt.create_container(&sb, &config).await });
    }
    let mut ids = Vec::new();
    while let Some(created) = creates.join_next().await {
        ids.push(created.unwrap().unwrap());
    }
    assert_eq!(ids.len(), 8);
    assert_eq!(env.rt.compilations(), 1);
    // And each of them serves.
    for id in &ids {
        env.rt.start_container(id).await.unwrap();
        let addr = env.rt.container_status(id).await.unwrap().listening[0];
        assert_eq!(get(addr, "/").await.0, 200);
    }
    // A later create reuses the code too.
    let sb = env.sandbox("burst-late").await;
    env.rt.create_container(&sb, &config).await.unwrap();
    assert_eq!(env.rt.compilations(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_a_broken_image_all_fail_and_retry_later() {
    let env = Env::new();
    let bad = env.dir.path().join("bad.wasm");
    // A component header with a truncated body: detected as a component,
    // rejected by the compiler.
    std::fs::write(&bad, b"\0asm\x0d\0\x01\0\x01\x05").unwrap();
    let (image, _) = env
        .rt
        .import_file(&bad, Some("localhost/bad:test"))
        .await
        .unwrap();
    let config = skiff_runtime::ContainerConfig::new("web", skiff_runtime::ImageSpec::new(&image))
        .with_port(0);
    let mut creates = tokio::task::JoinSet::new();
    for i in 0..4 {
        let sb = env.sandbox(&format!("bad-{i}")).await;
        let (rt, config) = (env.rt.clone(), config.clone());
        creates.spawn(async move { rt.create_container(&sb, &config).await });
    }
    while let Some(created) = creates.join_next().await {
        let err = created.unwrap().unwrap_err();
        assert!(
            matches!(err, skiff_runtime::RuntimeError::InvalidImage { .. }),
            "{err}"
        );
    }
    // The failure is not kept: the import's compile (which failed), then
    // one to four by the creates (one while they overlap), and a later
    // create compiles again (and fails again).
    let before = env.rt.compilations();
    assert!((2..=5).contains(&before), "{before}");
    let sb = env.sandbox("bad-late").await;
    assert!(env.rt.create_container(&sb, &config).await.is_err());
    assert_eq!(env.rt.compilations(), before + 1);
}
