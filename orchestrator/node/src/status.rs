//! Pod status exactly as the kubelet writes it: phase from the containers'
//! states (the kubelet's `getPhase`), conditions with transition times
//! kept while unchanged, and one containerStatus per container.

use serde_json::{Value, json};

/// Format of Kubernetes timestamps.
pub fn stamp(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// How a container run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminated {
    /// Exit code.
    pub exit_code: i32,
    /// `Completed`, `Error`, `OOMKilled` …
    pub reason: String,
    /// Detail, if any.
    pub message: Option<String>,
    /// When it started.
    pub started_at: Option<jiff::Timestamp>,
    /// When it ended.
    pub finished_at: Option<jiff::Timestamp>,
    /// `<handler>://<id>`.
    pub container_id: String,
}

/// A container's current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Not running: `ContainerCreating`, `CrashLoopBackOff`, `ErrImagePull` …
    Waiting {
        /// Reason.
        reason: String,
        /// Detail.
        message: Option<String>,
    },
    /// Running since.
    Running {
        /// Start time.
        started_at: jiff::Timestamp,
    },
    /// Ended.
    Terminated(Terminated),
}

/// What the worker knows of one container.
#[derive(Debug, Clone)]
pub struct Slot {
    /// Container name.
    pub name: String,
    /// Image as written in the spec.
    pub image: String,
    /// Resolved image id.
    pub image_id: String,
    /// `<handler>://<id>` of the current run.
    pub container_id: String,
    /// State now.
    pub state: State,
    /// How the previous run ended.
    pub last_state: Option<Terminated>,
    /// Restarts so far.
    pub restart_count: i32,
    /// This run passed its startup probe (or has none).
    pub started: bool,
    /// This run passed its readiness probe (or has none) after starting.
    pub ready: bool,
    /// A (regular) init container: ready once it completed, not while it
    /// runs, as the kubelet reports them.
    pub init: bool,
}

impl Slot {
    /// A container not yet created.
    pub fn new(name: &str, image: &str) -> Self {
        Slot {
            name: name.to_owned(),
            image: image.to_owned(),
            image_id: String::new(),
            container_id: String::new(),
            state: State::Waiting {
                reason: "ContainerCreating".into(),
                message: None,
            },
            last_state: None,
            restart_count: 0,
            started: false,
            ready: false,
            init: false,
        }
    }

    /// An init container not yet run; it and the app containers of a pod
    /// with init containers wait as `PodInitializing` (the kubelet's
    /// default waiting state for such pods).
    pub fn new_init(name: &str, image: &str) -> Self {
        Slot {
            state: State::Waiting {
                reason: "PodInitializing".into(),
                message: None,
            },
            init: true,
            ..Slot::new(name, image)
        }
    }

    /// An init container that ran to successful completion.
    pub fn succeeded(&self) -> bool {
        matches!(&self.state, State::Terminated(t) if t.exit_code == 0)
    }

    /// Has run at least once (the kubelet's `HasAnyRegularContainerStarted`
    /// for an app container).
    pub fn has_run(&self) -> bool {
        !matches!(self.state, State::Waiting { .. }) || self.last_state.is_some()
    }

    /// Whether it is running.
    pub fn running(&self) -> bool {
        matches!(self.state, State::Running { .. })
    }

    /// `containerStatuses[].started`: running and past its startup probe.
    pub fn is_started(&self) -> bool {
        self.running() && self.started
    }

    /// `containerStatuses[].ready`: started and past its readiness probe.
    /// Only the current run counts, so a restart makes it unready again.
    pub fn is_ready(&self) -> bool {
        self.is_started() && self.ready
    }
}

fn terminated_json(t: &Terminated) -> Value {
    let mut v = json!({
        "exitCode": t.exit_code,
        "reason": t.reason,
        "startedAt": t.started_at.map(stamp),
        "finishedAt": t.finished_at.map(stamp),
        "containerID": t.container_id,
    });
    if let Some(m) = &t.message {
        v["message"] = m.clone().into();
    }
    v
}

fn state_json(s: &State) -> Value {
    match s {
        State::Waiting { reason, message } => {
            let mut w = json!({"reason": reason});
            if let Some(m) = message {
                w["message"] = m.clone().into();
            }
            json!({"waiting": w})
        }
        State::Running { started_at } => json!({"running": {"startedAt": stamp(*started_at)}}),
        State::Terminated(t) => json!({"terminated": terminated_json(t)}),
    }
}

