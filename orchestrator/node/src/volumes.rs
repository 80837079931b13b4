//! Pod volumes, laid out as the kubelet lays them out: each volume is a
//! directory `pods/<uid>/volumes/<plugin>/<name>` under the agent's data
//! directory, handed to the runtime as a mount ([`skiff_runtime::Mount`]) —
//! a bind mount for native containers, a preopened directory for Wasm.
//!
//! - `emptyDir`: an empty directory; `medium: Memory` mounts a tmpfs there
//!   (`sizeLimit` its size).
//! - `hostPath`: the host path itself, after the `type` check.
//! - `configMap`, `secret`, `downwardAPI`, `projected` (configMap, secret
//!   and downwardAPI sources; `serviceAccountToken` and `clusterTrustBundle`
//!   sources are left out): files written by [`write_atomic`] as the
//!   kubelet's AtomicWriter does, always mounted read-only, and rewritten
//!   when the ConfigMap, Secret or pod metadata changes ([`PodVolumes::start_refresh`]).
//!
//! - `persistentVolumeClaim`: the claim's bound PersistentVolume, when it is
//!   a `hostPath` or `local` volume. A volume of Skiff's local-path
//!   provisioner (annotation `pv.kubernetes.io/provisioned-by:
//!   skiff.dev/local-path`) lives under this agent's data dir,
//!   `storage/<last component of its path>`, created here on first use
//!   (mode 0777, as k3s creates them, so non-root containers can write).
//!   An unbound claim fails setup with the kubelet's message; the pod
//!   stays `ContainerCreating` and setup is retried.
//!
//! The network volumes are not handled here.
//!
//! With `securityContext.fsGroup`, every volume but a hostPath (or a claim
//! on a non-local hostPath PV, or a read-only claim) is made group-owned by
//! it before the containers start ([`FsGroup`], the kubelet's
//! `SetVolumeOwnership`), ConfigMap-style volumes again on every update;
//! both runtimes get the same host directories, so both see the result.

mod atomic;
mod ownership;
mod refresh;

pub use atomic::{FileProjection, Payload, write_atomic, write_atomic_with};
pub use ownership::{ChangePolicy, FsGroup};

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, DownwardAPIVolumeFile, KeyToPath, Pod, Volume};
use kube::Client;
use skiff_runtime::Mount;
use tokio::sync::watch;

use crate::env::{self, Allocatable, EnvError, Lookup, Objects, PodInfo};

