//! The client side of an exec or attach session, whichever way kubectl
//! connected: a WebSocket speaking the channel protocol
//! (`v5.channel.k8s.io`/`v4.channel.k8s.io`, [`super::channel`]) or plain
//! SPDY/3.1 with one stream per purpose (`v4.channel.k8s.io` … the
//! original `channel.k8s.io`, negotiated through
//! `X-Stream-Protocol-Version`). [`accept`] answers either upgrade and
//! hands the session a [`Channels`], so exec and attach are written once.
//!
//! Over SPDY, kubectl opens its streams first (each SYN_STREAM names its
//! `streamtype`: `error`, `stdin`, `stdout`, `stderr`, `resize`) and the
//! session starts once all the ones the query implies are there, as in
//! the kubelet. The final status goes on the error stream: a JSON
//! `metav1.Status` from v4 on, the bare failure message before (v1–v3
//! clients print it and exit 1). A resize stream carries concatenated
//! JSON `{"Width","Height"}` objects.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::channel::{self, Frame, TermSize};
use super::spdy::{self, FLAG_FIN};
use super::spdy_conn::{self, Conn, Event, Transport};
use super::websocket::{self, Socket};
use super::{Body, query_flag, query_pairs, status, to_bytes};

/// The SPDY stream protocols served, best first (the kubelet's list).
pub const SPDY_PROTOCOLS: [&str; 4] = [
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];

/// How long a SPDY client may take to open its streams (the kubelet's
/// stream creation timeout).
const STREAM_CREATION: Duration = Duration::from_secs(30);

/// How long a finished SPDY session waits for the client to close the
/// connection before closing it itself.
const LINGER: Duration = Duration::from_secs(5);

/// A negotiated SPDY remotecommand version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// `channel.k8s.io`.
    V1,
    /// `v2.channel.k8s.io`.
    V2,
    /// `v3.channel.k8s.io`: adds the resize stream.
    V3,
    /// `v4.channel.k8s.io`: the status is JSON, with the exit code.
    V4,
}

impl Version {
    /// The version a served protocol name stands for.
    pub fn of(protocol: &str) -> Option<Version> {
        match protocol {
            "v4.channel.k8s.io" => Some(Version::V4),
            "v3.channel.k8s.io" => Some(Version::V3),
            "v2.channel.k8s.io" => Some(Version::V2),
            "channel.k8s.io" => Some(Version::V1),
            _ => None,
        }
    }
}

/// What a SPDY stream is for, from its `streamtype` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamType {
    /// The final status (server → client).
    Error,
    /// Standard input.
    Stdin,
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// Terminal sizes.
    Resize,
}

impl StreamType {
    /// Reads the `streamtype` header; `None` for anything else.
    pub fn of(headers: &[(String, String)]) -> Option<StreamType> {
        let t = headers.iter().find(|(k, _)| k == "streamtype")?;
        match t.1.as_str() {
            "error" => Some(StreamType::Error),
            "stdin" => Some(StreamType::Stdin),
            "stdout" => Some(StreamType::Stdout),
            "stderr" => Some(StreamType::Stderr),
            "resize" => Some(StreamType::Resize),
            _ => None,
        }
    }
}

/// How many streams a SPDY client opens for a request, as the kubelet
/// counts them: the error stream, one per requested stdio stream (no
/// stderr with a terminal) and, from v3, resize with a terminal.
pub fn expected_streams(q: &[(String, String)], version: Version) -> usize {
    let tty = query_flag(q, "tty");
    [
        true,
        query_flag(q, "stdin"),
        query_flag(q, "stdout"),
        query_flag(q, "stderr") && !tty,
        tty && version >= Version::V3,
    ]
    .into_iter()
    .filter(|x| *x)
    .count()
}

/// What the client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Bytes for standard input.
    Stdin(Vec<u8>),
    /// The client closed standard input (v5 WebSocket, or SPDY FIN).
    StdinClosed,
    /// The client's terminal has a new size.
    Resize(TermSize),
    /// The client left.
    Gone,
}

/// The client of a session, over WebSocket or SPDY.
pub enum Channels {
    /// The channel protocol over WebSocket.
    WebSocket(WebSocketChannels),
    /// One SPDY stream per purpose.
    Spdy(SpdyChannels),
}

impl Channels {
    /// The next thing the client sent. Cancel-safe.
    pub async fn recv(&mut self) -> Input {
        match self {
            Channels::WebSocket(w) => w.recv().await,
            Channels::Spdy(s) => s.recv().await,
        }
    }

