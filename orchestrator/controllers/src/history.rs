//! ControllerRevisions (`apps/v1`): the snapshots of a pod template that
//! DaemonSets and StatefulSets keep so that `kubectl rollout history` and
//! `undo` can show and restore earlier templates, as Kubernetes'
//! `controller/history` package does.
//!
//! Generic over the owner: a revision is `<owner>-<hash>`, labelled with the
//! owner's template labels plus [`HASH_LABEL`], controlled by the owner, and
//! carries an opaque `data` document and a revision number.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use crate::owner;

/// The label naming the revision a pod (or revision) belongs to.
pub const HASH_LABEL: &str = "controller-revision-hash";

/// Kubernetes' default `revisionHistoryLimit` for DaemonSets and
/// StatefulSets.
pub const DEFAULT_HISTORY_LIMIT: i32 = 10;

/// FNV-1a (32 bit) of the canonical JSON of `value` and the collision
/// count, encoded with Kubernetes' `rand.SafeEncodeString` alphabet. Go
/// hashes a spew dump of the struct, so hashes differ from a real
/// cluster's, but they are stable across restarts of Skiff.
pub fn hash(value: &Value, collision_count: Option<i32>) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u32 = 0x811c_9dc5;
    let mut write = |bytes: &[u8]| {
        for b in bytes {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    write(&serde_json::to_vec(&canonical(value)).unwrap_or_default());
    if let Some(c) = collision_count {
        write(&c.to_le_bytes());
    }
    h.to_string()
        .bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// `value` without nulls, empty objects and empty lists: Go compares
/// structs, where absent and empty are the same, and Go clients (kubectl
/// `rollout undo`) send the empty forms back.
pub fn canonical(value: &Value) -> Value {
    fn prune(v: &mut Value) -> bool {
        match v {
            Value::Null => true,
            Value::Object(m) => {
                m.retain(|_, x| !prune(x));
                m.is_empty()
            }
            Value::Array(a) => {
                for x in a.iter_mut() {
                    // Keep positions: an emptied element still counts.
                    prune(x);
                }
                a.is_empty()
            }
            _ => false,
        }
    }
    let mut v = value.clone();
    prune(&mut v);
    v
}

/// The revisions in `ns` controlled by the owner with `uid`, oldest
/// revision first.
pub async fn list_owned(
    api: &Api<ControllerRevision>,
    uid: &str,
) -> Result<Vec<ControllerRevision>, kube::Error> {
    let mut out: Vec<ControllerRevision> = api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|r| owner::is_controlled_by(&r.metadata, uid))
        .collect();
    out.sort_by_key(|r| (r.revision, r.name_any()));
    Ok(out)
}

/// The highest revision number among `revisions` (0 if none).
pub fn max_revision(revisions: &[ControllerRevision]) -> i64 {
    revisions.iter().map(|r| r.revision).max().unwrap_or(0)
}

/// The hash label of a revision.
pub fn hash_of(rev: &ControllerRevision) -> Option<&str> {
    rev.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(HASH_LABEL))
        .map(String::as_str)
}

/// A new revision of `owner` named `<owner>-<hash>`.
pub fn new_revision<K>(
    owner_obj: &K,
    labels: &BTreeMap<String, String>,
    data: Value,
    revision: i64,
    hash: &str,
) -> ControllerRevision
where
    K: Resource<DynamicType = ()>,
{
    let mut labels = labels.clone();
    labels.insert(HASH_LABEL.to_owned(), hash.to_owned());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(format!("{}-{hash}", owner_obj.name_any())),
            namespace: owner_obj.namespace(),
            labels: Some(labels),
            owner_references: Some(vec![owner::controller_ref(owner_obj)]),
            ..ObjectMeta::default()
        },
        data: Some(RawExtension(data)),
        revision,
    }
}

