//! The pod worker: one task per pod bound to this node. It owns the pod's
//! sandbox and containers in the runtime its RuntimeClass names, restarts
//! containers per `restartPolicy` with the kubelet's back-off (the first
//! restart at once, then 10 s doubling to 5 min), writes `pods/status`
//! whenever what it would write changes, and on deletion stops the
//! containers within the grace period and deletes the pod for good.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use skiff_runtime::{
    ContainerConfig, ContainerPort, ContainerStatus, ImageSpec, PodSandboxConfig, Protocol,
    Resources, Runtime,
};
use tokio::sync::{mpsc, watch};

use crate::status::{self, Slot, State, Terminated};
use skiff_client::events::{Recorder, Type};

use crate::env;
use crate::lifecycle;
use crate::probe::{self, Prober, Probes};
use crate::volumes::{NodeFacts, PodVolumes};
use crate::{Config, podip};

mod resume;

/// What every worker shares.
pub struct Ctx {
    /// The agent's API client.
    pub client: Client,
    /// The agent's settings.
    pub cfg: Config,
    /// Pod address allocator.
    pub ips: podip::Allocator,
    /// Posts events as `kubelet` on this node.
    pub events: Recorder,
    /// Image pulls, one at a time per image ([`crate::pull`]).
    pub pulls: crate::pull::Pulls,
    /// The workers' events, posted in the background ([`crate::event_queue`]).
    pub event_queue: crate::event_queue::EventQueue,
    /// What the runtimes held when the agent started: each worker takes
    /// its pod's sandbox back from it ([`crate::adopt`]).
    pub adoptable: crate::adopt::Inventory,
    /// The RuntimeClasses, watched, so a pod's start does not wait for a
    /// GET; one not (yet) in it is read from the API.
    pub runtime_classes: kube::runtime::reflector::Store<RuntimeClass>,
}

/// A container that ran this long has its back-off reset (as the kubelet).
const BACKOFF_RESET: Duration = Duration::from_secs(600);

/// Per-container bookkeeping beside its [`Slot`].
#[derive(Default)]
struct Run {
    /// The runtime container of the current run.
    id: Option<String>,
    /// The previous run's container, kept for its logs.
    previous: Option<String>,
    /// Back-off before the next start (zero: restart at once).
    backoff: Duration,
    /// Not before this.
    next_start: Option<Instant>,
    /// When the current run started.
    started: Option<Instant>,
    /// Will not run again.
    done: bool,
    /// The current run's probes; dropped (so stopped) with the run.
    prober: Option<Prober>,
}

struct Worker {
    ctx: Arc<Ctx>,
    pod: Arc<Pod>,
    runtime: Option<Arc<dyn Runtime>>,
    sandbox: Option<String>,
    pod_ip: Option<IpAddr>,
    start_time: String,
    slots: Vec<Slot>,
    runs: Vec<Run>,
    exits_tx: mpsc::UnboundedSender<(usize, String, ContainerStatus)>,
    exits: mpsc::UnboundedReceiver<(usize, String, ContainerStatus)>,
    written: Option<Value>,
    written_conditions: Vec<Value>,
    /// Cloned into each run's [`Prober`].
    probes_tx: mpsc::UnboundedSender<probe::Report>,
    /// Probe results of the current runs.
    probes: mpsc::UnboundedReceiver<probe::Report>,
    /// The pod's volumes under the agent's data directory.
    volumes: PodVolumes,
    /// How many of `slots`/`runs` are init containers: those come first,
    /// in spec order, then the app containers.
    n_init: usize,
    /// The app containers are done for good (or initialization failed for
    /// good): the sidecars are being stopped and are not restarted.
    finishing: bool,
}

/// Runs one pod until it is deleted from the API (its channel then holds
/// `None`) or the agent stops.
pub async fn run(ctx: Arc<Ctx>, mut rx: watch::Receiver<Option<Arc<Pod>>>) {
    let Some(pod) = rx.borrow_and_update().clone() else {
        return;
    };
    let (exits_tx, exits) = mpsc::unbounded_channel();
    let (probes_tx, probes) = mpsc::unbounded_channel();
    let containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    let inits = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.clone())
        .unwrap_or_default();
    let (slots, runs) = initial_slots(&pod, &inits, &containers);
    let volumes = PodVolumes::new(&ctx.cfg.data_dir, &pod.uid().unwrap_or_default());
    let mut w = Worker {
        ctx,
        slots,
        runs,
        n_init: inits.len(),
        finishing: false,
        pod,
        runtime: None,
        sandbox: None,
        pod_ip: None,
        start_time: status::stamp(jiff::Timestamp::now()),
        exits_tx,
        exits,
        written: None,
        written_conditions: Vec::new(),
        probes_tx,
        probes,
        volumes,
    };
    let span = tracing::info_span!("pod", pod = %format!("{}/{}", w.ns(), w.pod.name_any()));
    let _enter = span.enter();
    drop(_enter);
    w.main(&mut rx).await;
}

impl Worker {
    fn ns(&self) -> String {
        self.pod.namespace().unwrap_or_else(|| "default".into())
    }

    fn api(&self) -> Api<Pod> {
        Api::namespaced(self.ctx.client.clone(), &self.ns())
    }

