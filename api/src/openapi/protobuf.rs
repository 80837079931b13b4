//! The Swagger 2.0 document in gnostic's protobuf form, as `kube-apiserver`
//! serves `/openapi/v2` (and the legacy `/swagger-2.0.0.pb-v1`) to clients
//! that ask for [`V2_PROTOBUF_CONTENT_TYPE`] (or its older spelling
//! [`V2_PROTOBUF_CONTENT_TYPE_DEPRECATED`]): `kubectl` up to 1.27 reads only
//! this form for `apply`, `explain` and the field-validation check.
//!
//! The message is `openapi.v2.Document` of `openapiv2/OpenAPIv2.proto` in
//! github.com/google/gnostic-models v0.7.1 (identical in field numbers to
//! github.com/google/gnostic v0.5.7-v3refs, which kubectl 1.27 links).
//! Kubernetes builds it with gnostic's `ParseDocument` on the JSON document;
//! this module encodes the same JSON the same way, by hand (protobuf wire
//! format: varints and length-delimited fields, written in field-number order
//! with proto3's zero values left out, as Go's `proto.Marshal` does):
//!
//! - JSON maps keyed by name (`definitions`, `properties`, `paths`,
//!   `responses`, `securityDefinitions`, …) become repeated `Named…`
//!   messages in document order;
//! - a vendor extension (`x-…` key) becomes a `NamedAny` whose `Any.yaml`
//!   holds the value as YAML text, rendered as gnostic's `compiler.Marshal`
//!   (yaml.v3) renders it, see [`yaml`];
//! - the oneofs are decided as gnostic decides them: a parameter with
//!   `$ref` is a `JsonReference`, `in: body` a `BodyParameter`, any other
//!   location the matching `NonBodyParameter` sub-schema; a response with
//!   `$ref` is a `JsonReference`; a response schema of `type: file` is a
//!   `FileSchema`; `additionalProperties` is a boolean or a `Schema`.
//!
//! Keys gnostic does not know are left out (gnostic would refuse the whole
//! document); a known key with a value of the wrong JSON type is an error.
//!
//! ```
//! use skiff_api::{openapi, registry::Registry};
//!
//! let doc = openapi::v2(&Registry::builtin());
//! let bytes = openapi::v2_protobuf(&doc).unwrap();
//! // Field 1 (`swagger`), length-delimited, "2.0".
//! assert_eq!(&bytes[..5], b"\x0a\x032.0");
//! ```

mod yaml;

use serde_json::{Map, Value};

/// The media type of the protobuf form: what `/openapi/v2` answers with,
/// and one of the two spellings clients ask for.
pub const V2_PROTOBUF_CONTENT_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// The older spelling of [`V2_PROTOBUF_CONTENT_TYPE`], which kubectl 1.27
/// still asks for. It is accepted but never answered with: the `@` is not
/// allowed in a Content-Type (Go's `mime.ParseMediaType` refuses it, so
/// kubectl would fail), which is why kube-openapi renamed it.
pub const V2_PROTOBUF_CONTENT_TYPE_DEPRECATED: &str =
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// The form of `/openapi/v2` a client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V2Format {
    /// `application/json`.
    Json,
    /// gnostic protobuf, [`V2_PROTOBUF_CONTENT_TYPE`].
    Protobuf,
}

/// Content negotiation for `/openapi/v2`, as kube-openapi's handler does
/// it: the media ranges of `accept` by falling quality (in order among
/// equals), the first that names JSON or the protobuf (in either spelling)
/// wins, `*/*` and `application/*` meaning JSON. No header is JSON; a
/// header naming neither is `None` (406 Not Acceptable).
pub fn negotiate_v2(accept: &str) -> Option<V2Format> {
    if accept.trim().is_empty() {
        return Some(V2Format::Json);
    }
    let mut ranges: Vec<(f32, &str)> = accept
        .split(',')
        .map(|clause| {
            let mut parts = clause.split(';');
            let range = parts.next().unwrap_or_default().trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (q, range)
        })
        .filter(|(q, _)| *q > 0.0)
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranges.into_iter().find_map(|(_, range)| {
        let range = range.to_ascii_lowercase();
        match range.as_str() {
            V2_PROTOBUF_CONTENT_TYPE | V2_PROTOBUF_CONTENT_TYPE_DEPRECATED => {
                Some(V2Format::Protobuf)
            }
            "*/*" | "application/*" | "application/json" => Some(V2Format::Json),
            _ => None,
        }
    })
}