/// The kubelet's default file mode for ConfigMap, Secret, downward API and
/// projected volumes (0644).
const DEFAULT_MODE: u32 = 0o644;
/// Why a volume could not be set up or mounted.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// Reading a ConfigMap, Secret or downward API value failed.
    #[error(transparent)]
    Source(#[from] EnvError),
    /// An `items` key missing from a ConfigMap.
    #[error("configmap references non-existent config key: {0}")]
    ConfigMapKey(String),
    /// An `items` key missing from a Secret.
    #[error("references non-existent secret key: {0}")]
    SecretKey(String),
    /// A `hostPath` is not of its declared `type`.
    #[error("hostPath type check failed: {path} {what}")]
    HostPathType {
        /// The host path.
        path: String,
        /// What is wrong with it.
        what: String,
    },
    /// A file path in a volume (an item `path`, a `subPath`) is not a
    /// relative path inside the volume.
    #[error("invalid path {path:?}: {why}")]
    BadPath {
        /// The path.
        path: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A `persistentVolumeClaim` whose claim or volume cannot be used
    /// (yet): missing, unbound, or of a kind this agent cannot mount.
    #[error("error processing PVC {claim}: {why}")]
    Claim {
        /// `namespace/name` of the claim.
        claim: String,
        /// What is wrong, in the kubelet's words.
        why: String,
    },
    /// A volume kind Skiff does not handle.
    #[error("volume {0:?}: this volume type is not supported by the Skiff node agent")]
    Unsupported(String),
    /// A volumeMount names a volume the pod does not declare.
    #[error("volume {0:?} is not declared in the pod")]
    NoVolume(String),
    /// A file system operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The error (printed in the message).
        source: std::io::Error,
    },
    /// Mounting or unmounting a tmpfs failed.
    #[error("{what} {}: {source}", path.display())]
    Mount {
        /// What was being done.
        what: &'static str,
        /// The mount point.
        path: PathBuf,
        /// The error (printed in the message).
        source: nix::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> VolumeError + 'a {
    move |source| VolumeError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// Files from a ConfigMap's or Secret's keys (the kubelet's `MakePayload`):
/// every key under its own name, or only `items` at their paths.
fn key_payload(
    data: &[&env::Data],
    items: Option<&[KeyToPath]>,
    mode: u32,
    optional: bool,
    missing: impl Fn(String) -> VolumeError,
) -> Result<Payload, VolumeError> {
    let mut out = Payload::new();
    match items.filter(|i| !i.is_empty()) {
        None => {
            for d in data {
                for (k, v) in d.iter() {
                    out.insert(
                        k.clone(),
                        FileProjection {
                            data: v.clone(),
                            mode,
                        },
                    );
                }
            }
        }
        Some(items) => {
            for it in items {
                let Some(v) = data.iter().find_map(|d| d.get(&it.key)) else {
                    if optional {
                        continue;
                    }
                    return Err(missing(it.key.clone()));
                };
                let mode = it.mode.map_or(mode, |m| u32::try_from(m).unwrap_or(mode));
                out.insert(
                    it.path.clone(),
                    FileProjection {
                        data: v.clone(),
                        mode,
                    },
                );
            }
        }
    }
    Ok(out)
}

fn mode_or(m: Option<i32>, default: u32) -> u32 {
    m.and_then(|m| u32::try_from(m).ok()).unwrap_or(default)
}

fn downward_payload(
    info: &PodInfo<'_>,
    items: &[DownwardAPIVolumeFile],
    mode: u32,
) -> Result<Payload, VolumeError> {
    let mut out = Payload::new();
    for it in items {
        let value = if let Some(f) = &it.field_ref {
            info.field(&f.field_path)?
        } else if let Some(r) = &it.resource_field_ref {
            info.resource(r, r.container_name.as_deref().unwrap_or_default())?
        } else {
            continue;
        };
        out.insert(
            it.path.clone(),
            FileProjection {
                data: value.into_bytes(),
                mode: mode_or(it.mode, mode),
            },
        );
    }
    Ok(out)
}

async fn config_map_payload<O: Objects>(
    lookup: &mut Lookup<'_, O>,
    name: &str,
    items: Option<&[KeyToPath]>,
    mode: u32,
    optional: bool,
) -> Result<Payload, VolumeError> {
    match lookup.config_map(name).await? {
        Some((data, binary)) => key_payload(&[data, binary], items, mode, optional, |k| {
            VolumeError::ConfigMapKey(k)
        }),
        None if optional => Ok(Payload::new()),
        None => Err(EnvError::ConfigMapNotFound {
            name: name.to_owned(),
        }
        .into()),
    }
}

async fn secret_payload<O: Objects>(
    lookup: &mut Lookup<'_, O>,
    name: &str,
    items: Option<&[KeyToPath]>,
    mode: u32,
    optional: bool,
) -> Result<Payload, VolumeError> {
    match lookup.secret(name).await? {
        Some(data) => key_payload(&[data], items, mode, optional, VolumeError::SecretKey),
        None if optional => Ok(Payload::new()),
        None => Err(EnvError::SecretNotFound {
            name: name.to_owned(),
        }
        .into()),
    }
}

/// The files of a ConfigMap, Secret, downward API or projected volume;
/// `None` for other kinds.
pub async fn payload<O: Objects>(
    v: &Volume,
    info: &PodInfo<'_>,
    lookup: &mut Lookup<'_, O>,
) -> Result<Option<Payload>, VolumeError> {
    if let Some(cm) = &v.config_map {
        let mode = mode_or(cm.default_mode, DEFAULT_MODE);
        let p = config_map_payload(
            lookup,
            &cm.name,
            cm.items.as_deref(),
            mode,
            cm.optional.unwrap_or(false),
        )
        .await?;
        return Ok(Some(p));
    }
    if let Some(s) = &v.secret {
        let mode = mode_or(s.default_mode, DEFAULT_MODE);
        let name = s.secret_name.clone().unwrap_or_default();
        let p = secret_payload(
            lookup,
            &name,
            s.items.as_deref(),
            mode,
            s.optional.unwrap_or(false),
        )
        .await?;
        return Ok(Some(p));
    }
    if let Some(d) = &v.downward_api {
        let mode = mode_or(d.default_mode, DEFAULT_MODE);
        return downward_payload(info, d.items.as_deref().unwrap_or_default(), mode).map(Some);
    }
    if let Some(p) = &v.projected {
        let mode = mode_or(p.default_mode, DEFAULT_MODE);
        let mut out = Payload::new();
        for src in p.sources.iter().flatten() {
            let part = if let Some(cm) = &src.config_map {
                config_map_payload(
                    lookup,
                    &cm.name,
                    cm.items.as_deref(),
                    mode,
                    cm.optional.unwrap_or(false),
                )
                .await?
            } else if let Some(s) = &src.secret {
                secret_payload(
                    lookup,
                    &s.name,
                    s.items.as_deref(),
                    mode,
                    s.optional.unwrap_or(false),
                )
                .await?
            } else if let Some(d) = &src.downward_api {
                downward_payload(info, d.items.as_deref().unwrap_or_default(), mode)?
            } else {
                // serviceAccountToken and clusterTrustBundle: not yet.
                continue;
            };
            out.extend(part);
        }
        return Ok(Some(out));
    }
    Ok(None)
}

/// The kubelet's plugin directory name for a volume.
fn plugin(v: &Volume) -> Option<&'static str> {
    Some(if v.empty_dir.is_some() {
        "kubernetes.io~empty-dir"
    } else if v.config_map.is_some() {
        "kubernetes.io~configmap"
    } else if v.secret.is_some() {
        "kubernetes.io~secret"
    } else if v.downward_api.is_some() {
        "kubernetes.io~downward-api"
    } else if v.projected.is_some() {
        "kubernetes.io~projected"
    } else {
        return None;
    })
}

/// Whether the volume's content comes from the pod's metadata.
fn uses_downward_api(v: &Volume) -> bool {
    v.downward_api.is_some()
        || v.projected
            .iter()
            .flat_map(|p| p.sources.iter().flatten())
            .any(|s| s.downward_api.is_some())
}

/// Checks (and for `…OrCreate`, creates) a hostPath per its `type`.
pub fn check_host_path(path: &Path, typ: &str) -> Result<(), VolumeError> {
    let fail = |what: &str| {
        Err(VolumeError::HostPathType {
            path: path.display().to_string(),
            what: what.to_owned(),
        })
    };
    let md = std::fs::metadata(path);
    match (typ, md) {
        ("", _) => Ok(()),
        ("DirectoryOrCreate", Err(_)) => {
            std::fs::create_dir_all(path).map_err(io("creating", path))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
                .map_err(io("setting the mode of", path))
        }
        ("FileOrCreate", Err(_)) => {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(io("creating", path))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
                .map_err(io("setting the mode of", path))
        }
        (_, Err(_)) => fail("does not exist"),
        ("Directory" | "DirectoryOrCreate", Ok(m)) if !m.is_dir() => fail("is not a directory"),
        ("File" | "FileOrCreate", Ok(m)) if !m.is_file() => fail("is not a file"),
        ("Socket", Ok(m)) if !m.file_type().is_socket() => fail("is not a socket file"),
        ("CharDevice", Ok(m)) if !m.file_type().is_char_device() => {
            fail("is not a character device")
        }
        ("BlockDevice", Ok(m)) if !m.file_type().is_block_device() => fail("is not a block device"),
        (
            "Directory" | "DirectoryOrCreate" | "File" | "FileOrCreate" | "Socket" | "CharDevice"
            | "BlockDevice",
            Ok(_),
        ) => Ok(()),
        (other, _) => fail(&format!("has unknown type {other:?}")),
    }
}

/// A volume ready to mount.
#[derive(Debug, Clone)]
struct Prepared {
    /// The host directory (or file, for a hostPath).
    path: PathBuf,
    /// Always mounted read-only (ConfigMap, Secret, downward API, projected).
    readonly: bool,
}

/// What the refresher needs to know about this node and pod besides the pod.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    /// The node's name.
    pub node_name: String,
    /// The node's address.
    pub host_ip: IpAddr,
    /// The pod's address.
    pub pod_ip: Option<IpAddr>,
    /// Defaults for missing limits.
    pub allocatable: Allocatable,
}

