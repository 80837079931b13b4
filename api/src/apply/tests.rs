use serde_json::{Value, json};

use super::*;
use crate::registry::Registry;

const T0: &str = "2025-01-01T00:00:00Z";
const T1: &str = "2025-01-01T00:01:00Z";

fn schema(group: &str, resource: &str) -> Schema {
    let reg = Registry::builtin();
    Schema::for_resource(&reg.get(group, "v1", resource).expect("resource"))
}

fn req<'a>(manager: &'a str, api_version: &'a str, force: bool) -> Request<'a> {
    Request {
        manager,
        api_version,
        subresource: None,
        scope: Scope::Main { has_status: true },
        now: T1,
        force,
    }
}

fn deployment(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}]},
            },
        },
    })
}

fn managers(obj: &Value) -> ManagedFields {
    ManagedFields::of(obj).unwrap()
}

fn owned(obj: &Value, manager: &str) -> Vec<String> {
    managers(obj)
        .0
        .iter()
        .filter(|e| e.manager == manager)
        .flat_map(|e| e.fields.iter().map(|p| path_string(p)).collect::<Vec<_>>())
        .collect()
}

#[test]
fn fields_v1_round_trip() {
    let v = json!({
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"web\"}": {
                    ".": {}, "f:image": {}, "f:name": {},
                    "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}},
                },
            }}},
            "f:finalizers": {"v:\"a\"": {}},
            "f:args": {"i:0": {}},
        },
    });
    let set = FieldSet::from_fields_v1(&v).unwrap();
    assert!(set.contains(&[
        PathElement::Field("metadata".into()),
        PathElement::Field("labels".into())
    ]));
    let paths: Vec<String> = set.iter().map(|p| path_string(p)).collect();
    assert!(
        paths.contains(
            &r#".spec.template.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"]"#
                .to_owned()
        ),
        "{paths:?}"
    );
    assert!(paths.contains(&r#".spec.finalizers[="a"]"#.to_owned()));
    assert!(paths.contains(&".spec.args[0]".to_owned()));
    let back = set.to_fields_v1();
    assert_eq!(FieldSet::from_fields_v1(&back).unwrap(), set);
    // Field names sort before keys, "." comes first.
    assert_eq!(back.to_string(), serde_json::to_string(&back).unwrap());
    let containers =
        &back["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"];
    assert_eq!(containers.as_object().unwrap().keys().next().unwrap(), ".");
    assert!(FieldSet::from_fields_v1(&json!({"x:y": {}})).is_err());
    assert!(FieldSet::from_fields_v1(&json!({"k:[1]": {}})).is_err());
}

#[test]
fn applied_fields_follow_the_schema() {
    let s = schema("apps", "deployments");
    let set = applied_fields(&s, &deployment(3, "nginx:1")).unwrap();
    let paths: Vec<String> = set.iter().map(|p| path_string(p)).collect();
    for want in [
        ".spec.replicas",
        // LabelSelector is atomic: owned whole.
        ".spec.selector",
        ".metadata.labels.app",
        r#".spec.template.spec.containers[name="web"]"#,
        r#".spec.template.spec.containers[name="web"].image"#,
        // Ports are keyed by containerPort and protocol, protocol defaulting to TCP.
        r#".spec.template.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"]"#,
        r#".spec.template.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"].containerPort"#,
    ] {
        assert!(
            paths.contains(&want.to_owned()),
            "{want} missing from {paths:#?}"
        );
    }
    assert!(!paths.contains(&".spec.selector.matchLabels.app".to_owned()));
    assert!(!paths.contains(&".spec".to_owned()));
    let bad = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
    assert_eq!(
        applied_fields(&s, &bad).unwrap_err().to_string(),
        r#".spec.template.spec.containers: element 0: associative list with keys has an element that omits key field "name" (and doesn't have default value)"#
    );
    let dup =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "a"}]}}}});
    assert!(
        applied_fields(&s, &dup)
            .unwrap_err()
            .to_string()
            .contains("duplicate entries for key [name=\"a\"]")
    );
}

