//! The Deployment controller (with the ReplicaSet controller under it)
//! against a real API server: rolling updates within maxSurge and
//! maxUnavailable, Recreate, rollback, history clean-up, progress deadline,
//! pause, and a controller restart in the middle of a rollout. The test
//! plays the kubelet (no node agent runs here).

use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::{ApiServer, Running, eventually, fake_kubelet, spawn_controller};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use skiff_controllers::deployment::revision::{HASH_LABEL, REVISION, REVISION_HISTORY};
use skiff_controllers::{owner, pods};

const WITHIN: Duration = Duration::from_secs(20);
const V1: &str = "localhost/skiff/hello-http:v1";
const V2: &str = "localhost/skiff/hello-http:v2";
const V3: &str = "localhost/skiff/hello-http:v3";

fn deployment(name: &str, replicas: i32, image: &str, extra: Value) -> anyhow::Result<Deployment> {
    let mut v = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    });
    if let (Some(spec), Some(extra)) = (v["spec"].as_object_mut(), extra.as_object()) {
        for (k, x) in extra {
            spec.insert(k.clone(), x.clone());
        }
    }
    Ok(serde_json::from_value(v)?)
}

struct Env {
    server: ApiServer,
    client: kube::Client,
    deploys: Api<Deployment>,
    rss: Api<ReplicaSet>,
    pods: Api<Pod>,
}

impl Env {
    async fn start() -> anyhow::Result<Env> {
        let server = ApiServer::start().await?;
        let client = server.client();
        Ok(Env {
            deploys: Api::namespaced(client.clone(), "default"),
            rss: Api::namespaced(client.clone(), "default"),
            pods: Api::namespaced(client.clone(), "default"),
            client,
            server,
        })
    }

    /// Both controllers a Deployment needs, as `skiff up` runs them.
    fn controllers(&self) -> (Running, Running) {
        (
            spawn_controller(self.client.clone(), skiff_controllers::replicaset::run),
            spawn_controller(self.client.clone(), skiff_controllers::deployment::run),
        )
    }

    async fn set_image(&self, name: &str, image: &str) -> anyhow::Result<()> {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}});
        self.deploys
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }

    /// The ReplicaSets `name` controls, oldest revision first.
    async fn replica_sets(&self, name: &str) -> Vec<ReplicaSet> {
        let Ok(d) = self.deploys.get(name).await else {
            return Vec::new();
        };
        let uid = d.uid().unwrap_or_default();
        let mut out: Vec<ReplicaSet> = self
            .rss
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
            .into_iter()
            .filter(|rs| owner::is_controlled_by(&rs.metadata, &uid))
            .collect();
        out.sort_by_key(revision);
        out
    }

    async fn active_pods(&self) -> Vec<Pod> {
        self.pods
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
            .into_iter()
            .filter(pods::is_active)
            .collect()
    }

    /// Waits for `kubectl rollout status`'s notion of done.
    async fn complete(&self, name: &str) -> Deployment {
        eventually(WITHIN, &format!("rollout of {name}"), || async {
            let d = self.deploys.get(name).await.ok()?;
            let want = d.spec.as_ref()?.replicas?;
            let s = d.status.clone()?;
            let progressed = progressing_reason(&d).as_deref() == Some("NewReplicaSetAvailable");
            (s.observed_generation >= d.metadata.generation
                && s.updated_replicas == Some(want)
                && s.replicas == Some(want)
                && s.available_replicas == Some(want)
                && progressed)
                .then_some(d)
        })
        .await
    }
}

