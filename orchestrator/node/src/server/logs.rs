//! `GET /containerLogs/{ns}/{pod}/{container}`: a container's CRI log file
//! rendered as `kubectl logs` expects (the kubelet's `ReadLogs`), with
//! `tailLines`, `sinceSeconds`/`sinceTime`, `timestamps`, `limitBytes`,
//! `previous` and `follow`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use skiff_runtime::logs::parse_record;
use skiff_runtime::{ContainerFilter, ContainerState, Runtime};

/// How often a followed log is polled for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Why a log request failed (each maps onto a Status reason).
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A query parameter is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// No such pod, container or attempt on this node.
    #[error("{0}")]
    NotFound(String),
    /// The log file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The options of a log request (`PodLogOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep streaming until the container exits.
    pub follow: bool,
    /// The previous attempt's log.
    pub previous: bool,
    /// Only the last this many lines.
    pub tail_lines: Option<usize>,
    /// Only records at or after this instant.
    pub since: Option<Timestamp>,
    /// Prefix each line with its RFC 3339 timestamp.
    pub timestamps: bool,
    /// Stop after this many bytes.
    pub limit_bytes: Option<usize>,
}

fn flag(q: &HashMap<String, String>, k: &str) -> Result<bool, LogError> {
    match q.get(k).map(String::as_str) {
        None | Some("" | "false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(v) => Err(LogError::BadRequest(format!("{k}: invalid boolean {v:?}"))),
    }
}

fn number(q: &HashMap<String, String>, k: &str) -> Result<Option<i64>, LogError> {
    q.get(k)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| LogError::BadRequest(format!("{k}: invalid integer {v:?}")))
        })
        .transpose()
}

impl LogOptions {
    /// Reads the query of a log request; `now` resolves `sinceSeconds`.
    pub fn from_query(q: &HashMap<String, String>, now: Timestamp) -> Result<Self, LogError> {
        let tail_lines = number(q, "tailLines")?
            .filter(|n| *n >= 0)
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        let limit_bytes = match number(q, "limitBytes")? {
            Some(n) if n < 1 => {
                return Err(LogError::BadRequest(
                    "limitBytes: must be greater than 0".into(),
                ));
            }
            n => n.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        };
        let since_seconds = number(q, "sinceSeconds")?;
        let since_time = q.get("sinceTime").filter(|v| !v.is_empty());
        let since = match (since_seconds, since_time) {
            (Some(_), Some(_)) => {
                return Err(LogError::BadRequest(
                    "at most one of sinceTime or sinceSeconds may be specified".into(),
                ));
            }
            (Some(s), None) if s < 1 => {
                return Err(LogError::BadRequest(
                    "sinceSeconds: must be greater than 0".into(),
                ));
            }
            (Some(s), None) => Some(
                now.checked_sub(jiff::SignedDuration::from_secs(s))
                    .unwrap_or(Timestamp::MIN),
            ),
            (None, Some(t)) => Some(
                t.parse::<Timestamp>()
                    .map_err(|e| LogError::BadRequest(format!("sinceTime {t:?}: {e}")))?,
            ),
            (None, None) => None,
        };
        Ok(LogOptions {
            follow: flag(q, "follow")?,
            previous: flag(q, "previous")?,
            tail_lines,
            since,
            timestamps: flag(q, "timestamps")?,
            limit_bytes,
        })
    }
}

/// Turns CRI log records into `kubectl logs` output, keeping the
/// byte budget of `limitBytes` across calls (a followed log is rendered
/// in pieces).
#[derive(Debug)]
pub struct Renderer {
    since: Option<Timestamp>,
    timestamps: bool,
    left: Option<usize>,
}

impl Renderer {
    /// A renderer for `opts`.
    pub fn new(opts: &LogOptions) -> Self {
        Renderer {
            since: opts.since,
            timestamps: opts.timestamps,
            left: opts.limit_bytes,
        }
    }

    /// Whether the byte limit is used up.
    pub fn exhausted(&self) -> bool {
        self.left == Some(0)
    }

