//! Volume ownership for `securityContext.fsGroup`, as the kubelet's
//! `SetVolumeOwnership` (pkg/volume/volume_linux.go) does it: every file
//! and directory of the volume is put in group fsGroup (owner kept), made
//! group readable (and writable, unless the volume is read-only), and
//! directories get the setgid bit so that what containers create later
//! lands in the group too. A non-root container whose pod sets `fsGroup`
//! can then use a volume whatever uid wrote it.
//!
//! Which volumes get it is decided by the caller (`super`): emptyDir,
//! ConfigMap, Secret, downward API, projected and local claims, never a
//! hostPath, whose files belong to the node.

use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;

use super::{VolumeError, io};

/// Group read and write (`rwMask`).
const RW_MASK: u32 = 0o660;
/// Group read only, for read-only volumes (`roMask`).
const RO_MASK: u32 = 0o440;
/// Search on directories, for owner and group (`execMask`).
const EXEC_MASK: u32 = 0o110;
/// The setgid bit: new entries of a directory take its group.
const SETGID: u32 = 0o2000;

/// `securityContext.fsGroupChangePolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangePolicy {
    /// Walk the whole volume every time it is set up (the default).
    Always,
    /// Skip the walk when the volume's root already has the group and the
    /// permissions the walk would give it: cheap for large volumes that
    /// were already converted.
    OnRootMismatch,
}

/// The group a pod's volumes are to belong to, and when to enforce it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsGroup {
    /// The gid (`fsGroup`).
    pub gid: u32,
    /// When to walk the volume (`fsGroupChangePolicy`).
    pub policy: ChangePolicy,
}

impl FsGroup {
    /// The pod's `fsGroup` and `fsGroupChangePolicy`; `None` without an
    /// fsGroup (or with a negative one, which validation refuses and
    /// `security::effective` reports as a container error).
    pub fn of_pod(pod: &Pod) -> Option<FsGroup> {
        let sc = pod.spec.as_ref()?.security_context.as_ref()?;
        let gid = u32::try_from(sc.fs_group?).ok()?;
        // As the kubelet: anything but OnRootMismatch walks.
        let policy = match sc.fs_group_change_policy.as_deref() {
            Some("OnRootMismatch") => ChangePolicy::OnRootMismatch,
            _ => ChangePolicy::Always,
        };
        Some(FsGroup { gid, policy })
    }

    /// Gives the volume at `root` to this group (see the module docs),
    /// unless the policy is [`ChangePolicy::OnRootMismatch`] and the root
    /// already matches. Returns whether it walked. Blocking.
    pub fn apply(&self, root: &Path, readonly: bool) -> Result<bool, VolumeError> {
        if self.policy == ChangePolicy::OnRootMismatch && !self.root_mismatch(root, readonly) {
            tracing::debug!(path = %root.display(), "volume ownership already set; skipping");
            return Ok(false);
        }
        self.walk(root, readonly)?;
        Ok(true)
    }

    /// The mode a volume file of `mode` has after the walk; what a
    /// ConfigMap-style payload is written with, so that the AtomicWriter's
    /// "nothing changed" check compares like with like.
    pub fn file_mode(mode: u32, readonly: bool) -> u32 {
        new_mode(mode & 0o7777, false, readonly)
    }

    /// The kubelet's `requiresPermissionChange`: the root (symlinks
    /// followed) is not a directory in the group with at least the bits
    /// the walk sets, setgid included.
    fn root_mismatch(&self, root: &Path, readonly: bool) -> bool {
        let Ok(md) = std::fs::metadata(root) else {
            return true;
        };
        let want = mask(readonly) | EXEC_MASK;
        md.gid() != self.gid || !md.is_dir() || md.mode() & want != want || md.mode() & SETGID == 0
    }

