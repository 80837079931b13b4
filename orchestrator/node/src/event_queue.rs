//! The node agent's pod events, posted in the background as the kubelet's
//! event broadcaster does: a worker stamps an event when it happens and
//! goes on starting the pod, instead of waiting for the API server to
//! store the event (a durable write each) before it creates the container
//! or writes the pod's status. Events of one pod stay in order (one lane
//! per pod); events of different pods are posted side by side.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use skiff_client::events::{Recorder, Type};
use tokio::sync::mpsc;

/// Lanes posting at once.
const LANES: usize = 4;

/// One event waiting to be posted.
struct Queued {
    pod: Arc<Pod>,
    field_path: Option<String>,
    type_: Type,
    reason: String,
    message: String,
    at: jiff::Timestamp,
}

/// Queues of events, each drained by a task that posts them in order.
pub struct EventQueue {
    lanes: Vec<mpsc::UnboundedSender<Queued>>,
}

impl EventQueue {
    /// Starts the posting tasks (on the current Tokio runtime); they end
    /// once the queue is dropped and what it holds is posted.
    pub fn start(recorder: &Recorder) -> Self {
        let lanes = (0..LANES)
            .map(|_| {
                let (tx, mut rx) = mpsc::unbounded_channel::<Queued>();
                let recorder = recorder.clone();
                tokio::spawn(async move {
                    while let Some(e) = rx.recv().await {
                        recorder
                            .record_at(
                                &*e.pod,
                                e.field_path.as_deref(),
                                e.type_,
                                &e.reason,
                                &e.message,
                                e.at,
                            )
                            .await;
                    }
                });
                tx
            })
            .collect();
        EventQueue { lanes }
    }

    /// Queues an event about `pod`, stamped now; `field_path` points into
    /// it (`spec.containers{web}`).
    pub fn post(
        &self,
        pod: &Arc<Pod>,
        field_path: Option<&str>,
        type_: Type,
        reason: &str,
        message: &str,
    ) {
        let mut h = DefaultHasher::new();
        pod.uid().hash(&mut h);
        let lane = usize::try_from(h.finish() % LANES as u64).unwrap_or(0);
        let Some(tx) = self.lanes.get(lane) else {
            return;
        };
        let queued = Queued {
            pod: pod.clone(),
            field_path: field_path.map(str::to_owned),
            type_,
            reason: reason.to_owned(),
            message: message.to_owned(),
            at: jiff::Timestamp::now(),
        };
        if tx.send(queued).is_err() {
            tracing::debug!(%reason, "event queue closed: event dropped");
        }
    }
}
