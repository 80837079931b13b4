//! The subset of Kubernetes JSONPath that CRD `additionalPrinterColumns`,
//! scale subresource paths and `kubectl get -o jsonpath` style simple paths
//! use (see `k8s.io/client-go/util/jsonpath`).
//!
//! Supported: field access (`.spec.replicas`, `['app.kubernetes.io/name']`,
//! `\.`-escaped dots), `*` wildcards, indices (negative counts from the end),
//! slices `[start:end:step]`, unions `[0,2]` / `['a','b']`, recursive descent
//! `..name`, and filters `[?(@.type=="Ready")]` with `==`, `!=`, `<`, `<=`,
//! `>`, `>=` or a bare existence test `[?(@.ready)]`. One expression, with or
//! without `{}` and a leading `$`. Templates with text around several `{}`
//! blocks, `range`/`end` and functions are out of scope.
//!
//! ```
//! use skiff_api::jsonpath::JsonPath;
//! use serde_json::json;
//!
//! let obj = json!({"status": {"conditions": [
//!     {"type": "Ready", "status": "True"},
//!     {"type": "Synced", "status": "False"},
//! ]}});
//! let p = JsonPath::parse(r#"{.status.conditions[?(@.type=="Ready")].status}"#).unwrap();
//! assert_eq!(p.eval(&obj), vec![&json!("True")]);
//! ```

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Map, Value};

/// Why a JSONPath expression could not be parsed or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonPathError {
    /// The expression is not valid JSONPath.
    #[error("invalid JSONPath {expr:?} at offset {offset}: {reason}")]
    Syntax {
        /// The expression as given.
        expr: String,
        /// Byte offset of the problem.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// `set` needs a path of plain fields (`.spec.replicas`).
    #[error("JSONPath {expr:?} is not a simple field path")]
    NotSimple {
        /// The expression as given.
        expr: String,
    },
    /// `set` met a value that is not an object where it had to descend.
    #[error("cannot set {expr:?}: {at} is not an object")]
    NotAnObject {
        /// The expression as given.
        expr: String,
        /// Dotted path of the offending value.
        at: String,
    },
}

/// One step of a parsed path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// `.name` or `['name']`.
    Field(String),
    /// `['a','b']`.
    Fields(Vec<String>),
    /// `.*` or `[*]`: every member of an object or element of an array.
    Wildcard,
    /// `..`: the current value and all its descendants.
    Descend,
    /// `[i]`, negative from the end.
    Index(i64),
    /// `[i,j]`.
    Indices(Vec<i64>),
    /// `[start:end:step]`.
    Slice(Option<i64>, Option<i64>, Option<i64>),
    /// `[?(...)]`.
    Filter(Filter),
}

/// A filter expression applied to each element of an array.
#[derive(Debug, Clone, PartialEq)]
enum Filter {
    /// `@.x`: the path yields something (and it is not `false`/`null`).
    Exists(Vec<Step>),
    /// `lhs op rhs`.
    Compare(Operand, Op, Operand),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Path(Vec<Step>),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed JSONPath expression.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    source: String,
    steps: Vec<Step>,
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl JsonPath {
    /// Parses an expression such as `.spec.replicas` or `{.items[*].metadata.name}`.
    pub fn parse(expr: &str) -> Result<JsonPath, JsonPathError> {
        let trimmed = expr.trim();
        let inner = match trimmed.strip_prefix('{') {
            Some(rest) => rest
                .strip_suffix('}')
                .ok_or_else(|| JsonPathError::Syntax {
                    expr: expr.to_owned(),
                    offset: trimmed.len(),
                    reason: "unclosed '{'".into(),
                })?,
            None => trimmed,
        };
        let inner = inner.trim();
        let mut p = Parser {
            expr,
            src: inner.as_bytes(),
            text: inner,
            pos: 0,
        };
        if p.peek() == Some(b'$') {
            p.pos += 1;
        }
        let steps = p.steps(false)?;
        if p.pos < p.src.len() {
            return Err(p.err("unexpected character"));
        }
        Ok(JsonPath {
            source: expr.to_owned(),
            steps,
        })
    }

    /// The expression as it was given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Every value the path selects in `root`, in document order. A path
    /// that selects nothing (missing field, index out of range) gives an
    /// empty vector, as `kubectl` prints an empty cell.
    pub fn eval<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        eval_steps(&self.steps, root)
    }

