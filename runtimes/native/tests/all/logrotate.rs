//! Log rotation as the kubelet's containerLogMaxSize / containerLogMaxFiles,
//! done by the shim: a chatty container's log stays bounded, the current
//! file (what `kubectl logs` reads) holds its last lines, and the oldest
//! rotated files are deleted.

use std::time::Duration;

use skiff_runtime::logs::{Stream, is_rotated, lines};
use skiff_runtime::{ContainerConfig, ImageSpec, PodSandboxConfig, RegistryAuth, Runtime};
use skiff_runtime_native::{NativeRuntime, NativeRuntimeConfig};

use crate::fixture::{fixture, shim};

#[tokio::test]
async fn a_chatty_container_rotates_its_log_within_bounds() {
    let Some(f) = fixture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = NativeRuntimeConfig::new(dir.path().join("state"));
    cfg.shim = shim().to_owned();
    cfg.log_max_bytes = 4096;
    cfg.log_max_files = 3;
    let rt = NativeRuntime::new(cfg).unwrap();
    let image = ImageSpec::new(&f.image);
    rt.images()
        .pull_image(&image, &RegistryAuth::Anonymous)
        .await
        .unwrap();
    let pod = rt
        .run_pod_sandbox(&PodSandboxConfig::new(
            "default",
            "chatty",
            dir.path().join("logs"),
        ))
        .await
        .unwrap();
    let mut c = ContainerConfig::new("chatty", image);
    c.command = vec![
        "sh".into(),
        "-c".into(),
        "i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done".into(),
    ];
    let id = rt.create_container(&pod, &c).await.unwrap();
    rt.start_container(&id).await.unwrap();
    let st = tokio::time::timeout(Duration::from_secs(60), rt.wait_container(&id))
        .await
        .expect("container did not exit in 60 s")
        .unwrap();
    assert_eq!(st.exit_code, Some(0));

    let log_dir = st.log_path.parent().unwrap();
    let name = st.log_path.file_name().unwrap().to_str().unwrap();
    let mut files: Vec<(String, u64)> = std::fs::read_dir(log_dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().into_string().unwrap(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    files.sort();
    let total: u64 = files.iter().map(|(_, s)| s).sum();
    println!("log files after ~100 KiB of output: {files:?} ({total} bytes)");
    assert_eq!(files.len(), 3, "current + 2 rotated: {files:?}");
    assert!(files.iter().all(|(_, s)| *s <= 4096), "{files:?}");
    assert!(
        files.iter().all(|(n, _)| n == name || is_rotated(name, n)),
        "{files:?}"
    );
    let current = lines(
        &std::fs::read_to_string(&st.log_path).unwrap(),
        Some(Stream::Stdout),
    );
    assert_eq!(current.last().map(String::as_str), Some("line-1999"));
    // Rotated files then the current one: the output's tail, in order.
    let mut all = Vec::new();
    for (n, _) in files.iter().filter(|(n, _)| n != name) {
        all.extend(lines(
            &std::fs::read_to_string(log_dir.join(n)).unwrap(),
            Some(Stream::Stdout),
        ));
    }
    all.extend(current);
    let first: usize = all[0].strip_prefix("line-").unwrap().parse().unwrap();
    let expected: Vec<String> = (first..2000).map(|i| format!("line-{i}")).collect();
    assert_eq!(all, expected);
    rt.remove_pod_sandbox(&pod).await.unwrap();
}
