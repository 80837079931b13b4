//! What a restarted node agent finds in its runtimes, and how it takes it
//! back (the kubelet's relist after a restart).
//!
//! The native runtime's containers outlive the agent: each has its own
//! shim process, and the runtime re-reads its state directory when it is
//! opened. At start-up the agent lists every runtime's sandboxes and
//! containers into an [`Inventory`] before any pod worker starts; a worker
//! then [takes](Inventory::take) its pod's sandbox (matched by pod UID) and
//! carries on supervising its containers (matched by container name, the
//! newest attempt first, see [`plan`]) instead of creating new ones: same
//! container ID, same restart count, same log file, same pod IP. Sandboxes
//! of pods that are gone, or no longer bound to this node, are stopped and
//! removed once the first pod list is in ([`Inventory::remove_orphans`]).
//!
//! Wasm containers run inside the agent's process and die with it: their
//! pods find no sandbox, get a new one on the address their status names,
//! and a container that was running is counted as lost ([`restore`]): it
//! restarts per `restartPolicy` with `restartCount + 1` and a `lastState`
//! of `ContainerStatusUnknown` (exit code 137), as the kubelet reports a
//! container that vanished from its runtime.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use skiff_runtime::{
    ContainerFilter, ContainerState, ContainerStatus, EXIT_CODE_KILLED, PodSandboxState,
    PodSandboxStatus, Runtime,
};

use crate::podip;
use crate::status::Terminated;

/// The reason a lost container's `lastState` gives: the kubelet's, for a
/// container its runtime no longer knows.
pub const LOST_REASON: &str = "ContainerStatusUnknown";

/// The message beside [`LOST_REASON`].
pub const LOST_MESSAGE: &str = "The container could not be located when the node agent restarted: it ran inside the agent's process";

/// A sandbox a pod worker can take over, with its runtime and containers.
pub struct Found {
    /// The runtime holding it.
    pub runtime: Arc<dyn Runtime>,
    /// The sandbox.
    pub sandbox: PodSandboxStatus,
    /// Every container of the sandbox, in any state.
    pub containers: Vec<ContainerStatus>,
}

/// The sandboxes the runtimes held when the agent started, by pod UID,
/// until each pod's worker takes its own.
#[derive(Default)]
pub struct Inventory {
    by_uid: Mutex<HashMap<String, Found>>,
}

impl Inventory {
    /// Lists every runtime's sandboxes and containers. Of several sandboxes
    /// of one pod (an agent that died while creating one) the newest ready
    /// one is kept; the others, and stopped ones, are removed now. A
    /// runtime that cannot list is logged and skipped: its pods get new
    /// sandboxes.
    pub async fn collect(runtimes: &[Arc<dyn Runtime>]) -> Inventory {
        let mut by_uid: HashMap<String, Found> = HashMap::new();
        for rt in runtimes {
            let sandboxes = match rt.list_pod_sandboxes().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(handler = rt.handler(), error = %e, "listing pod sandboxes");
                    continue;
                }
            };
            if sandboxes.is_empty() {
                continue;
            }
            let containers = rt
                .list_containers(&ContainerFilter::default())
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(handler = rt.handler(), error = %e, "listing containers");
                    Vec::new()
                });
            let (keep, stale) = pick_sandboxes(sandboxes);
            for id in stale {
                tracing::info!(handler = rt.handler(), sandbox = %id, "removing a stale pod sandbox");
                remove(rt.as_ref(), &id).await;
            }
            for sandbox in keep {
                let members = containers
                    .iter()
                    .filter(|c| c.sandbox_id == sandbox.id)
                    .cloned()
                    .collect();
                let uid = sandbox.config.uid.clone();
                // Two runtimes both holding a sandbox of one pod: the
                // second is as stale as any.
                if let Some(dup) = by_uid.get(&uid) {
                    tracing::info!(sandbox = %dup.sandbox.id, "removing a duplicate pod sandbox");
                    remove(rt.as_ref(), &sandbox.id).await;
                    continue;
                }
                by_uid.insert(
                    uid,
                    Found {
                        runtime: rt.clone(),
                        sandbox,
                        containers: members,
                    },
                );
            }
        }
        Inventory {
            by_uid: Mutex::new(by_uid),
        }
    }

    /// Holds each found sandbox's address for its pod, so no new pod is
    /// given an address a running sandbox still has.
    pub fn claim_addresses(&self, ips: &podip::Allocator) {
        let map = self.by_uid.lock().unwrap_or_else(|p| p.into_inner());
        for (uid, f) in map.iter() {
            // A `hostNetwork` sandbox's address is the node's, not the allocator's.
            if let Some(ip) = f.sandbox.config.pod_ip
                && !f.sandbox.config.namespaces.host_network()
            {
                ips.allocate(uid, Some(ip));
            }
        }
    }

    /// The sandbox of pod `uid`, once: its worker takes it over.
    pub fn take(&self, uid: &str) -> Option<Found> {
        self.by_uid
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid)
    }

    /// Stops and removes every sandbox not yet taken whose pod is not in
    /// `bound` (the UIDs of the pods bound to this node), and returns their
    /// addresses to `ips`.
    pub async fn remove_orphans(&self, bound: &HashSet<String>, ips: &podip::Allocator) {
        let orphans: Vec<Found> = {
            let mut map = self.by_uid.lock().unwrap_or_else(|p| p.into_inner());
            let gone: Vec<String> = map
                .keys()
                .filter(|u| !bound.contains(*u))
                .cloned()
                .collect();
            gone.iter().filter_map(|u| map.remove(u)).collect()
        };
        for f in orphans {
            let c = &f.sandbox.config;
            tracing::info!(pod = %format!("{}/{}", c.namespace, c.name), uid = %c.uid,
                "removing the sandbox of a pod no longer bound to this node");
            remove(f.runtime.as_ref(), &f.sandbox.id).await;
            if let Some(ip) = c.pod_ip
                && !c.namespaces.host_network()
            {
                ips.release(ip);
            }
        }
    }
}

