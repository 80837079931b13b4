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
    /// Which of the node's namespaces the pod shares (`hostNetwork`,
    /// `hostPID`, `hostIPC`). Absent in sandboxes saved before it existed,
    /// which were all pod-private.
    #[serde(default)]
    pub namespaces: NamespaceOption,
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
            namespaces: NamespaceOption::default(),
        }
    }
}

/// Whose namespace of one kind a pod's containers are in (CRI's
/// `NamespaceMode`, without `CONTAINER` and `TARGET`, which Skiff does not
/// use).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NamespaceMode {
    /// The pod's own, shared by its containers (the default).
    #[default]
    Pod,
    /// The node's: what the agent itself is in.
    Node,
}

/// The namespaces a pod shares with the node (CRI's `NamespaceOption`):
/// the kubelet sets each to [`NamespaceMode::Node`] for `hostNetwork`,
/// `hostPID` and `hostIPC`.
///
/// What each means depends on the runtime:
/// - native: `network` Node gives the sandbox no network namespace and no
///   veth; containers use the node's interfaces and addresses, see the
///   node's hostname, and get the node's `/etc/hosts` and
///   `/etc/resolv.conf` (as the kubelet and containerd do, the UTS
///   namespace goes with the network one). `pid` Node: no PID namespace,
///   the containers see every process of the node. `ipc` Node: no IPC
///   namespace.
/// - Wasm: `network` Node means the pod IP handed in is the node's address,
///   so listeners bind there; `pid` and `ipc` have no meaning for a Wasm
///   program (it has neither processes nor System V IPC) and are accepted.
///
/// # Examples
///
/// ```
/// use skiff_runtime::{NamespaceMode, NamespaceOption};
///
/// let host_net = NamespaceOption::host(true, false, false);
/// assert_eq!(host_net.network, NamespaceMode::Node);
/// assert_eq!(host_net.pid, NamespaceMode::Pod);
/// assert_eq!(NamespaceOption::default(), NamespaceOption::host(false, false, false));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceOption {
    /// Network (and with it UTS: hostname) namespace.
    #[serde(default)]
    pub network: NamespaceMode,
    /// PID namespace.
    #[serde(default)]
    pub pid: NamespaceMode,
    /// IPC namespace.
    #[serde(default)]
    pub ipc: NamespaceMode,
}

impl NamespaceOption {
    /// The option for a pod spec's `hostNetwork`, `hostPID` and `hostIPC`.
    pub fn host(network: bool, pid: bool, ipc: bool) -> Self {
        let mode = |node: bool| {
            if node {
                NamespaceMode::Node
            } else {
                NamespaceMode::Pod
            }
        };
        NamespaceOption {
            network: mode(network),
            pid: mode(pid),
            ipc: mode(ipc),
        }
    }

    /// Whether the pod is on the node's network (`hostNetwork`).
    pub fn host_network(&self) -> bool {
        self.network == NamespaceMode::Node
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_saved_before_namespace_options_read_as_pod_private() {
        let mut old =
            serde_json::to_value(PodSandboxConfig::new("ns", "p", "/logs")).expect("serialize");
        if let Some(m) = old.as_object_mut() {
            m.remove("namespaces");
        }
        let back: PodSandboxConfig = serde_json::from_value(old).expect("old config");
        assert_eq!(back.namespaces, NamespaceOption::default());
        assert!(!back.namespaces.host_network());
        let host = NamespaceOption::host(true, true, false);
        assert!(host.host_network());
        assert_eq!(
            (host.pid, host.ipc),
            (NamespaceMode::Node, NamespaceMode::Pod)
        );
    }
}
