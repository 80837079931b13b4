//! Filter plugins: why a node cannot take a pod, in the words Kubernetes'
//! scheduler uses, so `kubectl describe pod` reads the same.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, Taint, Toleration,
};

use crate::resources::{Amounts, node_allocatable};

/// Kubernetes' reason for a node whose labels do not match.
pub const NODE_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
/// Kubernetes' reason for a cordoned node.
pub const UNSCHEDULABLE: &str = "node(s) were unschedulable";

/// What the scheduler knows about a pod beyond its spec.
#[derive(Debug, Clone, Default)]
pub struct PodInfo {
    /// The pod's effective request.
    pub requests: Amounts,
    /// The RuntimeClass handler it needs (`None`: the node's default).
    pub handler: Option<String>,
    /// Node selector added by the RuntimeClass's `scheduling`.
    pub extra_selector: BTreeMap<String, String>,
    /// Tolerations added by the RuntimeClass's `scheduling`.
    pub extra_tolerations: Vec<Toleration>,
    /// The required node affinity of each PersistentVolume the pod's
    /// claims are bound to (the VolumeBinding plugin's filter).
    pub volume_affinity: Vec<NodeSelector>,
    /// Claims of the pod that wait for their first consumer: the chosen
    /// node is written onto them before binding.
    pub delayed_claims: Vec<String>,
}

/// The VolumeBinding plugin's reason for a node its volumes cannot reach.
pub const VOLUME_AFFINITY: &str = "node(s) had volume node affinity conflict";

/// The RuntimeClass handlers a node serves, from `status.runtimeHandlers`
/// (the Kubernetes 1.30+ field the node agent fills in).
pub fn node_handlers(node: &Node) -> Vec<String> {
    node.status
        .as_ref()
        .and_then(|s| s.runtime_handlers.as_ref())
        .map(|hs| hs.iter().filter_map(|h| h.name.clone()).collect())
        .unwrap_or_default()
}

fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// The node's taints, plus `node.kubernetes.io/not-ready:NoSchedule` when its
/// Ready condition is not True (what the node lifecycle controller adds in
/// Kubernetes; Skiff has no such controller yet, so the scheduler infers it)
/// and `node.kubernetes.io/unschedulable` when cordoned.
fn effective_taints(node: &Node) -> Vec<Taint> {
    let mut taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let has = |t: &[Taint], k: &str| t.iter().any(|t| t.key == k);
    if !is_ready(node) && !has(&taints, "node.kubernetes.io/not-ready") {
        taints.push(Taint {
            key: "node.kubernetes.io/not-ready".into(),
            effect: "NoSchedule".into(),
            ..Taint::default()
        });
    }
    taints
}

fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => t
            .key
            .as_deref()
            .is_none_or(|k| k.is_empty() || k == taint.key),
        _ => {
            t.key.as_deref() == Some(taint.key.as_str())
                && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
    }
}

fn requirement_matches(r: &NodeSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let value = labels.get(&r.key);
    let values = r.values.as_deref().unwrap_or_default();
    let num = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => {
            matches!((value.and_then(|v| num(v)), values.first().and_then(|v| num(v))), (Some(a), Some(b)) if a > b)
        }
        "Lt" => {
            matches!((value.and_then(|v| num(v)), values.first().and_then(|v| num(v))), (Some(a), Some(b)) if a < b)
        }
        _ => false,
    }
}

fn term_matches(term: &NodeSelectorTerm, node: &Node, labels: &BTreeMap<String, String>) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let name = node.metadata.name.clone().unwrap_or_default();
    let field_labels = BTreeMap::from([("metadata.name".to_owned(), name)]);
    exprs.iter().all(|r| requirement_matches(r, labels))
        && fields.iter().all(|r| requirement_matches(r, &field_labels))
}

fn affinity_matches(pod: &Pod, info: &PodInfo, node: &Node) -> bool {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let spec = pod.spec.as_ref();
    let selector = spec
        .and_then(|s| s.node_selector.clone())
        .unwrap_or_default();
    if !selector
        .iter()
        .chain(info.extra_selector.iter())
        .all(|(k, v)| labels.get(k) == Some(v))
    {
        return false;
    }
    let required = spec
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    required.is_none_or(|r| {
        r.node_selector_terms
            .iter()
            .any(|t| term_matches(t, node, &labels))
    })
}