async fn remove(rt: &dyn Runtime, sandbox_id: &str) {
    if let Err(e) = rt.stop_pod_sandbox(sandbox_id).await {
        tracing::debug!(sandbox = %sandbox_id, error = %e, "stopping a pod sandbox");
    }
    if let Err(e) = rt.remove_pod_sandbox(sandbox_id).await {
        tracing::warn!(sandbox = %sandbox_id, error = %e, "removing a pod sandbox");
    }
}

/// Splits one runtime's sandboxes into those to adopt (the newest ready
/// one of each pod) and the ids of the rest.
pub fn pick_sandboxes(
    mut sandboxes: Vec<PodSandboxStatus>,
) -> (Vec<PodSandboxStatus>, Vec<String>) {
    sandboxes.sort_by_key(|s| std::cmp::Reverse(s.created_at));
    let mut seen = HashSet::new();
    let (mut keep, mut stale) = (Vec::new(), Vec::new());
    for s in sandboxes {
        if s.state == PodSandboxState::Ready && seen.insert(s.config.uid.clone()) {
            keep.push(s);
        } else {
            stale.push(s.id);
        }
    }
    (keep, stale)
}

/// The attempt a container was created for: its log file is
/// `<name>/<attempt>.log` (the kubelet's layout, which the worker keeps).
pub fn attempt(c: &ContainerStatus) -> Option<i32> {
    Path::new(&c.log_path).file_stem()?.to_str()?.parse().ok()
}

/// What to do with the containers of one container name in an adopted
/// sandbox.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The run to carry on supervising (running, or exited while the
    /// agent was away: its exit is handled as if seen live), with its
    /// attempt, which is its restart count.
    pub current: Option<(ContainerStatus, i32)>,
    /// The run before it, kept for `kubectl logs --previous`.
    pub previous: Option<String>,
    /// Containers to remove: older runs, and one created but never started
    /// (the agent died between create and start; it is created again).
    pub stale: Vec<String>,
}

/// Sorts the containers named `name` of an adopted sandbox into a [`Plan`]:
/// the newest attempt that started is current.
pub fn plan(name: &str, containers: &[ContainerStatus]) -> Plan {
    let mut mine: Vec<(&ContainerStatus, i32)> = containers
        .iter()
        .filter(|c| c.name == name)
        .map(|c| (c, attempt(c).unwrap_or(-1)))
        .collect();
    mine.sort_by(|(a, an), (b, bn)| bn.cmp(an).then(b.created_at.cmp(&a.created_at)));
    let mut p = Plan::default();
    for (c, n) in mine {
        if c.state == ContainerState::Created || n < 0 {
            p.stale.push(c.id.clone());
        } else if p.current.is_none() {
            p.current = Some((c.clone(), n));
        } else if p.previous.is_none() && c.state == ContainerState::Exited {
            p.previous = Some(c.id.clone());
        } else {
            p.stale.push(c.id.clone());
        }
    }
    p
}

