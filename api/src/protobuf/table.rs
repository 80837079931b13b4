//! The shape of the generated field tables ([`super::tables`]).

/// One protobuf message of Kubernetes' `generated.proto` files.
pub(super) struct Message {
    /// Its k8s-pb path (`api.core.v1.Pod`), for error messages.
    pub name: &'static str,
    /// How its JSON form is made.
    pub special: Special,
    /// Its fields, sorted by tag.
    pub fields: &'static [Field],
}

/// How a message becomes JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Special {
    /// An object of its fields.
    Object,
    /// `meta/v1.Time` {seconds=1, nanos=2}: RFC 3339 in seconds.
    Time,
    /// `meta/v1.MicroTime`: RFC 3339 in microseconds.
    MicroTime,
    /// `meta/v1.Duration` {duration=1 ns}: a Go duration string.
    #[allow(
        dead_code,
        reason = "no kind served today has a Duration field; the generator knows the type"
    )]
    Duration,
    /// `resource.Quantity` {string=1}: the string.
    Quantity,
    /// `intstr.IntOrString` {type=1, intVal=2, strVal=3}.
    IntOrString,
    /// `runtime.RawExtension`, `meta/v1.FieldsV1`, apiextensions `JSON`
    /// {raw=1}: the embedded JSON document.
    RawJson,
    /// `JSONSchemaPropsOrBool` {allows=1, schema=2}: the schema or a bool.
    SchemaOrBool,
    /// `JSONSchemaPropsOrArray` {schema=1, jSONSchemas=2}.
    SchemaOrArray,
    /// `JSONSchemaPropsOrStringArray` {schema=1, property=2}.
    SchemaOrStringArray,
}

/// One field of a message.
pub(super) struct Field {
    /// The field number.
    pub tag: u32,
    /// Its JSON name; empty for [`Shape::Inline`].
    pub json: &'static str,
    /// What one value is.
    pub kind: Kind,
    /// One value, a list or a map.
    pub shape: Shape,
    /// When it appears in the JSON.
    pub presence: Presence,
}

/// A field's value type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// `string`.
    Str,
    /// `bool`.
    Bool,
    /// `int32`.
    I32,
    /// `int64`.
    I64,
    /// `double`.
    F64,
    /// `bytes`: base64 in JSON.
    Bytes,
    /// A message, by index in [`super::tables::MESSAGES`].
    Msg(u16),
}

/// A field's cardinality.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    /// `optional`.
    Single,
    /// `repeated`.
    Repeated,
    /// `map<string, kind>`: entries with key=1, value=2.
    Map,
    /// A Go struct embedded with `json:",inline"` (`Volume.VolumeSource`):
    /// its fields join the parent object.
    Inline,
}

/// When a field appears in the JSON, following what Go's JSON encoder
/// writes for the value Go's protobuf decoder reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Presence {
    /// Required in k8s-openapi: always written, its zero value when absent.
    Required,
    /// Optional: written when present, except an empty string or bytes
    /// (Go's `omitempty`). Numbers and bools keep their zero value, which
    /// is meaningful for Go pointers (`replicas: 0`).
    Optional,
    /// Optional, and a plain (non-pointer) Go number or bool with
    /// `omitempty`: its zero value is dropped too.
    OmitZero,
    /// Optional, and a Go `*string` whose empty value means something.
    KeepEmpty,
}

/// A field, in the generated tables' terse form.
pub(super) const fn f(
    tag: u32,
    json: &'static str,
    kind: Kind,
    shape: Shape,
    presence: Presence,
) -> Field {
    Field {
        tag,
        json,
        kind,
        shape,
        presence,
    }
}
