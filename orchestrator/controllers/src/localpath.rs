//! The local-path provisioner and the simple PersistentVolume binder, as
//! k3s ships them (`rancher/local-path-provisioner` plus the part of
//! Kubernetes' `persistentvolume-binder-controller` a single-node cluster
//! needs).
//!
//! - At start the StorageClass [`CLASS`] (provisioner [`PROVISIONER`],
//!   `volumeBindingMode: WaitForFirstConsumer`, `reclaimPolicy: Delete`)
//!   is created if missing and marked the default class.
//! - A claim without `storageClassName` gets the default class. Kubernetes
//!   does this in the `DefaultStorageClass` admission plugin and, for
//!   claims created before a default existed, in the PV controller
//!   (retroactive default assignment, GA in 1.28). Skiff's API server has
//!   no admission plugin that reads other objects, so the controller does
//!   it — the retroactive path, which Kubernetes allows as an update.
//! - A claim of a class of ours is provisioned once the scheduler picked a
//!   node for its first pod (annotation [`SELECTED_NODE`]): a
//!   `hostPath` PersistentVolume `pvc-<uid>` at
//!   `<data dir>/storage/pvc-<uid>_<ns>_<name>`, with node affinity to
//!   that node, a `claimRef` to the claim, and the class's reclaim policy.
//!   The path written into the PV is the one under the default data dir
//!   (`/var/lib/skiff`); the node agent owns the directory and places it
//!   under its own data dir by the last path component (see
//!   `skiff_node::volumes`), so the PV stays right whatever `--data-dir`
//!   the agent runs with.
//! - Claims of other classes (or of `""`) bind statically to an available
//!   PV of the same class with enough capacity and the access modes, the
//!   smallest first.
//! - When a bound claim is gone, its PV is `Released`; with reclaim policy
//!   `Delete` the PV is deleted. The node agent removes nothing yet (see
//!   docs/workloads.md, "Storage: local-path").

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    HostPathVolumeSource, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, ObjectReference,
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeSpec, VolumeNodeAffinity,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;
use skiff_api::quantity::Quantity;
use skiff_client::events::{Recorder, Type};

use crate::{Ctx, Shutdown};

/// The default StorageClass this controller creates.
pub const CLASS: &str = "local-path";
/// The provisioner name of [`CLASS`]. Skiff's own name rather than
/// `rancher.io/local-path`: manifests name the class, not the provisioner,
/// and a cluster that also runs rancher's provisioner must not have two
/// controllers acting on one claim.
pub const PROVISIONER: &str = "skiff.dev/local-path";
/// Set by the scheduler on a `WaitForFirstConsumer` claim: the node of its
/// first pod.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// Which provisioner made a PV.
pub const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
/// Marks the default StorageClass.
pub const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
/// Where local-path volumes live under a node's data dir.
pub const STORAGE_DIR: &str = "storage";
/// The data dir a PV's path is written for (the agent's default as root).
const DEFAULT_DATA_DIR: &str = "/var/lib/skiff";

