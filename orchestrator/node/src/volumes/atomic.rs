//! The kubelet's AtomicWriter: a volume's files are replaced as a whole,
//! so that a reader never sees half an update.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{VolumeError, io};

/// The name of the symlink that points at the current data directory.
const DATA_DIR: &str = "..data";
/// The symlink made beside [`DATA_DIR`] and renamed over it.
const DATA_DIR_TMP: &str = "..data_tmp";
/// One file of a volume's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProjection {
    /// Content.
    pub data: Vec<u8>,
    /// Permission bits.
    pub mode: u32,
}

/// A volume's files by relative path.
pub type Payload = BTreeMap<String, FileProjection>;

/// Checks a payload path as the AtomicWriter does: relative, no `..`
/// element, not starting with `..`.
fn validate_path(p: &str) -> Result<(), VolumeError> {
    let bad = |why| {
        Err(VolumeError::BadPath {
            path: p.to_owned(),
            why,
        })
    };
    if p.is_empty() {
        return bad("empty");
    }
    if p.len() > 4096 {
        return bad("longer than 4096 characters");
    }
    if Path::new(p).is_absolute() {
        return bad("must be relative");
    }
    if p.split('/').any(|e| e == "..") {
        return bad("must not contain '..'");
    }
    if p.starts_with("..") {
        return bad("must not start with '..'");
    }
    if p.split('/').any(|e| e.len() > 255) {
        return bad("has an element longer than 255 characters");
    }
    Ok(())
}

/// The files under `dir`, by path relative to it.
fn read_tree(dir: &Path) -> std::io::Result<Payload> {
    fn walk(base: &Path, rel: &str, out: &mut Payload) -> std::io::Result<()> {
        for e in std::fs::read_dir(base.join(rel))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let md = e.metadata()?;
            if md.is_dir() {
                walk(base, &rel, out)?;
            } else {
                out.insert(
                    rel.clone(),
                    FileProjection {
                        data: std::fs::read(base.join(&rel))?,
                        mode: md.permissions().mode() & 0o7777,
                    },
                );
            }
        }
        Ok(())
    }
    let mut out = Payload::new();
    walk(dir, "", &mut out)?;
    Ok(out)
}

/// Writes `payload` into `dir` the way the kubelet's AtomicWriter does, so
/// that a reader never sees half an update: the files go into a fresh
/// timestamped directory `..<time>`, a `..data` symlink to it is swapped in
/// by `rename`, and each top-level name is a symlink to `..data/<name>`.
/// Returns whether anything changed (an identical payload writes nothing).
pub fn write_atomic(dir: &Path, payload: &Payload) -> Result<bool, VolumeError> {
    write_atomic_with(dir, payload, |_| Ok(()))
}

