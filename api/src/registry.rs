//! The resource registry: every resource the API server serves, built-in or
//! defined by a CustomResourceDefinition.
//!
//! The server is generic: a request is resolved to a [`Resource`] here, and
//! from then on a Pod and a custom `Widget` take the same code path. Only the
//! [`Origin`] differs — built-in kinds get their rules from
//! [`crate::validation`], custom kinds from their structural schema
//! ([`crate::schema`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

/// Where a resource's schema and rules come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Origin {
    /// Compiled in: typed by `k8s-openapi`, validated and defaulted by
    /// [`crate::validation`].
    Builtin,
    /// Served because a CustomResourceDefinition asked for it.
    Custom {
        /// Name of the CRD (`plural.group`).
        crd: String,
        /// `openAPIV3Schema` of this version, if the CRD gave one.
        schema: Option<Value>,
    },
}

/// The JSON paths of a scale subresource (`.spec.replicas` style).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalePaths {
    /// Path of the desired replica count.
    pub spec_replicas: String,
    /// Path of the observed replica count.
    pub status_replicas: String,
    /// Path of the serialized label selector, if any.
    pub label_selector: Option<String>,
}

/// A subresource a resource serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subresource {
    /// `/status`: writes only `.status`; the main resource ignores `.status`.
    Status,
    /// `/scale`: an `autoscaling/v1` Scale view of the object.
    Scale(ScalePaths),
    /// `pods/binding`: assigns a pod to a node.
    Binding,
    /// `pods/log`: served by the node agent through the API server.
    Log,
    /// `pods/eviction`: deletion subject to PodDisruptionBudgets.
    Eviction,
    /// `pods/exec`, `pods/attach`, `pods/portforward`: streamed to the node.
    Exec,
    /// `pods/attach`.
    Attach,
    /// `pods/portforward`.
    PortForward,
    /// `namespaces/finalize`: updates `spec.finalizers` of a namespace.
    Finalize,
}

impl Subresource {
    /// The URL segment of this subresource.
    pub fn name(&self) -> &'static str {
        match self {
            Subresource::Status => "status",
            Subresource::Scale(_) => "scale",
            Subresource::Binding => "binding",
            Subresource::Log => "log",
            Subresource::Eviction => "eviction",
            Subresource::Exec => "exec",
            Subresource::Attach => "attach",
            Subresource::PortForward => "portforward",
            Subresource::Finalize => "finalize",
        }
    }

    /// Verbs of this subresource, as discovery lists them.
    pub fn verbs(&self) -> &'static [&'static str] {
        match self {
            Subresource::Status | Subresource::Scale(_) => &["get", "patch", "update"],
            Subresource::Binding | Subresource::Eviction => &["create"],
            Subresource::Log => &["get"],
            Subresource::Exec | Subresource::Attach | Subresource::PortForward => {
                &["create", "get"]
            }
            Subresource::Finalize => &["update"],
        }
    }

    /// Kind of the object the subresource takes and returns.
    pub fn kind<'a>(&self, parent_kind: &'a str) -> (&'static str, &'static str, &'a str) {
        match self {
            Subresource::Scale(_) => ("autoscaling", "v1", "Scale"),
            Subresource::Binding => ("", "v1", "Binding"),
            Subresource::Eviction => ("policy", "v1", "Eviction"),
            Subresource::Exec | Subresource::Attach => ("", "v1", "PodExecOptions"),
            Subresource::PortForward => ("", "v1", "PodPortForwardOptions"),
            Subresource::Log => ("", "v1", "Pod"),
            Subresource::Status | Subresource::Finalize => ("", "", parent_kind),
        }
    }
}

/// The standard verbs of a collection resource.
pub const STANDARD_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// One served resource: a (group, version, plural) with everything needed to
/// route, store, validate and print it.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// API group; empty for the core group.
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Plural resource name used in URLs, e.g. `deployments`.
    pub plural: String,
    /// Singular name, lower case.
    pub singular: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names `kubectl` accepts, e.g. `deploy`.
    pub short_names: Vec<String>,
    /// Categories such as `all`.
    pub categories: Vec<String>,
    /// Subresources served.
    pub subresources: Vec<Subresource>,
    /// Verbs on the collection and its objects.
    pub verbs: Vec<String>,
    /// Where the schema comes from.
    pub origin: Origin,
    /// For custom resources: `additionalPrinterColumns` of this version.
    pub printer_columns: Vec<PrinterColumn>,
    /// Whether this version is the storage version (custom resources).
    pub storage_version: bool,
}

