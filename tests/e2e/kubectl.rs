//! Real kubectl against Skiff: the workflows of "Kubernetes Up and Running"
//! that need only the API server, with the kubectl on PATH and the oldest
//! and newest versions these machines carry.

use std::process::{Command, Stdio};
use std::time::Duration;

use skiff_tests::{Cluster, kubectls};

const MANIFEST: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
  labels: {app: shop}
data:
  color: blue
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: shop}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox:1.36
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
"#;

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: boats.skiff.dev
spec:
  group: skiff.dev
  scope: Namespaced
  names: {plural: boats, singular: boat, kind: Boat, shortNames: [bt]}
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - {name: Length, type: integer, jsonPath: .spec.length}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              length: {type: integer}
"#;

struct Kubectl<'a> {
    c: &'a Cluster,
    bin: &'a str,
}

impl Kubectl<'_> {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        let out = self.c.kubectl_with(self.bin, args, stdin);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        self.ok_in(args, None)
    }

    fn ok_in(&self, args: &[&str], stdin: Option<&str>) -> String {
        let (ok, out, err) = self.run(args, stdin);
        assert!(ok, "{} {} failed:\n{err}\n{out}", self.bin, args.join(" "));
        out
    }
}

fn workflow(bin: &str) {
    let c = Cluster::start().expect("cluster");
    let k = Kubectl { c: &c, bin };

    // apply: multi-document, then again with a change (a patch, not a create).
    let out = k.ok_in(&["apply", "-f", "-"], Some(MANIFEST));
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let changed = MANIFEST.replace("color: blue", "color: green");
    let out = k.ok_in(&["apply", "-f", "-"], Some(&changed));
    assert!(out.contains("configmap/settings configured"), "{out}");
    assert!(out.contains("deployment.apps/web unchanged"), "{out}");
    assert_eq!(
        k.ok(&[
            "get",
            "cm",
            "settings",
            "-n",
            "shop",
            "-o",
            "jsonpath={.data.color}"
        ]),
        "green"
    );
    let out = k.ok_in(&["apply", "--server-side", "-f", "-"], Some(&changed));
    assert!(out.contains("serverside-applied"), "{out}");

    // get, in its forms.
    let out = k.ok(&["get", "deploy", "-n", "shop"]);
    assert!(
        out.starts_with("NAME") && out.contains("READY") && out.contains("web"),
        "{out}"
    );
    let out = k.ok(&["get", "deploy", "-n", "shop", "-o", "wide"]);
    assert!(
        out.contains("IMAGES") && out.contains("busybox:1.36"),
        "{out}"
    );
    let out = k.ok(&["get", "deploy", "web", "-n", "shop", "-o", "yaml"]);
    assert!(
        out.contains("kind: Deployment") && out.contains("resourceVersion"),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "svc", "-n", "shop", "-o", "json"])).expect("json");
    assert_eq!(json["kind"], "List");
    assert_eq!(json["items"][0]["spec"]["ports"][0]["targetPort"], 8080);
    let out = k.ok(&[
        "get",
        "cm",
        "-A",
        "-l",
        "app=shop",
        "-L",
        "app",
        "--show-labels",
    ]);
    assert!(
        out.contains("NAMESPACE") && out.contains("settings") && out.contains("app=shop"),
        "{out}"
    );
    let out = k.ok(&["get", "namespaces"]);
    for ns in ["default", "kube-system", "shop"] {
        assert!(out.contains(ns), "{out}");
    }

    // label, annotate, scale, patch.
    k.ok(&["label", "cm", "settings", "-n", "shop", "tier=config"]);
    k.ok(&["annotate", "cm", "settings", "-n", "shop", "note=hello"]);
    let out = k.ok(&["get", "cm", "-n", "shop", "-l", "tier=config", "-o", "name"]);
    assert_eq!(out.trim(), "configmap/settings");
    k.ok(&["scale", "deploy", "web", "-n", "shop", "--replicas=4"]);
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "4"
    );
    k.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"busybox:1.37"}]}}}}"#,
    ]);
    k.ok(&[
        "patch",
        "cm",
        "settings",
        "-n",
        "shop",
        "--type=merge",
        "-p",
        r#"{"data":{"size":"L"}}"#,
    ]);
    k.ok(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":3}]"#,
    ]);
    let out = k.ok(&["get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}"]);
    assert_eq!(out, "3 busybox:1.37 8080");

    // create …
    k.ok(&["create", "namespace", "tools"]);
    k.ok(&[
        "create",
        "deployment",
        "api",
        "-n",
        "tools",
        "--image=busybox",
        "--replicas=2",
    ]);
    k.ok(&[
        "create",
        "configmap",
        "cfg",
        "-n",
        "tools",
        "--from-literal=a=1",
    ]);
    k.ok(&[
        "create",
        "secret",
        "generic",
        "pw",
        "-n",
        "tools",
        "--from-literal=password=s3cret",
    ]);
    let out = k.ok(&[
        "get",
        "secret",
        "pw",
        "-n",
        "tools",
        "-o",
        "jsonpath={.data.password}",
    ]);
    assert_eq!(out, "czNjcmV0");
    let (ok, _, err) = k.run(&["create", "namespace", "tools"], None);
    assert!(!ok && err.contains("AlreadyExists"), "{err}");

    // describe.
    let out = k.ok(&["describe", "deploy", "web", "-n", "shop"]);
    assert!(
        out.contains("Name:") && out.contains("web") && out.contains("busybox:1.37"),
        "{out}"
    );

    // edit through an EDITOR script.
    let editor = c.dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/color: green/color: red/' \"$1\"\n",
    )
    .expect("editor");
    let _ = Command::new("chmod").arg("+x").arg(&editor).status();
    let out = c.kubectl_with_env(
        bin,
        &["edit", "cm", "settings", "-n", "shop"],
        &[("EDITOR", editor.to_str().unwrap_or_default())],
    );
    assert!(
        out.status.success(),
        "edit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        k.ok(&[
            "get",
            "cm",
            "settings",
            "-n",
            "shop",
            "-o",
            "jsonpath={.data.color}"
        ]),
        "red"
    );

    // explain reads the OpenAPI document.
    let out = k.ok(&["explain", "deployment.spec.replicas"]);
    assert!(out.to_lowercase().contains("replicas"), "{out}");

    // get -w sees a new object.
    let text = watch_while(&c, bin, &["get", "cm", "-n", "shop"], || {
        k.ok(&["create", "configmap", "watched", "-n", "shop"]);
    });
    assert!(
        text.contains("settings") && text.contains("watched"),
        "{text}"
    );

    // A CRD and its objects.
    k.ok_in(&["apply", "-f", "-"], Some(CRD));
    k.ok_in(&["apply", "-f", "-"], Some("apiVersion: skiff.dev/v1\nkind: Boat\nmetadata: {name: dinghy, namespace: shop}\nspec: {length: 3}\n"));
    let out = k.ok(&["get", "boats", "-n", "shop"]);
    assert!(
        out.contains("LENGTH") && out.contains("dinghy") && out.contains('3'),
        "{out}"
    );
    assert!(
        k.ok(&["get", "bt", "-n", "shop", "-o", "name"])
            .contains("boat.skiff.dev/dinghy")
    );
    // … and watched.
    let text = watch_while(&c, bin, &["get", "boats", "-n", "shop"], || {
        k.ok_in(
            &["apply", "-f", "-"],
            Some("apiVersion: skiff.dev/v1\nkind: Boat\nmetadata: {name: ketch, namespace: shop}\nspec: {length: 9}\n"),
        );
    });
    assert!(
        text.contains("dinghy") && text.contains("ketch") && text.contains('9'),
        "{text}"
    );

    // delete -l and -f.
    k.ok(&["delete", "cm", "-n", "shop", "-l", "app=shop"]);
    let (_, out, _) = k.run(&["get", "cm", "settings", "-n", "shop"], None);
    assert!(out.is_empty());
    k.ok_in(
        &["delete", "-f", "-", "--ignore-not-found"],
        Some(&changed.replace(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\n",
            "",
        )),
    );
    let (ok, _, err) = k.run(&["get", "deploy", "web", "-n", "shop"], None);
    assert!(!ok && err.contains("NotFound"), "{err}");
}

/// Runs `kubectl ARGS -w` while `during` acts, and returns what it printed.
fn watch_while(c: &Cluster, bin: &str, args: &[&str], during: impl FnOnce()) -> String {
    let mut watch = Command::new(bin)
        .args(args)
        .args(["-w", "--request-timeout=8s"])
        .env("KUBECONFIG", &c.kubeconfig)
        .env("HOME", c.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl -w");
    std::thread::sleep(Duration::from_millis(1500));
    during();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = watch.kill();
    let out = watch.wait_with_output().expect("watch output");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn kubectl_workflows_on_every_kubectl() {
    for bin in kubectls() {
        workflow(&bin);
    }
}
