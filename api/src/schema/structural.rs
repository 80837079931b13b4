//! The checks a CRD's `openAPIV3Schema` must pass to be created: Kubernetes'
//! static schema validation (`ValidateCustomResourceDefinitionOpenAPISchema`)
//! and the structural-schema invariants (`ValidateStructural`).

use serde_json::{Map, Value};

use super::{
    SchemaViolation as V, ViolationKind as K, child, embedded, flag, index, int_or_string, key,
    preserves_unknown, properties, type_of,
};

const META_FIELDS: [&str; 3] = ["metadata", "kind", "apiVersion"];

/// Checks that `schema` is a structural schema a CRD may carry, with field
/// paths relative to the schema root (`properties[spec].type`). See
/// [`check_structural_at`].
pub fn check_structural(schema: &Value) -> Vec<V> {
    check_structural_at("", schema)
}

/// Checks that `schema` is a structural schema a CRD may carry; field paths
/// start with `base`, e.g. `spec.versions[0].schema.openAPIV3Schema`.
///
/// Rejected, with Kubernetes' messages: nodes without `type` (unless
/// `x-kubernetes-int-or-string` or `x-kubernetes-preserve-unknown-fields`),
/// arrays without `items`, `additionalProperties` with `properties` or at the
/// root, a root that is not an object, `metadata` that restricts more than
/// `name` and `generateName`, types, defaults, descriptions or metadata inside
/// `allOf`/`anyOf`/`oneOf`/`not`, properties specified only under those,
/// `$ref`, `definitions`, `patternProperties`, `dependencies`,
/// `additionalItems`, `uniqueItems: true`, `type: null`, invalid
/// `x-kubernetes-*` combinations, patterns that do not compile, and defaults
/// that do not validate against their own schema. CEL rules are not compiled.
/// Violations are sorted by message, as Kubernetes sorts them.
pub fn check_structural_at(base: &str, schema: &Value) -> Vec<V> {
    let mut out = Vec::new();
    if !schema.is_object() {
        out.push(V::new(
            base,
            K::Invalid(schema.clone()),
            "must be a JSON schema object",
        ));
        return out;
    }
    let cx = Static {
        root: true,
        inside_meta: false,
        forbid_defaults: None,
    };
    cx.check(schema, base, &mut out);
    structural(schema, Level::Root, base, &mut out);
    completeness(schema, schema, base, base, &mut out);
    out.sort_by_key(ToString::to_string);
    out.dedup();
    out
}

// ---- static validation (apis/apiextensions/validation) ----

#[derive(Clone)]
struct Static {
    root: bool,
    inside_meta: bool,
    forbid_defaults: Option<String>,
}

