//! The last steps before a container process execs, shared by the
//! container's PID 1 (`shim.rs`) and `exec` (`exec.rs`): rlimits, the
//! seccomp filter, the capability sets, the user and `no_new_privs`, all
//! from the bundle's `process` and `linux.seccomp`, in runc's order.

use std::collections::HashSet;
use std::str::FromStr;

use caps::{CapSet, CapsHashSet};
use nix::libc;
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{Capabilities, PosixRlimitType, Process, Spec};

/// Applies everything in `spec` that confines the process, then switches
/// to its user. Runs in the single-threaded child just before exec.
pub fn confine(spec: &Spec) -> Result<(), String> {
    let process = spec
        .process()
        .as_ref()
        .ok_or("config.json has no process")?;
    set_rlimits(process)?;
    let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(profile) => crate::seccomp::compile(profile)?,
        None => Vec::new(),
    };
    let nnp = process.no_new_privileges().unwrap_or(false);
    // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN, which
    // the capability sets below may take away: install it first then.
    if !nnp {
        crate::seccomp::apply(&seccomp)?;
    }
    let wanted = process.capabilities().as_ref();
    // What this process may still hand out: a privileged container gets
    // the runtime's own bounding set (as with containerd), which in a
    // restricted host lacks some capabilities the kernel knows.
    let supported = caps::read(None, CapSet::Bounding)
        .unwrap_or_else(|_| caps::runtime::thread_all_supported());
    let set_of = |c: Option<&Capabilities>| -> CapsHashSet {
        c.map(|c| to_caps(c).intersection(&supported).copied().collect())
            .unwrap_or_default()
    };
    if let Some(w) = wanted {
        let bounding = set_of(w.bounding().as_ref());
        for c in supported.difference(&bounding) {
            caps::drop(None, CapSet::Bounding, *c)
                .map_err(|e| format!("dropping {c} from the bounding set: {e}"))?;
        }
        // Keep the permitted set across the switch to a non-root user.
        caps::securebits::set_keepcaps(true).map_err(|e| format!("keepcaps: {e}"))?;
    }
    let user = process.user();
    let gids: Vec<Gid> = user
        .additional_gids()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&gids).map_err(|e| format!("setgroups: {e}"))?;
    nix::unistd::setgid(Gid::from_raw(user.gid())).map_err(|e| format!("setgid: {e}"))?;
    nix::unistd::setuid(Uid::from_raw(user.uid())).map_err(|e| format!("setuid: {e}"))?;
    if let Some(w) = wanted {
        caps::securebits::set_keepcaps(false).map_err(|e| format!("keepcaps: {e}"))?;
        let permitted = set_of(w.permitted().as_ref());
        let effective = set_of(w.effective().as_ref());
        let inheritable = set_of(w.inheritable().as_ref());
        // Effective may only shrink within permitted: set it first.
        for (set, value, name) in [
            (CapSet::Effective, &effective, "effective"),
            (CapSet::Permitted, &permitted, "permitted"),
            (CapSet::Inheritable, &inheritable, "inheritable"),
        ] {
            caps::set(None, set, value).map_err(|e| format!("{name} capabilities: {e}"))?;
        }
        let ambient = set_of(w.ambient().as_ref());
        if caps::runtime::ambient_set_supported().is_ok() {
            caps::clear(None, CapSet::Ambient).map_err(|e| format!("ambient: {e}"))?;
            for c in &ambient {
                caps::raise(None, CapSet::Ambient, *c)
                    .map_err(|e| format!("ambient capability {c}: {e}"))?;
            }
        }
    }
    if nnp {
        nix::sys::prctl::set_no_new_privs().map_err(|e| format!("no_new_privs: {e}"))?;
        crate::seccomp::apply(&seccomp)?;
    }
    Ok(())
}

/// oci-spec capabilities as the caps crate names them.
fn to_caps(c: &Capabilities) -> CapsHashSet {
    c.iter()
        .filter_map(|c| caps::Capability::from_str(&format!("CAP_{c}")).ok())
        .collect::<HashSet<_>>()
}

/// Sets `process.rlimits`; a limit above what the kernel allows is lowered
/// to the current hard limit rather than failing the container.
fn set_rlimits(process: &Process) -> Result<(), String> {
    for r in process.rlimits().as_deref().unwrap_or_default() {
        let resource = match r.typ() {
            PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
            PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
            PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
            PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
            PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
            _ => continue,
        };
        if setrlimit(resource, r.soft(), r.hard()).is_err() {
            let hard = getrlimit(resource).map_err(|e| format!("getrlimit: {e}"))?;
            setrlimit(resource, r.soft().min(hard), r.hard().min(hard))
                .map_err(|e| format!("setrlimit {:?}: {e}", r.typ()))?;
        }
    }
    Ok(())
}

#[allow(
    clippy::useless_conversion,
    reason = "the resource type differs between libc targets"
)]
fn setrlimit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> std::io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    #[allow(unsafe_code, reason = "nix's resource feature is not enabled")]
    // SAFETY: `lim` is a valid rlimit that lives across the call.
    let rc = unsafe { libc::setrlimit(resource, &lim) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn getrlimit(resource: libc::__rlimit_resource_t) -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    #[allow(unsafe_code, reason = "nix's resource feature is not enabled")]
    // SAFETY: `lim` is a valid, writable rlimit that lives across the call.
    let rc = unsafe { libc::getrlimit(resource, &mut lim) };
    if rc == 0 {
        Ok(lim.rlim_max)
    } else {
        Err(std::io::Error::last_os_error())
    }
}
