//! What server-side apply needs to know about a type at each path: whether a
//! value is one unit (a scalar, an atomic list or map) or made of parts, and
//! how list elements are identified.
//!
//! Both built-in kinds and custom resources are read from an OpenAPI schema,
//! as structured-merge-diff reads them: built-in kinds from
//! [`crate::openapi::definitions`] (which carry the patch strategies and
//! Kubernetes' list and map types), custom resources from their CRD's
//! `openAPIV3Schema`. Lists follow `x-kubernetes-list-type` (with
//! `x-kubernetes-list-map-keys`); without it a list with the merge patch
//! strategy is a map keyed by its merge key (a set when it has none) and any
//! other list is atomic. Maps and structs are granular unless
//! `x-kubernetes-map-type: atomic`. Where there is no schema (fields a
//! schema does not declare, `x-kubernetes-preserve-unknown-fields`) the type
//! is deduced from the value: objects granular, lists atomic.

use serde_json::{Map, Value, json};

use crate::openapi::{DEFINITIONS_PREFIX, OBJECT_META_DEFINITION, definitions};
use crate::registry::{Origin, Resource};

/// The schema of one resource.
#[derive(Clone, Debug)]
pub struct Schema {
    root: Option<Value>,
    defs: &'static Map<String, Value>,
}

impl Schema {
    /// The schema of a resource: its built-in definition, or its CRD schema
    /// with `metadata` as `ObjectMeta`.
    pub fn for_resource(res: &Resource) -> Schema {
        let root = match &res.origin {
            Origin::Builtin => crate::openapi::definition_name(res)
                .filter(|n| definitions().contains_key(n))
                .map(|n| json!({"$ref": format!("{DEFINITIONS_PREFIX}{n}")})),
            Origin::Custom { schema, .. } => Some(custom_root(schema.as_ref())),
        };
        Schema {
            root,
            defs: definitions(),
        }
    }

    /// A schema from a JSON schema (as a CRD gives one).
    pub fn from_json_schema(schema: &Value) -> Schema {
        Schema {
            root: Some(custom_root(Some(schema))),
            defs: definitions(),
        }
    }

    /// No schema: everything deduced from the values.
    pub fn deduced() -> Schema {
        Schema {
            root: None,
            defs: definitions(),
        }
    }

    /// The type of the whole object.
    pub fn root(&self) -> Ty<'_> {
        Ty {
            node: self.root.as_ref(),
            defs: self.defs,
        }
    }
}

fn custom_root(schema: Option<&Value>) -> Value {
    let mut s = match schema {
        Some(Value::Object(m)) => m.clone(),
        _ => {
            let mut m = Map::new();
            m.insert("type".into(), "object".into());
            m.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
            m
        }
    };
    s.entry("type").or_insert_with(|| "object".into());
    let props = s.entry("properties").or_insert_with(|| json!({}));
    if let Value::Object(p) = props {
        p.insert("apiVersion".into(), json!({"type": "string"}));
        p.insert("kind".into(), json!({"type": "string"}));
        p.insert(
            "metadata".into(),
            json!({"$ref": format!("{DEFINITIONS_PREFIX}{OBJECT_META_DEFINITION}")}),
        );
    }
    Value::Object(s)
}

/// How the elements of a list are told apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListType {
    /// The list is one value.
    Atomic,
    /// Elements are scalars, identified by value.
    Set,
    /// Elements are objects, identified by these fields.
    Map(Vec<String>),
}

/// What a value is, for apply.
#[derive(Clone, Debug)]
pub enum Shape<'a> {
    /// One value: a scalar, null, or a value whose type does not fit its schema.
    Scalar,
    /// An object: granular (fields are owned one by one) or atomic.
    Map {
        /// Owned only as a whole.
        atomic: bool,
    },
    /// A list.
    List {
        /// How elements are identified.
        list_type: ListType,
        /// The element type.
        elem: Ty<'a>,
    },
}

/// The type at one path: a schema node (a property or a definition), or
/// none, where the type is deduced from the value.
#[derive(Clone, Copy, Debug)]
pub struct Ty<'a> {
    node: Option<&'a Value>,
    defs: &'a Map<String, Value>,
}

