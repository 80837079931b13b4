//! `skiff images import` beside a running node: two runtimes on one state
//! directory (the node's and the command's) see each other's imports, and
//! neither's write loses the other's.

use skiff_runtime::{ImageSpec, Runtime};
use skiff_runtime_native::testing::busybox_layout;
use skiff_runtime_native::{NativeRuntime, NativeRuntimeConfig};

use crate::fixture::{fixture, shim};

fn open(root: &std::path::Path) -> NativeRuntime {
    let mut cfg = NativeRuntimeConfig::new(root.to_owned());
    cfg.shim = shim().to_owned();
    NativeRuntime::new(cfg).unwrap()
}

#[tokio::test]
async fn imports_by_another_process_are_seen_by_a_running_store() {
    if fixture().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path());
    let first = ImageSpec::new("localhost/imported/one:1");
    assert!(node.images().image_status(&first).await.unwrap().is_none());

    let command = open(dir.path());
    command
        .native_images()
        .import_oci_layout(busybox_layout(), Some("1"), &first.image)
        .await
        .unwrap();
    assert!(
        node.images().image_status(&first).await.unwrap().is_some(),
        "the running store sees the import"
    );

    // The node's own write keeps the command's entry, and the reverse.
    let second = ImageSpec::new("localhost/imported/two:1");
    node.native_images()
        .import_oci_layout(busybox_layout(), Some("1"), &second.image)
        .await
        .unwrap();
    let refs: Vec<String> = command
        .images()
        .list_images()
        .await
        .unwrap()
        .into_iter()
        .flat_map(|i| i.repo_tags)
        .collect();
    assert!(
        refs.contains(&first.image) && refs.contains(&second.image),
        "{refs:?}"
    );
}
