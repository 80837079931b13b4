//! The per-container shim, run as its own process (`skiff-native-shim`):
//! it creates the cgroup, enters new namespaces (those the bundle lists: a
//! pod sharing the node's PID, IPC or network namespace keeps the shim's),
//! forks the container's main process (PID 1 in its own PID namespace),
//! copies its stdout/stderr into the CRI log file and records its exit
//! status in `exit.json`. Being a separate, single-threaded process is what
//! makes `fork` safe here and lets a container outlive the runtime process.
//!
//! `skiff-native-shim run DIR` runs the container described by `DIR/shim.json`;
//! `skiff-native-shim netns PATH` creates a network namespace kept at `PATH`.

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cgroups_rs::CgroupPid;
use cgroups_rs::fs::cgroup::Cgroup;
use cgroups_rs::fs::cpu::CpuController;
use cgroups_rs::fs::devices::{DevicePermissions, DeviceType, DevicesController};
use cgroups_rs::fs::hierarchies;
use cgroups_rs::fs::memory::MemController;
use cgroups_rs::fs::pid::PidController;
use cgroups_rs::fs::{Controller, MaxValue};
use jiff::Timestamp;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, pipe2};
use oci_spec::runtime::{LinuxDeviceType, LinuxNamespaceType, Mount, Spec};
use serde::{Deserialize, Serialize};
use skiff_runtime::logs::{RotationPolicy, Stream, format_record};

use crate::attach::Hub;
use crate::sys;

/// What the runtime tells the shim (`DIR/shim.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimConfig {
    /// The OCI bundle directory.
    pub bundle: PathBuf,
    /// The CRI log file.
    pub log_path: PathBuf,
    /// Kubernetes `stdin`: PID 1 reads a pipe (or its terminal) that
    /// attached clients write to, instead of `/dev/null`.
    #[serde(default)]
    pub stdin: bool,
    /// Kubernetes `stdinOnce`: stdin closes when the first client that
    /// wrote to it detaches.
    #[serde(default)]
    pub stdin_once: bool,
    /// Kubernetes `tty`: PID 1's stdio is a pseudo-terminal.
    #[serde(default)]
    pub tty: bool,
    /// The log rotates before passing this size (`None`: the kubelet's
    /// 10 MiB; absent from configs written before rotation existed).
    #[serde(default)]
    pub log_max_bytes: Option<u64>,
    /// Log files kept, the current one included (`None`: the kubelet's 5).
    #[serde(default)]
    pub log_max_files: Option<u32>,
}

impl ShimConfig {
    /// The rotation policy of the container's log.
    pub fn log_policy(&self) -> RotationPolicy {
        let d = RotationPolicy::default();
        RotationPolicy::new(
            self.log_max_bytes.unwrap_or(d.max_bytes),
            self.log_max_files.unwrap_or(d.max_files),
        )
    }
}

/// How the container ended (`DIR/exit.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// Exit code; 128 + signal for a killed process.
    pub exit_code: i32,
    /// The memory cgroup recorded an OOM kill.
    pub oom_killed: bool,
    /// When the shim saw it exit.
    pub finished_at: Timestamp,
}

/// Exit code of `exec` when the shim itself failed (not the command).
pub const EXEC_FAILED: i32 = 255;

/// File names inside a container directory.
pub const SHIM_CONFIG: &str = "shim.json";
/// See [`ExitStatus`].
pub const EXIT_FILE: &str = "exit.json";

/// Entry point of the shim binary; returns the process exit code.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1..).unwrap_or_default() {
        [cmd, dir] if cmd == "run" => run(Path::new(dir)),
        [cmd, path] if cmd == "netns" => netns(Path::new(path)),
        [cmd, dir, dashes, argv @ ..] if cmd == "exec" && dashes == "--" && !argv.is_empty() => {
            return match crate::exec::exec(Path::new(dir), argv) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("skiff-native-shim: {e}");
                    EXEC_FAILED
                }
            };
        }
        _ => Err("usage: skiff-native-shim run DIR | netns PATH | exec DIR -- CMD…".to_owned()),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("skiff-native-shim: {e}");
            1
        }
    }
}

