//! The node lifecycle controller, as Kubernetes' `node-lifecycle-controller`
//! with its taint manager: a node whose Lease in `kube-node-lease` (and
//! whose Ready condition's heartbeat) is older than the grace period gets
//! its conditions set to `Unknown` ("Kubelet stopped posting node
//! status."); nodes not Ready get the `node.kubernetes.io/unreachable` or
//! `node.kubernetes.io/not-ready` taints (`NoSchedule` and `NoExecute`),
//! removed again once the kubelet reports Ready; pods on such a node are
//! marked not Ready, and pods on a node with `NoExecute` taints are
//! deleted once their tolerations run out (at once without one).
//!
//! Level-triggered: every deadline is computed from what the objects say
//! (lease renew time, taint `timeAdded`, pod creation), so a restarted
//! manager picks up where it stopped.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::json;
use skiff_client::events::{Recorder, Type};

use crate::{Ctx, Shutdown};

/// The component name on events, as in Kubernetes.
pub const COMPONENT: &str = "node-controller";

/// Namespace of the kubelets' heartbeat Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// Taint of a node whose kubelet stopped reporting.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// Taint of a node whose kubelet reports it not Ready.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";

/// Conditions the kubelet owns and this controller sets to `Unknown`.
const KUBELET_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// How often a node with `NoExecute` taints is looked at again, so pods
/// that land on it later are seen without a pod watch.
const TAINTED_RECHECK: Duration = Duration::from_secs(5);

/// How the controller is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// A node whose heartbeat is older than this is unreachable
    /// (Kubernetes' `--node-monitor-grace-period`, 40 s).
    pub grace_period: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            grace_period: Duration::from_secs(40),
        }
    }
}

/// What can fail while reconciling a node.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed.
    #[error("{action} for node {node}")]
    Api {
        /// What was being done.
        action: &'static str,
        /// The node.
        node: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

struct State {
    ctx: Arc<Ctx>,
    cfg: Config,
    events: Recorder,
}

/// Runs the controller until `shutdown`.
pub async fn run(ctx: Arc<Ctx>, cfg: Config, shutdown: Shutdown) {
    let client = ctx.client.clone();
    let events = Recorder::new(client.clone(), COMPONENT, "skiff-controller-manager");
    let state = Arc::new(State { ctx, cfg, events });
    Controller::new(Api::<Node>::all(client.clone()), watcher::Config::default())
        .watches(
            Api::<Lease>::namespaced(client, LEASE_NAMESPACE),
            watcher::Config::default(),
            |lease| Some(ObjectRef::<Node>::new(&lease.name_any())),
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, state)
        .for_each(|_| async {})
        .await;
}

fn error_policy(node: Arc<Node>, e: &Error, _: Arc<State>) -> Action {
    tracing::info!(node = %node.name_any(), error = %e, cause = ?std::error::Error::source(e), "node lifecycle will retry");
    Action::requeue(Duration::from_secs(2))
}

fn api_err(action: &'static str, node: &str) -> impl FnOnce(kube::Error) -> Error {
    let node = node.to_owned();
    move |source| Error::Api {
        action,
        node,
        source,
    }
}

fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
}

/// The node's last sign of life: the later of its Lease renewal and its
/// Ready heartbeat, else its creation (a node that never reported gets the
/// grace period from registration, as in Kubernetes).
fn last_heartbeat(node: &Node, lease: Option<&Lease>) -> Option<jiff::Timestamp> {
    let renew = lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.renew_time.as_ref())
        .map(|t| t.0);
    let beat = ready_condition(node)
        .and_then(|c| c.last_heartbeat_time.as_ref())
        .map(|t| t.0);
    let created = node.metadata.creation_timestamp.as_ref().map(|t| t.0);
    [renew, beat, created].into_iter().flatten().max()
}

fn since(t: jiff::Timestamp, now: jiff::Timestamp) -> Duration {
    Duration::try_from(now.duration_since(t)).unwrap_or(Duration::ZERO)
}