/// What can fail while provisioning or binding.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed.
    #[error("{action} {name}")]
    Api {
        /// What was being done.
        action: &'static str,
        /// The claim or volume.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

struct State {
    client: Client,
    recorder: Recorder,
}

fn api_err<'a>(action: &'static str, name: &'a str) -> impl FnOnce(kube::Error) -> Error + 'a {
    move |source| Error::Api {
        action,
        name: name.to_owned(),
        source,
    }
}

/// The directory name of the volume for a claim, as k3s names it.
pub fn volume_dir_name(pvc: &PersistentVolumeClaim) -> String {
    format!(
        "pvc-{}_{}_{}",
        pvc.uid().unwrap_or_default(),
        pvc.namespace().unwrap_or_default(),
        pvc.name_any()
    )
}

/// The StorageClass [`CLASS`], as it is created when missing.
pub fn default_class() -> StorageClass {
    StorageClass {
        metadata: ObjectMeta {
            name: Some(CLASS.into()),
            annotations: Some(BTreeMap::from([(DEFAULT_CLASS.into(), "true".into())])),
            ..ObjectMeta::default()
        },
        provisioner: PROVISIONER.into(),
        reclaim_policy: Some("Delete".into()),
        volume_binding_mode: Some("WaitForFirstConsumer".into()),
        ..StorageClass::default()
    }
}

/// Runs the controller until `shutdown` completes.
pub async fn run(ctx: Arc<Ctx>, shutdown: Shutdown) {
    let client = ctx.client.clone();
    ensure_class(&client).await;
    let st = Arc::new(State {
        client: client.clone(),
        recorder: Recorder::new(
            client.clone(),
            "persistentvolume-controller",
            "skiff-controller-manager",
        ),
    });
    let claims = Controller::new(
        Api::<PersistentVolumeClaim>::all(client.clone()),
        watcher::Config::default(),
    )
    // A PV becoming available may let a waiting claim bind.
    .watches(
        Api::<PersistentVolume>::all(client.clone()),
        watcher::Config::default(),
        |pv: PersistentVolume| {
            pv.spec
                .and_then(|s| s.claim_ref)
                .and_then(|r| Some(ObjectRef::new(&r.name?).within(&r.namespace?)))
        },
    )
    .graceful_shutdown_on(shutdown.clone())
    .run(reconcile_claim, error_policy, st.clone())
    .for_each(|res| async move {
        if let Err(e) = res {
            tracing::debug!(error = %e, "claim reconcile");
        }
    });
    let volumes = Controller::new(
        Api::<PersistentVolume>::all(client.clone()),
        watcher::Config::default(),
    )
    // A claim going away releases its volume.
    .watches(
        Api::<PersistentVolumeClaim>::all(client.clone()),
        watcher::Config::default(),
        |pvc: PersistentVolumeClaim| {
            pvc.spec
                .and_then(|s| s.volume_name)
                .filter(|n| !n.is_empty())
                .map(|n| ObjectRef::new(&n))
        },
    )
    .graceful_shutdown_on(shutdown)
    .run(reconcile_volume, error_policy, st)
    .for_each(|res| async move {
        if let Err(e) = res {
            tracing::debug!(error = %e, "volume reconcile");
        }
    });
    futures::future::join(claims, volumes).await;
}

/// Creates [`CLASS`] unless it exists; retried briefly, since the
/// controller manager may start while the API server is still coming up.
async fn ensure_class(client: &Client) {
    let api: Api<StorageClass> = Api::all(client.clone());
    for _ in 0..50 {
        match api.create(&PostParams::default(), &default_class()).await {
            Ok(_) => return,
            Err(kube::Error::Api(s)) if s.code == 409 => return,
            Err(e) => {
                tracing::debug!(error = %e, "creating the local-path StorageClass");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

fn error_policy<K>(_obj: Arc<K>, err: &Error, _st: Arc<State>) -> Action {
    tracing::info!(error = %err, "storage sync failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

fn requested(pvc: &PersistentVolumeClaim) -> i128 {
    pvc.spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .and_then(|q| Quantity::try_from(q).ok())
        .map_or(0, |q| q.as_units())
}

fn capacity(pv: &PersistentVolume) -> i128 {
    pv.spec
        .as_ref()
        .and_then(|s| s.capacity.as_ref())
        .and_then(|c| c.get("storage"))
        .and_then(|q| Quantity::try_from(q).ok())
        .map_or(0, |q| q.as_units())
}

/// The default StorageClass: of several, the newest (then by name), as
/// Kubernetes' `GetDefaultClass` picks.
fn pick_default(classes: &[StorageClass]) -> Option<&StorageClass> {
    classes
        .iter()
        .filter(|c| c.annotations().get(DEFAULT_CLASS).map(String::as_str) == Some("true"))
        .max_by(|a, b| {
            let t = |c: &StorageClass| c.metadata.creation_timestamp.as_ref().map(|t| t.0);
            t(a).cmp(&t(b))
                .then_with(|| b.name_any().cmp(&a.name_any()))
        })
}

#[tracing::instrument(skip_all, fields(claim = %format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())))]
async fn reconcile_claim(obj: Arc<PersistentVolumeClaim>, st: Arc<State>) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(st.client.clone(), &ns);
    let volumes: Api<PersistentVolume> = Api::all(st.client.clone());
    if obj.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let spec = obj.spec.clone().unwrap_or_default();
    let Some(class_name) = spec.storage_class_name.clone() else {
        let classes = Api::<StorageClass>::all(st.client.clone())
            .list(&Default::default())
            .await
            .map_err(api_err("listing StorageClasses for", &name))?;
        if let Some(c) = pick_default(&classes.items) {
            let patch = json!({"spec": {"storageClassName": c.name_any()}});
            claims
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(api_err("assigning the default class to", &name))?;
        }
        return Ok(Action::await_change());
    };
    if let Some(vol) = spec.volume_name.clone().filter(|v| !v.is_empty()) {
        return finish_binding(&st, &obj, &vol).await;
    }
    let class = if class_name.is_empty() {
        None
    } else {
        Api::<StorageClass>::all(st.client.clone())
            .get_opt(&class_name)
            .await
            .map_err(api_err("reading the class of", &name))?
    };
    // Static binding first, as the PV controller does before provisioning.
    let all = volumes
        .list(&Default::default())
        .await
        .map_err(api_err("listing volumes for", &name))?;
    if let Some(pv) = find_match(&obj, &all.items) {
        let pv_name = pv.name_any();
        let patch = json!({"spec": {"claimRef": claim_ref(&obj)}});
        volumes
            .patch(&pv_name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(api_err("binding volume to", &name))?;
        return finish_binding(&st, &obj, &pv_name).await;
    }
    let Some(class) = class.filter(|c| c.provisioner == PROVISIONER) else {
        return Ok(Action::await_change());
    };
    let Some(node) = obj.annotations().get(SELECTED_NODE).cloned() else {
        // WaitForFirstConsumer: nothing to do until a pod is scheduled.
        return Ok(Action::await_change());
    };
    let pv = provisioned_volume(&obj, &class, &node);
    let pv_name = pv.name_any();
    match volumes.create(&PostParams::default(), &pv).await {
        Ok(_) => {
            st.recorder
                .record(
                    obj.as_ref(),
                    None,
                    Type::Normal,
                    "ProvisioningSucceeded",
                    &format!("Successfully provisioned volume {pv_name}"),
                )
                .await;
        }
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => {
            st.recorder
                .record(
                    obj.as_ref(),
                    None,
                    Type::Warning,
                    "ProvisioningFailed",
                    &format!("failed to provision volume with StorageClass \"{class_name}\": {e}"),
                )
                .await;
            return Err(Error::Api {
                action: "provisioning a volume for",
                name,
                source: e,
            });
        }
    }
    finish_binding(&st, &obj, &pv_name).await
}

/// The reference a PV keeps to its claim.
fn claim_ref(pvc: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("PersistentVolumeClaim".into()),
        namespace: pvc.namespace(),
        name: Some(pvc.name_any()),
        uid: pvc.uid(),
        resource_version: pvc.resource_version(),
        ..ObjectReference::default()
    }
}

/// An available PV `pvc` may bind to: same class, enough capacity, every
/// access mode requested, same volume mode; pre-bound ones (a `claimRef`
/// naming this claim) win, then the smallest.
pub fn find_match<'a>(
    pvc: &PersistentVolumeClaim,
    volumes: &'a [PersistentVolume],
) -> Option<&'a PersistentVolume> {
    let spec = pvc.spec.as_ref()?;
    let class = spec.storage_class_name.clone().unwrap_or_default();
    let modes = spec.access_modes.clone().unwrap_or_default();
    let mode = spec
        .volume_mode
        .clone()
        .unwrap_or_else(|| "Filesystem".into());
    let want = requested(pvc);
    volumes
        .iter()
        .filter(|pv| pv.metadata.deletion_timestamp.is_none())
        .filter_map(|pv| {
            let s = pv.spec.as_ref()?;
            let prebound = match &s.claim_ref {
                None => false,
                Some(r) => {
                    let this = r.name.as_deref() == pvc.metadata.name.as_deref()
                        && r.namespace.as_deref() == pvc.metadata.namespace.as_deref();
                    let uid_ok = r
                        .uid
                        .as_deref()
                        .is_none_or(|u| Some(u) == pvc.uid().as_deref());
                    if !(this && uid_ok) {
                        return None;
                    }
                    true
                }
            };
            let phase = pv.status.as_ref().and_then(|s| s.phase.as_deref());
            if !prebound && phase.is_some_and(|p| p != "Available" && p != "Pending") {
                return None;
            }
            let ok = s.storage_class_name.clone().unwrap_or_default() == class
                && s.volume_mode.clone().unwrap_or_else(|| "Filesystem".into()) == mode
                && capacity(pv) >= want
                && modes
                    .iter()
                    .all(|m| s.access_modes.iter().flatten().any(|x| x == m));
            ok.then_some((!prebound, capacity(pv), pv))
        })
        .min_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)))
        .map(|(_, _, pv)| pv)
}

/// The PV the provisioner creates for `pvc` on `node`.
pub fn provisioned_volume(
    pvc: &PersistentVolumeClaim,
    class: &StorageClass,
    node: &str,
) -> PersistentVolume {
    let spec = pvc.spec.clone().unwrap_or_default();
    let size = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage").cloned())
        .unwrap_or_else(|| K8sQuantity("0".into()));
    let path = format!("{DEFAULT_DATA_DIR}/{STORAGE_DIR}/{}", volume_dir_name(pvc));
    PersistentVolume {
        metadata: ObjectMeta {
            name: Some(format!("pvc-{}", pvc.uid().unwrap_or_default())),
            annotations: Some(BTreeMap::from([(
                PROVISIONED_BY.into(),
                PROVISIONER.into(),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeSpec {
            access_modes: spec.access_modes.clone(),
            capacity: Some(BTreeMap::from([("storage".into(), size)])),
            claim_ref: Some(claim_ref(pvc)),
            host_path: Some(HostPathVolumeSource {
                path,
                type_: Some("DirectoryOrCreate".into()),
            }),
            node_affinity: Some(VolumeNodeAffinity {
                required: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: "kubernetes.io/hostname".into(),
                            operator: "In".into(),
                            values: Some(vec![node.to_owned()]),
                        }]),
                        match_fields: None,
                    }],
                }),
            }),
            persistent_volume_reclaim_policy: Some(
                class
                    .reclaim_policy
                    .clone()
                    .unwrap_or_else(|| "Delete".into()),
            ),
            storage_class_name: Some(class.name_any()),
            volume_mode: spec.volume_mode.clone(),
            ..PersistentVolumeSpec::default()
        }),
        status: None,
    }
}

