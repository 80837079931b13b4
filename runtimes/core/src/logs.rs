//! The CRI container log format, shared by every runtime and by the node
//! agent's `kubectl logs` server: one line per record,
//! `<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>`, where `P` marks
//! a partial line that continues in the next record (as containerd writes).

use jiff::Timestamp;

/// Which output stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// The name used in the log file.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One parsed log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// When it was written.
    pub time: Timestamp,
    /// Which stream.
    pub stream: Stream,
    /// Whether the line is complete (`F`) rather than partial (`P`).
    pub full: bool,
    /// The content, without the newline.
    pub content: String,
}

/// Formats one record, newline included.
pub fn format_record(time: Timestamp, stream: Stream, full: bool, content: &[u8]) -> Vec<u8> {
    // Go's RFC3339Nano trims trailing zeros of the fraction, as jiff's Display does.
    let mut out = format!(
        "{time} {} {} ",
        stream.as_str(),
        if full { 'F' } else { 'P' }
    )
    .into_bytes();
    out.extend_from_slice(content);
    out.push(b'\n');
    out
}

/// Parses one line of a CRI log file (without its newline).
pub fn parse_record(line: &str) -> Option<LogRecord> {
    let mut parts = line.splitn(4, ' ');
    let time = parts.next()?.parse().ok()?;
    let stream = match parts.next()? {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return None,
    };
    let full = match parts.next()? {
        "F" => true,
        "P" => false,
        _ => return None,
    };
    Some(LogRecord {
        time,
        stream,
        full,
        content: parts.next().unwrap_or("").to_owned(),
    })
}

/// Reassembles the lines of one stream (or both, with `None`) from a log
/// file's text, joining partial records.
pub fn lines(text: &str, stream: Option<Stream>) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for rec in text.lines().filter_map(parse_record) {
        if stream.is_some_and(|s| s != rec.stream) {
            continue;
        }
        pending.push_str(&rec.content);
        if rec.full {
            out.push(std::mem::take(&mut pending));
        }
    }
    if !pending.is_empty() {
        out.push(pending);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t: Timestamp = "2026-11-24T10:00:00.123456789Z".parse().unwrap();
        let rec = format_record(t, Stream::Stderr, false, b"half a line");
        let text = String::from_utf8(rec).unwrap();
        assert_eq!(
            text,
            "2026-11-24T10:00:00.123456789Z stderr P half a line\n"
        );
        let parsed = parse_record(text.trim_end()).unwrap();
        assert_eq!(parsed.stream, Stream::Stderr);
        assert!(!parsed.full);
        assert_eq!(parsed.content, "half a line");
    }

    #[test]
    fn partial_lines_join() {
        let text = "2026-11-24T10:00:00Z stdout P ab\n\
                    2026-11-24T10:00:00Z stderr F err\n\
                    2026-11-24T10:00:01Z stdout F cd\n\
                    2026-11-24T10:00:01Z stdout F \n\
                    garbage\n";
        assert_eq!(lines(text, Some(Stream::Stdout)), ["abcd", ""]);
        assert_eq!(lines(text, Some(Stream::Stderr)), ["err"]);
    }
}
