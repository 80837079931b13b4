//! Pruning of unknown fields (`apiextensions-apiserver/.../schema/pruning`).

use serde_json::Value;

use super::{Additional, additional, child, embedded, index, items, preserves_unknown, properties};

/// Removes every field `schema` does not specify from `obj` and returns the
/// dotted paths removed (`spec.foo`, `spec.items[0].bar`), in document order.
///
/// Kept: anything under `x-kubernetes-preserve-unknown-fields: true` (though
/// fields it does specify are still pruned inside), map entries allowed by
/// `additionalProperties`, and `apiVersion`, `kind` and `metadata` at the
/// object root and in every `x-kubernetes-embedded-resource`. The contents of
/// `metadata` are left to ObjectMeta validation.
pub fn prune(obj: &mut Value, schema: &Value) -> Vec<String> {
    let mut pruned = Vec::new();
    prune_node(obj, Some(schema), true, "", &mut pruned);
    pruned
}

/// Prunes a value that is not a resource root (e.g. a `default`).
pub(super) fn prune_value(v: &mut Value, schema: &Value) -> Vec<String> {
    let mut pruned = Vec::new();
    prune_node(v, Some(schema), false, "", &mut pruned);
    pruned
}

fn prune_node(
    x: &mut Value,
    s: Option<&Value>,
    resource_root: bool,
    path: &str,
    out: &mut Vec<String>,
) {
    let preserve = s.is_some_and(preserves_unknown);
    let resource_root = resource_root || s.is_some_and(embedded);
    match x {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                if resource_root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let sub = s.and_then(|s| match properties(s).and_then(|p| p.get(&k)) {
                    Some(p) => Some(Some(p)),
                    None => match additional(s) {
                        Additional::Schema(a) => Some(Some(a)),
                        // `additionalProperties: true` keeps anything.
                        Additional::Any => Some(None),
                        Additional::None | Additional::Forbid => None,
                    },
                });
                let p = child(path, &k);
                match sub {
                    Some(Some(sub)) => {
                        if let Some(v) = map.get_mut(&k) {
                            prune_node(v, Some(sub), false, &p, out);
                        }
                    }
                    Some(None) => {}
                    None if preserve => {}
                    None => {
                        map.shift_remove(&k);
                        out.push(p);
                    }
                }
            }
        }
        Value::Array(a) => {
            let item_schema = s.and_then(items);
            if item_schema.is_none() && (preserve || s.is_none()) {
                return;
            }
            for (i, v) in a.iter_mut().enumerate() {
                prune_node(v, item_schema, false, &index(path, i), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prunes_unknown_fields_and_reports_paths() {
        let s = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "replicas": {"type": "integer"},
                "ports": {"type": "array", "items": {"type": "object", "properties": {"port": {"type": "integer"}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                    "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                "tmpl": {"type": "object", "x-kubernetes-embedded-resource": true,
                    "x-kubernetes-preserve-unknown-fields": true},
                "strict": {"type": "object", "x-kubernetes-embedded-resource": true,
                    "properties": {"spec": {"type": "object"}}},
            }},
        }});
        let mut obj = json!({
            "apiVersion": "example.com/v1", "kind": "W", "metadata": {"name": "x", "whatever": 1},
            "spec": {
                "replicas": 1, "bogus": true,
                "ports": [{"port": 1, "name": "x"}, {"port": 2}],
                "labels": {"a": "b"},
                "free": {"anything": {"goes": 1}, "known": {"a": "x", "b": "y"}},
                "tmpl": {"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": {"x": 1}},
                "strict": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}, "other": 1},
            },
            "status": {"x": 1},
        });
        let pruned = prune(&mut obj, &s);
        assert_eq!(
            pruned,
            [
                "spec.bogus",
                "spec.ports[0].name",
                "spec.free.known.b",
                "spec.strict.other",
                "status",
            ]
        );
        assert_eq!(obj["metadata"]["whatever"], 1);
        assert_eq!(obj["spec"]["free"]["anything"]["goes"], 1);
        assert_eq!(obj["spec"]["tmpl"]["spec"]["x"], 1);
        assert_eq!(obj["spec"]["strict"]["kind"], "Pod");
        assert_eq!(obj["spec"]["labels"]["a"], "b");
    }

    #[test]
    fn preserve_at_root_keeps_everything() {
        let s = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
        let mut obj = json!({"spec": {"a": [1, {"b": 2}]}});
        assert!(prune(&mut obj, &s).is_empty());
        assert_eq!(obj["spec"]["a"][1]["b"], 2);
    }
}
