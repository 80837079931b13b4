//! [`NativeRuntime`]: the [`Runtime`] trait for Linux containers. Each pod
//! sandbox owns a network namespace kept as a bind-mounted file (unless it
//! is on the node's network, see [`skiff_runtime::NamespaceOption`]); each
//! container is a bundle (overlay rootfs + `config.json`) run by its own
//! shim process.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use skiff_runtime::{
    ContainerConfig, ContainerFilter, ContainerState, ContainerStats, ContainerStatus, ExecResult,
    ExecService, ExitReason, ImageService, ImageSpec, ImageStatus, PodSandboxConfig,
    PodSandboxState, PodSandboxStatus, RegistryAuth, Result, Runtime, RuntimeError, StatsService,
};
use tokio::io::AsyncBufReadExt;
use tokio::sync::watch;

use crate::bundle::{BundleParams, build_spec};
use crate::error::BundleError;
use crate::image::{self, ImageStore};
use crate::network::{self, PodNetwork};
use crate::shim::{EXEC_FAILED, EXIT_FILE, ExitStatus, SHIM_CONFIG, ShimConfig};
use crate::state::{self, ContainerMeta, SandboxMeta};
use crate::stats;

/// The runtime's record of a container, in its directory.
const CONTAINER_FILE: &str = "container.json";

/// Settings of a [`NativeRuntime`].
#[derive(Debug, Clone)]
pub struct NativeRuntimeConfig {
    /// State directory: images under `images/`, containers under `containers/`.
    pub root: PathBuf,
    /// The `skiff-native-shim` executable.
    pub shim: PathBuf,
    /// Pids limit of every container (the kubelet's pod pids limit).
    pub pids_limit: Option<i64>,
    /// Registries (`host:port`) spoken to over plain HTTP besides loopback ones.
    pub insecure_registries: Vec<String>,
    /// The node's pod network: a sandbox given a pod IP gets an `eth0` on
    /// this bridge. `None`: sandboxes have loopback only.
    pub network: Option<PodNetwork>,
    /// Container logs rotate before passing this size (the kubelet's
    /// `containerLogMaxSize`, 10 MiB by default).
    pub log_max_bytes: u64,
    /// Log files kept per container, the current one included (the
    /// kubelet's `containerLogMaxFiles`, 5 by default).
    pub log_max_files: u32,
}

impl NativeRuntimeConfig {
    /// Defaults with state under `root`; the shim is looked for beside the
    /// current executable.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let shim = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("skiff-native-shim")))
            .unwrap_or_else(|| PathBuf::from("skiff-native-shim"));
        NativeRuntimeConfig {
            root: root.into(),
            shim,
            pids_limit: Some(1024),
            insecure_registries: Vec::new(),
            network: None,
            log_max_bytes: 10 * 1024 * 1024,
            log_max_files: 5,
        }
    }

    /// Whether this host can run containers: root, the shim, and cgroups
    /// with a memory controller (v1 or v2). The reason when it cannot.
    pub fn check_host(&self) -> std::result::Result<(), String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("the native runtime needs root".to_owned());
        }
        if !self.shim.is_file() {
            return Err(format!(
                "the shim {} is missing (build it with `cargo build -p skiff-runtime-native`, or set SKIFF_NATIVE_SHIM)",
                self.shim.display()
            ));
        }
        let v2 = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"));
        let v1 = Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists();
        if !v1 && !v2 {
            return Err("no cgroup memory controller under /sys/fs/cgroup".to_owned());
        }
        Ok(())
    }
}

/// The image service half of the runtime.
pub struct NativeImages {
    store: Arc<ImageStore>,
    insecure: Vec<String>,
}

