//! The ServiceAccount controller: every active namespace has a `default`
//! ServiceAccount, created with the namespace and again whenever it is
//! deleted, as Kubernetes' serviceaccounts-controller does.
//!
//! Kubernetes' root-ca-cert-publisher (the `kube-root-ca.crt` ConfigMap in
//! every namespace) is not here yet: the controller manager has no way to
//! learn the cluster CA through the API, and the manager's configuration
//! does not carry it.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::ResourceExt;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

use crate::{Ctx, Shutdown};

/// The ServiceAccount every namespace gets.
pub const DEFAULT: &str = "default";
/// How soon after a failure.
const RETRY: Duration = Duration::from_secs(2);

/// Why a namespace's ServiceAccount could not be ensured.
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

/// Runs the ServiceAccount controller until `shutdown` completes.
pub async fn run(ctx: Arc<Ctx>, shutdown: Shutdown) {
    let client = ctx.client.clone();
    Controller::new(
        Api::<Namespace>::all(client.clone()),
        watcher::Config::default(),
    )
    .watches(
        Api::<ServiceAccount>::all(client),
        watcher::Config::default().fields(&format!("metadata.name={DEFAULT}")),
        |sa: ServiceAccount| {
            let ns = sa.namespace().filter(|_| sa.name_any() == DEFAULT)?;
            Some(ObjectRef::<Namespace>::new(&ns))
        },
    )
    .graceful_shutdown_on(shutdown)
    .run(reconcile, error_policy, ctx)
    .for_each(|_| async {})
    .await;
}

fn error_policy(ns: Arc<Namespace>, e: &Error, _: Arc<Ctx>) -> Action {
    tracing::info!(
        namespace = ns.name_any(),
        error = %e,
        cause = ?std::error::Error::source(e),
        "serviceaccount controller will retry"
    );
    Action::requeue(RETRY)
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    // A terminating namespace refuses new content; its SA goes with it.
    if ns.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let api = Api::<ServiceAccount>::namespaced(ctx.client.clone(), &name);
    let err = |what: &str| {
        let what = format!("{what} ServiceAccount {name}/{DEFAULT}");
        move |source| Error::Api { what, source }
    };
    if api
        .get_opt(DEFAULT)
        .await
        .map_err(err("reading"))?
        .is_some()
    {
        return Ok(Action::await_change());
    }
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(DEFAULT.into()),
            namespace: Some(name.clone()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    match api.create(&PostParams::default(), &sa).await {
        Ok(_) => {
            tracing::info!(namespace = name, "created the default ServiceAccount");
            Ok(Action::await_change())
        }
        // Someone else made it, or the namespace began terminating.
        Err(kube::Error::Api(s)) if s.code == 409 || s.code == 403 => Ok(Action::await_change()),
        Err(e) => Err(err("creating")(e)),
    }
}
