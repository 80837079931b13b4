//! The disruption controller and the API server's `pods/eviction` together
//! against a real API server: budget status for `minAvailable` and
//! `maxUnavailable` (int and percent, scale read from the pods'
//! controller), evictions allowed and refused with Kubernetes' 429, and
//! `disruptedPods` bookkeeping.

use std::time::Duration;

use crate::support::{ApiServer, eventually, fake_kubelet, fake_reaper, spawn_controller};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use kube::ResourceExt;
use kube::api::{
    Api, EvictParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::json;
use skiff_controllers::pods;

const WITHIN: Duration = Duration::from_secs(30);

fn replica_set(name: &str, replicas: i32) -> anyhow::Result<ReplicaSet> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"nodeName": "n1",
                    "containers": [{"name": "c", "image": "localhost/skiff/hello-http:v1"}]},
            },
        },
    }))?)
}

fn budget(name: &str, app: &str, spec: serde_json::Value) -> anyhow::Result<PodDisruptionBudget> {
    let mut spec = spec;
    spec["selector"] = json!({"matchLabels": {"app": app}});
    Ok(serde_json::from_value(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": name}, "spec": spec,
    }))?)
}

/// Waits for the budget's status to satisfy `ok`.
async fn wait_status(
    pdbs: &Api<PodDisruptionBudget>,
    name: &str,
    what: &str,
    ok: impl Fn(&PodDisruptionBudgetStatus) -> bool,
) -> PodDisruptionBudgetStatus {
    eventually(WITHIN, what, || async {
        let b = pdbs.get(name).await.ok()?;
        let s = b.status?;
        (s.observed_generation == b.metadata.generation && ok(&s)).then_some(s)
    })
    .await
}

async fn ready_pods(pods: &Api<Pod>, app: &str, n: usize) -> Vec<Pod> {
    eventually(WITHIN, &format!("{n} ready pods of {app}"), || async {
        let ps: Vec<Pod> = pods
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await
            .ok()?
            .items
            .into_iter()
            .filter(|p| pods::is_active(p) && pods::is_ready(p))
            .collect();
        (ps.len() == n).then_some(ps)
    })
    .await
}

/// POSTs an Eviction for `pod`; the HTTP code and the body.
async fn evict_raw(client: &kube::Client, pod: &str) -> anyhow::Result<(u16, serde_json::Value)> {
    let eviction = json!({"apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": pod, "namespace": "default"}});
    let req = axum::http::Request::post(format!("/api/v1/namespaces/default/pods/{pod}/eviction"))
        .header("content-type", "application/json")
        .body(kube::client::Body::from(serde_json::to_vec(&eviction)?))?;
    let resp = tokio::time::timeout(WITHIN, client.send(req)).await??;
    let code = resp.status().as_u16();
    let body = tokio::time::timeout(WITHIN, resp.into_body().collect_bytes()).await??;
    Ok((code, serde_json::from_slice(&body)?))
}

/// The reason of the first `DisruptionTarget=True` condition the pod's
/// history shows after revision `since` (a watch replays it, however
/// quickly the pod is gone).
async fn disruption_reason(
    pods: &Api<Pod>,
    name: &str,
    since: &str,
) -> anyhow::Result<Option<String>> {
    use futures::{StreamExt, TryStreamExt};
    let params = WatchParams::default()
        .fields(&format!("metadata.name={name}"))
        .timeout(5);
    let mut events = pods.watch(&params, since).await?.boxed();
    while let Some(event) = events.try_next().await? {
        let (WatchEvent::Modified(pod) | WatchEvent::Deleted(pod)) = event else {
            continue;
        };
        let reason = pod
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "DisruptionTarget" && c.status == "True")
            .and_then(|c| c.reason);
        if reason.is_some() {
            return Ok(reason);
        }
    }
    Ok(None)
}

