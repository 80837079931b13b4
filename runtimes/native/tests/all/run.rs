use std::path::Path;
use std::process::Command;
use std::time::Duration;

use skiff_runtime::logs::{Stream, lines};
use skiff_runtime::{
    ContainerConfig, ContainerState, ContainerStatus, ExitReason, ImageSpec, PodSandboxConfig,
    RegistryAuth, Resources, Runtime,
};
use skiff_runtime_native::{NativeRuntime, NativeRuntimeConfig};

use crate::fixture::{Fixture, fixture, shim};

struct Env {
    rt: NativeRuntime,
    pod: String,
    image: ImageSpec,
    _dir: tempfile::TempDir,
}

async fn setup(f: &Fixture, pod_name: &str, pids: Option<i64>) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = NativeRuntimeConfig::new(dir.path().join("state"));
    cfg.shim = shim().to_owned();
    cfg.pids_limit = pids;
    let rt = NativeRuntime::new(cfg).unwrap();
    let image = ImageSpec::new(&f.image);
    let st = rt
        .images()
        .pull_image(&image, &RegistryAuth::Anonymous)
        .await
        .unwrap();
    assert!(st.id.starts_with("sha256:"));
    let pod = rt
        .run_pod_sandbox(&PodSandboxConfig::new(
            "default",
            pod_name,
            dir.path().join("logs"),
        ))
        .await
        .unwrap();
    Env {
        rt,
        pod,
        image,
        _dir: dir,
    }
}

impl Drop for Env {
    /// A failed assertion skips `teardown`: kill what is left and unmount,
    /// so one failure does not leave containers running on the CI machine.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let state = self._dir.path().join("state");
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "for p in {s}/containers/*/pid; do [ -f \"$p\" ] && kill -9 \"$(cat \"$p\")\"; done; sleep 0.3; \
                 awk '$2 ~ \"^{s}/\" {{print $2}}' /proc/mounts | sort -r | xargs -r -n1 umount -l",
                s = state.display()
            ))
            .status();
    }
}

fn shell(env: &Env, name: &str, script: &str) -> ContainerConfig {
    let mut c = ContainerConfig::new(name, env.image.clone());
    c.command = vec!["sh".into(), "-c".into(), script.into()];
    c
}

async fn run(env: &Env, c: &ContainerConfig) -> (ContainerStatus, Vec<String>, Vec<String>) {
    let id = env.rt.create_container(&env.pod, c).await.unwrap();
    env.rt.start_container(&id).await.unwrap();
    let st = tokio::time::timeout(Duration::from_secs(60), env.rt.wait_container(&id))
        .await
        .expect("container did not exit in 60 s")
        .unwrap();
    let text = std::fs::read_to_string(&st.log_path).unwrap_or_default();
    let out = lines(&text, Some(Stream::Stdout));
    let err = lines(&text, Some(Stream::Stderr));
    env.rt.remove_container(&id).await.unwrap();
    (st, out, err)
}

async fn teardown(env: Env) {
    env.rt.remove_pod_sandbox(&env.pod).await.unwrap();
}

#[tokio::test]
async fn output_exit_code_and_logs() {
    let Some(f) = fixture() else { return };
    let env = setup(f, "out", Some(256)).await;
    let c = shell(&env, "echo", "echo hello; echo oops >&2; exit 3");
    let (st, out, err) = run(&env, &c).await;
    assert_eq!(st.state, ContainerState::Exited);
    assert_eq!(st.exit_code, Some(3));
    assert_eq!(st.reason, Some(ExitReason::Error));
    assert_eq!(out, ["hello"]);
    assert_eq!(err, ["oops"]);
    // The image's Cmd runs when the container names no command.
    let mut c = ContainerConfig::new("default-cmd", env.image.clone());
    c.args = vec!["-c".into(), "echo from-args".into()];
    c.command = vec!["/bin/sh".into()];
    let (st, out, _) = run(&env, &c).await;
    assert_eq!(
        (st.exit_code, st.reason),
        (Some(0), Some(ExitReason::Completed))
    );
    assert_eq!(out, ["from-args"]);
    teardown(env).await;
}

#[tokio::test]
async fn env_workdir_hostname_and_pid1() {
    let Some(f) = fixture() else { return };
    let env = setup(f, "isolated-pod", Some(256)).await;
    let mut c = shell(
        &env,
        "id",
        "echo $GREETING; pwd; hostname; echo $$; ls /proc | grep -c '^[0-9]'",
    );
    c = c.with_env("GREETING", "hi there");
    c.working_dir = Some("/work/dir".into());
    let (st, out, err) = run(&env, &c).await;
    assert_eq!(st.exit_code, Some(0), "{err:?}");
    assert_eq!(
        out.get(..4),
        Some(&["hi there", "/work/dir", "isolated-pod", "1"].map(String::from)[..])
    );
    // Only sh and its pipeline live in the new pid namespace, none of the host's.
    let procs: usize = out
        .get(4)
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    assert!(procs <= 3, "{out:?}");
    // Masked and read-only paths as runc has them.
    let c = shell(
        &env,
        "hardened",
        "wc -c < /proc/keys; echo x > /proc/sys/kernel/hostname || echo ro; ls /sys/firmware | wc -l",
    );
    let (_, out, _) = run(&env, &c).await;
    assert_eq!(out, ["0", "ro", "0"]);
    teardown(env).await;
}

