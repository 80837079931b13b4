//! The Job controller against a real API server. No node agent runs: the
//! test plays the kubelet, ending pods through `pods/status`.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::{ApiServer, Running, eventually, finish_pod, spawn_controller};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use skiff_controllers::job;

const WAIT: Duration = Duration::from_secs(20);

/// The controller with a short back-off so failure tests stay quick.
fn controller(client: Client) -> Running {
    let cfg = job::Config {
        backoff_base: Duration::from_millis(100),
        ..job::Config::default()
    };
    spawn_controller(client, move |ctx, shutdown| job::run(ctx, cfg, shutdown))
}

async fn create(client: &Client, name: &str, spec: serde_json::Value) -> Job {
    let mut spec = spec;
    spec["template"] = json!({"spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "main", "image": "localhost/skiff/job:v1"}],
    }});
    let job: Job = serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name}, "spec": spec,
    }))
    .expect("job");
    Api::<Job>::default_namespaced(client.clone())
        .create(&PostParams::default(), &job)
        .await
        .expect("create job")
}

async fn pods_of(client: &Client, job: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::default_namespaced(client.clone());
    let lp = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
    api.list(&lp).await.map(|l| l.items).unwrap_or_default()
}

fn running(pods: &[Pod]) -> Vec<String> {
    pods.iter()
        .filter(|p| skiff_controllers::pods::is_active(p))
        .map(|p| p.name_any())
        .collect()
}

async fn get(client: &Client, name: &str) -> Option<Job> {
    Api::<Job>::default_namespaced(client.clone())
        .get_opt(name)
        .await
        .ok()
        .flatten()
}

/// Waits for the final condition `type_` and returns the Job.
async fn wait_condition(client: &Client, name: &str, type_: &str) -> Job {
    eventually(WAIT, &format!("{name} {type_}"), || async {
        get(client, name).await.filter(|j| {
            j.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == type_ && c.status == "True"))
        })
    })
    .await
}

fn reason(job: &Job, type_: &str) -> String {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == type_))
        .and_then(|c| c.reason.clone())
        .unwrap_or_default()
}

async fn event_reasons(client: &Client, name: &str) -> BTreeSet<String> {
    let events: Api<Event> = Api::default_namespaced(client.clone());
    events
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .filter_map(|e| e.reason)
        .collect()
}

/// Ends every running pod of `job` with `code`, once at least one runs;
/// returns how many it ended.
async fn finish_running(client: &Client, job: &str, code: i32) -> usize {
    let api: Api<Pod> = Api::default_namespaced(client.clone());
    let names = eventually(WAIT, "a running pod", || async {
        let r = running(&pods_of(client, job).await);
        (!r.is_empty()).then_some(r)
    })
    .await;
    for n in &names {
        finish_pod(&api, n, code).await.expect("finish pod");
    }
    names.len()
}

