//! [`WasmRuntime`]: the [`Runtime`] trait on wasmtime. Sandboxes are
//! bookkeeping only (a Wasm pod needs no namespace, see design.md "Pod
//! network"); each container is a command task or an HTTP service task.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use skiff_runtime::{
    ContainerConfig, ContainerFilter, ContainerState, ContainerStats, ContainerStatus,
    ImageService, ImageSpec, ImageStatus, PodSandboxConfig, PodSandboxState, PodSandboxStatus,
    RegistryAuth, Result, Runtime, RuntimeError, StatsService,
};
use tokio::sync::{oneshot, watch};

use crate::command::{self, Outcome};
use crate::engine::{EngineConfig, Prepared, WasmEngine, WasmKind};
use crate::images::ImageStore;
use crate::logs::LogFile;
use crate::service::{self, Service};
use crate::spec::RunSpec;
use crate::{error::ImageError, oci};

/// Annotation that sets a service's per-request deadline (e.g. `500ms`, `30s`).
pub const REQUEST_TIMEOUT_ANNOTATION: &str = "skiff.dev/request-timeout";

/// Settings of a [`WasmRuntime`].
#[derive(Debug, Clone)]
pub struct WasmRuntimeConfig {
    /// State directory: image store under `images/`, compiled code under `compiled/`.
    pub root: PathBuf,
    /// Log files rotate past this size (the kubelet's
    /// `containerLogMaxSize`, 10 MiB by default).
    pub log_max_bytes: u64,
    /// Log files kept per container, the current one included (the
    /// kubelet's `containerLogMaxFiles`, 5 by default).
    pub log_max_files: u32,
    /// Default per-request deadline of HTTP services.
    pub request_timeout: Duration,
    /// Registries (`host:port`) spoken to over plain HTTP besides loopback ones.
    pub insecure_registries: Vec<String>,
    /// Engine settings.
    pub engine: EngineConfig,
}

impl WasmRuntimeConfig {
    /// Defaults with state under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        WasmRuntimeConfig {
            root: root.into(),
            log_max_bytes: 10 * 1024 * 1024,
            log_max_files: 5,
            request_timeout: Duration::from_secs(60),
            insecure_registries: Vec::new(),
            engine: EngineConfig::default(),
        }
    }
}

struct Sandbox {
    config: PodSandboxConfig,
    state: PodSandboxState,
    created_at: Timestamp,
}

/// Mutable part of a container, behind one lock.
struct Record {
    state: ContainerState,
    started_at: Option<Timestamp>,
    finished_at: Option<Timestamp>,
    outcome: Option<Outcome>,
    listening: Vec<SocketAddr>,
    control: Control,
}

/// How to stop a running container.
enum Control {
    None,
    /// A command: firing the sender drops its run future.
    Command(oneshot::Sender<()>),
    /// A service: sending a grace period starts a graceful shutdown.
    Service(watch::Sender<Option<Duration>>),
}

struct Container {
    id: String,
    sandbox_id: String,
    config: ContainerConfig,
    image_ref: String,
    created_at: Timestamp,
    prepared: Prepared,
    spec: Arc<RunSpec>,
    listen_ip: IpAddr,
    request_timeout: Duration,
    record: Mutex<Record>,
    exited: watch::Sender<bool>,
}

impl Container {
    fn lock(&self) -> std::sync::MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn status(&self) -> ContainerStatus {
        let r = self.lock();
        ContainerStatus {
            id: self.id.clone(),
            sandbox_id: self.sandbox_id.clone(),
            name: self.config.name.clone(),
            image: self.config.image.clone(),
            image_ref: self.image_ref.clone(),
            state: r.state,
            created_at: self.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            exit_code: r.outcome.as_ref().map(|o| o.exit_code),
            reason: r.outcome.as_ref().map(|o| o.reason),
            message: r.outcome.as_ref().and_then(|o| o.message.clone()),
            log_path: self.spec.log.path(),
            listening: r.listening.clone(),
        }
    }

