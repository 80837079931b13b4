//! Validation of custom objects against their schema, with kube-openapi's
//! messages as the API server reports them.

use std::collections::HashMap;

use regex::Regex;
use serde_json::{Map, Value};

use super::{
    Additional, SchemaViolation as V, ViolationKind as K, additional, child, embedded, flag,
    go_number, index, int_or_string, items, nullable, preserves_unknown, properties, type_of,
};

/// Validates `obj` against `schema` (value validations of OpenAPI v3 as CRDs
/// use them) and returns every violation, in document order.
///
/// Checked: `type` (`integer` vs `number`, `x-kubernetes-int-or-string`,
/// `nullable`), `required`, `enum`, `minimum`/`maximum` (and their
/// `exclusive*` flags), `multipleOf`, `minLength`/`maxLength`, `pattern`,
/// `format` (`date-time`, `date`, `int32`, `int64`, `byte`, `uuid`, `ipv4`,
/// `ipv6`, `cidr`; others are accepted), `minItems`/`maxItems`,
/// `uniqueItems`, `x-kubernetes-list-type: set|map` uniqueness,
/// `minProperties`/`maxProperties`, `additionalProperties: false`,
/// `allOf`/`anyOf`/`oneOf`/`not`, and that embedded resources name their
/// `apiVersion` and `kind`. Unknown fields are not errors here; [`prune`]
/// removes them first. `x-kubernetes-validations` (CEL) are not evaluated.
///
/// [`prune`]: super::prune
pub fn validate(obj: &Value, schema: &Value) -> Vec<V> {
    validate_at("", obj, schema)
}

/// [`validate`] with every path starting at `base`.
pub(super) fn validate_at(base: &str, obj: &Value, schema: &Value) -> Vec<V> {
    let mut cx = Cx::default();
    cx.node(obj, schema, base);
    cx.out
}

#[derive(Default)]
struct Cx {
    out: Vec<V>,
    regexes: HashMap<String, Option<Regex>>,
}

/// The JSON type name kube-openapi reports for a value.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// How kube-openapi names a path in its messages (`.` for the root).
fn name(path: &str) -> &str {
    if path.is_empty() { "." } else { path }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "integer" => v.as_i64().is_some() || v.as_u64().is_some(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        // Unknown type names are rejected when the CRD is created.
        _ => true,
    }
}

/// Equality as JSON values, with numbers compared by value (`1` == `1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn num(s: &Value, k: &str) -> Option<f64> {
    s.get(k).and_then(Value::as_f64)
}

fn count(s: &Value, k: &str) -> Option<usize> {
    s.get(k)
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
}

fn fmt_f64(f: f64) -> String {
    serde_json::Number::from_f64(f).map_or_else(|| f.to_string(), |n| go_number(&n))
}

impl Cx {
    fn push(&mut self, v: V) {
        self.out.push(v);
    }

    /// Full validation of a structural node: type, then value validations.
    fn node(&mut self, v: &Value, s: &Value, path: &str) {
        if v.is_null() {
            if nullable(s) {
                return;
            }
            if let Some(t) = declared_type(s) {
                self.type_error(path, &t, v);
                return;
            }
        } else if let Some(t) = declared_type(s) {
            let ok = if int_or_string(s) {
                type_matches("integer", v) || type_matches("string", v)
            } else {
                type_matches(&t, v)
            };
            if !ok {
                self.type_error(path, &t, v);
                return;
            }
        }
        self.values(v, s, path);
        match v {
            Value::Object(map) => self.object(map, s, path),
            Value::Array(a) => self.array(a, s, path),
            _ => {}
        }
    }

    fn type_error(&mut self, path: &str, t: &str, v: &Value) {
        let actual = json_type(v);
        self.push(V::new(
            path,
            K::TypeInvalid(Value::from(actual)),
            format!("{} in body must be of type {t}: \"{actual}\"", name(path)),
        ));
    }

    fn object(&mut self, map: &Map<String, Value>, s: &Value, path: &str) {
        if let Some(req) = s.get("required").and_then(Value::as_array) {
            for r in req.iter().filter_map(Value::as_str) {
                if !map.contains_key(r) {
                    self.push(V::new(child(path, r), K::Required, ""));
                }
            }
        }
        if embedded(s) {
            for k in ["apiVersion", "kind"] {
                if map.get(k).and_then(Value::as_str).is_none_or(str::is_empty) {
                    self.push(V::new(child(path, k), K::Required, "must not be empty"));
                }
            }
        }
        let props = properties(s);
        let add = additional(s);
        for (k, v) in map {
            let p = child(path, k);
            if let Some(sub) = props.and_then(|ps| ps.get(k)) {
                self.node(v, sub, &p);
                continue;
            }
            match add {
                Additional::Schema(sub) => self.node(v, sub, &p),
                Additional::Forbid if !preserves_unknown(s) => self.push(V::new(
                    &p,
                    K::Invalid(v.clone()),
                    format!("{} in body is a forbidden property", name(&p)),
                )),
                _ => {}
            }
        }
    }

