//! Pod addresses on the bridge through rtnetlink, the interface `ip addr`
//! itself uses.
//!
//! Every Wasm pod's start and stop changes one address. Spawning `ip` for
//! each was a quarter of the node's CPU when pods started at ~230/s
//! (`perf record -a` during `skiff-bench pods --only startup`), so these two
//! operations send the same `RTM_NEWADDR`/`RTM_DELADDR` message `ip addr
//! replace|del ADDR/32 dev BRIDGE` sends, and read the kernel's
//! acknowledgement. Each is a couple of syscalls that do not block.

use std::io;
use std::net::Ipv4Addr;

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, SocketType, netdevice, recv, sendto, socket,
};

const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const AF_INET: u8 = 2;
/// `EADDRNOTAVAIL`: deleting an address that is not there.
const EADDRNOTAVAIL: i32 = 99;

/// Puts `addr/32` on `dev`, replacing it if present (`ip addr replace`).
pub fn replace_address(dev: &str, addr: Ipv4Addr) -> io::Result<()> {
    let index = if_index(dev)?;
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
    request(&address_message(RTM_NEWADDR, flags, index, addr))
}

/// Takes `addr/32` off `dev` (`ip addr del`); `Ok(false)` if it was not there.
pub fn delete_address(dev: &str, addr: Ipv4Addr) -> io::Result<bool> {
    let index = if_index(dev)?;
    let flags = NLM_F_REQUEST | NLM_F_ACK;
    match request(&address_message(RTM_DELADDR, flags, index, addr)) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(EADDRNOTAVAIL) => Ok(false),
        Err(e) => Err(e),
    }
}

fn if_index(dev: &str) -> io::Result<u32> {
    let fd = socket(AddressFamily::INET, SocketType::DGRAM, None)?;
    Ok(netdevice::name_to_index(&fd, dev)?)
}

/// `nlmsghdr` + `ifaddrmsg` (IPv4, /32, universe scope) + `IFA_LOCAL` and
/// `IFA_ADDRESS` attributes, in host byte order as netlink wants.
fn address_message(kind: u16, flags: u16, index: u32, addr: Ipv4Addr) -> Vec<u8> {
    let mut m = Vec::with_capacity(40);
    m.extend_from_slice(&40u32.to_ne_bytes()); // nlmsg_len
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // nlmsg_seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel
    m.extend_from_slice(&[AF_INET, 32, 0, 0]); // family, prefixlen, flags, scope
    m.extend_from_slice(&index.to_ne_bytes());
    for attr in [IFA_LOCAL, IFA_ADDRESS] {
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&attr.to_ne_bytes());
        m.extend_from_slice(&addr.octets());
    }
    m
}

/// Sends one request and waits for its acknowledgement (`NLMSG_ERROR`
/// with error 0, or the negative errno the kernel refused it with).
fn request(message: &[u8]) -> io::Result<()> {
    let fd = socket(AddressFamily::NETLINK, SocketType::RAW, None)?;
    sendto(
        &fd,
        message,
        SendFlags::empty(),
        &SocketAddrNetlink::new(0, 0),
    )?;
    let mut buf = [0u8; 1024];
    let (_, n) = recv(&fd, &mut buf[..], RecvFlags::empty())?;
    match ack_errno(&buf[..n.min(buf.len())]) {
        None => Ok(()),
        Some(errno) => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// The error of the acknowledgement in `reply`: `None` for success.
fn ack_errno(reply: &[u8]) -> Option<i32> {
    let kind = u16::from_ne_bytes(reply.get(4..6)?.try_into().ok()?);
    if kind != NLMSG_ERROR {
        return None;
    }
    let code = i32::from_ne_bytes(reply.get(16..20)?.try_into().ok()?);
    (code != 0).then_some(-code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_what_ip_sends() {
        let m = address_message(RTM_NEWADDR, 0x505, 7, Ipv4Addr::new(10, 42, 0, 9));
        assert_eq!(m.len(), 40);
        assert_eq!(&m[16..24], &[2, 32, 0, 0, 7, 0, 0, 0]);
        assert_eq!(&m[28..32], &[10, 42, 0, 9]);
        assert_eq!(&m[36..40], &[10, 42, 0, 9]);
    }

    #[test]
    fn acknowledgements_are_read() {
        let mut ok = vec![0u8; 36];
        ok[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        assert_eq!(ack_errno(&ok), None);
        let mut refused = ok.clone();
        refused[16..20].copy_from_slice(&(-EADDRNOTAVAIL).to_ne_bytes());
        assert_eq!(ack_errno(&refused), Some(EADDRNOTAVAIL));
        assert_eq!(ack_errno(&[1, 2]), None);
    }
}
