//! Measures durable creates per second of [`RedbStore`].
//!
//! ```text
//! cargo run --release -p skiff-store --example write_throughput -- [writers] [writes] [max_batch]
//! ```
//!
//! Defaults: 64 concurrent writers, 20 000 creates, max_batch 1024. With
//! max_batch 1 every create is its own transaction and fsync, which shows what
//! group commit buys. The database is created in a temporary directory under
//! `$TMPDIR` (put it on the disk you want to measure, not a tmpfs).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use skiff_store::{RedbConfig, RedbStore, Store};

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (writers, writes, max_batch) = (arg(1, 64).max(1), arg(2, 20_000), arg(3, 1024));
    let dir = tempfile::tempdir()?;
    let config = RedbConfig {
        max_batch,
        ..RedbConfig::default()
    };
    let store = Arc::new(RedbStore::open(&dir.path().join("bench.redb"), config)?);
    let value = Bytes::from(vec![b'x'; 512]);
    let began = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (store, value) = (Arc::clone(&store), value.clone());
            tokio::spawn(async move {
                for i in (w..writes).step_by(writers) {
                    store
                        .create(&format!("/bench/{i:08}"), value.clone())
                        .await?;
                }
                Ok::<_, skiff_store::StoreError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let elapsed = began.elapsed();
    println!(
        "{writes} creates of 512 B, {writers} writers, max_batch {max_batch}: {elapsed:.2?}, {:.0} creates/s",
        writes as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
