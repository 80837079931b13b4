//! Outgoing HTTP (`wasi:http/outgoing-handler`) that leaves from the pod's
//! own IP, as a native pod's traffic does.
//!
//! A native pod has a network namespace of its own, so its connections
//! carry its IP. A Wasm pod shares the node's namespace (design.md "Pod
//! network"): left alone, the kernel would pick the node's address (or
//! whichever one its routes prefer) as the source, and NetworkPolicies and
//! the callee would see the node instead of the pod. So every connection is
//! bound to the pod IP before it connects.
//!
//! wasmtime-wasi-http 48 has no connector hook: [`WasiHttpHooks::send_request`]
//! is the seam, so [`send_from`] does what `default_send_request` does —
//! resolve, connect, TLS for `https` (the same webpki roots), an HTTP/1.1
//! handshake, and the three `request-options` timeouts — with only the
//! connect step changed. A sandbox without a pod IP (`skiff run`) uses
//! `default_send_request` unchanged.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{PathAndQuery, Scheme};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// What `default_send_request` waits when the guest sets no timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The future through which a connection's failure after the response
/// head reaches wasmtime-wasi-http.
type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// What `send_request` hands back to wasmtime-wasi-http, boxed.
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

/// The `wasi:http` hooks of one store: outgoing requests leave from
/// `source_ip`, everything else is wasmtime-wasi-http's default.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutgoingHooks {
    source_ip: Option<IpAddr>,
}

impl OutgoingHooks {
    /// Hooks for a container of a sandbox with this pod IP. None, loopback
    /// and unspecified addresses mean the sandbox has no pod network of its
    /// own (`skiff run`): requests then go out as wasmtime would send them.
    pub fn new(pod_ip: Option<IpAddr>) -> Self {
        OutgoingHooks {
            source_ip: pod_ip.filter(|ip| !ip.is_loopback() && !ip.is_unspecified()),
        }
    }

    /// The address outgoing connections are bound to, if any.
    pub fn source_ip(&self) -> Option<IpAddr> {
        self.source_ip
    }
}

impl WasiHttpHooks for OutgoingHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> SendFuture {
        let source_ip = self.source_ip;
        Box::new(async move {
            match source_ip {
                Some(ip) => send_from(ip, request, options).await,
                None => {
                    let (res, io) =
                        wasmtime_wasi_http::default_send_request(request, options).await?;
                    Ok((res.map(BodyExt::boxed_unsync), Box::new(io) as IoFuture))
                }
            }
        })
    }
}

/// The timeouts of one request (`wasi:http` request options), defaulted as
/// `default_send_request` does.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    connect: Duration,
    first_byte: Duration,
    between_bytes: Duration,
}

impl Timeouts {
    fn new(options: Option<RequestOptions>) -> Self {
        let o = options.unwrap_or_default();
        Timeouts {
            connect: o.connect_timeout.unwrap_or(DEFAULT_TIMEOUT),
            first_byte: o.first_byte_timeout.unwrap_or(DEFAULT_TIMEOUT),
            // Tokio panics on a zero interval; a nanosecond is as good as zero.
            between_bytes: o
                .between_bytes_timeout
                .unwrap_or(DEFAULT_TIMEOUT)
                .max(Duration::from_nanos(1)),
        }
    }
}

/// Sends `request` over a new connection whose source address is `source`.
pub async fn send_from(
    source: IpAddr,
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
    let uri = request.uri();
    let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
    let use_tls = uri.scheme() == Some(&Scheme::HTTPS);
    let authority = match authority.port() {
        Some(_) => authority.to_string(),
        None => format!("{authority}:{}", if use_tls { 443 } else { 80 }),
    };
    let timeouts = Timeouts::new(options);
    // Name lookup counts against the connect timeout, as in
    // `TcpStream::connect`, which `default_send_request` uses.
    let stream = tokio::time::timeout(timeouts.connect, connect_from(source, &authority))
        .await
        .map_err(|_| Error::ConnectionTimeout)??;
    if use_tls {
        let connector = tokio_rustls::TlsConnector::from(tls_config()?);
        let name = tls_server_name(&authority)?;
        let stream = connector.connect(name, stream).await.map_err(Error::Tls)?;
        exchange(stream, request, timeouts).await
    } else {
        exchange(stream, request, timeouts).await
    }
}

/// Resolves `authority` (`host:port`) and connects to the first address of
/// the pod IP's family that answers, from `source`.
async fn connect_from(source: IpAddr, authority: &str) -> Result<TcpStream, Error> {
    let addrs = tokio::net::lookup_host(authority)
        .await
        .map_err(Error::Connect)?;
    let mut last = None;
    for addr in addrs.filter(|a| a.is_ipv4() == source.is_ipv4()) {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(Error::Connect)?;
        // Port 0: an ephemeral port from the pod IP's own range, as a
        // native pod has. A failure means the pod IP is missing from the
        // node (its sandbox is being torn down, say): say so, rather than
        // let wasmtime report EADDRNOTAVAIL as a DNS error.
        socket.bind(SocketAddr::new(source, 0)).map_err(|e| {
            Error::InternalError(Some(format!(
                "binding the pod IP {source} as the source address: {e}"
            )))
        })?;
        match socket.connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => Error::Connect(e),
        // Only addresses of the other family: a pod with an IPv4 address has
        // no IPv6 route, as a native pod of a single-stack cluster.
        None => Error::DestinationIpUnroutable,
    })
}