impl<'a> Ty<'a> {
    fn with(self, node: Option<&'a Value>) -> Ty<'a> {
        Ty {
            node,
            defs: self.defs,
        }
    }

    /// The node itself and what its `$ref` (or single `allOf`) leads to,
    /// at most nine deep. An iterator, not a list: this runs for every node
    /// of every object written.
    fn layers(&self) -> impl Iterator<Item = &'a Value> + use<'a> {
        let defs = self.defs;
        std::iter::successors(self.node, move |n| {
            match (n.get("$ref").and_then(Value::as_str), n.get("allOf")) {
                (Some(r), _) => r.strip_prefix(DEFINITIONS_PREFIX).and_then(|d| defs.get(d)),
                (None, Some(Value::Array(a))) if a.len() == 1 => a.first(),
                _ => None,
            }
        })
        .take(9)
    }

    /// The first value of an extension (or keyword) along the layers.
    fn ext(&self, key: &str) -> Option<&'a Value> {
        self.layers().find_map(|l| l.get(key))
    }

    /// What `v` is under this type.
    pub fn shape(&self, v: &Value) -> Shape<'a> {
        if !v.is_object() && !v.is_array() {
            // Whatever the schema says, as below; without reading it.
            return Shape::Scalar;
        }
        // The keywords this needs, each the first along the layers, read in
        // one pass over them.
        let mut ty: Option<&'a Value> = None;
        let (mut properties, mut additional, mut items) = (false, false, None);
        let (mut int_or_string, mut map_type) = (false, None);
        for l in self.layers() {
            let Value::Object(m) = l else { continue };
            ty = ty.or_else(|| m.get("type"));
            properties |= m.contains_key("properties");
            additional |= m.contains_key("additionalProperties");
            items = items.or_else(|| m.get("items"));
            int_or_string |= m.contains_key("x-kubernetes-int-or-string");
            map_type = map_type.or_else(|| m.get("x-kubernetes-map-type"));
        }
        let deduced =
            self.node.is_none() || (ty.is_none() && !properties && !additional && items.is_none());
        match v {
            Value::Object(_) => {
                let is_map = deduced
                    || ty.and_then(Value::as_str) == Some("object")
                    || properties
                    || additional;
                if !is_map || int_or_string {
                    return Shape::Scalar;
                }
                let atomic = !deduced && map_type.and_then(Value::as_str) == Some("atomic");
                Shape::Map { atomic }
            }
            Value::Array(_) => {
                if deduced {
                    return Shape::List {
                        list_type: ListType::Atomic,
                        elem: self.with(None),
                    };
                }
                let is_list = ty.and_then(Value::as_str) == Some("array") || items.is_some();
                if !is_list {
                    return Shape::Scalar;
                }
                Shape::List {
                    list_type: self.list_type(),
                    elem: self.with(items),
                }
            }
            _ => Shape::Scalar,
        }
    }

    fn list_type(&self) -> ListType {
        let keys = || -> Vec<String> {
            self.ext("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        match self.ext("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => return ListType::Set,
            Some("map") => return ListType::Map(keys()),
            Some(_) => return ListType::Atomic,
            None => {}
        }
        let merge = self
            .ext("x-kubernetes-patch-strategy")
            .and_then(Value::as_str)
            .is_some_and(|s| s.split(',').any(|p| p == "merge"));
        if !merge {
            return ListType::Atomic;
        }
        match self
            .ext("x-kubernetes-patch-merge-key")
            .and_then(Value::as_str)
        {
            Some(k) => ListType::Map(vec![k.to_owned()]),
            None => ListType::Set,
        }
    }

    /// The type of a map entry or struct field, and whether the schema
    /// declares it as a field (rather than an entry of a map).
    pub fn field(&self, name: &str) -> (Ty<'a>, bool) {
        self.fields().get(name)
    }

    /// [`Ty::field`] for many fields of one object, the schema read once.
    pub(crate) fn fields(&self) -> Fields<'a> {
        let (properties, additional) = match self.node {
            None => (None, None),
            Some(_) => (self.ext("properties"), self.ext("additionalProperties")),
        };
        Fields {
            ty: *self,
            properties,
            additional,
        }
    }

    /// The default of a field of this (object) type, for list-map keys a
    /// client may omit.
    pub fn field_default(&self, name: &str) -> Option<&'a Value> {
        let (ty, declared) = self.field(name);
        if !declared {
            return None;
        }
        ty.ext("default")
    }
}

/// The fields of an object type: [`Ty::fields`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fields<'a> {
    ty: Ty<'a>,
    properties: Option<&'a Value>,
    additional: Option<&'a Value>,
}

impl<'a> Fields<'a> {
    /// [`Ty::field`] of `name`.
    pub(crate) fn get(&self, name: &str) -> (Ty<'a>, bool) {
        if self.ty.node.is_none() {
            return (self.ty.with(None), false);
        }
        if let Some(p) = self.properties.and_then(|p| p.get(name)) {
            return (self.ty.with(Some(p)), true);
        }
        match self.additional {
            Some(ap @ Value::Object(_)) => (self.ty.with(Some(ap)), false),
            _ => (self.ty.with(None), false),
        }
    }
}
