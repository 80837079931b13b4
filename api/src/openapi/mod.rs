//! OpenAPI documents generated from the [`Registry`]: `/openapi/v2`
//! (Swagger 2.0) and `/openapi/v3` with one OpenAPI 3.0 document per group
//! version, as `kube-apiserver` serves them.
//!
//! `kubectl` reads them for `kubectl explain` (v3 since 1.27), for client-side
//! validation, to decide whether the server does field validation (it looks
//! for the `fieldValidation` query parameter on PATCH operations tagged with
//! the kind's `x-kubernetes-group-version-kind`), and for `kubectl apply`'s
//! strategic merge patches (`x-kubernetes-patch-merge-key`).
//!
//! Built-in schemas come from `k8s-openapi`'s `schemars` implementations
//! ([`builtin`]); a custom resource's schema is its CRD's `openAPIV3Schema`,
//! published as `<reversed group>.<version>.<Kind>` (`com.example.v1.Widget`)
//! with `metadata` referring to `ObjectMeta`. The documents depend only on
//! the registry: the server builds them at start-up and again when CRDs
//! change.
//!
//! ```
//! use skiff_api::{openapi, registry::Registry};
//!
//! let reg = Registry::builtin();
//! let index = openapi::v3_index(&reg);
//! assert!(index["paths"]["apis/apps/v1"]["serverRelativeURL"]
//!     .as_str()
//!     .unwrap()
//!     .starts_with("/openapi/v3/apis/apps/v1?hash="));
//! let apps = openapi::v3_group_version(&reg, "apps", "v1").unwrap();
//! assert!(apps["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_object());
//! ```

pub mod builtin;
mod paths;
mod protobuf;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::registry::{Origin, Registry, Resource};

pub use builtin::PATCH_STRATEGIES;
use builtin::{
    API_VERSION_DESCRIPTION, Builtins, KIND_DESCRIPTION, METADATA_DESCRIPTION, OBJECT_META,
    V2_PREFIX, builtins, gvk_list, list_definition,
};
pub use protobuf::{
    ProtobufError, V2_PROTOBUF_CONTENT_TYPE, V2_PROTOBUF_CONTENT_TYPE_DEPRECATED, V2Format,
    negotiate_v2, v2_protobuf,
};

const V3_PREFIX: &str = "#/components/schemas/";

/// The definition name of a resource's schema: Kubernetes' name for a
/// built-in kind (`io.k8s.api.apps.v1.Deployment`), the reversed group for a
/// custom one (`com.example.v1.Widget`). `None` for a built-in kind with no
/// compiled-in type.
pub fn definition_name(r: &Resource) -> Option<String> {
    match &r.origin {
        Origin::Builtin => builtins()
            .definition(&r.group, &r.version, &r.kind)
            .map(str::to_owned),
        Origin::Custom { .. } => Some(custom_name(&r.group, &r.version, &r.kind)),
    }
}

/// Every built-in definition in Swagger 2.0 form (refs point at
/// [`DEFINITIONS_PREFIX`]), with the patch and apply extensions: the
/// schemas server-side apply walks.
pub fn definitions() -> &'static Map<String, Value> {
    &builtins().defs
}

/// The definition name of a built-in kind, in whichever version is served
/// (patch metadata does not differ between versions of a kind).
pub fn kind_definition(group: &str, kind: &str) -> Option<&'static str> {
    builtins()
        .kinds
        .iter()
        .find(|((g, _, k), _)| *g == group && *k == kind)
        .map(|(_, name)| name.as_str())
}

/// The prefix of a `$ref` into [`definitions`].
pub const DEFINITIONS_PREFIX: &str = V2_PREFIX;

/// The definition name of `ObjectMeta` in [`definitions`].
pub const OBJECT_META_DEFINITION: &str = OBJECT_META;

/// `example.com`, `v1`, `Widget` → `com.example.v1.Widget`.
fn custom_name(group: &str, version: &str, kind: &str) -> String {
    let mut parts: Vec<&str> = group.split('.').filter(|p| !p.is_empty()).collect();
    parts.reverse();
    parts.push(version);
    parts.push(kind);
    parts.join(".")
}