    /// Changes every entry under `root`, children before their directory
    /// (as the kubelet's `walkDeep`), so the root is done last and a walk
    /// cut short leaves it unmatched for `OnRootMismatch` to retry.
    /// Symlinks are not followed. Entries that vanish meanwhile are
    /// skipped; a failing chown or chmod is logged and the walk goes on,
    /// as the kubelet does; an unreadable directory fails it.
    ///
    /// Unlike the kubelet, entries are reached through their parent's open
    /// descriptor (`/proc/self/fd/N/name`) and modes set through one of
    /// their own: the agent is root, and a pod sharing the volume must not
    /// be able to swap a directory or file for a symlink mid-walk and so
    /// have a node file chowned or chmodded.
    fn walk(&self, root: &Path, readonly: bool) -> Result<(), VolumeError> {
        let md = root
            .symlink_metadata()
            .map_err(io("reading the ownership of", root))?;
        let mut stack = vec![Entry {
            path: root.to_owned(),
            shown: root.to_owned(),
            md,
            dir: None,
        }];
        while let Some(mut e) = stack.pop() {
            if e.md.is_dir() && e.dir.is_none() {
                let dir = match open_same(&e.path, &e.md, nix::libc::O_DIRECTORY) {
                    Ok(d) => d,
                    Err(err) if swapped(&err) => {
                        tracing::warn!(
                            path = %e.shown.display(),
                            error = %err,
                            "changed during the fsGroup walk; skipped"
                        );
                        continue;
                    }
                    Err(source) => {
                        return Err(VolumeError::Io {
                            what: "opening",
                            path: e.shown,
                            source,
                        });
                    }
                };
                let base = fd_path(&dir);
                let read_err = |source| VolumeError::Io {
                    what: "reading",
                    path: e.shown.clone(),
                    source,
                };
                let mut children = Vec::new();
                for entry in std::fs::read_dir(&base).map_err(read_err)? {
                    let entry = entry.map_err(read_err)?;
                    let path = entry.path();
                    match path.symlink_metadata() {
                        Ok(md) => children.push(Entry {
                            shown: e.shown.join(entry.file_name()),
                            path,
                            md,
                            dir: None,
                        }),
                        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                        Err(source) => {
                            return Err(VolumeError::Io {
                                what: "reading the ownership of",
                                path: e.shown.join(entry.file_name()),
                                source,
                            });
                        }
                    }
                }
                // The directory stays open (its children's paths go
                // through it) until it is changed itself, after them.
                e.dir = Some(dir);
                stack.push(e);
                stack.extend(children);
                continue;
            }
            self.change(&e, readonly);
        }
        Ok(())
    }

    /// The kubelet's `changeFilePermission` for one entry.
    fn change(&self, e: &Entry, readonly: bool) {
        // lchown does not follow a symlink, whatever is at the path now.
        match std::os::unix::fs::lchown(&e.path, None, Some(self.gid)) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
            // As the kubelet: the mode is still worth fixing.
            Err(err) => {
                tracing::warn!(path = %e.shown.display(), error = %err, "lchown for fsGroup");
            }
        }
        // chmod would follow a symlink and change its target's mode.
        if e.md.file_type().is_symlink() {
            return;
        }
        // From the mode read before the chown, which clears setuid/setgid
        // on regular files: chown + chmod keeps them.
        let mode = new_mode(e.md.mode() & 0o7777, e.md.is_dir(), readonly);
        let res = open_same(&e.path, &e.md, nix::libc::O_PATH).and_then(|f| {
            std::fs::set_permissions(fd_path(&f), std::fs::Permissions::from_mode(mode))
        });
        if let Err(err) = res
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %e.shown.display(), error = %err, "chmod for fsGroup");
        }
    }
}

/// One entry of the walk.
struct Entry {
    /// Where to reach it without following a symlink: the root's path, or
    /// `/proc/self/fd/<parent's descriptor>/<name>`.
    path: PathBuf,
    /// Its path under the root, for messages.
    shown: PathBuf,
    /// Its lstat when its parent was read.
    md: std::fs::Metadata,
    /// The open directory, once its children are on the walk's stack.
    dir: Option<std::fs::File>,
}

/// Opens `path` (not following a final symlink, `flags` added) and checks
/// it is still the inode `md` describes and not a symlink; an error of
/// kind `Other` if it is not.
fn open_same(path: &Path, md: &std::fs::Metadata, flags: i32) -> std::io::Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | flags)
        .open(path)?;
    let now = f.metadata()?;
    if now.dev() != md.dev() || now.ino() != md.ino() || now.file_type().is_symlink() {
        return Err(std::io::Error::other("replaced during the walk"));
    }
    Ok(f)
}