fn err<E: std::fmt::Display>(what: impl std::fmt::Display) -> impl FnOnce(E) -> String {
    move |e| format!("{what}: {e}")
}

/// Creates a network namespace and bind-mounts it at `path` so it outlives
/// this process; brings its loopback up so a pod's containers reach each other.
fn netns(path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err(dir.display()))?;
    }
    File::create(path).map_err(err(path.display()))?;
    unshare(CloneFlags::CLONE_NEWNET).map_err(err("unshare(CLONE_NEWNET)"))?;
    mount(
        Some("/proc/self/ns/net"),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(err(format!(
        "bind-mounting the netns at {}",
        path.display()
    )))?;
    // Only this new namespace's loopback changes; the host is untouched.
    let status = std::process::Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .map_err(err("running ip link set lo up"))?;
    if !status.success() {
        return Err(format!("ip link set lo up: {status}"));
    }
    Ok(())
}

fn run(dir: &Path) -> Result<(), String> {
    let cfg_path = dir.join(SHIM_CONFIG);
    let cfg: ShimConfig =
        serde_json::from_slice(&std::fs::read(&cfg_path).map_err(err(cfg_path.display()))?)
            .map_err(err(cfg_path.display()))?;
    let spec = Spec::load(cfg.bundle.join("config.json")).map_err(err("config.json"))?;
    let cgroup = setup_cgroup(&spec)?;
    let result = run_in_cgroup(dir, &cfg, &spec, &cgroup);
    if result.is_err() {
        let _ = cgroup.delete();
    }
    result
}

/// PID 1's standard streams, as the container gets them.
struct ChildStdio {
    /// Its stdin; `/dev/null` when `None`.
    stdin: Option<OwnedFd>,
    stdout: OwnedFd,
    stderr: OwnedFd,
    /// The three are one terminal, to become the controlling one.
    tty: bool,
}

/// The shim's ends of PID 1's streams.
struct ShimStdio {
    stdout: OwnedFd,
    /// None with a terminal: its output is one stream, logged as stdout.
    stderr: Option<OwnedFd>,
    /// Where attached input goes.
    input: Option<OwnedFd>,
    /// The terminal, for resizes.
    terminal: Option<OwnedFd>,
}

/// Pipes, or a pseudo-terminal when the container asks for a tty.
fn make_stdio(cfg: &ShimConfig) -> Result<(ChildStdio, ShimStdio), String> {
    let cloexec = nix::fcntl::OFlag::O_CLOEXEC;
    if cfg.tty {
        let size = nix::pty::Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None).map_err(err("openpty"))?;
        let dup = |fd: &OwnedFd| fd.try_clone().map_err(err("dup"));
        let child = ChildStdio {
            stdin: Some(dup(&pty.slave)?),
            stdout: dup(&pty.slave)?,
            stderr: pty.slave,
            tty: true,
        };
        let shim = ShimStdio {
            stdout: dup(&pty.master)?,
            stderr: None,
            input: if cfg.stdin {
                Some(dup(&pty.master)?)
            } else {
                None
            },
            terminal: Some(pty.master),
        };
        return Ok((child, shim));
    }
    let (out_r, out_w) = pipe2(cloexec).map_err(err("pipe"))?;
    let (err_r, err_w) = pipe2(cloexec).map_err(err("pipe"))?;
    let (stdin, input) = if cfg.stdin {
        let (r, w) = pipe2(cloexec).map_err(err("pipe"))?;
        (Some(r), Some(w))
    } else {
        (None, None)
    };
    Ok((
        ChildStdio {
            stdin,
            stdout: out_w,
            stderr: err_w,
            tty: false,
        },
        ShimStdio {
            stdout: out_r,
            stderr: Some(err_r),
            input,
            terminal: None,
        },
    ))
}

