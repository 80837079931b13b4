//! The OCI image store: images pulled with oci-client, every layer checked
//! against its digest and unpacked once into `layers/<hex>/` in the form
//! overlayfs reads as a lower directory (whiteouts become 0:0 character
//! devices, opaque directories get `trusted.overlay.opaque=y`). `index.json`
//! maps references to [`ImageRecord`]s.
//!
//! Removing a reference collects garbage: unpacked layers and configs that
//! no remaining image names and no container holds are deleted. A
//! container holds its image's layers by a lease (`leases/<container>`,
//! taken before its overlay is mounted, released when it is removed), so a
//! running container keeps its rootfs when its image is removed, as with
//! containerd. Several processes may share a store (`skiff images` beside
//! a running node): adds and leases take a shared `flock` on `lock`, a
//! collection an exclusive one, so no layer is deleted while another
//! process is about to use it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use oci_client::client::{ClientConfig, ClientProtocol, linux_amd64_resolver};
use oci_client::{Client, Reference};
use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use skiff_runtime::{ImageStatus, RegistryAuth, is_loopback_registry};

use crate::error::ImageError;
use crate::sys;

const LAYER_TYPES: [&str; 6] = [
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
];

/// What the store records for one reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Digest of the image config (`sha256:…`): the image id, as Docker has it.
    pub id: String,
    /// Digest of the manifest it was pulled by.
    pub manifest_digest: Option<String>,
    /// Layer digests, bottom first.
    pub layers: Vec<String>,
    /// Compressed size of config and layers.
    pub size: u64,
}

/// What a container holds of the store while it exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Lease {
    /// The image config's digest.
    image: String,
    /// The layers its rootfs is made of.
    layers: Vec<String>,
}

/// What one collection deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Unpacked layers deleted.
    pub layers: usize,
    /// Image configs deleted.
    pub configs: usize,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    images: BTreeMap<String, ImageRecord>,
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for b in hash {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn hex_of(digest: &str) -> Result<&str, ImageError> {
    let hex = digest.strip_prefix("sha256:").unwrap_or("");
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ImageError::NotPresent(digest.to_owned()));
    }
    Ok(hex)
}

/// A directory of unpacked layers and image configs.
pub struct ImageStore {
    root: PathBuf,
    index: Mutex<Index>,
    /// `index.json` as last read or written here: another process
    /// (`skiff images import` beside a running node) may replace it.
    seen: Mutex<Option<FileStamp>>,
}

/// Identifies one version of a file written by rename (a new inode each
/// time).
type FileStamp = (u64, std::time::SystemTime, u64);

fn file_stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.modified().ok()?, m.len()))
}

impl ImageStore {
    /// Opens (creating) a store under `root`. Blocking.
    pub fn open(root: &Path) -> Result<ImageStore, ImageError> {
        for d in ["layers", "configs", "leases"] {
            let p = root.join(d);
            std::fs::create_dir_all(&p).map_err(|source| ImageError::Io { path: p, source })?;
        }
        let path = root.join("index.json");
        let index = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|source| ImageError::Json {
                path: path.clone(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Index::default(),
            Err(source) => return Err(ImageError::Io { path, source }),
        };
        Ok(ImageStore {
            root: root.to_owned(),
            index: Mutex::new(index),
            seen: Mutex::new(file_stamp(&path)),
        })
    }

    /// The index, re-read first if another process replaced `index.json`
    /// (a file that does not parse is left for `save` to replace).
    fn current(&self) -> std::sync::MutexGuard<'_, Index> {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.root.join("index.json");
        let now = file_stamp(&path);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if now != *seen {
            if let Some(fresh) = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
            {
                *index = fresh;
            }
            *seen = now;
        }
        drop(seen);
        index
    }

    /// The unpacked directory of a layer.
    pub fn layer_dir(&self, digest: &str) -> Result<PathBuf, ImageError> {
        Ok(self.root.join("layers").join(hex_of(digest)?))
    }

    /// The record for a reference or an image id.
    pub fn resolve(&self, reference: &str) -> Option<ImageRecord> {
        let index = self.current();
        index
            .images
            .get(reference)
            .cloned()
            .or_else(|| index.images.values().find(|r| r.id == reference).cloned())
    }

