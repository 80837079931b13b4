//! Durability under SIGKILL: every write acknowledged before the kill is in
//! the file after reopening.
//!
//! The parent test re-runs this test binary with [`CHILD_ENV`] set to a
//! database path, selecting only [`crash_child`]. The child writes from many
//! tasks and prints `ACK <key> <revision>` after each acknowledgement; the
//! parent kills it mid-run, reopens the file (redb repairs it) and checks.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use skiff_store::{ListOptions, RedbConfig, RedbStore, Revision, Store};

use crate::redb::Fixture;

const CHILD_ENV: &str = "SKIFF_STORE_CRASH_CHILD_DB";
/// Acknowledgements the parent waits for before killing the child.
const ACKS_BEFORE_KILL: usize = 3000;

/// The writer half of [`acknowledged_writes_survive_sigkill`]; does nothing
/// unless started by it (with [`CHILD_ENV`] set).
#[test]
fn crash_child() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let store = Arc::new(
            RedbStore::open(std::path::Path::new(&path), RedbConfig::default()).expect("open"),
        );
        let tasks: Vec<_> = (0..32)
            .map(|t| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    // Runs until the parent kills the process.
                    for i in 0u64.. {
                        let key = format!("/crash/{t:02}/{i:08}");
                        let value = Bytes::from(format!("value of {key}"));
                        let kv = store.create(&key, value).await.expect("create");
                        // println! flushes per line on a pipe.
                        println!("ACK {key} {}", kv.mod_revision);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("writer task");
        }
    });
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let fixture = Fixture::new();
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args([
            "crash::crash_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &fixture.path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child writer");
    let stdout = child.stdout.take().expect("child stdout");

    // Read acknowledgements on a thread so the kill can happen mid-stream.
    let (ack_tx, ack_rx) = mpsc::channel::<(String, Revision)>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let mut parts = line.split(' ');
            if parts.next() != Some("ACK") {
                continue;
            }
            let (Some(key), Some(revision)) = (parts.next(), parts.next()) else {
                continue;
            };
            let revision = revision.parse().expect("revision");
            if ack_tx.send((key.to_owned(), revision)).is_err() {
                break;
            }
        }
    });

    let mut acked = HashMap::new();
    while acked.len() < ACKS_BEFORE_KILL {
        match ack_rx.recv_timeout(Duration::from_secs(60)) {
            Ok((key, revision)) => {
                acked.insert(key, revision);
            }
            Err(error) => panic!(
                "child stopped acknowledging after {} writes: {error}",
                acked.len()
            ),
        }
    }
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("reap the child");
    assert!(!status.success(), "the child was killed, not finished");
    // Lines the child printed before it died are acknowledged writes too.
    reader.join().expect("reader thread");
    acked.extend(ack_rx.try_iter());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = fixture.open();
        let max_acked = acked.values().copied().max().unwrap_or(0);
        assert!(
            store.current_revision() >= max_acked,
            "revision {} went back behind acknowledged {max_acked}",
            store.current_revision()
        );
        let listed = store
            .list("/crash/", ListOptions::default())
            .await
            .expect("list");
        let stored: HashMap<_, _> = listed
            .items
            .iter()
            .map(|kv| (kv.key.as_str(), kv))
            .collect();
        for (key, revision) in &acked {
            let kv = stored
                .get(key.as_str())
                .unwrap_or_else(|| panic!("acknowledged {key} lost in the crash"));
            assert_eq!(kv.mod_revision, *revision, "{key}");
            assert_eq!(kv.value, Bytes::from(format!("value of {key}")));
        }
        // Revisions keep increasing after recovery.
        let next = store
            .create("/crash/after", Bytes::from("v"))
            .await
            .expect("create");
        assert!(next.mod_revision > max_acked);
        eprintln!(
            "{} acknowledged writes before SIGKILL, {} found after reopen",
            acked.len(),
            listed.items.len()
        );
    });
}
