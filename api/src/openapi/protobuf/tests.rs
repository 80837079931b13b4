//! The encoder read back with a small protobuf reader written apart from
//! it, against gnostic's field numbers.

use serde_json::json;

use super::*;
use crate::registry::{Origin, Registry, Resource, STANDARD_VERBS};

/// One field off the wire.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
}

fn read_varint(b: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = b[*pos];
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
    }
    panic!("varint longer than 10 bytes");
}

/// Every field of a message, in wire order; panics on anything malformed.
fn decode(b: &[u8]) -> Vec<(u32, Wire<'_>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let key = read_varint(b, &mut pos);
        let number = u32::try_from(key >> 3).expect("field number");
        assert!(number > 0, "field number 0");
        let wire = match key & 7 {
            0 => Wire::Varint(read_varint(b, &mut pos)),
            1 => {
                let bytes: [u8; 8] = b[pos..pos + 8].try_into().expect("8 bytes");
                pos += 8;
                Wire::Fixed64(u64::from_le_bytes(bytes))
            }
            2 => {
                let len = usize::try_from(read_varint(b, &mut pos)).expect("length");
                let data = &b[pos..pos + len];
                pos += len;
                Wire::Len(data)
            }
            w => panic!("unexpected wire type {w}"),
        };
        out.push((number, wire));
    }
    assert_eq!(pos, b.len(), "message overruns its length");
    out
}

/// Every length-delimited value of field `n`.
fn all(b: &[u8], n: u32) -> Vec<&[u8]> {
    decode(b)
        .into_iter()
        .filter(|(k, _)| *k == n)
        .map(|(_, w)| match w {
            Wire::Len(d) => d,
            other => panic!("field {n} is {other:?}"),
        })
        .collect()
}

/// The single length-delimited value of field `n`.
fn one(b: &[u8], n: u32) -> &[u8] {
    let v = all(b, n);
    assert_eq!(v.len(), 1, "field {n} occurs {} times", v.len());
    v[0]
}

fn text(b: &[u8], n: u32) -> &str {
    std::str::from_utf8(one(b, n)).expect("UTF-8")
}

fn texts(b: &[u8], n: u32) -> Vec<&str> {
    all(b, n)
        .into_iter()
        .map(|d| std::str::from_utf8(d).expect("UTF-8"))
        .collect()
}

/// The value (field 2) of the `Named…` entry called `name` among the
/// repeated field `n` of `b`.
fn entry<'a>(b: &'a [u8], n: u32, name: &str) -> &'a [u8] {
    all(b, n)
        .into_iter()
        .find(|e| all(e, 1).first() == Some(&name.as_bytes()))
        .map(|e| one(e, 2))
        .unwrap_or_else(|| panic!("no entry {name} in field {n}"))
}

/// The YAML of the vendor extension `name` in field `n`.
fn extension<'a>(b: &'a [u8], n: u32, name: &str) -> &'a str {
    text(entry(b, n, name), 2)
}

/// The field number of `key` in a table, counted as [`message`] counts.
fn number(parts: &[Fields], key: &str) -> usize {
    parts
        .iter()
        .flat_map(|p| p.iter())
        .position(|(k, _)| *k == key)
        .expect("key in table")
        + 1
}