#[test]
fn first_apply_creates_and_owns() {
    let s = schema("apps", "deployments");
    let obj = apply(
        &s,
        None,
        &deployment(3, "nginx:1"),
        &req("alice", "apps/v1", false),
    )
    .unwrap();
    assert_eq!(obj["spec"]["replicas"], 3);
    let m = managers(&obj);
    assert_eq!(m.0.len(), 1);
    let e = &m.0[0];
    assert_eq!(
        (e.manager.as_str(), e.operation, e.api_version.as_str()),
        ("alice", Operation::Apply, "apps/v1")
    );
    assert_eq!(e.time.as_deref(), Some(T1));
    let mf = &obj["metadata"]["managedFields"][0];
    assert_eq!(mf["fieldsType"], "FieldsV1");
    assert!(mf.get("subresource").is_none());
    assert_eq!(mf["fieldsV1"]["f:spec"]["f:replicas"], json!({}));
    assert_eq!(
        mf["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]["."],
        json!({})
    );
    // Server-owned metadata is never owned.
    assert!(mf["fieldsV1"]["f:metadata"].get("f:name").is_none());
    assert!(mf["fieldsV1"].get("f:apiVersion").is_none());
}

#[test]
fn conflicts_and_force() {
    let s = schema("apps", "deployments");
    let live = apply(
        &s,
        None,
        &deployment(3, "nginx:1"),
        &req("alice", "apps/v1", false),
    )
    .unwrap();
    // Same values: shared ownership, no conflict.
    let shared = apply(
        &s,
        Some(&live),
        &deployment(3, "nginx:1"),
        &req("bob", "apps/v1", false),
    )
    .unwrap();
    assert!(owned(&shared, "alice").contains(&".spec.replicas".to_owned()));
    assert!(owned(&shared, "bob").contains(&".spec.replicas".to_owned()));
    // A different value of an owned field: 409.
    let err = apply(
        &s,
        Some(&live),
        &deployment(5, "nginx:1"),
        &req("bob", "apps/v1", false),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "alice": .spec.replicas"#
    );
    let api: ApiError = err.into();
    assert_eq!(api.code(), 409);
    let st = api.to_status();
    assert_eq!(st["reason"], "Conflict");
    assert_eq!(
        st["details"]["causes"],
        json!([{"reason": "FieldManagerConflict", "message": "conflict with \"alice\"", "field": ".spec.replicas"}])
    );
    // Two fields, two managers: Kubernetes' multi-line message.
    let err = apply(
        &s,
        Some(&shared),
        &deployment(5, "nginx:2"),
        &req("carol", "apps/v1", false),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("Apply failed with 4 conflicts: conflicts with \"alice\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image\nconflicts with \"bob\":"), "{msg}");
    // Forced: the value changes and ownership moves.
    let forced = apply(
        &s,
        Some(&live),
        &deployment(5, "nginx:1"),
        &req("bob", "apps/v1", true),
    )
    .unwrap();
    assert_eq!(forced["spec"]["replicas"], 5);
    assert!(!owned(&forced, "alice").contains(&".spec.replicas".to_owned()));
    assert!(
        owned(&forced, "alice")
            .contains(&r#".spec.template.spec.containers[name="web"].image"#.to_owned())
    );
    assert!(owned(&forced, "bob").contains(&".spec.replicas".to_owned()));
}

#[test]
fn update_managers_conflict_with_appliers() {
    let s = schema("apps", "deployments");
    let created = update(
        &s,
        None,
        &deployment(2, "nginx:1"),
        &Request {
            now: T0,
            ..req("kubectl-client-side-apply", "apps/v1", false)
        },
    )
    .unwrap();
    let m = managers(&created);
    assert_eq!(m.0[0].operation, Operation::Update);
    assert_eq!(m.0[0].time.as_deref(), Some(T0));
    // A create's entry owns the list elements and map nodes it added.
    assert!(owned(&created, "kubectl-client-side-apply").contains(&".metadata.labels".to_owned()));
    let err = apply(
        &s,
        Some(&created),
        &deployment(3, "nginx:1"),
        &req("kubectl", "apps/v1", false),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#
    );
    // An update by another manager moves the fields it changes.
    let mut edited = created.clone();
    edited["spec"]["replicas"] = json!(7);
    let edited = update(
        &s,
        Some(&created),
        &edited,
        &req("kubectl-edit", "apps/v1", false),
    )
    .unwrap();
    assert_eq!(
        owned(&edited, "kubectl-edit"),
        vec![".spec.replicas".to_owned()]
    );
    assert!(!owned(&edited, "kubectl-client-side-apply").contains(&".spec.replicas".to_owned()));
    // A second update by the same manager merges into its entry.
    let mut again = edited.clone();
    again["spec"]["paused"] = json!(true);
    let again = update(
        &s,
        Some(&edited),
        &again,
        &req("kubectl-edit", "apps/v1", false),
    )
    .unwrap();
    assert_eq!(
        owned(&again, "kubectl-edit"),
        vec![".spec.paused".to_owned(), ".spec.replicas".to_owned()]
    );
    assert_eq!(
        managers(&again)
            .0
            .iter()
            .filter(|e| e.manager == "kubectl-edit")
            .count(),
        1
    );
    // Nothing changed: managedFields byte for byte.
    let same = update(&s, Some(&again), &again, &req("other", "apps/v1", false)).unwrap();
    assert_eq!(same, again);
    // Status is not the main resource's to own.
    let mut st = again.clone();
    st["status"] = json!({"replicas": 1});
    let st = update(&s, Some(&again), &st, &req("x", "apps/v1", false)).unwrap();
    assert!(owned(&st, "x").is_empty());
}

#[test]
fn dropped_fields_are_removed_unless_owned() {
    let s = schema("apps", "deployments");
    let mut cfg = deployment(3, "nginx:1");
    cfg["spec"]["paused"] = json!(true);
    cfg["metadata"]["labels"]["tier"] = json!("front");
    cfg["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "side", "image": "busybox"}));
    let live = apply(&s, None, &cfg, &req("alice", "apps/v1", false)).unwrap();
    // bob also applies the tier label (same value: shared).
    let bob_cfg = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"tier": "front"}}});
    let live = apply(&s, Some(&live), &bob_cfg, &req("bob", "apps/v1", false)).unwrap();
    // An unowned field (as defaulting adds) survives.
    let mut live = live;
    live["spec"]["revisionHistoryLimit"] = json!(10);

    let out = apply(
        &s,
        Some(&live),
        &deployment(3, "nginx:1"),
        &req("alice", "apps/v1", false),
    )
    .unwrap();
    assert!(
        out["spec"].get("paused").is_none(),
        "dropped field stays: {out}"
    );
    assert_eq!(
        out["metadata"]["labels"]["tier"], "front",
        "bob's label went"
    );
    assert_eq!(out["spec"]["revisionHistoryLimit"], 10);
    let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web"]);
    assert!(!owned(&out, "alice").contains(&".metadata.labels.tier".to_owned()));
    // Applying the same again changes nothing, time included.
    let again = apply(
        &s,
        Some(&out),
        &deployment(3, "nginx:1"),
        &Request {
            now: "2030-01-01T00:00:00Z",
            ..req("alice", "apps/v1", false)
        },
    )
    .unwrap();
    assert_eq!(again, out);
}

