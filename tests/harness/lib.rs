//! The end-to-end test harness: runs the real `skiff` binary with a fresh
//! data directory, and hands tests a `kube::Client`, kubectl and the Python
//! client pointed at it.
//!
//! `skiff server` runs on loopback. `skiff up` builds a pod network (the
//! bridge `skiff0`, veths, 10.42.0.0/24), which must never touch the host's
//! network namespace: it runs inside a network namespace the harness
//! creates ([`Netns`]), joined to the test process by a veth pair with a
//! private /30, so kubectl and kube-rs reach its API server and no packet
//! can leave the machine. Pod IPs are reached from inside that namespace
//! ([`Cluster::in_netns`], [`Cluster::http_get`], [`Cluster::netns_command`]).

mod netns;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub use netns::Netns;

/// The `skiff` binary under test: `$SKIFF_BIN`, or the one cargo built
/// beside this test binary.
pub fn skiff_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SKIFF_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // Test binaries live in target/<profile>/deps, bench binaries in
    // target/<profile>: the skiff binary is beside one or the other.
    let dir = exe.parent().unwrap_or(Path::new("."));
    [dir, dir.parent().unwrap_or(dir)]
        .iter()
        .map(|d| d.join("skiff"))
        .find(|p| p.exists())
        .unwrap_or_else(|| dir.join("skiff"))
}

/// A running `skiff server` on 127.0.0.1, or `skiff up` in its own network
/// namespace, with its own data directory.
pub struct Cluster {
    /// The data directory (removed on drop).
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// The network namespace `skiff` runs in (deleted on drop).
    netns: Option<Netns>,
    /// The extra arguments of a `skiff up` cluster (for [`Cluster::restart_up`]).
    up_args: Option<Vec<String>>,
}

impl Cluster {
    /// Starts a server and waits until it answers.
    pub fn start() -> anyhow::Result<Cluster> {
        let dir = tempfile::Builder::new().prefix("skiff-e2e-").tempdir()?;
        let mut c = Cluster {
            kubeconfig: dir.path().join("kubeconfig.yaml"),
            dir,
            child: None,
            netns: None,
            up_args: None,
        };
        c.spawn()?;
        Ok(c)
    }

    /// Starts a `skiff server` inside a fresh network namespace, listening
    /// on the namespace's end of its veth (so `skiff agent`s started with
    /// [`Cluster::netns_command`] can join it and build their pod network
    /// there).
    pub fn start_in_netns() -> anyhow::Result<Cluster> {
        let dir = tempfile::Builder::new().prefix("skiff-e2e-").tempdir()?;
        let mut c = Cluster {
            kubeconfig: dir.path().join("kubeconfig.yaml"),
            dir,
            child: None,
            netns: Some(Netns::new()?),
            up_args: None,
        };
        c.spawn()?;
        Ok(c)
    }

