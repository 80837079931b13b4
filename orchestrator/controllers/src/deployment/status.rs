//! Deployment status and conditions, as Kubernetes' `calculateStatus`,
//! `syncRolloutStatus` and `deployment/util` conditions compute them.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use super::rolling::{max_unavailable, replicas};

/// `Progressing` reasons Kubernetes uses (`kubectl rollout status` reads
/// `ProgressDeadlineExceeded`).
pub mod reason {
    /// A new ReplicaSet was created.
    pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
    /// The new ReplicaSet already existed.
    pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
    /// The rollout made progress.
    pub const RS_UPDATED: &str = "ReplicaSetUpdated";
    /// The rollout is complete.
    pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
    /// No progress within `progressDeadlineSeconds`.
    pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
    /// `spec.paused` was set.
    pub const PAUSED: &str = "DeploymentPaused";
    /// `spec.paused` was cleared.
    pub const RESUMED: &str = "DeploymentResumed";
    /// Enough pods are available.
    pub const MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
    /// Too few pods are available.
    pub const MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
}

/// The condition of `type_`, if any.
pub fn condition<'a>(s: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    s.conditions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|c| c.type_ == type_)
}

/// A condition stamped now.
pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
) -> DeploymentCondition {
    let now = Time(jiff::Timestamp::now());
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_transition_time: Some(now.clone()),
        last_update_time: Some(now),
    }
}

/// Kubernetes' `SetDeploymentCondition`: a condition with the same status
/// and reason is left alone; a status that did not change keeps its
/// transition time.
pub fn set_condition(s: &mut DeploymentStatus, mut c: DeploymentCondition) {
    let conds = s.conditions.get_or_insert_with(Vec::new);
    if let Some(cur) = conds.iter().find(|x| x.type_ == c.type_) {
        if cur.status == c.status && cur.reason == c.reason {
            return;
        }
        if cur.status == c.status {
            c.last_transition_time = cur.last_transition_time.clone();
        }
    }
    conds.retain(|x| x.type_ != c.type_);
    conds.push(c);
}

/// Drops the condition of `type_`.
pub fn remove_condition(s: &mut DeploymentStatus, type_: &str) {
    if let Some(c) = s.conditions.as_mut() {
        c.retain(|x| x.type_ != type_);
    }
}

fn sum(
    rss: &[&ReplicaSet],
    f: impl Fn(&k8s_openapi::api::apps::v1::ReplicaSetStatus) -> i32,
) -> i32 {
    rss.iter().filter_map(|rs| rs.status.as_ref()).map(f).sum()
}

/// Kubernetes' `calculateStatus`: counts from the ReplicaSets' statuses,
/// plus the `Available` condition.
pub fn calculate(
    d: &Deployment,
    all: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
) -> DeploymentStatus {
    let old = d.status.clone().unwrap_or_default();
    let available = sum(all, |s| s.available_replicas.unwrap_or(0));
    let mut s = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(sum(all, |s| s.replicas)),
        updated_replicas: Some(new_rs.map_or(0, |rs| sum(&[rs], |s| s.replicas))),
        ready_replicas: Some(sum(all, |s| s.ready_replicas.unwrap_or(0))),
        available_replicas: Some(available),
        unavailable_replicas: Some((replicas(d) - available).max(0)),
        collision_count: old.collision_count,
        conditions: old.conditions.clone(),
        terminating_replicas: None,
    };
    if available >= replicas(d) - max_unavailable(d) {
        set_condition(
            &mut s,
            new_condition(
                "Available",
                "True",
                reason::MIN_AVAILABLE,
                "Deployment has minimum availability.",
            ),
        );
    } else {
        set_condition(
            &mut s,
            new_condition(
                "Available",
                "False",
                reason::MIN_UNAVAILABLE,
                "Deployment does not have minimum availability.",
            ),
        );
    }
    s
}

/// `progressDeadlineSeconds`, if set (Kubernetes' "no deadline" is the
/// maximum int32, which also means none).
pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .filter(|s| *s != i32::MAX)
}

