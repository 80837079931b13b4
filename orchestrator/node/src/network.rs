//! The node's pod network (see docs/architecture.md, "Pod network"): the
//! node owns a pod CIDR (a /24 of the cluster's 10.42.0.0/16 by default, as
//! k3s), and a bridge `skiff0` holding the CIDR's `.1` as gateway, so the
//! node itself (the agent, probes, port-forward) reaches every pod.
//!
//! - Native pods: the native runtime plugs each sandbox's network
//!   namespace into the bridge with a veth pair (`eth0` in the pod).
//! - Wasm pods share the node's namespace: the agent puts each one's pod IP
//!   on the bridge as a /32 ([`add_address`]) and the Wasm runtime binds
//!   the pod's listeners to it. A native pod reaches a Wasm pod's address
//!   on its link (the bridge answers ARP for its own addresses) and the
//!   node delivers locally.
//!
//! The bridge is set up once through iproute2 (`ip`), which an operator
//! can replay and inspect (`ip addr show skiff0`); the per-pod address
//! changes send the same rtnetlink messages directly ([`crate::netlink`]),
//! as spawning `ip` for each pod cost more CPU than starting the pod.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

/// The default cluster CIDR (k3s's).
pub const DEFAULT_CLUSTER_CIDR: &str = "10.42.0.0/16";
/// The default bridge.
pub const DEFAULT_BRIDGE: &str = "skiff0";

/// An IPv4 network in CIDR notation, stored with its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix_len: u8,
}

/// A CIDR that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid IPv4 CIDR {0:?} (expected e.g. 10.42.0.0/24)")]
pub struct CidrError(String);

impl Ipv4Cidr {
    /// The network `addr/prefix_len` (host bits cleared); `None` when the
    /// prefix is longer than 32.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Option<Self> {
        if prefix_len > 32 {
            return None;
        }
        let mask = u32::MAX
            .checked_shl(32 - u32::from(prefix_len))
            .unwrap_or(0);
        Some(Ipv4Cidr {
            network: Ipv4Addr::from(u32::from(addr) & mask),
            prefix_len,
        })
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// How many addresses it spans (saturating at `u32::MAX` for /0).
    pub fn size(&self) -> u32 {
        1u32.checked_shl(32 - u32::from(self.prefix_len))
            .unwrap_or(u32::MAX)
    }

    /// The address at `offset` from the network address (wraps within it).
    pub fn nth(&self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network).wrapping_add(offset % self.size().max(1)))
    }

    /// The offset of `ip`, if inside.
    pub fn offset(&self, ip: Ipv4Addr) -> Option<u32> {
        let off = u32::from(ip).wrapping_sub(u32::from(self.network));
        (u32::from(ip) >= u32::from(self.network) && off < self.size()).then_some(off)
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.offset(ip).is_some()
    }

    /// The `index`-th sub-network of length `prefix_len` (a node's slice of
    /// the cluster CIDR); `None` when it does not fit.
    pub fn subnet(&self, prefix_len: u8, index: u32) -> Option<Ipv4Cidr> {
        if prefix_len < self.prefix_len || prefix_len > 32 {
            return None;
        }
        let step = Ipv4Cidr::new(self.network, prefix_len)?.size();
        let count = self.size() / step.max(1);
        (index < count).then(|| Ipv4Cidr {
            network: self.nth(index * step),
            prefix_len,
        })
    }

    /// The gateway: the first host address (`.1`), held by the bridge.
    pub fn gateway(&self) -> Ipv4Addr {
        self.nth(1)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, CidrError> {
        let bad = || CidrError(s.to_owned());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let p: u8 = p.parse().map_err(|_| bad())?;
        Ipv4Cidr::new(addr, p).ok_or_else(bad)
    }
}

/// The node's share of the pod network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeNetwork {
    /// The bridge (`skiff0`).
    pub bridge: String,
    /// The node's pod CIDR (written to the Node's `spec.podCIDR`).
    pub pod_cidr: Ipv4Cidr,
}

/// A failed network operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `ip` could not be run or failed.
    #[error("`ip {args}` failed: {message}")]
    Ip {
        /// Its arguments.
        args: String,
        /// Its error output, or why it did not run.
        message: String,
    },
}

async fn ip(args: &[&str]) -> Result<String, Error> {
    let fail = |message: String| Error::Ip {
        args: args.join(" "),
        message,
    };
    let out = tokio::process::Command::new("ip")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_owned()))
    }
}

impl NodeNetwork {
    /// Creates the bridge with the gateway address and brings it up;
    /// idempotent, so a restarted agent finds it as it left it.
    pub async fn ensure_bridge(&self) -> Result<(), Error> {
        let br = self.bridge.as_str();
        if ip(&["link", "show", "dev", br]).await.is_err() {
            ip(&["link", "add", "name", br, "type", "bridge"]).await?;
        }
        let gw = format!("{}/{}", self.pod_cidr.gateway(), self.pod_cidr.prefix_len());
        ip(&["addr", "replace", &gw, "dev", br]).await?;
        ip(&["link", "set", "dev", br, "up"]).await?;
        Ok(())
    }

    /// Puts a Wasm pod's address on the bridge (as a /32, so removing it
    /// never touches the gateway's subnet route). Idempotent.
    pub async fn add_address(&self, addr: IpAddr) -> Result<(), Error> {
        let a = format!("{addr}/32");
        if let IpAddr::V4(v4) = addr {
            return crate::netlink::replace_address(&self.bridge, v4).map_err(|e| Error::Ip {
                args: format!("addr replace {a} dev {}", self.bridge),
                message: e.to_string(),
            });
        }
        ip(&["addr", "replace", &a, "dev", &self.bridge]).await?;
        Ok(())
    }

    /// Takes a Wasm pod's address off the bridge; an address already gone
    /// is not an error.
    pub async fn remove_address(&self, addr: IpAddr) {
        let a = format!("{addr}/32");
        let removed = match addr {
            IpAddr::V4(v4) => crate::netlink::delete_address(&self.bridge, v4)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            IpAddr::V6(_) => ip(&["addr", "del", &a, "dev", &self.bridge])
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        };
        if let Err(e) = removed {
            tracing::debug!(error = %e, "removing a pod address");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_arithmetic() {
        let c: Ipv4Cidr = DEFAULT_CLUSTER_CIDR.parse().expect("cidr");
        assert_eq!(c.size(), 65536);
        let node = c.subnet(24, 0).expect("first /24");
        assert_eq!(node.to_string(), "10.42.0.0/24");
        assert_eq!(c.subnet(24, 3).expect("4th").to_string(), "10.42.3.0/24");
        assert!(c.subnet(24, 256).is_none());
        assert_eq!(node.gateway().to_string(), "10.42.0.1");
        assert_eq!(node.offset("10.42.0.7".parse().expect("ip")), Some(7));
        assert!(!node.contains("10.42.1.7".parse().expect("ip")));
        assert!(!node.contains("10.41.255.255".parse().expect("ip")));
        let host_bits: Ipv4Cidr = "10.42.0.9/24".parse().expect("cidr");
        assert_eq!(host_bits, node);
        for bad in ["10.42.0.0", "10.42.0.0/33", "x/24", "10.42.0/24"] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad}");
        }
    }
}
