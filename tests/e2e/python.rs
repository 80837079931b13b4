//! The official Python `kubernetes` client: CRUD, list and watch.

use std::process::Command;

use skiff_tests::Cluster;

const SCRIPT: &str = r#"
import sys
from kubernetes import client, config, watch
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
apps = client.AppsV1Api()
ns = client.V1Namespace(metadata=client.V1ObjectMeta(name="py"))
v1.create_namespace(ns)
cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cfg", labels={"from": "python"}), data={"a": "1"})
v1.create_namespaced_config_map("py", cm)
got = v1.read_namespaced_config_map("cfg", "py")
assert got.data == {"a": "1"}, got.data
v1.patch_namespaced_config_map("cfg", "py", {"data": {"b": "2"}})
items = v1.list_namespaced_config_map("py", label_selector="from=python").items
assert [i.metadata.name for i in items] == ["cfg"], items
assert items[0].data == {"a": "1", "b": "2"}, items[0].data
dep = client.V1Deployment(
    metadata=client.V1ObjectMeta(name="web"),
    spec=client.V1DeploymentSpec(
        replicas=1,
        selector=client.V1LabelSelector(match_labels={"app": "web"}),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={"app": "web"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]))))
apps.create_namespaced_deployment("py", dep)
rv = v1.list_namespaced_config_map("py").metadata.resource_version
w = watch.Watch()
seen = []
v1.create_namespaced_config_map("py", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="later")))
for ev in w.stream(v1.list_namespaced_config_map, "py", resource_version=rv, timeout_seconds=5):
    seen.append((ev["type"], ev["object"].metadata.name))
    if len(seen) == 1:
        w.stop()
assert seen == [("ADDED", "later")], seen
v1.delete_namespaced_config_map("cfg", "py")
try:
    v1.read_namespaced_config_map("cfg", "py")
    raise SystemExit("still there")
except client.exceptions.ApiException as e:
    assert e.status == 404, e.status
print("python client ok")
"#;

#[test]
fn official_python_client_crud_list_watch() -> anyhow::Result<()> {
    let c = Cluster::start()?;
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(&c.kubeconfig)
        .output()?;
    assert!(
        out.status.success(),
        "python client failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("python client ok"));
    Ok(())
}
