//! What a container may do, written into the bundle as plain OCI fields so
//! that `runc run` enforces the same thing as the shim: capabilities (Docker's
//! default set, Kubernetes' add/drop, `privileged`), the default seccomp
//! profile, the device allow-list and the open-files limit.
//!
//! Everything here is pure: the shim applies the resulting spec
//! ([`crate::seccomp`], `shim.rs`).

use std::collections::HashSet;
use std::str::FromStr;

use oci_spec::runtime::{
    Arch, Capabilities, Capability, LinuxCapabilities, LinuxCapabilitiesBuilder, LinuxDeviceCgroup,
    LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxSeccomp, LinuxSeccompAction,
    LinuxSeccompArgBuilder, LinuxSeccompBuilder, LinuxSeccompOperator, LinuxSyscall,
    LinuxSyscallBuilder, PosixRlimit, PosixRlimitBuilder, PosixRlimitType,
};
use skiff_runtime::{RuntimeError, SeccompProfile, SecurityContext};

/// Docker's (and containerd's) default capability set.
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// containerd's default `RLIMIT_NOFILE` (soft and hard).
pub const DEFAULT_NOFILE: u64 = 1_048_576;

/// Every capability oci-spec knows (the shim keeps those the kernel knows).
pub fn all_capabilities() -> Capabilities {
    [
        Capability::AuditControl,
        Capability::AuditRead,
        Capability::AuditWrite,
        Capability::BlockSuspend,
        Capability::Bpf,
        Capability::CheckpointRestore,
        Capability::Chown,
        Capability::DacOverride,
        Capability::DacReadSearch,
        Capability::Fowner,
        Capability::Fsetid,
        Capability::IpcLock,
        Capability::IpcOwner,
        Capability::Kill,
        Capability::Lease,
        Capability::LinuxImmutable,
        Capability::MacAdmin,
        Capability::MacOverride,
        Capability::Mknod,
        Capability::NetAdmin,
        Capability::NetBindService,
        Capability::NetBroadcast,
        Capability::NetRaw,
        Capability::Perfmon,
        Capability::Setgid,
        Capability::Setfcap,
        Capability::Setpcap,
        Capability::Setuid,
        Capability::SysAdmin,
        Capability::SysBoot,
        Capability::SysChroot,
        Capability::SysModule,
        Capability::SysNice,
        Capability::SysPacct,
        Capability::SysPtrace,
        Capability::SysRawio,
        Capability::SysResource,
        Capability::SysTime,
        Capability::SysTtyConfig,
        Capability::Syslog,
        Capability::WakeAlarm,
    ]
    .into_iter()
    .collect()
}

/// A Kubernetes capability name (`NET_ADMIN`, `CAP_NET_ADMIN`, any case);
/// `None` for `ALL`.
fn parse_capability(name: &str) -> Result<Option<Capability>, RuntimeError> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    if bare == "ALL" {
        return Ok(None);
    }
    Capability::from_str(bare).map(Some).map_err(|_| {
        RuntimeError::invalid(
            "securityContext.capabilities",
            format!("unknown capability {name:?}"),
        )
    })
}

/// The container's capability set: Docker's default, then `drop`, then
/// `add` (containerd's order: an explicit add survives `drop: [ALL]`);
/// everything when privileged.
pub fn capability_set(sec: &SecurityContext) -> Result<Capabilities, RuntimeError> {
    if sec.privileged {
        return Ok(all_capabilities());
    }
    let mut set: Capabilities = DEFAULT_CAPABILITIES.into_iter().collect();
    for name in &sec.capabilities_drop {
        match parse_capability(name)? {
            Some(c) => {
                set.remove(&c);
            }
            None => set.clear(),
        }
    }
    for name in &sec.capabilities_add {
        match parse_capability(name)? {
            Some(c) => {
                set.insert(c);
            }
            None => set = all_capabilities(),
        }
    }
    Ok(set)
}

/// `process.capabilities` as runc's defaults lay it out: bounding,
/// effective, permitted and inheritable all the set, no ambient
/// capabilities (a non-root user keeps none across exec, as in Docker).
pub fn linux_capabilities(set: &Capabilities) -> Result<LinuxCapabilities, RuntimeError> {
    LinuxCapabilitiesBuilder::default()
        .bounding(set.clone())
        .effective(set.clone())
        .permitted(set.clone())
        .inheritable(set.clone())
        .ambient(HashSet::new())
        .build()
        .map_err(internal)
}

/// Whether the process gets `no_new_privs`: unless privilege escalation is
/// allowed explicitly or the container is privileged. (Kubernetes leaves it
/// off when `allowPrivilegeEscalation` is unset; Skiff turns it on, the
/// safer default, as the bundle always did.)
pub fn no_new_privileges(sec: &SecurityContext) -> bool {
    !(sec.privileged || sec.allow_privilege_escalation == Some(true))
}

fn internal(e: oci_spec::OciSpecError) -> RuntimeError {
    RuntimeError::Internal {
        message: format!("building the runtime spec: {e}"),
    }
}