/// Every reason `node` cannot take the pod (empty: it fits). `used` is what
/// pods already on the node request.
pub fn filter(pod: &Pod, info: &PodInfo, node: &Node, used: &Amounts) -> Vec<String> {
    let mut reasons = Vec::new();
    let tolerations: Vec<Toleration> = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default()
        .into_iter()
        .chain(info.extra_tolerations.iter().cloned())
        .collect();
    let cordoned = node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false);
    if cordoned {
        let taint = Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            effect: "NoSchedule".into(),
            ..Taint::default()
        };
        if !tolerations.iter().any(|t| tolerates(t, &taint)) {
            reasons.push(UNSCHEDULABLE.to_owned());
        }
    }
    if !affinity_matches(pod, info, node) {
        reasons.push(NODE_AFFINITY.to_owned());
    }
    let labels = node.metadata.labels.clone().unwrap_or_default();
    if !info.volume_affinity.iter().all(|sel| {
        sel.node_selector_terms
            .iter()
            .any(|t| term_matches(t, node, &labels))
    }) {
        reasons.push(VOLUME_AFFINITY.to_owned());
    }
    if let Some(t) = effective_taints(node).iter().find(|taint| {
        matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute")
            && !tolerations.iter().any(|t| tolerates(t, taint))
    }) {
        reasons.push(format!(
            "node(s) had untolerated taint {{{}: {}}}",
            t.key,
            t.value.as_deref().unwrap_or("")
        ));
    }
    if let Some(h) = &info.handler
        && !node_handlers(node).contains(h)
    {
        reasons.push(format!(
            "node(s) didn't support the runtime handler \"{h}\""
        ));
    }
    let alloc = node_allocatable(node);
    let req = &info.requests;
    if used.pods + req.pods > alloc.pods {
        reasons.push("Too many pods".to_owned());
    }
    if req.cpu_millis > 0 && used.cpu_millis + req.cpu_millis > alloc.cpu_millis {
        reasons.push("Insufficient cpu".to_owned());
    }
    if req.memory_bytes > 0 && used.memory_bytes + req.memory_bytes > alloc.memory_bytes {
        reasons.push("Insufficient memory".to_owned());
    }
    reasons
}

/// The NodePorts plugin's reason for a node where a wanted host port is taken.
pub const HOST_PORTS: &str = "node(s) didn't have free ports for the requested pod ports";

/// A host port a pod's container binds on its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// The host address (`0.0.0.0`: every address).
    pub ip: String,
    /// TCP, UDP or SCTP.
    pub protocol: String,
    /// The port.
    pub port: i32,
}

/// The host ports `pod` asks for: its app containers' and its sidecars'
/// (the containers that run beside them), as the NodePorts plugin counts.
pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    spec.containers
        .iter()
        .chain(sidecars)
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|&h| h > 0)?;
            Some(HostPort {
                ip: p
                    .host_ip
                    .clone()
                    .filter(|ip| !ip.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".into()),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                port,
            })
        })
        .collect()
}

/// Whether any of `wanted` collides with `used` on a node: same port and
/// protocol, and the same address or either one `0.0.0.0`.
pub fn ports_conflict(wanted: &[HostPort], used: &[HostPort]) -> bool {
    wanted.iter().any(|w| {
        used.iter().any(|u| {
            u.port == w.port
                && u.protocol == w.protocol
                && (u.ip == w.ip || u.ip == "0.0.0.0" || w.ip == "0.0.0.0")
        })
    })
}

