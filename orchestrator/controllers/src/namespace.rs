//! The namespace controller: empties a namespace being deleted, then lets
//! the API server remove it.
//!
//! The API server's share (handlers/delete.rs, handlers/update.rs): DELETE
//! of a namespace sets its deletionTimestamp and `status.phase: Terminating`
//! and refuses new content in it; a PUT to `namespaces/NAME/finalize` that
//! leaves `spec.finalizers` (and `metadata.finalizers`) empty removes it.
//! This controller does the rest, as Kubernetes' does: for every
//! namespaced resource discovery finds (CRDs included) it deletes the
//! namespace's objects, reports progress in the
//! `NamespaceDeletion*`/`Namespace*Remaining` status conditions with
//! Kubernetes' reasons and messages, requeues while objects remain (pods
//! in their grace period, objects held by finalizers), and finally removes
//! `kubernetes` from `spec.finalizers` through the `finalize` subresource.
//!
//! It also sets `status.phase: Terminating`, as Kubernetes' namespace
//! deleter does when it finds it missing: Skiff's delete handler means to
//! set it, but its write (`Part::Delete`) takes `.status` from the stored
//! object, since namespaces have a status subresource, so the phase stays
//! `Active`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, NamespaceCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::discovery::verbs;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::json;

use crate::gc::discovery::{self, Resources, Served};
use crate::{Ctx, Shutdown};

/// The finalizer the namespace controller owns.
pub const FINALIZER: &str = "kubernetes";
/// The phase of a namespace being deleted.
const TERMINATING: &str = "Terminating";
/// How soon a namespace whose objects are still going away is looked at
/// again.
const CONTENT_REMAINS: Duration = Duration::from_secs(1);
/// How soon after a failure.
const RETRY: Duration = Duration::from_secs(2);

/// Why a namespace could not be finished.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API request failed.
    #[error("{what}")]
    Api {
        /// The request.
        what: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
}

/// Runs the namespace controller until `shutdown` completes.
pub async fn run(ctx: Arc<Ctx>, shutdown: Shutdown) {
    let api = Api::<Namespace>::all(ctx.client.clone());
    Controller::new(api, watcher::Config::default())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

fn error_policy(ns: Arc<Namespace>, e: &Error, _: Arc<Ctx>) -> Action {
    tracing::info!(
        namespace = ns.metadata.name.as_deref().unwrap_or(""),
        error = %e,
        cause = ?std::error::Error::source(e),
        "namespace controller will retry"
    );
    Action::requeue(RETRY)
}

/// What deleting a namespace's content found.
#[derive(Debug, Default)]
struct Sweep {
    /// `resource: error` of each resource whose objects could not be deleted.
    failures: Vec<String>,
    /// group-resource → objects still there.
    remaining: BTreeMap<String, usize>,
    /// finalizer → objects still held by it.
    finalizers: BTreeMap<String, usize>,
}

/// Kubernetes' name of a resource in messages: `pods`, `deployments.apps`.
fn group_resource(s: &Served) -> String {
    if s.resource.group.is_empty() {
        s.resource.plural.clone()
    } else {
        format!("{}.{}", s.resource.plural, s.resource.group)
    }
}

async fn sweep(client: &kube::Client, namespace: &str, resources: &Resources) -> Sweep {
    let mut out = Sweep::default();
    let dp = DeleteParams::background();
    for s in resources.namespaced_deletable() {
        let api = Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &s.resource);
        let deleted = if s.supports(verbs::DELETE_COLLECTION) {
            api.delete_collection(&dp, &ListParams::default())
                .await
                .map(|_| ())
        } else {
            delete_each(&api, &dp).await
        };
        if let Err(e) = deleted {
            out.failures.push(format!("{}: {e}", group_resource(s)));
        }
    }
    for s in resources.namespaced_deletable() {
        let api = Api::<PartialObjectMeta<DynamicObject>>::namespaced_with(
            client.clone(),
            namespace,
            &s.resource,
        );
        match api.list_metadata(&ListParams::default()).await {
            Ok(list) if !list.items.is_empty() => {
                *out.remaining.entry(group_resource(s)).or_default() += list.items.len();
                for item in &list.items {
                    for f in item.metadata.finalizers.as_deref().unwrap_or_default() {
                        *out.finalizers.entry(f.clone()).or_default() += 1;
                    }
                }
            }
            Ok(_) => {}
            Err(e) => out.failures.push(format!("{}: {e}", group_resource(s))),
        }
    }
    out
}

