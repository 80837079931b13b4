//! Sidecar containers (init containers with `restartPolicy: Always`,
//! KEP-753) end to end on `skiff up` with real kubectl: a sidecar starts
//! before the app containers (once its startup probe passed) and keeps
//! running beside them, counted in READY; it is restarted when it exits,
//! whatever the pod's `restartPolicy`; and a `restartPolicy: Never` pod (a
//! Job's) goes Succeeded once its app container is done, the agent then
//! stopping the sidecar. Native busybox and Wasm pods alike.

use std::time::Duration;

use serde_json::Value;
use skiff_runtime_native::testing::Registry;
use skiff_tests::Cluster;

const JOB: &str = "localhost/skiff-e2e/job:1";

fn up() -> Cluster {
    Cluster::up_with_wasm(&[("job", JOB)])
}

/// A Wasm pod: one sidecar `side` then one app container `main`, both the
/// `job` example with the given args.
fn wasm_pod(name: &str, restart: &str, side: &str, app: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  runtimeClassName: wasmtime
  restartPolicy: {restart}
  terminationGracePeriodSeconds: 3
  initContainers:
  - name: side
    image: {JOB}
    restartPolicy: Always
    args: [{side}]
  containers:
  - name: main
    image: {JOB}
    args: [{app}]
"#
    )
}

/// The READY and STATUS columns of `kubectl get pod NAME`.
fn columns(c: &Cluster, name: &str) -> (String, String) {
    let out = c.kubectl_ok(&["get", "pod", name, "--no-headers"]);
    let mut cols = out.split_whitespace().skip(1);
    let ready = cols.next().unwrap_or_default().to_owned();
    let status = cols.next().unwrap_or_default().to_owned();
    (ready, status)
}

fn condition<'a>(p: &'a Value, type_: &str) -> &'a Value {
    p["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

fn running(s: &Value) -> bool {
    s["state"]["running"].is_object()
}

#[test]
fn native_sidecar_feeds_the_app_through_an_empty_dir() {
    let c = up();
    let ns = c.netns().expect("skiff up runs in a netns").path();
    let registry = Registry::start(Some(&ns));
    let busybox = registry.push_busybox("1");
    // The app starts only once the sidecar's startup probe saw the file,
    // so it reads what the sidecar wrote.
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: fed
spec:
  terminationGracePeriodSeconds: 3
  volumes:
  - name: work
    emptyDir: {{}}
  initContainers:
  - name: writer
    image: {busybox}
    restartPolicy: Always
    command: ["sh", "-c", "echo made-by-sidecar >/work/msg; exec sleep 3600"]
    startupProbe:
      exec:
        command: ["cat", "/work/msg"]
      periodSeconds: 1
    readinessProbe:
      exec:
        command: ["true"]
      periodSeconds: 1
    volumeMounts:
    - {{name: work, mountPath: /work}}
  containers:
  - name: main
    image: {busybox}
    command: ["sh", "-c", "cat /work/msg; exec sleep 3600"]
    volumeMounts:
    - {{name: work, mountPath: /work}}
"#
    ));
    let p = c.wait_pod_json("fed", Duration::from_secs(120), |p| {
        condition(p, "Ready")["status"] == "True"
    });
    assert_eq!(p["status"]["phase"], "Running", "{p:#}");
    let side = &p["status"]["initContainerStatuses"][0];
    assert_eq!(side["name"], "writer");
    assert!(running(side), "{p:#}");
    assert_eq!(side["started"], true, "{p:#}");
    assert_eq!(side["ready"], true, "{p:#}");
    assert!(running(&p["status"]["containerStatuses"][0]), "{p:#}");
    assert_eq!(condition(&p, "Initialized")["status"], "True", "{p:#}");
    assert_eq!(condition(&p, "ContainersReady")["status"], "True");
    // The sidecar started before the app.
    let side_start = side["state"]["running"]["startedAt"]
        .as_str()
        .unwrap_or_default();
    let app_start = p["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
        .as_str()
        .unwrap_or_default();
    assert!(side_start <= app_start, "{p:#}");
    let log = c.kubectl_ok(&["logs", "fed", "-c", "main"]);
    assert!(log.contains("made-by-sidecar"), "{log}");
    assert_eq!(columns(&c, "fed"), ("2/2".into(), "Running".into()));
}

#[test]
fn native_job_pod_succeeds_while_its_sidecar_would_run_forever() {
    let c = up();
    let ns = c.netns().expect("skiff up runs in a netns").path();
    let registry = Registry::start(Some(&ns));
    let busybox = registry.push_busybox("1");
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: batch
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 3
  initContainers:
  - name: proxy
    image: {busybox}
    restartPolicy: Always
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
  containers:
  - name: main
    image: {busybox}
    command: ["sh", "-c", "echo work done"]
"#
    ));
    let p = c.wait_pod_json("batch", Duration::from_secs(120), |p| {
        matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
    });
    assert_eq!(p["status"]["phase"], "Succeeded", "{p:#}");
    let app = &p["status"]["containerStatuses"][0];
    assert_eq!(app["state"]["terminated"]["exitCode"], 0, "{p:#}");
    // The agent stopped the sidecar; it was never restarted for it.
    let side = &p["status"]["initContainerStatuses"][0];
    assert!(side["state"]["terminated"].is_object(), "{p:#}");
    assert_eq!(side["restartCount"], 0, "{p:#}");
    assert_eq!(side["ready"], false);
    assert_eq!(condition(&p, "Ready")["reason"], "PodCompleted", "{p:#}");
    assert_eq!(columns(&c, "batch"), ("0/2".into(), "Completed".into()));
    let events = c.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=batch",
    ]);
    assert!(events.contains("Stopping container proxy"), "{events}");
}

