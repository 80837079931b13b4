//! The CronJob controller: creates a Job for each scheduled time.
//!
//! Each sync reads the CronJob and the Jobs it controls, updates
//! `status.active` and `lastSuccessfulTime`, prunes finished Jobs past the
//! history limits, and, if a scheduled time has passed since
//! `lastScheduleTime`, starts the Job for the most recent one. The Job's
//! name is derived from the scheduled time (`<cronjob>-<minutes since
//! epoch>`), so a controller restarted between creating the Job and writing
//! the status finds it instead of creating a second one.

pub mod schedule;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, DeleteParams, ListParams, PostParams, PropagationPolicy};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use skiff_client::events::{Recorder, Type};

use crate::Shutdown;
use crate::job::Clock;
use schedule::Schedule;

/// Annotation with the scheduled time a Job was created for (RFC 3339).
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// Beyond this many missed start times Kubernetes warns (`TooManyMissedTimes`).
pub const MAX_MISSED: usize = 100;

/// Settings of the CronJob controller.
#[derive(Clone)]
pub struct Config {
    /// The time now; tests pass a fake clock.
    pub now: Clock,
    /// Look again at least this often, whatever the schedule says (the
    /// safety net for a clock that jumps, and what lets a fake clock be
    /// noticed).
    pub max_requeue: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            now: Arc::new(jiff::Timestamp::now),
            max_requeue: Duration::from_secs(300),
        }
    }
}

/// Why a sync failed; it is retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("API request for cronjob {cronjob}")]
    Api {
        /// `namespace/name` of the CronJob.
        cronjob: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
}

struct CronCtx {
    client: Client,
    cfg: Config,
    recorder: Recorder,
}

