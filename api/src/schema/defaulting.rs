//! Defaulting (`apiextensions-apiserver/.../schema/defaulting`).

use serde_json::Value;

use super::{field_schema, items, nullable, properties};

/// Applies the schema's `default`s to `obj` as Kubernetes does for custom
/// resources:
///
/// - a property that is absent, or `null` while not `nullable`, gets a copy
///   of its `default`; defaults are then themselves defaulted deeper;
/// - `null` items and map values (not `nullable`) get the `default` of the
///   item or `additionalProperties` schema;
/// - afterwards, `null` values of non-nullable fields with no default are
///   removed (`PruneNonNullableNullsWithoutDefaults`), so that they do not
///   fail validation as the wrong type.
///
/// Defaults are applied top-down, before validation and after pruning.
pub fn default(obj: &mut Value, schema: &Value) {
    apply(obj, schema);
    prune_nulls(obj, schema);
}

fn is_non_nullable_null(v: &Value, s: &Value) -> bool {
    v.is_null() && !nullable(s)
}

fn apply(x: &mut Value, s: &Value) {
    match x {
        Value::Object(map) => {
            if let Some(props) = properties(s) {
                for (k, prop) in props {
                    let Some(def) = prop.get("default") else {
                        continue;
                    };
                    match map.get(k) {
                        Some(v) if !is_non_nullable_null(v, prop) => {}
                        _ => {
                            map.insert(k.clone(), def.clone());
                        }
                    }
                }
            }
            for (k, v) in map.iter_mut() {
                let Some(sub) = field_schema(s, k) else {
                    continue;
                };
                match sub.get("default") {
                    Some(def) if is_non_nullable_null(v, sub) => *v = def.clone(),
                    _ => apply(v, sub),
                }
            }
        }
        Value::Array(a) => {
            let Some(item) = items(s) else {
                return;
            };
            for v in a.iter_mut() {
                match item.get("default") {
                    Some(def) if is_non_nullable_null(v, item) => *v = def.clone(),
                    _ => apply(v, item),
                }
            }
        }
        _ => {}
    }
}

fn prune_nulls(x: &mut Value, s: &Value) {
    match x {
        Value::Object(map) => {
            map.retain(|k, v| match field_schema(s, k) {
                Some(sub) => !(is_non_nullable_null(v, sub) && sub.get("default").is_none()),
                None => true,
            });
            for (k, v) in map.iter_mut() {
                if let Some(sub) = field_schema(s, k) {
                    prune_nulls(v, sub);
                }
            }
        }
        Value::Array(a) => {
            if let Some(item) = items(s) {
                // Kubernetes keeps list elements (removing one would shift the
                // others); a null item still fails validation.
                for v in a.iter_mut() {
                    prune_nulls(v, item);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "replicas": {"type": "integer", "default": 1},
            "mode": {"type": "string", "default": "auto"},
            "nullableWithDefault": {"type": "string", "nullable": true, "default": "d"},
            "noDefault": {"type": "string"},
            "tmpl": {"type": "object", "default": {}, "properties": {
                "inner": {"type": "string", "default": "deep"}}},
            "list": {"type": "array", "items": {"type": "object", "properties": {
                "port": {"type": "integer", "default": 80}}}},
            "map": {"type": "object", "additionalProperties": {"type": "string", "default": "v"}},
        }}}})
    }

    #[test]
    fn fills_missing_and_null_fields_and_recurses_into_defaults() {
        let mut obj = json!({"spec": {
            "mode": null, "nullableWithDefault": null, "noDefault": null,
            "list": [{}, {"port": 8080}], "map": {"a": null, "b": "x"},
        }});
        default(&mut obj, &schema());
        assert_eq!(
            obj,
            json!({"spec": {
                "mode": "auto", "nullableWithDefault": null,
                "list": [{"port": 80}, {"port": 8080}], "map": {"a": "v", "b": "x"},
                "replicas": 1, "tmpl": {"inner": "deep"},
            }})
        );
    }

    #[test]
    fn missing_parent_is_not_created() {
        let mut obj = json!({"metadata": {"name": "x"}});
        default(&mut obj, &schema());
        assert_eq!(obj, json!({"metadata": {"name": "x"}}));
    }
}