/// A printer column (`additionalPrinterColumns` of a CRD).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// OpenAPI type: integer, number, string, boolean, date.
    pub type_: String,
    /// Optional format.
    pub format: String,
    /// Description shown in `kubectl explain`-like tools.
    pub description: String,
    /// Priority: 0 shows in `get`, higher only in `-o wide`.
    pub priority: i32,
    /// JSONPath into the object.
    pub json_path: String,
}

impl Resource {
    /// `apiVersion` as written in objects: `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `group/version` path prefix: `/api/v1` or `/apis/apps/v1`.
    pub fn path_prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// Kind of the list object, e.g. `DeploymentList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The subresource with this URL segment, if served.
    pub fn subresource(&self, name: &str) -> Option<&Subresource> {
        self.subresources.iter().find(|s| s.name() == name)
    }

    /// The scale paths, if `/scale` is served.
    pub fn scale(&self) -> Option<&ScalePaths> {
        self.subresources.iter().find_map(|s| match s {
            Subresource::Scale(p) => Some(p),
            _ => None,
        })
    }

    /// Whether `/status` is served (and so the main resource ignores status).
    pub fn has_status(&self) -> bool {
        self.subresources.contains(&Subresource::Status)
    }

    /// Storage key prefix shared by all versions of this resource, ending in `/`.
    ///
    /// Keys do not include the version: objects are stored once and served
    /// in every version of the resource (all of Skiff's built-ins have one).
    pub fn key_prefix(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        format!("/registry/{group}/{}/", self.plural)
    }

    /// Storage key prefix of one namespace (or of everything for cluster scope).
    pub fn collection_key(&self, namespace: Option<&str>) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{}{ns}/", self.key_prefix()),
            _ => self.key_prefix(),
        }
    }

    /// Storage key of one object.
    pub fn object_key(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}{name}", self.collection_key(namespace))
    }
}

/// The set of served resources, indexed for routing and discovery.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    resources: BTreeMap<(String, String, String), Arc<Resource>>,
}

/// A group with the versions it serves, in preference order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupVersions {
    /// Group name (empty for core).
    pub group: String,
    /// Versions, preferred first.
    pub versions: Vec<String>,
}

impl Registry {
    /// The registry of every built-in resource Skiff serves.
    pub fn builtin() -> Self {
        let mut reg = Registry::default();
        for b in BUILTINS {
            reg.insert(b.to_resource());
        }
        reg
    }

    /// Adds or replaces a resource.
    pub fn insert(&mut self, r: Resource) {
        self.resources.insert(
            (r.group.clone(), r.version.clone(), r.plural.clone()),
            Arc::new(r),
        );
    }

    /// Removes every version of a resource that a CRD named `crd` added.
    pub fn remove_crd(&mut self, crd: &str) {
        self.resources
            .retain(|_, r| !matches!(&r.origin, Origin::Custom { crd: c, .. } if c == crd));
    }

    /// Looks a resource up by URL coordinates.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<Resource>> {
        self.resources
            .get(&(group.to_owned(), version.to_owned(), plural.to_owned()))
            .cloned()
    }

    /// Looks a resource up by `apiVersion` and `kind`.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<Resource>> {
        let (group, version) = split_api_version(api_version);
        self.resources
            .values()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
            .cloned()
    }

    /// All resources of one group/version, in plural order.
    pub fn group_version(&self, group: &str, version: &str) -> Vec<Arc<Resource>> {
        self.resources
            .values()
            .filter(|r| r.group == group && r.version == version)
            .cloned()
            .collect()
    }

    /// Every resource.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Resource>> {
        self.resources.values()
    }

    /// Groups and their versions (core first, then by name), as discovery
    /// lists them. Versions sort by Kubernetes' version priority.
    pub fn groups(&self) -> Vec<GroupVersions> {
        let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for r in self.resources.values() {
            let v = groups.entry(&r.group).or_default();
            if !v.contains(&r.version) {
                v.push(r.version.clone());
            }
        }
        groups
            .into_iter()
            .map(|(g, mut versions)| {
                versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
                GroupVersions {
                    group: g.to_owned(),
                    versions,
                }
            })
            .collect()
    }
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// Kubernetes' version priority: GA > beta > alpha, higher numbers first,
/// anything else last (`v1` > `v1beta2` > `v1beta1` > `v1alpha1` > `foo`).
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u32>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0);
    }
    for (prefix, rank) in [("beta", 2), ("alpha", 1)] {
        if let Some(Ok(minor)) = tail.strip_prefix(prefix).map(str::parse::<u32>) {
            return (rank, major, minor);
        }
    }
    (0, 0, 0)
}

