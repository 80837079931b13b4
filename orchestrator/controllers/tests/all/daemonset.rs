//! The DaemonSet controller against a real API server: one pod per
//! eligible node (selectors, taints), pods pinned by node affinity,
//! ControllerRevisions, RollingUpdate, rollback, OnDelete, status and
//! events. Nodes are registered by hand; the test binds pods (as the
//! scheduler would) and marks them ready (as the kubelet would).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::{
    ApiServer, eventually, fake_binder, fake_kubelet, fake_reaper, register_node, spawn_controller,
};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_controllers::daemonset::TEMPLATE_GENERATION_LABEL;
use skiff_controllers::history::HASH_LABEL;
use skiff_controllers::{owner, pods};

const WITHIN: Duration = Duration::from_secs(30);

fn daemon_set(name: &str, strategy: serde_json::Value) -> anyhow::Result<DaemonSet> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "updateStrategy": strategy,
            "revisionHistoryLimit": 2,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "nodeSelector": {"role": "worker"},
                    "containers": [{"name": "c", "image": "localhost/skiff/hello-http:v1"}],
                },
            },
        },
    }))?)
}

/// The active pods `ds` controls, by node.
async fn pods_by_node(pods: &Api<Pod>, ds: &DaemonSet) -> Vec<(String, Pod)> {
    let uid = ds.uid().unwrap_or_default();
    let mut out: Vec<(String, Pod)> = pods
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| owner::is_controlled_by(&p.metadata, &uid) && pods::is_active(p))
        .map(|p| {
            (
                skiff_controllers::daemonset::nodes::target_node(&p).unwrap_or_default(),
                p,
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Waits until exactly `nodes` run one ready pod each of revision `hash`
/// (any hash when `None`) and no other pod is left.
async fn wait_pods(
    pods: &Api<Pod>,
    ds: &DaemonSet,
    nodes: &[&str],
    hash: Option<&str>,
) -> Vec<(String, Pod)> {
    let want: Vec<String> = nodes.iter().map(|s| (*s).to_owned()).collect();
    eventually(
        WITHIN,
        &format!("pods of {} on {want:?}", ds.name_any()),
        || async {
            let ps = pods_by_node(pods, ds).await;
            let on: Vec<String> = ps.iter().map(|(n, _)| n.clone()).collect();
            let ok = on == want
                && ps.iter().all(|(_, p)| {
                    pods::is_ready(p)
                        && hash.is_none_or(|h| {
                            p.labels().get(HASH_LABEL).map(String::as_str) == Some(h)
                        })
                });
            ok.then_some(ps)
        },
    )
    .await
}

async fn revisions(api: &Api<ControllerRevision>) -> Vec<(i64, String)> {
    let mut v: Vec<(i64, String)> = api
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            (
                r.revision,
                r.labels().get(HASH_LABEL).cloned().unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn one_pod_per_eligible_node() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let worker = json!({"role": "worker"});
    register_node(&client, "n1", worker.clone(), json!([])).await?;
    register_node(&client, "n2", worker.clone(), json!([])).await?;
    register_node(&client, "other", json!({"role": "db"}), json!([])).await?;
    register_node(
        &client,
        "tainted",
        worker.clone(),
        json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
    )
    .await?;
    // Cordoned and under memory pressure: the automatic tolerations apply.
    register_node(
        &client,
        "cordoned",
        worker.clone(),
        json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
               {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}]),
    )
    .await?;
    let _dsc = spawn_controller(client.clone(), skiff_controllers::daemonset::run);
    let _binder = fake_binder(client.clone(), "default");
    let _kubelet = fake_kubelet(client.clone(), "default", |p| {
        p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some()
    });
    let dss: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let nodes: Api<Node> = Api::all(client.clone());

    let ds = dss
        .create(
            &PostParams::default(),
            &daemon_set("agent", json!({"type": "RollingUpdate"}))?,
        )
        .await?;
    let placed = wait_pods(&pods, &ds, &["cordoned", "n1", "n2"], None).await;
    for (node, p) in &placed {
        let spec = p.spec.clone().unwrap_or_default();
        assert_eq!(
            spec.node_name.as_deref(),
            Some(node.as_str()),
            "bound by the scheduler"
        );
        let field = spec
            .affinity
            .and_then(|a| a.node_affinity)
            .and_then(|a| a.required_during_scheduling_ignored_during_execution)
            .map(|r| {
                r.node_selector_terms[0]
                    .match_fields
                    .clone()
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        assert_eq!(field[0].key, "metadata.name");
        assert_eq!(field[0].values.as_deref(), Some(&[node.clone()][..]));
        let tolerated: BTreeSet<String> = spec
            .tolerations
            .unwrap_or_default()
            .iter()
            .filter_map(|t| Some(format!("{}:{}", t.key.clone()?, t.effect.clone()?)))
            .collect();
        for t in [
            "node.kubernetes.io/not-ready:NoExecute",
            "node.kubernetes.io/unreachable:NoExecute",
            "node.kubernetes.io/disk-pressure:NoSchedule",
            "node.kubernetes.io/memory-pressure:NoSchedule",
            "node.kubernetes.io/pid-pressure:NoSchedule",
            "node.kubernetes.io/unschedulable:NoSchedule",
        ] {
            assert!(tolerated.contains(t), "missing {t} in {tolerated:?}");
        }
        assert!(p.labels().contains_key(HASH_LABEL));
        assert_eq!(
            p.labels()
                .get(TEMPLATE_GENERATION_LABEL)
                .map(String::as_str),
            Some("1"),
            "pods carry the DaemonSet's generation"
        );
    }
    let revs: Api<ControllerRevision> = Api::namespaced(client.clone(), "default");
    let rs = revisions(&revs).await;
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].0, 1);
    assert_eq!(
        placed[0].1.labels().get(HASH_LABEL),
        Some(&rs[0].1),
        "pods carry the revision's hash"
    );

    let st = eventually(WITHIN, "status", || async {
        let d = dss.get("agent").await.ok()?;
        let s = d.status?;
        (s.number_available == Some(3) && s.observed_generation == d.metadata.generation)
            .then_some(s)
    })
    .await;
    assert_eq!(
        (
            st.desired_number_scheduled,
            st.current_number_scheduled,
            st.number_ready,
            st.updated_number_scheduled,
            st.number_unavailable,
            st.number_misscheduled,
        ),
        (3, 3, 3, Some(3), Some(0), 0)
    );

    // A node joins; a node stops matching the selector.
    register_node(&client, "n3", worker.clone(), json!([])).await?;
    nodes
        .patch(
            "n1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"role": "db"}}})),
        )
        .await?;
    wait_pods(&pods, &ds, &["cordoned", "n2", "n3"], None).await;

    // A NoExecute taint the daemon does not tolerate evicts it.
    nodes
        .patch(
            "n2",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"taints": [{"key": "drain", "effect": "NoExecute"}]}})),
        )
        .await?;
    wait_pods(&pods, &ds, &["cordoned", "n3"], None).await;

    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let reasons: BTreeSet<String> = eventually(WITHIN, "events", || async {
        let evs = events.list(&ListParams::default()).await.ok()?.items;
        let r: BTreeSet<String> = evs
            .iter()
            .filter(|e| {
                e.source.as_ref().and_then(|s| s.component.as_deref())
                    == Some("daemonset-controller")
            })
            .filter_map(|e| e.reason.clone())
            .collect();
        (r.contains("SuccessfulCreate") && r.contains("SuccessfulDelete")).then_some(r)
    })
    .await;
    assert!(reasons.contains("SuccessfulCreate"));
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn rolling_update_rollback_and_history_limit() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    for n in ["n1", "n2", "n3"] {
        register_node(&client, n, json!({"role": "worker"}), json!([])).await?;
    }
    let _dsc = spawn_controller(client.clone(), skiff_controllers::daemonset::run);
    let _reaper = fake_reaper(client.clone(), "default");
    let _binder = fake_binder(client.clone(), "default");
    let _kubelet = fake_kubelet(client.clone(), "default", |p| {
        p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some()
    });
    let dss: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let revs: Api<ControllerRevision> = Api::namespaced(client.clone(), "default");
    let ds = dss
        .create(
            &PostParams::default(),
            &daemon_set(
                "web",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}),
            )?,
        )
        .await?;
    let all = ["n1", "n2", "n3"];
    wait_pods(&pods, &ds, &all, None).await;
    let v1 = revisions(&revs).await[0].1.clone();

    let set_image = |image: &'static str| json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}});
    dss.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(set_image("localhost/skiff/hello-http:v2")),
    )
    .await?;
    let v2 = eventually(WITHIN, "revision 2", || async {
        let r = revisions(&revs).await;
        (r.len() == 2).then(|| r[1].1.clone())
    })
    .await;
    assert_ne!(v1, v2);
    // maxUnavailable 1: never fewer than 2 ready pods on the way.
    let min_ready = std::sync::atomic::AtomicUsize::new(usize::MAX);
    eventually(WITHIN, "rolled to v2", || async {
        let ps = pods_by_node(&pods, &ds).await;
        let ready = ps.iter().filter(|(_, p)| pods::is_ready(p)).count();
        min_ready.fetch_min(ready, std::sync::atomic::Ordering::Relaxed);
        let done = ps.len() == 3
            && ps.iter().all(|(_, p)| {
                pods::is_ready(p)
                    && p.labels().get(HASH_LABEL) == Some(&v2)
                    && p.labels()
                        .get(TEMPLATE_GENERATION_LABEL)
                        .map(String::as_str)
                        == Some("2")
            });
        done.then_some(())
    })
    .await;
    let min_ready = min_ready.into_inner();
    assert!(
        min_ready >= 2,
        "at most one unavailable, saw {min_ready} ready"
    );
    eventually(WITHIN, "updated status", || async {
        let s = dss.get("web").await.ok()?.status?;
        (s.updated_number_scheduled == Some(3) && s.number_available == Some(3)).then_some(())
    })
    .await;

    // Back to v1: the old revision is reused and becomes revision 3.
    dss.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(set_image("localhost/skiff/hello-http:v1")),
    )
    .await?;
    wait_pods(&pods, &ds, &all, Some(&v1)).await;
    let r = revisions(&revs).await;
    assert_eq!(r, vec![(2, v2.clone()), (3, v1.clone())]);

    // Two more templates with a history limit of 2: the oldest goes.
    for image in [
        "localhost/skiff/hello-http:v3",
        "localhost/skiff/hello-http:v4",
    ] {
        dss.patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(set_image(image)),
        )
        .await?;
        eventually(WITHIN, image, || async {
            let ps = pods_by_node(&pods, &ds).await;
            let img = |p: &Pod| {
                p.spec
                    .as_ref()
                    .and_then(|s| s.containers[0].image.clone())
                    .unwrap_or_default()
            };
            (ps.len() == 3 && ps.iter().all(|(_, p)| pods::is_ready(p) && img(p) == image))
                .then_some(())
        })
        .await;
    }
    let nums: Vec<i64> = eventually(WITHIN, "history pruned", || async {
        let r = revisions(&revs).await;
        (r.len() == 3).then(|| r.iter().map(|x| x.0).collect())
    })
    .await;
    assert_eq!(nums, vec![3, 4, 5]);
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn on_delete_waits_for_the_user() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    for n in ["n1", "n2"] {
        register_node(&client, n, json!({"role": "worker"}), json!([])).await?;
    }
    let _dsc = spawn_controller(client.clone(), skiff_controllers::daemonset::run);
    let _binder = fake_binder(client.clone(), "default");
    let _kubelet = fake_kubelet(client.clone(), "default", |p| {
        p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some()
    });
    let dss: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let ds = dss
        .create(
            &PostParams::default(),
            &daemon_set("od", json!({"type": "OnDelete"}))?,
        )
        .await?;
    let before = wait_pods(&pods, &ds, &["n1", "n2"], None).await;
    let old = before[0].1.labels().get(HASH_LABEL).cloned();
    dss.patch(
        "od",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"spec": {"template": {"metadata": {"labels": {"app": "od", "v": "2"}}}}}),
        ),
    )
    .await?;
    eventually(WITHIN, "status sees the new revision", || async {
        let d = dss.get("od").await.ok()?;
        let s = d.status?;
        (s.observed_generation == d.metadata.generation && s.updated_number_scheduled == Some(0))
            .then_some(())
    })
    .await;
    // Nothing was replaced.
    let still = pods_by_node(&pods, &ds).await;
    assert_eq!(still.len(), 2);
    assert!(
        still
            .iter()
            .all(|(_, p)| p.labels().get(HASH_LABEL) == old.as_ref())
    );
    // The user deletes one: its replacement has the new template.
    pods.delete(
        &before[0].1.name_any(),
        &DeleteParams::default().grace_period(0),
    )
    .await?;
    let after = eventually(WITHIN, "replacement on n1", || async {
        let ps = pods_by_node(&pods, &ds).await;
        ps.into_iter()
            .find(|(n, p)| n == "n1" && p.labels().get("v").map(String::as_str) == Some("2"))
    })
    .await;
    assert_ne!(after.1.labels().get(HASH_LABEL), old.as_ref());
    server.stop().await;
    Ok(())
}
