//! The DaemonSet controller: one pod per eligible node, as Kubernetes'
//! `daemonset-controller` does.
//!
//! Pods are created with a required node affinity naming their node
//! (`matchFields: metadata.name`), and the scheduler binds them, as in
//! Kubernetes since 1.12. Each template is snapshotted in a
//! ControllerRevision (see [`crate::history`]); pods carry the revision's
//! `controller-revision-hash`, which is how RollingUpdate tells old pods
//! from new ones and how `kubectl rollout undo` brings an old template
//! back. Pending creations and deletions are tracked with the ReplicaSet
//! controller's [`Expectations`], so watch lag never doubles a pod.

pub mod nodes;
pub mod rolling;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, trigger_with};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, applier, watcher};
use serde_json::{Value, json};
use skiff_api::selector::{LabelSelector, SelectorError};
use skiff_client::events::{Recorder, Type};

use self::nodes::{
    Placement, pin_to_node, placement, target_node, template, with_daemon_tolerations,
};
use crate::history::{self, HASH_LABEL};
use crate::replicaset::{Backoff, Expectations, adopt, generate_name, release};
use crate::{Ctx, Shutdown, cache, owner, pods};

/// The component name on events, as in Kubernetes.
pub const COMPONENT: &str = "daemonset-controller";

/// What can fail while reconciling a DaemonSet.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `spec.selector` does not parse.
    #[error("daemonset {name} has an invalid selector")]
    Selector {
        /// The DaemonSet.
        name: String,
        /// Why.
        #[source]
        source: SelectorError,
    },
    /// A watch cache stopped.
    #[error("the pod or node cache is closed")]
    CacheClosed,
    /// `<daemonset>-<hash>` exists with another template; the collision
    /// count was raised and the next reconcile uses a new name.
    #[error("hash collision for daemonset {name}")]
    HashCollision {
        /// The DaemonSet.
        name: String,
    },
    /// Creating or deleting pods failed (after the others were tried).
    #[error("managing pods of daemonset {name}: {message}")]
    Manage {
        /// The DaemonSet.
        name: String,
        /// The first API error.
        message: String,
    },
    /// An API call failed.
    #[error("{action} for daemonset {name}")]
    Api {
        /// What was being done.
        action: &'static str,
        /// The DaemonSet.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

struct State {
    client: kube::Client,
    pods: Store<Pod>,
    nodes: Store<Node>,
    expectations: Expectations,
    recorder: Recorder,
    backoff: Backoff,
}

/// Runs the controller until `shutdown` completes.
pub async fn run(ctx: Arc<Ctx>, shutdown: Shutdown) {
    let client = ctx.client.clone();
    let (ds_store, ds_events) = cache::all::<DaemonSet>(&client);
    let (pod_store, pod_events) = cache::all::<Pod>(&client);
    let (node_store, node_events) = cache::all::<Node>(&client);
    let state = Arc::new(State {
        client: client.clone(),
        pods: pod_store,
        nodes: node_store,
        expectations: Expectations::default(),
        recorder: Recorder::new(client, COMPONENT, "skiff-controller-manager"),
        backoff: Backoff::default(),
    });
    let owners = ds_store.clone();
    let st = state.clone();
    let from_pods = trigger_with(pod_events, move |ev: watcher::Event<Pod>| match ev {
        watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
            observe(&st.expectations, &p, false);
            owner::owners_to_notify(&owners, &p.metadata, |d| selector_of(d).ok())
        }
        watcher::Event::Delete(p) => {
            observe(&st.expectations, &p, true);
            owner::owners_to_notify(&owners, &p.metadata, |d| selector_of(d).ok())
        }
        watcher::Event::Init | watcher::Event::InitDone => Vec::new(),
    });
    // Any node change (labels, taints, a new node) may concern every
    // DaemonSet.
    let all = ds_store.clone();
    let from_nodes = trigger_with(node_events.touched_objects(), move |_: Node| {
        all.state()
            .iter()
            .map(|d| ObjectRef::from_obj(d.as_ref()))
            .collect::<Vec<_>>()
    });
    let st = state.clone();
    let from_dss = trigger_with(ds_events, move |ev: watcher::Event<DaemonSet>| match ev {
        watcher::Event::Apply(d) | watcher::Event::InitApply(d) => Some(ObjectRef::from_obj(&d)),
        watcher::Event::Delete(d) => {
            st.expectations.forget(&key_of(&d));
            None
        }
        watcher::Event::Init | watcher::Event::InitDone => None,
    });
    let queue = futures::stream::select(from_dss, futures::stream::select(from_pods, from_nodes));
    let results = applier(
        |d, st| Box::pin(reconcile(d, st)),
        error_policy,
        state,
        ds_store,
        queue,
        kube::runtime::Config::default(),
    );
    cache::drive(results, shutdown, "daemonset").await;
}

