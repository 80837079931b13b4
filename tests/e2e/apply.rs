//! Server-side apply: field managers, conflicts and force through kube-rs,
//! and `kubectl apply --server-side` pruning what a manifest drops.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use skiff_tests::{Cluster, kubectls};

fn deployment(replicas: i64, extra_env: bool) -> Value {
    let mut env = vec![json!({"name": "A", "value": "1"})];
    if extra_env {
        env.push(json!({"name": "B", "value": "2"}));
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "web", "image": "busybox:1",
                    "ports": [{"containerPort": 80}],
                    "env": env,
                }]},
            },
        },
    })
}

fn managers(d: &Deployment) -> Vec<(String, String)> {
    d.metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|e| {
            (
                e.manager.clone().unwrap_or_default(),
                e.operation.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn fields_of(d: &Deployment, manager: &str) -> Value {
    d.metadata
        .managed_fields
        .iter()
        .flatten()
        .find(|e| e.manager.as_deref() == Some(manager))
        .and_then(|e| e.fields_v1.as_ref())
        .map_or(Value::Null, |f| f.0.clone())
}

#[tokio::test]
async fn field_managers_conflict_and_force() -> anyhow::Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let deploys: Api<Deployment> = Api::namespaced(client, "default");
    let pp = |m: &str| PatchParams::apply(m);

    // alice creates by applying, and owns what she applied.
    let d = deploys
        .patch("web", &pp("alice"), &Patch::Apply(deployment(2, true)))
        .await?;
    assert_eq!(managers(&d), [("alice".to_owned(), "Apply".to_owned())]);
    let f = fields_of(&d, "alice");
    assert_eq!(f["f:spec"]["f:replicas"], json!({}));
    assert!(
        f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]["f:ports"]
            ["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"]
            .is_object(),
        "{f}"
    );
    let rv = d.metadata.resource_version.clone();

    // The same apply again is a no-op: nothing is written.
    let again = deploys
        .patch("web", &pp("alice"), &Patch::Apply(deployment(2, true)))
        .await?;
    assert_eq!(again.metadata.resource_version, rv);

    // bob changes a field alice owns: 409 with Kubernetes' message and cause.
    let bob = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"}, "spec": {"replicas": 5}});
    let err = deploys
        .patch("web", &pp("bob"), &Patch::Apply(&bob))
        .await
        .expect_err("conflict");
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert_eq!(
        status.message,
        r#"Apply failed with 1 conflict: conflict with "alice": .spec.replicas"#
    );
    let causes = status.details.expect("details").causes;
    assert_eq!(causes.len(), 1);
    assert_eq!(causes[0].reason, "FieldManagerConflict");
    assert_eq!(causes[0].field, ".spec.replicas");

    // Forced, the value changes and ownership moves to bob.
    let d = deploys
        .patch("web", &pp("bob").force(), &Patch::Apply(&bob))
        .await?;
    assert_eq!(d.spec.as_ref().and_then(|s| s.replicas), Some(5));
    assert_eq!(fields_of(&d, "bob")["f:spec"]["f:replicas"], json!({}));
    assert!(fields_of(&d, "alice")["f:spec"].get("f:replicas").is_none());

    // alice drops env B (and replicas, now bob's): B goes, replicas stays.
    let mut cfg = deployment(2, false);
    cfg["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("replicas");
    let d = deploys
        .patch("web", &pp("alice"), &Patch::Apply(&cfg))
        .await?;
    let spec = d.spec.as_ref().expect("spec");
    assert_eq!(spec.replicas, Some(5));
    let env: Vec<String> = spec.template.spec.as_ref().expect("pod spec").containers[0]
        .env
        .iter()
        .flatten()
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(env, ["A"]);

    // An update records an Update entry for what it changed, manager from
    // fieldManager (kube-rs sends no program name we could rely on).
    let mut cur = deploys.get("web").await?;
    cur.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert("tier".into(), "front".into());
    let pp_put = PostParams {
        field_manager: Some("editor".into()),
        ..Default::default()
    };
    let d = deploys.replace("web", &pp_put, &cur).await?;
    assert!(managers(&d).contains(&("editor".to_owned(), "Update".to_owned())));
    assert_eq!(
        fields_of(&d, "editor"),
        json!({"f:metadata": {"f:labels": {"f:tier": {}}}})
    );

    // Conflicts with an Update manager name its API version.
    let label = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"tier": "back"}}});
    let err = deploys
        .patch("web", &pp("carol"), &Patch::Apply(&label))
        .await
        .expect_err("conflict");
    assert!(
        err.to_string().contains(
            r#"Apply failed with 1 conflict: conflict with "editor" using apps/v1: .metadata.labels.tier"#
        ),
        "{err}"
    );
    Ok(())
}

const MANIFEST: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {app: shop, tier: config}
data:
  color: blue
  size: L
"#;

#[test]
fn kubectl_server_side_apply() {
    for bin in kubectls() {
        let c = Cluster::start().expect("cluster");
        let run = |args: &[&str], stdin: Option<&str>| {
            let out = c.kubectl_with(&bin, args, stdin);
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let ok = |args: &[&str], stdin: Option<&str>| {
            let (ok, out, err) = run(args, stdin);
            assert!(ok, "{bin} {} failed:\n{err}\n{out}", args.join(" "));
            out
        };
        let apply = ["apply", "--server-side", "-f", "-"];

        let out = ok(&apply, Some(MANIFEST));
        assert!(
            out.contains("configmap/settings serverside-applied"),
            "{out}"
        );
        // Applied again without `size` and the tier label: both go.
        let smaller = MANIFEST
            .replace("  size: L\n", "")
            .replace(", tier: config", "");
        ok(&apply, Some(&smaller));
        let cm: Value = serde_json::from_str(&ok(
            &[
                "get",
                "cm",
                "settings",
                "-o",
                "json",
                "--show-managed-fields",
            ],
            None,
        ))
        .expect("json");
        assert_eq!(cm["data"], json!({"color": "blue"}), "{cm}");
        assert_eq!(cm["metadata"]["labels"], json!({"app": "shop"}), "{cm}");
        let mf = &cm["metadata"]["managedFields"];
        assert_eq!(mf[0]["manager"], "kubectl", "{mf}");
        assert_eq!(mf[0]["operation"], "Apply", "{mf}");

        // Another manager changes the colour; kubectl's apply now conflicts…
        ok(
            &[
                "patch",
                "cm",
                "settings",
                "--type=merge",
                "-p",
                r#"{"data":{"color":"red"}}"#,
            ],
            None,
        );
        let (applied, out, err) = run(&apply, Some(&smaller));
        assert!(!applied, "apply over a conflict succeeded: {out}");
        assert!(
            err.contains("Apply failed with 1 conflict: conflict with \"kubectl-patch\" using v1: .data.color"),
            "{err}"
        );
        // … until forced.
        ok(
            &["apply", "--server-side", "--force-conflicts", "-f", "-"],
            Some(&smaller),
        );
        let color = ok(
            &["get", "cm", "settings", "-o", "jsonpath={.data.color}"],
            None,
        );
        assert_eq!(color, "blue");
        let cm: Value = serde_json::from_str(&ok(
            &[
                "get",
                "cm",
                "settings",
                "-o",
                "json",
                "--show-managed-fields",
            ],
            None,
        ))
        .expect("json");
        let patcher = cm["metadata"]["managedFields"]
            .as_array()
            .expect("managedFields")
            .iter()
            .find(|e| e["manager"] == "kubectl-patch");
        assert!(patcher.is_none(), "{cm}");
    }
}
