//! Which ReplicaSet is "new", revisions and the annotations Kubernetes
//! keeps on Deployments and their ReplicaSets (`kubectl rollout history`
//! and `undo` read them).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::ResourceExt;

/// The label that tells ReplicaSets of one Deployment apart.
pub const HASH_LABEL: &str = "pod-template-hash";
/// The revision a ReplicaSet (and its Deployment) is at.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions a reused ReplicaSet had.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// `spec.replicas` of the Deployment when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// `replicas + maxSurge` of the Deployment then.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// Deployment annotations not copied to its ReplicaSets (Kubernetes'
/// `skipCopyAnnotation`).
const SKIP_COPY: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// Kubernetes' `ComputeHash`: FNV-1a (32 bit) of the template and the
/// collision count, encoded with `rand.SafeEncodeString`. The template is
/// hashed as its JSON (Go hashes a spew dump), so hashes differ from a real
/// cluster's but are stable across restarts and versions of Skiff.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut h: u32 = 0x811c_9dc5;
    let mut write = |bytes: &[u8]| {
        for b in bytes {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    write(&serde_json::to_vec(&canonical(template)).unwrap_or_default());
    if let Some(c) = collision_count {
        write(&u32::from_ne_bytes(c.to_ne_bytes()).to_le_bytes());
    }
    safe_encode(&h.to_string())
}

/// Kubernetes' `rand.SafeEncodeString`: every byte mapped onto an alphabet
/// without vowels, so hashes never spell words.
fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// Templates equal once `pod-template-hash` is dropped (Kubernetes'
/// `EqualIgnoreHash`).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    fn strip(t: &PodTemplateSpec) -> serde_json::Value {
        let mut t = t.clone();
        if let Some(l) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            l.remove(HASH_LABEL);
        }
        canonical(&t)
    }
    strip(a) == strip(b)
}

/// The template as JSON without nulls, empty objects and empty lists.
/// Kubernetes compares templates as Go structs, where an absent and an
/// empty `resources: {}` are the same value; clients written in Go (kubectl
/// `rollout undo`) send the empty forms, so they must compare equal here too.
fn canonical(t: &PodTemplateSpec) -> serde_json::Value {
    fn prune(v: &mut serde_json::Value) -> bool {
        match v {
            serde_json::Value::Null => true,
            serde_json::Value::Object(m) => {
                m.retain(|_, x| !prune(x));
                m.is_empty()
            }
            serde_json::Value::Array(a) => {
                for x in a.iter_mut() {
                    // Keep positions: an emptied element still counts.
                    prune(x);
                }
                a.is_empty()
            }
            _ => false,
        }
    }
    let mut v = serde_json::to_value(t).unwrap_or_default();
    prune(&mut v);
    v
}

/// The template of a ReplicaSet.
pub fn template_of(rs: &ReplicaSet) -> PodTemplateSpec {
    rs.spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default()
}

/// The Deployment's template.
pub fn deployment_template(d: &Deployment) -> PodTemplateSpec {
    d.spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default()
}

/// The revision annotation as a number, 0 if absent or malformed.
pub fn revision_of(rs: &ReplicaSet) -> i64 {
    rs.annotations()
        .get(REVISION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The highest revision among `rss`.
pub fn max_revision(rss: &[ReplicaSet]) -> i64 {
    rss.iter().map(revision_of).max().unwrap_or(0)
}

/// The oldest ReplicaSet whose template is the Deployment's, and the rest
/// (Kubernetes' `FindNewReplicaSet` / `FindOldReplicaSets`).
pub fn split_new_old(
    d: &Deployment,
    mut rss: Vec<ReplicaSet>,
) -> (Option<ReplicaSet>, Vec<ReplicaSet>) {
    rss.sort_by(|a, b| {
        (
            a.metadata.creation_timestamp.as_ref().map(|t| t.0),
            a.name_any(),
        )
            .cmp(&(
                b.metadata.creation_timestamp.as_ref().map(|t| t.0),
                b.name_any(),
            ))
    });
    let template = deployment_template(d);
    match rss
        .iter()
        .position(|rs| equal_ignore_hash(&template_of(rs), &template))
    {
        Some(i) => {
            let new = rss.remove(i);
            (Some(new), rss)
        }
        None => (None, rss),
    }
}

/// Copies the Deployment's annotations onto `rs` and moves it to
/// `new_revision` (keeping the one it had in `revision-history` when an
/// old ReplicaSet is reused by a rollback). True if anything changed.
pub fn set_new_rs_annotations(d: &Deployment, rs: &mut ReplicaSet, new_revision: i64) -> bool {
    let mut changed = false;
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    for (k, v) in d.annotations() {
        if SKIP_COPY.contains(&k.as_str()) {
            continue;
        }
        if annotations.get(k) != Some(v) {
            annotations.insert(k.clone(), v.clone());
            changed = true;
        }
    }
    let old = annotations.get(REVISION).cloned().unwrap_or_default();
    let old_n: i64 = old.parse().unwrap_or(0);
    if old_n < new_revision {
        annotations.insert(REVISION.into(), new_revision.to_string());
        changed = true;
        if !old.is_empty() {
            let history = match annotations.get(REVISION_HISTORY) {
                Some(h) if !h.is_empty() => format!("{h},{old}"),
                _ => old,
            };
            annotations.insert(REVISION_HISTORY.into(), history);
        }
    }
    changed
}

/// Sets `desired-replicas` and `max-replicas`; true if they changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (k, v) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let v = v.to_string();
        if annotations.get(k) != Some(&v) {
            annotations.insert(k.into(), v);
            changed = true;
        }
    }
    changed
}

/// An annotation as a number.
pub fn int_annotation(rs: &ReplicaSet, key: &str) -> Option<i32> {
    rs.annotations().get(key).and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_safe_encoded_and_change_with_collisions() {
        let t = PodTemplateSpec::default();
        let a = compute_hash(&t, None);
        assert!(
            a.bytes()
                .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)),
            "{a}"
        );
        assert_ne!(a, compute_hash(&t, Some(1)));
        assert_eq!(a, compute_hash(&t, None));
    }

    #[test]
    fn empty_and_absent_fields_compare_equal() {
        let a: PodTemplateSpec = serde_json::from_value(serde_json::json!({
            "metadata": {"labels": {"app": "a", HASH_LABEL: "x"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}))
        .expect("template");
        let b: PodTemplateSpec = serde_json::from_value(serde_json::json!({
            "metadata": {"labels": {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": "i", "resources": {}}],
                "securityContext": {}}}))
        .expect("template");
        assert!(equal_ignore_hash(&a, &b));
        let mut c = b.clone();
        if let Some(s) = c.spec.as_mut() {
            s.containers[0].image = Some("j".into());
        }
        assert!(!equal_ignore_hash(&a, &c));
    }

    #[test]
    fn reused_replica_sets_keep_their_old_revision() {
        let d = Deployment::default();
        let mut rs = ReplicaSet::default();
        rs.metadata.annotations = Some(BTreeMap::from([(REVISION.into(), "1".into())]));
        assert!(set_new_rs_annotations(&d, &mut rs, 3));
        assert_eq!(rs.annotations()[REVISION], "3");
        assert_eq!(rs.annotations()[REVISION_HISTORY], "1");
        assert!(set_new_rs_annotations(&d, &mut rs, 5));
        assert_eq!(rs.annotations()[REVISION_HISTORY], "1,3");
        assert!(!set_new_rs_annotations(&d, &mut rs, 5));
    }
}
