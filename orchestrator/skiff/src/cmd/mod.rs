//! One module per subcommand.

pub mod agent;
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
