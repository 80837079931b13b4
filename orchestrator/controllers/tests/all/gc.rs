//! The garbage collector against a real API server: background, foreground
//! and orphan deletion, several owners, owners in another namespace, and
//! CRD kinds as owners and dependents.

use std::time::Duration;

use crate::support::{ApiServer, eventually, spawn_controller};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::{Resource, ResourceExt};
use serde_json::json;

const WITHIN: Duration = Duration::from_secs(20);

/// A reference to `owner`, blocking its foreground deletion if `block`.
fn reference<K: Resource<DynamicType = ()>>(owner: &K, block: bool) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.name_any(),
        uid: owner.uid().unwrap_or_default(),
        controller: None,
        block_owner_deletion: block.then_some(true),
    }
}

async fn config_map(
    api: &Api<ConfigMap>,
    name: &str,
    owners: Vec<OwnerReference>,
    finalizers: Vec<String>,
) -> anyhow::Result<ConfigMap> {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    cm.metadata.owner_references = (!owners.is_empty()).then_some(owners);
    cm.metadata.finalizers = (!finalizers.is_empty()).then_some(finalizers);
    Ok(api.create(&PostParams::default(), &cm).await?)
}

/// Waits until `name` is gone from `api`.
async fn gone<K>(api: &Api<K>, name: &str)
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(WITHIN, &format!("{name} to be deleted"), || async {
        matches!(api.get_opt(name).await, Ok(None)).then_some(())
    })
    .await;
}

async fn delete_with(api: &Api<ConfigMap>, name: &str, dp: &DeleteParams) -> anyhow::Result<()> {
    api.delete(name, dp).await?;
    Ok(())
}

