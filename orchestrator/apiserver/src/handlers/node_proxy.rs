//! `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward`: served
//! by the node agent that runs the pod, and proxied to it as
//! kube-apiserver does. The pod names its node; the Node object names the
//! address (InternalIP) and port (`status.daemonEndpoints.kubeletEndpoint`)
//! of the node's HTTPS API. The API server authenticates there with a
//! bearer token of its own identity ([`NODE_CLIENT_USER`]), which the node
//! verifies by a TokenReview. A connection upgrade (exec's, attach's and
//! port-forward's WebSocket or SPDY/3.1) is answered with the node's 101 and
//! the bytes are then copied both ways.
//!
//! The node's serving certificate is not verified, as kube-apiserver does
//! not without `--kubelet-certificate-authority`: nodes make their own.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderValue, StatusCode};
use serde_json::Value;
use skiff_api::status::{ApiError, Reason};
use skiff_store::Store;

use super::error_response;
use crate::auth::{Authenticator, User};
use crate::route::Target;
use crate::state::Api;

/// The user the API server is towards node agents.
pub const NODE_CLIENT_USER: &str = "system:kube-apiserver";

/// How long dialing a node may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Headers of a connection upgrade that the node must see (WebSocket's,
/// and SPDY's protocol list).
const UPGRADE_HEADERS: [http::header::HeaderName; 6] = [
    http::header::CONNECTION,
    http::header::UPGRADE,
    http::header::SEC_WEBSOCKET_KEY,
    http::header::SEC_WEBSOCKET_VERSION,
    http::header::SEC_WEBSOCKET_PROTOCOL,
    http::header::HeaderName::from_static("x-stream-protocol-version"),
];

/// How the API server reaches node agents.
pub struct NodeClient {
    token: String,
    tls: Arc<rustls::ClientConfig>,
}

impl NodeClient {
    /// A client with a fresh token, registered in `auth` as
    /// [`NODE_CLIENT_USER`] so nodes' TokenReviews recognise it.
    pub fn new(auth: &mut Authenticator) -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        auth.add(
            &token,
            User {
                name: NODE_CLIENT_USER.into(),
                uid: NODE_CLIENT_USER.into(),
                groups: vec![],
            },
        );
        // As kube-apiserver without --kubelet-certificate-authority: the
        // node's self-signed certificate is not verified.
        let mut tls = skiff_client::tls::any_server_cert().unwrap_or_else(|_| {
            // The ring provider supports the default versions; this
            // branch keeps start-up infallible should that change.
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        });
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        NodeClient {
            token,
            tls: Arc::new(tls),
        }
    }
}

impl NodeClient {
    /// GETs `path` from the node API at `addr` and answers the body of a
    /// 200; anything else is a ServiceUnavailable naming the node. The
    /// whole exchange is bounded by `timeout`.
    pub async fn get(
        &self,
        node_name: &str,
        addr: SocketAddr,
        path: &str,
        timeout: Duration,
    ) -> Result<bytes::Bytes, ApiError> {
        use http_body_util::BodyExt;
        let exchange = async {
            let tcp = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("dialing: {e}"))?;
            let _ = tcp.set_nodelay(true);
            let server_name = rustls_pki_types::ServerName::IpAddress(addr.ip().into());
            let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(server_name, tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                    .await
                    .map_err(|e| format!("HTTP: {e}"))?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "node connection ended with an error");
                }
            });
            let req = http::Request::get(path)
                .header(http::header::HOST, addr.to_string())
                .header(
                    http::header::AUTHORIZATION,
                    format!("Bearer {}", self.token),
                )
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .map_err(|e| e.to_string())?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| format!("request: {e}"))?;
            let code = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            if code != StatusCode::OK {
                return Err(format!(
                    "answered {code}: {}",
                    String::from_utf8_lossy(&body)
                        .chars()
                        .take(200)
                        .collect::<String>()
                ));
            }
            Ok(body)
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(b)) => Ok(b),
            Ok(Err(e)) => Err(unavailable(format!(
                "GET {path} from node {node_name} at {addr}: {e}"
            ))),
            Err(_) => Err(unavailable(format!(
                "GET {path} from node {node_name} at {addr}: timed out"
            ))),
        }
    }
}

