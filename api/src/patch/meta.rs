//! Where lists merge, for strategic merge patch: the `patchStrategy` and
//! `patchMergeKey` of the built-in types, read from the same OpenAPI
//! definitions that `/openapi/v2` publishes and server-side apply walks
//! ([`crate::openapi::definitions`], `x-kubernetes-patch-strategy` and
//! `x-kubernetes-patch-merge-key`), so the three never disagree.

use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::openapi::{DEFINITIONS_PREFIX, OBJECT_META_DEFINITION, definitions, kind_definition};

/// How a field is patched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListStrategy {
    /// No tag: lists are replaced, maps merge.
    Default,
    /// `patchStrategy:"merge"`: lists merge (by key, or as sets of primitives).
    Merge,
    /// `patchStrategy:"replace"`: the value is replaced, maps included.
    Replace,
}

/// What the strategic merge walker knows about the value at one path: how
/// its fields are patched. Cheap to copy.
#[derive(Clone, Copy, Debug)]
pub struct PatchMeta {
    /// The schema of the value here, if known.
    node: Option<&'static Value>,
    /// The field this metadata describes, for error messages.
    name: &'static str,
}

/// A kind without a definition still patches its ObjectMeta by the rules
/// (`metadata.finalizers` merge, `metadata.ownerReferences` by `uid`).
fn generic() -> &'static Value {
    static CELL: OnceLock<Value> = OnceLock::new();
    CELL.get_or_init(|| {
        json!({"properties": {"metadata": {"$ref": format!("{DEFINITIONS_PREFIX}{OBJECT_META_DEFINITION}")}}})
    })
}