impl NativeImages {
    /// Records verified content as `reference`, unpacking new layers.
    async fn add(&self, reference: String, fetched: image::Fetched) -> Result<ImageStatus> {
        let store = Arc::clone(&self.store);
        let r = reference.clone();
        blocking(move || {
            let layers: Vec<_> = fetched
                .layers
                .iter()
                .map(|(d, m, b)| (d.clone(), m.clone(), b.as_slice()))
                .collect();
            store
                .add(
                    &r,
                    fetched.manifest_digest.clone(),
                    &fetched.config,
                    &layers,
                )
                .map_err(|e| e.into_runtime(&r))
        })
        .await?;
        self.store.status(&reference).ok_or(RuntimeError::NotFound {
            kind: "image",
            id: reference,
        })
    }

    /// Imports the image tagged `tag` (or the only one) of the OCI image
    /// layout at `dir` as `reference`: how images reach a node without a
    /// registry, as `k3s ctr images import` does.
    pub async fn import_oci_layout(
        &self,
        dir: &Path,
        tag: Option<&str>,
        reference: &str,
    ) -> Result<ImageStatus> {
        let (dir, tag) = (dir.to_owned(), tag.map(str::to_owned));
        let r = reference.to_owned();
        let fetched = blocking(move || {
            image::read_oci_layout(&dir, tag.as_deref()).map_err(|e| e.into_runtime(&r))
        })
        .await?;
        self.add(reference.to_owned(), fetched).await
    }
}

#[async_trait]
impl ImageService for NativeImages {
    async fn pull_image(&self, spec: &ImageSpec, auth: &RegistryAuth) -> Result<ImageStatus> {
        let reference = spec.image.clone();
        let fetched = image::fetch(&reference, auth, &self.insecure)
            .await
            .map_err(|e| e.into_runtime(&reference))?;
        self.add(reference, fetched).await
    }

    async fn image_status(&self, spec: &ImageSpec) -> Result<Option<ImageStatus>> {
        Ok(self.store.status(&spec.image))
    }

    async fn list_images(&self) -> Result<Vec<ImageStatus>> {
        Ok(self.store.list())
    }

