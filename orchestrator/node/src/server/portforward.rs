//! `kubectl port-forward` on the node, over either transport
//! ([`super::spdy_conn`]): plain SPDY/3.1 with stream protocol
//! `portforward.k8s.io` (kubectl before 1.31, or with
//! `KUBECTL_PORT_FORWARD_WEBSOCKETS=false`), or SPDY inside a WebSocket
//! with subprotocol `SPDY/3.1+portforward.k8s.io` (kubectl 1.31 on). Each
//! forwarded connection is a pair of streams with the same `requestID`:
//! `streamType: error` and `streamType: data`, both naming the `port`.
//! The node dials the pod's IP on that port and copies bytes between the
//! data stream and the socket; a failure is written to the error stream,
//! which kubectl prints.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::spdy::{self, FLAG_FIN};
use super::spdy_conn::{self, Conn, Event, Transport};
use super::{Body, Node, status, websocket};

/// The WebSocket subprotocol kubectl tunnels SPDY port-forwarding in.
pub const PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// The stream protocol of port-forwarding over plain SPDY.
pub const SPDY_PROTOCOL: &str = "portforward.k8s.io";

/// How long dialing the pod may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers the upgrade (WebSocket or SPDY) and serves the session on the
/// upgraded connection.
pub fn upgrade(node: Arc<Node>, req: Request<Incoming>, ns: String, pod: String) -> Response<Body> {
    let h = req.headers();
    if websocket::is_upgrade(h) {
        let Some((proto, key)) = websocket::offered(h, &[PROTOCOL]) else {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("port-forward over WebSocket needs subprotocol {PROTOCOL}"),
            );
        };
        let on_upgrade = hyper::upgrade::on(req);
        tokio::spawn(async move {
            let pod_ip = pod_ip(&node, &ns, &pod).await;
            match on_upgrade.await {
                Ok(up) => {
                    let ws = websocket::open(up).await;
                    session(Conn::start(Transport::WebSocket(Box::new(ws))), pod_ip).await;
                }
                Err(e) => tracing::debug!(error = %e, "port-forward upgrade failed"),
            }
        });
        return websocket::switching(&key, proto);
    }
    if spdy_conn::is_upgrade(h) {
        let proto = match spdy_conn::handshake(h, &[SPDY_PROTOCOL]) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let on_upgrade = hyper::upgrade::on(req);
        tokio::spawn(async move {
            let pod_ip = pod_ip(&node, &ns, &pod).await;
            match on_upgrade.await {
                Ok(up) => {
                    let io = hyper_util::rt::TokioIo::new(up);
                    session(Conn::start(Transport::Raw(io)), pod_ip).await;
                }
                Err(e) => tracing::debug!(error = %e, "port-forward upgrade failed"),
            }
        });
        return spdy_conn::switching(proto);
    }
    status(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!(
            "port-forward needs a connection upgrade: SPDY/3.1 ({SPDY_PROTOCOL}) or WebSocket ({PROTOCOL})"
        ),
    )
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

/// What one port-forward stream is, from its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRequest {
    /// The forwarded connection it belongs to.
    pub request: String,
    /// `true` for the data stream, `false` for the error stream.
    pub data: bool,
    /// The pod's port (0 when missing or malformed: dialing it fails).
    pub port: u16,
}