/// Follows `$ref` (or a lone `allOf` entry) to the schema it names.
fn resolve(mut node: &'static Value) -> &'static Value {
    for _ in 0..32 {
        let next = match (node.get("$ref").and_then(Value::as_str), node.get("allOf")) {
            (Some(r), _) => r
                .strip_prefix(DEFINITIONS_PREFIX)
                .and_then(|n| definitions().get(n)),
            (None, Some(Value::Array(all))) if all.len() == 1 => all.first(),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    node
}

impl PatchMeta {
    /// The metadata of a built-in kind; kinds without a definition still
    /// get ObjectMeta's rules. Custom resources should use [`PatchMeta::none`].
    pub fn for_kind(group: &str, kind: &str) -> PatchMeta {
        let node = kind_definition(group, kind)
            .and_then(|n| definitions().get(n))
            .unwrap_or_else(generic);
        PatchMeta {
            node: Some(node),
            name: "",
        }
    }

    /// No metadata: every list is replaced, every map merges.
    pub fn none() -> PatchMeta {
        PatchMeta {
            node: None,
            name: "",
        }
    }

    /// The strategy and merge key of a field, and the metadata of its value
    /// (of its elements, for a list).
    pub fn field(&self, field: &str) -> (ListStrategy, Option<&'static str>, PatchMeta) {
        let prop = self
            .node
            .map(resolve)
            .and_then(|n| n.get("properties"))
            .and_then(Value::as_object)
            .and_then(|props| props.get_key_value(field));
        let Some((name, prop)) = prop else {
            return (ListStrategy::Default, None, PatchMeta::none());
        };
        let strategy = match prop
            .get("x-kubernetes-patch-strategy")
            .and_then(Value::as_str)
        {
            Some(s) if s.split(',').any(|p| p == "replace") => ListStrategy::Replace,
            Some(s) if s.split(',').any(|p| p == "merge") => ListStrategy::Merge,
            _ => ListStrategy::Default,
        };
        let key = prop
            .get("x-kubernetes-patch-merge-key")
            .and_then(Value::as_str);
        let resolved = resolve(prop);
        let child = match resolved.get("items") {
            Some(items) if resolved.get("type").and_then(Value::as_str) == Some("array") => items,
            _ => resolved,
        };
        (
            strategy,
            key,
            PatchMeta {
                node: Some(child),
                name: name.as_str(),
            },
        )
    }

    /// The name of the field this metadata belongs to (empty at the root).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Follows a path of field names (list elements are transparent):
    /// `["spec", "containers", "ports"]`. Returns the strategy and merge key
    /// of the last field; for tests and diagnostics.
    pub fn at(&self, path: &[&str]) -> (ListStrategy, Option<&'static str>) {
        let mut meta = *self;
        let mut last = (ListStrategy::Default, None);
        for p in path {
            let (s, k, next) = meta.field(p);
            last = (s, k);
            meta = next;
        }
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_paths() {
        let pod = PatchMeta::for_kind("", "Pod");
        assert_eq!(
            pod.at(&["spec", "containers"]),
            (ListStrategy::Merge, Some("name"))
        );
        assert_eq!(
            pod.at(&["spec", "containers", "ports"]),
            (ListStrategy::Merge, Some("containerPort"))
        );
        assert_eq!(
            pod.at(&["spec", "initContainers", "env"]),
            (ListStrategy::Merge, Some("name"))
        );
        assert_eq!(
            pod.at(&["spec", "containers", "volumeMounts"]),
            (ListStrategy::Merge, Some("mountPath"))
        );
        assert_eq!(
            pod.at(&["spec", "containers", "envFrom"]),
            (ListStrategy::Default, None)
        );
        assert_eq!(
            pod.at(&["spec", "containers", "args"]),
            (ListStrategy::Default, None)
        );
        assert_eq!(
            pod.at(&["spec", "tolerations"]),
            (ListStrategy::Default, None)
        );
        assert_eq!(
            pod.at(&["spec", "volumes"]),
            (ListStrategy::Merge, Some("name"))
        );
        assert_eq!(
            pod.at(&["spec", "hostAliases"]),
            (ListStrategy::Merge, Some("ip"))
        );
        assert_eq!(
            pod.at(&["metadata", "finalizers"]),
            (ListStrategy::Merge, None)
        );
        assert_eq!(
            pod.at(&["metadata", "ownerReferences"]),
            (ListStrategy::Merge, Some("uid"))
        );
        assert_eq!(
            pod.at(&["status", "conditions"]),
            (ListStrategy::Merge, Some("type"))
        );
        assert_eq!(
            pod.at(&["status", "containerStatuses"]),
            (ListStrategy::Default, None)
        );
    }

    #[test]
    fn workload_templates() {
        for (g, k) in [
            ("apps", "Deployment"),
            ("apps", "ReplicaSet"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("batch", "Job"),
            ("", "ReplicationController"),
        ] {
            let m = PatchMeta::for_kind(g, k);
            assert_eq!(
                m.at(&["spec", "template", "spec", "containers"]),
                (ListStrategy::Merge, Some("name")),
                "{k}"
            );
            assert_eq!(
                m.at(&["spec", "template", "metadata", "finalizers"]),
                (ListStrategy::Merge, None),
                "{k}"
            );
            assert_eq!(
                m.at(&["status", "conditions"]),
                (ListStrategy::Merge, Some("type")),
                "{k}"
            );
        }
        let cj = PatchMeta::for_kind("batch", "CronJob");
        assert_eq!(
            cj.at(&[
                "spec",
                "jobTemplate",
                "spec",
                "template",
                "spec",
                "containers",
                "env"
            ]),
            (ListStrategy::Merge, Some("name"))
        );
        let pt = PatchMeta::for_kind("", "PodTemplate");
        assert_eq!(
            pt.at(&["template", "spec", "volumes"]),
            (ListStrategy::Merge, Some("name"))
        );
    }

    #[test]
    fn other_kinds() {
        assert_eq!(
            PatchMeta::for_kind("", "Service").at(&["spec", "ports"]),
            (ListStrategy::Merge, Some("port"))
        );
        assert_eq!(
            PatchMeta::for_kind("", "ServiceAccount").at(&["secrets"]),
            (ListStrategy::Merge, Some("name"))
        );
        let node = PatchMeta::for_kind("", "Node");
        assert_eq!(
            node.at(&["status", "addresses"]),
            (ListStrategy::Merge, Some("type"))
        );
        assert_eq!(node.at(&["spec", "podCIDRs"]), (ListStrategy::Merge, None));
        assert_eq!(node.at(&["spec", "taints"]), (ListStrategy::Default, None));
        assert_eq!(
            PatchMeta::for_kind("", "Endpoints").at(&["subsets"]),
            (ListStrategy::Default, None)
        );
        assert_eq!(
            PatchMeta::for_kind("", "ConfigMap").at(&["metadata", "finalizers"]),
            (ListStrategy::Merge, None)
        );
        assert_eq!(
            PatchMeta::for_kind("policy", "PodDisruptionBudget").at(&["spec", "selector"]),
            (ListStrategy::Replace, None)
        );
        assert_eq!(
            PatchMeta::for_kind(
                "admissionregistration.k8s.io",
                "MutatingWebhookConfiguration"
            )
            .at(&["webhooks", "matchConditions"]),
            (ListStrategy::Merge, Some("name"))
        );
        assert_eq!(
            PatchMeta::none().at(&["metadata", "finalizers"]),
            (ListStrategy::Default, None)
        );
        assert_eq!(
            PatchMeta::for_kind("", "Pod")
                .field("spec")
                .2
                .field("containers")
                .2
                .name(),
            "containers"
        );
    }
}