fn revision(rs: &ReplicaSet) -> i64 {
    rs.annotations()
        .get(REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn image_of(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

fn progressing_reason(d: &Deployment) -> Option<String> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Progressing")?
        .reason
        .clone()
}

#[tokio::test]
async fn rolling_update_stays_within_surge_and_unavailable() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let _c = env.controllers();
    let _kubelet = fake_kubelet(env.client.clone(), "default", |_| true);
    let strategy = json!({"strategy": {"type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}});
    env.deploys
        .create(&PostParams::default(), &deployment("web", 4, V1, strategy)?)
        .await?;
    let d = env.complete("web").await;
    assert_eq!(d.annotations().get(REVISION).map(String::as_str), Some("1"));

    env.set_image("web", V2).await?;
    let (max_total, min_ready) = (Cell::new(0), Cell::new(usize::MAX));
    let (max_total, min_ready, env_ref) = (&max_total, &min_ready, &env);
    eventually(WITHIN, "the rolling update", || async move {
        let env = env_ref;
        let pods = env.active_pods().await;
        max_total.set(max_total.get().max(pods.len()));
        min_ready.set(
            min_ready
                .get()
                .min(pods.iter().filter(|p| pods::is_ready(p)).count()),
        );
        let done = pods.len() == 4 && pods.iter().all(|p| image_of(p) == V2);
        let d = env.deploys.get("web").await.ok()?;
        (done
            && progressing_reason(&d).as_deref() == Some("NewReplicaSetAvailable")
            && d.status.as_ref()?.observed_generation >= d.metadata.generation)
            .then_some(())
    })
    .await;
    let (max_total, min_ready) = (max_total.get(), min_ready.get());
    assert!(max_total <= 5, "above replicas + maxSurge: {max_total}");
    assert!(
        min_ready >= 3,
        "below replicas - maxUnavailable: {min_ready}"
    );

    let d = env.complete("web").await;
    assert_eq!(d.annotations().get(REVISION).map(String::as_str), Some("2"));
    let s = d.status.clone().unwrap_or_default();
    assert_eq!(
        (s.ready_replicas, s.unavailable_replicas),
        (Some(4), Some(0))
    );
    let available = s
        .conditions
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Available")
        .map(|c| (c.status, c.reason.unwrap_or_default()));
    assert_eq!(
        available,
        Some(("True".into(), "MinimumReplicasAvailable".into()))
    );
    let rss = env.replica_sets("web").await;
    assert_eq!(rss.len(), 2);
    let (old, new) = (&rss[0], &rss[1]);
    assert_eq!((revision(old), revision(new)), (1, 2));
    let hash = new.labels().get(HASH_LABEL).cloned().unwrap_or_default();
    assert_eq!(new.name_any(), format!("web-{hash}"));
    let spec = new.spec.clone().unwrap_or_default();
    assert_eq!(
        spec.selector
            .match_labels
            .unwrap_or_default()
            .get(HASH_LABEL),
        Some(&hash)
    );
    assert_eq!(old.spec.as_ref().and_then(|s| s.replicas), Some(0));
    let ann = new.annotations();
    assert_eq!(
        ann.get("deployment.kubernetes.io/desired-replicas")
            .map(String::as_str),
        Some("4")
    );
    assert_eq!(
        ann.get("deployment.kubernetes.io/max-replicas")
            .map(String::as_str),
        Some("5")
    );

    // Scaling is not a rollout: same ReplicaSet, no new revision.
    env.deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 6}})),
        )
        .await?;
    env.complete("web").await;
    assert_eq!(env.replica_sets("web").await.len(), 2);
    assert_eq!(env.active_pods().await.len(), 6);

    let events: Api<Event> = Api::namespaced(env.client.clone(), "default");
    let msgs: Vec<String> = events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("ScalingReplicaSet"))
        .filter_map(|e| e.message)
        .collect();
    assert!(
        msgs.iter()
            .any(|m| m == &format!("Scaled up replica set {} from 0 to 1", new.name_any())),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.starts_with(&format!("Scaled down replica set {}", old.name_any()))),
        "{msgs:?}"
    );
    env.server.stop().await;
    Ok(())
}

#[tokio::test]
async fn recreate_stops_every_old_pod_before_new_ones() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let _c = env.controllers();
    let _kubelet = fake_kubelet(env.client.clone(), "default", |_| true);
    let strategy = json!({"strategy": {"type": "Recreate"}});
    env.deploys
        .create(&PostParams::default(), &deployment("re", 3, V1, strategy)?)
        .await?;
    env.complete("re").await;
    env.set_image("re", V2).await?;
    let mixed = Cell::new(false);
    let (mixed_ref, env_ref) = (&mixed, &env);
    eventually(WITHIN, "the recreate rollout", || async move {
        let env = env_ref;
        let pods = env.active_pods().await;
        let images: BTreeSet<String> = pods.iter().map(image_of).collect();
        mixed_ref.set(mixed_ref.get() || images.len() > 1);
        let d = env.deploys.get("re").await.ok()?;
        (pods.len() == 3
            && images.len() == 1
            && images.contains(V2)
            && progressing_reason(&d).as_deref() == Some("NewReplicaSetAvailable"))
        .then_some(())
    })
    .await;
    assert!(!mixed.get(), "old and new pods ran together");
    env.server.stop().await;
    Ok(())
}