    /// (Re)starts the server process on the same data directory.
    pub fn spawn(&mut self) -> anyhow::Result<()> {
        let _ = std::fs::remove_file(&self.kubeconfig);
        let log = std::fs::File::create(self.dir.path().join("server.log"))?;
        let (mut cmd, listen) = match &self.netns {
            Some(ns) => (ns.command(skiff_bin()), format!("{}:0", ns.inner_addr)),
            None => (Command::new(skiff_bin()), "127.0.0.1:0".to_owned()),
        };
        let child = cmd
            .args(["server", "--listen", &listen, "--data-dir"])
            .arg(self.dir.path())
            .env("SKIFF_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", skiff_bin().display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.kubeconfig.exists() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("skiff server exited with {status}: {}", self.log());
            }
            if Instant::now() > deadline {
                bail!(
                    "skiff server did not write its kubeconfig in 30 s: {}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Starts `skiff up` (API server, scheduler and node agent in one
    /// process) in a fresh network namespace with `extra` arguments (e.g.
    /// `--import`), and waits until it reports its node ready. Its API
    /// server listens on the namespace's end of the veth, which the
    /// kubeconfig names.
    pub fn up(extra: &[&str]) -> anyhow::Result<Cluster> {
        let dir = tempfile::Builder::new().prefix("skiff-e2e-up-").tempdir()?;
        let mut c = Cluster {
            kubeconfig: dir.path().join("kubeconfig.yaml"),
            dir,
            child: None,
            netns: Some(Netns::new()?),
            up_args: Some(extra.iter().map(|a| (*a).to_owned()).collect()),
        };
        c.spawn_up()?;
        Ok(c)
    }

    /// Kills a `skiff up` cluster's process with SIGKILL (its native
    /// containers keep running) and starts it again on the same data
    /// directory and network namespace, with the same arguments.
    pub fn restart_up(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.spawn_up()
    }

    /// Starts `skiff up` with the cluster's arguments and waits until it
    /// says it is up; its log is appended to, not replaced.
    fn spawn_up(&mut self) -> anyhow::Result<()> {
        let (Some(netns), Some(extra)) = (&self.netns, &self.up_args) else {
            bail!("not a `skiff up` cluster");
        };
        let dir = self.dir.path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))?;
        let out_path = dir.join("up.out");
        let out = std::fs::File::create(&out_path)?;
        let addr = netns.inner_addr.to_string();
        let child = netns
            .command(skiff_bin())
            .args(["up", "--listen", &format!("{addr}:0"), "--tls-san", &addr])
            .args(["--node-name", "e2e-node", "--data-dir"])
            .arg(dir)
            .args(extra)
            .env("SKIFF_LOG", "info")
            .env("SKIFF_NATIVE_SHIM", native_shim())
            .stdout(out)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", skiff_bin().display()))?;
        self.child = Some(child);
        let c = self;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let printed = std::fs::read_to_string(&out_path).unwrap_or_default();
            if printed.contains("Skiff is up") {
                return Ok(());
            }
            if let Some(status) = c.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("skiff up exited with {status}: {printed}\n{}", c.log());
            }
            if Instant::now() > deadline {
                bail!("skiff up was not ready in 30 s: {printed}\n{}", c.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `skiff up` with each built Wasm example `(name, REF)` imported as
    /// image REF; a failure to start fails the test.
    pub fn up_with_wasm(images: &[(&str, &str)]) -> Cluster {
        let imports: Vec<String> = images
            .iter()
            .map(|(name, reference)| format!("{}={reference}", wasm_example(name).display()))
            .collect();
        let args: Vec<&str> = imports
            .iter()
            .flat_map(|i| ["--import", i.as_str()])
            .collect();
        match Cluster::up(&args) {
            Ok(c) => c,
            Err(e) => panic!("skiff up: {e:#}"),
        }
    }

    /// `kubectl apply -f -` of `yaml`, failing the test if it fails.
    pub fn apply(&self, yaml: &str) {
        let out = self.kubectl_with("kubectl", &["apply", "-f", "-"], Some(yaml));
        assert!(
            out.status.success(),
            "kubectl apply: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// What `skiff up` printed on stdout.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("up.out")).unwrap_or_default()
    }

    /// Kills the server with SIGKILL (no chance to flush anything).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The `skiff` process's id, while it runs (for memory measurements).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The network namespace `skiff` runs in, if any.
    pub fn netns(&self) -> Option<&Netns> {
        self.netns.as_ref()
    }

    /// Runs `f` on a thread inside the cluster's network namespace (where
    /// pod IPs are routed); on the calling thread when there is none.
    pub fn in_netns<T: Send>(&self, f: impl FnOnce() -> T + Send) -> std::io::Result<T> {
        match &self.netns {
            Some(ns) => ns.run(f),
            None => Ok(f()),
        }
    }

    /// A command that runs `program` inside the cluster's network namespace.
    pub fn netns_command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match &self.netns {
            Some(ns) => ns.command(program),
            None => Command::new(program),
        }
    }

    /// One HTTP/1.0 GET of `/` from inside the cluster's network namespace
    /// (e.g. to a pod IP); the whole response.
    pub fn http_get(&self, addr: SocketAddr) -> std::io::Result<String> {
        self.in_netns(|| http_get(addr))?
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// A kube client from the written kubeconfig.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        Ok(kube::Client::try_from(cfg)?)
    }

    /// Runs kubectl (the one on PATH) with this cluster's kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with("kubectl", args, None)
    }

    /// Runs a given kubectl binary, with optional stdin.
    pub fn kubectl_with(&self, bin: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.path())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => panic!("running {bin}: {e}"),
        };
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use std::io::Write;
            let _ = pipe.write_all(input.as_bytes());
        }
        match child.wait_with_output() {
            Ok(o) => o,
            Err(e) => panic!("waiting for {bin}: {e}"),
        }
    }

    /// Runs a kubectl binary with extra environment variables.
    pub fn kubectl_with_env(&self, bin: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        match cmd.output() {
            Ok(o) => o,
            Err(e) => panic!("running {bin}: {e}"),
        }
    }

    /// Runs kubectl and returns stdout, failing the test with stderr if it fails.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {} failed: {}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls `kubectl get pod NAME -o json` until `done` accepts it; fails
    /// the test with the pod's description after `within`.
    pub fn wait_pod_json(
        &self,
        name: &str,
        within: Duration,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let out = self.kubectl(&["get", "pod", name, "-o", "json"]);
            if out.status.success()
                && let Ok(p) = serde_json::from_slice::<serde_json::Value>(&out.stdout)
                && done(&p)
            {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "pod {name} did not get there\n{}",
                self.kubectl_ok(&["describe", "pod", name]),
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill();
        // What the node agent left running (native containers outlive it by
        // design) dies with the test's namespace.
        if let Some(ns) = &self.netns {
            ns.kill_node(self.dir.path());
        }
    }
}

/// One HTTP/1.0 GET of `/`, bounded by timeouts; the whole response.
pub fn http_get(addr: SocketAddr) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: pod\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// Polls `check` every 100 ms until it returns `Some`, failing the test
/// after `within` with `what` in the message.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A Wasm example built by `wasm-examples/build.sh` (which the test set-up
/// runs); a missing one fails the test rather than skipping it.
pub fn wasm_example(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../wasm-examples/out")
        .join(format!("{name}.wasm"));
    assert!(
        p.exists(),
        "{} is missing: run wasm-examples/build.sh first",
        p.display()
    );
    p
}

/// The native runtime's shim: `$SKIFF_NATIVE_SHIM`, or the one beside the
/// `skiff` binary (`cargo build -p skiff -p skiff-runtime-native`).
pub fn native_shim() -> PathBuf {
    if let Some(p) = std::env::var_os("SKIFF_NATIVE_SHIM") {
        return PathBuf::from(p);
    }
    skiff_bin().with_file_name("skiff-native-shim")
}

/// Every kubectl on this machine worth testing: the one on PATH and the
/// oldest and newest extra versions, when installed.
pub fn kubectls() -> Vec<String> {
    if let Ok(only) = std::env::var("SKIFF_TEST_KUBECTL") {
        return vec![only];
    }
    let mut v = vec!["kubectl".to_owned()];
    for extra in [
        "/usr/lib/google-cloud-sdk/bin/kubectl.1.27",
        "/usr/lib/google-cloud-sdk/bin/kubectl.1.33",
    ] {
        if Path::new(extra).exists() {
            v.push(extra.to_owned());
        }
    }
    v
}