/// Why a Swagger 2.0 document could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// A value has a JSON type its place in the document does not allow.
    #[error("openapi v2 document at {path:?}: expected {expected}")]
    Shape {
        /// Where, as a JSON pointer (`/definitions/io.k8s…/type`).
        path: String,
        /// What the place allows (`a string`, `an object`, …).
        expected: &'static str,
    },
}

impl ProtobufError {
    fn shape(expected: &'static str) -> Self {
        Self::Shape {
            path: String::new(),
            expected,
        }
    }

    /// Prefixes the path with one more segment as the error travels up.
    fn at(self, segment: &str) -> Self {
        match self {
            Self::Shape { path, expected } => {
                let segment = segment.replace('~', "~0").replace('/', "~1");
                Self::Shape {
                    path: format!("/{segment}{path}"),
                    expected,
                }
            }
        }
    }
}

type Result<T, E = ProtobufError> = std::result::Result<T, E>;

/// Encodes a Swagger 2.0 document (as [`super::v2`] builds it) as a gnostic
/// `openapi.v2.Document`.
pub fn v2_protobuf(doc: &Value) -> Result<Vec<u8>> {
    message(doc, &[DOCUMENT])
}

// ---------------------------------------------------------------------------
// Wire format.

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn tag(buf: &mut Vec<u8>, field: u32, wire: u8) {
    varint(buf, (u64::from(field) << 3) | u64::from(wire));
}

/// A length-delimited field: a string, bytes or an embedded message.
fn len_field(buf: &mut Vec<u8>, field: u32, data: &[u8]) {
    tag(buf, field, LEN);
    varint(buf, data.len() as u64);
    buf.extend_from_slice(data);
}

/// A singular proto3 string: left out when empty.
fn string(buf: &mut Vec<u8>, field: u32, s: &str) {
    if !s.is_empty() {
        len_field(buf, field, s.as_bytes());
    }
}

// ---------------------------------------------------------------------------
// Field tables.

type Encode = fn(&Value) -> Result<Vec<u8>>;

/// How a JSON value becomes a protobuf field.
#[derive(Clone, Copy)]
enum Kind {
    /// `string`.
    Str,
    /// `bool`.
    Bool,
    /// `double`.
    Double,
    /// `int64`.
    Int64,
    /// `repeated string`, from an array of strings.
    StrList,
    /// `Any`, the value as YAML.
    Any,
    /// `repeated Any`, from an array.
    AnyList,
    /// An embedded message.
    Msg(Encode),
    /// `repeated` embedded messages, from an array.
    MsgList(Encode),
    /// A message holding `repeated Named… additional_properties = 1`, from
    /// an object: one `{name = 1, value = 2}` per key, the value encoded as
    /// the inner kind.
    Map(&'static Kind),
    /// `repeated NamedAny vendor_extension`, from the `x-` keys.
    Ext,
}

use Kind::{Any, AnyList, Bool, Double, Ext, Int64, Map as Named, Msg, MsgList, Str, StrList};

/// A message's fields in declaration order: the first is field 1, the next
/// field 2, and so on, which holds for every message encoded from a table
/// (checked against the proto by the tests).
type Fields = &'static [(&'static str, Kind)];

/// The key standing for the vendor extensions in a table.
const X: &str = "x-";

const DOCUMENT: Fields = &[
    ("swagger", Str),
    ("info", Msg(info)),
    ("host", Str),
    ("basePath", Str),
    ("schemes", StrList),
    ("consumes", StrList),
    ("produces", StrList),
    ("paths", Msg(paths)),
    ("definitions", Named(&Msg(schema))),
    ("parameters", Named(&Msg(parameter))),
    ("responses", Named(&Msg(response))),
    ("security", MsgList(security_requirement)),
    (
        "securityDefinitions",
        Named(&Msg(security_definitions_item)),
    ),
    ("tags", MsgList(tag_message)),
    ("externalDocs", Msg(external_docs)),
    (X, Ext),
];

const INFO: Fields = &[
    ("title", Str),
    ("version", Str),
    ("description", Str),
    ("termsOfService", Str),
    ("contact", Msg(contact)),
    ("license", Msg(license)),
    (X, Ext),
];
const CONTACT: Fields = &[("name", Str), ("url", Str), ("email", Str), (X, Ext)];
const LICENSE: Fields = &[("name", Str), ("url", Str), (X, Ext)];
const EXTERNAL_DOCS: Fields = &[("description", Str), ("url", Str), (X, Ext)];
const TAG: Fields = &[
    ("name", Str),
    ("description", Str),
    ("externalDocs", Msg(external_docs)),
    (X, Ext),
];

