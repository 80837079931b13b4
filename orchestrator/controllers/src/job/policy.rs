//! Judging a failed pod: the Job's `podFailurePolicy`, and the exponential
//! back-off before a replacement (Kubernetes' `backoffRecord`, rebuilt from
//! the pods themselves so a restarted controller waits exactly as long).

use std::time::Duration;

use k8s_openapi::api::batch::v1::{JobSpec, PodFailurePolicyRule};
use k8s_openapi::api::core::v1::Pod;

/// What `podFailurePolicy` decides for one failed pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No rule matched, or a `Count` rule: counts toward `backoffLimit`.
    Count,
    /// An `Ignore` rule: not counted, the pod is replaced.
    Ignore,
    /// A `FailIndex` rule: the pod's index fails at once.
    FailIndex,
    /// A `FailJob` rule: the whole Job fails; the message says why.
    FailJob(String),
}

/// Applies the first matching rule of the Job's `podFailurePolicy`.
pub fn judge(spec: &JobSpec, pod: &Pod) -> Verdict {
    let Some(policy) = spec.pod_failure_policy.as_ref() else {
        return Verdict::Count;
    };
    for (i, rule) in policy.rules.iter().enumerate() {
        let Some(what) = rule_matches(rule, pod) else {
            continue;
        };
        return match rule.action.as_str() {
            "FailJob" => Verdict::FailJob(format!("{what} matching FailJob rule at index {i}")),
            "FailIndex" => Verdict::FailIndex,
            "Ignore" => Verdict::Ignore,
            _ => Verdict::Count,
        };
    }
    Verdict::Count
}

/// `Some(description)` when `rule` matches the failed `pod`.
fn rule_matches(rule: &PodFailurePolicyRule, pod: &Pod) -> Option<String> {
    let pod_name = format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.name.as_deref().unwrap_or("")
    );
    if let Some(req) = &rule.on_exit_codes {
        let statuses = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref());
        for cs in statuses.into_iter().flatten() {
            if req.container_name.as_ref().is_some_and(|n| *n != cs.name) {
                continue;
            }
            let Some(code) = cs
                .state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .map(|t| t.exit_code)
            else {
                continue;
            };
            // Containers that succeeded are out of scope of every rule.
            if code == 0 {
                continue;
            }
            let listed = req.values.contains(&code);
            let hit = match req.operator.as_str() {
                "In" => listed,
                "NotIn" => !listed,
                _ => false,
            };
            if hit {
                return Some(format!(
                    "Container {} for pod {pod_name} failed with exit code {code}",
                    cs.name
                ));
            }
        }
    }
    if let Some(patterns) = &rule.on_pod_conditions {
        let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
        for p in patterns {
            let want = if p.status.is_empty() {
                "True"
            } else {
                p.status.as_str()
            };
            if conditions
                .into_iter()
                .flatten()
                .any(|c| c.type_ == p.type_ && c.status == want)
            {
                return Some(format!("Pod {pod_name} has condition {}", p.type_));
            }
        }
    }
    None
}

/// When the pod finished: the latest container `finishedAt`, else the
/// deletion or creation time.
pub fn finished_at(pod: &Pod) -> Option<jiff::Timestamp> {
    let from_containers = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|cs| cs.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    from_containers
        .or_else(|| pod.metadata.deletion_timestamp.as_ref().map(|t| t.0))
        .or_else(|| pod.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// The back-off after `failures` failures in a row: `base`, doubled per
/// further failure, at most `max` (Kubernetes: 10 s … 6 min).
pub fn backoff(failures: u32, base: Duration, max: Duration) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let factor = 1u32.checked_shl(failures - 1).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(max).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (b, m) = (Duration::from_secs(10), Duration::from_secs(360));
        assert_eq!(backoff(0, b, m), Duration::ZERO);
        assert_eq!(backoff(1, b, m), Duration::from_secs(10));
        assert_eq!(backoff(3, b, m), Duration::from_secs(40));
        assert_eq!(backoff(7, b, m), m);
        assert_eq!(backoff(400, b, m), m);
    }

    #[test]
    fn first_matching_rule_wins() {
        let spec: JobSpec = serde_json::from_value(serde_json::json!({
            "template": {},
            "podFailurePolicy": {"rules": [
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
                {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [42]}},
            ]}
        }))
        .expect("spec");
        let pod = |code: i32, cond: Option<&str>| -> Pod {
            let mut status = serde_json::json!({"phase": "Failed", "containerStatuses": [
                {"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"exitCode": code}}}]});
            if let Some(c) = cond {
                status["conditions"] = serde_json::json!([{"type": c, "status": "True"}]);
            }
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "p", "namespace": "ns"}, "status": status}))
            .expect("pod")
        };
        assert_eq!(
            judge(&spec, &pod(1, Some("DisruptionTarget"))),
            Verdict::Ignore
        );
        assert_eq!(
            judge(&spec, &pod(42, None)),
            Verdict::FailJob(
                "Container c for pod ns/p failed with exit code 42 matching FailJob rule at index 1"
                    .into()
            )
        );
        assert_eq!(judge(&spec, &pod(3, None)), Verdict::Count);
    }
}
