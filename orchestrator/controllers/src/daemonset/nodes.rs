//! Which nodes a DaemonSet's pod belongs on, and the pod it gets there
//! (Kubernetes' `NodeShouldRunDaemonPod`, `AddOrUpdateDaemonPodTolerations`
//! and `ReplaceDaemonSetPodNodeNameNodeAffinity`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodSpec, PodTemplateSpec, Taint, Toleration,
};

/// What a node means for a DaemonSet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// A pod should be created here if none runs.
    pub should_run: bool,
    /// A pod already here may stay (it tolerates the NoExecute taints).
    pub should_continue_running: bool,
}

/// The DaemonSet's template.
pub fn template(ds: &DaemonSet) -> PodTemplateSpec {
    ds.spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default()
}

/// Kubernetes' `NodeShouldRunDaemonPod`: the node name, nodeSelector and
/// required node affinity must fit; untolerated NoSchedule taints stop new
/// pods, untolerated NoExecute taints also evict running ones. Node
/// readiness and cordoning count only through their taints and the
/// automatic tolerations, as in Kubernetes.
pub fn placement(ds: &DaemonSet, node: &Node) -> Placement {
    let no = Placement {
        should_run: false,
        should_continue_running: false,
    };
    let spec = template(ds).spec.unwrap_or_default();
    let node_name = node.metadata.name.clone().unwrap_or_default();
    if spec
        .node_name
        .as_deref()
        .is_some_and(|n| !n.is_empty() && n != node_name)
    {
        return no;
    }
    if !fits_affinity(&spec, node) {
        return no;
    }
    let tolerations = with_daemon_tolerations(spec.tolerations.clone().unwrap_or_default(), &spec);
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let untolerated = |effect: &str| {
        taints
            .iter()
            .filter(|t| t.effect == effect)
            .any(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
    };
    if untolerated("NoExecute") {
        return no;
    }
    if untolerated("NoSchedule") {
        return Placement {
            should_run: false,
            should_continue_running: true,
        };
    }
    // A cordoned node carries the unschedulable taint in Kubernetes;
    // Skiff's scheduler reads `spec.unschedulable` itself, and daemon pods
    // tolerate both.
    Placement {
        should_run: true,
        should_continue_running: true,
    }
}

/// The pod's tolerations plus Kubernetes' automatic DaemonSet ones.
pub fn with_daemon_tolerations(
    mut tolerations: Vec<Toleration>,
    spec: &PodSpec,
) -> Vec<Toleration> {
    let mut add = |key: &str, effect: &str| {
        let t = Toleration {
            key: Some(key.to_owned()),
            operator: Some("Exists".to_owned()),
            effect: Some(effect.to_owned()),
            ..Toleration::default()
        };
        let present = tolerations
            .iter()
            .any(|x| x.key == t.key && x.effect == t.effect && x.operator == t.operator);
        if !present {
            tolerations.push(t);
        }
    };
    add("node.kubernetes.io/not-ready", "NoExecute");
    add("node.kubernetes.io/unreachable", "NoExecute");
    add("node.kubernetes.io/disk-pressure", "NoSchedule");
    add("node.kubernetes.io/memory-pressure", "NoSchedule");
    add("node.kubernetes.io/pid-pressure", "NoSchedule");
    add("node.kubernetes.io/unschedulable", "NoSchedule");
    if spec.host_network == Some(true) {
        add("node.kubernetes.io/network-unavailable", "NoSchedule");
    }
    tolerations
}

/// Kubernetes' `Toleration.ToleratesTaint`.
fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(e) = t.effect.as_deref().filter(|e| !e.is_empty())
        && e != taint.effect
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

fn fits_affinity(spec: &PodSpec, node: &Node) -> bool {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let selector = spec.node_selector.clone().unwrap_or_default();
    if !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
        return false;
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    let fields = BTreeMap::from([(
        "metadata.name".to_owned(),
        node.metadata.name.clone().unwrap_or_default(),
    )]);
    required.is_none_or(|r| {
        r.node_selector_terms.iter().any(|t| {
            let exprs = t.match_expressions.as_deref().unwrap_or_default();
            let fs = t.match_fields.as_deref().unwrap_or_default();
            (!exprs.is_empty() || !fs.is_empty())
                && exprs.iter().all(|r| requirement_matches(r, &labels))
                && fs.iter().all(|r| requirement_matches(r, &fields))
        })
    })
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
        "Gt" => matches!((value.and_then(|v| num(v)), values.first().and_then(|v| num(v))),
            (Some(a), Some(b)) if a > b),
        "Lt" => matches!((value.and_then(|v| num(v)), values.first().and_then(|v| num(v))),
            (Some(a), Some(b)) if a < b),
        _ => false,
    }
}