#[tokio::test]
async fn min_available_budgets_gate_evictions() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _rsc = spawn_controller(client.clone(), skiff_controllers::replicaset::run);
    let _dc = spawn_controller(client.clone(), skiff_controllers::disruption::run);
    let _kubelet = fake_kubelet(client.clone(), "default", |_| true);
    let _reaper = fake_reaper(client.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    rss.create(&PostParams::default(), &replica_set("web", 3)?)
        .await?;
    let running = ready_pods(&pods, "web", 3).await;
    pdbs.create(
        &PostParams::default(),
        &budget("web", "web", json!({"minAvailable": 2}))?,
    )
    .await?;
    let s = wait_status(&pdbs, "web", "allowed 1", |s| s.current_healthy == 3).await;
    assert_eq!(
        (
            s.current_healthy,
            s.desired_healthy,
            s.expected_pods,
            s.disruptions_allowed
        ),
        (3, 2, 3, 1)
    );
    let cond = &s.conditions.clone().unwrap_or_default()[0];
    assert_eq!(
        (
            cond.type_.as_str(),
            cond.status.as_str(),
            cond.reason.as_str()
        ),
        ("DisruptionAllowed", "True", "SufficientPods")
    );

    // The one allowed disruption: the budget records it before the
    // controller catches up, so a second eviction right away is refused.
    let victim = running[0].name_any();
    let before = pods
        .get(&victim)
        .await?
        .resource_version()
        .unwrap_or_default();
    pods.evict(&victim, &EvictParams::default()).await?;
    let after = pdbs.get("web").await?.status.unwrap_or_default();
    assert_eq!(after.disruptions_allowed, 0);
    // The eviction records the pod in disruptedPods; once the controller
    // has seen the pod gone it drops the entry again, as Kubernetes does.
    let recorded = after
        .disrupted_pods
        .unwrap_or_default()
        .contains_key(&victim);
    assert!(
        recorded || pods.get_opt(&victim).await?.is_none(),
        "evicted pod recorded in disruptedPods"
    );
    // Read from the watch history: the pod itself is gone by now.
    assert_eq!(
        disruption_reason(&pods, &victim, &before).await?.as_deref(),
        Some("EvictionByEvictionAPI"),
        "the eviction marks the pod DisruptionTarget before deleting it"
    );
    let second = running[1].name_any();
    match pods.evict(&second, &EvictParams::default()).await {
        Err(kube::Error::Api(e)) => {
            assert_eq!((e.code, e.reason.as_str()), (429, "TooManyRequests"));
            assert_eq!(
                e.message,
                "Cannot evict pod as it would violate the pod's disruption budget."
            );
        }
        other => panic!("eviction past the budget answered {other:?}"),
    }
    assert!(
        pods.get(&second)
            .await?
            .metadata
            .deletion_timestamp
            .is_none()
    );
    // The Status names the budget as its cause, as Kubernetes' does.
    let (code, status) = evict_raw(&client, &second).await?;
    assert_eq!(code, 429, "{status}");
    assert_eq!(status["reason"], "TooManyRequests");
    assert_eq!(status["details"]["causes"][0]["reason"], "DisruptionBudget");
    // 2 or 3 healthy, depending on whether the controller saw the first
    // eviction's deletion yet.
    let cause = status["details"]["causes"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        cause.starts_with("The disruption budget web needs 2 healthy pods and has "),
        "{cause}"
    );

    // The ReplicaSet replaces the evicted pod; the budget recovers and
    // forgets the eviction.
    ready_pods(&pods, "web", 3).await;
    let s = wait_status(&pdbs, "web", "recovered", |s| {
        s.disruptions_allowed == 1 && s.disrupted_pods.is_none()
    })
    .await;
    assert_eq!(s.current_healthy, 3);

    // A budget demanding every pod allows nothing.
    pdbs.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 3}})),
    )
    .await?;
    let s = wait_status(&pdbs, "web", "insufficient", |s| s.desired_healthy == 3).await;
    let cond = &s.conditions.clone().unwrap_or_default()[0];
    assert_eq!(
        (
            s.disruptions_allowed,
            cond.status.as_str(),
            cond.reason.as_str()
        ),
        (0, "False", "InsufficientPods")
    );
    // A pod no budget selects is simply deleted.
    let lone: Pod = serde_json::from_value(
        json!({"metadata": {"name": "lone", "labels": {"app": "lone"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]}}),
    )?;
    pods.create(&PostParams::default(), &lone).await?;
    ready_pods(&pods, "lone", 1).await;
    pods.evict("lone", &EvictParams::default()).await?;
    eventually(WITHIN, "lone gone", || async {
        matches!(pods.get("lone").await, Err(kube::Error::Api(e)) if e.code == 404).then_some(())
    })
    .await;
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn max_unavailable_counts_the_controllers_scale() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _dep = spawn_controller(client.clone(), skiff_controllers::deployment::run);
    let _rsc = spawn_controller(client.clone(), skiff_controllers::replicaset::run);
    let _dc = spawn_controller(client.clone(), skiff_controllers::disruption::run);
    // Only three of four pods ever become ready.
    let _kubelet = fake_kubelet(client.clone(), "default", |p| {
        p.labels().get("slow").is_none_or(|v| v != "yes")
    });
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "api"}},
            "template": {"metadata": {"labels": {"app": "api"}},
                "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]}}},
    }))?;
    deps.create(&PostParams::default(), &d).await?;
    let ready = ready_pods(&pods, "api", 4).await;
    pods.patch(
        &ready[0].name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"slow": "yes"}}})),
    )
    .await?;
    pods.patch_status(
        &ready[0].name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})),
    )
    .await?;
    pdbs.create(
        &PostParams::default(),
        &budget("api", "api", json!({"maxUnavailable": "50%"}))?,
    )
    .await?;
    let s = wait_status(&pdbs, "api", "percent budget", |s| {
        s.expected_pods == 4 && s.current_healthy == 3
    })
    .await;
    // 50% of 4 is 2 unavailable: 2 must stay healthy, 3 are.
    assert_eq!((s.desired_healthy, s.disruptions_allowed), (2, 1));

    // The unready pod goes without spending the budget (IfHealthyBudget).
    pods.evict(&ready[0].name_any(), &EvictParams::default())
        .await?;
    let after = pdbs.get("api").await?.status.unwrap_or_default();
    assert_eq!(after.disruptions_allowed, 1);

    // Scaling the Deployment changes the expectation.
    deps.patch(
        "api",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 6}})),
    )
    .await?;
    let s = wait_status(&pdbs, "api", "scaled expectation", |s| s.expected_pods == 6).await;
    assert_eq!(s.desired_healthy, 3);
    server.stop().await;
    Ok(())
}