fn key_of(d: &DaemonSet) -> String {
    format!("{}/{}", d.namespace().unwrap_or_default(), d.name_any())
}

/// The pod cache now shows `pod` (`gone`: its deletion): its owner's
/// expectations about it are met.
fn observe(e: &Expectations, pod: &Pod, gone: bool) {
    let Some(r) = owner::controller_of(&pod.metadata) else {
        return;
    };
    if r.kind != "DaemonSet" {
        return;
    }
    let key = format!("{}/{}", pod.namespace().unwrap_or_default(), r.name);
    e.forget_create(&key, &pod.name_any());
    if gone || pod.metadata.deletion_timestamp.is_some() {
        e.forget_delete(&key, &pod.uid().unwrap_or_default());
    }
}

fn selector_of(d: &DaemonSet) -> Result<LabelSelector, Error> {
    let sel = d
        .spec
        .as_ref()
        .map(|s| s.selector.clone())
        .unwrap_or_default();
    LabelSelector::from_metav1(&sel).map_err(|source| Error::Selector {
        name: d.name_any(),
        source,
    })
}

fn error_policy(d: Arc<DaemonSet>, err: &Error, st: Arc<State>) -> Action {
    tracing::debug!(error = %err, "daemonset: requeue");
    Action::requeue(st.backoff.failed(&key_of(&d)))
}

/// The strategy type, `RollingUpdate` unless `OnDelete`.
fn on_delete(d: &DaemonSet) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        == Some("OnDelete")
}

async fn reconcile(d: Arc<DaemonSet>, st: Arc<State>) -> Result<Action, Error> {
    st.pods
        .wait_until_ready()
        .await
        .map_err(|_| Error::CacheClosed)?;
    st.nodes
        .wait_until_ready()
        .await
        .map_err(|_| Error::CacheClosed)?;
    let key = key_of(&d);
    let ns = d.namespace().unwrap_or_default();
    let run = Run {
        st: &st,
        d: &d,
        key: key.clone(),
        pod_api: Api::namespaced(st.client.clone(), &ns),
        rev_api: Api::namespaced(st.client.clone(), &ns),
    };
    let action = run.sync().await?;
    st.backoff.succeeded(&key);
    Ok(action)
}

/// One reconcile of one DaemonSet.
struct Run<'a> {
    st: &'a State,
    d: &'a DaemonSet,
    key: String,
    pod_api: Api<Pod>,
    rev_api: Api<ControllerRevision>,
}