    /// Records the exit (once) and wakes waiters.
    fn finish(&self, outcome: Outcome) {
        {
            let mut r = self.lock();
            let Ok(next) = r.state.exit(&self.id) else {
                return;
            };
            r.state = next;
            r.finished_at = Some(Timestamp::now());
            r.outcome = Some(outcome);
            r.control = Control::None;
        }
        self.spec.log.flush_partial();
        self.exited.send_replace(true);
    }
}

struct Inner {
    config: WasmRuntimeConfig,
    engine: WasmEngine,
    images: ImageStore,
    sandboxes: Mutex<HashMap<String, Sandbox>>,
    containers: Mutex<HashMap<String, Arc<Container>>>,
    next_id: AtomicU64,
}

/// The Wasm runtime. Cheap to clone; clones share state.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use skiff_runtime::{ContainerConfig, ImageSpec, PodSandboxConfig, Runtime};
/// use skiff_runtime_wasm::{WasmRuntime, WasmRuntimeConfig};
///
/// let rt = WasmRuntime::new(WasmRuntimeConfig::new("/var/lib/skiff/wasm"))?;
/// let (image, _) = rt.import_file("hello.wasm".as_ref(), None).await?;
/// let sandbox = rt.run_pod_sandbox(&PodSandboxConfig::new("default", "hello", "/var/log/pods/hello")).await?;
/// let id = rt.create_container(&sandbox, &ContainerConfig::new("hello", ImageSpec::new(image))).await?;
/// rt.start_container(&id).await?;
/// let status = rt.wait_container(&id).await?;
/// println!("exited {:?}", status.exit_code);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WasmRuntime {
    inner: Arc<Inner>,
}

impl WasmRuntime {
    /// Opens the image store and builds the engine. Blocking (file I/O).
    pub fn new(config: WasmRuntimeConfig) -> Result<Self> {
        let images =
            ImageStore::open(&config.root.join("images")).map_err(|e| RuntimeError::Internal {
                message: format!("opening the image store: {e}"),
            })?;
        let engine =
            WasmEngine::new(&config.engine, &config.root.join("compiled")).map_err(|e| {
                RuntimeError::Internal {
                    message: e.to_string(),
                }
            })?;
        Ok(WasmRuntime {
            inner: Arc::new(Inner {
                config,
                engine,
                images,
                sandboxes: Mutex::new(HashMap::new()),
                containers: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
            }),
        })
    }

    /// Imports a local `.wasm` file as an image; returns its reference and id.
    ///
    /// The image is compiled here too, as a pull compiles it: the first
    /// pod then starts from compiled code (in memory, or wasmtime's code
    /// cache on disk when another process imported it) instead of waiting
    /// for the compiler, as image pull time is kept out of pod start.
    pub async fn import_file(
        &self,
        path: &Path,
        reference: Option<&str>,
    ) -> Result<(String, String)> {
        let inner = self.inner.clone();
        let path = path.to_owned();
        let reference = reference.map(str::to_owned);
        let shown = path.display().to_string();
        let (r, rec) = blocking(move || inner.images.import_file(&path, reference.as_deref()))
            .await?
            .map_err(|e| e.into_runtime(&shown))?;
        self.precompile(&rec.digest).await;
        Ok((r, rec.digest))
    }

    /// Compiles a just-stored image ahead of its first container. A binary
    /// that does not compile is still stored: creating a container from it
    /// reports why, as before.
    async fn precompile(&self, digest: &str) {
        if let Err(e) = self.prepare(digest).await {
            tracing::debug!(image = %digest, error = %e, "precompiling an image");
        }
    }

    /// Pushes a stored image to a registry as a Wasm OCI artifact; returns
    /// the manifest URL.
    pub async fn push_image(
        &self,
        image: &str,
        target: &str,
        auth: &RegistryAuth,
    ) -> Result<String> {
        let rec = self
            .inner
            .images
            .resolve(image)
            .ok_or_else(|| RuntimeError::NotFound {
                kind: "image",
                id: image.to_owned(),
            })?;
        let inner = self.inner.clone();
        let digest = rec.digest.clone();
        let wasm = blocking(move || inner.images.read(&digest))
            .await?
            .map_err(|e| e.into_runtime(image))?;
        oci::push(&wasm, target, auth, &self.inner.config.insecure_registries)
            .await
            .map_err(|e| e.into_runtime(target))
    }