const PATH_ITEM: Fields = &[
    ("$ref", Str),
    ("get", Msg(operation)),
    ("put", Msg(operation)),
    ("post", Msg(operation)),
    ("delete", Msg(operation)),
    ("options", Msg(operation)),
    ("head", Msg(operation)),
    ("patch", Msg(operation)),
    ("parameters", MsgList(parameters_item)),
    (X, Ext),
];

const OPERATION: Fields = &[
    ("tags", StrList),
    ("summary", Str),
    ("description", Str),
    ("externalDocs", Msg(external_docs)),
    ("operationId", Str),
    ("produces", StrList),
    ("consumes", StrList),
    ("parameters", MsgList(parameters_item)),
    ("responses", Msg(responses)),
    ("schemes", StrList),
    ("deprecated", Bool),
    ("security", MsgList(security_requirement)),
    (X, Ext),
];

const JSON_REFERENCE: Fields = &[("$ref", Str), ("description", Str)];

const BODY_PARAMETER: Fields = &[
    ("description", Str),
    ("name", Str),
    ("in", Str),
    ("required", Bool),
    ("schema", Msg(schema)),
    (X, Ext),
];

/// The head of `HeaderParameterSubSchema` and `PathParameterSubSchema`.
const PARAMETER_HEAD: Fields = &[
    ("required", Bool),
    ("in", Str),
    ("description", Str),
    ("name", Str),
];
/// The head of `FormDataParameterSubSchema` and `QueryParameterSubSchema`.
const PARAMETER_HEAD_EMPTY: Fields = &[
    ("required", Bool),
    ("in", Str),
    ("description", Str),
    ("name", Str),
    ("allowEmptyValue", Bool),
];
/// What parameters, headers and `PrimitivesItems` share, in order.
const PRIMITIVE: Fields = &[
    ("type", Str),
    ("format", Str),
    ("items", Msg(primitives_items)),
    ("collectionFormat", Str),
    ("default", Any),
    ("maximum", Double),
    ("exclusiveMaximum", Bool),
    ("minimum", Double),
    ("exclusiveMinimum", Bool),
    ("maxLength", Int64),
    ("minLength", Int64),
    ("pattern", Str),
    ("maxItems", Int64),
    ("minItems", Int64),
    ("uniqueItems", Bool),
    ("enum", AnyList),
    ("multipleOf", Double),
];
const EXT: Fields = &[(X, Ext)];

const RESPONSE: Fields = &[
    ("description", Str),
    ("schema", Msg(schema_item)),
    ("headers", Named(&Msg(header))),
    ("examples", Named(&Any)),
    (X, Ext),
];

const SCHEMA: Fields = &[
    ("$ref", Str),
    ("format", Str),
    ("title", Str),
    ("description", Str),
    ("default", Any),
    ("multipleOf", Double),
    ("maximum", Double),
    ("exclusiveMaximum", Bool),
    ("minimum", Double),
    ("exclusiveMinimum", Bool),
    ("maxLength", Int64),
    ("minLength", Int64),
    ("pattern", Str),
    ("maxItems", Int64),
    ("minItems", Int64),
    ("uniqueItems", Bool),
    ("maxProperties", Int64),
    ("minProperties", Int64),
    ("required", StrList),
    ("enum", AnyList),
    ("additionalProperties", Msg(additional_properties)),
    ("type", Msg(type_item)),
    ("items", Msg(items_item)),
    ("allOf", MsgList(schema)),
    ("properties", Named(&Msg(schema))),
    ("discriminator", Str),
    ("readOnly", Bool),
    ("xml", Msg(xml)),
    ("externalDocs", Msg(external_docs)),
    ("example", Any),
    (X, Ext),
];

const FILE_SCHEMA: Fields = &[
    ("format", Str),
    ("title", Str),
    ("description", Str),
    ("default", Any),
    ("required", StrList),
    ("type", Str),
    ("readOnly", Bool),
    ("externalDocs", Msg(external_docs)),
    ("example", Any),
    (X, Ext),
];

const XML: Fields = &[
    ("name", Str),
    ("namespace", Str),
    ("prefix", Str),
    ("attribute", Bool),
    ("wrapped", Bool),
    (X, Ext),
];