    /// The first value selected, if any.
    pub fn first<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        self.eval(root).into_iter().next()
    }

    /// The field names of a simple path (`.spec.replicas` → `["spec", "replicas"]`),
    /// or `None` when the path has wildcards, indices or filters.
    pub fn simple_fields(&self) -> Option<Vec<&str>> {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Field(f) => Some(f.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Writes `value` at this simple field path, creating missing
    /// intermediate objects (`null` counts as missing). Used by `/scale` to
    /// write `.spec.replicas`.
    pub fn set(&self, root: &mut Value, value: Value) -> Result<(), JsonPathError> {
        let fields = self
            .simple_fields()
            .ok_or_else(|| JsonPathError::NotSimple {
                expr: self.source.clone(),
            })?;
        let Some((last, parents)) = fields.split_last() else {
            // The empty path is the root itself.
            *root = value;
            return Ok(());
        };
        let mut cur = root;
        let mut at = String::new();
        for f in parents {
            if cur.is_null() {
                *cur = Value::Object(Map::new());
            }
            let Value::Object(map) = cur else {
                return Err(JsonPathError::NotAnObject {
                    expr: self.source.clone(),
                    at: if at.is_empty() { ".".into() } else { at },
                });
            };
            at.push('.');
            at.push_str(f);
            cur = map.entry((*f).to_owned()).or_insert(Value::Null);
        }
        if cur.is_null() {
            *cur = Value::Object(Map::new());
        }
        match cur {
            Value::Object(map) => {
                map.insert((*last).to_owned(), value);
                Ok(())
            }
            _ => Err(JsonPathError::NotAnObject {
                expr: self.source.clone(),
                at: if at.is_empty() { ".".into() } else { at },
            }),
        }
    }
}

/// Parses `path` and writes `value` there; see [`JsonPath::set`].
pub fn set(root: &mut Value, path: &str, value: Value) -> Result<(), JsonPathError> {
    JsonPath::parse(path)?.set(root, value)
}

/// Parses `path` and returns the first value it selects in `root`.
pub fn get<'a>(root: &'a Value, path: &str) -> Result<Option<&'a Value>, JsonPathError> {
    Ok(JsonPath::parse(path)?.first(root))
}

