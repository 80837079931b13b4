//! The ReplicaSet controller: keeps `spec.replicas` active pods matching
//! the selector, as Kubernetes' `replicaset-controller` does.
//!
//! Pods are read from a watch cache (a reflector) that is fed by the same
//! stream that triggers reconciles, so a reconcile never sees a cache older
//! than the event that woke it. What the cache cannot show yet — pods this
//! controller just created or deleted — is covered by [`Expectations`]: a
//! reconcile that still waits for its own writes to appear does not manage
//! replicas again (that is how Kubernetes avoids double creation under
//! watch lag). Expectations are only a cache: after a restart the relist
//! shows every pod, so losing them is safe.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, trigger_with};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{applier, watcher};
use kube::{Resource, ResourceExt};
use serde_json::json;
use skiff_api::selector::{LabelSelector, SelectorError};
use skiff_client::events::{Recorder, Type};

use crate::{Ctx, Shutdown, cache, owner, pods};

/// The component name on events, as in Kubernetes.
pub const COMPONENT: &str = "replicaset-controller";

/// Kubernetes' `BurstReplicas`: at most this many creations or deletions
/// per reconcile.
const BURST_REPLICAS: usize = 500;

/// Kubernetes' `ExpectationsTimeout`: an expectation never observed (a
/// lost watch event) stops blocking the controller after this long.
const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// What can fail while reconciling a ReplicaSet.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `spec.selector` does not parse (the API server validates it, so
    /// this means a stored object predates validation).
    #[error("replicaset {name} has an invalid selector")]
    Selector {
        /// The ReplicaSet.
        name: String,
        /// Why.
        #[source]
        source: SelectorError,
    },
    /// The pod watch cache stopped.
    #[error("the pod cache is closed")]
    CacheClosed,
    /// Creating or deleting pods failed (after the others in the batch
    /// were tried).
    #[error("managing pods of replicaset {name}: {message}")]
    Manage {
        /// The ReplicaSet.
        name: String,
        /// The first API error.
        message: String,
    },
    /// An API call failed.
    #[error("{action} for replicaset {name}")]
    Api {
        /// What was being done.
        action: &'static str,
        /// The ReplicaSet.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// Creations and deletions this controller made that the pod cache has not
/// shown yet, per ReplicaSet (`namespace/name`).
#[derive(Default)]
pub struct Expectations {
    inner: Mutex<HashMap<String, Pending>>,
}

struct Pending {
    /// Names of pods being created.
    creates: HashSet<String>,
    /// UIDs of pods being deleted.
    deletes: HashSet<String>,
    since: Instant,
}

impl Expectations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        // A panic while holding this lock leaves plain sets behind, still
        // consistent enough for a cache that may be lost anyway.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Nothing of `key` is in flight (or what is has timed out).
    pub fn satisfied(&self, key: &str) -> bool {
        let mut map = self.lock();
        let Some(p) = map.get(key) else { return true };
        if (p.creates.is_empty() && p.deletes.is_empty())
            || p.since.elapsed() > EXPECTATIONS_TIMEOUT
        {
            map.remove(key);
            return true;
        }
        false
    }

    fn entry<'a>(map: &'a mut HashMap<String, Pending>, key: &str) -> &'a mut Pending {
        map.entry(key.to_owned()).or_insert_with(|| Pending {
            creates: HashSet::new(),
            deletes: HashSet::new(),
            since: Instant::now(),
        })
    }

    /// `names` are about to be created.
    pub fn expect_creates(&self, key: &str, names: &[String]) {
        let mut map = self.lock();
        let p = Self::entry(&mut map, key);
        p.since = Instant::now();
        p.creates.extend(names.iter().cloned());
    }

    /// The pod with `uid` is about to be deleted.
    pub fn expect_delete(&self, key: &str, uid: &str) {
        let mut map = self.lock();
        let p = Self::entry(&mut map, key);
        p.since = Instant::now();
        p.deletes.insert(uid.to_owned());
    }

    /// A creation will never be seen (it failed).
    pub fn forget_create(&self, key: &str, name: &str) {
        if let Some(p) = self.lock().get_mut(key) {
            p.creates.remove(name);
        }
    }

    /// A deletion will never be seen (it failed, or the pod was gone).
    pub fn forget_delete(&self, key: &str, uid: &str) {
        if let Some(p) = self.lock().get_mut(key) {
            p.deletes.remove(uid);
        }
    }

    /// Drops everything about `key`.
    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    /// The cache now shows `pod` (`gone`: its deletion).
    fn observe(&self, pod: &Pod, gone: bool) {
        let Some(r) = owner::controller_of(&pod.metadata) else {
            return;
        };
        if r.kind != "ReplicaSet" {
            return;
        }
        let key = format!("{}/{}", pod.namespace().unwrap_or_default(), r.name);
        let mut map = self.lock();
        if let Some(p) = map.get_mut(&key) {
            p.creates.remove(&pod.name_any());
            if gone || pod.metadata.deletion_timestamp.is_some() {
                p.deletes.remove(&pod.uid().unwrap_or_default());
            }
        }
    }
}

