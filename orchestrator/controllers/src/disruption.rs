//! The disruption controller: keeps each PodDisruptionBudget's status
//! (`currentHealthy`, `desiredHealthy`, `expectedPods`,
//! `disruptionsAllowed`, the `DisruptionAllowed` condition) current, as
//! Kubernetes' `disruption` controller does. The API server's
//! `pods/eviction` reads `disruptionsAllowed` and records evicted pods in
//! `disruptedPods`; this controller drops those entries once the pod is
//! gone or being deleted, or after two minutes (the eviction never led to
//! a deletion).
//!
//! `minAvailable` as a number needs only the pods; `maxUnavailable` and
//! percentages need the expected pod count, the sum of the `scale` of the
//! pods' controllers (ReplicaSet, or its Deployment, StatefulSet,
//! ReplicationController), read through the scale subresource.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, trigger_self, trigger_with};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, applier};
use skiff_api::selector::LabelSelector;
use skiff_client::events::{Recorder, Type};

use crate::replicaset::Backoff;
use crate::{Ctx, Shutdown, cache, owner, pods};

/// The component name on events, as in Kubernetes.
pub const COMPONENT: &str = "controllermanager";

/// Kubernetes' `DeletionTimeout`: an eviction recorded in `disruptedPods`
/// whose pod was not deleted within this long stops counting.
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(2 * 60);

/// The condition the eviction subresource and kubectl read.
pub const CONDITION: &str = "DisruptionAllowed";

