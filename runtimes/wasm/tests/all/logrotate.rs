//! Log rotation as the kubelet's containerLogMaxSize / containerLogMaxFiles:
//! a chatty command's log stays bounded, the current file holds its last
//! lines, and the oldest rotated files are deleted.

use std::time::Duration;

use skiff_runtime::logs::{Stream, lines};
use skiff_runtime::{ContainerConfig, ImageSpec, PodSandboxConfig, Runtime};
use skiff_runtime_wasm::{WasmRuntime, WasmRuntimeConfig};

use crate::support::examples;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chatty_command_rotates_its_log_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = WasmRuntimeConfig::new(dir.path().join("state"));
    cfg.log_max_bytes = 4096;
    cfg.log_max_files = 3;
    let rt = WasmRuntime::new(cfg).unwrap();
    let (reference, _) = rt
        .import_file(&examples().join("job.wasm"), Some("localhost/job:rotate"))
        .await
        .unwrap();
    let logs = dir.path().join("logs");
    let sb = rt
        .run_pod_sandbox(&PodSandboxConfig::new("test", "chatty", logs.clone()))
        .await
        .unwrap();
    let mut c = ContainerConfig::new("chatty", ImageSpec::new(reference));
    let words: Vec<String> = (0..1000).map(|i| format!("line-{i:04}")).collect();
    c.args = std::iter::once("echo".to_owned())
        .chain(words.iter().cloned())
        .collect();
    let id = rt.create_container(&sb, &c).await.unwrap();
    rt.start_container(&id).await.unwrap();
    let st = tokio::time::timeout(Duration::from_secs(60), rt.wait_container(&id))
        .await
        .expect("container did not exit")
        .unwrap();
    assert_eq!(st.exit_code, Some(0));

    let log_dir = st.log_path.parent().unwrap();
    let name = st.log_path.file_name().unwrap().to_str().unwrap();
    let mut files: Vec<(String, u64)> = std::fs::read_dir(log_dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            let n = e.file_name().into_string().unwrap();
            (n, e.metadata().unwrap().len())
        })
        .collect();
    files.sort();
    let total: u64 = files.iter().map(|(_, s)| s).sum();
    println!("log files after ~40 KiB of output: {files:?} ({total} bytes)");
    assert_eq!(files.len(), 3, "current + 2 rotated: {files:?}");
    assert!(files.iter().all(|(_, s)| *s <= 4096), "{files:?}");
    assert!(
        files
            .iter()
            .all(|(n, _)| n == name || skiff_runtime::logs::is_rotated(name, n)),
        "{files:?}"
    );
    // The current file, what `kubectl logs` reads, ends with the last lines.
    let current = lines(
        &std::fs::read_to_string(&st.log_path).unwrap(),
        Some(Stream::Stdout),
    );
    assert_eq!(
        current.last().map(String::as_str),
        Some("SKIFF_CONFORMANCE=")
    );
    assert!(current.contains(&"line-0999".to_owned()), "{current:?}");
    // Rotated files joined with the current one are the output's tail, in order.
    let mut all = Vec::new();
    for (n, _) in &files {
        if n != name {
            all.extend(lines(
                &std::fs::read_to_string(log_dir.join(n)).unwrap(),
                Some(Stream::Stdout),
            ));
        }
    }
    all.extend(current);
    let first: usize = all[0].strip_prefix("line-").unwrap().parse().unwrap();
    assert!(first > 0, "the oldest output was deleted");
    assert_eq!(all[..all.len() - 1], words[first..]);
}
