//! CustomResourceDefinitions: checking them, establishing them (serving
//! their resources through the same generic handlers as built-ins) and
//! removing them with all their objects.
//!
//! A CRD is established synchronously when it is written, so a client that
//! creates a CRD and then one of its objects does not race the server.

use serde_json::{Value, json};
use skiff_api::registry::{
    Origin, PrinterColumn, Resource, STANDARD_VERBS, ScalePaths, Subresource,
};
use skiff_api::status::{ApiError, Cause};
use skiff_store::{ListOptions, Store};

use crate::objects;
use crate::state::Api;

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn invalid(field: &str, detail: String) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message: detail,
        field: field.into(),
    }
}

/// Checks a CRD and sets the status a CRD gets once its names are accepted
/// and it is served (Kubernetes sets these asynchronously, Skiff at once).
pub fn prepare(crd: &mut Value) -> Result<(), ApiError> {
    let name = objects::name(crd).to_owned();
    let group = s(crd, "/spec/group");
    let plural = s(crd, "/spec/names/plural");
    let mut errors = Vec::new();
    if name != format!("{plural}.{group}") {
        errors.push(invalid(
            "metadata.name",
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    if !group.contains('.') {
        errors.push(invalid(
            "spec.group",
            format!("Invalid value: \"{group}\": should be a domain with at least one dot"),
        ));
    }
    if s(crd, "/spec/names/kind").is_empty() {
        errors.push(invalid("spec.names.kind", "Required value".into()));
    }
    if !matches!(s(crd, "/spec/scope"), "Namespaced" | "Cluster") {
        errors.push(invalid(
            "spec.scope",
            format!(
                "Unsupported value: \"{}\": supported values: \"Cluster\", \"Namespaced\"",
                s(crd, "/spec/scope")
            ),
        ));
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        errors.push(invalid(
            "spec.versions",
            "Invalid value: null: must have exactly one version marked as storage version".into(),
        ));
    }
    let storage: Vec<&str> = versions
        .iter()
        .filter(|v| v["storage"] == true)
        .map(|v| s(v, "/name"))
        .collect();
    if !versions.is_empty() && storage.len() != 1 {
        errors.push(invalid(
            "spec.versions",
            format!(
                "Invalid value: {}: must have exactly one version marked as storage version",
                serde_json::to_string(&versions.iter().map(|v| s(v, "/name")).collect::<Vec<_>>())
                    .unwrap_or_default()
            ),
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        if let Some(schema) = v.pointer("/schema/openAPIV3Schema") {
            let base = format!("spec.versions[{i}].schema.openAPIV3Schema");
            for v in skiff_api::schema::check_structural_at(&base, schema) {
                errors.push(Cause {
                    reason: v.kind.cause_reason().into(),
                    message: v.body(),
                    field: v.field,
                });
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            &name,
            errors,
        ));
    }
    let now = objects::now();
    let mut stored: Vec<Value> = crd
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(sv) = storage.first()
        && !stored.iter().any(|x| x == sv)
    {
        stored.push((*sv).into());
    }
    crd["status"] = json!({
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
        "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or(json!({})),
        "storedVersions": stored,
    });
    Ok(())
}

/// The resources a CRD serves, one per served version.
pub fn resources(crd: &Value) -> Vec<Resource> {
    let name = objects::name(crd).to_owned();
    let strings = |p: &str| -> Vec<String> {
        crd.pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    versions
        .iter()
        .filter(|v| v["served"] != false)
        .map(|v| {
            let mut subresources = vec![];
            if v.pointer("/subresources/status").is_some() {
                subresources.push(Subresource::Status);
            }
            if let Some(sc) = v.pointer("/subresources/scale") {
                subresources.push(Subresource::Scale(ScalePaths {
                    spec_replicas: s(sc, "/specReplicasPath").to_owned(),
                    status_replicas: s(sc, "/statusReplicasPath").to_owned(),
                    label_selector: Some(s(sc, "/labelSelectorPath"))
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned),
                }));
            }
            let printer_columns = v
                .pointer("/additionalPrinterColumns")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| PrinterColumn {
                    name: s(c, "/name").to_owned(),
                    type_: s(c, "/type").to_owned(),
                    format: s(c, "/format").to_owned(),
                    description: s(c, "/description").to_owned(),
                    priority: c
                        .get("priority")
                        .and_then(Value::as_i64)
                        .and_then(|p| i32::try_from(p).ok())
                        .unwrap_or(0),
                    json_path: s(c, "/jsonPath").to_owned(),
                })
                .collect();
            let kind = s(crd, "/spec/names/kind").to_owned();
            let singular = match s(crd, "/spec/names/singular") {
                "" => kind.to_ascii_lowercase(),
                x => x.to_owned(),
            };
            Resource {
                group: s(crd, "/spec/group").to_owned(),
                version: s(v, "/name").to_owned(),
                kind,
                plural: s(crd, "/spec/names/plural").to_owned(),
                singular,
                namespaced: s(crd, "/spec/scope") == "Namespaced",
                short_names: strings("/spec/names/shortNames"),
                categories: strings("/spec/names/categories"),
                subresources,
                verbs: STANDARD_VERBS.iter().map(|x| (*x).to_owned()).collect(),
                origin: Origin::Custom {
                    crd: name.clone(),
                    schema: v.pointer("/schema/openAPIV3Schema").cloned(),
                },
                printer_columns,
                storage_version: v["storage"] == true,
            }
        })
        .collect()
}

/// Serves (or re-serves, after a change) the resources of a CRD.
pub fn establish<S: Store>(api: &Api<S>, crd: &Value) {
    if objects::is_deleting(crd) {
        return;
    }
    let name = objects::name(crd).to_owned();
    let served = resources(crd);
    api.update_registry(|reg| {
        reg.remove_crd(&name);
        for r in served {
            reg.insert(r);
        }
    });
}

/// Stops serving a CRD and deletes every object of it.
pub async fn remove<S: Store>(api: &Api<S>, crd: &Value) {
    let name = objects::name(crd).to_owned();
    let prefix = format!(
        "/registry/{}/{}/",
        s(crd, "/spec/group"),
        s(crd, "/spec/names/plural")
    );
    api.update_registry(|reg| reg.remove_crd(&name));
    match api.store.list(&prefix, ListOptions::default()).await {
        Ok(page) => {
            for kv in page.items {
                if let Err(e) = api.store.delete(&kv.key, None).await {
                    tracing::warn!(key = %kv.key, error = %e, "deleting a custom resource of a removed CRD");
                }
            }
        }
        Err(e) => {
            tracing::warn!(crd = %name, error = %e, "listing custom resources of a removed CRD")
        }
    }
}

/// Establishes every stored CRD (at start-up).
pub async fn load_all<S: Store>(api: &Api<S>) -> Result<(), skiff_store::StoreError> {
    let page = api
        .store
        .list(
            "/registry/apiextensions.k8s.io/customresourcedefinitions/",
            ListOptions::default(),
        )
        .await?;
    for kv in page.items {
        match objects::decode(&kv) {
            Ok(crd) => establish(api, &crd),
            Err(e) => tracing::warn!(key = %kv.key, error = %e, "skipping unreadable CRD"),
        }
    }
    Ok(())
}
