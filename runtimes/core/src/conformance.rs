//! The conformance harness every [`Runtime`] implementation must pass, as
//! runwasi's `WasiTest`: the same checks of container semantics (args, env,
//! exit codes, reasons, logs, stop with grace, volumes, lifecycle guards,
//! sandbox teardown) run against the Wasm runtime and the native one.
//!
//! A runtime's test suite supplies a [`Fixture`]: the runtime under test plus
//! container configs that behave as described on each method (the Wasm
//! runtime uses the `wasm-examples` jobs, the native one busybox).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::logs::{self, Stream};
use crate::{
    ContainerConfig, ContainerFilter, ContainerState, ExitReason, PodSandboxConfig, Runtime,
    RuntimeError,
};

/// What a runtime's tests provide to the harness.
pub trait Fixture: Send + Sync {
    /// The runtime under test. Images the configs below name must already be
    /// pulled (or importable without a registry).
    fn runtime(&self) -> &dyn Runtime;
    /// Prints each of `words` on its own stdout line, then
    /// `SKIFF_CONFORMANCE=<value of that env var>` on stdout, then the line
    /// `to stderr` on stderr, and exits 0.
    fn echo(&self, name: &str, words: &[&str]) -> ContainerConfig;
    /// Exits with `code` without output.
    fn exit_with(&self, name: &str, code: i32) -> ContainerConfig;
    /// Runs until stopped, ignoring any polite request to stop.
    fn sleep(&self, name: &str) -> ContainerConfig;
    /// Writes `content` to the file `dir/file` and exits 0, or exits non-zero
    /// if it cannot.
    fn write_file(&self, name: &str, dir: &str, file: &str, content: &str) -> ContainerConfig;
}

/// The outcome of one check.
#[derive(Debug)]
pub struct CheckResult {
    /// The check's name.
    pub name: &'static str,
    /// `Err` with a description of what failed.
    pub outcome: Result<(), String>,
}

type CheckResultInner = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

fn ok<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// Runs every check and returns their results (the caller asserts, so the
/// report lists all failures at once).
pub async fn run_all(f: &dyn Fixture) -> Vec<CheckResult> {
    let dir = tempfile::tempdir().expect("temporary directory for the conformance run");
    let root = dir.path();
    let mut results = Vec::new();
    macro_rules! check {
        ($name:ident) => {
            results.push(CheckResult {
                name: stringify!($name),
                outcome: $name(f, root).await,
            });
        };
    }
    check!(echo_args_env_and_logs);
    check!(exit_code_and_reason);
    check!(lifecycle_guards);
    check!(stop_with_grace);
    check!(volumes);
    check!(remove_running_container);
    check!(sandbox_teardown);
    check!(unsupported_is_clear);
    results
}

/// Runs [`run_all`] and panics with every failure listed.
pub async fn assert_conformance(f: &dyn Fixture) {
    let results = run_all(f).await;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| {
            r.outcome
                .as_ref()
                .err()
                .map(|e| format!("  {}: {e}", r.name))
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} conformance checks failed:\n{}",
        failed.len(),
        results.len(),
        failed.join("\n")
    );
}

async fn sandbox(f: &dyn Fixture, root: &Path, name: &str) -> Result<String, String> {
    let config = PodSandboxConfig::new("conformance", name, root.join(name));
    ok(
        "run_pod_sandbox",
        f.runtime().run_pod_sandbox(&config).await,
    )
}

