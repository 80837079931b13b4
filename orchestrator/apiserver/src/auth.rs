//! Authentication by bearer token, from a static token file in the data
//! directory (the format of kube-apiserver's `--token-auth-file`:
//! `token,user,uid,"group1,group2"`).
//!
//! Tokens are kept as SHA-256 digests, so the map lookup does not compare
//! secrets byte by byte.

use std::collections::HashMap;
use std::path::Path;

use http::HeaderMap;
use sha2::{Digest, Sha256};

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// User name, e.g. `admin` or `system:kube-scheduler`.
    pub name: String,
    /// Unique id.
    pub uid: String,
    /// Groups, e.g. `system:masters`.
    pub groups: Vec<String>,
}

/// Maps bearer tokens to users.
#[derive(Clone, Debug, Default)]
pub struct Authenticator {
    by_digest: HashMap<[u8; 32], User>,
}

/// Errors reading a token file.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The file could not be read.
    #[error("reading token file {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not `token,user,uid[,groups]`.
    #[error("{path}:{line}: expected token,user,uid[,\"groups\"]")]
    Format {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
    },
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Authenticator {
    /// Adds a token for a user.
    pub fn add(&mut self, token: &str, user: User) {
        self.by_digest.insert(digest(token), user);
    }

    /// Reads a token file.
    pub fn from_file(path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut a = Authenticator::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.splitn(4, ',');
            let (Some(token), Some(name), Some(uid)) =
                (fields.next(), fields.next(), fields.next())
            else {
                return Err(AuthError::Format {
                    path: path.display().to_string(),
                    line: i + 1,
                });
            };
            let groups = fields
                .next()
                .map(|g| {
                    g.trim_matches('"')
                        .split(',')
                        .filter(|g| !g.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            a.add(
                token,
                User {
                    name: name.to_owned(),
                    uid: uid.to_owned(),
                    groups,
                },
            );
        }
        Ok(a)
    }

    /// The user a request's `Authorization: Bearer` header names.
    pub fn authenticate(&self, headers: &HeaderMap) -> Option<User> {
        let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?;
        self.by_digest.get(&digest(token.trim())).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_round_trip() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("tokens.csv");
        std::fs::write(
            &p,
            "# comment\nsecret,admin,1,\"system:masters,ops\"\nother,bob,2\n",
        )
        .expect("write");
        let a = Authenticator::from_file(&p).expect("parse");
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            "Bearer secret".parse().expect("hdr"),
        );
        let u = a.authenticate(&h).expect("admin");
        assert_eq!(u.groups, ["system:masters", "ops"]);
        h.insert(
            http::header::AUTHORIZATION,
            "Bearer wrong".parse().expect("hdr"),
        );
        assert!(a.authenticate(&h).is_none());
        std::fs::write(&p, "justatoken\n").expect("write");
        assert!(Authenticator::from_file(&p).is_err());
    }
}
