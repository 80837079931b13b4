//! A SPDY/3.1 connection over either transport kubectl uses: directly on
//! the upgraded HTTP connection (`Upgrade: SPDY/3.1`, every kubectl before
//! 1.30/1.31 and any with `KUBECTL_*_WEBSOCKETS=false`), or tunnelled in a
//! WebSocket's binary messages (port-forward from kubectl 1.31 on). The
//! framing is [`super::spdy`]'s either way.
//!
//! [`Conn::start`] runs a reader task, which decodes frames, answers every
//! SYN_STREAM with a SYN_REPLY and every PING with its echo (as the
//! kubelet's spdystream does) and hands the rest over as [`Event`]s, and a
//! writer task, which owns the sending side. The session only reads
//! events and queues frames, so the frames of its streams never interleave
//! and a session waiting in `select!` never loses half a frame.
//!
//! The upgrade itself negotiates `X-Stream-Protocol-Version` as the
//! kubelet's `httpstream.Handshake` does: the client's first offer the
//! server also serves wins.

use http::{HeaderMap, HeaderValue, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::spdy::{self, Codec, FLAG_FIN, Frame};
use super::{Body, full, status};

/// The header naming the offered (request) and chosen (101) protocols.
pub const PROTOCOL_HEADER: &str = "x-stream-protocol-version";
/// The header listing what the server serves when nothing matched.
pub const ACCEPTED_HEADER: &str = "x-accepted-stream-protocol-versions";
/// The `Upgrade` token of plain SPDY.
pub const UPGRADE: &str = "SPDY/3.1";

/// Whether the request asks for a plain SPDY/3.1 upgrade.
pub fn is_upgrade(h: &HeaderMap) -> bool {
    h.get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(UPGRADE))
}

/// The client's first offer that the server serves (client order wins,
/// as in the kubelet).
pub fn pick<'a>(
    offered: impl IntoIterator<Item = &'a str>,
    served: &[&'static str],
) -> Option<&'static str> {
    offered
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(|o| served.iter().copied().find(|s| *s == o))
}

/// Negotiates the stream protocol of a SPDY upgrade: the chosen one, or
/// the answer refusing the request (400 without an offer, 403 listing what
/// is served when nothing matched, as the kubelet answers).
#[allow(
    clippy::result_large_err,
    reason = "the error is the HTTP answer, built once per refused request"
)]
pub fn handshake(h: &HeaderMap, served: &[&'static str]) -> Result<&'static str, Response<Body>> {
    let offered: Vec<&str> = h
        .get_all(PROTOCOL_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if offered.is_empty() {
        return Err(status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "unable to upgrade: X-Stream-Protocol-Version is required",
        ));
    }
    if let Some(p) = pick(offered.iter().copied(), served) {
        return Ok(p);
    }
    let mut r = status(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &format!(
            "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts {served:?}"
        ),
    );
    for s in served {
        r.headers_mut()
            .append(ACCEPTED_HEADER, HeaderValue::from_static(s));
    }
    Err(r)
}

/// The 101 answer of a SPDY upgrade that chose `protocol`.
pub fn switching(protocol: &'static str) -> Response<Body> {
    let mut r = Response::new(full(""));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let hs = r.headers_mut();
    hs.insert(
        http::header::CONNECTION,
        HeaderValue::from_static("Upgrade"),
    );
    hs.insert(http::header::UPGRADE, HeaderValue::from_static(UPGRADE));
    hs.insert(PROTOCOL_HEADER, HeaderValue::from_static(protocol));
    r
}

/// What carries the SPDY frames.
pub enum Transport<S> {
    /// The upgraded connection itself.
    Raw(S),
    /// Binary messages of a WebSocket (boxed: it is the larger).
    WebSocket(Box<WebSocketStream<S>>),
}

/// What the peer did, in the order it did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// It opened a stream (already answered with a SYN_REPLY).
    Stream {
        /// The stream.
        id: u32,
        /// Its headers, names and values lower-case.
        headers: Vec<(String, String)>,
    },
    /// It sent bytes on a stream; `fin`: its last.
    Data {
        /// The stream.
        id: u32,
        /// The bytes (maybe none, with `fin`).
        data: Vec<u8>,
        /// The peer will send no more on this stream.
        fin: bool,
    },
    /// It reset a stream.
    Reset {
        /// The stream.
        id: u32,
    },
}

/// One SPDY connection: the peer's events (they end when it leaves) and
/// the queue of frames to send. Dropping it ends the connection once the
/// queued frames are written.
pub struct Conn {
    /// What the peer does.
    pub events: mpsc::Receiver<Event>,
    /// Encoded frames to send ([`spdy::data`] …).
    pub out: mpsc::Sender<Vec<u8>>,
}

/// Frames queued before the writer pushes back.
const QUEUE: usize = 64;

impl Conn {
    /// Starts the reader and writer tasks on `transport`.
    pub fn start<S>(transport: Transport<S>) -> Conn
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (events_tx, events) = mpsc::channel(QUEUE);
        let (out, out_rx) = mpsc::channel(QUEUE);
        let (source, sink) = match transport {
            Transport::Raw(s) => {
                let (r, w) = tokio::io::split(s);
                (Source::Raw(r, vec![0u8; 32 * 1024]), Sink::Raw(Box::new(w)))
            }
            Transport::WebSocket(ws) => {
                use futures::StreamExt;
                let (w, r) = (*ws).split();
                (Source::WebSocket(r), Sink::WebSocket(w))
            }
        };
        tokio::spawn(read(source, events_tx, out.clone()));
        tokio::spawn(write(sink, out_rx));
        Conn { events, out }
    }

    /// Queues `frame`; false once the connection is gone.
    pub async fn send(&self, frame: Vec<u8>) -> bool {
        self.out.send(frame).await.is_ok()
    }
}

