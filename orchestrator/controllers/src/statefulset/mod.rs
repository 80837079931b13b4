//! The StatefulSet controller, after Kubernetes' `statefulset-controller`:
//! pods `<set>-<ordinal>` with stable hostnames and their own claims from
//! `volumeClaimTemplates`, created in order (`OrderedReady`) or all at
//! once (`Parallel`), updated by `RollingUpdate` (partition,
//! maxUnavailable) or `OnDelete`, with ControllerRevisions for `kubectl
//! rollout history/undo` (through the shared [`crate::history`]).
//!
//! Pod names are fixed, so a duplicate create is a harmless `409`: the
//! controller reads pods and claims from the API server on each reconcile
//! and keeps no expectations.

mod pod;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, PodTemplateSpec};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use skiff_client::events::{Recorder, Type};

use crate::history::{self, Created};
use crate::{Ctx, Shutdown, owner, pods};

pub use pod::{POD_INDEX, POD_NAME, claim_name, ordinal_of};

/// The component name on events, as in Kubernetes.
pub const COMPONENT: &str = "statefulset-controller";

/// What can fail while reconciling a StatefulSet.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed.
    #[error("{action} for statefulset {name}")]
    Api {
        /// What was being done.
        action: &'static str,
        /// The StatefulSet.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Every revision name tried collided with a foreign revision.
    #[error("statefulset {0}: too many revision hash collisions")]
    Collisions(String),
}

struct State {
    client: Client,
    recorder: Recorder,
}