#[test]
fn wasm_sidecar_that_exits_is_restarted_beside_the_running_app() {
    let c = up();
    // restartPolicy Never: the sidecar restarts anyway, the app does not
    // need to.
    c.apply(&wasm_pod("flaky", "Never", r#""sleep", "2""#, r#""sleep""#));
    let p = c.wait_pod_json("flaky", Duration::from_secs(120), |p| {
        p["status"]["initContainerStatuses"][0]["restartCount"]
            .as_i64()
            .is_some_and(|n| n >= 1)
    });
    assert_eq!(p["status"]["phase"], "Running", "{p:#}");
    let side = &p["status"]["initContainerStatuses"][0];
    assert_eq!(side["lastState"]["terminated"]["exitCode"], 0, "{p:#}");
    let app = &p["status"]["containerStatuses"][0];
    assert!(running(app), "{p:#}");
    assert_eq!(app["restartCount"], 0, "{p:#}");
    // RESTARTS counts the sidecar's restarts.
    let row = c.kubectl_ok(&["get", "pod", "flaky", "--no-headers"]);
    let restarts: i64 = row
        .split_whitespace()
        .nth(3)
        .and_then(|r| r.parse().ok())
        .unwrap_or(-1);
    assert!(restarts >= 1, "{row}");
}

#[test]
fn wasm_job_pod_with_a_wasm_sidecar_runs_both_then_succeeds() {
    let c = up();
    c.apply(&wasm_pod("wjob", "Never", r#""sleep""#, r#""sleep", "6""#));
    let p = c.wait_pod_json("wjob", Duration::from_secs(90), |p| {
        running(&p["status"]["initContainerStatuses"][0])
            && running(&p["status"]["containerStatuses"][0])
    });
    assert_eq!(p["status"]["phase"], "Running", "{p:#}");
    assert_eq!(condition(&p, "Initialized")["status"], "True", "{p:#}");
    let p = c.wait_pod_json("wjob", Duration::from_secs(90), |p| {
        matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
    });
    assert_eq!(p["status"]["phase"], "Succeeded", "{p:#}");
    assert_eq!(
        p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"], 0,
        "{p:#}"
    );
    let side = &p["status"]["initContainerStatuses"][0];
    assert!(side["state"]["terminated"].is_object(), "{p:#}");
    assert_eq!(side["restartCount"], 0, "{p:#}");
    assert_eq!(columns(&c, "wjob").1, "Completed");
}

#[test]
fn native_sidecar_is_adopted_after_an_agent_restart_and_stops_after_the_app() {
    let mut c = up();
    let ns = c.netns().expect("skiff up runs in a netns").path();
    let registry = Registry::start(Some(&ns));
    let busybox = registry.push_busybox("1");
    let out = tempfile::tempdir().expect("temp dir");
    let out_dir = out.path().display();
    // Each container notes when it gets SIGTERM in a host directory the
    // test reads after the pod is gone.
    let note = |who: &str| {
        format!(
            r#"["sh", "-c", "trap 'echo {who} >>/out/order; exit 0' TERM; while true; do sleep 1; done"]"#
        )
    };
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: kept
spec:
  terminationGracePeriodSeconds: 10
  volumes:
  - name: out
    hostPath: {{path: "{out_dir}"}}
  initContainers:
  - name: side
    image: {busybox}
    restartPolicy: Always
    command: {}
    volumeMounts:
    - {{name: out, mountPath: /out}}
  containers:
  - name: main
    image: {busybox}
    command: {}
    volumeMounts:
    - {{name: out, mountPath: /out}}
"#,
        note("side"),
        note("main"),
    ));
    let ids = |p: &Value| {
        (
            p["status"]["initContainerStatuses"][0]["containerID"].clone(),
            p["status"]["containerStatuses"][0]["containerID"].clone(),
        )
    };
    let before = c.wait_pod_json("kept", Duration::from_secs(120), |p| {
        condition(p, "Ready")["status"] == "True"
    });
    c.restart_up().expect("agent restarted");
    // The same runs carry on: adopted, not run again.
    let after = c.wait_pod_json("kept", Duration::from_secs(60), |p| {
        condition(p, "Ready")["status"] == "True"
    });
    assert_eq!(ids(&after), ids(&before), "{after:#}");
    let side = &after["status"]["initContainerStatuses"][0];
    assert_eq!(side["restartCount"], 0, "{after:#}");
    assert!(running(side) && side["started"] == true, "{after:#}");
    assert_eq!(columns(&c, "kept"), ("2/2".into(), "Running".into()));

    c.kubectl_ok(&["delete", "pod", "kept", "--wait=true", "--timeout=60s"]);
    let order = std::fs::read_to_string(out.path().join("order")).unwrap_or_default();
    assert_eq!(
        order.lines().collect::<Vec<_>>(),
        ["main", "side"],
        "the app stops first, then the sidecar"
    );
}