/// Whether opening an entry failed because it was removed or replaced
/// (by a symlink, by another file) since it was listed.
fn swapped(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::Other
    ) || matches!(
        e.raw_os_error(),
        Some(nix::libc::ELOOP | nix::libc::ENOTDIR)
    )
}

/// The `/proc/self/fd` path of an open file: opening or changing it
/// reaches that very file, whatever its path now leads to.
fn fd_path(f: &std::fs::File) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()))
}

/// The group bits a volume's entries get.
fn mask(readonly: bool) -> u32 {
    if readonly { RO_MASK } else { RW_MASK }
}

/// `mode` with the group bits added: read (and write unless `readonly`);
/// on directories search and setgid. A file its owner may execute becomes
/// executable by the group too — beyond the kubelet, which adds no execute
/// bit to files, so that a script in a volume (say a ConfigMap with
/// `defaultMode: 0744`) runs for the pod's non-root user through fsGroup.
fn new_mode(mode: u32, dir: bool, readonly: bool) -> u32 {
    let mut m = mode | mask(readonly);
    if dir {
        m |= SETGID | EXEC_MASK;
    } else if mode & 0o100 != 0 {
        m |= 0o010;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSecurityContext, PodSpec};

    const GID: u32 = 2000;

    fn always() -> FsGroup {
        FsGroup {
            gid: GID,
            policy: ChangePolicy::Always,
        }
    }

    fn lstat(p: &Path) -> std::fs::Metadata {
        p.symlink_metadata().unwrap()
    }

    fn perm(p: &Path) -> u32 {
        lstat(p).mode() & 0o7777
    }

    fn set_mode(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// root/ (0755) with f (0600, uid 1234), x (0700), sub/ (0700) holding
    /// g (0644), and a symlink l -> /etc/hostname outside the volume.
    fn tree(root: &Path) {
        std::fs::create_dir_all(root.join("sub")).unwrap();
        set_mode(root, 0o755);
        std::fs::write(root.join("f"), "f").unwrap();
        set_mode(&root.join("f"), 0o600);
        std::os::unix::fs::chown(root.join("f"), Some(1234), None).unwrap();
        std::fs::write(root.join("x"), "#!/bin/sh\n").unwrap();
        set_mode(&root.join("x"), 0o700);
        set_mode(&root.join("sub"), 0o700);
        std::fs::write(root.join("sub/g"), "g").unwrap();
        set_mode(&root.join("sub/g"), 0o644);
        std::os::unix::fs::symlink("/etc/hostname", root.join("l")).unwrap();
    }

    #[test]
    fn fs_group_ownership_walk_sets_group_and_bits() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("vol");
        tree(&root);
        let outside = std::fs::metadata("/etc/hostname").ok();
        assert!(always().apply(&root, false).unwrap());
        for p in ["", "f", "x", "sub", "sub/g", "l"] {
            assert_eq!(lstat(&root.join(p)).gid(), GID, "group of {p:?}");
        }
        assert_eq!(lstat(&root.join("f")).uid(), 1234, "the owner is kept");
        assert_eq!(perm(&root), 0o2775);
        assert_eq!(perm(&root.join("sub")), 0o2770);
        assert_eq!(perm(&root.join("f")), 0o660);
        assert_eq!(perm(&root.join("x")), 0o770, "owner-executable gets g+x");
        assert_eq!(perm(&root.join("sub/g")), 0o664);
        // The symlink's target, outside the volume, is untouched.
        if let (Some(before), Ok(after)) = (outside, std::fs::metadata("/etc/hostname")) {
            assert_eq!(before.gid(), after.gid());
            assert_eq!(before.mode(), after.mode());
        }
        // What is created later in a directory inherits the group.
        std::fs::write(root.join("sub/new"), "n").unwrap();
        assert_eq!(lstat(&root.join("sub/new")).gid(), GID);
    }

    #[test]
    fn read_only_volumes_get_group_read_but_not_write() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("vol");
        tree(&root);
        assert!(always().apply(&root, true).unwrap());
        assert_eq!(lstat(&root.join("sub/g")).gid(), GID);
        assert_eq!(perm(&root), 0o2755);
        assert_eq!(perm(&root.join("sub")), 0o2750);
        assert_eq!(perm(&root.join("f")), 0o640);
        assert_eq!(perm(&root.join("x")), 0o750);
        assert_eq!(perm(&root.join("sub/g")), 0o644);
    }

    #[test]
    fn fs_group_on_root_mismatch_skips_a_matching_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("vol");
        tree(&root);
        let lazy = FsGroup {
            gid: GID,
            policy: ChangePolicy::OnRootMismatch,
        };
        // A root in another group: walked.
        assert!(lazy.apply(&root, false).unwrap());
        assert_eq!(lstat(&root.join("sub/g")).gid(), GID);
        // Content added behind the agent's back stays as it is while the
        // root matches …
        std::fs::write(root.join("late"), "l").unwrap();
        std::os::unix::fs::chown(root.join("late"), None, Some(0)).unwrap();
        assert!(!lazy.apply(&root, false).unwrap());
        assert_eq!(lstat(&root.join("late")).gid(), 0);
        // … but Always walks every time.
        assert!(always().apply(&root, false).unwrap());
        assert_eq!(lstat(&root.join("late")).gid(), GID);
        // A root that lost a bit (no setgid, no group write) is walked again.
        std::os::unix::fs::chown(root.join("late"), None, Some(0)).unwrap();
        set_mode(&root, 0o755);
        assert!(lazy.apply(&root, false).unwrap());
        assert_eq!(lstat(&root.join("late")).gid(), GID);
        assert_eq!(perm(&root), 0o2775);
        // A root in the right group with the read-only bits is enough for
        // a read-only volume, not for a writable one.
        set_mode(&root, 0o2755);
        assert!(!lazy.apply(&root, true).unwrap());
        assert!(lazy.apply(&root, false).unwrap());
    }

    #[test]
    fn setuid_and_setgid_files_keep_their_bits() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("vol");
        std::fs::create_dir_all(&root).unwrap();
        let f = root.join("suid");
        std::fs::write(&f, "x").unwrap();
        set_mode(&f, 0o4750);
        always().apply(&root, false).unwrap();
        assert_eq!(lstat(&f).gid(), GID);
        assert_eq!(perm(&f), 0o4770);
    }

    #[test]
    fn ownership_refuses_an_entry_swapped_for_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("f");
        std::fs::write(&f, "x").unwrap();
        let md = lstat(&f);
        open_same(&f, &md, nix::libc::O_PATH).unwrap();
        let target = tmp.path().join("target");
        std::fs::write(&target, "t").unwrap();
        set_mode(&target, 0o600);
        std::fs::remove_file(&f).unwrap();
        std::os::unix::fs::symlink(&target, &f).unwrap();
        let e = open_same(&f, &md, nix::libc::O_PATH).unwrap_err();
        assert!(swapped(&e), "{e}");
        // What the walk does with such an entry: the symlink gets the
        // group, its target neither the group nor the bits.
        let entry = Entry {
            path: f.clone(),
            shown: f.clone(),
            md,
            dir: None,
        };
        always().change(&entry, false);
        assert_eq!(lstat(&f).gid(), GID);
        assert_eq!(lstat(&target).gid(), 0);
        assert_eq!(perm(&target), 0o600);
    }

    #[test]
    fn fs_group_from_the_pod() {
        let pod = |fs_group: Option<i64>, policy: Option<&str>| Pod {
            spec: Some(PodSpec {
                security_context: Some(PodSecurityContext {
                    fs_group,
                    fs_group_change_policy: policy.map(str::to_owned),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(FsGroup::of_pod(&pod(None, None)), None);
        assert_eq!(FsGroup::of_pod(&pod(Some(-1), None)), None);
        assert_eq!(FsGroup::of_pod(&pod(Some(2000), None)), Some(always()));
        assert_eq!(
            FsGroup::of_pod(&pod(Some(2000), Some("OnRootMismatch"))),
            Some(FsGroup {
                gid: GID,
                policy: ChangePolicy::OnRootMismatch
            })
        );
        assert_eq!(
            FsGroup::of_pod(&pod(Some(2000), Some("Always"))),
            Some(always())
        );
        assert_eq!(FsGroup::of_pod(&Pod::default()), None);
    }
}
