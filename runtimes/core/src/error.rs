//! The runtime error type, shaped so the node agent can map each case onto a
//! Kubernetes container reason (`ErrImagePull`, `CreateContainerError` …).

use std::path::PathBuf;

/// Result alias for runtime calls.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Everything a [`Runtime`](crate::Runtime) call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No sandbox, container or image has this id.
    #[error("{kind} {id:?} not found")]
    NotFound {
        /// "container", "pod sandbox" or "image".
        kind: &'static str,
        /// The id or reference that was asked for.
        id: String,
    },
    /// The object exists but is in a state that does not allow the action.
    #[error("cannot {action} {kind} {id:?}: it is {state}")]
    InvalidState {
        /// "container" or "pod sandbox".
        kind: &'static str,
        /// Its id.
        id: String,
        /// What was attempted ("start", "stop" …).
        action: &'static str,
        /// The state it is in.
        state: String,
    },
    /// The runtime does not implement this ability (exec, stats, a port protocol …).
    #[error("{runtime} runtime does not support {what}")]
    Unsupported {
        /// The runtime handler name.
        runtime: String,
        /// What was asked for.
        what: String,
    },
    /// The configuration is invalid (bad quantity, bad mount, missing port …).
    #[error("invalid {field}: {message}")]
    InvalidConfig {
        /// The field at fault, e.g. `resources.limits.memory`.
        field: String,
        /// Why it is invalid.
        message: String,
    },
    /// The image could not be pulled or imported (maps to `ErrImagePull`).
    #[error("pulling image {image}")]
    ImagePull {
        /// The image reference.
        image: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The image was fetched but is not something this runtime can run
    /// (maps to `InvalidImageName` / `ErrImagePull`).
    #[error("image {image} is not runnable: {message}")]
    InvalidImage {
        /// The image reference.
        image: String,
        /// Why not.
        message: String,
    },
    /// The container could not be created (maps to `CreateContainerError`).
    #[error("creating container {name}")]
    CreateContainer {
        /// The container name.
        name: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file or directory the runtime manages could not be used.
    #[error("{path}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Any other failure inside the runtime.
    #[error("{message}")]
    Internal {
        /// What went wrong.
        message: String,
    },
}

impl RuntimeError {
    /// The Kubernetes `ContainerStateWaiting.reason` this error corresponds to.
    pub fn reason(&self) -> &'static str {
        match self {
            RuntimeError::ImagePull { .. } => "ErrImagePull",
            RuntimeError::InvalidImage { .. } => "InvalidImageName",
            RuntimeError::InvalidConfig { .. } => "CreateContainerConfigError",
            _ => "CreateContainerError",
        }
    }

    /// Shorthand for an [`RuntimeError::Io`] error.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for an [`RuntimeError::InvalidConfig`] error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        RuntimeError::InvalidConfig {
            field: field.into(),
            message: message.into(),
        }
    }
}
