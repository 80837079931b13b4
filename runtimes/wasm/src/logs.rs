//! A container's log file in the CRI format, fed by the guest's stdout and
//! stderr, bounded in size by rotation as the kubelet's containerLogMaxSize
//! and containerLogMaxFiles ([`skiff_runtime::logs::rotate`], the policy the
//! native runtime's shim follows too).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use jiff::Timestamp;
use skiff_runtime::logs::{RotationPolicy, Stream, format_record, rotate};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// Longest record written before a line is split into partial (`P`) records
/// (containerd uses 16 KiB too).
const MAX_RECORD: usize = 16 * 1024;

/// One container's log file; cheap to clone, shared by both streams and by
/// every request instance of a service.
#[derive(Clone)]
pub struct LogFile {
    inner: Arc<Mutex<LogInner>>,
}

struct LogInner {
    path: PathBuf,
    file: File,
    written: u64,
    policy: RotationPolicy,
    pending_out: Vec<u8>,
    pending_err: Vec<u8>,
}

impl LogFile {
    /// Opens (appending) the log at `path`, creating parent directories.
    /// When the file would pass the policy's size it is renamed to
    /// `<path>.<timestamp>` and a new one is started; at most the policy's
    /// file count is kept, so the total stays under size × count.
    pub fn open(path: &Path, policy: RotationPolicy) -> io::Result<LogFile> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(LogFile {
            inner: Arc::new(Mutex::new(LogInner {
                path: path.to_owned(),
                file,
                written,
                policy: RotationPolicy::new(policy.max_bytes, policy.max_files),
                pending_out: Vec::new(),
                pending_err: Vec::new(),
            })),
        })
    }

    /// A WASI output stream writing to `stream` of this log.
    pub fn stream(&self, stream: Stream) -> LogStream {
        LogStream {
            log: self.clone(),
            stream,
        }
    }

    /// Writes guest output; complete lines become `F` records, long ones `P`.
    pub fn write(&self, stream: Stream, bytes: &[u8]) -> io::Result<()> {
        // A poisoned lock only means another writer panicked mid-line; the
        // file itself is still usable.
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.write(stream, bytes)
    }

    /// Writes out any partial lines (at exit, so nothing is lost).
    pub fn flush_partial(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for stream in [Stream::Stdout, Stream::Stderr] {
            let pending = std::mem::take(inner.pending(stream));
            if !pending.is_empty() {
                let _ = inner.record(stream, true, &pending);
            }
        }
    }

    /// Where the log is.
    pub fn path(&self) -> PathBuf {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .path
            .clone()
    }
}

impl LogInner {
    fn pending(&mut self, stream: Stream) -> &mut Vec<u8> {
        match stream {
            Stream::Stdout => &mut self.pending_out,
            Stream::Stderr => &mut self.pending_err,
        }
    }

    fn write(&mut self, stream: Stream, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let mut line = std::mem::take(self.pending(stream));
                    line.extend_from_slice(&bytes[..i]);
                    self.record_line(stream, &line)?;
                    bytes = &bytes[i + 1..];
                }
                None => {
                    self.pending(stream).extend_from_slice(bytes);
                    bytes = &[];
                }
            }
        }
        while self.pending(stream).len() >= MAX_RECORD {
            let rest = self.pending(stream).split_off(MAX_RECORD);
            let chunk = std::mem::replace(self.pending(stream), rest);
            self.record(stream, false, &chunk)?;
        }
        Ok(())
    }

    fn record_line(&mut self, stream: Stream, line: &[u8]) -> io::Result<()> {
        let mut chunks = line.chunks(MAX_RECORD).peekable();
        if chunks.peek().is_none() {
            return self.record(stream, true, b"");
        }
        while let Some(chunk) = chunks.next() {
            self.record(stream, chunks.peek().is_none(), chunk)?;
        }
        Ok(())
    }

    fn record(&mut self, stream: Stream, full: bool, content: &[u8]) -> io::Result<()> {
        let rec = format_record(Timestamp::now(), stream, full, content);
        if self.policy.must_rotate(self.written, rec.len() as u64) {
            self.rotate()?;
        }
        // Appends land in the page cache; a hop to a writer thread per write
        // would cost more than the write itself.
        self.file.write_all(&rec)?;
        self.written += rec.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        rotate(&self.path, &self.policy, Timestamp::now())?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

/// The guest's view of one stream of a [`LogFile`].
#[derive(Clone)]
pub struct LogStream {
    log: LogFile,
    stream: Stream,
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for LogStream {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.log
            .write(self.stream, &bytes)
            .map_err(|e| StreamError::LastOperationFailed(e.into()))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[async_trait::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl AsyncWrite for LogStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(self.log.write(self.stream, buf).map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_runtime::logs::lines;

    #[test]
    fn lines_partials_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c/0.log");
        let log = LogFile::open(&path, RotationPolicy::new(4096, 3)).unwrap();
        log.write(Stream::Stdout, b"hel").unwrap();
        log.write(Stream::Stderr, b"oops\n").unwrap();
        log.write(Stream::Stdout, b"lo\nworld").unwrap();
        log.flush_partial();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(lines(&text, Some(Stream::Stdout)), ["hello", "world"]);
        assert_eq!(lines(&text, Some(Stream::Stderr)), ["oops"]);

        let long = vec![b'x'; MAX_RECORD + 10];
        log.write(Stream::Stdout, &long).unwrap();
        log.write(Stream::Stdout, b"\n").unwrap();
        for i in 0..200 {
            log.write(Stream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
        }
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size <= 4096, "log grew to {size} bytes past its bound");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            lines(&text, None).last().map(String::as_str),
            Some("line 199")
        );
        // The current file and two rotated ones, the oldest deleted.
        let rotated: Vec<_> = std::fs::read_dir(dir.path().join("c"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "0.log")
            .collect();
        assert_eq!(rotated.len(), 2, "{rotated:?}");
        assert!(
            rotated.iter().all(|n| n.starts_with("0.log.20")),
            "{rotated:?}"
        );
    }
}
