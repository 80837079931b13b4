//! Building a `kube::Client` for a component, in process or across machines.
//!
//! In process (`skiff up`) the client is built on the API server's axum
//! router as a tower service: no socket and no TLS, but the full request
//! path (authentication, admission, watch), and each component carries its
//! own bearer token so the API server sees who it is. Across machines the
//! same identity travels as a bearer token over HTTPS.

use std::path::PathBuf;

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The token cannot be sent as a header.
    #[error("the bearer token is not a valid header value")]
    Token(#[from] http::header::InvalidHeaderValue),
    /// The generated kubeconfig was rejected.
    #[error("building the client configuration")]
    Config(#[from] kube::config::KubeconfigError),
    /// The HTTPS client could not be built.
    #[error("building the HTTPS client")]
    Client(#[from] kube::Error),
    /// Neither a CA nor an explicit opt-out was given.
    #[error(
        "give the server's CA certificate (DATA_DIR/tls/ca.crt) or opt out of verification explicitly"
    )]
    NoTrust,
}

/// A client that calls `router` in this process, authenticated as the
/// holder of `token`.
pub fn in_process(router: axum::Router, token: &str) -> Result<kube::Client, Error> {
    let auth = http::HeaderValue::from_str(&format!("Bearer {token}"))?;
    let svc = tower::ServiceBuilder::new()
        .map_request(move |req: http::Request<kube::client::Body>| {
            let mut req = req.map(axum::body::Body::new);
            req.headers_mut()
                .insert(http::header::AUTHORIZATION, auth.clone());
            req
        })
        .service(router);
    Ok(kube::Client::new(svc, "default"))
}

/// How a remote client trusts the server's certificate.
#[derive(Clone, Debug)]
pub enum Trust {
    /// Verify against this CA certificate file.
    Ca(PathBuf),
    /// Do not verify (the user asked for it by flag).
    InsecureSkipVerify,
}

/// A client for the API server at `server` (an `https://` URL),
/// authenticated with `token`.
pub async fn remote(server: &str, token: &str, trust: Trust) -> Result<kube::Client, Error> {
    let tls = match trust {
        Trust::Ca(ca) => format!(
            "certificate-authority: {}",
            yaml_str(&ca.display().to_string())
        ),
        Trust::InsecureSkipVerify => "insecure-skip-tls-verify: true".to_owned(),
    };
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: skiff\n  cluster:\n    server: {}\n    {tls}\nusers:\n- name: component\n  user:\n    token: {}\ncontexts:\n- name: skiff\n  context: {{cluster: skiff, user: component}}\ncurrent-context: skiff\n",
        yaml_str(server),
        yaml_str(token),
    );
    let kc = kube::config::Kubeconfig::from_yaml(&kubeconfig)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(kube::Client::try_from(cfg)?)
}

/// A YAML scalar for any string: JSON strings are valid YAML.
fn yaml_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}