#[test]
fn associative_lists_merge_by_key() {
    let s = schema("", "pods");
    let pod = |containers: Value| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}});
    let live = apply(
        &s,
        None,
        &pod(json!([{"name": "a", "image": "a:1", "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}]}])),
        &req("alice", "v1", false),
    )
    .unwrap();
    // bob adds a container and a TCP port on 53 to a: elements merge by key.
    let live = apply(
        &s,
        Some(&live),
        &pod(json!([{"name": "a", "ports": [{"containerPort": 53, "protocol": "TCP"}]}, {"name": "b", "image": "b:1"}])),
        &req("bob", "v1", false),
    )
    .unwrap();
    let cs = &live["spec"]["containers"];
    assert_eq!(cs.as_array().unwrap().len(), 2);
    assert_eq!(cs[0]["image"], "a:1");
    assert_eq!(cs[0]["ports"].as_array().unwrap().len(), 3, "{cs}");
    assert_eq!(cs[1]["name"], "b");
    // Env vars keyed by name: a conflict names the element.
    let live = apply(
        &s,
        Some(&live),
        &pod(json!([{"name": "a", "env": [{"name": "X", "value": "1"}]}])),
        &req("carol", "v1", false),
    )
    .unwrap();
    let err = apply(
        &s,
        Some(&live),
        &pod(json!([{"name": "a", "env": [{"name": "X", "value": "2"}]}])),
        &req("dave", "v1", false),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "carol": .spec.containers[name="a"].env[name="X"].value"#
    );
    // Atomic lists are replaced whole.
    let live = apply(
        &s,
        Some(&live),
        &pod(json!([{"name": "b", "args": ["x", "y"]}])),
        &req("bob", "v1", false),
    )
    .unwrap();
    let live = apply(
        &s,
        Some(&live),
        &pod(json!([{"name": "b", "args": ["z"]}])),
        &req("bob", "v1", false),
    )
    .unwrap();
    assert_eq!(live["spec"]["containers"][1]["args"], json!(["z"]));
    assert!(owned(&live, "bob").contains(&r#".spec.containers[name="b"].args"#.to_owned()));
}

#[test]
fn list_merge_order_follows_the_configuration() {
    let s = schema("", "pods");
    let ty = s.root();
    let l = json!({"spec": {"containers": [{"name": "a"}, {"name": "x"}, {"name": "b"}]}});
    let r = json!({"spec": {"containers": [{"name": "b"}, {"name": "n"}, {"name": "a"}]}});
    let out = walk::merge(Some(&l), Some(&r), ty).unwrap().unwrap();
    let names: Vec<&str> = out["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["x", "b", "n", "a"]);
    // Sets (finalizers) are unions.
    let l = json!({"metadata": {"finalizers": ["a", "b"]}});
    let r = json!({"metadata": {"finalizers": ["c", "a"]}});
    let out = walk::merge(Some(&l), Some(&r), ty).unwrap().unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", "b"]));
}

#[test]
fn custom_resources_use_their_schema() {
    let s = Schema::from_json_schema(
        &json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "size": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "hosts": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "routes": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["path"],
                       "items": {"type": "object", "properties": {"path": {"type": "string"}, "to": {"type": "string"}}}},
            "selector": {"type": "object", "x-kubernetes-map-type": "atomic", "additionalProperties": {"type": "string"}},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        }}}}),
    );
    let cfg = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "labels": {"a": "b"}}, "spec": {
        "size": 1, "tags": ["x"], "hosts": ["h1"], "routes": [{"path": "/", "to": "svc"}], "selector": {"k": "v"}, "extra": {"deep": {"n": 1}},
    }});
    let set = applied_fields(&s, &cfg).unwrap();
    let paths: Vec<String> = set.iter().map(|p| path_string(p)).collect();
    for want in [
        ".metadata.labels.a",
        ".spec.size",
        ".spec.tags",
        r#".spec.hosts[="h1"]"#,
        r#".spec.routes[path="/"]"#,
        r#".spec.routes[path="/"].to"#,
        ".spec.selector",
        ".spec.extra.deep",
        ".spec.extra.deep.n",
    ] {
        assert!(
            paths.contains(&want.to_owned()),
            "{want} missing from {paths:#?}"
        );
    }
    let fv1 = set.to_fields_v1();
    assert_eq!(fv1["f:spec"]["f:hosts"], json!({"v:\"h1\"": {}}));
    assert_eq!(
        fv1["f:spec"]["f:routes"]["k:{\"path\":\"/\"}"],
        json!({".": {}, "f:path": {}, "f:to": {}})
    );
}