const BASIC_SECURITY: Fields = &[("type", Str), ("description", Str), (X, Ext)];
const API_KEY_SECURITY: Fields = &[
    ("type", Str),
    ("name", Str),
    ("in", Str),
    ("description", Str),
    (X, Ext),
];
const OAUTH2_HEAD: Fields = &[("type", Str), ("flow", Str), ("scopes", Named(&Str))];
const OAUTH2_IMPLICIT: Fields = &[("authorizationUrl", Str), ("description", Str), (X, Ext)];
/// The tail of both the `password` and the `application` flow.
const OAUTH2_TOKEN: Fields = &[("tokenUrl", Str), ("description", Str), (X, Ext)];
const OAUTH2_ACCESS_CODE: Fields = &[
    ("authorizationUrl", Str),
    ("tokenUrl", Str),
    ("description", Str),
    (X, Ext),
];

// ---------------------------------------------------------------------------
// Encoding.

/// Encodes an object as the message whose fields are `parts`, one after
/// the other, numbered from 1.
fn message(v: &Value, parts: &[Fields]) -> Result<Vec<u8>> {
    let obj = object(v)?;
    let mut buf = Vec::new();
    let mut number = 0;
    for (key, kind) in parts.iter().flat_map(|p| p.iter()) {
        number += 1;
        if let Ext = kind {
            extensions(&mut buf, number, obj)?;
        } else if let Some(x) = obj.get(*key) {
            field(&mut buf, number, *kind, x).map_err(|e| e.at(key))?;
        }
    }
    Ok(buf)
}

fn field(buf: &mut Vec<u8>, number: u32, kind: Kind, v: &Value) -> Result<()> {
    match kind {
        Str => string(buf, number, str_of(v)?),
        Bool => {
            if v.as_bool().ok_or(ProtobufError::shape("a boolean"))? {
                tag(buf, number, VARINT);
                varint(buf, 1);
            }
        }
        Double => {
            let d = v.as_f64().ok_or(ProtobufError::shape("a number"))?;
            // proto3 leaves out +0.0 only; -0.0 has other bits.
            if d.to_bits() != 0 {
                tag(buf, number, FIXED64);
                buf.extend_from_slice(&d.to_le_bytes());
            }
        }
        Int64 => {
            let i = integer(v)?;
            if i != 0 {
                tag(buf, number, VARINT);
                // Negative int64s are their 64-bit two's complement.
                varint(buf, i as u64);
            }
        }
        StrList => {
            for (i, s) in array(v)?.iter().enumerate() {
                let s = str_of(s).map_err(|e| e.at(&i.to_string()))?;
                len_field(buf, number, s.as_bytes());
            }
        }
        Any => len_field(buf, number, &any(v)),
        AnyList => {
            for x in array(v)? {
                len_field(buf, number, &any(x));
            }
        }
        Msg(encode) => len_field(buf, number, &encode(v)?),
        MsgList(encode) => {
            for (i, x) in array(v)?.iter().enumerate() {
                len_field(buf, number, &encode(x).map_err(|e| e.at(&i.to_string()))?);
            }
        }
        Named(inner) => len_field(buf, number, &named(v, *inner)?),
        // Extensions come from several keys; `message` writes them.
        Ext => {}
    }
    Ok(())
}

/// `repeated Named… additional_properties = 1`: `{name = 1, value = 2}`
/// per key of the object.
fn named(v: &Value, inner: Kind) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    for (k, x) in object(v)? {
        let mut pair = Vec::new();
        string(&mut pair, 1, k);
        field(&mut pair, 2, inner, x).map_err(|e| e.at(k))?;
        len_field(&mut buf, 1, &pair);
    }
    Ok(buf)
}

/// The `x-` keys of an object as `NamedAny`s in field `number`.
fn extensions(buf: &mut Vec<u8>, number: u32, obj: &Map<String, Value>) -> Result<()> {
    for (k, x) in obj.iter().filter(|(k, _)| k.starts_with(X)) {
        let mut pair = Vec::new();
        string(&mut pair, 1, k);
        len_field(&mut pair, 2, &any(x));
        len_field(buf, number, &pair);
    }
    Ok(())
}

/// `Any { yaml = 2 }` (gnostic leaves `value = 1` unset).
fn any(v: &Value) -> Vec<u8> {
    let mut buf = Vec::new();
    len_field(&mut buf, 2, yaml::to_string(v).as_bytes());
    buf
}

