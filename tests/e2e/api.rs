//! The API through kube-rs: CRUD, selectors, paging, watch with resume and
//! 410, conflicts, the three patch types, status and scale, CRDs, and the
//! Status every bad request gets.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;
use skiff_tests::Cluster;

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"k": "v"}
    }))
    .expect("configmap")
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [
                    {"name": "web", "image": "busybox:1", "env": [{"name": "A", "value": "1"}]},
                    {"name": "side", "image": "busybox:1"}
                ]}
            }
        }
    }))
    .expect("deployment")
}

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn crud_defaults_and_conflicts() -> anyhow::Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = cms
        .create(&PostParams::default(), &cm("one", json!({"app": "a"})))
        .await?;
    let meta = &created.metadata;
    assert!(meta.uid.is_some() && meta.creation_timestamp.is_some());
    let rv1 = meta.resource_version.clone().expect("rv");

    let dup = cms
        .create(&PostParams::default(), &cm("one", json!({})))
        .await
        .unwrap_err();
    let dup = api_error(dup);
    assert_eq!((dup.code, dup.reason.as_str()), (409, "AlreadyExists"));

    let mut changed = created.clone();
    changed.data = Some([("k".to_owned(), "w".to_owned())].into());
    let updated = cms.replace("one", &PostParams::default(), &changed).await?;
    assert_ne!(
        updated.metadata.resource_version.as_deref(),
        Some(rv1.as_str())
    );

    // The stale copy loses: optimistic concurrency.
    let stale = cms
        .replace("one", &PostParams::default(), &changed)
        .await
        .unwrap_err();
    let stale = api_error(stale);
    assert_eq!((stale.code, stale.reason.as_str()), (409, "Conflict"));

    // Defaulting: a Deployment gets Kubernetes' defaults.
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d = deps
        .create(&PostParams::default(), &deployment("web"))
        .await?;
    let spec = d.spec.expect("spec");
    assert_eq!(spec.revision_history_limit, Some(10));
    assert_eq!(
        spec.strategy.and_then(|s| s.type_).as_deref(),
        Some("RollingUpdate")
    );
    let pod_spec = spec.template.spec.expect("pod spec");
    assert_eq!(pod_spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(d.metadata.generation, Some(1));

    cms.delete("one", &DeleteParams::default()).await?;
    let gone = api_error(cms.get("one").await.unwrap_err());
    assert_eq!((gone.code, gone.reason.as_str()), (404, "NotFound"));
    assert_eq!(gone.message, "configmaps \"one\" not found");
    Ok(())
}

#[tokio::test]
async fn list_selectors_and_paging() -> anyhow::Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..25 {
        let tier = if i % 2 == 0 { "front" } else { "back" };
        cms.create(
            &PostParams::default(),
            &cm(
                &format!("c{i:02}"),
                json!({"tier": tier, "n": i.to_string()}),
            ),
        )
        .await?;
    }
    let front = cms
        .list(&ListParams::default().labels("tier=front"))
        .await?;
    assert_eq!(front.items.len(), 13);
    let set = cms
        .list(&ListParams::default().labels("tier in (front,back),n notin (0,1)"))
        .await?;
    assert_eq!(set.items.len(), 23);
    let by_name = cms
        .list(&ListParams::default().fields("metadata.name=c03"))
        .await?;
    assert_eq!(by_name.items.len(), 1);
    let bad = api_error(
        cms.list(&ListParams::default().fields("data.k=v"))
            .await
            .unwrap_err(),
    );
    assert_eq!(bad.code, 400);

    // Pages of 10 from one snapshot, in name order, nothing lost or doubled.
    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(10);
    loop {
        let page = cms.list(&lp).await?;
        names.extend(page.items.iter().filter_map(|c| c.metadata.name.clone()));
        match page.metadata.continue_ {
            Some(t) if !t.is_empty() => lp = ListParams::default().limit(10).continue_token(&t),
            _ => break,
        }
    }
    let want: Vec<String> = (0..25).map(|i| format!("c{i:02}")).collect();
    assert_eq!(names, want);

    // Across namespaces.
    let all: Api<Namespace> = Api::all(client.clone());
    let ns: Vec<String> = all
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    for want in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(ns.iter().any(|n| n == want), "{want} missing from {ns:?}");
    }
    Ok(())
}

