//! The arithmetic of a rolling update, as Kubernetes'
//! `deployment/util` and `rolling.go` do it: how far above and below
//! `spec.replicas` a rollout may go, and by how much each step may scale.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// `spec.replicas`, defaulting to 1.
pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// A ReplicaSet's `spec.replicas`.
pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// A ReplicaSet's `status.availableReplicas`, capped at `spec.replicas`:
/// right after a scale-down the status still counts pods that are being
/// deleted, and counting them would let the next step go below
/// `replicas - maxUnavailable`.
pub fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
        .min(rs_replicas(rs))
}

/// Whether the strategy is `Recreate`.
pub fn is_recreate(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        == Some("Recreate")
}

/// An int-or-percent scaled against `total` (Kubernetes'
/// `GetScaledValueFromIntOrPercent`); malformed percentages count as 0 (the
/// API server validates them).
pub fn scaled(v: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match v {
        None => 0,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => {
            let Some(p) = s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) else {
                return 0;
            };
            let prod = p * i64::from(total);
            let v = if round_up {
                (prod + 99).div_euclid(100)
            } else {
                prod.div_euclid(100)
            };
            i32::try_from(v).unwrap_or(i32::MAX)
        }
    }
}

/// `(maxSurge, maxUnavailable)` resolved against `spec.replicas`: surge
/// rounds up, unavailable down, and both zero means one may be unavailable
/// (Kubernetes' `ResolveFenceposts`).
pub fn fenceposts(d: &Deployment) -> (i32, i32) {
    if is_recreate(d) {
        return (0, 0);
    }
    let ru = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let default = IntOrString::String("25%".into());
    let surge_v = ru.and_then(|r| r.max_surge.as_ref()).unwrap_or(&default);
    let unavail_v = ru
        .and_then(|r| r.max_unavailable.as_ref())
        .unwrap_or(&default);
    let desired = replicas(d);
    let surge = scaled(Some(surge_v), desired, true);
    let mut unavailable = scaled(Some(unavail_v), desired, false);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

/// `maxSurge` of a rolling Deployment, 0 for Recreate.
pub fn max_surge(d: &Deployment) -> i32 {
    fenceposts(d).0
}

/// `maxUnavailable`, never above `spec.replicas` (Kubernetes'
/// `MaxUnavailable`).
pub fn max_unavailable(d: &Deployment) -> i32 {
    let desired = replicas(d);
    if is_recreate(d) || desired == 0 {
        return 0;
    }
    fenceposts(d).1.min(desired)
}

/// Sum of `spec.replicas` over `rss`.
pub fn total_replicas<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    rss.into_iter().map(rs_replicas).sum()
}

/// The size the new ReplicaSet may grow to now (Kubernetes'
/// `NewRSNewReplicas`): up to `replicas + maxSurge` pods in all.
pub fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new_rs: &ReplicaSet) -> i32 {
    let desired = replicas(d);
    if is_recreate(d) {
        return desired;
    }
    let current = total_replicas(all.iter().copied());
    let max_total = desired + max_surge(d);
    let new_now = rs_replicas(new_rs);
    if current >= max_total {
        return new_now;
    }
    let up = (max_total - current).min(desired - new_now);
    new_now + up.max(0)
}

/// How many old pods may go now without dropping below
/// `replicas - maxUnavailable` available (Kubernetes'
/// `reconcileOldReplicaSets` budget, before unhealthy clean-up).
pub fn old_scale_down_budget(
    d: &Deployment,
    all: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
) -> i32 {
    let all_pods = total_replicas(all.iter().copied());
    let min_available = replicas(d) - max_unavailable(d);
    let new_unavailable = new_rs.map_or(0, |rs| rs_replicas(rs) - rs_available(rs));
    all_pods - min_available - new_unavailable
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(
        replicas: i32,
        surge: serde_json::Value,
        unavailable: serde_json::Value,
    ) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "d"},
            "spec": {"replicas": replicas, "selector": {},
                "template": {},
                "strategy": {"type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}}
        }))
        .expect("deployment")
    }

    #[test]
    fn surge_rounds_up_unavailable_rounds_down() {
        assert_eq!(fenceposts(&deploy(3, json!("25%"), json!("25%"))), (1, 0));
        assert_eq!(fenceposts(&deploy(10, json!("25%"), json!("25%"))), (3, 2));
        assert_eq!(fenceposts(&deploy(3, json!(0), json!(0))), (0, 1));
        assert_eq!(fenceposts(&deploy(3, json!("0%"), json!("0%"))), (0, 1));
        assert_eq!(max_unavailable(&deploy(2, json!(0), json!(5))), 2);
    }

    #[test]
    fn recreate_has_no_surge() {
        let mut d = deploy(3, json!(1), json!(1));
        if let Some(s) = d.spec.as_mut() {
            s.strategy = Some(k8s_openapi::api::apps::v1::DeploymentStrategy {
                type_: Some("Recreate".into()),
                rolling_update: None,
            });
        }
        assert_eq!((max_surge(&d), max_unavailable(&d)), (0, 0));
    }
}