/// The key of a group version in the `/openapi/v3` index: `api/v1` or
/// `apis/apps/v1`.
pub fn v3_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The `/openapi/v3` discovery document: every served group version with the
/// URL of its document, carrying a hash of its content so that clients can
/// cache it (`{"paths": {"api/v1": {"serverRelativeURL":
/// "/openapi/v3/api/v1?hash=…"}}}`).
pub fn v3_index(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for g in reg.groups() {
        for v in &g.versions {
            let Some(doc) = v3_group_version(reg, &g.group, v) else {
                continue;
            };
            let key = v3_path(&g.group, v);
            let hash = content_hash(&doc);
            paths.insert(
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
            );
        }
    }
    json!({"paths": paths})
}

/// The OpenAPI 3.0 document of one group version (`/openapi/v3/apis/apps/v1`),
/// or `None` if nothing is served there.
pub fn v3_group_version(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let resources = reg.group_version(group, version);
    if resources.is_empty() {
        return None;
    }
    let collected = collect(resources.iter().map(|r| &**r));
    let mut paths = Map::new();
    for (path, item) in &collected.paths {
        paths.insert(
            path.clone(),
            item.to_v3(collected.tags.get(path).map_or("", String::as_str)),
        );
    }
    let refs = find_refs(&Value::Object(paths.clone()), V3_PREFIX);
    let defs = closure(&collected.defs, refs);
    let mut schemas = Map::new();
    for (name, def) in defs {
        schemas.insert(name, to_v3_schema(def));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": {
                "type": "apiKey",
                "description": "Bearer Token authentication",
                "name": "authorization",
                "in": "header",
            }},
        },
        "security": [{"BearerToken": []}],
    }))
}

/// The Swagger 2.0 document of everything served (`/openapi/v2`).
pub fn v2(reg: &Registry) -> Value {
    let collected = collect(reg.all().map(|r| &**r));
    let mut paths = Map::new();
    for (path, item) in &collected.paths {
        paths.insert(
            path.clone(),
            item.to_v2(collected.tags.get(path).map_or("", String::as_str)),
        );
    }
    let refs = find_refs(&Value::Object(paths.clone()), V2_PREFIX);
    let defs = closure(&collected.defs, refs);
    let mut definitions = Map::new();
    for (name, mut def) in defs {
        if collected.custom.contains(&name) {
            v2_compatible(&mut def);
        }
        definitions.insert(name, def);
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {"BearerToken": {
            "description": "Bearer Token authentication",
            "in": "header",
            "name": "authorization",
            "type": "apiKey",
        }},
        "security": [{"BearerToken": []}],
    })
}

/// Paths and definitions (Swagger 2.0 form) of a set of resources.
struct Collected {
    paths: BTreeMap<String, paths::PathItem>,
    tags: BTreeMap<String, String>,
    defs: BTreeMap<String, Value>,
    /// Definitions that came from CRDs (converted for v2).
    custom: BTreeSet<String>,
}

fn collect<'a>(resources: impl Iterator<Item = &'a Resource>) -> Collected {
    let b: &Builtins = builtins();
    let mut c = Collected {
        paths: BTreeMap::new(),
        tags: BTreeMap::new(),
        defs: b.defs.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        custom: BTreeSet::new(),
    };
    for r in resources {
        let name = match &r.origin {
            Origin::Builtin => match b.definition(&r.group, &r.version, &r.kind) {
                Some(n) => n.to_owned(),
                None => {
                    // A registry kind with no compiled-in type: publish it as
                    // an open object so that refs still resolve.
                    let n = custom_name(&r.group, &r.version, &r.kind);
                    add_custom(&mut c, r, &n, None);
                    n
                }
            },
            Origin::Custom { schema, .. } => {
                let n = custom_name(&r.group, &r.version, &r.kind);
                add_custom(&mut c, r, &n, schema.as_ref());
                n
            }
        };
        for item in paths::resource_paths(r, &name) {
            c.tags.insert(item.path.clone(), paths::tag_of(r));
            c.paths.insert(item.path.clone(), item);
        }
    }
    c
}

fn add_custom(c: &mut Collected, r: &Resource, name: &str, schema: Option<&Value>) {
    let def = custom_definition(r, schema);
    let list = list_definition(name, &r.group, &r.version, &r.kind);
    c.defs.insert(name.to_owned(), def);
    c.defs.insert(format!("{name}List"), list);
    c.custom.insert(name.to_owned());
}

