use super::*;
use crate::registry::{STANDARD_VERBS, Subresource};

fn widget(schema: Option<Value>) -> Resource {
    Resource {
        group: "example.com".into(),
        version: "v1".into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
        singular: "widget".into(),
        namespaced: true,
        short_names: vec![],
        categories: vec![],
        subresources: vec![Subresource::Status],
        verbs: STANDARD_VERBS.iter().map(|v| (*v).to_owned()).collect(),
        origin: Origin::Custom {
            crd: "widgets.example.com".into(),
            schema,
        },
        printer_columns: vec![],
        storage_version: true,
    }
}

fn widget_schema() -> Value {
    json!({"type": "object", "properties": {
        "spec": {"type": "object", "description": "Widget spec.", "properties": {
            "size": {"type": "integer", "nullable": true},
            "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
        }},
    }})
}

fn registry_with_widget() -> Registry {
    let mut reg = Registry::builtin();
    reg.insert(widget(Some(widget_schema())));
    reg
}

/// Every `$ref` in `doc` names an entry of `doc[section]`.
fn assert_refs_resolve(doc: &Value, prefix: &str, defs: &Map<String, Value>, what: &str) {
    walk_refs(doc, &mut |r| {
        let name = r
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{what}: foreign ref {r}"));
        assert!(defs.contains_key(name), "{what}: unresolved ref {r}");
    });
}

