//! Installs a bundle's `linux.seccomp` in the container process: the OCI
//! profile (default action allow, errno rules, optionally with argument
//! conditions) compiled to BPF with seccompiler, one filter per errno value.
//! Names of syscalls this architecture lacks are skipped, as runc does.
//!
//! A filter checks the architecture and kills a process that makes a
//! syscall of another ABI (32-bit compat calls): a deny-list can only be
//! trusted for the numbers it was written for.

use std::collections::BTreeMap;

use nix::libc;
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// The syscall numbers the default profile may name, on this architecture.
macro_rules! syscall_table {
    ($($name:ident),* $(,)?) => {
        fn common_number(name: &str) -> Option<i64> {
            match name {
                $(stringify!($name) => Some(libc::$name as i64),)*
                _ => None,
            }
        }
    };
}

/// Names whose `SYS_` constant exists on every supported architecture.
fn number(name: &str) -> Option<i64> {
    common_number(&format!("SYS_{name}")).or_else(|| arch_number(name))
}

syscall_table!(
    SYS_acct,
    SYS_add_key,
    SYS_bpf,
    SYS_clock_adjtime,
    SYS_clock_settime,
    SYS_clone,
    SYS_clone3,
    SYS_delete_module,
    SYS_fanotify_init,
    SYS_finit_module,
    SYS_fsconfig,
    SYS_fsmount,
    SYS_fsopen,
    SYS_fspick,
    SYS_get_mempolicy,
    SYS_init_module,
    SYS_io_uring_enter,
    SYS_io_uring_register,
    SYS_io_uring_setup,
    SYS_kcmp,
    SYS_kexec_file_load,
    SYS_kexec_load,
    SYS_keyctl,
    SYS_lookup_dcookie,
    SYS_mbind,
    SYS_mount,
    SYS_mount_setattr,
    SYS_move_mount,
    SYS_move_pages,
    SYS_nfsservctl,
    SYS_open_by_handle_at,
    SYS_open_tree,
    SYS_perf_event_open,
    SYS_pidfd_getfd,
    SYS_pivot_root,
    SYS_quotactl,
    SYS_quotactl_fd,
    SYS_reboot,
    SYS_request_key,
    SYS_set_mempolicy,
    SYS_setns,
    SYS_settimeofday,
    SYS_swapoff,
    SYS_swapon,
    SYS_syslog,
    SYS_umount2,
    SYS_unshare,
    SYS_userfaultfd,
    SYS_vhangup,
);

#[cfg(target_arch = "x86_64")]
fn arch_number(name: &str) -> Option<i64> {
    Some(match name {
        "uselib" => libc::SYS_uselib,
        "ustat" => libc::SYS_ustat,
        "sysfs" => libc::SYS_sysfs,
        "_sysctl" => libc::SYS__sysctl,
        "iopl" => libc::SYS_iopl,
        "ioperm" => libc::SYS_ioperm,
        _ => return None,
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn arch_number(_name: &str) -> Option<i64> {
    None
}

fn target_arch() -> Result<TargetArch, String> {
    TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| format!("seccomp on {}: {e}", std::env::consts::ARCH))
}

/// Compiles `profile` into one BPF program per errno value it returns.
pub fn compile(profile: &LinuxSeccomp) -> Result<Vec<BpfProgram>, String> {
    if profile.default_action() != LinuxSeccompAction::ScmpActAllow {
        return Err(format!(
            "seccomp: only defaultAction SCMP_ACT_ALLOW is supported, not {}",
            profile.default_action()
        ));
    }
    let arch = target_arch()?;
    // errno -> syscall -> rules (OR of rules, AND within a rule; an empty
    // rule list matches the syscall unconditionally).
    let mut by_errno: BTreeMap<u32, BTreeMap<i64, Vec<SeccompRule>>> = BTreeMap::new();
    let mut unconditional: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
    for s in profile.syscalls().as_deref().unwrap_or_default() {
        let errno = match s.action() {
            LinuxSeccompAction::ScmpActErrno => s.errno_ret().unwrap_or(1),
            LinuxSeccompAction::ScmpActAllow => continue,
            other => return Err(format!("seccomp: action {other} is not supported")),
        };
        let mut conditions = Vec::new();
        for a in s.args().as_deref().unwrap_or_default() {
            let index = u8::try_from(a.index()).map_err(|_| "seccomp: bad argument index")?;
            let op = match a.op() {
                LinuxSeccompOperator::ScmpCmpEq => SeccompCmpOp::Eq,
                LinuxSeccompOperator::ScmpCmpNe => SeccompCmpOp::Ne,
                LinuxSeccompOperator::ScmpCmpLt => SeccompCmpOp::Lt,
                LinuxSeccompOperator::ScmpCmpLe => SeccompCmpOp::Le,
                LinuxSeccompOperator::ScmpCmpGt => SeccompCmpOp::Gt,
                LinuxSeccompOperator::ScmpCmpGe => SeccompCmpOp::Ge,
                // libseccomp's masked_eq: (arg & value) == valueTwo.
                LinuxSeccompOperator::ScmpCmpMaskedEq => SeccompCmpOp::MaskedEq(a.value()),
            };
            let value = match a.op() {
                LinuxSeccompOperator::ScmpCmpMaskedEq => a.value_two().unwrap_or(0),
                _ => a.value(),
            };
            conditions.push(
                SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value)
                    .map_err(|e| format!("seccomp: {e}"))?,
            );
        }
        for name in s.names() {
            let Some(nr) = number(name) else { continue };
            if conditions.is_empty() {
                unconditional.entry(errno).or_default().push(nr);
            } else {
                let rule = SeccompRule::new(conditions.clone()).map_err(|e| format!("{e}"))?;
                by_errno
                    .entry(errno)
                    .or_default()
                    .entry(nr)
                    .or_default()
                    .push(rule);
            }
        }
    }
    // A syscall refused outright needs no conditions: its empty rule list
    // (match always) replaces them.
    for (errno, nrs) in unconditional {
        let rules = by_errno.entry(errno).or_default();
        for nr in nrs {
            rules.insert(nr, Vec::new());
        }
    }
    by_errno
        .into_iter()
        .map(|(errno, rules)| {
            let filter = SeccompFilter::new(
                rules,
                SeccompAction::Allow,
                SeccompAction::Errno(errno),
                arch,
            )
            .map_err(|e| format!("seccomp: {e}"))?;
            BpfProgram::try_from(filter).map_err(|e| format!("seccomp: {e}"))
        })
        .collect()
}

/// Installs the compiled filters in the calling thread (they are inherited
/// by its children and kept across exec).
pub fn apply(programs: &[BpfProgram]) -> Result<(), String> {
    for p in programs {
        seccompiler::apply_filter(p).map_err(|e| format!("installing seccomp filter: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::{DEFAULT_CAPABILITIES, default_seccomp};

    #[test]
    fn default_profile_compiles_on_this_arch() {
        let caps = DEFAULT_CAPABILITIES.into_iter().collect();
        let profile = default_seccomp(&caps).unwrap();
        let programs = compile(&profile).unwrap();
        // EPERM and ENOSYS.
        assert_eq!(programs.len(), 2);
        for name in ["unshare", "mount", "keyctl", "clone", "clone3"] {
            assert!(number(name).is_some(), "{name}");
        }
    }
}