impl NodeFacts {
    /// The downward API view of `pod` on this node.
    pub fn info<'a>(&'a self, pod: &'a Pod) -> PodInfo<'a> {
        PodInfo {
            pod,
            node_name: &self.node_name,
            host_ip: self.host_ip,
            pod_ip: self.pod_ip,
            allocatable: self.allocatable,
        }
    }
}

/// One pod's volumes on this node.
pub struct PodVolumes {
    /// `pods/<uid>` under the agent's data directory.
    root: PathBuf,
    prepared: Option<BTreeMap<String, Prepared>>,
    tmpfs: Vec<PathBuf>,
    refresher: Option<(watch::Sender<Arc<Pod>>, tokio::task::JoinHandle<()>)>,
}

impl PodVolumes {
    /// The volumes of pod `uid`, kept under `data_dir/pods/<uid>/volumes`.
    pub fn new(data_dir: &Path, uid: &str) -> Self {
        PodVolumes {
            root: data_dir.join("pods").join(uid),
            prepared: None,
            tmpfs: Vec::new(),
            refresher: None,
        }
    }

    fn dir(&self, v: &Volume) -> Option<PathBuf> {
        Some(self.root.join("volumes").join(plugin(v)?).join(&v.name))
    }

    /// Whether [`PodVolumes::setup`] has succeeded.
    pub fn is_ready(&self) -> bool {
        self.prepared.is_some()
    }

