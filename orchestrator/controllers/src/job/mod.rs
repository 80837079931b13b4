//! The Job controller: runs a Job's pods to completion.
//!
//! Each sync reads the Job and its pods straight from the API server (no
//! cache, so no "expectations" to lose on restart), asks [`plan`] what to
//! do, then acts in the order that keeps counting exact: create and delete
//! uncounted pods, write the status (which names the newly finished pods in
//! `uncountedTerminatedPods`), and only then remove their tracking
//! finalizers. A finished Job with `ttlSecondsAfterFinished` is deleted
//! here too (Kubernetes runs a separate TTL controller for that).
//!
//! What is supported and what is not is listed in `docs/workloads.md`.

pub mod indexes;
pub mod plan;
pub mod policy;
pub mod template;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::json;
use skiff_client::events::{Recorder, Type};

use crate::Shutdown;
use template::{CONTROLLER_UID, TRACKING_FINALIZER, is_tracked};

/// Kubernetes' back-off after the first pod failure.
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(10);
/// Kubernetes' cap on the back-off.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(360);

/// A clock: tests pass a fake one.
pub type Clock = Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>;

/// Settings of the Job controller.
#[derive(Clone)]
pub struct Config {
    /// Delay after the first failure, doubled per further failure.
    pub backoff_base: Duration,
    /// Cap on that delay.
    pub backoff_max: Duration,
    /// The time now (deadlines, TTL, back-off).
    pub now: Clock,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            backoff_base: DEFAULT_BACKOFF_BASE,
            backoff_max: DEFAULT_BACKOFF_MAX,
            now: Arc::new(jiff::Timestamp::now),
        }
    }
}

/// Why a sync failed; it is retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("API request for job {job}")]
    Api {
        /// `namespace/name` of the Job.
        job: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The Job's selector cannot be turned into a list query.
    #[error("job {job} has an invalid selector")]
    Selector {
        /// `namespace/name` of the Job.
        job: String,
        /// Why.
        #[source]
        source: skiff_api::selector::SelectorError,
    },
}

struct JobCtx {
    client: Client,
    cfg: Config,
    recorder: Recorder,
}

/// Runs the Job controller until `shutdown` completes.
pub async fn run(ctx: Arc<crate::Ctx>, cfg: Config, shutdown: Shutdown) {
    let client = ctx.client.clone();
    let jctx = Arc::new(JobCtx {
        recorder: Recorder::new(client.clone(), "job-controller", "skiff"),
        client: client.clone(),
        cfg,
    });
    let controller = Controller::new(Api::<Job>::all(client.clone()), watcher::Config::default())
        .owns(Api::<Pod>::all(client.clone()), watcher::Config::default())
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile, error_policy, jctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "job reconcile");
            }
        });
    futures::future::join(controller, release_orphans(client, shutdown)).await;
}

