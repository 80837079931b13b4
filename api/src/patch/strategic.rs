//! Applying a strategic merge patch, as the API server does
//! (`StrategicMergeMapPatchUsingLookupPatchMeta` with
//! `MergeParallelList` and `IgnoreUnmatchedNulls`).

use serde_json::{Map, Value};

use super::meta::{ListStrategy, PatchMeta};
use super::{PatchError, go_type, go_v};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// Applies a strategic merge patch to `original` and returns the result.
/// Both must be JSON objects.
pub fn strategic_merge(
    original: &Value,
    patch: &Value,
    meta: &PatchMeta,
) -> Result<Value, PatchError> {
    let (Value::Object(original), Value::Object(patch)) = (original, patch) else {
        return Err(PatchError::BadJsonDoc);
    };
    merge_map(original.clone(), patch.clone(), *meta).map(Value::Object)
}

/// Go's `==` on decoded JSON scalars: numbers compare as numbers.
fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(p), Some(q)) if p == q)
        }
        _ => a == b,
    }
}

/// The Go type of every element of the lists, or the error Kubernetes gives
/// for lists of lists and mixed lists.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Map,
    Scalar(&'static str),
}

fn element_kind(lists: &[&[Value]]) -> Result<Kind, PatchError> {
    let mut prev: Option<&'static str> = None;
    for list in lists {
        for v in list.iter() {
            let t = go_type(v);
            if t == "<nil>" && prev.is_none() {
                continue;
            }
            match prev {
                None => {
                    if v.is_array() {
                        return Err(PatchError::ListOfLists);
                    }
                    prev = Some(t);
                }
                Some(p) if p != t => {
                    let all: Vec<String> = lists
                        .iter()
                        .map(|l| go_v(&Value::Array(l.to_vec())))
                        .collect();
                    return Err(PatchError::MixedListTypes(format!("[{}]", all.join(" "))));
                }
                Some(_) => {}
            }
        }
    }
    match prev {
        None => Err(PatchError::NoElements),
        Some("map[string]interface {}") => Ok(Kind::Map),
        Some(t) => Ok(Kind::Scalar(t)),
    }
}

fn no_merge_key(m: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::NoMergeKey {
        map: go_v(&Value::Object(m.clone())),
        key: key.to_owned(),
    }
}

/// Whether a key is one of the parallel-list or retainKeys directives, which
/// never belong in a stored object.
fn is_directive_key(k: &str) -> bool {
    k == DIRECTIVE
        || k == RETAIN_KEYS
        || k.starts_with(&format!("{DELETE_FROM_PRIMITIVE_LIST}/"))
        || k.starts_with(&format!("{SET_ELEMENT_ORDER}/"))
}

/// Kubernetes' `removeDirectives`: drops maps carrying `$patch`. Skiff also
/// drops the other directive keys, which Kubernetes loses later when it
/// decodes into a typed struct. Returns `None` when the value goes.
fn remove_directives(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE) {
                return None;
            }
            let out: Map<String, Value> = m
                .into_iter()
                .filter(|(k, _)| !is_directive_key(k))
                .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                .collect();
            Some(Value::Object(out))
        }
        Value::Array(a) => Some(Value::Array(
            a.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

/// `discardNullValuesFromPatch`: drops null map entries at every depth.
fn discard_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(discard_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// A patch value taken as is: nulls and directives removed.
fn clean(mut v: Value) -> Option<Value> {
    discard_nulls(&mut v);
    remove_directives(v)
}

fn extract_key<'a>(key: &'a str, prefix: &str) -> Result<&'a str, PatchError> {
    match key.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest),
        _ if prefix == DELETE_FROM_PRIMITIVE_LIST => Err(PatchError::PrimitiveList),
        _ => Err(PatchError::SetElementOrder),
    }
}

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    meta: PatchMeta,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => {
                patch.remove(DIRECTIVE);
                match clean(Value::Object(patch)) {
                    Some(Value::Object(m)) => Ok(m),
                    _ => Ok(Map::new()),
                }
            }
            Some("delete") => Ok(Map::new()),
            _ => Err(PatchError::UnknownPatchType {
                directive: go_v(directive),
                map: go_v(&Value::Object(patch.clone())),
            }),
        };
    }
    apply_retain_keys(&mut original, &mut patch)?;
    apply_set_element_order(&mut original, &mut patch, meta)?;

    // Deletion lists go last so that, within one patch, a list is merged
    // before items are taken out of it.
    type Entries = Vec<(String, Value)>;
    let (deletes, others): (Entries, Entries) = patch
        .into_iter()
        .partition(|(k, _)| k.starts_with(DELETE_FROM_PRIMITIVE_LIST));
    for (key, patch_value) in others.into_iter().chain(deletes) {
        let (key, delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            (
                extract_key(&key, DELETE_FROM_PRIMITIVE_LIST)?.to_owned(),
                true,
            )
        } else {
            (key, false)
        };
        if patch_value.is_null() {
            original.remove(&key);
            continue;
        }
        let Some(current) = original.remove(&key) else {
            if !delete_list && let Some(v) = clean(patch_value) {
                original.insert(key, v);
            }
            continue;
        };
        let merged = match (current, patch_value) {
            (Value::Object(o), Value::Object(p)) => {
                let (strategy, _, child) = meta.field(&key);
                if strategy == ListStrategy::Replace {
                    clean(Value::Object(p))
                } else {
                    Some(Value::Object(merge_map(o, p, child)?))
                }
            }
            (Value::Array(o), Value::Array(p)) => {
                let (strategy, merge_key, child) = meta.field(&key);
                if strategy == ListStrategy::Merge || delete_list {
                    Some(Value::Array(merge_list(
                        o,
                        p,
                        child,
                        merge_key,
                        delete_list,
                    )?))
                } else {
                    clean(Value::Array(p))
                }
            }
            (current, patch_value) => {
                if delete_list {
                    // A deletion list against a non-list leaves the field alone.
                    Some(current)
                } else {
                    clean(patch_value)
                }
            }
        };
        if let Some(v) = merged {
            original.insert(key, v);
        }
    }
    Ok(original)
}

