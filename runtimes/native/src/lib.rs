//! Skiff's native runtime: Linux containers from OCI images.
//!
//! The node agent drives it through [`skiff_runtime::Runtime`], as it drives
//! the Wasm runtime. Images are pulled with oci-client and each layer is
//! unpacked once into a content-addressed store ([`image`]); a container's
//! root filesystem is an overlay of those layers. [`bundle`] writes a
//! standard OCI runtime bundle (`config.json` via oci-spec), so `runc run`
//! can run exactly what Skiff runs. The executor lives in the
//! `skiff-native-shim` binary ([`shim`]): one process per container that
//! creates the cgroup (cgroups-rs, v1 or v2), new pid/mount/uts/ipc
//! namespaces, joins the pod's network namespace (a pod with `hostNetwork`,
//! `hostPID` or `hostIPC` keeps the node's instead, see
//! [`skiff_runtime::NamespaceOption`]), pivots into the rootfs,
//! execs the process and records logs (CRI format) and the exit status.
//! Its state lives in files, so a restarted runtime re-adopts running
//! containers; exec and stats are supported.
//!
//! # Examples
//!
//! ```no_run
//! # async fn demo() -> skiff_runtime::Result<()> {
//! use skiff_runtime::{ContainerConfig, ImageSpec, PodSandboxConfig, RegistryAuth, Runtime};
//! use skiff_runtime_native::{NativeRuntime, NativeRuntimeConfig};
//!
//! let rt = NativeRuntime::new(NativeRuntimeConfig::new("/var/lib/skiff/native"))?;
//! let image = ImageSpec::new("127.0.0.1:5000/busybox:1");
//! rt.images().pull_image(&image, &RegistryAuth::Anonymous).await?;
//! let pod = rt.run_pod_sandbox(&PodSandboxConfig::new("default", "demo", "/var/log/pods/demo")).await?;
//! let mut c = ContainerConfig::new("hello", image);
//! c.command = vec!["echo".into(), "hi".into()];
//! let id = rt.create_container(&pod, &c).await?;
//! rt.start_container(&id).await?;
//! let status = rt.wait_container(&id).await?;
//! assert_eq!(status.exit_code, Some(0));
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
#![deny(unsafe_code)]

mod attach;
pub mod bundle;
mod confine;
pub mod error;
mod etcfiles;
mod exec;
pub mod image;
pub mod network;
mod runtime;
mod seccomp;
pub mod security;
pub mod shim;
mod state;
mod stats;
mod sys;
#[cfg(feature = "testing")]
pub mod testing;

pub use network::PodNetwork;
pub use runtime::{NativeImages, NativeRuntime, NativeRuntimeConfig};
