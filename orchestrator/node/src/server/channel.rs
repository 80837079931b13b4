//! The Kubernetes channel protocol over WebSocket (`v4.channel.k8s.io`,
//! `v5.channel.k8s.io`): every binary message starts with one byte naming
//! its stream. v5 adds channel 255, by which a side says it closed one of
//! its streams (how `kubectl exec -i` signals end of stdin).

use serde_json::{Value, json};

/// Standard input (client → server).
pub const STDIN: u8 = 0;
/// Standard output.
pub const STDOUT: u8 = 1;
/// Standard error.
pub const STDERR: u8 = 2;
/// The final `Status` of the command.
pub const ERROR: u8 = 3;
/// Terminal size changes (client → server), JSON `{"Width","Height"}`.
pub const RESIZE: u8 = 4;
/// v5: "I closed channel N" (the payload is N).
pub const CLOSE: u8 = 255;

/// The subprotocols served, best first.
pub const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// A decoded client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Bytes for a stream.
    Data(u8, &'a [u8]),
    /// The client closed one of its streams.
    Close(u8),
}

/// Decodes one binary message; an empty one carries nothing.
pub fn decode(msg: &[u8]) -> Option<Frame<'_>> {
    match msg {
        [] => None,
        [CLOSE, ch, ..] => Some(Frame::Close(*ch)),
        [CLOSE] => None,
        [ch, rest @ ..] => Some(Frame::Data(*ch, rest)),
    }
}

/// Encodes bytes for a channel.
pub fn encode(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1);
    out.push(channel);
    out.extend_from_slice(data);
    out
}

/// The `Status` sent on [`ERROR`] when the command ended: success, or
/// the failure kubectl turns into its own exit code.
pub fn exit_status(cmd: &[String], code: i32) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command {cmd:?}, exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
    })
}

/// A `Status` for an error that kept the command from running.
pub fn failure(message: &str) -> Value {
    json!({"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500})
}

/// A terminal size from a [`RESIZE`] message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct TermSize {
    /// Columns.
    #[serde(rename = "Width")]
    pub width: u16,
    /// Rows.
    #[serde(rename = "Height")]
    pub height: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        assert_eq!(encode(STDOUT, b"hi"), b"\x01hi");
        assert_eq!(decode(b"\x00abc"), Some(Frame::Data(STDIN, b"abc")));
        assert_eq!(decode(b"\x00"), Some(Frame::Data(STDIN, b"")));
        assert_eq!(decode(b"\xff\x00"), Some(Frame::Close(STDIN)));
        assert_eq!(decode(b""), None);
        assert_eq!(decode(b"\xff"), None);
    }

    #[test]
    fn exit_codes_become_statuses() {
        let cmd = vec!["sh".to_owned()];
        assert_eq!(exit_status(&cmd, 0)["status"], "Success");
        let s = exit_status(&cmd, 3);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "3");
        let size: Option<TermSize> = serde_json::from_str(r#"{"Width":80,"Height":24}"#).ok();
        assert_eq!(size.map(|s| (s.width, s.height)), Some((80, 24)));
    }
}
