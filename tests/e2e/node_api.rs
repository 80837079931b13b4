//! `kubectl logs` and `kubectl exec` end to end: real kubectl against a
//! real `skiff up`, through the API server's proxy to the node agent's
//! HTTPS API (TokenReview-authenticated), for Wasm and native pods.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use skiff_runtime_native::testing::Registry;
use skiff_tests::Cluster;

const JOB: &str = "localhost/skiff-e2e/job:1";

fn example(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../wasm-examples/out")
        .join(format!("{name}.wasm"));
    assert!(
        p.exists(),
        "{} is missing: run wasm-examples/build.sh first",
        p.display()
    );
    p.display().to_string()
}

fn up() -> Cluster {
    let job = format!("{}={JOB}", example("job"));
    match Cluster::up(&["--import", &job]) {
        Ok(c) => c,
        Err(e) => panic!("skiff up: {e:#}"),
    }
}

fn wasm_pod(name: &str, restart: &str, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  runtimeClassName: wasmtime\n  restartPolicy: {restart}\n  containers:\n  - name: main\n    image: {JOB}\n    args: [{}]\n",
        args.join(", ")
    )
}

fn apply(c: &Cluster, yaml: &str) {
    let out = c.kubectl_with("kubectl", &["apply", "-f", "-"], Some(yaml));
    assert!(
        out.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls `jsonpath` of pod `name` until `done` holds (bounded).
fn wait_for(c: &Cluster, name: &str, jsonpath: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        let out = c.kubectl(&["get", "pod", name, "-o", &format!("jsonpath={jsonpath}")]);
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && done(&last) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "pod {name}: {jsonpath} is still {last:?}\n{}",
        c.kubectl_ok(&["get", "pod", name, "-o", "yaml"])
    );
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs kubectl with stdin, killing it if it has not finished in time (a
/// hang fails the test instead of stalling the suite).
fn kubectl_bounded(c: &Cluster, args: &[&str], stdin: Option<&str>) -> Output {
    kubectl_bounded_env(c, "kubectl", args, stdin, &[])
}

/// [`kubectl_bounded`] with another kubectl binary and environment.
fn kubectl_bounded_env(
    c: &Cluster,
    bin: &str,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .env("KUBECONFIG", &c.kubeconfig)
        .env("HOME", c.dir.path())
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {bin}: {e}"));
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let _ = pipe.write_all(input.as_bytes());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let out = child.wait_with_output();
                panic!("{bin} {} did not finish: {out:?}", args.join(" "));
            }
        }
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("kubectl output: {e}"))
}

#[test]
fn kubectl_logs_of_a_wasm_job_pod() {
    let c = up();
    apply(
        &c,
        &wasm_pod("echo", "Never", &["echo", "one", "two", "three"]),
    );
    wait_for(&c, "echo", "{.status.phase}", |p| p == "Succeeded");
    let all = c.kubectl_ok(&["logs", "echo"]);
    let lines: Vec<&str> = all.lines().collect();
    for l in ["one", "two", "three", "SKIFF_CONFORMANCE=", "to stderr"] {
        assert!(lines.contains(&l), "{l:?} missing from {all:?}");
    }
    assert_eq!(lines.len(), 5, "{all:?}");
    assert_eq!(c.kubectl_ok(&["logs", "pod/echo", "-c", "main"]), all);
    // --tail counts lines from the end of the log.
    let tail = c.kubectl_ok(&["logs", "echo", "--tail=2"]);
    assert_eq!(
        tail,
        lines[3..]
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
    assert_eq!(c.kubectl_ok(&["logs", "echo", "--tail=0"]), "");
    // --timestamps prefixes each line with its RFC 3339 time.
    let stamped = c.kubectl_ok(&["logs", "echo", "--timestamps"]);
    for (s, plain) in stamped.lines().zip(&lines) {
        let (ts, rest) = s.split_once(' ').unwrap_or(("", ""));
        assert!(ts.ends_with('Z') && ts.contains('T'), "{s:?}");
        assert_eq!(rest, *plain);
    }
    assert_eq!(
        c.kubectl_ok(&["logs", "echo", "--limit-bytes=6"]),
        &all[..6]
    );
    assert_eq!(c.kubectl_ok(&["logs", "echo", "--since=1h"]), all);
    assert_eq!(
        c.kubectl_ok(&["logs", "echo", "--since-time=2999-01-01T00:00:00Z"]),
        ""
    );
    let bad = c.kubectl(&["logs", "echo", "-c", "nope"]);
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("container nope is not valid"),
        "{}",
        text(&bad.stderr)
    );
    let none = c.kubectl(&["logs", "echo", "--previous"]);
    assert!(!none.status.success());
    assert!(
        text(&none.stderr).contains("previous terminated container"),
        "{}",
        text(&none.stderr)
    );
}