impl StreamRequest {
    /// Reads `streamtype`, `port` and `requestid`; `None` for a stream
    /// of another type. A client that sends no `requestid` (before
    /// Kubernetes 1.5) opens error then data with consecutive odd ids, so,
    /// as the kubelet does, the error stream's id names the pair.
    pub fn of(id: u32, headers: &[(String, String)]) -> Option<StreamRequest> {
        let get = |k: &str| {
            headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        let data = match get("streamtype")? {
            "data" => true,
            "error" => false,
            _ => return None,
        };
        let request = match get("requestid").filter(|r| !r.is_empty()) {
            Some(r) => r.to_owned(),
            None if data => id.saturating_sub(2).to_string(),
            None => id.to_string(),
        };
        let port = get("port").and_then(|p| p.parse().ok()).unwrap_or(0);
        Some(StreamRequest {
            request,
            data,
            port,
        })
    }
}

/// The forwarded connections whose two streams have not both arrived.
#[derive(Debug, Default)]
pub struct Pairs(HashMap<String, (Option<u32>, Option<u32>, u16)>);

impl Pairs {
    /// Records stream `id`; once its pair is complete, the error stream,
    /// the data stream and the port.
    pub fn add(&mut self, id: u32, s: StreamRequest) -> Option<(u32, u32, u16)> {
        let e = self.0.entry(s.request.clone()).or_default();
        if s.data {
            e.1 = Some(id);
        } else {
            e.0 = Some(id);
        }
        if s.port != 0 {
            e.2 = s.port;
        }
        let (Some(err), Some(data), port) = *e else {
            return None;
        };
        self.0.remove(&s.request);
        Some((err, data, port))
    }
}

async fn session(mut conn: Conn, pod_ip: Result<IpAddr, String>) {
    let mut pairs = Pairs::default();
    // Data stream id → what the peer sends on it (None: its FIN).
    let mut inbound: HashMap<u32, mpsc::UnboundedSender<Option<Vec<u8>>>> = HashMap::new();
    // Dropped with the session: a forward outlives no client.
    let mut forwards = tokio::task::JoinSet::new();
    while let Some(ev) = conn.events.recv().await {
        match ev {
            Event::Stream { id, headers } => {
                let Some(s) = StreamRequest::of(id, &headers) else {
                    continue;
                };
                if let Some((err, data, port)) = pairs.add(id, s) {
                    let (tx, rx) = mpsc::unbounded_channel();
                    inbound.insert(data, tx);
                    let target = pod_ip.clone().map(|ip| SocketAddr::new(ip, port));
                    forwards.spawn(forward(target, err, data, rx, conn.out.clone()));
                }
            }
            Event::Data { id, data, fin } => {
                if let Some(tx) = inbound.get(&id) {
                    if !data.is_empty() {
                        let _ = tx.send(Some(data));
                    }
                    if fin {
                        let _ = tx.send(None);
                        inbound.remove(&id);
                    }
                }
            }
            Event::Reset { id } => {
                inbound.remove(&id);
            }
        }
        // Reap finished forwards so the set does not grow.
        while forwards.try_join_next().is_some() {}
    }
}

/// One forwarded connection: dial, then copy both ways until the pod
/// closed its side; a failure goes to the error stream.
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
        // The client's half-close: the answer may still be coming.
        std::future::pending::<()>().await;
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
    // Done once the pod closed its side, as the kubelet's forwarder is:
    // older kubectl (1.27 does) closes its local connection, and so its half of
    // the data stream, only after the error stream ended.
    tokio::select! {
        () = to_pod => {}
        () = from_pod => {}
    }
    let _ = out.send(spdy::data(error_id, FLAG_FIN, &[])).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn streams_pair_by_request_id() {
        let mut p = Pairs::default();
        let err = StreamRequest::of(
            1,
            &h(&[
                ("streamtype", "error"),
                ("port", "8080"),
                ("requestid", "0"),
            ]),
        );
        let data = StreamRequest::of(
            3,
            &h(&[("streamtype", "data"), ("port", "8080"), ("requestid", "0")]),
        );
        let other = StreamRequest::of(
            5,
            &h(&[("streamtype", "data"), ("port", "9090"), ("requestid", "1")]),
        );
        assert_eq!(data.as_ref().map(|d| d.data), Some(true));
        assert_eq!(err.and_then(|s| p.add(1, s)), None);
        assert_eq!(other.and_then(|s| p.add(5, s)), None);
        assert_eq!(data.and_then(|s| p.add(3, s)), Some((1, 3, 8080)));
        assert_eq!(p.0.len(), 1);
        assert_eq!(StreamRequest::of(7, &h(&[("streamtype", "stdin")])), None);
    }

    #[test]
    fn clients_without_request_ids_pair_by_stream_id() {
        let mut p = Pairs::default();
        let err = StreamRequest::of(1, &h(&[("streamtype", "error"), ("port", "80")]));
        let data = StreamRequest::of(3, &h(&[("streamtype", "data"), ("port", "80")]));
        assert_eq!(err.and_then(|s| p.add(1, s)), None);
        assert_eq!(data.and_then(|s| p.add(3, s)), Some((1, 3, 80)));
    }
}