/// `$retainKeys`: drop every field of `original` not listed, after checking
/// that the patch only sets listed fields.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::RetainKeys);
    };
    let keep = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !keep(k) {
            return Err(PatchError::RetainKeys);
        }
    }
    original.retain(|k, _| keep(k));
    Ok(())
}

fn as_list(v: Option<&Value>) -> Result<Option<&[Value]>, PatchError> {
    match v {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(other) => Err(PatchError::BadArgType {
            expected: "[]interface {}",
            actual: go_type(other),
        }),
    }
}

/// `$setElementOrder/<field>`: merge the field's list and then order it:
/// the order list first, the order in the patch next, the live order last.
fn apply_set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    meta: PatchMeta,
) -> Result<(), PatchError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let Some(order) = patch.remove(&key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(PatchError::BadArgType {
                expected: "[]interface {}",
                actual: go_type(&order),
            });
        };
        let field = extract_key(&key, SET_ELEMENT_ORDER)?.to_owned();
        let original_list = as_list(original.get(&field))?.map(<[Value]>::to_vec);
        let patch_list = as_list(patch.get(&field))?.map(<[Value]>::to_vec);
        let (strategy, merge_key, child) = meta.field(&field);
        validate_order(patch_list.as_deref().unwrap_or(&[]), &order, merge_key)?;
        let merged = match (&original_list, &patch_list) {
            (Some(o), None) => o.clone(),
            (None, Some(p)) => match remove_directives(Value::Array(p.clone())) {
                Some(Value::Array(a)) => a,
                _ => continue,
            },
            (Some(o), Some(p)) => {
                if strategy == ListStrategy::Merge {
                    merge_list(o.clone(), p.clone(), child, merge_key, false)?
                } else {
                    clean(Value::Array(p.clone()))
                        .and_then(|v| v.as_array().cloned())
                        .unwrap_or_default()
                }
            }
            (None, None) => continue,
        };
        let (in_order, server_only) = partition(merged, &order, merge_key)?;
        let kind = element_kind(&[
            original_list.as_deref().unwrap_or(&[]),
            patch_list.as_deref().unwrap_or(&[]),
        ])?;
        let server_order = match (&original_list, &patch_list, merge_key) {
            (Some(o), Some(p), Some(k)) if strategy == ListStrategy::Merge && kind == Kind::Map => {
                go_aliased_original(o, p, k)
            }
            _ => original_list.clone().unwrap_or_default(),
        };
        let sorted = normalize_element_order(
            in_order,
            server_only,
            &order,
            &server_order,
            merge_key,
            kind,
        )?;
        original.insert(field.clone(), Value::Array(sorted));
        patch.remove(&field);
    }
    Ok(())
}

/// The live list as Kubernetes sees it when it orders by `$setElementOrder`:
/// its merge works in place on the live list's Go slice, so deleted items
/// shift the rest left and new items fill the freed slots. Kubernetes'
/// results depend on this, so Skiff reproduces it.
fn go_aliased_original(original: &[Value], patch: &[Value], key: &str) -> Vec<Value> {
    let n = original.len();
    let mut buf = original.to_vec();
    let mut len = n;
    let mut replace = false;
    let key_matches = |v: &Value, want: &Value| v.get(key).is_some_and(|x| scalar_eq(x, want));
    for p in patch {
        match p.get(DIRECTIVE).and_then(Value::as_str) {
            Some("delete") => {
                let Some(want) = p.get(key) else { continue };
                while let Some(i) = buf[..len].iter().position(|v| key_matches(v, want)) {
                    for j in i..len - 1 {
                        buf[j] = buf[j + 1].clone();
                    }
                    len -= 1;
                }
            }
            Some("replace") => replace = true,
            _ => {}
        }
    }
    if replace {
        return buf;
    }
    let mut logical: Vec<Value> = buf[..len].to_vec();
    for p in patch.iter().filter(|p| p.get(DIRECTIVE).is_none()) {
        let Some(want) = p.get(key) else { continue };
        if !logical.iter().any(|v| key_matches(v, want)) {
            logical.push(p.clone());
            if logical.len() <= n {
                buf[logical.len() - 1] = p.clone();
            }
        }
    }
    buf
}

