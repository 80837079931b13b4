//! # skiff-scheduler
//!
//! Assigns pods to nodes, as kube-scheduler does, and only through the API:
//! it watches pods and nodes (kube-runtime reflectors), and for each pod
//! with no `spec.nodeName` runs the [`filter`] plugins on every node, scores
//! the survivors (least allocated, [`score`]) and POSTs `pods/binding`.
//! A pod no node can take gets a `FailedScheduling` event and a
//! `PodScheduled=False` condition with Kubernetes' wording
//! (`0/1 nodes are available: 1 Insufficient memory.`) and is retried
//! whenever a pod or node changes.
//!
//! Which RuntimeClass handlers a node serves is read from the node's
//! `status.runtimeHandlers` (the field Kubernetes 1.30+ kubelets fill in);
//! a pod whose RuntimeClass names a handler goes only to nodes listing it.
//!
//! # Examples
//!
//! ```no_run
//! # async fn demo(client: kube::Client) {
//! let scheduler = skiff_scheduler::Scheduler::new(client);
//! scheduler.run(std::future::pending::<()>()).await;
//! # }
//! ```

#![deny(missing_docs)]

pub mod filter;
pub mod resources;
pub mod score;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    Binding, Node, ObjectReference, PersistentVolume, PersistentVolumeClaim, Pod,
};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::json;
use skiff_client::events::{Recorder, Type};
use tokio::sync::{Notify, Semaphore, mpsc};

use crate::filter::{HostPort, PodInfo};
use crate::resources::{Amounts, pod_requests};

/// Set on a `WaitForFirstConsumer` claim when its first pod is bound: the
/// node the provisioner must create the volume for.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";

/// Bindings posted at once. Decisions are made one pod at a time (each
/// counts the ones before it); their writes overlap so that the store
/// commits many in one fsync instead of one each.
const BIND_CONCURRENCY: usize = 32;

/// The scheduler name pods ask for by default.
pub const DEFAULT_SCHEDULER: &str = "default-scheduler";

/// The scheduler: one per cluster (no leader election yet).
#[derive(Clone)]
pub struct Scheduler {
    client: Client,
    name: String,
    events: Recorder,
}

