//! Pods end to end against a real `skiff up` (API server, scheduler and
//! node agent in one process): Wasm and native pods scheduled, run,
//! restarted or not, reported and deleted as Kubernetes does, seen through
//! real kubectl, kube-rs and the official Python client. Each cluster runs
//! in a network namespace the harness creates, with its pod network
//! (bridge `skiff0`, 10.42.0.0/24) inside it; pods are reached from there.

use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use skiff_runtime_native::testing::Registry;
use skiff_tests::Cluster;

const JOB: &str = "localhost/skiff-e2e/job:1";
const HELLO: &str = "localhost/skiff-e2e/hello-http:1";

fn up() -> Cluster {
    Cluster::up_with_wasm(&[("job", JOB), ("hello-http", HELLO)])
}

fn pod_yaml(name: &str, image: &str, restart: &str, args: &[&str], extra: &str) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  runtimeClassName: wasmtime
  restartPolicy: {restart}
  containers:
  - name: main
    image: {image}
    args: [{}]
{extra}"#,
        args.join(", ")
    )
}

/// Polls the pod until `done` holds, recording each distinct phase seen.
async fn wait_pod(
    api: &Api<Pod>,
    name: &str,
    timeout: Duration,
    done: impl Fn(&Pod) -> bool,
) -> (Pod, Vec<String>) {
    let deadline = Instant::now() + timeout;
    let mut phases: Vec<String> = Vec::new();
    loop {
        if let Ok(Some(p)) = api.get_opt(name).await {
            let phase = p
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default();
            if phases.last() != Some(&phase) {
                phases.push(phase);
            }
            if done(&p) {
                return (p, phases);
            }
            assert!(
                Instant::now() < deadline,
                "pod {name} not done in {timeout:?}; phases {phases:?}; last {:?}",
                p.status
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The distinct phases of pod `name` in every version written after
/// resourceVersion `since`, until it reaches `last` (bounded: 30 s).
async fn watch_phases(
    api: &Api<Pod>,
    name: &str,
    since: &str,
    last: &str,
) -> anyhow::Result<Vec<String>> {
    use futures::{StreamExt, TryStreamExt};
    use kube::api::{WatchEvent, WatchParams};
    let params = WatchParams::default()
        .fields(&format!("metadata.name={name}"))
        .timeout(30);
    let mut events = api.watch(&params, since).await?.boxed();
    let mut phases: Vec<String> = Vec::new();
    while let Some(ev) = events.try_next().await? {
        let (WatchEvent::Added(p) | WatchEvent::Modified(p)) = ev else {
            continue;
        };
        let now = phase(&p).to_owned();
        if !now.is_empty() && phases.last() != Some(&now) {
            phases.push(now);
        }
        if phases.last().map(String::as_str) == Some(last) {
            return Ok(phases);
        }
    }
    anyhow::bail!("pod {name} not {last} within 30 s; phases {phases:?}")
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn terminated(p: &Pod) -> k8s_openapi::api::core::v1::ContainerStateTerminated {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.terminated.clone())
        .unwrap_or_else(|| panic!("no terminated state in {:?}", p.status))
}

fn condition(p: &Pod, t: &str) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == t))
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn skiff_up_registers_a_ready_node_quickly() -> anyhow::Result<()> {
    let t = Instant::now();
    let c = up();
    let took = t.elapsed();
    assert!(c.stdout().contains("kubeconfig: "), "{}", c.stdout());
    let nodes = c.kubectl_ok(&["get", "nodes", "-o", "wide"]);
    assert!(
        nodes.contains("e2e-node") && nodes.contains(" Ready "),
        "{nodes}"
    );
    let labels = c.kubectl_ok(&["get", "node", "e2e-node", "--show-labels"]);
    for l in [
        "kubernetes.io/os=linux",
        "kubernetes.io/arch=",
        "kubernetes.io/hostname=e2e-node",
    ] {
        assert!(labels.contains(l), "{l} missing: {labels}");
    }
    let handlers = c.kubectl_ok(&[
        "get",
        "node",
        "e2e-node",
        "-o",
        "jsonpath={.status.runtimeHandlers[*].name}",
    ]);
    assert_eq!(handlers.trim(), "runc wasmtime");
    let cidr = c.kubectl_ok(&[
        "get",
        "node",
        "e2e-node",
        "-o",
        "jsonpath={.spec.podCIDR} {.spec.podCIDRs[*]}",
    ]);
    assert_eq!(cidr.trim(), "10.42.0.0/24 10.42.0.0/24");
    let lease = c.kubectl_ok(&[
        "get",
        "lease",
        "-n",
        "kube-node-lease",
        "e2e-node",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert_eq!(lease.trim(), "e2e-node");
    // Readiness includes process start-up and the first node registration;
    // generous for a loaded CI machine, the target is well under 2 s.
    assert!(took < Duration::from_secs(5), "skiff up took {took:?}");
    Ok(())
}

#[tokio::test]
async fn wasm_job_pod_goes_pending_running_succeeded() -> anyhow::Result<()> {
    let c = up();
    let api: Api<Pod> = Api::namespaced(c.client().await?, "default");
    // Every version of the pod from its creation on, through a watch from
    // just before it: a Wasm pod can be Running before a poll would see
    // its Pending.
    let since = api
        .list_metadata(&kube::api::ListParams::default())
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    c.apply(&pod_yaml("job", JOB, "Never", &["sleep", "1"], ""));
    let phases = watch_phases(&api, "job", &since, "Succeeded").await?;
    assert_eq!(phases, ["Pending", "Running", "Succeeded"], "{phases:?}");
    let (p, _) = wait_pod(&api, "job", Duration::from_secs(20), |p| {
        phase(p) == "Succeeded"
    })
    .await;
    let t = terminated(&p);
    assert_eq!(t.exit_code, 0);
    assert_eq!(t.reason.as_deref(), Some("Completed"));
    assert!(
        t.container_id
            .as_deref()
            .unwrap_or("")
            .starts_with("wasmtime://")
    );
    let st = p.status.clone().unwrap_or_default();
    let cs = &st.container_statuses.clone().unwrap_or_default()[0];
    assert!(cs.image_id.starts_with("sha256:"), "{cs:?}");
    assert_eq!(cs.restart_count, 0);
    assert!(!cs.ready);
    assert_eq!(st.host_ip.as_deref(), Some("127.0.0.1"));
    assert!(
        st.pod_ip.as_deref().unwrap_or("").starts_with("10.42.0."),
        "{st:?}"
    );
    assert!(st.start_time.is_some());
    assert_eq!(st.qos_class.as_deref(), Some("BestEffort"));
    assert_eq!(condition(&p, "PodScheduled"), "True");
    assert_eq!(condition(&p, "Initialized"), "True");
    assert_eq!(condition(&p, "Ready"), "False");
    let wide = c.kubectl_ok(&["get", "pod", "job", "-o", "wide"]);
    assert!(
        wide.contains("Completed") && wide.contains("e2e-node"),
        "{wide}"
    );
    let describe = c.kubectl_ok(&["describe", "pod", "job"]);
    for reason in ["Scheduled", "Pulled", "Created", "Started"] {
        assert!(describe.contains(reason), "{reason} missing:\n{describe}");
    }
    Ok(())
}

#[tokio::test]
async fn pod_without_runtime_class_runs_as_wasm_when_its_image_is_in_the_wasm_store()
-> anyhow::Result<()> {
    let c = up();
    let yaml = pod_yaml("plain", JOB, "Never", &["exit", "0"], "")
        .replace("  runtimeClassName: wasmtime\n", "");
    assert!(!yaml.contains("runtimeClassName"));
    c.apply(&yaml);
    let api: Api<Pod> = Api::namespaced(c.client().await?, "default");
    let (p, _) = wait_pod(&api, "plain", Duration::from_secs(20), |p| {
        phase(p) == "Succeeded"
    })
    .await;
    let id = terminated(&p).container_id.unwrap_or_default();
    assert!(id.starts_with("wasmtime://"), "{id}");
    Ok(())
}

#[tokio::test]
async fn failing_job_pod_with_restart_never_fails_with_its_exit_code() -> anyhow::Result<()> {
    let c = up();
    c.apply(&pod_yaml("fail", JOB, "Never", &["exit", "3"], ""));
    let api: Api<Pod> = Api::namespaced(c.client().await?, "default");
    let (p, _) = wait_pod(&api, "fail", Duration::from_secs(20), |p| {
        phase(p) == "Failed"
    })
    .await;
    let t = terminated(&p);
    assert_eq!(t.exit_code, 3);
    assert_eq!(t.reason.as_deref(), Some("Error"));
    let get = c.kubectl_ok(&["get", "pod", "fail"]);
    assert!(get.contains("Error"), "{get}");
    // It stays failed: nothing restarts it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let p = api.get("fail").await?;
    assert_eq!(phase(&p), "Failed");
    Ok(())
}

#[tokio::test]
async fn unsatisfiable_memory_request_stays_pending_with_failed_scheduling() -> anyhow::Result<()> {
    let c = up();
    let extra = "    resources:\n      requests: {memory: 100Ti}\n";
    c.apply(&pod_yaml("big", JOB, "Never", &[], extra));
    let want = "0/1 nodes are available: 1 Insufficient memory.";
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = c.kubectl_ok(&["describe", "pod", "big"]);
        if d.contains("FailedScheduling") && d.contains(want) {
            break;
        }
        assert!(Instant::now() < deadline, "no FailedScheduling event:\n{d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let api: Api<Pod> = Api::namespaced(c.client().await?, "default");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let p = api.get("big").await?;
    assert_eq!(phase(&p), "Pending");
    assert!(p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_none());
    let cond = p
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"))
        .cloned()
        .expect("PodScheduled condition");
    assert_eq!(cond.status, "False");
    assert_eq!(cond.reason.as_deref(), Some("Unschedulable"));
    assert_eq!(cond.message.as_deref(), Some(want));
    Ok(())
}

#[tokio::test]
async fn a_taken_host_port_keeps_the_second_pod_pending() -> anyhow::Result<()> {
    let c = up();
    let ports = "    ports:\n    - {containerPort: 8080, hostPort: 18080}\n";
    c.apply(&pod_yaml("first", HELLO, "Always", &[], ports));
    let api: Api<Pod> = Api::namespaced(c.client().await?, "default");
    wait_pod(&api, "first", Duration::from_secs(20), |p| {
        phase(p) == "Running"
    })
    .await;
    c.apply(&pod_yaml("second", HELLO, "Always", &[], ports));
    let want =
        "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.";
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = c.kubectl_ok(&["describe", "pod", "second"]);
        if d.contains("FailedScheduling") && d.contains(want) {
            break;
        }
        assert!(Instant::now() < deadline, "no FailedScheduling event:\n{d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The port frees with its pod, and the second one is placed.
    c.kubectl_ok(&["delete", "pod", "first", "--grace-period=0"]);
    wait_pod(&api, "second", Duration::from_secs(30), |p| {
        phase(p) == "Running"
    })
    .await;
    Ok(())
}

#[tokio::test]
async fn kubectl_delete_of_a_running_service_pod_completes() -> anyhow::Result<()> {
    let c = up();
    let extra = "    ports:\n    - containerPort: 8080\n    env:\n    - name: POD_NAME\n      valueFrom: {fieldRef: {fieldPath: metadata.name}}\n";
    c.apply(&pod_yaml("web", HELLO, "Always", &[], extra));
    let api: Api<Pod> = Api::namespaced(c.client().await?, "default");
    let (p, _) = wait_pod(&api, "web", Duration::from_secs(20), |p| {
        condition(p, "Ready") == "True"
    })
    .await;
    assert_eq!(phase(&p), "Running");
    let ip = p
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .expect("podIP");
    assert!(ip.starts_with("10.42.0."), "{ip}");
    // The service answers on its pod address, inside the test's netns.
    let addr: std::net::SocketAddr = format!("{ip}:8080").parse()?;
    let body = c.http_get(addr)?;
    assert!(body.contains("200") && body.contains("web"), "{body}");
    let t = Instant::now();
    let out = c.kubectl(&["delete", "pod", "web", "--timeout=30s"]);
    assert!(
        out.status.success(),
        "kubectl delete: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "delete took {:?}",
        t.elapsed()
    );
    assert!(api.get_opt("web").await?.is_none());
    let events = c.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=web",
    ]);
    assert!(events.contains("Killing"), "{events}");
    assert!(c.http_get(addr).is_err(), "still serving after delete");
    Ok(())
}

const PYTHON_WATCH: &str = r#"
import sys
from kubernetes import client, config, watch
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
pod = client.V1Pod(
    metadata=client.V1ObjectMeta(name="pywatch"),
    spec=client.V1PodSpec(
        runtime_class_name="wasmtime",
        restart_policy="Never",
        containers=[client.V1Container(name="main", image=sys.argv[2], args=["sleep", "1"])]))
rv = v1.list_namespaced_pod("default").metadata.resource_version
v1.create_namespaced_pod("default", pod)
phases = []
w = watch.Watch()
for ev in w.stream(v1.list_namespaced_pod, "default", field_selector="metadata.name=pywatch",
                   resource_version=rv, timeout_seconds=30):
    p = ev["object"].status.phase
    if not phases or phases[-1] != p:
        phases.append(p)
    if p == "Succeeded":
        code = ev["object"].status.container_statuses[0].state.terminated.exit_code
        w.stop()
assert phases == ["Pending", "Running", "Succeeded"], phases
assert code == 0, code
print("phases", phases)
"#;

#[test]
fn python_client_watches_a_pod_go_pending_running_succeeded() {
    let c = up();
    let out = Command::new("python3")
        .arg("-c")
        .arg(PYTHON_WATCH)
        .arg(&c.kubeconfig)
        .arg(JOB)
        .output()
        .expect("running python3");
    assert!(
        out.status.success(),
        "python watch failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Kills a child process when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `skiff server`, `skiff scheduler`, `skiff controller-manager` and
/// `skiff agent`, each its own process with its own token over HTTPS, run
/// a Job of Wasm pods to completion, as `skiff up` does in one process.
#[test]
fn every_component_runs_as_its_own_process_over_https() -> anyhow::Result<()> {
    // The agent builds a pod network: everything runs in the test's netns.
    let mut c = Cluster::start_in_netns()?;
    // Tokens, as an operator adds them to the server's token file.
    c.kill();
    let tokens = c.dir.path().join("tokens.csv");
    let mut csv = std::fs::read_to_string(&tokens)?;
    csv.push_str("e2e-node-token,system:node:joined,joined,\"system:nodes\"\n");
    csv.push_str("e2e-sched-token,system:kube-scheduler,sched\n");
    csv.push_str("e2e-kcm-token,system:kube-controller-manager,kcm\n");
    std::fs::write(&tokens, csv)?;
    c.spawn()?;
    let kubeconfig = std::fs::read_to_string(&c.kubeconfig)?;
    let server = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .expect("server in kubeconfig")
        .trim()
        .to_owned();
    let agent_dir = tempfile::tempdir()?;
    let ca = c.dir.path().join("tls/ca.crt");
    let component = |args: &[&str], token: &str, log: &str| -> anyhow::Result<KillOnDrop> {
        let log = std::fs::File::create(agent_dir.path().join(log))?;
        Ok(KillOnDrop(
            c.netns_command(skiff_tests::skiff_bin())
                .env("SKIFF_NATIVE_SHIM", skiff_tests::native_shim())
                .args(args)
                .args(["--server", &server, "--token", token])
                .arg("--ca-file")
                .arg(&ca)
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .spawn()?,
        ))
    };
    let import = format!("{}={JOB}", skiff_tests::wasm_example("job").display());
    let data_dir = agent_dir.path().display().to_string();
    let _agent = component(
        &[
            "agent",
            "--node-name",
            "joined",
            "--data-dir",
            &data_dir,
            "--import",
            &import,
        ],
        "e2e-node-token",
        "agent.log",
    )?;
    let _scheduler = component(&["scheduler"], "e2e-sched-token", "scheduler.log")?;
    let _kcm = component(&["controller-manager"], "e2e-kcm-token", "kcm.log")?;
    let logs = || {
        ["agent.log", "scheduler.log", "kcm.log"]
            .iter()
            .map(|f| std::fs::read_to_string(agent_dir.path().join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    let wait = |what: &str, args: &[&str], want: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = c.kubectl(args);
            if String::from_utf8_lossy(&out.stdout).trim() == want {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: {}", logs());
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait(
        "node did not join",
        &[
            "get",
            "node",
            "joined",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ],
        "True",
    );
    let lease = c.kubectl_ok(&[
        "get",
        "lease",
        "-n",
        "kube-node-lease",
        "joined",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert_eq!(lease.trim(), "joined");
    c.apply(&format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: apart
spec:
  completions: 2
  parallelism: 2
  template:
    spec:
      runtimeClassName: wasmtime
      restartPolicy: Never
      containers:
      - name: job
        image: {JOB}
        args: [\"exit\", \"0\"]
"
    ));
    wait(
        "the Job did not complete",
        &["get", "job", "apart", "-o", "jsonpath={.status.succeeded}"],
        "2",
    );
    // The separate controller manager publishes the CA it was given.
    let published = c.kubectl_ok(&[
        "get",
        "configmap",
        "kube-root-ca.crt",
        "-o",
        "jsonpath={.data.ca\\.crt}",
    ]);
    assert_eq!(published.trim(), std::fs::read_to_string(&ca)?.trim());
    Ok(())
}

/// A cluster with a registry inside its network namespace serving the
/// busybox image (the native runtime's test fixture); the image reference.
fn up_with_busybox() -> (Cluster, Registry, String) {
    let c = up();
    let ns = c.netns().expect("skiff up runs in a netns").path();
    let registry = Registry::start(Some(&ns));
    let image = registry.push_busybox("1");
    (c, registry, image)
}

/// A pod without a RuntimeClass (so native) running `script` in busybox.
fn busybox_pod(name: &str, image: &str, restart: &str, script: &str, extra: &str) -> String {
    let script = script.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: {restart}
  containers:
  - name: main
    image: {image}
    command: ["sh", "-c", "{script}"]
{extra}"#
    )
}

fn pod_ip(p: &Pod) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default()
}

/// The container's log lines (CRI format, content only) of run `attempt`,
/// read from the node's log files: what `kubectl logs` will show.
fn container_log(c: &Cluster, p: &Pod, attempt: u32) -> String {
    let dir = c.dir.path().join("agent/pods").join(format!(
        "default_{}_{}",
        p.metadata.name.as_deref().unwrap_or(""),
        p.metadata.uid.as_deref().unwrap_or("")
    ));
    std::fs::read_to_string(dir.join("main").join(format!("{attempt}.log")))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.splitn(4, ' ').nth(3))
        .collect::<Vec<_>>()
        .join("\n")
}

fn first_status(p: &Pod) -> Option<k8s_openapi::api::core::v1::ContainerStatus> {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .cloned()
}

fn container_status(p: &Pod) -> k8s_openapi::api::core::v1::ContainerStatus {
    first_status(p).unwrap_or_else(|| panic!("no container status in {:?}", p.status))
}

#[tokio::test]
async fn wasm_and_native_pods_share_the_pod_network() -> anyhow::Result<()> {
    let (c, _registry, busybox) = up_with_busybox();
    let api: Api<Pod> = Api::namespaced(c.client().await?, "default");
    // The Wasm service, by RuntimeClass.
    let extra = "    ports:\n    - containerPort: 8080\n    env:\n    - name: POD_NAME\n      valueFrom: {fieldRef: {fieldPath: metadata.name}}\n";
    c.apply(&pod_yaml("web", HELLO, "Always", &[], extra));
    let (web, _) = wait_pod(&api, "web", Duration::from_secs(20), |p| {
        condition(p, "Ready") == "True"
    })
    .await;
    let web_ip = pod_ip(&web);
    // A native pod (no RuntimeClass) that serves a page and calls the Wasm
    // pod over the pod network. `nc`, not `wget`: Debian's static busybox
    // `wget` segfaults in a rootfs without /etc (its libc's resolver); nc's
    // stdin stays open until the reply is in, or nc may quit before it.
    let script = format!(
        "echo hello-from-busybox >/tmp/index.html; httpd -p 8081 -h /tmp; \
         for i in 1 2 3 4 5; do r=$( (printf 'GET / HTTP/1.0\\r\\nHost: web\\r\\n\\r\\n'; sleep 3) | nc {web_ip} 8080); [ -n \"$r\" ] && echo \"$r\" && break; sleep 1; done; \
         echo; ip -4 route; sleep 3600"
    );
    c.apply(&busybox_pod("client", &busybox, "Always", &script, ""));
    let (client, _) = wait_pod(&api, "client", Duration::from_secs(60), |p| {
        condition(p, "Ready") == "True"
    })
    .await;
    let client_ip = pod_ip(&client);
    let cs = container_status(&client);
    assert!(
        cs.container_id
            .as_deref()
            .unwrap_or("")
            .starts_with("runc://"),
        "a pod without RuntimeClass runs native: {cs:?}"
    );
    assert!(
        container_status(&web)
            .container_id
            .as_deref()
            .unwrap_or("")
            .starts_with("wasmtime://")
    );
    for ip in [&web_ip, &client_ip] {
        assert!(ip.starts_with("10.42.0."), "{ip}");
    }
    assert_ne!(web_ip, client_ip);
    let (web, _) = wait_pod(&api, "web", Duration::from_secs(1), |_| true).await;
    assert_eq!(phase(&web), "Running");
    assert_eq!(phase(&client), "Running");
    // The busybox pod reached the Wasm pod; its default route is the bridge.
    let deadline = Instant::now() + Duration::from_secs(20);
    let log = loop {
        let log = container_log(&c, &client, 0);
        if log.contains("default via") || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(log.contains("web"), "no answer from the Wasm pod: {log}");
    assert!(log.contains("default via 10.42.0.1"), "{log}");
    // The node reaches the native pod over the bridge.
    let body = c.http_get(format!("{client_ip}:8081").parse()?)?;
    assert!(body.contains("hello-from-busybox"), "{body}");
    // Deleting the native pod takes its veth off the bridge.
    // sh as pid 1 ignores SIGTERM: a short grace period, as a user would.
    c.kubectl_ok(&[
        "delete",
        "pod",
        "client",
        "--grace-period=1",
        "--timeout=30s",
    ]);
    let links = c
        .netns_command("ip")
        .args(["-br", "link", "show", "master", "skiff0"])
        .output()?;
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(links.trim().is_empty(), "veths left on the bridge: {links}");
    Ok(())
}

#[tokio::test]
async fn crashing_native_container_restarts_with_back_off() -> anyhow::Result<()> {
    let (c, _registry, busybox) = up_with_busybox();
    let api: Api<Pod> = Api::namespaced(c.client().await?, "default");
    c.apply(&busybox_pod(
        "crash",
        &busybox,
        "Always",
        "echo crashing; exit 3",
        "",
    ));
    // The first restart is immediate, the next waits out the back-off.
    let (p, _) = wait_pod(&api, "crash", Duration::from_secs(60), |p| {
        first_status(p)
            .and_then(|cs| cs.state)
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
            == Some("CrashLoopBackOff")
    })
    .await;
    let cs = container_status(&p);
    assert!(cs.restart_count >= 1, "{cs:?}");
    let last = cs
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.clone())
        .expect("lastState.terminated");
    assert_eq!(last.exit_code, 3);
    assert_eq!(last.reason.as_deref(), Some("Error"));
    assert!(container_log(&c, &p, 0).contains("crashing"));
    let t = Instant::now();
    let before = cs.restart_count;
    let (p, _) = wait_pod(&api, "crash", Duration::from_secs(40), |p| {
        first_status(p).is_some_and(|cs| cs.restart_count > before)
    })
    .await;
    assert!(
        t.elapsed() >= Duration::from_secs(5),
        "restarted after {:?}: no back-off",
        t.elapsed()
    );
    assert_eq!(phase(&p), "Running");
    let events = c.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=crash",
    ]);
    assert!(events.contains("BackOff"), "{events}");
    Ok(())
}

#[tokio::test]
async fn native_pod_over_its_memory_limit_is_oom_killed() -> anyhow::Result<()> {
    let (c, _registry, busybox) = up_with_busybox();
    let api: Api<Pod> = Api::namespaced(c.client().await?, "default");
    let extra = "    resources:\n      limits: {memory: 16Mi}\n";
    c.apply(&busybox_pod(
        "hog",
        &busybox,
        "Never",
        "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done",
        extra,
    ));
    let (p, _) = wait_pod(&api, "hog", Duration::from_secs(60), |p| {
        phase(p) == "Failed"
    })
    .await;
    let t = terminated(&p);
    assert_eq!(t.reason.as_deref(), Some("OOMKilled"), "{t:?}");
    assert_eq!(t.exit_code, 137);
    let get = c.kubectl_ok(&["get", "pod", "hog"]);
    assert!(get.contains("OOMKilled"), "{get}");
    Ok(())
}

/// An OCI image layout imported at start (`--import DIR:TAG=REF`, as
/// `k3s ctr images import`) runs as a native pod with no registry at all.
#[tokio::test]
async fn native_pod_from_an_imported_oci_layout_needs_no_registry() -> anyhow::Result<()> {
    let layout = skiff_runtime_native::testing::busybox_layout();
    let import = format!("{}:1=localhost/imported/busybox:1", layout.display());
    let c = match Cluster::up(&["--import", &import]) {
        Ok(c) => c,
        Err(e) => panic!("skiff up: {e:#}"),
    };
    assert!(
        c.stdout().contains("as localhost/imported/busybox:1"),
        "{}",
        c.stdout()
    );
    c.apply(&busybox_pod(
        "imported",
        "localhost/imported/busybox:1",
        "Never",
        "echo from-layout",
        "    imagePullPolicy: Never\n",
    ));
    let api: Api<Pod> = Api::namespaced(c.client().await?, "default");
    let (p, _) = wait_pod(&api, "imported", Duration::from_secs(60), |p| {
        phase(p) == "Succeeded" || phase(p) == "Failed"
    })
    .await;
    assert_eq!(phase(&p), "Succeeded", "{:?}", p.status);
    Ok(())
}