    /// The image configuration of an image id. Blocking.
    pub fn config(&self, id: &str) -> Result<ImageConfiguration, ImageError> {
        let path = self.root.join("configs").join(hex_of(id)?);
        let bytes = std::fs::read(&path).map_err(|source| ImageError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|source| ImageError::Json { path, source })
    }

    /// Every reference, grouped by image.
    pub fn list(&self) -> Vec<ImageStatus> {
        let index = self.current();
        skiff_runtime::group_references(index.images.iter().map(|(reference, rec)| {
            skiff_runtime::StoredReference {
                reference,
                id: &rec.id,
                size: rec.size,
                manifest_digest: rec.manifest_digest.as_deref(),
            }
        }))
    }

    /// The status of one image.
    pub fn status(&self, reference: &str) -> Option<ImageStatus> {
        let rec = self.resolve(reference)?;
        self.list().into_iter().find(|s| s.id == rec.id)
    }

    /// Forgets a reference (or, given an image id, every reference to that
    /// image), then deletes the layers and configs nothing uses any more.
    /// Layers a container holds stay until it is removed. Blocking.
    pub fn remove(&self, reference: &str) -> Result<Collected, ImageError> {
        let _lock = self.lock(true)?;
        let mut index = self.current();
        let before = index.images.len();
        if index.images.remove(reference).is_none() {
            index.images.retain(|_, r| r.id != reference);
        }
        if index.images.len() != before {
            self.save(&index)?;
        }
        let (layers, configs) = referenced(&index);
        drop(index);
        self.collect_locked(layers, configs)
    }

    /// Deletes the layers and configs that no image and no lease names.
    /// Blocking.
    pub fn collect(&self) -> Result<Collected, ImageError> {
        let _lock = self.lock(true)?;
        let (layers, configs) = referenced(&self.current());
        self.collect_locked(layers, configs)
    }

    /// Holds `image`'s config and layers for `holder` (a container id)
    /// until [`ImageStore::release`]: a collection leaves them alone even
    /// once no reference names the image. Fails if the image's content is
    /// gone (removed since it was resolved). Blocking.
    pub fn lease(&self, holder: &str, image: &ImageRecord) -> Result<(), ImageError> {
        let path = self.lease_path(holder)?;
        let _lock = self.lock(false)?;
        let config = self.root.join("configs").join(hex_of(&image.id)?);
        if !config.is_file() {
            return Err(ImageError::NotPresent(image.id.clone()));
        }
        for l in &image.layers {
            if !self.layer_dir(l)?.is_dir() {
                return Err(ImageError::NotPresent(image.id.clone()));
            }
        }
        let lease = Lease {
            image: image.id.clone(),
            layers: image.layers.clone(),
        };
        let bytes = serde_json::to_vec(&lease).map_err(|source| ImageError::Json {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, &bytes)
    }

    /// Whether `holder` holds a lease.
    pub fn has_lease(&self, holder: &str) -> bool {
        self.lease_path(holder).is_ok_and(|p| p.is_file())
    }

    /// Drops `holder`'s lease and collects what it alone kept. Blocking.
    pub fn release(&self, holder: &str) -> Result<Collected, ImageError> {
        let path = self.lease_path(holder)?;
        match std::fs::remove_file(&path) {
            Ok(()) => self.collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Collected::default()),
            Err(source) => Err(ImageError::Io { path, source }),
        }
    }