async fn reconcile(node: Arc<Node>, st: Arc<State>) -> Result<Action, Error> {
    let name = node.name_any();
    let client = &st.ctx.client;
    let nodes = Api::<Node>::all(client.clone());
    let lease = Api::<Lease>::namespaced(client.clone(), LEASE_NAMESPACE)
        .get_opt(&name)
        .await
        .map_err(api_err("reading the lease", &name))?;
    let now = jiff::Timestamp::now();
    let grace = st.cfg.grace_period;
    let mut requeue: Option<Duration> = None;
    let mut ready = ready_condition(&node).map(|c| c.status.clone());
    match last_heartbeat(&node, lease.as_ref()) {
        Some(beat) if since(beat, now) <= grace => {
            // Look again just after the grace period would run out.
            let left = grace.saturating_sub(since(beat, now)) + Duration::from_millis(100);
            requeue = Some(left);
        }
        _ if ready.as_deref() != Some("Unknown") => {
            mark_unknown(&nodes, &node, now).await?;
            tracing::info!(node = %name, "node stopped posting status");
            st.events
                .record(
                    &*node,
                    None,
                    Type::Normal,
                    "NodeNotReady",
                    &format!("Node {name} status is now: NodeNotReady"),
                )
                .await;
            ready = Some("Unknown".into());
        }
        _ => {}
    }
    let taints = sync_taints(&nodes, &node, ready.as_deref(), now).await?;
    if ready.as_deref() != Some("True") {
        let pods = Api::<Pod>::all(client.clone())
            .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
            .await
            .map_err(api_err("listing pods", &name))?
            .items;
        for p in &pods {
            mark_pod_not_ready(client, &st.events, p).await;
        }
        let no_execute: Vec<&Taint> = taints.iter().filter(|t| t.effect == "NoExecute").collect();
        if !no_execute.is_empty() {
            for p in &pods {
                if let Some(wait) = evict_after(p, &no_execute, now) {
                    if wait.is_zero() {
                        evict(client, &st.events, p).await;
                    } else {
                        requeue = Some(requeue.map_or(wait, |r| r.min(wait)));
                    }
                }
            }
            requeue = Some(requeue.map_or(TAINTED_RECHECK, |r| r.min(TAINTED_RECHECK)));
        }
    }
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

/// Sets the kubelet's conditions to `Unknown`, keeping their heartbeats.
async fn mark_unknown(nodes: &Api<Node>, node: &Node, now: jiff::Timestamp) -> Result<(), Error> {
    let name = node.name_any();
    let mut conditions: Vec<NodeCondition> = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let never = !conditions.iter().any(|c| c.type_ == "Ready");
    for type_ in KUBELET_CONDITIONS {
        if !conditions.iter().any(|c| c.type_ == type_) {
            conditions.push(NodeCondition {
                type_: type_.to_owned(),
                ..NodeCondition::default()
            });
        }
    }
    for c in conditions
        .iter_mut()
        .filter(|c| KUBELET_CONDITIONS.contains(&c.type_.as_str()))
    {
        if c.status != "Unknown" {
            c.last_transition_time = Some(Time(now));
        }
        c.status = "Unknown".into();
        if never {
            c.reason = Some("NodeStatusNeverUpdated".into());
            c.message = Some("Kubelet never posted node status.".into());
        } else {
            c.reason = Some("NodeStatusUnknown".into());
            c.message = Some("Kubelet stopped posting node status.".into());
        }
    }
    nodes
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": conditions}})),
        )
        .await
        .map_err(api_err("marking the node Unknown", &name))?;
    Ok(())
}

/// The taints this controller wants for a Ready status.
fn wanted(ready: Option<&str>) -> Option<&'static str> {
    match ready {
        Some("True") => None,
        Some("False") => Some(NOT_READY),
        // No Ready condition yet is handled by the grace period first.
        Some(_) => Some(UNREACHABLE),
        None => None,
    }
}

