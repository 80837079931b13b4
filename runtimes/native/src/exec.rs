//! `skiff-native-shim exec DIR -- CMD…`: runs a command inside a running
//! container. Joins its cgroup and its ipc/uts/net/pid/mount namespaces,
//! forks (so the command is inside the pid namespace), takes the container
//! process's env, user, rlimits, capabilities, no_new_privs and seccomp
//! filter ([`crate::confine`]), and exits with the command's status. Its stdout/stderr are the command's.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

use cgroups_rs::CgroupPid;
use cgroups_rs::fs::cgroup::Cgroup;
use cgroups_rs::fs::hierarchies;
use nix::sched::{CloneFlags, setns};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::ForkResult;
use oci_spec::runtime::Spec;

use crate::shim::{SHIM_CONFIG, ShimConfig, exec_process};
use crate::sys;

/// Runs `cmd` in the container of `dir`; returns its exit code.
pub fn exec(dir: &Path, cmd: &[String]) -> Result<i32, String> {
    let cfg: ShimConfig = serde_json::from_slice(
        &std::fs::read(dir.join(SHIM_CONFIG)).map_err(|e| format!("{SHIM_CONFIG}: {e}"))?,
    )
    .map_err(|e| format!("{SHIM_CONFIG}: {e}"))?;
    let spec =
        Spec::load(cfg.bundle.join("config.json")).map_err(|e| format!("config.json: {e}"))?;
    let pid: i32 = std::fs::read_to_string(dir.join("pid"))
        .map_err(|e| format!("the container is not running (pid file: {e})"))?
        .trim()
        .parse()
        .map_err(|e| format!("pid file: {e}"))?;
    // Open every namespace first: after joining the mount namespace the
    // host's /proc/<pid> is out of sight.
    let kinds = [
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ];
    let mut files = Vec::new();
    for (name, flag) in kinds {
        let p = format!("/proc/{pid}/ns/{name}");
        files.push((File::open(&p).map_err(|e| format!("{p}: {e}"))?, flag));
    }
    if let Some(path) = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone()) {
        let rel = path.to_string_lossy().trim_start_matches('/').to_owned();
        let cg = Cgroup::load(hierarchies::auto(), rel.as_str());
        cg.add_task_by_tgid(CgroupPid::from(std::process::id() as u64))
            .map_err(|e| format!("joining cgroup {rel}: {e}"))?;
    }
    for (f, flag) in &files {
        setns(f.as_fd(), *flag).map_err(|e| format!("setns({flag:?}): {e}"))?;
    }
    drop(files);
    let process = spec
        .process()
        .as_ref()
        .ok_or("config.json has no process")?;
    match sys::fork().map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            let e = (|| -> Result<std::convert::Infallible, String> {
                crate::confine::confine(&spec)?;
                let _ = nix::unistd::chdir(process.cwd());
                let env = process.env().clone().unwrap_or_default();
                exec_process(cmd, &env)
            })()
            .unwrap_err();
            eprintln!("skiff: {e}");
            std::process::exit(127);
        }
        ForkResult::Parent { child } => loop {
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
                Ok(_) | Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(format!("waiting for the command: {e}")),
            }
        },
    }
}
