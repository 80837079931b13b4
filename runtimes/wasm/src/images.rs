//! The content-addressed image store: each Wasm binary is kept once under
//! `blobs/sha256/<hex>`, and `index.json` maps references to digests. Images
//! arrive by local import or by pulling from a registry ([`crate::oci`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use skiff_runtime::ImageStatus;

use crate::error::ImageError;

/// What the store records for one reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Digest of the Wasm binary (`sha256:<hex>`): the image id.
    pub digest: String,
    /// Size of the binary.
    pub size: u64,
    /// Digest of the registry manifest it came from, if pulled.
    pub manifest_digest: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    images: BTreeMap<String, ImageRecord>,
}

/// A directory of Wasm binaries named by digest.
pub struct ImageStore {
    root: PathBuf,
    index: Mutex<Index>,
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for b in hash {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether `bytes` start like a Wasm module or component.
pub fn looks_like_wasm(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\0asm")
}

impl ImageStore {
    /// Opens (creating) a store under `root`. Blocking: file I/O.
    pub fn open(root: &Path) -> Result<ImageStore, ImageError> {
        let io = |path: &Path, source| ImageError::Io {
            path: path.to_owned(),
            source,
        };
        std::fs::create_dir_all(root.join("blobs/sha256")).map_err(|e| io(root, e))?;
        let index_path = root.join("index.json");
        let index = match std::fs::read(&index_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| ImageError::Index {
                path: index_path.clone(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Index::default(),
            Err(e) => return Err(io(&index_path, e)),
        };
        Ok(ImageStore {
            root: root.to_owned(),
            index: Mutex::new(index),
        })
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf, ImageError> {
        let hex = digest.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ImageError::NotPresent(digest.to_owned()));
        }
        Ok(self.root.join("blobs/sha256").join(hex))
    }

    /// Stores a Wasm binary under `reference`. Blocking.
    pub fn add(
        &self,
        reference: &str,
        wasm: &[u8],
        manifest_digest: Option<String>,
    ) -> Result<ImageRecord, ImageError> {
        if !looks_like_wasm(wasm) {
            return Err(ImageError::NotWasm {
                reference: reference.to_owned(),
                message: "content does not start with the Wasm magic \\0asm".to_owned(),
            });
        }
        let digest = sha256_digest(wasm);
        let path = self.blob_path(&digest)?;
        if !path.exists() {
            // Write then rename, so a crash never leaves a truncated blob
            // under a digest it does not match.
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, wasm).map_err(|source| ImageError::Io {
                path: tmp.clone(),
                source,
            })?;
            std::fs::rename(&tmp, &path).map_err(|source| ImageError::Io {
                path: path.clone(),
                source,
            })?;
        }
        let record = ImageRecord {
            digest,
            size: wasm.len() as u64,
            manifest_digest,
        };
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        index.images.insert(reference.to_owned(), record.clone());
        self.save(&index)?;
        Ok(record)
    }

    /// Imports a local `.wasm` file; the reference defaults to
    /// `localhost/<file stem>:latest`. Blocking.
    pub fn import_file(
        &self,
        path: &Path,
        reference: Option<&str>,
    ) -> Result<(String, ImageRecord), ImageError> {
        let wasm = std::fs::read(path).map_err(|source| ImageError::Io {
            path: path.to_owned(),
            source,
        })?;
        let reference = match reference {
            Some(r) => r.to_owned(),
            None => {
                let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
                format!("localhost/{stem}:latest")
            }
        };
        let record = self.add(&reference, &wasm, None).map_err(|e| match e {
            ImageError::NotWasm { .. } => ImageError::NotWasm {
                reference: path.display().to_string(),
                message: "file is not a WebAssembly module or component".to_owned(),
            },
            other => other,
        })?;
        Ok((reference, record))
    }

    /// The record for a reference, or for an image id (`sha256:…`).
    pub fn resolve(&self, reference: &str) -> Option<ImageRecord> {
        let index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = index.images.get(reference) {
            return Some(r.clone());
        }
        index
            .images
            .values()
            .find(|r| r.digest == reference)
            .cloned()
    }

    /// Reads a binary and checks it still matches its digest. Blocking.
    pub fn read(&self, digest: &str) -> Result<Vec<u8>, ImageError> {
        let path = self.blob_path(digest)?;
        let bytes = std::fs::read(&path).map_err(|source| ImageError::Io {
            path: path.clone(),
            source,
        })?;
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(ImageError::DigestMismatch {
                reference: path.display().to_string(),
                expected: digest.to_owned(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Every reference, grouped by image.
    pub fn list(&self) -> Vec<ImageStatus> {
        let index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        skiff_runtime::group_references(index.images.iter().map(|(reference, rec)| {
            skiff_runtime::StoredReference {
                reference,
                id: &rec.digest,
                size: rec.size,
                manifest_digest: rec.manifest_digest.as_deref(),
            }
        }))
    }

    /// The status of one image.
    pub fn status(&self, reference: &str) -> Option<ImageStatus> {
        let rec = self.resolve(reference)?;
        self.list().into_iter().find(|s| s.id == rec.digest)
    }

    /// Removes a reference; the blob goes when no reference uses it.
    /// Returns the digest if the blob was deleted. Blocking.
    pub fn remove(&self, reference: &str) -> Result<Option<String>, ImageError> {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let Some(rec) = index.images.remove(reference) else {
            return Ok(None);
        };
        self.save(&index)?;
        if index.images.values().any(|r| r.digest == rec.digest) {
            return Ok(None);
        }
        let path = self.blob_path(&rec.digest)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(Some(rec.digest)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Some(rec.digest)),
            Err(source) => Err(ImageError::Io { path, source }),
        }
    }

    fn save(&self, index: &Index) -> Result<(), ImageError> {
        let path = self.root.join("index.json");
        let tmp = self.root.join("index.json.tmp");
        let bytes = serde_json::to_vec_pretty(index).map_err(|source| ImageError::Index {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&tmp, bytes).map_err(|source| ImageError::Io {
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, &path).map_err(|source| ImageError::Io { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WASM: &[u8] = b"\0asm\x01\0\0\0";

    #[test]
    fn add_resolve_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let rec = store.add("localhost/a:1", WASM, None).unwrap();
        assert_eq!(rec.digest, sha256_digest(WASM));
        store
            .add("localhost/b:1", WASM, Some("sha256:abc".into()))
            .unwrap();
        assert_eq!(store.resolve(&rec.digest).unwrap().digest, rec.digest);
        assert_eq!(store.read(&rec.digest).unwrap(), WASM);
        let list = store.list();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].repo_tags.len(), 2);
        // Reopening reads the index back.
        let again = ImageStore::open(dir.path()).unwrap();
        assert!(again.resolve("localhost/b:1").is_some());
        assert_eq!(again.remove("localhost/a:1").unwrap(), None);
        assert_eq!(
            again.remove("localhost/b:1").unwrap(),
            Some(rec.digest.clone())
        );
        assert!(again.read(&rec.digest).is_err());
    }

    #[test]
    fn rejects_non_wasm_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        assert!(matches!(
            store.add("x", b"#!/bin/sh", None),
            Err(ImageError::NotWasm { .. })
        ));
        let rec = store.add("x", WASM, None).unwrap();
        std::fs::write(
            store.blob_path(&rec.digest).unwrap(),
            b"\0asm\x01\0\0\0tampered",
        )
        .unwrap();
        assert!(matches!(
            store.read(&rec.digest),
            Err(ImageError::DigestMismatch { .. })
        ));
        assert!(store.read("sha256:../../etc/passwd").is_err());
    }
}
