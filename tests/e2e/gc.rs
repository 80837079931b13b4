//! Garbage collection and namespace deletion through real kubectl on
//! `skiff up`: `kubectl delete namespace --wait` returns once the namespace
//! is emptied and gone, and `--cascade=background|foreground|orphan`
//! behave as in Kubernetes.

use std::time::{Duration, Instant};

use skiff_tests::Cluster;

const WITHIN: Duration = Duration::from_secs(60);

fn up() -> Cluster {
    Cluster::up_with_wasm(&[])
}

/// Polls `check` until it holds, failing after [`WITHIN`].
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WITHIN;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `kubectl get` says the object does not exist.
fn absent(c: &Cluster, args: &[&str]) -> bool {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    let out = c.kubectl(&all);
    !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NotFound")
}

fn uid(c: &Cluster, kind: &str, name: &str) -> String {
    c.kubectl_ok(&["get", kind, name, "-o", "jsonpath={.metadata.uid}"])
}

/// A ConfigMap owned by the ConfigMap `owner` with `owner_uid`.
fn dependent(name: &str, owner: &str, owner_uid: &str, block: bool) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  ownerReferences:\n  - apiVersion: v1\n    kind: ConfigMap\n    name: {owner}\n    uid: {owner_uid}\n    blockOwnerDeletion: {block}\ndata:\n  k: v\n"
    )
}

#[tokio::test]
async fn kubectl_delete_namespace_waits_until_its_content_and_it_are_gone() {
    let c = up();
    c.kubectl_ok(&["create", "namespace", "shop"]);
    c.kubectl_ok(&[
        "-n",
        "shop",
        "create",
        "configmap",
        "a",
        "--from-literal=k=v",
    ]);
    c.kubectl_ok(&[
        "-n",
        "shop",
        "create",
        "secret",
        "generic",
        "s",
        "--from-literal=k=v",
    ]);
    eventually("the default ServiceAccount in shop", || {
        !absent(&c, &["-n", "shop", "serviceaccount", "default"])
    })
    .await;

    c.kubectl_ok(&["delete", "namespace", "shop", "--wait", "--timeout=60s"]);
    assert!(absent(&c, &["namespace", "shop"]));
    assert!(absent(&c, &["-n", "shop", "configmap", "a"]));
}

#[tokio::test]
async fn kubectl_cascade_background_foreground_and_orphan() {
    let c = up();

    // Background (kubectl's default): the dependent follows its owner.
    c.kubectl_ok(&["create", "configmap", "owner-b"]);
    c.apply(&dependent(
        "dep-b",
        "owner-b",
        &uid(&c, "configmap", "owner-b"),
        false,
    ));
    c.kubectl_ok(&["delete", "configmap", "owner-b"]);
    eventually("dep-b to be collected", || {
        absent(&c, &["configmap", "dep-b"])
    })
    .await;

    // Foreground: kubectl returns once the owner is gone, by then after
    // its blocking dependent.
    c.kubectl_ok(&["create", "configmap", "owner-f"]);
    let f = uid(&c, "configmap", "owner-f");
    c.apply(&dependent("dep-f1", "owner-f", &f, true));
    c.apply(&dependent("dep-f2", "owner-f", &f, false));
    c.kubectl_ok(&[
        "delete",
        "configmap",
        "owner-f",
        "--cascade=foreground",
        "--timeout=60s",
    ]);
    assert!(absent(&c, &["configmap", "owner-f"]));
    assert!(absent(&c, &["configmap", "dep-f1"]));
    eventually("dep-f2 to be collected", || {
        absent(&c, &["configmap", "dep-f2"])
    })
    .await;

    // Orphan: the dependent stays, without the reference.
    c.kubectl_ok(&["create", "configmap", "owner-o"]);
    c.apply(&dependent(
        "dep-o",
        "owner-o",
        &uid(&c, "configmap", "owner-o"),
        true,
    ));
    c.kubectl_ok(&[
        "delete",
        "configmap",
        "owner-o",
        "--cascade=orphan",
        "--timeout=60s",
    ]);
    assert!(absent(&c, &["configmap", "owner-o"]));
    let refs = c.kubectl_ok(&[
        "get",
        "configmap",
        "dep-o",
        "-o",
        "jsonpath={.metadata.ownerReferences}",
    ]);
    assert_eq!(refs.trim(), "", "dep-o still has owner references");
}