/// Runs the CronJob controller until `shutdown` completes.
pub async fn run(ctx: Arc<crate::Ctx>, cfg: Config, shutdown: Shutdown) {
    let client = ctx.client.clone();
    let cctx = Arc::new(CronCtx {
        recorder: Recorder::new(client.clone(), "cronjob-controller", "skiff"),
        client: client.clone(),
        cfg,
    });
    Controller::new(
        Api::<CronJob>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(Api::<Job>::all(client), watcher::Config::default())
    .graceful_shutdown_on(shutdown)
    .run(reconcile, error_policy, cctx)
    .for_each(|res| async move {
        if let Err(e) = res {
            tracing::debug!(error = %e, "cronjob reconcile");
        }
    })
    .await;
}

fn error_policy(_cj: Arc<CronJob>, err: &Error, _ctx: Arc<CronCtx>) -> Action {
    tracing::info!(error = %err, "cronjob sync failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

fn key(cj: &CronJob) -> String {
    format!("{}/{}", cj.namespace().unwrap_or_default(), cj.name_any())
}

/// `Complete` or `Failed`, if the Job finished.
fn finished(job: &Job) -> Option<&'static str> {
    crate::job::plan::is_finished(job).map(|(t, _)| t)
}

/// The Job name for a scheduled time: minutes since the epoch, as
/// Kubernetes names them.
pub fn job_name(cronjob: &str, scheduled: jiff::Timestamp) -> String {
    format!("{cronjob}-{}", scheduled.as_second().div_euclid(60))
}

/// RFC 3339 in the schedule's zone, `Z` for UTC as Go prints it.
fn rfc3339(t: jiff::Timestamp, tz: &jiff::tz::TimeZone) -> String {
    let z = t.to_zoned(tz.clone());
    if z.offset().seconds() == 0 {
        z.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

fn job_ref(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// The most recent scheduled time in `(earliest, now]` and how many there
/// were.
fn missed(
    s: &Schedule,
    tz: &jiff::tz::TimeZone,
    earliest: jiff::Timestamp,
    now: jiff::Timestamp,
) -> (Option<jiff::Timestamp>, usize) {
    let mut last = None;
    let mut count = 0usize;
    let mut t = earliest;
    while let Some(next) = s.next_after(t, tz) {
        if next > now {
            break;
        }
        count += 1;
        last = Some(next);
        t = next;
        if count > MAX_MISSED {
            // Past the warning threshold only the latest matters: jump to
            // the last day and count what lies there, falling back to the
            // walk if that day holds none.
            let day = now - jiff::SignedDuration::from_hours(24);
            if day > t {
                let (recent, n) = missed(s, tz, day, now);
                if let Some(r) = recent {
                    return (Some(r), count + n);
                }
            }
        }
    }
    (last, count)
}

#[tracing::instrument(skip_all, fields(cronjob = %key(&obj)))]
async fn reconcile(obj: Arc<CronJob>, ctx: Arc<CronCtx>) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let cjs: Api<CronJob> = Api::namespaced(ctx.client.clone(), &ns);
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let api_err = |source| Error::Api {
        cronjob: key(&obj),
        source,
    };
    let Some(cj) = cjs.get_opt(&obj.name_any()).await.map_err(api_err)? else {
        return Ok(Action::await_change());
    };
    if cj.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let uid = cj.uid().unwrap_or_default();
    let now = (ctx.cfg.now)();
    let spec = cj.spec.clone().unwrap_or_default();
    let mut status = cj.status.clone().unwrap_or_default();
    let owned: Vec<Job> = jobs
        .list(&ListParams::default())
        .await
        .map_err(api_err)?
        .items
        .into_iter()
        .filter(|j| crate::owner::is_controlled_by(&j.metadata, &uid))
        .collect();

    // Active list: drop finished and vanished Jobs, take back our own
    // scheduled Jobs a crash kept out of the list.
    let mut active = status.active.take().unwrap_or_default();
    for r in &active {
        if !owned.iter().any(|j| j.metadata.uid == r.uid) {
            let msg = format!(
                "Active job went missing: {}",
                r.name.as_deref().unwrap_or_default()
            );
            ctx.recorder
                .record(&cj, None, Type::Normal, "MissingJob", &msg)
                .await;
        }
    }
    active.retain(|r| {
        owned
            .iter()
            .any(|j| j.metadata.uid == r.uid && finished(j).is_none())
    });
    for j in &owned {
        let listed = cj
            .status
            .as_ref()
            .and_then(|s| s.active.as_ref())
            .is_some_and(|a| a.iter().any(|r| r.uid == j.metadata.uid));
        match finished(j) {
            Some(cond) if listed => {
                let msg = format!("Saw completed job: {}, condition: {cond}", j.name_any());
                ctx.recorder
                    .record(&cj, None, Type::Normal, "SawCompletedJob", &msg)
                    .await;
            }
            None if !listed
                && j.annotations().contains_key(SCHEDULED_TIMESTAMP)
                && !active.iter().any(|r| r.uid == j.metadata.uid) =>
            {
                active.push(job_ref(j));
            }
            _ => {}
        }
        if finished(j) == Some("Complete")
            && let Some(done) = j.status.as_ref().and_then(|s| s.completion_time.clone())
            && status
                .last_successful_time
                .as_ref()
                .is_none_or(|t| t.0 < done.0)
        {
            status.last_successful_time = Some(done);
        }
    }

    // History limits, oldest first.
    for (cond, limit) in [
        ("Complete", spec.successful_jobs_history_limit.unwrap_or(3)),
        ("Failed", spec.failed_jobs_history_limit.unwrap_or(1)),
    ] {
        let mut done: Vec<&Job> = owned.iter().filter(|j| finished(j) == Some(cond)).collect();
        done.sort_by_key(|j| {
            (
                j.status
                    .as_ref()
                    .and_then(|s| s.start_time.as_ref())
                    .map(|t| t.0),
                j.metadata.creation_timestamp.as_ref().map(|t| t.0),
            )
        });
        let surplus = done.len().saturating_sub(limit.max(0) as usize);
        for j in done.into_iter().take(surplus) {
            delete_job(&ctx, &jobs, &cj, j).await.map_err(api_err)?;
        }
    }

    let requeue;
    'schedule: {
        if spec.suspend == Some(true) {
            requeue = None;
            break 'schedule;
        }
        let tz = match spec.time_zone.as_deref() {
            None | Some("") => jiff::tz::TimeZone::system(),
            Some(name) => match jiff::tz::TimeZone::get(name) {
                Ok(tz) => tz,
                Err(e) => {
                    let msg = format!("invalid timeZone: {name:?}: {e}");
                    ctx.recorder
                        .record(&cj, None, Type::Warning, "UnknownTimeZone", &msg)
                        .await;
                    requeue = None;
                    break 'schedule;
                }
            },
        };
        let sched = match Schedule::parse(&spec.schedule) {
            Ok(s) => s,
            Err(e) => {
                let msg = format!("unparseable schedule: {:?} : {e}", spec.schedule);
                ctx.recorder
                    .record(&cj, None, Type::Warning, "UnparseableSchedule", &msg)
                    .await;
                requeue = None;
                break 'schedule;
            }
        };
        let mut earliest = status
            .last_schedule_time
            .as_ref()
            .or(cj.metadata.creation_timestamp.as_ref())
            .map_or(now, |t| t.0);
        if let Some(d) = spec.starting_deadline_seconds {
            earliest = earliest.max(now - jiff::SignedDuration::from_secs(d));
        }
        let (recent, count) = missed(&sched, &tz, earliest, now);
        requeue = sched
            .next_after(now, &tz)
            .map(|n| n.duration_since(now).unsigned_abs() + Duration::from_millis(100));
        let Some(scheduled) = recent else {
            break 'schedule;
        };
        if count > MAX_MISSED {
            let msg = format!(
                "too many missed start times: {count}. Set or decrease .spec.startingDeadlineSeconds or check clock skew"
            );
            ctx.recorder
                .record(&cj, None, Type::Warning, "TooManyMissedTimes", &msg)
                .await;
        }
        match spec.concurrency_policy.as_deref() {
            Some("Forbid") if !active.is_empty() => {
                let msg = "Not starting job because prior execution is running and concurrency policy is Forbid";
                ctx.recorder
                    .record(&cj, None, Type::Normal, "JobAlreadyActive", msg)
                    .await;
                break 'schedule;
            }
            Some("Replace") => {
                for r in std::mem::take(&mut active) {
                    if let Some(j) = owned.iter().find(|j| j.metadata.uid == r.uid) {
                        delete_job(&ctx, &jobs, &cj, j).await.map_err(api_err)?;
                    }
                }
            }
            _ => {}
        }
        let job = job_for(&cj, scheduled, &tz);
        let name = job.name_any();
        match jobs.create(&PostParams::default(), &job).await {
            Ok(created) => {
                ctx.recorder
                    .record(
                        &cj,
                        None,
                        Type::Normal,
                        "SuccessfulCreate",
                        &format!("Created job {name}"),
                    )
                    .await;
                active.push(job_ref(&created));
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                // Created before a restart: adopt it rather than make another.
                if let Some(existing) = jobs.get_opt(&name).await.map_err(api_err)?
                    && crate::owner::is_controlled_by(&existing.metadata, &uid)
                    && finished(&existing).is_none()
                    && !active.iter().any(|r| r.uid == existing.metadata.uid)
                {
                    active.push(job_ref(&existing));
                }
            }
            Err(e) => {
                let msg = format!("Error creating job: {e}");
                ctx.recorder
                    .record(&cj, None, Type::Warning, "FailedCreate", &msg)
                    .await;
                return Err(api_err(e));
            }
        }
        status.last_schedule_time = Some(Time(scheduled));
    }

    status.active = (!active.is_empty()).then_some(active);
    if Some(&status) != cj.status.as_ref() {
        let mut next = cj.clone();
        next.status = Some(status);
        cjs.replace_status(&cj.name_any(), &PostParams::default(), &next)
            .await
            .map_err(api_err)?;
    }
    let max = ctx.cfg.max_requeue;
    Ok(Action::requeue(requeue.map_or(max, |r| r.min(max))))
}

/// The Job for `scheduled`, from the CronJob's template.
fn job_for(cj: &CronJob, scheduled: jiff::Timestamp, tz: &jiff::tz::TimeZone) -> Job {
    let tpl = cj
        .spec
        .as_ref()
        .map(|s| s.job_template.clone())
        .unwrap_or_default();
    let meta = tpl.metadata.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    annotations.insert(SCHEDULED_TIMESTAMP.into(), rfc3339(scheduled, tz));
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(&cj.name_any(), scheduled)),
            namespace: cj.namespace(),
            labels: meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![crate::owner::controller_ref(cj)]),
            ..ObjectMeta::default()
        },
        spec: tpl.spec,
        status: None,
    }
}