struct State {
    client: kube::Client,
    pods: Store<Pod>,
    expectations: Expectations,
    recorder: Recorder,
    backoff: Backoff,
}

/// Per-object retry delays after errors, doubling from 100 ms up to 5
/// minutes, as Kubernetes' rate-limited work queue paces a failing object
/// (a ReplicaSet hitting a quota must not post a warning every 500 ms).
/// Pacing only, so losing it on restart is harmless.
#[derive(Default)]
pub(crate) struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// The delay before the next try of `key`, which just failed.
    pub(crate) fn failed(&self, key: &str) -> Duration {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = map.entry(key.to_owned()).or_default();
        *n = n.saturating_add(1);
        let ms = 100u64.saturating_mul(1u64 << (*n - 1).min(12));
        Duration::from_millis(ms).min(Duration::from_secs(300))
    }

    /// `key` succeeded: the next failure starts from the shortest delay.
    pub(crate) fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
    }
}

/// Runs the controller until `shutdown` completes.
pub async fn run(ctx: Arc<Ctx>, shutdown: Shutdown) {
    let client = ctx.client.clone();
    let (rs_store, rs_events) = cache::all::<ReplicaSet>(&client);
    let (pod_store, pod_events) = cache::all::<Pod>(&client);
    let state = Arc::new(State {
        client: client.clone(),
        pods: pod_store,
        expectations: Expectations::default(),
        recorder: Recorder::new(client, COMPONENT, "skiff-controller-manager"),
        backoff: Backoff::default(),
    });
    let owners = rs_store.clone();
    let st = state.clone();
    let from_pods = trigger_with(pod_events, move |ev: watcher::Event<Pod>| match ev {
        watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
            st.expectations.observe(&p, false);
            replicasets_of(&owners, &p)
        }
        watcher::Event::Delete(p) => {
            st.expectations.observe(&p, true);
            replicasets_of(&owners, &p)
        }
        watcher::Event::Init | watcher::Event::InitDone => Vec::new(),
    });
    let st = state.clone();
    let from_rss = trigger_with(rs_events, move |ev: watcher::Event<ReplicaSet>| match ev {
        watcher::Event::Apply(rs) | watcher::Event::InitApply(rs) => Some(ObjectRef::from_obj(&rs)),
        watcher::Event::Delete(rs) => {
            // Nothing will be observed for a ReplicaSet that is gone.
            st.expectations.forget(&format!(
                "{}/{}",
                rs.namespace().unwrap_or_default(),
                rs.name_any()
            ));
            None
        }
        watcher::Event::Init | watcher::Event::InitDone => None,
    });
    let queue = futures::stream::select(from_rss, from_pods);
    let results = applier(
        |rs, st| Box::pin(reconcile(rs, st)),
        error_policy,
        state,
        rs_store,
        queue,
        kube::runtime::Config::default(),
    );
    cache::drive(results, shutdown, "replicaset").await;
}

/// The ReplicaSets a pod event concerns.
fn replicasets_of(rss: &Store<ReplicaSet>, pod: &Pod) -> Vec<ObjectRef<ReplicaSet>> {
    owner::owners_to_notify(rss, &pod.metadata, |rs| selector_of(rs).ok())
}