    fn array(&mut self, a: &[Value], s: &Value, path: &str) {
        if let Some(item) = items(s) {
            for (i, v) in a.iter().enumerate() {
                self.node(v, item, &index(path, i));
            }
        }
        match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => {
                for (i, v) in a.iter().enumerate() {
                    if a[..i].iter().any(|w| json_eq(v, w)) {
                        self.push(V::new(index(path, i), K::Duplicate(v.clone()), ""));
                    }
                }
            }
            Some("map") => {
                let keys: Vec<&str> = s
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|k| k.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let key_of = |v: &Value| -> Map<String, Value> {
                    keys.iter()
                        .filter_map(|k| v.get(*k).map(|x| ((*k).to_owned(), x.clone())))
                        .collect()
                };
                let mut seen: Vec<Map<String, Value>> = Vec::new();
                for (i, v) in a.iter().enumerate() {
                    if !v.is_object() {
                        continue;
                    }
                    let k = key_of(v);
                    let kv = Value::Object(k.clone());
                    if seen.iter().any(|w| json_eq(&Value::Object(w.clone()), &kv)) {
                        self.push(V::new(index(path, i), K::Duplicate(kv), ""));
                    } else {
                        seen.push(k);
                    }
                }
            }
            _ => {}
        }
    }

    /// The value validations of one schema node (also used for the schemas
    /// under `allOf`/`anyOf`/`oneOf`/`not`, which carry no structure).
    fn values(&mut self, v: &Value, s: &Value, path: &str) {
        let n = name(path);
        if let Some(e) = s.get("enum").and_then(Value::as_array)
            && !e.iter().any(|x| json_eq(x, v))
        {
            let supported: Vec<String> = e
                .iter()
                .map(|x| match x {
                    Value::String(s) => Value::from(s.as_str()).to_string(),
                    other => Value::from(other.to_string()).to_string(),
                })
                .collect();
            self.push(V::new(
                path,
                K::NotSupported(v.clone()),
                format!("supported values: {}", supported.join(", ")),
            ));
        }
        match v {
            Value::Number(x) => self.number(x, s, path),
            Value::String(st) => self.string(st, s, path),
            Value::Array(a) => {
                if let Some(max) = count(s, "maxItems")
                    && a.len() > max
                {
                    self.push(V::new(
                        path,
                        K::TooMany(a.len()),
                        format!("must have at most {max} items"),
                    ));
                }
                if let Some(min) = count(s, "minItems")
                    && a.len() < min
                {
                    self.push(V::new(
                        path,
                        K::Invalid(v.clone()),
                        format!("{n} in body should have at least {min} items"),
                    ));
                }
                if flag(s, "uniqueItems")
                    && a.iter()
                        .enumerate()
                        .any(|(i, x)| a[..i].iter().any(|y| json_eq(x, y)))
                {
                    self.push(V::new(
                        path,
                        K::Invalid(v.clone()),
                        format!("{n} in body shouldn't contain duplicates"),
                    ));
                }
            }
            Value::Object(m) => {
                if let Some(max) = count(s, "maxProperties")
                    && m.len() > max
                {
                    self.push(V::new(
                        path,
                        K::TooMany(m.len()),
                        format!("must have at most {max} items"),
                    ));
                }
                if let Some(min) = count(s, "minProperties")
                    && m.len() < min
                {
                    self.push(V::new(
                        path,
                        K::Invalid(v.clone()),
                        format!("{n} in body should have at least {min} properties"),
                    ));
                }
            }
            _ => {}
        }
        self.junctors(v, s, path);
    }

    fn number(&mut self, x: &serde_json::Number, s: &Value, path: &str) {
        let n = name(path);
        let Some(f) = x.as_f64() else {
            return;
        };
        let bad = |detail: String| V::new(path, K::Invalid(Value::Number(x.clone())), detail);
        if let Some(max) = num(s, "maximum") {
            if flag(s, "exclusiveMaximum") && f >= max {
                self.push(bad(format!(
                    "{n} in body should be less than {}",
                    fmt_f64(max)
                )));
            } else if f > max {
                self.push(bad(format!(
                    "{n} in body should be less than or equal to {}",
                    fmt_f64(max)
                )));
            }
        }
        if let Some(min) = num(s, "minimum") {
            if flag(s, "exclusiveMinimum") && f <= min {
                self.push(bad(format!(
                    "{n} in body should be greater than {}",
                    fmt_f64(min)
                )));
            } else if f < min {
                self.push(bad(format!(
                    "{n} in body should be greater than or equal to {}",
                    fmt_f64(min)
                )));
            }
        }
        if let Some(m) = num(s, "multipleOf").filter(|m| *m > 0.0) {
            let q = f / m;
            if (q - q.round()).abs() > 1e-9 {
                self.push(bad(format!(
                    "{n} in body should be a multiple of {}",
                    fmt_f64(m)
                )));
            }
        }
        match s.get("format").and_then(Value::as_str) {
            Some("int32") if x.as_i64().is_some_and(|i| i32::try_from(i).is_err()) => {
                self.push(V::new(
                    path,
                    K::TypeInvalid(Value::Number(x.clone())),
                    format!("{n} in body must be of type int32: \"{x}\""),
                ));
            }
            _ => {}
        }
    }

    fn string(&mut self, st: &str, s: &Value, path: &str) {
        let n = name(path);
        let len = st.chars().count();
        if let Some(max) = count(s, "maxLength")
            && len > max
        {
            let unit = if max == 1 { "byte" } else { "bytes" };
            self.push(V::new(
                path,
                K::TooLong,
                format!("may not be more than {max} {unit}"),
            ));
        }
        if let Some(min) = count(s, "minLength")
            && len < min
        {
            self.push(V::new(
                path,
                K::Invalid(Value::from(st)),
                format!("{n} in body should be at least {min} chars long"),
            ));
        }
        if let Some(pat) = s.get("pattern").and_then(Value::as_str) {
            let re = self
                .regexes
                .entry(pat.to_owned())
                .or_insert_with(|| Regex::new(pat).ok());
            if re.as_ref().is_some_and(|re| !re.is_match(st)) {
                self.push(V::new(
                    path,
                    K::Invalid(Value::from(st)),
                    format!("{n} in body should match '{pat}'"),
                ));
            }
        }
        if let Some(f) = s.get("format").and_then(Value::as_str)
            && !format_ok(f, st)
        {
            self.push(V::new(
                path,
                K::TypeInvalid(Value::from(st)),
                format!("{n} in body must be of type {f}: {}", Value::from(st)),
            ));
        }
    }

    fn junctors(&mut self, v: &Value, s: &Value, path: &str) {
        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            for sub in all {
                self.nested(v, sub, path);
            }
        }
        let quoted = Value::from(name(path)).to_string();
        if let Some(any) = s
            .get("anyOf")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
        {
            let results: Vec<Vec<V>> = any.iter().map(|sub| self.trial(v, sub, path)).collect();
            if results.iter().all(|r| !r.is_empty()) {
                self.push(V::new(
                    path,
                    K::Invalid(v.clone()),
                    format!("{quoted} must validate at least one schema (anyOf)"),
                ));
                if let Some(best) = results.into_iter().min_by_key(Vec::len) {
                    self.out.extend(best);
                }
            }
        }
        if let Some(one) = s
            .get("oneOf")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
        {
            let results: Vec<Vec<V>> = one.iter().map(|sub| self.trial(v, sub, path)).collect();
            let valid = results.iter().filter(|r| r.is_empty()).count();
            if valid != 1 {
                let found = if valid == 0 {
                    "Found none valid".to_owned()
                } else {
                    format!("Found {valid} valid alternatives")
                };
                self.push(V::new(
                    path,
                    K::Invalid(v.clone()),
                    format!("{quoted} must validate one and only one schema (oneOf). {found}"),
                ));
                if valid == 0
                    && let Some(best) = results.into_iter().min_by_key(Vec::len)
                {
                    self.out.extend(best);
                }
            }
        }
        if let Some(not) = s.get("not").filter(|n| n.is_object())
            && self.trial(v, not, path).is_empty()
        {
            self.push(V::new(
                path,
                K::Invalid(v.clone()),
                format!("{quoted} must not validate the schema (not)"),
            ));
        }
    }

    /// Validates against a nested value validation, collecting its errors apart.
    fn trial(&mut self, v: &Value, s: &Value, path: &str) -> Vec<V> {
        let saved = std::mem::take(&mut self.out);
        self.nested(v, s, path);
        std::mem::replace(&mut self.out, saved)
    }

    /// A schema under a junctor: a type (only in the int-or-string pattern),
    /// value validations, and nested `properties`/`items`.
    fn nested(&mut self, v: &Value, s: &Value, path: &str) {
        if let Some(t) = s.get("type").and_then(Value::as_str)
            && !v.is_null()
            && !type_matches(t, v)
        {
            self.type_error(path, t, v);
            return;
        }
        self.values(v, s, path);
        match v {
            Value::Object(map) => {
                if let Some(req) = s.get("required").and_then(Value::as_array) {
                    for r in req.iter().filter_map(Value::as_str) {
                        if !map.contains_key(r) {
                            self.push(V::new(child(path, r), K::Required, ""));
                        }
                    }
                }
                if let Some(props) = properties(s) {
                    for (k, sub) in props {
                        if let Some(x) = map.get(k) {
                            self.nested(x, sub, &child(path, k));
                        }
                    }
                }
            }
            Value::Array(a) => {
                if let Some(item) = items(s) {
                    for (i, x) in a.iter().enumerate() {
                        self.nested(x, item, &index(path, i));
                    }
                }
            }
            _ => {}
        }
    }
}

