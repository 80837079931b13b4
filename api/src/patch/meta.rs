//! Where lists merge: the `patchStrategy`/`patchMergeKey` struct tags of the
//! built-in types (k8s.io/api v0.33), as a small static tree.

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

/// One tagged or nested field of a type.
#[derive(Debug)]
struct Field {
    name: &'static str,
    strategy: ListStrategy,
    merge_key: Option<&'static str>,
    /// The field's type (for lists, the element type), if it has tagged fields.
    ty: Option<&'static Type>,
}

/// The fields of a type that matter to strategic merge.
#[derive(Debug)]
struct Type {
    fields: &'static [Field],
}

const fn by_key(name: &'static str, key: &'static str, ty: Option<&'static Type>) -> Field {
    Field {
        name,
        strategy: ListStrategy::Merge,
        merge_key: Some(key),
        ty,
    }
}

const fn set(name: &'static str) -> Field {
    Field {
        name,
        strategy: ListStrategy::Merge,
        merge_key: None,
        ty: None,
    }
}

const fn nested(name: &'static str, ty: &'static Type) -> Field {
    Field {
        name,
        strategy: ListStrategy::Default,
        merge_key: None,
        ty: Some(ty),
    }
}

const fn replace(name: &'static str) -> Field {
    Field {
        name,
        strategy: ListStrategy::Replace,
        merge_key: None,
        ty: None,
    }
}

const OBJECT_META: Type = Type {
    fields: &[set("finalizers"), by_key("ownerReferences", "uid", None)],
};

const CONTAINER: Type = Type {
    fields: &[
        by_key("ports", "containerPort", None),
        by_key("env", "name", None),
        by_key("volumeMounts", "mountPath", None),
        by_key("volumeDevices", "devicePath", None),
    ],
};

const POD_SPEC: Type = Type {
    fields: &[
        by_key("volumes", "name", None),
        by_key("initContainers", "name", Some(&CONTAINER)),
        by_key("containers", "name", Some(&CONTAINER)),
        by_key("ephemeralContainers", "name", Some(&CONTAINER)),
        by_key("imagePullSecrets", "name", None),
        by_key("hostAliases", "ip", None),
        by_key("topologySpreadConstraints", "topologyKey", None),
        by_key("schedulingGates", "name", None),
        by_key("resourceClaims", "name", None),
    ],
};

const POD_STATUS: Type = Type {
    fields: &[
        by_key("conditions", "type", None),
        by_key("hostIPs", "ip", None),
        by_key("podIPs", "ip", None),
        by_key("resourceClaimStatuses", "name", None),
    ],
};

const POD_TEMPLATE_SPEC: Type = Type {
    fields: &[nested("metadata", &OBJECT_META), nested("spec", &POD_SPEC)],
};

/// A status whose `conditions` merge by `type`.
const CONDITIONS: Type = Type {
    fields: &[by_key("conditions", "type", None)],
};

/// A spec holding a pod `template`.
const WITH_TEMPLATE: Type = Type {
    fields: &[nested("template", &POD_TEMPLATE_SPEC)],
};

const JOB_TEMPLATE_SPEC: Type = Type {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &WITH_TEMPLATE),
    ],
};

const WEBHOOK: Type = Type {
    fields: &[by_key("matchConditions", "name", None)],
};

/// Any kind: only ObjectMeta is tagged.
const GENERIC: Type = Type {
    fields: &[nested("metadata", &OBJECT_META)],
};

const POD: Type = Type {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &POD_SPEC),
        nested("status", &POD_STATUS),
    ],
};

const POD_TEMPLATE: Type = Type {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("template", &POD_TEMPLATE_SPEC),
    ],
};

/// Deployment, ReplicaSet, StatefulSet, DaemonSet, ReplicationController, Job.
const WORKLOAD: Type = Type {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &WITH_TEMPLATE),
        nested("status", &CONDITIONS),
    ],
};

const CRON_JOB: Type = Type {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested(
            "spec",
            &Type {
                fields: &[nested("jobTemplate", &JOB_TEMPLATE_SPEC)],
            },
        ),
    ],
};

const SERVICE: Type = Type {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested(
            "spec",
            &Type {
                fields: &[by_key("ports", "port", None)],
            },
        ),
        nested("status", &CONDITIONS),
    ],
};

const SERVICE_ACCOUNT: Type = Type {
    fields: &[
        nested("metadata", &OBJECT_META),
        by_key("secrets", "name", None),
    ],
};

const NODE: Type = Type {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested(
            "spec",
            &Type {
                fields: &[set("podCIDRs")],
            },
        ),
        nested(
            "status",
            &Type {
                fields: &[
                    by_key("conditions", "type", None),
                    by_key("addresses", "type", None),
                ],
            },
        ),
    ],
};

