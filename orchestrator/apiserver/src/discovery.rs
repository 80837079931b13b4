//! Discovery: `/version`, `/api`, `/apis`, `/api/v1`, `/apis/<g>[/<v>]`,
//! in both the legacy form and the aggregated form (`apidiscovery.k8s.io/v2`)
//! that kubectl ≥1.30 asks for first.

use http::HeaderMap;
use serde_json::{Value, json};
use skiff_api::registry::{Registry, Resource};

use crate::handlers::metrics;

/// The Kubernetes minor version whose API this build serves: the
/// `k8s-openapi` feature it is compiled with.
pub fn kubernetes_minor() -> u32 {
    MINOR
}

// Exactly one of these expands: the one of the enabled k8s-openapi feature.
k8s_openapi::k8s_if_1_33! { const MINOR: u32 = 33; }
k8s_openapi::k8s_if_1_34! { const MINOR: u32 = 34; }
k8s_openapi::k8s_if_1_35! { const MINOR: u32 = 35; }
k8s_openapi::k8s_if_1_36! { const MINOR: u32 = 36; }
k8s_openapi::k8s_if_1_37! { const MINOR: u32 = 37; }

/// The `/version` document.
pub fn version() -> Value {
    let minor = kubernetes_minor();
    json!({
        "major": "1",
        "minor": minor.to_string(),
        "gitVersion": format!("v1.{minor}.0+skiff-{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Which aggregated-discovery version `Accept` asks for, if any.
pub fn aggregated(headers: &HeaderMap) -> Option<&'static str> {
    let accept = headers.get(http::header::ACCEPT)?.to_str().ok()?;
    for part in accept.split(',') {
        if !part.contains("as=APIGroupDiscoveryList") || !part.contains("g=apidiscovery.k8s.io") {
            continue;
        }
        if part.contains("v=v2beta1") {
            return Some("v2beta1");
        }
        if part.contains("v=v2") {
            return Some("v2");
        }
    }
    None
}

/// `/api`.
pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    })
}

fn group_json(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({
        "name": name,
        "versions": vs,
        "preferredVersion": vs.first().cloned().unwrap_or(Value::Null),
    })
}

