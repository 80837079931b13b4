//! The few calls that need `unsafe`, each wrapped once with its reasoning.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::sys::stat::{Mode, SFlag, makedev, mknod};

/// Marks a directory opaque for overlayfs (OCI `.wh..wh..opq`).
pub fn set_opaque(dir: &Path) -> std::io::Result<()> {
    let path = CString::new(dir.as_os_str().as_bytes())?;
    let name = c"trusted.overlay.opaque";
    #[allow(unsafe_code, reason = "setxattr has no safe wrapper in nix")]
    // SAFETY: both strings are NUL-terminated and live across the call; the
    // value pointer and length describe a valid 1-byte buffer.
    let rc =
        unsafe { nix::libc::setxattr(path.as_ptr(), name.as_ptr(), b"y".as_ptr().cast(), 1, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Creates an overlayfs whiteout (a 0:0 character device) at `path`.
pub fn make_whiteout(path: &Path) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    mknod(path, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).map_err(std::io::Error::from)
}

/// Forks. Only for single-threaded processes (the shim).
pub fn fork() -> nix::Result<nix::unistd::ForkResult> {
    #[allow(unsafe_code, reason = "fork is unsafe in nix")]
    // SAFETY: called only by the shim before it starts any thread, so the
    // child inherits no lock held by another thread.
    unsafe {
        nix::unistd::fork()
    }
}

/// A descriptor that polls readable once process `pid` has exited
/// (`pidfd_open(2)`, Linux 5.3).
pub fn pidfd_open(pid: nix::unistd::Pid) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    #[allow(unsafe_code, reason = "nix has no pidfd_open")]
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // or -1; it touches no memory of this process.
    let rc = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = i32::try_from(rc).map_err(|_| std::io::Error::other("pidfd_open: bad descriptor"))?;
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    #[allow(unsafe_code, reason = "taking ownership of a raw descriptor")]
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}