    fn restart_policy(&self) -> String {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.clone())
            .unwrap_or_else(|| "Always".into())
    }

    /// The spec of slot `i`: init containers first, then app containers.
    fn spec_container(&self, i: usize) -> Option<Container> {
        let spec = self.pod.spec.as_ref()?;
        match i.checked_sub(self.n_init) {
            None => spec.init_containers.as_ref()?.get(i).cloned(),
            Some(a) => spec.containers.get(a).cloned(),
        }
    }

    async fn event(&self, container: Option<&str>, type_: Type, reason: &str, message: &str) {
        let is_init = |c: &str| {
            self.pod
                .spec
                .as_ref()
                .and_then(|s| s.init_containers.as_ref())
                .is_some_and(|i| i.iter().any(|x| x.name == c))
        };
        let field_path = container.map(|c| {
            if is_init(c) {
                format!("spec.initContainers{{{c}}}")
            } else {
                format!("spec.containers{{{c}}}")
            }
        });
        self.ctx
            .event_queue
            .post(&self.pod, field_path.as_deref(), type_, reason, message);
    }

    async fn main(&mut self, rx: &mut watch::Receiver<Option<Arc<Pod>>>) {
        let adopted = self.resume().await;
        let ready =
            adopted || (self.pod.metadata.deletion_timestamp.is_none() && self.setup().await);
        loop {
            let current = rx.borrow_and_update().clone();
            let Some(pod) = current else {
                self.teardown().await;
                return;
            };
            self.pod = pod;
            self.volumes.pod_changed(&self.pod);
            if self.pod.metadata.deletion_timestamp.is_some() {
                self.terminate().await;
                return;
            }
            if ready {
                self.finish_sidecars().await;
                self.start_due().await;
            }
            self.write_status().await;
            let next = self.runs.iter().filter_map(|r| r.next_start).min();
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        self.teardown().await;
                        return;
                    }
                }
                Some((i, id, st)) = self.exits.recv() => self.on_exit(i, &id, st).await,
                Some(report) = self.probes.recv() => self.on_probe(report).await,
                _ = sleep_until(next) => {}
            }
        }
    }

    /// Picks the runtime and creates the sandbox; on failure the pod stays
    /// Pending with an event saying why.
    async fn setup(&mut self) -> bool {
        let spec = self.pod.spec.clone().unwrap_or_default();
        let handler = match spec.runtime_class_name.as_deref().filter(|s| !s.is_empty()) {
            Some(rc) => {
                let cached = self
                    .ctx
                    .runtime_classes
                    .get(&kube::runtime::reflector::ObjectRef::new(rc));
                let class = match cached {
                    Some(c) => Ok(Some(c.handler.clone())),
                    None => Api::<RuntimeClass>::all(self.ctx.client.clone())
                        .get_opt(rc)
                        .await
                        .map(|c| c.map(|c| c.handler)),
                };
                match class {
                    Ok(Some(handler)) => Some(handler),
                    Ok(None) => {
                        self.event(
                            None,
                            Type::Warning,
                            "FailedCreatePodSandBox",
                            &format!(
                                "Failed to create pod sandbox: RuntimeClass \"{rc}\" not found"
                            ),
                        )
                        .await;
                        return false;
                    }
                    Err(e) => {
                        self.event(
                            None,
                            Type::Warning,
                            "FailedCreatePodSandBox",
                            &format!(
                                "Failed to create pod sandbox: reading RuntimeClass \"{rc}\": {e}"
                            ),
                        )
                        .await;
                        return false;
                    }
                }
            }
            None => default_handler(&self.ctx.cfg, &spec).await,
        };
        let Some(runtime) = handler.as_deref().and_then(|h| self.ctx.cfg.runtime(h)) else {
            let what = handler.map_or_else(
                || "no default runtime handler is configured (set runtimeClassName)".to_owned(),
                |h| format!("no runtime for handler \"{h}\" on this node"),
            );
            self.event(
                None,
                Type::Warning,
                "FailedCreatePodSandBox",
                &format!("Failed to create pod sandbox: {what}"),
            )
            .await;
            return false;
        };
        let uid = self.pod.uid().unwrap_or_default();
        if let Err(message) = self.assign_address(runtime.handler(), &uid).await {
            self.event(
                None,
                Type::Warning,
                "FailedCreatePodSandBox",
                &format!("Failed to create pod sandbox: {message}"),
            )
            .await;
            return false;
        }
        let name = self.pod.name_any();
        let config = PodSandboxConfig {
            name: name.clone(),
            namespace: self.ns(),
            uid: uid.clone(),
            attempt: 0,
            log_directory: self
                .ctx
                .cfg
                .data_dir
                .join("pods")
                .join(format!("{}_{name}_{uid}", self.ns())),
            pod_ip: self.pod_ip,
            labels: self.pod.labels().clone(),
            annotations: self.pod.annotations().clone(),
            namespaces: skiff_runtime::NamespaceOption::host(
                spec.host_network == Some(true),
                spec.host_pid == Some(true),
                spec.host_ipc == Some(true),
            ),
        };
        match runtime.run_pod_sandbox(&config).await {
            Ok(id) => {
                self.sandbox = Some(id);
                self.runtime = Some(runtime);
                true
            }
            Err(e) => {
                self.event(
                    None,
                    Type::Warning,
                    "FailedCreatePodSandBox",
                    &format!("Failed to create pod sandbox: {e}"),
                )
                .await;
                false
            }
        }
    }

    /// Gives the pod its address (the one its status names after an agent
    /// restart, if still free) and, for a pod sharing the node's network
    /// namespace (Wasm), puts it on the bridge; native sandboxes plug their
    /// own veth in. A `hostNetwork` pod's address is the node's, as with
    /// the kubelet: taken from no allocator, put on no bridge.
    async fn assign_address(&mut self, handler: &str, uid: &str) -> Result<(), String> {
        if self.pod.spec.as_ref().and_then(|s| s.host_network) == Some(true) {
            self.pod_ip = Some(self.ctx.cfg.address);
            return Ok(());
        }
        let before = self
            .pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.as_deref())
            .and_then(|ip| ip.parse::<IpAddr>().ok());
        let ip = self.ctx.ips.allocate(uid, before).ok_or_else(|| {
            format!(
                "no free address in the node's pod CIDR {}",
                self.ctx.ips.cidr()
            )
        })?;
        self.pod_ip = Some(ip);
        if let Some(net) = &self.ctx.cfg.network
            && self.ctx.cfg.wasm_handler.as_deref() == Some(handler)
            && let Err(e) = net.add_address(ip).await
        {
            self.pod_ip = None;
            self.ctx.ips.release(ip);
            return Err(format!("adding the pod address to the bridge: {e}"));
        }
        Ok(())
    }

    async fn start_due(&mut self) {
        let now = Instant::now();
        for i in 0..self.slots.len() {
            if !self.may_start(i) {
                continue;
            }
            let r = &self.runs[i];
            if r.id.is_none() && !r.done && r.next_start.is_none_or(|t| t <= now) {
                self.start(i).await;
            }
        }
    }

    /// Whether container `i` may start now, as far as the init order goes
    /// ([`status::may_start`]).
    fn may_start(&self, i: usize) -> bool {
        let (inits, apps) = self.slots.split_at(self.n_init);
        status::may_start(inits, apps, i)
    }

    /// With `restartPolicy` Never or OnFailure, once every app container
    /// is done for good (or a regular init container failed for good),
    /// nothing keeps the sidecars: they are stopped in reverse spec order
    /// within the grace period (as the kubelet kills such a pod's
    /// remaining containers), and the pod's phase follows the app
    /// containers. The stop runs apart; each exit comes back through
    /// [`Worker::on_exit`], which then restarts nothing.
    async fn finish_sidecars(&mut self) {
        if self.finishing || !self.slots[..self.n_init].iter().any(|s| s.sidecar) {
            return;
        }
        let apps_done =
            self.slots.len() > self.n_init && self.runs[self.n_init..].iter().all(|r| r.done);
        let init_failed = (0..self.n_init)
            .any(|j| !self.slots[j].sidecar && self.runs[j].done && !self.slots[j].succeeded());
        if !(apps_done || init_failed) {
            return;
        }
        self.finishing = true;
        let mut stops = Vec::new();
        let sidecars: Vec<usize> = (0..self.n_init)
            .rev()
            .filter(|&i| self.slots[i].sidecar)
            .collect();
        for i in sidecars {
            self.runs[i].prober = None;
            match (self.runtime.clone(), self.runs[i].id.clone()) {
                (Some(rt), Some(id)) => {
                    let name = self.slots[i].name.clone();
                    self.event(
                        Some(&name),
                        Type::Normal,
                        "Killing",
                        &format!("Stopping container {name}"),
                    )
                    .await;
                    let c = self.spec_container(i).unwrap_or_default();
                    let target = self.probe_target(&c, &rt, &id);
                    stops.push((rt, id, c, target));
                }
                // Not running (backing off, or never started): it stays
                // as it last ended.
                _ => self.settle(i),
            }
        }
        let deadline = Instant::now() + self.grace_period(None);
        let (ctx, pod) = (self.ctx.clone(), self.pod.clone());
        tokio::spawn(async move {
            for (rt, id, c, target) in stops {
                let grace = remaining(deadline);
                let stop = Stop {
                    list: "initContainers",
                    why: "stopping a sidecar",
                };
                stop.run(&ctx, &pod, &c, &target, &rt, &id, grace).await;
            }
        });
    }

    /// Container `i` will not run again: one waiting to restart shows how
    /// its last run ended, as the kubelet reports a finished pod.
    fn settle(&mut self, i: usize) {
        self.runs[i].done = true;
        self.runs[i].next_start = None;
        let s = &mut self.slots[i];
        if matches!(s.state, State::Waiting { .. })
            && let Some(last) = s.last_state.clone()
        {
            s.state = State::Terminated(last);
        }
    }

    /// Schedules another attempt after the back-off.
    fn back_off(&mut self, i: usize) -> Duration {
        let cfg = &self.ctx.cfg;
        let r = &mut self.runs[i];
        let wait = if r.backoff.is_zero() {
            cfg.backoff_initial
        } else {
            r.backoff
        };
        r.backoff = (wait * 2).min(cfg.backoff_max);
        r.next_start = Some(Instant::now() + wait);
        wait
    }

    async fn start(&mut self, i: usize) {
        let Some(runtime) = self.runtime.clone() else {
            return;
        };
        let Some(c) = self.spec_container(i) else {
            return;
        };
        let image = c.image.clone().unwrap_or_default();
        let name = c.name.clone();
        let field = Some(name.as_str());
        if !self.mount_volumes().await {
            // As the kubelet: the pod waits in ContainerCreating and the
            // mount is retried.
            self.back_off(i);
            // An init container waits as PodInitializing (kubectl: Init:N/M).
            let reason = if i < self.n_init {
                "PodInitializing"
            } else {
                "ContainerCreating"
            };
            self.slots[i].state = State::Waiting {
                reason: reason.into(),
                message: None,
            };
            return;
        }
        match self.ensure_image(runtime.as_ref(), &c, &image).await {
            Ok(id) => self.slots[i].image_id = id,
            Err((reason, message)) => {
                let wait = self.back_off(i);
                let reason = if self.runs[i].backoff > self.ctx.cfg.backoff_initial * 2 {
                    self.event(
                        field,
                        Type::Normal,
                        "BackOff",
                        &format!("Back-off pulling image \"{image}\""),
                    )
                    .await;
                    if reason == "ErrImagePull" {
                        "ImagePullBackOff".to_owned()
                    } else {
                        reason
                    }
                } else {
                    reason
                };
                tracing::debug!(?wait, "image not ready");
                self.slots[i].state = State::Waiting {
                    reason,
                    message: Some(message),
                };
                return;
            }
        }
        // The restart count goes up once this run starts; its log file is
        // already the next attempt's, so `kubectl logs --previous` finds
        // the run before it alone.
        let attempt = self.slots[i].restart_count + i32::from(self.slots[i].last_state.is_some());
        let config = match self.container_config(&c, &image, attempt).await {
            Ok(cfg) => cfg,
            Err(message) => {
                self.fail_start(i, "CreateContainerConfigError", message)
                    .await;
                return;
            }
        };
        let sandbox = self.sandbox.clone().unwrap_or_default();
        let id = match runtime.create_container(&sandbox, &config).await {
            Ok(id) => id,
            Err(e) => {
                self.fail_start(i, "CreateContainerError", e.to_string())
                    .await;
                return;
            }
        };
        self.event(
            field,
            Type::Normal,
            "Created",
            &format!("Created container: {name}"),
        )
        .await;
        if let Err(e) = runtime.start_container(&id).await {
            let _ = runtime.remove_container(&id).await;
            self.fail_start(i, "RunContainerError", e.to_string()).await;
            return;
        }
        self.event(
            field,
            Type::Normal,
            "Started",
            &format!("Started container {name}"),
        )
        .await;
        self.post_start(&c, &runtime, &id).await;
        let started_at = runtime
            .container_status(&id)
            .await
            .ok()
            .and_then(|s| s.started_at)
            .unwrap_or_else(jiff::Timestamp::now);
        let slot = &mut self.slots[i];
        if slot.last_state.is_some() {
            slot.restart_count += 1;
        }
        slot.container_id = format!("{}://{id}", runtime.handler());
        slot.state = State::Running { started_at };
        let r = &mut self.runs[i];
        r.id = Some(id.clone());
        r.next_start = None;
        r.started = Some(Instant::now());
        self.start_probes(i, &c, &runtime, &id);
        let tx = self.exits_tx.clone();
        tokio::spawn(async move {
            match runtime.wait_container(&id).await {
                Ok(st) => {
                    let _ = tx.send((i, id, st));
                }
                Err(e) => tracing::warn!(container = %id, error = %e, "waiting for a container"),
            }
        });
    }

    /// Marks the run started and ready as far as it has no startup or
    /// readiness probe, and starts its probes.
    fn start_probes(&mut self, i: usize, c: &Container, runtime: &Arc<dyn Runtime>, id: &str) {
        if i < self.n_init && !self.slots[i].sidecar {
            // Init containers get no probes: started while running, ready
            // only once completed (see `status::container_status`); a
            // sidecar is probed as an app container.
            self.slots[i].started = true;
            self.slots[i].ready = false;
            return;
        }
        let probes = Probes::of(c);
        let slot = &mut self.slots[i];
        slot.started = probes.startup.is_none();
        slot.ready = slot.started && probes.readiness.is_none();
        self.runs[i].prober = (!probes.is_empty()).then(|| {
            let target = self.probe_target(c, runtime, id);
            Prober::start(i, probes, target, self.probes_tx.clone())
        });
    }

    /// What probes and lifecycle hooks of container `c`'s run `id` act on.
    fn probe_target(&self, c: &Container, runtime: &Arc<dyn Runtime>, id: &str) -> probe::Target {
        probe::Target {
            pod_ip: self.pod_ip,
            runtime: Some(runtime.clone()),
            container_id: id.to_owned(),
            ports: c.ports.clone().unwrap_or_default(),
        }
    }

    /// Runs `c`'s postStart hook, if any, before the run counts as
    /// Running; when it fails the container is killed (the kubelet's
    /// `FailedPostStartHook`) and its exit restarts it per `restartPolicy`.
    async fn post_start(&self, c: &Container, runtime: &Arc<dyn Runtime>, id: &str) {
        let Some(handler) = lifecycle::Hook::PostStart.of(c) else {
            return;
        };
        let target = self.probe_target(c, runtime, id);
        let Err(e) = lifecycle::run(handler, &target, lifecycle::POST_START_LIMIT).await else {
            return;
        };
        let message = lifecycle::failure_message(handler, &c.name, &self.pod, &e);
        self.event(
            Some(&c.name),
            Type::Warning,
            lifecycle::Hook::PostStart.failure_reason(),
            &message,
        )
        .await;
        self.event(
            Some(&c.name),
            Type::Normal,
            "Killing",
            "FailedPostStartHook",
        )
        .await;
        let grace = self.grace_period(None);
        if let Err(e) = runtime.stop_container(id, grace).await {
            tracing::warn!(container = %id, error = %e, "killing after a failed postStart hook");
        }
    }

    /// The pod's termination grace period, or a probe's own when it sets one.
    fn grace_period(&self, probe: Option<&k8s_openapi::api::core::v1::Probe>) -> Duration {
        let secs = probe
            .and_then(|p| p.termination_grace_period_seconds)
            .or_else(|| {
                self.pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
            })
            .unwrap_or(30);
        Duration::from_secs(u64::try_from(secs).unwrap_or(0))
    }

    /// A probe result of the current run: the kubelet's `Unhealthy` event
    /// for a failed attempt; started/ready follow the thresholded result;
    /// a failed startup or liveness probe kills the container, and its
    /// exit restarts it per `restartPolicy`.
    async fn on_probe(&mut self, report: probe::Report) {
        let i = report.index;
        if self.runs.get(i).and_then(|r| r.id.as_deref()) != Some(report.container_id.as_str()) {
            return;
        }
        let name = self.slots[i].name.clone();
        let kind = report.kind;
        if let Some(f) = &report.failure {
            let message = format!("{} probe failed: {f}", kind.title());
            self.event(Some(&name), Type::Warning, "Unhealthy", &message)
                .await;
        }
        let c = self.spec_container(i).unwrap_or_default();
        match (kind, report.changed) {
            (probe::Kind::Startup, Some(true)) => {
                self.slots[i].started = true;
                self.slots[i].ready = c.readiness_probe.is_none();
            }
            (probe::Kind::Readiness, Some(ok)) => self.slots[i].ready = ok,
            (probe::Kind::Startup | probe::Kind::Liveness, Some(false)) => {
                let probe = match kind {
                    probe::Kind::Startup => c.startup_probe.as_ref(),
                    _ => c.liveness_probe.as_ref(),
                };
                let grace = self.grace_period(probe);
                self.kill_unhealthy(i, kind, grace).await;
            }
            _ => {}
        }
    }

    /// Stops the current run of container `i` after a failed probe; the
    /// stop runs apart so the worker keeps writing status meanwhile.
    async fn kill_unhealthy(&mut self, i: usize, kind: probe::Kind, grace: Duration) {
        let (Some(rt), Some(id)) = (self.runtime.clone(), self.runs[i].id.clone()) else {
            return;
        };
        self.runs[i].prober = None;
        let name = self.slots[i].name.clone();
        let message = format!(
            "Container {name} failed {} probe, will be restarted",
            kind.title().to_lowercase()
        );
        self.event(Some(&name), Type::Normal, "Killing", &message)
            .await;
        let c = self.spec_container(i).unwrap_or_default();
        let target = self.probe_target(&c, &rt, &id);
        let (ctx, pod) = (self.ctx.clone(), self.pod.clone());
        let list = if i < self.n_init {
            "initContainers"
        } else {
            "containers"
        };
        tokio::spawn(async move {
            let stop = Stop {
                list,
                why: "killing an unhealthy container",
            };
            stop.run(&ctx, &pod, &c, &target, &rt, &id, grace).await;
        });
    }

    async fn fail_start(&mut self, i: usize, reason: &str, message: String) {
        let name = self.slots[i].name.clone();
        self.event(
            Some(&name),
            Type::Warning,
            "Failed",
            &format!("Error: {message}"),
        )
        .await;
        self.back_off(i);
        self.slots[i].state = State::Waiting {
            reason: reason.to_owned(),
            message: Some(message),
        };
    }

    /// Makes sure the image is present per `imagePullPolicy`; returns its id
    /// or the waiting reason and message.
    async fn ensure_image(
        &self,
        runtime: &dyn Runtime,
        c: &Container,
        image: &str,
    ) -> Result<String, (String, String)> {
        let field = Some(c.name.as_str());
        let spec = ImageSpec::new(image);
        let policy = c
            .image_pull_policy
            .clone()
            .unwrap_or_else(|| default_pull_policy(image).to_owned());
        let present = runtime.images().image_status(&spec).await.ok().flatten();
        let id = |s: &skiff_runtime::ImageStatus| {
            s.repo_digests
                .first()
                .cloned()
                .unwrap_or_else(|| s.id.clone())
        };
        match (policy.as_str(), present) {
            ("Never", None) => {
                let m =
                    format!("Container image \"{image}\" is not present with pull policy of Never");
                self.event(field, Type::Warning, "ErrImageNeverPull", &m)
                    .await;
                Err(("ErrImageNeverPull".into(), m))
            }
            ("Never" | "IfNotPresent", Some(s)) => {
                self.event(
                    field,
                    Type::Normal,
                    "Pulled",
                    &format!("Container image \"{image}\" already present on machine"),
                )
                .await;
                Ok(id(&s))
            }
            _ => {
                self.event(
                    field,
                    Type::Normal,
                    "Pulling",
                    &format!("Pulling image \"{image}\""),
                )
                .await;
                let t = Instant::now();
                let creds = crate::pullsecrets::for_pod(&self.ctx.client, &self.pod).await;
                if let Some(w) = creds.warning() {
                    let reason = crate::pullsecrets::MISSING_REASON;
                    self.event(None, Type::Warning, reason, &w).await;
                }
                let spec = &spec;
                let pulled = crate::pullsecrets::pull(spec, &creds, |auth| async move {
                    self.ctx.pulls.pull(runtime, spec, &auth).await
                });
                match pulled.await {
                    Ok(s) => {
                        let took = format!("{:?}", t.elapsed());
                        self.event(
                            field,
                            Type::Normal,
                            "Pulled",
                            &format!(
                                "Successfully pulled image \"{image}\" in {took} ({took} including waiting). Image size: {} bytes.",
                                s.size
                            ),
                        )
                        .await;
                        Ok(id(&s))
                    }
                    Err(e) => {
                        let m = format!("Failed to pull image \"{image}\": {e}");
                        self.event(field, Type::Warning, "Failed", &m).await;
                        Err(("ErrImagePull".into(), m))
                    }
                }
            }
        }
    }

    /// The runtime's view of container `c`: env (`env.rs`), mounts
    /// (`volumes.rs`), limits, ports; an error is the message of a
    /// `CreateContainerConfigError`.
    async fn container_config(
        &self,
        c: &Container,
        image: &str,
        attempt: i32,
    ) -> Result<ContainerConfig, String> {
        let mut cfg = ContainerConfig::new(&c.name, ImageSpec::new(image));
        cfg.log_path = format!("{}/{attempt}.log", c.name).into();
        cfg.command = c.command.clone().unwrap_or_default();
        cfg.args = c.args.clone().unwrap_or_default();
        cfg.working_dir = c.working_dir.clone();
        cfg.stdin = c.stdin.unwrap_or(false);
        cfg.stdin_once = c.stdin_once.unwrap_or(false);
        cfg.tty = c.tty.unwrap_or(false);
        if let Some(spec) = &self.pod.spec {
            cfg.security = crate::security::effective(spec, c)?;
        }
        let facts = self.node_facts();
        let ns = self.ns();
        let mut lookup = env::Lookup::new(&self.ctx.client, &ns);
        let built = env::container_env(&facts.info(&self.pod), c, &mut lookup)
            .await
            .map_err(|e| e.to_string())?;
        for w in &built.warnings {
            self.event(None, Type::Warning, "InvalidEnvironmentVariableNames", w)
                .await;
        }
        for (k, v) in &built.vars {
            cfg = cfg.with_env(k, v);
        }
        cfg.mounts = self
            .volumes
            .mounts(c, &built.vars)
            .map_err(|e| e.to_string())?;
        let limits = c.resources.as_ref().and_then(|r| r.limits.as_ref());
        let q = |k: &str| limits.and_then(|l| l.get(k)).map(|q| q.0.as_str());
        cfg.resources = Resources::from_limits(q("memory"), q("cpu")).map_err(|e| e.to_string())?;
        for p in c.ports.iter().flatten() {
            let port = u16::try_from(p.container_port)
                .map_err(|_| format!("containerPort {} out of range", p.container_port))?;
            cfg.ports.push(ContainerPort {
                container_port: port,
                protocol: match p.protocol.as_deref() {
                    Some("UDP") => Protocol::Udp,
                    _ => Protocol::Tcp,
                },
            });
        }
        cfg.labels
            .insert("io.kubernetes.pod.name".into(), self.pod.name_any());
        cfg.labels
            .insert("io.kubernetes.pod.namespace".into(), self.ns());
        cfg.labels.insert(
            "io.kubernetes.pod.uid".into(),
            self.pod.uid().unwrap_or_default(),
        );
        cfg.labels
            .insert("io.kubernetes.container.name".into(), c.name.clone());
        cfg.annotations = self.pod.annotations().clone();
        Ok(cfg)
    }

    /// What the downward API and the volume refresher know of this node.
    fn node_facts(&self) -> NodeFacts {
        NodeFacts {
            node_name: self.ctx.cfg.node_name.clone(),
            host_ip: self.ctx.cfg.address,
            pod_ip: self.pod_ip,
            allocatable: env::Allocatable::of_node(&self.ctx.cfg.data_dir),
        }
    }

    /// Sets up the pod's volumes (once) and starts keeping their files
    /// current; on failure posts the kubelet's `FailedMount` event and
    /// returns false (the caller retries later).
    async fn mount_volumes(&mut self) -> bool {
        if self.volumes.is_ready() {
            return true;
        }
        let facts = self.node_facts();
        let ns = self.ns();
        let mut lookup = env::Lookup::new(&self.ctx.client, &ns);
        match self
            .volumes
            .setup(&facts.info(&self.pod), &mut lookup)
            .await
        {
            Ok(()) => {
                self.volumes
                    .start_refresh(self.ctx.client.clone(), self.pod.clone(), facts);
                true
            }
            Err(message) => {
                self.event(None, Type::Warning, "FailedMount", &message)
                    .await;
                false
            }
        }
    }

    async fn on_exit(&mut self, i: usize, id: &str, st: ContainerStatus) {
        if self.runs[i].id.as_deref() != Some(id) {
            return;
        }
        let handler = self.runtime.as_ref().map_or("", |r| r.handler()).to_owned();
        let code = st.exit_code.unwrap_or(0);
        let term = Terminated {
            exit_code: code,
            reason: st.reason.map_or_else(
                || if code == 0 { "Completed" } else { "Error" }.to_owned(),
                |r| r.as_str().to_owned(),
            ),
            message: st.message.clone(),
            started_at: st.started_at,
            finished_at: st.finished_at.or_else(|| Some(jiff::Timestamp::now())),
            container_id: format!("{handler}://{id}"),
        };
        tracing::info!(container = %self.slots[i].name, exit_code = code, "container exited");
        let restart = match self.restart_policy().as_str() {
            // A sidecar runs as long as the app containers need it,
            // whatever the pod's restartPolicy.
            _ if self.slots[i].sidecar => !self.finishing,
            // An init container that succeeded is never run again; a
            // failed one is retried under Always and OnFailure alike.
            _ if i < self.n_init && code == 0 => false,
            "Always" => true,
            "OnFailure" => code != 0,
            _ => false,
        };
        let r = &mut self.runs[i];
        r.id = None;
        r.prober = None;
        let old = r.previous.replace(id.to_owned());
        if r.started.is_some_and(|s| s.elapsed() >= BACKOFF_RESET) {
            r.backoff = Duration::ZERO;
        }
        if let (Some(old), Some(rt)) = (old, &self.runtime) {
            let _ = rt.remove_container(&old).await;
        }
        if !restart {
            self.runs[i].done = true;
            self.slots[i].state = State::Terminated(term);
            return;
        }
        self.slots[i].last_state = Some(term.clone());
        if self.runs[i].backoff.is_zero() {
            // The first restart is immediate; later ones back off.
            self.runs[i].backoff = self.ctx.cfg.backoff_initial;
            self.runs[i].next_start = None;
            self.slots[i].state = State::Terminated(term);
            return;
        }
        let wait = self.back_off(i);
        let name = self.slots[i].name.clone();
        let who = format!(
            "pod={}_{}({})",
            self.pod.name_any(),
            self.ns(),
            self.pod.uid().unwrap_or_default()
        );
        self.slots[i].state = State::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: Some(format!(
                "back-off {} restarting failed container={name} {who}",
                human(wait)
            )),
        };
        self.event(
            Some(&name),
            Type::Warning,
            "BackOff",
            &format!(
                "Back-off restarting failed container {name} in pod {}_{}({})",
                self.pod.name_any(),
                self.ns(),
                self.pod.uid().unwrap_or_default()
            ),
        )
        .await;
    }

    async fn write_status(&mut self) {
        let policy = self.restart_policy();
        let (inits, apps) = self.slots.split_at(self.n_init);
        let phase = status::pod_phase(inits, apps, &policy);
        let mut old = if self.written_conditions.is_empty() {
            self.pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .map(|cs| {
                    cs.iter()
                        .filter_map(|c| serde_json::to_value(c).ok())
                        .collect()
                })
                .unwrap_or_default()
        } else {
            self.written_conditions.clone()
        };
        // PodScheduled belongs to the scheduler: take the pod's. The binding
        // writes it just after spec.nodeName, so the first version this
        // worker sees may lack it; a bound pod is scheduled, so say so
        // rather than overwrite the scheduler's condition with nothing.
        let scheduled = self
            .pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"))
            .and_then(|c| serde_json::to_value(c).ok())
            .or_else(|| old.iter().find(|c| c["type"] == "PodScheduled").cloned())
            .unwrap_or_else(|| {
                json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                       "lastTransitionTime": status::stamp(jiff::Timestamp::now())})
            });
        old.retain(|c: &Value| c["type"] != "PodScheduled");
        old.push(scheduled);
        let (inits, apps) = self.slots.split_at(self.n_init);
        let conditions = status::conditions(&old, inits, apps, phase, self.sandbox.is_some());
        let host = self.ctx.cfg.address.to_string();
        let mut st = json!({
            "phase": phase,
            "conditions": conditions,
            "hostIP": host,
            "hostIPs": [{"ip": host}],
            "startTime": self.start_time,
            "containerStatuses": apps.iter().map(status::container_status).collect::<Vec<_>>(),
        });
        if !inits.is_empty() {
            st["initContainerStatuses"] = inits
                .iter()
                .map(status::container_status)
                .collect::<Vec<_>>()
                .into();
        }
        if let Some(ip) = self.pod_ip {
            st["podIP"] = ip.to_string().into();
            st["podIPs"] = json!([{"ip": ip.to_string()}]);
        }
        if self.written.as_ref() == Some(&st) {
            return;
        }
        match self
            .api()
            .patch_status(
                &self.pod.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({"status": st})),
            )
            .await
        {
            Ok(_) => {
                self.written_conditions = conditions;
                self.written = Some(st);
            }
            Err(e) => tracing::warn!(error = %e, "writing pod status"),
        }
    }

    /// Graceful deletion: stop every container within the grace period,
    /// write the final status, remove the sandbox, delete the pod for good.
    async fn terminate(&mut self) {
        let grace = Duration::from_secs(
            self.pod
                .metadata
                .deletion_grace_period_seconds
                .unwrap_or(30)
                .max(0) as u64,
        );
        for r in &mut self.runs {
            // A probe must not restart what is being stopped.
            r.prober = None;
        }
        if let Some(rt) = self.runtime.clone() {
            let mut stops = Vec::new();
            for (i, r) in self.runs.iter().enumerate() {
                if let Some(id) = r.id.clone() {
                    stops.push((i, id));
                }
            }
            for (i, _) in &stops {
                let name = self.slots[*i].name.clone();
                self.event(
                    Some(&name),
                    Type::Normal,
                    "Killing",
                    &format!("Stopping container {name}"),
                )
                .await;
            }
            // As the kubelet: the app (and any running regular init)
            // containers stop first, together; then the sidecars, one at a
            // time in reverse spec order, each within what is left of the
            // pod's grace period.
            let deadline = Instant::now() + grace;
            let (mains, mut sidecars): (Vec<_>, Vec<_>) =
                stops.iter().partition(|(i, _)| !self.slots[*i].sidecar);
            sidecars.reverse();
            let mut groups = vec![mains];
            groups.extend(sidecars.into_iter().map(|s| vec![s]));
            let mut results = Vec::with_capacity(stops.len());
            for group in groups.into_iter().filter(|g| !g.is_empty()) {
                let grace = if results.is_empty() {
                    grace
                } else {
                    remaining(deadline)
                };
                results.extend(
                    futures::future::join_all(group.into_iter().map(|(i, id)| {
                        let rt = rt.clone();
                        let c = self.spec_container(*i).unwrap_or_default();
                        let target = self.probe_target(&c, &rt, id);
                        async move {
                            let (grace, failed) = lifecycle::pre_stop(&c, &target, grace).await;
                            let _ = rt.stop_container(id, grace).await;
                            (
                                (*i, id.clone()),
                                rt.container_status(id).await,
                                failed.map(|e| (c, e)),
                            )
                        }
                    }))
                    .await,
                );
            }
            let stops: Vec<(usize, String)> = results.iter().map(|(s, _, _)| s.clone()).collect();
            let results: Vec<_> = results.into_iter().map(|(_, st, f)| (st, f)).collect();
            let mut statuses = Vec::with_capacity(results.len());
            for (st, failed) in results {
                if let Some((c, e)) = failed
                    && let Some(handler) = lifecycle::Hook::PreStop.of(&c)
                {
                    let message = lifecycle::failure_message(handler, &c.name, &self.pod, &e);
                    self.event(Some(&c.name), Type::Warning, "FailedPreStopHook", &message)
                        .await;
                }
                statuses.push(st);
            }
            for ((i, id), st) in stops.into_iter().zip(statuses) {
                let code = st.as_ref().ok().and_then(|s| s.exit_code).unwrap_or(0);
                let st = st.ok();
                self.slots[i].state = State::Terminated(Terminated {
                    exit_code: code,
                    reason: st.as_ref().and_then(|s| s.reason).map_or_else(
                        || if code == 0 { "Completed" } else { "Error" }.to_owned(),
                        |r| r.as_str().to_owned(),
                    ),
                    message: st.as_ref().and_then(|s| s.message.clone()),
                    started_at: st.as_ref().and_then(|s| s.started_at),
                    finished_at: st.as_ref().and_then(|s| s.finished_at),
                    container_id: format!("{}://{id}", rt.handler()),
                });
                self.runs[i].id = None;
                self.runs[i].done = true;
            }
            // Containers never started will not start now.
            for (s, r) in self.slots.iter_mut().zip(self.runs.iter_mut()) {
                r.done = true;
                if matches!(s.state, State::Waiting { .. }) && s.last_state.is_some() {
                    s.state =
                        State::Terminated(s.last_state.clone().unwrap_or_else(|| Terminated {
                            exit_code: 0,
                            reason: "Completed".into(),
                            message: None,
                            started_at: None,
                            finished_at: None,
                            container_id: String::new(),
                        }));
                }
            }
            // The kubelet writes a terminal phase before the final delete.
            let policy = self.restart_policy();
            let (inits, apps) = self.slots.split_at(self.n_init);
            if status::pod_phase(inits, apps, "Never") != "Pending" {
                let saved = policy;
                self.write_terminal_status(&saved).await;
            }
        }
        self.teardown().await;
        let uid = self.pod.uid();
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid,
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match self.api().delete(&self.pod.name_any(), &dp).await {
            Ok(_) => tracing::info!("pod deleted"),
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
            Err(e) => tracing::warn!(error = %e, "final delete of the pod"),
        }
    }

    async fn write_terminal_status(&mut self, _policy: &str) {
        // Nothing restarts any more: compute the phase as for `Never`.
        let (inits, apps) = self.slots.split_at(self.n_init);
        let phase = status::pod_phase(inits, apps, "Never");
        let conditions = status::conditions(&self.written_conditions, inits, apps, phase, false);
        let mut st = json!({
            "phase": phase,
            "conditions": conditions,
            "containerStatuses": apps.iter().map(status::container_status).collect::<Vec<_>>(),
        });
        if !inits.is_empty() {
            st["initContainerStatuses"] = inits
                .iter()
                .map(status::container_status)
                .collect::<Vec<_>>()
                .into();
        }
        if let Err(e) = self
            .api()
            .patch_status(
                &self.pod.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({"status": st})),
            )
            .await
        {
            tracing::debug!(error = %e, "writing the terminal status");
        }
    }

    /// Removes the sandbox and returns the pod address (a `hostNetwork`
    /// pod's is the node's: it was never the pod's to return).
    async fn teardown(&mut self) {
        self.volumes.teardown().await;
        if let (Some(rt), Some(sb)) = (self.runtime.as_ref(), self.sandbox.take())
            && let Err(e) = rt.remove_pod_sandbox(&sb).await
        {
            tracing::warn!(error = %e, "removing the pod sandbox");
        }
        let host_network = self.pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
        if let Some(ip) = self.pod_ip.take().filter(|_| !host_network) {
            let handler = self.runtime.as_ref().map(|r| r.handler());
            if let Some(net) = &self.ctx.cfg.network
                && handler.is_some()
                && handler == self.ctx.cfg.wasm_handler.as_deref()
            {
                net.remove_address(ip).await;
            }
            self.ctx.ips.release(ip);
        }
    }
}