#[test]
fn tables_number_fields_as_the_proto() {
    // Numbers from openapiv2/OpenAPIv2.proto (gnostic-models v0.7.1).
    let cases: &[(&[Fields], &str, usize)] = &[
        (&[DOCUMENT], "paths", 8),
        (&[DOCUMENT], "definitions", 9),
        (&[DOCUMENT], "securityDefinitions", 13),
        (&[DOCUMENT], X, 16),
        (&[INFO], X, 7),
        (&[TAG], X, 4),
        (&[PATH_ITEM], "patch", 8),
        (&[PATH_ITEM], X, 10),
        (&[OPERATION], "parameters", 8),
        (&[OPERATION], "responses", 9),
        (&[OPERATION], X, 13),
        (&[BODY_PARAMETER], "schema", 5),
        (&[BODY_PARAMETER], X, 6),
        (&[PARAMETER_HEAD, PRIMITIVE, EXT], "type", 5),
        (&[PARAMETER_HEAD, PRIMITIVE, EXT], X, 22),
        (&[PARAMETER_HEAD_EMPTY, PRIMITIVE, EXT], "type", 6),
        (&[PARAMETER_HEAD_EMPTY, PRIMITIVE, EXT], "uniqueItems", 20),
        (&[PARAMETER_HEAD_EMPTY, PRIMITIVE, EXT], X, 23),
        (&[PRIMITIVE, EXT], X, 18),
        (&[PRIMITIVE, &[("description", Str)], EXT], X, 19),
        (&[RESPONSE], X, 5),
        (&[SCHEMA], "required", 19),
        (&[SCHEMA], "additionalProperties", 21),
        (&[SCHEMA], "type", 22),
        (&[SCHEMA], "items", 23),
        (&[SCHEMA], "properties", 25),
        (&[SCHEMA], "example", 30),
        (&[SCHEMA], X, 31),
        (&[FILE_SCHEMA], X, 10),
        (&[XML], X, 6),
        (&[API_KEY_SECURITY], X, 5),
        (&[OAUTH2_HEAD, OAUTH2_IMPLICIT], X, 6),
        (&[OAUTH2_HEAD, OAUTH2_TOKEN], X, 6),
        (&[OAUTH2_HEAD, OAUTH2_ACCESS_CODE], X, 7),
    ];
    for (parts, key, want) in cases {
        assert_eq!(number(parts, key), *want, "{key}");
    }
}

#[test]
fn scalars_follow_proto3() {
    let s = schema(&json!({
        "type": "object",
        "maxLength": -1,
        "minLength": 300,
        "maximum": 1.5,
        "minimum": 0,
        "uniqueItems": false,
        "readOnly": true,
        "description": "",
        "additionalProperties": false,
        "required": ["", "a"],
    }))
    .unwrap();
    let fields = decode(&s);
    let get = |n: u32| fields.iter().find(|(k, _)| *k == n).map(|(_, w)| *w);
    assert_eq!(get(11), Some(Wire::Varint(u64::MAX)), "int64 -1");
    assert_eq!(get(12), Some(Wire::Varint(300)));
    assert_eq!(get(7), Some(Wire::Fixed64(1.5f64.to_bits())));
    assert_eq!(get(27), Some(Wire::Varint(1)));
    // Zero values are left out...
    for n in [4, 9, 16] {
        assert_eq!(get(n), None, "field {n}");
    }
    // ...but not a oneof member, nor a repeated element.
    assert_eq!(one(&s, 21), &[0x10, 0x00]);
    assert_eq!(texts(&s, 19), ["", "a"]);
    assert_eq!(texts(one(&s, 22), 1), ["object"]);
    // In field-number order, as Go's proto.Marshal writes.
    let numbers: Vec<u32> = fields.iter().map(|(k, _)| *k).collect();
    assert!(numbers.is_sorted(), "{numbers:?}");
    assert_eq!(
        &s[..9],
        b"\x39\0\0\0\0\0\0\xf8\x3f",
        "maximum first: tag 7, wire 1, 1.5"
    );
}

