//! The node lifecycle controller against a real API server. No node agent
//! runs: the test plays the kubelet, creating the Node and its Lease by
//! hand, then stops renewing it.

use std::time::Duration;

use crate::support::{ApiServer, Running, eventually, mark_ready, spawn_controller};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_controllers::nodelifecycle::{self, NOT_READY, UNREACHABLE};

const WAIT: Duration = Duration::from_secs(20);
const GRACE: Duration = Duration::from_secs(2);

fn controller(client: Client) -> Running {
    let cfg = nodelifecycle::Config {
        grace_period: GRACE,
    };
    spawn_controller(client, move |ctx, shutdown| {
        nodelifecycle::run(ctx, cfg, shutdown)
    })
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// Posts the node's Ready condition as its kubelet would.
async fn post_ready(client: &Client, name: &str, status: &str) -> anyhow::Result<()> {
    let t = now();
    Api::<Node>::all(client.clone())
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": [{
                "type": "Ready", "status": status, "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
                "lastHeartbeatTime": t, "lastTransitionTime": t,
            }]}})),
        )
        .await?;
    Ok(())
}

async fn renew(client: &Client, name: &str) -> anyhow::Result<()> {
    let api = Api::<Lease>::namespaced(client.clone(), "kube-node-lease");
    let spec = json!({"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()});
    if api.get_opt(name).await?.is_none() {
        let lease: Lease = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "kube-node-lease"}, "spec": spec,
        }))?;
        api.create(&PostParams::default(), &lease).await?;
    } else {
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": spec})),
        )
        .await?;
    }
    Ok(())
}

async fn create_node(client: &Client, name: &str) -> anyhow::Result<()> {
    let node: Node = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await?;
    post_ready(client, name, "True").await?;
    renew(client, name).await
}

async fn create_pod(
    client: &Client,
    name: &str,
    node: &str,
    tolerations: serde_json::Value,
) -> anyhow::Result<()> {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "main", "image": "localhost/skiff/app:v1"}],
            "tolerations": tolerations,
        },
    }))?;
    let api = Api::<Pod>::default_namespaced(client.clone());
    api.create(&PostParams::default(), &pod).await?;
    mark_ready(&api, name).await
}

fn taints(n: &Node) -> Vec<String> {
    let mut t: Vec<String> = n
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .map(|t| format!("{}:{}", t.key, t.effect))
        .collect();
    t.sort();
    t
}

fn ready(n: &Node) -> Option<(String, String, String)> {
    n.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| {
            (
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

fn pod_ready(p: &Pod) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

/// The STATUS cell of the node's row in the Table kubectl asks for.
async fn node_status_column(client: &Client, name: &str) -> anyhow::Result<String> {
    let mut req = kube::core::Request::new("/api/v1/nodes").get(name, &Default::default())?;
    req.headers_mut().insert(
        "accept",
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json".parse()?,
    );
    let table: serde_json::Value = client.request(req).await?;
    let columns = table["columnDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let i = columns
        .iter()
        .position(|c| c["name"] == "Status")
        .ok_or_else(|| anyhow::anyhow!("no Status column in {table}"))?;
    Ok(table["rows"][0]["cells"][i]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

#[tokio::test]
async fn silent_node_is_tainted_its_pods_evicted_and_recovery_untaints() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    create_node(&client, "n1").await?;
    // Tolerates unreachable for 2 s; the other pod for ever; a third gets
    // the API server's default 300 s.
    let quick = json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2}]);
    create_pod(&client, "quick", "n1", quick).await?;
    create_pod(&client, "stays", "n1", json!([{"operator": "Exists"}])).await?;
    create_pod(&client, "default", "n1", json!([])).await?;
    let _c = controller(client.clone());
    let nodes = Api::<Node>::all(client.clone());
    let pods = Api::<Pod>::default_namespaced(client.clone());

    // The kubelet goes silent: no more renewals.
    let n = eventually(WAIT, "node marked Unknown and tainted", || async {
        let n = nodes.get("n1").await.ok()?;
        (taints(&n).len() == 2).then_some(n)
    })
    .await;
    assert_eq!(
        taints(&n),
        [
            format!("{UNREACHABLE}:NoExecute"),
            format!("{UNREACHABLE}:NoSchedule")
        ]
    );
    assert_eq!(
        ready(&n),
        Some((
            "Unknown".into(),
            "NodeStatusUnknown".into(),
            "Kubelet stopped posting node status.".into()
        ))
    );
    // What `kubectl get nodes` prints: the server-side Table's STATUS.
    assert_eq!(node_status_column(&client, "n1").await?, "NotReady");
    // Its pods are no longer Ready.
    eventually(WAIT, "pods marked not ready", || async {
        let p = pods.get("stays").await.ok()?;
        (pod_ready(&p) == "False").then_some(())
    })
    .await;
    // The 2 s toleration runs out; the others hold.
    // No kubelet finishes the deletion here, so the pod stays Terminating,
    // marked as a disruption the way Kubernetes' taint manager marks it.
    let evicted = eventually(WAIT, "pod evicted after its tolerationSeconds", || async {
        let p = pods.get_opt("quick").await.ok()??;
        p.metadata.deletion_timestamp.is_some().then_some(p)
    })
    .await;
    let disruption = evicted
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "DisruptionTarget")
        .map(|c| (c.status, c.reason.unwrap_or_default()));
    assert_eq!(
        disruption,
        Some(("True".to_owned(), "DeletionByTaintManager".to_owned()))
    );
    for name in ["stays", "default"] {
        let p = pods.get(name).await?;
        assert!(p.metadata.deletion_timestamp.is_none(), "{name} evicted");
    }
    let defaults = pods.get("default").await?;
    let tolerated = defaults
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_ref())
        .into_iter()
        .flatten()
        .any(|t| t.key.as_deref() == Some(UNREACHABLE) && t.toleration_seconds == Some(300));
    assert!(tolerated, "{:?}", defaults.spec);

    // The kubelet is back, renews its lease from now on and says Ready:
    // the taints go.
    renew(&client, "n1").await?;
    let renewer = {
        let client = client.clone();
        tokio::spawn(async move {
            loop {
                let _ = renew(&client, "n1").await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    post_ready(&client, "n1", "True").await?;
    eventually(WAIT, "taints removed", || async {
        let n = nodes.get("n1").await.ok()?;
        taints(&n).is_empty().then_some(())
    })
    .await;
    assert_eq!(node_status_column(&client, "n1").await?, "Ready");

    // A kubelet that reports NotReady (while renewing) gets not-ready.
    post_ready(&client, "n1", "False").await?;
    let n = eventually(WAIT, "not-ready taints", || async {
        let n = nodes.get("n1").await.ok()?;
        (taints(&n).len() == 2).then_some(n)
    })
    .await;
    assert_eq!(
        taints(&n),
        [
            format!("{NOT_READY}:NoExecute"),
            format!("{NOT_READY}:NoSchedule")
        ]
    );
    assert_eq!(node_status_column(&client, "n1").await?, "NotReady");
    renewer.abort();
    drop(_c);
    server.stop().await;
    Ok(())
}