fn run_in_cgroup(dir: &Path, cfg: &ShimConfig, spec: &Spec, cgroup: &Cgroup) -> Result<(), String> {
    let (child_stdio, shim_stdio) = make_stdio(cfg)?;
    let (sync_r, sync_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(err("pipe"))?;
    // Closed by the container's execve (close-on-exec) or its exit: the
    // shim reports the container started only then, as `runc start`
    // returns once the process runs. Before, an exec right after start
    // (a postStart hook) could join the container half set up, before its
    // volumes were mounted and its root pivoted.
    let (started_r, started_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(err("pipe"))?;

    // The mount namespace is unshared by the child alone: pivot_root moves
    // the root of every process in a namespace, the shim's included. A
    // kind the spec does not list stays the shim's own, i.e. the node's
    // (`hostPID`, `hostIPC`, `hostNetwork`), as under runc.
    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let mut flags = CloneFlags::empty();
    for n in &namespaces {
        let flag = match n.typ() {
            LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
            LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
            LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
            LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
            // Mount: the child's; others are not used by Skiff's bundles.
            _ => continue,
        };
        match n.path() {
            Some(p) => {
                let f = File::open(p).map_err(err(p.display()))?;
                setns(f.as_fd(), flag).map_err(err(format!("setns({})", p.display())))?;
            }
            None => flags |= flag,
        }
    }
    unshare(flags).map_err(err("unshare"))?;
    let own_pids = flags.contains(CloneFlags::CLONE_NEWPID);

    match sys::fork().map_err(err("fork"))? {
        ForkResult::Child => {
            drop((shim_stdio, sync_w, started_r));
            // Held open until execve closes it.
            let _started_w = started_w;
            let e = match container_init(spec, &cfg.bundle, child_stdio, sync_r) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            eprintln!("skiff: {e}");
            std::process::exit(127);
        }
        ForkResult::Parent { child } => {
            drop((child_stdio, sync_r, started_w));
            let sync = Sync {
                release: sync_w,
                started: started_r,
            };
            supervise(dir, cfg, cgroup, child, shim_stdio, sync, own_pids)
        }
    }
}

/// The shim's ends of its two pipes with the container's init.
struct Sync {
    /// Written once: the container may set itself up and exec.
    release: OwnedFd,
    /// Reaches end of file once the container exec'd (or died).
    started: OwnedFd,
}

fn supervise(
    dir: &Path,
    cfg: &ShimConfig,
    cgroup: &Cgroup,
    child: Pid,
    stdio: ShimStdio,
    sync: Sync,
    own_pids: bool,
) -> Result<(), String> {
    // Before the container is released: if this fails, it never runs.
    let mut hub = Hub::bind(dir, stdio.input, stdio.terminal, cfg.stdin_once)?;
    cgroup
        .add_task_by_tgid(CgroupPid::from(child.as_raw() as u64))
        .map_err(err("adding the container to its cgroup"))?;
    nix::unistd::write(&sync.release, b"g").map_err(err("releasing the container"))?;
    drop(sync.release);
    // End of file: exec'd or gone (nothing is ever written); retried only
    // when a signal interrupts the wait.
    let mut byte = [0u8; 1];
    while let Err(nix::errno::Errno::EINTR) = nix::unistd::read(&sync.started, &mut byte) {}
    drop(sync.started);
    std::fs::write(dir.join("pid"), child.as_raw().to_string()).map_err(err("pid file"))?;
    if let Some(d) = cfg.log_path.parent() {
        std::fs::create_dir_all(d).map_err(err(d.display()))?;
    }
    let mut log =
        RotatingLog::open(&cfg.log_path, cfg.log_policy()).map_err(err(cfg.log_path.display()))?;
    // The runtime waits for this line, then the shim's stdout closes.
    println!("{}", child.as_raw());
    let _ = std::io::stdout().flush();
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(null);
    }
    // No threads here: after unshare(CLONE_NEWPID) this process cannot
    // create any, so one poll loop copies both streams and serves attach.
    // In the node's PID namespace no kernel kills the rest of the
    // container when its main process exits, and they may hold the
    // streams open: the loop also watches the main process and then kills
    // what is left in the cgroup, as runc's shim does there.
    let main_exit = if own_pids {
        None
    } else {
        Some(sys::pidfd_open(child).map_err(err("pidfd_open"))?)
    };
    copy_to_log(
        stdio.stdout,
        stdio.stderr,
        &mut log,
        &mut hub,
        main_exit.map(|fd| (fd, cgroup)),
    );
    drop(hub);
    let exit_code = loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => break code,
            Ok(WaitStatus::Signaled(_, sig, _)) => break 128 + sig as i32,
            Ok(_) | Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(format!("waiting for the container: {e}")),
        }
    };
    let status = ExitStatus {
        exit_code,
        oom_killed: oom_killed(cgroup),
        finished_at: Timestamp::now(),
    };
    let tmp = dir.join("exit.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&status).unwrap_or_default())
        .map_err(err("exit.json"))?;
    std::fs::rename(&tmp, dir.join(EXIT_FILE)).map_err(err("exit.json"))?;
    if !own_pids {
        // Whatever closed its streams early and lives on.
        kill_all(cgroup);
    }
    // PID 1 is gone, so the kernel is killing the rest; give it a moment.
    for _ in 0..50 {
        if cgroup.delete().is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(())
}

/// The container's CRI log file, rotated as the kubelet rotates it
/// ([`skiff_runtime::logs::rotate`]): a record never straddles two files.
struct RotatingLog {
    path: PathBuf,
    file: File,
    written: u64,
    policy: RotationPolicy,
}

impl RotatingLog {
    fn open(path: &Path, policy: RotationPolicy) -> std::io::Result<RotatingLog> {
        let file = File::options().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(RotatingLog {
            path: path.to_owned(),
            file,
            written,
            policy,
        })
    }

    /// Appends one record, rotating first if it would pass the bound. A
    /// failed rotation keeps writing to the current file: losing output is
    /// worse than an oversized log.
    fn write_record(&mut self, rec: &[u8]) -> std::io::Result<()> {
        let len = rec.len() as u64;
        if self.policy.must_rotate(self.written, len)
            && skiff_runtime::logs::rotate(&self.path, &self.policy, Timestamp::now()).is_ok()
        {
            self.file = File::options().create(true).append(true).open(&self.path)?;
            self.written = 0;
        }
        self.file.write_all(rec)?;
        self.written += len;
        Ok(())
    }
}

/// SIGKILLs every process in `cgroup`.
fn kill_all(cgroup: &Cgroup) {
    for task in cgroup.procs() {
        if let Ok(pid) = i32::try_from(task.pid) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Copies both streams into the CRI log, a record per line, and to attached
/// clients, until both close; serves the attach socket meanwhile. With
/// `main_exit` (a pidfd of the main process and its cgroup), the rest of
/// the cgroup is killed once the main process exits.
fn copy_to_log(
    out_r: OwnedFd,
    err_r: Option<OwnedFd>,
    log: &mut RotatingLog,
    hub: &mut Hub,
    mut main_exit: Option<(OwnedFd, &Cgroup)>,
) {
    let mut streams = [
        (Some(out_r), Stream::Stdout, Vec::<u8>::new()),
        (err_r, Stream::Stderr, Vec::<u8>::new()),
    ];
    let mut buf = [0u8; 8192];
    while streams.iter().any(|s| s.0.is_some()) {
        let (ready, hub_ready, exited): (Vec<bool>, Vec<bool>, bool) = {
            let mut fds: Vec<PollFd> = streams
                .iter()
                .filter_map(|s| s.0.as_ref())
                .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
                .collect();
            let n_streams = fds.len();
            fds.extend(
                hub.poll_fds()
                    .into_iter()
                    .map(|(fd, flags)| PollFd::new(fd, flags)),
            );
            if let Some((fd, _)) = &main_exit {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::Error::EINTR) => continue,
                Err(_) => return,
            }
            let mut all: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            let exited = main_exit.is_some() && all.pop().unwrap_or(false);
            let hub_ready = all.split_off(n_streams.min(all.len()));
            (all, hub_ready, exited)
        };
        if exited && let Some((_, cgroup)) = main_exit.take() {
            kill_all(cgroup);
        }
        hub.ready(&hub_ready);
        let mut i = 0;
        for (fd, stream, pending) in streams.iter_mut() {
            let Some(f) = fd.as_ref() else { continue };
            let is_ready = ready.get(i).copied().unwrap_or(false);
            i += 1;
            if !is_ready {
                continue;
            }
            match nix::unistd::read(f, &mut buf) {
                // A terminal shares its (non-blocking) file with the input side.
                Err(nix::Error::EAGAIN | nix::Error::EINTR) => {}
                Ok(0) | Err(_) => {
                    if !pending.is_empty() {
                        let _ = log.write_record(&format_record(
                            Timestamp::now(),
                            *stream,
                            true,
                            pending,
                        ));
                        pending.clear();
                    }
                    *fd = None;
                }
                Ok(n) => {
                    let chunk = buf.get(..n).unwrap_or_default();
                    let channel = match stream {
                        Stream::Stdout => skiff_runtime::attach::STDOUT,
                        Stream::Stderr => skiff_runtime::attach::STDERR,
                    };
                    hub.broadcast(channel, chunk);
                    pending.extend_from_slice(chunk);
                    while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=pos).collect();
                        let content = line.strip_suffix(b"\n").unwrap_or(&line);
                        let _ = log.write_record(&format_record(
                            Timestamp::now(),
                            *stream,
                            true,
                            content,
                        ));
                    }
                    // Bound a line without newline as containerd does: a partial record.
                    if pending.len() >= 16 * 1024 {
                        let _ = log.write_record(&format_record(
                            Timestamp::now(),
                            *stream,
                            false,
                            pending,
                        ));
                        pending.clear();
                    }
                }
            }
        }
    }
}

