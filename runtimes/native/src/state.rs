//! What the runtime keeps on disk so that a restarted runtime re-adopts the
//! sandboxes and containers (whose shims kept running) of its predecessor.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use skiff_runtime::{ContainerConfig, PodSandboxConfig, RuntimeError};

/// A sandbox as stored in `sandboxes/<id>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxMeta {
    /// Sandbox id.
    pub id: String,
    /// Its config.
    pub config: PodSandboxConfig,
    /// Still ready (not stopped).
    pub ready: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// The bind-mounted network namespace file; `None` for a sandbox on
    /// the node's network.
    #[serde(default)]
    pub netns: Option<PathBuf>,
}

/// A container as stored in `containers/<id>/container.json`; its runtime
/// state comes from the shim's `pid` and `exit.json` files beside it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerMeta {
    /// Container id.
    pub id: String,
    /// Its sandbox.
    pub sandbox_id: String,
    /// The config it was created with.
    pub config: ContainerConfig,
    /// Resolved image id.
    pub image_ref: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// When it was started, if it was.
    pub started_at: Option<Timestamp>,
    /// Absolute log path.
    pub log_path: PathBuf,
}

/// Writes JSON atomically (temp file + rename).
pub fn save<T: Serialize>(path: &Path, value: &T) -> Result<(), RuntimeError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| RuntimeError::Internal {
        message: format!("encoding {}: {e}", path.display()),
    })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| RuntimeError::io(dir, e))?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes).map_err(|e| RuntimeError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| RuntimeError::io(path, e))
}

/// Every readable `*.json` in `dir` (or `dir/*/<file>` when `file` is given);
/// unreadable entries are skipped with a warning rather than failing start-up.
pub fn load_all<T: DeserializeOwned>(dir: &Path, file: Option<&str>) -> Vec<T> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = match file {
            Some(f) => e.path().join(f),
            None if e.path().extension().is_some_and(|x| x == "json") => e.path(),
            None => continue,
        };
        match std::fs::read(&path).map(|b| serde_json::from_slice::<T>(&b)) {
            Ok(Ok(v)) => out.push(v),
            Ok(Err(err)) => tracing::warn!(path = %path.display(), %err, "skipping corrupt state"),
            Err(_) => {}
        }
    }
    out
}
