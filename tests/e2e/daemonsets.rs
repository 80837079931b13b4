//! DaemonSets, PodDisruptionBudgets, eviction, cordon and drain end to
//! end: real kubectl against `skiff up` (one node, `e2e-node`) running Wasm
//! pods (hello-http).

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use kube::api::ListParams;
use skiff_tests::Cluster;

const V1: &str = "localhost/skiff/hello-http:v1";
const V2: &str = "localhost/skiff/hello-http:v2";
const NODE: &str = "e2e-node";
const WITHIN: Duration = Duration::from_secs(40);

fn up() -> Cluster {
    Cluster::up_with_wasm(&[("hello-http", V1), ("hello-http", V2)])
}

fn daemonset_yaml(name: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {name}
spec:
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      runtimeClassName: wasmtime
      containers:
      - name: main
        image: {V1}
        ports:
        - containerPort: 8080
"#
    )
}

fn deployment_yaml(name: &str, replicas: i32) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      runtimeClassName: wasmtime
      containers:
      - name: main
        image: {V1}
        ports:
        - containerPort: 8080
"#
    )
}

fn pdb_yaml(name: &str, min_available: i32) -> String {
    format!(
        r#"apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {name}
spec:
  minAvailable: {min_available}
  selector:
    matchLabels: {{app: {name}}}
"#
    )
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn image(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// Pods of `app` not being deleted.
async fn live_pods(api: &Api<Pod>, app: &str) -> Vec<Pod> {
    api.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

/// Polls `check` until it returns `Some`, failing after [`WITHIN`].
async fn wait<T, Fut>(what: &str, check: impl FnMut() -> Fut) -> T
where
    Fut: std::future::Future<Output = Option<T>>,
{
    skiff_tests::eventually(WITHIN, what, check).await
}

fn rollout_status(c: &Cluster, what: &str) {
    let out = c.kubectl_ok(&["rollout", "status", what, "--timeout=40s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
}

fn revisions(history: &str) -> Vec<String> {
    history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn daemonset_rollout_history_and_undo() -> anyhow::Result<()> {
    let c = up();
    let client = c.client().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    c.apply(&daemonset_yaml("agent"));
    rollout_status(&c, "ds/agent");
    let running = live_pods(&pods, "agent").await;
    assert_eq!(running.len(), 1, "one pod for the one node");
    let p = &running[0];
    assert!(is_ready(p));
    assert_eq!(
        p.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some(NODE)
    );
    assert!(
        p.metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key("controller-revision-hash"))
    );
    let get = c.kubectl_ok(&["get", "ds", "agent"]);
    assert!(
        get.lines().nth(1).is_some_and(|l| l.contains("agent")),
        "{get}"
    );

    c.kubectl_ok(&["set", "image", "ds/agent", &format!("main={V2}")]);
    rollout_status(&c, "ds/agent");
    let images: BTreeSet<String> = live_pods(&pods, "agent").await.iter().map(image).collect();
    assert_eq!(images, BTreeSet::from([V2.to_owned()]));
    let history = c.kubectl_ok(&["rollout", "history", "ds/agent"]);
    assert_eq!(revisions(&history), ["1", "2"], "{history}");
    let rev1 = c.kubectl_ok(&["rollout", "history", "ds/agent", "--revision=1"]);
    assert!(rev1.contains(V1), "{rev1}");

    let undo = c.kubectl_ok(&["rollout", "undo", "ds/agent"]);
    assert!(undo.contains("rolled back"), "{undo}");
    rollout_status(&c, "ds/agent");
    wait("the v1 pod back", || async {
        let ps = live_pods(&pods, "agent").await;
        (ps.len() == 1 && image(&ps[0]) == V1 && is_ready(&ps[0])).then_some(())
    })
    .await;
    let history = c.kubectl_ok(&["rollout", "history", "ds/agent"]);
    assert_eq!(revisions(&history), ["2", "3"], "{history}");
    Ok(())
}

#[tokio::test]
async fn drain_respects_budgets_and_cordon_blocks_scheduling() -> anyhow::Result<()> {
    let c = up();
    let client = c.client().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    let nodes: Api<Node> = Api::all(client.clone());
    c.apply(&daemonset_yaml("agent"));
    c.apply(&deployment_yaml("web", 2));
    c.apply(&pdb_yaml("web", 2));
    rollout_status(&c, "ds/agent");
    rollout_status(&c, "deployment/web");
    wait("budget with no room", || async {
        let s = pdbs.get("web").await.ok()?.status?;
        (s.current_healthy == 2 && s.desired_healthy == 2 && s.disruptions_allowed == 0)
            .then_some(())
    })
    .await;

    // minAvailable 2 of 2: drain cordons the node, then cannot evict.
    let out = c.kubectl(&[
        "drain",
        NODE,
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--timeout=5s",
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "drain should fail: {text}");
    assert!(
        text.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{text}"
    );
    assert!(text.contains("cordoned"), "{text}");
    let node = nodes.get(NODE).await?;
    assert_eq!(node.spec.and_then(|s| s.unschedulable), Some(true));
    assert_eq!(live_pods(&pods, "web").await.len(), 2, "nothing evicted");

    // minAvailable 1: one pod may go. Its replacement cannot schedule on
    // the only (cordoned) node, so the budget has no room for the second
    // and drain still times out — what Kubernetes shows on one node.
    c.apply(&pdb_yaml("web", 1));
    wait("budget with room for one", || async {
        let s = pdbs.get("web").await.ok()?.status?;
        (s.desired_healthy == 1 && s.disruptions_allowed == 1).then_some(())
    })
    .await;
    let out = c.kubectl(&[
        "drain",
        NODE,
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--timeout=10s",
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("evicted"), "one pod evicted: {text}");
    assert!(
        text.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{text}"
    );
    let (running, pending) = wait("one web pod running, its replacement pending", || async {
        let ps = live_pods(&pods, "web").await;
        let running = ps.iter().filter(|p| phase(p) == "Running").count();
        let pending: Vec<Pod> = ps
            .iter()
            .filter(|p| {
                p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_none()
                    && p.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|cs| {
                            cs.iter().any(|c| {
                                c.type_ == "PodScheduled"
                                    && c.status == "False"
                                    && c.reason.as_deref() == Some("Unschedulable")
                            })
                        })
            })
            .cloned()
            .collect();
        (running == 1 && pending.len() == 1).then_some((running, pending))
    })
    .await;
    assert_eq!(running, 1);
    let why = pending[0]
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"))
        .and_then(|c| c.message.clone())
        .unwrap_or_default();
    assert!(why.contains("unschedulable"), "{why}");
    // The DaemonSet's pod stays: drain ignores it, and it tolerates the
    // cordon.
    let agents = live_pods(&pods, "agent").await;
    assert!(agents.len() == 1 && is_ready(&agents[0]));

    // Uncordon: the pending replacement schedules and runs.
    let out = c.kubectl_ok(&["uncordon", NODE]);
    assert!(out.contains("uncordoned"), "{out}");
    rollout_status(&c, "deployment/web");

    // Cordon alone: a new pod stays Pending with the scheduler's reason.
    let out = c.kubectl_ok(&["cordon", NODE]);
    assert!(out.contains("cordoned"), "{out}");
    c.kubectl_ok(&["scale", "deployment/web", "--replicas=3"]);
    let msg = wait("a pending pod", || async {
        live_pods(&pods, "web").await.iter().find_map(|p| {
            p.status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")
                .and_then(|c| c.message.clone())
        })
    })
    .await;
    assert!(
        msg.starts_with("0/1 nodes are available: 1 node(s) were unschedulable"),
        "{msg}"
    );
    c.kubectl_ok(&["uncordon", NODE]);
    rollout_status(&c, "deployment/web");
    assert_eq!(live_pods(&pods, "web").await.len(), 3);
    Ok(())
}

/// kube-rs' `Api::evict` over HTTPS: the Eviction subresource answers a
/// client other than kubectl too (a pending pod goes without a budget
/// check, as in Kubernetes).
#[tokio::test]
async fn kube_rs_evicts_a_pod_over_https() -> anyhow::Result<()> {
    let c = up();
    c.apply(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: stuck\nspec:\n  nodeSelector: {nowhere: \"true\"}\n  containers:\n  - name: c\n    image: localhost/none:1\n",
    );
    let pods: Api<Pod> = Api::namespaced(c.client().await?, "default");
    let answer = tokio::time::timeout(
        Duration::from_secs(20),
        pods.evict("stuck", &kube::api::EvictParams::default()),
    )
    .await
    .map_err(|_| anyhow::anyhow!("the eviction did not answer in 20 s"))??;
    assert!(answer.is_success(), "{answer:?}");
    wait("the evicted pod gone", || async {
        pods.get_opt("stuck").await.ok()?.is_none().then_some(())
    })
    .await;
    Ok(())
}