#[test]
fn kubectl_logs_of_a_job_resolves_its_pod() {
    let c = up();
    let job = format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: greet\nspec:\n  template:\n    spec:\n      runtimeClassName: wasmtime\n      restartPolicy: Never\n      containers:\n      - name: job\n        image: {JOB}\n        args: [\"echo\", \"from-a-job\"]\n"
    );
    apply(&c, &job);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        let out = c.kubectl(&["logs", "job/greet"]);
        last = format!("{}{}", text(&out.stdout), text(&out.stderr));
        if out.status.success() && last.contains("from-a-job\n") {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("kubectl logs job/greet: {last}");
}

#[test]
fn kubectl_logs_follow_ends_when_the_container_exits() {
    let c = up();
    apply(&c, &wasm_pod("sleeper", "Never", &["sleep", "3"]));
    wait_for(&c, "sleeper", "{.status.phase}", |p| {
        p == "Running" || p == "Succeeded"
    });
    let out = kubectl_bounded(&c, &["logs", "-f", "sleeper"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "sleeping\n");
    assert_eq!(
        wait_for(&c, "sleeper", "{.status.phase}", |p| p == "Succeeded"),
        "Succeeded"
    );
}

#[test]
fn kubectl_logs_previous_shows_the_attempt_before_a_restart() {
    let c = up();
    apply(&c, &wasm_pod("crash", "OnFailure", &["exit", "3"]));
    wait_for(
        &c,
        "crash",
        "{.status.containerStatuses[0].restartCount}",
        |n| n.parse::<u32>().is_ok_and(|n| n >= 1),
    );
    let prev = c.kubectl_ok(&["logs", "crash", "--previous"]);
    assert_eq!(prev, "exiting with 3 as asked\n");
}

/// A cluster with a loopback registry holding busybox.
fn up_with_busybox() -> (Cluster, Registry, String) {
    let c = up();
    let ns = c
        .netns()
        .map(|n| n.path())
        .unwrap_or_else(|| panic!("skiff up runs in a netns"));
    let registry = Registry::start(Some(&ns));
    let image = registry.push_busybox("1");
    (c, registry, image)
}

#[test]
fn kubectl_exec_into_a_native_pod() {
    let (c, _registry, image) = up_with_busybox();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: box\nspec:\n  containers:\n  - name: main\n    image: {image}\n    command: [\"sh\", \"-c\", \"echo started; sleep 3600\"]\n"
    );
    apply(&c, &yaml);
    wait_for(&c, "box", "{.status.phase}", |p| p == "Running");
    // The exit code comes back through the error channel's Status.
    let out = kubectl_bounded(
        &c,
        &[
            "exec",
            "box",
            "--",
            "sh",
            "-c",
            "echo hi; echo oops >&2; exit 3",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi\n");
    assert!(text(&out.stderr).contains("oops"), "{}", text(&out.stderr));
    let ok = kubectl_bounded(&c, &["exec", "box", "-c", "main", "--", "true"], None);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    // -i: stdin is piped in and its end reaches the command (v5 close).
    let cat = kubectl_bounded(
        &c,
        &["exec", "-i", "box", "--", "sh", "-c", "cat; echo done"],
        Some("piped in\n"),
    );
    assert!(cat.status.success(), "{}", text(&cat.stderr));
    assert_eq!(text(&cat.stdout), "piped in\ndone\n");
    // The command runs inside the container: its hostname is the pod's.
    let host = kubectl_bounded(&c, &["exec", "box", "--", "hostname"], None);
    assert_eq!(text(&host.stdout).trim(), "box", "{}", text(&host.stderr));
    assert_eq!(c.kubectl_ok(&["logs", "box"]), "started\n");
    // kubectl cp: tar through exec, both ways.
    let local = c.dir.path().join("to-pod.txt");
    std::fs::write(&local, "copied in\n").unwrap();
    let local_arg = local.display().to_string();
    let up = kubectl_bounded(&c, &["cp", &local_arg, "box:/tmp/in.txt"], None);
    assert!(up.status.success(), "{}", text(&up.stderr));
    let read = kubectl_bounded(&c, &["exec", "box", "--", "cat", "/tmp/in.txt"], None);
    assert_eq!(text(&read.stdout), "copied in\n", "{}", text(&read.stderr));
    let back = c.dir.path().join("from-pod.txt");
    let back_arg = back.display().to_string();
    let down = kubectl_bounded(&c, &["cp", "box:/etc/hostname", &back_arg], None);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert_eq!(std::fs::read_to_string(&back).unwrap().trim(), "box");
    // -it: kubectl wants a terminal of its own, which `script` provides;
    // the command then sees one too.
    let kubeconfig = c.kubeconfig.display().to_string();
    let tty = Command::new("script")
        .args([
            "-qec",
            "stty rows 33 cols 77; kubectl exec -it box -- sh -c 'test -t 0 && test -t 1 && echo on-a-tty; stty size'",
            "/dev/null",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("HOME", c.dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running script: {e}"));
    // kubectl sends its terminal's size, which the command's terminal takes.
    assert!(
        text(&tty.stdout).contains("on-a-tty") && text(&tty.stdout).contains("33 77"),
        "{}\n{}",
        text(&tty.stdout),
        text(&tty.stderr)
    );
}

#[test]
fn kubectl_exec_into_a_wasm_pod_says_why_not() {
    let c = up();
    apply(&c, &wasm_pod("w", "Never", &["sleep", "600"]));
    wait_for(&c, "w", "{.status.phase}", |p| p == "Running");
    let out = kubectl_bounded(&c, &["exec", "w", "--", "sh"], None);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("WebAssembly"),
        "{}",
        text(&out.stderr)
    );
}

const HELLO: &str = "localhost/skiff-e2e/hello-http:1";

/// The local port `kubectl port-forward` announces in its stdout file
/// (`Forwarding from 127.0.0.1:PORT -> …`), waiting up to 30 s for it.
fn forwarded_port(out_path: &std::path::Path) -> Option<u16> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let printed = std::fs::read_to_string(out_path).unwrap_or_default();
        let port = printed
            .lines()
            .find_map(|l| l.strip_prefix("Forwarding from 127.0.0.1:"))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|p| p.parse::<u16>().ok());
        if port.is_some() {
            return port;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// `skiff up` with the job and hello-http examples, and a hello-http pod
/// `web` (port 8080) that is Ready.
fn up_with_ready_web() -> Cluster {
    let job = format!("{}={JOB}", example("job"));
    let hello = format!("{}={HELLO}", example("hello-http"));
    let c = match Cluster::up(&["--import", &job, "--import", &hello]) {
        Ok(c) => c,
        Err(e) => panic!("skiff up: {e:#}"),
    };
    apply(
        &c,
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  runtimeClassName: wasmtime\n  containers:\n  - name: main\n    image: {HELLO}\n    ports:\n    - containerPort: 8080\n    env:\n    - name: POD_NAME\n      value: web\n"
        ),
    );
    wait_for(
        &c,
        "web",
        "{.status.conditions[?(@.type==\"Ready\")].status}",
        |s| s == "True",
    );
    c
}

#[test]
fn kubectl_port_forward_to_a_wasm_http_pod() {
    let c = up_with_ready_web();
    // kubectl listens on a free loopback port, prints it, and dials the
    // pod through the API server and the node for each connection.
    let out_path = c.dir.path().join("port-forward.out");
    let out_file = std::fs::File::create(&out_path).unwrap_or_else(|e| panic!("{e}"));
    let err_file = std::fs::File::create(c.dir.path().join("port-forward.err"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut child = Command::new("kubectl")
        .args([
            "port-forward",
            "pod/web",
            "--address",
            "127.0.0.1",
            "0:8080",
        ])
        .env("KUBECONFIG", &c.kubeconfig)
        .env("HOME", c.dir.path())
        .stdout(out_file)
        .stderr(err_file)
        .spawn()
        .unwrap_or_else(|e| panic!("running kubectl: {e}"));
    let port = forwarded_port(&out_path);
    let result = port.map(|p| {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], p));
        (0..2)
            .map(|_| skiff_tests::http_get(addr))
            .collect::<Vec<_>>()
    });
    let _ = child.kill();
    let _ = child.wait();
    let stderr = std::fs::read_to_string(c.dir.path().join("port-forward.err")).unwrap_or_default();
    let Some(responses) = result else {
        panic!("kubectl port-forward printed no port: {stderr}");
    };
    // Two connections in a row: each is its own pair of SPDY streams.
    for r in responses {
        let body = r.unwrap_or_else(|e| panic!("GET through the forwarded port: {e}\n{stderr}"));
        assert!(
            body.contains("200") && body.contains("web"),
            "{body}\n{stderr}"
        );
    }
}

/// Kills a helper process when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `skiff agent` joined over HTTPS with its own token: the API server
/// dials its node API and the agent checks the server's token with a
/// TokenReview across processes, as between machines.
#[test]
fn kubectl_logs_through_a_separately_joined_agent() {
    let mut c = Cluster::start_in_netns().unwrap_or_else(|e| panic!("skiff server: {e:#}"));
    c.kill();
    let tokens = c.dir.path().join("tokens.csv");
    let mut csv = std::fs::read_to_string(&tokens).unwrap_or_default();
    csv.push_str("node-api-token,system:node:joined,joined,\"system:nodes\"\n");
    std::fs::write(&tokens, csv).unwrap_or_else(|e| panic!("{e}"));
    c.spawn().unwrap_or_else(|e| panic!("skiff server: {e:#}"));
    let kubeconfig = std::fs::read_to_string(&c.kubeconfig).unwrap_or_default();
    let server = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .unwrap_or_else(|| panic!("no server in {kubeconfig}"))
        .trim()
        .to_owned();
    let agent_dir = c.dir.path().join("joined");
    let import = format!("{}={JOB}", example("job"));
    let log =
        std::fs::File::create(c.dir.path().join("agent.log")).unwrap_or_else(|e| panic!("{e}"));
    let _agent = KillOnDrop(
        c.netns_command(skiff_tests::skiff_bin())
            .env("SKIFF_NATIVE_SHIM", skiff_tests::native_shim())
            .args(["agent", "--node-name", "joined", "--kubelet-port", "0"])
            .args([
                "--server",
                &server,
                "--token",
                "node-api-token",
                "--ca-file",
            ])
            .arg(c.dir.path().join("tls/ca.crt"))
            .arg("--data-dir")
            .arg(&agent_dir)
            .args(["--import", &import])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("skiff agent: {e}")),
    );
    // No scheduler runs here: the pod names its node.
    let yaml = wasm_pod("remote", "Never", &["echo", "far", "away"])
        .replace("spec:\n", "spec:\n  nodeName: joined\n");
    apply(&c, &yaml);
    let agent_log = || std::fs::read_to_string(c.dir.path().join("agent.log")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        let out = c.kubectl(&["logs", "remote"]);
        last = format!("{}{}", text(&out.stdout), text(&out.stderr));
        if out.status.success() && last.starts_with("far\naway\n") {
            let port = c.kubectl_ok(&[
                "get",
                "node",
                "joined",
                "-o",
                "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}",
            ]);
            assert!(
                port.parse::<u16>().is_ok_and(|p| p != 0 && p != 10250),
                "{port}"
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("kubectl logs remote: {last}\n{}", agent_log());
}

/// kubectl 1.27 knows only SPDY for exec and port-forward.
const KUBECTL_SPDY_ONLY: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";

/// Forces kubectl 1.30+ onto plain SPDY for exec, attach and cp.
const NO_EXEC_WEBSOCKETS: (&str, &str) = ("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false");

#[test]
fn kubectl_exec_over_spdy() {
    let (c, _registry, image) = up_with_busybox();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: box\nspec:\n  containers:\n  - name: main\n    image: {image}\n    command: [\"sh\", \"-c\", \"sleep 3600\"]\n"
    );
    apply(&c, &yaml);
    wait_for(&c, "box", "{.status.phase}", |p| p == "Running");
    let env = [NO_EXEC_WEBSOCKETS];
    for bin in ["kubectl", KUBECTL_SPDY_ONLY] {
        // stdout, stderr and the exit code from v4's JSON status.
        let script = "echo hi; echo oops >&2; exit 3";
        let args = ["exec", "box", "--", "sh", "-c", script];
        let out = kubectl_bounded_env(&c, bin, &args, None, &env);
        assert_eq!(out.status.code(), Some(3), "{bin}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "hi\n", "{bin}");
        assert!(
            text(&out.stderr).contains("oops"),
            "{bin}: {}",
            text(&out.stderr)
        );
        let ok = kubectl_bounded_env(&c, bin, &["exec", "box", "--", "true"], None, &env);
        assert_eq!(ok.status.code(), Some(0), "{bin}: {}", text(&ok.stderr));
        // -i: the stdin stream's FIN reaches the command as end of input.
        let cat = kubectl_bounded_env(
            &c,
            bin,
            &["exec", "-i", "box", "--", "sh", "-c", "cat; echo done"],
            Some("piped in\n"),
            &env,
        );
        assert!(cat.status.success(), "{bin}: {}", text(&cat.stderr));
        assert_eq!(text(&cat.stdout), "piped in\ndone\n", "{bin}");
    }
    // kubectl cp is tar through exec: both ways over SPDY.
    let local = c.dir.path().join("to-pod.txt");
    std::fs::write(&local, "copied in\n").unwrap_or_else(|e| panic!("{e}"));
    let local_arg = local.display().to_string();
    let up = kubectl_bounded_env(
        &c,
        "kubectl",
        &["cp", &local_arg, "box:/tmp/in.txt"],
        None,
        &env,
    );
    assert!(up.status.success(), "{}", text(&up.stderr));
    let read = kubectl_bounded_env(
        &c,
        "kubectl",
        &["exec", "box", "--", "cat", "/tmp/in.txt"],
        None,
        &env,
    );
    assert_eq!(text(&read.stdout), "copied in\n", "{}", text(&read.stderr));
    // exec -i and attach -i to a process that prints a line and exits at
    // once: the line comes before the session's end, every time.
    for i in 0..5 {
        let out = kubectl_bounded_env(
            &c,
            "kubectl",
            &["exec", "-i", "box", "--", "sh", "-c", "read x; echo got $x"],
            Some(&format!("exec-{i}\n")),
            &env,
        );
        assert_eq!(
            text(&out.stdout),
            format!("got exec-{i}\n"),
            "run {i}: {}",
            text(&out.stderr)
        );
    }
    // attach -i: the same streams, to the container's main process (one
    // pod per run: each process exits right after its answer).
    let readers: Vec<String> = (0..3).map(|i| format!("reader-{i}")).collect();
    for name in &readers {
        apply(
            &c,
            &format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: main\n    image: {image}\n    stdin: true\n    command: [\"sh\", \"-c\", \"read x; echo got $x\"]\n"
            ),
        );
    }
    for name in &readers {
        wait_for(&c, name, "{.status.phase}", |p| p == "Running");
        let attached = kubectl_bounded_env(
            &c,
            "kubectl",
            &["attach", "-i", name],
            Some(&format!("{name}-over-spdy\n")),
            &env,
        );
        assert_eq!(
            text(&attached.stdout),
            format!("got {name}-over-spdy\n"),
            "{}",
            text(&attached.stderr)
        );
    }
    // A failure before the command runs is the error stream's status.
    apply(&c, &wasm_pod("w", "Never", &["sleep", "600"]));
    wait_for(&c, "w", "{.status.phase}", |p| p == "Running");
    let wasm = kubectl_bounded_env(&c, "kubectl", &["exec", "w", "--", "sh"], None, &env);
    assert!(!wasm.status.success());
    assert!(
        text(&wasm.stderr).contains("WebAssembly"),
        "{}",
        text(&wasm.stderr)
    );
    // -it: a terminal, and the resize stream's size reaches it.
    let tty = Command::new("script")
        .args([
            "-qec",
            "stty rows 33 cols 77; kubectl exec -it box -- sh -c 'test -t 0 && test -t 1 && echo on-a-tty; stty size'",
            "/dev/null",
        ])
        .env("KUBECONFIG", &c.kubeconfig)
        .env("HOME", c.dir.path())
        .env(NO_EXEC_WEBSOCKETS.0, NO_EXEC_WEBSOCKETS.1)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running script: {e}"));
    assert!(
        text(&tty.stdout).contains("on-a-tty") && text(&tty.stdout).contains("33 77"),
        "{}\n{}",
        text(&tty.stdout),
        text(&tty.stderr)
    );
}

/// Runs `bin port-forward` to pod `web` port 8080 and GETs through it
/// twice; the responses, or why there are none.
fn port_forward_twice(c: &Cluster, bin: &str, env: &[(&str, &str)]) -> Vec<String> {
    let tag = bin.rsplit('/').next().unwrap_or("kubectl");
    let out_path = c.dir.path().join(format!("{tag}.out"));
    let err_path = c.dir.path().join(format!("{tag}.err"));
    let out_file = std::fs::File::create(&out_path).unwrap_or_else(|e| panic!("{e}"));
    let err_file = std::fs::File::create(&err_path).unwrap_or_else(|e| panic!("{e}"));
    let child = Command::new(bin)
        .args([
            "port-forward",
            "pod/web",
            "--address",
            "127.0.0.1",
            "0:8080",
        ])
        .env("KUBECONFIG", &c.kubeconfig)
        .env("HOME", c.dir.path())
        .envs(env.iter().copied())
        .stdout(out_file)
        .stderr(err_file)
        .spawn()
        .unwrap_or_else(|e| panic!("running {bin}: {e}"));
    let _child = KillOnDrop(child);
    let port = forwarded_port(&out_path);
    let stderr = || std::fs::read_to_string(&err_path).unwrap_or_default();
    let Some(port) = port else {
        panic!("{bin} port-forward printed no port: {}", stderr());
    };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    (0..2)
        .map(|_| {
            skiff_tests::http_get(addr)
                .unwrap_or_else(|e| panic!("GET through {bin}'s forwarded port: {e}\n{}", stderr()))
        })
        .collect()
}

#[test]
fn kubectl_port_forward_over_spdy_to_a_wasm_http_pod() {
    let c = up_with_ready_web();
    let no_ws = [("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false")];
    for (bin, env) in [("kubectl", &no_ws[..]), (KUBECTL_SPDY_ONLY, &[][..])] {
        // Two connections in a row: each is its own pair of SPDY streams
        // on the one upgraded connection.
        for body in port_forward_twice(&c, bin, env) {
            assert!(
                body.contains("200") && body.contains("web"),
                "{bin}: {body}"
            );
        }
    }
}