/// Containers of an adopted sandbox that no container of the spec names.
pub fn unknown(names: &[&str], containers: &[ContainerStatus]) -> Vec<String> {
    containers
        .iter()
        .filter(|c| !names.contains(&c.name.as_str()))
        .map(|c| c.id.clone())
        .collect()
}

/// A container's history as the pod's status told it, for a container the
/// runtime no longer has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// `restartCount` so far.
    pub restart_count: i32,
    /// `lastState.terminated`.
    pub last_state: Option<Terminated>,
    /// How the run the status names ended: as it said when terminated, as
    /// lost ([`LOST_REASON`]) when it was running.
    pub ended: Option<Terminated>,
}

fn terminated(t: &k8s_openapi::api::core::v1::ContainerStateTerminated) -> Terminated {
    Terminated {
        exit_code: t.exit_code,
        reason: t.reason.clone().unwrap_or_else(|| {
            if t.exit_code == 0 {
                "Completed"
            } else {
                "Error"
            }
            .to_owned()
        }),
        message: t.message.clone(),
        started_at: t.started_at.as_ref().map(|t| t.0),
        finished_at: t.finished_at.as_ref().map(|t| t.0),
        container_id: t.container_id.clone().unwrap_or_default(),
    }
}

/// Reads a container's history back from its `containerStatuses` entry
/// (the kubelet keeps it in container labels; Skiff's pod status is the
/// record). `now` stamps a lost run's end.
pub fn restore(st: &k8s_openapi::api::core::v1::ContainerStatus, now: jiff::Timestamp) -> Restored {
    let last_state = st
        .last_state
        .as_ref()
        .and_then(|l| l.terminated.as_ref())
        .map(terminated);
    let state = st.state.as_ref();
    let ended = if let Some(r) = state.and_then(|s| s.running.as_ref()) {
        Some(Terminated {
            exit_code: EXIT_CODE_KILLED,
            reason: LOST_REASON.to_owned(),
            message: Some(LOST_MESSAGE.to_owned()),
            started_at: r.started_at.as_ref().map(|t| t.0),
            finished_at: Some(now),
            container_id: st.container_id.clone().unwrap_or_default(),
        })
    } else {
        state.and_then(|s| s.terminated.as_ref()).map(terminated)
    };
    Restored {
        restart_count: st.restart_count,
        last_state,
        ended,
    }
}

