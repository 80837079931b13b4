//! The pure half of a Job sync: from the Job and its pods, decide the next
//! status, which pods to create, delete and release, and when to look
//! again. No I/O here, so every rule is testable without a server.
//!
//! Outcomes are tracked as Kubernetes does since 1.26: a finished pod keeps
//! the tracking finalizer until its uid is written to
//! `status.uncountedTerminatedPods`; only then is the finalizer removed,
//! and a uid in that list whose pod lost the finalizer (or is gone) moves
//! into `succeeded`/`failed`. Each step is idempotent, so a controller
//! killed between any two of them neither loses nor double-counts a pod.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobSpec, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use skiff_client::events::Type;

use super::indexes::{self, Indexes};
use super::policy::{self, Verdict};
use super::template::{index_of, is_tracked, recorded_failures};
use crate::pods::{is_active, is_ready, is_terminal, phase};

/// How the Job ends, once decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `SuccessCriteriaMet`, then `Complete`.
    Success {
        /// `CompletionsReached` or `SuccessPolicy`.
        reason: String,
        /// Human-readable detail.
        message: String,
    },
    /// `FailureTarget`, then `Failed`.
    Failure {
        /// `BackoffLimitExceeded`, `DeadlineExceeded`, `PodFailurePolicy` …
        reason: String,
        /// Human-readable detail.
        message: String,
    },
}

/// What one sync should do.
#[derive(Debug, Default)]
pub struct Plan {
    /// The status to write (written only when it differs).
    pub status: JobStatus,
    /// Pods to create: the index (Indexed mode) and that index's earlier
    /// failures.
    pub create: Vec<(Option<i32>, u32)>,
    /// Active pods to delete without counting them (suspend, surplus,
    /// the rest after success): their finalizer goes first.
    pub delete_uncounted: Vec<Pod>,
    /// Active pods to delete that this status counts as failed (the Job
    /// failed): deleted after the status is written.
    pub delete_counted: Vec<Pod>,
    /// Pods whose finalizer to remove once the status is written.
    pub release: Vec<Pod>,
    /// Events to post: type, reason, message.
    pub events: Vec<(Type, &'static str, String)>,
    /// Look again after this long even if nothing changes.
    pub requeue: Option<Duration>,
}

/// Back-off settings of the controller.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// Delay after the first failure.
    pub base: Duration,
    /// Cap.
    pub max: Duration,
}

fn is_failed(pod: &Pod, spec: &JobSpec) -> bool {
    if phase(pod) == "Failed" {
        return true;
    }
    // With the default replacement policy a pod being deleted is a failure
    // (it may never reach a phase); with `Failed` only the phase counts.
    spec.pod_replacement_policy.as_deref() != Some("Failed")
        && pod.metadata.deletion_timestamp.is_some()
        && phase(pod) != "Succeeded"
}

fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or("")
}

fn condition<'a>(conds: &'a [JobCondition], type_: &str) -> Option<&'a JobCondition> {
    conds
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// Whether the Job carries a final `Complete` or `Failed` condition.
pub fn is_finished(job: &Job) -> Option<(&'static str, jiff::Timestamp)> {
    let conds = job.status.as_ref()?.conditions.as_deref()?;
    for t in ["Complete", "Failed"] {
        if let Some(c) = condition(conds, t) {
            let at = c
                .last_transition_time
                .as_ref()
                .map_or(jiff::Timestamp::UNIX_EPOCH, |t| t.0);
            return Some((
                if t == "Complete" {
                    "Complete"
                } else {
                    "Failed"
                },
                at,
            ));
        }
    }
    None
}

fn set_condition(
    conds: &mut Vec<JobCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: jiff::Timestamp,
) {
    if let Some(c) = conds.iter_mut().find(|c| c.type_ == type_) {
        if c.status != status {
            c.last_transition_time = Some(Time(now));
        }
        c.status = status.into();
        c.reason = Some(reason.into());
        c.message = Some(message.into());
        c.last_probe_time = Some(Time(now));
        return;
    }
    conds.push(JobCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    });
}