    /// Sends output on [`channel::STDOUT`] or [`channel::STDERR`]; false
    /// once the client is gone.
    pub async fn send(&mut self, ch: u8, data: &[u8]) -> bool {
        match self {
            Channels::WebSocket(w) => w
                .sink
                .send(Message::binary(channel::encode(ch, data)))
                .await
                .is_ok(),
            Channels::Spdy(s) => s.send(ch, data).await,
        }
    }

    /// Sends the final status and ends the session.
    pub async fn finish(self, st: &Value) {
        match self {
            Channels::WebSocket(mut w) => {
                let msg = channel::encode(channel::ERROR, &to_bytes(st));
                let _ = w.sink.send(Message::binary(msg)).await;
                websocket::close(&mut w.sink).await;
            }
            Channels::Spdy(s) => s.finish(Some(st)).await,
        }
    }

    /// Ends the session without a status.
    pub async fn close(self) {
        match self {
            Channels::WebSocket(mut w) => websocket::close(&mut w.sink).await,
            Channels::Spdy(s) => s.finish(None).await,
        }
    }
}

/// The WebSocket side: channel-prefixed binary messages.
pub struct WebSocketChannels {
    sink: futures::stream::SplitSink<Socket, Message>,
    incoming: futures::stream::SplitStream<Socket>,
    /// v5: the client can close stdin.
    v5: bool,
}

impl WebSocketChannels {
    async fn recv(&mut self) -> Input {
        loop {
            match self.incoming.next().await {
                Some(Ok(Message::Binary(b))) => match channel::decode(&b) {
                    Some(Frame::Data(channel::STDIN, data)) => return Input::Stdin(data.to_vec()),
                    Some(Frame::Close(channel::STDIN)) if self.v5 => return Input::StdinClosed,
                    Some(Frame::Data(channel::RESIZE, size)) => {
                        // A malformed one is ignored: the old size stays.
                        if let Ok(s) = serde_json::from_slice::<TermSize>(size) {
                            return Input::Resize(s);
                        }
                    }
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Input::Gone,
                Some(Ok(_)) => {}
            }
        }
    }
}

/// The SPDY side: the client's streams by purpose.
pub struct SpdyChannels {
    conn: Conn,
    state: SpdyStreams,
}

/// The stream bookkeeping of a SPDY session, apart from the connection.
#[derive(Debug)]
pub struct SpdyStreams {
    version: Version,
    error: Option<u32>,
    stdin: Option<u32>,
    stdout: Option<u32>,
    stderr: Option<u32>,
    resize: Option<u32>,
    /// Streams the client opened with a known type.
    opened: usize,
    /// The highest stream id seen (for GOAWAY).
    last: u32,
    /// Unparsed resize bytes (JSON objects may span frames).
    sizes: Vec<u8>,
    /// Inputs decoded but not yet taken.
    pending: VecDeque<Input>,
}

impl SpdyStreams {
    /// Nothing opened yet.
    pub fn new(version: Version) -> Self {
        SpdyStreams {
            version,
            error: None,
            stdin: None,
            stdout: None,
            stderr: None,
            resize: None,
            opened: 0,
            last: 0,
            sizes: Vec::new(),
            pending: VecDeque::new(),
        }
    }

    /// Takes in one event of the connection.
    pub fn absorb(&mut self, ev: Event) {
        match ev {
            Event::Stream { id, headers } => {
                self.last = self.last.max(id);
                let slot = match StreamType::of(&headers) {
                    Some(StreamType::Error) => &mut self.error,
                    Some(StreamType::Stdin) => &mut self.stdin,
                    Some(StreamType::Stdout) => &mut self.stdout,
                    Some(StreamType::Stderr) => &mut self.stderr,
                    Some(StreamType::Resize) => &mut self.resize,
                    None => return,
                };
                *slot = Some(id);
                self.opened += 1;
            }
            Event::Data { id, data, fin } if Some(id) == self.stdin => {
                if !data.is_empty() {
                    self.pending.push_back(Input::Stdin(data));
                }
                if fin {
                    self.pending.push_back(Input::StdinClosed);
                    self.stdin = None;
                }
            }
            Event::Data { id, data, .. } if Some(id) == self.resize => {
                self.sizes.extend_from_slice(&data);
                let mut it =
                    serde_json::Deserializer::from_slice(&self.sizes).into_iter::<TermSize>();
                let mut used = 0;
                loop {
                    match it.next() {
                        Some(Ok(s)) => {
                            used = it.byte_offset();
                            self.pending.push_back(Input::Resize(s));
                        }
                        // Wait for the rest of the object.
                        Some(Err(e)) if e.is_eof() => break,
                        // Garbage: drop what is buffered.
                        Some(Err(_)) => {
                            used = self.sizes.len();
                            break;
                        }
                        None => {
                            used = self.sizes.len();
                            break;
                        }
                    }
                }
                self.sizes.drain(..used);
            }
            Event::Reset { id } if Some(id) == self.stdin => {
                self.pending.push_back(Input::StdinClosed);
                self.stdin = None;
            }
            Event::Data { .. } | Event::Reset { .. } => {}
        }
    }

