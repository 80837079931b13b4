//! Field errors and field paths, shaped like `k8s.io/apimachinery/pkg/util/validation/field`.

use std::fmt;

/// A path to a field, rendered as Kubernetes does: `spec.containers[0].image`,
/// `metadata.labels[app]`.
///
/// # Examples
///
/// ```
/// use skiff_api::validation::FieldPath;
///
/// let p = FieldPath::new("spec").child("containers").index(0).child("image");
/// assert_eq!(p.to_string(), "spec.containers[0].image");
/// assert_eq!(FieldPath::new("metadata").child("labels").key("app").to_string(), "metadata.labels[app]");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldPath {
    rendered: String,
}

impl FieldPath {
    /// A path starting at a top-level field.
    pub fn new(name: &str) -> FieldPath {
        FieldPath {
            rendered: name.to_owned(),
        }
    }

    /// The empty path (renders as the empty string).
    pub fn root() -> FieldPath {
        FieldPath::default()
    }

    /// A child field: `a.b`.
    pub fn child(&self, name: &str) -> FieldPath {
        let mut rendered = self.rendered.clone();
        if !rendered.is_empty() && !name.is_empty() {
            rendered.push('.');
        }
        rendered.push_str(name);
        FieldPath { rendered }
    }

    /// A list element: `a[3]`.
    pub fn index(&self, i: usize) -> FieldPath {
        FieldPath {
            rendered: format!("{}[{i}]", self.rendered),
        }
    }

    /// A map entry: `a[key]`.
    pub fn key(&self, k: &str) -> FieldPath {
        FieldPath {
            rendered: format!("{}[{k}]", self.rendered),
        }
    }

    /// The rendered path.
    pub fn as_str(&self) -> &str {
        &self.rendered
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rendered)
    }
}

/// The kind of a field error; each maps to a `StatusCause` reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldErrorKind {
    /// A referenced thing does not exist.
    NotFound,
    /// A required field is missing.
    Required,
    /// A value that must be unique is repeated.
    Duplicate,
    /// A value is malformed or out of range.
    Invalid,
    /// A value is not in the supported set.
    NotSupported,
    /// The field may not be set (here, or by this user).
    Forbidden,
    /// A value is too long.
    TooLong,
    /// A list has too many items.
    TooMany,
}

impl FieldErrorKind {
    /// The cause type: `FieldValueRequired`, `FieldValueInvalid`, …
    pub fn reason(self) -> &'static str {
        match self {
            FieldErrorKind::NotFound => "FieldValueNotFound",
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::TooMany => "FieldValueTooMany",
        }
    }

    /// The words that open the message: `Required value`, `Invalid value`, …
    pub fn label(self) -> &'static str {
        match self {
            FieldErrorKind::NotFound => "Not found",
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::Duplicate => "Duplicate value",
            FieldErrorKind::Invalid => "Invalid value",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::Forbidden => "Forbidden",
            FieldErrorKind::TooLong => "Too long",
            FieldErrorKind::TooMany => "Too many",
        }
    }
}

/// The offending value of a field error, printed as Go's `field.Error` prints it.
#[derive(Clone, Debug, PartialEq)]
pub enum BadValue {
    /// A string, printed quoted: `"Foo_bar"`.
    Str(String),
    /// An integer, printed bare: `-1`.
    Int(i64),
    /// A boolean, printed bare.
    Bool(bool),
    /// JSON null, printed `null`.
    Null,
    /// Any other value, printed verbatim (e.g. Go's `[]string{"a"}`).
    Raw(String),
}

impl From<&str> for BadValue {
    fn from(s: &str) -> Self {
        BadValue::Str(s.to_owned())
    }
}

impl From<String> for BadValue {
    fn from(s: String) -> Self {
        BadValue::Str(s)
    }
}

impl From<i64> for BadValue {
    fn from(i: i64) -> Self {
        BadValue::Int(i)
    }
}

impl From<bool> for BadValue {
    fn from(b: bool) -> Self {
        BadValue::Bool(b)
    }
}

impl From<&serde_json::Value> for BadValue {
    fn from(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => BadValue::Null,
            serde_json::Value::Bool(b) => BadValue::Bool(*b),
            serde_json::Value::String(s) => BadValue::Str(s.clone()),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => BadValue::Int(i),
                None => BadValue::Raw(n.to_string()),
            },
            other => BadValue::Raw(other.to_string()),
        }
    }
}

