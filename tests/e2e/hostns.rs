//! Pods sharing the node's namespaces (`hostNetwork`, `hostPID`,
//! `hostIPC`) on a real `skiff up`, which runs in a network namespace the
//! harness created: that namespace is "the node's network" here.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use skiff_runtime_native::testing::Registry;
use skiff_tests::{Cluster, eventually};

/// Where the host-network pod's httpd listens, in the cluster's namespace.
const PORT: u16 = 18081;
const HELLO: &str = "localhost/skiff-e2e/hello-http:1";

fn busybox_pod(name: &str, image: &str, spec_extra: &str, script: &str, ports: &str) -> String {
    let script = script.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
{spec_extra}  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {image}
    command: ["sh", "-c", "{script}"]
{ports}"#
    )
}

fn status_field(
    p: &Pod,
    f: impl Fn(&k8s_openapi::api::core::v1::PodStatus) -> Option<String>,
) -> String {
    p.status.as_ref().and_then(f).unwrap_or_default()
}

fn running(p: &Pod) -> bool {
    status_field(p, |s| s.phase.clone()) == "Running"
}

fn container_id(p: &Pod) -> String {
    status_field(p, |s| {
        s.container_statuses.as_ref()?.first()?.container_id.clone()
    })
}

/// The container's log lines of run 0, content only, from the node's files.
fn container_log(c: &Cluster, p: &Pod) -> String {
    let dir = c.dir.path().join("agent/pods").join(format!(
        "default_{}_{}",
        p.metadata.name.as_deref().unwrap_or(""),
        p.metadata.uid.as_deref().unwrap_or("")
    ));
    std::fs::read_to_string(dir.join("main/0.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.splitn(4, ' ').nth(3))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn hostns_pods_use_the_nodes_network_and_processes() -> anyhow::Result<()> {
    let mut c = Cluster::up_with_wasm(&[("hello-http", HELLO)]);
    let ns = c.netns().expect("skiff up runs in a netns").path();
    let registry = Registry::start(Some(&ns));
    let busybox = registry.push_busybox("1");
    let pods: Api<Pod> = Api::namespaced(c.client().await?, "default");

    // hostNetwork: httpd on the node's address, and the node's files.
    let script = format!(
        "hostname; head -n 1 /etc/hosts; echo hello-host-net >/tmp/index.html; \
         exec httpd -f -p {PORT} -h /tmp"
    );
    let ports = format!("    ports:\n    - containerPort: {PORT}\n");
    c.apply(&busybox_pod(
        "web",
        &busybox,
        "  hostNetwork: true\n",
        &script,
        &ports,
    ));
    let web = eventually(Duration::from_secs(60), "web running", || async {
        pods.get("web").await.ok().filter(running)
    })
    .await;
    let host_ip = status_field(&web, |s| s.host_ip.clone());
    assert!(!host_ip.is_empty(), "{:?}", web.status);
    assert_eq!(status_field(&web, |s| s.pod_ip.clone()), host_ip);
    // The API server defaulted hostPort to containerPort, as Kubernetes does.
    let port = web
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.ports.as_ref())
        .and_then(|p| p.first())
        .and_then(|p| p.host_port);
    assert_eq!(port, Some(i32::from(PORT)));
    let addr: std::net::SocketAddr = format!("{host_ip}:{PORT}").parse()?;
    let body = eventually(
        Duration::from_secs(30),
        "httpd on the node's address",
        || async {
            c.http_get(addr)
                .ok()
                .filter(|b| b.contains("hello-host-net"))
        },
    )
    .await;
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    let node_hostname = nix::unistd::gethostname()?.to_string_lossy().into_owned();
    let log = container_log(&c, &web);
    assert!(
        log.starts_with(&format!(
            "{node_hostname}\n# Kubernetes-managed hosts file (host network)."
        )),
        "{log}"
    );
    // Nothing on the bridge for it.
    let links = c
        .netns_command("ip")
        .args(["-br", "link", "show", "master", "skiff0"])
        .output()?;
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(
        links.trim().is_empty(),
        "a veth for a host-network pod: {links}"
    );

    // A Wasm service with hostNetwork listens on the node's address.
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: wasm-web
spec:
  runtimeClassName: wasmtime
  hostNetwork: true
  containers:
  - name: main
    image: {HELLO}
    ports:
    - containerPort: 8080
    env:
    - name: POD_NAME
      valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}
"#
    ));
    let wasm = eventually(Duration::from_secs(60), "wasm-web running", || async {
        pods.get("wasm-web").await.ok().filter(running)
    })
    .await;
    assert_eq!(status_field(&wasm, |s| s.pod_ip.clone()), host_ip);
    let wasm_addr: std::net::SocketAddr = format!("{host_ip}:8080").parse()?;
    eventually(
        Duration::from_secs(30),
        "the Wasm service on the node's address",
        || async {
            c.http_get(wasm_addr)
                .ok()
                .filter(|b| b.contains("wasm-web"))
        },
    )
    .await;

    // hostPID (and hostIPC) on the pod network: the agent's process shows.
    let agent = c.pid().expect("skiff up runs");
    c.apply(&busybox_pod(
        "ps",
        &busybox,
        "  hostPID: true\n  hostIPC: true\n",
        &format!("ps -o pid,comm | grep -w '^ *{agent}'; ls /proc | grep -x {agent}; sleep 3600"),
        "",
    ));
    let ps = eventually(Duration::from_secs(60), "ps running", || async {
        pods.get("ps").await.ok().filter(running)
    })
    .await;
    // The host-network pod took no address from the pod CIDR.
    assert_eq!(status_field(&ps, |s| s.pod_ip.clone()), "10.42.0.2");
    let log = eventually(Duration::from_secs(30), "ps output", || async {
        let log = container_log(&c, &ps);
        (log.lines().count() >= 2).then_some(log)
    })
    .await;
    let mut lines = log.lines();
    let first = lines.next().unwrap_or_default();
    assert!(
        first.split_whitespace().collect::<Vec<_>>() == [agent.to_string().as_str(), "skiff"],
        "{log}"
    );
    assert_eq!(lines.next(), Some(agent.to_string().as_str()), "{log}");

    // An agent restart adopts the host-network pod as it is: same
    // container, still on the node's address, which stays no pod's.
    let web_id = container_id(&web);
    c.restart_up()?;
    let pods: Api<Pod> = Api::namespaced(c.client().await?, "default");
    c.apply(&busybox_pod("after", &busybox, "", "sleep 3600", ""));
    let after = eventually(Duration::from_secs(60), "after running", || async {
        pods.get("after").await.ok().filter(running)
    })
    .await;
    assert_eq!(status_field(&after, |s| s.pod_ip.clone()), "10.42.0.3");
    let web = pods.get("web").await?;
    assert_eq!(container_id(&web), web_id);
    assert_eq!(status_field(&web, |s| s.pod_ip.clone()), host_ip);
    assert!(c.http_get(addr)?.contains("hello-host-net"));
    // The Wasm pod ran in the agent and restarts, again on the node's address.
    eventually(Duration::from_secs(60), "the Wasm service back", || async {
        let p = pods.get("wasm-web").await.ok().filter(running)?;
        (status_field(&p, |s| s.pod_ip.clone()) == host_ip).then_some(())?;
        c.http_get(wasm_addr)
            .ok()
            .filter(|b| b.contains("wasm-web"))
    })
    .await;
    // Deleting it leaves the node's address alone.
    c.kubectl_ok(&["delete", "pod", "web", "--timeout=30s"]);
    let addrs = c.netns_command("ip").args(["-4", "-br", "addr"]).output()?;
    let addrs = String::from_utf8_lossy(&addrs.stdout);
    assert!(addrs.contains(&host_ip), "{addrs}");
    Ok(())
}