/// A compact description of a built-in resource.
struct Builtin {
    gv: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    sub: &'static [Sub],
}

/// Subresource shorthands for the built-in table.
#[derive(Clone, Copy)]
enum Sub {
    Status,
    Scale,
    Binding,
    Log,
    Eviction,
    Exec,
    Attach,
    PortForward,
    Finalize,
}

impl Builtin {
    fn to_resource(&self) -> Resource {
        let (group, version) = split_api_version(self.gv);
        let subresources = self
            .sub
            .iter()
            .map(|s| match s {
                Sub::Status => Subresource::Status,
                Sub::Scale => Subresource::Scale(ScalePaths {
                    spec_replicas: ".spec.replicas".into(),
                    status_replicas: ".status.replicas".into(),
                    label_selector: Some(".status.selector".into()),
                }),
                Sub::Binding => Subresource::Binding,
                Sub::Log => Subresource::Log,
                Sub::Eviction => Subresource::Eviction,
                Sub::Exec => Subresource::Exec,
                Sub::Attach => Subresource::Attach,
                Sub::PortForward => Subresource::PortForward,
                Sub::Finalize => Subresource::Finalize,
            })
            .collect();
        let verbs = match self.kind {
            // Bindings are create-only in Kubernetes too.
            "Binding" => vec!["create".to_owned()],
            _ => STANDARD_VERBS.iter().map(|v| (*v).to_owned()).collect(),
        };
        Resource {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: self.kind.to_owned(),
            plural: self.plural.to_owned(),
            singular: self.kind.to_ascii_lowercase(),
            namespaced: self.namespaced,
            short_names: self.short.iter().map(|s| (*s).to_owned()).collect(),
            categories: if self.all {
                vec!["all".to_owned()]
            } else {
                vec![]
            },
            subresources,
            verbs,
            origin: Origin::Builtin,
            printer_columns: vec![],
            storage_version: true,
        }
    }
}

macro_rules! builtin {
    ($gv:literal, $kind:literal, $plural:literal, $ns:literal, [$($short:literal),*], $all:literal, [$($sub:ident),*]) => {
        Builtin { gv: $gv, kind: $kind, plural: $plural, namespaced: $ns, short: &[$($short),*], all: $all, sub: &[$(Sub::$sub),*] }
    };
}