struct Parser<'a> {
    expr: &'a str,
    src: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, reason: &str) -> JsonPathError {
        JsonPathError::Syntax {
            expr: self.expr.to_owned(),
            offset: self.pos,
            reason: reason.to_owned(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Parses steps until the end, or (inside a filter) until an operator or `)`.
    fn steps(&mut self, in_filter: bool) -> Result<Vec<Step>, JsonPathError> {
        let mut steps = Vec::new();
        // A path may start with a bare name: `spec.replicas`.
        if matches!(self.peek(), Some(c) if is_name_start(c)) && !in_filter {
            steps.push(Step::Field(self.name()?));
        }
        loop {
            match self.peek() {
                Some(b'.') => {
                    self.pos += 1;
                    if self.peek() == Some(b'.') {
                        self.pos += 1;
                        steps.push(Step::Descend);
                        if self.peek() == Some(b'[') {
                            continue;
                        }
                    }
                    match self.peek() {
                        Some(b'*') => {
                            self.pos += 1;
                            steps.push(Step::Wildcard);
                        }
                        Some(c) if is_name_start(c) => steps.push(Step::Field(self.name()?)),
                        // `.` alone (e.g. `{.}`) is the current object.
                        None if steps.is_empty() => {}
                        _ => return Err(self.err("expected a field name after '.'")),
                    }
                }
                Some(b'[') => {
                    self.pos += 1;
                    steps.push(self.bracket()?);
                }
                _ => return Ok(steps),
            }
        }
    }

    /// A field name up to the next unescaped `.`, `[` or filter delimiter.
    fn name(&mut self) -> Result<String, JsonPathError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            match c {
                b'\\' if self.src.get(self.pos + 1) == Some(&b'.') => {
                    out.push('.');
                    self.pos += 2;
                }
                b'.' | b'[' | b']' | b')' | b'(' | b' ' | b'\t' | b'=' | b'!' | b'<' | b'>'
                | b'}' | b'{' | b',' => break,
                _ => {
                    let ch = self.text[self.pos..]
                        .chars()
                        .next()
                        .ok_or_else(|| self.err("invalid character"))?;
                    out.push(ch);
                    self.pos += ch.len_utf8();
                }
            }
        }
        if out.is_empty() {
            return Err(self.err("empty field name"));
        }
        Ok(out)
    }

    /// The inside of `[...]`, after the `[`.
    fn bracket(&mut self) -> Result<Step, JsonPathError> {
        self.skip_ws();
        let step = match self.peek() {
            Some(b'*') => {
                self.pos += 1;
                Step::Wildcard
            }
            Some(b'?') => {
                self.pos += 1;
                self.skip_ws();
                if self.peek() != Some(b'(') {
                    return Err(self.err("expected '(' after '?'"));
                }
                self.pos += 1;
                let f = self.filter()?;
                self.skip_ws();
                if self.peek() != Some(b')') {
                    return Err(self.err("expected ')' to close the filter"));
                }
                self.pos += 1;
                Step::Filter(f)
            }
            Some(b'\'' | b'"') => {
                let mut names = vec![self.quoted()?];
                loop {
                    self.skip_ws();
                    if self.peek() != Some(b',') {
                        break;
                    }
                    self.pos += 1;
                    self.skip_ws();
                    names.push(self.quoted()?);
                }
                if names.len() == 1 {
                    Step::Field(names.remove(0))
                } else {
                    Step::Fields(names)
                }
            }
            _ => self.index_or_slice()?,
        };
        self.skip_ws();
        if self.peek() != Some(b']') {
            return Err(self.err("expected ']'"));
        }
        self.pos += 1;
        Ok(step)
    }

    fn quoted(&mut self) -> Result<String, JsonPathError> {
        let Some(q @ (b'\'' | b'"')) = self.peek() else {
            return Err(self.err("expected a quoted string"));
        };
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(c) if c == q => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') if self.src.get(self.pos + 1).is_some() => {
                    self.pos += 1;
                    let ch = self.text[self.pos..]
                        .chars()
                        .next()
                        .ok_or_else(|| self.err("invalid escape"))?;
                    out.push(match ch {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                    self.pos += ch.len_utf8();
                }
                Some(_) => {
                    let ch = self.text[self.pos..]
                        .chars()
                        .next()
                        .ok_or_else(|| self.err("invalid character"))?;
                    out.push(ch);
                    self.pos += ch.len_utf8();
                }
            }
        }
    }

    fn int(&mut self) -> Result<Option<i64>, JsonPathError> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let s = &self.text[start..self.pos];
        self.skip_ws();
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<i64>()
            .map(Some)
            .map_err(|_| self.err("invalid integer"))
    }

    fn index_or_slice(&mut self) -> Result<Step, JsonPathError> {
        let first = self.int()?;
        match self.peek() {
            Some(b':') => {
                self.pos += 1;
                let end = self.int()?;
                let step = if self.peek() == Some(b':') {
                    self.pos += 1;
                    self.int()?
                } else {
                    None
                };
                if step == Some(0) {
                    return Err(self.err("slice step cannot be 0"));
                }
                Ok(Step::Slice(first, end, step))
            }
            Some(b',') => {
                let mut all = vec![first.ok_or_else(|| self.err("expected an index"))?];
                while self.peek() == Some(b',') {
                    self.pos += 1;
                    all.push(self.int()?.ok_or_else(|| self.err("expected an index"))?);
                }
                Ok(Step::Indices(all))
            }
            _ => first
                .map(Step::Index)
                .ok_or_else(|| self.err("expected an index, slice, '*', filter or quoted name")),
        }
    }

    fn filter(&mut self) -> Result<Filter, JsonPathError> {
        self.skip_ws();
        let lhs = self.operand()?;
        self.skip_ws();
        let op = match (self.peek(), self.src.get(self.pos + 1).copied()) {
            (Some(b'='), Some(b'=')) => Some((Op::Eq, 2)),
            (Some(b'!'), Some(b'=')) => Some((Op::Ne, 2)),
            (Some(b'<'), Some(b'=')) => Some((Op::Le, 2)),
            (Some(b'>'), Some(b'=')) => Some((Op::Ge, 2)),
            (Some(b'<'), _) => Some((Op::Lt, 1)),
            (Some(b'>'), _) => Some((Op::Gt, 1)),
            _ => None,
        };
        let Some((op, len)) = op else {
            return match lhs {
                Operand::Path(p) => Ok(Filter::Exists(p)),
                Operand::Literal(_) => Err(self.err("a filter needs a path or a comparison")),
            };
        };
        self.pos += len;
        self.skip_ws();
        let rhs = self.operand()?;
        Ok(Filter::Compare(lhs, op, rhs))
    }

    fn operand(&mut self) -> Result<Operand, JsonPathError> {
        match self.peek() {
            Some(b'@') => {
                self.pos += 1;
                Ok(Operand::Path(self.steps(true)?))
            }
            Some(b'\'' | b'"') => Ok(Operand::Literal(Value::String(self.quoted()?))),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.pos += 1;
                }
                let s = &self.text[start..self.pos];
                if let Ok(i) = s.parse::<i64>() {
                    return Ok(Operand::Literal(Value::from(i)));
                }
                s.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(|n| Operand::Literal(Value::Number(n)))
                    .ok_or_else(|| self.err("invalid number"))
            }
            _ => {
                for (word, v) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if self.text[self.pos..].starts_with(word) {
                        self.pos += word.len();
                        return Ok(Operand::Literal(v));
                    }
                }
                Err(self.err("expected '@', a quoted string, a number, true, false or null"))
            }
        }
    }
}

