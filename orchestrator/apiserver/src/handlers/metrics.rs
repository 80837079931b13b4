//! `metrics.k8s.io/v1beta1`: NodeMetrics (`nodes`) and PodMetrics (`pods`),
//! what `kubectl top` reads. metrics-server serves this group through API
//! aggregation from scrapes of every kubelet's `/stats/summary`; Skiff
//! serves it in process and asks the Ready nodes' `/stats/summary` (through
//! the [`NodeClient`](super::node_proxy::NodeClient)) at request time.
//! Nothing is stored; only `get` and `list` are served.
//!
//! CPU is the rate the node computed (`usageNanoCores`), printed as
//! nanocores (`12345n`); memory is the working set in `Ki`, as
//! metrics-server reports them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use skiff_api::quantity::{Format, Quantity};
use skiff_api::selector::{FieldSelector, LabelSelector};
use skiff_api::status::ApiError;
use skiff_store::{ListOptions, Store};

use super::json_response;
use super::node_proxy::node_endpoint;
use crate::route::Target;
use crate::state::{Api, store_error};

/// The group.
pub const GROUP: &str = "metrics.k8s.io";
/// Its only version.
pub const VERSION: &str = "v1beta1";
/// The window reported with each reading: the node computes rates over at
/// least a second and usually over the interval between two `kubectl top`
/// calls, so this is nominal, as metrics-server's scrape interval is.
pub const WINDOW: &str = "10s";
/// How long one node may take to answer (its first answer waits a second
/// for a second sample).
const NODE_TIMEOUT: Duration = Duration::from_secs(10);

/// The resources as discovery lists them: (plural, singular, kind, namespaced).
pub const RESOURCES: [(&str, &str, &str, bool); 2] = [
    ("nodes", "", "NodeMetrics", false),
    ("pods", "", "PodMetrics", true),
];

/// Whether a request is for this group.
pub fn handles(t: &Target) -> bool {
    t.group == GROUP
}

/// Serves a request for the group.
pub async fn serve<S: Store>(
    api: &Arc<Api<S>>,
    method: &Method,
    t: &Target,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let (kind, namespaced) = match RESOURCES.iter().find(|r| r.0 == t.resource) {
        Some((_, _, k, n)) if t.version == VERSION && t.subresource.is_none() => (*k, *n),
        _ => return Err(ApiError::no_route()),
    };
    if !namespaced && t.namespace.is_some() {
        return Err(ApiError::no_route());
    }
    let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    if *method != Method::GET || watch {
        let verb = if watch { "watch" } else { method.as_str() };
        return Err(ApiError::method_not_allowed(verb, &t.resource));
    }
    let q = |k: &str| query.get(k).map(String::as_str).filter(|s| !s.is_empty());
    let labels = q("labelSelector")
        .map(LabelSelector::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
    let fields = q("fieldSelector")
        .map(FieldSelector::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("invalid field selector: {e}")))?;
    let sel = Selection {
        labels,
        fields,
        name: t.name.clone(),
        namespace: t.namespace.clone(),
    };
    let items = if namespaced {
        pod_metrics(api, &sel).await?
    } else {
        node_metrics(api, &sel).await?
    };
    match &t.name {
        Some(name) => match items.into_iter().next() {
            Some(item) => Ok(json_response(StatusCode::OK, &item)),
            None => Err(ApiError::not_found(GROUP, &t.resource, name)),
        },
        None => Ok(json_response(
            StatusCode::OK,
            &json!({
                "kind": format!("{kind}List"),
                "apiVersion": format!("{GROUP}/{VERSION}"),
                "metadata": {},
                "items": items,
            }),
        )),
    }
}

/// Which objects a request selects.
struct Selection {
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
    name: Option<String>,
    namespace: Option<String>,
}

impl Selection {
    fn selects(&self, obj: &Value) -> bool {
        let name = obj.pointer("/metadata/name").and_then(Value::as_str);
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
        if self.name.as_deref().is_some_and(|n| Some(n) != name) {
            return false;
        }
        if self.namespace.as_deref().is_some_and(|n| Some(n) != ns) {
            return false;
        }
        if let Some(l) = &self.labels
            && !l.matches_json(obj.pointer("/metadata/labels"))
        {
            return false;
        }
        if let Some(f) = &self.fields {
            let lookup = |k: &str| match k {
                "metadata.name" => name.map(str::to_owned),
                "metadata.namespace" => ns.map(str::to_owned),
                _ => None,
            };
            if !f.matches(&lookup) {
                return false;
            }
        }
        true
    }
}

async fn objects<S: Store>(
    api: &Arc<Api<S>>,
    plural: &str,
    namespace: Option<&str>,
) -> Result<Vec<Value>, ApiError> {
    let reg = api.registry();
    let res = reg.get("", "v1", plural).ok_or_else(ApiError::no_route)?;
    let list = api
        .store
        .list(&res.collection_key(namespace), ListOptions::default())
        .await
        .map_err(|e| store_error(&res, "", e))?;
    list.items
        .iter()
        .map(|kv| crate::objects::decode_for(&res, kv))
        .collect()
}

