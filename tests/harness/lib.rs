//! The end-to-end test harness: runs the real `skiff` binary on loopback
//! with a fresh data directory, and hands tests a `kube::Client`, kubectl
//! and the Python client pointed at it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

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

/// A running `skiff server` on 127.0.0.1 with its own data directory.
pub struct Cluster {
    /// The data directory (removed on drop).
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
}

impl Cluster {
    /// Starts a server and waits until it answers.
    pub fn start() -> anyhow::Result<Cluster> {
        let dir = tempfile::Builder::new().prefix("skiff-e2e-").tempdir()?;
        let mut c = Cluster {
            kubeconfig: dir.path().join("kubeconfig.yaml"),
            dir,
            child: None,
        };
        c.spawn()?;
        Ok(c)
    }

    /// (Re)starts the server process on the same data directory.
    pub fn spawn(&mut self) -> anyhow::Result<()> {
        let _ = std::fs::remove_file(&self.kubeconfig);
        let log = std::fs::File::create(self.dir.path().join("server.log"))?;
        let child = Command::new(skiff_bin())
            .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
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
    /// process) on loopback with `extra` arguments (e.g. `--import`), and
    /// waits until it reports its node ready.
    pub fn up(extra: &[&str]) -> anyhow::Result<Cluster> {
        let dir = tempfile::Builder::new().prefix("skiff-e2e-up-").tempdir()?;
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let out_path = dir.path().join("up.out");
        let out = std::fs::File::create(&out_path)?;
        let child = Command::new(skiff_bin())
            .args([
                "up",
                "--listen",
                "127.0.0.1:0",
                "--node-name",
                "e2e-node",
                "--data-dir",
            ])
            .arg(dir.path())
            .args(extra)
            .env("SKIFF_LOG", "info")
            .stdout(out)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", skiff_bin().display()))?;
        let mut c = Cluster {
            kubeconfig: dir.path().join("kubeconfig.yaml"),
            dir,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let printed = std::fs::read_to_string(&out_path).unwrap_or_default();
            if printed.contains("Skiff is up") {
                return Ok(c);
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
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill();
    }
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
