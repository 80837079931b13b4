//! The rules about pods every workload controller shares: which pods count
//! as active, ready and available.

use k8s_openapi::api::core::v1::Pod;

/// Neither finished nor being deleted: the pods a ReplicaSet or Job counts
/// toward its replicas or parallelism.
pub fn is_active(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none() && !is_terminal(pod)
}

/// Phase `Succeeded` or `Failed`.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// The pod's phase, `""` before the node agent wrote one.
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// When the `Ready` condition last became `True`, if it is `True` now.
pub fn ready_since(pod: &Pod) -> Option<jiff::Timestamp> {
    let c = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    if c.status != "True" {
        return None;
    }
    Some(
        c.last_transition_time
            .as_ref()
            .map_or(jiff::Timestamp::UNIX_EPOCH, |t| t.0),
    )
}

/// The `Ready` condition is `True`.
pub fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// Ready for at least `min_ready_seconds` at `now` (Kubernetes'
/// `IsPodAvailable`).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: jiff::Timestamp) -> bool {
    ready_since(pod).is_some_and(|since| {
        min_ready_seconds <= 0
            || since + jiff::SignedDuration::from_secs(i64::from(min_ready_seconds)) <= now
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(phase: &str, ready_at: Option<&str>) -> Pod {
        let mut status = serde_json::json!({"phase": phase});
        if let Some(at) = ready_at {
            status["conditions"] =
                serde_json::json!([{"type": "Ready", "status": "True", "lastTransitionTime": at}]);
        }
        serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "status": status}))
            .expect("pod")
    }

    #[test]
    fn availability_waits_min_ready_seconds() {
        let now: jiff::Timestamp = "2026-01-01T00:00:10Z".parse().expect("ts");
        let p = pod("Running", Some("2026-01-01T00:00:05Z"));
        assert!(is_ready(&p));
        assert!(is_available(&p, 5, now));
        assert!(!is_available(&p, 6, now));
        assert!(!is_ready(&pod("Running", None)));
        assert!(is_active(&pod("Running", None)));
        assert!(!is_active(&pod("Succeeded", None)));
    }
}