fn object(v: &Value) -> Result<&Map<String, Value>> {
    v.as_object().ok_or(ProtobufError::shape("an object"))
}

fn array(v: &Value) -> Result<&Vec<Value>> {
    v.as_array().ok_or(ProtobufError::shape("an array"))
}

fn str_of(v: &Value) -> Result<&str> {
    v.as_str().ok_or(ProtobufError::shape("a string"))
}

fn integer(v: &Value) -> Result<i64> {
    if let Some(i) = v.as_i64() {
        return Ok(i);
    }
    match v.as_f64() {
        // `5.0` is an integer to YAML's resolver too.
        #[expect(
            clippy::cast_possible_truncation,
            reason = "checked integral and in range"
        )]
        Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(f as i64),
        _ => Err(ProtobufError::shape("an integer")),
    }
}

fn info(v: &Value) -> Result<Vec<u8>> {
    message(v, &[INFO])
}

fn contact(v: &Value) -> Result<Vec<u8>> {
    message(v, &[CONTACT])
}

fn license(v: &Value) -> Result<Vec<u8>> {
    message(v, &[LICENSE])
}

fn external_docs(v: &Value) -> Result<Vec<u8>> {
    message(v, &[EXTERNAL_DOCS])
}

fn tag_message(v: &Value) -> Result<Vec<u8>> {
    message(v, &[TAG])
}

/// `Paths`: the extensions (field 1), then a `NamedPathItem` (field 2) per
/// key starting with `/`.
fn paths(v: &Value) -> Result<Vec<u8>> {
    let obj = object(v)?;
    let mut buf = Vec::new();
    extensions(&mut buf, 1, obj)?;
    for (k, x) in obj.iter().filter(|(k, _)| k.starts_with('/')) {
        let mut pair = Vec::new();
        string(&mut pair, 1, k);
        len_field(
            &mut pair,
            2,
            &message(x, &[PATH_ITEM]).map_err(|e| e.at(k))?,
        );
        len_field(&mut buf, 2, &pair);
    }
    Ok(buf)
}

fn operation(v: &Value) -> Result<Vec<u8>> {
    message(v, &[OPERATION])
}

/// `ParametersItem`: oneof `Parameter parameter = 1` or `JsonReference
/// json_reference = 2`.
fn parameters_item(v: &Value) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    if object(v)?.contains_key("$ref") {
        len_field(&mut buf, 2, &message(v, &[JSON_REFERENCE])?);
    } else {
        len_field(&mut buf, 1, &parameter(v)?);
    }
    Ok(buf)
}

/// `Parameter`: oneof `BodyParameter body_parameter = 1` or
/// `NonBodyParameter non_body_parameter = 2`, whose own oneof is the
/// sub-schema of the location (header 1, formData 2, query 3, path 4).
fn parameter(v: &Value) -> Result<Vec<u8>> {
    let location = object(v)?
        .get("in")
        .map(str_of)
        .transpose()
        .map_err(|e| e.at("in"))?;
    let mut buf = Vec::new();
    if location == Some("body") {
        len_field(&mut buf, 1, &message(v, &[BODY_PARAMETER])?);
        return Ok(buf);
    }
    let (number, head) = match location {
        Some("header") => (1, PARAMETER_HEAD),
        Some("formData") => (2, PARAMETER_HEAD_EMPTY),
        Some("query") => (3, PARAMETER_HEAD_EMPTY),
        Some("path") => (4, PARAMETER_HEAD),
        _ => {
            return Err(ProtobufError::shape("body, header, formData, query or path").at("in"));
        }
    };
    let mut sub = Vec::new();
    len_field(&mut sub, number, &message(v, &[head, PRIMITIVE, EXT])?);
    len_field(&mut buf, 2, &sub);
    Ok(buf)
}

fn primitives_items(v: &Value) -> Result<Vec<u8>> {
    message(v, &[PRIMITIVE, EXT])
}

/// `Header`: the primitive fields, then `description = 18`.
fn header(v: &Value) -> Result<Vec<u8>> {
    message(v, &[PRIMITIVE, &[("description", Str)], EXT])
}

