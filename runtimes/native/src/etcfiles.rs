//! The files the kubelet manages inside every container: `/etc/hosts`,
//! `/etc/hostname` and `/etc/resolv.conf`, written by the runtime into a
//! directory of the container and bind-mounted over the image's.
//!
//! `/etc/resolv.conf` is the host's, without loopback nameservers (a
//! resolver on the host's 127.0.0.53 is out of reach from the pod's network
//! namespace), as the kubelet does with `--resolv-conf`; the sandbox config
//! carries no DNS settings yet.
//!
//! A pod on the node's network (`hostNetwork`) gets what the kubelet gives
//! one: the node's own `/etc/hosts` under the kubelet's host-network
//! header, the node's hostname, and the node's `resolv.conf` whole — its
//! loopback resolver is reachable from the node's namespace. That is the
//! kubelet's answer for `dnsPolicy` `ClusterFirst` (the default, which a
//! host-network pod turns into `Default`) and `Default`; and, since Skiff
//! serves no cluster DNS yet, for `ClusterFirstWithHostNet` too (the
//! kubelet also falls back to `Default` when it has no cluster DNS).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Names of the files in the directory, and where each is mounted.
pub const FILES: [(&str, &str); 3] = [
    ("hosts", "/etc/hosts"),
    ("hostname", "/etc/hostname"),
    ("resolv.conf", "/etc/resolv.conf"),
];

/// The kubelet's managed hosts file: loopback names, then the pod's IP with
/// its hostname.
pub fn hosts(hostname: &str, pod_ip: Option<IpAddr>) -> String {
    let mut s = String::from(
        "# Kubernetes-managed hosts file.\n\
         127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         fe00::0\tip6-mcastprefix\n\
         fe00::1\tip6-allnodes\n\
         fe00::2\tip6-allrouters\n",
    );
    if let Some(ip) = pod_ip {
        s.push_str(&format!("{ip}\t{hostname}\n"));
    }
    s
}

/// The kubelet's hosts file for a pod on the node's network: the node's
/// own `/etc/hosts` content under its header.
pub fn node_hosts(host_hosts: &str) -> String {
    let mut s = String::from("# Kubernetes-managed hosts file (host network).\n");
    s.push_str(host_hosts);
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// `host` (a resolv.conf) without loopback nameservers.
pub fn resolv_conf(host: &str) -> String {
    let mut out = String::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver")
            && words
                .next()
                .and_then(|a| a.parse::<IpAddr>().ok())
                .is_some_and(|a| a.is_loopback())
        {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Writes the three files into `dir`; returns `(file, mount point)` pairs.
/// `host_network`: the container is in the node's network namespace
/// (`hostname` is then the node's).
pub fn write(
    dir: &Path,
    hostname: &str,
    pod_ip: Option<IpAddr>,
    host_network: bool,
) -> std::io::Result<Vec<(PathBuf, &'static str)>> {
    std::fs::create_dir_all(dir)?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let (hosts, resolv) = if host_network {
        let host_hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        (node_hosts(&host_hosts), host_resolv)
    } else {
        (hosts(hostname, pod_ip), resolv_conf(&host_resolv))
    };
    for (name, content) in [
        ("hosts", hosts),
        ("hostname", format!("{hostname}\n")),
        ("resolv.conf", resolv),
    ] {
        std::fs::write(dir.join(name), content)?;
    }
    Ok(FILES.iter().map(|(n, m)| (dir.join(n), *m)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_names_the_pod() {
        let h = hosts("web-0", Some("10.88.0.5".parse().unwrap()));
        assert!(h.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("10.88.0.5\tweb-0\n"));
        assert!(!hosts("web-0", None).contains("web-0"));
    }

    #[test]
    fn host_network_pods_get_the_nodes_hosts_file_and_resolver() {
        let h = node_hosts("127.0.0.1 localhost\n10.0.0.7 node-a");
        assert_eq!(
            h,
            "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n10.0.0.7 node-a\n"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        write(
            dir.path(),
            "node-a",
            Some("10.0.0.7".parse().expect("ip")),
            true,
        )
        .expect("write");
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).expect("read");
        assert_eq!(read("hostname"), "node-a\n");
        let node = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        assert_eq!(read("hosts"), node_hosts(&node));
        assert_eq!(
            read("resolv.conf"),
            std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
        );
    }

    #[test]
    fn loopback_nameservers_are_dropped() {
        let r = resolv_conf(
            "nameserver 127.0.0.53\nnameserver ::1\nnameserver 10.0.0.2\nsearch example.org\n",
        );
        assert_eq!(r, "nameserver 10.0.0.2\nsearch example.org\n");
    }
}