impl Static {
    fn check(&self, s: &Value, path: &str, out: &mut Vec<V>) {
        let Some(obj) = s.as_object() else {
            out.push(V::new(
                path,
                K::Invalid(s.clone()),
                "must be a JSON schema object",
            ));
            return;
        };
        for (k, detail) in [
            ("id", "id is not supported"),
            ("additionalItems", "additionalItems is not supported"),
            ("patternProperties", "patternProperties is not supported"),
            ("definitions", "definitions is not supported"),
            ("dependencies", "dependencies is not supported"),
            ("$ref", "$ref is not supported"),
        ] {
            if obj.get(k).is_some_and(|v| !v.is_null()) {
                out.push(V::new(child(path, k), K::Forbidden, detail));
            }
        }
        if obj.get("type").and_then(Value::as_str) == Some("null") {
            out.push(V::new(
                child(path, "type"),
                K::Forbidden,
                "type cannot be set to null, use nullable as an alternative",
            ));
        }
        if obj.get("items").is_some_and(Value::is_array) {
            out.push(V::new(
                child(path, "items"),
                K::Forbidden,
                "items must be a schema object and not an array",
            ));
        }
        if self.inside_meta && embedded(s) {
            out.push(V::new(
                child(path, "x-kubernetes-embedded-resource"),
                K::Forbidden,
                "must not be used inside of resource meta",
            ));
        }
        if let Some(def) = obj.get("default") {
            if let Some(reason) = &self.forbid_defaults {
                out.push(V::new(
                    child(path, "default"),
                    K::Forbidden,
                    format!("must not be set {reason}"),
                ));
            } else {
                check_default(def, s, &child(path, "default"), out);
            }
        }
        if flag(s, "uniqueItems") {
            out.push(V::new(
                child(path, "uniqueItems"),
                K::Forbidden,
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            ));
        }
        let props = properties(s);
        if let Some(add) = obj.get("additionalProperties") {
            let has_props = props.is_some_and(|p| !p.is_empty());
            if has_props && *add != Value::Bool(true) {
                out.push(V::new(
                    child(path, "additionalProperties"),
                    K::Forbidden,
                    "additionalProperties and properties are mutual exclusive",
                ));
            }
            if add.is_object() {
                let mut sub = self.nested();
                if self.inside_meta {
                    sub.forbid_defaults =
                        Some("inside additionalProperties applying to object metadata".into());
                }
                sub.check(add, &child(path, "additionalProperties"), out);
            }
        }
        if let Some(props) = props {
            for (name, p) in props {
                let mut sub = self.nested();
                if (self.root || embedded(s)) && META_FIELDS.contains(&name.as_str()) {
                    sub.inside_meta = true;
                    if self.root {
                        sub.forbid_defaults = Some(format!("in top-level {name}"));
                    }
                }
                sub.check(p, &key(&child(path, "properties"), name), out);
            }
        }
        if let Some(not) = obj.get("not").filter(|n| n.is_object()) {
            self.nested().check(not, &child(path, "not"), out);
        }
        for junctor in ["allOf", "oneOf", "anyOf"] {
            if let Some(list) = obj.get(junctor).and_then(Value::as_array) {
                for (i, sub) in list.iter().enumerate() {
                    self.nested()
                        .check(sub, &index(&child(path, junctor), i), out);
                }
            }
        }
        if let Some(items) = obj.get("items").filter(|i| i.is_object()) {
            self.nested().check(items, &child(path, "items"), out);
        }
        if obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(false)) {
            out.push(V::new(
                child(path, "x-kubernetes-preserve-unknown-fields"),
                K::Invalid(Value::Bool(false)),
                "must be true or undefined",
            ));
        }
        self.list_and_map_types(obj, s, path, out);
    }

    fn nested(&self) -> Static {
        Static {
            root: false,
            inside_meta: self.inside_meta,
            forbid_defaults: self.forbid_defaults.clone(),
        }
    }

    fn list_and_map_types(
        &self,
        obj: &Map<String, Value>,
        s: &Value,
        path: &str,
        out: &mut Vec<V>,
    ) {
        let ty = type_of(s);
        let type_path = child(path, "type");
        let need_type = |want: &str, ext: &str, out: &mut Vec<V>| {
            let detail = format!("must be {want} if {ext} is specified");
            if ty.is_empty() {
                out.push(V::new(&type_path, K::Required, detail));
            } else if ty != want {
                out.push(V::new(&type_path, K::Invalid(Value::from(ty)), detail));
            }
        };
        if let Some(mt) = obj.get("x-kubernetes-map-type") {
            need_type("object", "x-kubernetes-map-type", out);
            if !matches!(mt.as_str(), Some("atomic" | "granular")) {
                out.push(V::new(
                    child(path, "x-kubernetes-map-type"),
                    K::NotSupported(mt.clone()),
                    r#"supported values: "atomic", "granular""#,
                ));
            }
        }
        let list_type = obj.get("x-kubernetes-list-type");
        if let Some(lt) = list_type {
            need_type("array", "x-kubernetes-list-type", out);
            if !matches!(lt.as_str(), Some("atomic" | "set" | "map")) {
                out.push(V::new(
                    child(path, "x-kubernetes-list-type"),
                    K::NotSupported(lt.clone()),
                    r#"supported values: "atomic", "set", "map""#,
                ));
            }
        }
        let map_keys = obj
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array);
        if map_keys.is_some_and(|k| !k.is_empty()) {
            match list_type {
                None => out.push(V::new(
                    child(path, "x-kubernetes-list-type"),
                    K::Required,
                    "must be map if x-kubernetes-list-map-keys is non-empty",
                )),
                Some(lt) if lt.as_str() != Some("map") => out.push(V::new(
                    child(path, "x-kubernetes-list-type"),
                    K::Invalid(lt.clone()),
                    "must be map if x-kubernetes-list-map-keys is non-empty",
                )),
                Some(_) => {}
            }
        }
        if list_type.and_then(Value::as_str) == Some("map") {
            let keys = map_keys.cloned().unwrap_or_default();
            if keys.is_empty() {
                out.push(V::new(
                    child(path, "x-kubernetes-list-map-keys"),
                    K::Required,
                    "must not be empty if x-kubernetes-list-type is map",
                ));
            }
            match obj.get("items").filter(|i| i.is_object()) {
                None => out.push(V::new(
                    child(path, "items"),
                    K::Required,
                    "must have a schema if x-kubernetes-list-type is map",
                )),
                Some(items) if type_of(items) != "object" => out.push(V::new(
                    child(&child(path, "items"), "type"),
                    K::Invalid(Value::from(type_of(items))),
                    "must be object if parent array's x-kubernetes-list-type is map",
                )),
                Some(items) => {
                    let item_props = properties(items);
                    let mut seen = Vec::new();
                    for k in keys.iter().filter_map(Value::as_str) {
                        match item_props.and_then(|p| p.get(k)) {
                            Some(p) if matches!(type_of(p), "array" | "object") => out.push(V::new(
                                child(&key(&child(&child(path, "items"), "properties"), k), "type"),
                                K::Invalid(Value::from(type_of(items))),
                                "must be a scalar type if parent array's x-kubernetes-list-type is map",
                            )),
                            Some(_) => {}
                            None => out.push(V::new(
                                child(path, "x-kubernetes-list-map-keys"),
                                K::Invalid(Value::Array(keys.clone())),
                                "entries must all be names of item properties",
                            )),
                        }
                        if seen.contains(&k) {
                            out.push(V::new(
                                child(path, "x-kubernetes-list-map-keys"),
                                K::Invalid(Value::Array(keys.clone())),
                                "must not contain duplicate entries",
                            ));
                        }
                        seen.push(k);
                    }
                }
            }
        }
    }
}