enum Source<S> {
    Raw(tokio::io::ReadHalf<S>, Vec<u8>),
    WebSocket(futures::stream::SplitStream<WebSocketStream<S>>),
}

impl<S: AsyncRead + AsyncWrite + Unpin> Source<S> {
    /// The next bytes from the peer; `None` once it left. Cancel-safe.
    async fn next(&mut self) -> Option<Vec<u8>> {
        match self {
            Source::Raw(r, buf) => match r.read(buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => Some(buf[..n].to_vec()),
            },
            Source::WebSocket(ws) => loop {
                use futures::StreamExt;
                match ws.next().await {
                    Some(Ok(Message::Binary(b))) => return Some(b.to_vec()),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                    Some(Ok(_)) => {}
                }
            },
        }
    }
}

enum Sink<S> {
    Raw(Box<tokio::io::WriteHalf<S>>),
    WebSocket(futures::stream::SplitSink<WebSocketStream<S>, Message>),
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<S> {
    async fn send(&mut self, frame: Vec<u8>) -> bool {
        match self {
            Sink::Raw(w) => w.write_all(&frame).await.is_ok() && w.flush().await.is_ok(),
            Sink::WebSocket(ws) => {
                use futures::SinkExt;
                ws.send(Message::binary(frame)).await.is_ok()
            }
        }
    }

    async fn close(&mut self) {
        match self {
            Sink::Raw(w) => {
                let _ = w.shutdown().await;
            }
            Sink::WebSocket(ws) => super::websocket::close(ws).await,
        }
    }
}

/// Decodes the peer's frames until it leaves, sends GOAWAY or a bad
/// frame, or the session drops its [`Conn`].
async fn read<S>(mut source: Source<S>, events: mpsc::Sender<Event>, out: mpsc::Sender<Vec<u8>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut codec = Codec::default();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let chunk = tokio::select! {
            _ = events.closed() => return,
            c = source.next() => match c {
                Some(c) => c,
                None => return,
            },
        };
        buf.extend_from_slice(&chunk);
        loop {
            let (frame, used) = match codec.decode(&buf) {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "bad SPDY from the client");
                    return;
                }
            };
            buf.drain(..used);
            let event = match frame {
                Frame::SynStream { id, flags, headers } => {
                    if out.send(codec.syn_reply(id)).await.is_err() {
                        return;
                    }
                    let opened = Event::Stream { id, headers };
                    if flags & FLAG_FIN != 0 {
                        if events.send(opened).await.is_err() {
                            return;
                        }
                        Event::Data {
                            id,
                            data: Vec::new(),
                            fin: true,
                        }
                    } else {
                        opened
                    }
                }
                Frame::Data { id, flags, data } => Event::Data {
                    id,
                    data,
                    fin: flags & FLAG_FIN != 0,
                },
                Frame::RstStream { id } => Event::Reset { id },
                Frame::Ping { id } => {
                    if out.send(spdy::ping(id)).await.is_err() {
                        return;
                    }
                    continue;
                }
                Frame::GoAway => return,
                Frame::Other => continue,
            };
            if events.send(event).await.is_err() {
                return;
            }
        }
    }
}