fn gvk_of(def: &Value) -> Vec<(String, String, String)> {
    def["x-kubernetes-group-version-kind"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|g| {
                    (
                        g["group"].as_str().unwrap_or_default().to_owned(),
                        g["version"].as_str().unwrap_or_default().to_owned(),
                        g["kind"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_builtin_kind_has_a_schema_with_its_gvk() {
    let reg = Registry::builtin();
    let doc = v2(&reg);
    let defs = doc["definitions"].as_object().expect("definitions");
    for r in reg.all() {
        let name = definition_name(r).unwrap_or_else(|| {
            panic!(
                "no k8s-openapi type mapped for {}/{}",
                r.api_version(),
                r.kind
            )
        });
        let def = &defs[&name];
        assert!(def["description"].is_string(), "{name} has no description");
        let want = (r.group.clone(), r.version.clone(), r.kind.clone());
        assert!(gvk_of(def).contains(&want), "{name} lacks GVK {want:?}");
        let list = &defs[&format!("{name}List")];
        assert_eq!(
            list["properties"]["items"]["items"]["$ref"],
            format!("#/definitions/{name}")
        );

        let v3 = v3_group_version(&reg, &r.group, &r.version).expect("gv doc");
        let def3 = &v3["components"]["schemas"][&name];
        assert!(gvk_of(def3).contains(&(r.group.clone(), r.version.clone(), r.kind.clone())));
    }
}

#[test]
fn definitions_use_kubernetes_names_and_descriptions() {
    let doc = v3_group_version(&Registry::builtin(), "apps", "v1").expect("apps/v1");
    let schemas = &doc["components"]["schemas"];
    let deploy = &schemas["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        deploy["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert!(deploy["properties"]["metadata"]["description"].is_string());
    assert!(
        schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]["labels"]
            .is_object()
    );
    let pod_spec = &schemas["io.k8s.api.core.v1.PodSpec"];
    assert_eq!(
        pod_spec["properties"]["containers"]["x-kubernetes-patch-merge-key"],
        "name"
    );
    assert_eq!(
        pod_spec["properties"]["containers"]["x-kubernetes-patch-strategy"],
        "merge"
    );
    assert_eq!(
        schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]["x-kubernetes-patch-strategy"],
        "retainKeys"
    );
    // Only what apps/v1 needs: no Service, no CRD.
    assert!(schemas.get("io.k8s.api.core.v1.Service").is_none());
    // Every patch strategy names a real property.
    let all = &builtins().defs;
    for (def, prop, _, _) in PATCH_STRATEGIES {
        if let Some(d) = all.get(*def) {
            assert!(d["properties"][*prop].is_object(), "{def}.{prop} not found");
        }
    }
}

#[test]
fn refs_resolve_in_every_document() {
    let reg = registry_with_widget();
    let doc = v2(&reg);
    let defs = doc["definitions"].as_object().expect("definitions");
    assert_refs_resolve(&doc, "#/definitions/", defs, "v2");
    for g in reg.groups() {
        for v in &g.versions {
            let doc = v3_group_version(&reg, &g.group, v).expect("gv");
            let schemas = doc["components"]["schemas"].as_object().expect("schemas");
            assert_refs_resolve(
                &doc,
                "#/components/schemas/",
                schemas,
                &v3_path(&g.group, v),
            );
            // OpenAPI 3.0 ignores siblings of $ref: none may remain.
            walk_objects(&doc, &mut |m| {
                // (JSONSchemaProps has a property named `$ref`: only string refs count.)
                if m.get("$ref").is_some_and(Value::is_string) {
                    assert_eq!(m.len(), 1, "$ref with siblings: {m:?}");
                }
            });
        }
    }
}

fn walk_objects(v: &Value, f: &mut impl FnMut(&Map<String, Value>)) {
    match v {
        Value::Object(m) => {
            f(m);
            m.values().for_each(|x| walk_objects(x, f));
        }
        Value::Array(a) => a.iter().for_each(|x| walk_objects(x, f)),
        _ => {}
    }
}

/// What kubectl's `QueryParamVerifierV3` checks before it relies on
/// server-side field validation.
fn supports_field_validation(doc: &Value, group: &str, version: &str, kind: &str) -> bool {
    let Some(paths) = doc["paths"].as_object() else {
        return false;
    };
    paths.values().any(|item| {
        let op = &item["patch"];
        let gvk = &op["x-kubernetes-group-version-kind"];
        gvk["group"] == group
            && gvk["version"] == version
            && gvk["kind"] == kind
            && op["parameters"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
            })
            && op["requestBody"]["content"].is_object()
    })
}

#[test]
fn patch_operations_advertise_field_validation_and_dry_run() {
    let reg = registry_with_widget();
    for r in reg.all() {
        let doc = v3_group_version(&reg, &r.group, &r.version).expect("gv");
        if r.verbs.iter().any(|v| v == "patch") {
            assert!(
                supports_field_validation(&doc, &r.group, &r.version, &r.kind),
                "{}/{} {}",
                r.group,
                r.version,
                r.kind
            );
        }
    }
    let doc = v3_group_version(&reg, "apps", "v1").expect("apps");
    let post = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]["post"];
    assert_eq!(post["operationId"], "createAppsV1NamespacedDeployment");
    let names: Vec<&str> = post["parameters"]
        .as_array()
        .expect("params")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["dryRun", "fieldManager", "fieldValidation"]);
    let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert!(patch["requestBody"]["content"]["application/strategic-merge-patch+json"].is_object());
    let scale =
        &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["put"];
    assert_eq!(
        scale["requestBody"]["content"]["*/*"]["schema"]["$ref"],
        "#/components/schemas/io.k8s.api.autoscaling.v1.Scale"
    );
    let core = v3_group_version(&reg, "", "v1").expect("core");
    assert_eq!(
        core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/exec"]["post"]["operationId"],
        "connectCoreV1PostNamespacedPodExec"
    );
    assert!(core["paths"]["/api/v1/nodes/{name}/status"]["patch"].is_object());
}

#[test]
fn a_crd_appears_in_v2_and_v3() {
    let reg = registry_with_widget();
    let doc = v3_group_version(&reg, "example.com", "v1").expect("example.com/v1");
    let w = &doc["components"]["schemas"]["com.example.v1.Widget"];
    assert_eq!(
        gvk_of(w),
        [("example.com".into(), "v1".into(), "Widget".into())]
    );
    assert_eq!(
        w["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert_eq!(w["properties"]["spec"]["description"], "Widget spec.");
    assert_eq!(
        w["properties"]["spec"]["properties"]["size"]["nullable"],
        true
    );
    assert!(doc["components"]["schemas"]["com.example.v1.WidgetList"].is_object());
    let patch =
        &doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
    assert_eq!(patch["operationId"], "patchExampleComV1NamespacedWidget");
    // Custom resources take no strategic merge patch.
    assert!(patch["requestBody"]["content"]["application/strategic-merge-patch+json"].is_null());
    assert!(patch["requestBody"]["content"]["application/merge-patch+json"].is_object());

    let index = v3_index(&reg);
    assert!(index["paths"]["apis/example.com/v1"]["serverRelativeURL"].is_string());
    assert!(index["paths"]["api/v1"]["serverRelativeURL"].is_string());

    let doc2 = v2(&reg);
    let w2 = &doc2["definitions"]["com.example.v1.Widget"];
    assert_eq!(
        w2["properties"]["metadata"]["$ref"],
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    // v2 cannot say nullable or anyOf.
    assert!(
        w2["properties"]["spec"]["properties"]["size"]
            .get("type")
            .is_none()
    );
    assert!(
        w2["properties"]["spec"]["properties"]["port"]
            .get("anyOf")
            .is_none()
    );

    // A CRD without a schema is an open object.
    let mut reg = Registry::builtin();
    reg.insert(widget(None));
    let doc = v3_group_version(&reg, "example.com", "v1").expect("gv");
    assert_eq!(
        doc["components"]["schemas"]["com.example.v1.Widget"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
}

#[test]
fn index_hashes_change_with_content() {
    let a = v3_index(&Registry::builtin());
    let b = v3_index(&Registry::builtin());
    assert_eq!(a, b);
    assert!(v3_group_version(&Registry::builtin(), "nope", "v1").is_none());
    let mut reg = Registry::builtin();
    reg.insert(widget(Some(widget_schema())));
    let c = v3_index(&reg);
    assert_eq!(a["paths"]["apis/apps/v1"], c["paths"]["apis/apps/v1"]);
    assert!(c["paths"]["apis/example.com/v1"].is_object());
}

#[test]
fn v2_size_is_reasonable() {
    let doc = v2(&registry_with_widget());
    let size = doc.to_string().len();
    // Kubernetes' full v2 is ~3.5 MB; Skiff serves fewer kinds.
    assert!(size > 200_000 && size < 6_000_000, "v2 is {size} bytes");
    println!("v2 document: {size} bytes");
}
