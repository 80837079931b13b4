//! The CRI container log format, shared by every runtime and by the node
//! agent's `kubectl logs` server: one line per record,
//! `<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>`, where `P` marks
//! a partial line that continues in the next record (as containerd writes).
//!
//! [`RotationPolicy`] and [`rotate`] bound a log file's size as the kubelet
//! does (`containerLogMaxSize`, `containerLogMaxFiles`): the current file is
//! renamed to `<name>.<timestamp>`, the oldest rotated files beyond the
//! limit are deleted, and the writer starts a new current file, which is
//! the one `kubectl logs` reads.

use std::path::{Path, PathBuf};

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

/// How big a container's log may grow and how many files of it are kept
/// (the kubelet's `containerLogMaxSize` 10Mi and `containerLogMaxFiles` 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// The current file is rotated before it would pass this size.
    pub max_bytes: u64,
    /// Files kept, the current one included (at least 2, as the kubelet
    /// requires: the current file and one rotated).
    pub max_files: u32,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        RotationPolicy {
            max_bytes: 10 * 1024 * 1024,
            max_files: 5,
        }
    }
}

impl RotationPolicy {
    /// Smallest size bound honoured: one long record (16 KiB lines are
    /// split) must not rotate at every write.
    pub const MIN_BYTES: u64 = 1024;

    /// A policy with the bounds raised to what works (see the fields).
    pub fn new(max_bytes: u64, max_files: u32) -> Self {
        RotationPolicy {
            max_bytes: max_bytes.max(Self::MIN_BYTES),
            max_files: max_files.max(2),
        }
    }

    /// Whether a file of `written` bytes must be rotated before `incoming`
    /// more are appended (an empty file takes any record whole).
    pub fn must_rotate(&self, written: u64, incoming: u64) -> bool {
        written > 0 && written.saturating_add(incoming) > self.max_bytes
    }

    /// Rotated files kept beside the current one.
    pub fn rotated_kept(&self) -> usize {
        usize::try_from(self.max_files.max(2) - 1).unwrap_or(usize::MAX)
    }
}

/// The name the current file `file_name` gets when rotated at `now`: the
/// kubelet's `<name>.YYYYmmdd-HHMMSS`, plus nanoseconds, since a small
/// bound can rotate more than once a second. Names sort by age.
pub fn rotated_name(file_name: &str, now: Timestamp) -> String {
    format!(
        "{file_name}.{}.{:09}",
        now.strftime("%Y%m%d-%H%M%S"),
        now.subsec_nanosecond()
    )
}

/// Whether `candidate` is a rotated file of `file_name` (the suffix is a
/// timestamp: digits, `-` and `.`).
pub fn is_rotated(file_name: &str, candidate: &str) -> bool {
    candidate
        .strip_prefix(file_name)
        .and_then(|r| r.strip_prefix('.'))
        .is_some_and(|suffix| {
            suffix.starts_with(|c: char| c.is_ascii_digit())
                && suffix
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '-' || c == '.')
        })
}

/// Of the names in a directory, the rotated files of `file_name` to
/// delete so that at most `keep` remain: the oldest ones.
pub fn rotated_to_delete<'a>(
    file_name: &str,
    names: impl IntoIterator<Item = &'a str>,
    keep: usize,
) -> Vec<&'a str> {
    let mut rotated: Vec<&str> = names
        .into_iter()
        .filter(|n| is_rotated(file_name, n))
        .collect();
    rotated.sort_unstable();
    let excess = rotated.len().saturating_sub(keep);
    rotated.truncate(excess);
    rotated
}

/// Rotates the log at `path`: renames it to its [`rotated_name`] and
/// deletes the oldest rotated files past the policy's count. The writer
/// then opens a new file at `path`; a reader following the old one
/// finishes it and moves on. Blocking.
pub fn rotate(path: &Path, policy: &RotationPolicy, now: Timestamp) -> std::io::Result<PathBuf> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| std::io::Error::other(format!("{} has no file name", path.display())))?;
    let rotated = path.with_file_name(rotated_name(file_name, now));
    std::fs::rename(path, &rotated)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    for old in rotated_to_delete(
        file_name,
        names.iter().map(String::as_str),
        policy.rotated_kept(),
    ) {
        // Gone already is as good as deleted.
        let _ = std::fs::remove_file(dir.join(old));
    }
    Ok(rotated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_names_sort_by_age_and_the_oldest_go() {
        let t: Timestamp = "2026-11-24T10:00:00.5Z".parse().unwrap();
        let a = rotated_name("0.log", t);
        assert_eq!(a, "0.log.20261124-100000.500000000");
        let b = rotated_name("0.log", t + jiff::SignedDuration::from_nanos(1));
        let c = rotated_name("0.log", t + jiff::SignedDuration::from_secs(3600));
        assert!(a < b && b < c);
        let names = [
            "0.log",
            &c,
            &a,
            "1.log",
            "1.log.20261124-090000.000000000",
            &b,
            "0.log.tmp",
            "0.logx.20261124-090000",
        ];
        assert!(!is_rotated("0.log", "0.log.tmp"));
        assert!(!is_rotated("0.log", "0.log"));
        // Keep 4 (max files 5): nothing to delete; keep 1: the two oldest.
        let policy = RotationPolicy::default();
        assert!(rotated_to_delete("0.log", names, policy.rotated_kept()).is_empty());
        assert_eq!(
            rotated_to_delete("0.log", names, RotationPolicy::new(0, 2).rotated_kept()),
            [a.as_str(), b.as_str()]
        );
    }

    #[test]
    fn policy_bounds() {
        let p = RotationPolicy::new(10, 0);
        assert_eq!(p, RotationPolicy::new(RotationPolicy::MIN_BYTES, 2));
        assert!(!p.must_rotate(0, 5000), "an empty file takes a long record");
        assert!(!p.must_rotate(1000, 24));
        assert!(p.must_rotate(1000, 25));
    }

    #[test]
    fn rotate_renames_and_prunes() {
        // No tempfile here (a dev-dependency for one test): a directory
        // of this process' own.
        let dir = std::env::temp_dir().join(format!("skiff-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("0.log");
        let policy = RotationPolicy::new(1024, 3);
        let t: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        for i in 0..5 {
            std::fs::write(&path, format!("file {i}\n")).unwrap();
            rotate(&path, &policy, t + jiff::SignedDuration::from_secs(i)).unwrap();
        }
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "0.log.20261124-100003.000000000",
                "0.log.20261124-100004.000000000"
            ]
        );
        let last = std::fs::read_to_string(dir.join(&left[1])).unwrap();
        assert_eq!(last, "file 4\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

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
