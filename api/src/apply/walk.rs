//! The walks over typed values that apply is made of: the set of fields a
//! value names, the merge of an applied configuration into a live object,
//! the comparison of two objects, and the removal of one path.

use serde_json::{Map, Value};

use super::fieldpath::{FieldSet, Path, PathElement};
use super::schema::{ListType, Shape, Ty};

/// The element of list item `i` of a list of this type; errors name what is
/// wrong with the item, as structured-merge-diff words it.
pub(crate) fn item_element(
    list_type: &ListType,
    elem: Ty<'_>,
    item: &Value,
    i: usize,
) -> Result<PathElement, String> {
    match list_type {
        ListType::Atomic => Ok(PathElement::Index(i)),
        ListType::Set => match item {
            Value::Object(_) | Value::Array(_) => Err(format!(
                "element {i}: expected a scalar in a set, got {item}"
            )),
            _ => Ok(PathElement::value(item)),
        },
        ListType::Map(keys) if keys.is_empty() => Ok(PathElement::value(item)),
        ListType::Map(keys) => {
            let Value::Object(m) = item else {
                return Err(format!(
                    "element {i}: associative list with keys may not have non-map elements"
                ));
            };
            let mut fields = Vec::with_capacity(keys.len());
            for k in keys {
                match m.get(k).or_else(|| elem.field_default(k)) {
                    Some(v) => fields.push((k.as_str(), v)),
                    None => {
                        return Err(format!(
                            "element {i}: associative list with keys has an element that omits key field {k:?} (and doesn't have default value)"
                        ));
                    }
                }
            }
            Ok(PathElement::key(fields))
        }
    }
}

/// The elements of a list's items; lenient (used on live objects): an item
/// that cannot be identified gets its index.
fn elements_lenient(list_type: &ListType, elem: Ty<'_>, items: &[Value]) -> Vec<PathElement> {
    items
        .iter()
        .enumerate()
        .map(|(i, it)| item_element(list_type, elem, it, i).unwrap_or(PathElement::Index(i)))
        .collect()
}

fn prefixed(path: &[PathElement], e: String) -> String {
    if path.is_empty() {
        e
    } else {
        format!("{}: {e}", super::fieldpath::path_string(path))
    }
}

/// The fields a value names (structured-merge-diff's `ToFieldSet`): every
/// scalar and atomic value, every list element, and map entries that are
/// not struct fields or are null or empty.
pub(crate) fn to_set(
    v: &Value,
    ty: Ty<'_>,
    path: &mut Path,
    out: &mut FieldSet,
) -> Result<(), String> {
    match (ty.shape(v), v) {
        (Shape::Scalar | Shape::Map { atomic: true }, _) => out.insert(path.clone()),
        (
            Shape::List {
                list_type: ListType::Atomic,
                ..
            },
            _,
        ) => out.insert(path.clone()),
        (Shape::List { list_type, elem }, Value::Array(items)) => {
            let mut seen = std::collections::BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let pe = item_element(&list_type, elem, item, i).map_err(|e| prefixed(path, e))?;
                if !seen.insert(pe.clone()) {
                    return Err(prefixed(path, format!("duplicate entries for key {pe}")));
                }
                path.push(pe);
                to_set(item, elem, path, out)?;
                out.insert(path.clone());
                path.pop();
            }
        }
        (Shape::Map { atomic: false }, Value::Object(m)) => {
            for (k, val) in m {
                let (fty, declared) = ty.field(k);
                path.push(PathElement::Field(k.as_str().into()));
                to_set(val, fty, path, out)?;
                let empty = val.is_null() || val.as_object().is_some_and(Map::is_empty);
                if empty || !declared {
                    out.insert(path.clone());
                }
                path.pop();
            }
        }
        _ => out.insert(path.clone()),
    }
    Ok(())
}

