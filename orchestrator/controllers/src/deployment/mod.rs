//! The Deployment controller: rolls a Deployment's pod template out through
//! ReplicaSets named `<deployment>-<pod-template-hash>`, as Kubernetes'
//! `deployment-controller` does (RollingUpdate and Recreate, pause,
//! proportional scaling, revisions, progress deadline, history clean-up).
//!
//! Everything it must remember lives in the objects: revisions and replica
//! annotations on the ReplicaSets, `collisionCount` and conditions in the
//! Deployment's status. ReplicaSet names are deterministic, so a reconcile
//! working from a stale cache that tries to create an existing ReplicaSet
//! gets `AlreadyExists` and adopts it; scaling writes carry the cached
//! `resourceVersion`, so a stale cache costs a conflict and a retry, never
//! a wrong scale.

pub mod revision;
pub mod rolling;
mod rollout;
mod scale;
pub mod status;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, trigger_self, trigger_with};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, applier};
use serde_json::json;
use skiff_api::selector::{LabelSelector, SelectorError};
use skiff_client::events::{Recorder, Type};

use self::revision::{
    HASH_LABEL, REVISION, compute_hash, deployment_template, equal_ignore_hash, max_revision,
    revision_of, set_new_rs_annotations, set_replicas_annotations, split_new_old, template_of,
};
use self::rolling::{is_recreate, max_surge, new_rs_new_replicas, replicas, rs_replicas};
use self::status::{condition, new_condition, reason, set_condition};
use crate::replicaset::{Backoff, adopt, release};
use crate::{Ctx, Shutdown, cache, owner};

/// The component name on events, as in Kubernetes.
pub const COMPONENT: &str = "deployment-controller";