    fn lease_path(&self, holder: &str) -> Result<PathBuf, ImageError> {
        let ok = !holder.is_empty()
            && holder
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(ImageError::NotPresent(format!("lease {holder:?}")));
        }
        Ok(self.root.join("leases").join(holder))
    }

    /// The store's `flock`, shared for adds and leases, exclusive for
    /// collections; held until the file is dropped. Each call opens the
    /// file anew, so threads of one process exclude each other as
    /// processes do.
    fn lock(&self, exclusive: bool) -> Result<std::fs::File, ImageError> {
        let path = self.root.join("lock");
        let io = |source| ImageError::Io {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        if exclusive {
            file.lock().map_err(io)?;
        } else {
            file.lock_shared().map_err(io)?;
        }
        Ok(file)
    }

    /// Deletes what neither the index (`layers`, `configs`) nor a lease nor
    /// a mounted overlay names, and leftovers of interrupted writes. The
    /// exclusive lock must be held: then no add or lease is under way in
    /// any process.
    fn collect_locked(
        &self,
        mut layers: BTreeSet<String>,
        mut configs: BTreeSet<String>,
    ) -> Result<Collected, ImageError> {
        let leases = self.root.join("leases");
        for entry in read_dir(&leases)? {
            let bytes = std::fs::read(entry.path()).ok();
            match bytes.and_then(|b| serde_json::from_slice::<Lease>(&b).ok()) {
                Some(lease) => {
                    configs.insert(lease.image);
                    layers.extend(lease.layers);
                }
                // A lease that does not parse keeps everything: better a
                // layer too many than a container's rootfs pulled away.
                None if !is_temp(&entry.file_name()) => return Ok(Collected::default()),
                None => {}
            }
        }
        let keep_layers: BTreeSet<String> = layers
            .iter()
            .filter_map(|d| hex_of(d).ok().map(str::to_owned))
            .collect();
        let keep_configs: BTreeSet<String> = configs
            .iter()
            .filter_map(|d| hex_of(d).ok().map(str::to_owned))
            .collect();
        let mounted = mounted_lower_dirs();
        let mut out = Collected::default();
        let layer_root = self.root.join("layers");
        for entry in read_dir(&layer_root)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if keep_layers.contains(&name) || mounted.contains(&path) {
                continue;
            }
            // Renamed first: a half-deleted layer must never look unpacked.
            let doomed = if is_temp(&entry.file_name()) {
                path
            } else {
                let doomed = temp_name(&path);
                std::fs::rename(&path, &doomed).map_err(|source| ImageError::Io {
                    path: path.clone(),
                    source,
                })?;
                out.layers += 1;
                doomed
            };
            std::fs::remove_dir_all(&doomed)
                .or_else(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Ok(()),
                    std::io::ErrorKind::NotADirectory => std::fs::remove_file(&doomed),
                    _ => Err(e),
                })
                .map_err(|source| ImageError::Io {
                    path: doomed,
                    source,
                })?;
        }
        for dir in ["configs", "leases"] {
            for entry in read_dir(&self.root.join(dir))? {
                let name = entry.file_name().to_string_lossy().into_owned();
                let stale = is_temp(&entry.file_name());
                if dir == "leases" && !stale {
                    continue;
                }
                if !stale && keep_configs.contains(&name) {
                    continue;
                }
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => out.configs += usize::from(!stale),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => {
                        return Err(ImageError::Io {
                            path: entry.path(),
                            source,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    fn save(&self, index: &Index) -> Result<(), ImageError> {
        let path = self.root.join("index.json");
        let bytes = serde_json::to_vec_pretty(index).map_err(|source| ImageError::Json {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, &bytes)?;
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = file_stamp(&path);
        Ok(())
    }

    /// Records an image whose config and layers have been verified, unpacking
    /// each layer not yet present. Blocking.
    pub fn add(
        &self,
        reference: &str,
        manifest_digest: Option<String>,
        config: &[u8],
        layers: &[(String, String, &[u8])],
    ) -> Result<ImageRecord, ImageError> {
        // Shared: adds run side by side, but no collection deletes a layer
        // this add found present before the index names it.
        let _lock = self.lock(false)?;
        let id = sha256_digest(config);
        serde_json::from_slice::<ImageConfiguration>(config).map_err(|e| {
            ImageError::NotRunnable {
                reference: reference.to_owned(),
                message: format!("image config does not parse: {e}"),
            }
        })?;
        write_atomic(&self.root.join("configs").join(hex_of(&id)?), config)?;
        let mut size = config.len() as u64;
        for (digest, media_type, data) in layers {
            size += data.len() as u64;
            let dir = self.layer_dir(digest)?;
            if dir.exists() {
                continue;
            }
            // Pulls of images sharing a layer may unpack it at the same
            // time: each into a directory of its own, and the first rename
            // wins (the layer's content is fixed by its digest).
            let tmp = temp_name(&dir);
            std::fs::create_dir_all(&tmp).map_err(|source| ImageError::Io {
                path: tmp.clone(),
                source,
            })?;
            if let Err(source) = unpack_layer(media_type, data, &tmp) {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(ImageError::Unpack {
                    digest: digest.clone(),
                    source,
                });
            }
            if let Err(source) = std::fs::rename(&tmp, &dir) {
                let _ = std::fs::remove_dir_all(&tmp);
                if !dir.is_dir() {
                    return Err(ImageError::Io { path: dir, source });
                }
            }
        }
        let record = ImageRecord {
            id,
            manifest_digest,
            layers: layers.iter().map(|(d, _, _)| d.clone()).collect(),
            size,
        };
        let mut index = self.current();
        index.images.insert(reference.to_owned(), record.clone());
        self.save(&index)?;
        Ok(record)
    }
}

/// The layers and configs an index names.
fn referenced(index: &Index) -> (BTreeSet<String>, BTreeSet<String>) {
    let layers = index
        .images
        .values()
        .flat_map(|r| r.layers.iter().cloned())
        .collect();
    let configs = index.images.values().map(|r| r.id.clone()).collect();
    (layers, configs)
}

/// Whether a store entry is a temporary left by [`temp_name`].
fn is_temp(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().contains(".tmp-")
}

fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>, ImageError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ImageError::Io {
        path: dir.to_owned(),
        source,
    })?;
    Ok(entries.filter_map(Result::ok).collect())
}

/// Lower directories of the overlays mounted on this host: a layer a
/// rootfs is mounted from stays even without a lease (a container made by
/// a runtime from before leases).
fn mounted_lower_dirs() -> BTreeSet<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter(|l| l.split(' ').nth(2) == Some("overlay"))
        .filter_map(|l| l.split(' ').nth(3))
        .flat_map(|opts| opts.split(','))
        .filter_map(|o| o.strip_prefix("lowerdir="))
        .flat_map(|dirs| dirs.split(':'))
        .map(PathBuf::from)
        .collect()
}

/// A sibling of `path` no other writer in this process or another uses:
/// concurrent pulls write the same config and unpack the same layers.
fn temp_name(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    path.with_extension(format!("tmp-{}-{n}", std::process::id()))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    let tmp = temp_name(path);
    std::fs::write(&tmp, bytes).map_err(|source| ImageError::Io {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        ImageError::Io {
            path: path.to_owned(),
            source,
        }
    })
}

/// Unpacks one (gzip, zstd or plain) tar layer into `dest`, turning OCI
/// whiteouts into overlayfs ones. Blocking.
pub fn unpack_layer(media_type: &str, data: &[u8], dest: &Path) -> std::io::Result<()> {
    let reader: Box<dyn Read + '_> =
        if media_type.ends_with("gzip") || data.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::GzDecoder::new(data))
        } else if media_type.ends_with("zstd") || data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Box::new(zstd::stream::read::Decoder::new(data)?)
        } else {
            Box::new(data)
        };
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_overwrite(true);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        // Refuse anything that would land outside the layer.
        if path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::RootDir))
        {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let parent = path.parent().unwrap_or(Path::new(""));
        if name == ".wh..wh..opq" {
            let dir = dest.join(parent);
            std::fs::create_dir_all(&dir)?;
            sys::set_opaque(&dir)?;
        } else if let Some(hidden) = name.strip_prefix(".wh.") {
            let dir = dest.join(parent);
            std::fs::create_dir_all(&dir)?;
            sys::make_whiteout(&dir.join(hidden))?;
        } else {
            entry.unpack_in(dest)?;
        }
    }
    Ok(())
}