    async fn remove_image(&self, spec: &ImageSpec) -> Result<()> {
        let store = Arc::clone(&self.store);
        let r = spec.image.clone();
        blocking(move || {
            store
                .remove(&r)
                .map(|gone| {
                    tracing::debug!(image = %r, layers = gone.layers, "image removed");
                })
                .map_err(|e| e.into_runtime(&r))
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RuntimeError::Internal {
            message: format!("blocking task failed: {e}"),
        })?
}

struct Sandbox {
    config: PodSandboxConfig,
    state: PodSandboxState,
    created_at: Timestamp,
    /// `None`: the sandbox is on the node's network.
    netns: Option<PathBuf>,
}

struct Record {
    state: ContainerState,
    started_at: Option<Timestamp>,
    finished_at: Option<Timestamp>,
    exit: Option<ExitStatus>,
    message: Option<String>,
    pid: Option<i32>,
}

struct Container {
    id: String,
    sandbox_id: String,
    config: ContainerConfig,
    image_ref: String,
    created_at: Timestamp,
    dir: PathBuf,
    log_path: PathBuf,
    record: Mutex<Record>,
    exited: watch::Sender<bool>,
    /// Started by an earlier runtime process: no task waits on its shim,
    /// so its exit is read from `exit.json` when asked.
    adopted: bool,
}

impl Container {
    fn rootfs(&self) -> PathBuf {
        self.dir.join("bundle/rootfs")
    }

    fn status(&self) -> ContainerStatus {
        let r = self.record.lock().unwrap_or_else(|p| p.into_inner());
        let reason = r.exit.as_ref().map(|e| {
            if e.oom_killed {
                ExitReason::OomKilled
            } else {
                ExitReason::from_exit_code(e.exit_code)
            }
        });
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
            exit_code: r.exit.as_ref().map(|e| e.exit_code),
            reason: if r.state == ContainerState::Exited && reason.is_none() {
                Some(ExitReason::ContainerCannotRun)
            } else {
                reason
            },
            message: r.message.clone(),
            log_path: self.log_path.clone(),
            listening: Vec::new(),
        }
    }

    fn meta(&self) -> ContainerMeta {
        let r = self.record.lock().unwrap_or_else(|p| p.into_inner());
        ContainerMeta {
            id: self.id.clone(),
            sandbox_id: self.sandbox_id.clone(),
            config: self.config.clone(),
            image_ref: self.image_ref.clone(),
            created_at: self.created_at,
            started_at: r.started_at,
            log_path: self.log_path.clone(),
        }
    }

    fn read_exit(&self) -> Option<ExitStatus> {
        let bytes = std::fs::read(self.dir.join(EXIT_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// For an adopted container, picks up an exit its shim has recorded.
    fn refresh(&self) {
        let running =
            self.record.lock().unwrap_or_else(|p| p.into_inner()).state == ContainerState::Running;
        if self.adopted
            && running
            && let Some(exit) = self.read_exit()
        {
            self.mark_exited(Some(exit), None);
        }
    }

    /// Resolves once the container has exited.
    async fn until_exited(&self) {
        let mut rx = self.exited.subscribe();
        loop {
            self.refresh();
            if *rx.borrow_and_update() {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), rx.changed()).await;
        }
    }

    /// Rebuilds a container from its directory after a runtime restart.
    fn adopt(meta: ContainerMeta, dir: PathBuf) -> Container {
        let (exited, _) = watch::channel(false);
        let pid = std::fs::read_to_string(dir.join("pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok());
        let c = Container {
            id: meta.id,
            sandbox_id: meta.sandbox_id,
            config: meta.config,
            image_ref: meta.image_ref,
            created_at: meta.created_at,
            dir,
            log_path: meta.log_path,
            record: Mutex::new(Record {
                state: ContainerState::Created,
                started_at: meta.started_at,
                finished_at: None,
                exit: None,
                message: None,
                pid,
            }),
            exited,
            adopted: true,
        };
        if meta.started_at.is_some() {
            let exit = c.read_exit();
            let alive = pid.is_some_and(|p| kill(Pid::from_raw(p), None).is_ok());
            if exit.is_some() || !alive {
                let msg = exit
                    .is_none()
                    .then(|| "its shim ended without recording an exit".to_owned());
                c.mark_exited(exit, msg);
            } else {
                c.record.lock().unwrap_or_else(|p| p.into_inner()).state = ContainerState::Running;
            }
        }
        c
    }

    fn mark_exited(&self, exit: Option<ExitStatus>, message: Option<String>) {
        let mut r = self.record.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(s) = r.state.exit(&self.id) {
            r.state = s;
            r.finished_at = Some(exit.as_ref().map_or_else(Timestamp::now, |e| e.finished_at));
            r.exit = exit;
            r.message = message;
        }
        drop(r);
        self.exited.send_replace(true);
    }
}

/// Linux containers from OCI images.
pub struct NativeRuntime {
    config: NativeRuntimeConfig,
    images: NativeImages,
    sandboxes: Mutex<HashMap<String, Sandbox>>,
    containers: Mutex<HashMap<String, Arc<Container>>>,
}

fn random_id() -> String {
    let mut b = [0u8; 8];
    let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RuntimeError + '_ {
    move |e| RuntimeError::io(path, e)
}

impl NativeRuntime {
    /// The runtime's image store, for imports beside pulls.
    pub fn native_images(&self) -> &NativeImages {
        &self.images
    }

    /// Opens the runtime's state under `config.root`. Blocking.
    pub fn new(config: NativeRuntimeConfig) -> Result<NativeRuntime> {
        let store =
            ImageStore::open(&config.root.join("images")).map_err(|e| e.into_runtime("(store)"))?;
        // Re-adopt what an earlier runtime process left behind.
        let mut sandboxes = HashMap::new();
        for m in state::load_all::<SandboxMeta>(&config.root.join("sandboxes"), None) {
            sandboxes.insert(
                m.id.clone(),
                Sandbox {
                    state: if m.ready {
                        PodSandboxState::Ready
                    } else {
                        PodSandboxState::NotReady
                    },
                    config: m.config,
                    created_at: m.created_at,
                    netns: m.netns,
                },
            );
        }
        let mut containers = HashMap::new();
        let cdir = config.root.join("containers");
        for m in state::load_all::<ContainerMeta>(&cdir, Some(CONTAINER_FILE)) {
            let dir = cdir.join(&m.id);
            // Containers made before leases existed hold their layers now.
            if !store.has_lease(&m.id)
                && let Some(rec) = store.resolve(&m.image_ref)
            {
                let _ = store.lease(&m.id, &rec);
            }
            containers.insert(m.id.clone(), Arc::new(Container::adopt(m, dir)));
        }
        Ok(NativeRuntime {
            images: NativeImages {
                store: Arc::new(store),
                insecure: config.insecure_registries.clone(),
            },
            config,
            sandboxes: Mutex::new(sandboxes),
            containers: Mutex::new(containers),
        })
    }

    fn save_sandbox(&self, id: &str) -> Result<()> {
        let meta = {
            let map = self.sandboxes.lock().unwrap_or_else(|p| p.into_inner());
            let Some(s) = map.get(id) else { return Ok(()) };
            SandboxMeta {
                id: id.to_owned(),
                config: s.config.clone(),
                ready: s.state == PodSandboxState::Ready,
                created_at: s.created_at,
                netns: s.netns.clone(),
            }
        };
        state::save(&self.sandbox_file(id), &meta)
    }

    /// Creates sandbox `id`'s network namespace file and, with a pod
    /// network and a pod IP, plugs it into the bridge.
    async fn create_netns(&self, id: &str, config: &PodSandboxConfig) -> Result<PathBuf> {
        let netns = self.config.root.join("netns").join(id);
        let out = tokio::process::Command::new(&self.config.shim)
            .arg("netns")
            .arg(&netns)
            .output()
            .await
            .map_err(io_err(&self.config.shim))?;
        if !out.status.success() {
            return Err(RuntimeError::Internal {
                message: format!(
                    "creating the pod network namespace: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        if let (Some(net), Some(std::net::IpAddr::V4(ip))) =
            (self.config.network.clone(), config.pod_ip)
        {
            let ns = netns.clone();
            if let Err(e) = blocking(move || network::attach(&net, &ns, ip)).await {
                let _ = umount2(&netns, MntFlags::MNT_DETACH);
                let _ = std::fs::remove_file(&netns);
                return Err(e);
            }
        }
        Ok(netns)
    }

    fn sandbox_file(&self, id: &str) -> PathBuf {
        self.config
            .root
            .join("sandboxes")
            .join(format!("{id}.json"))
    }

    fn container(&self, id: &str) -> Result<Arc<Container>> {
        let map = self.containers.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id).cloned().ok_or_else(|| RuntimeError::NotFound {
            kind: "container",
            id: id.to_owned(),
        })
    }

    /// A container that must be running for `action` (exec, attach).
    fn running(&self, id: &str, action: &'static str) -> Result<Arc<Container>> {
        let c = self.container(id)?;
        c.refresh();
        let state = c.status().state;
        if state != ContainerState::Running {
            return Err(RuntimeError::InvalidState {
                kind: "container",
                id: id.to_owned(),
                action,
                state: state.to_string(),
            });
        }
        Ok(c)
    }

    /// The bundle directory of a container (for cross-checking with runc).
    pub fn bundle_dir(&self, container_id: &str) -> Result<PathBuf> {
        Ok(self.container(container_id)?.dir.join("bundle"))
    }

    fn sandbox_ids_containers(&self, sandbox_id: &str) -> Vec<String> {
        let map = self.containers.lock().unwrap_or_else(|p| p.into_inner());
        map.values()
            .filter(|c| c.sandbox_id == sandbox_id)
            .map(|c| c.id.clone())
            .collect()
    }
}

fn mount_overlay(
    layers: &[PathBuf],
    dir: &Path,
    target: &Path,
) -> std::result::Result<(), BundleError> {
    let upper = dir.join("upper");
    let work = dir.join("work");
    for d in [&upper, &work, &target.to_path_buf()] {
        std::fs::create_dir_all(d).map_err(|e| BundleError::io(d, e))?;
    }
    // overlayfs lists the top layer first.
    let lower: Vec<String> = layers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|source| BundleError::Sys {
        what: "mounting overlay rootfs at",
        path: target.to_owned(),
        source,
    })
}

#[async_trait]
impl Runtime for NativeRuntime {
    fn handler(&self) -> &str {
        "runc"
    }

    fn images(&self) -> &dyn ImageService {
        &self.images
    }

    fn stats(&self) -> Option<&dyn StatsService> {
        Some(self)
    }

    fn exec(&self) -> Option<&dyn ExecService> {
        Some(self)
    }

    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<String> {
        let id = random_id();
        // On the node's network there is nothing to create or plug in:
        // containers stay in the namespace the shim (the agent) is in.
        let netns = if config.namespaces.host_network() {
            None
        } else {
            Some(self.create_netns(&id, config).await?)
        };
        self.sandboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                id.clone(),
                Sandbox {
                    config: config.clone(),
                    state: PodSandboxState::Ready,
                    created_at: Timestamp::now(),
                    netns,
                },
            );
        self.save_sandbox(&id)?;
        Ok(id)
    }

    async fn stop_pod_sandbox(&self, sandbox_id: &str) -> Result<()> {
        self.pod_sandbox_status(sandbox_id).await?;
        for id in self.sandbox_ids_containers(sandbox_id) {
            self.stop_container(&id, Duration::ZERO).await?;
        }
        if let Some(s) = self
            .sandboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(sandbox_id)
        {
            s.state = PodSandboxState::NotReady;
        }
        self.save_sandbox(sandbox_id)
    }

    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<()> {
        if self.pod_sandbox_status(sandbox_id).await.is_err() {
            return Ok(());
        }
        for id in self.sandbox_ids_containers(sandbox_id) {
            self.remove_container(&id).await?;
        }
        let sandbox = self
            .sandboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(sandbox_id);
        if let Some(s) = sandbox {
            // A sandbox on the node's network has no namespace and no veth.
            if let Some(netns) = &s.netns {
                if let (Some(_), Some(std::net::IpAddr::V4(ip))) =
                    (&self.config.network, s.config.pod_ip)
                {
                    // The pair would go with the namespace once it is freed;
                    // deleting it now frees the address on the bridge at once.
                    let ns = netns.clone();
                    let _ = blocking(move || {
                        network::detach(&ns, ip);
                        Ok(())
                    })
                    .await;
                }
                let _ = umount2(netns, MntFlags::MNT_DETACH);
                let _ = std::fs::remove_file(netns);
            }
            let _ = std::fs::remove_file(self.sandbox_file(sandbox_id));
        }
        Ok(())
    }

    async fn pod_sandbox_status(&self, sandbox_id: &str) -> Result<PodSandboxStatus> {
        let map = self.sandboxes.lock().unwrap_or_else(|p| p.into_inner());
        let s = map.get(sandbox_id).ok_or_else(|| RuntimeError::NotFound {
            kind: "pod sandbox",
            id: sandbox_id.to_owned(),
        })?;
        Ok(PodSandboxStatus {
            id: sandbox_id.to_owned(),
            config: s.config.clone(),
            state: s.state,
            created_at: s.created_at,
        })
    }

    async fn list_pod_sandboxes(&self) -> Result<Vec<PodSandboxStatus>> {
        // Includes those an earlier runtime process left (loaded in `new`):
        // their network namespaces and containers' shims outlive it.
        let map = self.sandboxes.lock().unwrap_or_else(|p| p.into_inner());
        Ok(map
            .iter()
            .map(|(id, s)| PodSandboxStatus {
                id: id.clone(),
                config: s.config.clone(),
                state: s.state,
                created_at: s.created_at,
            })
            .collect())
    }

    async fn create_container(&self, sandbox_id: &str, config: &ContainerConfig) -> Result<String> {
        let (hostname, netns, log_dir, pod_ip, namespaces) = {
            let map = self.sandboxes.lock().unwrap_or_else(|p| p.into_inner());
            let s = map.get(sandbox_id).ok_or_else(|| RuntimeError::NotFound {
                kind: "pod sandbox",
                id: sandbox_id.to_owned(),
            })?;
            if s.state != PodSandboxState::Ready {
                return Err(RuntimeError::InvalidState {
                    kind: "pod sandbox",
                    id: sandbox_id.to_owned(),
                    action: "create a container in",
                    state: "not ready".to_owned(),
                });
            }
            (
                s.config.name.clone(),
                s.netns.clone(),
                s.config.log_directory.clone(),
                s.config.pod_ip,
                s.config.namespaces,
            )
        };
        // A container on the node's network has the node's name (as with
        // containerd), in /etc/hostname too.
        let hostname = if namespaces.host_network() {
            nix::unistd::gethostname()
                .map_err(|e| RuntimeError::Internal {
                    message: format!("reading the node's hostname: {e}"),
                })?
                .to_string_lossy()
                .into_owned()
        } else {
            hostname
        };
        let store = Arc::clone(&self.images.store);
        let record = store
            .resolve(&config.image.image)
            .ok_or_else(|| RuntimeError::NotFound {
                kind: "image",
                id: config.image.image.clone(),
            })?;
        let id = random_id();
        let dir = self.config.root.join("containers").join(&id);
        let log_path = log_dir.join(&config.log_path);
        let params = BundleParams {
            hostname,
            netns,
            namespaces,
            cgroups_path: cgroup_path(&id),
            pids_limit: self.config.pids_limit,
            pod_ip,
            etc_dir: Some(dir.join("etc")),
        };
        let (c, d, lp) = (config.clone(), dir.clone(), log_path.clone());
        let (log_max_bytes, log_max_files) = (self.config.log_max_bytes, self.config.log_max_files);
        let holder = id.clone();
        let created = blocking(move || {
            // Held before the overlay is mounted: removing the image now
            // leaves this container's layers in place.
            store
                .lease(&holder, &record)
                .map_err(|e| e.into_runtime(&c.image.image))?;
            let image_cfg = store
                .config(&record.id)
                .map_err(|e| e.into_runtime(&c.image.image))?;
            let spec = build_spec(&image_cfg, &c, &params)?;
            crate::bundle::write_etc_files(&params)?;
            let create_err = |e: BundleError| RuntimeError::CreateContainer {
                name: c.name.clone(),
                source: Box::new(e),
            };
            let bundle = d.join("bundle");
            std::fs::create_dir_all(&bundle).map_err(io_err(&bundle))?;
            let layers = record
                .layers
                .iter()
                .map(|l| store.layer_dir(l))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| e.into_runtime(&c.image.image))?;
            mount_overlay(&layers, &d, &bundle.join("rootfs")).map_err(create_err)?;
            spec.save(bundle.join("config.json"))
                .map_err(|e| create_err(BundleError::Spec(e)))?;
            let shim = serde_json::to_vec(&ShimConfig {
                bundle,
                log_path: lp,
                stdin: c.stdin,
                stdin_once: c.stdin_once,
                tty: c.tty,
                log_max_bytes: Some(log_max_bytes),
                log_max_files: Some(log_max_files),
            })
            .map_err(|e| RuntimeError::Internal {
                message: e.to_string(),
            })?;
            let p = d.join(SHIM_CONFIG);
            std::fs::write(&p, shim).map_err(io_err(&p))
        })
        .await;
        if let Err(e) = created {
            let (store, holder) = (Arc::clone(&self.images.store), id.clone());
            let _ = blocking(move || {
                let _ = store.release(&holder);
                Ok(())
            })
            .await;
            return Err(e);
        }
        let (exited, _) = watch::channel(false);
        let container = Arc::new(Container {
            id: id.clone(),
            sandbox_id: sandbox_id.to_owned(),
            config: config.clone(),
            image_ref: record_id_or(&self.images.store, &config.image.image),
            created_at: Timestamp::now(),
            dir,
            log_path,
            record: Mutex::new(Record {
                state: ContainerState::Created,
                started_at: None,
                finished_at: None,
                exit: None,
                message: None,
                pid: None,
            }),
            exited,
            adopted: false,
        });
        let meta = container.meta();
        let file = container.dir.join(CONTAINER_FILE);
        blocking(move || state::save(&file, &meta)).await?;
        self.containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), container);
        Ok(id)
    }

    async fn start_container(&self, container_id: &str) -> Result<()> {
        let c = self.container(container_id)?;
        {
            let mut r = c.record.lock().unwrap_or_else(|p| p.into_inner());
            r.state = r.state.start(container_id)?;
            r.started_at = Some(Timestamp::now());
        }
        state::save(&c.dir.join(CONTAINER_FILE), &c.meta())?;
        let shim_log = c.dir.join("shim.log");
        let stderr = std::fs::File::create(&shim_log).map_err(io_err(&shim_log))?;
        // Its own process group: a Ctrl-C meant for the runtime does not reach it.
        let mut child = tokio::process::Command::new(&self.config.shim)
            .arg("run")
            .arg(&c.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .map_err(io_err(&self.config.shim))?;
        let mut first = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = tokio::io::BufReader::new(out).read_line(&mut first).await;
        }
        match first.trim().parse::<i32>() {
            Ok(pid) => c.record.lock().unwrap_or_else(|p| p.into_inner()).pid = Some(pid),
            Err(_) => {
                let _ = child.wait().await;
                let msg = std::fs::read_to_string(&shim_log).unwrap_or_default();
                let msg = msg.trim().to_owned();
                c.mark_exited(None, Some(msg.clone()));
                return Err(RuntimeError::CreateContainer {
                    name: c.config.name.clone(),
                    source: msg.into(),
                });
            }
        }
        let waiter = Arc::clone(&c);
        tokio::spawn(async move {
            let _ = child.wait().await;
            let exit_file = waiter.dir.join(EXIT_FILE);
            let exit = tokio::fs::read(&exit_file)
                .await
                .ok()
                .and_then(|b| serde_json::from_slice::<ExitStatus>(&b).ok());
            let message = match &exit {
                Some(_) => None,
                None => {
                    Some(std::fs::read_to_string(waiter.dir.join("shim.log")).unwrap_or_default())
                }
            };
            waiter.mark_exited(exit, message);
        });
        Ok(())
    }

    async fn stop_container(&self, container_id: &str, grace: Duration) -> Result<()> {
        let c = self.container(container_id)?;
        let (state, pid) = {
            let r = c.record.lock().unwrap_or_else(|p| p.into_inner());
            (r.state, r.pid)
        };
        if !state.can_stop() {
            if state == ContainerState::Created {
                c.mark_exited(None, Some("stopped before it started".to_owned()));
            }
            return Ok(());
        }
        if let Some(pid) = pid {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            let done = tokio::time::timeout(grace, c.until_exited()).await;
            if done.is_err() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        c.until_exited().await;
        Ok(())
    }

    async fn remove_container(&self, container_id: &str) -> Result<()> {
        let Ok(c) = self.container(container_id) else {
            return Ok(());
        };
        self.stop_container(container_id, Duration::ZERO).await?;
        let _ = umount2(&c.rootfs(), MntFlags::MNT_DETACH);
        let dir = c.dir.clone();
        let (store, holder) = (Arc::clone(&self.images.store), c.id.clone());
        blocking(move || {
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(RuntimeError::io(dir, e));
                }
                _ => {}
            }
            // Its rootfs is unmounted: layers of images removed meanwhile go.
            store
                .release(&holder)
                .map(|_| ())
                .map_err(|e| e.into_runtime("(store)"))
        })
        .await?;
        self.containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(container_id);
        Ok(())
    }

    async fn container_status(&self, container_id: &str) -> Result<ContainerStatus> {
        let c = self.container(container_id)?;
        c.refresh();
        Ok(c.status())
    }

    async fn list_containers(&self, filter: &ContainerFilter) -> Result<Vec<ContainerStatus>> {
        let map = self.containers.lock().unwrap_or_else(|p| p.into_inner());
        Ok(map
            .values()
            .map(|c| {
                c.refresh();
                c.status()
            })
            .filter(|s| {
                filter
                    .sandbox_id
                    .as_ref()
                    .is_none_or(|id| *id == s.sandbox_id)
            })
            .filter(|s| filter.state.is_none_or(|st| st == s.state))
            .collect())
    }

    async fn wait_container(&self, container_id: &str) -> Result<ContainerStatus> {
        let c = self.container(container_id)?;
        if c.status().state == ContainerState::Created {
            return Err(RuntimeError::InvalidState {
                kind: "container",
                id: container_id.to_owned(),
                action: "wait for",
                state: "created".to_owned(),
            });
        }
        c.until_exited().await;
        Ok(c.status())
    }
}

#[async_trait]
impl ExecService for NativeRuntime {
    async fn exec_sync(
        &self,
        container_id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecResult> {
        let c = self.running(container_id, "exec in")?;
        if cmd.is_empty() {
            return Err(RuntimeError::invalid("exec command", "is empty"));
        }
        // Dropping the future on timeout kills the exec shim.
        let run = tokio::process::Command::new(&self.config.shim)
            .arg("exec")
            .arg(&c.dir)
            .arg("--")
            .args(cmd)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| RuntimeError::Internal {
                message: format!("exec in {container_id} timed out after {timeout:?}"),
            })?
            .map_err(io_err(&self.config.shim))?;
        let code = out.status.code().unwrap_or(EXEC_FAILED);
        if code == EXEC_FAILED {
            return Err(RuntimeError::Internal {
                message: format!(
                    "exec in {container_id}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        Ok(ExecResult {
            stdout: out.stdout,
            stderr: out.stderr,
            exit_code: code,
        })
    }

    fn exec_command(&self, container_id: &str, cmd: &[String]) -> Result<std::process::Command> {
        let c = self.running(container_id, "exec in")?;
        if cmd.is_empty() {
            return Err(RuntimeError::invalid("exec command", "is empty"));
        }
        let mut command = std::process::Command::new(&self.config.shim);
        command.arg("exec").arg(&c.dir).arg("--").args(cmd);
        Ok(command)
    }

    fn attach(&self, container_id: &str) -> Result<skiff_runtime::attach::AttachEndpoint> {
        let c = self.running(container_id, "attach to")?;
        Ok(skiff_runtime::attach::AttachEndpoint {
            socket: c.dir.join(crate::attach::SOCKET),
            stdin: c.config.stdin,
            tty: c.config.tty,
        })
    }
}

#[async_trait]
impl StatsService for NativeRuntime {
    async fn container_stats(&self, container_id: &str) -> Result<ContainerStats> {
        let c = self.container(container_id)?;
        c.refresh();
        let state = c.status().state;
        if state != ContainerState::Running {
            return Err(RuntimeError::InvalidState {
                kind: "container",
                id: container_id.to_owned(),
                action: "read stats of",
                state: state.to_string(),
            });
        }
        let path = cgroup_path(container_id);
        blocking(move || Ok(stats::read(&path))).await
    }
}

/// The container's cgroup, relative to each hierarchy's root.
fn cgroup_path(container_id: &str) -> String {
    format!("skiff/{container_id}")
}

fn record_id_or(store: &ImageStore, reference: &str) -> String {
    store
        .resolve(reference)
        .map_or_else(|| reference.to_owned(), |r| r.id)
}
