//! Plugs a pod sandbox's network namespace into the node's bridge, as
//! containerd's CNI `bridge` plugin would: a veth pair whose pod end is
//! `eth0` with the pod IP and a default route via the bridge's gateway,
//! and whose node end is a port of the bridge. The node agent owns the
//! bridge and the addresses; this module only wires one sandbox.
//!
//! It drives iproute2 (`ip`, and `nsenter` from util-linux to run `ip`
//! inside the namespace file) rather than netlink: a handful of
//! operations per pod do not justify an async netlink stack in every
//! build, `ip` is on every node, and an operator debugging a pod network
//! can replay exactly these commands.

use std::net::Ipv4Addr;
use std::path::Path;

use skiff_runtime::RuntimeError;

/// The node's pod network a sandbox joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNetwork {
    /// The bridge on the node (`skiff0`).
    pub bridge: String,
    /// The bridge's address: the pods' default gateway.
    pub gateway: Ipv4Addr,
    /// Prefix length of the node's pod CIDR (the pod end's subnet).
    pub prefix_len: u8,
}

/// The node end of a pod's veth pair: derived from the pod IP so set-up is
/// idempotent (a retry or a new sandbox for the same address replaces the
/// old pair) and teardown needs no state. 12 characters, under IFNAMSIZ.
pub fn host_veth(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("veth{a:02x}{b:02x}{c:02x}{d:02x}")
}

fn ip_cmd(args: &[&str], stdin: Option<&str>, netns: Option<&Path>) -> Result<(), RuntimeError> {
    use std::io::Write;
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = std::process::Command::new("nsenter");
            c.arg(format!("--net={}", ns.display())).arg("ip");
            c
        }
        None => std::process::Command::new("ip"),
    };
    cmd.args(args)
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let what = format!("ip {}", args.join(" "));
    let mut child = cmd.spawn().map_err(|e| RuntimeError::Internal {
        message: format!("{what}: {e}"),
    })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .map_err(|e| RuntimeError::Internal {
                message: format!("{what}: writing its input: {e}"),
            })?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| RuntimeError::Internal {
            message: format!("{what}: {e}"),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(RuntimeError::Internal {
            message: format!("{what}: {}", String::from_utf8_lossy(&out.stderr).trim()),
        })
    }
}

/// Gives the namespace at `netns` an `eth0` with `ip` on the bridge.
/// Blocking (runs `ip`).
pub fn attach(net: &PodNetwork, netns: &Path, ip: Ipv4Addr) -> Result<(), RuntimeError> {
    let host = host_veth(ip);
    // A pair left by an earlier attempt or sandbox for this address goes
    // first; "not found" is the usual answer and not an error.
    let _ = ip_cmd(&["link", "del", &host], None, None);
    let ns = netns.display().to_string();
    ip_cmd(
        &[
            "link", "add", &host, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ],
        None,
        None,
    )?;
    let result = (|| {
        ip_cmd(
            &["link", "set", &host, "master", &net.bridge, "up"],
            None,
            None,
        )?;
        // One `ip` process for the pod side; `replace` keeps it idempotent.
        let script = format!(
            "link set lo up\naddr replace {ip}/{} dev eth0\nlink set eth0 up\nroute replace default via {} dev eth0\n",
            net.prefix_len, net.gateway
        );
        ip_cmd(&["-batch", "-"], Some(&script), Some(netns))
    })();
    if result.is_err() {
        let _ = ip_cmd(&["link", "del", &host], None, None);
    }
    result
}

/// Removes the pod's veth pair (both ends go together), if it is still
/// this namespace's: after an agent restart a newer sandbox may hold the
/// same address, and with it the same veth name. Blocking.
pub fn detach(netns: &Path, ip: Ipv4Addr) {
    let host = host_veth(ip);
    let index = |out: &str| out.split(':').next().map(|i| i.trim().to_owned());
    let peer = |out: &str| {
        out.split(':')
            .nth(1)
            .and_then(|n| n.split("@if").nth(1))
            .map(|i| i.trim().to_owned())
    };
    let host_index = ip_output(&["-o", "link", "show", "dev", &host], None).and_then(|o| index(&o));
    let pod_peer =
        ip_output(&["-o", "link", "show", "dev", "eth0"], Some(netns)).and_then(|o| peer(&o));
    if host_index.is_some() && host_index == pod_peer {
        let _ = ip_cmd(&["link", "del", &host], None, None);
    }
}

/// What `ip ARGS` prints, `None` when it fails.
fn ip_output(args: &[&str], netns: Option<&Path>) -> Option<String> {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = std::process::Command::new("nsenter");
            c.arg(format!("--net={}", ns.display())).arg("ip");
            c
        }
        None => std::process::Command::new("ip"),
    };
    let out = cmd
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_fit_ifnamsiz_and_follow_the_address() {
        let n = host_veth(Ipv4Addr::new(10, 42, 0, 17));
        assert_eq!(n, "veth0a2a0011");
        assert!(n.len() < 16);
    }
}