/// Syscalls Docker's default profile refuses unless the container holds
/// the capability named first (`None`: refused always).
const GATED_SYSCALLS: &[(Option<Capability>, &[&str])] = &[
    (
        None,
        &[
            "add_key",
            "keyctl",
            "request_key",
            "userfaultfd",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
            "create_module",
            "get_kernel_syms",
            "query_module",
            "nfsservctl",
            "uselib",
            "ustat",
            "sysfs",
            "_sysctl",
            "vm86",
            "vm86old",
        ],
    ),
    (
        Some(Capability::SysAdmin),
        &[
            "bpf",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "pivot_root",
            "quotactl",
            "quotactl_fd",
            "setns",
            "swapon",
            "swapoff",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    (
        Some(Capability::SysBoot),
        &["kexec_load", "kexec_file_load", "reboot"],
    ),
    (
        Some(Capability::SysModule),
        &["init_module", "finit_module", "delete_module"],
    ),
    (
        Some(Capability::SysTime),
        &["clock_settime", "clock_adjtime", "settimeofday", "stime"],
    ),
    (Some(Capability::SysPacct), &["acct"]),
    (Some(Capability::SysRawio), &["iopl", "ioperm"]),
    (Some(Capability::SysPtrace), &["kcmp", "pidfd_getfd"]),
    (Some(Capability::DacReadSearch), &["open_by_handle_at"]),
    (
        Some(Capability::SysNice),
        &["get_mempolicy", "set_mempolicy", "mbind", "move_pages"],
    ),
    (Some(Capability::Syslog), &["syslog"]),
    (Some(Capability::SysTtyConfig), &["vhangup"]),
];

/// clone(2) flags that create namespaces; refused without CAP_SYS_ADMIN.
const NAMESPACE_FLAGS: [u64; 7] = [
    0x0002_0000, // CLONE_NEWNS
    0x0200_0000, // CLONE_NEWCGROUP
    0x0400_0000, // CLONE_NEWUTS
    0x0800_0000, // CLONE_NEWIPC
    0x1000_0000, // CLONE_NEWUSER
    0x2000_0000, // CLONE_NEWPID
    0x4000_0000, // CLONE_NEWNET
];

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// Docker's default seccomp profile, expressed as a deny-list: the syscalls
/// it refuses (EPERM) for a container with capabilities `caps`; clone3 gets
/// ENOSYS so that libc falls back to clone, whose namespace flags are
/// checked. Both x86_64 and aarch64 are listed; the shim keeps its own.
pub fn default_seccomp(caps: &Capabilities) -> Result<LinuxSeccomp, RuntimeError> {
    let deny = |names: Vec<String>, errno: u32| -> Result<LinuxSyscall, RuntimeError> {
        LinuxSyscallBuilder::default()
            .names(names)
            .action(LinuxSeccompAction::ScmpActErrno)
            .errno_ret(errno)
            .build()
            .map_err(internal)
    };
    let mut names = Vec::new();
    for (cap, list) in GATED_SYSCALLS {
        if cap.is_none_or(|c| !caps.contains(&c)) {
            names.extend(list.iter().map(|s| (*s).to_owned()));
        }
    }
    let mut syscalls = vec![deny(names, EPERM)?];
    if !caps.contains(&Capability::SysAdmin) {
        for flag in NAMESPACE_FLAGS {
            let arg = LinuxSeccompArgBuilder::default()
                .index(0usize)
                .value(flag)
                .value_two(flag)
                .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
                .build()
                .map_err(internal)?;
            let mut s = deny(vec!["clone".to_owned()], EPERM)?;
            s.set_args(Some(vec![arg]));
            syscalls.push(s);
        }
        syscalls.push(deny(vec!["clone3".to_owned()], ENOSYS)?);
    }
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .architectures(vec![Arch::ScmpArchX86_64, Arch::ScmpArchAarch64])
        .syscalls(syscalls)
        .build()
        .map_err(internal)
}

/// `linux.seccomp` for this container: `None` when unconfined or privileged.
pub fn seccomp(
    sec: &SecurityContext,
    caps: &Capabilities,
) -> Result<Option<LinuxSeccomp>, RuntimeError> {
    if sec.privileged {
        return Ok(None);
    }
    match &sec.seccomp {
        SeccompProfile::Unconfined => Ok(None),
        SeccompProfile::RuntimeDefault => default_seccomp(caps).map(Some),
        SeccompProfile::Localhost(p) => Err(RuntimeError::invalid(
            "securityContext.seccompProfile",
            format!("Localhost profiles ({p:?}) are not supported by the native runtime"),
        )),
    }
}

/// The devices cgroup allow-list of runc and containerd: everything denied,
/// then read/write (and mknod) of null, zero, full, random, urandom, tty,
/// /dev/ptmx and the pty slaves; mknod of any char or block device stays
/// allowed so images can create device nodes they then cannot open.
pub fn default_devices() -> Result<Vec<LinuxDeviceCgroup>, RuntimeError> {
    let rule = |allow: bool,
                typ: LinuxDeviceType,
                major: Option<i64>,
                minor: Option<i64>,
                access: &str| {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(typ)
            .access(access);
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build().map_err(internal)
    };
    use LinuxDeviceType::{A, B, C};
    Ok(vec![
        rule(false, A, None, None, "rwm")?,
        rule(true, C, None, None, "m")?,
        rule(true, B, None, None, "m")?,
        rule(true, C, Some(1), Some(3), "rwm")?, // null
        rule(true, C, Some(1), Some(5), "rwm")?, // zero
        rule(true, C, Some(1), Some(7), "rwm")?, // full
        rule(true, C, Some(1), Some(8), "rwm")?, // random
        rule(true, C, Some(1), Some(9), "rwm")?, // urandom
        rule(true, C, Some(5), Some(0), "rwm")?, // tty
        rule(true, C, Some(5), Some(2), "rwm")?, // ptmx
        rule(true, C, Some(136), None, "rwm")?,  // pts/*
    ])
}

/// `RLIMIT_NOFILE` of 1048576 as containerd sets it, lowered to the
/// kernel's `fs.nr_open` when that is smaller (the most root may set).
pub fn rlimits() -> Result<Vec<PosixRlimit>, RuntimeError> {
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_NOFILE);
    // Raising a hard limit needs CAP_SYS_RESOURCE, which a restricted
    // host may not give the runtime: never ask for more than it has, so
    // runc accepts the same bundle.
    let n = DEFAULT_NOFILE
        .min(nr_open)
        .min(own_nofile_hard().unwrap_or(u64::MAX));
    Ok(vec![
        PosixRlimitBuilder::default()
            .typ(PosixRlimitType::RlimitNofile)
            .soft(n)
            .hard(n)
            .build()
            .map_err(internal)?,
    ])
}

/// This process's hard `RLIMIT_NOFILE`, from `/proc/self/limits`.
fn own_nofile_hard() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let hard = line.split_whitespace().nth(4)?;
    if hard == "unlimited" {
        return Some(u64::MAX);
    }
    hard.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(set: &Capabilities) -> u64 {
        set.iter()
            .map(|c| {
                let name = format!("CAP_{c}");
                let i = caps::Capability::from_str(&name).unwrap().index();
                1u64 << i
            })
            .fold(0, |a, b| a | b)
    }

    #[test]
    fn default_set_is_dockers_mask() {
        let set = capability_set(&SecurityContext::default()).unwrap();
        assert_eq!(mask(&set), 0xa80425fb);
    }

    #[test]
    fn add_and_drop_follow_kubernetes_names() {
        let sec = SecurityContext {
            capabilities_add: vec!["NET_ADMIN".into(), "cap_sys_time".into()],
            capabilities_drop: vec!["ALL".into()],
            ..Default::default()
        };
        let set = capability_set(&sec).unwrap();
        assert_eq!(
            set,
            [Capability::NetAdmin, Capability::SysTime]
                .into_iter()
                .collect()
        );
        let sec = SecurityContext {
            capabilities_drop: vec!["NET_RAW".into()],
            ..Default::default()
        };
        assert!(!capability_set(&sec).unwrap().contains(&Capability::NetRaw));
        let bad = SecurityContext {
            capabilities_add: vec!["FLY".into()],
            ..Default::default()
        };
        assert!(capability_set(&bad).is_err());
    }

    #[test]
    fn profile_lets_capabilities_unlock_syscalls() {
        let names = |caps: &Capabilities| -> Vec<String> {
            let p = default_seccomp(caps).unwrap();
            p.syscalls()
                .clone()
                .unwrap_or_default()
                .iter()
                .flat_map(|s| s.names().clone())
                .collect()
        };
        let default: Capabilities = DEFAULT_CAPABILITIES.into_iter().collect();
        let n = names(&default);
        for s in [
            "unshare",
            "mount",
            "kexec_load",
            "bpf",
            "keyctl",
            "clone",
            "clone3",
        ] {
            assert!(n.iter().any(|x| x == s), "{s} not refused");
        }
        let mut admin = default.clone();
        admin.insert(Capability::SysAdmin);
        let n = names(&admin);
        assert!(!n.iter().any(|x| x == "unshare" || x == "clone"));
        assert!(n.iter().any(|x| x == "keyctl"));
    }

    #[test]
    fn privileged_and_escalation() {
        let p = SecurityContext {
            privileged: true,
            seccomp: SeccompProfile::RuntimeDefault,
            ..Default::default()
        };
        assert!(!no_new_privileges(&p));
        assert!(seccomp(&p, &all_capabilities()).unwrap().is_none());
        assert!(no_new_privileges(&SecurityContext::default()));
        let esc = SecurityContext {
            allow_privilege_escalation: Some(true),
            ..Default::default()
        };
        assert!(!no_new_privileges(&esc));
    }
}
