//! `skiff images import` into a running node (as `k3s ctr images import`):
//! the imported OCI layout is listed by `skiff images ls` and runs in a
//! pod with `imagePullPolicy: Never` without any registry.

use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use skiff_runtime_native::testing::busybox_layout;
use skiff_tests::{Cluster, skiff_bin};

const IMPORTED: &str = "localhost/imported/busybox:1";

fn skiff_images(c: &Cluster, args: &[&str]) -> String {
    let out = Command::new(skiff_bin())
        .arg("images")
        .args(args)
        .arg("--data-dir")
        .arg(c.dir.path())
        .output()
        .unwrap_or_else(|e| panic!("running skiff images: {e}"));
    assert!(
        out.status.success(),
        "skiff images {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn an_image_imported_into_a_running_node_runs_with_pull_policy_never() -> anyhow::Result<()> {
    let c = Cluster::up(&[])?;
    let layout = format!("{}:1={IMPORTED}", busybox_layout().display());
    let printed = skiff_images(&c, &["import", &layout]);
    assert!(printed.contains(IMPORTED), "{printed}");
    let listed = skiff_images(&c, &["ls"]);
    assert!(
        listed.lines().any(|l| l.starts_with(IMPORTED)),
        "skiff images ls: {listed}"
    );

    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: imported
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: {IMPORTED}
    imagePullPolicy: Never
    command: ["sh", "-c", "test -x /bin/busybox"]
"#
    ));
    let api: Api<Pod> = Api::namespaced(c.client().await?, "default");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pod = api.get_opt("imported").await?;
        let phase = pod
            .as_ref()
            .and_then(|p| p.status.as_ref())
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        if phase == "Succeeded" {
            break;
        }
        assert!(
            phase != "Failed" && Instant::now() < deadline,
            "pod imported: {:?}",
            pod.and_then(|p| p.status)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}
