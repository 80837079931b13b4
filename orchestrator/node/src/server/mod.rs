//! The node agent's HTTPS API — the kubelet's port 10250 — which the API
//! server proxies `kubectl logs`, `exec` and `port-forward` to:
//!
//! - `GET /containerLogs/{ns}/{pod}/{container}` ([`logs`]),
//! - `GET|POST /exec/{ns}/{pod}/{container}` over WebSocket with the
//!   channel protocol `v5.channel.k8s.io`/`v4.channel.k8s.io`, or over
//!   plain SPDY/3.1 (`v4.channel.k8s.io` … `channel.k8s.io`) for older
//!   kubectl ([`exec`], [`remotecommand`]),
//! - `GET|POST /attach/{ns}/{pod}/{container}`: the same protocols, to the
//!   container's main process ([`attach`]),
//! - `GET|POST /portForward/{ns}/{pod}`: SPDY, plain or tunnelled in a
//!   WebSocket ([`portforward`], [`spdy_conn`]),
//! - `GET /stats/summary`: the kubelet's Summary API ([`stats`]),
//! - `GET /healthz`.
//!
//! Callers authenticate with a bearer token the agent checks by creating a
//! TokenReview at the API server ([`auth`]); only `system:masters` and the
//! API server's own identity may call (the kubelet's webhook authorizer
//! grants the same through RBAC). The serving certificate is self-signed
//! and made at start: the API server, like kube-apiserver without
//! `--kubelet-certificate-authority`, does not verify it.

pub mod attach;
pub mod auth;
pub mod channel;
pub mod exec;
pub mod logs;
pub mod portforward;
pub mod remotecommand;
pub mod spdy;
pub mod spdy_conn;
pub mod stats;
pub mod websocket;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};
use skiff_runtime::Runtime;
use tokio::net::TcpListener;

/// The kubelet's port.
pub const DEFAULT_PORT: u16 = 10250;

/// The body of every answer.
pub type Body = BoxBody<Bytes, Infallible>;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address could not be bound.
    #[error("listening on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The serving certificate could not be made.
    #[error("making the serving certificate")]
    Certificate(#[from] rcgen::Error),
    /// The TLS configuration was refused.
    #[error("building the TLS configuration")]
    Tls(#[from] rustls::Error),
}

/// What every request needs.
pub struct Node {
    /// The agent's API client (for TokenReviews).
    pub client: kube::Client,
    /// The agent's data directory (pod logs live under `pods/`).
    pub data_dir: PathBuf,
    /// The runtimes.
    pub runtimes: Vec<Arc<dyn Runtime>>,
    /// Recent token reviews.
    pub reviews: auth::Cache,
    /// The node's name, as its Node object has it.
    pub node_name: String,
    /// The last CPU samples, for rates in `/stats/summary`.
    pub samples: stats::Samples,
}

/// Binds the listener (port 0 picks a free port).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

/// A self-signed serving certificate for `names` (addresses or DNS names).
pub fn tls_config(names: Vec<String>) -> Result<rustls::ServerConfig, ServerError> {
    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(signing_key.serialize_der()));
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], key)?;
    // HTTP/1.1 only: exec and port-forward are connection upgrades.
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, tls: rustls::ServerConfig, node: Arc<Node>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "kubelet API accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let node = node.clone();
        tokio::spawn(async move {
            let stream = match acceptor.accept(tcp).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "kubelet API TLS handshake failed");
                    return;
                }
            };
            let svc = hyper::service::service_fn(move |req| {
                let node = node.clone();
                async move { Ok::<_, Infallible>(handle(node, req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .with_upgrades()
                .await
            {
                tracing::debug!(%peer, error = %e, "kubelet API connection ended with an error");
            }
        });
    }
}

/// A full body.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed()
}

/// A `Status` answer.
pub fn status(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code.as_u16(),
    });
    let mut r = Response::new(full(serde_json::to_vec(&body).unwrap_or_default()));
    *r.status_mut() = code;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// Query pairs, decoded; repeated keys keep every value in order.