    /// Creates and fills every volume of the pod (once; later calls do
    /// nothing). An error names the volume as the kubelet's `FailedMount`
    /// event does, and the next call tries again.
    pub async fn setup<O: Objects>(
        &mut self,
        info: &PodInfo<'_>,
        lookup: &mut Lookup<'_, O>,
    ) -> Result<(), String> {
        if self.prepared.is_some() {
            return Ok(());
        }
        let volumes = info
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.clone())
            .unwrap_or_default();
        let owner = FsGroup::of_pod(info.pod);
        let mut prepared = BTreeMap::new();
        for v in &volumes {
            let p = self
                .prepare(v, info, lookup, owner)
                .await
                .map_err(|e| format!("MountVolume.SetUp failed for volume \"{}\" : {e}", v.name))?;
            prepared.insert(v.name.clone(), p);
        }
        self.prepared = Some(prepared);
        Ok(())
    }

    async fn prepare<O: Objects>(
        &mut self,
        v: &Volume,
        info: &PodInfo<'_>,
        lookup: &mut Lookup<'_, O>,
        owner: Option<FsGroup>,
    ) -> Result<Prepared, VolumeError> {
        if let Some(h) = &v.host_path {
            let path = PathBuf::from(&h.path);
            let typ = h.type_.clone().unwrap_or_default();
            let check = path.clone();
            blocking(move || check_host_path(&check, &typ)).await?;
            return Ok(Prepared {
                path,
                readonly: false,
            });
        }
        if let Some(c) = &v.persistent_volume_claim {
            let (path, local) = self.claim_path(&c.claim_name, lookup).await?;
            let readonly = c.read_only.unwrap_or(false);
            // As the kubelet's local volume plugin: a read-only claim is
            // not touched; a hostPath PV belongs to the node.
            if local && !readonly {
                set_ownership(owner, &path, false).await?;
            }
            return Ok(Prepared { path, readonly });
        }
        let Some(dir) = self.dir(v) else {
            return Err(VolumeError::Unsupported(v.name.clone()));
        };
        if let Some(e) = &v.empty_dir {
            let memory = e.medium.as_deref() == Some("Memory");
            let size = e
                .size_limit
                .as_ref()
                .and_then(|q| skiff_api::quantity::Quantity::try_from(q).ok())
                .map(|q| q.as_units())
                .filter(|n| *n > 0);
            let d = dir.clone();
            let mounted = blocking(move || make_empty_dir(&d, memory, size)).await?;
            if mounted {
                self.tmpfs.push(dir.clone());
            }
            set_ownership(owner, &dir, false).await?;
            return Ok(Prepared {
                path: dir,
                readonly: false,
            });
        }
        let Some(payload) = payload(v, info, lookup).await? else {
            return Err(VolumeError::Unsupported(v.name.clone()));
        };
        let d = dir.clone();
        blocking(move || write_payload(&d, payload, owner)).await?;
        Ok(Prepared {
            path: dir,
            readonly: true,
        })
    }

    /// The host directory of claim `name`'s bound volume on this node,
    /// created if it is a local-path volume, and whether it is a local
    /// volume (local-path or `local`), whose ownership the agent manages,
    /// rather than a plain hostPath.
    async fn claim_path<O: Objects>(
        &self,
        name: &str,
        lookup: &Lookup<'_, O>,
    ) -> Result<(PathBuf, bool), VolumeError> {
        let claim = format!("{}/{name}", lookup.namespace());
        let fail = |why: String| VolumeError::Claim {
            claim: claim.clone(),
            why,
        };
        let pvc = lookup
            .objects()
            .persistent_volume_claim(lookup.namespace(), name)
            .await
            .map_err(|e| fail(format!("failed to fetch PVC from API server: {e}")))?
            .ok_or_else(|| {
                fail(format!(
                    "failed to fetch PVC from API server: persistentvolumeclaims \"{name}\" not found"
                ))
            })?;
        let bound = pvc.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
        let pv_name = pvc
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.clone())
            .filter(|n| !n.is_empty());
        let (true, Some(pv_name)) = (bound, pv_name) else {
            return Err(fail("PVC is not bound".into()));
        };
        let pv = lookup
            .objects()
            .persistent_volume(&pv_name)
            .await
            .map_err(|e| fail(format!("failed to fetch PV {pv_name} from API server: {e}")))?
            .ok_or_else(|| {
                fail(format!(
                    "failed to fetch PV {pv_name} from API server: persistentvolumes \"{pv_name}\" not found"
                ))
            })?;
        let local_path = pv
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("pv.kubernetes.io/provisioned-by"))
            .is_some_and(|p| p == "skiff.dev/local-path");
        let spec = pv.spec.unwrap_or_default();
        if let Some(h) = spec.host_path {
            let path = PathBuf::from(&h.path);
            if local_path {
                // `root` is `<data dir>/pods/<uid>`.
                let data_dir = self.root.parent().and_then(Path::parent);
                let (Some(data_dir), Some(leaf)) = (data_dir, path.file_name()) else {
                    return Err(fail(format!(
                        "local-path volume {pv_name} has no usable path"
                    )));
                };
                let dir = data_dir.join("storage").join(leaf);
                let d = dir.clone();
                blocking(move || make_claim_dir(&d)).await?;
                return Ok((dir, true));
            }
            let typ = h.type_.unwrap_or_default();
            let check = path.clone();
            blocking(move || check_host_path(&check, &typ)).await?;
            return Ok((path, false));
        }
        if let Some(l) = spec.local {
            let path = PathBuf::from(&l.path);
            let check = path.clone();
            blocking(move || check_host_path(&check, "Directory")).await?;
            return Ok((path, true));
        }
        Err(fail(format!(
            "volume {pv_name} is neither hostPath nor local, which this node agent cannot mount"
        )))
    }

    /// The mounts of container `c` (whose environment is `env`, for
    /// `subPathExpr`). A `subPath` is resolved now, so — as in Kubernetes —
    /// it does not follow later updates of its volume.
    pub fn mounts(
        &self,
        c: &Container,
        env: &[(String, String)],
    ) -> Result<Vec<Mount>, VolumeError> {
        let mut out = Vec::new();
        let empty = BTreeMap::new();
        let prepared = self.prepared.as_ref().unwrap_or(&empty);
        for m in c.volume_mounts.iter().flatten() {
            let p = prepared
                .get(&m.name)
                .ok_or_else(|| VolumeError::NoVolume(m.name.clone()))?;
            let sub = match (&m.sub_path, &m.sub_path_expr) {
                (Some(s), _) if !s.is_empty() => s.clone(),
                (_, Some(e)) if !e.is_empty() => env::expand(e, |name| {
                    env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
                }),
                _ => String::new(),
            };
            let host = if sub.is_empty() {
                p.path.clone()
            } else {
                sub_path(&p.path, &sub)?
            };
            out.push(Mount {
                container_path: m.mount_path.clone(),
                host_path: host,
                readonly: p.readonly || m.read_only.unwrap_or(false),
            });
        }
        Ok(out)
    }

    /// Starts keeping the pod's ConfigMap, Secret, downward API and
    /// projected volumes up to date: a watch on each referenced ConfigMap
    /// and Secret (at most `refresh::MAX_WATCHES`), pod metadata changes passed to
    /// [`PodVolumes::pod_changed`], and a resync every minute for the rest.
    /// Stopped by [`PodVolumes::teardown`] (or when this is dropped).
    pub fn start_refresh(&mut self, client: Client, pod: Arc<Pod>, facts: NodeFacts) {
        if self.refresher.is_some() {
            return;
        }
        let Some(prepared) = self.prepared.clone() else {
            return;
        };
        let volumes: Vec<(Volume, PathBuf)> = pod
            .spec
            .iter()
            .flat_map(|s| s.volumes.iter().flatten())
            .filter(|v| {
                v.config_map.is_some()
                    || v.secret.is_some()
                    || v.downward_api.is_some()
                    || v.projected.is_some()
            })
            .filter_map(|v| Some((v.clone(), prepared.get(&v.name)?.path.clone())))
            .collect();
        if volumes.is_empty() {
            return;
        }
        let (tx, rx) = watch::channel(pod);
        let task = tokio::spawn(refresh::refresh_loop(client, volumes, rx, facts));
        self.refresher = Some((tx, task));
    }

    /// Hands a newer version of the pod to the refresher (labels and
    /// annotations feed downward API files).
    pub fn pod_changed(&self, pod: &Arc<Pod>) {
        if let Some((tx, _)) = &self.refresher {
            tx.send_if_modified(|old| {
                let changed = old.metadata.labels != pod.metadata.labels
                    || old.metadata.annotations != pod.metadata.annotations;
                if changed {
                    *old = pod.clone();
                }
                changed
            });
        }
    }

    /// Stops the refresher, unmounts tmpfs volumes and removes the pod's
    /// volume directories.
    pub async fn teardown(&mut self) {
        if let Some((_, task)) = self.refresher.take() {
            task.abort();
            let _ = task.await;
        }
        self.prepared = None;
        let tmpfs = std::mem::take(&mut self.tmpfs);
        let root = self.root.clone();
        let res = tokio::task::spawn_blocking(move || {
            for t in &tmpfs {
                if let Err(e) = nix::mount::umount2(t, nix::mount::MntFlags::MNT_DETACH) {
                    tracing::warn!(path = %t.display(), error = %e, "unmounting a tmpfs volume");
                }
            }
            let volumes = root.join("volumes");
            if volumes.exists()
                && let Err(e) = std::fs::remove_dir_all(&volumes)
            {
                tracing::warn!(path = %volumes.display(), error = %e, "removing pod volumes");
            }
            // The pod directory may hold other things (another engineer's
            // state); remove it only if that leaves it empty.
            let _ = std::fs::remove_dir(&root);
        })
        .await;
        if let Err(e) = res {
            tracing::warn!(error = %e, "removing pod volumes");
        }
    }
}