#[tokio::test]
async fn watch_resumes_and_expires() -> anyhow::Result<()> {
    let mut c = Cluster::start()?;
    let client = c.client().await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let first = cms
        .create(&PostParams::default(), &cm("w1", json!({"watch": "yes"})))
        .await?;
    let rv = first.metadata.resource_version.clone().expect("rv");

    // Resume after rv: we see w2 and the change to w1, not w1's creation.
    let mut stream = cms
        .watch(&WatchParams::default().labels("watch=yes").timeout(10), &rv)
        .await?
        .boxed();
    cms.create(&PostParams::default(), &cm("w2", json!({"watch": "yes"})))
        .await?;
    cms.create(&PostParams::default(), &cm("other", json!({"watch": "no"})))
        .await?;
    cms.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"watch": "no"}}})),
    )
    .await?;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match stream.try_next().await? {
            Some(WatchEvent::Added(o)) => {
                seen.push(format!("ADDED {}", o.metadata.name.unwrap_or_default()))
            }
            Some(WatchEvent::Modified(o)) => {
                seen.push(format!("MODIFIED {}", o.metadata.name.unwrap_or_default()))
            }
            Some(WatchEvent::Deleted(o)) => {
                seen.push(format!("DELETED {}", o.metadata.name.unwrap_or_default()))
            }
            Some(WatchEvent::Bookmark(_)) => {}
            Some(WatchEvent::Error(e)) => anyhow::bail!("watch error {e:?}"),
            None => anyhow::bail!("watch ended after {seen:?}"),
        }
    }
    // w1 stopped matching the selector, so this watcher sees it deleted.
    assert_eq!(seen, ["ADDED w2", "DELETED w1"]);
    drop(stream);

    // After a restart the old history is gone: 410 Expired, as after compaction.
    c.kill();
    c.spawn()?;
    let client = c.client().await?;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut stream = cms
        .watch(&WatchParams::default().timeout(5), &rv)
        .await?
        .boxed();
    match stream.try_next().await {
        Ok(Some(WatchEvent::Error(e))) => assert_eq!(e.code, 410),
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 410),
        other => panic!("expected 410, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn patches_status_and_scale() -> anyhow::Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deps.create(&PostParams::default(), &deployment("web"))
        .await?;

    // Strategic merge: containers merge by name, env by name.
    let smp = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "busybox:2", "env": [{"name": "B", "value": "2"}]}
    ]}}}});
    let d = deps
        .patch("web", &PatchParams::default(), &Patch::Strategic(smp))
        .await?;
    let containers = d
        .spec
        .clone()
        .and_then(|s| s.template.spec)
        .map(|s| s.containers)
        .unwrap_or_default();
    assert_eq!(containers.len(), 2, "strategic merge kept the sidecar");
    assert_eq!(containers[0].image.as_deref(), Some("busybox:2"));
    let env: Vec<String> = containers[0]
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.name)
        .collect();
    let mut env = env;
    env.sort();
    assert_eq!(env, ["A", "B"], "env merged by name");
    assert_eq!(d.metadata.generation, Some(2));

    // Merge patch replaces lists; JSON patch edits by index.
    let d = deps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}})),
        )
        .await?;
    assert_eq!(
        d.metadata
            .labels
            .unwrap_or_default()
            .get("x")
            .map(String::as_str),
        Some("1")
    );
    let jp: json_patch::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "test", "path": "/metadata/labels/x", "value": "1"}
    ]))?;
    let d = deps
        .patch("web", &PatchParams::default(), &Patch::<()>::Json(jp))
        .await?;
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(5));
    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/spec/replicas", "value": 1}]))?;
    let e = api_error(
        deps.patch("web", &PatchParams::default(), &Patch::<()>::Json(failing))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);

    // Status: the main resource ignores it; /status changes only it.
    let d = deps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 9}})),
        )
        .await?;
    assert_eq!(d.status.and_then(|s| s.replicas), None);
    let d = deps
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 3}, "spec": {"replicas": 1}})),
        )
        .await?;
    assert_eq!(d.status.and_then(|s| s.replicas), Some(3));
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(5));

    // Scale.
    let s = deps.get_scale("web").await?;
    assert_eq!(s.spec.and_then(|s| s.replicas), Some(5));
    deps.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 7}})),
    )
    .await?;
    assert_eq!(
        deps.get("web").await?.spec.and_then(|s| s.replicas),
        Some(7)
    );
    Ok(())
}