/// The type a node declares, as kube-openapi names it in messages.
fn declared_type(s: &Value) -> Option<String> {
    if int_or_string(s) {
        return Some("integer,string".to_owned());
    }
    Some(type_of(s))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// Loose checks of the string formats Kubernetes' strfmt registry knows.
fn format_ok(format: &str, s: &str) -> bool {
    match format {
        "date-time" | "datetime" => s.parse::<jiff::Timestamp>().is_ok(),
        "date" => s.parse::<jiff::civil::Date>().is_ok() && s.len() == 10,
        "int32" => s.parse::<i32>().is_ok(),
        "int64" => s.parse::<i64>().is_ok(),
        "byte" => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(s).is_ok()
        }
        "uuid" => is_uuid(s),
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        "cidr" => s.split_once('/').is_some_and(|(ip, bits)| {
            let max = if ip.parse::<std::net::Ipv4Addr>().is_ok() {
                32
            } else if ip.parse::<std::net::Ipv6Addr>().is_ok() {
                128
            } else {
                return false;
            };
            bits.parse::<u8>().is_ok_and(|b| b <= max)
        }),
        _ => true,
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msgs(obj: Value, s: Value) -> Vec<String> {
        validate(&obj, &s).iter().map(ToString::to_string).collect()
    }

    fn spec(props: Value) -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": props}}})
    }

    #[test]
    fn type_errors_read_like_kubernetes() {
        assert_eq!(
            msgs(
                json!({"spec": {"replicas": "string"}}),
                spec(json!({"replicas": {"type": "integer"}}))
            ),
            [
                r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
            ]
        );
        assert_eq!(
            msgs(
                json!({"spec": {"replicas": 1.5}}),
                spec(json!({"replicas": {"type": "integer"}}))
            ),
            [
                r#"spec.replicas: Invalid value: "number": spec.replicas in body must be of type integer: "number""#
            ]
        );
        assert!(
            msgs(
                json!({"spec": {"n": 1}}),
                spec(json!({"n": {"type": "number"}}))
            )
            .is_empty()
        );
        assert_eq!(
            msgs(
                json!({"spec": {"n": null}}),
                spec(json!({"n": {"type": "string"}}))
            ),
            [r#"spec.n: Invalid value: "null": spec.n in body must be of type string: "null""#]
        );
        assert!(
            msgs(
                json!({"spec": {"n": null}}),
                spec(json!({"n": {"type": "string", "nullable": true}}))
            )
            .is_empty()
        );
        let ios = spec(json!({"port": {"x-kubernetes-int-or-string": true}}));
        assert!(msgs(json!({"spec": {"port": 80}}), ios.clone()).is_empty());
        assert!(msgs(json!({"spec": {"port": "http"}}), ios.clone()).is_empty());
        assert_eq!(msgs(json!({"spec": {"port": true}}), ios).len(), 1);
    }

    #[test]
    fn required_enum_and_bounds() {
        let s = json!({"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object",
        "required": ["mode"],
        "properties": {
            "mode": {"type": "string", "enum": ["a", "b"]},
            "n": {"type": "integer", "minimum": 1, "maximum": 10, "exclusiveMaximum": true},
            "name": {"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^[a-z]+$"},
            "list": {"type": "array", "items": {"type": "string"}, "maxItems": 1, "minItems": 1},
            "m": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 1},
        }}}});
        assert_eq!(msgs(json!({}), s.clone()), ["spec: Required value"]);
        let got = msgs(
            json!({"spec": {"mode": "c", "n": 10, "name": "ABCD", "list": ["a", "b"], "m": {"a": "1", "b": "2"}}}),
            s.clone(),
        );
        assert_eq!(
            got,
            [
                r#"spec.mode: Unsupported value: "c": supported values: "a", "b""#,
                "spec.n: Invalid value: 10: spec.n in body should be less than 10",
                "spec.name: Too long: may not be more than 3 bytes",
                r#"spec.name: Invalid value: "ABCD": spec.name in body should match '^[a-z]+$'"#,
                "spec.list: Too many: 2: must have at most 1 items",
                "spec.m: Too many: 2: must have at most 1 items",
            ]
        );
        assert_eq!(
            msgs(json!({"spec": {"mode": "a", "n": 0, "list": []}}), s),
            [
                "spec.n: Invalid value: 0: spec.n in body should be greater than or equal to 1",
                "spec.list: Invalid value: []: spec.list in body should have at least 1 items",
            ]
        );
    }

    #[test]
    fn formats() {
        let s = spec(json!({"t": {"type": "string", "format": "date-time"},
            "i": {"type": "integer", "format": "int32"}, "u": {"type": "string", "format": "uuid"}}));
        assert!(
            msgs(
                json!({"spec": {"t": "2024-01-02T03:04:05Z", "i": 5,
            "u": "123e4567-e89b-12d3-a456-426614174000"}}),
                s.clone()
            )
            .is_empty()
        );
        assert_eq!(
            msgs(
                json!({"spec": {"t": "yesterday", "i": 5_000_000_000_i64}}),
                s
            ),
            [
                r#"spec.t: Invalid value: "yesterday": spec.t in body must be of type date-time: "yesterday""#,
                r#"spec.i: Invalid value: 5000000000: spec.i in body must be of type int32: "5000000000""#,
            ]
        );
    }

    #[test]
    fn list_types_and_unique_items() {
        let s = spec(json!({
            "set": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "map": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "properties": {"name": {"type": "string"}, "v": {"type": "integer"}}}},
            "u": {"type": "array", "uniqueItems": true, "items": {"type": "integer"}},
        }));
        assert_eq!(
            msgs(
                json!({"spec": {"set": ["a", "b", "a"], "map": [{"name": "x", "v": 1}, {"name": "x", "v": 2}], "u": [1, 1]}}),
                s
            ),
            [
                r#"spec.set[2]: Duplicate value: "a""#,
                r#"spec.map[1]: Duplicate value: {"name":"x"}"#,
                "spec.u: Invalid value: [1,1]: spec.u in body shouldn't contain duplicates",
            ]
        );
    }

    #[test]
    fn junctors() {
        let s = spec(json!({
            "one": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                "oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
            "any": {"type": "integer", "anyOf": [{"minimum": 10}, {"maximum": 0}]},
            "not": {"type": "string", "not": {"enum": ["forbidden"]}},
            "all": {"type": "string", "allOf": [{"minLength": 2}, {"pattern": "^x"}]},
        }));
        assert!(
            msgs(
                json!({"spec": {"one": {"a": "1"}, "any": 11, "not": "ok", "all": "xy"}}),
                s.clone()
            )
            .is_empty()
        );
        let got = msgs(
            json!({"spec": {"one": {"a": "1", "b": "2"}, "any": 5, "not": "forbidden", "all": "y"}}),
            s,
        );
        assert_eq!(got.len(), 6, "{got:#?}");
        assert!(
            got[0].contains(
                "must validate one and only one schema (oneOf). Found 2 valid alternatives"
            )
        );
        assert!(got[1].contains("must validate at least one schema (anyOf)"));
        assert!(got[3].contains("must not validate the schema (not)"));
        assert!(got[4].contains("should be at least 2 chars long"));
        assert!(got[5].contains("should match '^x'"));
    }

    #[test]
    fn embedded_resources_need_api_version_and_kind() {
        let s = spec(
            json!({"tmpl": {"type": "object", "x-kubernetes-embedded-resource": true,
            "x-kubernetes-preserve-unknown-fields": true}}),
        );
        assert_eq!(
            msgs(json!({"spec": {"tmpl": {"kind": "Pod"}}}), s),
            ["spec.tmpl.apiVersion: Required value: must not be empty"]
        );
    }
}