impl Run<'_> {
    fn api_err(&self, action: &'static str) -> impl FnOnce(kube::Error) -> Error + '_ {
        move |source| Error::Api {
            action,
            name: self.d.name_any(),
            source,
        }
    }

    async fn sync(&self) -> Result<Action, Error> {
        let d = self.d;
        let selector = selector_of(d)?;
        let deleting = d.metadata.deletion_timestamp.is_some();
        // Expectations before the cache: see the ReplicaSet controller.
        let satisfied = self.st.expectations.satisfied(&self.key);
        let mine = self.claim(&selector, deleting).await;
        if deleting {
            // The garbage collector removes the pods; nothing to roll.
            return Ok(Action::await_change());
        }
        let (current, revisions) = self.history().await?;
        let hash = history::hash_of(&current).unwrap_or_default().to_owned();

        let nodes = self.st.nodes.state();
        let node_names: HashSet<String> = nodes.iter().map(|n| n.name_any()).collect();
        let mut by_node: BTreeMap<String, Vec<Arc<Pod>>> = BTreeMap::new();
        let mut orphaned: Vec<Arc<Pod>> = Vec::new();
        for p in mine
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
        {
            match target_node(p).filter(|n| node_names.contains(n)) {
                Some(n) => by_node.entry(n).or_default().push(p.clone()),
                // A pod for a node that is gone has nowhere to run.
                None => orphaned.push(p.clone()),
            }
        }
        for pods in by_node.values_mut() {
            pods.sort_by_key(|p| {
                (
                    p.metadata.creation_timestamp.as_ref().map(|t| t.0),
                    p.name_any(),
                )
            });
        }
        let placements: BTreeMap<String, Placement> = nodes
            .iter()
            .map(|n| (n.name_any(), placement(d, n)))
            .collect();

        let mut manage_err = None;
        if satisfied {
            let (create, delete) = self.manage(&placements, &by_node, orphaned, &hash);
            if !create.is_empty() || !delete.is_empty() {
                manage_err = self.sync_nodes(&create, &delete, &hash).await.err();
            } else if !on_delete(d) {
                let running: BTreeMap<String, Vec<Arc<Pod>>> = by_node
                    .iter()
                    .filter(|(n, _)| placements.get(*n).is_some_and(|p| p.should_run))
                    .map(|(n, ps)| (n.clone(), ps.clone()))
                    .collect();
                let desired = count(placements.values().filter(|p| p.should_run).count());
                let (surge, unavailable) = rolling::limits(d, desired);
                let step = rolling::step(
                    &running,
                    &hash,
                    surge,
                    unavailable,
                    min_ready(d),
                    jiff::Timestamp::now(),
                );
                let victims: Vec<Arc<Pod>> = mine
                    .iter()
                    .filter(|p| step.delete.contains(&p.name_any()))
                    .cloned()
                    .collect();
                manage_err = self.sync_nodes(&step.surge, &victims, &hash).await.err();
            }
        }
        self.cleanup_history(&current, &revisions, &mine).await?;
        let status = compute_status(d, &placements, &by_node, &hash, jiff::Timestamp::now());
        if Some(&status) != d.status.as_ref() {
            self.write_status(&status).await?;
        }
        if let Some(message) = manage_err {
            return Err(Error::Manage {
                name: d.name_any(),
                message,
            });
        }
        if !satisfied {
            // A lost watch event would otherwise leave nobody to wake us.
            return Ok(Action::requeue(Duration::from_secs(30)));
        }
        let mr = min_ready(d);
        if mr > 0 && status.number_available.unwrap_or(0) < status.number_ready {
            return Ok(Action::requeue(Duration::from_secs(
                u64::try_from(mr).unwrap_or(1),
            )));
        }
        Ok(Action::await_change())
    }

    /// The pods this DaemonSet controls, adopting matching orphans and
    /// releasing those that stopped matching.
    async fn claim(&self, selector: &LabelSelector, deleting: bool) -> Vec<Arc<Pod>> {
        let ns = self.d.namespace().unwrap_or_default();
        let uid = self.d.uid().unwrap_or_default();
        let mut mine = Vec::new();
        for pod in self
            .st
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
                        release(&self.pod_api, pod.as_ref(), &uid).await;
                    }
                }
                Some(_) => {}
                None => {
                    if matches
                        && !deleting
                        && pod.metadata.deletion_timestamp.is_none()
                        && adopt(&self.pod_api, pod.as_ref(), self.d).await
                    {
                        mine.push(pod);
                    }
                }
            }
        }
        mine
    }

    /// Kubernetes' `podsShouldBeOnNode` over every node: nodes that need a
    /// pod, and pods to delete (failed ones, extras, those on nodes that no
    /// longer take the daemon).
    fn manage(
        &self,
        placements: &BTreeMap<String, Placement>,
        by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
        orphaned: Vec<Arc<Pod>>,
        hash: &str,
    ) -> (Vec<String>, Vec<Arc<Pod>>) {
        let surge = !on_delete(self.d) && rolling::limits(self.d, 1).0 > 0;
        let mut create = Vec::new();
        let mut delete = orphaned;
        for (node, place) in placements {
            let pods = by_node.get(node).cloned().unwrap_or_default();
            let (failed, running): (Vec<_>, Vec<_>) =
                pods.into_iter().partition(|p| pods::is_terminal(p));
            if place.should_run && running.is_empty() {
                create.push(node.clone());
            }
            if !place.should_continue_running {
                delete.extend(running);
                delete.extend(failed);
                continue;
            }
            // A failed daemon pod is replaced, as a kubelet restart would.
            delete.extend(failed);
            if surge {
                // Surge allows one old and one new pod side by side.
                let (new, old): (Vec<_>, Vec<_>) = running
                    .into_iter()
                    .partition(|p| rolling::is_updated(p, hash));
                delete.extend(new.into_iter().skip(1));
                delete.extend(old.into_iter().skip(1));
            } else {
                // Keep the oldest; `by_node` is sorted by creation.
                delete.extend(running.into_iter().skip(1));
            }
        }
        // Pods on nodes not in the cache at all were already in `orphaned`.
        (create, delete)
    }

    /// Creates a pod on each of `create` and deletes `delete`, recording
    /// events; the first error is returned after all were tried.
    async fn sync_nodes(
        &self,
        create: &[String],
        delete: &[Arc<Pod>],
        hash: &str,
    ) -> Result<(), String> {
        let d = self.d;
        let mut first_err: Option<String> = None;
        for p in delete {
            self.st
                .expectations
                .expect_delete(&self.key, &p.uid().unwrap_or_default());
        }
        let results = futures::future::join_all(delete.iter().map(|p| {
            let api = self.pod_api.clone();
            async move { api.delete(&p.name_any(), &DeleteParams::default()).await }
        }))
        .await;
        for (p, res) in delete.iter().zip(results) {
            match res {
                Ok(_) => {
                    self.st
                        .recorder
                        .record(
                            d,
                            None,
                            Type::Normal,
                            "SuccessfulDelete",
                            &format!("Deleted pod: {}", p.name_any()),
                        )
                        .await;
                }
                Err(e) => {
                    self.st
                        .expectations
                        .forget_delete(&self.key, &p.uid().unwrap_or_default());
                    if !matches!(&e, kube::Error::Api(s) if s.code == 404) {
                        let msg = api_message(&e);
                        self.st
                            .recorder
                            .record(
                                d,
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
        }
        // Slow start, as Kubernetes' `slowStartBatch`: an admission or quota
        // error costs one request, not one per node.
        let mut rest = create;
        let mut batch = 1;
        while !rest.is_empty() && first_err.is_none() {
            let (now, later) = rest.split_at(batch.min(rest.len()));
            rest = later;
            batch *= 2;
            let names: Vec<String> = now.iter().map(|_| generate_name(&d.name_any())).collect();
            self.st.expectations.expect_creates(&self.key, &names);
            let results = futures::future::join_all(now.iter().zip(&names).map(|(node, name)| {
                let api = self.pod_api.clone();
                let pod = new_pod(d, node, name, hash);
                async move { api.create(&PostParams::default(), &pod).await }
            }))
            .await;
            for (name, res) in names.iter().zip(results) {
                match res {
                    Ok(p) => {
                        self.st
                            .recorder
                            .record(
                                d,
                                None,
                                Type::Normal,
                                "SuccessfulCreate",
                                &format!("Created pod: {}", p.name_any()),
                            )
                            .await;
                    }
                    Err(e) => {
                        self.st.expectations.forget_create(&self.key, name);
                        let msg = api_message(&e);
                        self.st
                            .recorder
                            .record(
                                d,
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
        }
        first_err.map_or(Ok(()), Err)
    }

    /// The revision of the current template (created, or renumbered as the
    /// newest if an old one matches) and all revisions, oldest first.
    async fn history(&self) -> Result<(ControllerRevision, Vec<ControllerRevision>), Error> {
        let d = self.d;
        let uid = d.uid().unwrap_or_default();
        let revisions = history::list_owned(&self.rev_api, &uid)
            .await
            .map_err(self.api_err("listing controllerrevisions"))?;
        let tmpl = serde_json::to_value(template(d)).unwrap_or_default();
        let wanted = history::canonical(&tmpl);
        let max = history::max_revision(&revisions);
        if let Some(found) = revisions
            .iter()
            .find(|r| history::canonical(&template_in(r)) == wanted)
        {
            let mut found = found.clone();
            if found.revision < max {
                found = history::set_revision(&self.rev_api, &found, max + 1)
                    .await
                    .map_err(self.api_err("renumbering controllerrevision"))?;
            }
            let revisions = history::list_owned(&self.rev_api, &uid)
                .await
                .map_err(self.api_err("listing controllerrevisions"))?;
            return Ok((found, revisions));
        }
        let collisions = d.status.as_ref().and_then(|s| s.collision_count);
        let hash = history::hash(&tmpl, collisions);
        let labels = template(d)
            .metadata
            .and_then(|m| m.labels)
            .unwrap_or_default();
        let mut patch_tmpl = tmpl;
        patch_tmpl["$patch"] = "replace".into();
        let rev = history::new_revision(
            d,
            &labels,
            json!({"spec": {"template": patch_tmpl}}),
            max + 1,
            &hash,
        );
        match history::create(&self.rev_api, &rev)
            .await
            .map_err(self.api_err("creating controllerrevision"))?
        {
            history::Created::Ok(r) => {
                let mut all = revisions;
                all.retain(|x| x.name_any() != r.name_any());
                all.push(r.clone());
                Ok((r, all))
            }
            history::Created::Collision => {
                let next = collisions.unwrap_or(0).saturating_add(1);
                let api: Api<DaemonSet> =
                    Api::namespaced(self.st.client.clone(), &d.namespace().unwrap_or_default());
                api.patch_status(
                    &d.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&json!({"status": {"collisionCount": next}})),
                )
                .await
                .map_err(self.api_err("raising collisionCount"))?;
                Err(Error::HashCollision { name: d.name_any() })
            }
        }
    }

    /// Deletes old revisions beyond `revisionHistoryLimit` that no live
    /// pod still runs.
    async fn cleanup_history(
        &self,
        current: &ControllerRevision,
        revisions: &[ControllerRevision],
        mine: &[Arc<Pod>],
    ) -> Result<(), Error> {
        let limit = self
            .d
            .spec
            .as_ref()
            .and_then(|s| s.revision_history_limit)
            .unwrap_or(history::DEFAULT_HISTORY_LIMIT);
        let live: HashSet<String> = mine
            .iter()
            .filter_map(|p| p.labels().get(HASH_LABEL).cloned())
            .collect();
        let prune = history::to_prune(revisions, &current.name_any(), &live, limit);
        history::delete_all(&self.rev_api, &prune)
            .await
            .map_err(self.api_err("deleting old controllerrevisions"))
    }

    async fn write_status(&self, s: &DaemonSetStatus) -> Result<(), Error> {
        let api: Api<DaemonSet> = Api::namespaced(
            self.st.client.clone(),
            &self.d.namespace().unwrap_or_default(),
        );
        let patch = json!({"status": {
            "currentNumberScheduled": s.current_number_scheduled,
            "numberMisscheduled": s.number_misscheduled,
            "desiredNumberScheduled": s.desired_number_scheduled,
            "numberReady": s.number_ready,
            "updatedNumberScheduled": s.updated_number_scheduled,
            "numberAvailable": s.number_available,
            "numberUnavailable": s.number_unavailable,
            "observedGeneration": s.observed_generation,
        }});
        match api
            .patch_status(
                &self.d.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(source) => Err(Error::Api {
                action: "updating status",
                name: self.d.name_any(),
                source,
            }),
        }
    }
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn min_ready(d: &DaemonSet) -> i32 {
    d.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

/// The template a revision holds (its strategic-merge patch without the
/// `$patch` directive).
fn template_in(r: &ControllerRevision) -> Value {
    let mut t = r
        .data
        .as_ref()
        .and_then(|d| d.0.pointer("/spec/template").cloned())
        .unwrap_or_default();
    if let Some(m) = t.as_object_mut() {
        m.remove("$patch");
    }
    t
}

/// The DaemonSet's generation when it made the pod. Kubernetes still writes
/// this deprecated label beside the revision hash, and tools read it.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// The daemon pod for `node`: the template with the revision hash label,
/// the automatic tolerations and an affinity only `node` satisfies.
pub fn new_pod(d: &DaemonSet, node: &str, name: &str, hash: &str) -> Pod {
    let t = template(d);
    let meta = t.metadata.unwrap_or_default();
    let mut spec = t.spec.unwrap_or_default();
    spec.tolerations = Some(with_daemon_tolerations(
        spec.tolerations.clone().unwrap_or_default(),
        &spec,
    ));
    spec.affinity = Some(pin_to_node(spec.affinity.take(), node));
    let mut labels = meta.labels.unwrap_or_default();
    labels.insert(HASH_LABEL.to_owned(), hash.to_owned());
    if let Some(generation) = d.metadata.generation {
        labels.insert(TEMPLATE_GENERATION_LABEL.to_owned(), generation.to_string());
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            generate_name: Some(format!("{}-", d.name_any())),
            namespace: d.namespace(),
            labels: Some(labels),
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![owner::controller_ref(d)]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// The status Kubernetes' `updateDaemonSetStatus` computes: per node that
/// should run the daemon, its oldest pod counts as scheduled, ready,
/// available and updated.
fn compute_status(
    d: &DaemonSet,
    placements: &BTreeMap<String, Placement>,
    by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
    hash: &str,
    now: jiff::Timestamp,
) -> DaemonSetStatus {
    let mr = min_ready(d);
    let mut s = DaemonSetStatus::default();
    let (mut available, mut updated) = (0, 0);
    for (node, place) in placements {
        let pods = by_node.get(node).map(Vec::as_slice).unwrap_or_default();
        if !place.should_run {
            if !pods.is_empty() {
                s.number_misscheduled += 1;
            }
            continue;
        }
        s.desired_number_scheduled += 1;
        let Some(oldest) = pods.first() else { continue };
        s.current_number_scheduled += 1;
        if pods::is_ready(oldest) {
            s.number_ready += 1;
            if pods::is_available(oldest, mr, now) {
                available += 1;
            }
        }
        if rolling::is_updated(oldest, hash) {
            updated += 1;
        }
    }
    let old = d.status.clone().unwrap_or_default();
    s.number_available = Some(available);
    s.updated_number_scheduled = Some(updated);
    s.number_unavailable = Some(s.desired_number_scheduled - available);
    s.observed_generation = d.metadata.generation;
    s.collision_count = old.collision_count;
    s.conditions = old.conditions;
    s
}
