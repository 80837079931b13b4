//! Schemas of the built-in kinds, generated from `k8s-openapi`'s
//! `schemars::JsonSchema` implementations.
//!
//! `k8s-openapi` generates those implementations from Kubernetes' own
//! `swagger.json`: schema names are Kubernetes' definition names
//! (`io.k8s.api.apps.v1.Deployment`) and every property keeps its
//! description. What they lack is the vendor extensions: the
//! `x-kubernetes-group-version-kind` of each kind is added from the table
//! below, the patch strategies from [`PATCH_STRATEGIES`], server-side
//! apply's list and map types from [`LIST_TYPES`] and its neighbours.

use std::sync::OnceLock;

use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use k8s_openapi::api;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;

/// Definitions in Swagger 2.0 form (`#/definitions/...` refs, descriptions
/// beside `$ref`), and which definition each built-in kind uses.
pub(super) struct Builtins {
    /// Every definition, by Kubernetes name.
    pub defs: Map<String, Value>,
    /// (group, version, kind) → definition name.
    pub kinds: Vec<((&'static str, &'static str, &'static str), String)>,
}

impl Builtins {
    /// The definition name of a built-in kind.
    pub fn definition(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.kinds
            .iter()
            .find(|((g, v, k), _)| *g == group && *v == version && *k == kind)
            .map(|(_, name)| name.as_str())
    }
}

/// The reference prefix of the canonical (Swagger 2.0) definitions.
pub(super) const V2_PREFIX: &str = "#/definitions/";

/// Meta definitions every group-version document needs.
pub(super) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(super) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(super) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub(super) const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
pub(super) const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// The built-in definitions, generated once per process (they depend on
/// nothing but the compiled-in types).
pub(super) fn builtins() -> &'static Builtins {
    static CELL: OnceLock<Builtins> = OnceLock::new();
    CELL.get_or_init(generate)
}

/// Maps every built-in (group, version, kind) to its `k8s-openapi` type.
/// Kinds the registry does not serve are harmless here; a registry kind
/// missing here fails `openapi::tests::every_builtin_kind_has_a_schema`.
macro_rules! builtin_types {
    ($( $group:literal $version:literal $kind:literal => $ty:ty, )*) => {
        fn register_kinds(
            generator: &mut SchemaGenerator,
        ) -> Vec<((&'static str, &'static str, &'static str), String)> {
            vec![$(
                {
                    generator.subschema_for::<$ty>();
                    (($group, $version, $kind), <$ty as JsonSchema>::schema_name().into_owned())
                },
            )*]
        }
    };
}

builtin_types! {
    "" "v1" "Binding" => api::core::v1::Binding,
    "" "v1" "ComponentStatus" => api::core::v1::ComponentStatus,
    "" "v1" "ConfigMap" => api::core::v1::ConfigMap,
    "" "v1" "Endpoints" => api::core::v1::Endpoints,
    "" "v1" "Event" => api::core::v1::Event,
    "" "v1" "LimitRange" => api::core::v1::LimitRange,
    "" "v1" "Namespace" => api::core::v1::Namespace,
    "" "v1" "Node" => api::core::v1::Node,
    "" "v1" "PersistentVolume" => api::core::v1::PersistentVolume,
    "" "v1" "PersistentVolumeClaim" => api::core::v1::PersistentVolumeClaim,
    "" "v1" "Pod" => api::core::v1::Pod,
    "" "v1" "PodTemplate" => api::core::v1::PodTemplate,
    "" "v1" "ReplicationController" => api::core::v1::ReplicationController,
    "" "v1" "ResourceQuota" => api::core::v1::ResourceQuota,
    "" "v1" "Secret" => api::core::v1::Secret,
    "" "v1" "Service" => api::core::v1::Service,
    "" "v1" "ServiceAccount" => api::core::v1::ServiceAccount,
    "admissionregistration.k8s.io" "v1" "MutatingWebhookConfiguration" => api::admissionregistration::v1::MutatingWebhookConfiguration,
    "admissionregistration.k8s.io" "v1" "ValidatingAdmissionPolicy" => api::admissionregistration::v1::ValidatingAdmissionPolicy,
    "admissionregistration.k8s.io" "v1" "ValidatingAdmissionPolicyBinding" => api::admissionregistration::v1::ValidatingAdmissionPolicyBinding,
    "admissionregistration.k8s.io" "v1" "ValidatingWebhookConfiguration" => api::admissionregistration::v1::ValidatingWebhookConfiguration,
    "apiextensions.k8s.io" "v1" "CustomResourceDefinition" => apiextensions::CustomResourceDefinition,
    "apps" "v1" "ControllerRevision" => api::apps::v1::ControllerRevision,
    "apps" "v1" "DaemonSet" => api::apps::v1::DaemonSet,
    "apps" "v1" "Deployment" => api::apps::v1::Deployment,
    "apps" "v1" "ReplicaSet" => api::apps::v1::ReplicaSet,
    "apps" "v1" "StatefulSet" => api::apps::v1::StatefulSet,
    "authentication.k8s.io" "v1" "TokenReview" => api::authentication::v1::TokenReview,
    "authorization.k8s.io" "v1" "LocalSubjectAccessReview" => api::authorization::v1::LocalSubjectAccessReview,
    "authorization.k8s.io" "v1" "SelfSubjectAccessReview" => api::authorization::v1::SelfSubjectAccessReview,
    "authorization.k8s.io" "v1" "SubjectAccessReview" => api::authorization::v1::SubjectAccessReview,
    "autoscaling" "v1" "HorizontalPodAutoscaler" => api::autoscaling::v1::HorizontalPodAutoscaler,
    "autoscaling" "v1" "Scale" => api::autoscaling::v1::Scale,
    "autoscaling" "v2" "HorizontalPodAutoscaler" => api::autoscaling::v2::HorizontalPodAutoscaler,
    "batch" "v1" "CronJob" => api::batch::v1::CronJob,
    "batch" "v1" "Job" => api::batch::v1::Job,
    "certificates.k8s.io" "v1" "CertificateSigningRequest" => api::certificates::v1::CertificateSigningRequest,
    "coordination.k8s.io" "v1" "Lease" => api::coordination::v1::Lease,
    "discovery.k8s.io" "v1" "EndpointSlice" => api::discovery::v1::EndpointSlice,
    "events.k8s.io" "v1" "Event" => api::events::v1::Event,
    "networking.k8s.io" "v1" "Ingress" => api::networking::v1::Ingress,
    "networking.k8s.io" "v1" "IngressClass" => api::networking::v1::IngressClass,
    "networking.k8s.io" "v1" "NetworkPolicy" => api::networking::v1::NetworkPolicy,
    "node.k8s.io" "v1" "RuntimeClass" => api::node::v1::RuntimeClass,
    "policy" "v1" "Eviction" => api::policy::v1::Eviction,
    "policy" "v1" "PodDisruptionBudget" => api::policy::v1::PodDisruptionBudget,
    "rbac.authorization.k8s.io" "v1" "ClusterRole" => api::rbac::v1::ClusterRole,
    "rbac.authorization.k8s.io" "v1" "ClusterRoleBinding" => api::rbac::v1::ClusterRoleBinding,
    "rbac.authorization.k8s.io" "v1" "Role" => api::rbac::v1::Role,
    "rbac.authorization.k8s.io" "v1" "RoleBinding" => api::rbac::v1::RoleBinding,
    "scheduling.k8s.io" "v1" "PriorityClass" => api::scheduling::v1::PriorityClass,
    "storage.k8s.io" "v1" "CSIDriver" => api::storage::v1::CSIDriver,
    "storage.k8s.io" "v1" "CSINode" => api::storage::v1::CSINode,
    "storage.k8s.io" "v1" "StorageClass" => api::storage::v1::StorageClass,
    "storage.k8s.io" "v1" "VolumeAttachment" => api::storage::v1::VolumeAttachment,
}

/// `x-kubernetes-patch-merge-key` and `x-kubernetes-patch-strategy` of the
/// GA definitions, as Kubernetes v1.33's OpenAPI publishes them (its Go
/// struct tags `patchMergeKey`/`patchStrategy`): (definition, property,
/// merge key or "", strategy). `kubectl apply` computes strategic merge
/// patches from these, so a missing entry makes it replace a whole list.
pub const PATCH_STRATEGIES: &[(&str, &str, &str, &str)] = &[
    (
        "io.k8s.api.admissionregistration.v1.MutatingWebhook",
        "matchConditions",
        "name",
        "merge",
    ),
    (
        "io.k8s.api.admissionregistration.v1.MutatingWebhookConfiguration",
        "webhooks",
        "name",
        "merge",
    ),
    (
        "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicySpec",
        "matchConditions",
        "name",
        "merge",
    ),
    (
        "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicySpec",
        "variables",
        "name",
        "merge",
    ),
    (
        "io.k8s.api.admissionregistration.v1.ValidatingWebhook",
        "matchConditions",
        "name",
        "merge",
    ),
    (
        "io.k8s.api.admissionregistration.v1.ValidatingWebhookConfiguration",
        "webhooks",
        "name",
        "merge",
    ),
    (
        "io.k8s.api.apps.v1.DaemonSetStatus",
        "conditions",
        "type",
        "merge",
    ),
    (
        "io.k8s.api.apps.v1.DeploymentSpec",
        "strategy",
        "",
        "retainKeys",
    ),
    (
        "io.k8s.api.apps.v1.DeploymentStatus",
        "conditions",
        "type",
        "merge",
    ),
    (
        "io.k8s.api.apps.v1.ReplicaSetStatus",
        "conditions",
        "type",
        "merge",
    ),
    (
        "io.k8s.api.apps.v1.StatefulSetStatus",
        "conditions",
        "type",
        "merge",
    ),
    (
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus",
        "conditions",
        "type",
        "merge",
    ),
    (
        "io.k8s.api.batch.v1.JobStatus",
        "conditions",
        "type",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.ComponentStatus",
        "conditions",
        "type",
        "merge",
    ),
    ("io.k8s.api.core.v1.Container", "env", "name", "merge"),
    (
        "io.k8s.api.core.v1.Container",
        "ports",
        "containerPort",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.Container",
        "volumeDevices",
        "devicePath",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.Container",
        "volumeMounts",
        "mountPath",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.ContainerStatus",
        "allocatedResourcesStatus",
        "name",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.ContainerStatus",
        "volumeMounts",
        "mountPath",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "env",
        "name",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "ports",
        "containerPort",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "volumeDevices",
        "devicePath",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "volumeMounts",
        "mountPath",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.NamespaceStatus",
        "conditions",
        "type",
        "merge",
    ),
    ("io.k8s.api.core.v1.NodeSpec", "podCIDRs", "", "merge"),
    (
        "io.k8s.api.core.v1.NodeStatus",
        "addresses",
        "type",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.NodeStatus",
        "conditions",
        "type",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeClaimStatus",
        "conditions",
        "type",
        "merge",
    ),
    ("io.k8s.api.core.v1.PodSpec", "containers", "name", "merge"),
    (
        "io.k8s.api.core.v1.PodSpec",
        "ephemeralContainers",
        "name",
        "merge",
    ),
    ("io.k8s.api.core.v1.PodSpec", "hostAliases", "ip", "merge"),
    (
        "io.k8s.api.core.v1.PodSpec",
        "imagePullSecrets",
        "name",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "initContainers",
        "name",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "resourceClaims",
        "name",
        "merge,retainKeys",
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "schedulingGates",
        "name",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "topologySpreadConstraints",
        "topologyKey",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "volumes",
        "name",
        "merge,retainKeys",
    ),
    (
        "io.k8s.api.core.v1.PodStatus",
        "conditions",
        "type",
        "merge",
    ),
    ("io.k8s.api.core.v1.PodStatus", "hostIPs", "ip", "merge"),
    ("io.k8s.api.core.v1.PodStatus", "podIPs", "ip", "merge"),
    (
        "io.k8s.api.core.v1.PodStatus",
        "resourceClaimStatuses",
        "name",
        "merge,retainKeys",
    ),
    (
        "io.k8s.api.core.v1.ReplicationControllerStatus",
        "conditions",
        "type",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.ServiceAccount",
        "secrets",
        "name",
        "merge",
    ),
    ("io.k8s.api.core.v1.ServiceSpec", "ports", "port", "merge"),
    (
        "io.k8s.api.core.v1.ServiceStatus",
        "conditions",
        "type",
        "merge",
    ),
    (
        "io.k8s.api.policy.v1.PodDisruptionBudgetSpec",
        "selector",
        "",
        "replace",
    ),
    (
        "io.k8s.api.policy.v1.PodDisruptionBudgetStatus",
        "conditions",
        "type",
        "merge",
    ),
    (
        "io.k8s.api.storage.v1.CSINodeSpec",
        "drivers",
        "name",
        "merge",
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps",
        "x-kubernetes-validations",
        "rule",
        "merge",
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "finalizers",
        "",
        "merge",
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "ownerReferences",
        "uid",
        "merge",
    ),
];

/// Server-side apply's list and map semantics where they differ from what
/// the patch strategy implies (Kubernetes' `+listType`, `+listMapKey` and
/// `+structType`/`+mapType` markers, published as `x-kubernetes-list-type`,
/// `x-kubernetes-list-map-keys` and `x-kubernetes-map-type`). Everywhere
/// else a list with the merge strategy and a merge key is a map keyed by it,
/// one with the merge strategy and no key a set, and any other list atomic —
/// as structured-merge-diff reads an OpenAPI schema. (definition, property,
/// list type, keys).
pub const LIST_TYPES: &[(&str, &str, &str, &[&str])] = &[
    (
        "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpec",
        "validationActions",
        "set",
        &[],
    ),
    (
        "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicyStatus",
        "conditions",
        "map",
        &["type"],
    ),
    ("io.k8s.api.batch.v1.JobStatus", "conditions", "atomic", &[]),
    (
        "io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement",
        "values",
        "set",
        &[],
    ),
    (
        "io.k8s.api.batch.v1.UncountedTerminatedPods",
        "failed",
        "set",
        &[],
    ),
    (
        "io.k8s.api.batch.v1.UncountedTerminatedPods",
        "succeeded",
        "set",
        &[],
    ),
    (
        "io.k8s.api.certificates.v1.CertificateSigningRequestStatus",
        "conditions",
        "map",
        &["type"],
    ),
    (
        "io.k8s.api.core.v1.Container",
        "ports",
        "map",
        &["containerPort", "protocol"],
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "ports",
        "map",
        &["containerPort", "protocol"],
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "topologySpreadConstraints",
        "map",
        &["topologyKey", "whenUnsatisfiable"],
    ),
    ("io.k8s.api.core.v1.PodStatus", "hostIPs", "atomic", &[]),
    (
        "io.k8s.api.core.v1.ResourceRequirements",
        "claims",
        "map",
        &["name"],
    ),
    (
        "io.k8s.api.core.v1.ResourceStatus",
        "resources",
        "map",
        &["resourceID"],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "ports",
        "map",
        &["port", "protocol"],
    ),
    ("io.k8s.api.discovery.v1.Endpoint", "addresses", "set", &[]),
    (
        "io.k8s.api.flowcontrol.v1.FlowSchemaStatus",
        "conditions",
        "map",
        &["type"],
    ),
    (
        "io.k8s.api.flowcontrol.v1.NonResourcePolicyRule",
        "nonResourceURLs",
        "set",
        &[],
    ),
    (
        "io.k8s.api.flowcontrol.v1.NonResourcePolicyRule",
        "verbs",
        "set",
        &[],
    ),
    (
        "io.k8s.api.flowcontrol.v1.PriorityLevelConfigurationStatus",
        "conditions",
        "map",
        &["type"],
    ),
    (
        "io.k8s.api.flowcontrol.v1.ResourcePolicyRule",
        "apiGroups",
        "set",
        &[],
    ),
    (
        "io.k8s.api.flowcontrol.v1.ResourcePolicyRule",
        "namespaces",
        "set",
        &[],
    ),
    (
        "io.k8s.api.flowcontrol.v1.ResourcePolicyRule",
        "resources",
        "set",
        &[],
    ),
    (
        "io.k8s.api.flowcontrol.v1.ResourcePolicyRule",
        "verbs",
        "set",
        &[],
    ),
    (
        "io.k8s.api.networking.v1.ServiceCIDRStatus",
        "conditions",
        "map",
        &["type"],
    ),
    (
        "io.k8s.api.storage.v1.CSIDriverSpec",
        "volumeLifecycleModes",
        "set",
        &[],
    ),
];

/// Definitions that server-side apply treats as one value (`+structType=atomic`):
/// an applier owns the whole struct, never some of its fields.
pub const ATOMIC_STRUCTS: &[&str] = &[
    "io.k8s.api.admissionregistration.v1.MatchResources",
    "io.k8s.api.admissionregistration.v1.NamedRuleWithOperations",
    "io.k8s.api.admissionregistration.v1.ParamKind",
    "io.k8s.api.admissionregistration.v1.ParamRef",
    "io.k8s.api.admissionregistration.v1.Variable",
    "io.k8s.api.autoscaling.v1.CrossVersionObjectReference",
    "io.k8s.api.core.v1.ConfigMapKeySelector",
    "io.k8s.api.core.v1.EndpointAddress",
    "io.k8s.api.core.v1.EndpointPort",
    "io.k8s.api.core.v1.LocalObjectReference",
    "io.k8s.api.core.v1.NodeSelector",
    "io.k8s.api.core.v1.NodeSelectorTerm",
    "io.k8s.api.core.v1.ObjectFieldSelector",
    "io.k8s.api.core.v1.ObjectReference",
    "io.k8s.api.core.v1.ResourceFieldSelector",
    "io.k8s.api.core.v1.ScopeSelector",
    "io.k8s.api.core.v1.SecretKeySelector",
    "io.k8s.api.core.v1.SecretReference",
    "io.k8s.api.core.v1.TopologySelectorTerm",
    "io.k8s.api.core.v1.TypedLocalObjectReference",
    "io.k8s.api.discovery.v1.EndpointPort",
    "io.k8s.api.networking.v1.ServiceBackendPort",
    "io.k8s.api.rbac.v1.RoleRef",
    "io.k8s.api.rbac.v1.Subject",
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
    "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference",
];

/// Map-valued properties that are atomic (`+mapType=atomic`).
pub const ATOMIC_MAPS: &[(&str, &str)] = &[
    ("io.k8s.api.core.v1.PodSpec", "nodeSelector"),
    ("io.k8s.api.core.v1.ReplicationControllerSpec", "selector"),
    ("io.k8s.api.core.v1.ServiceSpec", "selector"),
    ("io.k8s.api.node.v1.Scheduling", "nodeSelector"),
];

/// Defaults of list-map key fields that clients may omit: an applied
/// `{containerPort: 80}` is the same element as a stored
/// `{containerPort: 80, protocol: TCP}`. (definition, property, default).
pub const KEY_DEFAULTS: &[(&str, &str, &str)] = &[
    ("io.k8s.api.core.v1.ContainerPort", "protocol", "TCP"),
    ("io.k8s.api.core.v1.ServicePort", "protocol", "TCP"),
];

/// The GroupVersionKind extension value (a list, as on definitions).
pub(super) fn gvk_list(group: &str, version: &str, kind: &str) -> Value {
    json!([{"group": group, "kind": kind, "version": version}])
}

fn generate() -> Builtins {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/definitions".into();
        s.meta_schema = None;
        s.transforms.clear();
    });
    let mut generator = settings.into_generator();
    let kinds = register_kinds(&mut generator);
    generator.subschema_for::<meta::DeleteOptions>();
    generator.subschema_for::<meta::Status>();
    generator.subschema_for::<meta::Patch>();
    generator.subschema_for::<meta::ListMeta>();
    let mut defs = generator.take_definitions(false);