/// Points the claim at `pv_name` and marks both `Bound` (each step only
/// if not done yet, so a reconcile after a partial failure finishes it).
async fn finish_binding(
    st: &State,
    pvc: &PersistentVolumeClaim,
    pv_name: &str,
) -> Result<Action, Error> {
    let ns = pvc.namespace().unwrap_or_default();
    let name = pvc.name_any();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(st.client.clone(), &ns);
    let volumes: Api<PersistentVolume> = Api::all(st.client.clone());
    let Some(pv) = volumes
        .get_opt(pv_name)
        .await
        .map_err(api_err("reading the volume of", &name))?
    else {
        // Kubernetes marks such a claim Lost.
        patch_claim_status(&claims, &name, json!({"phase": "Lost"})).await?;
        return Ok(Action::await_change());
    };
    let r = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
    let ours = r.is_some_and(|r| {
        r.name.as_deref() == Some(name.as_str())
            && r.namespace.as_deref() == Some(ns.as_str())
            && r.uid
                .as_deref()
                .is_none_or(|u| Some(u) == pvc.uid().as_deref())
    });
    if !ours {
        return Ok(Action::await_change());
    }
    if r.is_some_and(|r| r.uid.is_none()) {
        let patch = json!({"spec": {"claimRef": claim_ref(pvc)}});
        volumes
            .patch(pv_name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(api_err("completing the claim reference of", &name))?;
    }
    if pv.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound") {
        volumes
            .patch_status(
                pv_name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": {"phase": "Bound"}})),
            )
            .await
            .map_err(api_err("marking bound the volume of", &name))?;
    }
    if pvc.spec.as_ref().and_then(|s| s.volume_name.as_deref()) != Some(pv_name) {
        let patch = json!({
            "metadata": {"annotations": {
                "pv.kubernetes.io/bind-completed": "yes",
                "pv.kubernetes.io/bound-by-controller": "yes",
            }},
            "spec": {"volumeName": pv_name},
        });
        claims
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(api_err("binding", &name))?;
    }
    if pvc.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound") {
        let s = pv.spec.clone().unwrap_or_default();
        patch_claim_status(
            &claims,
            &name,
            json!({"phase": "Bound", "capacity": s.capacity, "accessModes": s.access_modes}),
        )
        .await?;
    }
    Ok(Action::await_change())
}

