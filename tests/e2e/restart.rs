//! The node agent restarts and the pods keep running: `skiff up` is killed
//! with SIGKILL and started again on the same data directory. A native
//! pod's container (run by its own shim) is re-adopted, not recreated;
//! a Wasm pod's container died with the agent's process and is started
//! again, as the kubelet restarts a container its runtime lost.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::Api;
use skiff_runtime_native::testing::Registry;
use skiff_tests::{Cluster, eventually};

const HELLO: &str = "localhost/skiff-e2e/hello-http:1";

fn status(p: &Pod) -> Option<ContainerStatus> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()
        .cloned()
}

fn running(p: &Pod) -> bool {
    status(p)
        .and_then(|s| s.state)
        .is_some_and(|s| s.running.is_some())
}

fn pod_ip(p: &Pod) -> Option<String> {
    p.status.as_ref()?.pod_ip.clone()
}

/// The `tick N` numbers in `kubectl logs`, in order.
fn ticks(log: &str) -> Vec<u64> {
    log.lines()
        .filter_map(|l| l.strip_prefix("tick "))
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

async fn running_pod(pods: &Api<Pod>, name: &str) -> Pod {
    eventually(
        Duration::from_secs(60),
        &format!("pod {name} running"),
        || async {
            let p = pods.get(name).await.ok()?;
            running(&p).then_some(p)
        },
    )
    .await
}

#[tokio::test]
async fn agent_restart_readopts_native_and_restarts_wasm_containers() -> anyhow::Result<()> {
    let mut c = Cluster::up_with_wasm(&[("hello-http", HELLO)]);
    let ns = c.netns().expect("skiff up runs in a netns").path();
    let registry = Registry::start(Some(&ns));
    let image = registry.push_busybox("1");
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: counter
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {image}
    command: ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.5; done"]
---
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  runtimeClassName: wasmtime
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {HELLO}
    ports:
    - containerPort: 8080
"#
    ));
    let pods: Api<Pod> = Api::namespaced(c.client().await?, "default");
    let counter = running_pod(&pods, "counter").await;
    let web = running_pod(&pods, "web").await;
    eventually(Duration::from_secs(30), "a few ticks", || async {
        (ticks(&c.kubectl_ok(&["logs", "counter"])).len() >= 4).then_some(())
    })
    .await;
    let native_before = status(&counter).expect("counter status");
    let wasm_before = status(&web).expect("web status");
    let ticks_before = ticks(&c.kubectl_ok(&["logs", "counter"]));

    c.restart_up()?;
    let pods: Api<Pod> = Api::namespaced(c.client().await?, "default");

    // The Wasm container was lost with the agent: a new run, counted as a
    // restart, the lost one in lastState; same pod IP.
    let web_after = eventually(Duration::from_secs(60), "web running again", || async {
        let p = pods.get("web").await.ok()?;
        let s = status(&p)?;
        (running(&p) && s.container_id != wasm_before.container_id).then_some(p)
    })
    .await;
    let s = status(&web_after).expect("web status");
    assert_eq!(s.restart_count, wasm_before.restart_count + 1);
    let lost = s
        .last_state
        .and_then(|l| l.terminated)
        .expect("lastState.terminated of the lost run");
    assert_eq!(lost.reason.as_deref(), Some("ContainerStatusUnknown"));
    assert_eq!(lost.exit_code, 137);
    assert_eq!(lost.container_id, wasm_before.container_id);
    assert_eq!(pod_ip(&web_after), pod_ip(&web));
    let ip: std::net::IpAddr = pod_ip(&web_after).unwrap_or_default().parse()?;
    let reply = eventually(Duration::from_secs(30), "web answers", || async {
        c.http_get((ip, 8080).into()).ok()
    })
    .await;
    assert!(reply.starts_with("HTTP/1."), "{reply}");

    // The native container was re-adopted: same container, same count,
    // same IP, and its process kept counting in the same log.
    let counter_after = pods.get("counter").await?;
    let s = status(&counter_after).expect("counter status");
    assert!(running(&counter_after), "{s:?}");
    assert_eq!(s.container_id, native_before.container_id);
    assert_eq!(s.restart_count, native_before.restart_count);
    assert_eq!(pod_ip(&counter_after), pod_ip(&counter));
    let last_before = ticks_before.last().copied().unwrap_or_default();
    let after = eventually(
        Duration::from_secs(30),
        "ticks after the restart",
        || async {
            let t = ticks(&c.kubectl_ok(&["logs", "counter"]));
            (t.last().copied().unwrap_or_default() > last_before + 2).then_some(t)
        },
    )
    .await;
    assert!(
        after.starts_with(&ticks_before),
        "earlier lines kept: {ticks_before:?} then {after:?}"
    );
    assert!(
        after.windows(2).all(|w| w[1] == w[0] + 1),
        "one process counting on, never from 0 again: {after:?}"
    );

    // Deleting after the restart cleans the re-adopted pod up.
    let id = native_before
        .container_id
        .as_deref()
        .and_then(|s| s.strip_prefix("runc://"))
        .expect("a runc container id")
        .to_owned();
    let container_dir = c.dir.path().join("agent/native/containers").join(&id);
    assert!(container_dir.exists(), "{}", container_dir.display());
    c.kubectl_ok(&["delete", "pod", "counter", "web", "--timeout=60s"]);
    assert!(
        pods.get_opt("counter").await?.is_none() && pods.get_opt("web").await?.is_none(),
        "both pods gone"
    );
    assert!(
        !container_dir.exists(),
        "the adopted container was removed: {}",
        container_dir.display()
    );
    let sandboxes = std::fs::read_dir(c.dir.path().join("agent/native/sandboxes"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(sandboxes, 0, "no native sandbox left");
    drop(registry);
    Ok(())
}

/// Kills (SIGKILL) and reaps a child process when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A pod deleted while its node's agent was down: the agent, started
/// again, stops its container and removes its sandbox.
#[tokio::test]
async fn restarted_agent_removes_the_sandbox_of_a_pod_deleted_meanwhile() -> anyhow::Result<()> {
    // `skiff server` and a separate `skiff agent`, so the API stays up
    // while the agent is down.
    let mut c = Cluster::start_in_netns()?;
    c.kill();
    let tokens = c.dir.path().join("tokens.csv");
    let mut csv = std::fs::read_to_string(&tokens)?;
    csv.push_str("restart-node-token,system:node:rejoin,rejoin,\"system:nodes\"\n");
    std::fs::write(&tokens, csv)?;
    c.spawn()?;
    let kubeconfig = std::fs::read_to_string(&c.kubeconfig)?;
    let server = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .expect("server in kubeconfig")
        .trim()
        .to_owned();
    let ca = c.dir.path().join("tls/ca.crt");
    // Under the cluster's directory, so the harness's clean-up finds what
    // a failed run leaves.
    let node_dir = c.dir.path().join("node");
    let agent = || -> anyhow::Result<KillOnDrop> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(c.dir.path().join("agent.log"))?;
        Ok(KillOnDrop(
            c.netns_command(skiff_tests::skiff_bin())
                .env("SKIFF_NATIVE_SHIM", skiff_tests::native_shim())
                .args(["agent", "--node-name", "rejoin", "--kubelet-port", "0"])
                .arg("--data-dir")
                .arg(&node_dir)
                .args(["--server", &server, "--token", "restart-node-token"])
                .arg("--ca-file")
                .arg(&ca)
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .spawn()?,
        ))
    };
    let ns = c.netns().expect("the server runs in a netns").path();
    let registry = Registry::start(Some(&ns));
    let image = registry.push_busybox("1");
    let first = agent()?;
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: gone
spec:
  nodeName: rejoin
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {image}
    command: ["sleep", "3600"]
"#
    ));
    let pods: Api<Pod> = Api::namespaced(c.client().await?, "default");
    let p = running_pod(&pods, "gone").await;
    let id = status(&p)
        .and_then(|s| s.container_id)
        .and_then(|s| s.strip_prefix("runc://").map(str::to_owned))
        .expect("a runc container id");
    let native = node_dir.join("agent/native");
    let container_dir = native.join("containers").join(&id);
    assert!(container_dir.exists(), "{}", container_dir.display());

    drop(first);
    c.kubectl_ok(&["delete", "pod", "gone", "--grace-period=0", "--force"]);
    assert!(pods.get_opt("gone").await?.is_none(), "force-deleted");
    assert!(
        container_dir.exists(),
        "the container outlives its agent: {}",
        container_dir.display()
    );

    let _second = agent()?;
    eventually(
        Duration::from_secs(30),
        "the orphaned sandbox removed",
        || async {
            let sandboxes = std::fs::read_dir(native.join("sandboxes"))
                .map(|d| d.count())
                .unwrap_or(0);
            (!container_dir.exists() && sandboxes == 0).then_some(())
        },
    )
    .await;
    drop(registry);
    Ok(())
}