/// The node a daemon pod is for: its `spec.nodeName`, or before binding
/// the `metadata.name` its required affinity names (Kubernetes'
/// `GetTargetNodeName`).
pub fn target_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(n.to_owned());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|t| {
        t.match_fields.as_deref()?.iter().find_map(|f| {
            (f.key == "metadata.name" && f.operator == "In")
                .then(|| f.values.as_deref()?.first().cloned())
                .flatten()
        })
    })
}

/// Kubernetes' `ReplaceDaemonSetPodNodeNameNodeAffinity`: every required
/// term (or a new one) gets `metadata.name In [node]` as its only field
/// requirement, so the scheduler can place the pod nowhere else.
pub fn pin_to_node(affinity: Option<Affinity>, node: &str) -> Affinity {
    let field = NodeSelectorRequirement {
        key: "metadata.name".to_owned(),
        operator: "In".to_owned(),
        values: Some(vec![node.to_owned()]),
    };
    let mut affinity = affinity.unwrap_or_default();
    let na = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    let required = na
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(NodeSelector::default);
    if required.node_selector_terms.is_empty() {
        required
            .node_selector_terms
            .push(NodeSelectorTerm::default());
    }
    for t in &mut required.node_selector_terms {
        t.match_fields = Some(vec![field.clone()]);
    }
    affinity
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ds(spec: serde_json::Value) -> DaemonSet {
        serde_json::from_value(json!({"metadata": {"name": "d"}, "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": spec}}}))
        .expect("ds")
    }

    fn node(extra: serde_json::Value) -> Node {
        let mut v = json!({"metadata": {"name": "n1", "labels": {"disk": "ssd"}}});
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            for (k, x) in e {
                o.insert(k.clone(), x.clone());
            }
        }
        serde_json::from_value(v).expect("node")
    }

    #[test]
    fn selectors_and_affinity_choose_nodes() {
        let n = node(json!({}));
        assert!(placement(&ds(json!({"containers": []})), &n).should_run);
        assert!(!placement(&ds(json!({"nodeSelector": {"disk": "hdd"}})), &n).should_run);
        let aff = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In",
            "values": ["n2"]}]}]}}});
        assert!(!placement(&ds(json!({"affinity": aff})), &n).should_run);
    }

    #[test]
    fn taints_stop_new_pods_and_noexecute_evicts() {
        let sched = node(json!({"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}));
        let p = placement(&ds(json!({})), &sched);
        assert!(!p.should_run && p.should_continue_running);
        let exec = node(json!({"spec": {"taints": [{"key": "k", "effect": "NoExecute"}]}}));
        let p = placement(&ds(json!({})), &exec);
        assert!(!p.should_run && !p.should_continue_running);
        let tolerated = ds(json!({"tolerations": [{"key": "k", "operator": "Exists"}]}));
        assert!(placement(&tolerated, &exec).should_run);
        // The automatic tolerations: cordoned and not-ready nodes keep daemons.
        let auto = node(json!({"spec": {"unschedulable": true, "taints": [
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]}}));
        assert!(placement(&ds(json!({})), &auto).should_run);
    }

    #[test]
    fn pods_are_pinned_by_match_fields() {
        let a = pin_to_node(None, "n1");
        let pod = Pod {
            spec: Some(PodSpec {
                affinity: Some(a),
                ..PodSpec::default()
            }),
            ..Pod::default()
        };
        assert_eq!(target_node(&pod).as_deref(), Some("n1"));
    }
}
