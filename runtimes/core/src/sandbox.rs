//! The pod sandbox: the shared context of a pod's containers.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What the node agent knows about a pod when it asks for its sandbox
/// (CRI's `PodSandboxConfig`, minus what Skiff does not use).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodSandboxConfig {
    /// Pod name.
    pub name: String,
    /// Pod namespace.
    pub namespace: String,
    /// Pod UID.
    pub uid: String,
    /// How many times this sandbox was recreated.
    pub attempt: u32,
    /// Directory under which container log files are written; each
    /// container's `log_path` is relative to it (as in CRI).
    pub log_directory: PathBuf,
    /// The pod's IP address: listeners of its containers bind to it. `None`
    /// means the runtime chooses (loopback for the Wasm runtime).
    pub pod_ip: Option<IpAddr>,
    /// Pod labels.
    pub labels: BTreeMap<String, String>,
    /// Pod annotations.
    pub annotations: BTreeMap<String, String>,
}

impl PodSandboxConfig {
    /// A sandbox config with the given name and namespace, logging under `log_directory`.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        log_directory: impl Into<PathBuf>,
    ) -> Self {
        let (namespace, name) = (namespace.into(), name.into());
        PodSandboxConfig {
            uid: format!("{namespace}-{name}"),
            name,
            namespace,
            attempt: 0,
            log_directory: log_directory.into(),
            pod_ip: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }
}

/// Whether a sandbox is ready to hold containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodSandboxState {
    /// Set up; containers can be created in it.
    Ready,
    /// Stopped: its containers were stopped and no new ones can start.
    NotReady,
}

/// A sandbox as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodSandboxStatus {
    /// Sandbox id.
    pub id: String,
    /// The config it was created with.
    pub config: PodSandboxConfig,
    /// Its state.
    pub state: PodSandboxState,
    /// When it was created.
    pub created_at: Timestamp,
}
