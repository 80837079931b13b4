//! The `skiff` binary: every Skiff component behind one command, as k3s.

mod cli;
mod cmd;

use clap::Parser;

/// mimalloc rather than glibc's malloc: the API server, watch fan-out and
/// pod workers allocate and free many short-lived JSON values from every
/// thread, and under glibc that churn (arena locks, `malloc_consolidate`)
/// was a quarter of `skiff up`'s CPU while pods started (docs/benchmarks.md,
/// "Wasm pod startup").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("SKIFF_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    // kube and rustls both compile the ring provider in; choose it once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let result = match cli.command {
        cli::Command::Server(a) => cmd::server::run(a),
        cli::Command::Up(a) => cmd::up::run(a),
        cli::Command::Agent(a) => cmd::agent::run(a),
        cli::Command::Scheduler(a) => cmd::component::scheduler(a),
        cli::Command::ControllerManager(a) => cmd::component::controller_manager(a),
        cli::Command::Kubectl(a) => cmd::kubectl::run(a),
        cli::Command::Run(a) => cmd::run::run(*a),
        cli::Command::Images(a) => cmd::images::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("skiff: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
