//! Field paths and sets of them, and their `FieldsV1` encoding.
//!
//! A path steps through an object one [`PathElement`] at a time: a field
//! name, the key of an associative list element, the value of a set element,
//! or (for lists with neither) an index. A [`FieldSet`] is what one manager
//! owns. On the wire (`metadata.managedFields[].fieldsV1`) a set is a tree of
//! JSON objects whose keys are encoded elements — `f:<name>`,
//! `k:{"name":"web"}`, `v:"x"`, `i:0` — and whose key `.` marks a node that is
//! itself a member as well as a parent.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

/// One step of a [`Path`]. Variants sort in this order (field names first),
/// as structured-merge-diff orders them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of a struct or an entry of a map: `f:name`.
    ///
    /// Strings are shared (`Arc<str>`): field sets copy paths a great deal,
    /// and a copy then costs one allocation per path, not one per element.
    Field(Arc<str>),
    /// An associative list element by its keys, held as canonical JSON
    /// (an object with sorted keys): `k:{"containerPort":80,"protocol":"TCP"}`.
    Key(Arc<str>),
    /// A set element by its value, as canonical JSON: `v:"x"`.
    Value(Arc<str>),
    /// A list element by position: `i:0`.
    Index(usize),
}

/// A path from the root of an object.
pub type Path = Vec<PathElement>;

impl PathElement {
    /// The element of an associative list item with these key fields.
    pub fn key<'a>(fields: impl IntoIterator<Item = (&'a str, &'a Value)>) -> PathElement {
        let sorted: BTreeMap<&str, &Value> = fields.into_iter().collect();
        let mut m = Map::new();
        for (k, v) in sorted {
            m.insert(k.to_owned(), canonical(v));
        }
        PathElement::Key(Value::Object(m).to_string().into())
    }

    /// The element of a set item with this value.
    pub fn value(v: &Value) -> PathElement {
        PathElement::Value(canonical(v).to_string().into())
    }

    /// The `FieldsV1` form: `f:name`, `k:{…}`, `v:…`, `i:0`.
    pub fn encode(&self) -> String {
        match self {
            PathElement::Field(n) => format!("f:{n}"),
            PathElement::Key(k) => format!("k:{k}"),
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses the `FieldsV1` form.
    pub fn decode(s: &str) -> Result<PathElement, String> {
        let (kind, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("unexpected field path element {s:?}"))?;
        let json = |r: &str| -> Result<Value, String> {
            serde_json::from_str(r).map_err(|e| format!("{s:?}: {e}"))
        };
        match kind {
            "f" => Ok(PathElement::Field(rest.into())),
            "k" => match json(rest)? {
                Value::Object(m) => Ok(PathElement::key(m.iter().map(|(k, v)| (k.as_str(), v)))),
                _ => Err(format!("{s:?}: a key must be a JSON object")),
            },
            "v" => Ok(PathElement::value(&json(rest)?)),
            "i" => rest
                .parse()
                .map(PathElement::Index)
                .map_err(|_| format!("{s:?}: an index must be a number")),
            _ => Err(format!("unexpected field path element {s:?}")),
        }
    }

    /// Whether this element names a field (struct fields and map entries).
    pub fn is_field(&self) -> bool {
        matches!(self, PathElement::Field(_))
    }
}

/// structured-merge-diff's path notation: `.spec.containers[name="web"].image`,
/// `[="x"]` for set elements, `[0]` for indices.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(n) => write!(f, ".{n}"),
            PathElement::Key(k) => {
                let fields: Vec<String> = match serde_json::from_str::<Value>(k) {
                    Ok(Value::Object(m)) => m.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                    _ => vec![k.to_string()],
                };
                write!(f, "[{}]", fields.join(","))
            }
            PathElement::Value(v) => write!(f, "[={v}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Formats a path in structured-merge-diff's notation.
pub fn path_string(p: &[PathElement]) -> String {
    p.iter().map(ToString::to_string).collect()
}

/// `v` with every object's keys sorted, so equal values encode equally.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// A set of paths: the fields one manager owns, or the fields a change
/// touched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet(BTreeSet<Path>);

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// Adds a path.
    pub fn insert(&mut self, p: Path) {
        self.0.insert(p);
    }

    /// Whether the set holds `p` itself.
    pub fn contains(&self, p: &[PathElement]) -> bool {
        self.0.contains(p)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many paths the set holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The paths, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Path> {
        self.0.iter()
    }

    /// Paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.union(&other.0).cloned().collect())
    }

    /// Moves every path of `other` into this set (no copies).
    pub fn extend(&mut self, other: FieldSet) {
        if self.0.is_empty() {
            self.0 = other.0;
        } else {
            self.0.extend(other.0);
        }
    }

    /// Keeps only the paths `keep` says yes to, in place.
    pub fn retain(&mut self, mut keep: impl FnMut(&[PathElement]) -> bool) {
        self.0.retain(|p| keep(p));
    }

    /// Paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.intersection(&other.0).cloned().collect())
    }

    /// Paths in this set but not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.difference(&other.0).cloned().collect())
    }

    /// The paths `keep` says yes to.
    pub fn filter(&self, mut keep: impl FnMut(&[PathElement]) -> bool) -> FieldSet {
        FieldSet(self.0.iter().filter(|p| keep(p)).cloned().collect())
    }

    /// This set plus every ancestor of a member that ends in a field name
    /// (structured-merge-diff's `EnsureNamedFieldsAreMembers`): owning
    /// `.spec.replicas` means `.spec` is in use.
    pub fn with_field_ancestors(&self) -> FieldSet {
        let mut out = self.0.clone();
        for p in &self.0 {
            for n in 1..p.len() {
                if p[n - 1].is_field() {
                    out.insert(p[..n].to_vec());
                }
            }
        }
        FieldSet(out)
    }

    /// The `FieldsV1` JSON of the set.
    pub fn to_fields_v1(&self) -> Value {
        #[derive(Default)]
        struct Node<'a> {
            member: bool,
            children: BTreeMap<&'a PathElement, Node<'a>>,
        }
        fn emit(node: &Node<'_>) -> Value {
            let mut m = Map::new();
            if node.member && !node.children.is_empty() {
                m.insert(".".into(), Value::Object(Map::new()));
            }
            for (pe, child) in &node.children {
                m.insert(pe.encode(), emit(child));
            }
            Value::Object(m)
        }
        let mut root = Node::default();
        for p in &self.0 {
            let mut n = &mut root;
            for pe in p {
                n = n.children.entry(pe).or_default();
            }
            n.member = true;
        }
        emit(&root)
    }

    /// Parses `FieldsV1` JSON.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        fn walk(v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) -> Result<(), String> {
            let Value::Object(m) = v else {
                return Err("FieldsV1 must be a JSON object".into());
            };
            for (k, child) in m {
                if k == "." {
                    if !prefix.is_empty() {
                        out.insert(prefix.clone());
                    }
                    continue;
                }
                prefix.push(PathElement::decode(k)?);
                match child {
                    Value::Object(c) if c.is_empty() => {
                        out.insert(prefix.clone());
                    }
                    _ => walk(child, prefix, out)?,
                }
                prefix.pop();
            }
            Ok(())
        }
        let mut out = BTreeSet::new();
        walk(v, &mut Vec::new(), &mut out)?;
        Ok(FieldSet(out))
    }
}

impl FromIterator<Path> for FieldSet {
    fn from_iter<I: IntoIterator<Item = Path>>(iter: I) -> Self {
        FieldSet(iter.into_iter().collect())
    }
}