#[tokio::test]
async fn bad_input_gets_a_status_and_stores_nothing() -> anyhow::Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let send = |method: &str, path: &str, ct: &str, body: Vec<u8>| {
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", ct)
            .body(body)
            .expect("request");
        let client = client.clone();
        async move { client.request_text(req).await }
    };
    // (method, path, content type, body, expected code, expected reason)
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        Vec<u8>,
        u16,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            b"{not json".to_vec(),
            400,
            "BadRequest",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}"#.to_vec(),
            400,
            "BadRequest",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_A_Name"}}"#.to_vec(),
            422,
            "Invalid",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            vec![b' '; 4 * 1024 * 1024],
            413,
            "RequestEntityTooLarge",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/widgets",
            "application/json",
            b"{}".to_vec(),
            404,
            "NotFound",
        ),
        (
            "POST",
            "/api/v1/namespaces/missing/configmaps",
            "application/json",
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#.to_vec(),
            404,
            "NotFound",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/x",
            "application/json-patch+json",
            b"[{\"op\":\"nope\"}]".to_vec(),
            404,
            "NotFound",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/services/kubernetes",
            "application/json-patch+json",
            b"[{\"op\":\"nope\"}]".to_vec(),
            400,
            "BadRequest",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/services/kubernetes",
            "application/json-patch+json",
            b"[{\"op\":\"test\",\"path\":\"/spec/type\",\"value\":\"NodePort\"}]".to_vec(),
            422,
            "Invalid",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/services/kubernetes",
            "application/json-patch+json",
            br#"[{"op":"replace","path":"","value":42}]"#.to_vec(),
            400,
            "BadRequest",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/services/kubernetes",
            "text/plain",
            b"{}".to_vec(),
            415,
            "UnsupportedMediaType",
        ),
    ];
    for (method, path, ct, body, code, reason) in cases {
        match send(method, path, ct, body).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!(
                    (s.code, s.reason.as_str()),
                    (code, reason),
                    "{method} {path}: {}",
                    s.message
                );
                assert_eq!(s.status, Some(kube::core::response::StatusSummary::Failure));
            }
            other => panic!("{method} {path}: expected {code}, got {other:?}"),
        }
    }
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let invalid = api_error(
        cms.create(&PostParams::default(), &cm("Bad_Name", json!({})))
            .await
            .unwrap_err(),
    );
    assert!(
        invalid.message.contains("metadata.name"),
        "{}",
        invalid.message
    );
    let names: Vec<String> = cms
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert!(
        names.iter().all(|n| n != "x" && n != "Bad_Name"),
        "{names:?}"
    );
    Ok(())
}

#[tokio::test]
async fn custom_resources_are_served_like_built_ins() -> anyhow::Result<()> {
    let c = Cluster::start()?;
    let client = c.client().await?;
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
        )),
    );
    let crd: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "size": {"type": "integer", "minimum": 1, "default": 3},
                        "replicas": {"type": "integer"}
                    }},
                    "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}
                }}}
            }]
        }
    }))?;
    let created = crds.create(&PostParams::default(), &crd).await?;
    let conds = created.data["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        conds
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    );

    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"));
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let w: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w1"}, "spec": {"replicas": 1, "junk": true}
    }))?;
    let w = widgets.create(&PostParams::default(), &w).await?;
    assert_eq!(w.data["spec"]["size"], 3, "schema default applied");
    assert!(w.data["spec"].get("junk").is_none(), "unknown field pruned");
    let bad: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w2"}, "spec": {"size": 0}
    }))?;
    let e = api_error(
        widgets
            .create(&PostParams::default(), &bad)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422, "{}", e.message);

    widgets
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 1}})),
        )
        .await?;
    widgets
        .patch_scale(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await?;
    let w = widgets.get("w1").await?;
    assert_eq!(
        (
            w.data["spec"]["replicas"].as_i64(),
            w.data["status"]["replicas"].as_i64()
        ),
        (Some(4), Some(1))
    );

    // A watch sees custom objects like any other.
    let mut stream = widgets
        .watch(&WatchParams::default().timeout(5), "0")
        .await?
        .boxed();
    match stream.try_next().await? {
        Some(WatchEvent::Added(o)) => assert_eq!(o.metadata.name.as_deref(), Some("w1")),
        other => panic!("expected ADDED w1, got {other:?}"),
    }

    // Deleting the CRD removes the resource and its objects.
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await?;
    assert!(widgets.list(&ListParams::default()).await.is_err());
    Ok(())
}