    /// The kind of a stored image (compiling it if it was not yet).
    pub async fn image_kind(&self, image: &str) -> Result<WasmKind> {
        let (_, prepared) = self.prepare(image).await?;
        Ok(prepared.kind())
    }

    /// How many times this runtime compiled a binary (or loaded it from
    /// the on-disk code cache): once per image however many of its
    /// containers are created, even all at once; again only after the
    /// image is removed or its compilation failed. A figure for metrics.
    pub fn compilations(&self) -> u64 {
        self.inner.engine.compilations()
    }

    async fn prepare(&self, image: &str) -> Result<(String, Prepared)> {
        let rec = self
            .inner
            .images
            .resolve(image)
            .ok_or_else(|| RuntimeError::NotFound {
                kind: "image",
                id: image.to_owned(),
            })?;
        if let Some(p) = self.inner.engine.cached(&rec.digest) {
            return Ok((rec.digest, p));
        }
        let inner = self.inner.clone();
        let digest = rec.digest.clone();
        // One compilation per digest however many creates ask at once.
        let compile = move || async move {
            blocking(move || {
                let wasm = inner.images.read(&digest).map_err(|e| e.to_string())?;
                inner.engine.compile(&wasm).map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())?
        };
        let prepared = self
            .inner
            .engine
            .prepare_shared(&rec.digest, compile)
            .await
            .map_err(|message| RuntimeError::InvalidImage {
                image: image.to_owned(),
                message,
            })?;
        Ok((rec.digest, prepared))
    }

    fn container(&self, id: &str) -> Result<Arc<Container>> {
        self.inner
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| RuntimeError::NotFound {
                kind: "container",
                id: id.to_owned(),
            })
    }

    fn new_id(&self, prefix: &str) -> String {
        let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let nanos = Timestamp::now().as_nanosecond();
        let digest =
            crate::images::sha256_digest(format!("{nanos}-{n}-{}", std::process::id()).as_bytes());
        format!("{prefix}{}", &digest[7..23])
    }

    /// Kills a container (no grace) and waits for its exit.
    async fn kill(&self, c: &Arc<Container>, grace: Duration) {
        let mut exited = c.exited.subscribe();
        let was_running = {
            let mut r = c.lock();
            match std::mem::replace(&mut r.control, Control::None) {
                Control::Command(kill) => {
                    // Wasm cannot receive SIGTERM: the polite request is the
                    // grace period itself, then the run future is dropped at
                    // the next epoch tick.
                    let (tx, rx) = oneshot::channel::<()>();
                    r.control = Control::Command(tx);
                    drop(r);
                    let delayed = async move {
                        tokio::select! {
                            _ = tokio::time::sleep(grace) => {}
                            _ = rx => {}
                        }
                        let _ = kill.send(());
                    };
                    tokio::spawn(delayed);
                    true
                }
                Control::Service(stop) => {
                    let _ = stop.send(Some(grace));
                    r.control = Control::Service(stop);
                    true
                }
                Control::None => {
                    if r.state == ContainerState::Created {
                        let Ok(next) = r.state.exit(&c.id) else {
                            return;
                        };
                        r.state = next;
                        r.finished_at = Some(Timestamp::now());
                        r.outcome = Some(Outcome::exited(0));
                        drop(r);
                        c.exited.send_replace(true);
                    }
                    false
                }
            }
        };
        if was_running {
            let _ = exited.wait_for(|e| *e).await;
        }
    }
}

/// Runs blocking work (file I/O, compilation) off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RuntimeError::Internal {
            message: format!("blocking task failed: {e}"),
        })
}

#[async_trait]
impl ImageService for WasmRuntime {
    async fn pull_image(&self, image: &ImageSpec, auth: &RegistryAuth) -> Result<ImageStatus> {
        let rec = oci::pull(
            &self.inner.images,
            &image.image,
            auth,
            &self.inner.config.insecure_registries,
        )
        .await
        .map_err(|e| e.into_runtime(&image.image))?;
        self.precompile(&rec.digest).await;
        self.inner
            .images
            .status(&rec.digest)
            .ok_or_else(|| RuntimeError::NotFound {
                kind: "image",
                id: image.image.clone(),
            })
    }