/// Writes queued frames until every sender is gone, then closes.
async fn write<S>(mut sink: Sink<S>, mut frames: mpsc::Receiver<Vec<u8>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(f) = frames.recv().await {
        if !sink.send(f).await {
            return;
        }
    }
    sink.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_order_wins() {
        let served = ["v4.channel.k8s.io", "v3.channel.k8s.io", "channel.k8s.io"];
        assert_eq!(
            pick(["v3.channel.k8s.io", "v4.channel.k8s.io"], &served),
            Some("v3.channel.k8s.io")
        );
        assert_eq!(
            pick(["v5.channel.k8s.io, v4.channel.k8s.io"], &served),
            Some("v4.channel.k8s.io")
        );
        assert_eq!(pick(["portforward.k8s.io"], &served), None);
    }

    #[test]
    fn handshake_answers() {
        let served = ["portforward.k8s.io"];
        let mut h = HeaderMap::new();
        let missing = handshake(&h, &served).err().map(|r| r.status());
        assert_eq!(missing, Some(StatusCode::BAD_REQUEST));
        h.append(PROTOCOL_HEADER, HeaderValue::from_static("v9"));
        let refused = handshake(&h, &served).err();
        assert_eq!(
            refused.as_ref().map(|r| r.status()),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            refused
                .as_ref()
                .and_then(|r| r.headers().get(ACCEPTED_HEADER)),
            Some(&HeaderValue::from_static("portforward.k8s.io"))
        );
        h.append(
            PROTOCOL_HEADER,
            HeaderValue::from_static("portforward.k8s.io"),
        );
        assert_eq!(handshake(&h, &served).ok(), Some("portforward.k8s.io"));
        let r = switching("portforward.k8s.io");
        assert_eq!(r.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(
            r.headers().get(http::header::UPGRADE),
            Some(&HeaderValue::from_static("SPDY/3.1"))
        );
        let mut up = HeaderMap::new();
        up.insert(http::header::UPGRADE, HeaderValue::from_static("spdy/3.1"));
        assert!(is_upgrade(&up));
    }

    #[tokio::test]
    async fn raw_connection_answers_and_reports() {
        let (ours, mut peer) = tokio::io::duplex(64 * 1024);
        let mut conn = Conn::start(Transport::Raw(ours));
        let mut sent = spdy::tests::peer_syn_stream(1, &[("streamType", "error")]);
        sent.extend_from_slice(&spdy::ping(9));
        sent.extend_from_slice(&spdy::data(1, FLAG_FIN, b"x"));
        peer.write_all(&sent).await.ok();
        assert_eq!(
            conn.events.recv().await,
            Some(Event::Stream {
                id: 1,
                headers: vec![("streamtype".into(), "error".into())]
            })
        );
        assert_eq!(
            conn.events.recv().await,
            Some(Event::Data {
                id: 1,
                data: b"x".to_vec(),
                fin: true
            })
        );
        // The SYN_REPLY, then the PING's echo, then what the session sent.
        assert!(conn.send(spdy::data(1, FLAG_FIN, b"bye")).await);
        drop(conn);
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.ok();
        let mut c = Codec::default();
        let mut frames = Vec::new();
        let mut at = 0;
        while let Ok(Some((f, n))) = c.decode(&got[at..]) {
            frames.push(f);
            at += n;
        }
        assert_eq!(frames.len(), 3, "{frames:?}");
        assert_eq!(frames[1], Frame::Ping { id: 9 });
        assert_eq!(
            frames[2],
            Frame::Data {
                id: 1,
                flags: FLAG_FIN,
                data: b"bye".to_vec()
            }
        );
    }
}