/// Whether a request is one this module serves.
pub fn handles(t: &Target) -> bool {
    t.group.is_empty()
        && t.resource == "pods"
        && t.name.is_some()
        && matches!(
            t.subresource.as_deref(),
            Some("log" | "exec" | "attach" | "portforward")
        )
}

/// Proxies one request to the pod's node.
pub async fn serve<S: Store>(api: Arc<Api<S>>, req: Request, target: Target) -> Response {
    match proxy(&api, req, &target).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

/// The address of a node's API from its Node object.
pub fn node_endpoint(node: &Value) -> Option<SocketAddr> {
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)?;
    let ip: IpAddr = node
        .pointer("/status/addresses")?
        .as_array()?
        .iter()
        .find(|a| a["type"] == "InternalIP")?
        .get("address")?
        .as_str()?
        .parse()
        .ok()?;
    Some(SocketAddr::new(ip, port))
}

/// The container a request means: the one named, or the only one.
pub fn pick_container(pod: &Value, asked: Option<&str>) -> Result<String, ApiError> {
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let names_at = |path: &str| -> Vec<&str> {
        pod.pointer(path)
            .and_then(Value::as_array)
            .map(|cs| cs.iter().filter_map(|c| c["name"].as_str()).collect())
            .unwrap_or_default()
    };
    let (names, init) = (
        names_at("/spec/containers"),
        names_at("/spec/initContainers"),
    );
    match asked.filter(|c| !c.is_empty()) {
        // Init containers have logs (and run commands) too.
        Some(c) if names.contains(&c) || init.contains(&c) => Ok(c.to_owned()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None if names.len() == 1 => Ok(names[0].to_owned()),
        None if init.is_empty() => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}, choose one of: [{}]",
            names.join(" ")
        ))),
        None => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}, choose one of: [{}] or one of the init containers: [{}]",
            names.join(" "),
            init.join(" ")
        ))),
    }
}

fn unavailable(message: String) -> ApiError {
    ApiError::new(Reason::ServiceUnavailable, message)
}