    async fn image_status(&self, image: &ImageSpec) -> Result<Option<ImageStatus>> {
        Ok(self.inner.images.status(&image.image))
    }

    async fn list_images(&self) -> Result<Vec<ImageStatus>> {
        Ok(self.inner.images.list())
    }

    async fn remove_image(&self, image: &ImageSpec) -> Result<()> {
        let inner = self.inner.clone();
        let reference = image.image.clone();
        let removed = blocking(move || inner.images.remove(&reference))
            .await?
            .map_err(|e: ImageError| e.into_runtime(&image.image))?;
        if let Some(digest) = removed {
            self.inner.engine.forget(&digest);
        }
        Ok(())
    }
}

#[async_trait]
impl StatsService for WasmRuntime {
    async fn container_stats(&self, container_id: &str) -> Result<ContainerStats> {
        let c = self.container(container_id)?;
        let u = &c.spec.usage;
        Ok(ContainerStats {
            cpu_usage_nanos: u.cpu_nanos.load(Ordering::Relaxed),
            memory_working_set_bytes: u.memory_bytes.load(Ordering::Relaxed),
            memory_peak_bytes: u.memory_peak.load(Ordering::Relaxed),
        })
    }
}

#[async_trait]
impl Runtime for WasmRuntime {
    fn handler(&self) -> &str {
        "wasmtime"
    }

    fn images(&self) -> &dyn ImageService {
        self
    }

    fn stats(&self) -> Option<&dyn StatsService> {
        Some(self)
    }