#[test]
fn status_subresource_owns_only_status() {
    let s = schema("apps", "deployments");
    let live = apply(
        &s,
        None,
        &deployment(1, "nginx:1"),
        &req("alice", "apps/v1", false),
    )
    .unwrap();
    let mut new = live.clone();
    new["status"] = json!({"replicas": 1});
    new["spec"]["replicas"] = json!(9);
    let out = update(
        &s,
        Some(&live),
        &new,
        &Request {
            subresource: Some("status"),
            scope: Scope::Status,
            ..req("ctrl", "apps/v1", false)
        },
    )
    .unwrap();
    assert_eq!(
        owned(&out, "ctrl"),
        vec![".status".to_owned(), ".status.replicas".to_owned()]
    );
    let mf = out["metadata"]["managedFields"].as_array().unwrap();
    let ctrl = mf.iter().find(|e| e["manager"] == "ctrl").unwrap();
    assert_eq!(ctrl["subresource"], "status");
    assert_eq!(
        Entry {
            subresource: "status".into(),
            ..managers(&out)
                .0
                .into_iter()
                .find(|e| e.manager == "ctrl")
                .unwrap()
        }
        .describe(),
        r#""ctrl" with subresource "status" using apps/v1"#
    );
    // Applying through status: only .status is owned, spec is no conflict.
    let mut cfg = deployment(9, "other");
    cfg["status"] = json!({"replicas": 2});
    let status_req = Request {
        subresource: Some("status"),
        scope: Scope::Status,
        ..req("ctrl2", "apps/v1", false)
    };
    let out = apply(&s, Some(&live), &cfg, &status_req).unwrap();
    assert_eq!(owned(&out, "ctrl2"), vec![".status.replicas".to_owned()]);
    assert_eq!(managers(&out).0[1].subresource, "status");
}

