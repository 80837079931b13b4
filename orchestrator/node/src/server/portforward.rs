//! `kubectl port-forward` on the node: kubectl 1.32 opens a WebSocket with
//! subprotocol `SPDY/3.1+portforward.k8s.io` and speaks SPDY inside it
//! ([`super::spdy`]). Each forwarded connection is a pair of streams with
//! the same `requestID`: `streamType: error` and `streamType: data`, both
//! naming the `port`. The node dials the pod's IP on that port and copies
//! bytes between the data stream and the socket; a failure is written to
//! the error stream, which kubectl prints.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::spdy::{self, Codec, FLAG_FIN, Frame};
use super::{Body, Node, full, status};

/// The WebSocket subprotocol kubectl tunnels SPDY port-forwarding in.
pub const PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// How long dialing the pod may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers the upgrade and serves the session on the upgraded connection.
pub fn upgrade(node: Arc<Node>, req: Request<Incoming>, ns: String, pod: String) -> Response<Body> {
    let h = req.headers();
    let offered = h
        .get(http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|p| p.trim() == PROTOCOL));
    let websocket = h
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = h
        .get(http::header::SEC_WEBSOCKET_KEY)
        .map(|k| k.as_bytes().to_vec());
    let (true, true, Some(key)) = (offered, websocket, key) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!(
                "port-forward needs a WebSocket upgrade with subprotocol {PROTOCOL} (plain SPDY is not supported)"
            ),
        );
    };
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let pod_ip = pod_ip(&node, &ns, &pod).await;
        match on_upgrade.await {
            Ok(up) => {
                let ws = WebSocketStream::from_raw_socket(
                    hyper_util::rt::TokioIo::new(up),
                    Role::Server,
                    None,
                )
                .await;
                session(ws, pod_ip).await;
            }
            Err(e) => tracing::debug!(error = %e, "port-forward upgrade failed"),
        }
    });
    let mut r = Response::new(full(""));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key);
    let hs = r.headers_mut();
    hs.insert(
        http::header::CONNECTION,
        HeaderValue::from_static("Upgrade"),
    );
    hs.insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
    hs.insert(
        http::header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(PROTOCOL),
    );
    if let Ok(v) = HeaderValue::from_str(&accept) {
        hs.insert(http::header::SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

/// The pod's IP, or why there is none.
async fn pod_ip(node: &Node, ns: &str, pod: &str) -> Result<IpAddr, String> {
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(node.client.clone(), ns);
    let p = pods
        .get_opt(pod)
        .await
        .map_err(|e| format!("reading pod {pod}: {e}"))?
        .ok_or_else(|| format!("pod {pod} not found"))?;
    p.status
        .and_then(|s| s.pod_ip)
        .and_then(|ip| ip.parse().ok())
        .ok_or_else(|| format!("pod {pod} has no IP yet"))
}

/// The two streams of one forwarded connection, as they arrive.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<u32>,
    port: u16,
}

async fn session<S>(ws: WebSocketStream<S>, pod_ip: Result<IpAddr, String>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut incoming) = ws.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    let mut codec = Codec::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    // Data stream id → what the peer sends on it (None: its FIN).
    let mut inbound: HashMap<u32, mpsc::UnboundedSender<Option<Vec<u8>>>> = HashMap::new();
    loop {
        tokio::select! {
            Some(out) = out_rx.recv() => {
                if sink.send(Message::binary(out)).await.is_err() {
                    return;
                }
            }
            msg = incoming.next() => {
                let bytes = match msg {
                    Some(Ok(Message::Binary(b))) => b,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                buf.extend_from_slice(&bytes);
                loop {
                    let (frame, used) = match codec.decode(&buf) {
                        Ok(Some(x)) => x,
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!(error = %e, "port-forward: bad SPDY");
                            return;
                        }
                    };
                    buf.drain(..used);
                    match frame {
                        Frame::SynStream { id, headers, .. } => {
                            if sink.send(Message::binary(codec.syn_reply(id))).await.is_err() {
                                return;
                            }
                            let get = |k: &str| {
                                headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default()
                            };
                            let pair = pairs.entry(get("requestid")).or_default();
                            pair.port = get("port").parse().unwrap_or(0);
                            match get("streamtype").as_str() {
                                "error" => pair.error = Some(id),
                                "data" => pair.data = Some(id),
                                _ => {}
                            }
                            if let (Some(err), Some(data)) = (pair.error, pair.data) {
                                let port = pair.port;
                                pairs.retain(|_, p| p.data != Some(data));
                                let (tx, rx) = mpsc::unbounded_channel();
                                inbound.insert(data, tx);
                                let target = pod_ip.clone().map(|ip| SocketAddr::new(ip, port));
                                tokio::spawn(forward(target, err, data, rx, out_tx.clone()));
                            }
                        }
                        Frame::Data { id, flags, data } => {
                            if let Some(tx) = inbound.get(&id) {
                                if !data.is_empty() {
                                    let _ = tx.send(Some(data));
                                }
                                if flags & FLAG_FIN != 0 {
                                    let _ = tx.send(None);
                                    inbound.remove(&id);
                                }
                            }
                        }
                        Frame::RstStream { id } => {
                            inbound.remove(&id);
                        }
                        Frame::Ping { id } => {
                            if sink.send(Message::binary(spdy::ping(id))).await.is_err() {
                                return;
                            }
                        }
                        Frame::GoAway => return,
                        Frame::Other => {}
                    }
                }
            }
        }
    }
}

/// One forwarded connection: dial, then copy both ways until both ends
/// are done; a failure goes to the error stream.
async fn forward(
    target: Result<SocketAddr, String>,
    error_id: u32,
    data_id: u32,
    mut from_peer: mpsc::UnboundedReceiver<Option<Vec<u8>>>,
    out: mpsc::Sender<Vec<u8>>,
) {
    let dial = async {
        let addr = target?;
        let port = addr.port();
        tokio::time::timeout(DIAL_TIMEOUT, tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| format!("dialing port {port}: timed out"))?
            .map_err(|e| format!("dialing port {port}: {e}"))
    };
    let tcp = match dial.await {
        Ok(t) => t,
        Err(m) => {
            let _ = out.send(spdy::data(error_id, FLAG_FIN, m.as_bytes())).await;
            let _ = out.send(spdy::data(data_id, FLAG_FIN, &[])).await;
            return;
        }
    };
    let (mut rd, mut wr) = tcp.into_split();
    let to_pod = async {
        while let Some(Some(bytes)) = from_peer.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    };
    let from_pod = async {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out.send(spdy::data(data_id, 0, &buf[..n])).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = out.send(spdy::data(data_id, FLAG_FIN, &[])).await;
    };
    tokio::join!(to_pod, from_pod);
    let _ = out.send(spdy::data(error_id, FLAG_FIN, &[])).await;
}
