//! `kubectl top` against `skiff up`: the API server serves
//! `metrics.k8s.io/v1beta1` from the node agent's `/stats/summary`, and
//! real kubectl discovers and prints it.

use std::time::Duration;

use skiff_runtime_native::testing::Registry;
use skiff_tests::{Cluster, eventually};

const HELLO: &str = "localhost/skiff-e2e/hello-http:1";

/// Metrics need the pod running and two CPU samples; bounded generously
/// for a loaded CI machine.
const WITHIN: Duration = Duration::from_secs(60);

fn wasm_pod(name: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: top}}
spec:
  runtimeClassName: wasmtime
  containers:
  - name: main
    image: {HELLO}
    ports:
    - containerPort: 8080
"#
    )
}

/// The data rows of kubectl's table output whose first column is `name`.
fn row<'a>(out: &'a str, name: &str) -> Option<Vec<&'a str>> {
    out.lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cols| cols.first() == Some(&name))
}

/// `kubectl top <args>` once it prints a row for `name`.
async fn top_row(c: &Cluster, args: &[&str], name: &str) -> Vec<String> {
    eventually(
        WITHIN,
        &format!("kubectl top {args:?} to list {name}"),
        || {
            let out = c.kubectl(args);
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let found = out
                .status
                .success()
                .then(|| row(&stdout, name))
                .flatten()
                .map(|cols| cols.iter().map(|s| (*s).to_owned()).collect());
            async move { found }
        },
    )
    .await
}

/// A number with one of the units kubectl top prints.
fn is_quantity(s: &str, units: &[&str]) -> bool {
    units.iter().any(|u| {
        s.strip_suffix(u)
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    })
}

#[tokio::test]
async fn kubectl_top_nodes_and_wasm_pods() -> anyhow::Result<()> {
    let c = Cluster::up_with_wasm(&[("hello-http", HELLO)]);

    // Discovery advertises the group, and the raw API answers.
    let groups = c.kubectl_ok(&["api-versions"]);
    assert!(
        groups.lines().any(|l| l == "metrics.k8s.io/v1beta1"),
        "{groups}"
    );
    let raw = c.kubectl_ok(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes"]);
    let list: serde_json::Value = serde_json::from_str(&raw)?;
    assert_eq!(list["kind"], "NodeMetricsList", "{raw}");
    let item = &list["items"][0];
    assert_eq!(item["metadata"]["name"], "e2e-node", "{raw}");
    assert!(item["usage"]["cpu"].is_string(), "{raw}");
    assert!(item["usage"]["memory"].is_string(), "{raw}");
    // A node that does not exist is a NotFound Status.
    let missing = c.kubectl(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes/nope"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("NotFound"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );

    let node = top_row(&c, &["top", "nodes"], "e2e-node").await;
    // NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)
    assert!(is_quantity(&node[1], &["m"]), "{node:?}");
    assert!(is_quantity(&node[3], &["Mi", "Gi", "Ki"]), "{node:?}");

    c.apply(&wasm_pod("web"));
    let pod = top_row(&c, &["top", "pods"], "web").await;
    // NAME CPU(cores) MEMORY(bytes)
    assert!(is_quantity(&pod[1], &["m"]), "{pod:?}");
    assert!(is_quantity(&pod[2], &["Mi", "Ki", "Gi"]), "{pod:?}");
    // All namespaces, a label selector, and per-container rows.
    let all = top_row(&c, &["top", "pods", "-A", "-l", "app=top"], "default").await;
    assert_eq!(all[1], "web", "{all:?}");
    let containers = top_row(&c, &["top", "pods", "web", "--containers"], "web").await;
    assert_eq!(containers[1], "main", "{containers:?}");
    let one = top_row(&c, &["top", "pod", "web"], "web").await;
    assert!(is_quantity(&one[1], &["m"]), "{one:?}");
    // The resources are also reachable by kubectl get (names, no columns).
    let names = c.kubectl_ok(&["get", "nodes.metrics.k8s.io"]);
    assert!(names.contains("e2e-node"), "{names}");
    let none = c.kubectl(&["top", "pods", "-l", "app=nothing"]);
    assert!(
        !String::from_utf8_lossy(&none.stdout).contains("web"),
        "{}",
        String::from_utf8_lossy(&none.stdout)
    );
    Ok(())
}

#[tokio::test]
async fn kubectl_top_native_pod() -> anyhow::Result<()> {
    let c = Cluster::up_with_wasm(&[("hello-http", HELLO)]);
    let ns = c.netns().expect("skiff up runs in a netns").path();
    let registry = Registry::start(Some(&ns));
    let image = registry.push_busybox("1");
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: busy
spec:
  containers:
  - name: main
    image: {image}
    command: ["sh", "-c", "while true; do sleep 1; done"]
"#
    ));
    let pod = top_row(&c, &["top", "pods"], "busy").await;
    assert!(is_quantity(&pod[1], &["m"]), "{pod:?}");
    assert!(is_quantity(&pod[2], &["Mi", "Ki", "Gi"]), "{pod:?}");
    drop(registry);
    Ok(())
}