/// What can fail while reconciling a PodDisruptionBudget.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pod watch cache stopped.
    #[error("the pod cache is closed")]
    CacheClosed,
    /// Writing the status failed (a conflict means a concurrent eviction;
    /// the next reconcile starts from its write).
    #[error("updating status of poddisruptionbudget {name}")]
    Status {
        /// The budget.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

struct State {
    client: kube::Client,
    pods: Store<Pod>,
    recorder: Recorder,
    backoff: Backoff,
}

/// Runs the controller until `shutdown` completes.
pub async fn run(ctx: Arc<Ctx>, shutdown: Shutdown) {
    let client = ctx.client.clone();
    let (pdb_store, pdb_events) = cache::all::<PodDisruptionBudget>(&client);
    let (pod_store, pod_events) = cache::all::<Pod>(&client);
    let pdbs = pdb_store.clone();
    let from_pods = trigger_with(pod_events.touched_objects(), move |p: Pod| {
        budgets_of(&pdbs, &p)
    });
    let queue = futures::stream::select(trigger_self(pdb_events.touched_objects(), ()), from_pods);
    let state = Arc::new(State {
        client: client.clone(),
        pods: pod_store,
        recorder: Recorder::new(client, COMPONENT, "skiff-controller-manager"),
        backoff: Backoff::default(),
    });
    let results = applier(
        |pdb, st| Box::pin(reconcile(pdb, st)),
        error_policy,
        state,
        pdb_store,
        queue,
        kube::runtime::Config::default(),
    );
    cache::drive(results, shutdown, "disruption").await;
}

/// The budgets in the pod's namespace whose selector matches it.
fn budgets_of(pdbs: &Store<PodDisruptionBudget>, pod: &Pod) -> Vec<ObjectRef<PodDisruptionBudget>> {
    let ns = pod.namespace().unwrap_or_default();
    pdbs.state()
        .iter()
        .filter(|b| b.namespace().as_deref() == Some(ns.as_str()))
        .filter(|b| selector_of(b).is_some_and(|s| s.matches(pod.labels())))
        .map(|b| ObjectRef::from_obj(b.as_ref()))
        .collect()
}

/// The budget's selector; `None` (matches nothing) when absent or invalid,
/// as in `policy/v1` where a null selector selects no pods.
pub fn selector_of(pdb: &PodDisruptionBudget) -> Option<LabelSelector> {
    let sel = pdb.spec.as_ref()?.selector.as_ref()?;
    LabelSelector::from_metav1(sel).ok()
}

fn error_policy(pdb: Arc<PodDisruptionBudget>, err: &Error, st: Arc<State>) -> Action {
    tracing::debug!(error = %err, "disruption: requeue");
    let key = format!("{}/{}", pdb.namespace().unwrap_or_default(), pdb.name_any());
    Action::requeue(st.backoff.failed(&key))
}

/// Why the expected count could not be worked out.
enum Expected {
    /// The count and the unmanaged pods ignored for it.
    Count(i32, Vec<String>),
    /// A controller could not be read: fail safe.
    Failed(String),
}

async fn reconcile(pdb: Arc<PodDisruptionBudget>, st: Arc<State>) -> Result<Action, Error> {
    st.pods
        .wait_until_ready()
        .await
        .map_err(|_| Error::CacheClosed)?;
    let ns = pdb.namespace().unwrap_or_default();
    let key = format!("{ns}/{}", pdb.name_any());
    let selected: Vec<Arc<Pod>> = match selector_of(&pdb) {
        Some(sel) => st
            .pods
            .state()
            .into_iter()
            .filter(|p| p.namespace().as_deref() == Some(ns.as_str()))
            .filter(|p| sel.matches(p.labels()))
            .collect(),
        None => Vec::new(),
    };
    let spec = pdb.spec.clone().unwrap_or_default();
    let now = jiff::Timestamp::now();
    let (disrupted, recheck) = disrupted_pods(&pdb, &selected, now);
    let healthy = current_healthy(&selected, &disrupted);
    let (expected, desired, failure) = match (&spec.min_available, &spec.max_unavailable) {
        (Some(IntOrString::Int(n)), _) => (count(selected.len()), *n, None),
        (min, max) => match expected_count(&st.client, &ns, &selected).await {
            Expected::Count(expected, unmanaged) => {
                if !unmanaged.is_empty() {
                    st.recorder
                        .record(
                            pdb.as_ref(),
                            None,
                            Type::Warning,
                            "UnmanagedPods",
                            &format!(
                                "Pods selected by this PodDisruptionBudget (selector: {}) were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value.",
                                selector_of(&pdb).map(|s| s.to_string()).unwrap_or_default()
                            ),
                        )
                        .await;
                }
                let desired = match (min, max) {
                    (Some(m), _) => scaled(m, expected),
                    (None, Some(m)) => (expected - scaled(m, expected)).max(0),
                    // Validation requires one of them; none protects nothing.
                    (None, None) => 0,
                };
                (expected, desired, None)
            }
            Expected::Failed(msg) => (0, 0, Some(msg)),
        },
    };
    let status = match &failure {
        Some(msg) => {
            st.recorder
                .record(
                    pdb.as_ref(),
                    None,
                    Type::Warning,
                    "CalculateExpectedPodCountFailed",
                    msg,
                )
                .await;
            fail_safe(&pdb, now)
        }
        None => compute_status(&pdb, healthy, desired, expected, disrupted, now),
    };
    if Some(&status) != pdb.status.as_ref() {
        let mut next = (*pdb).clone();
        next.status = Some(status);
        let api: Api<PodDisruptionBudget> = Api::namespaced(st.client.clone(), &ns);
        // A full update carrying the cached resourceVersion: a concurrent
        // eviction that decremented the budget makes this a conflict
        // rather than an overwrite.
        match api
            .replace_status(&pdb.name_any(), &PostParams::default(), &next)
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(Action::await_change()),
            Err(source) => {
                return Err(Error::Status {
                    name: pdb.name_any(),
                    source,
                });
            }
        }
    }
    st.backoff.succeeded(&key);
    if failure.is_some() {
        return Ok(Action::requeue(Duration::from_secs(10)));
    }
    Ok(recheck.map_or_else(Action::await_change, Action::requeue))
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// `v` of `total`, percentages rounded up (Kubernetes'
/// `GetScaledValueFromIntOrPercent(…, true)`).
pub fn scaled(v: &IntOrString, total: i32) -> i32 {
    match v {
        IntOrString::Int(i) => *i,
        IntOrString::String(s) => {
            let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            let v = (pct.max(0) * i64::from(total.max(0)) + 99) / 100;
            i32::try_from(v).unwrap_or(i32::MAX)
        }
    }
}

/// The `disruptedPods` entries still pending, and when the oldest of them
/// expires (Kubernetes' `buildDisruptedPodMap`).
fn disrupted_pods(
    pdb: &PodDisruptionBudget,
    selected: &[Arc<Pod>],
    now: jiff::Timestamp,
) -> (BTreeMap<String, Time>, Option<Duration>) {
    let old = pdb
        .status
        .as_ref()
        .and_then(|s| s.disrupted_pods.clone())
        .unwrap_or_default();
    let mut keep = BTreeMap::new();
    let mut recheck: Option<Duration> = None;
    for p in selected {
        let name = p.name_any();
        let Some(at) = old.get(&name) else { continue };
        if p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let expires = at.0 + jiff::SignedDuration::try_from(DELETION_TIMEOUT).unwrap_or_default();
        if expires <= now {
            continue;
        }
        let left = Duration::try_from(expires.duration_since(now)).unwrap_or_default();
        recheck = Some(recheck.map_or(left, |r| r.min(left)));
        keep.insert(name, at.clone());
    }
    (keep, recheck)
}

/// Ready pods that are neither being deleted nor already evicted.
fn current_healthy(selected: &[Arc<Pod>], disrupted: &BTreeMap<String, Time>) -> i32 {
    count(
        selected
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| !disrupted.contains_key(&p.name_any()))
            .filter(|p| pods::is_ready(p))
            .count(),
    )
}