/// `/apis`.
pub fn group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .iter()
        .filter(|g| !g.group.is_empty())
        .map(|g| group_json(&g.group, &g.versions))
        .chain([group_json(metrics::GROUP, &[metrics::VERSION.to_owned()])])
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub fn group(reg: &Registry, name: &str) -> Option<Value> {
    if name == metrics::GROUP {
        let mut v = group_json(name, &[metrics::VERSION.to_owned()]);
        v["kind"] = "APIGroup".into();
        v["apiVersion"] = "v1".into();
        return Some(v);
    }
    let g = reg
        .groups()
        .into_iter()
        .find(|g| g.group == name && !name.is_empty())?;
    let mut v = group_json(&g.group, &g.versions);
    v["kind"] = "APIGroup".into();
    v["apiVersion"] = "v1".into();
    Some(v)
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    if group == metrics::GROUP {
        return (version == metrics::VERSION).then(metrics_resource_list);
    }
    let rs = reg.group_version(group, version);
    if rs.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for r in &rs {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        resources.push(entry);
        for sub in &r.subresources {
            let (g, v, k) = sub.kind(&r.kind);
            let mut e = json!({
                "name": format!("{}/{}", r.plural, sub.name()),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": k,
                "verbs": sub.verbs(),
            });
            if !g.is_empty() || !v.is_empty() {
                e["group"] = g.into();
                e["version"] = v.into();
            }
            resources.push(e);
        }
    }
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

fn discovery_resource(r: &Resource) -> Value {
    let subs: Vec<Value> = r
        .subresources
        .iter()
        .map(|s| {
            let (g, v, k) = s.kind(&r.kind);
            let (g, v) = if v.is_empty() { (r.group.as_str(), r.version.as_str()) } else { (g, v) };
            json!({"subresource": s.name(), "responseKind": {"group": g, "version": v, "kind": k}, "verbs": s.verbs()})
        })
        .collect();
    let mut e = json!({
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        e["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        e["categories"] = json!(r.categories);
    }
    if !subs.is_empty() {
        e["subresources"] = Value::Array(subs);
    }
    e
}

/// The aggregated discovery document of `/api` (core) or `/apis` (groups).
pub fn aggregated_list(reg: &Registry, core: bool, version: &str) -> Value {
    let items: Vec<Value> = reg
        .groups()
        .iter()
        .filter(|g| g.group.is_empty() == core)
        .map(|g| {
            let versions: Vec<Value> = g
                .versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = reg
                        .group_version(&g.group, v)
                        .iter()
                        .map(|r| discovery_resource(r))
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g.group, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    let mut items = items;
    if !core {
        items.push(metrics_discovery());
    }
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

/// `metrics.k8s.io` is served by [`metrics`] without registry entries (it
/// stores nothing), so its discovery is written out here.
fn metrics_resource_list() -> Value {
    let resources: Vec<Value> = metrics::RESOURCES
        .iter()
        .map(|(plural, singular, kind, namespaced)| {
            json!({"name": plural, "singularName": singular, "namespaced": namespaced,
                "kind": kind, "verbs": ["get", "list"]})
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1",
        "groupVersion": format!("{}/{}", metrics::GROUP, metrics::VERSION), "resources": resources})
}

fn metrics_discovery() -> Value {
    let resources: Vec<Value> = metrics::RESOURCES
        .iter()
        .map(|(plural, singular, kind, namespaced)| {
            json!({
                "resource": plural,
                "responseKind": {"group": metrics::GROUP, "version": metrics::VERSION, "kind": kind},
                "scope": if *namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": singular,
                "verbs": ["get", "list"],
            })
        })
        .collect();
    json!({
        "metadata": {"name": metrics::GROUP, "creationTimestamp": null},
        "versions": [{"version": metrics::VERSION, "resources": resources, "freshness": "Current"}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_matches_the_compiled_api() {
        assert_eq!(version()["minor"], "33");
    }

    #[test]
    fn core_resource_list_has_subresources() {
        let reg = Registry::builtin();
        let list = resource_list(&reg, "", "v1").expect("core");
        let names: Vec<&str> = list["resources"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(names.contains(&"pods"));
        assert!(names.contains(&"pods/status"));
        assert!(names.contains(&"namespaces/finalize"));
        assert!(resource_list(&reg, "apps", "v9").is_none());
    }

    #[test]
    fn metrics_group_is_advertised() {
        let reg = Registry::builtin();
        let legacy = group_list(&reg);
        assert!(
            legacy["groups"]
                .as_array()
                .expect("groups")
                .iter()
                .any(|g| g["preferredVersion"]["groupVersion"] == "metrics.k8s.io/v1beta1")
        );
        let list = resource_list(&reg, "metrics.k8s.io", "v1beta1").expect("resources");
        assert_eq!(list["resources"][1]["kind"], "PodMetrics");
        assert!(resource_list(&reg, "metrics.k8s.io", "v1").is_none());
        let agg = aggregated_list(&reg, false, "v2");
        let m = agg["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|g| g["metadata"]["name"] == "metrics.k8s.io")
            .expect("metrics group");
        assert_eq!(m["versions"][0]["resources"][0]["scope"], "Cluster");
        assert!(
            aggregated_list(&reg, true, "v2")["items"]
                .as_array()
                .is_some_and(|i| i.iter().all(|g| g["metadata"]["name"] != "metrics.k8s.io"))
        );
    }

    #[test]
    fn aggregated_is_chosen_from_accept() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::ACCEPT,
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
                .parse()
                .expect("hdr"),
        );
        assert_eq!(aggregated(&h), Some("v2"));
        let reg = Registry::builtin();
        let doc = aggregated_list(&reg, false, "v2");
        assert!(
            doc["items"]
                .as_array()
                .expect("items")
                .iter()
                .any(|g| g["metadata"]["name"] == "apps")
        );
    }
}