fn selector_of(rs: &ReplicaSet) -> Result<LabelSelector, Error> {
    let sel = rs
        .spec
        .as_ref()
        .map(|s| s.selector.clone())
        .unwrap_or_default();
    LabelSelector::from_metav1(&sel).map_err(|source| Error::Selector {
        name: rs.name_any(),
        source,
    })
}

fn error_policy(rs: Arc<ReplicaSet>, err: &Error, st: Arc<State>) -> Action {
    tracing::debug!(error = %err, "replicaset: requeue");
    let key = format!("{}/{}", rs.namespace().unwrap_or_default(), rs.name_any());
    Action::requeue(st.backoff.failed(&key))
}

async fn reconcile(rs: Arc<ReplicaSet>, st: Arc<State>) -> Result<Action, Error> {
    st.pods
        .wait_until_ready()
        .await
        .map_err(|_| Error::CacheClosed)?;
    let ns = rs.namespace().unwrap_or_default();
    let name = rs.name_any();
    let key = format!("{ns}/{name}");
    let uid = rs.uid().unwrap_or_default();
    let spec = rs.spec.clone().unwrap_or_default();
    let selector = selector_of(&rs)?;
    let deleting = rs.metadata.deletion_timestamp.is_some();
    // Read the expectations before the cache: an observation landing in
    // between then only makes us wait one more event, never act twice.
    let satisfied = st.expectations.satisfied(&key);
    let pod_api: Api<Pod> = Api::namespaced(st.client.clone(), &ns);

    let mut mine: Vec<Arc<Pod>> = Vec::new();
    for pod in st
        .pods
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(ns.as_str()))
    {
        let matches = selector.matches(pod.labels());
        match owner::controller_of(&pod.metadata) {
            Some(r) if r.uid == uid => {
                if matches || deleting {
                    mine.push(pod);
                } else {
                    release(&pod_api, pod.as_ref(), &uid).await;
                }
            }
            Some(_) => {}
            None => {
                if matches
                    && !deleting
                    && pod.metadata.deletion_timestamp.is_none()
                    && adopt(&pod_api, pod.as_ref(), rs.as_ref()).await
                {
                    mine.push(pod);
                }
            }
        }
    }
    let active: Vec<Arc<Pod>> = mine.into_iter().filter(|p| pods::is_active(p)).collect();

    let replicas = usize::try_from(spec.replicas.unwrap_or(1)).unwrap_or(0);
    let mut manage_err: Option<(&'static str, String)> = None;
    if satisfied && !deleting {
        if active.len() < replicas {
            let want = (replicas - active.len()).min(BURST_REPLICAS);
            if let Err(msg) = create_pods(&st, &rs, &key, want).await {
                manage_err = Some(("FailedCreate", msg));
            }
        } else if active.len() > replicas {
            let n = (active.len() - replicas).min(BURST_REPLICAS);
            if let Err(msg) = delete_pods(&st, &rs, &key, &active, n).await {
                manage_err = Some(("FailedDelete", msg));
            }
        }
    }

    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let now = jiff::Timestamp::now();
    let status = compute_status(&rs, &active, manage_err.as_ref(), now);
    if Some(&status) != rs.status.as_ref() {
        patch_status(&st.client, &rs, &status).await?;
    }
    if let Some((_, message)) = manage_err {
        return Err(Error::Manage { name, message });
    }
    st.backoff.succeeded(&key);
    if !satisfied {
        // A lost watch event would otherwise leave nobody to wake us when
        // the expectations time out.
        return Ok(Action::requeue(Duration::from_secs(30)));
    }
    let waiting = active
        .iter()
        .any(|p| pods::is_ready(p) && !pods::is_available(p, min_ready, now));
    if min_ready > 0 && waiting {
        return Ok(Action::requeue(Duration::from_secs(
            u64::try_from(min_ready).unwrap_or(1),
        )));
    }
    Ok(Action::await_change())
}

