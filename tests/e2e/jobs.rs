//! Jobs and CronJobs end to end on `skiff up`: the Job controller runs the
//! Wasm job example to completion through scheduler and node agent, seen
//! with real kubectl; a failing job hits its backoff limit with the
//! Kubernetes back-off; `kubectl create job --from=cronjob/…` works; a
//! CronJob on a real one-minute schedule fires twice and prunes its history
//! (the schedule edge cases run against a fake clock in
//! `orchestrator/controllers/tests/all/cronjob.rs`).

use std::time::{Duration, Instant};

use skiff_tests::Cluster;

const JOB: &str = "localhost/skiff/job:v1";

fn up() -> Cluster {
    Cluster::up_with_wasm(&[("job", JOB)])
}

/// Polls `kubectl get job NAME -o jsonpath=PATH` until `done` accepts it.
fn wait_job(
    c: &Cluster,
    name: &str,
    path: &str,
    within: Duration,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + within;
    let jsonpath = format!("jsonpath={path}");
    loop {
        let out = c.kubectl(&["get", "job", name, "-o", &jsonpath]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && done(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "job {name}: {path} is {text:?}\n{}\n{}",
            c.kubectl_ok(&["get", "pods", "-o", "wide"]),
            c.kubectl_ok(&["describe", "job", name]),
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn job_yaml(name: &str, spec: &str, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        r#"apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
{spec}
  template:
    spec:
      runtimeClassName: wasmtime
      restartPolicy: Never
      containers:
      - name: job
        image: {JOB}
        args: [{}]
"#,
        args.join(", ")
    )
}

#[test]
fn a_wasm_job_of_ten_completions_completes() {
    let c = up();
    c.apply(&job_yaml(
        "ten",
        "  completions: 10\n  parallelism: 3",
        &["echo", "done"],
    ));
    wait_job(
        &c,
        "ten",
        "{.status.succeeded}",
        Duration::from_secs(120),
        |s| s == "10",
    );
    wait_job(
        &c,
        "ten",
        "{.status.conditions[?(@.type==\"Complete\")].status}",
        Duration::from_secs(60),
        |s| s == "True",
    );
    let table = c.kubectl_ok(&["get", "job", "ten"]);
    assert!(table.contains("10/10"), "{table}");
    assert!(table.contains("Complete"), "{table}");
    let pods = c.kubectl_ok(&["get", "pods", "-l", "job-name=ten", "-o", "name"]);
    assert_eq!(pods.lines().count(), 10, "{pods}");
    let phases = c.kubectl_ok(&[
        "get",
        "pods",
        "-l",
        "job-name=ten",
        "-o",
        "jsonpath={.items[*].status.phase}",
    ]);
    assert!(
        phases.split_whitespace().all(|p| p == "Succeeded"),
        "{phases}"
    );
}

#[test]
fn a_failing_wasm_job_hits_its_backoff_limit() {
    let c = up();
    // backoffLimit 1: two failures with the default 10 s back-off between.
    c.apply(&job_yaml("fails", "  backoffLimit: 1", &["exit", "3"]));
    wait_job(
        &c,
        "fails",
        "{.status.conditions[?(@.type==\"Failed\")].reason}",
        Duration::from_secs(120),
        |s| s == "BackoffLimitExceeded",
    );
    let failed = wait_job(
        &c,
        "fails",
        "{.status.failed}",
        Duration::from_secs(10),
        |s| !s.is_empty(),
    );
    assert_eq!(failed, "2");
    let codes = c.kubectl_ok(&[
        "get",
        "pods",
        "-l",
        "job-name=fails",
        "-o",
        "jsonpath={.items[*].status.containerStatuses[0].state.terminated.exitCode}",
    ]);
    assert_eq!(codes.split_whitespace().collect::<Vec<_>>(), ["3", "3"]);
    let events = c.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=fails",
    ]);
    assert!(events.contains("BackoffLimitExceeded"), "{events}");
}

/// A CronJob of the Wasm job example echoing `word`; `spec` holds its
/// schedule fields (indented two spaces).
fn cronjob_yaml(name: &str, spec: &str, word: &str) -> String {
    format!(
        r#"apiVersion: batch/v1
kind: CronJob
metadata:
  name: {name}
spec:
{spec}  jobTemplate:
    spec:
      template:
        spec:
          runtimeClassName: wasmtime
          restartPolicy: Never
          containers:
          - name: job
            image: {JOB}
            args: ["echo", "{word}"]
"#
    )
}

#[test]
fn kubectl_create_job_from_a_cronjob_runs_it() {
    let c = up();
    c.apply(&cronjob_yaml(
        "nightly",
        "  schedule: \"0 3 * * *\"\n  timeZone: Europe/Paris\n",
        "from-cron",
    ));
    let get = c.kubectl_ok(&["get", "cronjob", "nightly"]);
    assert!(get.contains("0 3 * * *"), "{get}");
    c.kubectl_ok(&["create", "job", "manual", "--from=cronjob/nightly"]);
    wait_job(
        &c,
        "manual",
        "{.status.conditions[?(@.type==\"Complete\")].status}",
        Duration::from_secs(120),
        |s| s == "True",
    );
    let owner = c.kubectl_ok(&[
        "get",
        "job",
        "manual",
        "-o",
        "jsonpath={.metadata.ownerReferences[0].name}",
    ]);
    assert_eq!(owner, "nightly");
    let annotation = c.kubectl_ok(&[
        "get",
        "job",
        "manual",
        "-o",
        "jsonpath={.metadata.annotations.cronjob\\.kubernetes\\.io/instantiate}",
    ]);
    assert_eq!(annotation, "manual");
    // TZ= in the schedule is refused as Kubernetes refuses it.
    let bad = c.kubectl_with(
        "kubectl",
        &[
            "create",
            "cronjob",
            "tz",
            "--image",
            JOB,
            "--schedule",
            "TZ=UTC 0 3 * * *",
        ],
        None,
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("TZ"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// The real thing, on the wall clock: `*/1` fires at the next two minute
/// boundaries (so this test takes one to two minutes), each run completes,
/// and `successfulJobsHistoryLimit: 1` leaves only the newer Job.
#[test]
fn cronjob_fires_every_minute_and_prunes_its_history() {
    let c = up();
    c.apply(&cronjob_yaml(
        "minutely",
        "  schedule: \"*/1 * * * *\"\n  successfulJobsHistoryLimit: 1\n",
        "tick",
    ));
    let deadline = Instant::now() + Duration::from_secs(200);
    let jobs = || {
        let out = c.kubectl_ok(&[
            "get",
            "jobs",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.status.succeeded}{\"\\n\"}{end}",
        ]);
        out.lines().map(str::to_owned).collect::<Vec<_>>()
    };
    let mut seen: Vec<String> = Vec::new();
    loop {
        let now = jobs();
        for line in &now {
            let name = line.split(' ').next().unwrap_or_default().to_owned();
            if !seen.contains(&name) {
                seen.push(name);
            }
        }
        // Two runs so far, the first pruned and the second complete.
        if seen.len() >= 2 && now.len() == 1 && now[0].ends_with(" 1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "seen {seen:?}, now {now:?}\n{}",
            c.kubectl_ok(&["describe", "cronjob", "minutely"])
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        seen.iter().all(|n| n.starts_with("minutely-")),
        "jobs are named after the CronJob and schedule time: {seen:?}"
    );
    let last = c.kubectl_ok(&[
        "get",
        "cronjob",
        "minutely",
        "-o",
        "jsonpath={.status.lastSuccessfulTime}",
    ]);
    assert!(!last.is_empty(), "lastSuccessfulTime set");
    let events = c.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=minutely",
    ]);
    assert!(events.contains("SuccessfulCreate"), "{events}");
    assert!(events.contains("SuccessfulDelete"), "{events}");
}