fn is_name_start(c: u8) -> bool {
    !matches!(
        c,
        b'.' | b'[' | b']' | b'(' | b')' | b' ' | b'\t' | b'@' | b'$' | b'*' | b'{' | b'}' | b','
    )
}

fn eval_steps<'a>(steps: &[Step], root: &'a Value) -> Vec<&'a Value> {
    let mut cur = vec![root];
    for step in steps {
        let mut next = Vec::new();
        for v in cur {
            apply(step, v, &mut next);
        }
        cur = next;
        if cur.is_empty() {
            break;
        }
    }
    cur
}

fn apply<'a>(step: &Step, v: &'a Value, out: &mut Vec<&'a Value>) {
    match step {
        Step::Field(f) => {
            if let Some(x) = v.get(f.as_str()) {
                out.push(x);
            }
        }
        Step::Fields(fs) => {
            for f in fs {
                if let Some(x) = v.get(f.as_str()) {
                    out.push(x);
                }
            }
        }
        Step::Wildcard => match v {
            Value::Object(m) => out.extend(m.values()),
            Value::Array(a) => out.extend(a.iter()),
            _ => {}
        },
        Step::Descend => descend(v, out),
        Step::Index(i) => {
            if let Value::Array(a) = v
                && let Some(x) = resolve_index(*i, a.len()).and_then(|i| a.get(i))
            {
                out.push(x);
            }
        }
        Step::Indices(is) => {
            if let Value::Array(a) = v {
                for i in is {
                    if let Some(x) = resolve_index(*i, a.len()).and_then(|i| a.get(i)) {
                        out.push(x);
                    }
                }
            }
        }
        Step::Slice(start, end, step) => {
            if let Value::Array(a) = v {
                slice(a, *start, *end, step.unwrap_or(1), out);
            }
        }
        Step::Filter(f) => match v {
            Value::Array(a) => out.extend(a.iter().filter(|x| filter_matches(f, x))),
            // client-go applies a filter to a lone object as to a one-element list.
            Value::Object(_) if filter_matches(f, v) => out.push(v),
            _ => {}
        },
    }
}

