//! Container configuration and status: what Kubernetes' container spec
//! becomes at the runtime boundary (CRI's `ContainerConfig` / `ContainerStatus`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use skiff_api::quantity::Quantity;

use crate::{ContainerState, ExitReason, ImageSpec, RuntimeError};

/// One environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// A host directory made visible inside the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Path inside the container.
    pub container_path: String,
    /// Directory on the host.
    pub host_path: PathBuf,
    /// Whether the container may only read it.
    pub readonly: bool,
}

/// Transport protocol of a declared port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    /// TCP (the default).
    Tcp,
    /// UDP.
    Udp,
}

/// A port the container declares it listens on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerPort {
    /// Port number; 0 lets the runtime pick a free one (reported in
    /// [`ContainerStatus::listening`]).
    pub container_port: u16,
    /// Protocol.
    pub protocol: Protocol,
}

/// Resource limits (from `resources.limits`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Memory limit in bytes.
    pub memory_limit_bytes: Option<u64>,
    /// CPU limit in millicores (1000 = one core).
    pub cpu_limit_millis: Option<u64>,
}

impl Resources {
    /// Limits from Kubernetes quantity strings (`64Mi`, `500m`), rejecting
    /// negative, zero or malformed values with the field that was wrong.
    pub fn from_limits(memory: Option<&str>, cpu: Option<&str>) -> Result<Self, RuntimeError> {
        let parse = |field: &str, s: &str| -> Result<Quantity, RuntimeError> {
            s.parse::<Quantity>()
                .map_err(|e| RuntimeError::invalid(field, format!("{s:?}: {e}")))
        };
        let mut r = Resources::default();
        if let Some(m) = memory {
            let field = "resources.limits.memory";
            let bytes = parse(field, m)?.as_bytes();
            if bytes <= 0 {
                return Err(RuntimeError::invalid(
                    field,
                    format!("{m:?} must be positive"),
                ));
            }
            r.memory_limit_bytes = Some(u64::try_from(bytes).unwrap_or(u64::MAX));
        }
        if let Some(c) = cpu {
            let field = "resources.limits.cpu";
            let millis = parse(field, c)?.as_millis();
            if millis <= 0 {
                return Err(RuntimeError::invalid(
                    field,
                    format!("{c:?} must be at least 1m"),
                ));
            }
            r.cpu_limit_millis = Some(u64::try_from(millis).unwrap_or(u64::MAX));
        }
        Ok(r)
    }
}

/// Everything needed to create one container (CRI's `ContainerConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// Container name, unique in its pod.
    pub name: String,
    /// The image to run.
    pub image: ImageSpec,
    /// Overrides the image's entrypoint (Kubernetes `command`); for Wasm it
    /// becomes `argv[0..]` ahead of `args`.
    pub command: Vec<String>,
    /// Arguments (Kubernetes `args`).
    pub args: Vec<String>,
    /// Environment.
    pub env: Vec<EnvVar>,
    /// Working directory inside the container.
    pub working_dir: Option<String>,
    /// Volumes.
    pub mounts: Vec<Mount>,
    /// Limits.
    pub resources: Resources,
    /// Declared ports.
    pub ports: Vec<ContainerPort>,
    /// Log file path relative to the sandbox's log directory.
    pub log_path: PathBuf,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Security settings (Kubernetes `securityContext`); runtimes that do
    /// not isolate with Linux primitives ignore it.
    #[serde(default)]
    pub security: SecurityContext,
    /// Kubernetes `stdin`: the main process reads a stdin that
    /// `kubectl attach -i` writes to (otherwise its stdin is empty).
    #[serde(default)]
    pub stdin: bool,
    /// Kubernetes `stdinOnce`: stdin closes when the first attached client
    /// that wrote to it goes away.
    #[serde(default)]
    pub stdin_once: bool,
    /// Kubernetes `tty`: the main process's stdio is a pseudo-terminal
    /// (its output is logged as stdout and attach resizes apply).
    #[serde(default)]
    pub tty: bool,
}

/// The parts of Kubernetes' pod and container `securityContext` a Linux
/// runtime enforces, already merged (the container's fields win).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SecurityContext {
    /// `privileged`: every capability, no masked paths, no seccomp filter.
    pub privileged: bool,
    /// `capabilities.add`, as written (`NET_ADMIN` or `CAP_NET_ADMIN`; `ALL`).
    pub capabilities_add: Vec<String>,
    /// `capabilities.drop`, as written (`ALL` drops the whole default set).
    pub capabilities_drop: Vec<String>,
    /// `allowPrivilegeEscalation`; when not `Some(true)` (and not
    /// privileged) the process runs with `no_new_privs`.
    pub allow_privilege_escalation: Option<bool>,
    /// `readOnlyRootFilesystem`.
    pub read_only_root_filesystem: bool,
    /// `seccompProfile`.
    pub seccomp: SeccompProfile,
    /// `runAsUser`: replaces the uid of the image's `User`.
    pub run_as_user: Option<u32>,
    /// `runAsGroup`: replaces the gid of the image's `User`.
    pub run_as_group: Option<u32>,
    /// `runAsNonRoot`: refuse to start a process that would run as uid 0.
    pub run_as_non_root: bool,
    /// The pod's `supplementalGroups` and `fsGroup`, as extra gids.
    pub supplemental_groups: Vec<u32>,
}