#[tokio::test]
async fn dependents_of_a_deleted_owner_are_deleted_in_the_background() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _gc = spawn_controller(client.clone(), skiff_controllers::gc::run);
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "default");
    let secrets = Api::<Secret>::namespaced(client.clone(), "default");
    let owner = config_map(&cms, "owner", vec![], vec![]).await?;
    let child = config_map(&cms, "child", vec![reference(&owner, false)], vec![]).await?;
    let mut grandchild = Secret::default();
    grandchild.metadata.name = Some("grandchild".into());
    grandchild.metadata.owner_references = Some(vec![reference(&child, false)]);
    secrets.create(&PostParams::default(), &grandchild).await?;
    let bystander = config_map(&cms, "bystander", vec![], vec![]).await?;

    cms.delete("owner", &DeleteParams::default()).await?;
    gone(&cms, "child").await;
    gone(&secrets, "grandchild").await;
    assert!(cms.get_opt(&bystander.name_any()).await?.is_some());
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn pods_of_a_deleted_replicaset_are_deleted() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _gc = spawn_controller(client.clone(), skiff_controllers::gc::run);
    let rss = Api::<ReplicaSet>::namespaced(client.clone(), "default");
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "example/web:1"}]}
            }
        }
    }))?;
    let rs = rss.create(&PostParams::default(), &rs).await?;
    let mut pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web-1", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "example/web:1"}]}
    }))?;
    pod.metadata.owner_references = Some(vec![skiff_controllers::owner::controller_ref(&rs)]);
    pods.create(&PostParams::default(), &pod).await?;

    rss.delete("web", &DeleteParams::default()).await?;
    gone(&pods, "web-1").await;
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn foreground_deletion_waits_for_blocking_dependents() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _gc = spawn_controller(client.clone(), skiff_controllers::gc::run);
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "default");
    let owner = config_map(&cms, "owner", vec![], vec![]).await?;
    // The finalizer keeps the blocking dependent around once deleted.
    config_map(
        &cms,
        "blocker",
        vec![reference(&owner, true)],
        vec!["example.com/hold".into()],
    )
    .await?;
    config_map(&cms, "follower", vec![reference(&owner, false)], vec![]).await?;

    delete_with(&cms, "owner", &DeleteParams::foreground()).await?;
    gone(&cms, "follower").await;
    eventually(WITHIN, "the blocker to be deleted", || async {
        let b = cms.get_opt("blocker").await.ok()??;
        b.metadata.deletion_timestamp.is_some().then_some(())
    })
    .await;
    // The blocker still exists, so the owner must too, waiting.
    let waiting = cms.get("owner").await?;
    assert!(waiting.metadata.deletion_timestamp.is_some());
    assert!(
        waiting
            .finalizers()
            .iter()
            .any(|f| f == "foregroundDeletion")
    );

    cms.patch(
        "blocker",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await?;
    gone(&cms, "blocker").await;
    gone(&cms, "owner").await;
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn orphan_deletion_leaves_dependents_without_the_reference() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _gc = spawn_controller(client.clone(), skiff_controllers::gc::run);
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "default");
    let owner = config_map(&cms, "owner", vec![], vec![]).await?;
    let other = config_map(&cms, "other", vec![], vec![]).await?;
    config_map(&cms, "only", vec![reference(&owner, true)], vec![]).await?;
    config_map(
        &cms,
        "shared",
        vec![reference(&owner, false), reference(&other, false)],
        vec![],
    )
    .await?;

    delete_with(&cms, "owner", &DeleteParams::orphan()).await?;
    gone(&cms, "owner").await;
    let only = cms.get("only").await?;
    assert!(only.owner_references().is_empty(), "{only:?}");
    let shared = cms.get("shared").await?;
    let uids: Vec<&str> = shared
        .owner_references()
        .iter()
        .map(|r| r.uid.as_str())
        .collect();
    assert_eq!(uids, [other.uid().unwrap_or_default()]);
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_dependent_with_two_owners_survives_one() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _gc = spawn_controller(client.clone(), skiff_controllers::gc::run);
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "default");
    let a = config_map(&cms, "a", vec![], vec![]).await?;
    let b = config_map(&cms, "b", vec![], vec![]).await?;
    config_map(
        &cms,
        "both",
        vec![reference(&a, true), reference(&b, true)],
        vec![],
    )
    .await?;

    cms.delete("a", &DeleteParams::default()).await?;
    let b_uid = b.uid().unwrap_or_default();
    eventually(WITHIN, "the dangling reference to go", || async {
        let both = cms.get_opt("both").await.ok()??;
        let uids: Vec<String> = both
            .owner_references()
            .iter()
            .map(|r| r.uid.clone())
            .collect();
        (uids == [b_uid.clone()]).then_some(())
    })
    .await;

    cms.delete("b", &DeleteParams::default()).await?;
    gone(&cms, "both").await;
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn an_owner_in_another_namespace_counts_as_absent() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _gc = spawn_controller(client.clone(), skiff_controllers::gc::run);
    let nss = Api::<Namespace>::all(client.clone());
    let mut ns = Namespace::default();
    ns.metadata.name = Some("elsewhere".into());
    nss.create(&PostParams::default(), &ns).await?;
    let here = Api::<ConfigMap>::namespaced(client.clone(), "default");
    let there = Api::<ConfigMap>::namespaced(client.clone(), "elsewhere");
    let owner = config_map(&here, "owner", vec![], vec![]).await?;
    config_map(&there, "stray", vec![reference(&owner, false)], vec![]).await?;
    gone(&there, "stray").await;
    assert!(here.get_opt("owner").await?.is_some());
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn custom_resources_are_owners_and_dependents() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _gc = spawn_controller(client.clone(), skiff_controllers::gc::run);
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
            }]
        }
    }))?;
    crds.create(&PostParams::default(), &crd).await?;
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    let widgets = Api::<DynamicObject>::namespaced_with(client.clone(), "default", &ar);
    let widget = |name: &str, owners: Vec<OwnerReference>| {
        let mut w = DynamicObject::new(name, &ar).data(json!({"spec": {"size": 1}}));
        w.metadata.owner_references = (!owners.is_empty()).then_some(owners);
        w
    };
    let owner = eventually(WITHIN, "the Widget API to be served", || async {
        widgets
            .create(&PostParams::default(), &widget("big", vec![]))
            .await
            .ok()
    })
    .await;
    let to_owner = OwnerReference {
        api_version: "example.com/v1".into(),
        kind: "Widget".into(),
        name: owner.name_any(),
        uid: owner.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    widgets
        .create(
            &PostParams::default(),
            &widget("small", vec![to_owner.clone()]),
        )
        .await?;
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "default");
    config_map(&cms, "widget-config", vec![to_owner], vec![]).await?;

    widgets.delete("big", &DeleteParams::foreground()).await?;
    gone(&widgets, "small").await;
    gone(&cms, "widget-config").await;
    gone(&widgets, "big").await;
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_collector_started_late_finishes_what_happened_before() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "default");
    let gone_owner = config_map(&cms, "gone-owner", vec![], vec![]).await?;
    config_map(
        &cms,
        "stranded",
        vec![reference(&gone_owner, false)],
        vec![],
    )
    .await?;
    let orphaning = config_map(&cms, "orphaning", vec![], vec![]).await?;
    config_map(&cms, "kept", vec![reference(&orphaning, true)], vec![]).await?;
    cms.delete("gone-owner", &DeleteParams::default()).await?;
    delete_with(&cms, "orphaning", &DeleteParams::orphan()).await?;
    // Nothing collects yet: the owner waits on its finalizer.
    assert!(cms.get_opt("orphaning").await?.is_some());

    let _gc = spawn_controller(client.clone(), skiff_controllers::gc::run);
    gone(&cms, "stranded").await;
    gone(&cms, "orphaning").await;
    let kept = cms.get("kept").await?;
    assert!(kept.owner_references().is_empty(), "{kept:?}");
    server.stop().await;
    Ok(())
}
