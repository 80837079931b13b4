//! The ReplicaSet controller against a real API server: scaling, adoption
//! and release, replacement of deleted pods, status and events. The test
//! plays the kubelet (no node agent runs here).

use std::time::Duration;

use crate::support::{ApiServer, eventually, fake_kubelet, spawn_controller};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_controllers::{owner, pods};

const WITHIN: Duration = Duration::from_secs(20);

fn replica_set(name: &str, replicas: i32) -> anyhow::Result<ReplicaSet> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": {"note": "from-template"}},
                "spec": {"containers": [{"name": "c", "image": "localhost/skiff/hello-http:v1"}]},
            },
        },
    }))?)
}

/// The active pods `rs` controls.
async fn owned(pods: &Api<Pod>, rs: &ReplicaSet) -> Vec<Pod> {
    let uid = rs.uid().unwrap_or_default();
    pods.list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| owner::is_controlled_by(&p.metadata, &uid) && pods::is_active(p))
        .collect()
}

async fn wait_owned(pods: &Api<Pod>, rs: &ReplicaSet, n: usize) -> Vec<Pod> {
    eventually(
        WITHIN,
        &format!("{n} pods of {}", rs.name_any()),
        || async {
            let ps = owned(pods, rs).await;
            (ps.len() == n).then_some(ps)
        },
    )
    .await
}