#[test]
fn oneofs_choose_as_gnostic() {
    let op = operation(&json!({
        "parameters": [
            {"$ref": "#/parameters/x"},
            {"in": "body", "name": "body", "schema": {"type": "string"}},
            {"in": "query", "name": "dryRun", "type": "string", "uniqueItems": true},
            {"in": "path", "name": "name", "type": "string", "required": true},
            {"in": "header", "name": "h", "type": "string"},
            {"in": "formData", "name": "f", "type": "file"},
        ],
        "responses": {
            "200": {"description": "OK", "schema": {"$ref": "#/definitions/A"}},
            "201": {"$ref": "#/responses/B"},
            "204": {"description": "file", "schema": {"type": "file"}},
            "x-r": 1,
            "nonsense": {},
        },
    }))
    .unwrap();
    let params = all(&op, 8);
    assert_eq!(text(one(params[0], 2), 1), "#/parameters/x");
    let body = one(one(params[1], 1), 1);
    assert_eq!(text(body, 3), "body");
    assert_eq!(texts(one(one(body, 5), 22), 1), ["string"]);
    for (i, (oneof, name, name_field)) in
        [(3, "dryRun", 4), (4, "name", 4), (1, "h", 4), (2, "f", 4)]
            .into_iter()
            .enumerate()
    {
        let sub = one(one(one(params[i + 2], 1), 2), oneof);
        assert_eq!(text(sub, name_field), name);
    }
    let responses = one(&op, 9);
    assert_eq!(all(responses, 1).len(), 3, "status codes only");
    let ok = one(entry(responses, 1, "200"), 1);
    assert_eq!(text(ok, 1), "OK");
    assert_eq!(text(one(one(ok, 2), 1), 1), "#/definitions/A");
    assert_eq!(text(one(entry(responses, 1, "201"), 2), 1), "#/responses/B");
    let file = one(one(entry(responses, 1, "204"), 1), 2);
    assert_eq!(text(one(file, 2), 6), "file");
    assert_eq!(extension(responses, 2, "x-r"), "1\n");
}

#[test]
fn shape_errors_name_the_place() {
    assert_eq!(
        v2_protobuf(&json!({"swagger": 2})),
        Err(ProtobufError::Shape {
            path: "/swagger".into(),
            expected: "a string"
        })
    );
    let doc = json!({"definitions": {"a/b": {"properties": {"c": {"items": {"enum": 1}}}}}});
    assert_eq!(
        v2_protobuf(&doc),
        Err(ProtobufError::Shape {
            path: "/definitions/a~1b/properties/c/items/enum".into(),
            expected: "an array"
        })
    );
    let doc = json!({"paths": {"/x": {"get": {"parameters": [{"in": "cookie"}]}}}});
    assert_eq!(
        v2_protobuf(&doc).unwrap_err().to_string(),
        "openapi v2 document at \"/paths/~1x/get/parameters/0/in\": expected body, header, \
         formData, query or path"
    );
}

