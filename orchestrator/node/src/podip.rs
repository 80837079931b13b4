//! Pod addresses. Until the pod network slice (bridge `skiff0`, veths, a
//! pod CIDR per node) lands, each pod gets its own loopback address from
//! 127.42.0.0/16: every address in 127.0.0.0/8 already reaches `lo` on
//! Linux, so pods can listen on the same port side by side without any
//! change to host networking, and no packet leaves the machine.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

/// Hands out and takes back loopback pod addresses.
#[derive(Debug, Default)]
pub struct Allocator {
    used: Mutex<BTreeSet<u16>>,
}

impl Allocator {
    /// An empty allocator.
    pub fn new() -> Self {
        Allocator::default()
    }

    /// The lowest free address (127.42.0.2 up), `None` when all are taken.
    pub fn allocate(&self) -> Option<IpAddr> {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let n = (2..u16::MAX).find(|n| !used.contains(n))?;
        used.insert(n);
        let [hi, lo] = n.to_be_bytes();
        Some(IpAddr::V4(Ipv4Addr::new(127, 42, hi, lo)))
    }

    /// Returns an address.
    pub fn release(&self, ip: IpAddr) {
        if let IpAddr::V4(v4) = ip {
            let [_, _, hi, lo] = v4.octets();
            self.used
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&u16::from_be_bytes([hi, lo]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_released_addresses() {
        let a = Allocator::new();
        let x = a.allocate().expect("ip");
        let y = a.allocate().expect("ip");
        assert_eq!(x.to_string(), "127.42.0.2");
        assert_eq!(y.to_string(), "127.42.0.3");
        a.release(x);
        assert_eq!(a.allocate(), Some(x));
    }
}
