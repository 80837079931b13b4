//! Private registries end to end: a `docker-registry` with htpasswd auth
//! inside the cluster's network namespace, a pull Secret made by `kubectl
//! create secret docker-registry`, and pods with and without it — as a
//! kubelet behaves (ErrImagePull with the registry's reason, a
//! FailedToRetrieveImagePullSecret event for a Secret that is missing).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ContainerStateWaiting, Pod};
use kube::Api;
use skiff_runtime_native::testing::Registry;
use skiff_tests::Cluster;

/// A busybox pod that pulls its image itself (`Always`: once one pod has
/// pulled it, the image is on the node for every pod, as on a kubelet).
fn busybox_pod(name: &str, image: &str, secrets: &[&str], account: &str) -> String {
    let pull_secrets = if secrets.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = secrets.iter().map(|s| format!("{{name: {s}}}")).collect();
        format!("  imagePullSecrets: [{}]\n", names.join(", "))
    };
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: Never
  serviceAccountName: {account}
{pull_secrets}  containers:
  - name: main
    image: {image}
    imagePullPolicy: Always
    command: ["sh", "-c", "echo pulled"]
"#
    )
}

fn waiting(p: &Pod) -> Option<ContainerStateWaiting> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .waiting
        .clone()
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

async fn wait_pod(api: &Api<Pod>, name: &str, what: &str, done: impl Fn(&Pod) -> bool) -> Pod {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pod = api.get_opt(name).await.ok().flatten();
        if let Some(p) = pod.as_ref().filter(|p| done(p)) {
            return p.clone();
        }
        assert!(
            Instant::now() < deadline,
            "pod {name}: not {what} within 60 s: {:?}",
            pod.and_then(|p| p.status)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn pull_secrets_open_a_private_registry_and_their_absence_is_reported() -> anyhow::Result<()>
{
    let c = Cluster::up(&[])?;
    let ns = c.netns().expect("skiff up runs in a netns").path();
    let registry = Registry::start_with_auth(Some(&ns), "puller", "pa55word");
    let image = registry.push_busybox("private");
    c.kubectl_ok(&[
        "create",
        "secret",
        "docker-registry",
        "regcred",
        "--docker-server",
        &registry.addr,
        "--docker-username",
        "puller",
        "--docker-password",
        "pa55word",
    ]);
    let api: Api<Pod> = Api::namespaced(c.client().await?, "default");

    c.apply(&busybox_pod(
        "with-secret",
        &image,
        &["missing", "regcred"],
        "default",
    ));
    c.apply(&busybox_pod("without-secret", &image, &[], "default"));
    // The ServiceAccount's pull Secrets count too.
    c.apply("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: builder\nimagePullSecrets:\n- name: regcred\n");
    c.apply(&busybox_pod("via-account", &image, &[], "builder"));

    let done = wait_pod(&api, "with-secret", "Succeeded", |p| {
        phase(p) == "Succeeded"
    })
    .await;
    assert_eq!(phase(&done), "Succeeded");
    wait_pod(&api, "via-account", "Succeeded", |p| {
        phase(p) == "Succeeded"
    })
    .await;

    let refused = wait_pod(&api, "without-secret", "refused", |p| {
        waiting(p).is_some_and(|w| {
            matches!(
                w.reason.as_deref(),
                Some("ErrImagePull" | "ImagePullBackOff")
            )
        })
    })
    .await;
    let w = waiting(&refused).unwrap_or_default();
    let message = w.message.unwrap_or_default();
    assert!(
        message.to_lowercase().contains("not authorized"),
        "the registry's refusal is in the status: {message}"
    );
    assert_eq!(phase(&refused), "Pending");

    // The Secret that does not exist is reported as the kubelet does, and
    // the pull went ahead with the one that does.
    let events = c.kubectl_ok(&[
        "get",
        "events",
        "-o",
        "jsonpath={range .items[*]}{.involvedObject.name} {.reason} {.message}{\"\\n\"}{end}",
    ]);
    let want = "with-secret FailedToRetrieveImagePullSecret Unable to retrieve some image pull secrets (missing); attempting to pull the image may not succeed.";
    assert!(events.lines().any(|l| l == want), "events: {events}");
    Ok(())
}