async fn patch_claim_status(
    claims: &Api<PersistentVolumeClaim>,
    name: &str,
    status: serde_json::Value,
) -> Result<(), Error> {
    claims
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({ "status": status })),
        )
        .await
        .map_err(api_err("updating the status of", name))?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(volume = %obj.name_any()))]
async fn reconcile_volume(obj: Arc<PersistentVolume>, st: Arc<State>) -> Result<Action, Error> {
    let name = obj.name_any();
    let volumes: Api<PersistentVolume> = Api::all(st.client.clone());
    if obj.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let phase = obj.status.as_ref().and_then(|s| s.phase.as_deref());
    // A new volume is `Pending` (the API server's create path) until the
    // controller has seen it, as in Kubernetes.
    let fresh = phase.is_none_or(|p| p == "Pending");
    let Some(r) = obj.spec.as_ref().and_then(|s| s.claim_ref.clone()) else {
        if fresh {
            set_volume_phase(&volumes, &name, "Available").await?;
        }
        return Ok(Action::await_change());
    };
    let Some(uid) = r.uid.clone() else {
        // Pre-bound by name only: the claim side completes it.
        if fresh {
            set_volume_phase(&volumes, &name, "Available").await?;
        }
        return Ok(Action::await_change());
    };
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(
        st.client.clone(),
        r.namespace.as_deref().unwrap_or_default(),
    );
    let claim = claims
        .get_opt(r.name.as_deref().unwrap_or_default())
        .await
        .map_err(api_err("reading the claim of", &name))?;
    if claim.is_some_and(|c| c.uid().as_deref() == Some(uid.as_str())) {
        return Ok(Action::await_change());
    }
    // The claim is gone (or replaced by a namesake): the volume is released.
    let policy = obj
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
        .unwrap_or("Retain");
    if policy == "Delete" {
        match volumes.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                return Err(Error::Api {
                    action: "deleting released volume",
                    name,
                    source: e,
                });
            }
        }
    } else if phase != Some("Released") {
        set_volume_phase(&volumes, &name, "Released").await?;
    }
    Ok(Action::await_change())
}