/// A containerStatuses entry.
pub fn container_status(s: &Slot) -> Value {
    let mut v = json!({
        "name": s.name,
        "state": state_json(&s.state),
        "lastState": s.last_state.as_ref().map_or(json!({}), |t| json!({"terminated": terminated_json(t)})),
        "ready": if s.init { s.succeeded() } else { s.is_ready() },
        "restartCount": s.restart_count,
        "image": s.image,
        "imageID": s.image_id,
        "started": s.is_started(),
    });
    if !s.container_id.is_empty() {
        v["containerID"] = s.container_id.clone().into();
    }
    v
}

/// The pod phase (the kubelet's `getPhase`): Pending while a container has
/// never run; Running while one runs or will be restarted; Succeeded or
/// Failed once all have stopped for good.
pub fn phase(slots: &[Slot], restart_policy: &str) -> &'static str {
    let (mut waiting, mut running, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for s in slots {
        match &s.state {
            State::Running { .. } => running += 1,
            State::Terminated(t) => {
                stopped += 1;
                if t.exit_code == 0 {
                    succeeded += 1;
                }
            }
            State::Waiting { .. } if s.last_state.is_some() => stopped += 1,
            State::Waiting { .. } => waiting += 1,
        }
    }
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped == 0 {
        return "Pending";
    }
    // Containers waiting to restart count as stopped, but keep the pod running.
    let restarting = slots
        .iter()
        .any(|s| matches!(s.state, State::Waiting { .. }));
    match restart_policy {
        "Always" => "Running",
        "OnFailure" if stopped == succeeded && !restarting => "Succeeded",
        "OnFailure" => "Running",
        _ if stopped == succeeded => "Succeeded",
        _ => "Failed",
    }
}

/// The pod phase with init containers (the init part of the kubelet's
/// `getPhase`): an init container that failed under `restartPolicy: Never`
/// fails the pod; otherwise the app containers decide, and they wait as
/// `PodInitializing` (so Pending) until every init container succeeded.
pub fn pod_phase(inits: &[Slot], apps: &[Slot], restart_policy: &str) -> &'static str {
    let failed_init = inits.iter().any(|s| match &s.state {
        State::Terminated(t) => t.exit_code != 0,
        State::Waiting { .. } => s.last_state.as_ref().is_some_and(|t| t.exit_code != 0),
        State::Running { .. } => false,
    });
    if failed_init && restart_policy == "Never" {
        return "Failed";
    }
    phase(apps, restart_policy)
}

/// Restores an init container that the pod's status says succeeded, so an
/// agent restart does not run it again; `None` if it did not.
pub fn restore_succeeded(
    slot: &Slot,
    st: &k8s_openapi::api::core::v1::ContainerStatus,
) -> Option<Slot> {
    let t = st.state.as_ref()?.terminated.as_ref()?;
    if t.exit_code != 0 {
        return None;
    }
    let term = Terminated {
        exit_code: 0,
        reason: t.reason.clone().unwrap_or_else(|| "Completed".into()),
        message: t.message.clone(),
        started_at: t.started_at.as_ref().map(|t| t.0),
        finished_at: t.finished_at.as_ref().map(|t| t.0),
        container_id: t.container_id.clone().unwrap_or_default(),
    };
    Some(Slot {
        image_id: st.image_id.clone(),
        container_id: st.container_id.clone().unwrap_or_default(),
        state: State::Terminated(term),
        last_state: st
            .last_state
            .as_ref()
            .and_then(|l| l.terminated.as_ref())
            .map(|t| Terminated {
                exit_code: t.exit_code,
                reason: t.reason.clone().unwrap_or_default(),
                message: t.message.clone(),
                started_at: t.started_at.as_ref().map(|t| t.0),
                finished_at: t.finished_at.as_ref().map(|t| t.0),
                container_id: t.container_id.clone().unwrap_or_default(),
            }),
        restart_count: st.restart_count,
        ..slot.clone()
    })
}

/// The `Initialized` condition (the kubelet's
/// `GeneratePodInitializedCondition`): status, reason, message.
fn initialized(
    inits: &[Slot],
    apps: &[Slot],
    phase: &str,
) -> (bool, Option<&'static str>, Option<String>) {
    if phase == "Succeeded" {
        return (true, Some("PodCompleted"), None);
    }
    // Once an app container has run, the pod was initialized.
    if apps.iter().any(Slot::has_run) {
        return (true, None, None);
    }
    let incomplete: Vec<&str> = inits
        .iter()
        .filter(|s| !s.succeeded())
        .map(|s| s.name.as_str())
        .collect();
    if incomplete.is_empty() {
        return (true, None, None);
    }
    (
        false,
        Some("ContainersNotInitialized"),
        Some(format!(
            "containers with incomplete status: [{}]",
            incomplete.join(" ")
        )),
    )
}