async fn echo_args_env_and_logs(f: &dyn Fixture, root: &Path) -> CheckResultInner {
    let rt = f.runtime();
    let sb = sandbox(f, root, "echo").await?;
    let config = f
        .echo("echo", &["hello", "two words"])
        .with_env("SKIFF_CONFORMANCE", "yes");
    let id = ok("create_container", rt.create_container(&sb, &config).await)?;
    let st = ok("container_status", rt.container_status(&id).await)?;
    ensure!(
        st.state == ContainerState::Created,
        "new container is {}, want created",
        st.state
    );
    ensure!(
        st.name == "echo" && st.sandbox_id == sb,
        "status names the wrong container: {st:?}"
    );
    ok("start_container", rt.start_container(&id).await)?;
    let st = ok("wait_container", rt.wait_container(&id).await)?;
    ensure!(
        st.state == ContainerState::Exited,
        "after wait the container is {}",
        st.state
    );
    ensure!(
        st.exit_code == Some(0),
        "exit code {:?}, want 0 ({:?})",
        st.exit_code,
        st.message
    );
    ensure!(
        st.reason == Some(ExitReason::Completed),
        "reason {:?}, want Completed",
        st.reason
    );
    let (Some(started), Some(finished)) = (st.started_at, st.finished_at) else {
        return Err(format!("exited container lacks start/finish times: {st:?}"));
    };
    ensure!(
        st.created_at <= started && started <= finished,
        "times out of order: {st:?}"
    );
    let text = ok(
        "reading the log file",
        std::fs::read_to_string(&st.log_path),
    )?;
    let out = logs::lines(&text, Some(Stream::Stdout));
    ensure!(
        out == ["hello", "two words", "SKIFF_CONFORMANCE=yes"],
        "stdout lines {out:?}"
    );
    let err = logs::lines(&text, Some(Stream::Stderr));
    ensure!(err == ["to stderr"], "stderr lines {err:?}");
    ensure!(
        text.lines().all(|l| logs::parse_record(l).is_some()),
        "log file has lines not in CRI format:\n{text}"
    );
    ok("remove_container", rt.remove_container(&id).await)?;
    ok("remove_pod_sandbox", rt.remove_pod_sandbox(&sb).await)
}

async fn exit_code_and_reason(f: &dyn Fixture, root: &Path) -> CheckResultInner {
    let rt = f.runtime();
    let sb = sandbox(f, root, "exit").await?;
    let id = ok(
        "create_container",
        rt.create_container(&sb, &f.exit_with("exit", 3)).await,
    )?;
    ok("start_container", rt.start_container(&id).await)?;
    let st = ok("wait_container", rt.wait_container(&id).await)?;
    ensure!(
        st.exit_code == Some(3),
        "exit code {:?}, want 3 ({:?})",
        st.exit_code,
        st.message
    );
    ensure!(
        st.reason == Some(ExitReason::Error),
        "reason {:?}, want Error",
        st.reason
    );
    ok("remove_pod_sandbox", rt.remove_pod_sandbox(&sb).await)
}

async fn lifecycle_guards(f: &dyn Fixture, root: &Path) -> CheckResultInner {
    let rt = f.runtime();
    let sb = sandbox(f, root, "guards").await?;
    match rt.container_status("no-such-container").await {
        Err(RuntimeError::NotFound { .. }) => {}
        other => return Err(format!("status of an unknown container: {other:?}")),
    }
    match rt
        .create_container("no-such-sandbox", &f.exit_with("x", 0))
        .await
    {
        Err(RuntimeError::NotFound { .. }) => {}
        other => return Err(format!("create in an unknown sandbox: {other:?}")),
    }
    let id = ok(
        "create_container",
        rt.create_container(&sb, &f.exit_with("once", 0)).await,
    )?;
    ok("start_container", rt.start_container(&id).await)?;
    match rt.start_container(&id).await {
        Err(RuntimeError::InvalidState { .. }) => {}
        other => return Err(format!("second start: {other:?}, want InvalidState")),
    }
    ok("wait_container", rt.wait_container(&id).await)?;
    // CRI makes stop and remove idempotent.
    ok(
        "stop of an exited container",
        rt.stop_container(&id, Duration::ZERO).await,
    )?;
    ok("remove_container", rt.remove_container(&id).await)?;
    ok("second remove_container", rt.remove_container(&id).await)?;
    ok("remove_pod_sandbox", rt.remove_pod_sandbox(&sb).await)
}