#[tokio::test]
async fn memory_limit_is_oom_killed() {
    let Some(f) = fixture() else { return };
    let env = setup(f, "oom", Some(256)).await;
    let c = shell(
        &env,
        "hog",
        "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done",
    )
    .with_resources(Resources::from_limits(Some("16Mi"), None).unwrap());
    let (st, _, _) = run(&env, &c).await;
    assert_eq!(st.reason, Some(ExitReason::OomKilled), "{st:?}");
    assert_eq!(st.exit_code, Some(137));
    teardown(env).await;
}

#[tokio::test]
async fn pids_limit_stops_a_fork_loop() {
    let Some(f) = fixture() else { return };
    let env = setup(f, "forks", Some(16)).await;
    let c = shell(
        &env,
        "forker",
        "i=0; while [ $i -lt 64 ]; do sleep 30 & i=$((i+1)); done; echo started $i",
    );
    let started = std::time::Instant::now();
    let (st, out, err) = run(&env, &c).await;
    let all = format!("{out:?} {err:?}");
    assert!(all.contains("fork"), "expected a failed fork: {all}");
    assert_ne!(out, ["started 64"]);
    assert!(st.exit_code.is_some());
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "sleepers outlived PID 1"
    );
    teardown(env).await;
}

#[tokio::test]
async fn bundle_runs_the_same_under_runc() {
    let Some(f) = fixture() else { return };
    let env = setup(f, "crosscheck", Some(256)).await;
    let c = shell(
        &env,
        "same",
        "echo hi from $(hostname) as $(id -u) pid $$; exit 7",
    )
    .with_resources(Resources::from_limits(Some("64Mi"), Some("500m")).unwrap());
    let id = env.rt.create_container(&env.pod, &c).await.unwrap();
    let bundle = env.rt.bundle_dir(&id).unwrap();
    let runc_root = tempfile::tempdir().unwrap();
    let out = Command::new("runc")
        .arg("--root")
        .arg(runc_root.path())
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(format!("xcheck-{id}"))
        .output()
        .expect("runc (apt install runc)");
    let runc_stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(7),
        "runc: {runc_stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.rt.start_container(&id).await.unwrap();
    let st = env.rt.wait_container(&id).await.unwrap();
    let text = std::fs::read_to_string(Path::new(&st.log_path)).unwrap();
    assert_eq!(st.exit_code, Some(7));
    assert_eq!(
        lines(&text, Some(Stream::Stdout)),
        runc_stdout.lines().collect::<Vec<_>>()
    );
    assert_eq!(runc_stdout.trim(), "hi from crosscheck as 0 pid 1");
    env.rt.remove_container(&id).await.unwrap();
    teardown(env).await;
}

#[tokio::test]
async fn containers_of_a_pod_share_localhost() {
    let Some(f) = fixture() else { return };
    let env = setup(f, "pair", Some(256)).await;
    let server = shell(&env, "server", "echo pong | nc -l -p 8080");
    let server_id = env.rt.create_container(&env.pod, &server).await.unwrap();
    env.rt.start_container(&server_id).await.unwrap();
    let client = shell(
        &env,
        "client",
        "for i in $(seq 1 50); do nc 127.0.0.1 8080 && exit 0; sleep 0.1; done; exit 1",
    );
    let (st, out, err) = run(&env, &client).await;
    assert_eq!(st.exit_code, Some(0), "{out:?} {err:?}");
    assert_eq!(out, ["pong"]);
    env.rt.remove_container(&server_id).await.unwrap();
    // A second pod has a network namespace of its own: nothing listens there.
    let other = setup(f, "other", Some(256)).await;
    let probe = shell(&other, "probe", "nc 127.0.0.1 8080 </dev/null; echo rc=$?");
    let (_, out, _) = run(&other, &probe).await;
    assert_ne!(out, ["pong"]);
    teardown(other).await;
    teardown(env).await;
}