    /// Renders complete lines of a log file; unparsable lines are skipped,
    /// as the kubelet does.
    pub fn render<'a>(&mut self, lines: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
        let mut out = Vec::new();
        for line in lines {
            if self.exhausted() {
                break;
            }
            let Some(rec) = parse_record(line) else {
                continue;
            };
            if self.since.is_some_and(|s| rec.time < s) {
                continue;
            }
            let mut piece = Vec::with_capacity(rec.content.len() + 40);
            if self.timestamps {
                piece.extend_from_slice(rfc3339_nano(rec.time).as_bytes());
                piece.push(b' ');
            }
            piece.extend_from_slice(rec.content.as_bytes());
            if rec.full {
                piece.push(b'\n');
            }
            if let Some(left) = &mut self.left {
                piece.truncate(*left);
                *left -= piece.len();
            }
            out.extend_from_slice(&piece);
        }
        out
    }
}

/// Go's RFC3339Nano (trailing zeros of the fraction trimmed), as jiff
/// displays a UTC timestamp.
fn rfc3339_nano(t: Timestamp) -> String {
    t.to_string()
}

/// The last `n` lines of `lines` (all with `None`).
pub fn tail<'a>(lines: &[&'a str], n: Option<usize>) -> Vec<&'a str> {
    match n {
        Some(n) if n < lines.len() => lines[lines.len() - n..].to_vec(),
        _ => lines.to_vec(),
    }
}

/// The log file of a container's current (or previous) attempt under the
/// agent's pod log directory `<data>/pods/<ns>_<pod>_<uid>/<container>/<n>.log`.
///
/// Without a pod uid the newest directory of that pod name is taken: a
/// recreated pod of the same name has a new uid. Attempt `n` is the run
/// after `n` restarts; with `restarts` (the pod status' `restartCount`)
/// the previous attempt is `restarts - 1` even before the next run has
/// written its first line, else it is the second newest file.
pub fn find_log(
    data_dir: &Path,
    ns: &str,
    pod: &str,
    uid: Option<&str>,
    container: &str,
    previous: bool,
    restarts: Option<u64>,
) -> Result<PathBuf, LogError> {
    let pods = data_dir.join("pods");
    let prefix = format!("{ns}_{pod}_");
    let dir = match uid.filter(|u| !u.is_empty()) {
        Some(uid) => pods.join(format!("{prefix}{uid}")),
        None => std::fs::read_dir(&pods)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_prefix(&prefix))
                    .is_some_and(|uid| !uid.contains('_'))
            })
            .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
            .map(|e| e.path())
            .ok_or_else(|| {
                LogError::NotFound(format!("pod {ns}/{pod} has no logs on this node"))
            })?,
    };
    let cdir = dir.join(container);
    let mut attempts: Vec<u64> = std::fs::read_dir(&cdir)
        .map_err(|_| {
            LogError::BadRequest(format!(
                "container \"{container}\" in pod \"{pod}\" is waiting to start: no logs yet"
            ))
        })?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|n| n.parse().ok())
        })
        .collect();
    attempts.sort_unstable();
    let pick = if previous {
        match restarts {
            Some(r) => r
                .checked_sub(1)
                .and_then(|p| attempts.iter().find(|a| **a == p)),
            None => attempts.iter().rev().nth(1),
        }
    } else {
        attempts.last()
    };
    match pick {
        Some(n) => Ok(cdir.join(format!("{n}.log"))),
        None if previous => Err(LogError::BadRequest(format!(
            "previous terminated container \"{container}\" in pod \"{pod}\" not found"
        ))),
        None => Err(LogError::BadRequest(format!(
            "container \"{container}\" in pod \"{pod}\" is waiting to start: no logs yet"
        ))),
    }
}