fn setup_cgroup(spec: &Spec) -> Result<Cgroup, String> {
    let linux = spec.linux().as_ref();
    let path = linux
        .and_then(|l| l.cgroups_path().clone())
        .ok_or("config.json has no linux.cgroupsPath")?;
    let rel = path.to_string_lossy().trim_start_matches('/').to_owned();
    let cg =
        Cgroup::new(hierarchies::auto(), rel.as_str()).map_err(err(format!("cgroup {rel}")))?;
    let Some(res) = linux.and_then(|l| l.resources().clone()) else {
        return Ok(cg);
    };
    if let (Some(m), Some(mem)) = (res.memory(), cg.controller_of::<MemController>())
        && let Some(limit) = m.limit()
    {
        mem.set_limit(limit).map_err(err("memory limit"))?;
        // Without swap accounting this file is absent; the limit alone holds.
        let _ = mem.set_memswap_limit(m.swap().unwrap_or(limit));
    }
    if let (Some(c), Some(cpu)) = (res.cpu(), cg.controller_of::<CpuController>()) {
        if let Some(shares) = c.shares() {
            cpu.set_shares(shares).map_err(err("cpu shares"))?;
        }
        cpu.set_cfs_quota_and_period(c.quota(), c.period())
            .map_err(err("cpu quota"))?;
    }
    if let (Some(p), Some(pids)) = (res.pids(), cg.controller_of::<PidController>()) {
        pids.set_pid_max(MaxValue::Value(p.limit()))
            .map_err(err("pids limit"))?;
    }
    // cgroup v1 only: v2 has no devices files (runc attaches an eBPF
    // program there, which Skiff does not yet).
    if let (Some(rules), Some(dev)) = (res.devices(), cg.controller_of::<DevicesController>()) {
        for r in rules {
            let typ = match r.typ() {
                Some(LinuxDeviceType::C) => DeviceType::Char,
                Some(LinuxDeviceType::B) => DeviceType::Block,
                _ => DeviceType::All,
            };
            let access = r.access().clone().unwrap_or_else(|| "rwm".to_owned());
            let perms = DevicePermissions::from_str(&access).map_err(err("device access"))?;
            let (major, minor) = (r.major().unwrap_or(-1), r.minor().unwrap_or(-1));
            let result = if r.allow() {
                dev.allow_device(typ, major, minor, &perms)
            } else {
                dev.deny_device(typ, major, minor, &perms)
            };
            result.map_err(err(format!("devices cgroup rule {r}")))?;
        }
    }
    Ok(cg)
}

