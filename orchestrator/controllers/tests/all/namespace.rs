//! The namespace controller against a real API server: a deleted namespace
//! is emptied, reports what holds it up, and then goes.

use std::time::Duration;

use crate::support::{ApiServer, eventually, spawn_controller};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::json;

const WITHIN: Duration = Duration::from_secs(20);

fn condition<'a>(ns: &'a Namespace, kind: &str) -> Option<(&'a str, &'a str)> {
    let c = ns
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)?;
    Some((c.status.as_str(), c.reason.as_deref().unwrap_or("")))
}

#[tokio::test]
async fn deleting_a_namespace_removes_its_content_then_the_namespace() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _ns = spawn_controller(client.clone(), skiff_controllers::namespace::run);
    let nss = Api::<Namespace>::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "doomed"}}))?,
    )
    .await?;
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "doomed");
    let secrets = Api::<Secret>::namespaced(client.clone(), "doomed");
    let pods = Api::<Pod>::namespaced(client.clone(), "doomed");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "plain"}}))?,
    )
    .await?;
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(
            json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
        )?,
    )
    .await?;
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "s"}}))?,
        )
        .await?;
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "example/app:1"}]}
        }))?,
    )
    .await?;
    // Objects of CRD kinds go too.
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "gadgets.example.com"},
                "spec": {
                    "group": "example.com",
                    "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                    "scope": "Namespaced",
                    "versions": [{
                        "name": "v1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
                    }]
                }
            }))?,
        )
        .await?;
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Gadget"),
        "gadgets",
    );
    let gadgets = Api::<DynamicObject>::namespaced_with(client.clone(), "doomed", &ar);
    eventually(WITHIN, "the Gadget API to be served", || async {
        gadgets
            .create(&PostParams::default(), &DynamicObject::new("g", &ar))
            .await
            .ok()
    })
    .await;
    // Another namespace is left alone.
    let keep = Api::<ConfigMap>::namespaced(client.clone(), "default");
    keep.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "plain"}}))?,
    )
    .await?;

    nss.delete("doomed", &DeleteParams::default()).await?;
    // Everything but the held ConfigMap goes; the namespace says why it waits.
    let waiting = eventually(WITHIN, "the namespace to report its finalizers", || async {
        let ns = nss.get_opt("doomed").await.ok()??;
        (condition(&ns, "NamespaceFinalizersRemaining") == Some(("True", "SomeFinalizersRemain")))
            .then_some(ns)
    })
    .await;
    assert_eq!(
        condition(&waiting, "NamespaceContentRemaining"),
        Some(("True", "SomeResourcesRemain"))
    );
    assert_eq!(
        waiting.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Terminating")
    );
    assert!(cms.get_opt("plain").await?.is_none());
    assert!(secrets.get_opt("s").await?.is_none());
    assert!(pods.get_opt("p").await?.is_none());
    assert!(gadgets.get_opt("g").await?.is_none());

    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await?;
    eventually(WITHIN, "the namespace to be deleted", || async {
        matches!(nss.get_opt("doomed").await, Ok(None)).then_some(())
    })
    .await;
    assert!(keep.get_opt("plain").await?.is_some());
    server.stop().await;
    Ok(())
}