#[tokio::test]
async fn a_new_runtime_process_adopts_running_containers() {
    let Some(f) = fixture() else { return };
    let env = setup(f, "adopt", Some(256)).await;
    let c = shell(&env, "long", "echo before; sleep 1; echo after; exit 4");
    let id = env.rt.create_container(&env.pod, &c).await.unwrap();
    env.rt.start_container(&id).await.unwrap();
    // A second runtime on the same state directory stands in for the
    // restarted node agent: it knows the pod and container only from disk.
    let mut cfg = NativeRuntimeConfig::new(env._dir.path().join("state"));
    cfg.shim = shim().to_owned();
    let again = NativeRuntime::new(cfg).unwrap();
    let st = again.container_status(&id).await.unwrap();
    assert_eq!(st.state, ContainerState::Running);
    assert!(again.pod_sandbox_status(&env.pod).await.is_ok());
    let st = tokio::time::timeout(Duration::from_secs(30), again.wait_container(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (st.exit_code, st.reason),
        (Some(4), Some(ExitReason::Error))
    );
    let text = std::fs::read_to_string(&st.log_path).unwrap();
    assert_eq!(lines(&text, Some(Stream::Stdout)), ["before", "after"]);
    // The adopted runtime also stops and cleans up what it adopted.
    let c = shell(
        &env,
        "sleeper",
        "trap 'exit 0' TERM; echo ready; while true; do sleep 0.1; done",
    );
    let sleeper = env.rt.create_container(&env.pod, &c).await.unwrap();
    env.rt.start_container(&sleeper).await.unwrap();
    // SIGTERM before the trap is set would be ignored by PID 1, as under runc.
    let log = env.rt.container_status(&sleeper).await.unwrap().log_path;
    for _ in 0..100 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if lines(&text, Some(Stream::Stdout)) == ["ready"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again = {
        let mut cfg = NativeRuntimeConfig::new(env._dir.path().join("state"));
        cfg.shim = shim().to_owned();
        NativeRuntime::new(cfg).unwrap()
    };
    again
        .stop_container(&sleeper, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        again.container_status(&sleeper).await.unwrap().exit_code,
        Some(0)
    );
    again.remove_pod_sandbox(&env.pod).await.unwrap();
    assert!(
        again
            .list_containers(&Default::default())
            .await
            .unwrap()
            .is_empty()
    );
    teardown(env).await;
}

#[tokio::test]
async fn cpu_quota_shows_in_cpu_usage() {
    let Some(f) = fixture() else { return };
    let env = setup(f, "cpu", Some(256)).await;
    let c = shell(&env, "spin", "while true; do :; done")
        .with_resources(Resources::from_limits(Some("64Mi"), Some("200m")).unwrap());
    let id = env.rt.create_container(&env.pod, &c).await.unwrap();
    env.rt.start_container(&id).await.unwrap();
    let before = env.rt.container_stats(&id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = env.rt.container_stats(&id).await.unwrap();
    let used = Duration::from_nanos(after.cpu_usage_nanos - before.cpu_usage_nanos);
    // 200m over 2 s is 0.4 s of CPU; a spinning shell unthrottled would use 2 s.
    assert!(used > Duration::from_millis(150), "{used:?}");
    assert!(used < Duration::from_millis(800), "{used:?}");
    assert!(after.memory_working_set_bytes > 0);
    assert!(after.memory_working_set_bytes <= 64 * 1024 * 1024);
    env.rt.remove_container(&id).await.unwrap();
    teardown(env).await;
}

#[tokio::test]
async fn exec_joins_the_running_container() {
    let Some(f) = fixture() else { return };
    let env = setup(f, "exec-pod", Some(256)).await;
    let c =
        shell(&env, "target", "echo inside > /tmp/marker; sleep 30").with_env("FROM_SPEC", "yes");
    let id = env.rt.create_container(&env.pod, &c).await.unwrap();
    env.rt.start_container(&id).await.unwrap();
    let cmd: Vec<String> = [
        "sh",
        "-c",
        "for i in $(seq 1 50); do [ -f /tmp/marker ] && grep -q '^sleep' /proc/1/cmdline && break; sleep 0.1; done; \
         cat /tmp/marker; hostname; echo $FROM_SPEC; cat /proc/1/cmdline | tr '\\0' ' '; echo; exit 3",
    ]
    .map(String::from)
    .to_vec();
    let r = env
        .rt
        .exec_sync(&id, &cmd, Duration::from_secs(20))
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&r.stdout);
    assert_eq!(
        r.exit_code,
        3,
        "{out} {}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "inside",
            "exec-pod",
            "yes",
            // busybox sh execs its last command, so PID 1 is now sleep
            // (the loop above waits for that exec too).
            "sleep 30 "
        ]
    );
    let r = env
        .rt
        .exec_sync(&id, &["no-such-cmd".to_owned()], Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(r.exit_code, 127);
    env.rt.remove_container(&id).await.unwrap();
    teardown(env).await;
}

#[tokio::test]
async fn exec_command_streams_stdin_and_exit_status() {
    use std::io::Write;
    let Some(f) = fixture() else { return };
    let env = setup(f, "exec-stream", Some(256)).await;
    let c = shell(&env, "target", "sleep 30");
    let id = env.rt.create_container(&env.pod, &c).await.unwrap();
    env.rt.start_container(&id).await.unwrap();
    let exec = env.rt.exec().unwrap();
    let cmd: Vec<String> = ["sh", "-c", "cat; hostname; exit 4"]
        .map(String::from)
        .to_vec();
    let mut child = exec
        .exec_command(&id, &cmd)
        .unwrap()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"streamed\n")
        .unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "streamed\nexec-stream\n"
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(exec.exec_command(&id, &[]).is_err());
    env.rt.remove_container(&id).await.unwrap();
    assert!(exec.exec_command(&id, &cmd).is_err());
    teardown(env).await;
}