/// A CRD's schema as published: `apiVersion`, `kind` and `metadata`
/// (referring to `ObjectMeta`) added, with the GVK extension.
fn custom_definition(r: &Resource, schema: Option<&Value>) -> Value {
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
    let props = s
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if !props.is_object() {
        *props = Value::Object(Map::new());
    }
    if let Value::Object(props) = props {
        props.insert(
            "apiVersion".into(),
            json!({"description": API_VERSION_DESCRIPTION, "type": "string"}),
        );
        props.insert(
            "kind".into(),
            json!({"description": KIND_DESCRIPTION, "type": "string"}),
        );
        props.insert(
            "metadata".into(),
            json!({"$ref": format!("{V2_PREFIX}{OBJECT_META}"), "description": METADATA_DESCRIPTION}),
        );
    }
    s.insert(
        "x-kubernetes-group-version-kind".into(),
        gvk_list(&r.group, &r.version, &r.kind),
    );
    Value::Object(s)
}

/// Drops what Swagger 2.0 cannot say about a CRD schema, as Kubernetes'
/// `ToStructuralOpenAPIV2` does: `nullable` (and the type of nullable
/// fields, so that `null` passes), and `oneOf`/`anyOf`/`allOf`/`not`.
fn v2_compatible(s: &mut Value) {
    let Value::Object(m) = s else {
        return;
    };
    if m.remove("nullable") == Some(Value::Bool(true)) {
        m.remove("type");
    }
    for k in ["oneOf", "anyOf", "allOf", "not"] {
        m.remove(k);
    }
    if let Some(Value::Object(props)) = m.get_mut("properties") {
        props.values_mut().for_each(v2_compatible);
    }
    for k in ["items", "additionalProperties"] {
        if let Some(sub) = m.get_mut(k) {
            v2_compatible(sub);
        }
    }
}

/// Every definition name referred to (with `prefix`) anywhere in `v`.
fn find_refs(v: &Value, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    walk_refs(v, &mut |r| {
        if let Some(name) = r.strip_prefix(prefix) {
            out.insert(name.to_owned());
        }
    });
    out
}

fn walk_refs(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => f(r),
                    _ => walk_refs(x, f),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| walk_refs(x, f)),
        _ => {}
    }
}

/// The definitions named in `roots` and everything they refer to, by name.
fn closure(defs: &BTreeMap<String, Value>, roots: BTreeSet<String>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut todo: Vec<String> = roots.into_iter().collect();
    while let Some(name) = todo.pop() {
        if out.contains_key(&name) {
            continue;
        }
        let Some(def) = defs.get(&name) else {
            continue;
        };
        for r in find_refs(def, V2_PREFIX) {
            if !out.contains_key(&r) {
                todo.push(r);
            }
        }
        out.insert(name, def.clone());
    }
    out
}

/// Converts a canonical (Swagger 2.0) schema to OpenAPI 3.0: refs point at
/// `#/components/schemas/`, and a `$ref` with siblings (a description, a
/// patch strategy) becomes `allOf: [{$ref}]` beside them, as Kubernetes
/// publishes v3 (siblings of `$ref` are ignored in OpenAPI 3.0).
fn to_v3_schema(v: Value) -> Value {
    match v {
        Value::Object(mut m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                let target = match r.strip_prefix(V2_PREFIX) {
                    Some(name) => format!("{V3_PREFIX}{name}"),
                    None => r.clone(),
                };
                m.shift_remove("$ref");
                let reference = json!({"$ref": target});
                if m.is_empty() {
                    return reference;
                }
                let mut out = Map::new();
                out.insert("allOf".into(), Value::Array(vec![reference]));
                for (k, x) in m {
                    out.insert(k, to_v3_schema(x));
                }
                return Value::Object(out);
            }
            Value::Object(m.into_iter().map(|(k, x)| (k, to_v3_schema(x))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(to_v3_schema).collect()),
        other => other,
    }
}

/// A stable content hash (64-bit FNV-1a, hex) for the index URLs; clients
/// treat it as an opaque cache key.
fn content_hash(doc: &Value) -> String {
    let bytes = doc.to_string();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016X}")
}

#[cfg(test)]
mod tests;
