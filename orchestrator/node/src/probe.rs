//! Container probes as the kubelet runs them: `exec` (through the
//! runtime's `exec_sync`), `httpGet`, `tcpSocket` and `grpc`
//! (`grpc.health.v1.Health/Check`), each bounded by `timeoutSeconds`.
//!
//! One [`Prober`] task per container run runs the startup probe until it
//! succeeds, then the liveness and readiness probes side by side, every
//! `periodSeconds` after `initialDelaySeconds`. It reports every failed
//! attempt (the worker posts the kubelet's `Unhealthy` event) and every
//! change of the thresholded result (`successThreshold` /
//! `failureThreshold`) to the pod worker, which marks the container
//! started or ready, or kills it. Dropping the [`Prober`] stops it, so the
//! probes end with the run they belong to.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo};
use k8s_openapi::api::core::v1::{
    ContainerPort, ExecAction, GRPCAction, HTTPGetAction, Probe, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use skiff_runtime::{Runtime, RuntimeError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Which probe of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `startupProbe`: gates the other two.
    Startup,
    /// `livenessProbe`: failure restarts the container.
    Liveness,
    /// `readinessProbe`: drives `ready`.
    Readiness,
}

impl Kind {
    /// The word the kubelet's messages use (`Liveness probe failed: …`).
    pub fn title(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }
}

/// Why one probe attempt failed; the message follows the kubelet's.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The command ran and exited non-zero.
    #[error("command {cmd:?} exited with {code}: {output}")]
    ExitCode {
        /// The probe command.
        cmd: Vec<String>,
        /// Its exit code.
        code: i32,
        /// Its stdout and stderr, trimmed.
        output: String,
    },
    /// The runtime could not run the command (Wasm containers have no exec).
    #[error("exec probe: {0}")]
    Exec(#[source] RuntimeError),
    /// An HTTP answer outside 200–399.
    #[error("HTTP probe failed with statuscode: {0}")]
    Status(u16),
    /// Connecting, TLS or the HTTP exchange failed.
    #[error("Get \"{url}\": {message}")]
    Http {
        /// The URL asked for.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The TCP connection was refused or failed.
    #[error("dial tcp {addr}: {source}")]
    Dial {
        /// Where to.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The gRPC health service answered other than SERVING, or not at all.
    #[error("{0}")]
    Grpc(String),
    /// No answer within `timeoutSeconds`.
    #[error("timeout: no answer within {0:?}")]
    Timeout(Duration),
    /// The probe names something that does not exist or cannot be probed.
    #[error("{0}")]
    Invalid(String),
}

/// What a probe attempt needs of its container.
#[derive(Clone)]
pub struct Target {
    /// The pod's address: the default host of network probes.
    pub pod_ip: Option<IpAddr>,
    /// The runtime running the container (exec probes fail without one).
    pub runtime: Option<Arc<dyn Runtime>>,
    /// The runtime's container id of this run.
    pub container_id: String,
    /// The container's declared ports (named ports resolve through them).
    pub ports: Vec<ContainerPort>,
}

/// The kubelet's defaults, for probes that skipped API defaulting.
fn secs(v: Option<i32>, default: i32) -> Duration {
    Duration::from_secs(u64::try_from(v.unwrap_or(default).max(0)).unwrap_or(0))
}

/// How long one attempt may take (`timeoutSeconds`, at least 1 s).
pub fn timeout(p: &Probe) -> Duration {
    secs(p.timeout_seconds, 1).max(Duration::from_secs(1))
}

/// Runs one attempt of `p` against `t`.
pub async fn check(p: &Probe, t: &Target) -> Result<(), ProbeError> {
    let limit = timeout(p);
    let attempt = async {
        if let Some(e) = &p.exec {
            exec(e, t, limit).await
        } else if let Some(h) = &p.http_get {
            http_get(h, t).await
        } else if let Some(s) = &p.tcp_socket {
            tcp_socket(s, t).await
        } else if let Some(g) = &p.grpc {
            grpc(g, t).await
        } else {
            Err(ProbeError::Invalid(
                "probe has no exec, httpGet, tcpSocket or grpc handler".into(),
            ))
        }
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(r) => r,
        Err(_) => Err(ProbeError::Timeout(limit)),
    }
}

async fn exec(e: &ExecAction, t: &Target, limit: Duration) -> Result<(), ProbeError> {
    let cmd = e.command.clone().unwrap_or_default();
    if cmd.is_empty() {
        return Err(ProbeError::Invalid("exec probe has no command".into()));
    }
    let Some(runtime) = &t.runtime else {
        return Err(ProbeError::Invalid(
            "no runtime to run an exec probe in".into(),
        ));
    };
    let out = runtime
        .exec_sync(&t.container_id, &cmd, limit)
        .await
        .map_err(ProbeError::Exec)?;
    if out.exit_code == 0 {
        return Ok(());
    }
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    Err(ProbeError::ExitCode {
        cmd,
        code: out.exit_code,
        output: output.trim().chars().take(1024).collect(),
    })
}

/// `port` as a number, or the named port of the container.
fn resolve_port(port: &IntOrString, ports: &[ContainerPort]) -> Result<u16, ProbeError> {
    let n = match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => match s.parse::<i32>() {
            Ok(n) => n,
            Err(_) => ports
                .iter()
                .find(|p| p.name.as_deref() == Some(s.as_str()))
                .map(|p| p.container_port)
                .ok_or_else(|| ProbeError::Invalid(format!("no container port named {s:?}")))?,
        },
    };
    u16::try_from(n)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| ProbeError::Invalid(format!("port {n} out of range")))
}

fn host(set: Option<&str>, t: &Target) -> Result<String, ProbeError> {
    match set.filter(|h| !h.is_empty()) {
        Some(h) => Ok(h.to_owned()),
        None => t
            .pod_ip
            .map(|ip| ip.to_string())
            .ok_or_else(|| ProbeError::Invalid("the pod has no IP to probe".into())),
    }
}

async fn dial(host: &str, port: u16) -> Result<TcpStream, ProbeError> {
    let addr = match host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| ProbeError::Invalid(format!("cannot resolve host {host:?}")))?,
    };
    TcpStream::connect(addr)
        .await
        .map_err(|source| ProbeError::Dial { addr, source })
}