/// Runs the controller until `shutdown` completes.
pub async fn run(ctx: Arc<Ctx>, shutdown: Shutdown) {
    let client = ctx.client.clone();
    let st = Arc::new(State {
        recorder: Recorder::new(client.clone(), COMPONENT, "skiff-controller-manager"),
        client: client.clone(),
    });
    Controller::new(
        Api::<StatefulSet>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(Api::<Pod>::all(client.clone()), watcher::Config::default())
    .graceful_shutdown_on(shutdown)
    .run(reconcile, error_policy, st)
    .for_each(|res| async move {
        if let Err(e) = res {
            tracing::debug!(error = %e, "statefulset reconcile");
        }
    })
    .await;
}

fn error_policy(_s: Arc<StatefulSet>, err: &Error, _st: Arc<State>) -> Action {
    tracing::info!(error = %err, "statefulset sync failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

/// The revision data Kubernetes stores: a strategic merge patch that puts
/// the template back (`kubectl rollout undo` applies it).
fn revision_data(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or_default();
    if let Some(o) = t.as_object_mut() {
        o.insert("$patch".into(), "replace".into());
    }
    json!({"spec": {"template": t}})
}

/// The template a revision holds.
fn template_of(rev: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = rev.data.as_ref()?.0.get("spec")?.get("template")?.clone();
    if let Some(o) = t.as_object_mut() {
        o.remove("$patch");
    }
    serde_json::from_value(t).ok()
}

/// The revision for the set's current template: an existing one with the
/// same data (renumbered to be newest), or a new one; and the collision
/// count used.
async fn update_revision(
    st: &State,
    set: &StatefulSet,
    revisions: &[ControllerRevision],
) -> Result<(ControllerRevision, i32), Error> {
    let name = set.name_any();
    let api: Api<ControllerRevision> =
        Api::namespaced(st.client.clone(), &set.namespace().unwrap_or_default());
    let spec = set.spec.clone().unwrap_or_default();
    let data = revision_data(&spec.template);
    let newest = history::max_revision(revisions);
    let api_err = |action| {
        let name = name.clone();
        move |source| Error::Api {
            action,
            name,
            source,
        }
    };
    if let Some(r) = revisions.iter().find(|r| {
        r.data.as_ref().map(|d| history::canonical(&d.0)) == Some(history::canonical(&data))
    }) {
        let count = set
            .status
            .as_ref()
            .and_then(|s| s.collision_count)
            .unwrap_or(0);
        if r.revision < newest {
            let r = history::set_revision(&api, r, newest + 1)
                .await
                .map_err(api_err("renumbering a revision"))?;
            return Ok((r, count));
        }
        return Ok((r.clone(), count));
    }
    let labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let mut count = set
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0);
    for _ in 0..10 {
        let hash = history::hash(&data, Some(count));
        let rev = history::new_revision(set, &labels, data.clone(), newest + 1, &hash);
        match history::create(&api, &rev)
            .await
            .map_err(api_err("creating a revision"))?
        {
            Created::Ok(r) => return Ok((r, count)),
            Created::Collision => count = count.saturating_add(1),
        }
    }
    Err(Error::Collisions(set.name_any()))
}

#[tracing::instrument(skip_all, fields(statefulset = %format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())))]
async fn reconcile(obj: Arc<StatefulSet>, st: Arc<State>) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let sets: Api<StatefulSet> = Api::namespaced(st.client.clone(), &ns);
    let api_err = |action| {
        let name = name.clone();
        move |source| Error::Api {
            action,
            name,
            source,
        }
    };
    let Some(set) = sets.get_opt(&name).await.map_err(api_err("reading"))? else {
        return Ok(Action::await_change());
    };
    if set.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let uid = set.uid().unwrap_or_default();
    let spec = set.spec.clone().unwrap_or_default();
    let rev_api: Api<ControllerRevision> = Api::namespaced(st.client.clone(), &ns);
    let revisions = history::list_owned(&rev_api, &uid)
        .await
        .map_err(api_err("listing revisions"))?;
    let (update_rev, collision_count) = update_revision(&st, &set, &revisions).await?;
    let current_name = set
        .status
        .as_ref()
        .and_then(|s| s.current_revision.clone())
        .filter(|c| revisions.iter().any(|r| &r.name_any() == c))
        .unwrap_or_else(|| update_rev.name_any());
    let current_rev = revisions
        .iter()
        .find(|r| r.name_any() == current_name)
        .cloned()
        .unwrap_or_else(|| update_rev.clone());
    let update_hash = history::hash_of(&update_rev).unwrap_or_default().to_owned();
    let current_hash = history::hash_of(&current_rev)
        .unwrap_or_default()
        .to_owned();

    let pods_api: Api<Pod> = Api::namespaced(st.client.clone(), &ns);
    let all: Vec<Pod> = pods_api
        .list(&ListParams::default())
        .await
        .map_err(api_err("listing pods"))?
        .items
        .into_iter()
        .filter(|p| owner::is_controlled_by(&p.metadata, &uid))
        .collect();
    let replicas = spec.replicas.unwrap_or(1).max(0);
    let start = spec
        .ordinals
        .as_ref()
        .and_then(|o| o.start)
        .unwrap_or(0)
        .max(0);
    let parallel = spec.pod_management_policy.as_deref() == Some("Parallel");
    let mut by_ordinal: BTreeMap<i32, Pod> = BTreeMap::new();
    for p in all {
        if let Some(i) = ordinal_of(&name, &p.name_any()) {
            by_ordinal.insert(i, p);
        }
    }
    let in_range = |i: i32| i >= start && i < start + replicas;
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    let on_delete = strategy.type_.as_deref() == Some("OnDelete");
    let rolling = strategy.rolling_update.clone().unwrap_or_default();
    let partition = rolling.partition.unwrap_or(0).max(0);
    let current_template = template_of(&current_rev).unwrap_or_else(|| spec.template.clone());

    // Create or replace the pods of the range, lowest first.
    let mut blocked = false;
    for i in start..start + replicas {
        match by_ordinal.get(&i) {
            Some(p) if pods::is_terminal(p) && p.metadata.deletion_timestamp.is_none() => {
                // A failed or finished pod is replaced under the same name.
                delete_pod(&st, &set, p).await?;
                blocked = true;
            }
            Some(p) => {
                let settled = pods::is_ready(p) && p.metadata.deletion_timestamp.is_none();
                if !parallel && !settled {
                    blocked = true;
                }
            }
            None => {
                let (template, hash) = if !on_delete && i - start < partition {
                    (&current_template, &current_hash)
                } else {
                    (&spec.template, &update_hash)
                };
                create_claims(&st, &set, i).await?;
                let p = pod::new_pod(&set, template, i, hash);
                create_pod(&st, &set, &p).await?;
                if !parallel {
                    blocked = true;
                }
            }
        }
        if blocked && !parallel {
            break;
        }
    }

    // Scale down: highest ordinal first; one at a time unless Parallel.
    let condemned: Vec<&Pod> = by_ordinal
        .iter()
        .rev()
        .filter(|(i, _)| !in_range(**i))
        .map(|(_, p)| p)
        .collect();
    if !blocked || parallel {
        for p in &condemned {
            if p.metadata.deletion_timestamp.is_some() {
                if !parallel {
                    break;
                }
                continue;
            }
            condemn_claims(&st, &set, p).await?;
            delete_pod(&st, &set, p).await?;
            if !parallel {
                break;
            }
        }
    }

    // RollingUpdate: replace outdated pods from the highest ordinal down
    // to the partition, at most maxUnavailable unavailable at a time.
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let now = jiff::Timestamp::now();
    if !on_delete && condemned.is_empty() && !blocked {
        let max_unavailable = rolling
            .max_unavailable
            .as_ref()
            .map_or(1, |m| pod::scaled(m, replicas))
            .max(1);
        let range: Vec<&Pod> = by_ordinal
            .iter()
            .rev()
            .filter(|(i, _)| in_range(**i))
            .map(|(_, p)| p)
            .collect();
        let mut unavailable = range
            .iter()
            .filter(|p| {
                p.metadata.deletion_timestamp.is_some() || !pods::is_available(p, min_ready, now)
            })
            .count();
        for p in range {
            let i = ordinal_of(&name, &p.name_any()).unwrap_or(0);
            if i - start < partition || pod::revision_of(p) == Some(update_hash.as_str()) {
                continue;
            }
            if p.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let own_unavailable = !pods::is_available(p, min_ready, now);
            if !own_unavailable && unavailable >= usize::try_from(max_unavailable).unwrap_or(1) {
                break;
            }
            delete_pod(&st, &set, p).await?;
            if !own_unavailable {
                unavailable += 1;
            }
            if !parallel {
                // OrderedReady updates one pod at a time.
                break;
            }
        }
    }

    // Status, from what the API showed at the start of this reconcile.
    let counted: Vec<&Pod> = by_ordinal.values().collect();
    let count = |f: &dyn Fn(&Pod) -> bool| {
        i32::try_from(counted.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
    };
    let ready = count(&|p| pods::is_ready(p));
    let available = count(&|p| pods::is_available(p, min_ready, now));
    let current = count(&|p| pod::revision_of(p) == Some(current_hash.as_str()));
    let updated = count(&|p| pod::revision_of(p) == Some(update_hash.as_str()));
    let live = count(&|p| p.metadata.deletion_timestamp.is_none());
    // Kubernetes completes a rollout when every replica runs the update
    // revision and is ready; the update then becomes current.
    let done = updated == replicas && ready == replicas && live == replicas;
    let (current_name, current_n) = if done {
        (update_rev.name_any(), updated)
    } else {
        (current_rev.name_any(), current)
    };
    let status = json!({"status": {
        "observedGeneration": set.metadata.generation,
        "replicas": live,
        "readyReplicas": ready,
        "availableReplicas": available,
        "currentReplicas": current_n,
        "updatedReplicas": updated,
        "currentRevision": current_name,
        "updateRevision": update_rev.name_any(),
        "collisionCount": collision_count,
    }});
    let old = serde_json::to_value(&set.status).unwrap_or_default();
    let changed = status["status"]
        .as_object()
        .is_some_and(|m| m.iter().any(|(k, v)| old.get(k) != Some(v)));
    if changed {
        sets.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .map_err(api_err("updating status"))?;
    }

    // Prune old revisions no pod uses any more.
    let live_hashes: HashSet<String> = by_ordinal
        .values()
        .filter_map(|p| pod::revision_of(p).map(str::to_owned))
        .collect();
    let limit = spec
        .revision_history_limit
        .unwrap_or(history::DEFAULT_HISTORY_LIMIT);
    let keep_current = current_name.clone();
    let revisions = history::list_owned(&rev_api, &uid)
        .await
        .map_err(api_err("listing revisions"))?;
    let prune: Vec<&ControllerRevision> =
        history::to_prune(&revisions, &update_rev.name_any(), &live_hashes, limit)
            .into_iter()
            .filter(|r| r.name_any() != keep_current)
            .collect();
    history::delete_all(&rev_api, &prune)
        .await
        .map_err(api_err("pruning revisions"))?;

    // Readiness changes arrive as pod events; minReadySeconds needs a timer.
    if min_ready > 0 && available < ready {
        return Ok(Action::requeue(Duration::from_secs(
            u64::try_from(min_ready).unwrap_or(1),
        )));
    }
    Ok(Action::await_change())
}

async fn create_pod(st: &State, set: &StatefulSet, p: &Pod) -> Result<(), Error> {
    let api: Api<Pod> = Api::namespaced(st.client.clone(), &set.namespace().unwrap_or_default());
    let pod_name = p.name_any();
    match api.create(&PostParams::default(), p).await {
        Ok(_) => {
            st.recorder
                .record(
                    set,
                    None,
                    Type::Normal,
                    "SuccessfulCreate",
                    &format!(
                        "create Pod {pod_name} in StatefulSet {} successful",
                        set.name_any()
                    ),
                )
                .await;
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => {
            st.recorder
                .record(
                    set,
                    None,
                    Type::Warning,
                    "FailedCreate",
                    &format!(
                        "create Pod {pod_name} in StatefulSet {} failed error: {e}",
                        set.name_any()
                    ),
                )
                .await;
            Err(Error::Api {
                action: "creating a pod",
                name: set.name_any(),
                source: e,
            })
        }
    }
}

async fn delete_pod(st: &State, set: &StatefulSet, p: &Pod) -> Result<(), Error> {
    let api: Api<Pod> = Api::namespaced(st.client.clone(), &set.namespace().unwrap_or_default());
    let pod_name = p.name_any();
    // Only the pod the reconcile looked at: a replacement with the same
    // name must not be deleted by a stale decision.
    let dp = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: p.uid(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&pod_name, &dp).await {
        Ok(_) => {
            st.recorder
                .record(
                    set,
                    None,
                    Type::Normal,
                    "SuccessfulDelete",
                    &format!(
                        "delete Pod {pod_name} in StatefulSet {} successful",
                        set.name_any()
                    ),
                )
                .await;
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(e) => Err(Error::Api {
            action: "deleting a pod",
            name: set.name_any(),
            source: e,
        }),
    }
}

/// Creates the missing claims of ordinal `i`.
async fn create_claims(st: &State, set: &StatefulSet, i: i32) -> Result<(), Error> {
    let api: Api<PersistentVolumeClaim> =
        Api::namespaced(st.client.clone(), &set.namespace().unwrap_or_default());
    for claim in pod::claims_for(set, i) {
        let claim_name = claim.name_any();
        match api.create(&PostParams::default(), &claim).await {
            Ok(_) => {
                st.recorder
                    .record(
                        set,
                        None,
                        Type::Normal,
                        "SuccessfulCreate",
                        &format!(
                            "create Claim {claim_name} Pod {}-{i} in StatefulSet {} success",
                            set.name_any(),
                            set.name_any()
                        ),
                    )
                    .await;
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => {
                st.recorder
                    .record(
                        set,
                        None,
                        Type::Warning,
                        "FailedCreate",
                        &format!(
                            "create Claim {claim_name} for Pod {}-{i} in StatefulSet {} failed error: {e}",
                            set.name_any(),
                            set.name_any()
                        ),
                    )
                    .await;
                return Err(Error::Api {
                    action: "creating a claim",
                    name: set.name_any(),
                    source: e,
                });
            }
        }
    }
    Ok(())
}

/// With `whenScaled: Delete`, makes the pod about to be removed by a scale
/// down the owner of its claims, so the garbage collector deletes them
/// with it (Kubernetes' way).
async fn condemn_claims(st: &State, set: &StatefulSet, p: &Pod) -> Result<(), Error> {
    let scaled_delete = set
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref())
        .and_then(|r| r.when_scaled.as_deref())
        == Some("Delete");
    if !scaled_delete {
        return Ok(());
    }
    let Some(i) = ordinal_of(&set.name_any(), &p.name_any()) else {
        return Ok(());
    };
    let api: Api<PersistentVolumeClaim> =
        Api::namespaced(st.client.clone(), &set.namespace().unwrap_or_default());
    for claim in pod::claims_for(set, i) {
        let r = json!([{
            "apiVersion": "v1", "kind": "Pod", "name": p.name_any(),
            "uid": p.uid(), "blockOwnerDeletion": true,
        }]);
        let patch = json!({"metadata": {"ownerReferences": r}});
        match api
            .patch(
                &claim.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                return Err(Error::Api {
                    action: "handing a claim to its pod",
                    name: set.name_any(),
                    source: e,
                });
            }
        }
    }
    Ok(())
}