/// The status Kubernetes' `calculateStatus` would write.
fn compute_status(
    rs: &ReplicaSet,
    active: &[Arc<Pod>],
    manage_err: Option<&(&'static str, String)>,
    now: jiff::Timestamp,
) -> ReplicaSetStatus {
    let spec = rs.spec.clone().unwrap_or_default();
    let template_labels = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let count = |f: &dyn Fn(&Pod) -> bool| -> i32 {
        i32::try_from(active.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
    };
    let fully_labeled = count(&|p: &Pod| {
        template_labels
            .iter()
            .all(|(k, v)| p.labels().get(k) == Some(v))
    });
    let ready = count(&|p: &Pod| pods::is_ready(p));
    let available = count(&|p: &Pod| pods::is_available(p, min_ready, now));
    let old = rs.status.clone().unwrap_or_default();
    let mut conditions: Vec<ReplicaSetCondition> = old.conditions.unwrap_or_default();
    let has_failure = conditions.iter().any(|c| c.type_ == "ReplicaFailure");
    match manage_err {
        Some((reason, message)) if !has_failure => conditions.push(ReplicaSetCondition {
            type_: "ReplicaFailure".into(),
            status: "True".into(),
            reason: Some((*reason).into()),
            message: Some(message.clone()),
            last_transition_time: Some(Time(now)),
        }),
        None if has_failure => conditions.retain(|c| c.type_ != "ReplicaFailure"),
        _ => {}
    }
    let nonzero = |n: i32| (n != 0).then_some(n);
    ReplicaSetStatus {
        replicas: i32::try_from(active.len()).unwrap_or(i32::MAX),
        fully_labeled_replicas: nonzero(fully_labeled),
        ready_replicas: nonzero(ready),
        available_replicas: nonzero(available),
        observed_generation: rs.metadata.generation,
        conditions: (!conditions.is_empty()).then_some(conditions),
        terminating_replicas: old.terminating_replicas,
    }
}

async fn patch_status(
    client: &kube::Client,
    rs: &ReplicaSet,
    status: &ReplicaSetStatus,
) -> Result<(), Error> {
    // A merge patch with explicit nulls, so zero counts (which Kubernetes
    // omits) clear what was there before.
    let patch = json!({"status": {
        "replicas": status.replicas,
        "fullyLabeledReplicas": status.fully_labeled_replicas,
        "readyReplicas": status.ready_replicas,
        "availableReplicas": status.available_replicas,
        "observedGeneration": status.observed_generation,
        "conditions": status.conditions,
    }});
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), &rs.namespace().unwrap_or_default());
    match api
        .patch_status(
            &rs.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        // Deleted meanwhile: nothing left to report on.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(source) => Err(Error::Api {
            action: "updating status",
            name: rs.name_any(),
            source,
        }),
    }
}

/// Sets `owner` as the controller of `pod`; false if it changed meanwhile.
pub(crate) async fn adopt<K, O>(api: &Api<K>, pod: &K, rs: &O) -> bool
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    O: Resource<DynamicType = ()>,
{
    let mut refs = pod.meta().owner_references.clone().unwrap_or_default();
    refs.push(owner::controller_ref(rs));
    set_owner_refs(api, pod, refs).await
}

/// Drops the object's controller reference to `uid`.
pub(crate) async fn release<K>(api: &Api<K>, pod: &K, uid: &str) -> bool
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let refs: Vec<_> = pod
        .meta()
        .owner_references
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.uid != uid)
        .collect();
    set_owner_refs(api, pod, refs).await
}

/// Replaces `obj`'s owner references, only if it is still the version the
/// cache showed; false if that failed.
pub(crate) async fn set_owner_refs<K>(
    api: &Api<K>,
    pod: &K,
    refs: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
) -> bool
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    // The test ops make this a compare-and-swap on the cached pod: a pod
    // that was replaced or changed owners meanwhile is left alone.
    let patch = json!([
        {"op": "test", "path": "/metadata/uid", "value": pod.uid()},
        {"op": "test", "path": "/metadata/resourceVersion", "value": pod.resource_version()},
        {"op": "add", "path": "/metadata/ownerReferences", "value": refs},
    ]);
    let patch: json_patch::Patch = match serde_json::from_value(patch) {
        Ok(p) => p,
        Err(_) => return false,
    };
    match api
        .patch(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Json::<()>(patch),
        )
        .await
    {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(error = %e, pod = %pod.name_any(), "changing owner references");
            false
        }
    }
}