#[test]
fn managed_fields_sent_by_the_client() {
    let s = schema("", "configmaps");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
    let live = update(&s, None, &cm, &req("one", "v1", false)).unwrap();
    // Reset with [{}].
    let mut reset = live.clone();
    reset["metadata"]["managedFields"] = json!([{}]);
    let out = update(&s, Some(&live), &reset, &req("two", "v1", false)).unwrap();
    assert!(out["metadata"].get("managedFields").is_none());
    // Replaced with another list (kubectl's client-side to server-side apply upgrade does this).
    let mut moved = live.clone();
    moved["metadata"]["managedFields"][0]["manager"] = json!("kubectl");
    moved["metadata"]["managedFields"][0]["operation"] = json!("Apply");
    let out = update(&s, Some(&live), &moved, &req("two", "v1", false)).unwrap();
    assert_eq!(
        owned(&out, "kubectl"),
        vec![".data".to_owned(), ".data.a".to_owned()]
    );
    assert_eq!(managers(&out).0[0].operation, Operation::Apply);
    // Unreadable: sent ones are refused, stored ones dropped.
    let mut bad = live.clone();
    bad["metadata"]["managedFields"] = json!([{"manager": "x", "operation": "Bogus"}]);
    let err = update(&s, Some(&live), &bad, &req("two", "v1", false)).unwrap_err();
    assert_eq!(ApiError::from(err).code(), 400);
    let mut changed = bad.clone();
    changed["data"]["a"] = json!("2");
    let out = apply(&s, Some(&bad), &changed, &req("three", "v1", false)).unwrap();
    assert_eq!(managers(&out).0.len(), 1);
    assert_eq!(managers(&out).0[0].manager, "three");
}

/// The create shortcut records exactly what comparing with nothing does.
#[test]
fn create_records_what_a_comparison_would() {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "p", "namespace": "ns", "uid": "u", "generation": 1,
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "labels": {"app": "web", "tier": "fe"}, "annotations": {},
            "finalizers": ["b", "a"], "ownerReferences": [{"uid": "x", "name": "o", "kind": "K", "apiVersion": "v1"}],
            "managedFields": [],
        },
        "spec": {
            "containers": [
                {"name": "web", "image": "nginx", "args": ["a", "b"],
                 "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}, {"containerPort": 80}],
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                 "resources": {"requests": {"cpu": "1"}, "limits": {}},
                 "readinessProbe": {"httpGet": {"path": "/", "port": 8080}}},
                {"name": "side", "image": "busybox", "volumeMounts": [{"name": "v", "mountPath": "/v"}]},
                {"image": "no-name"},
            ],
            "volumes": [{"name": "v", "configMap": {"name": "c"}}],
            "tolerations": [],
            "nodeSelector": null,
            "restartPolicy": "Always",
        },
        "status": {"phase": "Pending", "qosClass": "Burstable", "conditions": [{"type": "Ready", "status": "False"}]},
    });
    let crd = Schema::from_json_schema(
        &json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "hosts": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "routes": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["path", "port"],
                       "items": {"type": "object", "properties": {"path": {"type": "string"}, "port": {"type": "integer", "default": 80}}}},
            "selector": {"type": "object", "x-kubernetes-map-type": "atomic", "additionalProperties": {"type": "string"}},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        }}}}),
    );
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {
        "hosts": ["h2", "h1", 3], "routes": [{"path": "/b"}, {"path": "/a", "port": 81, "x": {"y": []}}],
        "selector": {"k": "v"}, "extra": {"deep": {"n": 1, "e": {}}, "l": [1, {"a": 2}]},
    }, "status": {"ok": true}});
    let cases = [
        (schema("", "pods"), pod.clone()),
        (schema("apps", "deployments"), deployment(3, "nginx")),
        (crd.clone(), widget.clone()),
        (Schema::deduced(), widget),
        (Schema::deduced(), pod),
        (
            crd,
            json!({"apiVersion": "v1", "kind": "K", "metadata": {"name": "only"}}),
        ),
        (Schema::deduced(), json!({})),
    ];
    for (s, obj) in &cases {
        for scope in [
            Scope::Main { has_status: true },
            Scope::Main { has_status: false },
            Scope::Status,
        ] {
            let r = Request {
                scope,
                ..req("creator", "v1", false)
            };
            let fast = record_create(s, obj, &r).expect("no duplicates");
            let general = record_compared(s, None, obj, None, &r).unwrap();
            // As text: maps compare equal whatever their key order.
            let text = |r: &Recorded| match r {
                Recorded::Unchanged => "unchanged".to_owned(),
                Recorded::List(l) => serde_json::to_string(l).unwrap(),
            };
            assert_eq!(text(&fast), text(&general), "{scope:?} {obj}");
        }
    }
    // Duplicate list elements: the general path unites them.
    let dup = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "d"},
        "spec": {"containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]}});
    assert_eq!(
        record_create(&schema("", "pods"), &dup, &req("c", "v1", false)),
        None
    );
    let out = update(&schema("", "pods"), None, &dup, &req("c", "v1", false)).unwrap();
    assert_eq!(
        out["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:containers"]["k:{\"name\":\"a\"}"],
        json!({".": {}, "f:image": {}, "f:name": {}})
    );
}
