//! Init containers end to end on `skiff up` with real kubectl: they run one
//! at a time, in order, to completion before the app container; a failing
//! one fails the pod under `restartPolicy: Never` and is retried with
//! back-off otherwise, shown by `kubectl get pod` as kubectl shows it
//! (`Init:Error`, `Init:CrashLoopBackOff`); status carries
//! `initContainerStatuses` and the `Initialized` condition as the kubelet
//! writes them. A native busybox pod shares an emptyDir between an init
//! container and the app.

use std::time::{Duration, Instant};

use serde_json::Value;
use skiff_runtime_native::testing::Registry;
use skiff_tests::Cluster;

const JOB: &str = "localhost/skiff-e2e/job:1";

fn up() -> Cluster {
    Cluster::up_with_wasm(&[("job", JOB)])
}

/// A Wasm pod: init containers `inits` (name, args) then one app container
/// `main` with `app` args.
fn pod_yaml(name: &str, restart: &str, inits: &[(&str, &[&str])], app: &[&str]) -> String {
    let args = |a: &[&str]| {
        a.iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let inits: String = inits
        .iter()
        .map(|(n, a)| format!("  - name: {n}\n    image: {JOB}\n    args: [{}]\n", args(a)))
        .collect();
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  runtimeClassName: wasmtime
  restartPolicy: {restart}
  initContainers:
{inits}  containers:
  - name: main
    image: {JOB}
    args: [{}]
"#,
        args(app)
    )
}

/// The STATUS column of `kubectl get pod NAME`.
fn status_column(c: &Cluster, name: &str) -> String {
    let out = c.kubectl_ok(&["get", "pod", name, "--no-headers"]);
    out.split_whitespace().nth(2).unwrap_or_default().to_owned()
}