pub fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Whether query flag `key` is set (`1` or `true`, as the kubelet reads it).
pub fn query_flag(q: &[(String, String)], key: &str) -> bool {
    q.iter()
        .any(|(n, v)| n == key && matches!(v.as_str(), "1" | "true"))
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(x) => {
                        out.push(x);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            x => out.push(x),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(node: Arc<Node>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let parts: Vec<String> = path.trim_matches('/').split('/').map(decode).collect();
    if parts == ["healthz"] {
        return Response::new(full("ok"));
    }
    match auth::check(&node, req.headers()).await {
        Ok(()) => {}
        Err(r) => return r,
    }
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    match (req.method().as_str(), parts.as_slice()) {
        ("GET", ["containerLogs", ns, pod, container]) => {
            let (ns, pod, container) = (ns.to_string(), pod.to_string(), container.to_string());
            container_logs(&node, &req, &ns, &pod, &container).await
        }
        ("GET" | "POST", ["exec", ns, pod, container]) => {
            let (ns, pod, container) = (ns.to_string(), pod.to_string(), container.to_string());
            exec::upgrade(node.clone(), req, ns, pod, container)
        }
        ("GET" | "POST", ["attach", ns, pod, container]) => {
            let (ns, pod, container) = (ns.to_string(), pod.to_string(), container.to_string());
            attach::upgrade(node.clone(), req, ns, pod, container)
        }
        ("GET", ["stats", "summary"]) => stats::summary(&node).await,
        ("GET" | "POST", ["portForward", ns, pod]) => {
            let (ns, pod) = (ns.to_string(), pod.to_string());
            portforward::upgrade(node.clone(), req, ns, pod)
        }
        _ => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("no handler for {path}"),
        ),
    }
}

async fn container_logs(
    node: &Node,
    req: &Request<Incoming>,
    ns: &str,
    pod: &str,
    container: &str,
) -> Response<Body> {
    let q: HashMap<String, String> = query_pairs(req.uri().query()).into_iter().collect();
    let answer = async {
        let opts = logs::LogOptions::from_query(&q, jiff::Timestamp::now())?;
        let uid = q.get("podUID").map(String::as_str);
        let restarts = if opts.previous {
            restart_count(&node.client, ns, pod, container).await
        } else {
            None
        };
        let path = logs::find_log(
            &node.data_dir,
            ns,
            pod,
            uid,
            container,
            opts.previous,
            restarts,
        )?;
        // Read before answering, so a missing file is an error status
        // rather than an empty 200.
        tokio::fs::metadata(&path)
            .await
            .map_err(|source| logs::LogError::Read {
                path: path.clone(),
                source,
            })?;
        Ok::<_, logs::LogError>((opts, path))
    };
    let (opts, path) = match answer.await {
        Ok(x) => x,
        Err(e @ logs::LogError::BadRequest(_)) => {
            return status(StatusCode::BAD_REQUEST, "BadRequest", &e.to_string());
        }
        Err(e @ logs::LogError::NotFound(_)) => {
            return status(StatusCode::NOT_FOUND, "NotFound", &e.to_string());
        }
        Err(e) => {
            return status(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                &error_chain(&e),
            );
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let runtimes = node.runtimes.clone();
    tokio::spawn(async move {
        if let Err(e) = logs::serve(runtimes, path, opts, tx).await {
            tracing::debug!(error = %error_chain(&e), "log stream ended");
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    r
}

/// The container's `restartCount` as the pod status reports it (what the
/// user sees when asking for the previous run's log).
async fn restart_count(client: &kube::Client, ns: &str, pod: &str, container: &str) -> Option<u64> {
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(client.clone(), ns);
    let p = pods.get_opt(pod).await.ok().flatten()?;
    p.status?
        .container_statuses?
        .iter()
        .find(|c| c.name == container)
        .and_then(|c| u64::try_from(c.restart_count).ok())
}

/// An error with its causes, for a message.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A JSON value as bytes.
pub fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_query_keys_stay() {
        let q = query_pairs(Some(
            "command=sh&command=-c&command=echo+hi%3B+exit+3&tty=1&x=%zz",
        ));
        let cmd: Vec<&str> = q
            .iter()
            .filter(|(k, _)| k == "command")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(cmd, ["sh", "-c", "echo hi; exit 3"]);
        assert!(q.contains(&("x".into(), "%zz".into())));
        assert_eq!(
            query_pairs(Some("a=%4")),
            [("a".to_owned(), "%4".to_owned())]
        );
    }
}
