//! StatefulSets end to end: real kubectl against `skiff up` running native
//! busybox pods, each with its own PersistentVolumeClaim from the
//! `local-path` provisioner — stable names, data that outlives a pod, and
//! `kubectl rollout history|undo` over ControllerRevisions.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::Api;
use skiff_runtime_native::testing::Registry;
use skiff_tests::Cluster;

const WITHIN: Duration = Duration::from_secs(60);

fn statefulset(image: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  clusterIP: None
  selector: {{app: web}}
  ports: [{{port: 80}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: 3
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: {image}
        command: ["sh", "-c", "hostname >> /data/starts; exec sleep 3600"]
        volumeMounts:
        - {{name: data, mountPath: /data}}
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests: {{storage: 1Mi}}
"#
    )
}

/// The directory the node keeps claim `name`'s data in.
fn claim_dir(agent: &Path, name: &str) -> Option<PathBuf> {
    std::fs::read_dir(agent.join("storage"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| f.ends_with(&format!("_default_{name}")))
        })
}

/// Polls `check` until it returns `Some`, failing after [`WITHIN`].
async fn eventually<T, Fut>(what: &str, check: impl FnMut() -> Fut) -> T
where
    Fut: std::future::Future<Output = Option<T>>,
{
    skiff_tests::eventually(WITHIN, what, check).await
}

#[tokio::test]
async fn statefulset_pods_keep_their_names_and_data_across_deletion() -> anyhow::Result<()> {
    let c = Cluster::up_with_wasm(&[]);
    let ns = c.netns().expect("skiff up runs in a netns").path();
    let registry = Registry::start(Some(&ns));
    let image = registry.push_busybox("1");
    c.apply(&statefulset(&image));
    c.kubectl_ok(&["rollout", "status", "statefulset/web", "--timeout=60s"]);

    let client = c.client().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client, "default");
    let agent = c.dir.path().join("agent");
    for i in 0..3 {
        let claim = claims.get(&format!("data-web-{i}")).await?;
        let phase = claim.status.and_then(|s| s.phase).unwrap_or_default();
        assert_eq!(phase, "Bound", "data-web-{i}");
        let pod = pods.get(&format!("web-{i}")).await?;
        let spec = pod.spec.unwrap_or_default();
        assert_eq!(spec.hostname.as_deref(), Some(format!("web-{i}").as_str()));
        assert_eq!(spec.subdomain.as_deref(), Some("web"));
    }
    let dir = claim_dir(&agent, "data-web-1").expect("data-web-1 has a directory on the node");
    let first = pods.get("web-1").await?.metadata.uid;
    eventually("web-1 to record its start", || async {
        let s = std::fs::read_to_string(dir.join("starts")).ok()?;
        (s == "web-1\n").then_some(())
    })
    .await;

    c.kubectl_ok(&["delete", "pod", "web-1", "--wait=false"]);
    // The same name comes back as a new pod, on the same claim.
    eventually("a new web-1", || async {
        let p = pods.get_opt("web-1").await.ok()??;
        let running = p.status.as_ref()?.phase.as_deref() == Some("Running");
        (p.metadata.uid != first && running && p.metadata.deletion_timestamp.is_none())
            .then_some(())
    })
    .await;
    let starts = eventually("web-1's second start on the same data", || async {
        let s = std::fs::read_to_string(dir.join("starts")).ok()?;
        (s.lines().count() == 2).then_some(s)
    })
    .await;
    assert_eq!(starts, "web-1\nweb-1\n");

    // A new template rolls out in reverse ordinal order; kubectl reads the
    // revisions from the ControllerRevisions and rolls back to the first.
    let v2 = registry.push_busybox("2");
    c.kubectl_ok(&["set", "image", "statefulset/web", &format!("main={v2}")]);
    c.kubectl_ok(&["rollout", "status", "statefulset/web", "--timeout=90s"]);
    assert_eq!(images(&pods).await, [v2.as_str(); 3]);
    let history = c.kubectl_ok(&["rollout", "history", "statefulset/web"]);
    assert_eq!(revisions(&history), ["1", "2"], "{history}");
    let first = c.kubectl_ok(&["rollout", "history", "statefulset/web", "--revision=1"]);
    assert!(first.contains(&image), "{first}");
    let undo = c.kubectl_ok(&["rollout", "undo", "statefulset/web"]);
    assert!(undo.contains("rolled back"), "{undo}");
    c.kubectl_ok(&["rollout", "status", "statefulset/web", "--timeout=90s"]);
    assert_eq!(images(&pods).await, [image.as_str(); 3]);
    let history = c.kubectl_ok(&["rollout", "history", "statefulset/web"]);
    assert_eq!(revisions(&history), ["2", "3"], "{history}");
    drop(registry);
    Ok(())
}

/// The image of web-0, web-1 and web-2, in order.
async fn images(pods: &Api<Pod>) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..3 {
        let pod = pods.get(&format!("web-{i}")).await.ok();
        let image = pod
            .and_then(|p| p.spec)
            .and_then(|s| s.containers.into_iter().next())
            .and_then(|c| c.image)
            .unwrap_or_default();
        out.push(image);
    }
    out
}

/// The revision numbers `kubectl rollout history` lists.
fn revisions(history: &str) -> Vec<&str> {
    history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect()
}
