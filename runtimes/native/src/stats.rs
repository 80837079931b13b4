//! Container resource usage read from its cgroup (v1 or v2).

use cgroups_rs::fs::cgroup::Cgroup;
use cgroups_rs::fs::cpu::CpuController;
use cgroups_rs::fs::cpuacct::CpuAcctController;
use cgroups_rs::fs::hierarchies;
use cgroups_rs::fs::memory::MemController;
use skiff_runtime::ContainerStats;

/// CPU time, working set (usage minus inactive file cache, as the kubelet
/// computes it) and peak memory of the cgroup at `path`. Blocking.
pub fn read(path: &str) -> ContainerStats {
    let cg = Cgroup::load(hierarchies::auto(), path);
    let mut out = ContainerStats::default();
    if cg.v2() {
        if let Some(cpu) = cg.controller_of::<CpuController>() {
            out.cpu_usage_nanos = usage_usec(&cpu.cpu().stat) * 1000;
        }
    } else if let Some(acct) = cg.controller_of::<CpuAcctController>() {
        out.cpu_usage_nanos = acct.cpuacct().usage;
    }
    if let Some(mem) = cg.controller_of::<MemController>() {
        let m = mem.memory_stat();
        let inactive = if cg.v2() {
            m.stat.inactive_file
        } else {
            m.stat.total_inactive_file
        };
        out.memory_working_set_bytes = m.usage_in_bytes.saturating_sub(inactive);
        out.memory_peak_bytes = m.max_usage_in_bytes;
    }
    out
}

/// `usage_usec` from a v2 `cpu.stat`.
fn usage_usec(stat: &str) -> u64 {
    stat.lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn v2_cpu_stat() {
        let stat = "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n";
        assert_eq!(super::usage_usec(stat), 1234);
        assert_eq!(super::usage_usec(""), 0);
    }
}