impl Drop for PodVolumes {
    fn drop(&mut self) {
        if let Some((_, task)) = &self.refresher {
            task.abort();
        }
    }
}

/// Runs blocking file work off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, VolumeError> + Send + 'static,
) -> Result<T, VolumeError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(VolumeError::Io {
            what: "running",
            path: PathBuf::new(),
            source: std::io::Error::other(e.to_string()),
        })
    })
}

/// Gives the volume at `dir` to the pod's fsGroup, if it has one, by its
/// `fsGroupChangePolicy`.
async fn set_ownership(
    owner: Option<FsGroup>,
    dir: &Path,
    readonly: bool,
) -> Result<(), VolumeError> {
    let Some(owner) = owner else {
        return Ok(());
    };
    let d = dir.to_owned();
    if blocking(move || owner.apply(&d, readonly)).await? {
        tracing::debug!(path = %dir.display(), gid = owner.gid, "volume ownership set for fsGroup");
    }
    Ok(())
}

/// Writes a ConfigMap, Secret, downward API or projected volume with
/// [`write_atomic`]; with an fsGroup, the files get the walk's modes and
/// the whole volume is walked before the new files show — every time,
/// whatever `fsGroupChangePolicy` says, as the kubelet does for these
/// small, rewritten-whole volumes. Returns whether anything changed.
fn write_payload(
    dir: &Path,
    mut payload: Payload,
    owner: Option<FsGroup>,
) -> Result<bool, VolumeError> {
    let Some(owner) = owner else {
        return write_atomic(dir, &payload);
    };
    for f in payload.values_mut() {
        f.mode = FsGroup::file_mode(f.mode, true);
    }
    let always = FsGroup {
        policy: ChangePolicy::Always,
        ..owner
    };
    write_atomic_with(dir, &payload, |d| always.apply(d, true).map(|_| ()))
}

/// Whether `path` is a mount point (listed in /proc/self/mountinfo).
fn is_mount_point(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| mp == want)
}

/// Creates an emptyDir (mode 0777, as the kubelet) and, for `medium:
/// Memory`, mounts a tmpfs on it; returns whether it mounted one.
/// Creates a local-path volume's directory, world-writable as k3s makes
/// it (its contents belong to whatever user the pods run as).
fn make_claim_dir(dir: &Path) -> Result<(), VolumeError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
        .map_err(io("setting the mode of", dir))
}

fn make_empty_dir(dir: &Path, memory: bool, size: Option<i128>) -> Result<bool, VolumeError> {
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
        .map_err(io("setting the mode of", dir))?;
    if !memory {
        return Ok(false);
    }
    if is_mount_point(dir) {
        // Mounted by an earlier run of the agent: ours to unmount too.
        return Ok(true);
    }
    let mut opts = "mode=0777".to_owned();
    if let Some(n) = size {
        opts.push_str(&format!(",size={n}"));
    }
    nix::mount::mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
        Some(opts.as_str()),
    )
    .map_err(|source| VolumeError::Mount {
        what: "mounting a tmpfs on",
        path: dir.to_owned(),
        source,
    })?;
    Ok(true)
}