#[tokio::test]
async fn scales_up_and_down_and_reports_status() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _rsc = spawn_controller(client.clone(), skiff_controllers::replicaset::run);
    let _kubelet = fake_kubelet(client.clone(), "default", |_| true);
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    let rs = rss
        .create(&PostParams::default(), &replica_set("web", 3)?)
        .await?;
    let created = wait_owned(&pods, &rs, 3).await;
    for p in &created {
        assert!(p.name_any().starts_with("web-"), "{}", p.name_any());
        assert_eq!(p.metadata.generate_name.as_deref(), Some("web-"));
        assert_eq!(
            p.annotations().get("note").map(String::as_str),
            Some("from-template")
        );
        let r = owner::controller_of(&p.metadata).expect("controller ref");
        assert_eq!(
            (r.kind.as_str(), r.block_owner_deletion),
            ("ReplicaSet", Some(true))
        );
    }
    let st = eventually(WITHIN, "status of 3 ready", || async {
        let s = rss.get("web").await.ok()?.status?;
        (s.ready_replicas == Some(3) && s.available_replicas == Some(3)).then_some(s)
    })
    .await;
    assert_eq!(st.replicas, 3);
    assert_eq!(st.fully_labeled_replicas, Some(3));
    assert_eq!(st.observed_generation, rs.metadata.generation);

    rss.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await?;
    wait_owned(&pods, &rs, 1).await;
    let st = eventually(WITHIN, "status of 1 replica", || async {
        let r = rss.get("web").await.ok()?;
        let s = r.status?;
        (s.replicas == 1 && s.observed_generation == r.metadata.generation).then_some(s)
    })
    .await;
    assert_eq!(st.ready_replicas, Some(1));

    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let reasons = eventually(WITHIN, "events", || async {
        let evs = events.list(&ListParams::default()).await.ok()?.items;
        let mine: Vec<(String, String)> = evs
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some("web"))
            .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
            .collect();
        (mine.iter().filter(|(r, _)| r == "SuccessfulDelete").count() == 2).then_some(mine)
    })
    .await;
    assert_eq!(
        reasons
            .iter()
            .filter(|(r, _)| r == "SuccessfulCreate")
            .count(),
        3,
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .all(|(_, m)| m.starts_with("Created pod: web-") || m.starts_with("Deleted pod: web-"))
    );
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn scale_down_deletes_unready_pods_first() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _rsc = spawn_controller(client.clone(), skiff_controllers::replicaset::run);
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let rs = rss
        .create(&PostParams::default(), &replica_set("rank", 4)?)
        .await?;
    let all = wait_owned(&pods, &rs, 4).await;
    let ready: Vec<String> = all.iter().take(2).map(ResourceExt::name_any).collect();
    for name in &ready {
        crate::support::mark_ready(&pods, name).await?;
    }
    rss.patch(
        "rank",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 2}})),
    )
    .await?;
    let left = wait_owned(&pods, &rs, 2).await;
    let mut left: Vec<String> = left.iter().map(ResourceExt::name_any).collect();
    left.sort();
    let mut ready = ready;
    ready.sort();
    assert_eq!(left, ready, "the ready pods survive");
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn adopts_orphans_and_releases_pods_that_stop_matching() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let orphan: Pod = serde_json::from_value(json!({
        "metadata": {"name": "orphan", "labels": {"app": "adopt"}},
        "spec": {"containers": [{"name": "c", "image": "localhost/skiff/hello-http:v1"}]},
    }))?;
    pods.create(&PostParams::default(), &orphan).await?;
    let _rsc = spawn_controller(client.clone(), skiff_controllers::replicaset::run);
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs = rss
        .create(&PostParams::default(), &replica_set("adopt", 2)?)
        .await?;
    let mine = wait_owned(&pods, &rs, 2).await;
    assert!(
        mine.iter().any(|p| p.name_any() == "orphan"),
        "orphan adopted"
    );

    // Relabelled out of the selector: released, and replaced.
    pods.patch(
        "orphan",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "other"}}})),
    )
    .await?;
    let mine = eventually(WITHIN, "a replacement for the released pod", || async {
        let ps = owned(&pods, &rs).await;
        (ps.len() == 2 && ps.iter().all(|p| p.name_any() != "orphan")).then_some(ps)
    })
    .await;
    assert_eq!(mine.len(), 2);
    let released = pods.get("orphan").await?;
    assert!(owner::controller_of(&released.metadata).is_none());
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_deleted_pod_is_replaced_once() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _rsc = spawn_controller(client.clone(), skiff_controllers::replicaset::run);
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let rs = rss
        .create(&PostParams::default(), &replica_set("heal", 2)?)
        .await?;
    let before = wait_owned(&pods, &rs, 2).await;
    let victim = before[0].name_any();
    pods.delete(&victim, &DeleteParams::default()).await?;
    let after = eventually(WITHIN, "a replacement", || async {
        let ps = owned(&pods, &rs).await;
        (ps.len() == 2 && ps.iter().all(|p| p.name_any() != victim)).then_some(ps)
    })
    .await;
    assert_eq!(after.len(), 2);
    // Settled: the status says 2 and no third pod was made.
    eventually(WITHIN, "status", || async {
        let s = rss.get("heal").await.ok()?.status?;
        (s.replicas == 2).then_some(())
    })
    .await;
    assert_eq!(owned(&pods, &rs).await.len(), 2);
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn create_errors_surface_as_replica_failure() -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Namespace;
    let server = ApiServer::start().await?;
    let client = server.client();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "doomed"}}))?;
    namespaces.create(&PostParams::default(), &ns).await?;
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "doomed");
    rss.create(&PostParams::default(), &replica_set("web", 0)?)
        .await?;
    // No namespace controller runs here, so the namespace stays
    // Terminating, where the API server refuses every create.
    namespaces
        .delete("doomed", &DeleteParams::default())
        .await?;
    let _rsc = spawn_controller(client.clone(), skiff_controllers::replicaset::run);
    rss.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 2}})),
    )
    .await?;
    let cond = eventually(WITHIN, "ReplicaFailure", || async {
        let s = rss.get("web").await.ok()?.status?;
        s.conditions?
            .into_iter()
            .find(|c| c.type_ == "ReplicaFailure")
    })
    .await;
    assert_eq!(cond.status, "True");
    assert_eq!(cond.reason.as_deref(), Some("FailedCreate"));
    assert!(
        cond.message
            .as_deref()
            .unwrap_or("")
            .contains("being terminated"),
        "{cond:?}"
    );
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn pods_count_as_available_after_min_ready_seconds() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _rsc = spawn_controller(client.clone(), skiff_controllers::replicaset::run);
    let _kubelet = fake_kubelet(client.clone(), "default", |_| true);
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut rs = replica_set("slow", 1)?;
    if let Some(s) = rs.spec.as_mut() {
        s.min_ready_seconds = Some(1);
    }
    let rs = rss.create(&PostParams::default(), &rs).await?;
    let status = eventually(WITHIN, "an available replica", || async {
        let s = rss.get("slow").await.ok()?.status?;
        (s.available_replicas == Some(1)).then_some(s)
    })
    .await;
    assert_eq!(status.ready_replicas, Some(1));
    // Only a requeue after minReadySeconds could have noticed: nothing
    // about the pod changed once it was ready.
    let pod = wait_owned(&pods, &rs, 1).await.remove(0);
    let since = pods::ready_since(&pod).expect("ready");
    assert!(since + jiff::SignedDuration::from_secs(1) <= jiff::Timestamp::now());
    server.stop().await;
    Ok(())
}
