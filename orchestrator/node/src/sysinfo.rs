//! What the node reports about itself, read from /proc and /etc.

/// Logical CPUs.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Total memory in KiB, from /proc/meminfo `MemTotal`.
pub fn memory_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| parse_meminfo_total(&s))
        .unwrap_or(0)
}

fn parse_meminfo_total(s: &str) -> Option<u64> {
    s.lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The machine's host name, lower-cased (node names are DNS subdomains).
pub fn hostname() -> String {
    let h = read_trim("/proc/sys/kernel/hostname").to_lowercase();
    if h.is_empty() { "localhost".into() } else { h }
}

/// Kernel release.
pub fn kernel_version() -> String {
    read_trim("/proc/sys/kernel/osrelease")
}

/// `PRETTY_NAME` from /etc/os-release.
pub fn os_image() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "Linux".into())
}

/// /etc/machine-id.
pub fn machine_id() -> String {
    read_trim("/etc/machine-id")
}

/// This boot's id.
pub fn boot_id() -> String {
    read_trim("/proc/sys/kernel/random/boot_id")
}

/// The architecture in Go's (and so Kubernetes') spelling.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_total() {
        let s = "MemTotal:       24589700 kB\nMemFree: 1 kB\n";
        assert_eq!(parse_meminfo_total(s), Some(24_589_700));
        assert!(cpus() >= 1);
    }
}