#[test]
fn builtin_document_reads_back() {
    let doc = crate::openapi::v2(&Registry::builtin());
    let pb = v2_protobuf(&doc).unwrap();
    assert_eq!(text(&pb, 1), "2.0");
    assert_eq!(text(one(&pb, 2), 1), "Kubernetes");

    // The PATCH of a Deployment: kubectl's field-validation check looks
    // for `fieldValidation` on it, by its GVK.
    let paths = one(&pb, 8);
    assert_eq!(all(paths, 2).len(), doc["paths"].as_object().unwrap().len());
    let item = entry(
        paths,
        2,
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
    );
    let patch = one(item, 8);
    assert_eq!(
        extension(patch, 13, "x-kubernetes-group-version-kind"),
        "group: apps\nkind: Deployment\nversion: v1\n"
    );
    assert_eq!(extension(patch, 13, "x-kubernetes-action"), "patch\n");
    assert!(texts(patch, 7).contains(&"application/strategic-merge-patch+json"));
    let query: Vec<&str> = all(patch, 8)
        .into_iter()
        .filter_map(|p| all(p, 1).first().copied())
        .filter_map(|p| all(p, 2).first().copied())
        .filter_map(|nb| all(nb, 3).first().copied())
        .map(|q| text(q, 4))
        .collect();
    assert!(query.contains(&"fieldValidation"), "{query:?}");
    let put = one(item, 3);
    let body = all(put, 8)
        .into_iter()
        .find_map(|p| all(one(p, 1), 1).first().copied())
        .expect("a body parameter");
    assert_eq!(
        text(one(body, 5), 1),
        "#/definitions/io.k8s.api.apps.v1.Deployment"
    );
    let ok = one(entry(one(put, 9), 1, "200"), 1);
    assert!(!text(ok, 1).is_empty());
    assert_eq!(all(item, 9).len(), 3, "name, namespace, pretty");

    // Definitions: what `kubectl apply` and `explain` read.
    let defs = one(&pb, 9);
    let deployment = entry(defs, 1, "io.k8s.api.apps.v1.Deployment");
    assert_eq!(
        extension(deployment, 31, "x-kubernetes-group-version-kind"),
        "- group: apps\n  kind: Deployment\n  version: v1\n"
    );
    let spec = entry(defs, 1, "io.k8s.api.apps.v1.DeploymentSpec");
    assert!(texts(spec, 19).contains(&"selector"));
    let replicas = entry(one(spec, 25), 1, "replicas");
    assert_eq!(texts(one(replicas, 22), 1), ["integer"]);
    assert_eq!(text(replicas, 2), "int32");
    assert!(text(replicas, 4).contains("desired pods"));
    let pod_spec = entry(defs, 1, "io.k8s.api.core.v1.PodSpec");
    let containers = entry(one(pod_spec, 25), 1, "containers");
    assert_eq!(
        extension(containers, 31, "x-kubernetes-patch-merge-key"),
        "name\n"
    );
    assert_eq!(
        extension(containers, 31, "x-kubernetes-patch-strategy"),
        "merge\n"
    );
    assert_eq!(
        text(one(one(containers, 23), 1), 1),
        "#/definitions/io.k8s.api.core.v1.Container"
    );
    let meta = entry(defs, 1, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    let labels = entry(one(meta, 25), 1, "labels");
    assert_eq!(texts(one(one(one(labels, 21), 1), 22), 1), ["string"]);
    let int_or_string = entry(defs, 1, "io.k8s.apimachinery.pkg.util.intstr.IntOrString");
    assert_eq!(
        extension(int_or_string, 31, "x-kubernetes-int-or-string"),
        "true\n"
    );

    // Security.
    let bearer = entry(one(&pb, 13), 1, "BearerToken");
    assert_eq!(text(one(bearer, 2), 2), "authorization");
    let requirement = one(&pb, 12);
    assert_eq!(all(entry(requirement, 1, "BearerToken"), 1).len(), 0);
}

#[test]
fn custom_resource_keeps_its_extensions() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "port": {"x-kubernetes-int-or-string": true},
        "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
    }}}});
    let mut reg = Registry::builtin();
    reg.insert(Resource {
        group: "example.com".into(),
        version: "v1".into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
        singular: "widget".into(),
        namespaced: true,
        short_names: vec![],
        categories: vec![],
        subresources: vec![],
        verbs: STANDARD_VERBS.iter().map(|v| (*v).to_owned()).collect(),
        origin: Origin::Custom {
            crd: "widgets.example.com".into(),
            schema: Some(schema),
        },
        printer_columns: vec![],
        storage_version: true,
    });
    let doc = crate::openapi::v2(&reg);
    let pb = v2_protobuf(&doc).unwrap();
    let widget = entry(one(&pb, 9), 1, "com.example.v1.Widget");
    assert_eq!(
        extension(widget, 31, "x-kubernetes-group-version-kind"),
        "- group: example.com\n  kind: Widget\n  version: v1\n"
    );
    let spec = entry(one(widget, 25), 1, "spec");
    let port = entry(one(spec, 25), 1, "port");
    assert_eq!(extension(port, 31, "x-kubernetes-int-or-string"), "true\n");
    let config = entry(one(spec, 25), 1, "config");
    assert_eq!(
        extension(config, 31, "x-kubernetes-preserve-unknown-fields"),
        "true\n"
    );
}

#[test]
fn negotiation_follows_kube_openapi() {
    use V2Format::{Json, Protobuf};
    let cases = [
        ("", Some(Json)),
        ("application/json", Some(Json)),
        ("*/*", Some(Json)),
        (V2_PROTOBUF_CONTENT_TYPE, Some(Protobuf)),
        (V2_PROTOBUF_CONTENT_TYPE_DEPRECATED, Some(Protobuf)),
        (
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf, application/json",
            Some(Protobuf),
        ),
        (
            "application/json;q=0.9, application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
            Some(Protobuf),
        ),
        ("application/json, */*", Some(Json)),
        ("text/html", None),
        ("application/json;q=0", None),
    ];
    for (accept, want) in cases {
        assert_eq!(negotiate_v2(accept), want, "{accept}");
    }
}
