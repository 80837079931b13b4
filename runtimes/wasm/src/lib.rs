//! Skiff's WebAssembly runtime: runs WASI P1 core modules and P2 components
//! as containers, and serves `wasi:http/incoming-handler` components over
//! HTTP/1.1, behind the CRI-shaped [`skiff_runtime::Runtime`] trait.
//!
//! It is the only crate of Skiff that depends on wasmtime. The node agent
//! picks it for pods whose RuntimeClass handler is `wasmtime`; `skiff run
//! --runtime wasmtime` uses it without a cluster.
//!
//! How an image becomes a running container:
//! 1. [`images`]: the image is imported from a `.wasm` file or pulled from a
//!    registry by [`oci`] (Wasm OCI artifact or a one-`.wasm` tar layer),
//!    digest-checked, and stored once by digest.
//! 2. [`engine`]: on create, the binary is compiled (or loaded from the
//!    on-disk code cache), its kind detected from its exports, and linked
//!    into an `InstancePre`; kept by digest so later starts skip both, and
//!    compiled once however many containers of the image are created at once.
//! 3. [`spec`]: the container config becomes argv, env, preopened volumes,
//!    store limits and an epoch-deadline CPU account.
//! 4. Start runs a command to exit ([`command`]) or binds the declared ports
//!    and instantiates the component once per request ([`service`]); output
//!    goes to a CRI-format log file ([`logs`]), and outgoing HTTP leaves from
//!    the pod's IP ([`outgoing`]).
//!
//! # Examples
//!
//! See [`WasmRuntime`].

#![deny(missing_docs)]

pub mod command;
pub mod engine;
pub mod error;
pub mod host;
pub mod images;
pub mod logs;
pub mod oci;
pub mod outgoing;
mod runtime;
pub mod service;
mod singleflight;
pub mod spec;

pub use engine::{EngineConfig, WasmKind};
pub use error::{CompileError, ImageError, WasmError};
pub use runtime::{REQUEST_TIMEOUT_ANNOTATION, WasmRuntime, WasmRuntimeConfig, parse_duration};
