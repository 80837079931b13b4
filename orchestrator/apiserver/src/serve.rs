//! Start-up and the HTTPS listener.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use serde_json::Value;
use skiff_api::status::ApiError;
use skiff_store::{RedbConfig, RedbStore, Store};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::{Authenticator, User};
use crate::handlers::{self, error_response, json_response};
use crate::state::{Api, Limits};
use crate::{bootstrap, crd, discovery, pki};

/// How the API server is started.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the store, certificates, tokens and kubeconfig live.
    pub data_dir: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Extra names and addresses for the serving certificate.
    pub extra_sans: Vec<String>,
    /// Request limits.
    pub limits: Limits,
    /// Store tuning.
    pub store: RedbConfig,
    /// Tokens accepted besides those in `tokens.csv`, not written to it: the
    /// identities of in-process components (`skiff up`), new each start.
    pub extra_tokens: Vec<(String, User)>,
}

impl Config {
    /// Defaults: port 6443 on all addresses, as k3s.
    pub fn new(data_dir: PathBuf) -> Self {
        Config {
            data_dir,
            listen: SocketAddr::from(([0, 0, 0, 0], 6443)),
            extra_sans: vec![],
            limits: Limits::default(),
            store: RedbConfig::default(),
            extra_tokens: vec![],
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory could not be prepared.
    #[error("preparing data directory {path}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The store could not be opened.
    #[error("opening the store")]
    Store(#[from] skiff_store::StoreError),
    /// Certificates or tokens could not be prepared.
    #[error("preparing TLS material")]
    Pki(#[from] pki::PkiError),
    /// The token file is unreadable.
    #[error("loading tokens")]
    Auth(#[from] crate::auth::AuthError),
    /// The listen address could not be bound.
    #[error("listening on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The first-start objects could not be created.
    #[error("creating the first-start objects: {0}")]
    Bootstrap(ApiError),
}

/// A running API server.
pub struct Server {
    /// The address it listens on.
    pub local_addr: SocketAddr,
    /// The admin kubeconfig it wrote.
    pub kubeconfig: PathBuf,
    /// The shared state, for in-process components.
    pub api: Arc<Api<RedbStore>>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Waits until the server stops.
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    /// Stops accepting connections and waits for the listener to end.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Opens the store, prepares certificates, tokens and first-start objects,
/// binds the listener and serves until stopped.
pub async fn start(cfg: Config) -> Result<Server, ServerError> {
    let dir = cfg.data_dir.clone();
    std::fs::create_dir_all(&dir).map_err(|source| ServerError::DataDir {
        path: dir.clone(),
        source,
    })?;
    let store_cfg = cfg.store.clone();
    let db = dir.join("state.redb");
    let store = tokio::task::spawn_blocking(move || RedbStore::open(&db, store_cfg))
        .await
        .map_err(|e| ServerError::DataDir {
            path: dir.clone(),
            source: std::io::Error::other(e),
        })??;
    let host = hostname();
    let mut sans = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
        "kubernetes".to_owned(),
        "kubernetes.default".to_owned(),
        "kubernetes.default.svc".to_owned(),
        "kubernetes.default.svc.cluster.local".to_owned(),
        "10.43.0.1".to_owned(),
        host,
    ];
    if !cfg.listen.ip().is_unspecified() {
        sans.push(cfg.listen.ip().to_string());
    }
    sans.extend(cfg.extra_sans.iter().cloned());
    let pki = pki::ensure(&dir.join("tls"), &sans)?;
    let tokens = dir.join("tokens.csv");
    if !tokens.exists() {
        pki::write_private(
            &tokens,
            &format!("{},admin,admin,\"system:masters\"\n", pki.admin_token),
        )?;
    }
    let mut auth = Authenticator::from_file(&tokens)?;
    for (token, user) in &cfg.extra_tokens {
        auth.add(token, user.clone());
    }
    let api = Arc::new(Api::new(store, auth, cfg.limits.clone()));
    crd::load_all(&api).await?;
    crate::alloc::repair(&api).await?;
    bootstrap::ensure(&api)
        .await
        .map_err(ServerError::Bootstrap)?;
    let tls = Arc::new(pki::server_config(&pki)?);
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: cfg.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: cfg.listen,
        source,
    })?;
    let server_host = if cfg.listen.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        cfg.listen.ip().to_string()
    };
    let server_url = match local_addr {
        SocketAddr::V6(_) if server_host.contains(':') => {
            format!("https://[{server_host}]:{}", local_addr.port())
        }
        _ => format!("https://{server_host}:{}", local_addr.port()),
    };
    let kubeconfig = dir.join("kubeconfig.yaml");
    pki::write_private(
        &kubeconfig,
        &pki::kubeconfig(&server_url, &pki.ca_pem, "admin", &pki.admin_token),
    )?;
    let app = router(api.clone());
    let (shutdown, rx) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, tls, app, rx));
    tracing::info!(%local_addr, kubeconfig = %kubeconfig.display(), "API server ready");
    Ok(Server {
        local_addr,
        kubeconfig,
        api,
        shutdown,
        task,
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let stream = match acceptor.accept(tcp).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let svc = hyper_util::service::TowerToHyperService::new(app);
            let builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            if let Err(e) = builder
                .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

/// The API server's HTTP service, without TLS: what in-process components
/// call through their `kube::Client`, and what the listener serves.
pub fn router<S: Store>(api: Arc<Api<S>>) -> Router {
    use axum::routing::get;
    Router::new()
        .route(
            "/version",
            get(|| async { json_response(StatusCode::OK, &discovery::version()) }),
        )
        .route("/healthz", get(ok))
        .route("/livez", get(ok))
        .route("/readyz", get(ok))
        .route("/openapi/v2", get(openapi_v2::<S>))
        .route(
            "/swagger-2.0.0.pb-v1",
            get(|State(api): State<Arc<Api<S>>>| async move { openapi_v2_protobuf(&api) }),
        )
        .route("/openapi/v3", get(openapi_v3_index::<S>))
        .route("/openapi/v3/{*gv}", get(openapi_v3::<S>))
        .fallback(resources::<S>)
        .layer(middleware::from_fn_with_state(
            api.clone(),
            authenticate::<S>,
        ))
        .with_state(api)
}

async fn ok() -> &'static str {
    "ok"
}

/// Paths anyone may read, as Kubernetes' `system:public-info-viewer`.
fn is_public(path: &str) -> bool {
    matches!(path, "/healthz" | "/livez" | "/readyz" | "/version")
}

async fn authenticate<S: Store>(
    State(api): State<Arc<Api<S>>>,
    mut req: Request,
    next: Next,
) -> Response {
    match api.auth.authenticate(req.headers()) {
        Some(user) => {
            req.extensions_mut().insert(user);
            next.run(req).await
        }
        None if is_public(req.uri().path()) => next.run(req).await,
        None => error_response(&ApiError::unauthorized()),
    }
}

async fn openapi_v2<S: Store>(
    State(api): State<Arc<Api<S>>>,
    headers: http::HeaderMap,
) -> Response {
    use skiff_api::openapi::{V2Format, negotiate_v2};
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match negotiate_v2(accept) {
        Some(V2Format::Json) => cached_json(&api, "v2", |reg| Some(skiff_api::openapi::v2(reg))),
        Some(V2Format::Protobuf) => openapi_v2_protobuf(&api),
        None => error_response(&ApiError::new(
            skiff_api::status::Reason::NotAcceptable,
            "/openapi/v2 is served as application/json or application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
        )),
    }
}

/// `/openapi/v2` in gnostic protobuf, as kubectl up to 1.27 reads it.
fn openapi_v2_protobuf<S: Store>(api: &Api<S>) -> Response {
    let bytes = api.cached("v2pb", || {
        match skiff_api::openapi::v2_protobuf(&skiff_api::openapi::v2(&api.registry())) {
            Ok(b) => Some(Bytes::from(b)),
            Err(e) => {
                tracing::error!(error = %e, "cannot encode /openapi/v2 as protobuf");
                None
            }
        }
    });
    let Some(bytes) = bytes else {
        return error_response(&ApiError::internal(
            "/openapi/v2 cannot be encoded as protobuf",
        ));
    };
    let mut r = Response::new(Body::from(bytes));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(skiff_api::openapi::V2_PROTOBUF_CONTENT_TYPE),
    );
    r
}

async fn openapi_v3_index<S: Store>(State(api): State<Arc<Api<S>>>) -> Response {
    cached_json(&api, "v3", |reg| Some(skiff_api::openapi::v3_index(reg)))
}

async fn openapi_v3<S: Store>(
    State(api): State<Arc<Api<S>>>,
    axum::extract::Path(gv): axum::extract::Path<String>,
) -> Response {
    let parts: Vec<&str> = gv.split('/').collect();
    let (group, version) = match parts.as_slice() {
        ["api", v] => ("", *v),
        ["apis", g, v] => (*g, *v),
        _ => return error_response(&ApiError::no_route()),
    };
    let (group, version) = (group.to_owned(), version.to_owned());
    cached_json(&api, &format!("v3/{gv}"), move |reg| {
        skiff_api::openapi::v3_group_version(reg, &group, &version)
    })
}

fn cached_json<S: Store>(
    api: &Api<S>,
    key: &str,
    make: impl FnOnce(&skiff_api::registry::Registry) -> Option<Value>,
) -> Response {
    let bytes = match api.cached(key, || {
        make(&api.registry()).map(|v| Bytes::from(serde_json::to_vec(&v).unwrap_or_default()))
    }) {
        Some(b) => b,
        None => return error_response(&ApiError::no_route()),
    };
    let mut r = Response::new(Body::from(bytes));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// How much of an oversized body is read and thrown away before the 413,
/// so that an HTTP/1.1 client still writing it reads the Status instead of
/// a broken pipe; anything larger has its connection closed.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// Reads a body of at most `limit` bytes; past that, drains and fails.
async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ()> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return Err(()) };
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                drain(body, DRAIN_LIMIT.saturating_sub(buf.len())).await;
                return Err(());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// Reads and discards up to `max` more bytes of a body.
async fn drain(mut body: Body, max: usize) {
    use http_body_util::BodyExt;
    let mut seen = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen > max {
                return;
            }
        }
    }
}

