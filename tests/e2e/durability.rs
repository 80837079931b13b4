//! A crash never loses an acknowledged write: many clients create objects,
//! the server is killed with SIGKILL mid-run, restarted on the same data
//! directory, and every object it acknowledged is there, with revisions
//! still increasing.

use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use skiff_tests::Cluster;

#[tokio::test]
async fn sigkill_loses_no_acknowledged_write() -> anyhow::Result<()> {
    let mut c = Cluster::start()?;
    let client = c.client().await?;
    let acked: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..16 {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            // Bounded: at most 2,000 writes per client.
            for i in 0..2_000 {
                let obj: ConfigMap = serde_json::from_value(json!({
                    "metadata": {"name": format!("w{w}-{i}")}, "data": {"i": i.to_string()}
                }))
                .expect("configmap");
                match cms.create(&PostParams::default(), &obj).await {
                    Ok(o) => {
                        let rv = o
                            .metadata
                            .resource_version
                            .unwrap_or_default()
                            .parse()
                            .unwrap_or(0);
                        acked.lock().expect("lock").push((format!("w{w}-{i}"), rv));
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    // Let writes flow, then pull the plug.
    while acked.lock().expect("lock").len() < 1_500 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    c.kill();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().expect("lock").clone();
    let max_acked = acked.iter().map(|(_, rv)| *rv).max().unwrap_or(0);

    c.spawn()?;
    let client = c.client().await?;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let list = cms.list(&ListParams::default()).await?;
    let present: std::collections::HashSet<String> = list
        .items
        .iter()
        .filter_map(|o| o.metadata.name.clone())
        .collect();
    let missing: Vec<&String> = acked
        .iter()
        .map(|(n, _)| n)
        .filter(|n| !present.contains(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );

    // Revisions keep increasing after the restart.
    let after = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "after"}}))?,
        )
        .await?;
    let rv: u64 = after
        .metadata
        .resource_version
        .unwrap_or_default()
        .parse()?;
    assert!(
        rv > max_acked,
        "revision {rv} after restart is not above {max_acked}"
    );
    Ok(())
}