    /// The stream output channel `ch` goes to, if the client opened it.
    pub fn output(&self, ch: u8) -> Option<u32> {
        match ch {
            channel::STDOUT => self.stdout,
            channel::STDERR => self.stderr,
            channel::ERROR => self.error,
            _ => None,
        }
    }

    /// What the error stream carries for a final status: v4 always sends
    /// the JSON status; older versions only a failure's message.
    pub fn status_bytes(&self, st: &Value) -> Vec<u8> {
        if self.version >= Version::V4 {
            return to_bytes(st);
        }
        if st["status"] == "Success" {
            return Vec::new();
        }
        st["message"].as_str().unwrap_or("").as_bytes().to_vec()
    }

    /// Every stream the client opened, to end with FIN.
    fn all(&self) -> impl Iterator<Item = u32> + use<> {
        [
            self.error,
            self.stdout,
            self.stderr,
            self.stdin,
            self.resize,
        ]
        .into_iter()
        .flatten()
    }
}

impl SpdyChannels {
    /// Waits until the client opened `expected` streams.
    async fn open(conn: Conn, version: Version, expected: usize) -> Result<SpdyChannels, String> {
        let mut s = SpdyChannels {
            conn,
            state: SpdyStreams::new(version),
        };
        let wait = async {
            while s.state.opened < expected {
                match s.conn.events.recv().await {
                    Some(ev) => s.state.absorb(ev),
                    None => return Err("the client left before opening its streams".to_owned()),
                }
            }
            Ok(())
        };
        match tokio::time::timeout(STREAM_CREATION, wait).await {
            Ok(r) => r.map(|()| s),
            Err(_) => Err("timed out waiting for the client to create streams".to_owned()),
        }
    }

    async fn recv(&mut self) -> Input {
        loop {
            if let Some(i) = self.state.pending.pop_front() {
                return i;
            }
            match self.conn.events.recv().await {
                Some(ev) => self.state.absorb(ev),
                None => return Input::Gone,
            }
        }
    }

    async fn send(&mut self, ch: u8, data: &[u8]) -> bool {
        match self.state.output(ch) {
            Some(id) => self.conn.send(spdy::data(id, 0, data)).await,
            // The client did not ask for this stream.
            None => true,
        }
    }

