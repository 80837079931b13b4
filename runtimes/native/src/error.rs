//! Errors of the native runtime's modules, mapped onto the shared
//! [`RuntimeError`] at the trait boundary.

use std::path::PathBuf;

use skiff_runtime::RuntimeError;

/// Errors from the image store and the registry client.
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
    /// Content does not match the digest that named it.
    #[error("digest mismatch for {reference}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The image reference.
        reference: String,
        /// The digest in the manifest.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// The image is not a Linux container image this runtime can run.
    #[error("image {reference} is not runnable: {message}")]
    NotRunnable {
        /// The image reference.
        reference: String,
        /// Why.
        message: String,
    },
    /// A layer could not be unpacked.
    #[error("unpacking layer {digest}")]
    Unpack {
        /// The layer digest.
        digest: String,
        /// The error.
        #[source]
        source: std::io::Error,
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
    /// A JSON document of the store is corrupt.
    #[error("image store document {path} is corrupt")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// No image by this reference is in the store.
    #[error("image {0} is not present")]
    NotPresent(String),
}

impl ImageError {
    /// This error as the shared runtime error, naming the image.
    pub fn into_runtime(self, image: &str) -> RuntimeError {
        match self {
            ImageError::NotPresent(id) => RuntimeError::NotFound { kind: "image", id },
            ImageError::BadReference { message, .. } | ImageError::NotRunnable { message, .. } => {
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

/// Errors from building a bundle or setting up a container's root filesystem.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The OCI runtime spec could not be built or written.
    #[error("OCI runtime spec: {0}")]
    Spec(#[from] oci_spec::OciSpecError),
    /// A syscall failed.
    #[error("{what} {path}")]
    Sys {
        /// What was attempted.
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// A file could not be read or written.
    #[error("{path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl BundleError {
    /// Shorthand for an I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BundleError::Io {
            path: path.into(),
            source,
        }
    }
}
