//! Probes end to end against a real `skiff up` in its own network
//! namespace: httpGet, tcpSocket and exec probes run by the node agent
//! against the pods' real addresses on `skiff0`, seen through kube-rs and
//! real kubectl (`describe` shows the kubelet's events).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use skiff_runtime_native::testing::Registry;
use skiff_tests::Cluster;

const HELLO: &str = "localhost/skiff-e2e/hello-http:1";

fn up() -> Cluster {
    Cluster::up_with_wasm(&[("hello-http", HELLO)])
}

/// A hello-http pod (listening on 8080) with `probes` under its container.
fn hello_pod(name: &str, probes: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  runtimeClassName: wasmtime
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {HELLO}
    ports:
    - {{name: http, containerPort: 8080}}
{probes}"#
    )
}

/// A native busybox pod running `script`, with `probes` under its container.
fn busybox_pod(name: &str, image: &str, script: &str, probes: &str) -> String {
    let script = script.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {image}
    command: ["sh", "-c", "{script}"]
{probes}"#
    )
}

/// Polls the pod until `done` holds or `timeout` passes.
async fn wait_pod(
    api: &Api<Pod>,
    name: &str,
    timeout: Duration,
    done: impl Fn(&Pod) -> bool,
) -> Pod {
    let deadline = Instant::now() + timeout;
    loop {
        let p = api.get_opt(name).await.ok().flatten();
        if let Some(p) = &p
            && done(p)
        {
            return p.clone();
        }
        assert!(
            Instant::now() < deadline,
            "pod {name} not as expected within {timeout:?}; last {:?}",
            p.and_then(|p| p.status)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn condition(p: &Pod, t: &str) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == t))
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

fn container(p: &Pod) -> k8s_openapi::api::core::v1::ContainerStatus {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .cloned()
        .unwrap_or_default()
}

fn running(p: &Pod) -> bool {
    container(p).state.and_then(|s| s.running).is_some()
}

/// `kubectl describe pod` until it contains every one of `needles`.
async fn describe_until(c: &Cluster, name: &str, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = c.kubectl_ok(&["describe", "pod", name]);
        if needles.iter().all(|n| out.contains(n)) {
            return out;
        }
        assert!(Instant::now() < deadline, "{needles:?} not in:\n{out}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn wasm_pods_probed_over_http_and_tcp() -> anyhow::Result<()> {
    let c = up();
    let api: Api<Pod> = Api::namespaced(c.client().await?, "default");
    c.apply(&hello_pod(
        "ready-http",
        "    readinessProbe:\n      httpGet: {path: /, port: http}\n      periodSeconds: 1\n    startupProbe:\n      tcpSocket: {port: 8080}\n      periodSeconds: 1\n",
    ));
    c.apply(&hello_pod(
        "ready-tcp",
        "    readinessProbe:\n      tcpSocket: {port: 8080}\n      periodSeconds: 1\n",
    ));
    // Nothing listens on 8081: the liveness probe fails and the agent
    // restarts the container.
    c.apply(&hello_pod(
        "dead-http",
        "    livenessProbe:\n      httpGet: {path: /healthz, port: 8081}\n      periodSeconds: 1\n      failureThreshold: 2\n",
    ));
    // A Wasm container has no exec: the probe fails with a message.
    c.apply(&hello_pod(
        "ready-exec",
        "    readinessProbe:\n      exec: {command: [\"true\"]}\n      periodSeconds: 1\n",
    ));
    for name in ["ready-http", "ready-tcp"] {
        let p = wait_pod(&api, name, Duration::from_secs(30), |p| {
            condition(p, "Ready") == "True"
        })
        .await;
        let cs = container(&p);
        assert!(cs.ready && cs.started == Some(true), "{cs:?}");
        assert_eq!(condition(&p, "ContainersReady"), "True");
    }
    let p = wait_pod(&api, "dead-http", Duration::from_secs(60), |p| {
        container(p).restart_count >= 1
    })
    .await;
    assert!(
        container(&p)
            .last_state
            .and_then(|s| s.terminated)
            .is_some(),
        "{:?}",
        p.status
    );
    describe_until(
        &c,
        "dead-http",
        &[
            "Liveness probe failed:",
            "Container main failed liveness probe, will be restarted",
            "Killing",
            "Unhealthy",
        ],
    )
    .await;
    let p = wait_pod(&api, "ready-exec", Duration::from_secs(30), running).await;
    assert_eq!(condition(&p, "Ready"), "False");
    describe_until(
        &c,
        "ready-exec",
        &["Readiness probe failed: exec probe:", "exec"],
    )
    .await;
    let p = api.get("ready-exec").await?;
    assert_eq!(condition(&p, "Ready"), "False");
    Ok(())
}

#[tokio::test]
async fn native_exec_probes_drive_readiness_and_liveness() -> anyhow::Result<()> {
    let c = up();
    let ns = c.netns().expect("skiff up runs in a netns").path();
    let registry = Registry::start(Some(&ns));
    let busybox = registry.push_busybox("1");
    let api: Api<Pod> = Api::namespaced(c.client().await?, "default");
    // Ready only while /tmp/ready exists, which the test makes and removes
    // with `kubectl exec` (no race with the machine's load).
    c.apply(&busybox_pod(
        "flip",
        &busybox,
        "exec sleep 3600",
        "    readinessProbe:\n      exec: {command: [cat, /tmp/ready]}\n      periodSeconds: 1\n",
    ));
    c.apply(&busybox_pod(
        "liveless",
        &busybox,
        "exec sleep 3600",
        "    livenessProbe:\n      exec: {command: [\"false\"]}\n      periodSeconds: 1\n      failureThreshold: 1\n",
    ));
    let p = wait_pod(&api, "flip", Duration::from_secs(60), running).await;
    assert_eq!(condition(&p, "Ready"), "False", "{:?}", p.status);
    assert!(!container(&p).ready);
    c.kubectl_ok(&["exec", "flip", "--", "touch", "/tmp/ready"]);
    let p = wait_pod(&api, "flip", Duration::from_secs(30), |p| {
        condition(p, "Ready") == "True"
    })
    .await;
    assert!(container(&p).ready);
    c.kubectl_ok(&["exec", "flip", "--", "rm", "/tmp/ready"]);
    wait_pod(&api, "flip", Duration::from_secs(30), |p| {
        condition(p, "Ready") == "False"
    })
    .await;
    let p = wait_pod(&api, "liveless", Duration::from_secs(60), |p| {
        container(p).restart_count >= 1
    })
    .await;
    assert!(
        container(&p)
            .last_state
            .and_then(|s| s.terminated)
            .is_some(),
        "{:?}",
        p.status
    );
    describe_until(
        &c,
        "liveless",
        &[
            "Liveness probe failed:",
            "Container main failed liveness probe, will be restarted",
        ],
    )
    .await;
    Ok(())
}

/// Lifecycle hooks (which run on the probe machinery) on a native pod:
/// `postStart` runs once the container has started, `preStop` runs before
/// the container gets SIGTERM when the pod is deleted, and a failing
/// `postStart` kills the container, which restarts per its policy.
#[tokio::test]
async fn native_lifecycle_hooks_run_around_the_container() -> anyhow::Result<()> {
    let c = up();
    let ns = c.netns().expect("skiff up runs in a netns").path();
    let registry = Registry::start(Some(&ns));
    let busybox = registry.push_busybox("1");
    let api: Api<Pod> = Api::namespaced(c.client().await?, "default");
    let out = c.dir.path().join("hooks");
    std::fs::create_dir_all(&out)?;
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: hooked
spec:
  terminationGracePeriodSeconds: 20
  volumes:
  - name: out
    hostPath: {{path: {out}}}
  containers:
  - name: main
    image: {busybox}
    command: ["sh", "-c", "trap 'echo term >> /out/order; exit 0' TERM; while true; do sleep 0.2; done"]
    volumeMounts:
    - {{name: out, mountPath: /out}}
    lifecycle:
      postStart:
        exec: {{command: [sh, -c, "echo poststart >> /out/order"]}}
      preStop:
        exec: {{command: [sh, -c, "echo prestop >> /out/order; sleep 1"]}}
"#,
        out = out.display()
    ));
    c.apply(&busybox_pod(
        "badhook",
        &busybox,
        "exec sleep 3600",
        "    lifecycle:\n      postStart:\n        exec: {command: [sh, -c, \"exit 7\"]}\n",
    ));
    wait_pod(&api, "hooked", Duration::from_secs(60), running).await;
    let order = || std::fs::read_to_string(out.join("order")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !order().starts_with("poststart\n") {
        assert!(
            Instant::now() < deadline,
            "postStart never ran: {:?}",
            order()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    c.kubectl_ok(&["delete", "pod", "hooked", "--wait=true", "--timeout=60s"]);
    assert!(
        order().ends_with("prestop\nterm\n"),
        "preStop ran, then the container got SIGTERM: {:?}",
        order()
    );

    let p = wait_pod(&api, "badhook", Duration::from_secs(60), |p| {
        container(p).restart_count >= 1
    })
    .await;
    let last = container(&p).last_state.and_then(|s| s.terminated);
    assert!(last.is_some(), "{:?}", p.status);
    describe_until(&c, "badhook", &["FailedPostStartHook"]).await;
    Ok(())
}