fn is_ready(node: &Value) -> bool {
    node.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// The summaries of the named Ready nodes; a node that cannot answer is
/// logged and left out, as metrics-server leaves out failed scrapes.
async fn summaries<S: Store>(api: &Arc<Api<S>>, nodes: &[Value]) -> Vec<(String, Value)> {
    let asks = nodes.iter().filter(|n| is_ready(n)).filter_map(|n| {
        let name = n.pointer("/metadata/name")?.as_str()?.to_owned();
        let addr = node_endpoint(n)?;
        let api = api.clone();
        Some(async move {
            let r = api
                .node_client
                .get(&name, addr, "/stats/summary", NODE_TIMEOUT)
                .await
                .and_then(|b| {
                    serde_json::from_slice::<Value>(&b)
                        .map_err(|e| ApiError::internal(format!("summary of node {name}: {e}")))
                });
            match r {
                Ok(v) => Some((name, v)),
                Err(e) => {
                    tracing::warn!(node = %name, error = %e.message, "no stats from node");
                    None
                }
            }
        })
    });
    futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// CPU in nanocores as metrics-server prints it (`12345n`, or canonical).
pub fn cpu_quantity(nano_cores: u64) -> String {
    Quantity::from_nanos(i128::from(nano_cores), Format::DecimalSI).canonical()
}

/// Memory in bytes, rounded down to whole Ki (`2048Ki` prints as `2Mi`).
pub fn memory_quantity(bytes: u64) -> String {
    // Clamped so that `ki * 1024` fits an i64 (memory beyond 8 EiB).
    let ki = i64::try_from(bytes / 1024)
        .unwrap_or(i64::MAX)
        .min(i64::MAX / 1024);
    Quantity::from_units(ki * 1024, Format::BinarySI).canonical()
}

/// `{cpu, memory}` of a summary's cpu and memory objects, if both have
/// numbers.
pub fn usage(stats: &Value) -> Option<(Value, String)> {
    let cpu = stats.pointer("/cpu/usageNanoCores")?.as_u64()?;
    let mem = stats.pointer("/memory/workingSetBytes")?.as_u64()?;
    let time = stats
        .pointer("/cpu/time")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    Some((
        json!({"cpu": cpu_quantity(cpu), "memory": memory_quantity(mem)}),
        time,
    ))
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

async fn node_metrics<S: Store>(
    api: &Arc<Api<S>>,
    sel: &Selection,
) -> Result<Vec<Value>, ApiError> {
    let nodes: Vec<Value> = objects(api, "nodes", None)
        .await?
        .into_iter()
        .filter(|n| sel.selects(n))
        .collect();
    let sums = summaries(api, &nodes).await;
    let mut out = Vec::new();
    for n in &nodes {
        let name = n.pointer("/metadata/name").and_then(Value::as_str);
        let Some((_, s)) = sums.iter().find(|(sn, _)| Some(sn.as_str()) == name) else {
            continue;
        };
        if let Some(m) = node_item(n, s) {
            out.push(m);
        }
    }
    Ok(out)
}

/// A NodeMetrics from the Node and its summary.
pub fn node_item(node: &Value, summary: &Value) -> Option<Value> {
    let (usage, time) = usage(summary.get("node")?)?;
    let mut meta = json!({"name": node.pointer("/metadata/name")?, "creationTimestamp": now()});
    if let Some(l) = node.pointer("/metadata/labels") {
        meta["labels"] = l.clone();
    }
    Some(json!({
        "kind": "NodeMetrics",
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": meta,
        "timestamp": time,
        "window": WINDOW,
        "usage": usage,
    }))
}

async fn pod_metrics<S: Store>(api: &Arc<Api<S>>, sel: &Selection) -> Result<Vec<Value>, ApiError> {
    let pods: Vec<Value> = objects(api, "pods", sel.namespace.as_deref())
        .await?
        .into_iter()
        .filter(|p| sel.selects(p) && p.pointer("/status/phase") == Some(&json!("Running")))
        .collect();
    let mut wanted: Vec<&str> = pods
        .iter()
        .filter_map(|p| p.pointer("/spec/nodeName").and_then(Value::as_str))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let nodes: Vec<Value> = objects(api, "nodes", None)
        .await?
        .into_iter()
        .filter(|n| {
            n.pointer("/metadata/name")
                .and_then(Value::as_str)
                .is_some_and(|x| wanted.binary_search(&x).is_ok())
        })
        .collect();
    let sums = summaries(api, &nodes).await;
    let by_ref: HashMap<(&str, &str), &Value> = sums
        .iter()
        .filter_map(|(_, s)| s.get("pods")?.as_array())
        .flatten()
        .filter_map(|p| {
            let ns = p.pointer("/podRef/namespace")?.as_str()?;
            let name = p.pointer("/podRef/name")?.as_str()?;
            Some(((ns, name), p))
        })
        .collect();
    let mut out = Vec::new();
    for p in &pods {
        let ns = p.pointer("/metadata/namespace").and_then(Value::as_str);
        let name = p.pointer("/metadata/name").and_then(Value::as_str);
        let (Some(ns), Some(name)) = (ns, name) else {
            continue;
        };
        if let Some(m) = by_ref.get(&(ns, name)).and_then(|s| pod_item(p, s)) {
            out.push(m);
        }
    }
    Ok(out)
}

/// A PodMetrics from the Pod and its entry in a summary; `None` unless
/// every container has numbers and the pod's UID matches (a pod recreated
/// under the same name is not yet measured).
pub fn pod_item(pod: &Value, stats: &Value) -> Option<Value> {
    let uid = pod.pointer("/metadata/uid").and_then(Value::as_str);
    let ref_uid = stats.pointer("/podRef/uid").and_then(Value::as_str);
    if uid.is_some() && ref_uid.is_some() && uid != ref_uid {
        return None;
    }
    let mut containers = Vec::new();
    let mut latest = String::new();
    for c in stats.get("containers")?.as_array()? {
        let (usage, time) = usage(c)?;
        latest = latest.max(time);
        containers.push(json!({"name": c.get("name")?, "usage": usage}));
    }
    if containers.is_empty() {
        return None;
    }
    let mut meta = json!({
        "name": pod.pointer("/metadata/name")?,
        "namespace": pod.pointer("/metadata/namespace")?,
        "creationTimestamp": now(),
    });
    if let Some(l) = pod.pointer("/metadata/labels") {
        meta["labels"] = l.clone();
    }
    Some(json!({
        "kind": "PodMetrics",
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": meta,
        "timestamp": latest,
        "window": WINDOW,
        "containers": containers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_print_as_metrics_server_does() {
        assert_eq!(cpu_quantity(12_345), "12345n");
        assert_eq!(cpu_quantity(250_000_000), "250m");
        assert_eq!(cpu_quantity(0), "0");
        assert_eq!(memory_quantity(5 * 1024 + 17), "5Ki");
        assert_eq!(memory_quantity(2048 * 1024), "2Mi");
        assert_eq!(memory_quantity(u64::MAX), format!("{}Ki", i64::MAX / 1024));
    }

    fn summary() -> Value {
        json!({
            "node": {"nodeName": "n1",
                "cpu": {"time": "2026-01-01T00:00:00Z", "usageNanoCores": 1_000_000, "usageCoreNanoSeconds": 5},
                "memory": {"time": "2026-01-01T00:00:00Z", "workingSetBytes": 4096}},
            "pods": [{"podRef": {"name": "p", "namespace": "default", "uid": "u1"},
                "containers": [{"name": "c",
                    "cpu": {"time": "2026-01-01T00:00:01Z", "usageNanoCores": 42},
                    "memory": {"time": "2026-01-01T00:00:01Z", "workingSetBytes": 1024}}]}]
        })
    }

    #[test]
    fn node_metrics_from_a_summary() {
        let node = json!({"metadata": {"name": "n1", "labels": {"a": "b"}}});
        let m = node_item(&node, &summary()).expect("metrics");
        assert_eq!(m["kind"], "NodeMetrics");
        assert_eq!(m["usage"]["cpu"], "1m");
        assert_eq!(m["usage"]["memory"], "4Ki");
        assert_eq!(m["metadata"]["labels"]["a"], "b");
        let no_rate = json!({"node": {"memory": {"workingSetBytes": 1}, "cpu": {}}});
        assert!(node_item(&node, &no_rate).is_none());
    }

    #[test]
    fn pod_metrics_need_every_container_and_the_same_uid() {
        let s = summary();
        let entry = &s["pods"][0];
        let pod = json!({"metadata": {"name": "p", "namespace": "default", "uid": "u1"}});
        let m = pod_item(&pod, entry).expect("metrics");
        assert_eq!(m["containers"][0]["usage"]["cpu"], "42n");
        assert_eq!(m["containers"][0]["usage"]["memory"], "1Ki");
        assert_eq!(m["timestamp"], "2026-01-01T00:00:01Z");
        let other = json!({"metadata": {"name": "p", "namespace": "default", "uid": "u2"}});
        assert!(pod_item(&other, entry).is_none());
        let mut partial = entry.clone();
        partial["containers"][0]["cpu"] = json!({});
        assert!(pod_item(&pod, &partial).is_none());
    }

    #[test]
    fn selection_by_labels_and_fields() {
        let sel = Selection {
            labels: LabelSelector::parse("app=web").ok(),
            fields: FieldSelector::parse("metadata.name=p").ok(),
            name: None,
            namespace: Some("default".into()),
        };
        let p =
            json!({"metadata": {"name": "p", "namespace": "default", "labels": {"app": "web"}}});
        assert!(sel.selects(&p));
        let q =
            json!({"metadata": {"name": "q", "namespace": "default", "labels": {"app": "web"}}});
        assert!(!sel.selects(&q));
    }
}