async fn proxy<S: Store>(
    api: &Arc<Api<S>>,
    mut req: Request,
    t: &Target,
) -> Result<Response, ApiError> {
    let sub = t.subresource.as_deref().unwrap_or("");
    let reg = api.registry();
    let pods = reg.get("", "v1", "pods").ok_or_else(ApiError::no_route)?;
    let nodes = reg.get("", "v1", "nodes").ok_or_else(ApiError::no_route)?;
    let name = t.name.as_deref().unwrap_or("");
    let ns = t.namespace.as_deref().unwrap_or("default");
    let (pod, _) = api.read(&pods, Some(ns), name).await?;
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| super::url_pairs(q).collect())
        .unwrap_or_default();
    let asked = query
        .iter()
        .rev()
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v.as_str());
    let node_name = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if node_name.is_empty() {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let path = match (req.method().as_str(), sub) {
        ("GET", "log") => {
            let c = pick_container(&pod, asked)?;
            format!("/containerLogs/{ns}/{name}/{c}")
        }
        ("GET" | "POST", "exec") => {
            let c = pick_container(&pod, asked)?;
            format!("/exec/{ns}/{name}/{c}")
        }
        ("GET" | "POST", "attach") => {
            let c = pick_container(&pod, asked)?;
            format!("/attach/{ns}/{name}/{c}")
        }
        ("GET" | "POST", "portforward") => format!("/portForward/{ns}/{name}"),
        (m, _) => return Err(ApiError::method_not_allowed(m, &format!("pods/{sub}"))),
    };
    let (node, _) = api
        .read(&nodes, None, node_name)
        .await
        .map_err(|_| unavailable(format!("node {node_name} of pod {name} is not registered")))?;
    let addr = node_endpoint(&node).ok_or_else(|| {
        unavailable(format!(
            "node {node_name} does not report the address and port of its API"
        ))
    })?;
    let mut q = String::new();
    for (k, v) in query
        .iter()
        .filter(|(k, _)| k != "container" && k != "podUID")
    {
        q.push_str(&encode(k));
        q.push('=');
        q.push_str(&encode(v));
        q.push('&');
    }
    q.push_str("podUID=");
    q.push_str(&encode(uid));
    let uri = format!("{path}?{q}");

    let client = &api.node_client;
    let tcp = tokio::time::timeout(DIAL_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| unavailable(format!("dialing node {node_name} at {addr}: timed out")))?
        .map_err(|e| unavailable(format!("dialing node {node_name} at {addr}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let server_name = rustls_pki_types::ServerName::IpAddress(addr.ip().into());
    let tls = tokio_rustls::TlsConnector::from(client.tls.clone())
        .connect(server_name, tcp)
        .await
        .map_err(|e| unavailable(format!("TLS to node {node_name} at {addr}: {e}")))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(|e| unavailable(format!("HTTP to node {node_name} at {addr}: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "node connection ended with an error");
        }
    });
    let mut out = http::Request::builder()
        .method(req.method().clone())
        .uri(&uri)
        .header(http::header::HOST, addr.to_string())
        .header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", client.token),
        );
    for h in UPGRADE_HEADERS {
        for v in req.headers().get_all(&h) {
            out = out.header(&h, v);
        }
    }
    let out = out
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut resp = sender
        .send_request(out)
        .await
        .map_err(|e| unavailable(format!("request to node {node_name} at {addr}: {e}")))?;
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let theirs = hyper::upgrade::on(&mut resp);
        let ours = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let (Ok(a), Ok(b)) = (ours.await, theirs.await) else {
                tracing::debug!("an upgrade through the node proxy failed");
                return;
            };
            let mut a = hyper_util::rt::TokioIo::new(a);
            let mut b = hyper_util::rt::TokioIo::new(b);
            let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
        });
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        for h in UPGRADE_HEADERS
            .iter()
            .chain([&http::header::SEC_WEBSOCKET_ACCEPT])
        {
            for v in resp.headers().get_all(h) {
                r.headers_mut().append(h, v.clone());
            }
        }
        return Ok(r);
    }
    let status = resp.status();
    let ct = resp.headers().get(http::header::CONTENT_TYPE).cloned();
    let mut r = Response::new(Body::new(resp.into_body()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        ct.unwrap_or(HeaderValue::from_static("text/plain")),
    );
    Ok(r)
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoint_from_node_status() {
        let n = json!({"status": {
            "addresses": [{"type": "Hostname", "address": "n"}, {"type": "InternalIP", "address": "10.0.0.5"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}});
        assert_eq!(node_endpoint(&n), "10.0.0.5:10250".parse().ok());
        let unset = json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.5"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}}}});
        assert_eq!(node_endpoint(&unset), None);
    }

    #[test]
    fn containers_pick() {
        let one = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}});
        let two = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(pick_container(&one, None).ok().as_deref(), Some("a"));
        assert_eq!(pick_container(&two, Some("b")).ok().as_deref(), Some("b"));
        assert!(pick_container(&two, None).is_err());
        assert!(pick_container(&one, Some("zz")).is_err());
        let with_init = json!({"metadata": {"name": "p"}, "spec": {
            "initContainers": [{"name": "setup"}], "containers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(
            pick_container(&with_init, Some("setup")).ok().as_deref(),
            Some("setup")
        );
        assert!(pick_container(&with_init, None).is_err_and(|e| {
            e.to_string()
                .contains("or one of the init containers: [setup]")
        }));
        assert_eq!(encode("echo hi; exit 3"), "echo%20hi%3B%20exit%203");
    }
}
