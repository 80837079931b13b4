//! `securityContext.fsGroup` end to end on `skiff up` with real kubectl: a
//! native busybox pod running as uid 1000, gid 3000 with fsGroup 2000 finds
//! its emptyDir and ConfigMap volumes in group 2000 (setgid directories,
//! group-readable files), can write to the emptyDir, has 2000 among its
//! groups, and can read a ConfigMap key whose `defaultMode` (0400) alone
//! would keep it out — also after the ConfigMap changes and the node agent
//! rewrites the file.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use skiff_runtime_native::testing::Registry;
use skiff_tests::Cluster;

/// The ConfigMap the pod reads, with `key` set to `value`.
fn config_map(value: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: fsg-cfg
data:
  key: {value}
"#
    )
}

/// Prints what the pod sees as `name=value` lines; then waits (bounded)
/// for the ConfigMap update and prints the rewritten file's group.
const SCRIPT: &str = "echo dir=$(stat -c %g /data); \
echo made >/data/f; echo wrote=$(cat /data/f); echo file=$(stat -c %g /data/f); \
echo groups=$(id -G | tr ' ' ,); \
echo cfg=$(stat -L -c %g /cfg/key); echo cfgmode=$(stat -L -c %a /cfg/key); \
echo content=$(cat /cfg/key); \
i=0; while [ $(cat /cfg/key) != v2 ] && [ $i -lt 120 ]; do sleep 1; i=$((i+1)); done; \
echo content2=$(cat /cfg/key); echo cfg2=$(stat -L -c %g /cfg/key)";

fn pod(image: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: fsgroup
spec:
  restartPolicy: Never
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    fsGroup: 2000
  volumes:
  - name: data
    emptyDir: {{}}
  - name: cfg
    configMap:
      name: fsg-cfg
      defaultMode: 256
  containers:
  - name: main
    image: {image}
    command: ["sh", "-c", "{SCRIPT}"]
    volumeMounts:
    - {{name: data, mountPath: /data}}
    - {{name: cfg, mountPath: /cfg}}
"#
    )
}

/// The pod's log as `name=value` pairs (empty until it has logged).
fn logged(c: &Cluster) -> BTreeMap<String, String> {
    let out = c.kubectl(&["logs", "fsgroup"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// Polls until `done` holds, failing with `what` and the pod's description
/// after `within`.
fn wait_for<T>(c: &Cluster, within: Duration, what: &str, done: impl Fn() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = done() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}\n{}",
            c.kubectl_ok(&["describe", "pod", "fsgroup"]),
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn fsgroup_owns_empty_dir_and_config_map_volumes() {
    let c = Cluster::up(&[]).unwrap_or_else(|e| panic!("skiff up: {e:#}"));
    let ns = c.netns().expect("skiff up runs in a netns").path();
    let registry = Registry::start(Some(&ns));
    let busybox = registry.push_busybox("1");
    c.apply(&config_map("value"));
    c.apply(&pod(&busybox));

    let first = wait_for(
        &c,
        Duration::from_secs(120),
        "the pod did not log what it sees",
        || {
            let l = logged(&c);
            l.contains_key("content").then_some(l)
        },
    );
    assert_eq!(first["dir"], "2000", "{first:?}");
    assert_eq!(first["wrote"], "made", "{first:?}");
    assert_eq!(first["file"], "2000", "new files take the group: {first:?}");
    let groups: Vec<&str> = first["groups"].split(',').collect();
    assert!(groups.contains(&"2000"), "{first:?}");
    assert_eq!(groups.first(), Some(&"3000"), "{first:?}");
    assert_eq!(first["cfg"], "2000", "{first:?}");
    assert_eq!(first["cfgmode"], "440", "{first:?}");
    assert_eq!(first["content"], "value", "{first:?}");

    c.apply(&config_map("v2"));
    let phase = wait_for(
        &c,
        Duration::from_secs(180),
        "the pod did not finish",
        || {
            let out = c.kubectl(&["get", "pod", "fsgroup", "-o", "json"]);
            let p: Value = serde_json::from_slice(&out.stdout).ok()?;
            let phase = p["status"]["phase"].as_str()?.to_owned();
            matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase)
        },
    );
    assert_eq!(phase, "Succeeded");
    let last = logged(&c);
    assert_eq!(
        last["content2"], "v2",
        "the update reached the pod: {last:?}"
    );
    assert_eq!(last["cfg2"], "2000", "the rewritten file: {last:?}");
}
