//! `metadata.managedFields`: who owns which fields, decoded into
//! [`FieldSet`]s and encoded back in Kubernetes' order.

use serde_json::{Map, Value, json};

use super::fieldpath::FieldSet;

/// How a manager last wrote its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// Server-side apply: the manager's fields are those it applied.
    Apply,
    /// Any other write: the manager's fields are those it changed.
    Update,
}

impl Operation {
    /// `Apply` or `Update`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `managedFields` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The field manager's name.
    pub manager: String,
    /// Apply or Update.
    pub operation: Operation,
    /// The API version the fields are expressed in (`apps/v1`).
    pub api_version: String,
    /// When the manager last changed the object (RFC 3339), if known.
    pub time: Option<String>,
    /// The subresource written through (`status`), or empty.
    pub subresource: String,
    /// The fields owned.
    pub fields: FieldSet,
}

impl Entry {
    /// Whether two entries are the same manager: same name, operation and
    /// subresource, and for updates the same API version (an applier keeps
    /// one entry whatever version it applies with).
    pub fn same_manager(&self, other: &Entry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == Operation::Apply || self.api_version == other.api_version)
    }

    /// The `managedFields` item of this entry, with `fields_v1` as its
    /// `fieldsV1` (normally [`FieldSet::to_fields_v1`] of its fields).
    pub fn encode_with(&self, fields_v1: Value) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), self.manager.clone().into());
        m.insert("operation".into(), self.operation.as_str().into());
        m.insert("apiVersion".into(), self.api_version.clone().into());
        if let Some(t) = &self.time {
            m.insert("time".into(), t.clone().into());
        }
        m.insert("fieldsType".into(), "FieldsV1".into());
        m.insert("fieldsV1".into(), fields_v1);
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), self.subresource.clone().into());
        }
        Value::Object(m)
    }

    /// How Kubernetes names the manager in conflict messages:
    /// `"kubectl" using apps/v1`, `"ctl" with subresource "status" using v1`,
    /// or just `"kubectl"` for an applier.
    pub fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }
}

/// Every manager of one object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ManagedFields(pub Vec<Entry>);

impl ManagedFields {
    /// Decodes `metadata.managedFields` of an object (empty if none).
    /// Entries of another `fieldsType` are dropped; a repeated manager's
    /// fields are united.
    pub fn of(obj: &Value) -> Result<ManagedFields, String> {
        match obj.pointer("/metadata/managedFields") {
            None | Some(Value::Null) => Ok(ManagedFields::default()),
            Some(v) => ManagedFields::decode(v),
        }
    }

    /// Decodes a `managedFields` list.
    pub fn decode(v: &Value) -> Result<ManagedFields, String> {
        let Value::Array(items) = v else {
            return Err("managedFields must be a list".into());
        };
        let mut out = ManagedFields::default();
        for item in items {
            let s = |k: &str| {
                item.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let operation = match s("operation").as_str() {
                "Apply" => Operation::Apply,
                "Update" => Operation::Update,
                other => return Err(format!("unknown managedFields operation {other:?}")),
            };
            if item
                .get("fieldsType")
                .and_then(Value::as_str)
                .is_some_and(|t| t != "FieldsV1")
            {
                continue;
            }
            let fields = match item.get("fieldsV1") {
                None | Some(Value::Null) => FieldSet::new(),
                Some(f) => FieldSet::from_fields_v1(f)?,
            };
            let e = Entry {
                manager: s("manager"),
                operation,
                api_version: s("apiVersion"),
                time: item.get("time").and_then(Value::as_str).map(str::to_owned),
                subresource: s("subresource"),
                fields,
            };
            match out.0.iter_mut().find(|x| x.same_manager(&e)) {
                Some(x) => x.fields = x.fields.union(&e.fields),
                None => out.0.push(e),
            }
        }
        Ok(out)
    }

    /// The entry of the manager `like` names.
    pub fn find_mut(&mut self, like: &Entry) -> Option<&mut Entry> {
        self.0.iter_mut().find(|e| e.same_manager(like))
    }

    /// The entry of the manager `like` names.
    pub fn find(&self, like: &Entry) -> Option<&Entry> {
        self.0.iter().find(|e| e.same_manager(like))
    }

    /// Drops managers that own nothing.
    pub fn drop_empty(&mut self) {
        self.0.retain(|e| !e.fields.is_empty());
    }

    /// The `managedFields` list, sorted as Kubernetes sorts it: appliers
    /// first, then by time, manager, API version and subresource.
    pub fn encode(&self) -> Value {
        let mut entries: Vec<&Entry> = self.0.iter().collect();
        entries.sort_by(|a, b| {
            (
                a.operation,
                &a.time,
                &a.manager,
                &a.api_version,
                &a.subresource,
            )
                .cmp(&(
                    b.operation,
                    &b.time,
                    &b.manager,
                    &b.api_version,
                    &b.subresource,
                ))
        });
        Value::Array(
            entries
                .into_iter()
                .map(|e| e.encode_with(e.fields.to_fields_v1()))
                .collect(),
        )
    }

    /// Whether a client-sent list asks for managed fields to be reset:
    /// Kubernetes' `managedFields: [{}]`.
    pub fn is_reset_request(v: &Value) -> bool {
        v.as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(|e| *e == json!({})))
    }
}