impl BadValue {
    /// Go's `[]string{"a", "b"}` rendering of a string list.
    pub fn string_list<S: AsRef<str>>(items: &[S]) -> BadValue {
        let inner: Vec<String> = items.iter().map(|s| go_quote(s.as_ref())).collect();
        BadValue::Raw(format!("[]string{{{}}}", inner.join(", ")))
    }
}

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadValue::Str(s) => f.write_str(&go_quote(s)),
            BadValue::Int(i) => write!(f, "{i}"),
            BadValue::Bool(b) => write!(f, "{b}"),
            BadValue::Null => f.write_str("null"),
            BadValue::Raw(s) => f.write_str(s),
        }
    }
}

/// Quotes a string as Go's `strconv.Quote` (`%q`) does.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One validation failure: what, where, which value, why.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    /// What kind of failure.
    pub kind: FieldErrorKind,
    /// The field path, e.g. `spec.containers[0].image`.
    pub field: String,
    /// The offending value, when the message shows one.
    pub value: Option<BadValue>,
    /// Why, in Kubernetes' words; may be empty.
    pub detail: String,
}

impl FieldError {
    fn new(
        kind: FieldErrorKind,
        path: &FieldPath,
        value: Option<BadValue>,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError {
            kind,
            field: path.to_string(),
            value,
            detail: detail.into(),
        }
    }

    /// `Required value`.
    pub fn required(path: &FieldPath, detail: impl Into<String>) -> FieldError {
        Self::new(FieldErrorKind::Required, path, None, detail)
    }

    /// `Invalid value: <value>: <detail>`.
    pub fn invalid(
        path: &FieldPath,
        value: impl Into<BadValue>,
        detail: impl Into<String>,
    ) -> FieldError {
        Self::new(FieldErrorKind::Invalid, path, Some(value.into()), detail)
    }

    /// `Unsupported value: <value>: supported values: "a", "b"`.
    pub fn not_supported(
        path: &FieldPath,
        value: impl Into<BadValue>,
        valid: &[&str],
    ) -> FieldError {
        let detail = if valid.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = valid.iter().map(|v| go_quote(v)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(
            FieldErrorKind::NotSupported,
            path,
            Some(value.into()),
            detail,
        )
    }

    /// `Duplicate value: <value>`.
    pub fn duplicate(path: &FieldPath, value: impl Into<BadValue>) -> FieldError {
        Self::new(FieldErrorKind::Duplicate, path, Some(value.into()), "")
    }

    /// `Not found: <value>`.
    pub fn not_found(path: &FieldPath, value: impl Into<BadValue>) -> FieldError {
        Self::new(FieldErrorKind::NotFound, path, Some(value.into()), "")
    }

    /// `Forbidden: <detail>`.
    pub fn forbidden(path: &FieldPath, detail: impl Into<String>) -> FieldError {
        Self::new(FieldErrorKind::Forbidden, path, None, detail)
    }

    /// `Too long: may not be more than N bytes`.
    pub fn too_long(path: &FieldPath, max_bytes: usize) -> FieldError {
        Self::new(
            FieldErrorKind::TooLong,
            path,
            None,
            format!("may not be more than {max_bytes} bytes"),
        )
    }

    /// `Too many: <actual>: must have at most N items`.
    pub fn too_many(path: &FieldPath, actual: usize, max: usize) -> FieldError {
        Self::new(
            FieldErrorKind::TooMany,
            path,
            Some(BadValue::Int(i64::try_from(actual).unwrap_or(i64::MAX))),
            format!("must have at most {max} items"),
        )
    }

    /// The cause type for `details.causes[].reason`.
    pub fn reason(&self) -> &'static str {
        self.kind.reason()
    }

