//! Registry credentials from Docker-style configuration, matched to images
//! as the kubelet's credential keyring matches them.
//!
//! Two formats carry credentials: `config.json` (`{"auths": {"host": …}}`,
//! what `kubectl create secret docker-registry` writes under
//! `.dockerconfigjson`) and the legacy `.dockercfg` (`{"host": …}`). Each
//! entry holds `auth` (base64 of `user:password`) or `username` and
//! `password`. A key is a registry host with an optional port and path,
//! with or without an `https://` scheme; `https://index.docker.io/v1/` is
//! Docker Hub. An image matches a key when the hosts match (a `*` label is
//! a wildcard), the ports are equal and the key's path is a prefix of the
//! image's repository; more specific keys come first.
//!
//! Pure parsing and matching: the node agent reads the Secrets and `skiff
//! run` the file.
//!
//! # Examples
//!
//! ```
//! use skiff_runtime::{DockerKeyring, RegistryAuth};
//!
//! let mut keyring = DockerKeyring::default();
//! keyring
//!     .add_json(br#"{"auths":{"127.0.0.1:5000":{"username":"u","password":"p"}}}"#)
//!     .unwrap();
//! assert_eq!(
//!     keyring.lookup("127.0.0.1:5000/busybox:1"),
//!     [RegistryAuth::Basic { username: "u".into(), password: "p".into() }]
//! );
//! assert!(keyring.lookup("127.0.0.1:5001/busybox:1").is_empty());
//! ```

use base64::Engine as _;
use serde::Deserialize;

use crate::RegistryAuth;

/// The host Docker Hub credentials are filed under.
const DOCKER_HUB: &str = "index.docker.io";

/// Why a credential document was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The document is not JSON of either format.
    #[error("registry credentials are not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// An entry's `auth` field is not base64 of `username:password`.
    #[error(
        "unable to parse auth field for {registry}, must be formatted as base64(username:password)"
    )]
    AuthField {
        /// The entry's key.
        registry: String,
    },
}

/// One entry of either format; `auth` wins over `username`/`password`, as
/// in the kubelet's `DockerConfigEntry`.
#[derive(Debug, Default, Deserialize)]
struct Entry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

impl Entry {
    fn credentials(&self, registry: &str) -> Result<Option<RegistryAuth>, AuthError> {
        if let Some(auth) = self.auth.as_deref().filter(|a| !a.is_empty()) {
            let bad = || AuthError::AuthField {
                registry: registry.to_owned(),
            };
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad())?;
            let text = String::from_utf8(bytes).map_err(|_| bad())?;
            let (username, password) = text.split_once(':').ok_or_else(bad)?;
            return Ok(Some(RegistryAuth::Basic {
                username: username.to_owned(),
                password: password.to_owned(),
            }));
        }
        Ok(match (&self.username, &self.password) {
            (Some(u), Some(p)) if !u.is_empty() => Some(RegistryAuth::Basic {
                username: u.clone(),
                password: p.clone(),
            }),
            // Identity tokens and empty entries carry nothing basic auth
            // can use.
            _ => None,
        })
    }
}

/// A registry key split the way the keyring matches it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    host: String,
    port: Option<String>,
    path: String,
}

impl Key {
    /// Parses `[scheme://]host[:port][/path]`; `/v1/` and `/v2/` prefixes
    /// mean the host itself, as Docker's `ResolveAuthConfig` has them.
    fn parse(location: &str) -> Option<Key> {
        let rest = location
            .strip_prefix("https://")
            .or_else(|| location.strip_prefix("http://"))
            .unwrap_or(location);
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let path = path
            .strip_prefix("/v1")
            .or_else(|| path.strip_prefix("/v2"))
            .filter(|p| p.is_empty() || p.starts_with('/'))
            .unwrap_or(path);
        let path = path.trim_end_matches('/');
        let (host, port) = split_port(hostport);
        if host.is_empty() {
            return None;
        }
        Some(Key {
            host: host.to_ascii_lowercase(),
            port: port.map(str::to_owned),
            path: path.to_owned(),
        })
    }