/// Sum of the scale of the selected pods' controllers (each counted once).
async fn expected_count(client: &kube::Client, ns: &str, selected: &[Arc<Pod>]) -> Expected {
    // Keyed by the uid of what carries the scale, so two ReplicaSets of one
    // Deployment count it once.
    let mut scales: HashMap<String, i32> = HashMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut unmanaged = Vec::new();
    for p in selected {
        let Some(r) = owner::controller_of(&p.metadata) else {
            unmanaged.push(p.name_any());
            continue;
        };
        if !seen.insert(r.uid.clone()) {
            continue;
        }
        match scale_of(client, ns, &r.kind, &r.name).await {
            Ok(Some((uid, replicas))) => {
                scales.insert(uid, replicas);
            }
            Ok(None) => unmanaged.push(p.name_any()),
            Err(msg) => return Expected::Failed(msg),
        }
    }
    Expected::Count(scales.values().sum(), unmanaged)
}

/// The `(uid, spec.replicas)` that governs a pod controlled by `kind/name`:
/// a ReplicaSet's Deployment when it has one. `None` for kinds without a
/// scale (a DaemonSet or Job controls no replica count).
async fn scale_of(
    client: &kube::Client,
    ns: &str,
    kind: &str,
    name: &str,
) -> Result<Option<(String, i32)>, String> {
    let err = |e: kube::Error| format!("getting scale of {kind} {name}: {e}");
    let replicas = |s: k8s_openapi::api::autoscaling::v1::Scale| {
        (
            s.metadata.uid.unwrap_or_default(),
            s.spec.and_then(|s| s.replicas).unwrap_or(0),
        )
    };
    match kind {
        "ReplicaSet" => {
            let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
            let rs = rss.get(name).await.map_err(err)?;
            if let Some(d) = owner::controller_of(&rs.metadata).filter(|r| r.kind == "Deployment") {
                let ds: Api<Deployment> = Api::namespaced(client.clone(), ns);
                let s = ds.get_scale(&d.name).await.map_err(err)?;
                return Ok(Some(replicas(s)));
            }
            Ok(Some(replicas(rss.get_scale(name).await.map_err(err)?)))
        }
        "StatefulSet" => {
            let api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
            Ok(Some(replicas(api.get_scale(name).await.map_err(err)?)))
        }
        "ReplicationController" => {
            let api: Api<ReplicationController> = Api::namespaced(client.clone(), ns);
            Ok(Some(replicas(api.get_scale(name).await.map_err(err)?)))
        }
        _ => Ok(None),
    }
}