fn oom_killed(cg: &Cgroup) -> bool {
    let Some(mem) = cg.controller_of::<MemController>() else {
        return false;
    };
    if cg.v2() {
        // cgroups-rs does not parse memory.events on v2.
        let events = std::fs::read_to_string(mem.path().join("memory.events")).unwrap_or_default();
        return events
            .lines()
            .any(|l| l.strip_prefix("oom_kill ").is_some_and(|n| n.trim() != "0"));
    }
    mem.memory_stat().oom_control.oom_kill > 0
}

/// Runs in the forked child, PID 1 of the new namespaces: waits for the shim
/// to place it in its cgroup, builds the root filesystem and execs.
fn container_init(
    spec: &Spec,
    bundle: &Path,
    stdio: ChildStdio,
    sync_r: OwnedFd,
) -> Result<std::convert::Infallible, String> {
    let stdio_tty = stdio.tty;
    if stdio.tty {
        nix::unistd::setsid().map_err(err("setsid"))?;
        crate::attach::set_controlling_terminal(&stdio.stdout)?;
    }
    nix::unistd::dup2_stdout(&stdio.stdout).map_err(err("dup2"))?;
    nix::unistd::dup2_stderr(&stdio.stderr).map_err(err("dup2"))?;
    match stdio.stdin {
        Some(fd) => nix::unistd::dup2_stdin(fd).map_err(err("dup2"))?,
        None => {
            if let Ok(null) = File::open("/dev/null") {
                let _ = nix::unistd::dup2_stdin(null);
            }
        }
    }
    drop((stdio.stdout, stdio.stderr));
    let mut go = [0u8; 1];
    if nix::unistd::read(&sync_r, &mut go).map_err(err("waiting for the shim"))? != 1 {
        return Err("the shim exited before releasing the container".to_owned());
    }
    drop(sync_r);

    let sys_err = |what: String| move |e: nix::Error| format!("{what}: {e}");
    unshare(CloneFlags::CLONE_NEWNS).map_err(sys_err("unshare(CLONE_NEWNS)".into()))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(sys_err("making / private".into()))?;
    let root = spec.root().as_ref().ok_or("config.json has no root")?;
    let rootfs = bundle.join(root.path());
    mount(
        Some(&rootfs),
        &rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys_err(format!("bind {}", rootfs.display())))?;
    for m in spec.mounts().as_deref().unwrap_or_default() {
        mount_one(&rootfs, m)?;
    }
    let dev = rootfs.join("dev");
    for name in ["null", "zero", "full", "random", "urandom", "tty"] {
        let target = dev.join(name);
        File::create(&target).map_err(err(target.display()))?;
        let src = Path::new("/dev").join(name);
        mount(
            Some(&src),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(sys_err(format!("bind {}", src.display())))?;
    }
    if stdio_tty {
        // The terminal comes from the host's devpts, out of sight behind
        // the container's own /dev/pts: as runc does, it is also
        // /dev/console, where ttyname(3) finds it.
        let console = dev.join("console");
        File::create(&console).map_err(err(console.display()))?;
        // By path: the descriptor's mount is the parent namespace's copy.
        let slave = std::fs::read_link("/proc/self/fd/0").map_err(err("the terminal's path"))?;
        mount(
            Some(&slave),
            &console,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(sys_err("bind /dev/console".into()))?;
    }
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        let _ = std::os::unix::fs::symlink(to, dev.join(link));
    }
    if let Some(h) = spec.hostname() {
        nix::unistd::sethostname(h).map_err(sys_err("sethostname".into()))?;
    }
    nix::unistd::chdir(&rootfs).map_err(sys_err("chdir rootfs".into()))?;
    nix::unistd::pivot_root(".", ".").map_err(sys_err("pivot_root".into()))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(sys_err("detaching the old root".into()))?;
    nix::unistd::chdir("/").map_err(sys_err("chdir /".into()))?;
    if let Some(linux) = spec.linux() {
        for p in linux.readonly_paths().as_deref().unwrap_or_default() {
            readonly_path(Path::new(p))?;
        }
        for p in linux.masked_paths().as_deref().unwrap_or_default() {
            masked_path(Path::new(p))?;
        }
    }
    if root.readonly().unwrap_or(false) {
        // The rootfs is a bind mount of its own: only it turns read-only,
        // not the volumes and /proc, /dev … mounted on top.
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(sys_err("read-only root filesystem".into()))?;
    }

    let process = spec
        .process()
        .as_ref()
        .ok_or("config.json has no process")?;
    crate::confine::confine(spec)?;
    let cwd = process.cwd();
    let _ = std::fs::create_dir_all(cwd);
    nix::unistd::chdir(cwd).map_err(sys_err(format!("chdir {}", cwd.display())))?;

    let args = process.args().clone().unwrap_or_default();
    let env = process.env().clone().unwrap_or_default();
    exec_process(&args, &env)
}

/// Execs `args` (PATH lookup in `env`) with exactly `env`.
pub(crate) fn exec_process(
    args: &[String],
    env: &[String],
) -> Result<std::convert::Infallible, String> {
    let prog = args.first().ok_or("process.args is empty")?;
    let path = find_program(prog, env).ok_or_else(|| format!("{prog}: not found"))?;
    let cstr = |s: &str| CString::new(s).map_err(err("NUL in argument"));
    let argv = args
        .iter()
        .map(|a| cstr(a))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = env.iter().map(|a| cstr(a)).collect::<Result<Vec<_>, _>>()?;
    let path_c = cstr(&path.to_string_lossy())?;
    let e = nix::unistd::execve(&path_c, &argv, &envp).unwrap_err();
    Err(format!("exec {}: {e}", path.display()))
}

/// Remounts `path` read-only (runc's `readonlyPaths`); absent paths are skipped.
fn readonly_path(path: &Path) -> Result<(), String> {
    if !path.exists() {
        return Ok(());
    }
    let fail = |e: nix::Error| format!("read-only {}: {e}", path.display());
    mount(
        Some(path),
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(fail)?;
    mount(
        None::<&str>,
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(fail)
}

/// Hides `path` (runc's `maskedPaths`): /dev/null over a file, an empty
/// read-only tmpfs over a directory.
fn masked_path(path: &Path) -> Result<(), String> {
    let fail = |e: nix::Error| format!("masking {}: {e}", path.display());
    if path.is_dir() {
        mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(fail)
    } else if path.exists() {
        mount(
            Some("/dev/null"),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(fail)
    } else {
        Ok(())
    }
}

fn find_program(prog: &str, env: &[String]) -> Option<PathBuf> {
    if prog.contains('/') {
        return Some(PathBuf::from(prog));
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':').map(|d| Path::new(d).join(prog)).find(|p| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

fn mount_one(rootfs: &Path, m: &Mount) -> Result<(), String> {
    let dest = rootfs.join(m.destination().strip_prefix("/").unwrap_or(m.destination()));
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in m.options().as_deref().unwrap_or_default() {
        match o.as_str() {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "strictatime" => flags |= MsFlags::MS_STRICTATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            "rw" | "private" | "rprivate" => {}
            other => data.push(other.to_owned()),
        }
    }
    let typ = m.typ().clone().unwrap_or_default();
    let source = m.source().clone().unwrap_or_default();
    let fail = |e: nix::Error| format!("mount {} on {}: {e}", source.display(), dest.display());
    if typ == "bind" || flags.contains(MsFlags::MS_BIND) {
        // The path is resolved on the host before pivot_root: an image's
        // symlink (say /etc/hosts -> /etc/shadow) must not lead outside.
        if dest
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            std::fs::remove_file(&dest).map_err(err(dest.display()))?;
        }
        if let Some(parent) = dest.parent()
            && let (Ok(p), Ok(r)) = (parent.canonicalize(), rootfs.canonicalize())
            && !p.starts_with(&r)
        {
            return Err(format!(
                "mount point {} leaves the root filesystem",
                m.destination().display()
            ));
        }
        if source.is_dir() {
            std::fs::create_dir_all(&dest).map_err(err(dest.display()))?;
        } else {
            if let Some(p) = dest.parent() {
                std::fs::create_dir_all(p).map_err(err(p.display()))?;
            }
            File::create(&dest).map_err(err(dest.display()))?;
        }
        let ro = flags.contains(MsFlags::MS_RDONLY);
        mount(
            Some(&source),
            &dest,
            None::<&str>,
            (flags - MsFlags::MS_RDONLY) | MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(fail)?;
        if ro {
            mount(
                None::<&str>,
                &dest,
                None::<&str>,
                flags | MsFlags::MS_REMOUNT | MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(fail)?;
        }
        return Ok(());
    }
    std::fs::create_dir_all(&dest).map_err(err(dest.display()))?;
    let data = data.join(",");
    mount(
        Some(&source),
        &dest,
        Some(typ.as_str()),
        flags,
        (!data.is_empty()).then_some(data.as_str()),
    )
    .map_err(fail)
}
