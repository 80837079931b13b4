//! The garbage collector's picture of the cluster: the metadata of every
//! object of every collectable resource, and who names whom as owner,
//! by uid. It only tells the collector where to look: every decision is
//! confirmed against the API server before anything is deleted or changed.

use std::collections::{HashMap, HashSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::discovery::ApiResource;

/// The finalizer that makes an owner wait for its blocking dependents.
pub const FOREGROUND: &str = "foregroundDeletion";
/// The finalizer that makes an owner's dependents lose their reference
/// instead of being deleted.
pub const ORPHAN: &str = "orphan";

/// Identifies the watch an object was seen through: `group/version/plural`.
pub type ResourceKey = String;

/// The key of a resource.
pub fn resource_key(ar: &ApiResource) -> ResourceKey {
    format!("{}/{}/{}", ar.group, ar.version, ar.plural)
}

/// One object as the collector knows it.
#[derive(Clone, Debug)]
pub struct Node {
    /// The resource it was seen through.
    pub resource: ApiResource,
    /// Whether that resource is namespaced.
    pub namespaced: bool,
    /// Its name.
    pub name: String,
    /// Its namespace, for namespaced objects.
    pub namespace: Option<String>,
    /// Its uid.
    pub uid: String,
    /// Its owner references.
    pub owners: Vec<OwnerReference>,
    /// Whether it has a deletionTimestamp.
    pub deleting: bool,
    /// Its finalizers.
    pub finalizers: Vec<String>,
}

impl Node {
    /// The node for an object's metadata, or `None` without a uid or name.
    pub fn from_meta(resource: &ApiResource, namespaced: bool, meta: &ObjectMeta) -> Option<Node> {
        Some(Node {
            resource: resource.clone(),
            namespaced,
            name: meta.name.clone()?,
            namespace: meta.namespace.clone(),
            uid: meta.uid.clone()?,
            owners: meta.owner_references.clone().unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
            finalizers: meta.finalizers.clone().unwrap_or_default(),
        })
    }

    /// Whether it is being deleted and carries `finalizer`.
    pub fn deleting_with(&self, finalizer: &str) -> bool {
        self.deleting && self.finalizers.iter().any(|f| f == finalizer)
    }

    /// Whether the collector has work on it as an owner being deleted.
    pub fn owner_work(&self) -> bool {
        self.deleting_with(FOREGROUND) || self.deleting_with(ORPHAN)
    }

    /// Its reference to the owner with `uid`, if any.
    pub fn reference_to(&self, uid: &str) -> Option<&OwnerReference> {
        self.owners.iter().find(|r| r.uid == uid)
    }
}

/// Objects by uid and the reverse owner index.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
    /// owner uid → uids of objects that name it (the owner may be absent).
    dependents: HashMap<String, HashSet<String>>,
}

impl Graph {
    /// The node with `uid`.
    pub fn get(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    /// Adds or replaces a node; returns the previous one.
    pub fn upsert(&mut self, node: Node) -> Option<Node> {
        let old = self.nodes.insert(node.uid.clone(), node.clone());
        if let Some(old) = &old {
            self.unindex(old);
        }
        for r in &node.owners {
            self.dependents
                .entry(r.uid.clone())
                .or_default()
                .insert(node.uid.clone());
        }
        old
    }

    /// Removes a node; returns it.
    pub fn remove(&mut self, uid: &str) -> Option<Node> {
        let old = self.nodes.remove(uid)?;
        self.unindex(&old);
        Some(old)
    }

    fn unindex(&mut self, node: &Node) {
        for r in &node.owners {
            if let Some(set) = self.dependents.get_mut(&r.uid) {
                set.remove(&node.uid);
                if set.is_empty() {
                    self.dependents.remove(&r.uid);
                }
            }
        }
    }

    /// Objects that name `owner_uid` as an owner.
    pub fn dependents_of(&self, owner_uid: &str) -> Vec<Node> {
        self.dependents
            .get(owner_uid)
            .into_iter()
            .flatten()
            .filter_map(|uid| self.nodes.get(uid).cloned())
            .collect()
    }

    /// Uids of the objects seen through `key` that are not in `keep`: what
    /// a relist no longer returned.
    pub fn missing(&self, key: &str, keep: &HashSet<String>) -> Vec<String> {
        self.nodes
            .values()
            .filter(|n| resource_key(&n.resource) == key && !keep.contains(&n.uid))
            .map(|n| n.uid.clone())
            .collect()
    }

    /// Whether `node` may need the collector: it is an owner being deleted
    /// with a collector finalizer, or one of its owners is not in the graph
    /// where it should be, or is being deleted in the foreground.
    pub fn needs_attention(&self, node: &Node) -> bool {
        if node.deleting {
            return node.owner_work();
        }
        node.owners.iter().any(|r| match self.nodes.get(&r.uid) {
            None => true,
            Some(o) => {
                o.resource.kind != r.kind
                    || (o.namespaced && o.namespace != node.namespace)
                    || o.deleting_with(FOREGROUND)
            }
        })
    }

    /// Every node the collector should look at on a periodic resync.
    pub fn attention(&self) -> Vec<String> {
        self.nodes
            .values()
            .filter(|n| self.needs_attention(n))
            .map(|n| n.uid.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(uid: &str, owners: &[&str]) -> Node {
        Node {
            resource: ApiResource {
                group: String::new(),
                version: "v1".into(),
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                plural: "configmaps".into(),
            },
            namespaced: true,
            name: uid.into(),
            namespace: Some("default".into()),
            uid: uid.into(),
            owners: owners
                .iter()
                .map(|o| OwnerReference {
                    api_version: "v1".into(),
                    kind: "ConfigMap".into(),
                    name: (*o).into(),
                    uid: (*o).into(),
                    ..OwnerReference::default()
                })
                .collect(),
            deleting: false,
            finalizers: vec![],
        }
    }

    #[test]
    fn dependents_follow_owner_references() {
        let mut g = Graph::default();
        g.upsert(node("o", &[]));
        g.upsert(node("d", &["o", "gone"]));
        assert_eq!(g.dependents_of("o").len(), 1);
        assert!(g.needs_attention(&node("d", &["o", "gone"])));
        assert!(!g.needs_attention(&node("d", &["o"])));
        g.upsert(node("d", &["o"]));
        assert!(g.dependents_of("gone").is_empty());
        g.remove("d");
        assert!(g.dependents_of("o").is_empty());
    }
}