/// A container stopped apart from the worker (a sidecar after the app
/// containers, a run that failed its probe): its preStop hook, then the
/// stop with what is left of `grace`.
struct Stop {
    /// Where the container is in the spec (`containers`, `initContainers`),
    /// for the `FailedPreStopHook` event's field path.
    list: &'static str,
    /// For the log line when the stop fails.
    why: &'static str,
}

impl Stop {
    #[allow(
        clippy::too_many_arguments,
        reason = "the pieces of one stop, each borrowed from the spawned task"
    )]
    async fn run(
        &self,
        ctx: &Ctx,
        pod: &Pod,
        c: &Container,
        target: &probe::Target,
        rt: &Arc<dyn Runtime>,
        id: &str,
        grace: Duration,
    ) {
        let (grace, failed) = lifecycle::pre_stop(c, target, grace).await;
        if let (Some(e), Some(handler)) = (failed, lifecycle::Hook::PreStop.of(c)) {
            let message = lifecycle::failure_message(handler, &c.name, pod, &e);
            let field = format!("spec.{}{{{}}}", self.list, c.name);
            ctx.events
                .record(
                    pod,
                    Some(&field),
                    Type::Warning,
                    "FailedPreStopHook",
                    &message,
                )
                .await;
        }
        if let Err(e) = rt.stop_container(id, grace).await {
            tracing::warn!(container = %id, error = %e, "{}", self.why);
        }
    }
}

