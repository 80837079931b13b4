//! Server-side apply and field ownership (`metadata.managedFields`), with
//! the semantics of Kubernetes' structured-merge-diff.
//!
//! Every write records who changed which fields. [`apply`] merges an
//! applied configuration into the live object: the applier comes to own
//! exactly the fields its configuration names; changing a field another
//! manager owns is a conflict unless forced (then ownership moves); fields
//! the applier owned before and no longer names are removed unless someone
//! else owns them. [`update`] records any other write (create, update,
//! patch) as an `Update` entry owning the fields it changed.
//!
//! Which lists are associative and which maps are atomic comes from the
//! resource's schema ([`Schema`]): built-in kinds from the OpenAPI
//! definitions with their patch strategies, custom resources from their CRD.
//! The functions are pure: the server reads, calls them and writes.
//!
//! # Examples
//!
//! ```
//! use serde_json::json;
//! use skiff_api::apply::{apply, Request, Schema, Scope};
//!
//! let schema = Schema::deduced();
//! let req = |m: &'static str| Request {
//!     manager: m,
//!     api_version: "v1",
//!     subresource: None,
//!     scope: Scope::Main { has_status: false },
//!     now: "2025-01-01T00:00:00Z",
//!     force: false,
//! };
//! let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
//! let live = apply(&schema, None, &cfg, &req("alice")).unwrap();
//! let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "2"}});
//! let err = apply(&schema, Some(&live), &other, &req("bob")).unwrap_err();
//! assert_eq!(err.to_string(), r#"Apply failed with 1 conflict: conflict with "alice": .data.a"#);
//! ```

mod fieldpath;
mod managers;
mod schema;
mod walk;

use serde_json::Value;
use thiserror::Error;

use crate::status::{ApiError, Cause, Details, Reason};

pub use fieldpath::{FieldSet, Path, PathElement, path_string};
pub use managers::{Entry, ManagedFields, Operation};
pub use schema::{ListType, Schema, Shape, Ty};

/// Which part of the object a write addresses, and so which fields its
/// manager can own (Kubernetes' reset fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The main resource; `.status` is not its to own if the resource has a
    /// status subresource.
    Main {
        /// The resource has a status subresource.
        has_status: bool,
    },
    /// The status subresource: only `.status`.
    Status,
}

impl Scope {
    fn owns(self, p: &[PathElement]) -> bool {
        self.owns_named(p.first().map(field_name))
    }

    /// [`Scope::owns`] of a path whose first element is `first` (as
    /// [`field_name`] gives it).
    fn owns_named(self, first: Option<&str>) -> bool {
        let status = first == Some("status");
        match self {
            Scope::Main { has_status } => !(has_status && status),
            Scope::Status => status,
        }
    }
}

/// Who writes, and how.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The field manager.
    pub manager: &'a str,
    /// The API version written with (`apps/v1`).
    pub api_version: &'a str,
    /// The subresource written through, if any (`status`, `scale`).
    pub subresource: Option<&'a str>,
    /// Which fields this write can own.
    pub scope: Scope,
    /// The time to record (RFC 3339).
    pub now: &'a str,
    /// Take ownership of conflicting fields instead of failing (apply only).
    pub force: bool,
}

/// One field another manager owns that an apply would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The owner, as Kubernetes describes it (`"kubectl" using apps/v1`).
    pub manager: String,
    /// The field (`.spec.replicas`).
    pub field: String,
}

/// Why an apply was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ApplyError {
    /// Fields owned by other managers would change (409).
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The applied configuration cannot be read against the schema (422):
    /// a list element without its keys, duplicate keys.
    #[error("{0}")]
    Invalid(String),
    /// `metadata.managedFields` of the object or request cannot be decoded (400).
    #[error("{0}")]
    BadManagedFields(String),
}

fn conflict_message(cs: &[Conflict]) -> String {
    if let [c] = cs {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.manager, c.field
        );
    }
    let mut managers: Vec<&str> = cs.iter().map(|c| c.manager.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        for c in cs.iter().filter(|c| c.manager == m) {
            lines.push(format!("- {}", c.field));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        cs.len(),
        lines.join("\n")
    )
}