fn is_empty_container(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

/// Merges an applied configuration (`rhs`) into a live value (`lhs`), as
/// structured-merge-diff's `Merge`: the configuration's scalars and atomic
/// values win, granular maps merge by key, associative lists by element
/// (shared elements in the configuration's order, live-only elements kept
/// in place). A `null` in the configuration removes the field. `None`: no
/// value at all.
pub(crate) fn merge(
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    ty: Ty<'_>,
) -> Result<Option<Value>, String> {
    let r = match rhs {
        None => return Ok(lhs.cloned()),
        Some(Value::Null) => return Ok(None),
        Some(r) => r,
    };
    let lhs = lhs.filter(|l| !l.is_null());
    let shape = ty.shape(r);
    let same_kind = lhs.is_none_or(|l| std::mem::discriminant(l) == std::mem::discriminant(r));
    match (shape, r) {
        (Shape::Map { atomic: false }, Value::Object(rm)) if same_kind => {
            if is_empty_container(lhs) && rm.is_empty() {
                return Ok(Some(r.clone()));
            }
            let empty = Map::new();
            let lm = lhs.and_then(Value::as_object).unwrap_or(&empty);
            let mut out = Map::new();
            for (k, lv) in lm {
                let (fty, _) = ty.field(k);
                if let Some(v) = merge(Some(lv), rm.get(k), fty)? {
                    out.insert(k.clone(), v);
                }
            }
            for (k, rv) in rm {
                if lm.contains_key(k) {
                    continue;
                }
                let (fty, _) = ty.field(k);
                if let Some(v) = merge(None, Some(rv), fty)? {
                    out.insert(k.clone(), v);
                }
            }
            Ok((!out.is_empty()).then_some(Value::Object(out)))
        }
        (Shape::List { list_type, elem }, Value::Array(ra))
            if same_kind && list_type != ListType::Atomic =>
        {
            let la: &[Value] = lhs.and_then(Value::as_array).map_or(&[], Vec::as_slice);
            if la.is_empty() && ra.is_empty() {
                return Ok(Some(r.clone()));
            }
            merge_list(la, ra, &list_type, elem)
                .map(|out| (!out.is_empty()).then_some(Value::Array(out)))
        }
        _ => Ok(Some(strip_nulls(r))),
    }
}

/// A configuration value with its `null` map entries dropped (they only
/// claim ownership).
fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

/// structured-merge-diff's list merge: walk both lists at once; elements
/// in both come out in the configuration's order, live-only elements stay
/// where they were relative to them, new elements come where the
/// configuration has them.
fn merge_list(
    la: &[Value],
    ra: &[Value],
    list_type: &ListType,
    elem: Ty<'_>,
) -> Result<Vec<Value>, String> {
    let mut rpe = Vec::with_capacity(ra.len());
    for (i, it) in ra.iter().enumerate() {
        let pe = item_element(list_type, elem, it, i)?;
        if rpe.contains(&pe) {
            return Err(format!("duplicate entries for key {pe}"));
        }
        rpe.push(pe);
    }
    let lpe = elements_lenient(list_type, elem, la);
    let find = |pes: &[PathElement], pe: &PathElement| pes.iter().position(|p| p == pe);
    // Shared elements in the configuration's order.
    let mut shared: std::collections::VecDeque<&PathElement> =
        rpe.iter().filter(|pe| lpe.contains(pe)).collect();
    let mut merged_r: Vec<&PathElement> = Vec::new();
    let mut out = Vec::with_capacity(la.len().max(ra.len()));
    let (mut li, mut ri) = (0, 0);
    while li < la.len() || ri < ra.len() {
        if li < la.len() && ri < ra.len() {
            let pe = &lpe[li];
            if *pe == rpe[ri] {
                merged_r.push(pe);
                if let Some(v) = merge(Some(&la[li]), Some(&ra[ri]), elem)? {
                    out.push(v);
                }
                li += 1;
                ri += 1;
                shared.pop_front();
                continue;
            }
            if find(&rpe, pe).is_some() && shared.front().is_some_and(|s| *s != pe) {
                li += 1;
                continue;
            }
        }
        if li < la.len() {
            let pe = &lpe[li];
            if find(&rpe, pe).is_none() {
                out.push(la[li].clone());
                li += 1;
                continue;
            } else if merged_r.contains(&pe) {
                li += 1;
            }
        }
        if ri < ra.len() {
            let pe = &rpe[ri];
            merged_r.push(pe);
            let l = find(&lpe, pe).map(|i| &la[i]);
            if let Some(v) = merge(l, Some(&ra[ri]), elem)? {
                out.push(v);
            }
            ri += 1;
            if shared.front().is_some_and(|s| *s == pe) {
                shared.pop_front();
            }
        }
    }
    Ok(out)
}

/// What changed between two objects.
#[derive(Clone, Debug, Default)]
pub(crate) struct Comparison {
    /// Present only in the new object.
    pub added: FieldSet,
    /// Present in both with different values (leaves only).
    pub modified: FieldSet,
    /// Present only in the old object.
    pub removed: FieldSet,
}

/// structured-merge-diff's `Compare`: leaves (scalars, atomic values, empty
/// containers) are added, modified or removed; a granular node present on
/// one side only is itself added or removed, as well as everything in it.
pub(crate) fn compare(
    l: Option<&Value>,
    r: Option<&Value>,
    ty: Ty<'_>,
    path: &mut Path,
    c: &mut Comparison,
) {
    let (Some(shape_of), other) = (r.or(l), l.and(r)) else {
        return;
    };
    let shape = ty.shape(shape_of);
    let leaf = |c: &mut Comparison| match (l, r) {
        (None, Some(_)) => c.added.insert(path.clone()),
        (Some(_), None) => c.removed.insert(path.clone()),
        (Some(a), Some(b)) if a != b => c.modified.insert(path.clone()),
        _ => {}
    };
    let kinds_differ =
        other.is_some() && l.map(std::mem::discriminant) != r.map(std::mem::discriminant);
    if kinds_differ {
        leaf(c);
        return;
    }
    let both_empty = is_empty_container(l) && is_empty_container(r);
    match shape {
        Shape::Map { atomic: false } if !both_empty => {
            let empty = Map::new();
            let lm = l.and_then(Value::as_object).unwrap_or(&empty);
            let rm = r.and_then(Value::as_object).unwrap_or(&empty);
            for (k, lv) in lm {
                path.push(PathElement::Field(k.as_str().into()));
                compare(Some(lv), rm.get(k), ty.field(k).0, path, c);
                path.pop();
            }
            for (k, rv) in rm {
                if !lm.contains_key(k) {
                    path.push(PathElement::Field(k.as_str().into()));
                    compare(None, Some(rv), ty.field(k).0, path, c);
                    path.pop();
                }
            }
        }
        Shape::List { list_type, elem } if list_type != ListType::Atomic && !both_empty => {
            let la: &[Value] = l.and_then(Value::as_array).map_or(&[], Vec::as_slice);
            let ra: &[Value] = r.and_then(Value::as_array).map_or(&[], Vec::as_slice);
            let lpe = elements_lenient(&list_type, elem, la);
            let rpe = elements_lenient(&list_type, elem, ra);
            for (i, pe) in lpe.iter().enumerate() {
                let rv = rpe.iter().position(|p| p == pe).map(|j| &ra[j]);
                path.push(pe.clone());
                compare(Some(&la[i]), rv, elem, path, c);
                path.pop();
            }
            for (j, pe) in rpe.iter().enumerate() {
                if !lpe.contains(pe) {
                    path.push(pe.clone());
                    compare(None, Some(&ra[j]), elem, path, c);
                    path.pop();
                }
            }
        }
        _ => {
            leaf(c);
            return;
        }
    }
    if l.is_none() {
        c.added.insert(path.clone());
    } else if r.is_none() {
        c.removed.insert(path.clone());
    }
}

/// Removes the value at `path` from `v`, if there is one.
pub(crate) fn remove(v: &mut Value, ty: Ty<'_>, path: &[PathElement]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match (first, ty.shape(v), v) {
        (PathElement::Field(name), Shape::Map { .. }, Value::Object(m)) => {
            if rest.is_empty() {
                m.shift_remove(&**name);
            } else if let Some(child) = m.get_mut(&**name) {
                remove(child, ty.field(name).0, rest);
            }
        }
        (pe, Shape::List { list_type, elem }, Value::Array(items)) => {
            let pes = elements_lenient(&list_type, elem, items);
            let Some(i) = pes.iter().position(|p| p == pe) else {
                return;
            };
            if rest.is_empty() {
                items.remove(i);
            } else {
                remove(&mut items[i], elem, rest);
            }
        }
        _ => {}
    }
}