/// A default must validate against the schema it sits in, and must not
/// carry fields pruning would drop.
fn check_default(def: &Value, s: &Value, path: &str, out: &mut Vec<V>) {
    out.extend(super::validation::validate_at(path, def, s));
    let mut pruned = def.clone();
    // A default is pruned as a value of its field: not as a resource root.
    let unknown = super::pruning::prune_value(&mut pruned, s);
    if !unknown.is_empty() {
        out.push(V::new(
            path,
            K::Invalid(def.clone()),
            format!("must not have unknown fields, got: {}", unknown.join(", ")),
        ));
    }
}

// ---- structural invariants (apiserver/schema/validation.go) ----

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

/// Keys of a schema node that are value validations (allowed anywhere).
fn structural(s: &Value, lvl: Level, path: &str, out: &mut Vec<V>) {
    let Some(obj) = s.as_object() else {
        return;
    };
    let ty = type_of(s);
    if ty == "array" && obj.get("items").is_none_or(|i| !i.is_object()) {
        out.push(V::new(
            child(path, "items"),
            K::Required,
            "must be specified",
        ));
    }
    if let Some(items) = obj.get("items").filter(|i| i.is_object()) {
        structural(items, Level::Item, &child(path, "items"), out);
    }
    if let Some(props) = properties(s) {
        for (k, p) in props {
            structural(p, Level::Field, &key(&child(path, "properties"), k), out);
        }
    }
    if let Some(add) = obj.get("additionalProperties") {
        if lvl == Level::Root {
            out.push(V::new(
                child(path, "additionalProperties"),
                K::Forbidden,
                "must not be used at the root",
            ));
        }
        if add.is_object() {
            structural(add, Level::Field, &child(path, "additionalProperties"), out);
        }
    }
    let ios = int_or_string(s);
    let emb = embedded(s);
    let preserve = preserves_unknown(s);
    if ios && preserve {
        out.push(V::new(
            child(path, "x-kubernetes-preserve-unknown-fields"),
            K::Invalid(Value::Bool(true)),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if ios && emb {
        out.push(V::new(
            child(path, "x-kubernetes-embedded-resource"),
            K::Invalid(Value::Bool(true)),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }

    // Value validations: junctors must not carry structure.
    let skip_any_of = is_int_or_string_any_of(obj.get("anyOf"));
    let skip_first_all_of_any_of = obj
        .get("allOf")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .is_some_and(|first| is_int_or_string_any_of(first.get("anyOf")));
    value_validation(obj, skip_any_of, skip_first_all_of_any_of, lvl, path, out);

    let type_path = child(path, "type");
    if emb && ty != "object" {
        let detail = "must be object if x-kubernetes-embedded-resource is true";
        if ty.is_empty() {
            out.push(V::new(&type_path, K::Required, detail));
        } else {
            out.push(V::new(&type_path, K::Invalid(Value::from(ty)), detail));
        }
    } else if ty.is_empty() && !ios && !preserve {
        let detail = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        out.push(V::new(&type_path, K::Required, detail));
    }
    if emb && obj.contains_key("additionalProperties") {
        out.push(V::new(
            child(path, "additionalProperties"),
            K::Forbidden,
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if lvl == Level::Root && !ty.is_empty() && ty != "object" {
        out.push(V::new(
            &type_path,
            K::Invalid(Value::from(ty)),
            "must be object at the root",
        ));
    }
    let check_meta = lvl == Level::Root || emb;
    let props = properties(s);
    for f in ["kind", "apiVersion"] {
        if let Some(p) = props.and_then(|p| p.get(f))
            && check_meta
            && type_of(p) != "string"
        {
            out.push(V::new(
                child(&key(&child(path, "properties"), f), "type"),
                K::Invalid(Value::from(type_of(p))),
                "must be string",
            ));
        }
    }
    if let Some(meta) = props.and_then(|p| p.get("metadata")) {
        let mpath = key(&child(path, "properties"), "metadata");
        if check_meta && type_of(meta) != "object" {
            out.push(V::new(
                child(&mpath, "type"),
                K::Invalid(Value::from(type_of(meta))),
                "must be object",
            ));
        }
        if lvl == Level::Root && !metadata_restricts_only_names(meta) {
            out.push(V::new(
                mpath,
                K::Forbidden,
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            ));
        }
    }
    if emb && !preserve && props.is_none_or(Map::is_empty) {
        out.push(V::new(
            child(path, "properties"),
            K::Required,
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
}

/// Root `metadata` may only be `type: object` with properties `name` and/or
/// `generateName` (whatever their own restrictions).
fn metadata_restricts_only_names(meta: &Value) -> bool {
    let Some(obj) = meta.as_object() else {
        return false;
    };
    obj.iter().all(|(k, v)| match k.as_str() {
        "type" | "default" => true,
        "properties" => v
            .as_object()
            .is_some_and(|p| p.keys().all(|k| k == "name" || k == "generateName")),
        _ => false,
    })
}

fn is_int_or_string_any_of(any_of: Option<&Value>) -> bool {
    let Some(list) = any_of.and_then(Value::as_array) else {
        return false;
    };
    list.len() == 2
        && list[0] == serde_json::json!({"type": "integer"})
        && list[1] == serde_json::json!({"type": "string"})
}

fn value_validation(
    obj: &Map<String, Value>,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    lvl: Level,
    path: &str,
    out: &mut Vec<V>,
) {
    if !skip_any_of {
        junctor_list(obj, "anyOf", None, lvl, path, out);
    }
    junctor_list(obj, "allOf", Some(skip_first_all_of_any_of), lvl, path, out);
    junctor_list(obj, "oneOf", None, lvl, path, out);
    if let Some(not) = obj.get("not").and_then(Value::as_object) {
        nested_value_validation(not, false, lvl, &child(path, "not"), out);
    }
    if let Some(p) = obj.get("pattern").and_then(Value::as_str)
        && let Err(e) = regex::Regex::new(p)
    {
        out.push(V::new(
            child(path, "pattern"),
            K::Invalid(Value::from(p)),
            format!("must be a valid regular expression, but isn't: {e}"),
        ));
    }
}

fn junctor_list(
    obj: &Map<String, Value>,
    name: &str,
    skip_first_any_of: Option<bool>,
    lvl: Level,
    path: &str,
    out: &mut Vec<V>,
) {
    let Some(list) = obj.get(name).and_then(Value::as_array) else {
        return;
    };
    for (i, sub) in list.iter().enumerate() {
        if let Some(sub) = sub.as_object() {
            let skip = skip_first_any_of == Some(true) && i == 0;
            nested_value_validation(sub, skip, lvl, &index(&child(path, name), i), out);
        }
    }
}

fn nested_value_validation(
    v: &Map<String, Value>,
    skip_any_of: bool,
    lvl: Level,
    path: &str,
    out: &mut Vec<V>,
) {
    value_validation(v, skip_any_of, false, lvl, path, out);
    if let Some(items) = v.get("items").and_then(Value::as_object) {
        nested_value_validation(items, false, lvl, &child(path, "items"), out);
    }
    if let Some(props) = v.get("properties").and_then(Value::as_object) {
        for (k, p) in props {
            if let Some(p) = p.as_object() {
                nested_value_validation(
                    p,
                    false,
                    Level::Field,
                    &key(&child(path, "properties"), k),
                    out,
                );
            }
        }
        if props.contains_key("metadata") {
            out.push(V::new(
                key(&child(path, "properties"), "metadata"),
                K::Forbidden,
                "must not be specified in a nested context",
            ));
        }
    }
    let forbidden: [(&str, &str); 12] = [
        ("type", "must be empty to be structural"),
        ("additionalProperties", "must be undefined to be structural"),
        ("default", "must be undefined to be structural"),
        ("title", "must be empty to be structural"),
        ("description", "must be empty to be structural"),
        ("nullable", "must be false to be structural"),
        ("externalDocs", "must be undefined to be structural"),
        (
            "x-kubernetes-preserve-unknown-fields",
            "must be false to be structural",
        ),
        (
            "x-kubernetes-embedded-resource",
            "must be false to be structural",
        ),
        (
            "x-kubernetes-int-or-string",
            "must be false to be structural",
        ),
        (
            "x-kubernetes-list-map-keys",
            "must be empty to be structural",
        ),
        (
            "x-kubernetes-list-type",
            "must be undefined to be structural",
        ),
    ];
    for (k, detail) in forbidden {
        let set = match v.get(k) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(_) => true,
        };
        if set {
            out.push(V::new(child(path, k), K::Forbidden, detail));
        }
    }
    if v.get("x-kubernetes-map-type").is_some_and(|m| !m.is_null()) {
        out.push(V::new(
            child(path, "x-kubernetes-map-type"),
            K::Forbidden,
            "must be undefined to be structural",
        ));
    }
    if v.get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        out.push(V::new(
            child(path, "x-kubernetes-validations"),
            K::Forbidden,
            "must be empty to be structural",
        ));
    }
}

// ---- completeness (apiserver/schema/complete.go) ----

/// Every property or items schema used under a junctor must also be
/// specified structurally.
fn completeness(v: &Value, s: &Value, s_path: &str, v_path: &str, out: &mut Vec<V>) {
    let Some(vo) = v.as_object() else {
        return;
    };
    if let Some(not) = vo.get("not").filter(|n| n.is_object()) {
        nested_completeness(not, Some(s), s_path, &child(v_path, "not"), out);
    }
    for junctor in ["allOf", "anyOf", "oneOf"] {
        if let Some(list) = vo.get(junctor).and_then(Value::as_array) {
            for (i, sub) in list.iter().enumerate() {
                nested_completeness(
                    sub,
                    Some(s),
                    s_path,
                    &index(&child(v_path, junctor), i),
                    out,
                );
            }
        }
    }
    // Recurse into the structural children, whose own junctors count too.
    if std::ptr::eq(v, s) {
        if let Some(props) = properties(s) {
            for (k, p) in props {
                let p_path = key(&child(s_path, "properties"), k);
                completeness(p, p, &p_path, &p_path, out);
            }
        }
        if let Some(items) = s.get("items").filter(|i| i.is_object()) {
            let i_path = child(s_path, "items");
            completeness(items, items, &i_path, &i_path, out);
        }
        if let Some(add) = s.get("additionalProperties").filter(|a| a.is_object()) {
            let a_path = child(s_path, "additionalProperties");
            completeness(add, add, &a_path, &a_path, out);
        }
    }
}

fn nested_completeness(v: &Value, s: Option<&Value>, s_path: &str, v_path: &str, out: &mut Vec<V>) {
    let Some(vo) = v.as_object() else {
        return;
    };
    let Some(s) = s else {
        out.push(V::new(
            s_path,
            K::Required,
            format!("because it is defined in {v_path}"),
        ));
        return;
    };
    if let Some(not) = vo.get("not").filter(|n| n.is_object()) {
        nested_completeness(not, Some(s), s_path, &child(v_path, "not"), out);
    }
    for junctor in ["allOf", "anyOf", "oneOf"] {
        if let Some(list) = vo.get(junctor).and_then(Value::as_array) {
            for (i, sub) in list.iter().enumerate() {
                nested_completeness(
                    sub,
                    Some(s),
                    s_path,
                    &index(&child(v_path, junctor), i),
                    out,
                );
            }
        }
    }
    if let Some(items) = vo.get("items").filter(|i| i.is_object()) {
        let s_items = s.get("items").filter(|i| i.is_object());
        nested_completeness(
            items,
            s_items,
            &child(s_path, "items"),
            &child(v_path, "items"),
            out,
        );
    }
    if let Some(props) = vo.get("properties").and_then(Value::as_object) {
        for (k, p) in props {
            let sp = key(&child(s_path, "properties"), k);
            let vp = key(&child(v_path, "properties"), k);
            match properties(s).and_then(|sp| sp.get(k)) {
                Some(sf) => nested_completeness(p, Some(sf), &sp, &vp, out),
                None => out.push(V::new(
                    sp,
                    K::Required,
                    format!("because it is defined in {vp}"),
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BASE: &str = "spec.versions[0].schema.openAPIV3Schema";

    fn check(s: Value) -> Vec<String> {
        check_structural_at(BASE, &s)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_good_schema_passes() {
        let s = json!({"type": "object", "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20}}},
            "spec": {"type": "object", "required": ["a"], "properties": {
                "a": {"type": "string", "default": "x", "enum": ["x", "y"]},
                "port": {"x-kubernetes-int-or-string": true,
                    "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"x-kubernetes-preserve-unknown-fields": true},
                "tmpl": {"type": "object", "x-kubernetes-embedded-resource": true,
                    "x-kubernetes-preserve-unknown-fields": true},
                "items": {"type": "array", "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "required": ["name"],
                        "properties": {"name": {"type": "string"}}}},
                "choice": {"type": "object", "properties": {"x": {"type": "string"}, "y": {"type": "string"}},
                    "oneOf": [{"required": ["x"]}, {"required": ["y"]}]},
            }},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        }});
        assert_eq!(check(s), Vec::<String>::new());
    }

    #[test]
    fn missing_types_and_items() {
        let s = json!({"properties": {"spec": {"properties": {
            "list": {"type": "array"},
            "arr": {"type": "array", "items": {}},
        }}}});
        assert_eq!(
            check(s),
            [
                format!(
                    "{BASE}.properties[spec].properties[arr].items.type: Required value: must not be empty for specified array items"
                ),
                format!(
                    "{BASE}.properties[spec].properties[list].items: Required value: must be specified"
                ),
                format!(
                    "{BASE}.properties[spec].type: Required value: must not be empty for specified object fields"
                ),
                format!("{BASE}.type: Required value: must not be empty at the root"),
            ]
        );
    }

    #[test]
    fn additional_properties_and_metadata_rules() {
        let s = json!({"type": "object", "additionalProperties": {"type": "string"}, "properties": {
            "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
            "spec": {"type": "object", "properties": {"a": {"type": "string"}},
                "additionalProperties": {"type": "string"}},
        }});
        let got = check(s);
        for want in [
            format!("{BASE}.additionalProperties: Forbidden: must not be used at the root"),
            format!(
                "{BASE}.additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"
            ),
            format!(
                "{BASE}.properties[spec].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"
            ),
            format!(
                "{BASE}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"
            ),
        ] {
            assert!(got.contains(&want), "missing {want} in {got:#?}");
        }
    }

    #[test]
    fn junctors_must_not_carry_structure() {
        let s = json!({"type": "object", "properties": {"spec": {"type": "object",
            "properties": {"a": {"type": "string"}},
            "anyOf": [{"type": "object", "properties": {"a": {"description": "x"}, "b": {}}}],
        }}});
        assert_eq!(
            check(s),
            [
                format!(
                    "{BASE}.properties[spec].anyOf[0].properties[a].description: Forbidden: must be empty to be structural"
                ),
                format!(
                    "{BASE}.properties[spec].anyOf[0].type: Forbidden: must be empty to be structural"
                ),
                format!(
                    "{BASE}.properties[spec].properties[b]: Required value: because it is defined in {BASE}.properties[spec].anyOf[0].properties[b]"
                ),
            ]
        );
    }

    #[test]
    fn unsupported_keywords_bad_defaults_and_patterns() {
        let s = json!({"type": "object", "properties": {
            "kind": {"type": "string", "default": "W"},
            "spec": {"type": "object", "properties": {
                "r": {"$ref": "#/x"},
                "u": {"type": "array", "uniqueItems": true, "items": {"type": "string"}},
                "n": {"type": "integer", "default": "one"},
                "p": {"type": "string", "pattern": "("},
                "lt": {"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "string"}},
                "x": {"type": "string", "x-kubernetes-preserve-unknown-fields": false},
            }},
        }});
        let got = check(s);
        for want in [
            format!(
                "{BASE}.properties[kind].default: Forbidden: must not be set in top-level kind"
            ),
            format!("{BASE}.properties[spec].properties[r].$ref: Forbidden: $ref is not supported"),
            format!(
                "{BASE}.properties[spec].properties[u].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
            ),
            format!(
                r#"{BASE}.properties[spec].properties[n].default: Invalid value: "string": {BASE}.properties[spec].properties[n].default in body must be of type integer: "string""#
            ),
            format!(
                "{BASE}.properties[spec].properties[lt].x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map"
            ),
            format!(
                r#"{BASE}.properties[spec].properties[lt].items.type: Invalid value: "string": must be object if parent array's x-kubernetes-list-type is map"#
            ),
            format!(
                "{BASE}.properties[spec].properties[x].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"
            ),
        ] {
            assert!(got.contains(&want), "missing {want} in {got:#?}");
        }
        assert!(got.iter().any(|m| m.contains(
            "properties[p].pattern: Invalid value: \"(\": must be a valid regular expression"
        )));
    }
}
