//! The CronJob controller against a real API server, on a fake clock the
//! test moves forward, with the real Job controller running the Jobs and
//! the test playing the kubelet.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::support::{ApiServer, Running, eventually, finish_pod, spawn_controller};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use skiff_controllers::{cronjob, job};

const WAIT: Duration = Duration::from_secs(20);

/// A clock the test sets, in whole seconds.
#[derive(Clone)]
struct FakeClock(Arc<AtomicI64>);

impl FakeClock {
    fn new() -> FakeClock {
        FakeClock(Arc::new(AtomicI64::new(jiff::Timestamp::now().as_second())))
    }
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::from_second(self.0.load(Ordering::SeqCst)).expect("time")
    }
    fn set(&self, t: jiff::Timestamp) {
        self.0.store(t.as_second(), Ordering::SeqCst);
    }
    /// Moves to `secs` past the next multiple of `minutes` minutes.
    fn to_next(&self, minutes: i64, secs: i64) -> jiff::Timestamp {
        let step = minutes * 60;
        let now = self.0.load(Ordering::SeqCst);
        let boundary = (now.div_euclid(step) + 1) * step;
        self.set(jiff::Timestamp::from_second(boundary + secs).expect("time"));
        jiff::Timestamp::from_second(boundary).expect("time")
    }
}

struct Controllers {
    _cron: Running,
    _job: Running,
}

fn controllers(client: &Client, clock: &FakeClock) -> Controllers {
    let c = clock.clone();
    let cfg = cronjob::Config {
        now: Arc::new(move || c.now()),
        max_requeue: Duration::from_millis(100),
    };
    Controllers {
        _cron: spawn_controller(client.clone(), move |ctx, s| cronjob::run(ctx, cfg, s)),
        _job: spawn_controller(client.clone(), |ctx, s| {
            job::run(ctx, job::Config::default(), s)
        }),
    }
}

async fn create(client: &Client, name: &str, spec: serde_json::Value) {
    let mut spec = spec;
    // backoffLimit 0: a failing pod fails its Job at once.
    spec["jobTemplate"] = json!({"spec": {"backoffLimit": 0, "template": {"spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "main", "image": "localhost/skiff/job:v1"}],
    }}}});
    if spec.get("timeZone").is_none() {
        spec["timeZone"] = json!("Etc/UTC");
    }
    let cj: CronJob = serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": name}, "spec": spec,
    }))
    .expect("cronjob");
    Api::<CronJob>::default_namespaced(client.clone())
        .create(&PostParams::default(), &cj)
        .await
        .expect("create cronjob");
}

async fn jobs_of(client: &Client, cj: &str) -> Vec<Job> {
    let mut jobs: Vec<Job> = Api::<Job>::default_namespaced(client.clone())
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|j| {
            skiff_controllers::owner::controller_of(&j.metadata).is_some_and(|r| r.name == cj)
        })
        .collect();
    jobs.sort_by_key(|j| j.name_any());
    jobs
}

async fn cronjob(client: &Client, name: &str) -> CronJob {
    Api::<CronJob>::default_namespaced(client.clone())
        .get(name)
        .await
        .expect("cronjob")
}

async fn events(client: &Client, name: &str, reason: &str) -> Vec<String> {
    Api::<Event>::default_namespaced(client.clone())
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter_map(|e| e.message)
        .collect()
}

/// Waits for the Job `name` and ends its pod with `code`.
async fn finish_job(client: &Client, name: &str, code: i32) {
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let lp = ListParams::default().labels(&format!("job-name={name}"));
    let pod = eventually(WAIT, &format!("pod of {name}"), || async {
        pods.list(&lp)
            .await
            .ok()?
            .items
            .into_iter()
            .find(skiff_controllers::pods::is_active)
    })
    .await;
    finish_pod(&pods, &pod.name_any(), code)
        .await
        .expect("finish");
    let want = if code == 0 { "Complete" } else { "Failed" };
    eventually(WAIT, &format!("{name} {want}"), || async {
        let j = Api::<Job>::default_namespaced(client.clone())
            .get(name)
            .await
            .ok()?;
        skiff_controllers::job::plan::is_finished(&j)
            .filter(|(t, _)| *t == want)
            .map(|_| ())
    })
    .await;
}