/// Creates `want` pods in slow-start batches (1, 2, 4, …), stopping at the
/// first batch with an error, as Kubernetes' `slowStartBatch` does; a quota
/// or admission error then costs one request, not `want`.
async fn create_pods(st: &State, rs: &ReplicaSet, key: &str, want: usize) -> Result<(), String> {
    let ns = rs.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(st.client.clone(), &ns);
    let mut remaining = want;
    let mut batch = 1;
    while remaining > 0 {
        let n = batch.min(remaining);
        let names: Vec<String> = (0..n).map(|_| generate_name(&rs.name_any())).collect();
        st.expectations.expect_creates(key, &names);
        let results = futures::future::join_all(names.iter().map(|name| {
            let pod = pod_from_template(rs, name);
            let api = api.clone();
            async move { api.create(&PostParams::default(), &pod).await }
        }))
        .await;
        let mut first_err = None;
        for (name, res) in names.iter().zip(results) {
            match res {
                Ok(p) => {
                    st.recorder
                        .record(
                            rs,
                            None,
                            Type::Normal,
                            "SuccessfulCreate",
                            &format!("Created pod: {}", p.name_any()),
                        )
                        .await;
                }
                Err(e) => {
                    st.expectations.forget_create(key, name);
                    let msg = match &e {
                        kube::Error::Api(s) => s.message.clone(),
                        other => other.to_string(),
                    };
                    st.recorder
                        .record(
                            rs,
                            None,
                            Type::Warning,
                            "FailedCreate",
                            &format!("Error creating: {msg}"),
                        )
                        .await;
                    first_err.get_or_insert(msg);
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        remaining -= n;
        batch = (batch * 2).min(remaining.max(1));
    }
    Ok(())
}

/// Deletes the `n` pods Kubernetes would pick first.
async fn delete_pods(
    st: &State,
    rs: &ReplicaSet,
    key: &str,
    active: &[Arc<Pod>],
    n: usize,
) -> Result<(), String> {
    let ns = rs.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(st.client.clone(), &ns);
    let victims = pods_to_delete(active, n);
    for p in &victims {
        st.expectations
            .expect_delete(key, &p.uid().unwrap_or_default());
    }
    let results = futures::future::join_all(victims.iter().map(|p| {
        let api = api.clone();
        async move { api.delete(&p.name_any(), &DeleteParams::default()).await }
    }))
    .await;
    let mut first_err = None;
    for (p, res) in victims.iter().zip(results) {
        match res {
            Ok(_) => {
                st.recorder
                    .record(
                        rs,
                        None,
                        Type::Normal,
                        "SuccessfulDelete",
                        &format!("Deleted pod: {}", p.name_any()),
                    )
                    .await;
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                st.expectations
                    .forget_delete(key, &p.uid().unwrap_or_default());
            }
            Err(e) => {
                st.expectations
                    .forget_delete(key, &p.uid().unwrap_or_default());
                let msg = e.to_string();
                st.recorder
                    .record(
                        rs,
                        None,
                        Type::Warning,
                        "FailedDelete",
                        &format!("Error deleting: {msg}"),
                    )
                    .await;
                first_err.get_or_insert(msg);
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// The `n` pods to delete first, in Kubernetes' `ActivePodsWithRanks`
/// order: unscheduled < scheduled, Pending < Unknown < Running, not ready <
/// ready, more replicas on the same node first, ready for less time first,
/// more restarts first, newer before older.
pub fn pods_to_delete(active: &[Arc<Pod>], n: usize) -> Vec<Arc<Pod>> {
    let mut per_node: HashMap<String, usize> = HashMap::new();
    for p in active {
        if let Some(node) = node_of(p) {
            *per_node.entry(node.to_owned()).or_default() += 1;
        }
    }
    let mut ranked: Vec<Arc<Pod>> = active.to_vec();
    ranked.sort_by_cached_key(|p| {
        let node = node_of(p);
        let phase = match pods::phase(p) {
            "Pending" | "" => 0,
            "Unknown" => 1,
            "Running" => 2,
            _ => 3,
        };
        let restarts = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|cs| cs.iter().map(|c| c.restart_count).max())
            .unwrap_or(0);
        (
            node.is_some(),
            phase,
            pods::is_ready(p),
            Reverse(node.and_then(|n| per_node.get(n).copied()).unwrap_or(0)),
            Reverse(pods::ready_since(p)),
            Reverse(restarts),
            Reverse(p.metadata.creation_timestamp.as_ref().map(|t| t.0)),
        )
    });
    ranked.truncate(n);
    ranked
}

fn node_of(p: &Pod) -> Option<&str> {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

/// A pod of `rs` named `name`, from its template.
fn pod_from_template(rs: &ReplicaSet, name: &str) -> Pod {
    let template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            generate_name: Some(format!("{}-", rs.name_any())),
            namespace: rs.namespace(),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![owner::controller_ref(rs)]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// `<base>-` plus five random characters, as the API server's
/// `generateName` would; chosen here so that the expectation can be
/// recorded before the request, leaving no window where the watch event
/// arrives before the controller knows the name.
pub fn generate_name(base: &str) -> String {
    // Kubernetes' name generator alphabet: no vowels, no look-alikes.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut prefix = format!("{base}-");
    // maxGeneratedNameLength: 63 minus the 5 random characters.
    while prefix.len() > 58 {
        prefix.pop();
    }
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let mut bits = h.finish();
    for _ in 0..5 {
        let i = usize::try_from(bits % 27).unwrap_or(0);
        prefix.push(char::from(ALPHABET[i]));
        bits /= 27;
    }
    prefix
}

/// Labels of `labels` plus `extra` (used by the Deployment controller for
/// `pod-template-hash`).
pub fn with_label(
    labels: Option<&BTreeMap<String, String>>,
    key: &str,
    value: &str,
) -> BTreeMap<String, String> {
    let mut out = labels.cloned().unwrap_or_default();
    out.insert(key.to_owned(), value.to_owned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, node: Option<&str>, phase: &str, ready: bool, created: &str) -> Arc<Pod> {
        let mut v = json!({
            "metadata": {"name": name, "creationTimestamp": created},
            "spec": {"containers": []},
            "status": {"phase": phase},
        });
        if let Some(n) = node {
            v["spec"]["nodeName"] = n.into();
        }
        if ready {
            v["status"]["conditions"] = json!([{"type": "Ready", "status": "True",
                "lastTransitionTime": created}]);
        }
        Arc::new(serde_json::from_value(v).expect("pod"))
    }

    #[test]
    fn deletion_prefers_unscheduled_pending_unready_newer() {
        let pods = vec![
            pod(
                "ready-old",
                Some("n"),
                "Running",
                true,
                "2026-01-01T00:00:00Z",
            ),
            pod(
                "ready-new",
                Some("n"),
                "Running",
                true,
                "2026-01-01T00:01:00Z",
            ),
            pod(
                "running",
                Some("n"),
                "Running",
                false,
                "2026-01-01T00:00:00Z",
            ),
            pod(
                "pending",
                Some("n"),
                "Pending",
                false,
                "2026-01-01T00:00:00Z",
            ),
            pod(
                "unscheduled",
                None,
                "Pending",
                false,
                "2026-01-01T00:00:00Z",
            ),
        ];
        let order: Vec<String> = pods_to_delete(&pods, 5)
            .iter()
            .map(|p| p.name_any())
            .collect();
        assert_eq!(
            order,
            [
                "unscheduled",
                "pending",
                "running",
                "ready-new",
                "ready-old"
            ]
        );
    }

    #[test]
    fn generated_names_look_like_the_api_servers() {
        let a = generate_name("web");
        assert!(a.starts_with("web-") && a.len() == 9, "{a}");
        assert_ne!(a, generate_name("web"));
        assert_eq!(generate_name(&"x".repeat(80)).len(), 63);
    }

    #[test]
    fn expectations_wait_for_observation() {
        let e = Expectations::default();
        e.expect_creates("ns/rs", &["rs-abcde".into()]);
        assert!(!e.satisfied("ns/rs"));
        let p: Pod = serde_json::from_value(json!({"metadata": {"name": "rs-abcde",
            "namespace": "ns", "ownerReferences": [{"apiVersion": "apps/v1",
            "kind": "ReplicaSet", "name": "rs", "uid": "u", "controller": true}]}}))
        .expect("pod");
        e.observe(&p, false);
        assert!(e.satisfied("ns/rs"));
    }
}