/// `base/sub`, with symlinks resolved, refusing anything outside `base`;
/// a missing subPath is created as a directory (as the kubelet does).
fn sub_path(base: &Path, sub: &str) -> Result<PathBuf, VolumeError> {
    let p = Path::new(sub);
    if p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(VolumeError::BadPath {
            path: sub.to_owned(),
            why: "subPath must be a relative path without '..'",
        });
    }
    let joined = base.join(p);
    if joined.symlink_metadata().is_err() {
        std::fs::create_dir_all(&joined).map_err(io("creating", &joined))?;
        // As the kubelet: the new subPath gets its volume's mode, setgid
        // included, not the umask's, so that what the volume lets a
        // container write (an emptyDir's 0777, fsGroup's group bits) it
        // may write there too.
        let mode = std::fs::metadata(base)
            .map_err(io("reading", base))?
            .permissions()
            .mode()
            & 0o7777;
        std::fs::set_permissions(&joined, std::fs::Permissions::from_mode(mode))
            .map_err(io("setting the mode of", &joined))?;
    }
    let real = joined.canonicalize().map_err(io("resolving", &joined))?;
    let real_base = base.canonicalize().map_err(io("resolving", base))?;
    if !real.starts_with(&real_base) {
        return Err(VolumeError::BadPath {
            path: sub.to_owned(),
            why: "subPath resolves outside its volume",
        });
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::atomic::tests::payload_of;
    use super::*;
    use crate::env::tests::{Fake, info, pod};
    use k8s_openapi::api::core::v1::{
        ConfigMapVolumeSource, DownwardAPIVolumeSource, ObjectFieldSelector, VolumeMount,
    };

    fn cm_volume(
        items: Option<Vec<KeyToPath>>,
        default_mode: Option<i32>,
        optional: Option<bool>,
    ) -> Volume {
        Volume {
            name: "cfg".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: "cfg".into(),
                items,
                default_mode,
                optional,
            }),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn config_map_items_and_modes() {
        let fake = Fake::default().with_cm("cfg", &[("a", "1"), ("b", "2")]);
        let p = pod();
        let i = info(&p);
        let mut lookup = Lookup::new(&fake, "ns1");
        let all = payload(&cm_volume(None, Some(0o400), None), &i, &mut lookup)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(all, payload_of(&[("a", "1", 0o400), ("b", "2", 0o400)]));
        let items = vec![
            KeyToPath {
                key: "b".into(),
                path: "dir/bee".into(),
                mode: Some(0o600),
            },
            KeyToPath {
                key: "a".into(),
                path: "a.txt".into(),
                mode: None,
            },
        ];
        let some = payload(&cm_volume(Some(items.clone()), None, None), &i, &mut lookup)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            some,
            payload_of(&[("dir/bee", "2", 0o600), ("a.txt", "1", 0o644)])
        );
        let mut missing = items;
        missing.push(KeyToPath {
            key: "zz".into(),
            path: "zz".into(),
            mode: None,
        });
        let e = payload(
            &cm_volume(Some(missing.clone()), None, None),
            &i,
            &mut lookup,
        )
        .await
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "configmap references non-existent config key: zz"
        );
        let opt = payload(&cm_volume(Some(missing), None, Some(true)), &i, &mut lookup)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(opt.len(), 2);
        let mut gone = cm_volume(None, None, None);
        if let Some(c) = gone.config_map.as_mut() {
            c.name = "gone".into();
        }
        let e = payload(&gone, &i, &mut lookup).await.unwrap_err();
        assert_eq!(e.to_string(), "configmap \"gone\" not found");
        if let Some(c) = gone.config_map.as_mut() {
            c.optional = Some(true);
        }
        let empty = payload(&gone, &i, &mut lookup).await.unwrap().unwrap();
        assert!(empty.is_empty());
    }

    #[tokio::test]
    async fn setup_and_mounts() {
        let tmp = tempfile::tempdir().unwrap();
        let fake = Fake::default()
            .with_cm("cfg", &[("a", "1")])
            .with_secret("sec", &[("pw", "x")]);
        let mut p = pod();
        let host = tmp.path().join("host");
        let spec = p.spec.as_mut().unwrap();
        spec.volumes = Some(vec![
            cm_volume(None, None, None),
            Volume {
                name: "sec".into(),
                secret: Some(k8s_openapi::api::core::v1::SecretVolumeSource {
                    secret_name: Some("sec".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Volume {
                name: "info".into(),
                downward_api: Some(DownwardAPIVolumeSource {
                    items: Some(vec![DownwardAPIVolumeFile {
                        path: "labels".into(),
                        field_ref: Some(ObjectFieldSelector {
                            field_path: "metadata.labels".into(),
                            api_version: None,
                        }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Volume {
                name: "scratch".into(),
                empty_dir: Some(Default::default()),
                ..Default::default()
            },
            Volume {
                name: "host".into(),
                host_path: Some(k8s_openapi::api::core::v1::HostPathVolumeSource {
                    path: host.display().to_string(),
                    type_: Some("DirectoryOrCreate".into()),
                }),
                ..Default::default()
            },
        ]);
        let c = Container {
            name: "main".into(),
            volume_mounts: Some(vec![
                VolumeMount {
                    name: "cfg".into(),
                    mount_path: "/etc/cfg".into(),
                    ..Default::default()
                },
                VolumeMount {
                    name: "scratch".into(),
                    mount_path: "/work".into(),
                    sub_path_expr: Some("$(POD)/tmp".into()),
                    ..Default::default()
                },
                VolumeMount {
                    name: "host".into(),
                    mount_path: "/host".into(),
                    read_only: Some(true),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        let i = info(&p);
        let mut vols = PodVolumes::new(tmp.path(), "u-1");
        let mut lookup = Lookup::new(&fake, "ns1");
        vols.setup(&i, &mut lookup).await.unwrap();
        let root = tmp.path().join("pods/u-1/volumes");
        assert_eq!(
            std::fs::read_to_string(root.join("kubernetes.io~configmap/cfg/a")).unwrap(),
            "1"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("kubernetes.io~secret/sec/pw")).unwrap(),
            "x"
        );
        assert!(
            std::fs::read_to_string(root.join("kubernetes.io~downward-api/info/labels"))
                .unwrap()
                .starts_with("app=\"web\"\n")
        );
        assert!(host.is_dir());
        let env = vec![("POD".to_owned(), "web".to_owned())];
        let mounts = vols.mounts(&c, &env).unwrap();
        assert_eq!(
            mounts[0].host_path,
            root.join("kubernetes.io~configmap/cfg")
        );
        assert!(mounts[0].readonly, "configMap volumes are read-only");
        assert!(
            mounts[1]
                .host_path
                .ends_with("kubernetes.io~empty-dir/scratch/web/tmp")
        );
        assert!(!mounts[1].readonly);
        assert_eq!(mounts[2].host_path, host);
        assert!(mounts[2].readonly);
        vols.teardown().await;
        assert!(!tmp.path().join("pods/u-1").exists());
        assert!(host.is_dir(), "hostPath content survives teardown");
    }

    /// Serves one claim and one volume.
    struct Claims {
        pvc: Option<k8s_openapi::api::core::v1::PersistentVolumeClaim>,
        pv: Option<k8s_openapi::api::core::v1::PersistentVolume>,
    }

    impl Objects for Claims {
        async fn config_map(
            &self,
            _: &str,
            _: &str,
        ) -> Result<Option<k8s_openapi::api::core::v1::ConfigMap>, kube::Error> {
            Ok(None)
        }
        async fn secret(
            &self,
            _: &str,
            _: &str,
        ) -> Result<Option<k8s_openapi::api::core::v1::Secret>, kube::Error> {
            Ok(None)
        }
        async fn persistent_volume_claim(
            &self,
            _: &str,
            _: &str,
        ) -> Result<Option<k8s_openapi::api::core::v1::PersistentVolumeClaim>, kube::Error>
        {
            Ok(self.pvc.clone())
        }
        async fn persistent_volume(
            &self,
            _: &str,
        ) -> Result<Option<k8s_openapi::api::core::v1::PersistentVolume>, kube::Error> {
            Ok(self.pv.clone())
        }
    }

    #[tokio::test]
    async fn claims_wait_for_binding_then_mount_local_path() {
        let tmp = tempfile::tempdir().unwrap();
        let mut p = pod();
        let spec = p.spec.as_mut().unwrap();
        spec.volumes = Some(vec![
            serde_json::from_value(
                serde_json::json!({"name": "data", "persistentVolumeClaim": {"claimName": "data"}}),
            )
            .unwrap(),
        ]);
        spec.containers[0].volume_mounts = Some(vec![VolumeMount {
            name: "data".into(),
            mount_path: "/data".into(),
            ..Default::default()
        }]);
        let pending: k8s_openapi::api::core::v1::PersistentVolumeClaim =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "data"},
                "spec": {}, "status": {"phase": "Pending"}}))
            .unwrap();
        let mut claims = Claims {
            pvc: Some(pending),
            pv: None,
        };
        let mut vols = PodVolumes::new(tmp.path(), "uid1");
        let i = info(&p);
        let e = vols
            .setup(&i, &mut Lookup::new(&claims, "ns1"))
            .await
            .unwrap_err();
        assert_eq!(
            e,
            "MountVolume.SetUp failed for volume \"data\" : error processing PVC ns1/data: PVC is not bound"
        );
        claims.pvc = Some(
            serde_json::from_value(serde_json::json!({"metadata": {"name": "data"},
                "spec": {"volumeName": "pvc-u1"}, "status": {"phase": "Bound"}}))
            .unwrap(),
        );
        claims.pv = Some(
            serde_json::from_value(serde_json::json!({"metadata": {"name": "pvc-u1",
                "annotations": {"pv.kubernetes.io/provisioned-by": "skiff.dev/local-path"}},
                "spec": {"hostPath": {"path": "/var/lib/skiff/storage/pvc-u1_ns1_data"}}}))
            .unwrap(),
        );
        vols.setup(&i, &mut Lookup::new(&claims, "ns1"))
            .await
            .unwrap();
        let dir = tmp.path().join("storage/pvc-u1_ns1_data");
        assert!(dir.is_dir());
        let ms = vols.mounts(&spec_container(&p), &[]).unwrap();
        assert_eq!(ms.len(), 1);
        assert_eq!(ms[0].host_path, dir);
        assert!(!ms[0].readonly);
    }

    fn with_fs_group(p: &mut Pod, gid: i64) {
        if let Some(spec) = p.spec.as_mut() {
            spec.security_context = Some(k8s_openapi::api::core::v1::PodSecurityContext {
                fs_group: Some(gid),
                ..Default::default()
            });
        }
    }

    fn gid_of(p: &Path) -> u32 {
        use std::os::unix::fs::MetadataExt;
        p.symlink_metadata().unwrap().gid()
    }

    fn mode_of(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[tokio::test]
    async fn fs_group_owns_empty_dirs_and_config_maps_but_not_host_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let fake = Fake::default().with_cm("cfg", &[("a", "1")]);
        let mut p = pod();
        with_fs_group(&mut p, 2000);
        let host = tmp.path().join("host");
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("h"), "h").unwrap();
        p.spec.as_mut().unwrap().volumes = Some(vec![
            cm_volume(None, Some(0o400), None),
            Volume {
                name: "scratch".into(),
                empty_dir: Some(Default::default()),
                ..Default::default()
            },
            Volume {
                name: "host".into(),
                host_path: Some(k8s_openapi::api::core::v1::HostPathVolumeSource {
                    path: host.display().to_string(),
                    type_: None,
                }),
                ..Default::default()
            },
        ]);
        let mut vols = PodVolumes::new(tmp.path(), "u-fs");
        vols.setup(&info(&p), &mut Lookup::new(&fake, "ns1"))
            .await
            .unwrap();
        let root = tmp.path().join("pods/u-fs/volumes");
        let scratch = root.join("kubernetes.io~empty-dir/scratch");
        assert_eq!(gid_of(&scratch), 2000);
        assert_eq!(mode_of(&scratch), 0o2777);
        let cfg = root.join("kubernetes.io~configmap/cfg");
        assert_eq!(gid_of(&cfg), 2000);
        assert_eq!(mode_of(&cfg) & 0o2070, 0o2050, "read-only: no group write");
        // The file itself (behind `..data`), its symlink and the data dir.
        assert_eq!(gid_of(&cfg.join("a")), 2000);
        let file = cfg.join("a").canonicalize().unwrap();
        assert_eq!(gid_of(&file), 2000);
        assert_eq!(mode_of(&file), 0o440, "defaultMode 0400 plus group read");
        assert_eq!(gid_of(&cfg.join("..data")), 2000);
        assert_eq!(gid_of(&host), 0, "a hostPath belongs to the node");
        assert_eq!(gid_of(&host.join("h")), 0);
        vols.teardown().await;
    }

    #[test]
    fn fs_group_payload_rewrites_keep_the_group() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vol");
        let owner = Some(FsGroup {
            gid: 2000,
            policy: ChangePolicy::OnRootMismatch,
        });
        let p1 = payload_of(&[("a", "1", 0o600)]);
        assert!(write_payload(&dir, p1.clone(), owner).unwrap());
        // Unchanged content is not rewritten, although the modes on disk
        // have the group bits the payload lacks.
        assert!(!write_payload(&dir, p1, owner).unwrap());
        // An update (a new key, a new data dir) is group-owned too,
        // whatever fsGroupChangePolicy says.
        let p2 = payload_of(&[("a", "2", 0o600), ("b", "3", 0o744)]);
        assert!(write_payload(&dir, p2, owner).unwrap());
        for name in ["a", "b"] {
            let real = dir.join(name).canonicalize().unwrap();
            assert_eq!(gid_of(&real), 2000, "{name}");
            assert_eq!(gid_of(&dir.join(name)), 2000, "symlink {name}");
        }
        assert_eq!(mode_of(&dir.join("a")), 0o640);
        assert_eq!(mode_of(&dir.join("b")), 0o754);
        assert_eq!(gid_of(&dir.join("..data")), 2000);
        assert_eq!(std::fs::read_to_string(dir.join("a")).unwrap(), "2");
    }

    #[tokio::test]
    async fn fs_group_owns_local_path_claims() {
        let tmp = tempfile::tempdir().unwrap();
        let mut p = pod();
        with_fs_group(&mut p, 2000);
        p.spec.as_mut().unwrap().volumes = Some(vec![
            serde_json::from_value(
                serde_json::json!({"name": "data", "persistentVolumeClaim": {"claimName": "data"}}),
            )
            .unwrap(),
        ]);
        let claims = Claims {
            pvc: Some(
                serde_json::from_value(serde_json::json!({"metadata": {"name": "data"},
                    "spec": {"volumeName": "pvc-u2"}, "status": {"phase": "Bound"}}))
                .unwrap(),
            ),
            pv: Some(
                serde_json::from_value(serde_json::json!({"metadata": {"name": "pvc-u2",
                    "annotations": {"pv.kubernetes.io/provisioned-by": "skiff.dev/local-path"}},
                    "spec": {"hostPath": {"path": "/var/lib/skiff/storage/pvc-u2_ns1_data"}}}))
                .unwrap(),
            ),
        };
        let mut vols = PodVolumes::new(tmp.path(), "uid2");
        vols.setup(&info(&p), &mut Lookup::new(&claims, "ns1"))
            .await
            .unwrap();
        let dir = tmp.path().join("storage/pvc-u2_ns1_data");
        assert_eq!(gid_of(&dir), 2000);
        assert_eq!(mode_of(&dir), 0o2777);
    }

    fn spec_container(p: &Pod) -> Container {
        p.spec.as_ref().unwrap().containers[0].clone()
    }

    #[test]
    fn sub_paths_stay_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("v");
        std::fs::create_dir_all(&base).unwrap();
        std::os::unix::fs::symlink("/etc", base.join("out")).unwrap();
        assert!(sub_path(&base, "../x").is_err());
        assert!(sub_path(&base, "/x").is_err());
        assert!(sub_path(&base, "out").is_err());
        assert!(sub_path(&base, "in/deep").unwrap().is_dir());
        // A new subPath has its volume's mode (fsGroup's setgid too).
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o2777)).unwrap();
        let made = sub_path(&base, "fs_group/sub").unwrap();
        assert_eq!(mode_of(&made), 0o2777);
    }

    #[test]
    fn host_path_types() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("d");
        let f = tmp.path().join("f");
        assert!(check_host_path(&d, "Directory").is_err());
        check_host_path(&d, "DirectoryOrCreate").unwrap();
        assert!(d.is_dir());
        check_host_path(&d, "Directory").unwrap();
        let e = check_host_path(&d, "File").unwrap_err();
        assert!(e.to_string().ends_with("is not a file"), "{e}");
        check_host_path(&f, "FileOrCreate").unwrap();
        assert!(f.is_file());
        check_host_path(&f, "File").unwrap();
        assert!(
            check_host_path(&f, "Socket")
                .unwrap_err()
                .to_string()
                .contains("socket")
        );
        check_host_path(&tmp.path().join("nothing"), "").unwrap();
        assert!(check_host_path(&d, "Bogus").is_err());
    }
}