/// `seccompProfile.type`. Kubernetes runs a container `Unconfined` when the
/// field is unset, so that is the default here too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeccompProfile {
    /// No syscall filter.
    #[default]
    Unconfined,
    /// The runtime's default filter (Docker's default profile).
    RuntimeDefault,
    /// A profile file on the node (`localhostProfile`); the native runtime
    /// refuses it with a clear error.
    Localhost(String),
}

impl ContainerConfig {
    /// A container with this name and image and nothing else set; logs go
    /// to `<name>/0.log` as the kubelet lays them out.
    pub fn new(name: impl Into<String>, image: ImageSpec) -> Self {
        let name = name.into();
        ContainerConfig {
            log_path: PathBuf::from(format!("{name}/0.log")),
            name,
            image,
            command: Vec::new(),
            args: Vec::new(),
            env: Vec::new(),
            working_dir: None,
            mounts: Vec::new(),
            resources: Resources::default(),
            ports: Vec::new(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            security: SecurityContext::default(),
            stdin: false,
            stdin_once: false,
            tty: false,
        }
    }

    /// Replaces the arguments.
    pub fn with_args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Adds an environment variable.
    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push(EnvVar {
            name: name.into(),
            value: value.into(),
        });
        self
    }

    /// Adds a volume mount.
    pub fn with_mount(
        mut self,
        host_path: impl Into<PathBuf>,
        container_path: impl Into<String>,
        readonly: bool,
    ) -> Self {
        self.mounts.push(Mount {
            host_path: host_path.into(),
            container_path: container_path.into(),
            readonly,
        });
        self
    }

    /// Sets the limits.
    pub fn with_resources(mut self, resources: Resources) -> Self {
        self.resources = resources;
        self
    }

    /// Declares a TCP port.
    pub fn with_port(mut self, port: u16) -> Self {
        self.ports.push(ContainerPort {
            container_port: port,
            protocol: Protocol::Tcp,
        });
        self
    }
}

/// A container as the runtime reports it (CRI's `ContainerStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerStatus {
    /// Container id.
    pub id: String,
    /// The sandbox it belongs to.
    pub sandbox_id: String,
    /// Its name.
    pub name: String,
    /// The image as asked for.
    pub image: ImageSpec,
    /// The resolved image id (content digest).
    pub image_ref: String,
    /// Lifecycle state.
    pub state: ContainerState,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it started running.
    pub started_at: Option<Timestamp>,
    /// When it exited.
    pub finished_at: Option<Timestamp>,
    /// Exit code, once exited.
    pub exit_code: Option<i32>,
    /// Why it exited, once exited.
    pub reason: Option<ExitReason>,
    /// A human-readable detail (the trap message, "stopped after grace period" …).
    pub message: Option<String>,
    /// Absolute path of its log file.
    pub log_path: PathBuf,
    /// Addresses its listeners are bound to (a Skiff extension: CRI reports
    /// these in the verbose `info` map).
    pub listening: Vec<SocketAddr>,
}

/// Resource usage of a container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerStats {
    /// CPU time consumed, in nanoseconds.
    pub cpu_usage_nanos: u64,
    /// Memory in use now, in bytes.
    pub memory_working_set_bytes: u64,
    /// The most memory it has used at once, in bytes.
    pub memory_peak_bytes: u64,
}

/// Output of a synchronous exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecResult {
    /// Captured stdout.
    pub stdout: Vec<u8>,
    /// Captured stderr.
    pub stderr: Vec<u8>,
    /// Exit code.
    pub exit_code: i32,
}

/// Which containers [`Runtime::list_containers`](crate::Runtime::list_containers) returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerFilter {
    /// Only containers of this sandbox.
    pub sandbox_id: Option<String>,
    /// Only containers in this state.
    pub state: Option<ContainerState>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_quantities() {
        let r = Resources::from_limits(Some("64Mi"), Some("500m")).unwrap();
        assert_eq!(r.memory_limit_bytes, Some(67_108_864));
        assert_eq!(r.cpu_limit_millis, Some(500));
        let r = Resources::from_limits(Some("1G"), Some("2")).unwrap();
        assert_eq!(r.memory_limit_bytes, Some(1_000_000_000));
        assert_eq!(r.cpu_limit_millis, Some(2000));
    }

    #[test]
    fn bad_limits_name_the_field() {
        let e = Resources::from_limits(Some("lots"), None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid resources.limits.memory: \"lots\""),
            "{e}"
        );
        let e = Resources::from_limits(None, Some("0")).unwrap_err();
        assert!(e.to_string().contains("resources.limits.cpu"), "{e}");
        assert!(Resources::from_limits(Some("-1Mi"), None).is_err());
    }
}