/// [`write_atomic`], calling `set_perms(dir)` once the new files are
/// written and before they become visible (the AtomicWriter's `setPerms`
/// hook, where the kubelet applies fsGroup ownership); if it fails,
/// nothing is swapped in.
pub fn write_atomic_with(
    dir: &Path,
    payload: &Payload,
    set_perms: impl FnOnce(&Path) -> Result<(), VolumeError>,
) -> Result<bool, VolumeError> {
    for p in payload.keys() {
        validate_path(p)?;
    }
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let data_link = dir.join(DATA_DIR);
    let old = std::fs::read_link(&data_link).ok();
    if let Some(old) = &old
        && read_tree(&dir.join(old)).is_ok_and(|t| &t == payload)
    {
        return Ok(false);
    }
    let stamp = jiff::Timestamp::now()
        .strftime("..%Y_%m_%d_%H_%M_%S.%f")
        .to_string();
    let (ts_name, ts_dir) = (0..)
        .map(|n| {
            let name = if n == 0 {
                stamp.clone()
            } else {
                format!("{stamp}{n}")
            };
            let path = dir.join(&name);
            (name, path)
        })
        .find(|(_, p)| !p.exists())
        .unwrap_or_else(|| (stamp.clone(), dir.join(&stamp)));
    std::fs::create_dir(&ts_dir).map_err(io("creating", &ts_dir))?;
    let write_all = || -> Result<(), VolumeError> {
        for (rel, f) in payload {
            let path = ts_dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
            }
            let mut file = std::fs::File::create(&path).map_err(io("writing", &path))?;
            file.write_all(&f.data).map_err(io("writing", &path))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode))
                .map_err(io("setting the mode of", &path))?;
        }
        std::fs::set_permissions(&ts_dir, std::fs::Permissions::from_mode(0o755))
            .map_err(io("setting the mode of", &ts_dir))
    };
    if let Err(e) = write_all().and_then(|()| set_perms(dir)) {
        let _ = std::fs::remove_dir_all(&ts_dir);
        return Err(e);
    }
    let tops: BTreeSet<&str> = payload.keys().filter_map(|p| p.split('/').next()).collect();
    for top in &tops {
        let link = dir.join(top);
        if link.symlink_metadata().is_err() {
            std::os::unix::fs::symlink(Path::new(DATA_DIR).join(top), &link)
                .map_err(io("linking", &link))?;
        }
    }
    let tmp = dir.join(DATA_DIR_TMP);
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&ts_name, &tmp).map_err(io("linking", &tmp))?;
    std::fs::rename(&tmp, &data_link).map_err(io("swapping", &data_link))?;
    for e in std::fs::read_dir(dir).map_err(io("reading", dir))? {
        let e = e.map_err(io("reading", dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("..") && !tops.contains(name.as_str()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    if let Some(old) = old
        && old != Path::new(&ts_name)
    {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(true)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn payload_of(files: &[(&str, &str, u32)]) -> Payload {
        files
            .iter()
            .map(|(p, d, m)| {
                (
                    (*p).to_owned(),
                    FileProjection {
                        data: d.as_bytes().to_vec(),
                        mode: *m,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn atomic_writer_layout_and_update() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vol");
        let p1 = payload_of(&[("a", "1", 0o644), ("sub/b", "2", 0o600)]);
        assert!(write_atomic(&dir, &p1).unwrap());
        let data = std::fs::read_link(dir.join("..data")).unwrap();
        let ts = data.to_string_lossy().into_owned();
        assert!(ts.starts_with("..") && dir.join(&ts).is_dir(), "{ts}");
        assert_eq!(
            std::fs::read_link(dir.join("a")).unwrap(),
            Path::new("..data/a")
        );
        assert_eq!(
            std::fs::read_link(dir.join("sub")).unwrap(),
            Path::new("..data/sub")
        );
        assert_eq!(std::fs::read_to_string(dir.join("sub/b")).unwrap(), "2");
        let mode = std::fs::metadata(dir.join("sub/b"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // The same payload writes nothing.
        assert!(!write_atomic(&dir, &p1).unwrap());
        assert_eq!(std::fs::read_link(dir.join("..data")).unwrap(), data);
        // A new payload swaps the data dir, drops stale names and the old dir.
        let p2 = payload_of(&[("a", "one", 0o644), ("c", "3", 0o644)]);
        assert!(write_atomic(&dir, &p2).unwrap());
        assert_ne!(std::fs::read_link(dir.join("..data")).unwrap(), data);
        assert!(!dir.join(&ts).exists());
        assert!(dir.join("sub").symlink_metadata().is_err());
        assert_eq!(std::fs::read_to_string(dir.join("a")).unwrap(), "one");
        assert_eq!(std::fs::read_to_string(dir.join("c")).unwrap(), "3");
        let names: BTreeSet<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 4, "{names:?}");
        assert!(!dir.join("..data_tmp").exists());
    }

    #[test]
    fn atomic_writer_refuses_escapes() {
        let tmp = tempfile::tempdir().unwrap();
        for bad in ["../x", "/etc/x", "..x", "a/../../b", ""] {
            let p = payload_of(&[(bad, "x", 0o644)]);
            assert!(write_atomic(tmp.path(), &p).is_err(), "{bad}");
        }
    }
}