async fn tcp_socket(s: &TCPSocketAction, t: &Target) -> Result<(), ProbeError> {
    let host = host(s.host.as_deref(), t)?;
    let port = resolve_port(&s.port, &t.ports)?;
    dial(&host, port).await.map(drop)
}

/// The kubelet follows at most this many redirects.
const MAX_REDIRECTS: usize = 10;

async fn http_get(h: &HTTPGetAction, t: &Target) -> Result<(), ProbeError> {
    let host = host(h.host.as_deref(), t)?;
    let port = resolve_port(&h.port, &t.ports)?;
    let tls = h.scheme.as_deref() == Some("HTTPS");
    let mut path = h.path.clone().unwrap_or_else(|| "/".into());
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let headers: Vec<(String, String)> = h
        .http_headers
        .iter()
        .flatten()
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect();
    for _ in 0..=MAX_REDIRECTS {
        let scheme = if tls { "https" } else { "http" };
        let authority = match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
            _ => format!("{host}:{port}"),
        };
        let url = format!("{scheme}://{authority}{path}");
        let fail = |message: String| ProbeError::Http {
            url: url.clone(),
            message,
        };
        // As the kubelet: `Get "<url>": dial tcp …`.
        let stream = dial(&host, port).await.map_err(|e| fail(e.to_string()))?;
        let (status, location) = if tls {
            let stream = tls_connect(stream, &host).await.map_err(fail)?;
            http1_get(stream, &authority, &path, &headers).await
        } else {
            http1_get(stream, &authority, &path, &headers).await
        }
        .map_err(fail)?;
        if !(300..400).contains(&status) {
            return if (200..400).contains(&status) {
                Ok(())
            } else {
                Err(ProbeError::Status(status))
            };
        }
        // As the kubelet: follow a redirect only on the same host; one
        // elsewhere counts as success (the 3xx itself is in range).
        match location.and_then(|l| same_host_path(&l, &host)) {
            Some(next) => path = next,
            None => return Ok(()),
        }
    }
    Err(ProbeError::Http {
        url: format!("{host}:{port}"),
        message: format!("stopped after {MAX_REDIRECTS} redirects"),
    })
}