async fn delete_each(api: &Api<DynamicObject>, dp: &DeleteParams) -> Result<(), kube::Error> {
    for item in api.list_metadata(&ListParams::default()).await?.items {
        let Some(name) = item.metadata.name else {
            continue;
        };
        match api.delete(&name, dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One condition as Kubernetes' namespace controller words it.
fn condition(kind: &str, failing: bool, reason: &str, message: String) -> NamespaceCondition {
    NamespaceCondition {
        type_: kind.to_owned(),
        status: if failing { "True" } else { "False" }.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message),
        last_transition_time: None,
    }
}

/// The five conditions, in Kubernetes' order.
fn conditions(discovery_error: Option<&str>, sweep: &Sweep) -> Vec<NamespaceCondition> {
    let mut out = vec![match discovery_error {
        Some(e) => condition(
            "NamespaceDeletionDiscoveryFailure",
            true,
            "DiscoveryFailed",
            format!("Discovery failed for some groups, 1 failing: {e}"),
        ),
        None => condition(
            "NamespaceDeletionDiscoveryFailure",
            false,
            "ResourcesDiscovered",
            "All resources successfully discovered".into(),
        ),
    }];
    out.push(condition(
        "NamespaceDeletionGroupVersionParsingFailure",
        false,
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed".into(),
    ));
    out.push(if sweep.failures.is_empty() {
        condition(
            "NamespaceDeletionContentFailure",
            false,
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization".into(),
        )
    } else {
        condition(
            "NamespaceDeletionContentFailure",
            true,
            "ContentDeletionFailed",
            format!(
                "Failed to delete all resource types, {} remaining: {}",
                sweep.failures.len(),
                sweep.failures.join(", ")
            ),
        )
    });
    out.push(if sweep.remaining.is_empty() {
        condition(
            "NamespaceContentRemaining",
            false,
            "ContentRemoved",
            "All content successfully removed".into(),
        )
    } else {
        let parts: Vec<String> = sweep
            .remaining
            .iter()
            .map(|(r, n)| format!("{r} has {n} resource instances"))
            .collect();
        condition(
            "NamespaceContentRemaining",
            true,
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", parts.join(", ")),
        )
    });
    out.push(if sweep.finalizers.is_empty() {
        condition(
            "NamespaceFinalizersRemaining",
            false,
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished".into(),
        )
    } else {
        let parts: Vec<String> = sweep
            .finalizers
            .iter()
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        condition(
            "NamespaceFinalizersRemaining",
            true,
            "SomeFinalizersRemain",
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                parts.join(", ")
            ),
        )
    });
    out
}

/// `next` with each transition time carried over from `current` when the
/// status did not change; `None` when nothing changed at all.
fn merge_conditions(
    current: &[NamespaceCondition],
    mut next: Vec<NamespaceCondition>,
) -> Option<Vec<NamespaceCondition>> {
    let now = Time(jiff::Timestamp::now());
    let mut changed = current.len() != next.len();
    for c in &mut next {
        match current.iter().find(|o| o.type_ == c.type_) {
            Some(o) if o.status == c.status => {
                c.last_transition_time = o.last_transition_time.clone();
                changed |= o.reason != c.reason || o.message != c.message;
            }
            _ => {
                c.last_transition_time = Some(now.clone());
                changed = true;
            }
        }
    }
    changed.then_some(next)
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let Some(name) = ns.metadata.name.clone() else {
        return Ok(Action::await_change());
    };
    let ours = ns
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.as_deref())
        .unwrap_or_default()
        .iter()
        .any(|f| f == FINALIZER);
    if ns.metadata.deletion_timestamp.is_none() || !ours {
        return Ok(Action::await_change());
    }
    let client = &ctx.client;
    let (discovery_error, sweep) = match discovery::discover(client).await {
        Ok(resources) => (None, sweep(client, &name, &resources).await),
        Err(e) => (Some(e.to_string()), Sweep::default()),
    };
    let api = Api::<Namespace>::all(client.clone());
    let current = ns
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    // Kubernetes' namespace deleter marks the phase too, in case the
    // deleting write did not (today Skiff's does not: see the module doc).
    let terminating = ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(TERMINATING);
    let conds = merge_conditions(&current, conditions(discovery_error.as_deref(), &sweep));
    if conds.is_some() || !terminating {
        let mut status = json!({"phase": TERMINATING});
        if let Some(conds) = conds {
            status["conditions"] = json!(conds);
        }
        let patch = json!({ "status": status });
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| Error::Api {
                what: format!("writing the status of namespace {name}"),
                source,
            })?;
    }
    if discovery_error.is_some() || !sweep.failures.is_empty() {
        return Ok(Action::requeue(RETRY));
    }
    if !sweep.remaining.is_empty() {
        return Ok(Action::requeue(CONTENT_REMAINS));
    }
    let mut next = (*ns).clone();
    next.metadata.resource_version = None;
    if let Some(spec) = next.spec.as_mut() {
        spec.finalizers = spec
            .finalizers
            .take()
            .map(|fs| fs.into_iter().filter(|f| f != FINALIZER).collect());
    }
    tracing::info!(namespace = name, "namespace is empty; finalizing it");
    match api
        .replace_subresource("finalize", &name, &PostParams::default(), &next)
        .await
    {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Action::await_change()),
        Err(source) => Err(Error::Api {
            what: format!("finalizing namespace {name}"),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_word_remaining_content_as_kubernetes() {
        let mut sweep = Sweep::default();
        sweep.remaining.insert("pods".into(), 2);
        sweep.finalizers.insert("example.com/hold".into(), 1);
        let c = conditions(None, &sweep);
        let types: Vec<&str> = c.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(
            types,
            [
                "NamespaceDeletionDiscoveryFailure",
                "NamespaceDeletionGroupVersionParsingFailure",
                "NamespaceDeletionContentFailure",
                "NamespaceContentRemaining",
                "NamespaceFinalizersRemaining"
            ]
        );
        assert_eq!(
            c[3].message.as_deref(),
            Some("Some resources are remaining: pods has 2 resource instances")
        );
        assert_eq!(c[4].status, "True");
        let merged = merge_conditions(&[], c.clone()).unwrap_or_default();
        assert!(merged.iter().all(|c| c.last_transition_time.is_some()));
        assert!(merge_conditions(&merged, c).is_none());
    }
}