    /// Sends the status (if any), ends every stream and the connection.
    async fn finish(self, st: Option<&Value>) {
        let s = &self.state;
        if let (Some(st), Some(id)) = (st, s.error) {
            let b = s.status_bytes(st);
            if !b.is_empty() {
                let _ = self.conn.send(spdy::data(id, 0, &b)).await;
            }
        }
        for id in s.all() {
            let _ = self.conn.send(spdy::data(id, FLAG_FIN, &[])).await;
        }
        let _ = self.conn.send(spdy::go_away(s.last)).await;
        // As the kubelet's spdystream does, the connection is closed once
        // the client closed it (bounded), not before: closing with the
        // client's last frames unread resets the TCP connection, and a
        // proxy in between (the API server's) may then drop output it
        // had not yet passed on. The writer sends what is queued meanwhile
        // and closes once the reader has seen the client go.
        let Conn { mut events, out } = self.conn;
        drop(out);
        let drain = async { while events.recv().await.is_some() {} };
        let _ = tokio::time::timeout(LINGER, drain).await;
    }
}

/// Answers an exec or attach upgrade, WebSocket or SPDY, with 101 and
/// runs `session` on the upgraded connection.
pub fn accept<F, Fut>(req: Request<Incoming>, what: &str, session: F) -> Response<Body>
where
    F: FnOnce(Channels) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let h = req.headers();
    let what = what.to_owned();
    if websocket::is_upgrade(h) {
        let Some((proto, key)) = websocket::offered(h, &channel::PROTOCOLS) else {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!(
                    "{what} over WebSocket needs subprotocol v5.channel.k8s.io or v4.channel.k8s.io"
                ),
            );
        };
        let v5 = proto.starts_with("v5");
        let on_upgrade = hyper::upgrade::on(req);
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(up) => {
                    let (sink, incoming) = websocket::open(up).await.split();
                    let chans = WebSocketChannels { sink, incoming, v5 };
                    session(Channels::WebSocket(chans)).await;
                }
                Err(e) => tracing::debug!(error = %e, "{what} upgrade failed"),
            }
        });
        return websocket::switching(&key, proto);
    }
    if spdy_conn::is_upgrade(h) {
        let proto = match spdy_conn::handshake(h, &SPDY_PROTOCOLS) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let Some(version) = Version::of(proto) else {
            return status(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", proto);
        };
        let expected = expected_streams(&query_pairs(req.uri().query()), version);
        let on_upgrade = hyper::upgrade::on(req);
        tokio::spawn(async move {
            let up = match on_upgrade.await {
                Ok(up) => up,
                Err(e) => {
                    tracing::debug!(error = %e, "{what} upgrade failed");
                    return;
                }
            };
            let conn = Conn::start(Transport::Raw(hyper_util::rt::TokioIo::new(up)));
            match SpdyChannels::open(conn, version, expected).await {
                Ok(c) => session(Channels::Spdy(c)).await,
                Err(m) => tracing::debug!("{what} over SPDY: {m}"),
            }
        });
        return spdy_conn::switching(proto);
    }
    status(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!(
            "{what} needs a connection upgrade: WebSocket (v5.channel.k8s.io, v4.channel.k8s.io) or SPDY/3.1"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(id: u32, kind: &str) -> Event {
        Event::Stream {
            id,
            headers: vec![("streamtype".into(), kind.into())],
        }
    }

    #[test]
    fn streams_the_kubelet_waits_for() {
        let q = query_pairs(Some("command=sh&stdin=true&stdout=true&stderr=true"));
        assert_eq!(expected_streams(&q, Version::V4), 4);
        let tty = query_pairs(Some(
            "command=sh&stdin=true&stdout=true&stderr=true&tty=true",
        ));
        assert_eq!(expected_streams(&tty, Version::V4), 4);
        assert_eq!(expected_streams(&tty, Version::V2), 3);
        assert_eq!(SPDY_PROTOCOLS.map(Version::of).len(), 4);
        assert!(SPDY_PROTOCOLS.iter().all(|p| Version::of(p).is_some()));
        assert_eq!(Version::of("v5.channel.k8s.io"), None);
    }

    #[test]
    fn spdy_streams_map_to_channels() {
        let mut s = SpdyStreams::new(Version::V4);
        for (id, kind) in [
            (1, "error"),
            (3, "stdin"),
            (5, "stdout"),
            (7, "stderr"),
            (9, "resize"),
            (11, "bogus"),
        ] {
            s.absorb(opened(id, kind));
        }
        assert_eq!(s.opened, 5);
        assert_eq!(s.output(channel::STDOUT), Some(5));
        assert_eq!(s.output(channel::STDERR), Some(7));
        assert_eq!(s.output(channel::ERROR), Some(1));
        s.absorb(Event::Data {
            id: 3,
            data: b"in".to_vec(),
            fin: false,
        });
        // A size split across frames, then two at once.
        for part in [
            &br#"{"Width":80,"#[..],
            br#""Height":24}{"Width":1"#,
            br#"00,"Height":40}"#,
        ] {
            s.absorb(Event::Data {
                id: 9,
                data: part.to_vec(),
                fin: false,
            });
        }
        s.absorb(Event::Data {
            id: 5,
            data: b"ignored".to_vec(),
            fin: false,
        });
        s.absorb(Event::Data {
            id: 3,
            data: Vec::new(),
            fin: true,
        });
        let got: Vec<Input> = s.pending.drain(..).collect();
        assert_eq!(
            got,
            [
                Input::Stdin(b"in".to_vec()),
                Input::Resize(TermSize {
                    width: 80,
                    height: 24
                }),
                Input::Resize(TermSize {
                    width: 100,
                    height: 40
                }),
                Input::StdinClosed,
            ]
        );
        assert!(s.sizes.is_empty());
        assert_eq!(s.all().count(), 4);
    }

    #[test]
    fn status_by_version() {
        let fail = channel::exit_status(&["sh".to_owned()], 3);
        let ok = channel::exit_status(&[], 0);
        let v4 = SpdyStreams::new(Version::V4);
        let v: Value = serde_json::from_slice(&v4.status_bytes(&fail)).unwrap_or_default();
        assert_eq!(v["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(v["details"]["causes"][0]["message"], "3");
        assert!(!v4.status_bytes(&ok).is_empty());
        let v2 = SpdyStreams::new(Version::V2);
        assert!(v2.status_bytes(&ok).is_empty());
        assert!(String::from_utf8_lossy(&v2.status_bytes(&fail)).contains("non-zero exit code"));
    }
}
