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
    /// A sidecar (an init container with `restartPolicy: Always`): started
    /// and ready as an app container, kept running beside them.
    pub sidecar: bool,
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
            sidecar: false,
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

    /// A sidecar not yet run: it waits as `PodInitializing` as any init
    /// container, but reports `started`/`ready` as an app container.
    pub fn new_sidecar(name: &str, image: &str) -> Self {
        Slot {
            init: false,
            sidecar: true,
            ..Slot::new_init(name, image)
        }
    }

    /// Whether the next init container (or the app containers) may start
    /// after this one: a regular init container once it succeeded, a
    /// sidecar once it started (the kubelet's `computeInitContainerActions`).
    pub fn init_done(&self) -> bool {
        if self.sidecar {
            self.is_started()
        } else {
            self.succeeded()
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
/// `getPhase`): a regular init container that failed under `restartPolicy:
/// Never` fails the pod; otherwise the app containers decide, and they wait
/// as `PodInitializing` (so Pending) until every init container succeeded
/// or, for a sidecar, started. A running sidecar keeps the pod Running; a
/// stopped one counts for nothing, so a Job pod whose app containers are
/// done goes Succeeded or Failed by their results alone once its sidecars
/// are stopped.
pub fn pod_phase(inits: &[Slot], apps: &[Slot], restart_policy: &str) -> &'static str {
    if init_failed(inits) && restart_policy == "Never" {
        return "Failed";
    }
    // After an agent restart every container may be waiting again: a pod
    // whose app containers ran is not Pending for its sidecars' sake.
    let initialized = apps.iter().any(Slot::has_run);
    let pending_sidecar = inits.iter().filter(|s| s.sidecar).any(|s| match &s.state {
        State::Running { .. } => !s.started,
        State::Terminated(_) => false,
        State::Waiting { .. } => s.last_state.is_none(),
    });
    if pending_sidecar && !initialized {
        return "Pending";
    }
    let sidecar_running = inits.iter().any(|s| s.sidecar && s.running());
    match phase(apps, restart_policy) {
        // Apps done but a sidecar still runs (it is being stopped).
        "Succeeded" | "Failed" if sidecar_running => "Running",
        p => p,
    }
}

/// Whether slot `i` (init containers first, then app containers) may
/// start now, as the kubelet's `computeInitContainerActions` decides: init
/// containers run one at a time, in order, a regular one to success, a
/// sidecar until it has started (its startup probe passed); the app
/// containers wait for all of them; a sidecar before that point that
/// exited is started again. Once the pod was initialized (an app container
/// ran), only sidecars and app containers run, side by side.
pub fn may_start(inits: &[Slot], apps: &[Slot], i: usize) -> bool {
    let n_init = inits.len();
    let sidecar = inits.get(i).is_some_and(|s| s.sidecar);
    if apps.iter().any(Slot::has_run) {
        return i >= n_init || sidecar;
    }
    match inits.iter().position(|s| !s.init_done()) {
        Some(j) => i == j || (sidecar && i < j),
        None => i >= n_init || sidecar,
    }
}

/// A regular init container failed (and, under `restartPolicy: Never`,
/// will not run again): sidecars do not count.
pub fn init_failed(inits: &[Slot]) -> bool {
    inits.iter().filter(|s| !s.sidecar).any(|s| match &s.state {
        State::Terminated(t) => t.exit_code != 0,
        State::Waiting { .. } => s.last_state.as_ref().is_some_and(|t| t.exit_code != 0),
        State::Running { .. } => false,
    })
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
        .filter(|s| !s.init_done())
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
    // Sidecars first, as the kubelet lists init then app container statuses.
    let unready: Vec<&str> = inits
        .iter()
        .filter(|s| s.sidecar)
        .chain(slots)
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

    fn running(started: bool, ready: bool, base: &Slot) -> Slot {
        Slot {
            state: State::Running {
                started_at: jiff::Timestamp::now(),
            },
            started,
            ready,
            ..base.clone()
        }
    }

    #[test]
    fn sidecars_gate_initialization_once_started_and_count_for_readiness() {
        let side = Slot::new_sidecar("side", "i");
        let app = Slot {
            init: false,
            ..Slot::new_init("app", "i")
        };
        // Not started yet (startup probe pending): still initializing.
        let inits = [running(false, false, &side)];
        assert_eq!(
            pod_phase(&inits, std::slice::from_ref(&app), "Always"),
            "Pending"
        );
        let c = conditions(&[], &inits, std::slice::from_ref(&app), "Pending", true);
        assert_eq!(c[1]["status"], "False");
        assert_eq!(c[1]["message"], "containers with incomplete status: [side]");
        assert!(!inits[0].init_done());
        let cs = container_status(&inits[0]);
        assert_eq!(
            (cs["started"].clone(), cs["ready"].clone()),
            (json!(false), json!(false))
        );

        // Started: initialized, but its readiness still counts.
        let inits = [running(true, false, &side)];
        assert!(inits[0].init_done());
        let apps = [running(true, true, &app)];
        assert_eq!(pod_phase(&inits, &apps, "Always"), "Running");
        let c = conditions(&[], &inits, &apps, "Running", true);
        assert_eq!(c[1]["status"], "True");
        assert_eq!(c[2]["status"], "False");
        assert_eq!(c[2]["message"], "containers with unready status: [side]");
        assert_eq!(c[3]["message"], "containers with unready status: [side]");
        let inits = [running(true, true, &side)];
        let c = conditions(&c, &inits, &apps, "Running", true);
        assert_eq!(c[2]["status"], "True");
        let cs = container_status(&inits[0]);
        assert_eq!(
            (cs["started"].clone(), cs["ready"].clone()),
            (json!(true), json!(true))
        );

        // A sidecar that exited 0 is not "ready" the way a completed init
        // container is.
        let exited = Slot {
            state: term(0),
            ..side.clone()
        };
        assert_eq!(container_status(&exited)["ready"], false);
    }

    #[test]
    fn init_containers_and_sidecars_start_in_order() {
        let regular = Slot::new_init("migrate", "i");
        let side = Slot::new_sidecar("side", "i");
        let app = Slot {
            init: false,
            ..Slot::new_init("app", "i")
        };
        let apps = std::slice::from_ref(&app);
        // [side, migrate, app]: only the sidecar may start first.
        let inits = [side.clone(), regular.clone()];
        let may = |inits: &[Slot], apps: &[Slot]| {
            (0..3)
                .filter(|&i| may_start(inits, apps, i))
                .collect::<Vec<_>>()
        };
        assert_eq!(may(&inits, apps), [0]);
        // Running but its startup probe has not passed: still only it.
        let inits = [running(false, false, &side), regular.clone()];
        assert_eq!(may(&inits, apps), [0]);
        // Started: the next init container may start (and the sidecar,
        // should it exit, again).
        let inits = [running(true, false, &side), regular.clone()];
        assert_eq!(may(&inits, apps), [0, 1]);
        // The regular one succeeded: the app containers start.
        let done = Slot {
            state: term(0),
            ..regular.clone()
        };
        let inits = [running(true, true, &side), done.clone()];
        assert_eq!(may(&inits, apps), [0, 2]);
        // Once an app container ran, a sidecar that exits no longer holds
        // the app back, and regular init containers never run again.
        let exited = Slot {
            state: term(1),
            ..side.clone()
        };
        let ran = [running(true, true, &app)];
        assert_eq!(may(&[exited, regular], &ran), [0, 2]);
    }

    #[test]
    fn sidecars_do_not_decide_a_finished_pods_phase() {
        let side = Slot::new_sidecar("side", "i");
        let app = Slot {
            init: false,
            ..Slot::new_init("app", "i")
        };
        let done = [Slot {
            state: term(0),
            ..app.clone()
        }];
        // App done, sidecar still running (being stopped): Running.
        let inits = [running(true, true, &side)];
        assert_eq!(pod_phase(&inits, &done, "Never"), "Running");
        // Stopped by the agent (SIGTERM: 143): Succeeded by the app's result.
        let stopped = [Slot {
            state: term(143),
            ..side.clone()
        }];
        assert_eq!(pod_phase(&stopped, &done, "Never"), "Succeeded");
        assert_eq!(pod_phase(&stopped, &done, "OnFailure"), "Succeeded");
        let failed = [Slot {
            state: term(2),
            ..app.clone()
        }];
        assert_eq!(pod_phase(&stopped, &failed, "Never"), "Failed");
        assert!(
            !init_failed(&stopped),
            "a sidecar's exit is no init failure"
        );
        let c = conditions(&[], &stopped, &done, "Succeeded", false);
        assert_eq!(c[1]["reason"], "PodCompleted");
        assert_eq!(c[2]["reason"], "PodCompleted");
        // A sidecar backing off beside a running app keeps the pod Running.
        let mut backing_off = side.clone();
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
        let apps = [running(true, true, &app)];
        assert_eq!(pod_phase(&[backing_off.clone()], &apps, "Never"), "Running");
        let c = conditions(&[], &[backing_off], &apps, "Running", true);
        assert_eq!(
            c[1]["status"], "True",
            "the app ran: the pod was initialized"
        );
        assert_eq!(c[2]["message"], "containers with unready status: [side]");
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