/// Namespace, PersistentVolumeClaim, HorizontalPodAutoscaler, FlowSchema, …: status conditions.
const STATUS_CONDITIONS: Type = Type {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("status", &CONDITIONS),
    ],
};

const COMPONENT_STATUS: Type = Type {
    fields: &[
        nested("metadata", &OBJECT_META),
        by_key("conditions", "type", None),
    ],
};

const POD_DISRUPTION_BUDGET: Type = Type {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested(
            "spec",
            &Type {
                fields: &[replace("selector")],
            },
        ),
        nested("status", &CONDITIONS),
    ],
};

const WEBHOOK_CONFIGURATION: Type = Type {
    fields: &[
        nested("metadata", &OBJECT_META),
        by_key("webhooks", "name", Some(&WEBHOOK)),
    ],
};

const VALIDATING_ADMISSION_POLICY: Type = Type {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested(
            "spec",
            &Type {
                fields: &[
                    by_key("matchConditions", "name", None),
                    by_key("variables", "name", None),
                ],
            },
        ),
        nested("status", &CONDITIONS),
    ],
};

const CSI_NODE: Type = Type {
    fields: &[
        nested("metadata", &OBJECT_META),
        nested(
            "spec",
            &Type {
                fields: &[by_key("drivers", "name", None)],
            },
        ),
    ],
};

/// (group, kind) → type, for the kinds with tags beyond ObjectMeta.
const KINDS: &[(&str, &str, &Type)] = &[
    ("", "Pod", &POD),
    ("", "PodTemplate", &POD_TEMPLATE),
    ("", "ReplicationController", &WORKLOAD),
    ("", "Service", &SERVICE),
    ("", "ServiceAccount", &SERVICE_ACCOUNT),
    ("", "Node", &NODE),
    ("", "Namespace", &STATUS_CONDITIONS),
    ("", "PersistentVolumeClaim", &STATUS_CONDITIONS),
    ("", "ComponentStatus", &COMPONENT_STATUS),
    ("apps", "Deployment", &WORKLOAD),
    ("apps", "ReplicaSet", &WORKLOAD),
    ("apps", "StatefulSet", &WORKLOAD),
    ("apps", "DaemonSet", &WORKLOAD),
    ("batch", "Job", &WORKLOAD),
    ("batch", "CronJob", &CRON_JOB),
    ("autoscaling", "HorizontalPodAutoscaler", &STATUS_CONDITIONS),
    ("policy", "PodDisruptionBudget", &POD_DISRUPTION_BUDGET),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
        &WEBHOOK_CONFIGURATION,
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
        &WEBHOOK_CONFIGURATION,
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicy",
        &VALIDATING_ADMISSION_POLICY,
    ),
    (
        "flowcontrol.apiserver.k8s.io",
        "FlowSchema",
        &STATUS_CONDITIONS,
    ),
    (
        "flowcontrol.apiserver.k8s.io",
        "PriorityLevelConfiguration",
        &STATUS_CONDITIONS,
    ),
    ("networking.k8s.io", "ServiceCIDR", &STATUS_CONDITIONS),
    ("storage.k8s.io", "CSINode", &CSI_NODE),
];

/// What the strategic merge walker knows about the value at one path: how
/// its fields are patched. Cheap to copy.
#[derive(Clone, Copy, Debug)]
pub struct PatchMeta {
    ty: Option<&'static Type>,
    /// The field this metadata describes, for error messages.
    name: &'static str,
}

impl PatchMeta {
    /// The metadata of a built-in kind. A kind without tags of its own
    /// (ConfigMap, Secret, Role, …) still gets ObjectMeta's
    /// (`metadata.finalizers` merge, `metadata.ownerReferences` by `uid`);
    /// custom resources should use [`PatchMeta::none`].
    pub fn for_kind(group: &str, kind: &str) -> PatchMeta {
        let ty = KINDS
            .iter()
            .find(|(g, k, _)| *g == group && *k == kind)
            .map_or(&GENERIC, |(_, _, t)| *t);
        PatchMeta {
            ty: Some(ty),
            name: "",
        }
    }

    /// No metadata: every list is replaced, every map merges.
    pub fn none() -> PatchMeta {
        PatchMeta { ty: None, name: "" }
    }

    fn lookup(&self, field: &str) -> Option<&'static Field> {
        self.ty?.fields.iter().find(|f| f.name == field)
    }

    /// The strategy and merge key of a field, and the metadata of its value
    /// (of its elements, for a list).
    pub fn field(&self, field: &str) -> (ListStrategy, Option<&'static str>, PatchMeta) {
        match self.lookup(field) {
            Some(f) => (
                f.strategy,
                f.merge_key,
                PatchMeta {
                    ty: f.ty,
                    name: f.name,
                },
            ),
            None => (
                ListStrategy::Default,
                None,
                PatchMeta { ty: None, name: "" },
            ),
        }
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
