//! Image references and what the runtime knows about a pulled image.

use serde::{Deserialize, Serialize};

/// An image reference as written in a pod spec (`registry/repo:tag`,
/// `repo@sha256:…`), or a runtime-specific local reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageSpec {
    /// The reference.
    pub image: String,
}

impl ImageSpec {
    /// An image spec for this reference.
    pub fn new(image: impl Into<String>) -> Self {
        ImageSpec {
            image: image.into(),
        }
    }
}

impl std::fmt::Display for ImageSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.image)
    }
}

/// A pulled image as the runtime's image store sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageStatus {
    /// The content digest that identifies the image (`sha256:…`).
    pub id: String,
    /// References that resolve to it.
    pub repo_tags: Vec<String>,
    /// `repo@digest` forms of those references, when pulled from a registry.
    pub repo_digests: Vec<String>,
    /// Size of the stored content in bytes.
    pub size: u64,
}

/// Credentials for a registry (CRI's `AuthConfig`, reduced to what is used).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RegistryAuth {
    /// No credentials.
    #[default]
    Anonymous,
    /// HTTP basic authentication.
    Basic {
        /// User name.
        username: String,
        /// Password or token.
        password: String,
    },
}

/// Whether a registry host (`host[:port]`) is on the loopback network; both
/// runtimes speak plain HTTP to such registries, as Docker does.
pub fn is_loopback_registry(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry.rsplit_once(':').map_or(registry, |(h, _)| h)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
