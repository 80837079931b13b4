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

/// One stored reference, as an image store's index holds it.
#[derive(Debug, Clone, Copy)]
pub struct StoredReference<'a> {
    /// The reference, e.g. `127.0.0.1:5000/app:v1`.
    pub reference: &'a str,
    /// The image it resolves to.
    pub id: &'a str,
    /// Size of the stored content.
    pub size: u64,
    /// The manifest digest, when pulled from a registry.
    pub manifest_digest: Option<&'a str>,
}

/// Groups an image store's references into one [`ImageStatus`] per image,
/// with `repo@digest` forms for pulled ones. Shared by every runtime so
/// `crictl images`-style listings agree.
pub fn group_references<'a>(
    refs: impl IntoIterator<Item = StoredReference<'a>>,
) -> Vec<ImageStatus> {
    let mut by_id: std::collections::BTreeMap<&str, ImageStatus> =
        std::collections::BTreeMap::new();
    for r in refs {
        let st = by_id.entry(r.id).or_insert_with(|| ImageStatus {
            id: r.id.to_owned(),
            repo_tags: Vec::new(),
            repo_digests: Vec::new(),
            size: r.size,
        });
        st.repo_tags.push(r.reference.to_owned());
        if let Some(m) = r.manifest_digest {
            // Strip the tag, not a registry port: `host:5000/app` has none.
            let repo = r
                .reference
                .rsplit_once(':')
                .filter(|(_, tag)| !tag.contains('/'))
                .map_or(r.reference, |(repo, _)| repo);
            st.repo_digests.push(format!("{repo}@{m}"));
        }
    }
    by_id.into_values().collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_group_by_image_and_keep_registry_ports() {
        let refs = [
            StoredReference {
                reference: "127.0.0.1:5000/app:v1",
                id: "sha256:a",
                size: 3,
                manifest_digest: Some("sha256:m"),
            },
            StoredReference {
                reference: "127.0.0.1:5000/app",
                id: "sha256:a",
                size: 3,
                manifest_digest: Some("sha256:m"),
            },
            StoredReference {
                reference: "local/tool:v2",
                id: "sha256:b",
                size: 5,
                manifest_digest: None,
            },
        ];
        let images = group_references(refs);
        assert_eq!(images.len(), 2);
        assert_eq!(
            images[0].repo_tags,
            ["127.0.0.1:5000/app:v1", "127.0.0.1:5000/app"]
        );
        assert_eq!(
            images[0].repo_digests,
            ["127.0.0.1:5000/app@sha256:m", "127.0.0.1:5000/app@sha256:m"]
        );
        assert!(images[1].repo_digests.is_empty());
    }
}