/// Polls `kubectl get pod` until its STATUS column reads `want`.
fn wait_status_column(c: &Cluster, name: &str, want: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let got = status_column(c, name);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "pod {name}: STATUS {got}, want {want}\n{}",
            c.kubectl_ok(&["describe", "pod", name]),
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn condition<'a>(p: &'a Value, type_: &str) -> &'a Value {
    p["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

#[test]
fn init_containers_run_in_order_before_the_app() {
    let c = up();
    c.apply(&pod_yaml(
        "ordered",
        "Always",
        &[("first", &["echo", "one"]), ("second", &["echo", "two"])],
        &["sleep"],
    ));
    let p = c.wait_pod_json("ordered", Duration::from_secs(90), |p| {
        p["status"]["phase"] == "Running"
            && p["status"]["containerStatuses"][0]["state"]["running"].is_object()
    });
    let inits = p["status"]["initContainerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(inits.len(), 2, "{p:#}");
    for (s, name) in inits.iter().zip(["first", "second"]) {
        assert_eq!(s["name"], name);
        assert_eq!(s["state"]["terminated"]["reason"], "Completed", "{s:#}");
        assert_eq!(s["state"]["terminated"]["exitCode"], 0);
        assert_eq!(s["ready"], true, "{s:#}");
        assert_eq!(s["started"], false, "{s:#}");
        assert_eq!(s["restartCount"], 0);
        assert!(
            s["containerID"]
                .as_str()
                .is_some_and(|id| id.starts_with("wasmtime://")),
            "{s:#}"
        );
        assert!(s["imageID"].as_str().is_some_and(|id| !id.is_empty()));
    }
    // One at a time, in order: the second started once the first finished
    // (RFC 3339 stamps of one format compare as strings).
    let first_done = inits[0]["state"]["terminated"]["finishedAt"]
        .as_str()
        .unwrap_or_default();
    let second_start = inits[1]["state"]["terminated"]["startedAt"]
        .as_str()
        .unwrap_or_default();
    assert!(first_done <= second_start, "{inits:#?}");
    assert_eq!(condition(&p, "Initialized")["status"], "True", "{p:#}");
    assert_eq!(status_column(&c, "ordered"), "Running");
    // Each init container's output is its own log.
    let logs = c.kubectl_ok(&["logs", "ordered", "-c", "second"]);
    assert_eq!(logs.lines().next(), Some("two"), "{logs}");
}

#[test]
fn failing_init_container_fails_a_never_pod() {
    let c = up();
    c.apply(&pod_yaml(
        "never",
        "Never",
        &[("setup", &["exit", "3"]), ("later", &["echo", "x"])],
        &["sleep"],
    ));
    let p = c.wait_pod_json("never", Duration::from_secs(90), |p| {
        p["status"]["phase"] == "Failed"
    });
    let st = &p["status"]["initContainerStatuses"];
    assert_eq!(st[0]["state"]["terminated"]["exitCode"], 3, "{p:#}");
    assert_eq!(st[0]["state"]["terminated"]["reason"], "Error");
    assert_eq!(st[0]["restartCount"], 0);
    // Neither the next init container nor the app ever started.
    assert_eq!(st[1]["state"]["waiting"]["reason"], "PodInitializing");
    assert_eq!(
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "PodInitializing",
        "{p:#}"
    );
    let init = condition(&p, "Initialized");
    assert_eq!(init["status"], "False", "{p:#}");
    assert_eq!(init["reason"], "ContainersNotInitialized");
    assert_eq!(status_column(&c, "never"), "Init:Error");
}

#[test]
fn failing_init_container_is_retried_with_back_off_under_always() {
    let c = up();
    c.apply(&pod_yaml(
        "crashy",
        "Always",
        &[("ok", &["echo", "fine"]), ("broken", &["exit", "1"])],
        &["sleep"],
    ));
    wait_status_column(
        &c,
        "crashy",
        "Init:CrashLoopBackOff",
        Duration::from_secs(90),
    );
    let p = c.wait_pod_json("crashy", Duration::from_secs(30), |p| {
        p["status"]["initContainerStatuses"][1]["restartCount"]
            .as_i64()
            .is_some_and(|n| n >= 1)
    });
    assert_eq!(p["status"]["phase"], "Pending", "{p:#}");
    let st = &p["status"]["initContainerStatuses"];
    // The one that succeeded is not run again.
    assert_eq!(st[0]["restartCount"], 0, "{p:#}");
    assert_eq!(st[0]["state"]["terminated"]["reason"], "Completed");
    assert_eq!(st[1]["lastState"]["terminated"]["exitCode"], 1, "{p:#}");
    assert_eq!(st[1]["ready"], false);
    assert_eq!(
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "PodInitializing"
    );
    let init = condition(&p, "Initialized");
    assert_eq!(init["status"], "False");
    assert_eq!(
        init["message"],
        "containers with incomplete status: [broken]"
    );
    // Its restarts show in RESTARTS while the pod initializes.
    let row = c.kubectl_ok(&["get", "pod", "crashy", "--no-headers"]);
    let restarts: i64 = row
        .split_whitespace()
        .nth(3)
        .and_then(|r| r.parse().ok())
        .unwrap_or(-1);
    assert!(restarts >= 1, "{row}");
    let events = c.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=crashy",
    ]);
    assert!(events.contains("BackOff"), "{events}");
}

#[test]
fn native_init_container_fills_an_empty_dir_for_the_app() {
    let c = up();
    let ns = c.netns().expect("skiff up runs in a netns").path();
    let registry = Registry::start(Some(&ns));
    let busybox = registry.push_busybox("1");
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: shared
spec:
  restartPolicy: Never
  volumes:
  - name: work
    emptyDir: {{}}
  initContainers:
  - name: fill
    image: {busybox}
    command: ["sh", "-c", "echo made-by-init >/work/msg"]
    volumeMounts:
    - {{name: work, mountPath: /work}}
  containers:
  - name: main
    image: {busybox}
    command: ["sh", "-c", "cat /work/msg"]
    volumeMounts:
    - {{name: work, mountPath: /work}}
"#
    ));
    let p = c.wait_pod_json("shared", Duration::from_secs(120), |p| {
        matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
    });
    assert_eq!(p["status"]["phase"], "Succeeded", "{p:#}");
    assert_eq!(
        p["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"],
        "Completed"
    );
    let log = c.kubectl_ok(&["logs", "shared", "-c", "main"]);
    assert!(log.contains("made-by-init"), "{log}");
    assert_eq!(status_column(&c, "shared"), "Completed");
}