async fn delete_job(
    ctx: &CronCtx,
    api: &Api<Job>,
    cj: &CronJob,
    job: &Job,
) -> Result<(), kube::Error> {
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match api.delete(&job.name_any(), &dp).await {
        Ok(_) => {
            let msg = format!("Deleted job {}", job.name_any());
            ctx.recorder
                .record(cj, None, Type::Normal, "SuccessfulDelete", &msg)
                .await;
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_missed_times() {
        let t: jiff::Timestamp = "2026-01-01T00:05:00Z".parse().expect("ts");
        assert_eq!(job_name("nightly", t), "nightly-29453765");
        let s = Schedule::parse("*/1 * * * *").expect("parse");
        let tz = jiff::tz::TimeZone::UTC;
        let (last, n) = missed(&s, &tz, t, t + jiff::SignedDuration::from_mins(3));
        assert_eq!((last, n), (Some(t + jiff::SignedDuration::from_mins(3)), 3));
        // A long outage: only the most recent runs, and the count is past
        // the warning threshold.
        let now = t + jiff::SignedDuration::from_hours(24 * 30);
        let (last, n) = missed(&s, &tz, t, now);
        assert_eq!(last, Some(now));
        assert!(n > MAX_MISSED);
        assert_eq!(rfc3339(t, &tz), "2026-01-01T00:05:00Z");
        let paris = jiff::tz::TimeZone::get("Europe/Paris").expect("tz");
        assert_eq!(rfc3339(t, &paris), "2026-01-01T01:05:00+01:00");
    }
}
