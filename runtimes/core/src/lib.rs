//! The contract between the node agent and a container runtime.
//!
//! Skiff runs a pod either as WebAssembly in wasmtime (`skiff-runtime-wasm`) or
//! as Linux containers (`skiff-runtime-native`). The node agent drives both
//! through the same CRI-shaped [`Runtime`] trait: pull an image, run a pod
//! sandbox, create/start/stop/remove containers in it, read their status and
//! logs. Optional abilities ([`ExecService`], [`StatsService`]) are separate
//! traits; a runtime that lacks one answers [`RuntimeError::Unsupported`].
//!
//! This crate holds only plain data and the traits: no wasmtime, no Linux.
//! With the `conformance` feature it also carries [`conformance`], the shared
//! test harness every runtime implementation must pass (runwasi's `WasiTest`).
//!
//! # Examples
//!
//! ```
//! use skiff_runtime::{ContainerConfig, ImageSpec, Resources};
//!
//! let limits = Resources::from_limits(Some("64Mi"), Some("500m")).unwrap();
//! assert_eq!(limits.memory_limit_bytes, Some(64 * 1024 * 1024));
//! let config = ContainerConfig::new("hello", ImageSpec::new("localhost:5000/hello:1"))
//!     .with_args(["world"])
//!     .with_env("GREETING", "hi")
//!     .with_resources(limits);
//! assert_eq!(config.args, ["world"]);
//! ```

#![deny(missing_docs)]

pub mod attach;
mod auth;
#[cfg(feature = "conformance")]
pub mod conformance;
mod container;
mod error;
mod image;
pub mod logs;
mod runtime;
mod sandbox;
mod state;

pub use auth::{AuthError, DockerKeyring};
pub use container::{
    ContainerConfig, ContainerFilter, ContainerPort, ContainerStats, ContainerStatus, EnvVar,
    ExecResult, Mount, Protocol, Resources, SeccompProfile, SecurityContext,
};
pub use error::{Result, RuntimeError};
pub use image::{
    ImageSpec, ImageStatus, RegistryAuth, StoredReference, group_references, is_loopback_registry,
};
pub use runtime::{ExecService, ImageService, Runtime, StatsService};
pub use sandbox::{
    NamespaceMode, NamespaceOption, PodSandboxConfig, PodSandboxState, PodSandboxStatus,
};
pub use state::{ContainerState, ExitReason};

/// The exit code the runtime reports for a container it had to kill (as a
/// Linux container killed by SIGKILL reports 128 + 9).
pub const EXIT_CODE_KILLED: i32 = 137;