    /// Whether `image` (host, port, repository path) falls under this key.
    fn matches(&self, image: &Key) -> bool {
        let (a, b): (Vec<_>, Vec<_>) = (
            self.host.split('.').collect(),
            image.host.split('.').collect(),
        );
        a.len() == b.len()
            && a.iter().zip(&b).all(|(g, h)| glob(g, h))
            && self.port == image.port
            && (image.path == self.path
                || image
                    .path
                    .strip_prefix(&self.path)
                    .is_some_and(|rest| self.path.is_empty() || rest.starts_with('/')))
    }

    /// Sort key: more specific entries (longer host and path) first.
    fn text(&self) -> String {
        match &self.port {
            Some(p) => format!("{}:{p}{}", self.host, self.path),
            None => format!("{}{}", self.host, self.path),
        }
    }
}

fn split_port(hostport: &str) -> (&str, Option<&str>) {
    if let Some(rest) = hostport.strip_prefix('[') {
        // [v6]:port
        return match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => (hostport, None),
        };
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        _ => (hostport, None),
    }
}

/// `filepath.Match` reduced to `*` and `?` within one host label.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Splits an image reference into its registry key: host (Docker Hub when
/// the first component names no registry), port and repository path
/// without tag or digest.
fn image_key(image: &str) -> Option<Key> {
    let name = image.split_once('@').map_or(image, |(n, _)| n);
    let name = match name.rsplit_once(':') {
        Some((n, tag)) if !tag.contains('/') => n,
        _ => name,
    };
    let (first, rest) = match name.split_once('/') {
        Some((f, r)) => (f, Some(r)),
        None => (name, None),
    };
    let names_registry = first.contains(['.', ':']) || first == "localhost";
    let (registry, repo) = match rest {
        Some(r) if names_registry => (first, r.to_owned()),
        Some(_) => (DOCKER_HUB, name.to_owned()),
        None => (DOCKER_HUB, format!("library/{name}")),
    };
    let registry = match registry {
        "docker.io" | "registry-1.docker.io" => DOCKER_HUB,
        r => r,
    };
    let mut key = Key::parse(registry)?;
    key.path = format!("/{repo}");
    Some(key)
}

/// Credentials gathered from any number of documents, looked up by image.
#[derive(Clone, Default)]
pub struct DockerKeyring {
    entries: Vec<(Key, RegistryAuth)>,
}

/// Names the registries only: a keyring must not put passwords in logs.
impl std::fmt::Debug for DockerKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(k, _)| k.text()))
            .finish()
    }
}

impl DockerKeyring {
    /// Adds every usable entry of a `config.json` (`{"auths": …}`) or a
    /// legacy `.dockercfg` document. Entries that carry no basic
    /// credentials (identity tokens, empty) are skipped; a malformed
    /// `auth` field refuses the whole document, as the kubelet does.
    pub fn add_json(&mut self, bytes: &[u8]) -> Result<(), AuthError> {
        let doc: serde_json::Value = serde_json::from_slice(bytes).map_err(AuthError::Json)?;
        let map = match doc.get("auths") {
            Some(auths) => auths.clone(),
            None => doc,
        };
        let map: std::collections::BTreeMap<String, serde_json::Value> =
            serde_json::from_value(map).map_err(AuthError::Json)?;
        let mut added = Vec::new();
        for (location, value) in map {
            // Legacy files may hold non-entry keys; they carry nothing.
            let Ok(entry) = serde_json::from_value::<Entry>(value) else {
                continue;
            };
            let (Some(creds), Some(key)) = (entry.credentials(&location)?, Key::parse(&location))
            else {
                continue;
            };
            let key = match key.host.as_str() {
                "docker.io" | "registry-1.docker.io" => Key {
                    host: DOCKER_HUB.to_owned(),
                    ..key
                },
                _ => key,
            };
            added.push((key, creds));
        }
        self.entries.extend(added);
        // Reverse order of the key text puts `host/ns` before `host`, as
        // the kubelet's reverse-sorted index does; stable for equal keys.
        self.entries.sort_by_key(|e| std::cmp::Reverse(e.0.text()));
        Ok(())
    }