async fn stop_with_grace(f: &dyn Fixture, root: &Path) -> CheckResultInner {
    let rt = f.runtime();
    let sb = sandbox(f, root, "stop").await?;
    let id = ok(
        "create_container",
        rt.create_container(&sb, &f.sleep("sleeper")).await,
    )?;
    ok("start_container", rt.start_container(&id).await)?;
    let st = ok("container_status", rt.container_status(&id).await)?;
    ensure!(
        st.state == ContainerState::Running,
        "started sleeper is {}",
        st.state
    );
    let grace = Duration::from_millis(300);
    let t0 = Instant::now();
    ok("stop_container", rt.stop_container(&id, grace).await)?;
    let took = t0.elapsed();
    // The sleeper ignores polite requests, so stop must wait out the grace
    // period and then kill; a generous upper bound only catches hangs.
    ensure!(
        took >= grace,
        "stop returned after {took:?}, before the {grace:?} grace period"
    );
    ensure!(took < grace + Duration::from_secs(10), "stop took {took:?}");
    let st = ok("container_status", rt.container_status(&id).await)?;
    ensure!(
        st.state == ContainerState::Exited,
        "stopped sleeper is {}",
        st.state
    );
    ensure!(
        st.exit_code == Some(crate::EXIT_CODE_KILLED),
        "killed sleeper exit code {:?}",
        st.exit_code
    );
    ensure!(
        st.reason == Some(ExitReason::Error),
        "killed sleeper reason {:?}",
        st.reason
    );
    ensure!(
        st.finished_at.is_some(),
        "killed sleeper has no finish time"
    );
    ok("remove_pod_sandbox", rt.remove_pod_sandbox(&sb).await)
}

async fn volumes(f: &dyn Fixture, root: &Path) -> CheckResultInner {
    let rt = f.runtime();
    let sb = sandbox(f, root, "volumes").await?;
    let host = root.join("volume-rw");
    ok("creating the volume", std::fs::create_dir_all(&host))?;
    let config = f
        .write_file("writer", "/data", "out.txt", "written by the container")
        .with_mount(&host, "/data", false);
    let id = ok("create_container", rt.create_container(&sb, &config).await)?;
    ok("start_container", rt.start_container(&id).await)?;
    let st = ok("wait_container", rt.wait_container(&id).await)?;
    ensure!(
        st.exit_code == Some(0),
        "writer exit code {:?} ({:?})",
        st.exit_code,
        st.message
    );
    let got = ok(
        "reading the written file",
        std::fs::read_to_string(host.join("out.txt")),
    )?;
    ensure!(
        got == "written by the container",
        "volume file holds {got:?}"
    );

    let ro = root.join("volume-ro");
    ok("creating the volume", std::fs::create_dir_all(&ro))?;
    let config = f
        .write_file("ro-writer", "/data", "out.txt", "must not land")
        .with_mount(&ro, "/data", true);
    let id = ok("create_container", rt.create_container(&sb, &config).await)?;
    ok("start_container", rt.start_container(&id).await)?;
    let st = ok("wait_container", rt.wait_container(&id).await)?;
    ensure!(
        st.exit_code.is_some_and(|c| c != 0),
        "write to a read-only volume exited {:?}",
        st.exit_code
    );
    ensure!(
        !ro.join("out.txt").exists(),
        "a read-only volume was written to"
    );
    ok("remove_pod_sandbox", rt.remove_pod_sandbox(&sb).await)
}