/// What can fail while reconciling a Deployment.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `spec.selector` does not parse.
    #[error("deployment {name} has an invalid selector")]
    Selector {
        /// The Deployment.
        name: String,
        /// Why.
        #[source]
        source: SelectorError,
    },
    /// The ReplicaSet watch cache stopped.
    #[error("the replicaset cache is closed")]
    CacheClosed,
    /// `<deployment>-<hash>` exists with another template; the collision
    /// count was raised and the next reconcile uses a new name.
    #[error("hash collision for deployment {name}: replicaset {rs} has another template")]
    HashCollision {
        /// The Deployment.
        name: String,
        /// The existing ReplicaSet.
        rs: String,
    },
    /// An API call failed.
    #[error("{action} for deployment {name}")]
    Api {
        /// What was being done.
        action: &'static str,
        /// The Deployment.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

struct State {
    client: kube::Client,
    rss: Store<ReplicaSet>,
    recorder: Recorder,
    backoff: Backoff,
}

/// Runs the controller until `shutdown` completes.
pub async fn run(ctx: Arc<Ctx>, shutdown: Shutdown) {
    let client = ctx.client.clone();
    let (d_store, d_events) = cache::all::<Deployment>(&client);
    let (rs_store, rs_events) = cache::all::<ReplicaSet>(&client);
    let owners = d_store.clone();
    let from_rss = trigger_with(rs_events.touched_objects(), move |rs: ReplicaSet| {
        deployments_of(&owners, &rs)
    });
    let queue = futures::stream::select(trigger_self(d_events.touched_objects(), ()), from_rss);
    let state = Arc::new(State {
        client: client.clone(),
        rss: rs_store,
        recorder: Recorder::new(client, COMPONENT, "skiff-controller-manager"),
        backoff: Backoff::default(),
    });
    let results = applier(
        |d, st| Box::pin(reconcile(d, st)),
        error_policy,
        state,
        d_store,
        queue,
        kube::runtime::Config::default(),
    );
    cache::drive(results, shutdown, "deployment").await;
}

/// The Deployments a ReplicaSet event concerns.
fn deployments_of(ds: &Store<Deployment>, rs: &ReplicaSet) -> Vec<ObjectRef<Deployment>> {
    owner::owners_to_notify(ds, &rs.metadata, |d| selector_of(d).ok())
}

fn selector_of(d: &Deployment) -> Result<LabelSelector, Error> {
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

fn error_policy(d: Arc<Deployment>, err: &Error, st: Arc<State>) -> Action {
    tracing::debug!(error = %err, "deployment: requeue");
    let key = format!("{}/{}", d.namespace().unwrap_or_default(), d.name_any());
    Action::requeue(st.backoff.failed(&key))
}

async fn reconcile(d: Arc<Deployment>, st: Arc<State>) -> Result<Action, Error> {
    st.rss
        .wait_until_ready()
        .await
        .map_err(|_| Error::CacheClosed)?;
    let ns = d.namespace().unwrap_or_default();
    let mut run = Run {
        st: &st,
        d: (*d).clone(),
        rs_api: Api::namespaced(st.client.clone(), &ns),
        d_api: Api::namespaced(st.client.clone(), &ns),
        ns,
    };
    let key = format!("{}/{}", run.ns, run.d.name_any());
    let action = Box::pin(run.sync()).await?;
    st.backoff.succeeded(&key);
    Ok(action)
}

/// One reconcile of one Deployment; `d` is kept current with what this
/// reconcile wrote.
struct Run<'a> {
    st: &'a State,
    d: Deployment,
    rs_api: Api<ReplicaSet>,
    d_api: Api<Deployment>,
    ns: String,
}

impl Run<'_> {
    fn api_err(&self, action: &'static str) -> impl FnOnce(kube::Error) -> Error + '_ {
        move |source| Error::Api {
            action,
            name: self.d.name_any(),
            source,
        }
    }

    fn paused(&self) -> bool {
        self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
    }

    async fn sync(&mut self) -> Result<Action, Error> {
        let rss = self.claim().await?;
        if self.d.metadata.deletion_timestamp.is_some() {
            let (new, old) = Box::pin(self.all_replica_sets(rss, false)).await?;
            return self.sync_status(new.as_ref(), &old).await;
        }
        self.check_paused_conditions().await?;
        if self.paused() || self.is_scaling_event(&rss) {
            return Box::pin(self.sync_scale(rss)).await;
        }
        if is_recreate(&self.d) {
            Box::pin(self.rollout_recreate(rss)).await
        } else {
            Box::pin(self.rollout_rolling(rss)).await
        }
    }

    /// The ReplicaSets this Deployment controls after adopting matching
    /// orphans and releasing owned ones that no longer match.
    async fn claim(&self) -> Result<Vec<ReplicaSet>, Error> {
        let selector = selector_of(&self.d)?;
        let uid = self.d.uid().unwrap_or_default();
        let deleting = self.d.metadata.deletion_timestamp.is_some();
        let mut out = Vec::new();
        for rs in self
            .st
            .rss
            .state()
            .into_iter()
            .filter(|rs| rs.namespace().as_deref() == Some(self.ns.as_str()))
        {
            let matches = selector.matches(rs.labels());
            match owner::controller_of(&rs.metadata) {
                Some(r) if r.uid == uid => {
                    if matches || deleting {
                        out.push((*rs).clone());
                    } else {
                        release(&self.rs_api, rs.as_ref(), &uid).await;
                    }
                }
                Some(_) => {}
                None => {
                    if matches
                        && !deleting
                        && rs.metadata.deletion_timestamp.is_none()
                        && adopt(&self.rs_api, rs.as_ref(), &self.d).await
                    {
                        out.push((*rs).clone());
                    }
                }
            }
        }
        Ok(out)
    }

    /// Some active ReplicaSet was sized for another `spec.replicas`
    /// (Kubernetes' `isScalingEvent`).
    fn is_scaling_event(&self, rss: &[ReplicaSet]) -> bool {
        rss.iter().filter(|rs| rs_replicas(rs) > 0).any(|rs| {
            revision::int_annotation(rs, revision::DESIRED_REPLICAS)
                .is_some_and(|want| want != replicas(&self.d))
        })
    }

    /// Kubernetes' `getAllReplicaSetsAndSyncRevision`: the new ReplicaSet
    /// (created if `create`) with its revision synced, and the old ones.
    async fn all_replica_sets(
        &mut self,
        rss: Vec<ReplicaSet>,
        create: bool,
    ) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>), Error> {
        let (new, old) = split_new_old(&self.d, rss);
        let new_revision = max_revision(&old) + 1;
        if let Some(mut rs) = new {
            let mut changed = set_new_rs_annotations(&self.d, &mut rs, new_revision);
            let min_ready = self.d.spec.as_ref().and_then(|s| s.min_ready_seconds);
            if let Some(spec) = rs.spec.as_mut()
                && spec.min_ready_seconds != min_ready
            {
                spec.min_ready_seconds = min_ready;
                changed = true;
            }
            if changed {
                rs = self
                    .rs_api
                    .replace(&rs.name_any(), &PostParams::default(), &rs)
                    .await
                    .map_err(self.api_err("updating the new replicaset"))?;
            }
            self.set_revision(&revision_of(&rs).to_string()).await?;
            let mut s = self.d.status.clone().unwrap_or_default();
            if status::progress_deadline(&self.d).is_some()
                && condition(&s, "Progressing").is_none()
            {
                set_condition(
                    &mut s,
                    new_condition(
                        "Progressing",
                        "True",
                        reason::FOUND_NEW_RS,
                        &format!("Found new replica set \"{}\"", rs.name_any()),
                    ),
                );
                self.write_status(s).await?;
            }
            return Ok((Some(rs), old));
        }
        if !create {
            return Ok((None, old));
        }
        let rs = self.create_new_replica_set(&old, new_revision).await?;
        Ok((Some(rs), old))
    }

    async fn create_new_replica_set(
        &mut self,
        old: &[ReplicaSet],
        new_revision: i64,
    ) -> Result<ReplicaSet, Error> {
        let d = &self.d;
        let collisions = d.status.as_ref().and_then(|s| s.collision_count);
        let mut template = deployment_template(d);
        let hash = compute_hash(&template, collisions);
        let labels = crate::replicaset::with_label(
            template.metadata.as_ref().and_then(|m| m.labels.as_ref()),
            HASH_LABEL,
            &hash,
        );
        template
            .metadata
            .get_or_insert_with(Default::default)
            .labels = Some(labels.clone());
        let mut selector = d
            .spec
            .as_ref()
            .map(|s| s.selector.clone())
            .unwrap_or_default();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(HASH_LABEL.into(), hash.clone());
        let name = format!("{}-{hash}", d.name_any());
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.ns.clone()),
                labels: Some(labels),
                owner_references: Some(vec![owner::controller_ref(d)]),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: d.spec.as_ref().and_then(|s| s.min_ready_seconds),
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let all: Vec<&ReplicaSet> = old.iter().chain(std::iter::once(&rs)).collect();
        let want = new_rs_new_replicas(d, &all, &rs);
        if let Some(spec) = rs.spec.as_mut() {
            spec.replicas = Some(want);
        }
        set_new_rs_annotations(d, &mut rs, new_revision);
        set_replicas_annotations(&mut rs, replicas(d), replicas(d) + max_surge(d));
        let (created, existed) = match self.rs_api.create(&PostParams::default(), &rs).await {
            Ok(c) => (c, false),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let existing = self
                    .rs_api
                    .get(&name)
                    .await
                    .map_err(self.api_err("reading the existing replicaset"))?;
                let ours =
                    owner::is_controlled_by(&existing.metadata, &d.uid().unwrap_or_default());
                if ours && equal_ignore_hash(&template_of(&existing), &deployment_template(d)) {
                    // Our own creation, not yet in the cache.
                    (existing, true)
                } else {
                    let mut s = d.status.clone().unwrap_or_default();
                    s.collision_count = Some(s.collision_count.unwrap_or(0).saturating_add(1));
                    self.write_status(s).await?;
                    return Err(Error::HashCollision {
                        name: self.d.name_any(),
                        rs: name,
                    });
                }
            }
            Err(e) => {
                if status::progress_deadline(d).is_some() {
                    let mut s = d.status.clone().unwrap_or_default();
                    let msg = format!("Failed to create new replica set \"{name}\": {e}");
                    set_condition(
                        &mut s,
                        new_condition("Progressing", "False", "ReplicaSetCreateError", &msg),
                    );
                    self.write_status(s).await?;
                }
                return Err(self.api_err("creating the new replicaset")(e));
            }
        };
        if !existed && want > 0 {
            self.scaling_event(&created, 0, want).await;
        }
        self.set_revision(&new_revision.to_string()).await?;
        if !existed && status::progress_deadline(&self.d).is_some() {
            let mut s = self.d.status.clone().unwrap_or_default();
            set_condition(
                &mut s,
                new_condition(
                    "Progressing",
                    "True",
                    reason::NEW_RS_CREATED,
                    &format!("Created new replica set \"{name}\""),
                ),
            );
            self.write_status(s).await?;
        }
        Ok(created)
    }

    /// Puts the revision annotation on the Deployment (metadata only, so
    /// its generation does not move).
    async fn set_revision(&mut self, rev: &str) -> Result<(), Error> {
        if self.d.annotations().get(REVISION).map(String::as_str) == Some(rev) {
            return Ok(());
        }
        let patch = json!({"metadata": {"annotations": {REVISION: rev}}});
        let d = self
            .d_api
            .patch(
                &self.d.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(self.api_err("setting the revision"))?;
        self.d.metadata = d.metadata;
        Ok(())
    }

    async fn scaling_event(&self, rs: &ReplicaSet, from: i32, to: i32) {
        let dir = if to > from { "up" } else { "down" };
        self.st
            .recorder
            .record(
                &self.d,
                None,
                Type::Normal,
                "ScalingReplicaSet",
                &format!(
                    "Scaled {dir} replica set {} from {from} to {to}",
                    rs.name_any()
                ),
            )
            .await;
    }

    /// Sets `rs` to `to` replicas and its replica annotations to the
    /// Deployment's; true if its size changed.
    async fn scale(&self, rs: &mut ReplicaSet, to: i32) -> Result<bool, Error> {
        let from = rs_replicas(rs);
        let mut next = rs.clone();
        let annotations_changed = set_replicas_annotations(
            &mut next,
            replicas(&self.d),
            replicas(&self.d) + max_surge(&self.d),
        );
        if from == to && !annotations_changed {
            return Ok(false);
        }
        if let Some(spec) = next.spec.as_mut() {
            spec.replicas = Some(to);
        }
        *rs = self
            .rs_api
            .replace(&rs.name_any(), &PostParams::default(), &next)
            .await
            .map_err(self.api_err("scaling a replicaset"))?;
        if from != to {
            self.scaling_event(rs, from, to).await;
        }
        Ok(from != to)
    }

    /// Deletes the oldest zero-sized ReplicaSets beyond
    /// `revisionHistoryLimit` (Kubernetes' `cleanupDeployment`).
    async fn cleanup(&self, old: &[ReplicaSet]) -> Result<(), Error> {
        let Some(limit) = self.d.spec.as_ref().and_then(|s| s.revision_history_limit) else {
            return Ok(());
        };
        let mut cleanable: Vec<&ReplicaSet> = old
            .iter()
            .filter(|rs| rs.metadata.deletion_timestamp.is_none())
            .collect();
        let excess = cleanable
            .len()
            .saturating_sub(usize::try_from(limit).unwrap_or(0));
        if excess == 0 {
            return Ok(());
        }
        cleanable.sort_by_key(|rs| revision_of(rs));
        for rs in cleanable.into_iter().take(excess) {
            let st = rs.status.clone().unwrap_or_default();
            if st.replicas != 0
                || rs_replicas(rs) != 0
                || rs.metadata.generation > st.observed_generation
            {
                continue;
            }
            match self
                .rs_api
                .delete(&rs.name_any(), &DeleteParams::background())
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(self.api_err("deleting an old replicaset")(e)),
            }
        }
        Ok(())
    }

    /// Kubernetes' `checkPausedConditions`.
    async fn check_paused_conditions(&mut self) -> Result<(), Error> {
        if status::progress_deadline(&self.d).is_none() {
            return Ok(());
        }
        let mut s = self.d.status.clone().unwrap_or_default();
        let cur_reason = condition(&s, "Progressing").and_then(|c| c.reason.clone());
        if cur_reason.as_deref() == Some(reason::TIMED_OUT) {
            return Ok(());
        }
        let paused_now = cur_reason.as_deref() == Some(reason::PAUSED);
        let c = if self.paused() && !paused_now {
            new_condition(
                "Progressing",
                "Unknown",
                reason::PAUSED,
                "Deployment is paused",
            )
        } else if !self.paused() && paused_now {
            new_condition(
                "Progressing",
                "Unknown",
                reason::RESUMED,
                "Deployment is resumed",
            )
        } else {
            return Ok(());
        };
        set_condition(&mut s, c);
        self.write_status(s).await
    }

    /// Kubernetes' `syncDeploymentStatus`: counts and `Available`, no
    /// rollout progress.
    async fn sync_status(
        &mut self,
        new: Option<&ReplicaSet>,
        old: &[ReplicaSet],
    ) -> Result<Action, Error> {
        let all: Vec<&ReplicaSet> = old.iter().chain(new).collect();
        let s = status::calculate(&self.d, &all, new);
        self.write_status(s).await?;
        Ok(Action::await_change())
    }

    /// Kubernetes' `syncRolloutStatus`, requeueing for the progress
    /// deadline.
    async fn rollout_status(
        &mut self,
        new: Option<&ReplicaSet>,
        old: &[ReplicaSet],
    ) -> Result<Action, Error> {
        let all: Vec<&ReplicaSet> = old.iter().chain(new).collect();
        let mut s = status::calculate(&self.d, &all, new);
        status::rollout_conditions(&self.d, &mut s, new);
        status::replica_failure(&mut s, &all);
        let complete = status::is_complete(&self.d, &s);
        let deadline = status::deadline_at(&self.d, &s);
        self.write_status(s).await?;
        match deadline {
            Some(at) if !complete => {
                let left = at.duration_since(jiff::Timestamp::now());
                let left = Duration::try_from(left).unwrap_or_default();
                Ok(Action::requeue(left.max(Duration::from_millis(100))))
            }
            _ => Ok(Action::await_change()),
        }
    }

    async fn write_status(&mut self, s: DeploymentStatus) -> Result<(), Error> {
        if self.d.status.as_ref() == Some(&s) {
            return Ok(());
        }
        // Explicit nulls, so a merge patch clears what is gone.
        let patch = json!({"status": {
            "observedGeneration": s.observed_generation,
            "replicas": s.replicas,
            "updatedReplicas": s.updated_replicas,
            "readyReplicas": s.ready_replicas,
            "availableReplicas": s.available_replicas,
            "unavailableReplicas": s.unavailable_replicas,
            "collisionCount": s.collision_count,
            "conditions": s.conditions,
        }});
        match self
            .d_api
            .patch_status(
                &self.d.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(self.api_err("updating status")(e)),
        }
        self.d.status = Some(s);
        Ok(())
    }
}
