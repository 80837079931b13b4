//! `skiff-bench`: Skiff's benchmarks for the API server and the store
//! (issue 3). Numbers go to docs/benchmarks.md; they are measurements, not
//! pass/fail tests.
//!
//! ```text
//! cargo build --release -p skiff
//! cargo run --release -p skiff-tests --bin skiff-bench -- api
//! cargo run --release -p skiff-tests --bin skiff-bench --features etcd -- store
//! cargo run --release -p skiff-tests --bin skiff-bench -- pods
//! cargo run --release -p skiff-tests --bin skiff-bench -- pods --only native-rollout,controllers
//! cargo run --release -p skiff-tests --bin skiff-bench -- node
//! ```
//!
//! `api` runs the real `skiff server` (`$SKIFF_BIN`, default the `skiff`
//! beside this binary, i.e. target/release/skiff) on loopback and drives it
//! over HTTPS; `store` drives `skiff_store::RedbStore` in-process and etcd on
//! loopback; `pods` runs `skiff up` in a network namespace of its own (as
//! the e2e tests do) and times pod startup and workloads. Every run ends
//! with a Markdown table and the command to rerun it.

use clap::{Parser, Subcommand};

mod api;
mod controllers;
mod etcd;
mod node;
mod pods;
mod stats;
mod store;
mod workloads;

#[derive(Parser, Debug)]
#[command(
    name = "skiff-bench",
    about = "Skiff benchmarks: API server and store (issue 3)"
)]
struct Cli {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand, Debug)]
enum What {
    /// The API server over HTTPS: creates/s, watch latency, lists, memory.
    Api(api::ApiArgs),
    /// The store alone: group commit, one transaction per write, etcd.
    Store(store::StoreArgs),
    /// Pods and workloads on `skiff up`: startup latency, a big Deployment,
    /// rolling updates (Wasm, native), a big Job, controller CPU at steady
    /// state.
    Pods(workloads::PodsArgs),
    /// One node: `skiff up` ready time, Wasm pod density and memory per
    /// pod, scheduler bindings/s.
    Node(node::NodeArgs),
    /// (Internal) fills a fresh RedbStore and prints this process's RSS.
    #[command(hide = true)]
    StoreRss(store::StoreRssArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let What::StoreRss(args) = &cli.what {
        return runtime.block_on(store::rss_child(args));
    }
    let mut report = stats::Report::default();
    let result = runtime.block_on(async {
        match &cli.what {
            What::Api(args) => api::run(args, &mut report).await,
            What::Store(args) => store::run(args, &mut report).await,
            What::Pods(args) => workloads::run(args, &mut report).await,
            What::Node(args) => node::run(args, &mut report).await,
            What::StoreRss(args) => store::rss_child(args).await,
        }
    });
    println!("\n{}", report.table());
    println!("Command: {}", command());
    println!(
        "Machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        kernel()
    );
    result
}

/// The command line that reproduces this run.
fn command() -> String {
    let features = if cfg!(feature = "etcd") {
        " --features etcd"
    } else {
        ""
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!(
        "cargo run --release -p skiff-tests --bin skiff-bench{features} -- {}",
        args.join(" ")
    )
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "?".to_owned(), |s| format!("Linux {}", s.trim()))
}
