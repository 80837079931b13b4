//! The ServiceAccount controller against a real API server: every active
//! namespace has a `default` ServiceAccount.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use support::{ApiServer, eventually, spawn_controller};

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