#[tokio::test]
async fn rollback_reuses_the_old_replica_set() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let _c = env.controllers();
    let _kubelet = fake_kubelet(env.client.clone(), "default", |_| true);
    env.deploys
        .create(&PostParams::default(), &deployment("rb", 2, V1, json!({}))?)
        .await?;
    env.complete("rb").await;
    let first = env.replica_sets("rb").await.remove(0);
    env.set_image("rb", V2).await?;
    env.complete("rb").await;

    // What `kubectl rollout undo` does: the template of the old
    // ReplicaSet, without its hash label, patched onto the Deployment.
    let mut template = serde_json::to_value(first.spec.clone().unwrap_or_default().template)?;
    if let Some(labels) = template["metadata"]["labels"].as_object_mut() {
        labels.remove(HASH_LABEL);
    }
    env.deploys
        .patch(
            "rb",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": template}})),
        )
        .await?;
    let d = eventually(WITHIN, "the rollback", || async {
        let d = env.deploys.get("rb").await.ok()?;
        (d.annotations().get(REVISION).map(String::as_str) == Some("3")).then_some(d)
    })
    .await;
    env.complete("rb").await;
    let rss = env.replica_sets("rb").await;
    assert_eq!(rss.len(), 2, "no new ReplicaSet for an old template");
    let reused = &rss[1];
    assert_eq!(reused.name_any(), first.name_any());
    assert_eq!(revision(reused), 3);
    assert_eq!(
        reused
            .annotations()
            .get(REVISION_HISTORY)
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(reused.spec.as_ref().and_then(|s| s.replicas), Some(2));
    assert_eq!(d.name_any(), "rb");
    env.server.stop().await;
    Ok(())
}

#[tokio::test]
async fn revision_history_limit_removes_old_replica_sets() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let _c = env.controllers();
    let _kubelet = fake_kubelet(env.client.clone(), "default", |_| true);
    env.deploys
        .create(
            &PostParams::default(),
            &deployment("hist", 1, V1, json!({"revisionHistoryLimit": 1}))?,
        )
        .await?;
    env.complete("hist").await;
    for image in [V2, V3] {
        env.set_image("hist", image).await?;
        env.complete("hist").await;
    }
    let rss = eventually(WITHIN, "history clean-up", || async {
        let rss = env.replica_sets("hist").await;
        (rss.len() == 2).then_some(rss)
    })
    .await;
    assert_eq!(rss.iter().map(revision).collect::<Vec<_>>(), [2, 3]);
    env.server.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_stuck_rollout_exceeds_its_progress_deadline() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let _c = env.controllers();
    // New pods never become ready.
    let _kubelet = fake_kubelet(env.client.clone(), "default", |p| image_of(p) == V1);
    env.deploys
        .create(
            &PostParams::default(),
            &deployment("stuck", 2, V1, json!({"progressDeadlineSeconds": 2}))?,
        )
        .await?;
    env.complete("stuck").await;
    env.set_image("stuck", V2).await?;
    let d = eventually(WITHIN, "ProgressDeadlineExceeded", || async {
        let d = env.deploys.get("stuck").await.ok()?;
        (progressing_reason(&d).as_deref() == Some("ProgressDeadlineExceeded")).then_some(d)
    })
    .await;
    let c = d
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Progressing");
    assert_eq!(c.map(|c| c.status).as_deref(), Some("False"));
    // Old pods stay: a stuck rollout does not take capacity away.
    let ready = env
        .active_pods()
        .await
        .iter()
        .filter(|p| pods::is_ready(p))
        .count();
    assert_eq!(ready, 2);
    env.server.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_paused_deployment_scales_but_does_not_roll_out() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let _c = env.controllers();
    let _kubelet = fake_kubelet(env.client.clone(), "default", |_| true);
    env.deploys
        .create(&PostParams::default(), &deployment("p", 2, V1, json!({}))?)
        .await?;
    env.complete("p").await;
    env.deploys
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"paused": true}})),
        )
        .await?;
    eventually(WITHIN, "DeploymentPaused", || async {
        let d = env.deploys.get("p").await.ok()?;
        (progressing_reason(&d).as_deref() == Some("DeploymentPaused")).then_some(())
    })
    .await;
    env.set_image("p", V2).await?;
    env.deploys
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await?;
    eventually(WITHIN, "the paused deployment scaled", || async {
        let d = env.deploys.get("p").await.ok()?;
        let s = d.status.clone()?;
        (s.observed_generation >= d.metadata.generation && s.available_replicas == Some(3))
            .then_some(())
    })
    .await;
    let rss = env.replica_sets("p").await;
    assert_eq!(rss.len(), 1, "paused: no new ReplicaSet");
    assert!(env.active_pods().await.iter().all(|p| image_of(p) == V1));

    env.deploys
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"paused": false}})),
        )
        .await?;
    env.complete("p").await;
    assert!(env.active_pods().await.iter().all(|p| image_of(p) == V2));
    assert_eq!(env.replica_sets("p").await.len(), 2);
    env.server.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_restarted_controller_finishes_the_rollout_without_duplicates() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let controllers = env.controllers();
    // New pods stay unready until the controllers are down, so the
    // restart lands in the middle of the rollout (maxUnavailable 0 holds
    // it there).
    let go = Arc::new(AtomicBool::new(false));
    let flag = go.clone();
    let _kubelet = fake_kubelet(env.client.clone(), "default", move |p| {
        image_of(p) == V1 || flag.load(Ordering::SeqCst)
    });
    let strategy = json!({"strategy": {"type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}});
    env.deploys
        .create(&PostParams::default(), &deployment("rs", 5, V1, strategy)?)
        .await?;
    env.complete("rs").await;
    env.set_image("rs", V2).await?;
    eventually(WITHIN, "the rollout to start", || async {
        let n = env
            .active_pods()
            .await
            .iter()
            .filter(|p| image_of(p) == V2)
            .count();
        (n >= 1).then_some(())
    })
    .await;
    let mid = env.replica_sets("rs").await;
    assert_eq!(mid.len(), 2);
    assert!(
        mid.iter()
            .all(|rs| rs.spec.as_ref().and_then(|s| s.replicas) > Some(0)),
        "mid-rollout: both ReplicaSets have pods"
    );
    drop(controllers);
    go.store(true, Ordering::SeqCst);
    let _again = env.controllers();
    env.complete("rs").await;
    let rss = env.replica_sets("rs").await;
    assert_eq!(
        rss.len(),
        2,
        "{:?}",
        rss.iter().map(ResourceExt::name_any).collect::<Vec<_>>()
    );
    let all: Vec<ReplicaSet> = env.rss.list(&ListParams::default()).await?.items;
    assert_eq!(all.len(), 2, "no stray ReplicaSets");
    let pods = env.active_pods().await;
    assert_eq!(pods.len(), 5);
    assert!(pods.iter().all(|p| image_of(p) == V2));
    env.server.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_hash_collision_bumps_the_collision_count() -> anyhow::Result<()> {
    let env = Env::start().await?;
    // Paused and new: nothing is created yet, so the name can be taken.
    let d = env
        .deploys
        .create(
            &PostParams::default(),
            &deployment("col", 1, V1, json!({"paused": true}))?,
        )
        .await?;
    let template = d.spec.clone().unwrap_or_default().template;
    let hash = skiff_controllers::deployment::revision::compute_hash(&template, None);
    let squatter: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": format!("col-{hash}"), "labels": {"app": "squatter"}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "squatter"}},
            "template": {
                "metadata": {"labels": {"app": "squatter"}},
                "spec": {"containers": [{"name": "c", "image": V2}]},
            },
        },
    }))?;
    env.rss.create(&PostParams::default(), &squatter).await?;
    let _c = env.controllers();
    let _kubelet = fake_kubelet(env.client.clone(), "default", |_| true);
    env.deploys
        .patch(
            "col",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"paused": false}})),
        )
        .await?;
    let d = env.complete("col").await;
    assert_eq!(d.status.and_then(|s| s.collision_count), Some(1));
    let rss = env.replica_sets("col").await;
    assert_eq!(rss.len(), 1);
    let name = rss[0].name_any();
    assert_ne!(name, format!("col-{hash}"));
    let new_hash = skiff_controllers::deployment::revision::compute_hash(&template, Some(1));
    assert_eq!(name, format!("col-{new_hash}"));
    env.server.stop().await;
    Ok(())
}