/// The worker's slots and runs: init containers first, then app containers.
/// An init container the pod's status says succeeded (this agent ran it
/// before a restart) is restored as done so it is not run again. A sidecar
/// never is: like an app container it is adopted if it still runs, else
/// started again ([`Worker::resume`]).
fn initial_slots(pod: &Pod, inits: &[Container], apps: &[Container]) -> (Vec<Slot>, Vec<Run>) {
    let reported = pod
        .status
        .as_ref()
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or_default();
    let mut slots = Vec::new();
    let mut runs = Vec::new();
    for c in inits {
        let image = c.image.as_deref().unwrap_or("");
        if is_sidecar(c) {
            slots.push(Slot::new_sidecar(&c.name, image));
            runs.push(Run::default());
            continue;
        }
        let fresh = Slot::new_init(&c.name, image);
        match reported
            .iter()
            .find(|s| s.name == c.name)
            .and_then(|st| status::restore_succeeded(&fresh, st))
        {
            Some(done) => {
                slots.push(done);
                runs.push(Run {
                    done: true,
                    ..Run::default()
                });
            }
            None => {
                slots.push(fresh);
                runs.push(Run::default());
            }
        }
    }
    for c in apps {
        let image = c.image.as_deref().unwrap_or("");
        slots.push(if inits.is_empty() {
            Slot::new(&c.name, image)
        } else {
            // With init containers the kubelet's default waiting state is
            // PodInitializing, for app containers too.
            Slot {
                init: false,
                ..Slot::new_init(&c.name, image)
            }
        });
        runs.push(Run::default());
    }
    (slots, runs)
}