/// One condition, keeping `lastTransitionTime` from `old` if its status is
/// unchanged.
fn condition(
    old: &[Value],
    type_: &str,
    status: bool,
    reason: Option<&str>,
    message: Option<String>,
    now: &str,
) -> Value {
    let s = if status { "True" } else { "False" };
    let since = old
        .iter()
        .find(|c| c["type"] == type_ && c["status"] == s)
        .and_then(|c| c["lastTransitionTime"].as_str())
        .unwrap_or(now)
        .to_owned();
    let mut v =
        json!({"type": type_, "status": s, "lastProbeTime": null, "lastTransitionTime": since});
    if let Some(r) = reason {
        v["reason"] = r.into();
    }
    if let Some(m) = message {
        v["message"] = m.into();
    }
    v
}

/// The pod's conditions in the kubelet's order; `PodScheduled` is kept as
/// the scheduler wrote it.
pub fn conditions(
    old: &[Value],
    inits: &[Slot],
    slots: &[Slot],
    phase: &str,
    sandbox_ready: bool,
) -> Vec<Value> {
    let now = stamp(jiff::Timestamp::now());
    let done = matches!(phase, "Succeeded" | "Failed");
    let unready: Vec<&str> = slots
        .iter()
        .filter(|s| !s.is_ready())
        .map(|s| s.name.as_str())
        .collect();
    let ready = unready.is_empty() && !done;
    let (reason, message) = if ready {
        (None, None)
    } else if done {
        (Some("PodCompleted"), None)
    } else {
        (
            Some("ContainersNotReady"),
            Some(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            )),
        )
    };
    let (init_ok, init_reason, init_message) = initialized(inits, slots, phase);
    let mut out = vec![
        condition(
            old,
            "PodReadyToStartContainers",
            sandbox_ready && !done,
            None,
            None,
            &now,
        ),
        condition(old, "Initialized", init_ok, init_reason, init_message, &now),
        condition(old, "Ready", ready, reason, message.clone(), &now),
        condition(old, "ContainersReady", ready, reason, message, &now),
    ];
    if let Some(s) = old.iter().find(|c| c["type"] == "PodScheduled") {
        out.push(s.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(code: i32) -> State {
        State::Terminated(Terminated {
            exit_code: code,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            message: None,
            started_at: None,
            finished_at: None,
            container_id: "wasmtime://x".into(),
        })
    }

    fn slot(state: State) -> Slot {
        Slot {
            state,
            ..Slot::new("c", "img")
        }
    }

    #[test]
    fn phases_follow_the_kubelet() {
        assert_eq!(phase(&[Slot::new("c", "i")], "Always"), "Pending");
        let running = slot(State::Running {
            started_at: jiff::Timestamp::now(),
        });
        assert_eq!(phase(std::slice::from_ref(&running), "Never"), "Running");
        assert_eq!(phase(&[slot(term(0))], "Never"), "Succeeded");
        assert_eq!(phase(&[slot(term(3))], "Never"), "Failed");
        assert_eq!(
            phase(&[slot(term(0)), slot(term(1))], "OnFailure"),
            "Running"
        );
        assert_eq!(phase(&[slot(term(0))], "OnFailure"), "Succeeded");
        let mut backing_off = slot(State::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: None,
        });
        backing_off.last_state = Some(Terminated {
            exit_code: 1,
            reason: "Error".into(),
            message: None,
            started_at: None,
            finished_at: None,
            container_id: String::new(),
        });
        assert_eq!(phase(&[backing_off], "Always"), "Running");
    }

    #[test]
    fn readiness_follows_probes_not_just_running() {
        let mut s = slot(State::Running {
            started_at: jiff::Timestamp::now(),
        });
        s.started = true;
        let c = conditions(&[], &[], std::slice::from_ref(&s), "Running", true);
        assert_eq!(c[2]["status"], "False", "running but not yet ready");
        let since = c[2]["lastTransitionTime"].clone();
        assert_eq!(container_status(&s)["started"], true);
        assert_eq!(container_status(&s)["ready"], false);
        // Unchanged status keeps its transition time.
        let again = conditions(&c, &[], std::slice::from_ref(&s), "Running", true);
        assert_eq!(again[2]["lastTransitionTime"], since);
        s.ready = true;
        let c = conditions(&c, &[], std::slice::from_ref(&s), "Running", true);
        assert_eq!(c[2]["status"], "True");
        assert_eq!(c[3]["status"], "True");
        // A container that stopped is neither started nor ready.
        s.state = term(1);
        assert_eq!(container_status(&s)["ready"], false);
        assert_eq!(container_status(&s)["started"], false);
    }

    #[test]
    fn conditions_keep_transition_times() {
        let old = vec![
            json!({"type": "Initialized", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}),
            json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}),
        ];
        let c = conditions(&old, &[], &[Slot::new("a", "i")], "Pending", true);
        assert_eq!(c[1]["lastTransitionTime"], "2020-01-01T00:00:00Z");
        assert_eq!(c[2]["reason"], "ContainersNotReady");
        assert_eq!(c[2]["message"], "containers with unready status: [a]");
        assert_eq!(c[4]["type"], "PodScheduled");
        let cs = container_status(&slot(term(3)));
        assert_eq!(cs["state"]["terminated"]["exitCode"], 3);
        assert_eq!(cs["lastState"], json!({}));
    }

    #[test]
    fn init_containers_gate_phase_and_initialized() {
        let inits = [Slot::new_init("a", "i"), Slot::new_init("b", "i")];
        let apps = [Slot::new_init("app", "i")];
        let apps = [Slot {
            init: false,
            ..apps[0].clone()
        }];
        assert_eq!(pod_phase(&inits, &apps, "Always"), "Pending");
        let c = conditions(&[], &inits, &apps, "Pending", true);
        assert_eq!(c[1]["status"], "False");
        assert_eq!(c[1]["reason"], "ContainersNotInitialized");
        assert_eq!(c[1]["message"], "containers with incomplete status: [a b]");
        assert_eq!(
            container_status(&inits[0])["state"]["waiting"]["reason"],
            "PodInitializing"
        );

        // A completed init container is ready but not started.
        let done = Slot {
            state: term(0),
            ..inits[0].clone()
        };
        let cs = container_status(&done);
        assert_eq!(cs["ready"], true);
        assert_eq!(cs["started"], false);
        assert_eq!(cs["state"]["terminated"]["reason"], "Completed");
        let both = [
            done.clone(),
            Slot {
                state: term(0),
                ..inits[1].clone()
            },
        ];
        let c = conditions(&c, &both, &apps, "Pending", true);
        assert_eq!(c[1]["status"], "True");
        assert!(c[1].get("reason").is_none());

        // A failed init container fails the pod under Never only.
        let failed = [
            done.clone(),
            Slot {
                state: term(1),
                ..inits[1].clone()
            },
        ];
        assert_eq!(pod_phase(&failed, &apps, "Never"), "Failed");
        assert_eq!(pod_phase(&failed, &apps, "Always"), "Pending");
        let mut backing_off = inits[1].clone();
        backing_off.state = State::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: None,
        };
        backing_off.last_state = Some(Terminated {
            exit_code: 1,
            reason: "Error".into(),
            message: None,
            started_at: None,
            finished_at: None,
            container_id: String::new(),
        });
        let inits2 = [done, backing_off];
        assert_eq!(pod_phase(&inits2, &apps, "OnFailure"), "Pending");
        assert_eq!(container_status(&inits2[1])["ready"], false);
        let c = conditions(&[], &inits2, &apps, "Pending", true);
        assert_eq!(c[1]["message"], "containers with incomplete status: [b]");
    }

    #[test]
    fn succeeded_init_containers_are_restored_from_status() {
        let st: k8s_openapi::api::core::v1::ContainerStatus = serde_json::from_value(json!({
            "name": "a", "image": "i", "imageID": "sha256:1", "ready": true,
            "restartCount": 1, "containerID": "wasmtime://x",
            "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                      "finishedAt": "2026-01-01T00:00:00Z"}}
        }))
        .expect("status");
        let s = restore_succeeded(&Slot::new_init("a", "i"), &st).expect("restored");
        assert!(s.succeeded() && s.init);
        assert_eq!(s.restart_count, 1);
        assert_eq!(s.image_id, "sha256:1");
        let mut failed = st.clone();
        if let Some(t) = failed.state.as_mut().and_then(|s| s.terminated.as_mut()) {
            t.exit_code = 1;
        }
        assert!(restore_succeeded(&Slot::new_init("a", "i"), &failed).is_none());
    }
}
