//! The ServiceAccount controller against a real API server: every active
//! namespace has a `default` ServiceAccount.

use std::time::Duration;

use crate::support::{ApiServer, eventually, spawn_controller};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

const WITHIN: Duration = Duration::from_secs(20);

async fn has_default(client: &kube::Client, ns: &str) -> Option<ServiceAccount> {
    Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .get_opt("default")
        .await
        .ok()?
}

#[tokio::test]
async fn every_namespace_gets_a_default_service_account_back() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _sa = spawn_controller(client.clone(), skiff_controllers::serviceaccount::run);
    // Namespaces from the first start get one too.
    eventually(WITHIN, "default/default", || {
        has_default(&client, "default")
    })
    .await;

    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "fresh"}}))?,
        )
        .await?;
    let first = eventually(WITHIN, "fresh/default", || has_default(&client, "fresh")).await;

    Api::<ServiceAccount>::namespaced(client.clone(), "fresh")
        .delete("default", &DeleteParams::default())
        .await?;
    eventually(WITHIN, "fresh/default to come back", || async {
        let again = has_default(&client, "fresh").await?;
        (again.metadata.uid != first.metadata.uid).then_some(())
    })
    .await;
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn every_namespace_gets_the_root_ca_and_keeps_it_current() -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::ConfigMap;
    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let server = ApiServer::start().await?;
    let client = server.client();
    let _ca = spawn_controller(client.clone(), |ctx, stop| {
        skiff_controllers::rootca::run(ctx, PEM.to_owned(), stop)
    });
    let ca_of = |ns: &'static str| {
        let api = Api::<ConfigMap>::namespaced(client.clone(), ns);
        async move {
            let cm = api.get_opt("kube-root-ca.crt").await.ok()??;
            cm.data?.get("ca.crt").cloned()
        }
    };
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "fresh"}}))?,
        )
        .await?;
    eventually(WITHIN, "fresh/kube-root-ca.crt", || async {
        (ca_of("fresh").await? == PEM).then_some(())
    })
    .await;
    // A user's edit is put back.
    Api::<ConfigMap>::namespaced(client.clone(), "fresh")
        .patch(
            "kube-root-ca.crt",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"data": {"ca.crt": "tampered"}})),
        )
        .await?;
    eventually(WITHIN, "the CA restored", || async {
        (ca_of("fresh").await? == PEM).then_some(())
    })
    .await;
    eventually(WITHIN, "default/kube-root-ca.crt", || async {
        (ca_of("default").await? == PEM).then_some(())
    })
    .await;
    server.stop().await;
    Ok(())
}