/// The path to follow if `location` stays on `host` (relative locations
/// do).
fn same_host_path(location: &str, host: &str) -> Option<String> {
    if location.starts_with('/') && !location.starts_with("//") {
        return Some(location.to_owned());
    }
    let rest = location
        .strip_prefix("http://")
        .or_else(|| location.strip_prefix("https://"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let h = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    (h == host).then(|| {
        if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        }
    })
}

/// One GET; its status and `Location`.
async fn http1_get<S>(
    stream: S,
    authority: &str,
    path: &str,
    headers: &[(String, String)],
) -> Result<(u16, Option<String>), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let conn = tokio::spawn(conn);
    let mut req = http::Request::get(path)
        .header(http::header::USER_AGENT, "kube-probe/1.33")
        .header(http::header::ACCEPT, "*/*");
    let mut has_host = false;
    for (k, v) in headers {
        has_host |= k.eq_ignore_ascii_case("host");
        req = req.header(k.as_str(), v.as_str());
    }
    if !has_host {
        req = req.header(http::header::HOST, authority);
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("bad probe request: {e}"))?;
    let resp = send.send_request(req).await.map_err(|e| e.to_string());
    let out = resp.map(|resp| {
        let location = resp
            .headers()
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (resp.status().as_u16(), location)
    });
    conn.abort();
    out
}

/// TLS without certificate verification, as the kubelet's probes.
async fn tls_connect(
    stream: TcpStream,
    host: &str,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let cfg = skiff_client::tls::any_server_cert().map_err(|e| e.to_string())?;
    let name = rustls_pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| format!("bad TLS server name {host:?}: {e}"))?;
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, stream)
        .await
        .map_err(|e| e.to_string())
}

/// `grpc.health.v1.Health/Check` over plaintext HTTP/2 (the kubelet's
/// gRPC probe uses no TLS); the protobuf messages are small enough to
/// encode by hand rather than pull in a gRPC stack.
async fn grpc(g: &GRPCAction, t: &Target) -> Result<(), ProbeError> {
    let host = host(None, t)?;
    let port = u16::try_from(g.port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| ProbeError::Invalid(format!("port {} out of range", g.port)))?;
    let addr = format!("{host}:{port}");
    let fail = |m: String| ProbeError::Grpc(format!("failed to connect service {addr:?}: {m}"));
    let stream = dial(&host, port).await?;
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|e| fail(e.to_string()))?;
    let conn = tokio::spawn(conn);
    let service = g.service.clone().unwrap_or_default();
    let req = http::Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers")
        .header(http::header::USER_AGENT, "kube-probe/1.33")
        .body(Full::new(Bytes::from(grpc_request(&service))))
        .map_err(|e| fail(e.to_string()))?;
    let result = async {
        let resp = send
            .send_request(req)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let header_status = grpc_status(resp.headers());
        let collected = Limited::new(resp.into_body(), 64 * 1024)
            .collect()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let trailer_status = collected.trailers().and_then(grpc_status);
        let code = trailer_status.or(header_status).unwrap_or(2);
        if code != 0 {
            return Err(ProbeError::Grpc(format!(
                "health rpc failed with grpc-status {code}"
            )));
        }
        match health_status(&collected.to_bytes()) {
            Some(1) => Ok(()),
            other => Err(ProbeError::Grpc(format!(
                "service unhealthy (responded with {:?})",
                serving_name(other)
            ))),
        }
    }
    .await;
    conn.abort();
    result
}

fn grpc_status(h: &http::HeaderMap) -> Option<u32> {
    h.get("grpc-status")?.to_str().ok()?.parse().ok()
}