/// The handler of a pod without a RuntimeClass: the Wasm runtime when it
/// already holds every image the pod names (a Wasm artifact, imported or
/// pulled, cannot run as a Linux container), else the default handler.
async fn default_handler(
    cfg: &Config,
    spec: &k8s_openapi::api::core::v1::PodSpec,
) -> Option<String> {
    if let Some(wasm) = cfg.wasm_handler.as_deref().and_then(|h| cfg.runtime(h)) {
        let mut all_wasm = !spec.containers.is_empty();
        for c in spec
            .init_containers
            .iter()
            .flatten()
            .chain(&spec.containers)
        {
            let image = ImageSpec::new(c.image.as_deref().unwrap_or(""));
            if !matches!(wasm.images().image_status(&image).await, Ok(Some(_))) {
                all_wasm = false;
                break;
            }
        }
        if all_wasm {
            return Some(wasm.handler().to_owned());
        }
    }
    cfg.default_handler.clone()
}

/// Kubernetes' default pull policy: `Always` for `:latest` or no tag,
/// `IfNotPresent` otherwise (digests included).
pub fn default_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

/// Go's duration formatting for whole seconds/minutes (`10s`, `5m0s`).
fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// What is left of a grace period ending at `deadline`; as the kubelet,
/// a container stopped late still gets a short grace (2 s) to exit cleanly.
fn remaining(deadline: Instant) -> Duration {
    const MIN_GRACE: Duration = Duration::from_secs(2);
    deadline
        .saturating_duration_since(Instant::now())
        .max(MIN_GRACE)
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// A sidecar: an init container with `restartPolicy: Always` (KEP-753).
fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecars_get_slots_that_restart() {
        use k8s_openapi::api::core::v1::PodSpec;
        let sidecar = PodSpec {
            init_containers: Some(vec![Container {
                restart_policy: Some("Always".into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let inits = sidecar.init_containers.clone().unwrap_or_default();
        let (slots, runs) = initial_slots(&Pod::default(), &inits, &[Container::default()]);
        assert!(slots[0].sidecar && !slots[0].init && !runs[0].done);
        assert!(!slots[1].sidecar);
    }

    #[test]
    fn pull_policy_defaults() {
        assert_eq!(default_pull_policy("busybox"), "Always");
        assert_eq!(
            default_pull_policy("localhost:5000/busybox:latest"),
            "Always"
        );
        assert_eq!(
            default_pull_policy("localhost:5000/busybox:1.36"),
            "IfNotPresent"
        );
        assert_eq!(default_pull_policy("busybox@sha256:abc"), "IfNotPresent");
        assert_eq!(human(Duration::from_secs(300)), "5m0s");
    }
}
