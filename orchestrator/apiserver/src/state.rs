//! The state every request handler shares: the store, the registry of served
//! resources, and the server's configuration.

use std::sync::{Arc, RwLock};

use serde_json::Value;
use skiff_api::registry::{Registry, Resource};
use skiff_api::status::{ApiError, Reason};
use skiff_store::{KeyValue, Store, StoreError};

use crate::auth::Authenticator;
use crate::objects;

/// Request limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body accepted, in bytes (Kubernetes: 3 MiB).
    pub max_body: usize,
    /// Longest a watch may stay open when the client does not say.
    pub max_watch_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 3 * 1024 * 1024,
            max_watch_seconds: 30 * 60,
        }
    }
}

/// The shared state of the API server.
pub struct Api<S> {
    /// Where objects live.
    pub store: S,
    registry: RwLock<Arc<Registry>>,
    /// Who may call.
    pub auth: Authenticator,
    /// Request limits.
    pub limits: Limits,
    /// Watch events decoded once for all watchers.
    pub events: Arc<crate::watch_cache::EventCache>,
    /// How requests are proxied to node agents (logs, exec).
    pub node_client: crate::handlers::node_proxy::NodeClient,
    /// Documents derived from the registry (OpenAPI), dropped when it changes.
    cache: std::sync::Mutex<std::collections::HashMap<String, bytes::Bytes>>,
}

impl<S: Store> Api<S> {
    /// State over a store, serving the built-in resources.
    pub fn new(store: S, mut auth: Authenticator, limits: Limits) -> Self {
        let node_client = crate::handlers::node_proxy::NodeClient::new(&mut auth);
        Api {
            store,
            registry: RwLock::new(Arc::new(Registry::builtin())),
            auth,
            node_client,
            limits,
            events: Arc::default(),
            cache: Default::default(),
        }
    }

    /// A snapshot of the registry.
    pub fn registry(&self) -> Arc<Registry> {
        // A poisoned lock only means a writer panicked mid-swap of an Arc;
        // the Arc inside is still whole.
        self.registry
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Changes the registry (CRDs established or removed).
    pub fn update_registry(&self, f: impl FnOnce(&mut Registry)) {
        let mut guard = self
            .registry
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = (**guard).clone();
        f(&mut next);
        *guard = Arc::new(next);
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// A document derived from the registry, computed once per registry change.
    pub fn cached(
        &self,
        key: &str,
        make: impl FnOnce() -> Option<bytes::Bytes>,
    ) -> Option<bytes::Bytes> {
        if let Some(b) = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
        {
            return Some(b.clone());
        }
        let b = make()?;
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.to_owned(), b.clone());
        Some(b)
    }

    /// Reads one object; 404 if it does not exist.
    pub async fn read(
        &self,
        res: &Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(Value, KeyValue), ApiError> {
        let key = res.object_key(namespace, name);
        match self.store.get(&key).await {
            Ok(Some(kv)) => Ok((objects::decode_for(res, &kv)?, kv)),
            Ok(None) => Err(ApiError::not_found(&res.group, &res.plural, name)),
            Err(e) => Err(store_error(res, name, e)),
        }
    }

    /// Refuses new objects in a namespace that is missing or terminating,
    /// as Kubernetes' NamespaceLifecycle admission does.
    pub async fn check_namespace(&self, namespace: &str) -> Result<(), ApiError> {
        let key = format!("/registry/core/namespaces/{namespace}");
        match self.store.get(&key).await {
            Ok(Some(kv)) => {
                let ns = objects::decode(&kv)?;
                if objects::is_deleting(&ns) {
                    Err(ApiError::forbidden(
                        "",
                        "namespaces",
                        namespace,
                        &format!(
                            "unable to create new content in namespace {namespace} because it is being terminated"
                        ),
                    ))
                } else {
                    Ok(())
                }
            }
            Ok(None) => Err(ApiError::not_found("", "namespaces", namespace)),
            Err(e) => Err(ApiError::internal(e.to_string())),
        }
    }
}

/// Maps a store error onto the Status Kubernetes answers for it.
pub fn store_error(res: &Resource, name: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound { .. } => ApiError::not_found(&res.group, &res.plural, name),
        StoreError::AlreadyExists { .. } => ApiError::already_exists(&res.group, &res.plural, name),
        StoreError::Conflict { .. } => {
            ApiError::conflict(&res.group, &res.plural, name, ApiError::MODIFIED)
        }
        StoreError::Expired { requested, oldest } => ApiError::expired(requested, oldest),
        StoreError::FutureRevision { requested, current } => ApiError::new(
            Reason::Timeout,
            format!("Too large resource version: {requested}, current: {current}"),
        ),
        StoreError::Closed => {
            ApiError::new(Reason::ServiceUnavailable, "the store is shutting down")
        }
        other => {
            tracing::error!(error = %other, "store failure");
            ApiError::internal(other.to_string())
        }
    }
}