/// A length-prefixed `HealthCheckRequest { service }`.
fn grpc_request(service: &str) -> Vec<u8> {
    let mut msg = Vec::new();
    if !service.is_empty() {
        msg.push(0x0a); // field 1, length-delimited
        let mut n = service.len();
        while n >= 0x80 {
            msg.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        msg.push(n as u8);
        msg.extend_from_slice(service.as_bytes());
    }
    let mut out = vec![0u8];
    out.extend_from_slice(&u32::try_from(msg.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&msg);
    out
}

/// `HealthCheckResponse.status` from one length-prefixed message; an
/// empty message is the default, UNKNOWN (0).
fn health_status(frame: &[u8]) -> Option<u64> {
    let body = frame.get(5..)?;
    let mut i = 0;
    let mut status = 0;
    while i < body.len() {
        let tag = body[i];
        i += 1;
        let mut v: u64 = 0;
        let mut shift = 0;
        loop {
            let b = *body.get(i)?;
            i += 1;
            v |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 || shift > 63 {
                break;
            }
        }
        match tag {
            0x08 => status = v,
            // Unknown varint fields are skipped; anything else is not a
            // HealthCheckResponse.
            t if t & 7 == 0 => {}
            _ => return None,
        }
    }
    Some(status)
}

fn serving_name(s: Option<u64>) -> &'static str {
    match s {
        Some(0) => "UNKNOWN",
        Some(1) => "SERVING",
        Some(2) => "NOT_SERVING",
        Some(3) => "SERVICE_UNKNOWN",
        _ => "unparsable response",
    }
}

/// What a [`Prober`] tells the pod worker.
#[derive(Debug)]
pub struct Report {
    /// Index of the container in the pod spec.
    pub index: usize,
    /// The run the probe belongs to (stale reports are ignored).
    pub container_id: String,
    /// Which probe.
    pub kind: Kind,
    /// This attempt's failure, if it failed (the `Unhealthy` event).
    pub failure: Option<String>,
    /// The thresholded result when it changed: `true` succeeded
    /// (`successThreshold` in a row), `false` failed (`failureThreshold`).
    pub changed: Option<bool>,
}

/// A container's probes; dropping it stops them.
pub struct Prober(tokio::task::JoinHandle<()>);

impl Drop for Prober {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The probes of one container, as its spec gives them.
#[derive(Clone, Default)]
pub struct Probes {
    /// `startupProbe`.
    pub startup: Option<Probe>,
    /// `livenessProbe`.
    pub liveness: Option<Probe>,
    /// `readinessProbe`.
    pub readiness: Option<Probe>,
}

impl Probes {
    /// The probes of container `c`.
    pub fn of(c: &k8s_openapi::api::core::v1::Container) -> Self {
        Probes {
            startup: c.startup_probe.clone(),
            liveness: c.liveness_probe.clone(),
            readiness: c.readiness_probe.clone(),
        }
    }

    /// Whether there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.startup.is_none() && self.liveness.is_none() && self.readiness.is_none()
    }
}

impl Prober {
    /// Starts probing container `index` (run `target.container_id`).
    pub fn start(
        index: usize,
        probes: Probes,
        target: Target,
        tx: mpsc::UnboundedSender<Report>,
    ) -> Self {
        Prober(tokio::spawn(async move {
            let target = Arc::new(target);
            if let Some(p) = &probes.startup
                && !run_until(index, Kind::Startup, p, &target, &tx, true).await
            {
                return;
            }
            let live = async {
                if let Some(p) = &probes.liveness {
                    run_until(index, Kind::Liveness, p, &target, &tx, false).await;
                }
            };
            let ready = async {
                if let Some(p) = &probes.readiness {
                    run_until(index, Kind::Readiness, p, &target, &tx, false).await;
                }
            };
            tokio::join!(live, ready);
        }))
    }
}

/// Probes every period. With `until_success` (the startup probe) returns
/// true on the first thresholded success; otherwise runs until a liveness
/// failure (the container is then killed) or forever. Returns false when
/// the receiver is gone or the probe failed for good.
async fn run_until(
    index: usize,
    kind: Kind,
    p: &Probe,
    t: &Target,
    tx: &mpsc::UnboundedSender<Report>,
    until_success: bool,
) -> bool {
    tokio::time::sleep(secs(p.initial_delay_seconds, 0)).await;
    let period = secs(p.period_seconds, 10).max(Duration::from_secs(1));
    // Startup and liveness probes must have successThreshold 1.
    let success_threshold = if kind == Kind::Readiness {
        p.success_threshold.unwrap_or(1).max(1)
    } else {
        1
    };
    let failure_threshold = p.failure_threshold.unwrap_or(3).max(1);
    let (mut successes, mut failures) = (0, 0);
    // Unknown until the first result: readiness starts out false, so the
    // first success must be reported.
    let mut current: Option<bool> = None;
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let result = check(p, t).await;
        let failure = result.as_ref().err().map(ToString::to_string);
        if failure.is_some() {
            failures += 1;
            successes = 0;
        } else {
            successes += 1;
            failures = 0;
        }
        let now = if successes >= success_threshold {
            Some(true)
        } else if failures >= failure_threshold {
            Some(false)
        } else {
            current
        };
        let changed = (now != current && now.is_some()).then_some(now).flatten();
        if failure.is_some() || changed.is_some() {
            let report = Report {
                index,
                container_id: t.container_id.clone(),
                kind,
                failure,
                changed,
            };
            if tx.send(report).is_err() {
                return false;
            }
        }
        current = now;
        match (kind, changed) {
            (_, Some(true)) if until_success => return true,
            (Kind::Startup | Kind::Liveness, Some(false)) => return false,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(ports: Vec<ContainerPort>) -> Target {
        Target {
            pod_ip: Some(IpAddr::from([127, 0, 0, 1])),
            runtime: None,
            container_id: "c1".into(),
            ports,
        }
    }

    /// A server on loopback answering each path with its status.
    async fn server() -> u16 {
        use axum::http::{HeaderMap, StatusCode, header};
        use axum::response::IntoResponse;
        use axum::routing::get;
        let app = axum::Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
            .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
            .route(
                "/away",
                get(|| async {
                    (
                        StatusCode::FOUND,
                        [(header::LOCATION, "http://example.invalid/fail")],
                    )
                }),
            )
            .route(
                "/here",
                get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/fail")]) }),
            )
            .route(
                "/header",
                get(|h: HeaderMap| async move {
                    if h.get("x-probe").is_some_and(|v| v == "yes") {
                        StatusCode::OK.into_response()
                    } else {
                        StatusCode::BAD_REQUEST.into_response()
                    }
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "late"
                }),
            );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(l, app).await });
        port
    }

    fn http_probe(port: IntOrString, path: &str, headers: &[(&str, &str)]) -> Probe {
        Probe {
            http_get: Some(HTTPGetAction {
                path: Some(path.into()),
                port,
                http_headers: Some(
                    headers
                        .iter()
                        .map(|(n, v)| k8s_openapi::api::core::v1::HTTPHeader {
                            name: (*n).into(),
                            value: (*v).into(),
                        })
                        .collect(),
                ),
                ..HTTPGetAction::default()
            }),
            timeout_seconds: Some(1),
            ..Probe::default()
        }
    }

    #[tokio::test]
    async fn http_status_decides() {
        let port = server().await;
        let t = target(vec![ContainerPort {
            name: Some("web".into()),
            container_port: i32::from(port),
            ..ContainerPort::default()
        }]);
        let p = |path: &str| http_probe(IntOrString::Int(i32::from(port)), path, &[]);
        check(&p("/ok"), &t).await.unwrap();
        let e = check(&p("/fail"), &t).await.unwrap_err();
        assert_eq!(e.to_string(), "HTTP probe failed with statuscode: 500");
        assert!(matches!(
            check(&p("/missing"), &t).await,
            Err(ProbeError::Status(404))
        ));
        // A redirect to the same host is followed; one elsewhere is not.
        assert!(matches!(
            check(&p("/here"), &t).await,
            Err(ProbeError::Status(500))
        ));
        check(&p("/away"), &t).await.unwrap();
        // Named port and headers.
        let named = http_probe(
            IntOrString::String("web".into()),
            "/header",
            &[("X-Probe", "yes")],
        );
        check(&named, &t).await.unwrap();
        let bad = http_probe(IntOrString::String("nope".into()), "/ok", &[]);
        assert!(matches!(check(&bad, &t).await, Err(ProbeError::Invalid(_))));
        assert!(matches!(
            check(&p("/slow"), &t).await,
            Err(ProbeError::Timeout(_))
        ));
    }

    #[tokio::test]
    async fn tcp_open_and_closed_ports() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = l.local_addr().unwrap().port();
        let probe = |port: u16| Probe {
            tcp_socket: Some(TCPSocketAction {
                host: None,
                port: IntOrString::Int(i32::from(port)),
            }),
            ..Probe::default()
        };
        let t = target(Vec::new());
        check(&probe(open), &t).await.unwrap();
        drop(l);
        assert!(matches!(
            check(&probe(open), &t).await,
            Err(ProbeError::Dial { .. })
        ));
    }

    #[tokio::test]
    async fn exec_without_runtime_support_fails_with_a_message() {
        let p = Probe {
            exec: Some(ExecAction {
                command: Some(vec!["true".into()]),
            }),
            ..Probe::default()
        };
        let e = check(&p, &target(Vec::new())).await;
        assert!(e.is_err());
    }

    #[tokio::test]
    async fn https_skips_certificate_verification() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let cfg = crate::server::tls_config(vec!["not-this-host".into()]).unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = l.accept().await {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    continue;
                };
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls
                    .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                    .await;
                let _ = tls.shutdown().await;
            }
        });
        let mut p = http_probe(IntOrString::Int(i32::from(port)), "/", &[]);
        if let Some(h) = p.http_get.as_mut() {
            h.scheme = Some("HTTPS".into());
        }
        check(&p, &target(Vec::new())).await.unwrap();
    }

    /// A gRPC health server on loopback answering `status`.
    async fn grpc_server(status: u8) -> u16 {
        use http_body_util::StreamBody;
        use hyper::body::Frame;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = l.accept().await {
                let svc = hyper::service::service_fn(
                    move |req: http::Request<hyper::body::Incoming>| async move {
                        assert_eq!(req.uri().path(), "/grpc.health.v1.Health/Check");
                        let mut trailers = http::HeaderMap::new();
                        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = vec![
                            Ok(Frame::data(Bytes::from(vec![0, 0, 0, 0, 2, 0x08, status]))),
                            Ok(Frame::trailers(trailers)),
                        ];
                        let body = StreamBody::new(futures::stream::iter(frames));
                        http::Response::builder()
                            .header("content-type", "application/grpc")
                            .body(body)
                    },
                );
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), svc),
                );
            }
        });
        port
    }

    #[tokio::test]
    async fn grpc_health_check() {
        let probe = |port: u16| Probe {
            grpc: Some(GRPCAction {
                port: i32::from(port),
                service: Some("svc".into()),
            }),
            ..Probe::default()
        };
        let t = target(Vec::new());
        check(&probe(grpc_server(1).await), &t).await.unwrap();
        let e = check(&probe(grpc_server(2).await), &t).await.unwrap_err();
        assert!(e.to_string().contains("NOT_SERVING"), "{e}");
    }

    #[test]
    fn redirect_hosts_and_grpc_encoding() {
        assert_eq!(same_host_path("/x", "10.0.0.1").as_deref(), Some("/x"));
        assert_eq!(
            same_host_path("http://10.0.0.1:80/y", "10.0.0.1").as_deref(),
            Some("/y")
        );
        assert_eq!(same_host_path("http://other/y", "10.0.0.1"), None);
        assert_eq!(same_host_path("//other/y", "10.0.0.1"), None);
        assert_eq!(grpc_request(""), vec![0, 0, 0, 0, 0]);
        assert_eq!(grpc_request("a"), vec![0, 0, 0, 0, 3, 0x0a, 1, b'a']);
        assert_eq!(health_status(&[0, 0, 0, 0, 2, 0x08, 1]), Some(1));
        assert_eq!(health_status(&[0, 0, 0, 0, 0]), Some(0));
        assert_eq!(
            serving_name(health_status(&[0, 0, 0, 0, 2, 0x08, 2])),
            "NOT_SERVING"
        );
    }
}