    for ((group, version, kind), name) in &kinds {
        if let Some(Value::Object(def)) = defs.get_mut(name) {
            def.insert(
                "x-kubernetes-group-version-kind".into(),
                gvk_list(group, version, kind),
            );
        }
        let list = list_definition(name, group, version, kind);
        defs.insert(format!("{name}List"), list);
    }
    if let Some(Value::Object(def)) = defs.get_mut(STATUS) {
        def.insert(
            "x-kubernetes-group-version-kind".into(),
            gvk_list("", "v1", "Status"),
        );
    }
    for (def, prop, merge_key, strategy) in PATCH_STRATEGIES {
        let Some(p) = defs
            .get_mut(*def)
            .and_then(|d| d.get_mut("properties"))
            .and_then(|p| p.get_mut(*prop))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if !merge_key.is_empty() {
            p.insert(
                "x-kubernetes-patch-merge-key".into(),
                Value::from(*merge_key),
            );
        }
        p.insert("x-kubernetes-patch-strategy".into(), Value::from(*strategy));
    }
    add_apply_semantics(&mut defs);
    Builtins { defs, kinds }
}

/// Publishes [`LIST_TYPES`], [`ATOMIC_STRUCTS`], [`ATOMIC_MAPS`] and
/// [`KEY_DEFAULTS`] as the vendor extensions Kubernetes uses for them.
fn add_apply_semantics(defs: &mut Map<String, Value>) {
    fn prop<'a>(
        defs: &'a mut Map<String, Value>,
        def: &str,
        prop: &str,
    ) -> Option<&'a mut Map<String, Value>> {
        defs.get_mut(def)?
            .get_mut("properties")?
            .get_mut(prop)?
            .as_object_mut()
    }
    for (def, p, list_type, keys) in LIST_TYPES {
        if let Some(p) = prop(defs, def, p) {
            p.insert("x-kubernetes-list-type".into(), Value::from(*list_type));
            if !keys.is_empty() {
                p.insert("x-kubernetes-list-map-keys".into(), json!(keys));
            }
        }
    }
    for def in ATOMIC_STRUCTS {
        if let Some(Value::Object(d)) = defs.get_mut(*def) {
            d.insert("x-kubernetes-map-type".into(), "atomic".into());
        }
    }
    for (def, p) in ATOMIC_MAPS {
        if let Some(p) = prop(defs, def, p) {
            p.insert("x-kubernetes-map-type".into(), "atomic".into());
        }
    }
    for (def, p, default) in KEY_DEFAULTS {
        if let Some(p) = prop(defs, def, p) {
            p.insert("default".into(), Value::from(*default));
        }
    }
}

/// `<Kind>List`, as Kubernetes defines every list kind.
pub(super) fn list_definition(item_def: &str, group: &str, version: &str, kind: &str) -> Value {
    json!({
        "description": format!("{kind}List is a list of {kind} objects."),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {
                "description": API_VERSION_DESCRIPTION,
                "type": "string",
            },
            "items": {
                "description": format!("List of {kind} objects."),
                "type": "array",
                "items": {"$ref": format!("{V2_PREFIX}{item_def}")},
            },
            "kind": {
                "description": KIND_DESCRIPTION,
                "type": "string",
            },
            "metadata": {
                "$ref": format!("{V2_PREFIX}{LIST_META}"),
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            },
        },
        "x-kubernetes-group-version-kind": gvk_list(group, version, &format!("{kind}List")),
    })
}

/// Kubernetes' description of `apiVersion` on every object.
pub(super) const API_VERSION_DESCRIPTION: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";

/// Kubernetes' description of `kind` on every object.
pub(super) const KIND_DESCRIPTION: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// Kubernetes' description of `metadata` on every object.
pub(super) const METADATA_DESCRIPTION: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