/// Why a scheduling attempt could not finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed.
    #[error("{action}")]
    Api {
        /// What was being done.
        action: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// What a placed pod takes on its node until the watch shows it bound.
struct Assumed {
    node: String,
    requests: Amounts,
    ports: Vec<HostPort>,
}

/// What the pods on one node use: requests and host ports.
#[derive(Default)]
struct Usage {
    amounts: Amounts,
    ports: Vec<HostPort>,
}

/// A pod placed on a node, not yet bound.
struct Placement {
    pod: Arc<Pod>,
    node: String,
    requests: Amounts,
    ports: Vec<HostPort>,
    delayed_claims: Vec<String>,
}

struct State {
    /// Pods placed by this scheduler whose binding the reflector has not
    /// shown yet (in flight or done): their requests count on the node
    /// meanwhile (the scheduler cache's "assume"), and they are not placed
    /// again. A binding that fails is forgotten here and retried.
    assumed: HashMap<String, Assumed>,
    /// The RuntimeClasses, watched: read for every pod that names one.
    runtime_classes: Store<RuntimeClass>,
    /// Bindings in flight at most ([`BIND_CONCURRENCY`]).
    binds: Arc<Semaphore>,
    /// Where finished bindings report (pod uid, whether it failed).
    bound_tx: mpsc::UnboundedSender<(String, bool)>,
    /// The last unschedulable message reported per pod uid, so a retry that
    /// finds the same answer does not write again.
    reported: HashMap<String, String>,
}

impl Scheduler {
    /// A scheduler acting through `client` as `default-scheduler`.
    pub fn new(client: Client) -> Self {
        Scheduler {
            events: Recorder::new(client.clone(), DEFAULT_SCHEDULER, DEFAULT_SCHEDULER)
                .with_action("Scheduling"),
            client,
            name: DEFAULT_SCHEDULER.to_owned(),
        }
    }

    /// Watches and schedules until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let wake = Arc::new(Notify::new());
        let (pods, pods_w) = reflector::store::<Pod>();
        let (nodes, nodes_w) = reflector::store::<Node>();
        let pod_events = reflector::reflector(
            pods_w,
            watcher(
                Api::<Pod>::all(self.client.clone()),
                watcher::Config::default(),
            ),
        )
        .default_backoff()
        .touched_objects();
        let node_events = reflector::reflector(
            nodes_w,
            watcher(
                Api::<Node>::all(self.client.clone()),
                watcher::Config::default(),
            ),
        )
        .default_backoff()
        .touched_objects();
        let (classes, classes_w) = reflector::store::<RuntimeClass>();
        let class_events = reflector::reflector(
            classes_w,
            watcher(
                Api::<RuntimeClass>::all(self.client.clone()),
                watcher::Config::default(),
            ),
        )
        .default_backoff()
        .touched_objects();
        let (w1, w2, w3) = (wake.clone(), wake.clone(), wake.clone());
        let drive_pods = pod_events.for_each(move |_| {
            w1.notify_one();
            async {}
        });
        let drive_nodes = node_events.for_each(move |_| {
            w2.notify_one();
            async {}
        });
        let drive_classes = class_events.for_each(move |_| {
            w3.notify_one();
            async {}
        });
        let (bound_tx, mut bound_rx) = mpsc::unbounded_channel();
        let mut state = State {
            assumed: HashMap::new(),
            reported: HashMap::new(),
            runtime_classes: classes.clone(),
            binds: Arc::new(Semaphore::new(BIND_CONCURRENCY)),
            bound_tx,
        };
        let work = async {
            let _ = pods.wait_until_ready().await;
            let _ = nodes.wait_until_ready().await;
            let _ = classes.wait_until_ready().await;
            loop {
                self.schedule_pending(&pods, &nodes, &mut state).await;
                // Woken by any pod, node or RuntimeClass change, or by a
                // failed binding (forgotten, so placed again); the timeout
                // only guards against a missed wake-up.
                tokio::select! {
                    _ = wake.notified() => {}
                    Some((uid, failed)) = bound_rx.recv() => {
                        if failed {
                            state.assumed.remove(&uid);
                        }
                    }
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        };
        tokio::select! {
            _ = shutdown => {}
            _ = drive_pods => {}
            _ = drive_nodes => {}
            _ = drive_classes => {}
            _ = work => {}
        }
    }

    fn is_pending(&self, p: &Pod) -> bool {
        let spec = p.spec.as_ref();
        spec.and_then(|s| s.node_name.as_deref())
            .unwrap_or("")
            .is_empty()
            && spec
                .and_then(|s| s.scheduler_name.as_deref())
                .unwrap_or(DEFAULT_SCHEDULER)
                == self.name
            && p.metadata.deletion_timestamp.is_none()
            && !matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            )
    }

    async fn schedule_pending(&self, pods: &Store<Pod>, nodes: &Store<Node>, st: &mut State) {
        let all = pods.state();
        // Forget assumptions the watch has caught up with (the pod shows
        // its node) or that went with their pod.
        let unbound: HashSet<String> = all
            .iter()
            .filter(|p| {
                p.spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_deref())
                    .unwrap_or("")
                    .is_empty()
            })
            .filter_map(|p| p.uid())
            .collect();
        st.assumed.retain(|uid, _| unbound.contains(uid));
        let live: HashSet<String> = all.iter().filter_map(|p| p.uid()).collect();
        st.reported.retain(|uid, _| live.contains(uid));
        let mut pending: Vec<Arc<Pod>> = all
            .iter()
            .filter(|p| self.is_pending(p))
            .filter(|p| p.uid().is_some_and(|u| !st.assumed.contains_key(&u)))
            .cloned()
            .collect();
        pending.sort_by(|a, b| {
            a.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0)
                .cmp(&b.metadata.creation_timestamp.as_ref().map(|t| t.0))
        });
        if pending.is_empty() {
            return;
        }
        let mut nodes: Vec<Arc<Node>> = nodes.state();
        nodes.sort_by_key(|n| n.name_any());
        // Each decision counts the pods placed before it.
        let mut used = used_per_node(&all, &st.assumed);
        let mut placed = Vec::new();
        for pod in pending {
            match self.place(&pod, &nodes, &used, st).await {
                Ok(Some(p)) => {
                    let u = used.entry(p.node.clone()).or_default();
                    u.amounts.add(&p.requests);
                    u.ports.extend(p.ports.iter().cloned());
                    placed.push(p);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(pod = %pod.name_any(), error = %e, "scheduling attempt failed");
                }
            }
        }
        // Bindings run apart: the next pass places pods created meanwhile
        // without waiting for these writes.
        for p in placed {
            let uid = p.pod.uid().unwrap_or_default();
            st.reported.remove(&uid);
            st.assumed.insert(
                uid.clone(),
                Assumed {
                    node: p.node.clone(),
                    requests: p.requests,
                    ports: p.ports.clone(),
                },
            );
            let (me, binds, done) = (self.clone(), st.binds.clone(), st.bound_tx.clone());
            tokio::spawn(async move {
                let _permit = binds.acquire_owned().await;
                let failed = match me.bind(&p).await {
                    Ok(()) => false,
                    // Still pending: forgotten, so the next pass tries again.
                    Err(e) => {
                        tracing::warn!(pod = %p.pod.name_any(), error = %e, "scheduling attempt failed");
                        true
                    }
                };
                let _ = done.send((uid, failed));
            });
        }
    }

    async fn pod_info(&self, pod: &Pod, classes: &Store<RuntimeClass>) -> Result<PodInfo, String> {
        let mut info = PodInfo {
            requests: pod_requests(pod),
            ..PodInfo::default()
        };
        self.volume_info(pod, &mut info).await?;
        let Some(rc) = pod
            .spec
            .as_ref()
            .and_then(|s| s.runtime_class_name.as_deref())
            .filter(|s| !s.is_empty())
        else {
            return Ok(info);
        };
        let Some(class) = classes.get(&ObjectRef::new(rc)) else {
            return Err(format!("RuntimeClass \"{rc}\" not found"));
        };
        info.handler = Some(class.handler.clone());
        if let Some(s) = class.scheduling.clone() {
            info.extra_selector = s.node_selector.unwrap_or_default();
            info.extra_tolerations = s.tolerations.unwrap_or_default();
        }
        if let Some(o) = class.overhead.clone().and_then(|o| o.pod_fixed) {
            // The RuntimeClass admission plugin copies this into the pod;
            // count it here in case admission did not.
            if pod
                .spec
                .as_ref()
                .and_then(|s| s.overhead.as_ref())
                .is_none()
            {
                let extra = Pod {
                    spec: Some(k8s_openapi::api::core::v1::PodSpec {
                        overhead: Some(o),
                        ..Default::default()
                    }),
                    ..Pod::default()
                };
                let mut add = pod_requests(&extra);
                add.pods = 0;
                info.requests.add(&add);
            }
        }
        Ok(info)
    }

    /// The VolumeBinding plugin's view of the pod's claims: the node
    /// affinity of bound volumes, and which claims wait for a node.
    async fn volume_info(&self, pod: &Pod, info: &mut PodInfo) -> Result<(), String> {
        let ns = pod.namespace().unwrap_or_else(|| "default".into());
        let claims = pod
            .spec
            .iter()
            .flat_map(|s| s.volumes.iter().flatten())
            .filter_map(|v| v.persistent_volume_claim.as_ref())
            .map(|c| c.claim_name.clone());
        let pvcs = Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), &ns);
        for name in claims {
            let pvc = match pvcs.get_opt(&name).await {
                Ok(Some(p)) => p,
                Ok(None) => return Err(format!("persistentvolumeclaim \"{name}\" not found")),
                Err(e) => return Err(format!("reading persistentvolumeclaim \"{name}\": {e}")),
            };
            if pvc.metadata.deletion_timestamp.is_some() {
                return Err(format!("persistentvolumeclaim \"{name}\" is being deleted"));
            }
            let spec = pvc.spec.clone().unwrap_or_default();
            if let Some(pv) = spec.volume_name.as_deref().filter(|v| !v.is_empty()) {
                let api = Api::<PersistentVolume>::all(self.client.clone());
                match api.get_opt(pv).await {
                    Ok(Some(pv)) => info.volume_affinity.extend(
                        pv.spec
                            .and_then(|s| s.node_affinity)
                            .and_then(|a| a.required),
                    ),
                    Ok(None) => return Err(format!("persistentvolume \"{pv}\" not found")),
                    Err(e) => return Err(format!("reading persistentvolume \"{pv}\": {e}")),
                }
                continue;
            }
            let class = spec.storage_class_name.unwrap_or_default();
            let delayed = !class.is_empty()
                && Api::<StorageClass>::all(self.client.clone())
                    .get_opt(&class)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|c| c.volume_binding_mode)
                    .as_deref()
                    == Some("WaitForFirstConsumer");
            if !delayed {
                return Err("pod has unbound immediate PersistentVolumeClaims".into());
            }
            info.delayed_claims.push(name);
        }
        Ok(())
    }

    /// The VolumeBinding plugin's PreBind: tells the provisioner of each
    /// delayed claim the node its first pod goes to.
    async fn select_node_for_claims(
        &self,
        ns: &str,
        claims: &[String],
        node: &str,
    ) -> Result<(), Error> {
        let pvcs = Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), ns);
        for name in claims {
            let patch = json!({"metadata": {"annotations": {SELECTED_NODE: node}}});
            pvcs.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|source| Error::Api {
                    action: format!("selecting node {node} for claim {ns}/{name}"),
                    source,
                })?;
        }
        Ok(())
    }

    /// Picks the node for `pod`: `None` when no node can take it (then
    /// reported as unschedulable).
    async fn place(
        &self,
        pod: &Arc<Pod>,
        nodes: &[Arc<Node>],
        used: &BTreeMap<String, Usage>,
        st: &mut State,
    ) -> Result<Option<Placement>, Error> {
        let info = match self.pod_info(pod, &st.runtime_classes).await {
            Ok(i) => i,
            Err(message) => return self.unschedulable(pod, message, st).await.map(|()| None),
        };
        let zero = Usage::default();
        let ports = filter::host_ports(pod);
        let mut reasons = Vec::new();
        let mut feasible = Vec::new();
        for n in nodes {
            let u = used.get(&n.name_any()).unwrap_or(&zero);
            let mut r = filter::filter(pod, &info, n, &u.amounts);
            if filter::ports_conflict(&ports, &u.ports) {
                r.push(filter::HOST_PORTS.to_owned());
            }
            if r.is_empty() {
                feasible.push((
                    score::least_allocated(n, &u.amounts, &info.requests),
                    n.clone(),
                ));
            } else {
                reasons.push(r);
            }
        }
        // Highest score; ties go to the first node by name (stable order).
        let best = feasible
            .iter()
            .fold(None::<&(i64, Arc<Node>)>, |best, c| match best {
                Some(b) if b.0 >= c.0 => Some(b),
                _ => Some(c),
            });
        let Some((_, node)) = best else {
            let message = filter::fit_error(nodes.len(), &reasons);
            return self.unschedulable(pod, message, st).await.map(|()| None);
        };
        Ok(Some(Placement {
            pod: pod.clone(),
            node: node.name_any(),
            requests: info.requests,
            ports,
            delayed_claims: info.delayed_claims,
        }))
    }

    /// Binds a placed pod (after pointing its delayed claims at the node)
    /// and posts `Scheduled` without waiting for it.
    async fn bind(&self, p: &Placement) -> Result<(), Error> {
        let (pod, node_name) = (&p.pod, &p.node);
        let ns = pod.namespace().unwrap_or_else(|| "default".into());
        let binding = Binding {
            metadata: kube::api::ObjectMeta {
                name: Some(pod.name_any()),
                namespace: Some(ns.clone()),
                uid: pod.uid(),
                ..Default::default()
            },
            target: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Node".into()),
                name: Some(node_name.clone()),
                ..Default::default()
            },
        };
        self.select_node_for_claims(&ns, &p.delayed_claims, node_name)
            .await?;
        let api = Api::<Pod>::namespaced(self.client.clone(), &ns);
        // Stamped before the binding, so the Scheduled event sorts before
        // the node agent's events about the pod it is about to see.
        let bound_at = jiff::Timestamp::now();
        api.create_subresource::<_, serde_json::Value>(
            "binding",
            &pod.name_any(),
            &PostParams::default(),
            &binding,
        )
        .await
        .map_err(|source| Error::Api {
            action: format!("binding pod {ns}/{} to {node_name}", pod.name_any()),
            source,
        })?;
        tracing::info!(pod = %format!("{ns}/{}", pod.name_any()), node = %node_name, "bound");
        // The event is not on the pod's path to running: the next binding
        // need not wait for it.
        let (events, pod) = (self.events.clone(), pod.clone());
        let message = format!(
            "Successfully assigned {ns}/{} to {node_name}",
            pod.name_any()
        );
        tokio::spawn(async move {
            events
                .record_at(&*pod, None, Type::Normal, "Scheduled", &message, bound_at)
                .await;
        });
        Ok(())
    }

    /// Records a failed attempt once per distinct message: the event and
    /// the `PodScheduled=False` condition.
    async fn unschedulable(&self, pod: &Pod, message: String, st: &mut State) -> Result<(), Error> {
        let uid = pod.uid().unwrap_or_default();
        if st.reported.get(&uid) == Some(&message) {
            return Ok(());
        }
        tracing::info!(pod = %pod.name_any(), %message, "unschedulable");
        self.events
            .record(pod, None, Type::Warning, "FailedScheduling", &message)
            .await;
        let mut conditions: Vec<serde_json::Value> = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.type_ != "PodScheduled")
            .filter_map(|c| serde_json::to_value(c).ok())
            .collect();
        conditions.push(json!({
            "type": "PodScheduled",
            "status": "False",
            "lastProbeTime": null,
            "lastTransitionTime": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "reason": "Unschedulable",
            "message": message,
        }));
        let ns = pod.namespace().unwrap_or_else(|| "default".into());
        Api::<Pod>::namespaced(self.client.clone(), &ns)
            .patch_status(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"conditions": conditions}})),
            )
            .await
            .map_err(|source| Error::Api {
                action: format!("writing PodScheduled=False on {ns}/{}", pod.name_any()),
                source,
            })?;
        st.reported.insert(uid, message);
        Ok(())
    }
}

/// What the pods on each node request and which host ports they hold:
/// bound pods that have not finished, plus pods this scheduler placed a
/// moment ago.
fn used_per_node(pods: &[Arc<Pod>], assumed: &HashMap<String, Assumed>) -> BTreeMap<String, Usage> {
    let mut used: BTreeMap<String, Usage> = BTreeMap::new();
    for p in pods {
        let node = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        let done = matches!(
            p.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        );
        if node.is_empty() || done {
            continue;
        }
        let u = used.entry(node).or_default();
        u.amounts.add(&pod_requests(p));
        u.ports.extend(filter::host_ports(p));
    }
    for a in assumed.values() {
        let u = used.entry(a.node.clone()).or_default();
        u.amounts.add(&a.requests);
        u.ports.extend(a.ports.iter().cloned());
    }
    used
}