/// What creating a revision found.
#[allow(
    clippy::large_enum_variant,
    reason = "one short-lived value per reconcile; callers match on it by value"
)]
pub enum Created {
    /// It was created (or an identical one, ours, already existed).
    Ok(ControllerRevision),
    /// `<owner>-<hash>` exists with other data or another owner: the owner
    /// must raise its collision count and try another name.
    Collision,
}

/// Creates `rev`, accepting an existing identical revision of the same
/// owner (a stale cache may try twice).
pub async fn create(
    api: &Api<ControllerRevision>,
    rev: &ControllerRevision,
) -> Result<Created, kube::Error> {
    match api.create(&PostParams::default(), rev).await {
        Ok(r) => Ok(Created::Ok(r)),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let existing = api.get(&rev.name_any()).await?;
            let same_owner = owner::controller_of(&existing.metadata).map(|r| r.uid.as_str())
                == owner::controller_of(&rev.metadata).map(|r| r.uid.as_str());
            let same_data = existing.data.as_ref().map(|d| canonical(&d.0))
                == rev.data.as_ref().map(|d| canonical(&d.0));
            if same_owner && same_data {
                Ok(Created::Ok(existing))
            } else {
                Ok(Created::Collision)
            }
        }
        Err(e) => Err(e),
    }
}

/// Moves `rev` to revision number `to` (a rollback to an old template makes
/// it the newest again).
pub async fn set_revision(
    api: &Api<ControllerRevision>,
    rev: &ControllerRevision,
    to: i64,
) -> Result<ControllerRevision, kube::Error> {
    api.patch(
        &rev.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&json!({"revision": to})),
    )
    .await
}

/// The revisions to delete to keep at most `limit` old ones: oldest first,
/// never `current` nor one whose hash a live pod still carries.
pub fn to_prune<'a>(
    revisions: &'a [ControllerRevision],
    current: &str,
    live_hashes: &HashSet<String>,
    limit: i32,
) -> Vec<&'a ControllerRevision> {
    let old: Vec<&ControllerRevision> = revisions
        .iter()
        .filter(|r| r.name_any() != current)
        .collect();
    let limit = usize::try_from(limit.max(0)).unwrap_or(0);
    let Some(excess) = old.len().checked_sub(limit).filter(|n| *n > 0) else {
        return Vec::new();
    };
    // `revisions` is sorted oldest first, so these go first.
    old.into_iter()
        .filter(|r| hash_of(r).is_none_or(|h| !live_hashes.contains(h)))
        .take(excess)
        .collect()
}

/// Deletes `revs`, ignoring those already gone.
pub async fn delete_all(
    api: &Api<ControllerRevision>,
    revs: &[&ControllerRevision],
) -> Result<(), kube::Error> {
    for r in revs {
        match api.delete(&r.name_any(), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(name: &str, n: i64, hash: &str) -> ControllerRevision {
        serde_json::from_value(json!({"metadata": {"name": name,
            "labels": {HASH_LABEL: hash}}, "revision": n}))
        .expect("revision")
    }

    #[test]
    fn hashes_ignore_empty_fields_and_use_the_safe_alphabet() {
        let a = json!({"spec": {"containers": [{"name": "c", "resources": {}}]}});
        let b = json!({"spec": {"containers": [{"name": "c"}], "volumes": []}});
        assert_eq!(hash(&a, None), hash(&b, None));
        assert_ne!(hash(&a, None), hash(&a, Some(1)));
        assert!(
            hash(&a, None)
                .chars()
                .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c))
        );
    }

    #[test]
    fn pruning_keeps_the_limit_the_current_and_live_revisions() {
        let revs = vec![
            rev("a", 1, "h1"),
            rev("b", 2, "h2"),
            rev("c", 3, "h3"),
            rev("d", 4, "h4"),
        ];
        let live = HashSet::from(["h1".to_owned()]);
        let names: Vec<String> = to_prune(&revs, "d", &live, 1)
            .iter()
            .map(|r| r.name_any())
            .collect();
        assert_eq!(names, ["b", "c"]);
        assert!(to_prune(&revs, "d", &live, 10).is_empty());
    }
}