#[tokio::test]
async fn runs_completions_with_parallelism_and_completes() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _c = controller(client.clone());
    create(&client, "work", json!({"completions": 5, "parallelism": 2})).await;
    let mut done = 0;
    while done < 5 {
        let names = eventually(WAIT, "running pods", || async {
            let r = running(&pods_of(&client, "work").await);
            (!r.is_empty()).then_some(r)
        })
        .await;
        assert!(names.len() <= 2, "parallelism exceeded: {names:?}");
        let api: Api<Pod> = Api::default_namespaced(client.clone());
        for n in names.iter().take(5 - done) {
            finish_pod(&api, n, 0).await?;
            done += 1;
        }
    }
    let job = wait_condition(&client, "work", "Complete").await;
    let st = job.status.clone().unwrap_or_default();
    assert_eq!(st.succeeded, Some(5));
    assert_eq!(st.active, Some(0));
    assert!(st.completion_time.is_some() && st.start_time.is_some());
    assert_eq!(reason(&job, "Complete"), "CompletionsReached");
    assert_eq!(reason(&job, "SuccessCriteriaMet"), "CompletionsReached");
    let pods = pods_of(&client, "work").await;
    assert_eq!(pods.len(), 5, "one pod per completion");
    for p in &pods {
        assert!(
            p.finalizers().is_empty(),
            "tracking finalizer left on {}",
            p.name_any()
        );
        let labels = p.labels();
        assert_eq!(labels.get("job-name").map(String::as_str), Some("work"));
        assert_eq!(
            labels.get("batch.kubernetes.io/controller-uid"),
            job.metadata.uid.as_ref()
        );
    }
    let reasons = eventually(WAIT, "events", || async {
        let r = event_reasons(&client, "work").await;
        r.contains("Completed").then_some(r)
    })
    .await;
    assert!(reasons.contains("SuccessfulCreate"), "{reasons:?}");
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn indexed_jobs_track_completed_indexes() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _c = controller(client.clone());
    create(
        &client,
        "idx",
        json!({"completions": 4, "parallelism": 4, "completionMode": "Indexed"}),
    )
    .await;
    let pods = eventually(WAIT, "four pods", || async {
        let p = pods_of(&client, "idx").await;
        (p.len() == 4).then_some(p)
    })
    .await;
    let api: Api<Pod> = Api::default_namespaced(client.clone());
    let mut by_index = std::collections::BTreeMap::new();
    for p in &pods {
        let i = p.annotations()["batch.kubernetes.io/job-completion-index"].clone();
        assert_eq!(p.labels()["batch.kubernetes.io/job-completion-index"], i);
        assert!(
            p.name_any().starts_with(&format!("idx-{i}-")),
            "{}",
            p.name_any()
        );
        let env = p
            .spec
            .as_ref()
            .and_then(|s| s.containers[0].env.clone())
            .unwrap_or_default();
        assert!(env.iter().any(|e| e.name == "JOB_COMPLETION_INDEX"));
        by_index.insert(i, p.name_any());
    }
    finish_pod(&api, &by_index["1"], 0).await?;
    finish_pod(&api, &by_index["3"], 0).await?;
    eventually(WAIT, "completedIndexes 1,3", || async {
        let j = get(&client, "idx").await?;
        (j.status?.completed_indexes.as_deref() == Some("1,3")).then_some(())
    })
    .await;
    finish_pod(&api, &by_index["2"], 0).await?;
    finish_pod(&api, &by_index["0"], 0).await?;
    let job = wait_condition(&client, "idx", "Complete").await;
    let st = job.status.unwrap_or_default();
    assert_eq!(st.completed_indexes.as_deref(), Some("0-3"));
    assert_eq!(st.succeeded, Some(4));
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn backoff_limit_fails_the_job() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _c = controller(client.clone());
    create(&client, "flaky", json!({"backoffLimit": 1})).await;
    finish_running(&client, "flaky", 3).await;
    // The replacement comes after the back-off, then fails too.
    finish_running(&client, "flaky", 3).await;
    let job = wait_condition(&client, "flaky", "Failed").await;
    assert_eq!(reason(&job, "Failed"), "BackoffLimitExceeded");
    assert_eq!(reason(&job, "FailureTarget"), "BackoffLimitExceeded");
    assert_eq!(job.status.as_ref().and_then(|s| s.failed), Some(2));
    assert_eq!(pods_of(&client, "flaky").await.len(), 2, "no third try");
    eventually(WAIT, "BackoffLimitExceeded event", || async {
        event_reasons(&client, "flaky")
            .await
            .contains("BackoffLimitExceeded")
            .then_some(())
    })
    .await;
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn active_deadline_fails_the_job_and_stops_its_pods() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _c = controller(client.clone());
    create(
        &client,
        "slow",
        json!({"activeDeadlineSeconds": 1, "parallelism": 2, "completions": 4}),
    )
    .await;
    let job = wait_condition(&client, "slow", "Failed").await;
    assert_eq!(reason(&job, "Failed"), "DeadlineExceeded");
    let st = job.status.unwrap_or_default();
    assert_eq!(st.active, Some(0));
    assert_eq!(st.failed, Some(2), "stopped pods count as failed");
    assert!(running(&pods_of(&client, "slow").await).is_empty());
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn pod_failure_policy_ignores_and_fails_by_exit_code() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _c = controller(client.clone());
    create(
        &client,
        "pfp",
        json!({"backoffLimit": 0, "podFailurePolicy": {"rules": [
            {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [7]}},
            {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
        ]}}),
    )
    .await;
    // Exit 7 is ignored: not counted, even with backoffLimit 0, and replaced.
    finish_running(&client, "pfp", 7).await;
    finish_running(&client, "pfp", 42).await;
    let job = wait_condition(&client, "pfp", "Failed").await;
    assert_eq!(reason(&job, "Failed"), "PodFailurePolicy");
    assert_eq!(job.status.as_ref().and_then(|s| s.failed), Some(1));
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn suspend_deletes_pods_and_resume_recreates_them() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _c = controller(client.clone());
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    create(
        &client,
        "pause",
        json!({"parallelism": 2, "completions": 2}),
    )
    .await;
    eventually(WAIT, "two pods", || async {
        (running(&pods_of(&client, "pause").await).len() == 2).then_some(())
    })
    .await;
    // The kubelet reports one of them ready.
    let first = running(&pods_of(&client, "pause").await)[0].clone();
    crate::support::mark_ready(&Api::default_namespaced(client.clone()), &first).await?;
    eventually(WAIT, "status.ready 1", || async {
        let st = get(&client, "pause").await?.status?;
        (st.ready == Some(1) && st.active == Some(2)).then_some(())
    })
    .await;
    let suspend = |on: bool| json!({"spec": {"suspend": on}});
    jobs.patch(
        "pause",
        &PatchParams::default(),
        &Patch::Merge(&suspend(true)),
    )
    .await?;
    let job = wait_condition(&client, "pause", "Suspended").await;
    assert_eq!(reason(&job, "Suspended"), "JobSuspended");
    eventually(WAIT, "pods gone", || async {
        pods_of(&client, "pause").await.is_empty().then_some(())
    })
    .await;
    jobs.patch(
        "pause",
        &PatchParams::default(),
        &Patch::Merge(&suspend(false)),
    )
    .await?;
    eventually(WAIT, "pods back", || async {
        (running(&pods_of(&client, "pause").await).len() == 2).then_some(())
    })
    .await;
    // The status follows the pods it created.
    let job = eventually(WAIT, "JobResumed", || async {
        get(&client, "pause")
            .await
            .filter(|j| reason(j, "Suspended") == "JobResumed")
    })
    .await;
    assert_eq!(
        job.status.and_then(|s| s.failed).unwrap_or(0),
        0,
        "suspension is no failure"
    );
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_deleted_finished_pod_still_counts_and_a_restart_loses_nothing() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let c = controller(client.clone());
    create(
        &client,
        "steady",
        json!({"completions": 4, "parallelism": 2}),
    )
    .await;
    eventually(WAIT, "two pods", || async {
        (running(&pods_of(&client, "steady").await).len() == 2).then_some(())
    })
    .await;
    finish_running(&client, "steady", 0).await;
    eventually(WAIT, "first two counted", || async {
        let st = get(&client, "steady").await?.status?;
        (st.succeeded == Some(2)).then_some(())
    })
    .await;
    eventually(WAIT, "two replacements", || async {
        (running(&pods_of(&client, "steady").await).len() == 2).then_some(())
    })
    .await;
    // Controller down: one pod succeeds and is deleted at once, the other
    // succeeds; the tracking finalizer keeps the deleted one around.
    drop(c);
    let names = running(&pods_of(&client, "steady").await);
    for n in &names {
        finish_pod(&pods, n, 0).await?;
    }
    pods.delete(&names[0], &DeleteParams::default()).await?;
    let held = pods.get(&names[0]).await?;
    assert!(
        held.metadata.deletion_timestamp.is_some(),
        "held by the finalizer"
    );
    let _c = controller(client.clone());
    let job = wait_condition(&client, "steady", "Complete").await;
    assert_eq!(job.status.as_ref().and_then(|s| s.succeeded), Some(4));
    eventually(WAIT, "the deleted pod gone", || async {
        pods.get_opt(&names[0]).await.ok()?.is_none().then_some(())
    })
    .await;
    // Exactly one pod per completion was ever created.
    let created = event_count(&client, "steady", "SuccessfulCreate").await;
    assert_eq!(created, 4);
    server.stop().await;
    Ok(())
}

