//! Shared helpers: building the examples, runtimes in temp dirs, HTTP on loopback.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use skiff_runtime::{ContainerConfig, ContainerStatus, ImageSpec, PodSandboxConfig, Runtime};
use skiff_runtime_wasm::{WasmRuntime, WasmRuntimeConfig};
use tempfile::TempDir;

/// The examples' output directory, after building them once per test run.
pub fn examples() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wasm-examples");
        let status = std::process::Command::new(dir.join("build.sh"))
            .status()
            .expect("running wasm-examples/build.sh");
        assert!(status.success(), "wasm-examples/build.sh failed");
        dir.join("out")
    })
}

/// A runtime with its state in a temp dir.
pub struct Env {
    /// The runtime.
    pub rt: WasmRuntime,
    /// Its state and the pods' logs.
    pub dir: TempDir,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let rt = WasmRuntime::new(WasmRuntimeConfig::new(dir.path().join("state"))).unwrap();
        Env { rt, dir }
    }

    /// Imports `wasm-examples/out/<name>.wasm` as `localhost/<name>:test`.
    pub async fn image(&self, name: &str) -> ImageSpec {
        let path = examples().join(format!("{name}.wasm"));
        let (reference, _) = self
            .rt
            .import_file(&path, Some(&format!("localhost/{name}:test")))
            .await
            .unwrap();
        ImageSpec::new(reference)
    }

    /// A container config for an example.
    pub async fn config(&self, name: &str, container: &str) -> ContainerConfig {
        ContainerConfig::new(container, self.image(name).await)
    }

    /// A fresh sandbox.
    pub async fn sandbox(&self, name: &str) -> String {
        let config = PodSandboxConfig::new("test", name, self.dir.path().join("logs").join(name));
        self.rt.run_pod_sandbox(&config).await.unwrap()
    }

    /// Runs a command container to its exit; returns its status and stdout lines.
    pub async fn run(&self, config: &ContainerConfig) -> (ContainerStatus, Vec<String>) {
        // A sandbox of its own, so its log file is its own.
        static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let sb = self.sandbox(&format!("{}-{n}", config.name)).await;
        let id = self.rt.create_container(&sb, config).await.unwrap();
        self.rt.start_container(&id).await.unwrap();
        let st = tokio::time::timeout(Duration::from_secs(60), self.rt.wait_container(&id))
            .await
            .expect("container did not exit")
            .unwrap();
        let text = std::fs::read_to_string(&st.log_path).unwrap();
        (
            st,
            skiff_runtime::logs::lines(&text, Some(skiff_runtime::logs::Stream::Stdout)),
        )
    }
}

/// A plain HTTP/1.0 GET (the server closes after the body, so no chunking).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