/// Brings this controller's taints in line with the Ready status; returns
/// the node's taints after the change.
async fn sync_taints(
    nodes: &Api<Node>,
    node: &Node,
    ready: Option<&str>,
    now: jiff::Timestamp,
) -> Result<Vec<Taint>, Error> {
    let current = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let key = wanted(ready);
    // Keep what others set and our own taints that still apply (so their
    // timeAdded, which starts the tolerations' clocks, stays).
    let mut next: Vec<Taint> = current
        .iter()
        .filter(|t| (t.key != UNREACHABLE && t.key != NOT_READY) || Some(t.key.as_str()) == key)
        .cloned()
        .collect();
    if let Some(key) = key {
        for effect in ["NoSchedule", "NoExecute"] {
            if !next.iter().any(|t| t.key == key && t.effect == effect) {
                next.push(Taint {
                    key: key.to_owned(),
                    effect: effect.to_owned(),
                    time_added: Some(Time(now)),
                    value: None,
                });
            }
        }
    }
    if next == current {
        return Ok(current);
    }
    let name = node.name_any();
    tracing::info!(node = %name, taints = ?next.iter().map(|t| format!("{}:{}", t.key, t.effect)).collect::<Vec<_>>(), "updating node taints");
    // The resourceVersion makes this a compare-and-swap: a taint someone
    // else added meanwhile is not lost, the reconcile retries instead.
    nodes
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": {"resourceVersion": node.resource_version()},
                "spec": {"taints": next},
            })),
        )
        .await
        .map_err(api_err("updating taints", &name))?;
    Ok(next)
}

/// Whether `tol` tolerates `taint` (Kubernetes' `ToleratesTaint`).
pub fn tolerates(tol: &Toleration, taint: &Taint) -> bool {
    if tol
        .effect
        .as_deref()
        .is_some_and(|e| !e.is_empty() && e != taint.effect)
    {
        return false;
    }
    let key = tol.key.as_deref().unwrap_or("");
    let op = tol.operator.as_deref().unwrap_or("Equal");
    if key.is_empty() {
        return op == "Exists";
    }
    if key != taint.key {
        return false;
    }
    match op {
        "Exists" => true,
        "Equal" | "" => tol.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

/// How long until `pod` must go because of `taints` (all `NoExecute`):
/// zero if one is not tolerated or its time is up, `None` if tolerated
/// for ever or already being deleted.
pub fn evict_after(pod: &Pod, taints: &[&Taint], now: jiff::Timestamp) -> Option<Duration> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let tolerations: &[Toleration] = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[]);
    let created = pod.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let mut wait: Option<Duration> = None;
    for taint in taints {
        let matching: Vec<&Toleration> =
            tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Some(Duration::ZERO);
        }
        // The shortest limit counts; tolerations without one tolerate for
        // ever (Kubernetes' `getMinTolerationTime`).
        let Some(secs) = matching.iter().filter_map(|t| t.toleration_seconds).min() else {
            continue;
        };
        // The clock starts when the taint came, or the pod if it came later.
        let start = [taint.time_added.as_ref().map(|t| t.0), created]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(now);
        let limit = Duration::from_secs(u64::try_from(secs).unwrap_or(0));
        let left = limit.saturating_sub(since(start, now));
        wait = Some(wait.map_or(left, |w| w.min(left)));
    }
    wait
}