async fn event_count(client: &Client, name: &str, reason: &str) -> usize {
    let events: Api<Event> = Api::default_namespaced(client.clone());
    events
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .filter(|e| e.reason.as_deref() == Some(reason))
        .map(|e| e.count.unwrap_or(1).max(1) as usize)
        .sum()
}

#[tokio::test]
async fn ttl_after_finished_deletes_the_job() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _c = controller(client.clone());
    create(&client, "brief", json!({"ttlSecondsAfterFinished": 0})).await;
    finish_running(&client, "brief", 0).await;
    eventually(WAIT, "job deleted", || async {
        get(&client, "brief").await.is_none().then_some(())
    })
    .await;
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn backoff_limit_per_index_fails_only_that_index() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _c = controller(client.clone());
    create(
        &client,
        "perindex",
        json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed",
               "backoffLimitPerIndex": 0}),
    )
    .await;
    let pods = eventually(WAIT, "three pods", || async {
        let p = pods_of(&client, "perindex").await;
        (p.len() == 3).then_some(p)
    })
    .await;
    let api: Api<Pod> = Api::default_namespaced(client.clone());
    for p in &pods {
        let i = &p.annotations()["batch.kubernetes.io/job-completion-index"];
        finish_pod(&api, &p.name_any(), if i == "1" { 1 } else { 0 }).await?;
    }
    let job = wait_condition(&client, "perindex", "Failed").await;
    assert_eq!(reason(&job, "Failed"), "FailedIndexes");
    let st = job.status.unwrap_or_default();
    assert_eq!(st.failed_indexes.as_deref(), Some("1"));
    assert_eq!(st.completed_indexes.as_deref(), Some("0,2"));
    assert_eq!(
        pods_of(&client, "perindex").await.len(),
        3,
        "index 1 not retried"
    );
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn success_policy_completes_early() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _c = controller(client.clone());
    create(
        &client,
        "leader",
        json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed",
               "successPolicy": {"rules": [{"succeededIndexes": "0"}]}}),
    )
    .await;
    let pods = eventually(WAIT, "three pods", || async {
        let p = pods_of(&client, "leader").await;
        (p.len() == 3).then_some(p)
    })
    .await;
    let api: Api<Pod> = Api::default_namespaced(client.clone());
    let leader = pods
        .iter()
        .find(|p| p.annotations()["batch.kubernetes.io/job-completion-index"] == "0")
        .expect("index 0");
    finish_pod(&api, &leader.name_any(), 0).await?;
    let job = wait_condition(&client, "leader", "Complete").await;
    assert_eq!(reason(&job, "SuccessCriteriaMet"), "SuccessPolicy");
    assert_eq!(reason(&job, "Complete"), "SuccessPolicy");
    assert!(running(&pods_of(&client, "leader").await).is_empty());
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn pods_of_a_deleted_job_are_not_held_by_the_finalizer() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _c = controller(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    create(&client, "gone", json!({})).await;
    let name = eventually(WAIT, "a running pod", || async {
        running(&pods_of(&client, "gone").await).into_iter().next()
    })
    .await;
    let bg = DeleteParams {
        propagation_policy: Some(kube::api::PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    Api::<Job>::default_namespaced(client.clone())
        .delete("gone", &bg)
        .await?;
    // What the garbage collector does next: delete the dependent pod.
    pods.delete(&name, &DeleteParams::default()).await?;
    eventually(WAIT, "the orphaned pod released and gone", || async {
        pods.get_opt(&name).await.ok()?.is_none().then_some(())
    })
    .await;
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn orphans_matching_a_manual_selector_are_adopted() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let orphan: Pod = serde_json::from_value(json!({
        "metadata": {"name": "stray", "labels": {"app": "adopt"}},
        "spec": {"restartPolicy": "Never",
                 "containers": [{"name": "main", "image": "localhost/skiff/job:v1"}]},
    }))?;
    pods.create(&PostParams::default(), &orphan).await?;
    let _c = controller(client.clone());
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "adopter"},
        "spec": {
            "manualSelector": true,
            "selector": {"matchLabels": {"app": "adopt"}},
            "template": {"metadata": {"labels": {"app": "adopt"}}, "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "localhost/skiff/job:v1"}]}},
        },
    }))?;
    let job = Api::<Job>::default_namespaced(client.clone())
        .create(&PostParams::default(), &job)
        .await?;
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let adopted = eventually(WAIT, "the orphan adopted", || async {
        let p = pods.get("stray").await.ok()?;
        skiff_controllers::owner::is_controlled_by(&p.metadata, &uid).then_some(p)
    })
    .await;
    assert!(
        adopted
            .finalizers()
            .iter()
            .any(|f| f == "batch.kubernetes.io/job-tracking")
    );
    // The adopted pod fills the one slot: its success completes the Job.
    finish_pod(&pods, "stray", 0).await?;
    let done = wait_condition(&client, "adopter", "Complete").await;
    assert_eq!(done.status.and_then(|s| s.succeeded), Some(1));
    let all = pods
        .list(&ListParams::default().labels("app=adopt"))
        .await?;
    assert_eq!(all.items.len(), 1, "no pod created beside the adopted one");
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn container_restarts_count_toward_the_backoff_limit() -> anyhow::Result<()> {
    let server = ApiServer::start().await?;
    let client = server.client();
    let _c = controller(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "restarts"},
        "spec": {"backoffLimit": 1, "template": {"spec": {
            "restartPolicy": "OnFailure",
            "containers": [{"name": "main", "image": "localhost/skiff/job:v1"}]}}},
    }))?;
    Api::<Job>::default_namespaced(client.clone())
        .create(&PostParams::default(), &job)
        .await?;
    let name = eventually(WAIT, "a running pod", || async {
        running(&pods_of(&client, "restarts").await)
            .into_iter()
            .next()
    })
    .await;
    // The kubelet restarted the container twice in place.
    let patch = json!({"status": {"phase": "Running", "containerStatuses": [{
        "name": "main", "image": "localhost/skiff/job:v1", "imageID": "",
        "ready": true, "restartCount": 2, "state": {"running": {}},
    }]}});
    pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let job = wait_condition(&client, "restarts", "Failed").await;
    assert_eq!(reason(&job, "Failed"), "BackoffLimitExceeded");
    assert!(running(&pods_of(&client, "restarts").await).is_empty());
    server.stop().await;
    Ok(())
}
