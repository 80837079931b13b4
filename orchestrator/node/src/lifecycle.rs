//! Container lifecycle hooks, `postStart` and `preStop`, run the way the
//! kubelet runs them: with the probe machinery for `exec`, `httpGet` and
//! `tcpSocket`, plus the `sleep` action, and the kubelet's event messages
//! when one fails.
//!
//! Timing follows the kubelet. `postStart` runs right after the container
//! starts, and the container is reported Running only once it returns; a
//! failure kills the container, which then restarts per `restartPolicy`.
//! `preStop` runs before any stop the agent makes (deletion or a failed
//! liveness probe); its time comes out of the grace period, and the
//! container still gets at least [`MIN_GRACE_AFTER_HOOK`] after it.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod, Probe};
use kube::ResourceExt;

use crate::probe::{self, ProbeError};

/// The kubelet's `minimumGracePeriodInSeconds`: what is left for the
/// container itself after a slow `preStop`.
pub const MIN_GRACE_AFTER_HOOK: Duration = Duration::from_secs(2);

/// How long a `postStart` hook may run. Kubernetes sets no bound, but a
/// hung hook would hold the pod worker for ever; this is generous enough
/// for any start-up work a hook should do.
pub const POST_START_LIMIT: Duration = Duration::from_secs(300);

/// Which hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// `lifecycle.postStart`.
    PostStart,
    /// `lifecycle.preStop`.
    PreStop,
}

impl Hook {
    /// The container's handler for this hook, if it has one.
    pub fn of(self, c: &Container) -> Option<&LifecycleHandler> {
        let l = c.lifecycle.as_ref()?;
        match self {
            Self::PostStart => l.post_start.as_ref(),
            Self::PreStop => l.pre_stop.as_ref(),
        }
    }

    /// The Warning event's reason when it fails.
    pub fn failure_reason(self) -> &'static str {
        match self {
            Self::PostStart => "FailedPostStartHook",
            Self::PreStop => "FailedPreStopHook",
        }
    }
}

/// Runs `handler` against the container `target` describes, for at most
/// `limit`.
pub async fn run(
    handler: &LifecycleHandler,
    target: &probe::Target,
    limit: Duration,
) -> Result<(), ProbeError> {
    if let Some(s) = &handler.sleep {
        let wanted = Duration::from_secs(u64::try_from(s.seconds).unwrap_or(0));
        tokio::time::sleep(wanted.min(limit)).await;
        return Ok(());
    }
    // The probe runners already speak exec, HTTP and TCP the kubelet's
    // way; a hook is one attempt of such a probe with the hook's deadline.
    let attempt = Probe {
        exec: handler.exec.clone(),
        http_get: handler.http_get.clone(),
        tcp_socket: handler.tcp_socket.clone(),
        timeout_seconds: Some(i32::try_from(limit.as_secs().max(1)).unwrap_or(i32::MAX)),
        ..Probe::default()
    };
    probe::check(&attempt, target).await
}

/// Runs the `preStop` hook of `c`, if any, within `grace`, and returns
/// the grace left for stopping the container (and the hook's error).
pub async fn pre_stop(
    c: &Container,
    target: &probe::Target,
    grace: Duration,
) -> (Duration, Option<ProbeError>) {
    let Some(handler) = Hook::PreStop.of(c) else {
        return (grace, None);
    };
    let began = Instant::now();
    let error = run(handler, target, grace).await.err();
    let left = grace
        .saturating_sub(began.elapsed())
        .max(MIN_GRACE_AFTER_HOOK);
    (left, error)
}

/// The kubelet's event message for a failed hook (`handlers.go`), naming
/// the pod as `name_namespace(uid)`.
pub fn failure_message(
    handler: &LifecycleHandler,
    container: &str,
    pod: &Pod,
    error: &ProbeError,
) -> String {
    let pod = format!(
        "{}_{}({})",
        pod.name_any(),
        pod.namespace().unwrap_or_default(),
        pod.uid().unwrap_or_default()
    );
    if let Some(e) = &handler.exec {
        let command = e.command.clone().unwrap_or_default().join(" ");
        let (error, output) = match error {
            ProbeError::ExitCode { code, output, .. } => (
                format!("command '{command}' exited with {code}: "),
                output.clone(),
            ),
            other => (other.to_string(), String::new()),
        };
        format!(
            "Exec lifecycle hook ([{command}]) for Container {container:?} in Pod {pod:?} failed - error: {error}, message: {output:?}"
        )
    } else if let Some(h) = &handler.http_get {
        let path = h.path.clone().unwrap_or_default();
        format!(
            "HTTP lifecycle hook ({path}) for Container {container:?} in Pod {pod:?} failed - error: {error}"
        )
    } else {
        format!("Lifecycle hook for Container {container:?} in Pod {pod:?} failed - error: {error}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container(lifecycle: serde_json::Value) -> Container {
        serde_json::from_value(json!({"name": "c", "lifecycle": lifecycle})).unwrap_or_default()
    }

    fn no_runtime() -> probe::Target {
        probe::Target {
            pod_ip: None,
            runtime: None,
            container_id: "c1".into(),
            ports: Vec::new(),
        }
    }

    #[tokio::test]
    async fn sleep_hooks_are_cut_by_the_grace_period() {
        let c = container(json!({"preStop": {"sleep": {"seconds": 3600}}}));
        let began = Instant::now();
        let (left, error) = pre_stop(&c, &no_runtime(), Duration::from_millis(50)).await;
        assert!(error.is_none());
        assert!(began.elapsed() < Duration::from_secs(10));
        // However long the hook took, the container still gets its minimum.
        assert_eq!(left, MIN_GRACE_AFTER_HOOK);
    }

    #[tokio::test]
    async fn without_a_hook_the_whole_grace_is_left() {
        let c = container(json!({"postStart": {"sleep": {"seconds": 1}}}));
        let grace = Duration::from_secs(30);
        let (left, error) = pre_stop(&c, &no_runtime(), grace).await;
        assert_eq!((left, error.is_none()), (grace, true));
        assert!(Hook::PostStart.of(&c).is_some());
        assert!(Hook::PreStop.of(&c).is_none());
    }

    #[test]
    fn failure_messages_read_like_the_kubelets() {
        let pod: Pod = serde_json::from_value(
            json!({"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}}),
        )
        .unwrap_or_default();
        let handler: LifecycleHandler =
            serde_json::from_value(json!({"exec": {"command": ["sh", "-c", "exit 3"]}}))
                .unwrap_or_default();
        let error = ProbeError::ExitCode {
            cmd: vec!["sh".into()],
            code: 3,
            output: "oops".into(),
        };
        assert_eq!(
            failure_message(&handler, "c", &pod, &error),
            "Exec lifecycle hook ([sh -c exit 3]) for Container \"c\" in Pod \"p_ns(u1)\" failed - error: command 'sh -c exit 3' exited with 3: , message: \"oops\""
        );
        assert_eq!(Hook::PreStop.failure_reason(), "FailedPreStopHook");
    }
}