fn descend<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(v);
    match v {
        Value::Object(m) => m.values().for_each(|x| descend(x, out)),
        Value::Array(a) => a.iter().for_each(|x| descend(x, out)),
        _ => {}
    }
}

fn resolve_index(i: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let i = if i < 0 { len + i } else { i };
    (0..len)
        .contains(&i)
        .then(|| usize::try_from(i).ok())
        .flatten()
}

fn slice<'a>(
    a: &'a [Value],
    start: Option<i64>,
    end: Option<i64>,
    step: i64,
    out: &mut Vec<&'a Value>,
) {
    let Ok(len) = i64::try_from(a.len()) else {
        return;
    };
    let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
    if step > 0 {
        let mut i = start.map_or(0, norm);
        let end = end.map_or(len, norm);
        while i < end {
            if let Some(x) = usize::try_from(i).ok().and_then(|i| a.get(i)) {
                out.push(x);
            }
            i = i.saturating_add(step);
        }
    } else {
        let mut i = start.map_or(len - 1, |s| norm(s).min(len - 1));
        let end = end.map_or(-1, norm);
        while i > end {
            if let Some(x) = usize::try_from(i).ok().and_then(|i| a.get(i)) {
                out.push(x);
            }
            i = i.saturating_add(step);
        }
    }
}

fn operand_value<'a>(o: &'a Operand, item: &'a Value) -> Option<&'a Value> {
    match o {
        Operand::Literal(v) => Some(v),
        Operand::Path(steps) => eval_steps(steps, item).into_iter().next(),
    }
}

fn filter_matches(f: &Filter, item: &Value) -> bool {
    match f {
        Filter::Exists(steps) => eval_steps(steps, item)
            .first()
            .is_some_and(|v| !matches!(v, Value::Null | Value::Bool(false))),
        Filter::Compare(l, op, r) => {
            let (Some(l), Some(r)) = (operand_value(l, item), operand_value(r, item)) else {
                return false;
            };
            let ord = compare(l, r);
            match op {
                Op::Eq => ord == Some(Ordering::Equal),
                Op::Ne => ord != Some(Ordering::Equal),
                Op::Lt => ord == Some(Ordering::Less),
                Op::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                Op::Gt => ord == Some(Ordering::Greater),
                Op::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
            }
        }
    }
}