async fn set_volume_phase(
    volumes: &Api<PersistentVolume>,
    name: &str,
    phase: &str,
) -> Result<(), Error> {
    volumes
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"phase": phase}})),
        )
        .await
        .map_err(api_err("updating the phase of", name))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pvc(class: &str, size: &str, modes: &[&str]) -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "metadata": {"name": "data", "namespace": "ns", "uid": "u1"},
            "spec": {"storageClassName": class, "accessModes": modes,
                "resources": {"requests": {"storage": size}}},
        }))
        .expect("pvc")
    }

    fn pv(name: &str, class: &str, size: &str, modes: &[&str]) -> PersistentVolume {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"storageClassName": class, "accessModes": modes,
                "capacity": {"storage": size}, "hostPath": {"path": "/tmp"}},
            "status": {"phase": "Available"},
        }))
        .expect("pv")
    }

    #[test]
    fn static_binding_picks_the_smallest_fit() {
        let vols = vec![
            pv("big", "", "10Gi", &["ReadWriteOnce"]),
            pv("small", "", "1Gi", &["ReadWriteOnce"]),
            pv("tiny", "", "100Mi", &["ReadWriteOnce"]),
            pv("other-class", "fast", "1Gi", &["ReadWriteOnce"]),
            pv("rox", "", "1Gi", &["ReadOnlyMany"]),
        ];
        let c = pvc("", "500Mi", &["ReadWriteOnce"]);
        assert_eq!(
            find_match(&c, &vols).map(|p| p.name_any()).as_deref(),
            Some("small")
        );
        let c = pvc("fast", "500Mi", &["ReadWriteOnce"]);
        assert_eq!(
            find_match(&c, &vols).map(|p| p.name_any()).as_deref(),
            Some("other-class")
        );
        let c = pvc("", "50Gi", &["ReadWriteOnce"]);
        assert!(find_match(&c, &vols).is_none());
    }

    #[test]
    fn provisioned_volumes_follow_k3s() {
        let c = pvc(CLASS, "1Gi", &["ReadWriteOnce"]);
        let pv = provisioned_volume(&c, &default_class(), "node-a");
        assert_eq!(pv.name_any(), "pvc-u1");
        let s = pv.spec.expect("spec");
        assert_eq!(
            s.host_path.expect("hostPath").path,
            "/var/lib/skiff/storage/pvc-u1_ns_data"
        );
        assert_eq!(
            s.persistent_volume_reclaim_policy.as_deref(),
            Some("Delete")
        );
        assert_eq!(s.claim_ref.and_then(|r| r.uid).as_deref(), Some("u1"));
        let v = serde_json::to_value(s.node_affinity).expect("json");
        assert_eq!(
            v["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"][0],
            "node-a"
        );
    }
}