/// Every non-deleted, directive-free item of the patch list must appear in
/// the order list, in the same relative order.
fn validate_order(
    patch_list: &[Value],
    order: &[Value],
    merge_key: Option<&str>,
) -> Result<(), PatchError> {
    if patch_list.is_empty() || order.is_empty() {
        return Ok(());
    }
    let items: Vec<&Value> = match merge_key {
        Some(_) => {
            let mut kept = Vec::new();
            for v in patch_list {
                let Value::Object(m) = v else {
                    return Err(PatchError::BadArgType {
                        expected: "map[string]interface {}",
                        actual: go_type(v),
                    });
                };
                if m.get(DIRECTIVE).and_then(Value::as_str) != Some("delete") {
                    kept.push(v);
                }
            }
            kept
        }
        None => patch_list.iter().collect(),
    };
    let (mut pi, mut oi) = (0, 0);
    while pi < items.len() && oi < order.len() {
        if items[pi].get(DIRECTIVE).is_some() {
            pi += 1;
            continue;
        }
        if merge_key_equal(items[pi], &order[oi], merge_key)? {
            pi += 1;
        }
        oi += 1;
    }
    if pi < items.len() && oi >= order.len() {
        return Err(PatchError::OrderMismatch {
            patch: go_v(&Value::Array(patch_list.to_vec())),
            order: go_v(&Value::Array(order.to_vec())),
        });
    }
    Ok(())
}

fn merge_key_equal(a: &Value, b: &Value, key: Option<&str>) -> Result<bool, PatchError> {
    let Some(key) = key else {
        return Ok(scalar_eq(a, b));
    };
    let (Value::Object(x), Value::Object(y)) = (a, b) else {
        let bad = if a.is_object() { b } else { a };
        return Err(PatchError::BadArgType {
            expected: "map[string]interface {}",
            actual: go_type(bad),
        });
    };
    let kx = x.get(key).ok_or_else(|| no_merge_key(x, key))?;
    let ky = y.get(key).ok_or_else(|| no_merge_key(y, key))?;
    Ok(scalar_eq(kx, ky))
}

/// Merges two lists of a field with the merge strategy (or a deletion list).
fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    meta: PatchMeta,
    merge_key: Option<&str>,
    delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = element_kind(&[&original, &patch])?;
    let (original, patch, merged) = match kind {
        Kind::Scalar(_) => {
            if delete_list {
                return Ok(original
                    .into_iter()
                    .filter(|v| !patch.iter().any(|d| scalar_eq(v, d)))
                    .collect());
            }
            let mut merged: Vec<Value> = Vec::new();
            for v in original.iter().chain(patch.iter()) {
                if !merged.iter().any(|m| scalar_eq(m, v)) {
                    merged.push(v.clone());
                }
            }
            (original, patch, merged)
        }
        Kind::Map => {
            let Some(key) = merge_key else {
                return Err(PatchError::NoMergeKeyDeclared(meta.name().to_owned()));
            };
            let (original, patch) = apply_special_elements(original, patch, key)?;
            let merged = merge_by_key(original.clone(), &patch, key, meta)?;
            (original, patch, merged)
        }
    };
    let (in_patch, server_only) = partition(merged, &patch, merge_key)?;
    normalize_element_order(in_patch, server_only, &patch, &original, merge_key, kind)
}

/// Handles `$patch: delete` and `$patch: replace` elements; returns the
/// original after deletions and the patch without them.
fn apply_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::new();
    let mut replace = false;
    for v in patch {
        let Value::Object(m) = &v else {
            plain.push(v);
            continue;
        };
        let Some(directive) = m.get(DIRECTIVE) else {
            plain.push(v);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let value = m.get(key).ok_or_else(|| no_merge_key(m, key))?;
                let mut kept = Vec::with_capacity(original.len());
                for (i, o) in original.into_iter().enumerate() {
                    let Value::Object(om) = &o else {
                        return Err(PatchError::NotAMap(i));
                    };
                    if !om.get(key).is_some_and(|x| scalar_eq(x, value)) {
                        kept.push(o);
                    }
                }
                original = kept;
            }
            Some("replace") => replace = true,
            Some("merge") => return Err(PatchError::MergeDirectiveInList),
            _ => {
                return Err(PatchError::UnknownPatchType {
                    directive: go_v(directive),
                    map: go_v(&v),
                });
            }
        }
    }
    if replace {
        let cleaned = plain.into_iter().filter_map(clean).collect();
        return Ok((cleaned, Vec::new()));
    }
    Ok((original, plain))
}