#[tokio::test]
async fn services_get_cluster_ips_and_node_ports() -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Service;
    let c = Cluster::start()?;
    let client = c.client().await?;
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc = |name: &str, spec: serde_json::Value| -> Service {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).expect("service")
    };
    let a = svcs
        .create(
            &PostParams::default(),
            &svc(
                "a",
                json!({"selector": {"app": "a"}, "ports": [{"port": 80}]}),
            ),
        )
        .await?;
    let ip = a
        .spec
        .clone()
        .and_then(|s| s.cluster_ip)
        .unwrap_or_default();
    assert!(ip.starts_with("10.43."), "cluster IP {ip}");
    assert_eq!(
        a.spec.clone().and_then(|s| s.cluster_ips),
        Some(vec![ip.clone()])
    );

    // A chosen address that is taken is refused; a free one is granted.
    let taken = api_error(
        svcs.create(
            &PostParams::default(),
            &svc("b", json!({"clusterIP": ip, "ports": [{"port": 80}]})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(taken.code, 422);
    assert!(
        taken.message.contains("provided IP is already allocated"),
        "{}",
        taken.message
    );
    let outside = api_error(
        svcs.create(
            &PostParams::default(),
            &svc(
                "b",
                json!({"clusterIP": "192.168.0.1", "ports": [{"port": 80}]}),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert!(
        outside.message.contains("not in the valid range"),
        "{}",
        outside.message
    );

    // Headless services get no address.
    let h = svcs
        .create(
            &PostParams::default(),
            &svc("h", json!({"clusterIP": "None", "ports": [{"port": 80}]})),
        )
        .await?;
    assert_eq!(h.spec.and_then(|s| s.cluster_ip).as_deref(), Some("None"));

    // NodePort: allocated from 30000-32767; switching a ClusterIP service to
    // NodePort allocates one and keeps its address.
    let n = svcs
        .create(
            &PostParams::default(),
            &svc("n", json!({"type": "NodePort", "ports": [{"port": 80}]})),
        )
        .await?;
    let np = n
        .spec
        .and_then(|s| s.ports)
        .and_then(|p| p[0].node_port)
        .unwrap_or(0);
    assert!((30000..=32767).contains(&np), "node port {np}");
    let a2 = svcs
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"type": "NodePort"}})),
        )
        .await?;
    let spec = a2.spec.expect("spec");
    assert_eq!(spec.cluster_ip.as_deref(), Some(ip.as_str()));
    let np2 = spec.ports.and_then(|p| p[0].node_port).unwrap_or(0);
    assert!(
        (30000..=32767).contains(&np2) && np2 != np,
        "node port {np2}"
    );
    let dup = api_error(
        svcs.create(
            &PostParams::default(),
            &svc(
                "d",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": np}]}),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert!(
        dup.message.contains("provided port is already allocated"),
        "{}",
        dup.message
    );

    // Deleting a service frees its address for reuse.
    svcs.delete("a", &DeleteParams::default()).await?;
    let again = svcs.create(&PostParams::default(), &svc("again", json!({"clusterIP": ip, "type": "NodePort", "ports": [{"port": 80, "nodePort": np2}]}))).await?;
    assert_eq!(again.spec.and_then(|s| s.cluster_ip), Some(ip));
    Ok(())
}
