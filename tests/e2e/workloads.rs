//! Deployments and ReplicaSets end to end: real kubectl against `skiff up`
//! running Wasm pods (hello-http) and native busybox pods, through scale,
//! `set image`, rollout status/history/undo/pause/resume/restart and
//! self-healing.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use skiff_runtime_native::testing::Registry;
use skiff_tests::Cluster;

const V1: &str = "localhost/skiff/hello-http:v1";
const V2: &str = "localhost/skiff/hello-http:v2";

/// A cluster with hello-http imported twice, as two images.
fn up() -> Cluster {
    Cluster::up_with_wasm(&[("hello-http", V1), ("hello-http", V2)])
}

fn deployment_yaml(name: &str, replicas: i32) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 1, maxUnavailable: 1}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      runtimeClassName: wasmtime
      containers:
      - name: main
        image: {V1}
        ports:
        - containerPort: 8080
"#
    )
}

fn kubectl(c: &Cluster, args: &[&str]) -> String {
    c.kubectl_ok(args)
}

fn rollout_status(c: &Cluster, name: &str) {
    let out = kubectl(
        c,
        &[
            "rollout",
            "status",
            &format!("deployment/{name}"),
            "--timeout=25s",
        ],
    );
    assert!(out.contains("successfully rolled out"), "{out}");
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn image(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// Pods of `app` not being deleted.
async fn live_pods(api: &Api<Pod>, app: &str) -> Vec<Pod> {
    api.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

#[tokio::test]
async fn kubectl_scale_set_image_rollout_and_undo() -> anyhow::Result<()> {
    let c = up();
    let client = c.client().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    c.apply(&deployment_yaml("web", 3));
    rollout_status(&c, "web");
    let ready = live_pods(&pods, "web")
        .await
        .iter()
        .filter(|p| is_ready(p))
        .count();
    assert_eq!(ready, 3);

    kubectl(&c, &["scale", "deployment", "web", "--replicas=4"]);
    rollout_status(&c, "web");
    let get = kubectl(&c, &["get", "deployment", "web"]);
    assert!(get.contains("4/4"), "{get}");

    // Sample the pods through the whole rolling update: with 4 replicas
    // and maxUnavailable 1, at least 3 live pods are ready at all times.
    let stop = Arc::new(AtomicBool::new(false));
    let min_ready = Arc::new(AtomicUsize::new(usize::MAX));
    let sampler = {
        let (stop, min_ready, pods) = (stop.clone(), min_ready.clone(), pods.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                // A failed list says nothing about readiness: skip it.
                if let Ok(list) = pods.list(&ListParams::default().labels("app=web")).await {
                    let n = list
                        .items
                        .iter()
                        .filter(|p| p.metadata.deletion_timestamp.is_none() && is_ready(p))
                        .count();
                    min_ready.fetch_min(n, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    kubectl(
        &c,
        &["set", "image", "deployment/web", &format!("main={V2}")],
    );
    rollout_status(&c, "web");
    stop.store(true, Ordering::SeqCst);
    sampler.await?;
    let min_ready = min_ready.load(Ordering::SeqCst);
    assert!(min_ready >= 3, "ready pods fell to {min_ready}");
    let images: BTreeSet<String> = live_pods(&pods, "web").await.iter().map(image).collect();
    assert_eq!(images, BTreeSet::from([V2.to_owned()]));

    let history = kubectl(&c, &["rollout", "history", "deployment/web"]);
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revisions, ["1", "2"], "{history}");
    let rev1 = kubectl(
        &c,
        &["rollout", "history", "deployment/web", "--revision=1"],
    );
    assert!(rev1.contains(V1), "{rev1}");

    let undo = kubectl(&c, &["rollout", "undo", "deployment/web"]);
    assert!(undo.contains("rolled back"), "{undo}");
    rollout_status(&c, "web");
    let images: BTreeSet<String> = live_pods(&pods, "web").await.iter().map(image).collect();
    assert_eq!(images, BTreeSet::from([V1.to_owned()]));
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let all_rs = rss.list(&ListParams::default()).await?.items;
    assert_eq!(
        all_rs.len(),
        2,
        "{}",
        kubectl(&c, &["get", "rs,deploy", "-o", "yaml"])
    );
    let deploys: Api<Deployment> = Api::namespaced(client, "default");
    let d = deploys.get("web").await?;
    assert_eq!(
        d.metadata
            .annotations
            .unwrap_or_default()
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("3")
    );
    let history = kubectl(&c, &["rollout", "history", "deployment/web"]);
    assert!(history.contains('2') && history.contains('3'), "{history}");

    // Revision 2 (v2) again, by number; its ReplicaSet is reused too.
    kubectl(
        &c,
        &["rollout", "undo", "deployment/web", "--to-revision=2"],
    );
    rollout_status(&c, "web");
    let images: BTreeSet<String> = live_pods(&pods, "web").await.iter().map(image).collect();
    assert_eq!(images, BTreeSet::from([V2.to_owned()]));
    assert_eq!(rss.list(&ListParams::default()).await?.items.len(), 2);
    let history = kubectl(&c, &["rollout", "history", "deployment/web"]);
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revisions, ["3", "4"], "{history}");
    Ok(())
}

#[tokio::test]
async fn deployment_pods_heal_and_rollouts_pause_resume_restart() -> anyhow::Result<()> {
    let c = up();
    let pods: Api<Pod> = Api::namespaced(c.client().await?, "default");
    c.apply(&deployment_yaml("heal", 2));
    rollout_status(&c, "heal");
    let before = live_pods(&pods, "heal").await;
    let victim = before[0].metadata.name.clone().unwrap_or_default();
    kubectl(&c, &["delete", "pod", &victim, "--wait=false"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = live_pods(&pods, "heal").await;
        let ready = now.iter().filter(|p| is_ready(p)).count();
        if ready == 2
            && now
                .iter()
                .all(|p| p.metadata.name.as_deref() != Some(&victim))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no replacement for {victim}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let events = kubectl(&c, &["describe", "replicaset", "-l", "app=heal"]);
    assert!(events.contains("SuccessfulCreate"), "{events}");

    kubectl(&c, &["rollout", "pause", "deployment/heal"]);
    kubectl(
        &c,
        &["set", "image", "deployment/heal", &format!("main={V2}")],
    );
    let d = kubectl(
        &c,
        &["get", "deployment", "heal", "-o", "jsonpath={.spec.paused}"],
    );
    assert_eq!(d.trim(), "true");
    kubectl(&c, &["rollout", "resume", "deployment/heal"]);
    rollout_status(&c, "heal");
    kubectl(&c, &["rollout", "restart", "deployment/heal"]);
    rollout_status(&c, "heal");
    let rs = kubectl(&c, &["get", "rs", "-l", "app=heal", "-o", "name"]);
    assert_eq!(rs.lines().count(), 3, "{rs}");

    // HPAs are stored (nothing acts on them yet).
    kubectl(
        &c,
        &[
            "autoscale",
            "deployment",
            "heal",
            "--min=1",
            "--max=3",
            "--cpu-percent=50",
        ],
    );
    let hpa = kubectl(&c, &["get", "hpa", "heal", "-o", "name"]);
    assert!(hpa.contains("heal"), "{hpa}");
    let describe = kubectl(&c, &["describe", "deployment", "heal"]);
    assert!(describe.contains("ScalingReplicaSet"), "{describe}");
    Ok(())
}

/// A Deployment of native busybox pods, with a readiness probe, rolled
/// forward and back the same way as the Wasm one.
#[tokio::test]
async fn native_deployment_rolls_forward_and_back() -> anyhow::Result<()> {
    let c = Cluster::up_with_wasm(&[]);
    let ns = c.netns().expect("skiff up runs in a netns").path();
    let registry = Registry::start(Some(&ns));
    let v1 = registry.push_busybox("1");
    let v2 = registry.push_busybox("2");
    c.apply(&format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: box
spec:
  replicas: 2
  selector:
    matchLabels: {{app: box}}
  template:
    metadata:
      labels: {{app: box}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: {v1}
        command: ["sh", "-c", "touch /tmp/ready; exec sleep 3600"]
        readinessProbe:
          exec: {{command: ["cat", "/tmp/ready"]}}
          periodSeconds: 1
"#
    ));
    rollout_status(&c, "box");
    let client = c.client().await?;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let running = live_pods(&pods, "box").await;
    assert_eq!(running.iter().filter(|p| is_ready(p)).count(), 2);
    let ips: BTreeSet<String> = running
        .iter()
        .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
        .collect();
    assert_eq!(ips.len(), 2, "each pod has its own IP: {ips:?}");

    kubectl(
        &c,
        &["set", "image", "deployment/box", &format!("main={v2}")],
    );
    rollout_status(&c, "box");
    let images: BTreeSet<String> = live_pods(&pods, "box").await.iter().map(image).collect();
    assert_eq!(images, BTreeSet::from([v2.clone()]));

    let undo = kubectl(&c, &["rollout", "undo", "deployment/box"]);
    assert!(undo.contains("rolled back"), "{undo}");
    rollout_status(&c, "box");
    let live = live_pods(&pods, "box").await;
    let images: BTreeSet<String> = live.iter().map(image).collect();
    assert_eq!(images, BTreeSet::from([v1]));
    assert!(live.iter().all(is_ready), "all pods ready after the undo");
    drop(registry);
    Ok(())
}