impl From<ApplyError> for ApiError {
    /// The `Status` Kubernetes answers with: 409 `Conflict` with one
    /// `FieldManagerConflict` cause per field.
    fn from(e: ApplyError) -> ApiError {
        match &e {
            ApplyError::Conflicts(cs) => {
                let mut err = ApiError::new(Reason::Conflict, e.to_string());
                err.details = Some(Box::new(Details {
                    causes: cs
                        .iter()
                        .map(|c| Cause {
                            reason: "FieldManagerConflict".into(),
                            message: format!("conflict with {}", c.manager),
                            field: c.field.clone(),
                        })
                        .collect(),
                    ..Details::default()
                }));
                err
            }
            ApplyError::Invalid(m) => ApiError::new(Reason::Invalid, m.clone()),
            ApplyError::BadManagedFields(m) => ApiError::bad_request(m.clone()),
        }
    }
}

/// Metadata no manager owns (Kubernetes' strip set): identity and
/// server-maintained fields.
fn server_owned(p: &[PathElement]) -> bool {
    server_owned_named(p.len(), |i| p.get(i).map_or("", field_name))
}

/// The name of a field element; "" for any other element (no field is
/// named "" in the paths these checks look for).
fn field_name(pe: &PathElement) -> &str {
    match pe {
        PathElement::Field(n) => n,
        _ => "",
    }
}

/// [`server_owned`] of a path of `len` elements whose `i`th element has
/// the name `f(i)` (as [`field_name`] gives it).
fn server_owned_named<'a>(len: usize, f: impl Fn(usize) -> &'a str) -> bool {
    match len {
        1 => matches!(f(0), "apiVersion" | "kind" | "metadata"),
        2 => {
            f(0) == "metadata"
                && matches!(
                    f(1),
                    "name"
                        | "namespace"
                        | "creationTimestamp"
                        | "selfLink"
                        | "uid"
                        | "clusterName"
                        | "generation"
                        | "managedFields"
                        | "resourceVersion"
                )
        }
        _ => false,
    }
}

/// Whether a manager of `scope` records a path given as its field names
/// (`None` for other elements), as [`ownable`] decides.
fn ownable_named(p: &[Option<&str>], scope: Scope) -> bool {
    let name = |i: usize| p.get(i).copied().flatten().unwrap_or("");
    !server_owned_named(p.len(), name) && scope.owns_named(p.first().map(|_| name(0)))
}

/// The fields of `set` a manager of `scope` records.
fn ownable(set: &FieldSet, scope: Scope) -> FieldSet {
    set.filter(|p| !server_owned(p) && scope.owns(p))
}

/// `obj` without `metadata.managedFields` (or `{}` for none).
fn without_managed(obj: Option<&Value>) -> Value {
    let mut v = obj
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()));
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.shift_remove("managedFields");
    }
    v
}

fn entry(req: &Request<'_>, operation: Operation) -> Entry {
    Entry {
        manager: req.manager.to_owned(),
        operation,
        api_version: req.api_version.to_owned(),
        time: None,
        subresource: req.subresource.unwrap_or_default().to_owned(),
        fields: FieldSet::new(),
    }
}

/// The set of fields an applied configuration names.
pub fn applied_fields(schema: &Schema, config: &Value) -> Result<FieldSet, ApplyError> {
    let mut set = FieldSet::new();
    walk::to_set(
        &without_managed(Some(config)),
        schema.root(),
        &mut Vec::new(),
        &mut set,
    )
    .map_err(ApplyError::Invalid)?;
    Ok(set)
}

