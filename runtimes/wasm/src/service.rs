//! Serving a `wasi:http/incoming-handler` component over HTTP/1.1: one fresh
//! instance per request from the pre-instantiated `ProxyPre`, following the
//! embedding pattern documented by `wasmtime_wasi_http` (not a copy of
//! `wasmtime serve`'s worker machinery, which exists for instance reuse).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use wasmtime::Engine;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::command::{Outcome, classify};
use crate::host::Host;
use crate::spec::RunSpec;

/// A service's shared state: everything a request needs.
pub struct Service {
    engine: Engine,
    pre: ProxyPre<Host>,
    spec: Arc<RunSpec>,
    request_timeout: Duration,
}

impl Service {
    /// A service for this pre-instantiated component.
    pub fn new(
        engine: Engine,
        pre: ProxyPre<Host>,
        spec: Arc<RunSpec>,
        request_timeout: Duration,
    ) -> Arc<Service> {
        Arc::new(Service {
            engine,
            pre,
            spec,
            request_timeout,
        })
    }

    /// Handles one request in a fresh instance. Never fails: guest errors
    /// become 5xx answers, so a broken request does not break the connection.
    pub async fn handle<B>(
        self: &Arc<Self>,
        req: hyper::Request<B>,
    ) -> hyper::Response<HyperOutgoingBody>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let deadline = Instant::now() + self.request_timeout;
        let mut store = match self.spec.component_store(&self.engine, Some(deadline)) {
            Ok(s) => s,
            Err(e) => return error_response(500, &format!("cannot set up the instance: {e:#}")),
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let prepared = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)
            .and_then(|req| Ok((req, store.data_mut().http().new_response_outparam(tx)?)));
        let (req, out) = match prepared {
            Ok(p) => p,
            Err(e) => return error_response(400, &format!("bad request: {e:#}")),
        };
        let pre = self.pre.clone();
        // The guest keeps running after it hands back the response head
        // (it streams the body), so it runs in its own task.
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        });
        match rx.await {
            Ok(Ok(resp)) => resp,
            Ok(Err(code)) => error_response(500, &format!("the service failed: {code:?}")),
            Err(_) => {
                let why = match task.await {
                    Ok(Ok(())) => "the service returned without a response".to_owned(),
                    Ok(Err(e)) => {
                        let outcome = classify(&e, &self.spec);
                        if outcome.message.as_deref() == Some("deadline exceeded") {
                            return error_response(504, "request deadline exceeded");
                        }
                        outcome.message.unwrap_or_else(|| format!("{e:#}"))
                    }
                    Err(e) => format!("the request task failed: {e}"),
                };
                tracing::debug!("request failed: {why}");
                error_response(500, &why)
            }
        }
    }
}

fn error_response(status: u16, text: &str) -> hyper::Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from(format!("{text}\n")))
        .map_err(|e: Infallible| e.into())
        .boxed_unsync();
    let mut resp = hyper::Response::new(body);
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp
}

/// Accepts connections until `stop` carries a grace period, then lets open
/// connections finish for that long before cutting them off. Returns the
/// service's exit: 0 when every connection drained in time (a web server
/// that handles SIGTERM exits 0), killed otherwise.
pub async fn serve(
    listener: TcpListener,
    service: Arc<Service>,
    mut stop: watch::Receiver<Option<Duration>>,
) -> Outcome {
    let mut conns = JoinSet::new();
    let (close_tx, close_rx) = watch::channel(false);
    let grace = loop {
        tokio::select! {
            changed = stop.changed() => {
                match changed {
                    Ok(()) => if let Some(g) = *stop.borrow() { break g },
                    Err(_) => break Duration::ZERO,
                }
            }
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off
                        // rather than spin.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let svc = service.clone();
                let mut close = close_rx.clone();
                conns.spawn(async move {
                    let conn = http1::Builder::new().keep_alive(true).serve_connection(
                        TokioIo::new(stream),
                        hyper::service::service_fn(move |req| {
                            let svc = svc.clone();
                            async move { Ok::<_, Infallible>(svc.handle(req).await) }
                        }),
                    );
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        // The borrow wait_for returns must not live across the await below.
                        () = async { let _ = close.wait_for(|c| *c).await; } => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
                // Reap finished connections so the set does not grow.
                while conns.try_join_next().is_some() {}
            }
        }
    };
    drop(listener);
    let _ = close_tx.send(true);
    let drained =
        tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_ok() {
        Outcome::exited(0)
    } else {
        conns.abort_all();
        Outcome::killed("connections still open after the grace period")
    }
}

/// Binds the listener for a service.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