/// The client TLS settings: the webpki roots `default_send_request` trusts,
/// with ring named explicitly (the process may have two providers compiled
/// in and none installed). Built once.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, Error> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
            .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| Error::InternalError(Some(format!("TLS client settings: {e}"))))
}

/// The name a TLS server must prove: the IP of an IP-literal authority,
/// else the host name without its port.
fn tls_server_name(authority: &str) -> Result<rustls::pki_types::ServerName<'static>, Error> {
    use rustls::pki_types::ServerName;
    if let Ok(addr) = authority.parse::<SocketAddr>() {
        return Ok(ServerName::from(addr.ip()));
    }
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    Ok(ServerName::try_from(host)?.to_owned())
}

/// The HTTP/1.1 exchange over an open connection: handshake (within the
/// connect timeout), the response head (within the first-byte timeout), and
/// a body whose frames must come within the between-bytes timeout.
async fn exchange<S>(
    stream: S,
    mut request: http::Request<WasiBody>,
    timeouts: Timeouts,
) -> Result<(http::Response<WasiBody>, IoFuture), Error>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, conn) = tokio::time::timeout(
        timeouts.connect,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)??;
    // The connection does the I/O; it ends once the response body and the
    // sender are dropped. Its outcome is the `io` future wasmtime-wasi-http
    // reports.
    let conn = tokio::spawn(conn);
    // The request line carries only the path: scheme and authority belong in
    // it only when talking to a proxy.
    let path = request
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    *request.uri_mut() = http::Uri::from(path);
    let response = tokio::time::timeout(timeouts.first_byte, sender.send_request(request))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)??;
    let response = response.map(|incoming| {
        let mut timeout = tokio::time::interval(timeouts.between_bytes);
        timeout.reset();
        TimedBody { incoming, timeout }.boxed_unsync()
    });
    let io = async move {
        match conn.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) if e.is_timeout() => Err(Error::HttpResponseTimeout),
            Ok(Err(e)) => Err(Error::Hyper(e)),
            Err(e) => Err(Error::InternalError(Some(format!(
                "the connection task failed: {e}"
            )))),
        }
    };
    Ok((response, Box::new(io)))
}

/// A response body that fails with `ConnectionReadTimeout` when no frame
/// comes within the between-bytes timeout.
struct TimedBody {
    incoming: Incoming,
    timeout: tokio::time::Interval,
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) if e.is_timeout() => {
                Poll::Ready(Some(Err(Error::HttpResponseTimeout)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::Hyper(e)))),
            Poll::Ready(Some(Ok(frame))) => {
                self.timeout.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => match self.timeout.poll_tick(cx) {
                Poll::Ready(_) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn loopback_and_missing_pod_ips_keep_the_default() {
        assert_eq!(OutgoingHooks::new(None).source_ip(), None);
        assert_eq!(
            OutgoingHooks::new(Some(Ipv4Addr::LOCALHOST.into())).source_ip(),
            None
        );
        assert_eq!(
            OutgoingHooks::new(Some(Ipv4Addr::UNSPECIFIED.into())).source_ip(),
            None
        );
        let pod: IpAddr = Ipv4Addr::new(10, 42, 0, 7).into();
        assert_eq!(OutgoingHooks::new(Some(pod)).source_ip(), Some(pod));
    }

    #[test]
    fn tls_names_come_from_the_authority() {
        use rustls::pki_types::ServerName;
        assert_eq!(
            tls_server_name("example.com:443").ok(),
            ServerName::try_from("example.com").ok()
        );
        assert_eq!(
            tls_server_name("10.43.0.1:8443").ok(),
            Some(ServerName::from(IpAddr::from(Ipv4Addr::new(10, 43, 0, 1))))
        );
        assert_eq!(
            tls_server_name("[::1]:443").ok(),
            Some(ServerName::from(IpAddr::from(Ipv6Addr::LOCALHOST)))
        );
    }

    #[test]
    fn timeouts_default_as_wasmtime_does() {
        let t = Timeouts::new(None);
        assert_eq!(
            (t.connect, t.first_byte, t.between_bytes),
            (DEFAULT_TIMEOUT, DEFAULT_TIMEOUT, DEFAULT_TIMEOUT)
        );
        let t = Timeouts::new(Some(RequestOptions {
            connect_timeout: Some(Duration::from_millis(5)),
            first_byte_timeout: None,
            between_bytes_timeout: Some(Duration::ZERO),
        }));
        assert_eq!(t.connect, Duration::from_millis(5));
        assert_eq!(t.between_bytes, Duration::from_nanos(1));
    }
}
