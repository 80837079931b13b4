//! Errors of the Wasm runtime's own modules, gathered into [`WasmError`] and
//! mapped onto the shared [`RuntimeError`] at the trait boundary.

use std::path::PathBuf;

use skiff_runtime::RuntimeError;

/// Errors from the image store and registry client.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The reference does not parse.
    #[error("invalid image reference {reference:?}: {message}")]
    BadReference {
        /// As given.
        reference: String,
        /// Why it does not parse.
        message: String,
    },
    /// The registry refused or failed.
    #[error("registry request for {reference} failed")]
    Registry {
        /// The image reference.
        reference: String,
        /// The client's error.
        #[source]
        source: oci_client::errors::OciDistributionError,
    },
    /// The content does not match the digest that named it.
    #[error("digest mismatch for {reference}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The image reference.
        reference: String,
        /// The digest in the manifest.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// The image holds no (or more than one) Wasm binary.
    #[error("image {reference} is not a Wasm image: {message}")]
    NotWasm {
        /// The image reference.
        reference: String,
        /// What was found instead.
        message: String,
    },
    /// A file of the store could not be read or written.
    #[error("image store file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The store's index is corrupt.
    #[error("image store index {path} is corrupt")]
    Index {
        /// The index file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// No image by this reference is in the store.
    #[error("image {0} is not present")]
    NotPresent(String),
}

/// Errors from compiling and linking Wasm.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The bytes are not a Wasm module or component.
    #[error("not a WebAssembly module or component (bad magic or version)")]
    NotWasm,
    /// Compilation or validation failed.
    #[error("compiling: {0:#}")]
    Compile(wasmtime::Error),
    /// Linking failed: an import this runtime does not provide.
    #[error("linking: {0:#}")]
    Link(wasmtime::Error),
    /// The binary is valid but is neither a command nor an HTTP service.
    #[error("{0}")]
    UnknownKind(String),
    /// The engine could not be set up.
    #[error("setting up the wasmtime engine: {0:#}")]
    Engine(wasmtime::Error),
}

/// Everything this crate can fail with.
#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    /// Image store or registry.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Compilation or linking.
    #[error(transparent)]
    Compile(#[from] CompileError),
}

impl ImageError {
    /// This error as the shared runtime error, naming the image.
    pub fn into_runtime(self, image: &str) -> RuntimeError {
        match self {
            ImageError::NotPresent(id) => RuntimeError::NotFound { kind: "image", id },
            ImageError::BadReference { message, .. } | ImageError::NotWasm { message, .. } => {
                RuntimeError::InvalidImage {
                    image: image.to_owned(),
                    message,
                }
            }
            other => RuntimeError::ImagePull {
                image: image.to_owned(),
                source: Box::new(other),
            },
        }
    }
}

impl From<WasmError> for RuntimeError {
    fn from(e: WasmError) -> Self {
        match e {
            WasmError::Image(e) => e.into_runtime("(unknown)"),
            WasmError::Compile(e) => RuntimeError::Internal {
                message: e.to_string(),
            },
        }
    }
}