fn error_policy(_job: Arc<Job>, err: &Error, _ctx: Arc<JobCtx>) -> Action {
    tracing::info!(error = %err, "job sync failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

fn key(job: &Job) -> String {
    format!("{}/{}", job.namespace().unwrap_or_default(), job.name_any())
}

#[tracing::instrument(skip_all, fields(job = %key(&obj)))]
async fn reconcile(obj: Arc<Job>, ctx: Arc<JobCtx>) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let api_err = |source| Error::Api {
        job: key(&obj),
        source,
    };
    let Some(job) = jobs.get_opt(&obj.name_any()).await.map_err(api_err)? else {
        return Ok(Action::await_change());
    };
    if job
        .spec
        .as_ref()
        .and_then(|s| s.managed_by.as_deref())
        .is_some_and(|m| m != "kubernetes.io/job-controller")
    {
        return Ok(Action::await_change());
    }
    let pods = owned_pods(&pods_api, &job).await?;
    let now = (ctx.cfg.now)();

    if job.metadata.deletion_timestamp.is_some() {
        // Being deleted (foreground): let the garbage collector have the pods.
        for p in pods.iter().filter(|p| is_tracked(p)) {
            release(&pods_api, p).await.map_err(api_err)?;
        }
        return Ok(Action::await_change());
    }
    if let Some((_, finished)) = plan::is_finished(&job) {
        for p in pods.iter().filter(|p| is_tracked(p)) {
            release(&pods_api, p).await.map_err(api_err)?;
        }
        return ttl(&jobs, &job, finished, now).await.map_err(api_err);
    }

    let plan = plan::plan(
        &job,
        &pods,
        now,
        plan::Backoff {
            base: ctx.cfg.backoff_base,
            max: ctx.cfg.backoff_max,
        },
    );
    for p in &plan.delete_uncounted {
        if is_tracked(p) {
            release(&pods_api, p).await.map_err(api_err)?;
        }
        delete_pod(&ctx, &pods_api, &job, p)
            .await
            .map_err(api_err)?;
    }
    for (index, failures) in &plan.create {
        let pod = template::pod_for(&job, *index, *failures);
        match pods_api.create(&PostParams::default(), &pod).await {
            Ok(created) => {
                let msg = format!("Created pod: {}", created.name_any());
                ctx.recorder
                    .record(&job, None, Type::Normal, "SuccessfulCreate", &msg)
                    .await;
            }
            Err(e) => {
                let msg = format!("Error creating: {e}");
                ctx.recorder
                    .record(&job, None, Type::Warning, "FailedCreate", &msg)
                    .await;
                return Err(api_err(e));
            }
        }
    }
    if Some(&plan.status) != job.status.as_ref() {
        let mut next = job.clone();
        next.status = Some(plan.status.clone());
        jobs.replace_status(&job.name_any(), &PostParams::default(), &next)
            .await
            .map_err(api_err)?;
    }
    // Only now that the status names them may the pods' finalizers go.
    for p in &plan.release {
        release(&pods_api, p).await.map_err(api_err)?;
    }
    for p in &plan.delete_counted {
        delete_pod(&ctx, &pods_api, &job, p)
            .await
            .map_err(api_err)?;
    }
    for (type_, reason, msg) in &plan.events {
        ctx.recorder.record(&job, None, *type_, reason, msg).await;
    }
    Ok(plan.requeue.map_or_else(Action::await_change, |d| {
        Action::requeue(d + Duration::from_millis(50))
    }))
}

/// The pods the Job controls, read from the API server.
async fn owned_pods(api: &Api<Pod>, job: &Job) -> Result<Vec<Pod>, Error> {
    let uid = job.uid().unwrap_or_default();
    let selector = match job.spec.as_ref().and_then(|s| s.selector.as_ref()) {
        Some(s) => skiff_api::selector::LabelSelector::from_metav1(s)
            .map_err(|source| Error::Selector {
                job: key(job),
                source,
            })?
            .to_string(),
        None => format!("{CONTROLLER_UID}={uid}"),
    };
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| Error::Api {
            job: key(job),
            source,
        })?;
    let mut owned = Vec::new();
    for pod in list.items {
        if crate::owner::is_controlled_by(&pod.metadata, &uid) {
            owned.push(pod);
        } else if crate::owner::controller_of(&pod.metadata).is_none()
            && pod.metadata.deletion_timestamp.is_none()
            && let Some(adopted) = adopt(api, job, &pod).await
        {
            owned.push(adopted);
        }
    }
    Ok(owned)
}

