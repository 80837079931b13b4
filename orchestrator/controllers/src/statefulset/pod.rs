//! The pods and claims of one StatefulSet ordinal, named and labelled as
//! Kubernetes names them.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use crate::{history, owner};

/// The pod's own name, as a label (Services may select one pod by it).
pub const POD_NAME: &str = "statefulset.kubernetes.io/pod-name";
/// The pod's ordinal, as a label.
pub const POD_INDEX: &str = "apps.kubernetes.io/pod-index";

/// `<template>-<set>-<ordinal>`: the claim of template `template` for
/// ordinal `i`.
pub fn claim_name(template: &str, set: &str, i: i32) -> String {
    format!("{template}-{set}-{i}")
}

/// The ordinal of pod `pod` of set `set`, if the name has that form.
pub fn ordinal_of(set: &str, pod: &str) -> Option<i32> {
    let rest = pod.strip_prefix(set)?.strip_prefix('-')?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

/// The revision hash a pod was created from.
pub fn revision_of(p: &Pod) -> Option<&str> {
    p.metadata
        .labels
        .as_ref()?
        .get(history::HASH_LABEL)
        .map(String::as_str)
}

/// `maxUnavailable` resolved against `replicas` (a percentage rounds
/// down, as Kubernetes does for StatefulSets), at least 1.
pub fn scaled(v: &IntOrString, replicas: i32) -> i32 {
    let n = match v {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<i64>().ok())
            .map_or(1, |p| {
                i32::try_from(p.saturating_mul(i64::from(replicas)) / 100).unwrap_or(1)
            }),
    };
    n.max(1)
}

/// The claims of ordinal `i`, from the set's `volumeClaimTemplates`.
pub fn claims_for(set: &StatefulSet, i: i32) -> Vec<PersistentVolumeClaim> {
    let spec = set.spec.clone().unwrap_or_default();
    let deleted_with_set = spec
        .persistent_volume_claim_retention_policy
        .as_ref()
        .and_then(|r| r.when_deleted.as_deref())
        == Some("Delete");
    let set_name = set.name_any();
    let selector_labels = spec.selector.match_labels.clone().unwrap_or_default();
    spec.volume_claim_templates
        .unwrap_or_default()
        .into_iter()
        .map(|t| {
            let tname = t.name_any();
            let mut labels = t.metadata.labels.clone().unwrap_or_default();
            labels.extend(selector_labels.clone());
            let mut owners = None;
            if deleted_with_set {
                // Not the controller: the claim only goes away with the
                // set, through the garbage collector.
                let mut r = owner::controller_ref(set);
                r.controller = Some(false);
                owners = Some(vec![r]);
            }
            PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(claim_name(&tname, &set_name, i)),
                    namespace: set.namespace(),
                    labels: Some(labels),
                    annotations: t.metadata.annotations.clone(),
                    owner_references: owners,
                    ..ObjectMeta::default()
                },
                spec: t.spec,
                status: None,
            }
        })
        .collect()
}

/// Pod `i` of `set` from `template`, at revision `hash`.
pub fn new_pod(set: &StatefulSet, template: &PodTemplateSpec, i: i32, hash: &str) -> Pod {
    let set_name = set.name_any();
    let name = format!("{set_name}-{i}");
    let meta = template.metadata.clone().unwrap_or_default();
    let mut labels = meta.labels.unwrap_or_default();
    labels.insert(POD_NAME.into(), name.clone());
    labels.insert(POD_INDEX.into(), i.to_string());
    labels.insert(history::HASH_LABEL.into(), hash.to_owned());
    let mut spec = template.spec.clone().unwrap_or_default();
    spec.hostname = Some(name.clone());
    if let Some(svc) = set
        .spec
        .as_ref()
        .and_then(|s| s.service_name.clone())
        .filter(|s| !s.is_empty())
    {
        spec.subdomain = Some(svc);
    }
    let mut volumes = spec.volumes.take().unwrap_or_default();
    for t in set
        .spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.as_ref())
        .into_iter()
        .flatten()
    {
        let tname = t.name_any();
        // A template replaces a pod volume of the same name.
        volumes.retain(|v| v.name != tname);
        volumes.push(Volume {
            name: tname.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name(&tname, &set_name, i),
                read_only: None,
            }),
            ..Volume::default()
        });
    }
    spec.volumes = (!volumes.is_empty()).then_some(volumes);
    Pod {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: set.namespace(),
            labels: Some(labels),
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![owner::controller_ref(set)]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set() -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u"},
            "spec": {
                "serviceName": "nginx",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}}}}],
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete"},
            },
        }))
        .expect("set")
    }

    #[test]
    fn ordinals_parse_only_their_own_names() {
        assert_eq!(ordinal_of("web", "web-12"), Some(12));
        assert_eq!(ordinal_of("web", "web-x"), None);
        assert_eq!(ordinal_of("web", "webby-1"), None);
        assert_eq!(ordinal_of("web", "web-"), None);
    }

    #[test]
    fn pods_get_identity_and_claims() {
        let s = set();
        let t = s.spec.as_ref().expect("spec").template.clone();
        let p = new_pod(&s, &t, 2, "abc");
        assert_eq!(p.name_any(), "web-2");
        let labels = p.labels();
        assert_eq!(labels.get(POD_NAME).map(String::as_str), Some("web-2"));
        assert_eq!(labels.get(POD_INDEX).map(String::as_str), Some("2"));
        let spec = p.spec.expect("spec");
        assert_eq!(spec.hostname.as_deref(), Some("web-2"));
        assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
        let v = &spec.volumes.expect("volumes")[0];
        assert_eq!(
            v.persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.as_str()),
            Some("data-web-2")
        );
        let c = &claims_for(&s, 2)[0];
        assert_eq!(c.name_any(), "data-web-2");
        let r = &c.metadata.owner_references.as_ref().expect("owner")[0];
        assert_eq!(
            (r.kind.as_str(), r.controller),
            ("StatefulSet", Some(false))
        );
        assert_eq!(scaled(&IntOrString::String("50%".into()), 5), 2);
    }
}