    /// The message without the field, as Kubernetes puts in
    /// `details.causes[].message`: `Invalid value: "Foo": …`.
    pub fn body(&self) -> String {
        let mut s = self.kind.label().to_owned();
        let shows_value = !matches!(
            self.kind,
            FieldErrorKind::Required | FieldErrorKind::Forbidden | FieldErrorKind::TooLong
        );
        if shows_value && let Some(v) = &self.value {
            s.push_str(": ");
            s.push_str(&v.to_string());
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    /// The full message: `metadata.name: Invalid value: "Foo_bar": a lowercase RFC 1123 …`.
    pub fn message(&self) -> String {
        format!("{}: {}", self.field, self.body())
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for FieldError {}

/// Joins errors as Kubernetes' aggregate does: one message alone, several as
/// `[a, b]`; duplicates are dropped.
pub fn aggregate_message(errors: &[FieldError]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in errors {
        let m = e.message();
        if !seen.contains(&m) {
            seen.push(m);
        }
    }
    match seen.len() {
        1 => seen.remove(0),
        _ => format!("[{}]", seen.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let p = FieldPath::new("spec")
            .child("containers")
            .index(0)
            .child("image");
        assert_eq!(p.to_string(), "spec.containers[0].image");
        assert_eq!(FieldPath::root().child("metadata").as_str(), "metadata");
        assert_eq!(FieldPath::root().key("k").as_str(), "[k]");
        assert_eq!(
            FieldPath::new("values").index(0).key("env").as_str(),
            "values[0][env]"
        );
    }

    #[test]
    fn messages_match_kubernetes() {
        let name = FieldPath::new("metadata").child("name");
        let e = FieldError::invalid(&name, "Foo_bar", "bad name");
        assert_eq!(
            e.message(),
            "metadata.name: Invalid value: \"Foo_bar\": bad name"
        );
        assert_eq!(e.reason(), "FieldValueInvalid");
        assert_eq!(e.body(), "Invalid value: \"Foo_bar\": bad name");

        let r = FieldError::required(&name, "name or generateName is required");
        assert_eq!(
            r.message(),
            "metadata.name: Required value: name or generateName is required"
        );
        let r2 = FieldError::required(&FieldPath::new("spec").child("containers"), "");
        assert_eq!(r2.message(), "spec.containers: Required value");

        let n = FieldError::not_supported(
            &FieldPath::new("spec").child("restartPolicy"),
            "Sometimes",
            &["Always", "OnFailure", "Never"],
        );
        assert_eq!(
            n.message(),
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
        );
        let d = FieldError::duplicate(
            &FieldPath::new("spec")
                .child("containers")
                .index(1)
                .child("name"),
            "web",
        );
        assert_eq!(
            d.message(),
            "spec.containers[1].name: Duplicate value: \"web\""
        );
        let i = FieldError::invalid(
            &FieldPath::new("spec").child("replicas"),
            -1i64,
            "must be greater than or equal to 0",
        );
        assert_eq!(
            i.message(),
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        let t = FieldError::too_long(&FieldPath::new("metadata").child("annotations"), 262144);
        assert_eq!(
            t.message(),
            "metadata.annotations: Too long: may not be more than 262144 bytes"
        );
        let f = FieldError::forbidden(
            &FieldPath::new("metadata").child("namespace"),
            "not allowed on this type",
        );
        assert_eq!(
            f.message(),
            "metadata.namespace: Forbidden: not allowed on this type"
        );
        let nf = FieldError::not_found(&FieldPath::new("spec").child("x"), "y");
        assert_eq!(nf.message(), "spec.x: Not found: \"y\"");
        let tm = FieldError::too_many(&FieldPath::new("spec").child("x"), 5, 4);
        assert_eq!(
            tm.message(),
            "spec.x: Too many: 5: must have at most 4 items"
        );
        assert_eq!(tm.reason(), "FieldValueTooMany");
    }

    #[test]
    fn reasons() {
        use FieldErrorKind::*;
        let all = [
            NotFound,
            Required,
            Duplicate,
            Invalid,
            NotSupported,
            Forbidden,
            TooLong,
            TooMany,
        ];
        let reasons: Vec<&str> = all.iter().map(|k| k.reason()).collect();
        assert_eq!(
            reasons,
            [
                "FieldValueNotFound",
                "FieldValueRequired",
                "FieldValueDuplicate",
                "FieldValueInvalid",
                "FieldValueNotSupported",
                "FieldValueForbidden",
                "FieldValueTooLong",
                "FieldValueTooMany"
            ]
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(go_quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(go_quote("\u{1}"), "\"\\x01\"");
        assert_eq!(go_quote("é"), "\"é\"");
        assert_eq!(go_quote("\u{85}"), "\"\\u0085\"");
        assert_eq!(
            BadValue::string_list(&["a", "b"]).to_string(),
            "[]string{\"a\", \"b\"}"
        );
        assert_eq!(BadValue::string_list::<&str>(&[]).to_string(), "[]string{}");
        assert_eq!(BadValue::from(&serde_json::json!(3)).to_string(), "3");
        assert_eq!(BadValue::from(&serde_json::json!(null)).to_string(), "null");
        assert_eq!(BadValue::from(&serde_json::json!(1.5)).to_string(), "1.5");
    }

    #[test]
    fn aggregate() {
        let a = FieldError::required(&FieldPath::new("a"), "");
        let b = FieldError::required(&FieldPath::new("b"), "");
        assert_eq!(
            aggregate_message(std::slice::from_ref(&a)),
            "a: Required value"
        );
        assert_eq!(
            aggregate_message(&[a.clone(), b, a]),
            "[a: Required value, b: Required value]"
        );
    }
}
