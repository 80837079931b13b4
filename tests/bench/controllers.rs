//! `skiff-bench pods --only controllers`: the controller manager's CPU with
//! 1,000 pods at steady state (issue 7).
//!
//! In `skiff up` the controllers share one process with the API server, the
//! scheduler and the node agent, so their CPU cannot be told apart. Here
//! `skiff up --disable-controller-manager` runs everything else, and `skiff
//! controller-manager` runs alone against it over HTTPS with its own token,
//! as k3s runs a separate kube-controller-manager. Once `deployments` ×
//! `replicas` Wasm pods are all Ready and a few seconds have passed, the
//! bench stays silent for `window` and reads the controller process's
//! utime + stime (/proc/PID/stat, all its threads, live and exited) before
//! and after. The same is read for the `skiff up` process, for comparison.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use skiff_tests::Cluster;

use crate::node::KillOnDrop;
use crate::stats::{Report, Verdict, mib, poll_until, rss_kib};
use crate::workloads::{
    HELLO_V1, POD_CIDR, create_namespace, deployment, print_log_tail, result_text, wasm_spec,
};

/// The controller manager's bearer token, as an operator adds it to the
/// server's tokens.csv.
const TOKEN: &str = "bench-kcm-token";
/// The namespace of the steady-state Deployments.
const NS: &str = "bench-kcm";
/// How often the wait for Ready lists Deployments.
const POLL: Duration = Duration::from_millis(250);
/// Quiet time after the last pod is Ready, before the window opens, so
/// the last status writes and their echoes are over.
const SETTLE: Duration = Duration::from_secs(5);

/// The steady state to measure.
pub(crate) struct Steady {
    /// Deployments, each of `replicas` Wasm pods.
    pub(crate) deployments: usize,
    pub(crate) replicas: usize,
    /// How long the CPU is counted.
    pub(crate) window: Duration,
    /// `skiff up --max-pods`.
    pub(crate) max_pods: usize,
}

/// Runs the controller CPU measurement on a fresh `skiff up` of its own.
pub(crate) async fn run(args: &Steady, limit: Duration, report: &mut Report) -> anyhow::Result<()> {
    let hello = skiff_tests::wasm_example("hello-http");
    let up_args = [
        "--import".to_owned(),
        format!("{}={HELLO_V1}", hello.display()),
        "--pod-cidr".to_owned(),
        POD_CIDR.to_owned(),
        "--max-pods".to_owned(),
        args.max_pods.to_string(),
        "--disable-controller-manager".to_owned(),
    ];
    let cluster = tokio::task::spawn_blocking(move || -> anyhow::Result<Cluster> {
        let args: Vec<&str> = up_args.iter().map(String::as_str).collect();
        let mut cluster = Cluster::up(&args)?;
        // The server reads tokens.csv when it starts: add the controller
        // manager's line, then restart it on the same data directory.
        let tokens = cluster.dir.path().join("tokens.csv");
        let mut csv = std::fs::read_to_string(&tokens)?;
        csv.push_str(&format!("{TOKEN},system:kube-controller-manager,kcm\n"));
        std::fs::write(&tokens, csv)?;
        cluster.restart_up()?;
        Ok(cluster)
    })
    .await??;
    let kcm_log = cluster.dir.path().join("kcm.log");
    let mut kcm = spawn_controller_manager(&cluster, &kcm_log)?;
    let client = cluster.client().await?;
    let result = measure(args, &cluster, &client, &mut kcm, limit, report).await;
    if result.is_err() {
        print_log_tail(
            "controller manager",
            &std::fs::read_to_string(&kcm_log).unwrap_or_default(),
        );
        print_log_tail("skiff up", &cluster.log());
    }
    result
}