/// The `FieldsV1` of the fields a create of the object `v` records: what
/// `compare({}, v)` adds — every node below the root, granular or leaf —
/// restricted to the paths `keep` accepts, encoded as
/// [`FieldSet::to_fields_v1`] encodes it. Built straight from the value: no
/// path is copied and no set is built, since a create has nothing to compare
/// with.
///
/// `keep` sees a path as its field names (`None` for a list element).
/// Returns the JSON and how many paths it holds, or `None` where the
/// comparison is not that simple: `v` not a granular object, or a list with
/// two elements of the same identity (whose fields a comparison unites).
pub(crate) fn created_fields_v1(
    v: &Value,
    ty: Ty<'_>,
    keep: &dyn Fn(&[Option<&str>]) -> bool,
) -> Option<(Value, usize)> {
    let (Shape::Map { atomic: false }, Value::Object(m)) = (ty.shape(v), v) else {
        return None;
    };
    let mut members = 0;
    let mut path = Vec::new();
    let root = created_entries(m, ty, &mut path, keep, &mut members)?;
    Some((Value::Object(root.into_iter().collect()), members))
}

/// The encoded children of a granular map of [`created_fields_v1`], in
/// order.
fn created_entries<'v>(
    m: &'v Map<String, Value>,
    ty: Ty<'_>,
    path: &mut Vec<Option<&'v str>>,
    keep: &dyn Fn(&[Option<&str>]) -> bool,
    members: &mut usize,
) -> Option<Vec<(String, Value)>> {
    // Field names sort as strings, as `PathElement::Field` does.
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut children = Vec::with_capacity(entries.len());
    let fields = ty.fields();
    for (k, val) in entries {
        path.push(Some(k.as_str()));
        // A scalar's type is not needed (it is a leaf whatever it is):
        // looking fields up in the schema is most of the cost of this walk.
        let fty = if val.is_object() || val.is_array() {
            fields.get(k).0
        } else {
            ty
        };
        let child = created_node(val, fty, path, keep, members)?;
        path.pop();
        if let Some(c) = child {
            let mut name = String::with_capacity(k.len() + 2);
            name.push_str("f:");
            name.push_str(k);
            children.push((name, Value::Object(c)));
        }
    }
    Some(children)
}