    /// Whether the keyring holds no credentials.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every credential whose key matches `image`, most specific first;
    /// empty when none does (then pull anonymously).
    pub fn lookup(&self, image: &str) -> Vec<RegistryAuth> {
        let Some(target) = image_key(image) else {
            return Vec::new();
        };
        let mut out: Vec<RegistryAuth> = Vec::new();
        for (key, creds) in &self.entries {
            if key.matches(&target) && !out.contains(creds) {
                out.push(creds.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(u: &str, p: &str) -> RegistryAuth {
        RegistryAuth::Basic {
            username: u.into(),
            password: p.into(),
        }
    }

    fn keyring(json: &str) -> DockerKeyring {
        let mut k = DockerKeyring::default();
        k.add_json(json.as_bytes()).expect("parses");
        k
    }

    #[test]
    fn config_json_auth_field_decodes_to_basic() {
        // base64("alice:s3cr:et")
        let k = keyring(r#"{"auths":{"127.0.0.1:5000":{"auth":"YWxpY2U6czNjcjpldA=="}}}"#);
        assert_eq!(
            k.lookup("127.0.0.1:5000/busybox:1"),
            [basic("alice", "s3cr:et")]
        );
    }

    #[test]
    fn legacy_dockercfg_and_https_prefix_and_path_are_accepted() {
        let k = keyring(
            r#"{"https://reg.example.com:5000/v1/":{"username":"u","password":"p","email":"e"}}"#,
        );
        assert_eq!(
            k.lookup("reg.example.com:5000/app@sha256:abc"),
            [basic("u", "p")]
        );
        assert!(
            k.lookup("reg.example.com/app").is_empty(),
            "port must match"
        );
        assert!(k.lookup("other.example.com:5000/app").is_empty());
    }

    #[test]
    fn docker_hub_aliases_match_unqualified_images() {
        let k =
            keyring(r#"{"auths":{"https://index.docker.io/v1/":{"username":"h","password":"p"}}}"#);
        for image in [
            "busybox",
            "library/busybox:1",
            "docker.io/library/busybox",
            "index.docker.io/x/y",
        ] {
            assert_eq!(k.lookup(image), [basic("h", "p")], "{image}");
        }
        assert!(k.lookup("quay.io/busybox").is_empty());
        let k = keyring(r#"{"auths":{"docker.io":{"username":"h","password":"p"}}}"#);
        assert_eq!(k.lookup("busybox:1"), [basic("h", "p")]);
    }

    #[test]
    fn more_specific_paths_come_first_and_wildcards_match_one_label() {
        let k = keyring(
            r#"{"auths":{
                "quay.io":{"username":"any","password":"1"},
                "quay.io/team":{"username":"team","password":"2"},
                "*.corp.example":{"username":"wild","password":"3"}}}"#,
        );
        assert_eq!(
            k.lookup("quay.io/team/app:v1"),
            [basic("team", "2"), basic("any", "1")]
        );
        assert_eq!(k.lookup("quay.io/teammate/app"), [basic("any", "1")]);
        assert_eq!(k.lookup("reg.corp.example/app"), [basic("wild", "3")]);
        assert!(k.lookup("a.reg.corp.example/app").is_empty());
    }

    #[test]
    fn bad_documents_are_errors_and_token_entries_are_skipped() {
        let mut k = DockerKeyring::default();
        assert!(matches!(k.add_json(b"not json"), Err(AuthError::Json(_))));
        assert!(matches!(
            k.add_json(br#"{"auths":{"r":{"auth":"bm9jb2xvbg=="}}}"#),
            Err(AuthError::AuthField { .. })
        ));
        k.add_json(br#"{"auths":{"r.io":{"identitytoken":"t"}},"credsStore":"x"}"#)
            .expect("parses");
        assert!(k.is_empty());
    }
}
