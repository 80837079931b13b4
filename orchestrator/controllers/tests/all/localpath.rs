//! The local-path provisioner against a real API server and the real
//! scheduler: default class, delayed provisioning on the selected node,
//! binding, reclaim on claim deletion, and static binding.

use std::time::Duration;

use crate::support::{ApiServer, eventually, spawn_controller};
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_controllers::localpath;

const WITHIN: Duration = Duration::from_secs(20);

async fn add_node(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
    }))?;
    nodes.create(&PostParams::default(), &node).await?;
    let status = json!({"status": {
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True"}],
    }});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

fn claim(name: &str, class: Option<&str>, size: &str) -> anyhow::Result<PersistentVolumeClaim> {
    let mut v = json!({
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    });
    if let Some(c) = class {
        v["spec"]["storageClassName"] = c.into();
    }
    Ok(serde_json::from_value(v)?)
}

fn phase(pvc: &PersistentVolumeClaim) -> Option<&str> {
    pvc.status.as_ref().and_then(|s| s.phase.as_deref())
}

#[tokio::test]
async fn provisions_on_the_scheduled_node_binds_and_reclaims() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    add_node(&client, "node-a").await?;
    let _lp = spawn_controller(client.clone(), localpath::run);
    let scheduler = skiff_scheduler::Scheduler::new(client.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sched = tokio::spawn(scheduler.run(async move {
        let _ = stop_rx.await;
    }));

    let classes: Api<StorageClass> = Api::all(client.clone());
    let class = eventually(WITHIN, "the local-path class", || async {
        classes.get_opt(localpath::CLASS).await.ok().flatten()
    })
    .await;
    assert_eq!(class.provisioner, localpath::PROVISIONER);
    assert_eq!(
        class.volume_binding_mode.as_deref(),
        Some("WaitForFirstConsumer")
    );

    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    pvcs.create(&PostParams::default(), &claim("data", None, "1Gi")?)
        .await?;
    // The default class is filled in; nothing is provisioned before a pod.
    eventually(WITHIN, "the default class on the claim", || async {
        let c = pvcs.get("data").await.ok()?;
        (c.spec.as_ref()?.storage_class_name.as_deref() == Some(localpath::CLASS)).then_some(())
    })
    .await;
    assert!(pvs.list(&Default::default()).await?.items.is_empty());
    assert_eq!(phase(&pvcs.get("data").await?), Some("Pending").or(None));

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "user"},
        "spec": {
            "containers": [{"name": "c", "image": "busybox",
                "volumeMounts": [{"name": "d", "mountPath": "/data"}]}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
        },
    }))?;
    pods.create(&PostParams::default(), &pod).await?;
    let bound = eventually(WITHIN, "the claim bound", || async {
        let c = pvcs.get("data").await.ok()?;
        (phase(&c) == Some("Bound")).then_some(c)
    })
    .await;
    assert_eq!(
        bound
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(localpath::SELECTED_NODE))
            .map(String::as_str),
        Some("node-a")
    );
    let uid = bound.metadata.uid.clone().unwrap_or_default();
    let pv_name = format!("pvc-{uid}");
    assert_eq!(
        bound.spec.as_ref().and_then(|s| s.volume_name.as_deref()),
        Some(pv_name.as_str())
    );
    let status = bound.status.clone().unwrap_or_default();
    assert_eq!(
        status
            .capacity
            .and_then(|c| c.get("storage").cloned())
            .map(|q| q.0),
        Some("1Gi".to_owned())
    );
    assert_eq!(status.access_modes, Some(vec!["ReadWriteOnce".to_owned()]));
    let pv = eventually(WITHIN, "the volume bound", || async {
        let pv = pvs.get(&pv_name).await.ok()?;
        (pv.status.as_ref()?.phase.as_deref() == Some("Bound")).then_some(pv)
    })
    .await;
    let spec = pv.spec.clone().unwrap_or_default();
    assert_eq!(
        spec.host_path.map(|h| h.path),
        Some(format!("/var/lib/skiff/storage/pvc-{uid}_default_data"))
    );
    assert_eq!(
        spec.persistent_volume_reclaim_policy.as_deref(),
        Some("Delete")
    );
    let scheduled = pods.get("user").await?;
    assert_eq!(
        scheduled.spec.and_then(|s| s.node_name).as_deref(),
        Some("node-a")
    );

    // Claim deleted → reclaim policy Delete removes the volume.
    pods.delete("user", &DeleteParams::default()).await?;
    pvcs.delete("data", &DeleteParams::default()).await?;
    eventually(WITHIN, "the volume deleted", || async {
        pvs.get_opt(&pv_name)
            .await
            .ok()
            .and_then(|p| p.is_none().then_some(()))
    })
    .await;

    let _ = stop_tx.send(());
    let _ = sched.await;
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn binds_claims_to_precreated_volumes() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _lp = spawn_controller(client.clone(), localpath::run);
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    for (name, size) in [("pv-small", "1Gi"), ("pv-big", "10Gi")] {
        let pv: PersistentVolume = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"storageClassName": "manual", "accessModes": ["ReadWriteOnce"],
                "capacity": {"storage": size},
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": format!("/tmp/{name}")}},
        }))?;
        pvs.create(&PostParams::default(), &pv).await?;
    }
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    pvcs.create(
        &PostParams::default(),
        &claim("static", Some("manual"), "500Mi")?,
    )
    .await?;
    let bound = eventually(WITHIN, "the static claim bound", || async {
        let c = pvcs.get("static").await.ok()?;
        (phase(&c) == Some("Bound")).then_some(c)
    })
    .await;
    assert_eq!(
        bound.spec.and_then(|s| s.volume_name).as_deref(),
        Some("pv-small")
    );
    // Retain: the volume outlives its claim as Released.
    pvcs.delete("static", &DeleteParams::default()).await?;
    eventually(WITHIN, "the volume released", || async {
        let pv = pvs.get("pv-small").await.ok()?;
        (pv.status?.phase.as_deref() == Some("Released")).then_some(())
    })
    .await;
    server.stop().await;
    Ok(())
}