    /// A Wasm sandbox is bookkeeping only: its containers run in the
    /// agent's process, in the node's namespaces, whatever
    /// `config.namespaces` says. With `hostNetwork` (network
    /// [`NamespaceMode::Node`](skiff_runtime::NamespaceMode)) the agent
    /// passes the node's address as the pod IP, so services listen (and
    /// outgoing calls leave) on the node's address, which is all
    /// `hostNetwork` means for a Wasm pod. `hostPID` and `hostIPC` have no
    /// meaning for a Wasm program (no processes to see, no System V IPC):
    /// they are accepted and change nothing.
    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String> {
        let id = self.new_id("");
        let log_dir = config.log_directory.clone();
        blocking(move || {
            std::fs::create_dir_all(&log_dir).map_err(|e| RuntimeError::io(&log_dir, e))
        })
        .await??;
        let sandbox = Sandbox {
            config: config.clone(),
            state: PodSandboxState::Ready,
            created_at: Timestamp::now(),
        };
        self.inner
            .sandboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), sandbox);
        Ok(id)
    }

    async fn stop_pod_sandbox(&self, sandbox_id: &str) -> Result<()> {
        {
            let mut sandboxes = self
                .inner
                .sandboxes
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let sb = sandboxes
                .get_mut(sandbox_id)
                .ok_or_else(|| RuntimeError::NotFound {
                    kind: "pod sandbox",
                    id: sandbox_id.to_owned(),
                })?;
            sb.state = PodSandboxState::NotReady;
        }
        let members: Vec<Arc<Container>> = self
            .inner
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|c| c.sandbox_id == sandbox_id)
            .cloned()
            .collect();
        for c in members {
            self.kill(&c, Duration::ZERO).await;
        }
        Ok(())
    }

    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<()> {
        if !self
            .inner
            .sandboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(sandbox_id)
        {
            return Ok(());
        }
        self.stop_pod_sandbox(sandbox_id).await?;
        self.inner
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, c| c.sandbox_id != sandbox_id);
        self.inner
            .sandboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(sandbox_id);
        Ok(())
    }

    async fn pod_sandbox_status(&self, sandbox_id: &str) -> Result<PodSandboxStatus> {
        let sandboxes = self
            .inner
            .sandboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let sb = sandboxes
            .get(sandbox_id)
            .ok_or_else(|| RuntimeError::NotFound {
                kind: "pod sandbox",
                id: sandbox_id.to_owned(),
            })?;
        Ok(PodSandboxStatus {
            id: sandbox_id.to_owned(),
            config: sb.config.clone(),
            state: sb.state,
            created_at: sb.created_at,
        })
    }

    async fn list_pod_sandboxes(&self) -> Result<Vec<PodSandboxStatus>> {
        // Only this process's: Wasm containers run inside it, so a
        // restarted agent finds none and starts its pods' containers again.
        let sandboxes = self
            .inner
            .sandboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Ok(sandboxes
            .iter()
            .map(|(id, sb)| PodSandboxStatus {
                id: id.clone(),
                config: sb.config.clone(),
                state: sb.state,
                created_at: sb.created_at,
            })
            .collect())
    }

    async fn create_container(&self, sandbox_id: &str, config: &ContainerConfig) -> Result<String> {
        let sandbox = {
            let sandboxes = self
                .inner
                .sandboxes
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let sb = sandboxes
                .get(sandbox_id)
                .ok_or_else(|| RuntimeError::NotFound {
                    kind: "pod sandbox",
                    id: sandbox_id.to_owned(),
                })?;
            if sb.state != PodSandboxState::Ready {
                return Err(RuntimeError::InvalidState {
                    kind: "pod sandbox",
                    id: sandbox_id.to_owned(),
                    action: "create a container in",
                    state: "not ready".to_owned(),
                });
            }
            sb.config.clone()
        };
        let create_err = |e: RuntimeError| match e {
            e @ (RuntimeError::NotFound { .. }
            | RuntimeError::InvalidImage { .. }
            | RuntimeError::InvalidConfig { .. }) => e,
            other => RuntimeError::CreateContainer {
                name: config.name.clone(),
                source: Box::new(other),
            },
        };
        let (image_ref, prepared) = self
            .prepare(&config.image.image)
            .await
            .map_err(create_err)?;
        if prepared.kind() == WasmKind::HttpService && config.ports.is_empty() {
            return Err(RuntimeError::invalid(
                "ports",
                format!(
                    "{} is an HTTP service: declare the containerPort it serves on",
                    config.image
                ),
            ));
        }
        let request_timeout = match config.annotations.get(REQUEST_TIMEOUT_ANNOTATION) {
            Some(v) => parse_duration(v).ok_or_else(|| {
                RuntimeError::invalid(
                    format!("annotation {REQUEST_TIMEOUT_ANNOTATION}"),
                    format!("{v:?} is not a duration like 500ms or 30s"),
                )
            })?,
            None => self.inner.config.request_timeout,
        };
        let log_path = sandbox.log_directory.join(&config.log_path);
        let policy = skiff_runtime::logs::RotationPolicy::new(
            self.inner.config.log_max_bytes,
            self.inner.config.log_max_files,
        );
        let lp = log_path.clone();
        let log = blocking(move || LogFile::open(&lp, policy))
            .await?
            .map_err(|e| RuntimeError::io(&log_path, e))?;
        let cfg = config.clone();
        let sb = sandbox.clone();
        let spec = blocking(move || RunSpec::new(&cfg, &sb, log)).await??;
        let id = self.new_id("");
        let (exited, _) = watch::channel(false);
        let container = Arc::new(Container {
            id: id.clone(),
            sandbox_id: sandbox_id.to_owned(),
            config: config.clone(),
            image_ref,
            created_at: Timestamp::now(),
            prepared,
            spec: Arc::new(spec),
            listen_ip: sandbox.pod_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            request_timeout,
            record: Mutex::new(Record {
                state: ContainerState::Created,
                started_at: None,
                finished_at: None,
                outcome: None,
                listening: Vec::new(),
                control: Control::None,
            }),
            exited,
        });
        self.inner
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), container);
        Ok(id)
    }

    async fn start_container(&self, container_id: &str) -> Result<()> {
        let c = self.container(container_id)?;
        {
            let r = c.lock();
            if !r.state.can_start() {
                return Err(r
                    .state
                    .start(&c.id)
                    .err()
                    .unwrap_or(RuntimeError::Internal {
                        message: "bad state".into(),
                    }));
            }
        }
        let engine = self.inner.engine.engine().clone();
        match &c.prepared {
            Prepared::Http(pre) => {
                let mut listeners = Vec::new();
                for p in &c.config.ports {
                    let addr = SocketAddr::new(c.listen_ip, p.container_port);
                    let l =
                        service::bind(addr)
                            .await
                            .map_err(|e| RuntimeError::CreateContainer {
                                name: c.config.name.clone(),
                                source: format!("listening on {addr}: {e}").into(),
                            })?;
                    listeners.push(l);
                }
                let svc = Service::new(engine, pre.clone(), c.spec.clone(), c.request_timeout);
                let (stop_tx, stop_rx) = watch::channel(None);
                let addrs: Vec<SocketAddr> = listeners
                    .iter()
                    .filter_map(|l| l.local_addr().ok())
                    .collect();
                {
                    let mut r = c.lock();
                    r.state = r.state.start(&c.id)?;
                    r.started_at = Some(Timestamp::now());
                    r.listening = addrs;
                    r.control = Control::Service(stop_tx);
                }
                let mut tasks = tokio::task::JoinSet::new();
                for l in listeners {
                    tasks.spawn(service::serve(l, svc.clone(), stop_rx.clone()));
                }
                let cc = c.clone();
                tokio::spawn(async move {
                    // The service exits as its slowest listener does.
                    let mut outcome = Outcome::exited(0);
                    while let Some(done) = tasks.join_next().await {
                        if let Ok(o) = done
                            && o.exit_code != 0
                        {
                            outcome = o;
                        }
                    }
                    cc.finish(outcome);
                });
            }
            prepared => {
                let (kill_tx, kill_rx) = oneshot::channel();
                {
                    let mut r = c.lock();
                    r.state = r.state.start(&c.id)?;
                    r.started_at = Some(Timestamp::now());
                    r.control = Control::Command(kill_tx);
                }
                let prepared = prepared.clone();
                let cc = c.clone();
                tokio::spawn(async move {
                    let outcome = tokio::select! {
                        o = command::run(&engine, &prepared, &cc.spec) => o,
                        _ = kill_rx => Outcome::killed("stopped after the grace period"),
                    };
                    cc.finish(outcome);
                });
            }
        }
        Ok(())
    }

    async fn stop_container(&self, container_id: &str, grace: Duration) -> Result<()> {
        let c = self.container(container_id)?;
        self.kill(&c, grace).await;
        Ok(())
    }

    async fn remove_container(&self, container_id: &str) -> Result<()> {
        let Ok(c) = self.container(container_id) else {
            return Ok(());
        };
        self.kill(&c, Duration::ZERO).await;
        self.inner
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(container_id);
        Ok(())
    }

    async fn container_status(&self, container_id: &str) -> Result<ContainerStatus> {
        Ok(self.container(container_id)?.status())
    }

    async fn list_containers(&self, filter: &ContainerFilter) -> Result<Vec<ContainerStatus>> {
        let all: Vec<Arc<Container>> = self
            .inner
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        Ok(all
            .iter()
            .map(|c| c.status())
            .filter(|s| {
                filter
                    .sandbox_id
                    .as_ref()
                    .is_none_or(|id| &s.sandbox_id == id)
            })
            .filter(|s| filter.state.is_none_or(|st| s.state == st))
            .collect())
    }

    async fn wait_container(&self, container_id: &str) -> Result<ContainerStatus> {
        let c = self.container(container_id)?;
        let mut rx = c.exited.subscribe();
        if c.lock().state == ContainerState::Created {
            return Err(RuntimeError::InvalidState {
                kind: "container",
                id: c.id.clone(),
                action: "wait for",
                state: "created (not started)".to_owned(),
            });
        }
        let _ = rx.wait_for(|e| *e).await;
        Ok(c.status())
    }
}

/// Parses `500ms`, `30s`, `2m` (Go duration style, one unit).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs.is_finite() && secs > 0.0 && secs < 1e9).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("s"), None);
    }
}
