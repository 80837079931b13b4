//! A real API server in this process for controller tests: the controller
//! under test and the test itself are clients of it, as in `skiff up`.

#![allow(dead_code, reason = "each test binary uses part of the support")]

use std::time::{Duration, Instant};

use skiff_apiserver::auth::User;

/// An API server on a temporary data dir, listening on loopback.
pub struct ApiServer {
    /// Kept for the server's lifetime.
    _dir: tempfile::TempDir,
    server: Option<skiff_apiserver::Server>,
    router: axum::Router,
}

const TOKEN: &str = "controller-test-token";

impl ApiServer {
    /// Starts one.
    pub async fn start() -> anyhow::Result<ApiServer> {
        let dir = tempfile::tempdir()?;
        let mut cfg = skiff_apiserver::Config::new(dir.path().to_path_buf());
        cfg.listen = "127.0.0.1:0".parse()?;
        cfg.extra_tokens = vec![(
            TOKEN.to_owned(),
            User {
                name: "system:kube-controller-manager".into(),
                uid: "kcm".into(),
                groups: vec!["system:masters".into(), "system:authenticated".into()],
            },
        )];
        let server = skiff_apiserver::start(cfg).await?;
        let router = skiff_apiserver::router(server.api.clone());
        Ok(ApiServer {
            _dir: dir,
            server: Some(server),
            router,
        })
    }

    /// A client of it, in process.
    pub fn client(&self) -> kube::Client {
        skiff_client::connect::in_process(self.router.clone(), TOKEN).expect("client")
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
    }
}

/// Polls `check` every 20 ms until it returns `Some`, failing after
/// `within` with `what` in the message.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