/// Whether a run that ended with `exit_code` is run again (the rule the
/// worker applies to a live exit): a succeeded init container never is.
/// A sidecar (init container with `restartPolicy: Always`) is asked about
/// as an app container under `Always`: it is run again whatever the pod's
/// policy, unless the pod is finishing (the worker decides that).
pub fn restarts(policy: &str, init: bool, exit_code: i32) -> bool {
    match policy {
        _ if init && exit_code == 0 => false,
        "Always" => true,
        "OnFailure" => exit_code != 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState as K8sState, ContainerStateRunning, ContainerStateTerminated,
        ContainerStatus as K8sStatus,
    };
    use skiff_runtime::{ImageSpec, PodSandboxConfig};

    fn ts(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(secs).unwrap_or_default()
    }

    fn sandbox(id: &str, uid: &str, ready: bool, created: i64) -> PodSandboxStatus {
        let mut config = PodSandboxConfig::new("default", "p", "/logs");
        config.uid = uid.to_owned();
        PodSandboxStatus {
            id: id.to_owned(),
            config,
            state: if ready {
                PodSandboxState::Ready
            } else {
                PodSandboxState::NotReady
            },
            created_at: ts(created),
        }
    }

    fn container(id: &str, name: &str, attempt: i32, state: ContainerState) -> ContainerStatus {
        ContainerStatus {
            id: id.to_owned(),
            sandbox_id: "sb".to_owned(),
            name: name.to_owned(),
            image: ImageSpec::new("busybox:1"),
            image_ref: String::new(),
            state,
            created_at: ts(i64::from(attempt) + 1),
            started_at: None,
            finished_at: None,
            exit_code: None,
            reason: None,
            message: None,
            log_path: format!("/logs/default_p_u/{name}/{attempt}.log").into(),
            listening: Vec::new(),
        }
    }

    #[test]
    fn newest_ready_sandbox_of_each_pod_is_adopted() {
        let (keep, stale) = pick_sandboxes(vec![
            sandbox("old", "u1", true, 1),
            sandbox("new", "u1", true, 2),
            sandbox("stopped", "u2", false, 3),
            sandbox("other", "u3", true, 1),
        ]);
        let kept: HashSet<_> = keep.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(kept, HashSet::from(["new", "other"]));
        let stale: HashSet<_> = stale.iter().map(String::as_str).collect();
        assert_eq!(stale, HashSet::from(["old", "stopped"]));
    }

    #[test]
    fn attempt_comes_from_the_log_file_name() {
        let c = container("a", "main", 7, ContainerState::Running);
        assert_eq!(attempt(&c), Some(7));
        let mut odd = c.clone();
        odd.log_path = "/logs/x/main.log".into();
        assert_eq!(attempt(&odd), None);
    }

    #[test]
    fn running_newest_attempt_is_current_and_the_one_before_previous() {
        let cs = vec![
            container("a0", "main", 0, ContainerState::Exited),
            container("a2", "main", 2, ContainerState::Running),
            container("a1", "main", 1, ContainerState::Exited),
            container("s0", "side", 0, ContainerState::Running),
        ];
        let p = plan("main", &cs);
        let (cur, n) = p.current.expect("current");
        assert_eq!((cur.id.as_str(), n), ("a2", 2));
        assert_eq!(p.previous.as_deref(), Some("a1"));
        assert_eq!(p.stale, ["a0"]);
        assert_eq!(
            plan("side", &cs).current.map(|(c, _)| c.id),
            Some("s0".into())
        );
        assert_eq!(plan("gone", &cs), Plan::default());
    }

    #[test]
    fn exited_while_away_is_still_current_but_created_is_redone() {
        let cs = vec![
            container("a0", "main", 0, ContainerState::Exited),
            container("a1", "main", 1, ContainerState::Created),
        ];
        let p = plan("main", &cs);
        assert_eq!(p.current.map(|(c, n)| (c.id, n)), Some(("a0".into(), 0)));
        assert_eq!(p.previous, None);
        assert_eq!(p.stale, ["a1"]);
    }

    #[test]
    fn containers_no_spec_names_are_unknown() {
        let cs = vec![
            container("a", "main", 0, ContainerState::Running),
            container("b", "renamed", 0, ContainerState::Running),
        ];
        assert_eq!(unknown(&["main"], &cs), ["b"]);
    }

    #[test]
    fn a_running_container_that_vanished_is_lost_with_its_history_kept() {
        let st = K8sStatus {
            name: "main".into(),
            restart_count: 2,
            container_id: Some("wasmtime://c3".into()),
            state: Some(K8sState {
                running: Some(ContainerStateRunning {
                    started_at: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts(5))),
                }),
                ..K8sState::default()
            }),
            last_state: Some(K8sState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: 1,
                    reason: Some("Error".into()),
                    ..ContainerStateTerminated::default()
                }),
                ..K8sState::default()
            }),
            ..K8sStatus::default()
        };
        let r = restore(&st, ts(9));
        assert_eq!(r.restart_count, 2);
        assert_eq!(r.last_state.map(|t| t.exit_code), Some(1));
        let ended = r.ended.expect("lost run");
        assert_eq!(ended.reason, LOST_REASON);
        assert_eq!(ended.exit_code, 137);
        assert_eq!(ended.container_id, "wasmtime://c3");
        assert_eq!(
            (ended.started_at, ended.finished_at),
            (Some(ts(5)), Some(ts(9)))
        );
    }

    #[test]
    fn a_container_that_never_ran_has_nothing_to_restore() {
        let r = restore(&K8sStatus::default(), ts(1));
        assert_eq!(
            r,
            Restored {
                restart_count: 0,
                last_state: None,
                ended: None
            }
        );
    }

    #[test]
    fn restart_rule_matches_the_worker() {
        assert!(restarts("Always", false, 137));
        assert!(restarts("Always", false, 0));
        assert!(!restarts("Always", true, 0));
        assert!(restarts("OnFailure", false, 137));
        assert!(!restarts("OnFailure", false, 0));
        assert!(!restarts("Never", false, 137));
    }
}