/// The first `successPolicy` rule the completed indexes meet.
fn success_rule(spec: &JobSpec, completed: &Indexes, completions: i32) -> Option<usize> {
    spec.success_policy.as_ref()?.rules.iter().position(|r| {
        let set = r
            .succeeded_indexes
            .as_deref()
            .map(|s| indexes::parse(s, completions));
        match (set, r.succeeded_count) {
            (Some(s), None) => !s.is_empty() && s.is_subset(completed),
            (Some(s), Some(n)) => s.intersection(completed).count() >= n.max(1) as usize,
            (None, Some(n)) => completed.len() >= n.max(1) as usize,
            (None, None) => false,
        }
    })
}

/// Decides one sync of `job` (not yet finished) given its pods at `now`.
pub fn plan(job: &Job, pods: &[Pod], now: jiff::Timestamp, backoff: Backoff) -> Plan {
    let spec = job.spec.clone().unwrap_or_default();
    let old = job.status.clone().unwrap_or_default();
    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    let completions = spec.completions;
    let comp_n = completions.unwrap_or(0);
    let parallelism = spec.parallelism.unwrap_or(1).max(0) as usize;
    let suspended = spec.suspend == Some(true);
    let mut out = Plan::default();

    let mut completed = indexes::parse(old.completed_indexes.as_deref().unwrap_or(""), comp_n);
    let mut failed_idx = indexes::parse(old.failed_indexes.as_deref().unwrap_or(""), comp_n);
    let unc = old.uncounted_terminated_pods.clone().unwrap_or_default();
    let mut unc_s = unc.succeeded.unwrap_or_default();
    let mut unc_f = unc.failed.unwrap_or_default();
    let mut succeeded = old.succeeded.unwrap_or(0);
    let mut failed = old.failed.unwrap_or(0);

    // Flush: uids whose finalizer is gone are counted now, exactly once.
    let tracked: HashSet<&str> = pods.iter().filter(|p| is_tracked(p)).map(uid).collect();
    unc_s.retain(|u| {
        let keep = tracked.contains(u.as_str());
        if !keep && !indexed {
            succeeded += 1;
        }
        keep
    });
    unc_f.retain(|u| {
        let keep = tracked.contains(u.as_str());
        if !keep {
            failed += 1;
        }
        keep
    });

    // Record newly finished pods, oldest first.
    let mut sorted: Vec<&Pod> = pods.iter().collect();
    sorted.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
    let mut fail_job: Option<String> = None;
    for pod in sorted.iter().copied().filter(|p| is_tracked(p)) {
        let id = uid(pod).to_owned();
        if unc_s.contains(&id) || unc_f.contains(&id) {
            out.release.push(pod.clone());
            continue;
        }
        if phase(pod) == "Succeeded" {
            if indexed && let Some(i) = index_of(pod, comp_n) {
                completed.insert(i);
            }
            unc_s.push(id);
            out.release.push(pod.clone());
        } else if is_failed(pod, &spec) {
            match policy::judge(&spec, pod) {
                Verdict::Ignore => {}
                Verdict::FailJob(msg) => {
                    fail_job.get_or_insert(msg);
                    unc_f.push(id);
                }
                Verdict::FailIndex => {
                    if let Some(i) = index_of(pod, comp_n) {
                        failed_idx.insert(i);
                    }
                    unc_f.push(id);
                }
                Verdict::Count => unc_f.push(id),
            }
            out.release.push(pod.clone());
        }
    }

    // Per-index failure counts, carried on each pod's annotation.
    let mut index_failures: BTreeMap<i32, u32> = BTreeMap::new();
    if indexed {
        for pod in pods {
            let Some(i) = index_of(pod, comp_n) else {
                continue;
            };
            let mut n = recorded_failures(pod);
            if is_failed(pod, &spec) && policy::judge(&spec, pod) != Verdict::Ignore {
                n += 1;
            }
            let e = index_failures.entry(i).or_default();
            *e = (*e).max(n);
        }
        if let Some(limit) = spec.backoff_limit_per_index {
            for (i, n) in &index_failures {
                if i64::from(*n) > i64::from(limit) {
                    failed_idx.insert(*i);
                }
            }
        }
        for i in &failed_idx {
            completed.remove(i);
        }
    }

    let succeeded_total = if indexed {
        completed.len() as i64
    } else {
        i64::from(succeeded) + unc_s.len() as i64
    };
    let failed_total = i64::from(failed) + unc_f.len() as i64;
    let active: Vec<&Pod> = sorted.iter().copied().filter(|p| is_active(p)).collect();
    let terminating = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some() && !is_terminal(p))
        .count();
    let restarts: i64 = if template_restart_policy(&spec) == "OnFailure" {
        active
            .iter()
            .flat_map(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.container_statuses.clone())
                    .unwrap_or_default()
            })
            .map(|c| i64::from(c.restart_count))
            .sum()
    } else {
        0
    };

    let mut conds = old.conditions.clone().unwrap_or_default();
    let mut start_time = old.start_time.clone();
    let was_suspended = condition(&conds, "Suspended").is_some();
    if !suspended && (start_time.is_none() || was_suspended) {
        // Resuming restarts the activeDeadlineSeconds clock.
        start_time = Some(Time(now));
    }

    let mut outcome = if let Some(c) = condition(&conds, "FailureTarget") {
        Some(Outcome::Failure {
            reason: c.reason.clone().unwrap_or_default(),
            message: c.message.clone().unwrap_or_default(),
        })
    } else {
        condition(&conds, "SuccessCriteriaMet").map(|c| Outcome::Success {
            reason: c.reason.clone().unwrap_or_default(),
            message: c.message.clone().unwrap_or_default(),
        })
    };
    let fail = |reason: &str, message: &str| Outcome::Failure {
        reason: reason.into(),
        message: message.into(),
    };
    let deadline = spec
        .active_deadline_seconds
        .zip(start_time.as_ref())
        .map(|(s, t)| t.0 + jiff::SignedDuration::from_secs(s));
    if outcome.is_none() {
        outcome = if let Some(msg) = fail_job {
            Some(fail("PodFailurePolicy", &msg))
        } else if failed_total + restarts > i64::from(spec.backoff_limit.unwrap_or(6)) {
            Some(fail(
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ))
        } else if spec
            .max_failed_indexes
            .is_some_and(|m| failed_idx.len() as i64 > i64::from(m))
        {
            Some(fail(
                "MaxFailedIndexesExceeded",
                "Job has exceeded the specified maximal number of failed indexes",
            ))
        } else if !suspended && deadline.is_some_and(|d| d <= now) {
            Some(fail(
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ))
        } else if let Some(rule) = indexed
            .then(|| success_rule(&spec, &completed, comp_n))
            .flatten()
        {
            Some(Outcome::Success {
                reason: "SuccessPolicy".into(),
                message: format!("Matched rules at index {rule}"),
            })
        } else if indexed && completed.len() + failed_idx.len() >= comp_n as usize {
            if failed_idx.is_empty() {
                Some(Outcome::Success {
                    reason: "CompletionsReached".into(),
                    message: "Reached expected number of succeeded pods".into(),
                })
            } else {
                Some(fail("FailedIndexes", "Job has failed indexes"))
            }
        } else if !indexed
            && match completions {
                Some(c) => succeeded_total >= i64::from(c),
                // A work queue is done when one pod succeeded and none runs.
                None => succeeded_total > 0 && active.is_empty(),
            }
        {
            Some(Outcome::Success {
                reason: "CompletionsReached".into(),
                message: "Reached expected number of succeeded pods".into(),
            })
        } else {
            None
        };
        match &outcome {
            Some(Outcome::Failure { reason, message }) => {
                set_condition(&mut conds, "FailureTarget", "True", reason, message, now);
            }
            Some(Outcome::Success { reason, message }) => {
                set_condition(
                    &mut conds,
                    "SuccessCriteriaMet",
                    "True",
                    reason,
                    message,
                    now,
                );
            }
            None => {}
        }
    }

    let mut kept_active: Vec<&Pod> = Vec::new();
    match &outcome {
        Some(Outcome::Failure { .. }) => {
            // Pods stopped because the Job failed count as failed.
            for p in &active {
                if is_tracked(p) {
                    unc_f.push(uid(p).to_owned());
                    out.release.push((*p).clone());
                }
                out.delete_counted.push((*p).clone());
            }
        }
        Some(Outcome::Success { .. }) => {
            out.delete_uncounted
                .extend(active.iter().map(|p| (*p).clone()));
        }
        None if suspended => {
            out.delete_uncounted
                .extend(active.iter().map(|p| (*p).clone()));
            if !was_suspended {
                set_condition(
                    &mut conds,
                    "Suspended",
                    "True",
                    "JobSuspended",
                    "Job suspended",
                    now,
                );
                out.events
                    .push((Type::Normal, "Suspended", "Job suspended".into()));
            }
        }
        None => {
            if was_suspended {
                set_condition(
                    &mut conds,
                    "Suspended",
                    "False",
                    "JobResumed",
                    "Job resumed",
                    now,
                );
                out.events
                    .push((Type::Normal, "Resumed", "Job resumed".into()));
            }
            if let Some(d) = deadline {
                out.requeue = Some(d.duration_since(now).unsigned_abs());
            }
            kept_active = scale(
                &spec,
                &active,
                pods,
                indexed,
                parallelism,
                succeeded_total,
                &completed,
                &failed_idx,
                &index_failures,
                &mut out,
            );
            if !out.create.is_empty() {
                let wait = backoff_remaining(&spec, pods, now, backoff);
                if !wait.is_zero() {
                    out.create.clear();
                    out.requeue = Some(out.requeue.map_or(wait, |r| r.min(wait)));
                }
            }
        }
    }

    // The final condition waits until every pod is accounted for and gone.
    let settled = unc_s.is_empty()
        && unc_f.is_empty()
        && terminating == 0
        && active.is_empty()
        && out.release.is_empty();
    let mut completion_time = old.completion_time.clone();
    if let Some(o) = &outcome {
        if settled {
            match o {
                Outcome::Success { reason, message } => {
                    set_condition(&mut conds, "Complete", "True", reason, message, now);
                    completion_time = Some(Time(now));
                    out.events
                        .push((Type::Normal, "Completed", "Job completed".into()));
                }
                Outcome::Failure { reason, message } => {
                    set_condition(&mut conds, "Failed", "True", reason, message, now);
                    let reason: &'static str = match reason.as_str() {
                        "BackoffLimitExceeded" => "BackoffLimitExceeded",
                        "DeadlineExceeded" => "DeadlineExceeded",
                        "PodFailurePolicy" => "PodFailurePolicy",
                        "MaxFailedIndexesExceeded" => "MaxFailedIndexesExceeded",
                        _ => "FailedIndexes",
                    };
                    out.events.push((Type::Warning, reason, message.clone()));
                }
            }
        } else {
            // Finalizer removals and deletions wake us through pod events;
            // this is the safety net.
            out.requeue = Some(Duration::from_secs(1));
        }
    }
    if indexed {
        for i in &failed_idx {
            completed.remove(i);
        }
    }

    let active_now = kept_active.len() + out.create.len();
    out.status = JobStatus {
        active: Some(active_now as i32),
        ready: Some(kept_active.iter().filter(|p| is_ready(p)).count() as i32),
        terminating: Some(terminating as i32),
        succeeded: Some(if indexed {
            completed.len() as i32
        } else {
            succeeded
        }),
        failed: Some(failed),
        completed_indexes: (indexed && !completed.is_empty()).then(|| indexes::format(&completed)),
        failed_indexes: spec
            .backoff_limit_per_index
            .map(|_| indexes::format(&failed_idx)),
        uncounted_terminated_pods: Some(UncountedTerminatedPods {
            succeeded: (!unc_s.is_empty()).then_some(unc_s),
            failed: (!unc_f.is_empty()).then_some(unc_f),
        }),
        start_time,
        completion_time,
        conditions: (!conds.is_empty()).then_some(conds),
    };
    out
}

