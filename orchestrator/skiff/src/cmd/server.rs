//! `skiff server`: the API server until SIGINT or SIGTERM.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{ServerArgs, default_data_dir};

/// Runs the API server.
pub fn run(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let mut cfg = skiff_apiserver::Config::new(args.data_dir.unwrap_or_else(default_data_dir));
        cfg.listen = args.listen;
        cfg.extra_sans = args.tls_san;
        let server = skiff_apiserver::start(cfg)
            .await
            .context("starting the API server")?;
        println!(
            "Skiff API server listening on https://{}",
            server.local_addr
        );
        println!("kubeconfig: {}", server.kubeconfig.display());
        super::shutdown_signal().await?;
        tracing::info!("shutting down");
        server.stop().await;
        Ok(ExitCode::SUCCESS)
    })
}