/// `Responses`: a `NamedResponseValue` (field 1) per status code or
/// `default`, then the extensions (field 2).
fn responses(v: &Value) -> Result<Vec<u8>> {
    let obj = object(v)?;
    let mut buf = Vec::new();
    let is_code =
        |k: &str| k == "default" || (k.len() == 3 && k.bytes().all(|b| b.is_ascii_digit()));
    for (k, x) in obj.iter().filter(|(k, _)| is_code(k)) {
        // `ResponseValue`: oneof `Response response = 1` or `JsonReference
        // json_reference = 2`.
        let mut value = Vec::new();
        if object(x).map_err(|e| e.at(k))?.contains_key("$ref") {
            len_field(
                &mut value,
                2,
                &message(x, &[JSON_REFERENCE]).map_err(|e| e.at(k))?,
            );
        } else {
            len_field(&mut value, 1, &response(x).map_err(|e| e.at(k))?);
        }
        let mut pair = Vec::new();
        string(&mut pair, 1, k);
        len_field(&mut pair, 2, &value);
        len_field(&mut buf, 1, &pair);
    }
    extensions(&mut buf, 2, obj)?;
    Ok(buf)
}

fn response(v: &Value) -> Result<Vec<u8>> {
    message(v, &[RESPONSE])
}

/// `SchemaItem`: oneof `Schema schema = 1` or `FileSchema file_schema = 2`
/// (`type: file`).
fn schema_item(v: &Value) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    if object(v)?.get("type").and_then(Value::as_str) == Some("file") {
        len_field(&mut buf, 2, &message(v, &[FILE_SCHEMA])?);
    } else {
        len_field(&mut buf, 1, &schema(v)?);
    }
    Ok(buf)
}

fn schema(v: &Value) -> Result<Vec<u8>> {
    message(v, &[SCHEMA])
}

/// `AdditionalPropertiesItem`: oneof `Schema schema = 1` or `bool boolean
/// = 2` (a oneof member is written even when `false`).
fn additional_properties(v: &Value) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    match v {
        Value::Bool(b) => {
            tag(&mut buf, 2, VARINT);
            varint(&mut buf, u64::from(*b));
        }
        Value::Object(_) => len_field(&mut buf, 1, &schema(v)?),
        _ => return Err(ProtobufError::shape("a boolean or a schema")),
    }
    Ok(buf)
}

/// `TypeItem`: `repeated string value = 1`, from a string or an array.
fn type_item(v: &Value) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    match v {
        Value::String(s) => len_field(&mut buf, 1, s.as_bytes()),
        _ => field(&mut buf, 1, StrList, v)?,
    }
    Ok(buf)
}

/// `ItemsItem`: `repeated Schema schema = 1`, from a schema (or an array of
/// them, which gnostic refuses but Swagger's tuple form allows).
fn items_item(v: &Value) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    match v {
        Value::Array(_) => field(&mut buf, 1, MsgList(schema), v)?,
        _ => len_field(&mut buf, 1, &schema(v)?),
    }
    Ok(buf)
}

fn xml(v: &Value) -> Result<Vec<u8>> {
    message(v, &[XML])
}

/// `SecurityRequirement`: `repeated NamedStringArray`, each value a
/// `StringArray { repeated string value = 1 }`.
fn security_requirement(v: &Value) -> Result<Vec<u8>> {
    named(v, Msg(string_array))
}

fn string_array(v: &Value) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    field(&mut buf, 1, StrList, v)?;
    Ok(buf)
}

/// `SecurityDefinitionsItem`: the oneof member for `type` (and, for
/// OAuth 2, `flow`).
fn security_definitions_item(v: &Value) -> Result<Vec<u8>> {
    let obj = object(v)?;
    let get = |k: &str| obj.get(k).and_then(Value::as_str);
    let (number, parts): (u32, &[Fields]) = match (get("type"), get("flow")) {
        (Some("basic"), _) => (1, &[BASIC_SECURITY]),
        (Some("apiKey"), _) => (2, &[API_KEY_SECURITY]),
        (Some("oauth2"), Some("implicit")) => (3, &[OAUTH2_HEAD, OAUTH2_IMPLICIT]),
        (Some("oauth2"), Some("password")) => (4, &[OAUTH2_HEAD, OAUTH2_TOKEN]),
        (Some("oauth2"), Some("application")) => (5, &[OAUTH2_HEAD, OAUTH2_TOKEN]),
        (Some("oauth2"), Some("accessCode")) => (6, &[OAUTH2_HEAD, OAUTH2_ACCESS_CODE]),
        _ => {
            return Err(ProtobufError::shape(
                "a basic, apiKey or oauth2 security scheme",
            ));
        }
    };
    let mut buf = Vec::new();
    len_field(&mut buf, number, &message(v, parts)?);
    Ok(buf)
}

#[cfg(test)]
mod tests;
