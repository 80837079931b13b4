//! `kubectl attach` and `kubectl run -it` end to end: real kubectl against
//! a real `skiff up`, through the API server's proxy to the node agent and
//! the native runtime's shim, which owns the container's stdio.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use skiff_runtime_native::testing::Registry;
use skiff_tests::Cluster;

const JOB: &str = "localhost/skiff-e2e/job:1";

/// Bounds every wait on kubectl or a pod.
const WAIT: Duration = Duration::from_secs(60);

fn up() -> Cluster {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wasm-examples/out/job.wasm");
    assert!(
        p.exists(),
        "{} is missing: run wasm-examples/build.sh first",
        p.display()
    );
    let job = format!("{}={JOB}", p.display());
    Cluster::up(&["--import", &job]).unwrap_or_else(|e| panic!("skiff up: {e:#}"))
}

fn apply(c: &Cluster, yaml: &str) {
    let out = c.kubectl_with("kubectl", &["apply", "-f", "-"], Some(yaml));
    assert!(out.status.success(), "kubectl apply: {}", text(&out.stderr));
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Polls `jsonpath` of pod `name` until `done` holds (bounded).
fn wait_for(c: &Cluster, name: &str, jsonpath: &str, done: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + WAIT;
    let mut last = String::new();
    while Instant::now() < deadline {
        let out = c.kubectl(&["get", "pod", name, "-o", &format!("jsonpath={jsonpath}")]);
        last = text(&out.stdout);
        if out.status.success() && done(&last) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("pod {name}: {jsonpath} is still {last:?}");
}

/// A running command whose output is read as it comes; killed on drop so
/// a failed assertion leaves nothing behind.
struct Live {
    child: Child,
    stdin: Option<ChildStdin>,
    chunks: mpsc::Receiver<String>,
    seen: String,
}

impl Live {
    fn spawn(c: &Cluster, mut cmd: Command) -> Live {
        let mut child = cmd
            .env("KUBECONFIG", &c.kubeconfig)
            .env("HOME", c.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
        let (tx, chunks) = mpsc::channel();
        for mut out in [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|e| Box::new(e) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = out.read(&mut buf) {
                    if n == 0 || tx.send(text(&buf[..n])).is_err() {
                        break;
                    }
                }
            });
        }
        Live {
            stdin: child.stdin.take(),
            child,
            chunks,
            seen: String::new(),
        }
    }

    /// Reads until `done` holds for everything printed so far (bounded).
    fn until(&mut self, what: &str, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(&self.seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(s) => self.seen.push_str(&s),
                Err(_) => panic!("no {what}; the output so far: {:?}", self.seen),
            }
        }
    }

    fn type_in(&mut self, input: &str) {
        if let Some(s) = self.stdin.as_mut() {
            s.write_all(input.as_bytes())
                .unwrap_or_else(|e| panic!("typing: {e}"));
            let _ = s.flush();
        }
    }

    /// Waits for the command to exit (bounded); returns its code.
    fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) => return st.code(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => panic!("the command did not exit; output: {:?}", self.seen),
            }
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn kubectl_run_it_and_attach_to_native_pods() {
    let c = up();
    let ns = c
        .netns()
        .map(|n| n.path())
        .unwrap_or_else(|| panic!("skiff up runs in a netns"));
    let registry = Registry::start(Some(&ns));
    let image = registry.push_busybox("1");

    // run -it: kubectl wants a terminal of its own, which `script` gives
    // it; what is typed there reaches the pod's shell through attach.
    let run = format!(
        "kubectl run -it asker --image={image} --restart=Never -- sh -c 'read x; echo got $x'"
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &run, "/dev/null"]);
    let mut asker = Live::spawn(&c, cmd);
    // kubectl prints this once the pod runs and it attaches, with its
    // terminal already raw: typing now is neither lost nor echoed locally.
    asker.until("kubectl's attach hint", |s| {
        s.contains("If you don't see a command prompt")
    });
    asker.type_in("hello-from-stdin\r");
    asker.until("the pod's answer", |s| s.contains("got hello-from-stdin"));
    assert_eq!(asker.exit_code(), Some(0), "{}", asker.seen);
    wait_for(&c, "asker", "{.status.phase}", |p| p == "Succeeded");
    let spec = c.kubectl_ok(&[
        "get",
        "pod",
        "asker",
        "-o",
        "jsonpath={.spec.containers[0].stdin} {.spec.containers[0].tty}",
    ]);
    assert_eq!(spec, "true true");

    // attach to a running pod: its output from now on, not its history.
    apply(
        &c,
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: counter\nspec:\n  containers:\n  - name: main\n    image: {image}\n    command: [\"sh\", \"-c\", \"i=0; while true; do i=$((i+1)); echo tick-$i.; sleep 0.2; done\"]\n"
        ),
    );
    wait_for(&c, "counter", "{.status.phase}", |p| p == "Running");
    let deadline = Instant::now() + WAIT;
    while !c.kubectl_ok(&["logs", "counter"]).contains("tick-3.") {
        assert!(Instant::now() < deadline, "the counter does not count");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut cmd = Command::new("kubectl");
    cmd.args(["attach", "counter", "-c", "main"]);
    let mut watcher = Live::spawn(&c, cmd);
    watcher.until("two new ticks", |s| s.matches("tick-").count() >= 2);
    let first: u32 = watcher
        .seen
        .split("tick-")
        .nth(1)
        .and_then(|t| t.split('.').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no tick number in {:?}", watcher.seen));
    assert!(first > 3, "attach replayed history: {:?}", watcher.seen);
    drop(watcher);
    // Detaching leaves the container running, and it still logs.
    wait_for(&c, "counter", "{.status.phase}", |p| p == "Running");

    // The container was not created with stdin: -i is refused, clearly.
    let out = c.kubectl(&["attach", "-i", "counter"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("stdin"), "{}", text(&out.stderr));
}

#[test]
fn kubectl_attach_to_a_wasm_pod_says_why_not() {
    let c = up();
    apply(
        &c,
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: w\nspec:\n  runtimeClassName: wasmtime\n  restartPolicy: Never\n  containers:\n  - name: main\n    image: {JOB}\n    args: [\"sleep\", \"600\"]\n"
        ),
    );
    wait_for(&c, "w", "{.status.phase}", |p| p == "Running");
    let mut cmd = Command::new("kubectl");
    cmd.args(["attach", "w"]);
    let mut attach = Live::spawn(&c, cmd);
    let code = attach.exit_code();
    attach.until("kubectl's error", |s| s.contains("WebAssembly"));
    assert_ne!(code, Some(0), "{}", attach.seen);
}