/// Deletes a pod whose tolerations ran out.
async fn evict(client: &kube::Client, events: &Recorder, pod: &Pod) {
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    events
        .record(
            pod,
            None,
            Type::Normal,
            "TaintManagerEviction",
            &format!("Marking for deletion Pod {ns}/{name}"),
        )
        .await;
    let pods = Api::<Pod>::namespaced(client.clone(), &ns);
    // As Kubernetes' taint manager: mark the pod first, so its controller
    // (a Job's podFailurePolicy) can tell an eviction from a failure.
    let condition = json!({"status": {"conditions": [{
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "DeletionByTaintManager",
        "message": "Taint manager: deleting due to NoExecute taint",
        "lastTransitionTime": Time(jiff::Timestamp::now()),
    }]}});
    if let Err(e) = pods
        .patch_status(&name, &PatchParams::default(), &Patch::Strategic(condition))
        .await
    {
        tracing::debug!(pod = %format!("{ns}/{name}"), error = %e, "marking a pod DisruptionTarget");
    }
    match pods.delete(&name, &DeleteParams::default()).await {
        Ok(_) => tracing::info!(pod = %format!("{ns}/{name}"), "evicted from a tainted node"),
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => tracing::warn!(pod = %format!("{ns}/{name}"), error = %e, "evicting a pod"),
    }
}

/// Sets a pod's Ready condition to False (Kubernetes' `MarkPodsNotReady`):
/// its kubelet cannot say so.
async fn mark_pod_not_ready(client: &kube::Client, events: &Recorder, pod: &Pod) {
    let Some(conditions) = pod.status.as_ref().and_then(|s| s.conditions.as_ref()) else {
        return;
    };
    if pod.metadata.deletion_timestamp.is_some()
        || !conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    {
        return;
    }
    let now = Time(jiff::Timestamp::now());
    let conditions: Vec<_> = conditions
        .iter()
        .cloned()
        .map(|mut c| {
            if c.type_ == "Ready" {
                c.status = "False".into();
                c.last_transition_time = Some(now.clone());
            }
            c
        })
        .collect();
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    let patch = json!({
        "metadata": {"resourceVersion": pod.meta().resource_version},
        "status": {"conditions": conditions},
    });
    match Api::<Pod>::namespaced(client.clone(), &ns)
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(_) => {
            events
                .record(
                    pod,
                    None,
                    Type::Warning,
                    "NodeNotReady",
                    "Node is not ready",
                )
                .await;
        }
        Err(e) => {
            tracing::debug!(pod = %format!("{ns}/{name}"), error = %e, "marking a pod not ready")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str) -> Taint {
        Taint {
            key: key.into(),
            effect: "NoExecute".into(),
            time_added: Some(Time("2026-01-01T00:00:00Z".parse().unwrap())),
            value: None,
        }
    }

    fn pod(tolerations: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"containers": [], "tolerations": tolerations},
        }))
        .unwrap()
    }

    #[test]
    fn toleration_seconds_decide_eviction() {
        let t = taint(UNREACHABLE);
        let at = |s: &str| -> jiff::Timestamp { s.parse().unwrap() };
        let p = pod(
            json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]),
        );
        assert_eq!(
            evict_after(&p, &[&t], at("2026-01-01T00:01:00Z")),
            Some(Duration::from_secs(240))
        );
        assert_eq!(
            evict_after(&p, &[&t], at("2026-01-01T00:06:00Z")),
            Some(Duration::ZERO)
        );
        // Not tolerated: at once.
        let other = pod(json!([{"key": NOT_READY, "operator": "Exists", "effect": "NoExecute"}]));
        assert_eq!(
            evict_after(&other, &[&t], at("2026-01-01T00:00:00Z")),
            Some(Duration::ZERO)
        );
        // Tolerated for ever.
        let ever = pod(json!([{"operator": "Exists"}]));
        assert_eq!(evict_after(&ever, &[&t], at("2026-01-01T00:00:00Z")), None);
        // Equal needs the value.
        let eq: Toleration =
            serde_json::from_value(json!({"key": "k", "value": "v", "effect": "NoExecute"}))
                .unwrap();
        let mut kv = taint("k");
        assert!(!tolerates(&eq, &kv));
        kv.value = Some("v".into());
        assert!(tolerates(&eq, &kv));
    }

    #[test]
    fn taints_follow_ready() {
        assert_eq!(wanted(Some("True")), None);
        assert_eq!(wanted(Some("False")), Some(NOT_READY));
        assert_eq!(wanted(Some("Unknown")), Some(UNREACHABLE));
    }
}