/// `skiff controller-manager` against the cluster's API server, logging to
/// `log`.
fn spawn_controller_manager(
    cluster: &Cluster,
    log: &std::path::Path,
) -> anyhow::Result<KillOnDrop> {
    let server = std::fs::read_to_string(&cluster.kubeconfig)?
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: ").map(str::to_owned))
        .context("server in kubeconfig")?;
    let child = Command::new(skiff_tests::skiff_bin())
        .args(["controller-manager", "--server", &server, "--token", TOKEN])
        .arg("--ca-file")
        .arg(cluster.dir.path().join("tls/ca.crt"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .spawn()
        .context("starting skiff controller-manager")?;
    Ok(KillOnDrop(child))
}

async fn measure(
    args: &Steady,
    cluster: &Cluster,
    client: &Client,
    kcm: &mut KillOnDrop,
    limit: Duration,
    report: &mut Report,
) -> anyhow::Result<()> {
    let total = args.deployments * args.replicas;
    let what = format!(
        "Controller manager CPU at steady state, {total} Wasm pods ({} Deployments × {}), {} s window",
        args.deployments,
        args.replicas,
        args.window.as_secs()
    );
    create_namespace(client, NS).await?;
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let t = Instant::now();
    for i in 0..args.deployments {
        let d = deployment(&format!("kcm-{i}"), args.replicas, wasm_spec(HELLO_V1));
        api.create(&PostParams::default(), &serde_json::from_value(d)?)
            .await?;
    }
    let ready = poll_until(limit, POLL, || async {
        (ready_replicas(&api).await? >= total).then_some(())
    })
    .await;
    let took = t.elapsed();
    println!(
        "  {total} pods in {} Deployments: {}",
        args.deployments,
        result_text(ready, took, "not all Ready")
    );
    if !ready {
        let n = ready_replicas(&api).await.unwrap_or(0);
        report.row(
            &what,
            "—",
            format!("not measured: {n}/{total} Ready after {limit:?}"),
            Verdict::NotRun,
        );
        return Ok(());
    }
    tokio::time::sleep(SETTLE).await;
    let kcm_pid = kcm.0.id();
    let up_pid = cluster.pid().context("skiff up has no process")?;
    let (kcm_before, up_before) = (cpu_time(kcm_pid)?, cpu_time(up_pid)?);
    let t = Instant::now();
    // No requests from the bench in the window: only the cluster's own work.
    tokio::time::sleep(args.window).await;
    let (kcm_after, up_after) = (cpu_time(kcm_pid)?, cpu_time(up_pid)?);
    let window = t.elapsed();
    if let Ok(Some(status)) = kcm.0.try_wait() {
        bail!("skiff controller-manager exited during the window: {status}");
    }
    let still = ready_replicas(&api).await.unwrap_or(0);
    let rss = rss_kib(kcm_pid, "VmRSS").map_or_else(|_| "?".to_owned(), mib);
    let kcm_cpu = kcm_after.saturating_sub(kcm_before);
    let up_cpu = up_after.saturating_sub(up_before);
    let per_min = |cpu: Duration| cpu.as_secs_f64() * 60.0 / window.as_secs_f64();
    let core = |cpu: Duration| 100.0 * cpu.as_secs_f64() / window.as_secs_f64();
    let per_1000 = per_min(kcm_cpu) * 1000.0 / total as f64;
    report.row(
        &format!("{what} (`skiff controller-manager` process, utime + stime)"),
        "—",
        format!(
            "{per_1000:.3} CPU-s per minute per 1,000 pods ({:.2} % of one core; {:.2} CPU-s in {:.1} s; RSS {rss}; {still}/{total} Ready after)",
            core(kcm_cpu) * 1000.0 / total as f64,
            kcm_cpu.as_secs_f64(),
            window.as_secs_f64()
        ),
        Verdict::Info,
    );
    report.row(
        &format!(
            "Same window: `skiff up --disable-controller-manager` (API server, scheduler, node agent with {total} pods)"
        ),
        "—",
        format!(
            "{:.3} CPU-s per minute ({:.2} % of one core)",
            per_min(up_cpu),
            core(up_cpu)
        ),
        Verdict::Info,
    );
    Ok(())
}

/// Ready replicas over the namespace's Deployments.
async fn ready_replicas(api: &Api<Deployment>) -> Option<usize> {
    let list = api.list(&ListParams::default()).await.ok()?;
    Some(
        list.items
            .iter()
            .filter_map(|d| d.status.as_ref()?.ready_replicas)
            .map(|n| n.max(0) as usize)
            .sum(),
    )
}

/// CPU time a process has used, user plus system, over all its threads
/// (/proc/PID/stat's utime and stime, which count exited threads too).
fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name, in parentheses, may hold spaces: count from after it,
    // where field 3 (state) comes first, so utime (14) and stime (15) are
    // the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let tick = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("no field {} in /proc/{pid}/stat", i + 3))
    };
    let ticks = tick(11)? + tick(12)?;
    Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks()))
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on Linux
/// unless it says otherwise).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .filter(|t: &f64| *t > 0.0)
        .unwrap_or(100.0)
}