/// Adopts an orphan that matches the selector, as Kubernetes does: the
/// controller reference plus the tracking finalizer, so its outcome counts.
/// The resourceVersion makes it a compare-and-swap; a pod that changed
/// meanwhile is left for the next sync.
async fn adopt(api: &Api<Pod>, job: &Job, pod: &Pod) -> Option<Pod> {
    let mut refs = pod.owner_references().to_vec();
    refs.push(crate::owner::controller_ref(job));
    let mut finalizers = pod.finalizers().to_vec();
    if !finalizers.iter().any(|f| f == TRACKING_FINALIZER) {
        finalizers.push(TRACKING_FINALIZER.into());
    }
    let patch = json!({"metadata": {
        "ownerReferences": refs,
        "finalizers": finalizers,
        "resourceVersion": pod.resource_version(),
    }});
    match api
        .patch(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::debug!(error = %e, pod = %pod.name_any(), "adopting a pod");
            None
        }
    }
}

/// Removes the tracking finalizer; the resourceVersion makes it a
/// compare-and-swap, so a concurrent change is retried, not overwritten.
async fn release(api: &Api<Pod>, pod: &Pod) -> Result<(), kube::Error> {
    let rest: Vec<String> = pod
        .finalizers()
        .iter()
        .filter(|f| *f != TRACKING_FINALIZER)
        .cloned()
        .collect();
    let patch = json!({"metadata": {
        "finalizers": if rest.is_empty() { serde_json::Value::Null } else { json!(rest) },
        "resourceVersion": pod.resource_version(),
    }});
    match api
        .patch(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

async fn delete_pod(ctx: &JobCtx, api: &Api<Pod>, job: &Job, pod: &Pod) -> Result<(), kube::Error> {
    match api.delete(&pod.name_any(), &DeleteParams::default()).await {
        Ok(_) => {
            let msg = format!("Deleted pod: {}", pod.name_any());
            ctx.recorder
                .record(job, None, Type::Normal, "SuccessfulDelete", &msg)
                .await;
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes a finished Job once its `ttlSecondsAfterFinished` has passed.
async fn ttl(
    jobs: &Api<Job>,
    job: &Job,
    finished: jiff::Timestamp,
    now: jiff::Timestamp,
) -> Result<Action, kube::Error> {
    let Some(ttl) = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished) else {
        return Ok(Action::await_change());
    };
    let due = finished + jiff::SignedDuration::from_secs(i64::from(ttl));
    if due > now {
        return Ok(Action::requeue(due.duration_since(now).unsigned_abs()));
    }
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        // Only the Job this decision was about, not a new one of the name.
        preconditions: Some(kube::api::Preconditions {
            uid: job.uid(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match jobs.delete(&job.name_any(), &dp).await {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(Action::await_change()),
        Err(e) => Err(e),
    }
}

/// Removes the tracking finalizer from pods whose Job is gone: the
/// reconciler never runs for a deleted Job, and the garbage collector
/// could not finish deleting such pods otherwise.
async fn release_orphans(client: Client, shutdown: Shutdown) {
    let pods: Api<Pod> = Api::all(client.clone());
    let wc = watcher::Config::default().labels(CONTROLLER_UID);
    let stream = watcher::watcher(pods, wc)
        .default_backoff()
        .take_until(shutdown);
    let mut stream = std::pin::pin!(stream.applied_objects());
    while let Some(ev) = stream.next().await {
        let Ok(pod) = ev else { continue };
        // Only a pod on its way out can be stuck on our finalizer.
        if !is_tracked(&pod)
            || (pod.metadata.deletion_timestamp.is_none() && !crate::pods::is_terminal(&pod))
        {
            continue;
        }
        let ns = pod.namespace().unwrap_or_default();
        let Some(owner) = crate::owner::controller_of(&pod.metadata).filter(|r| r.kind == "Job")
        else {
            continue;
        };
        let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
        let alive = match jobs.get_opt(&owner.name).await {
            Ok(Some(j)) => j.uid().as_deref() == Some(owner.uid.as_str()),
            Ok(None) => false,
            Err(_) => true,
        };
        if !alive {
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            if let Err(e) = release(&api, &pod).await {
                tracing::debug!(error = %e, pod = %pod.name_any(), "releasing an orphan");
            }
        }
    }
}
