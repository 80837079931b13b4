//! The machinery behind controllers that keep one named object in every
//! active namespace — the `default` ServiceAccount
//! ([`crate::serviceaccount`]), the `kube-root-ca.crt` ConfigMap
//! ([`crate::rootca`]): created with the namespace, again whenever it is
//! deleted, and put back when it drifts from what it must hold.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Ctx, Shutdown};

/// How soon after a failure.
const RETRY: Duration = Duration::from_secs(2);

/// The object every namespace must have.
pub struct Wanted<K> {
    /// Its name in every namespace.
    pub name: &'static str,
    /// Builds it for a namespace (name and namespace are set by the caller).
    pub build: Box<dyn Fn() -> K + Send + Sync>,
    /// Whether an existing one is as it must be; one that is not is
    /// replaced by a fresh [`Wanted::build`].
    pub is_current: Box<dyn Fn(&K) -> bool + Send + Sync>,
}

/// Why a namespace's object could not be ensured.
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
pub struct Error {
    /// The request, e.g. `creating ServiceAccount dev/default`.
    what: String,
    /// The client's error.
    #[source]
    source: kube::Error,
}

struct State<K> {
    ctx: Arc<Ctx>,
    wanted: Wanted<K>,
}

/// Keeps `wanted` in every active namespace until `shutdown` completes.
pub async fn run<K>(ctx: Arc<Ctx>, wanted: Wanted<K>, shutdown: Shutdown)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned
        + Serialize
        + Send
        + Sync
        + 'static,
{
    let client = ctx.client.clone();
    let name = wanted.name;
    let state = Arc::new(State { ctx, wanted });
    Controller::new(
        Api::<Namespace>::all(client.clone()),
        watcher::Config::default(),
    )
    .watches(
        Api::<K>::all(client),
        watcher::Config::default().fields(&format!("metadata.name={name}")),
        move |obj: K| {
            let ns = obj.namespace().filter(|_| obj.name_any() == name)?;
            Some(ObjectRef::<Namespace>::new(&ns))
        },
    )
    .graceful_shutdown_on(shutdown)
    .run(reconcile, error_policy, state)
    .for_each(|_| async {})
    .await;
}

fn error_policy<K>(ns: Arc<Namespace>, e: &Error, _: Arc<State<K>>) -> Action {
    tracing::info!(
        namespace = ns.name_any(),
        error = %e,
        cause = ?std::error::Error::source(e),
        "will retry"
    );
    Action::requeue(RETRY)
}

async fn reconcile<K>(ns: Arc<Namespace>, st: Arc<State<K>>) -> Result<Action, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned
        + Serialize,
{
    // A terminating namespace refuses new content; what it has goes with it.
    if ns.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = ns.name_any();
    let name = st.wanted.name;
    let api = Api::<K>::namespaced(st.ctx.client.clone(), &namespace);
    let err = |what: &str| {
        let what = format!("{what} {} {namespace}/{name}", K::kind(&()));
        move |source| Error { what, source }
    };
    let mut fresh = (st.wanted.build)();
    fresh.meta_mut().name = Some(name.to_owned());
    fresh.meta_mut().namespace = Some(namespace.clone());
    let result = match api.get_opt(name).await.map_err(err("reading"))? {
        Some(cur) if (st.wanted.is_current)(&cur) => return Ok(Action::await_change()),
        Some(cur) => {
            fresh.meta_mut().resource_version = cur.resource_version();
            api.replace(name, &PostParams::default(), &fresh).await
        }
        None => api.create(&PostParams::default(), &fresh).await,
    };
    match result {
        Ok(_) => {
            tracing::info!(%namespace, kind = %K::kind(&()), name, "ensured");
            Ok(Action::await_change())
        }
        // A concurrent writer, or a namespace that began terminating: the
        // watch brings us back if there is still work.
        Err(kube::Error::Api(s)) if s.code == 409 || s.code == 403 => Ok(Action::await_change()),
        Err(e) => Err(err("writing")(e)),
    }
}
