//! The StatefulSet controller against a real API server: ordered creation
//! with claims, identity after deletion, scale down keeping claims,
//! rolling update with revisions, status and events. The test plays the
//! kubelet.

use std::time::Duration;

use crate::support::{ApiServer, eventually, fake_kubelet, spawn_controller};
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim, Pod};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_controllers::{history, pods, statefulset};

const WITHIN: Duration = Duration::from_secs(30);

fn set(replicas: i32) -> anyhow::Result<StatefulSet> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox:v1"}]},
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}}}}],
        },
    }))?)
}

async fn live_names(pods: &Api<Pod>) -> Vec<String> {
    let mut v: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(pods::is_active)
        .map(|p| p.name_any())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn ordered_identity_claims_scale_and_rolling_update() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _c = spawn_controller(client.clone(), statefulset::run);
    let _kubelet = fake_kubelet(client.clone(), "default", |_| true);
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    sets.create(&PostParams::default(), &set(3)?).await?;

    eventually(WITHIN, "web-0..2 ready", || async {
        let s = sets.get("web").await.ok()?;
        (s.status?.ready_replicas == Some(3)).then_some(())
    })
    .await;
    assert_eq!(live_names(&pods).await, ["web-0", "web-1", "web-2"]);
    // OrderedReady: each pod was created after the previous one.
    let mut created = Vec::new();
    for i in 0..3 {
        let p = pods.get(&format!("web-{i}")).await?;
        let labels = p.labels();
        assert_eq!(
            labels.get(statefulset::POD_INDEX).map(String::as_str),
            Some(i.to_string().as_str())
        );
        let spec = p.spec.clone().unwrap_or_default();
        assert_eq!(spec.hostname, Some(format!("web-{i}")));
        assert_eq!(spec.subdomain.as_deref(), Some("web"));
        created.push(p.metadata.creation_timestamp.map(|t| t.0));
        pvcs.get(&format!("data-web-{i}")).await?;
    }
    assert!(created.windows(2).all(|w| w[0] <= w[1]));
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    eventually(WITHIN, "the SuccessfulCreate event", || async {
        let evs = events.list(&ListParams::default()).await.ok()?;
        evs.items
            .iter()
            .any(|e| e.message.as_deref() == Some("create Pod web-0 in StatefulSet web successful"))
            .then_some(())
    })
    .await;

    // A deleted pod comes back under its name with its claim.
    let old_uid = pods.get("web-1").await?.uid();
    pods.delete("web-1", &DeleteParams::default()).await?;
    eventually(WITHIN, "web-1 recreated", || async {
        let p = pods.get_opt("web-1").await.ok()??;
        (p.uid() != old_uid && pods::is_ready(&p)).then_some(())
    })
    .await;

    // Rolling update: new revision, every pod replaced, status converges.
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "busybox:v2"}]}}}});
    sets.patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let s = eventually(WITHIN, "the rolling update done", || async {
        let s = sets.get("web").await.ok()?;
        let st = s.status.clone()?;
        (st.updated_replicas == Some(3)
            && st.ready_replicas == Some(3)
            && st.current_revision == st.update_revision
            && st.observed_generation == s.metadata.generation)
            .then_some(s)
    })
    .await;
    let update = s.status.and_then(|s| s.update_revision).unwrap_or_default();
    for i in 0..3 {
        let p = pods.get(&format!("web-{i}")).await?;
        let image = p.spec.as_ref().and_then(|s| s.containers[0].image.clone());
        assert_eq!(image.as_deref(), Some("busybox:v2"));
        let hash = p
            .labels()
            .get(history::HASH_LABEL)
            .cloned()
            .unwrap_or_default();
        assert!(update.ends_with(&hash), "{update} vs {hash}");
    }
    let revs: Api<ControllerRevision> = Api::namespaced(client.clone(), "default");
    assert_eq!(revs.list(&ListParams::default()).await?.items.len(), 2);

    // Scale down: highest ordinals go, claims stay (Retain by default).
    sets.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": 1}})),
    )
    .await?;
    eventually(WITHIN, "scaled to web-0", || async {
        (live_names(&pods).await == ["web-0"]).then_some(())
    })
    .await;
    for i in 0..3 {
        pvcs.get(&format!("data-web-{i}")).await?;
    }
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn parallel_creates_all_and_partition_holds_back() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _c = spawn_controller(client.clone(), statefulset::run);
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut s = set(3)?;
    if let Some(spec) = s.spec.as_mut() {
        spec.pod_management_policy = Some("Parallel".into());
        spec.update_strategy = Some(serde_json::from_value(
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}),
        )?);
    }
    sets.create(&PostParams::default(), &s).await?;
    // No kubelet: Parallel does not wait for readiness.
    eventually(WITHIN, "three pods without readiness", || async {
        (live_names(&pods).await.len() == 3).then_some(())
    })
    .await;
    let _kubelet = fake_kubelet(client.clone(), "default", |_| true);
    let patch = json!({"spec": {"template": {"metadata": {"labels": {"app": "web", "v": "2"}}}}});
    sets.patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    eventually(WITHIN, "only web-2 updated", || async {
        let p = pods.get_opt("web-2").await.ok()??;
        (p.labels().get("v").map(String::as_str) == Some("2") && pods::is_ready(&p)).then_some(())
    })
    .await;
    let s = eventually(WITHIN, "status with one updated", || async {
        let s = sets.get("web").await.ok()?;
        (s.status.as_ref()?.updated_replicas == Some(1)).then_some(s)
    })
    .await;
    let st = s.status.unwrap_or_default();
    assert_ne!(st.current_revision, st.update_revision);
    for n in ["web-0", "web-1"] {
        assert!(!pods.get(n).await?.labels().contains_key("v"));
    }
    server.stop().await;
    Ok(())
}