fn template_restart_policy(spec: &JobSpec) -> &str {
    spec.template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Never")
}

/// Chooses pods to create or delete so the active ones match what the Job
/// wants; returns the active pods it keeps.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename them"
)]
fn scale<'a>(
    spec: &JobSpec,
    active: &[&'a Pod],
    pods: &[Pod],
    indexed: bool,
    parallelism: usize,
    succeeded_total: i64,
    completed: &Indexes,
    failed_idx: &Indexes,
    index_failures: &BTreeMap<i32, u32>,
    out: &mut Plan,
) -> Vec<&'a Pod> {
    let comp_n = spec.completions.unwrap_or(0);
    if !indexed {
        let wanted = match spec.completions {
            Some(c) => (i64::from(c) - succeeded_total).clamp(0, parallelism as i64) as usize,
            // A work queue starts no new pods once one succeeded.
            None if succeeded_total > 0 => active.len().min(parallelism),
            None => parallelism,
        };
        let mut keep: Vec<&Pod> = active.to_vec();
        if keep.len() > wanted {
            // Drop not-ready pods first, then the newest.
            keep.sort_by_key(|p| (!is_ready(p), std::cmp::Reverse(created(p))));
            let surplus = keep.split_off(wanted);
            out.delete_uncounted.extend(surplus.into_iter().cloned());
        }
        out.create.extend(std::iter::repeat_n(
            (None, 0),
            wanted.saturating_sub(keep.len()),
        ));
        return keep;
    }
    let mut keep: Vec<&Pod> = Vec::new();
    let mut busy: Indexes = Indexes::new();
    for p in active {
        match index_of(p, comp_n) {
            Some(i) if !completed.contains(&i) && !failed_idx.contains(&i) && busy.insert(i) => {
                keep.push(p);
            }
            _ => out.delete_uncounted.push((*p).clone()),
        }
    }
    if spec.pod_replacement_policy.as_deref() == Some("Failed") {
        // Terminating pods still hold their index until they fail.
        for p in pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_some() && !is_terminal(p))
        {
            if let Some(i) = index_of(p, comp_n) {
                busy.insert(i);
            }
        }
    }
    let room = parallelism.saturating_sub(keep.len());
    out.create.extend(
        (0..comp_n)
            .filter(|i| !completed.contains(i) && !failed_idx.contains(i) && !busy.contains(i))
            .take(room)
            .map(|i| (Some(i), index_failures.get(&i).copied().unwrap_or(0))),
    );
    keep
}

fn created(p: &Pod) -> Option<jiff::Timestamp> {
    p.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// How long replacements must still wait: failures since the last success
/// set the back-off, counted from the newest failure.
fn backoff_remaining(spec: &JobSpec, pods: &[Pod], now: jiff::Timestamp, b: Backoff) -> Duration {
    let last_success = pods
        .iter()
        .filter(|p| phase(p) == "Succeeded")
        .filter_map(policy::finished_at)
        .max();
    let failures: Vec<jiff::Timestamp> = pods
        .iter()
        .filter(|p| is_failed(p, spec) && policy::judge(spec, p) != Verdict::Ignore)
        .filter_map(policy::finished_at)
        .filter(|t| last_success.is_none_or(|s| *t > s))
        .collect();
    let Some(last) = failures.iter().max() else {
        return Duration::ZERO;
    };
    let delay = policy::backoff(failures.len() as u32, b.base, b.max);
    let until = *last + jiff::SignedDuration::try_from(delay).unwrap_or(jiff::SignedDuration::MAX);
    if until <= now {
        Duration::ZERO
    } else {
        until.duration_since(now).unsigned_abs()
    }
}