/// Whether some runtime still runs the container writing `path`.
pub async fn writer_running(runtimes: &[Arc<dyn Runtime>], path: &Path) -> bool {
    let filter = ContainerFilter {
        sandbox_id: None,
        state: Some(ContainerState::Running),
    };
    for rt in runtimes {
        if let Ok(list) = rt.list_containers(&filter).await
            && list
                .iter()
                .any(|c| c.log_path == path && c.state == ContainerState::Running)
        {
            return true;
        }
    }
    false
}

/// A log file read through an open handle, so it can be followed across
/// rotations: the lines written before a rotation are read from the
/// renamed file, then the new file at the path is opened (as the kubelet's
/// follow does).
struct Follower {
    path: PathBuf,
    file: tokio::fs::File,
    /// An incomplete last line, kept until its newline arrives.
    pending: Vec<u8>,
}

impl Follower {
    async fn open(path: &Path) -> Result<Follower, LogError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|source| LogError::Read {
                path: path.to_owned(),
                source,
            })?;
        Ok(Follower {
            path: path.to_owned(),
            file,
            pending: Vec::new(),
        })
    }

    /// The complete lines written since the last call, the rest of a
    /// rotated file first.
    async fn read_lines(&mut self) -> Result<Vec<String>, LogError> {
        use tokio::io::AsyncReadExt;
        let mut out = Vec::new();
        loop {
            // Checked before reading: whatever reached the old file before
            // it was renamed is then read below.
            let rotated = self.rotated().await;
            self.file
                .read_to_end(&mut self.pending)
                .await
                .map_err(|source| LogError::Read {
                    path: self.path.clone(),
                    source,
                })?;
            let (lines, end) = complete_lines(&self.pending);
            out.extend(lines.into_iter().map(str::to_owned));
            self.pending.drain(..end);
            if !rotated {
                return Ok(out);
            }
            match tokio::fs::File::open(self.next_file().await).await {
                Ok(file) => {
                    // Writers end every record with a newline: a rotated
                    // file has no half line to carry over.
                    self.file = file;
                    self.pending.clear();
                }
                Err(_) => return Ok(out),
            }
        }
    }

    /// The file written after the one open: the next rotated file when
    /// the log rotated more than once since the last read, else the
    /// current one. Once the open file's rotated name is deleted, every
    /// rotated file left is newer (the oldest go first).
    async fn next_file(&self) -> PathBuf {
        use std::os::unix::fs::MetadataExt;
        let (Some(dir), Some(name)) = (
            self.path.parent(),
            self.path.file_name().and_then(|n| n.to_str()),
        ) else {
            return self.path.clone();
        };
        let Ok(open) = self.file.metadata().await else {
            return self.path.clone();
        };
        let mut rotated = Vec::new();
        if let Ok(mut entries) = tokio::fs::read_dir(dir).await {
            while let Ok(Some(e)) = entries.next_entry().await {
                let Ok(n) = e.file_name().into_string() else {
                    continue;
                };
                if skiff_runtime::logs::is_rotated(name, &n)
                    && let Ok(m) = e.metadata().await
                {
                    rotated.push((n, (m.dev(), m.ino())));
                }
            }
        }
        rotated.sort_unstable();
        let after = rotated
            .iter()
            .position(|(_, id)| *id == (open.dev(), open.ino()))
            .map_or(0, |i| i + 1);
        rotated
            .get(after)
            .map_or_else(|| self.path.clone(), |(n, _)| dir.join(n))
    }

    /// Whether the path now names another file than the one open.
    async fn rotated(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (
            self.file.metadata().await,
            tokio::fs::metadata(&self.path).await,
        ) {
            (Ok(open), Ok(now)) => (open.dev(), open.ino()) != (now.dev(), now.ino()),
            // Between the rename and the new file: not yet.
            _ => false,
        }
    }
}

/// Splits `buf` into its complete lines and the length they cover.
fn complete_lines(buf: &[u8]) -> (Vec<&str>, usize) {
    let end = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let text = std::str::from_utf8(&buf[..end]).unwrap_or_default();
    (text.lines().collect(), end)
}