#[tokio::test]
async fn fires_on_schedule_and_tracks_its_jobs() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let clock = FakeClock::new();
    let _c = controllers(&client, &clock);
    create(&client, "tick", json!({"schedule": "*/5 * * * *"})).await;
    let at = clock.to_next(5, 10);
    let name = format!("tick-{}", at.as_second() / 60);
    let job = eventually(WAIT, "the first job", || async {
        jobs_of(&client, "tick").await.into_iter().next()
    })
    .await;
    assert_eq!(job.name_any(), name);
    assert_eq!(
        job.annotations()["batch.kubernetes.io/cronjob-scheduled-timestamp"],
        at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    let cj = eventually(WAIT, "status.active", || async {
        let cj = cronjob(&client, "tick").await;
        cj.status.as_ref()?.active.as_ref()?.first()?;
        Some(cj)
    })
    .await;
    let st = cj.status.unwrap_or_default();
    assert_eq!(st.last_schedule_time.map(|t| t.0), Some(at));
    assert_eq!(
        st.active.unwrap_or_default()[0].name.as_deref(),
        Some(name.as_str())
    );
    finish_job(&client, &name, 0).await;
    eventually(WAIT, "lastSuccessfulTime and empty active", || async {
        let st = cronjob(&client, "tick").await.status?;
        (st.active.is_none() && st.last_successful_time.is_some()).then_some(())
    })
    .await;
    eventually(WAIT, "SawCompletedJob", || async {
        let e = events(&client, "tick", "SawCompletedJob").await;
        (!e.is_empty()).then_some(())
    })
    .await;
    // Nothing more until the next slot, which gets its own job.
    assert_eq!(jobs_of(&client, "tick").await.len(), 1);
    clock.to_next(5, 1);
    eventually(WAIT, "the second job", || async {
        (jobs_of(&client, "tick").await.len() == 2).then_some(())
    })
    .await;
    assert!(!events(&client, "tick", "SuccessfulCreate").await.is_empty());
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn history_limits_prune_finished_jobs() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let clock = FakeClock::new();
    let _c = controllers(&client, &clock);
    create(
        &client,
        "hist",
        json!({"schedule": "@hourly", "successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 1}),
    )
    .await;
    let mut names = Vec::new();
    for code in [0, 0, 1, 1] {
        let at = clock.to_next(60, 5);
        let name = format!("hist-{}", at.as_second() / 60);
        finish_job(&client, &name, code).await;
        names.push(name);
    }
    eventually(WAIT, "only the newest success and failure kept", || async {
        let kept: Vec<String> = jobs_of(&client, "hist")
            .await
            .iter()
            .map(|j| j.name_any())
            .collect();
        (kept == vec![names[1].clone(), names[3].clone()]).then_some(())
    })
    .await;
    // Events are recorded after the deletes, so they may trail a little.
    eventually(WAIT, "a SuccessfulDelete event per pruned job", || async {
        let deleted = events(&client, "hist", "SuccessfulDelete").await;
        [&names[0], &names[2]]
            .iter()
            .all(|n| deleted.contains(&format!("Deleted job {n}")))
            .then_some(())
    })
    .await;
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn concurrency_policies_forbid_and_replace() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let clock = FakeClock::new();
    let _c = controllers(&client, &clock);
    create(
        &client,
        "forbid",
        json!({"schedule": "*/1 * * * *", "concurrencyPolicy": "Forbid"}),
    )
    .await;
    create(
        &client,
        "replace",
        json!({"schedule": "*/1 * * * *", "concurrencyPolicy": "Replace"}),
    )
    .await;
    let first = clock.to_next(1, 5);
    for cj in ["forbid", "replace"] {
        eventually(WAIT, "first jobs", || async {
            (jobs_of(&client, cj).await.len() == 1).then_some(())
        })
        .await;
    }
    let second = clock.to_next(1, 5);
    eventually(WAIT, "replace swapped its job", || async {
        let names: Vec<String> = jobs_of(&client, "replace")
            .await
            .iter()
            .map(|j| j.name_any())
            .collect();
        (names == vec![format!("replace-{}", second.as_second() / 60)]).then_some(())
    })
    .await;
    eventually(WAIT, "JobAlreadyActive", || async {
        (!events(&client, "forbid", "JobAlreadyActive")
            .await
            .is_empty())
        .then_some(())
    })
    .await;
    let forbid: Vec<String> = jobs_of(&client, "forbid")
        .await
        .iter()
        .map(|j| j.name_any())
        .collect();
    assert_eq!(forbid, vec![format!("forbid-{}", first.as_second() / 60)]);
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn after_downtime_only_the_latest_missed_time_runs() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let clock = FakeClock::new();
    create(&client, "late", json!({"schedule": "* * * * *"})).await;
    create(
        &client,
        "bounded",
        json!({"schedule": "* * * * *", "startingDeadlineSeconds": 600}),
    )
    .await;
    create(
        &client,
        "paused",
        json!({"schedule": "* * * * *", "suspend": true}),
    )
    .await;
    // Three hours pass before any controller runs.
    let latest = clock.to_next(1, 0) + jiff::SignedDuration::from_hours(3);
    clock.set(latest);
    let _c = controllers(&client, &clock);
    for cj in ["late", "bounded"] {
        let jobs = eventually(WAIT, "one job", || async {
            let j = jobs_of(&client, cj).await;
            (!j.is_empty()).then_some(j)
        })
        .await;
        let names: Vec<String> = jobs.iter().map(|j| j.name_any()).collect();
        assert_eq!(names, vec![format!("{cj}-{}", latest.as_second() / 60)]);
    }
    let warned = eventually(WAIT, "TooManyMissedTimes", || async {
        let e = events(&client, "late", "TooManyMissedTimes").await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert!(
        warned[0].starts_with("too many missed start times"),
        "{warned:?}"
    );
    // startingDeadlineSeconds bounds the look-back, so no warning there.
    assert!(
        events(&client, "bounded", "TooManyMissedTimes")
            .await
            .is_empty()
    );
    assert!(
        jobs_of(&client, "paused").await.is_empty(),
        "suspended cronjobs do not fire"
    );
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_restarted_controller_never_creates_a_job_twice() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let clock = FakeClock::new();
    create(&client, "once", json!({"schedule": "*/1 * * * *"})).await;
    let at = clock.to_next(1, 5);
    let name = format!("once-{}", at.as_second() / 60);
    // As if a previous controller created the job and died before writing
    // the CronJob's status.
    let cj = cronjob(&client, "once").await;
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": {
            "batch.kubernetes.io/cronjob-scheduled-timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()}},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "main", "image": "localhost/skiff/job:v1"}]}}},
    }))?;
    let mut job = job;
    job.metadata.owner_references = Some(vec![skiff_controllers::owner::controller_ref(&cj)]);
    Api::<Job>::default_namespaced(client.clone())
        .create(&PostParams::default(), &job)
        .await?;
    let _c = controllers(&client, &clock);
    eventually(WAIT, "the job adopted into status.active", || async {
        let st = cronjob(&client, "once").await.status?;
        (st.active?.first()?.name.as_deref() == Some(name.as_str())
            && st.last_schedule_time.map(|t| t.0) == Some(at))
        .then_some(())
    })
    .await;
    assert_eq!(jobs_of(&client, "once").await.len(), 1);
    server.stop().await;
    Ok(())
}
