//! A real API server in this process for controller tests: the controller
//! under test and the test itself are clients of it, as in `skiff up`.

use std::time::{Duration, Instant};

use skiff_apiserver::auth::User;

/// An API server on a temporary data dir, listening on loopback.
pub struct ApiServer {
    /// Kept for the server's lifetime.
    _dir: tempfile::TempDir,
    server: Option<skiff_apiserver::Server>,
    router: axum::Router,
}

const TOKEN: &str = "controller-test-token";

impl ApiServer {
    /// Starts one.
    pub async fn start() -> anyhow::Result<ApiServer> {
        let dir = tempfile::tempdir()?;
        let mut cfg = skiff_apiserver::Config::new(dir.path().to_path_buf());
        cfg.listen = "127.0.0.1:0".parse()?;
        cfg.extra_tokens = vec![(
            TOKEN.to_owned(),
            User {
                name: "system:kube-controller-manager".into(),
                uid: "kcm".into(),
                groups: vec!["system:masters".into(), "system:authenticated".into()],
            },
        )];
        let server = skiff_apiserver::start(cfg).await?;
        let router = skiff_apiserver::router(server.api.clone());
        Ok(ApiServer {
            _dir: dir,
            server: Some(server),
            router,
        })
    }

    /// A client of it, in process.
    pub fn client(&self) -> kube::Client {
        skiff_client::connect::in_process(self.router.clone(), TOKEN).expect("client")
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
    }
}

/// Polls `check` every 20 ms until it returns `Some`, failing after
/// `within` with `what` in the message.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One controller running on its own client; stopped when dropped.
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

/// Starts a controller's `run(ctx, shutdown)` on `client`.
pub fn spawn_controller<F, Fut>(client: kube::Client, run: F) -> Running
where
    F: FnOnce(std::sync::Arc<skiff_controllers::Ctx>, skiff_controllers::Shutdown) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    use futures::FutureExt;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown: skiff_controllers::Shutdown = async move {
        let _ = rx.await;
    }
    .boxed()
    .shared();
    let ctx = std::sync::Arc::new(skiff_controllers::Ctx { client });
    Running {
        stop: Some(tx),
        task: tokio::spawn(run(ctx, shutdown)),
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}

/// Stands in for the kubelet in controller tests: marks the pods of one
/// namespace that `ready` accepts `Running` and `Ready`, as a node agent
/// would once their containers started; aborted when dropped.
pub struct FakeKubelet {
    task: tokio::task::JoinHandle<()>,
}

/// Starts a [`FakeKubelet`] for `ns`.
pub fn fake_kubelet(
    client: kube::Client,
    ns: &str,
    ready: impl Fn(&k8s_openapi::api::core::v1::Pod) -> bool + Send + Sync + 'static,
) -> FakeKubelet {
    let api: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, ns);
    let task = tokio::spawn(async move {
        loop {
            if let Ok(list) = api.list(&Default::default()).await {
                for p in list.items {
                    let done = p
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready"));
                    if !done && p.metadata.deletion_timestamp.is_none() && ready(&p) {
                        let name = p.metadata.name.clone().unwrap_or_default();
                        let _ = mark_ready(&api, &name).await;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    FakeKubelet { task }
}

impl Drop for FakeKubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Writes what a kubelet writes once a pod's containers are ready: phase
/// `Running` and a `Ready=True` condition, through `pods/status`.
pub async fn mark_ready(
    api: &kube::Api<k8s_openapi::api::core::v1::Pod>,
    name: &str,
) -> anyhow::Result<()> {
    let now = jiff::Timestamp::now().to_string();
    let patch = serde_json::json!({"status": {
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
        ],
    }});
    api.patch_status(
        name,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// Plays the kubelet for a run-to-completion pod: writes the terminal
/// phase (`Succeeded` for exit code 0, else `Failed`) with the first
/// container terminated with `exit_code`, through `pods/status`.
pub async fn finish_pod(
    api: &kube::Api<k8s_openapi::api::core::v1::Pod>,
    name: &str,
    exit_code: i32,
) -> anyhow::Result<()> {
    let pod = api.get(name).await?;
    let container = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .unwrap_or_default();
    let now = jiff::Timestamp::now().to_string();
    let patch = serde_json::json!({"status": {
        "phase": if exit_code == 0 { "Succeeded" } else { "Failed" },
        "containerStatuses": [{
            "name": container.0, "image": container.1, "imageID": "",
            "ready": false, "restartCount": 0,
            "state": {"terminated": {
                "exitCode": exit_code,
                "reason": if exit_code == 0 { "Completed" } else { "Error" },
                "startedAt": now, "finishedAt": now,
            }},
        }],
    }});
    api.patch_status(
        name,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// Registers a Node by hand (no node agent runs in controller tests):
/// `Ready`, with `labels` and `taints` (JSON `spec.taints` entries).
pub async fn register_node(
    client: &kube::Client,
    name: &str,
    labels: serde_json::Value,
    taints: serde_json::Value,
) -> anyhow::Result<k8s_openapi::api::core::v1::Node> {
    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client.clone());
    let node: k8s_openapi::api::core::v1::Node = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints},
    }))?;
    let created = nodes.create(&Default::default(), &node).await?;
    let now = jiff::Timestamp::now().to_string();
    let status = serde_json::json!({"status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
            "lastHeartbeatTime": now, "lastTransitionTime": now}],
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
    }});
    nodes
        .patch_status(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&status),
        )
        .await?;
    Ok(created)
}

/// Stands in for the scheduler for daemon pods: binds each unbound pod of
/// `ns` whose required node affinity names one node (`matchFields`
/// `metadata.name In [node]`) to that node; aborted when dropped.
pub fn fake_binder(client: kube::Client, ns: &str) -> FakeKubelet {
    let api: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, ns);
    let task = tokio::spawn(async move {
        loop {
            if let Ok(list) = api.list(&Default::default()).await {
                for p in list.items {
                    let bound = p
                        .spec
                        .as_ref()
                        .and_then(|s| s.node_name.as_deref())
                        .is_some_and(|n| !n.is_empty());
                    if bound || p.metadata.deletion_timestamp.is_some() {
                        continue;
                    }
                    let Some(node) = skiff_controllers::daemonset::nodes::target_node(&p) else {
                        continue;
                    };
                    let name = p.metadata.name.clone().unwrap_or_default();
                    let binding = serde_json::json!({"apiVersion": "v1", "kind": "Binding",
                        "metadata": {"name": name}, "target": {"kind": "Node", "name": node}});
                    let _ = api
                        .create_subresource::<_, serde_json::Value>(
                            "binding",
                            &name,
                            &Default::default(),
                            &binding,
                        )
                        .await;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    FakeKubelet { task }
}

/// Plays the kubelet's last step for pods of `ns` being deleted: once
/// stopped, a kubelet deletes them with grace 0; aborted when dropped.
pub fn fake_reaper(client: kube::Client, ns: &str) -> FakeKubelet {
    let api: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, ns);
    let task = tokio::spawn(async move {
        loop {
            if let Ok(list) = api.list(&Default::default()).await {
                for p in list.items {
                    if p.metadata.deletion_timestamp.is_some() {
                        let name = p.metadata.name.clone().unwrap_or_default();
                        let _ = api
                            .delete(&name, &kube::api::DeleteParams::default().grace_period(0))
                            .await;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    FakeKubelet { task }
}