/// Parses a reference, naming it in the error.
pub fn parse_reference(reference: &str) -> Result<Reference, ImageError> {
    reference
        .parse::<Reference>()
        .map_err(|e| ImageError::BadReference {
            reference: reference.to_owned(),
            message: e.to_string(),
        })
}

fn oci_auth(auth: &RegistryAuth) -> oci_client::secrets::RegistryAuth {
    match auth {
        RegistryAuth::Anonymous => oci_client::secrets::RegistryAuth::Anonymous,
        RegistryAuth::Basic { username, password } => {
            oci_client::secrets::RegistryAuth::Basic(username.clone(), password.clone())
        }
    }
}

/// A fetched image, verified, not yet unpacked.
pub struct Fetched {
    /// Manifest digest.
    pub manifest_digest: Option<String>,
    /// Config bytes.
    pub config: Vec<u8>,
    /// `(digest, media type, bytes)` of each layer, bottom first.
    pub layers: Vec<(String, String, Vec<u8>)>,
}

/// Reads the image tagged `tag` (or the only one) from an OCI image layout
/// directory — what `skopeo copy … oci:DIR:TAG`, `umoci` and `buildah push
/// oci:` write — verifying every blob against its digest, as a pull would.
/// This is how images reach a node with no registry (`k3s ctr images
/// import`). Blocking.
pub fn read_oci_layout(dir: &Path, tag: Option<&str>) -> Result<Fetched, ImageError> {
    let what = dir.display().to_string();
    let not_runnable = |message: String| ImageError::NotRunnable {
        reference: what.clone(),
        message,
    };
    let json = |path: PathBuf| -> Result<serde_json::Value, ImageError> {
        let bytes = std::fs::read(&path).map_err(|source| ImageError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|source| ImageError::Json { path, source })
    };
    let blob = |digest: &str| -> Result<Vec<u8>, ImageError> {
        let path = dir.join("blobs/sha256").join(hex_of(digest)?);
        let bytes = std::fs::read(&path).map_err(|source| ImageError::Io { path, source })?;
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(ImageError::DigestMismatch {
                reference: what.clone(),
                expected: digest.to_owned(),
                actual,
            });
        }
        Ok(bytes)
    };
    let index = json(dir.join("index.json"))?;
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let tag_of = |m: &serde_json::Value| {
        m.pointer("/annotations/org.opencontainers.image.ref.name")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let chosen = match (tag, manifests.as_slice()) {
        (Some(t), ms) => ms.iter().find(|m| tag_of(m).as_deref() == Some(t)),
        (None, [only]) => Some(only),
        (None, _) => None,
    }
    .ok_or_else(|| {
        let tags: Vec<String> = manifests.iter().filter_map(tag_of).collect();
        not_runnable(format!(
            "no image {} in the layout (tags: [{}])",
            tag.map_or_else(
                || "(untagged, and not exactly one)".to_owned(),
                |t| format!("tagged {t:?}")
            ),
            tags.join(", ")
        ))
    })?;
    let manifest_digest = chosen["digest"]
        .as_str()
        .ok_or_else(|| not_runnable("index entry without a digest".into()))?
        .to_owned();
    let manifest: serde_json::Value = serde_json::from_slice(&blob(&manifest_digest)?)
        .map_err(|e| not_runnable(format!("manifest does not parse: {e}")))?;
    if manifest.get("manifests").is_some() {
        return Err(not_runnable(
            "the tag names an index; import a single-platform image".into(),
        ));
    }
    let config_digest = manifest
        .pointer("/config/digest")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| not_runnable("manifest without a config".into()))?;
    let config = blob(config_digest)?;
    let mut layers = Vec::new();
    for l in manifest["layers"].as_array().cloned().unwrap_or_default() {
        let digest = l["digest"]
            .as_str()
            .ok_or_else(|| not_runnable("layer without a digest".into()))?
            .to_owned();
        let media_type = l["mediaType"].as_str().unwrap_or_default().to_owned();
        let data = blob(&digest)?;
        layers.push((digest, media_type, data));
    }
    Ok(Fetched {
        manifest_digest: Some(manifest_digest),
        config,
        layers,
    })
}