/// Server-side apply of `config` by `req.manager` to `live` (`None`: the
/// object does not exist yet). Returns the new object with its new
/// `metadata.managedFields`.
pub fn apply(
    schema: &Schema,
    live: Option<&Value>,
    config: &Value,
    req: &Request<'_>,
) -> Result<Value, ApplyError> {
    let mut managers = match live {
        // Stored managed fields that cannot be read are dropped, as
        // Kubernetes resets them, rather than making the object unwritable.
        Some(l) => ManagedFields::of(l).unwrap_or_default(),
        None => ManagedFields::default(),
    };
    let before = managers.clone();
    let live_obj = without_managed(live);
    let config = without_managed(Some(config));
    let root = schema.root();
    let merged = walk::merge(Some(&live_obj), Some(&config), root)
        .map_err(ApplyError::Invalid)?
        .unwrap_or_else(|| Value::Object(Default::default()));

    let me = entry(req, Operation::Apply);
    let last = managers.find(&me).map(|e| e.fields.clone());
    let set = ownable(&applied_fields(schema, &config)?, req.scope);
    match managers.find_mut(&me) {
        Some(e) => {
            e.fields = set;
            e.api_version = req.api_version.to_owned();
        }
        None => managers.0.push(Entry {
            fields: set,
            ..me.clone()
        }),
    }

    let new = prune(merged, root, &managers, last.as_ref(), req.scope);

    // Who loses what: structured-merge-diff's update step.
    let mut cmp = walk::Comparison::default();
    walk::compare(Some(&live_obj), Some(&new), root, &mut Vec::new(), &mut cmp);
    let changed = ownable(&cmp.added.union(&cmp.modified), req.scope);
    let removed = ownable(&cmp.removed, req.scope);
    let mut conflicts = Vec::new();
    for e in managers.0.iter().filter(|e| !e.same_manager(&me)) {
        for p in e.fields.intersection(&changed).iter() {
            conflicts.push(Conflict {
                manager: e.describe(),
                field: path_string(p),
            });
        }
    }
    if !conflicts.is_empty() && !req.force {
        conflicts.sort_by(|a, b| (&a.manager, &a.field).cmp(&(&b.manager, &b.field)));
        return Err(ApplyError::Conflicts(conflicts));
    }
    for e in managers.0.iter_mut().filter(|e| !e.same_manager(&me)) {
        e.fields = e.fields.difference(&changed).difference(&removed);
    }
    if let Some(e) = managers.find_mut(&me) {
        let prev = before.find(&me).and_then(|b| b.time.clone());
        e.time = if new != live_obj || prev.is_none() {
            Some(req.now.to_owned())
        } else {
            prev
        };
    }
    managers.drop_empty();
    Ok(with_managed(new, &managers))
}

/// Removes from `merged` what the applier owned before (`last`) and owns no
/// longer, unless another manager owns it (structured-merge-diff's prune).
fn prune(
    mut merged: Value,
    root: Ty<'_>,
    managers: &ManagedFields,
    last: Option<&FieldSet>,
    scope: Scope,
) -> Value {
    let Some(last) = last else {
        return merged;
    };
    let owned = managers
        .0
        .iter()
        .fold(FieldSet::new(), |acc, e| acc.union(&e.fields))
        .with_field_ancestors();
    let gone = last
        .with_field_ancestors()
        .difference(&owned)
        .filter(|p| !server_owned(p) && scope.owns(p));
    // Only the outermost removals (an element's key fields go with it), in
    // reverse order so that list positions stay valid.
    let outermost = gone.filter(|p| !(1..p.len()).any(|n| gone.contains(&p[..n])));
    for p in outermost.iter().rev() {
        walk::remove(&mut merged, root, p);
    }
    merged
}

fn with_managed(obj: Value, managers: &ManagedFields) -> Value {
    let encoded = (!managers.0.is_empty()).then(|| managers.encode());
    with_managed_list(obj, encoded)
}

/// `obj` with `list` as its `metadata.managedFields` (`None`: without).
fn with_managed_list(mut obj: Value, list: Option<Value>) -> Value {
    if let Some(Value::Object(m)) = obj.get_mut("metadata").map(|m| {
        if !m.is_object() {
            *m = Value::Object(Default::default());
        }
        m
    }) {
        match list {
            None => {
                m.shift_remove("managedFields");
            }
            Some(l) => {
                m.insert("managedFields".into(), l);
            }
        }
    } else if let Some(l) = list {
        obj["metadata"] = serde_json::json!({ "managedFields": l });
    }
    obj
}

/// What a non-apply write does to `metadata.managedFields`.
#[derive(Debug, PartialEq)]
enum Recorded {
    /// Nothing: the live list stands, byte for byte.
    Unchanged,
    /// This list replaces it (`None`: no list).
    List(Option<Value>),
}

/// Records a non-apply write of `new` over `live` (`None`: a create) by
/// `req.manager`: an `Update` entry for the fields it changed, merged into
/// that manager's existing entry; other managers lose those fields. Returns
/// `new` with its `metadata.managedFields`.
///
/// Managed fields the client sent (differing from the live ones) replace
/// them, as in Kubernetes; `managedFields: [{}]` clears them.
pub fn update(
    schema: &Schema,
    live: Option<&Value>,
    new: &Value,
    req: &Request<'_>,
) -> Result<Value, ApplyError> {
    let recorded = record_update(schema, live, new, req)?;
    let mut out = without_managed(Some(new));
    match recorded {
        Recorded::Unchanged => {
            let live_mf = live.and_then(|l| l.pointer("/metadata/managedFields"));
            if let (Some(mf), Some(m)) = (
                live_mf,
                out.get_mut("metadata").and_then(Value::as_object_mut),
            ) {
                m.insert("managedFields".into(), mf.clone());
            }
            Ok(out)
        }
        Recorded::List(list) => Ok(with_managed_list(out, list)),
    }
}

