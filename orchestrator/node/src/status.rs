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
        }
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
        "ready": s.is_ready(),
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
pub fn conditions(old: &[Value], slots: &[Slot], phase: &str, sandbox_ready: bool) -> Vec<Value> {
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
    let mut out = vec![
        condition(
            old,
            "PodReadyToStartContainers",
            sandbox_ready && !done,
            None,
            None,
            &now,
        ),
        condition(
            old,
            "Initialized",
            true,
            done.then_some("PodCompleted"),
            None,
            &now,
        ),
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
        let c = conditions(&[], std::slice::from_ref(&s), "Running", true);
        assert_eq!(c[2]["status"], "False", "running but not yet ready");
        let since = c[2]["lastTransitionTime"].clone();
        assert_eq!(container_status(&s)["started"], true);
        assert_eq!(container_status(&s)["ready"], false);
        // Unchanged status keeps its transition time.
        let again = conditions(&c, std::slice::from_ref(&s), "Running", true);
        assert_eq!(again[2]["lastTransitionTime"], since);
        s.ready = true;
        let c = conditions(&c, std::slice::from_ref(&s), "Running", true);
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
        let c = conditions(&old, &[Slot::new("a", "i")], "Pending", true);
        assert_eq!(c[1]["lastTransitionTime"], "2020-01-01T00:00:00Z");
        assert_eq!(c[2]["reason"], "ContainersNotReady");
        assert_eq!(c[2]["message"], "containers with unready status: [a]");
        assert_eq!(c[4]["type"], "PodScheduled");
        let cs = container_status(&slot(term(3)));
        assert_eq!(cs["state"]["terminated"]["exitCode"], 3);
        assert_eq!(cs["lastState"], json!({}));
    }
}