/// Pulls `reference` (an index resolves to linux/amd64) and verifies the
/// config and every layer against the manifest.
pub async fn fetch(
    reference: &str,
    auth: &RegistryAuth,
    insecure: &[String],
) -> Result<Fetched, ImageError> {
    let parsed = parse_reference(reference)?;
    let registry = parsed.resolve_registry().to_owned();
    let protocol = if is_loopback_registry(&registry) || insecure.contains(&registry) {
        ClientProtocol::HttpsExcept(vec![registry])
    } else {
        ClientProtocol::Https
    };
    let client = Client::new(ClientConfig {
        protocol,
        platform_resolver: Some(Box::new(linux_amd64_resolver)),
        ..Default::default()
    });
    let image = client
        .pull(&parsed, &oci_auth(auth), LAYER_TYPES.to_vec())
        .await
        .map_err(|source| ImageError::Registry {
            reference: reference.to_owned(),
            source,
        })?;
    let not_runnable = |message: String| ImageError::NotRunnable {
        reference: reference.to_owned(),
        message,
    };
    let manifest = image
        .manifest
        .ok_or_else(|| not_runnable("registry returned no image manifest".to_owned()))?;
    let mismatch = |expected: &str, actual: String| ImageError::DigestMismatch {
        reference: reference.to_owned(),
        expected: expected.to_owned(),
        actual,
    };
    if let (Some(want), Some(got)) = (parsed.digest(), image.digest.as_deref())
        && want != got
    {
        return Err(mismatch(want, got.to_owned()));
    }
    let config_digest = sha256_digest(&image.config.data);
    if config_digest != manifest.config.digest {
        return Err(mismatch(&manifest.config.digest, config_digest));
    }
    // Layers may arrive in any order: put them in manifest order by digest.
    let mut by_digest: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for layer in image.layers {
        by_digest.insert(sha256_digest(&layer.data), layer.data.to_vec());
    }
    let mut layers = Vec::new();
    for desc in &manifest.layers {
        let data = by_digest
            .remove(&desc.digest)
            .ok_or_else(|| mismatch(&desc.digest, "no layer with that digest".to_owned()))?;
        layers.push((desc.digest.clone(), desc.media_type.clone(), data));
    }
    Ok(Fetched {
        manifest_digest: image.digest,
        config: image.config.data.to_vec(),
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `blob` into the layout and returns its digest.
    fn put(dir: &Path, blob: &[u8]) -> String {
        let d = sha256_digest(blob);
        let p = dir.join("blobs/sha256").join(hex_of(&d).expect("hex"));
        std::fs::write(p, blob).expect("blob");
        d
    }

    #[test]
    fn oci_layouts_are_read_by_tag_and_verified() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        std::fs::create_dir_all(root.join("blobs/sha256")).expect("dirs");
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let layer = tar_of(&[("hello", b"hi")]);
        let (c, l) = (put(root, config), put(root, &layer));
        let manifest = serde_json::json!({"schemaVersion": 2,
            "config": {"digest": c, "mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len()},
            "layers": [{"digest": l, "mediaType": "application/vnd.oci.image.layer.v1.tar", "size": layer.len()}]});
        let m = put(root, manifest.to_string().as_bytes());
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [{"digest": m,
            "annotations": {"org.opencontainers.image.ref.name": "1"}}]});
        std::fs::write(root.join("index.json"), index.to_string()).expect("index");

        let got = read_oci_layout(root, Some("1")).expect("read");
        assert_eq!(got.manifest_digest.as_deref(), Some(m.as_str()));
        assert_eq!(got.layers.len(), 1);
        assert!(read_oci_layout(root, None).is_ok(), "the only image");
        assert!(matches!(
            read_oci_layout(root, Some("2")),
            Err(ImageError::NotRunnable { message, .. }) if message.contains("tags: [1]")
        ));
        // A blob that does not match its name is refused, as in a pull.
        std::fs::write(
            root.join("blobs/sha256").join(hex_of(&l).expect("hex")),
            b"tampered",
        )
        .expect("tamper");
        assert!(matches!(
            read_oci_layout(root, Some("1")),
            Err(ImageError::DigestMismatch { .. })
        ));
    }

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// Pods starting together pull the same image at once: every add must
    /// succeed and leave one unpacked layer (two adds used to share one
    /// temporary directory and file, and one failed).
    #[test]
    fn concurrent_adds_of_one_image_all_succeed() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = ImageStore::open(dir.path()).expect("open");
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let files: Vec<(String, Vec<u8>)> = (0..200)
            .map(|i| (format!("bin/f{i}"), vec![b'x'; 4096]))
            .collect();
        let entries: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        let layer = tar_of(&entries);
        let digest = sha256_digest(&layer);
        let layers = [(
            digest.clone(),
            "application/vnd.oci.image.layer.v1.tar".to_owned(),
            layer.as_slice(),
        )];
        for round in 0..3 {
            let results: Vec<_> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|t| {
                        let (store, layers) = (&store, &layers);
                        s.spawn(move || {
                            store.add(&format!("r/busybox:{round}-{t}"), None, config, layers)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join()).collect()
            });
            for r in results {
                let r = r.expect("no panic");
                assert!(r.is_ok(), "round {round}: {r:?}");
            }
            // Only the first round unpacks; later ones find the layer.
            let layer_dir = store.layer_dir(&digest).expect("dir");
            assert_eq!(
                std::fs::read_dir(layer_dir.join("bin"))
                    .expect("bin")
                    .count(),
                200
            );
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("layers"))
            .expect("layers")
            .chain(std::fs::read_dir(dir.path().join("configs")).expect("configs"))
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
        assert_eq!(store.list().len(), 1, "one image under 24 references");
    }

    /// Two images sharing a base layer: removing one deletes only its own
    /// layer; a lease keeps a removed image's content until released.
    #[test]
    fn removal_collects_only_unused_layers() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = ImageStore::open(dir.path()).expect("open");
        let tar = "application/vnd.oci.image.layer.v1.tar".to_owned();
        let base = tar_of(&[("bin/sh", b"base")]);
        let top_a = tar_of(&[("a", b"a")]);
        let top_b = tar_of(&[("b", b"b")]);
        let config = |n: &str| {
            format!(
                r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"author":"{n}"}}"#
            )
        };
        let layers = |top: &[u8]| {
            vec![
                (sha256_digest(&base), tar.clone(), base.clone()),
                (sha256_digest(top), tar.clone(), top.to_vec()),
            ]
        };
        let add = |r: &str, top: &[u8]| {
            let l = layers(top);
            let refs: Vec<_> = l
                .iter()
                .map(|(d, m, b)| (d.clone(), m.clone(), b.as_slice()))
                .collect();
            store
                .add(r, None, config(r).as_bytes(), &refs)
                .expect("add")
        };
        let a = add("r/a:1", &top_a);
        let b = add("r/b:1", &top_b);
        let present = |d: &str| store.layer_dir(d).expect("dir").is_dir();
        let count = |d: &str| std::fs::read_dir(dir.path().join(d)).expect("dir").count();
        assert_eq!((count("layers"), count("configs")), (3, 2));

        let gone = store.remove("r/a:1").expect("remove");
        assert_eq!(
            gone,
            Collected {
                layers: 1,
                configs: 1
            }
        );
        assert!(present(&a.layers[0]) && !present(&a.layers[1]));
        assert!(store.resolve("r/a:1").is_none());

        // A container holds b: removing b (by id) keeps its content.
        store.lease("c1", &b).expect("lease");
        assert!(store.has_lease("c1"));
        assert_eq!(store.remove(&b.id).expect("remove"), Collected::default());
        assert!(store.list().is_empty());
        assert!(b.layers.iter().all(|l| present(l)));
        assert!(store.config(&b.id).is_ok());
        let gone = store.release("c1").expect("release");
        assert_eq!(
            gone,
            Collected {
                layers: 2,
                configs: 1
            }
        );
        assert_eq!(
            (count("layers"), count("configs"), count("leases")),
            (0, 0, 0)
        );
        // Content gone: a new lease on it is refused.
        assert!(matches!(
            store.lease("c2", &b),
            Err(ImageError::NotPresent(_))
        ));
        assert!(store.lease("../x", &b).is_err(), "holders are plain names");
    }

    #[test]
    fn digests_are_checked_for_shape() {
        assert!(hex_of("sha256:../../etc").is_err());
        assert!(hex_of(&sha256_digest(b"x")).is_ok());
    }

    #[test]
    fn plain_gzip_and_zstd_layers_unpack() {
        let plain = tar_of(&[("etc/motd", b"hi\n")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &plain).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&plain[..], 1).unwrap();
        for (mt, data) in [
            ("application/vnd.oci.image.layer.v1.tar", plain.clone()),
            ("application/vnd.oci.image.layer.v1.tar+gzip", gz),
            ("application/vnd.oci.image.layer.v1.tar+zstd", zst),
        ] {
            let dir = tempfile::tempdir().unwrap();
            unpack_layer(mt, &data, dir.path()).unwrap();
            assert_eq!(std::fs::read(dir.path().join("etc/motd")).unwrap(), b"hi\n");
        }
    }
}