/// The whole answer to a log request: the first chunk, and for `follow`
/// the stream of what the container writes after it until it exits, the
/// byte limit is reached or the receiver is dropped (the client left).
pub async fn serve(
    runtimes: Vec<Arc<dyn Runtime>>,
    path: PathBuf,
    opts: LogOptions,
    tx: tokio::sync::mpsc::Sender<Bytes>,
) -> Result<(), LogError> {
    let mut log = Follower::open(&path).await?;
    let lines = log.read_lines().await?;
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mut r = Renderer::new(&opts);
    let first = r.render(tail(&lines, opts.tail_lines));
    if !first.is_empty() && tx.send(Bytes::from(first)).await.is_err() {
        return Ok(());
    }
    if !opts.follow {
        return Ok(());
    }
    // Bounded by the writer: the loop ends once the container has exited
    // and its last lines are sent, or when the client goes away.
    loop {
        if r.exhausted() {
            return Ok(());
        }
        let running = writer_running(&runtimes, &path).await;
        let lines = log.read_lines().await?;
        let chunk = r.render(lines.iter().map(String::as_str));
        if !chunk.is_empty() && tx.send(Bytes::from(chunk)).await.is_err() {
            return Ok(());
        }
        if !running {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_POLL) => {}
            _ = tx.closed() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "2026-11-24T10:00:00Z stdout F one\n\
                       2026-11-24T10:00:01.5Z stderr F two\n\
                       2026-11-24T10:00:02Z stdout P thr\n\
                       2026-11-24T10:00:02Z stdout F ee\n\
                       not a record\n\
                       2026-11-24T10:00:03Z stdout F four\n";

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn render(opts: &LogOptions) -> String {
        let lines: Vec<&str> = LOG.lines().collect();
        let out = Renderer::new(opts).render(tail(&lines, opts.tail_lines));
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn plain_joins_partials_and_skips_garbage() {
        assert_eq!(render(&LogOptions::default()), "one\ntwo\nthree\nfour\n");
    }

    #[test]
    fn tail_counts_file_lines() {
        let o = LogOptions {
            tail_lines: Some(2),
            ..Default::default()
        };
        assert_eq!(render(&o), "four\n");
        let o = LogOptions {
            tail_lines: Some(0),
            ..Default::default()
        };
        assert_eq!(render(&o), "");
        let o = LogOptions {
            tail_lines: Some(100),
            ..Default::default()
        };
        assert_eq!(render(&o), "one\ntwo\nthree\nfour\n");
    }

    #[test]
    fn since_and_timestamps() {
        let o = LogOptions {
            since: Some("2026-11-24T10:00:01Z".parse().unwrap_or(Timestamp::MIN)),
            timestamps: true,
            ..Default::default()
        };
        assert_eq!(
            render(&o),
            "2026-11-24T10:00:01.5Z two\n2026-11-24T10:00:02Z thr2026-11-24T10:00:02Z ee\n2026-11-24T10:00:03Z four\n"
        );
    }

    #[test]
    fn limit_bytes_spans_calls() {
        let o = LogOptions {
            limit_bytes: Some(6),
            ..Default::default()
        };
        let mut r = Renderer::new(&o);
        assert_eq!(r.render(["2026-11-24T10:00:00Z stdout F one"]), b"one\n");
        assert_eq!(r.render(["2026-11-24T10:00:00Z stdout F two"]), b"tw");
        assert!(r.exhausted());
        assert_eq!(r.render(["2026-11-24T10:00:00Z stdout F x"]), b"");
    }

    #[test]
    fn query_parses_and_refuses_nonsense() {
        let now: Timestamp = "2026-11-24T10:00:10Z".parse().unwrap_or(Timestamp::MIN);
        let o = LogOptions::from_query(
            &q(&[
                ("follow", "true"),
                ("tailLines", "3"),
                ("sinceSeconds", "5"),
                ("limitBytes", "9"),
            ]),
            now,
        )
        .unwrap_or_default();
        assert!(o.follow && !o.previous);
        assert_eq!(o.tail_lines, Some(3));
        assert_eq!(o.limit_bytes, Some(9));
        assert_eq!(
            o.since.map(|t| t.to_string()).as_deref(),
            Some("2026-11-24T10:00:05Z")
        );
        for bad in [
            q(&[("tailLines", "x")]),
            q(&[("limitBytes", "0")]),
            q(&[("sinceSeconds", "1"), ("sinceTime", "2026-11-24T10:00:00Z")]),
            q(&[("sinceTime", "yesterday")]),
            q(&[("follow", "maybe")]),
        ] {
            assert!(LogOptions::from_query(&bad, now).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn follows_a_log_across_rotations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let policy = skiff_runtime::logs::RotationPolicy::new(1024, 2);
        std::fs::write(&path, "2026-11-24T10:00:00Z stdout F one\n").unwrap();
        let mut log = Follower::open(&path).await.unwrap();
        assert_eq!(log.read_lines().await.unwrap().len(), 1);
        let append = |text: &str| {
            use std::io::Write;
            let mut f = std::fs::File::options().append(true).open(&path).unwrap();
            f.write_all(text.as_bytes()).unwrap();
        };
        append("2026-11-24T10:00:01Z stdout F two\n2026-11-24T10:00:01Z stdout F thr");
        // Rotated before the next read: the renamed file is read to its
        // end (the half line completed), then the new one.
        append("ee\n");
        skiff_runtime::logs::rotate(&path, &policy, Timestamp::now()).unwrap();
        std::fs::write(&path, "2026-11-24T10:00:02Z stdout F four\n").unwrap();
        let got: Vec<String> = log
            .read_lines()
            .await
            .unwrap()
            .iter()
            .filter_map(|l| parse_record(l).map(|r| r.content))
            .collect();
        assert_eq!(got, ["two", "three", "four"]);
        append("2026-11-24T10:00:03Z stdout F five\n");
        assert_eq!(log.read_lines().await.unwrap().len(), 1);
        assert!(log.read_lines().await.unwrap().is_empty());

        // Three rotations between reads: the files between the open one
        // and the current one are read in order (max files 5 keeps them).
        let policy = skiff_runtime::logs::RotationPolicy::new(1024, 5);
        for word in ["six", "seven", "eight"] {
            append(&format!("2026-11-24T10:00:04Z stdout F {word}\n"));
            skiff_runtime::logs::rotate(&path, &policy, Timestamp::now()).unwrap();
            std::fs::write(&path, "").unwrap();
        }
        append("2026-11-24T10:00:05Z stdout F nine\n");
        let got: Vec<String> = log
            .read_lines()
            .await
            .unwrap()
            .iter()
            .filter_map(|l| parse_record(l).map(|r| r.content))
            .collect();
        assert_eq!(got, ["six", "seven", "eight", "nine"]);
    }

    #[test]
    fn finds_current_and_previous_attempts() {
        let Ok(dir) = tempfile::tempdir() else {
            return;
        };
        let c = dir.path().join("pods/default_p_u1/main");
        std::fs::create_dir_all(&c).ok();
        for n in [0, 1, 10] {
            std::fs::write(c.join(format!("{n}.log")), "").ok();
        }
        let f = |uid, prev| find_log(dir.path(), "default", "p", uid, "main", prev, None);
        assert_eq!(f(Some("u1"), false).ok(), Some(c.join("10.log")));
        assert_eq!(f(None, true).ok(), Some(c.join("1.log")));
        assert!(matches!(f(Some("u2"), false), Err(LogError::BadRequest(_))));
        assert!(find_log(dir.path(), "default", "q", None, "main", false, None).is_err());
        // Restarted 11 times, the 11th run not yet started: 10 is previous.
        let r = |n| find_log(dir.path(), "default", "p", None, "main", true, Some(n));
        assert_eq!(r(11).ok(), Some(c.join("10.log")));
        assert!(r(0).is_err());
        std::fs::remove_file(c.join("0.log")).ok();
        std::fs::remove_file(c.join("1.log")).ok();
        assert!(f(None, true).is_err());
    }
}