fn condition(
    pdb: &PodDisruptionBudget,
    status: bool,
    reason: &str,
    message: &str,
    now: jiff::Timestamp,
) -> Condition {
    let old = pdb
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == CONDITION));
    let status = if status { "True" } else { "False" };
    let since = match old {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Time(now),
    };
    Condition {
        type_: CONDITION.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        last_transition_time: since,
        observed_generation: pdb.metadata.generation,
    }
}

/// Kubernetes' `failSafe`: no disruptions until the status can be computed.
fn fail_safe(pdb: &PodDisruptionBudget, now: jiff::Timestamp) -> PodDisruptionBudgetStatus {
    let mut s = pdb.status.clone().unwrap_or_default();
    s.disruptions_allowed = 0;
    s.observed_generation = pdb.metadata.generation;
    s.conditions = Some(vec![condition(pdb, false, "SyncFailed", "", now)]);
    s
}

/// The status of a budget with `healthy` of `desired` pods.
fn compute_status(
    pdb: &PodDisruptionBudget,
    healthy: i32,
    desired: i32,
    expected: i32,
    disrupted: BTreeMap<String, Time>,
    now: jiff::Timestamp,
) -> PodDisruptionBudgetStatus {
    let allowed = if expected > 0 {
        (healthy - desired).max(0)
    } else {
        0
    };
    let cond = if allowed > 0 {
        condition(pdb, true, "SufficientPods", "", now)
    } else {
        condition(pdb, false, "InsufficientPods", "", now)
    };
    PodDisruptionBudgetStatus {
        current_healthy: healthy,
        desired_healthy: desired,
        expected_pods: expected,
        disruptions_allowed: allowed,
        disrupted_pods: (!disrupted.is_empty()).then_some(disrupted),
        observed_generation: pdb.metadata.generation,
        conditions: Some(vec![cond]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pdb(spec: serde_json::Value) -> PodDisruptionBudget {
        serde_json::from_value(json!({"metadata": {"name": "b", "generation": 2}, "spec": spec}))
            .expect("pdb")
    }

    #[test]
    fn percentages_round_up() {
        assert_eq!(scaled(&IntOrString::String("50%".into()), 3), 2);
        assert_eq!(scaled(&IntOrString::String("10%".into()), 10), 1);
        assert_eq!(scaled(&IntOrString::Int(4), 10), 4);
    }

    #[test]
    fn allowed_disruptions_and_reasons() {
        let b = pdb(json!({"minAvailable": 1}));
        let now = jiff::Timestamp::now();
        let s = compute_status(&b, 2, 1, 2, BTreeMap::new(), now);
        assert_eq!(s.disruptions_allowed, 1);
        let c = &s.conditions.as_deref().unwrap_or_default()[0];
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", "SufficientPods")
        );
        let s = compute_status(&b, 2, 2, 2, BTreeMap::new(), now);
        assert_eq!(s.disruptions_allowed, 0);
        let c = &s.conditions.as_deref().unwrap_or_default()[0];
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "InsufficientPods")
        );
        assert_eq!(s.observed_generation, Some(2));
    }

    #[test]
    fn evicted_pods_stop_counting_until_they_expire() {
        let now = jiff::Timestamp::now();
        let pod: Arc<Pod> = Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "p"}, "status": {"conditions": [
                {"type": "Ready", "status": "True"}]}}))
            .expect("pod"),
        );
        let mut b = pdb(json!({"minAvailable": 1}));
        b.status = Some(PodDisruptionBudgetStatus {
            disrupted_pods: Some(BTreeMap::from([("p".to_owned(), Time(now))])),
            ..Default::default()
        });
        let (d, recheck) = disrupted_pods(&b, std::slice::from_ref(&pod), now);
        assert_eq!(current_healthy(std::slice::from_ref(&pod), &d), 0);
        assert!(recheck.is_some());
        let later = now + jiff::SignedDuration::from_secs(121);
        let (d, _) = disrupted_pods(&b, std::slice::from_ref(&pod), later);
        assert_eq!(current_healthy(&[pod], &d), 1);
    }
}