fn find_by_key(list: &[Value], key: &str, value: &Value) -> Result<Option<usize>, PatchError> {
    for (i, v) in list.iter().enumerate() {
        let Value::Object(m) = v else {
            return Err(PatchError::NotAMap(i));
        };
        if m.get(key).is_some_and(|x| scalar_eq(x, value)) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Merges each patch element into the original element with the same key,
/// appending those with a new key.
fn merge_by_key(
    mut original: Vec<Value>,
    patch: &[Value],
    key: &str,
    meta: PatchMeta,
) -> Result<Vec<Value>, PatchError> {
    for v in patch {
        let Value::Object(pm) = v else {
            return Err(PatchError::BadArgType {
                expected: "map[string]interface {}",
                actual: go_type(v),
            });
        };
        let value = pm.get(key).ok_or_else(|| no_merge_key(pm, key))?;
        match find_by_key(&original, key, value)? {
            Some(i) => {
                let current = std::mem::take(&mut original[i]);
                let Value::Object(cm) = current else {
                    return Err(PatchError::NotAMap(i));
                };
                original[i] = Value::Object(merge_map(cm, pm.clone(), meta)?);
            }
            None => {
                if let Some(c) = clean(v.clone()) {
                    original.push(c);
                }
            }
        }
    }
    Ok(original)
}

/// Splits `merged` into the items present in `by` (by merge key, or by value)
/// and the rest.
fn partition(
    merged: Vec<Value>,
    by: &[Value],
    merge_key: Option<&str>,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut inside = Vec::new();
    let mut outside = Vec::new();
    for v in merged {
        let present = match merge_key {
            None => by.iter().any(|b| scalar_eq(b, &v)),
            Some(key) => {
                let Value::Object(m) = &v else {
                    return Err(PatchError::BadArgType {
                        expected: "map[string]interface {}",
                        actual: go_type(&v),
                    });
                };
                let value = m.get(key).ok_or_else(|| no_merge_key(m, key))?;
                find_by_key(by, key, value)?.is_some()
            }
        };
        if present {
            inside.push(v);
        } else {
            outside.push(v);
        }
    }
    Ok((inside, outside))
}

/// The position of `item` in `list`, by merge key for maps.
fn index_of(list: &[Value], item: &Value, merge_key: Option<&str>, kind: Kind) -> Option<usize> {
    let key_of = |v: &Value| -> Option<Value> {
        match (kind, merge_key) {
            (Kind::Map, Some(k)) => Some(v.get(k).cloned().unwrap_or(Value::Null)),
            (Kind::Map, None) => None,
            _ => Some(v.clone()),
        }
    };
    let want = key_of(item)?;
    list.iter()
        .position(|v| key_of(v).is_some_and(|k| scalar_eq(&k, &want)))
}

/// Sorts `items` by their position in `order`; items not in `order` keep
/// their relative order ahead of those that are.
fn sort_by_order(
    items: Vec<Value>,
    order: &[Value],
    merge_key: Option<&str>,
    kind: Kind,
) -> Vec<Value> {
    let mut keyed: Vec<(Option<usize>, Value)> = items
        .into_iter()
        .map(|v| (index_of(order, &v, merge_key, kind), v))
        .collect();
    keyed.sort_by_key(|(i, _)| i.map_or(0, |i| i + 1));
    keyed.into_iter().map(|(_, v)| v).collect()
}

/// `normalizeElementOrder`: patch items in patch order, server-only items in
/// live order, then interleaved so each server-only item stays before the
/// first patch item that followed it in the live list.
fn normalize_element_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: Option<&str>,
    kind: Kind,
) -> Result<Vec<Value>, PatchError> {
    if kind == Kind::Map {
        let key = merge_key.unwrap_or("");
        for v in patch_items
            .iter()
            .chain(&server_only)
            .chain(patch_order)
            .chain(server_order)
        {
            let Value::Object(m) = v else {
                return Err(PatchError::BadArgType {
                    expected: "map[string]interface {}",
                    actual: go_type(v),
                });
            };
            if !m.contains_key(key) {
                return Err(no_merge_key(m, key));
            }
        }
    }
    let right = sort_by_order(patch_items, patch_order, merge_key, kind);
    let left = sort_by_order(server_only, server_order, merge_key, kind);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => out.extend(left.next()),
            (None, Some(_)) => out.extend(right.next()),
            (Some(l), Some(r)) => {
                let li = index_of(server_order, l, merge_key, kind);
                let ri = index_of(server_order, r, merge_key, kind);
                match (li, ri) {
                    (Some(li), Some(ri)) if li < ri => out.extend(left.next()),
                    _ => out.extend(right.next()),
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> PatchMeta {
        PatchMeta::for_kind("", "Pod")
    }

    fn smp(original: Value, patch: Value, meta: PatchMeta) -> Value {
        strategic_merge(&original, &patch, &meta).unwrap_or_else(|e| panic!("{e}"))
    }

    fn smp_err(original: Value, patch: Value, meta: PatchMeta) -> String {
        strategic_merge(&original, &patch, &meta)
            .unwrap_err()
            .to_string()
    }

    /// A schema like Kubernetes' test struct: `mergingList` by name,
    /// `mergingIntList` as a set, `nonMergingList` replaced.
    fn test_meta() -> PatchMeta {
        PatchMeta::for_kind("", "Pod")
    }

    fn ml(list: Value) -> Value {
        json!({"spec": {"containers": list}})
    }

    #[test]
    fn maps_merge_and_null_deletes() {
        let out = smp(
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"x": 1}}),
            json!({"metadata": {"labels": {"a": null, "c": "3"}}, "spec": {"y": {"z": null, "w": 2}}}),
            pod(),
        );
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"x": 1, "y": {"w": 2}}})
        );
        let out = smp(json!({"a": 1}), json!({"gone": null}), pod());
        assert_eq!(out, json!({"a": 1}));
    }

    #[test]
    fn merge_list_by_key() {
        let out = smp(
            ml(json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y", "args": ["1"]}])),
            ml(json!([{"name": "b", "image": "z"}])),
            pod(),
        );
        assert_eq!(
            out,
            ml(json!([{"name": "a", "image": "x"}, {"name": "b", "image": "z", "args": ["1"]}]))
        );
    }

    #[test]
    fn new_items_go_first_without_set_element_order() {
        // Kubernetes puts patch items the live list does not know ahead of it.
        let out = smp(
            ml(json!([{"name": "a"}, {"name": "b"}])),
            ml(json!([{"name": "c"}])),
            pod(),
        );
        assert_eq!(
            out,
            ml(json!([{"name": "c"}, {"name": "a"}, {"name": "b"}]))
        );
    }

    #[test]
    fn preserve_patch_order() {
        // from Kubernetes' "preserve the order from the patch in a merging list"
        let out = smp(
            ml(json!([{"name": "1"}, {"name": "2", "value": "b"}, {"name": "3"}])),
            ml(
                json!([{"name": "3", "value": "c"}, {"name": "1", "value": "a"}, {"name": "2", "other": "x"}]),
            ),
            pod(),
        );
        assert_eq!(
            out,
            ml(
                json!([{"name": "3", "value": "c"}, {"name": "1", "value": "a"}, {"name": "2", "value": "b", "other": "x"}])
            )
        );
        let out = smp(
            ml(json!([{"name": "1"}, {"name": "2", "value": "b"}, {"name": "3"}])),
            ml(json!([{"name": "3", "value": "c"}, {"name": "1", "value": "a"}])),
            pod(),
        );
        assert_eq!(
            out,
            ml(
                json!([{"name": "2", "value": "b"}, {"name": "3", "value": "c"}, {"name": "1", "value": "a"}])
            )
        );
    }

    #[test]
    fn primitive_sets() {
        let f = |o: Value, p: Value| {
            smp(
                json!({"metadata": {"finalizers": o}}),
                json!({"metadata": {"finalizers": p}}),
                test_meta(),
            )["metadata"]["finalizers"]
                .clone()
        };
        assert_eq!(
            f(json!(["1", "2"]), json!(["2", "3"])),
            json!(["1", "2", "3"])
        );
        assert_eq!(
            f(json!(["1", "2", "3"]), json!(["3", "1", "2"])),
            json!(["3", "1", "2"])
        );
        assert_eq!(
            f(json!(["1", "2", "3"]), json!(["3", "1"])),
            json!(["2", "3", "1"])
        );
        assert_eq!(f(json!(["a"]), json!([])), json!(["a"]));
        assert_eq!(f(json!([]), json!([])), json!([]));
        // numbers compare as numbers, as Go's float64 do
        let out = smp(
            json!({"spec": {"podCIDRs": [1]}}),
            json!({"spec": {"podCIDRs": [1.0, 2]}}),
            PatchMeta::for_kind("", "Node"),
        );
        assert_eq!(out["spec"]["podCIDRs"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn non_merge_lists_replace() {
        let out = smp(
            json!({"spec": {"tolerations": [{"key": "a"}], "containers": [{"name": "c", "args": ["1", "2"], "envFrom": [{"prefix": "x"}]}]}}),
            json!({"spec": {"tolerations": [{"key": "b"}], "containers": [{"name": "c", "args": ["3"], "envFrom": []}]}}),
            pod(),
        );
        assert_eq!(
            out,
            json!({"spec": {"tolerations": [{"key": "b"}], "containers": [{"name": "c", "args": ["3"], "envFrom": []}]}})
        );
        // with no metadata at all, every list replaces
        let out = smp(
            json!({"metadata": {"finalizers": ["a"]}}),
            json!({"metadata": {"finalizers": ["b"]}}),
            PatchMeta::none(),
        );
        assert_eq!(out, json!({"metadata": {"finalizers": ["b"]}}));
    }

    #[test]
    fn nested_merge_lists() {
        let out = smp(
            ml(
                json!([{"name": "c", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}], "ports": [{"containerPort": 80, "name": "http"}]}]),
            ),
            ml(
                json!([{"name": "c", "env": [{"name": "B", "value": "3"}], "ports": [{"containerPort": 443}]}]),
            ),
            pod(),
        );
        assert_eq!(
            out,
            ml(
                json!([{"name": "c", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}], "ports": [{"containerPort": 443}, {"containerPort": 80, "name": "http"}]}])
            )
        );
    }

    #[test]
    fn workload_template_containers_merge() {
        let d = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}}}});
        let out = smp(
            d,
            json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "a", "image": "x:2"}]}}}}),
            PatchMeta::for_kind("apps", "Deployment"),
        );
        assert_eq!(out["spec"]["replicas"], 3);
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "a", "image": "x:2"}, {"name": "b", "image": "y:1"}])
        );
    }

    #[test]
    fn patch_delete_and_replace_in_lists() {
        let out = smp(
            ml(
                json!([{"name": "1"}, {"name": "1"}, {"name": "2", "value": "a"}, {"name": "3"}, {"name": "3"}]),
            ),
            ml(json!([{"name": "1", "$patch": "delete"}, {"name": "3", "$patch": "delete"}])),
            pod(),
        );
        assert_eq!(out, ml(json!([{"name": "2", "value": "a"}])));
        let out = smp(
            ml(json!([{"name": "1"}, {"name": "2"}])),
            ml(json!([{"$patch": "replace"}])),
            pod(),
        );
        assert_eq!(out, ml(json!([])));
        let out = smp(
            ml(json!([{"name": "1", "x": 1}])),
            ml(json!([{"name": "2"}, {"$patch": "replace"}, {"name": "1"}])),
            pod(),
        );
        assert_eq!(out, ml(json!([{"name": "2"}, {"name": "1"}])));
        let out = smp(
            ml(json!([{"name": "1"}, {"name": "2"}])),
            ml(json!([{"name": "3"}, {"name": "1", "$patch": "delete"}])),
            pod(),
        );
        assert_eq!(out, ml(json!([{"name": "3"}, {"name": "2"}])));
    }

    #[test]
    fn patch_directives_on_maps() {
        let out = smp(
            json!({"spec": {"nodeSelector": {"a": "1", "b": "2"}}}),
            json!({"spec": {"nodeSelector": {"$patch": "delete"}}}),
            pod(),
        );
        assert_eq!(out, json!({"spec": {"nodeSelector": {}}}));
        let out = smp(
            json!({"spec": {"nodeSelector": {"a": "1"}}}),
            json!({"spec": {"nodeSelector": {"$patch": "replace", "c": "3", "d": null}}}),
            pod(),
        );
        assert_eq!(out, json!({"spec": {"nodeSelector": {"c": "3"}}}));
        let out = smp(
            json!({"name": 1, "value": 1}),
            json!({"$patch": "replace"}),
            pod(),
        );
        assert_eq!(out, json!({}));
        let out = smp(
            json!({"name": 1, "value": 1}),
            json!({"other": "a", "$patch": "replace"}),
            pod(),
        );
        assert_eq!(out, json!({"other": "a"}));
        assert_eq!(
            smp(json!({"a": 1}), json!({"$patch": "delete"}), pod()),
            json!({})
        );
        assert_eq!(
            smp_err(
                json!({"a": {"b": 1}}),
                json!({"a": {"$patch": "merge"}}),
                pod()
            ),
            "unknown patch type: merge in map: map[$patch:merge]"
        );
        assert_eq!(
            smp_err(
                ml(json!([{"name": "a"}])),
                ml(json!([{"$patch": "merge"}])),
                pod()
            ),
            "merging lists cannot yet be specified in the patch"
        );
        assert_eq!(
            smp_err(
                ml(json!([{"name": "a"}])),
                ml(json!([{"$patch": "frob", "name": "a"}])),
                pod()
            ),
            "unknown patch type: frob in map: map[$patch:frob name:a]"
        );
        assert_eq!(
            smp_err(
                ml(json!([{"name": "a"}])),
                ml(json!([{"$patch": "delete"}])),
                pod()
            ),
            "map: map[$patch:delete] does not contain declared merge key: name"
        );
    }

    #[test]
    fn new_content_loses_directives() {
        let out = smp(
            json!({}),
            json!({"spec": {"containers": [{"name": "a"}, {"name": "b", "$patch": "delete"}], "$setElementOrder/containers": [{"name": "a"}], "x": {"$patch": "delete"}, "y": {"k": null}}}),
            pod(),
        );
        assert_eq!(
            out,
            json!({"spec": {"containers": [{"name": "a"}], "y": {}}})
        );
        let out = smp(
            ml(json!([{"name": "a"}])),
            ml(json!([{"name": "b", "env": [{"name": "X", "value": null}]}])),
            pod(),
        );
        assert_eq!(
            out,
            ml(json!([{"name": "b", "env": [{"name": "X"}]}, {"name": "a"}]))
        );
    }

    #[test]
    fn missing_merge_key() {
        assert_eq!(
            smp_err(
                ml(json!([{"name": "1", "value": "a"}])),
                ml(json!([{"value": "b"}])),
                pod()
            ),
            "map: map[value:b] does not contain declared merge key: name"
        );
    }

    #[test]
    fn type_errors() {
        assert_eq!(
            smp_err(ml(json!([[0]])), ml(json!([[1]])), pod()),
            "lists of lists are not supported"
        );
        assert_eq!(
            smp_err(ml(json!([{"name": "a"}])), ml(json!([[1]])), pod()),
            "list element types are not identical: [[map[name:a]] [[1]]]"
        );
        assert!(
            smp_err(ml(json!([{"name": "a"}])), ml(json!(["x"])), pod())
                .starts_with("list element types are not identical")
        );
        assert_eq!(
            smp_err(json!([]), json!({}), pod()),
            "invalid JSON document"
        );
        assert_eq!(
            smp_err(json!({}), json!("x"), pod()),
            "invalid JSON document"
        );
        let e = smp_err(
            json!({"spec": {"tolerations": [{"a": 1}]}}),
            json!({"spec": {"$setElementOrder/tolerations": [{"a": 2}], "tolerations": [{"a": 2}]}}),
            pod(),
        );
        assert!(e.ends_with("does not contain declared merge key: "), "{e}");
        // a map where a list was, and the reverse, is a plain replace
        let out = smp(
            json!({"spec": {"containers": {"x": 1}}}),
            json!({"spec": {"containers": [{"name": "a"}]}}),
            pod(),
        );
        assert_eq!(out, ml(json!([{"name": "a"}])));
        let out = smp(
            ml(json!([{"name": "a"}])),
            json!({"spec": {"containers": "none"}}),
            pod(),
        );
        assert_eq!(out, json!({"spec": {"containers": "none"}}));
        // a merge list with maps but no merge key declared
        let cj = PatchMeta::for_kind("", "Node");
        assert_eq!(
            smp_err(
                json!({"spec": {"podCIDRs": [{"a": 1}]}}),
                json!({"spec": {"podCIDRs": [{"a": 2}]}}),
                cj
            ),
            "cannot merge lists without merge key for podCIDRs"
        );
        assert_eq!(
            smp_err(
                json!({"spec": {"podCIDRs": [null]}}),
                json!({"spec": {"podCIDRs": [null]}}),
                PatchMeta::for_kind("", "Node")
            ),
            "no elements in any of the given slices"
        );
    }

    #[test]
    fn delete_from_primitive_list() {
        let f = |o: Value, p: Value| smp(json!({"metadata": {"finalizers": o}}), p, test_meta());
        assert_eq!(
            f(
                json!(["1", "2", "3"]),
                json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["2"]}})
            ),
            json!({"metadata": {"finalizers": ["1", "3"]}})
        );
        assert_eq!(
            f(
                json!(["1", "2"]),
                json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["3"]}})
            ),
            json!({"metadata": {"finalizers": ["1", "2"]}})
        );
        // a list without the merge strategy too
        let out = smp(
            json!({"spec": {"args": ["1", "2", "3"]}}),
            json!({"spec": {"$deleteFromPrimitiveList/args": ["2"]}}),
            pod(),
        );
        assert_eq!(out, json!({"spec": {"args": ["1", "3"]}}));
        // on a missing list nothing is added
        let out = smp(
            json!({"spec": {"foo": ["bar"]}}),
            json!({"spec": {"$deleteFromPrimitiveList/args": ["3"]}}),
            pod(),
        );
        assert_eq!(out, json!({"spec": {"foo": ["bar"]}}));
        // merged first, then deleted
        let out = f(
            json!(["1", "2"]),
            json!({"metadata": {"finalizers": ["3"], "$deleteFromPrimitiveList/finalizers": ["1"]}}),
        );
        assert_eq!(out, json!({"metadata": {"finalizers": ["3", "2"]}}));
        assert_eq!(
            smp_err(
                json!({"a": [1]}),
                json!({"$deleteFromPrimitiveListX/a": [1]}),
                pod()
            ),
            "invalid patch format of primitive list"
        );
    }

    #[test]
    fn set_element_order() {
        // from Kubernetes' "add map and delete map from merging list"
        let out = smp(
            ml(json!([{"name": "1"}, {"name": "2", "other": "b"}, {"name": "4", "other": "c"}])),
            json!({"spec": {"$setElementOrder/containers": [{"name": "2"}, {"name": "3"}], "containers": [{"name": "3"}, {"name": "1", "$patch": "delete"}]}}),
            pod(),
        );
        assert_eq!(
            out,
            ml(json!([{"name": "2", "other": "b"}, {"name": "4", "other": "c"}, {"name": "3"}]))
        );
        // from "add map to merging list by pointer"
        let out = smp(
            ml(json!([{"name": "1", "other": "a"}, {"name": "3"}])),
            json!({"spec": {"$setElementOrder/containers": [{"name": "1"}, {"name": "2"}], "containers": [{"name": "2"}]}}),
            pod(),
        );
        assert_eq!(
            out,
            ml(json!([{"name": "1", "other": "a"}, {"name": "2"}, {"name": "3"}]))
        );
        // order list naming an item the list lacks
        let out = smp(
            ml(json!([{"name": "1"}, {"name": "3"}])),
            json!({"spec": {"$setElementOrder/containers": [{"name": "3"}, {"name": "2"}, {"name": "1"}], "containers": [{"name": "3", "value": 3}, {"name": "1", "value": 1}]}}),
            pod(),
        );
        assert_eq!(
            out,
            ml(json!([{"name": "3", "value": 3}, {"name": "1", "value": 1}]))
        );
        // primitives, with only the order list
        let out = smp(
            json!({"metadata": {"finalizers": ["1", "3"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": ["3", "2", "1"]}}),
            pod(),
        );
        assert_eq!(out, json!({"metadata": {"finalizers": ["3", "1"]}}));
    }

    #[test]
    fn set_element_order_mismatch() {
        let e = smp_err(
            ml(json!([{"name": "1"}, {"name": "3"}, {"name": "2"}])),
            json!({"spec": {"$setElementOrder/containers": [{"name": "1"}, {"name": "2"}, {"name": "3"}], "containers": [{"name": "3", "value": 3}, {"name": "1", "value": 1}]}}),
            pod(),
        );
        assert!(e.contains("doesn't match"), "{e}");
        let e = smp_err(
            json!({"metadata": {"finalizers": ["1", "3", "2"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": ["1", "2", "3"], "finalizers": ["3", "1"]}}),
            pod(),
        );
        assert!(e.contains("doesn't match"), "{e}");
        assert_eq!(
            smp_err(json!({}), json!({"$setElementOrder/x": "notalist"}), pod()),
            "expected a []interface {}, but received a string"
        );
        assert_eq!(
            smp_err(json!({}), json!({"$setElementOrderX/x": []}), pod()),
            "invalid patch format of setElementOrder list"
        );
    }

    #[test]
    fn retain_keys() {
        let meta = PatchMeta::for_kind("apps", "Deployment");
        let out = smp(
            json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
            meta,
        );
        assert_eq!(out, json!({"spec": {"strategy": {"type": "Recreate"}}}));
        // without the directive the map merges as usual
        let out = smp(
            json!({"s": {"name": "foo"}}),
            json!({"s": {"value": "bar"}}),
            meta,
        );
        assert_eq!(out, json!({"s": {"name": "foo", "value": "bar"}}));
        assert_eq!(
            smp_err(
                json!({"s": {"a": 1}}),
                json!({"s": {"$retainKeys": ["a"], "b": 2}}),
                meta
            ),
            "invalid patch format of retainKeys"
        );
        assert_eq!(
            smp_err(json!({"s": {}}), json!({"s": {"$retainKeys": "a"}}), meta),
            "invalid patch format of retainKeys"
        );
        // nulls and parallel lists need not be listed
        let out = smp(
            json!({"s": {"a": 1, "b": 2, "c": 3}}),
            json!({"s": {"$retainKeys": ["a", "c"], "c": null}}),
            meta,
        );
        assert_eq!(out, json!({"s": {"a": 1}}));
        // volumes with retainKeys inside a merge list
        let out = smp(
            json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}),
            json!({"spec": {"volumes": [{"name": "v", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/x"}}]}}),
            pod(),
        );
        assert_eq!(
            out,
            json!({"spec": {"volumes": [{"name": "v", "hostPath": {"path": "/x"}}]}})
        );
    }

    #[test]
    fn replace_strategy_maps() {
        let pdb = PatchMeta::for_kind("policy", "PodDisruptionBudget");
        let out = smp(
            json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "minAvailable": 1}}),
            json!({"spec": {"selector": {"matchExpressions": [{"key": "x", "operator": "Exists"}]}}}),
            pdb,
        );
        assert_eq!(
            out,
            json!({"spec": {"selector": {"matchExpressions": [{"key": "x", "operator": "Exists"}]}, "minAvailable": 1}})
        );
    }

    #[test]
    fn owner_references_by_uid_and_conditions_by_type() {
        let out = smp(
            json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}, "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Scheduled", "status": "True"}]}}),
            json!({"metadata": {"ownerReferences": [{"uid": "1", "controller": true}]}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
            pod(),
        );
        assert_eq!(
            out["metadata"]["ownerReferences"],
            json!([{"uid": "1", "name": "a", "controller": true}])
        );
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type": "Ready", "status": "True"}, {"type": "Scheduled", "status": "True"}])
        );
    }

    #[test]
    fn service_ports_by_port() {
        let out = smp(
            json!({"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}}),
            json!({"spec": {"ports": [{"port": 443, "targetPort": 8443}]}}),
            PatchMeta::for_kind("", "Service"),
        );
        assert_eq!(
            out["spec"]["ports"],
            json!([{"port": 80, "name": "http"}, {"port": 443, "name": "https", "targetPort": 8443}])
        );
    }

    #[test]
    fn original_is_not_modified() {
        let original = ml(json!([{"name": "a"}]));
        let copy = original.clone();
        let _ =
            strategic_merge(&original, &ml(json!([{"name": "a", "image": "x"}])), &pod()).unwrap();
        assert_eq!(original, copy);
    }

    #[test]
    fn deep_nesting_does_not_panic() {
        let mut patch = json!({"leaf": 1});
        let mut original = json!({"leaf": 0});
        for _ in 0..200 {
            patch = json!({"n": patch});
            original = json!({"n": original});
        }
        assert!(strategic_merge(&original, &patch, &pod()).is_ok());
    }
}