/// The `FailedScheduling` message: `0/N nodes are available: ` and each
/// reason with the number of nodes it ruled out, sorted as Kubernetes sorts
/// them.
pub fn fit_error(nodes: usize, per_node: &[Vec<String>]) -> String {
    if nodes == 0 {
        return "no nodes available to schedule pods".to_owned();
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in per_node.iter().flatten() {
        *counts.entry(r.as_str()).or_default() += 1;
    }
    let mut parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    format!("0/{nodes} nodes are available: {}.", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn host_ports_conflict_as_the_node_ports_plugin_says() {
        let p = pod(json!({"containers": [{"name": "a", "ports": [
            {"containerPort": 80, "hostPort": 8080},
            {"containerPort": 53, "hostPort": 5353, "protocol": "UDP", "hostIP": "10.0.0.1"},
            {"containerPort": 9000}]}],
            "initContainers": [{"name": "side", "restartPolicy": "Always",
                "ports": [{"containerPort": 81, "hostPort": 8181}]},
                {"name": "once", "ports": [{"containerPort": 82, "hostPort": 8282}]}]}));
        let wanted = host_ports(&p);
        let ports: Vec<i32> = wanted.iter().map(|h| h.port).collect();
        assert_eq!(ports, [8080, 5353, 8181]);
        let at = |ip: &str, protocol: &str, port| HostPort {
            ip: ip.into(),
            protocol: protocol.into(),
            port,
        };
        assert!(ports_conflict(&wanted, &[at("0.0.0.0", "TCP", 8080)]));
        assert!(ports_conflict(&wanted, &[at("127.0.0.1", "TCP", 8080)]));
        assert!(!ports_conflict(&wanted, &[at("0.0.0.0", "UDP", 8080)]));
        assert!(ports_conflict(&wanted, &[at("0.0.0.0", "UDP", 5353)]));
        assert!(!ports_conflict(&wanted, &[at("10.0.0.2", "UDP", 5353)]));
        assert!(!ports_conflict(&wanted, &[at("0.0.0.0", "TCP", 8282)]));
    }

    fn node(extra: serde_json::Value) -> Node {
        let mut n = json!({
            "metadata": {"name": "n1", "labels": {"kubernetes.io/os": "linux"}},
            "spec": {},
            "status": {
                "allocatable": {"cpu": "2", "memory": "1Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}],
                "runtimeHandlers": [{"name": "wasmtime"}]
            }
        });
        json_patch::merge(&mut n, &extra);
        serde_json::from_value(n).expect("node")
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).expect("pod")
    }

    fn info(p: &Pod, handler: Option<&str>) -> PodInfo {
        PodInfo {
            requests: crate::resources::pod_requests(p),
            handler: handler.map(str::to_owned),
            ..PodInfo::default()
        }
    }

    #[test]
    fn insufficient_memory_in_kubernetes_words() {
        let p = pod(
            json!({"containers": [{"name": "c", "resources": {"requests": {"memory": "100Gi"}}}]}),
        );
        let n = node(json!({}));
        let r = filter(&p, &info(&p, None), &n, &Amounts::default());
        assert_eq!(r, ["Insufficient memory"]);
        assert_eq!(
            fit_error(1, &[r]),
            "0/1 nodes are available: 1 Insufficient memory."
        );
    }

    #[test]
    fn selector_taints_handlers_and_cordon() {
        let p = pod(json!({"containers": [{"name": "c"}], "nodeSelector": {"disk": "ssd"}}));
        let n = node(json!({
            "spec": {"unschedulable": true, "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "False"}]}
        }));
        let r = filter(&p, &info(&p, Some("runc")), &n, &Amounts::default());
        assert_eq!(
            r,
            [
                UNSCHEDULABLE,
                NODE_AFFINITY,
                "node(s) had untolerated taint {k: v}",
                "node(s) didn't support the runtime handler \"runc\""
            ]
        );
        let p =
            pod(json!({"containers": [{"name": "c"}], "tolerations": [{"operator": "Exists"}]}));
        assert!(filter(&p, &info(&p, Some("wasmtime")), &n, &Amounts::default()).is_empty());
    }

    #[test]
    fn required_node_affinity() {
        let term = |op: &str, vals: serde_json::Value| {
            pod(
                json!({"containers": [{"name": "c"}], "affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "kubernetes.io/os", "operator": op, "values": vals}]}
                ]}}}}),
            )
        };
        let n = node(json!({}));
        let fits = |p: &Pod| filter(p, &info(p, None), &n, &Amounts::default()).is_empty();
        assert!(fits(&term("In", json!(["linux"]))));
        assert!(!fits(&term("NotIn", json!(["linux"]))));
        assert!(!fits(&term("DoesNotExist", json!([]))));
    }

    #[test]
    fn volume_node_affinity() {
        let p = pod(json!({"containers": [{"name": "c"}]}));
        let mut i = info(&p, None);
        i.volume_affinity = vec![
            serde_json::from_value(json!({"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n2"]}]}]}))
            .expect("selector"),
        ];
        let here = node(json!({"metadata": {"labels": {"kubernetes.io/hostname": "n1"}}}));
        let there = node(json!({"metadata": {"labels": {"kubernetes.io/hostname": "n2"}}}));
        assert_eq!(
            filter(&p, &i, &here, &Amounts::default()),
            [VOLUME_AFFINITY]
        );
        assert!(filter(&p, &i, &there, &Amounts::default()).is_empty());
    }

    #[test]
    fn fit_error_sorts_counted_reasons() {
        let m = fit_error(
            3,
            &[
                vec!["Insufficient cpu".into(), "Insufficient memory".into()],
                vec!["Insufficient memory".into()],
                vec![NODE_AFFINITY.into()],
            ],
        );
        assert_eq!(
            m,
            "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient memory."
        );
        assert_eq!(fit_error(0, &[]), "no nodes available to schedule pods");
    }
}