#[tokio::test]
async fn scaling_mid_rollout_is_proportional() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let _c = env.controllers();
    // The new pods never become ready, so the rollout stops half way.
    let _kubelet = fake_kubelet(env.client.clone(), "default", |p| image_of(p) == V1);
    let strategy = json!({"strategy": {"type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}});
    env.deploys
        .create(
            &PostParams::default(),
            &deployment("prop", 10, V1, strategy)?,
        )
        .await?;
    env.complete("prop").await;
    env.set_image("prop", V2).await?;
    let sizes = |rss: &[ReplicaSet]| -> Vec<i32> {
        rss.iter()
            .map(|rs| rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0))
            .collect()
    };
    // Kubernetes' arithmetic: new 3 (surge), old 8 (unavailable), new 5.
    eventually(WITHIN, "the rollout to stall at 8 old, 5 new", || async {
        let rss = env.replica_sets("prop").await;
        (sizes(&rss) == [8, 5]).then_some(())
    })
    .await;
    env.deploys
        .patch(
            "prop",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 20}})),
        )
        .await?;
    // 20 + 3 surge = 23 spread by each one's share of the old 13:
    // round(8 * 23 / 13) = 14 and the remaining 9.
    eventually(WITHIN, "proportional scaling to 14 and 9", || async {
        let rss = env.replica_sets("prop").await;
        (sizes(&rss) == [14, 9]).then_some(())
    })
    .await;
    env.server.stop().await;
    Ok(())
}
