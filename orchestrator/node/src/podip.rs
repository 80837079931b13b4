//! Pod addresses from the node's pod CIDR (see [`crate::network`]): `.0` is
//! the network, `.1` the bridge's gateway, the last the broadcast; pods get
//! the rest, lowest free first.
//!
//! Addresses are held per pod UID, so asking again for the same pod gives
//! the same address. A restarted agent re-learns what is in use from the
//! pods themselves: each pod's `status.podIP` is claimed for it before any
//! new pod is given an address (see [`Allocator::allocate`]'s `prefer`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

use crate::network::Ipv4Cidr;

/// Hands out and takes back pod addresses.
#[derive(Debug)]
pub struct Allocator {
    cidr: Ipv4Cidr,
    /// Host offset in the CIDR → owning pod UID.
    used: Mutex<BTreeMap<u32, String>>,
}

impl Allocator {
    /// An empty allocator over `cidr`.
    pub fn new(cidr: Ipv4Cidr) -> Self {
        Allocator {
            cidr,
            used: Mutex::new(BTreeMap::new()),
        }
    }

    /// The range addresses come from.
    pub fn cidr(&self) -> Ipv4Cidr {
        self.cidr
    }

    /// The address of pod `owner`: the one it already holds, else `prefer`
    /// when that is in range and free (its address before an agent
    /// restart), else the lowest free one; `None` when all are taken.
    pub fn allocate(&self, owner: &str, prefer: Option<IpAddr>) -> Option<IpAddr> {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((n, _)) = used.iter().find(|(_, o)| o.as_str() == owner) {
            return Some(IpAddr::V4(self.cidr.nth(*n)));
        }
        let hosts = 2..self.cidr.size().saturating_sub(1);
        let preferred = match prefer {
            Some(IpAddr::V4(ip)) => self
                .cidr
                .offset(ip)
                .filter(|n| hosts.contains(n) && !used.contains_key(n)),
            _ => None,
        };
        let n = preferred.or_else(|| hosts.clone().find(|n| !used.contains_key(n)))?;
        used.insert(n, owner.to_owned());
        Some(IpAddr::V4(self.cidr.nth(n)))
    }

    /// Returns an address.
    pub fn release(&self, ip: IpAddr) {
        if let IpAddr::V4(v4) = ip
            && let Some(n) = self.cidr.offset(v4)
        {
            self.used
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&n);
        }
    }

    /// The gateway (`.1`), where the node itself answers.
    pub fn gateway(&self) -> Ipv4Addr {
        self.cidr.nth(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().expect("cidr")
    }

    #[test]
    fn reuses_released_addresses() {
        let a = Allocator::new(cidr("10.42.0.0/24"));
        let x = a.allocate("a", None).expect("ip");
        let y = a.allocate("b", None).expect("ip");
        assert_eq!(x.to_string(), "10.42.0.2");
        assert_eq!(y.to_string(), "10.42.0.3");
        assert_eq!(a.allocate("a", None), Some(x), "same pod, same address");
        a.release(x);
        assert_eq!(a.allocate("c", None), Some(x));
    }

    #[test]
    fn prefers_the_address_a_pod_had_when_free_and_in_range() {
        let a = Allocator::new(cidr("10.42.0.0/24"));
        let old: IpAddr = "10.42.0.9".parse().expect("ip");
        assert_eq!(a.allocate("a", Some(old)), Some(old));
        assert_eq!(
            a.allocate("b", Some(old)).map(|i| i.to_string()).as_deref(),
            Some("10.42.0.2")
        );
        let outside: IpAddr = "127.42.0.5".parse().expect("ip");
        assert_eq!(
            a.allocate("c", Some(outside))
                .map(|i| i.to_string())
                .as_deref(),
            Some("10.42.0.3")
        );
        let gw: IpAddr = "10.42.0.1".parse().expect("ip");
        assert_eq!(
            a.allocate("d", Some(gw)).map(|i| i.to_string()).as_deref(),
            Some("10.42.0.4")
        );
    }

    #[test]
    fn a_full_range_says_so() {
        let a = Allocator::new(cidr("10.42.0.0/30"));
        assert!(a.allocate("a", None).is_some());
        assert_eq!(a.allocate("b", None), None);
    }
}
