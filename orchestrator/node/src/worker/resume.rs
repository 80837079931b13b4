//! The pod worker's side of [`crate::adopt`]: after an agent restart it
//! takes its pod's sandbox and containers back from the runtime, and reads
//! the history of containers the runtime lost back from the pod status.

use std::sync::Arc;
use std::time::Instant;

use kube::ResourceExt;
use skiff_runtime::{ContainerState, ContainerStatus, Runtime};

use super::Worker;
use crate::adopt::{self, Found};
use crate::status::State;

impl Worker {
    /// Runs once, before [`Worker::setup`]. Takes over the sandbox the
    /// runtimes still hold for this pod, if any, and returns whether it
    /// did (the pod then needs no new sandbox); every container without a
    /// run to carry on gets its history from the pod status.
    pub(super) async fn resume(&mut self) -> bool {
        let uid = self.pod.uid().unwrap_or_default();
        let found = self.ctx.adoptable.take(&uid);
        let mut adopted = vec![false; self.slots.len()];
        if let Some(found) = &found {
            self.adopt_sandbox(found, &mut adopted).await;
        }
        let now = jiff::Timestamp::now();
        for (i, taken) in adopted.into_iter().enumerate() {
            if !taken && !self.runs[i].done {
                self.restore_lost(i, now);
            }
        }
        if found.is_some() {
            // Keeps projected volumes current; an error is retried (and
            // reported) before the next container start.
            let _ = self.mount_volumes().await;
        }
        found.is_some()
    }

    /// The pod's `containerStatuses` (or `initContainerStatuses`) entry of slot `i`.
    fn reported(&self, i: usize) -> Option<k8s_openapi::api::core::v1::ContainerStatus> {
        let st = self.pod.status.as_ref()?;
        let list = if i < self.n_init {
            st.init_container_statuses.as_ref()?
        } else {
            st.container_statuses.as_ref()?
        };
        list.iter().find(|s| s.name == self.slots[i].name).cloned()
    }

    async fn adopt_sandbox(&mut self, found: &Found, adopted: &mut [bool]) {
        let rt = found.runtime.clone();
        let sandbox = &found.sandbox;
        tracing::info!(sandbox = %sandbox.id, handler = rt.handler(), "re-adopting the pod sandbox");
        self.sandbox = Some(sandbox.id.clone());
        self.runtime = Some(rt.clone());
        // A `hostNetwork` sandbox's address is the node's, held by no allocator.
        self.pod_ip = if sandbox.config.namespaces.host_network() {
            Some(self.ctx.cfg.address)
        } else {
            sandbox
                .config
                .pod_ip
                .and_then(|ip| self.ctx.ips.allocate(&sandbox.config.uid, Some(ip)))
        };
        let names: Vec<String> = self.slots.iter().map(|s| s.name.clone()).collect();
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut remove = adopt::unknown(&name_refs, &found.containers);
        for (i, name) in names.iter().enumerate() {
            if self.runs[i].done {
                // A succeeded (regular) init container: nothing to
                // supervise. A sidecar is never done here: a running one
                // is carried on like an app container.
                continue;
            }
            let plan = adopt::plan(name, &found.containers);
            remove.extend(plan.stale);
            self.runs[i].previous = plan.previous;
            if let Some((st, attempt)) = plan.current {
                self.adopt_run(i, st, attempt, &rt);
                adopted[i] = true;
            }
        }
        for id in remove {
            if let Err(e) = rt.remove_container(&id).await {
                tracing::warn!(container = %id, error = %e, "removing a stale container");
            }
        }
    }

    /// Carries on supervising container `st` as the current run of slot
    /// `i`: its attempt is its restart count; an exit it made while the
    /// agent was away is handled as soon as the worker runs.
    fn adopt_run(&mut self, i: usize, st: ContainerStatus, attempt: i32, rt: &Arc<dyn Runtime>) {
        let handler = rt.handler().to_owned();
        let full_id = format!("{handler}://{}", st.id);
        let reported = self.reported(i);
        let slot = &mut self.slots[i];
        if let Some(r) = &reported {
            let restored = adopt::restore(r, jiff::Timestamp::now());
            slot.last_state = if r.container_id.as_deref() == Some(full_id.as_str()) {
                restored.last_state
            } else {
                // The status still names the run before this one.
                restored.ended.or(restored.last_state)
            };
            slot.image_id = r.image_id.clone();
        }
        if slot.image_id.is_empty() {
            slot.image_id = st.image_ref.clone();
        }
        slot.restart_count = attempt;
        slot.container_id = full_id;
        if st.state == ContainerState::Running {
            // One that exited meanwhile is never shown running: its
            // state comes from its exit, handled as soon as the worker runs.
            slot.state = State::Running {
                started_at: st.started_at.unwrap_or_else(jiff::Timestamp::now),
            };
        }
        tracing::info!(container = %slot.name, id = %st.id, restart_count = attempt, "re-adopted container");
        let run = &mut self.runs[i];
        run.id = Some(st.id.clone());
        run.next_start = None;
        run.started = Some(Instant::now());
        if st.state == ContainerState::Running
            && let Some(c) = self.spec_container(i)
        {
            self.start_probes(i, &c, rt, &st.id);
        }
        let (tx, rt, id) = (self.exits_tx.clone(), rt.clone(), st.id);
        tokio::spawn(async move {
            match rt.wait_container(&id).await {
                Ok(st) => {
                    let _ = tx.send((i, id, st));
                }
                Err(e) => tracing::warn!(container = %id, error = %e, "waiting for a container"),
            }
        });
    }

    /// Slot `i` has no container in the runtime: takes its restart count
    /// and last state from the pod status. A run the status says was
    /// running is lost ([`adopt::LOST_REASON`]) and restarts per
    /// `restartPolicy`, as an exit would.
    fn restore_lost(&mut self, i: usize, now: jiff::Timestamp) {
        let Some(reported) = self.reported(i) else {
            return;
        };
        let r = adopt::restore(&reported, now);
        if r.ended.is_none() && r.last_state.is_none() && r.restart_count == 0 {
            return;
        }
        // A sidecar is run again whatever the pod's policy; if the app
        // containers are done, `finish_sidecars` settles it instead.
        let (policy, init) = if self.slots[i].sidecar {
            ("Always".to_owned(), false)
        } else {
            (self.restart_policy(), i < self.n_init)
        };
        let slot = &mut self.slots[i];
        slot.restart_count = r.restart_count;
        slot.image_id = reported.image_id.clone();
        match r.ended {
            Some(t) if adopt::restarts(&policy, init, t.exit_code) => {
                tracing::info!(container = %slot.name, reason = %t.reason, "container lost with the agent: starting it again");
                slot.last_state = Some(t.clone());
                slot.state = State::Terminated(t);
            }
            Some(t) => {
                slot.container_id = t.container_id.clone();
                slot.last_state = r.last_state;
                slot.state = State::Terminated(t);
                self.runs[i].done = true;
            }
            None => slot.last_state = r.last_state,
        }
    }
}