/// Every pod updated and available and nothing old left (Kubernetes'
/// `DeploymentComplete`).
pub fn is_complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let want = replicas(d);
    s.updated_replicas == Some(want)
        && s.replicas == Some(want)
        && s.available_replicas == Some(want)
        && s.observed_generation >= d.metadata.generation
}

/// The new status shows progress over the stored one (Kubernetes'
/// `DeploymentProgressing`).
pub fn is_progressing(d: &Deployment, s: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let n = |v: Option<i32>| v.unwrap_or(0);
    let old_old = n(old.replicas) - n(old.updated_replicas);
    let new_old = n(s.replicas) - n(s.updated_replicas);
    n(s.updated_replicas) > n(old.updated_replicas)
        || new_old < old_old
        || n(s.ready_replicas) > n(old.ready_replicas)
        || n(s.available_replicas) > n(old.available_replicas)
}

/// When the deadline runs out, if a rollout is under way and not timed out
/// yet; `Some(past)` means it has.
pub fn deadline_at(d: &Deployment, s: &DeploymentStatus) -> Option<jiff::Timestamp> {
    let secs = progress_deadline(d)?;
    let c = condition(s, "Progressing")?;
    let r = c.reason.as_deref().unwrap_or("");
    if r == reason::NEW_RS_AVAILABLE || r == reason::TIMED_OUT || r == reason::PAUSED {
        return None;
    }
    let from = c.last_update_time.as_ref()?.0;
    Some(from + jiff::SignedDuration::from_secs(i64::from(secs)))
}

/// Kubernetes' `syncRolloutStatus` conditions on a freshly calculated
/// status.
pub fn rollout_conditions(d: &Deployment, s: &mut DeploymentStatus, new_rs: Option<&ReplicaSet>) {
    if progress_deadline(d).is_none() {
        remove_condition(s, "Progressing");
        return;
    }
    let cur = condition(s, "Progressing").cloned();
    let complete_before = s.replicas == s.updated_replicas
        && cur
            .as_ref()
            .is_some_and(|c| c.reason.as_deref() == Some(reason::NEW_RS_AVAILABLE));
    if complete_before {
        return;
    }
    let rs_name = new_rs.map(ResourceExt::name_any).unwrap_or_default();
    if is_complete(d, s) {
        set_condition(
            s,
            new_condition(
                "Progressing",
                "True",
                reason::NEW_RS_AVAILABLE,
                &format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
            ),
        );
    } else if is_progressing(d, s) {
        let mut c = new_condition(
            "Progressing",
            "True",
            reason::RS_UPDATED,
            &format!("ReplicaSet \"{rs_name}\" is progressing."),
        );
        if let Some(cur) = &cur {
            if cur.status == "True" {
                c.last_transition_time = cur.last_transition_time.clone();
            }
            remove_condition(s, "Progressing");
        }
        set_condition(s, c);
    } else if deadline_at(d, s).is_some_and(|at| at < jiff::Timestamp::now())
        || cur
            .as_ref()
            .is_some_and(|c| c.reason.as_deref() == Some(reason::TIMED_OUT))
    {
        set_condition(
            s,
            new_condition(
                "Progressing",
                "False",
                reason::TIMED_OUT,
                &format!("ReplicaSet \"{rs_name}\" has timed out progressing."),
            ),
        );
    }
}

/// The ReplicaSets' `ReplicaFailure` surfaced on the Deployment, as
/// Kubernetes does.
pub fn replica_failure(s: &mut DeploymentStatus, all: &[&ReplicaSet]) {
    let failure = all.iter().find_map(|rs| {
        rs.status
            .as_ref()?
            .conditions
            .as_deref()?
            .iter()
            .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
            .cloned()
    });
    match failure {
        Some(c) => set_condition(
            s,
            new_condition(
                "ReplicaFailure",
                "True",
                c.reason.as_deref().unwrap_or("FailedCreate"),
                c.message.as_deref().unwrap_or(""),
            ),
        ),
        None => remove_condition(s, "ReplicaFailure"),
    }
}