/// One node of [`created_fields_v1`]: `Some(None)` when nothing at or under
/// it is kept.
fn created_node<'v>(
    v: &'v Value,
    ty: Ty<'_>,
    path: &mut Vec<Option<&'v str>>,
    keep: &dyn Fn(&[Option<&str>]) -> bool,
    members: &mut usize,
) -> Option<Option<Map<String, Value>>> {
    let member = keep(path);
    if member {
        *members += 1;
    }
    let mut children: Vec<(String, Value)> = Vec::new();
    match (ty.shape(v), v) {
        (Shape::Map { atomic: false }, Value::Object(m)) if !m.is_empty() => {
            children = created_entries(m, ty, path, keep, members)?;
        }
        (Shape::List { list_type, elem }, Value::Array(items))
            if list_type != ListType::Atomic && !items.is_empty() =>
        {
            let mut pes: Vec<(PathElement, &Value)> = elements_lenient(&list_type, elem, items)
                .into_iter()
                .zip(items)
                .collect();
            pes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            if pes.windows(2).any(|w| w[0].0 == w[1].0) {
                return None;
            }
            for (pe, item) in pes {
                path.push(None);
                let child = created_node(item, elem, path, keep, members)?;
                path.pop();
                if let Some(c) = child {
                    children.push((pe.encode(), Value::Object(c)));
                }
            }
        }
        _ => {}
    }
    if !member && children.is_empty() {
        return Some(None);
    }
    let mut out = Map::with_capacity(children.len() + 1);
    if member && !children.is_empty() {
        out.insert(".".into(), Value::Object(Map::new()));
    }
    out.extend(children);
    Some(Some(out))
}
