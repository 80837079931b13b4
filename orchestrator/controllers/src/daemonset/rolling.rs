//! The RollingUpdate strategy (Kubernetes' `rollingUpdate` in
//! `daemonset/update.go`): which old pods to delete and on which nodes to
//! surge a new pod, given what runs on each node. Pure, so it is tested
//! without a server.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::history::HASH_LABEL;
use crate::pods;

/// What one rolling-update step does.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Names of old pods to delete.
    pub delete: Vec<String>,
    /// Nodes that get a new pod beside their old one.
    pub surge: Vec<String>,
}

/// `intOrPercent` of `total`, rounding percentages up (Kubernetes'
/// `GetScaledValueFromIntOrPercent(…, true)`); malformed values count as 0.
pub fn scaled(v: Option<&IntOrString>, total: i32) -> i32 {
    match v {
        None => 0,
        Some(IntOrString::Int(i)) => (*i).max(0),
        Some(IntOrString::String(s)) => {
            let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            let v = (pct.max(0) * i64::from(total) + 99) / 100;
            i32::try_from(v).unwrap_or(i32::MAX)
        }
    }
}

/// `(maxSurge, maxUnavailable)` for `desired` nodes; both zero means one
/// unavailable, as Kubernetes' `UnavailableCount` forces progress.
pub fn limits(ds: &DaemonSet, desired: i32) -> (i32, i32) {
    let ru = ds
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref());
    let surge = scaled(ru.and_then(|r| r.max_surge.as_ref()), desired);
    let default_unavailable = IntOrString::Int(1);
    let unavailable = scaled(
        Some(
            ru.and_then(|r| r.max_unavailable.as_ref())
                .unwrap_or(&default_unavailable),
        ),
        desired,
    );
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// Whether the pod carries the current revision's hash.
pub fn is_updated(pod: &Pod, hash: &str) -> bool {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(HASH_LABEL))
        .is_some_and(|h| h == hash)
}

/// The new and the old pod of one node, either possibly absent.
type NewAndOld = (Option<Arc<Pod>>, Option<Arc<Pod>>);

/// Kubernetes' `findUpdatedPodsOnNode`: the one new and one old pod of a
/// node; `None` when there are more of either (the manage step cleans up).
fn split(pods: &[Arc<Pod>], hash: &str) -> Option<NewAndOld> {
    let (mut new, mut old) = (None, None);
    for p in pods {
        let slot = if is_updated(p, hash) {
            &mut new
        } else {
            &mut old
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(p.clone());
    }
    Some((new, old))
}

/// One step of the rolling update over `by_node` (the active pods of the
/// nodes that should run the daemon).
pub fn step(
    by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
    hash: &str,
    max_surge: i32,
    max_unavailable: i32,
    min_ready: i32,
    now: jiff::Timestamp,
) -> Step {
    let available = |p: &Pod| pods::is_available(p, min_ready, now);
    let mut out = Step::default();
    if max_surge == 0 {
        let mut unavailable = 0;
        let mut candidates = Vec::new();
        for pods in by_node.values() {
            let Some((new, old)) = split(pods, hash) else {
                unavailable += 1;
                continue;
            };
            match (new, old) {
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (Some(n), None) => {
                    if !available(&n) {
                        unavailable += 1;
                    }
                }
                (None, Some(o)) => {
                    if !available(&o) {
                        // Replacing a pod that is down costs nothing.
                        out.delete.push(o.metadata.name.clone().unwrap_or_default());
                    } else if unavailable < max_unavailable {
                        candidates.push(o.metadata.name.clone().unwrap_or_default());
                    }
                }
            }
        }
        let room = usize::try_from(max_unavailable - unavailable)
            .unwrap_or(0)
            .min(candidates.len());
        out.delete.extend(candidates.into_iter().take(room));
        return out;
    }
    let mut surging = 0;
    let mut candidates = Vec::new();
    for (node, pods) in by_node {
        let Some((new, old)) = split(pods, hash) else {
            surging += 1;
            continue;
        };
        match (new, old) {
            (_, None) => {}
            (None, Some(o)) => {
                if available(&o) {
                    candidates.push(node.clone());
                } else {
                    out.surge.push(node.clone());
                }
            }
            (Some(n), Some(o)) => {
                if available(&n) {
                    out.delete.push(o.metadata.name.clone().unwrap_or_default());
                } else {
                    surging += 1;
                }
            }
        }
    }
    let room = usize::try_from(max_surge - surging)
        .unwrap_or(0)
        .min(candidates.len());
    out.surge.extend(candidates.into_iter().take(room));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, hash: &str, ready: bool) -> Arc<Pod> {
        let mut v = json!({"metadata": {"name": name, "labels": {HASH_LABEL: hash}}});
        if ready {
            v["status"] = json!({"phase": "Running", "conditions": [{"type": "Ready",
                "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
        }
        Arc::new(serde_json::from_value(v).expect("pod"))
    }

    fn nodes(pods: Vec<(&str, Vec<Arc<Pod>>)>) -> BTreeMap<String, Vec<Arc<Pod>>> {
        pods.into_iter().map(|(n, p)| (n.to_owned(), p)).collect()
    }

    #[test]
    fn percentages_round_up() {
        assert_eq!(scaled(Some(&IntOrString::String("10%".into())), 3), 1);
        assert_eq!(scaled(Some(&IntOrString::String("50%".into())), 3), 2);
        assert_eq!(scaled(Some(&IntOrString::Int(2)), 3), 2);
    }

    #[test]
    fn max_unavailable_bounds_deletions() {
        let now = jiff::Timestamp::now();
        let by = nodes(vec![
            ("a", vec![pod("a1", "old", true)]),
            ("b", vec![pod("b1", "old", true)]),
            ("c", vec![pod("c1", "old", false)]),
        ]);
        let s = step(&by, "new", 0, 1, 0, now);
        // The broken pod goes for free, plus one healthy one.
        assert_eq!(s.delete, ["c1", "a1"]);
        let by = nodes(vec![
            ("a", vec![pod("a2", "new", false)]),
            ("b", vec![pod("b1", "old", true)]),
        ]);
        assert!(step(&by, "new", 0, 1, 0, now).delete.is_empty());
    }

    #[test]
    fn surge_creates_then_deletes_once_available() {
        let now = jiff::Timestamp::now();
        let by = nodes(vec![
            ("a", vec![pod("a1", "old", true)]),
            ("b", vec![pod("b1", "old", true)]),
        ]);
        let s = step(&by, "new", 1, 0, 0, now);
        assert_eq!((s.surge, s.delete.len()), (vec!["a".to_owned()], 0));
        let by = nodes(vec![
            ("a", vec![pod("a1", "old", true), pod("a2", "new", true)]),
            ("b", vec![pod("b1", "old", true)]),
        ]);
        let s = step(&by, "new", 1, 0, 0, now);
        assert_eq!(
            (s.surge, s.delete),
            (vec!["b".to_owned()], vec!["a1".to_owned()])
        );
    }
}
