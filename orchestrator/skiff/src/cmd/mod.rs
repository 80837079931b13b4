//! One module per subcommand.

pub mod agent;
pub mod component;
pub mod images;
pub mod kubectl;
pub mod run;
pub mod server;
pub mod up;

/// Waits for SIGINT (Ctrl-C) or SIGTERM, the signals every long-running
/// subcommand stops on.
pub async fn shutdown_signal() -> anyhow::Result<()> {
    use anyhow::Context;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

/// A client for a separate API server from the command line's flags.
pub async fn remote_client(remote: &crate::cli::RemoteArgs) -> anyhow::Result<kube::Client> {
    use skiff_client::connect::{self, Trust};
    let trust = match (&remote.ca_file, remote.insecure_skip_tls_verify) {
        (Some(ca), _) => Trust::Ca(ca.clone()),
        (None, true) => Trust::InsecureSkipVerify,
        (None, false) => return Err(connect::Error::NoTrust.into()),
    };
    Ok(connect::remote(&remote.server, &remote.token, trust).await?)
}
