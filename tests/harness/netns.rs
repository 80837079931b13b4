//! A network namespace per test cluster: `ip netns add skiff-e2e-<pid>-<n>`
//! with loopback up and a veth pair to the test process's namespace on a
//! private /30 of 10.201.0.0/16. Whatever the cluster builds inside (the
//! bridge, pod veths, addresses) stays inside and goes when it is deleted.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::fcntl::{Flock, FlockArg};
use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Serialises /30 choice across concurrent test processes (nextest runs
/// each test in its own).
const LOCK: &str = "/run/skiff-e2e-netns.lock";
/// /30s in 10.201.0.0/16.
const SLOTS: u32 = 16384;

/// A network namespace joined to the test's by a veth pair; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    /// Its name under /run/netns.
    pub name: String,
    /// The test's end of the veth.
    pub outer_addr: Ipv4Addr,
    /// The namespace's end of the veth (where servers inside listen).
    pub inner_addr: Ipv4Addr,
    veth: String,
}

fn ip(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running ip (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn slot_addr(slot: u32, host: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 201, 0, 0)) + slot * 4 + host)
}

impl Netns {
    /// Creates the namespace and its veth pair.
    pub fn new() -> anyhow::Result<Netns> {
        let pid = std::process::id();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("skiff-e2e-{pid}-{n}");
        let veth = format!("se{pid:x}n{n}");
        anyhow::ensure!(veth.len() < 16, "veth name {veth} too long");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(LOCK)
            .with_context(|| format!("opening {LOCK} (the e2e tests need root)"))?;
        let _lock = Flock::lock(lock, FlockArg::LockExclusive)
            .map_err(|(_, e)| anyhow::anyhow!("locking {LOCK}: {e}"))?;
        // A /30 no other live cluster routes, starting from one derived from
        // the pid so concurrent tests rarely probe the same ones.
        let start = (pid.wrapping_mul(31).wrapping_add(n)) % SLOTS;
        let slot = (0..SLOTS)
            .map(|i| (start + i) % SLOTS)
            .find(|s| {
                let net = format!("{}/30", slot_addr(*s, 0));
                ip(&["-4", "route", "show", "exact", &net]).is_ok_and(|o| o.trim().is_empty())
            })
            .context("no free /30 in 10.201.0.0/16")?;
        let (outer, inner) = (slot_addr(slot, 1), slot_addr(slot, 2));
        ip(&["netns", "add", &name])?;
        let ns = Netns {
            name,
            outer_addr: outer,
            inner_addr: inner,
            veth,
        };
        let n = ns.name.as_str();
        let v = ns.veth.as_str();
        ip(&["-n", n, "link", "set", "lo", "up"])?;
        ip(&[
            "link", "add", v, "type", "veth", "peer", "name", "e2e0", "netns", n,
        ])?;
        ip(&["addr", "add", &format!("{outer}/30"), "dev", v])?;
        ip(&["link", "set", v, "up"])?;
        ip(&[
            "-n",
            n,
            "addr",
            "add",
            &format!("{inner}/30"),
            "dev",
            "e2e0",
        ])?;
        ip(&["-n", n, "link", "set", "e2e0", "up"])?;
        Ok(ns)
    }

    /// The namespace's file.
    pub fn path(&self) -> std::path::PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// A command that runs `program` in this network namespace (and only
    /// that: mounts, pids and the rest stay the test's).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.path().display()))
            .arg("--")
            .arg(program);
        c
    }

    /// Runs `f` on a new thread that has entered this namespace: only that
    /// thread moves, the test stays where it is.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> std::io::Result<T> {
        let file = std::fs::File::open(self.path())?;
        std::thread::scope(|s| {
            s.spawn(move || {
                setns(&file, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("thread in netns panicked")))
        })
    }

    /// Kills every process in this namespace and in the pod network
    /// namespaces bind-mounted under `data_dir` (containers outlive the
    /// node agent by design), then unmounts what the node left under
    /// `data_dir`. Only processes this cluster started are in them.
    pub fn kill_node(&self, data_dir: &Path) {
        let mounts = mounts_under(data_dir);
        let mut inodes: HashSet<u64> = HashSet::new();
        if let Ok(m) = std::fs::metadata(self.path()) {
            inodes.insert(m.ino());
        }
        for m in &mounts {
            if m.contains("/netns/")
                && let Ok(md) = std::fs::metadata(m)
            {
                inodes.insert(md.ino());
            }
        }
        let me = std::process::id() as i32;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let pids = pids_in(&inodes, me);
            if pids.is_empty() || Instant::now() > deadline {
                break;
            }
            for p in pids {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Killed containers leave their (now empty) cgroups behind.
        if let Ok(ids) = std::fs::read_dir(data_dir.join("agent/native/containers")) {
            let hierarchies: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
                .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
                .unwrap_or_default();
            for id in ids.filter_map(|e| e.ok()).map(|e| e.file_name()) {
                for h in &hierarchies {
                    let _ = std::fs::remove_dir(h.join("skiff").join(&id));
                }
                let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup/skiff").join(&id));
            }
        }
        // Deepest first: rootfs overlays before anything above them.
        let mut mounts = mounts;
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// Processes whose network namespace is one of `inodes`, except `me`.
fn pids_in(inodes: &HashSet<u64>, me: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| *p != me)
        .filter(|p| {
            std::fs::read_link(format!("/proc/{p}/ns/net"))
                .ok()
                .and_then(|l| {
                    l.to_str()?
                        .strip_prefix("net:[")?
                        .strip_suffix(']')?
                        .parse::<u64>()
                        .ok()
                })
                .is_some_and(|i| inodes.contains(&i))
        })
        .collect()
}

/// Mount points at or under `dir` (mountinfo's fifth field, unescaped).
fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| m.replace("\\040", " ").replace("\\011", "\t"))
        .filter(|m| m.starts_with(&dir))
        .collect()
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace takes the veth's inner end and with it
        // the pair; the explicit delete covers a namespace kept alive.
        let _ = ip(&["link", "del", &self.veth]);
        let _ = ip(&["netns", "del", &self.name]);
    }
}