/// Discovery under `/api` and `/apis`, and every resource request.
async fn resources<S: Store>(State(api): State<Arc<Api<S>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let user = parts
        .extensions
        .get::<User>()
        .cloned()
        .unwrap_or_else(|| User {
            name: "system:anonymous".into(),
            uid: String::new(),
            groups: vec!["system:unauthenticated".into()],
        });
    if let Some(t) = crate::route::parse(parts.uri.path())
        && handlers::node_proxy::handles(&t)
    {
        let req = Request::from_parts(parts, body);
        return handlers::node_proxy::serve(api, req, t).await;
    }
    let path = parts.uri.path().trim_end_matches('/').to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if parts.method == http::Method::GET {
        let agg = discovery::aggregated(&parts.headers);
        let reg = api.registry();
        let doc = match (segments.as_slice(), agg) {
            (["api"], Some(v)) => Some(discovery::aggregated_list(&reg, true, v)),
            (["apis"], Some(v)) => Some(discovery::aggregated_list(&reg, false, v)),
            (["api"], None) => Some(discovery::core_versions()),
            (["apis"], None) => Some(discovery::group_list(&reg)),
            (["api", v], _) => discovery::resource_list(&reg, "", v),
            (["apis", g], _) => discovery::group(&reg, g),
            (["apis", g, v], _) => discovery::resource_list(&reg, g, v),
            _ => None,
        };
        if let Some(doc) = doc {
            let mut r = json_response(StatusCode::OK, &doc);
            if let (Some(v), ["api" | "apis"]) = (agg, segments.as_slice()) {
                let ct = format!(
                    "application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"
                );
                if let Ok(h) = HeaderValue::from_str(&ct) {
                    r.headers_mut().insert(http::header::CONTENT_TYPE, h);
                }
            }
            return r;
        }
        if matches!(
            segments.as_slice(),
            ["api" | "apis"] | ["api", _] | ["apis", _] | ["apis", _, _]
        ) {
            return error_response(&ApiError::no_route());
        }
    }
    let limit = api.limits.max_body;
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        drain(body, DRAIN_LIMIT).await;
        return error_response(&ApiError::too_large(limit));
    }
    let bytes = match read_limited(body, limit).await {
        Ok(b) => b,
        Err(()) => return error_response(&ApiError::too_large(limit)),
    };
    handlers::dispatch(api, parts.method, parts.uri, parts.headers, bytes, user).await
}