async fn remove_running_container(f: &dyn Fixture, root: &Path) -> CheckResultInner {
    let rt = f.runtime();
    let sb = sandbox(f, root, "remove").await?;
    let id = ok(
        "create_container",
        rt.create_container(&sb, &f.sleep("sleeper")).await,
    )?;
    ok("start_container", rt.start_container(&id).await)?;
    ok("remove_container", rt.remove_container(&id).await)?;
    match rt.container_status(&id).await {
        Err(RuntimeError::NotFound { .. }) => {}
        other => return Err(format!("status after remove: {other:?}")),
    }
    ok("remove_pod_sandbox", rt.remove_pod_sandbox(&sb).await)
}

async fn sandbox_teardown(f: &dyn Fixture, root: &Path) -> CheckResultInner {
    let rt = f.runtime();
    let sb = sandbox(f, root, "teardown").await?;
    let other = sandbox(f, root, "bystander").await?;
    let a = ok(
        "create_container",
        rt.create_container(&sb, &f.sleep("a")).await,
    )?;
    let b = ok(
        "create_container",
        rt.create_container(&sb, &f.exit_with("b", 0)).await,
    )?;
    let c = ok(
        "create_container",
        rt.create_container(&other, &f.exit_with("c", 0)).await,
    )?;
    ok("start_container", rt.start_container(&a).await)?;
    let filter = ContainerFilter {
        sandbox_id: Some(sb.clone()),
        state: None,
    };
    let mut listed: Vec<String> = ok("list_containers", rt.list_containers(&filter).await)?
        .into_iter()
        .map(|s| s.id)
        .collect();
    listed.sort();
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    ensure!(listed == want, "sandbox lists {listed:?}, want {want:?}");
    let running = ContainerFilter {
        sandbox_id: None,
        state: Some(ContainerState::Running),
    };
    let running: Vec<String> = ok("list_containers", rt.list_containers(&running).await)?
        .into_iter()
        .map(|s| s.id)
        .collect();
    ensure!(
        running.contains(&a) && !running.contains(&b),
        "running filter gave {running:?}"
    );
    ok("stop_pod_sandbox", rt.stop_pod_sandbox(&sb).await)?;
    let st = ok("pod_sandbox_status", rt.pod_sandbox_status(&sb).await)?;
    ensure!(
        st.state == crate::PodSandboxState::NotReady,
        "stopped sandbox is {:?}",
        st.state
    );
    let st = ok("container_status", rt.container_status(&a).await)?;
    ensure!(
        st.state == ContainerState::Exited,
        "container of a stopped sandbox is {}",
        st.state
    );
    ok("remove_pod_sandbox", rt.remove_pod_sandbox(&sb).await)?;
    for id in [&a, &b] {
        ensure!(
            rt.container_status(id).await.is_err(),
            "container {id} outlived its sandbox"
        );
    }
    ensure!(
        rt.pod_sandbox_status(&sb).await.is_err(),
        "removed sandbox still has a status"
    );
    ensure!(
        rt.container_status(&c).await.is_ok(),
        "removing one sandbox removed another's container"
    );
    ok("remove_pod_sandbox", rt.remove_pod_sandbox(&other).await)?;
    // Removing twice is fine (CRI).
    ok(
        "second remove_pod_sandbox",
        rt.remove_pod_sandbox(&sb).await,
    )
}

async fn unsupported_is_clear(f: &dyn Fixture, root: &Path) -> CheckResultInner {
    let rt = f.runtime();
    if rt.exec().is_some() {
        return Ok(());
    }
    let sb = sandbox(f, root, "exec").await?;
    let id = ok(
        "create_container",
        rt.create_container(&sb, &f.sleep("s")).await,
    )?;
    match rt
        .exec_sync(&id, &["true".to_owned()], Duration::from_secs(1))
        .await
    {
        Err(e @ RuntimeError::Unsupported { .. }) => {
            ensure!(
                e.to_string().contains(rt.handler()),
                "unsupported error does not name the runtime: {e}"
            );
        }
        other => return Err(format!("exec on a runtime without exec: {other:?}")),
    }
    ok("remove_pod_sandbox", rt.remove_pod_sandbox(&sb).await)
}