/// The `metadata.managedFields` [`update`] gives `new` (`None`: none),
/// without building the object: for a server that sets it in place.
pub fn updated_managed_fields(
    schema: &Schema,
    live: Option<&Value>,
    new: &Value,
    req: &Request<'_>,
) -> Result<Option<Value>, ApplyError> {
    Ok(match record_update(schema, live, new, req)? {
        Recorded::Unchanged => live
            .and_then(|l| l.pointer("/metadata/managedFields"))
            .cloned(),
        Recorded::List(list) => list,
    })
}

fn record_update(
    schema: &Schema,
    live: Option<&Value>,
    new: &Value,
    req: &Request<'_>,
) -> Result<Recorded, ApplyError> {
    let live_mf = live.and_then(|l| l.pointer("/metadata/managedFields"));
    let sent = new
        .pointer("/metadata/managedFields")
        .filter(|s| s.as_array().is_some_and(|a| !a.is_empty()) && Some(*s) != live_mf);
    if sent.is_some_and(ManagedFields::is_reset_request) {
        return Ok(Recorded::List(None));
    }
    if live.is_none()
        && sent.is_none()
        && let Some(r) = record_create(schema, new, req)
    {
        return Ok(r);
    }
    record_compared(schema, live, new, sent, req)
}

/// [`record_update`] the general way: compare the objects, move fields
/// between the managers of the live (or `sent`) list.
fn record_compared(
    schema: &Schema,
    live: Option<&Value>,
    new: &Value,
    sent: Option<&Value>,
    req: &Request<'_>,
) -> Result<Recorded, ApplyError> {
    let base = match (sent, live) {
        (Some(s), _) => ManagedFields::decode(s),
        (None, Some(l)) => Ok(ManagedFields::of(l).unwrap_or_default()),
        (None, None) => Ok(ManagedFields::default()),
    }
    .map_err(ApplyError::BadManagedFields)?;
    let mut managers = base.clone();
    let live_obj = without_managed(live);
    let new_obj = without_managed(Some(new));
    let mut cmp = walk::Comparison::default();
    walk::compare(
        Some(&live_obj),
        Some(&new_obj),
        schema.root(),
        &mut Vec::new(),
        &mut cmp,
    );
    // Sets are moved, not copied: this runs on every write.
    let mut changed = cmp.added;
    changed.extend(cmp.modified);
    changed.retain(|p| !server_owned(p) && req.scope.owns(p));
    let removed = ownable(&cmp.removed, req.scope);
    for e in &mut managers.0 {
        e.fields = e.fields.difference(&changed).difference(&removed);
    }
    if !changed.is_empty() {
        let me = entry(req, Operation::Update);
        let prev = base.find(&me).map(|e| e.fields.clone()).unwrap_or_default();
        let mut fields = prev.difference(&removed);
        fields.extend(changed);
        let e = Entry {
            fields,
            time: Some(req.now.to_owned()),
            ..me.clone()
        };
        match managers.find_mut(&me) {
            Some(x) => *x = e,
            None => managers.0.push(e),
        }
    }
    managers.drop_empty();
    if sent.is_none() && managers == base {
        return Ok(Recorded::Unchanged);
    }
    Ok(Recorded::List(
        (!managers.0.is_empty()).then(|| managers.encode()),
    ))
}

/// [`record_update`] of a create that sends no managed fields, the common
/// write: with nothing before it, the writer owns every (ownable) field of
/// the object, so its one entry's `FieldsV1` is read straight off the object
/// rather than built as a set of paths and compared. `None` where that
/// shortcut does not hold (a list with two elements of the same identity).
fn record_create(schema: &Schema, new: &Value, req: &Request<'_>) -> Option<Recorded> {
    let keep = |p: &[Option<&str>]| ownable_named(p, req.scope);
    let stripped;
    let obj = if new.pointer("/metadata/managedFields").is_some() {
        stripped = without_managed(Some(new));
        &stripped
    } else {
        new
    };
    let (fields_v1, members) = walk::created_fields_v1(obj, schema.root(), &keep)?;
    if members == 0 {
        // No entry, as there was none: as the general path, nothing changes.
        return Some(Recorded::Unchanged);
    }
    let e = Entry {
        time: Some(req.now.to_owned()),
        ..entry(req, Operation::Update)
    };
    Some(Recorded::List(Some(Value::Array(vec![
        e.encode_with(fields_v1),
    ]))))
}

#[cfg(test)]
mod tests;
