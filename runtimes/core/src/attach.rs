//! Attaching to a container's main process (`kubectl attach`, `kubectl run
//! -it`): where a runtime serves it ([`AttachEndpoint`]) and the small
//! framed protocol spoken on that stream ([`Frame`]).
//!
//! CRI's `Attach` answers a URL of the runtime's streaming server; a Skiff
//! runtime answers a Unix socket instead, and the node agent relays between
//! it and the client's WebSocket. Frames carry the channel numbers of the
//! Kubernetes channel protocol, so the relay only re-frames:
//!
//! ```text
//! channel: u8 | length: u32 big-endian | payload
//! ```
//!
//! - [`STDIN`] (client → runtime): bytes for the process's stdin. A client
//!   that will send input announces itself with an empty one first, which
//!   is what `stdinOnce` counts.
//! - [`STDOUT`], [`STDERR`] (runtime → client): the process's output from
//!   the moment of attaching on. A terminal's output is all stdout.
//! - [`RESIZE`] (client → runtime): width then height, each a `u16`
//!   big-endian.
//! - [`CLOSE`] (client → runtime): the payload's one byte names the
//!   channel the client closed (only [`STDIN`] matters).
//!
//! The runtime closes the stream when the process's output ends.
//!
//! # Examples
//!
//! ```
//! use skiff_runtime::attach::{Frame, STDOUT};
//!
//! let bytes = Frame::new(STDOUT, b"hi".to_vec()).encode();
//! let (frame, used) = Frame::decode(&bytes).unwrap().unwrap();
//! assert_eq!((frame.channel, frame.data.as_slice(), used), (STDOUT, &b"hi"[..], 7));
//! ```

use std::path::PathBuf;

/// Standard input (client → runtime).
pub const STDIN: u8 = 0;
/// Standard output (runtime → client).
pub const STDOUT: u8 = 1;
/// Standard error (runtime → client).
pub const STDERR: u8 = 2;
/// A terminal size (client → runtime).
pub const RESIZE: u8 = 4;
/// "I closed channel N" (client → runtime).
pub const CLOSE: u8 = 255;

/// Frames larger than this are refused: a peer announcing more is broken.
pub const MAX_FRAME: usize = 1 << 20;

/// Where and how to attach to a running container's main process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachEndpoint {
    /// The Unix socket that speaks the [`Frame`] protocol.
    pub socket: PathBuf,
    /// The container was created with `stdin: true`: input reaches the process.
    pub stdin: bool,
    /// The container was created with `tty: true`: output is one terminal
    /// stream and resizes apply.
    pub tty: bool,
}

/// One message of the attach protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The channel ([`STDIN`], [`STDOUT`] …).
    pub channel: u8,
    /// Its payload.
    pub data: Vec<u8>,
}

/// A peer sent a frame longer than [`MAX_FRAME`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("attach frame of {0} bytes exceeds the limit of {MAX_FRAME}")]
pub struct FrameTooLarge(pub usize);

impl Frame {
    /// A frame for `channel`.
    pub fn new(channel: u8, data: Vec<u8>) -> Self {
        Frame { channel, data }
    }

    /// A [`RESIZE`] frame.
    pub fn resize(width: u16, height: u16) -> Self {
        let mut data = width.to_be_bytes().to_vec();
        data.extend_from_slice(&height.to_be_bytes());
        Frame::new(RESIZE, data)
    }

    /// The size a [`RESIZE`] frame carries, as (width, height).
    pub fn size(&self) -> Option<(u16, u16)> {
        match self.data.as_slice() {
            [w0, w1, h0, h1] => Some((
                u16::from_be_bytes([*w0, *w1]),
                u16::from_be_bytes([*h0, *h1]),
            )),
            _ => None,
        }
    }

    /// The bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let len = u32::try_from(self.data.len()).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(self.data.len() + 5);
        out.push(self.channel);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.data);
        out
    }

    /// Decodes the first frame of `buf`: the frame and how many bytes it
    /// used, or `None` while the frame is still incomplete.
    pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameTooLarge> {
        let [channel, l0, l1, l2, l3, rest @ ..] = buf else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([*l0, *l1, *l2, *l3]) as usize;
        if len > MAX_FRAME {
            return Err(FrameTooLarge(len));
        }
        Ok(rest
            .get(..len)
            .map(|data| (Frame::new(*channel, data.to_vec()), len + 5)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_in_pieces() {
        let mut wire = Frame::new(STDIN, b"ls\n".to_vec()).encode();
        wire.extend(Frame::resize(80, 24).encode());
        assert_eq!(Frame::decode(&wire[..4]), Ok(None));
        assert_eq!(Frame::decode(&wire[..7]), Ok(None));
        let Ok(Some((a, n))) = Frame::decode(&wire) else {
            panic!("no first frame");
        };
        assert_eq!((a.channel, a.data.as_slice()), (STDIN, &b"ls\n"[..]));
        let Ok(Some((b, m))) = Frame::decode(&wire[n..]) else {
            panic!("no second frame");
        };
        assert_eq!(b.size(), Some((80, 24)));
        assert_eq!(n + m, wire.len());
    }

    #[test]
    fn refuses_huge_frames() {
        let wire = [STDOUT, 0xff, 0xff, 0xff, 0xff];
        assert!(Frame::decode(&wire).is_err());
    }
}
