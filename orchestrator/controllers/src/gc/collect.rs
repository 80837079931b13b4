//! What a worker does with one object: collect it when its owners are
//! gone, drop its dangling references when some owner remains, and finish
//! the foreground or orphan deletion of an owner.

use std::collections::HashSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy,
};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

use super::discovery::Resources;
use super::graph::{FOREGROUND, Node, ORPHAN};
use super::{Error, Gc, lock};

/// What an owner reference points at, as confirmed with the API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// It exists.
    Present,
    /// It exists and is being deleted in the foreground: it waits for its
    /// dependents to go.
    Waiting,
    /// No object of that kind, name and uid exists where it would have to.
    Absent,
    /// Its kind is not served (yet), or a cluster-scoped object names a
    /// namespaced owner: nothing can be decided.
    Unresolved,
}

fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(g, _)| g)
}

fn api_error(what: String) -> impl FnOnce(kube::Error) -> Error {
    move |source| Error::Api { what, source }
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

impl Gc {
    fn api(&self, resource: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
            None => Api::all_with(self.client.clone(), resource),
        }
    }

    fn describe(verb: &str, node: &Node) -> String {
        format!(
            "{verb} {}/{} {}/{}",
            node.resource.api_version,
            node.resource.plural,
            node.namespace.as_deref().unwrap_or(""),
            node.name
        )
    }

    /// The object as it is now, if it still exists with the same uid.
    async fn live(&self, node: &Node) -> Result<Option<Node>, Error> {
        let api = self.api(&node.resource, node.namespace.as_deref());
        let meta = api
            .get_metadata_opt(&node.name)
            .await
            .map_err(api_error(Self::describe("reading", node)))?;
        Ok(meta
            .and_then(|m| Node::from_meta(&node.resource, node.namespaced, &m.metadata))
            .filter(|n| n.uid == node.uid))
    }

    /// Looks at the object with `uid` and does what the collector must.
    pub(super) async fn process(&self, uid: &str) -> Result<(), Error> {
        let Some(node) = lock(&self.graph).get(uid).cloned() else {
            return Ok(());
        };
        let Some(item) = self.live(&node).await? else {
            return Ok(());
        };
        if item.deleting {
            if item.deleting_with(FOREGROUND) {
                self.finish_foreground(&item).await?;
            }
            if item.deleting_with(ORPHAN) {
                self.finish_orphan(&item).await?;
            }
            return Ok(());
        }
        if item.owners.is_empty() {
            return Ok(());
        }
        self.collect(&item).await
    }

    /// Deletes `item` if none of its owners remain; otherwise drops its
    /// references to absent owners (and to owners waiting for it, which a
    /// surviving dependent must not hold up).
    async fn collect(&self, item: &Node) -> Result<(), Error> {
        let resources = self.resources();
        let mut solid = false;
        let mut unresolved = false;
        let mut drop = HashSet::new();
        let mut waiting = false;
        for r in &item.owners {
            match self.owner(item, r, &resources).await? {
                Owner::Present => solid = true,
                Owner::Waiting => {
                    waiting = true;
                    drop.insert(r.uid.clone());
                }
                Owner::Absent => {
                    drop.insert(r.uid.clone());
                }
                Owner::Unresolved => unresolved = true,
            }
        }
        if solid {
            if !drop.is_empty() {
                self.remove_references(item, &drop).await?;
            }
            return Ok(());
        }
        if unresolved || drop.is_empty() {
            // Discovery may not know the kind yet; the next resync tries again.
            return Ok(());
        }
        // An item with dependents of its own goes in the foreground when its
        // owner waits, so the owner waits for the whole tree, as in Kubernetes.
        let has_dependents = !lock(&self.graph).dependents_of(&item.uid).is_empty();
        let policy = if waiting && has_dependents {
            PropagationPolicy::Foreground
        } else {
            PropagationPolicy::Background
        };
        tracing::info!(
            object = Self::describe("", item).trim(),
            ?policy,
            "garbage collector deletes an object whose owners are gone"
        );
        let dp = DeleteParams {
            propagation_policy: Some(policy),
            preconditions: Some(Preconditions {
                uid: Some(item.uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match self
            .api(&item.resource, item.namespace.as_deref())
            .delete(&item.name, &dp)
            .await
        {
            Ok(_) => Ok(()),
            // Gone already, or replaced by a namesake (uid precondition).
            Err(e) if is_status(&e, 404) || is_status(&e, 409) => Ok(()),
            Err(e) => Err(api_error(Self::describe("deleting", item))(e)),
        }
    }

    /// Confirms what owner reference `r` of `item` points at.
    async fn owner(
        &self,
        item: &Node,
        r: &OwnerReference,
        resources: &Resources,
    ) -> Result<Owner, Error> {
        {
            let g = lock(&self.graph);
            if let Some(o) = g.get(&r.uid)
                && o.resource.kind == r.kind
                && o.resource.group == group_of(&r.api_version)
            {
                if o.namespaced && !item.namespaced {
                    return Ok(Owner::Unresolved);
                }
                // An owner in another namespace is not this dependent's:
                // the live GET below looks in the dependent's namespace.
                if !o.namespaced || o.namespace == item.namespace {
                    return Ok(if o.deleting_with(FOREGROUND) {
                        Owner::Waiting
                    } else {
                        Owner::Present
                    });
                }
            }
        }
        let Some(served) = resources.by_kind(&r.api_version, &r.kind) else {
            return Ok(Owner::Unresolved);
        };
        let namespace = match (served.namespaced, item.namespace.as_deref()) {
            (false, _) => None,
            (true, Some(ns)) if item.namespaced => Some(ns),
            (true, _) => return Ok(Owner::Unresolved),
        };
        let meta = self
            .api(&served.resource, namespace)
            .get_metadata_opt(&r.name)
            .await
            .map_err(api_error(format!(
                "reading owner {} {}/{}",
                r.kind,
                namespace.unwrap_or(""),
                r.name
            )))?;
        Ok(match meta {
            Some(m) if m.metadata.uid.as_deref() == Some(r.uid.as_str()) => {
                let foreground = m.metadata.deletion_timestamp.is_some()
                    && m.metadata
                        .finalizers
                        .as_deref()
                        .unwrap_or_default()
                        .iter()
                        .any(|f| f == FOREGROUND);
                if foreground {
                    Owner::Waiting
                } else {
                    Owner::Present
                }
            }
            _ => Owner::Absent,
        })
    }

    /// Applies a JSON patch that first tests the uid and the current value
    /// of `path`, so it never overwrites a change made since `item` was read.
    async fn patch_list(
        &self,
        item: &Node,
        path: &str,
        current: Value,
        next: Option<Value>,
    ) -> Result<(), Error> {
        let mut ops = vec![
            json!({"op": "test", "path": "/metadata/uid", "value": item.uid}),
            json!({"op": "test", "path": path, "value": current}),
        ];
        ops.push(match next {
            Some(v) => json!({"op": "replace", "path": path, "value": v}),
            None => json!({"op": "remove", "path": path}),
        });
        let patch: json_patch::Patch =
            serde_json::from_value(Value::Array(ops)).map_err(Error::Patch)?;
        match self
            .api(&item.resource, item.namespace.as_deref())
            .patch(
                &item.name,
                &PatchParams::default(),
                &Patch::Json::<()>(patch),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(e) => Err(api_error(Self::describe("patching", item))(e)),
        }
    }

    /// Removes `item`'s references to the owners in `uids`.
    async fn remove_references(&self, item: &Node, uids: &HashSet<String>) -> Result<(), Error> {
        let keep: Vec<&OwnerReference> = item
            .owners
            .iter()
            .filter(|r| !uids.contains(&r.uid))
            .collect();
        tracing::info!(
            object = Self::describe("", item).trim(),
            removed = ?uids,
            "garbage collector removes owner references"
        );
        let current = serde_json::to_value(&item.owners).map_err(Error::Patch)?;
        let next = if keep.is_empty() {
            None
        } else {
            Some(serde_json::to_value(&keep).map_err(Error::Patch)?)
        };
        self.patch_list(item, "/metadata/ownerReferences", current, next)
            .await
    }

    /// Removes `finalizer` from `item`.
    async fn remove_finalizer(&self, item: &Node, finalizer: &str) -> Result<(), Error> {
        let keep: Vec<&String> = item.finalizers.iter().filter(|f| *f != finalizer).collect();
        let current = json!(item.finalizers);
        let next = (!keep.is_empty()).then(|| json!(keep));
        self.patch_list(item, "/metadata/finalizers", current, next)
            .await
    }

    /// An owner deleted in the foreground: its dependents are deleted, and
    /// it goes once none blocks it any more.
    async fn finish_foreground(&self, owner: &Node) -> Result<(), Error> {
        let dependents = lock(&self.graph).dependents_of(&owner.uid);
        let mut blocking = 0;
        for d in &dependents {
            if d.reference_to(&owner.uid)
                .is_some_and(|r| r.block_owner_deletion == Some(true))
            {
                blocking += 1;
            }
            if !d.deleting {
                self.queue.add(&d.uid);
            }
        }
        if blocking == 0 {
            tracing::info!(
                object = Self::describe("", owner).trim(),
                "no dependent blocks the foreground deletion any more"
            );
            self.remove_finalizer(owner, FOREGROUND).await?;
        }
        Ok(())
    }

    /// An owner deleted with `orphan`: its dependents lose their reference
    /// to it, then it goes.
    async fn finish_orphan(&self, owner: &Node) -> Result<(), Error> {
        let dependents = lock(&self.graph).dependents_of(&owner.uid);
        let only = HashSet::from([owner.uid.clone()]);
        for d in &dependents {
            if let Some(live) = self.live(d).await?
                && live.reference_to(&owner.uid).is_some()
            {
                self.remove_references(&live, &only).await?;
            }
        }
        self.remove_finalizer(owner, ORPHAN).await
    }
}