fn compare(l: &Value, r: &Value) -> Option<Ordering> {
    match (l, r) {
        (Value::Number(a), Value::Number(b)) => {
            if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
                return Some(a.cmp(&b));
            }
            a.as_f64()?.partial_cmp(&b.as_f64()?)
        }
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        // Kubernetes compares other mixtures by equality only.
        _ => (l == r).then_some(Ordering::Equal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj() -> Value {
        json!({
            "metadata": {"name": "web", "labels": {"app": "web", "app.kubernetes.io/name": "w"}},
            "spec": {"replicas": 3},
            "status": {"conditions": [
                {"type": "Available", "status": "True", "n": 1},
                {"type": "Ready", "status": "False", "n": 2},
            ]},
            "items": [
                {"metadata": {"name": "a"}},
                {"metadata": {"name": "b"}},
                {"metadata": {"name": "c"}},
            ],
        })
    }

    fn eval(path: &str) -> Vec<Value> {
        JsonPath::parse(path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .eval(&obj())
            .into_iter()
            .cloned()
            .collect()
    }

    #[test]
    fn simple_fields() {
        assert_eq!(eval(".spec.replicas"), [json!(3)]);
        assert_eq!(eval("{.spec.replicas}"), [json!(3)]);
        assert_eq!(eval("$.spec.replicas"), [json!(3)]);
        assert_eq!(eval("spec.replicas"), [json!(3)]);
        assert_eq!(eval(".metadata.labels.app"), [json!("web")]);
        assert_eq!(eval(".spec.missing"), Vec::<Value>::new());
        assert_eq!(eval(".spec.replicas.deeper"), Vec::<Value>::new());
    }

    #[test]
    fn dotted_keys() {
        assert_eq!(
            eval(".metadata.labels['app.kubernetes.io/name']"),
            [json!("w")]
        );
        assert_eq!(
            eval(r".metadata.labels.app\.kubernetes\.io/name"),
            [json!("w")]
        );
    }

    #[test]
    fn indices_slices_and_wildcards() {
        assert_eq!(eval(".status.conditions[0].type"), [json!("Available")]);
        assert_eq!(eval(".status.conditions[-1].type"), [json!("Ready")]);
        assert_eq!(eval(".status.conditions[5].type"), Vec::<Value>::new());
        assert_eq!(
            eval(".items[*].metadata.name"),
            [json!("a"), json!("b"), json!("c")]
        );
        assert_eq!(eval(".items[0:2].metadata.name"), [json!("a"), json!("b")]);
        assert_eq!(
            eval(".items[::-1].metadata.name"),
            [json!("c"), json!("b"), json!("a")]
        );
        assert_eq!(eval(".items[0,2].metadata.name"), [json!("a"), json!("c")]);
        assert_eq!(eval(".spec.*"), [json!(3)]);
        assert_eq!(
            eval("..name"),
            [json!("web"), json!("a"), json!("b"), json!("c")]
        );
    }

    #[test]
    fn filters() {
        assert_eq!(
            eval(r#".status.conditions[?(@.type=="Ready")].status"#),
            [json!("False")]
        );
        assert_eq!(
            eval(".status.conditions[?(@.type == 'Ready')].status"),
            [json!("False")]
        );
        assert_eq!(
            eval(r#".status.conditions[?(@.type!="Ready")].type"#),
            [json!("Available")]
        );
        assert_eq!(
            eval(".status.conditions[?(@.n > 1)].type"),
            [json!("Ready")]
        );
        assert_eq!(
            eval(".status.conditions[?(@.n<=1)].type"),
            [json!("Available")]
        );
        assert_eq!(eval(".status.conditions[?(@.n)].type").len(), 2);
        assert_eq!(eval(".status.conditions[?(@.nope)].type").len(), 0);
    }

    #[test]
    fn syntax_errors_are_errors() {
        for bad in [
            "{.spec",
            ".spec[",
            ".spec[?(@.a==)]",
            ".spec[abc]",
            ".spec.",
            ".a[1:2:0]",
            "...",
        ] {
            assert!(JsonPath::parse(bad).is_err(), "{bad} should not parse");
        }
        // Extreme slices must not overflow.
        assert_eq!(
            eval(".items[1::9223372036854775807].metadata.name"),
            [json!("b")]
        );
        assert_eq!(
            eval(".items[::-9223372036854775808].metadata.name"),
            [json!("c")]
        );
    }

    #[test]
    fn set_creates_intermediate_objects() {
        let mut v = json!({"spec": null});
        set(&mut v, ".spec.replicas", json!(5)).unwrap();
        set(&mut v, "{.status.deep.replicas}", json!(2)).unwrap();
        assert_eq!(
            v,
            json!({"spec": {"replicas": 5}, "status": {"deep": {"replicas": 2}}})
        );
        let mut v = json!({"spec": 1});
        assert!(matches!(
            set(&mut v, ".spec.replicas", json!(1)),
            Err(JsonPathError::NotAnObject { .. })
        ));
        assert!(matches!(
            set(&mut v, ".items[0].x", json!(1)),
            Err(JsonPathError::NotSimple { .. })
        ));
        assert_eq!(
            get(&json!({"a": {"b": 1}}), ".a.b").unwrap(),
            Some(&json!(1))
        );
    }
}
