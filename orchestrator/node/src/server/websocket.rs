//! The WebSocket side of connection upgrades (kubectl 1.30+ exec, attach
//! and port-forward): subprotocol choice, the 101 answer, and the normal
//! closure client-go expects.

use futures::SinkExt;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::{Body, full};

/// A WebSocket on an upgraded connection.
pub type Socket = WebSocketStream<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>;

/// Whether the request asks for a WebSocket upgrade.
pub fn is_upgrade(h: &HeaderMap) -> bool {
    h.get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The first of `served` (best first) that the client offers in
/// `Sec-WebSocket-Protocol`, and the client's key; `None` when either is
/// missing.
pub fn offered(h: &HeaderMap, served: &[&'static str]) -> Option<(&'static str, Vec<u8>)> {
    let offered: Vec<&str> = h
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let proto = served.iter().find(|p| offered.contains(p))?;
    let key = h.get(http::header::SEC_WEBSOCKET_KEY)?;
    Some((proto, key.as_bytes().to_vec()))
}

/// The 101 answer accepting `key` with subprotocol `proto`.
pub fn switching(key: &[u8], proto: &'static str) -> Response<Body> {
    let mut r = Response::new(full(""));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key);
    let hs = r.headers_mut();
    hs.insert(
        http::header::CONNECTION,
        HeaderValue::from_static("Upgrade"),
    );
    hs.insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
    hs.insert(
        http::header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(proto),
    );
    if let Ok(v) = HeaderValue::from_str(&accept) {
        hs.insert(http::header::SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

/// The server side of the WebSocket on an upgraded connection.
pub async fn open(up: hyper::upgrade::Upgraded) -> Socket {
    WebSocketStream::from_raw_socket(hyper_util::rt::TokioIo::new(up), Role::Server, None).await
}

/// Ends the session with a normal closure: client-go treats a close
/// without a status code (1005) as an error on every open stream.
pub async fn close<K>(sink: &mut K)
where
    K: futures::Sink<Message> + Unpin,
{
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
    let _ = sink.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_the_servers_first_choice() {
        let served = super::super::channel::PROTOCOLS;
        let mut h = HeaderMap::new();
        h.insert(
            http::header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("v4.channel.k8s.io, v5.channel.k8s.io"),
        );
        assert_eq!(offered(&h, &served), None, "no key");
        h.insert(
            http::header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        assert_eq!(offered(&h, &served).map(|o| o.0), Some("v5.channel.k8s.io"));
        h.insert(
            http::header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("SPDY/3.1"),
        );
        assert_eq!(offered(&h, &served), None);
        let r = switching(b"dGhlIHNhbXBsZSBub25jZQ==", "v4.channel.k8s.io");
        assert_eq!(
            r.headers().get(http::header::SEC_WEBSOCKET_ACCEPT),
            Some(&HeaderValue::from_static("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
        );
    }
}