/// Every built-in resource: apiVersion, kind, plural, namespaced, short names,
/// in category `all`, subresources.
const BUILTINS: &[Builtin] = &[
    builtin!(
        "v1",
        "Namespace",
        "namespaces",
        false,
        ["ns"],
        false,
        [Status, Finalize]
    ),
    builtin!(
        "v1",
        "Pod",
        "pods",
        true,
        ["po"],
        true,
        [Status, Binding, Log, Eviction, Exec, Attach, PortForward]
    ),
    builtin!("v1", "Service", "services", true, ["svc"], true, [Status]),
    builtin!("v1", "Endpoints", "endpoints", true, ["ep"], false, []),
    builtin!("v1", "ConfigMap", "configmaps", true, ["cm"], false, []),
    builtin!("v1", "Secret", "secrets", true, [], false, []),
    builtin!(
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        true,
        ["sa"],
        false,
        []
    ),
    builtin!("v1", "Node", "nodes", false, ["no"], false, [Status]),
    builtin!("v1", "Event", "events", true, ["ev"], false, []),
    builtin!(
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        false,
        ["pv"],
        false,
        [Status]
    ),
    builtin!(
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
        ["pvc"],
        false,
        [Status]
    ),
    builtin!(
        "v1",
        "ResourceQuota",
        "resourcequotas",
        true,
        ["quota"],
        false,
        [Status]
    ),
    builtin!(
        "v1",
        "LimitRange",
        "limitranges",
        true,
        ["limits"],
        false,
        []
    ),
    builtin!(
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        true,
        ["rc"],
        true,
        [Status, Scale]
    ),
    builtin!("v1", "PodTemplate", "podtemplates", true, [], false, []),
    builtin!(
        "apps/v1",
        "Deployment",
        "deployments",
        true,
        ["deploy"],
        true,
        [Status, Scale]
    ),
    builtin!(
        "apps/v1",
        "ReplicaSet",
        "replicasets",
        true,
        ["rs"],
        true,
        [Status, Scale]
    ),
    builtin!(
        "apps/v1",
        "StatefulSet",
        "statefulsets",
        true,
        ["sts"],
        true,
        [Status, Scale]
    ),
    builtin!(
        "apps/v1",
        "DaemonSet",
        "daemonsets",
        true,
        ["ds"],
        true,
        [Status]
    ),
    builtin!(
        "apps/v1",
        "ControllerRevision",
        "controllerrevisions",
        true,
        [],
        false,
        []
    ),
    builtin!("batch/v1", "Job", "jobs", true, [], true, [Status]),
    builtin!(
        "batch/v1",
        "CronJob",
        "cronjobs",
        true,
        ["cj"],
        true,
        [Status]
    ),
    builtin!(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
        ["hpa"],
        true,
        [Status]
    ),
    builtin!(
        "networking.k8s.io/v1",
        "Ingress",
        "ingresses",
        true,
        ["ing"],
        false,
        [Status]
    ),
    builtin!(
        "networking.k8s.io/v1",
        "IngressClass",
        "ingressclasses",
        false,
        [],
        false,
        []
    ),
    builtin!(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
        ["netpol"],
        false,
        []
    ),
    builtin!(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        "endpointslices",
        true,
        [],
        false,
        []
    ),
    builtin!(
        "coordination.k8s.io/v1",
        "Lease",
        "leases",
        true,
        [],
        false,
        []
    ),
    builtin!(
        "node.k8s.io/v1",
        "RuntimeClass",
        "runtimeclasses",
        false,
        [],
        false,
        []
    ),
    builtin!(
        "storage.k8s.io/v1",
        "StorageClass",
        "storageclasses",
        false,
        ["sc"],
        false,
        []
    ),
    builtin!(
        "rbac.authorization.k8s.io/v1",
        "Role",
        "roles",
        true,
        [],
        false,
        []
    ),
    builtin!(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "rolebindings",
        true,
        [],
        false,
        []
    ),
    builtin!(
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        "clusterroles",
        false,
        [],
        false,
        []
    ),
    builtin!(
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
        [],
        false,
        []
    ),
    builtin!(
        "events.k8s.io/v1",
        "Event",
        "events",
        true,
        ["ev"],
        false,
        []
    ),
    builtin!(
        "policy/v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
        ["pdb"],
        false,
        [Status]
    ),
    builtin!(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        ["crd", "crds"],
        false,
        [Status]
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_resolve_by_path_and_kind() {
        let reg = Registry::builtin();
        let deploy = reg.get("apps", "v1", "deployments").expect("deployments");
        assert_eq!(deploy.kind, "Deployment");
        assert_eq!(deploy.path_prefix(), "/apis/apps/v1");
        assert!(deploy.scale().is_some());
        assert_eq!(
            deploy.object_key(Some("default"), "web"),
            "/registry/apps/deployments/default/web"
        );
        let ns = reg.by_kind("v1", "Namespace").expect("namespaces");
        assert_eq!(
            ns.object_key(None, "kube-system"),
            "/registry/core/namespaces/kube-system"
        );
        assert!(reg.get("apps", "v1", "nope").is_none());
    }

    #[test]
    fn version_priority_orders_like_kubernetes() {
        let mut v = vec!["v1alpha1", "foo", "v2", "v1beta2", "v1", "v1beta1", "v10"];
        v.sort_by_key(|x| std::cmp::Reverse(version_priority(x)));
        assert_eq!(
            v,
            ["v10", "v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]
        );
    }

    #[test]
    fn groups_list_core_first_and_preferred_version_first() {
        let groups = Registry::builtin().groups();
        assert_eq!(groups[0].group, "");
        let apps = groups.iter().find(|g| g.group == "apps").expect("apps");
        assert_eq!(apps.versions, ["v1"]);
    }
}
