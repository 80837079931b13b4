//! Label and field selectors.
//!
//! [`LabelSelector`] parses the query-string syntax of `?labelSelector=` exactly
//! as Kubernetes' `labels.Parse` does (same tokens, same whitespace rules, same
//! error messages) and converts from the `metav1.LabelSelector` that workload
//! specs carry. [`FieldSelector`] parses `?fieldSelector=` as
//! `fields.ParseSelector` does; which fields a kind supports is the API
//! server's business, so it exposes its [`FieldSelector::requirements`].
//!
//! # Examples
//!
//! ```
//! use std::collections::BTreeMap;
//! use skiff_api::selector::LabelSelector;
//!
//! let sel: LabelSelector = "app=web, tier in (front,back), !canary".parse().unwrap();
//! let labels = BTreeMap::from([("app".to_owned(), "web".to_owned()), ("tier".to_owned(), "front".to_owned())]);
//! assert!(sel.matches(&labels));
//! assert_eq!(sel.to_string(), "app=web,!canary,tier in (back,front)");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;
use serde_json::Value;
use thiserror::Error;

use crate::validation::field::{BadValue, FieldError, FieldPath, aggregate_message};
use crate::validation::names::{is_label_key, is_valid_label_value};

/// Why a label or field selector was rejected. Messages are Kubernetes'.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SelectorError {
    /// The label selector string does not parse.
    #[error("{0}")]
    Syntax(String),
    /// A requirement in the label selector string is malformed or invalid.
    #[error("unable to parse requirement: {0}")]
    Requirement(String),
    /// A `metav1.LabelSelector` holds an invalid key, value or value set.
    #[error("{0}")]
    Invalid(String),
    /// A `matchExpressions` operator other than In, NotIn, Exists, DoesNotExist.
    #[error("{0:?} is not a valid label selector operator")]
    InvalidOperator(String),
    /// A field selector term has no operator.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    FieldTerm {
        /// The whole selector.
        selector: String,
        /// The term that could not be split.
        term: String,
    },
    /// A backslash escape in a field selector value is not `\\`, `\,` or `\=`.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    FieldEscape(String),
    /// A `,` or `=` in a field selector value was not escaped.
    #[error("invalid field selector: unescaped character in value: {0}")]
    FieldUnescaped(u32),
}

/// A label requirement operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key=value`
    Equals,
    /// `key==value`
    DoubleEquals,
    /// `key!=value` (also true when the label is absent)
    NotEquals,
    /// `key in (a,b)`
    In,
    /// `key notin (a,b)` (also true when the label is absent)
    NotIn,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>3` (integer comparison; false when absent or not an integer)
    GreaterThan,
    /// `key<3`
    LessThan,
}

impl Operator {
    /// Kubernetes' name of the operator (`selection.Operator`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

/// One label requirement: a key, an operator and (for most operators) values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    op: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// Builds and validates a requirement as `labels.NewRequirement` does.
    ///
    /// Values of `In`/`NotIn` are kept as given (duplicates and order do not
    /// change matching; [`fmt::Display`] sorts them).
    pub fn new(key: &str, op: Operator, values: Vec<String>) -> Result<Requirement, SelectorError> {
        let errs = requirement_errors(key, op, &values, &FieldPath::root());
        if !errs.is_empty() {
            return Err(SelectorError::Invalid(aggregate_message(&errs)));
        }
        Ok(Requirement {
            key: key.to_owned(),
            op,
            values,
        })
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.op
    }

    /// The values (empty for Exists/DoesNotExist).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a label set, given as a lookup, satisfies this requirement.
    pub fn matches_with<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str>) -> bool {
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.op {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                lookup(&self.key).is_some_and(has)
            }
            Operator::NotIn | Operator::NotEquals => !lookup(&self.key).is_some_and(has),
            Operator::Exists => lookup(&self.key).is_some(),
            Operator::DoesNotExist => lookup(&self.key).is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(actual) = lookup(&self.key).and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let [bound] = self.values.as_slice() else {
                    return false;
                };
                let Ok(bound) = bound.parse::<i64>() else {
                    return false;
                };
                if self.op == Operator::GreaterThan {
                    actual > bound
                } else {
                    actual < bound
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.op {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let set = matches!(self.op, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        let mut values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        values.sort_unstable();
        f.write_str(&values.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// The checks of `labels.NewRequirement`, with paths relative to `path`.
fn requirement_errors(
    key: &str,
    op: Operator,
    values: &[String],
    path: &FieldPath,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let key_errs = is_label_key(key);
    if !key_errs.is_empty() {
        errs.push(FieldError::invalid(
            &path.child("key"),
            key,
            key_errs.join("; "),
        ));
    }
    let values_path = path.child("values");
    match op {
        Operator::In | Operator::NotIn if values.is_empty() => {
            errs.push(FieldError::invalid(
                &values_path,
                BadValue::string_list(values),
                "for 'in', 'notin' operators, values set can't be empty",
            ));
        }
        Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => {
            errs.push(FieldError::invalid(
                &values_path,
                BadValue::string_list(values),
                "exact-match compatibility requires one single value",
            ));
        }
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
            errs.push(FieldError::invalid(
                &values_path,
                BadValue::string_list(values),
                "values set must be empty for exists and does not exist",
            ));
        }
        Operator::GreaterThan | Operator::LessThan => {
            if values.len() != 1 {
                errs.push(FieldError::invalid(
                    &values_path,
                    BadValue::string_list(values),
                    "for 'Gt', 'Lt' operators, exactly one value is required",
                ));
            }
            for (i, v) in values.iter().enumerate() {
                if v.parse::<i64>().is_err() {
                    errs.push(FieldError::invalid(
                        &values_path.index(i),
                        v.as_str(),
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    ));
                }
            }
        }
        _ => {}
    }
    for (i, v) in values.iter().enumerate() {
        let msgs = is_valid_label_value(v);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(
                &values_path.index(i).key(key),
                v.as_str(),
                msgs.join("; "),
            ));
        }
    }
    errs
}

/// A label selector: the AND of its requirements, or the selector that matches nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelSelector {
    /// Parses the query-string syntax (`labels.Parse`).
    pub fn parse(s: &str) -> Result<LabelSelector, SelectorError> {
        let mut requirements = Parser::new(s).parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// The selector that matches every object (the empty selector).
    pub fn everything() -> LabelSelector {
        LabelSelector::default()
    }

    /// The selector that matches no object (what a missing `metav1.LabelSelector` means).
    pub fn nothing() -> LabelSelector {
        LabelSelector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// Equality requirements for each entry of a map (`SelectorFromValidatedSet`), unchecked.
    pub fn from_map(labels: &BTreeMap<String, String>) -> LabelSelector {
        LabelSelector {
            requirements: labels
                .iter()
                .map(|(k, v)| Requirement {
                    key: k.clone(),
                    op: Operator::Equals,
                    values: vec![v.clone()],
                })
                .collect(),
            nothing: false,
        }
    }

    /// Converts a `metav1.LabelSelector` (`LabelSelectorAsSelector`): no
    /// `matchLabels` and no `matchExpressions` selects everything.
    ///
    /// A *missing* selector selects nothing in Kubernetes; callers holding an
    /// `Option` should use [`LabelSelector::from_metav1_opt`].
    pub fn from_metav1(sel: &metav1::LabelSelector) -> Result<LabelSelector, SelectorError> {
        let mut requirements = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            requirements.push(Requirement::new(k, Operator::Equals, vec![v.clone()])?);
        }
        for expr in sel.match_expressions.iter().flatten() {
            let op = match expr.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => return Err(SelectorError::InvalidOperator(other.to_owned())),
            };
            requirements.push(Requirement::new(
                &expr.key,
                op,
                expr.values.clone().unwrap_or_default(),
            )?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// Like [`LabelSelector::from_metav1`], with `None` selecting nothing.
    pub fn from_metav1_opt(
        sel: Option<&metav1::LabelSelector>,
    ) -> Result<LabelSelector, SelectorError> {
        match sel {
            Some(s) => Self::from_metav1(s),
            None => Ok(Self::nothing()),
        }
    }

    /// Converts a `metav1.LabelSelector` held as JSON (e.g. `spec.selector`);
    /// `null` or a missing value selects nothing.
    pub fn from_json(v: Option<&Value>) -> Result<LabelSelector, SelectorError> {
        match v {
            None | Some(Value::Null) => Ok(Self::nothing()),
            Some(v) => {
                let sel: metav1::LabelSelector = serde_json::from_value(v.clone())
                    .map_err(|e| SelectorError::Invalid(e.to_string()))?;
                Self::from_metav1(&sel)
            }
        }
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether this selects everything.
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// Whether this is the selector that matches nothing.
    pub fn matches_nothing(&self) -> bool {
        self.nothing
    }

    /// The value a label must equal for the selector to match, if it pins one.
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == key)?;
        match (r.op, r.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [v]) => Some(v),
            _ => None,
        }
    }

    /// Whether the labels, given as a lookup, satisfy every requirement.
    pub fn matches_with<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str> + Copy) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches_with(lookup))
    }

    /// Whether a label map satisfies the selector.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|k| labels.get(k).map(String::as_str))
    }

    /// Whether `metadata.labels` (a JSON object, or missing) satisfies the
    /// selector; non-string values count as absent.
    pub fn matches_json(&self, labels: Option<&Value>) -> bool {
        let map = labels.and_then(Value::as_object);
        self.matches_with(|k| map.and_then(|m| m.get(k)).and_then(Value::as_str))
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl FromStr for LabelSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LabelSelector::parse(s)
    }
}

impl TryFrom<&metav1::LabelSelector> for LabelSelector {
    type Error = SelectorError;

    fn try_from(sel: &metav1::LabelSelector) -> Result<Self, Self::Error> {
        LabelSelector::from_metav1(sel)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword(s: &[u8]) -> Option<Token> {
    Some(match s {
        b")" => Token::ClosedPar,
        b"," => Token::Comma,
        b"!" => Token::DoesNotExist,
        b"==" => Token::DoubleEquals,
        b"=" => Token::Equals,
        b">" => Token::GreaterThan,
        b"in" => Token::In,
        b"<" => Token::LessThan,
        b"!=" => Token::NotEquals,
        b"notin" => Token::NotIn,
        b"(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// The lexer of `labels.Parse`. Like Kubernetes' it reads a NUL byte as the end of input.
struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    fn read(&mut self) -> u8 {
        match self.s.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => 0,
        }
    }

    fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    fn lex(&mut self) -> (Token, String) {
        let mut ch = self.read();
        while is_whitespace(ch) {
            ch = self.read();
        }
        if ch == 0 {
            return (Token::EndOfString, String::new());
        }
        self.unread();
        if is_special(ch) {
            self.scan_special()
        } else {
            self.scan_identifier()
        }
    }

    fn scan_identifier(&mut self) -> (Token, String) {
        let mut buf = Vec::new();
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if is_special(ch) || is_whitespace(ch) {
                self.unread();
                break;
            }
            buf.push(ch);
        }
        let tok = keyword(&buf).unwrap_or(Token::Identifier);
        (tok, String::from_utf8_lossy(&buf).into_owned())
    }

    fn scan_special(&mut self) -> (Token, String) {
        let mut buf = Vec::new();
        let mut last: Option<(Token, String)> = None;
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if !is_special(ch) {
                self.unread();
                break;
            }
            buf.push(ch);
            if let Some(t) = keyword(&buf) {
                last = Some((t, String::from_utf8_lossy(&buf).into_owned()));
            } else if last.is_some() {
                self.unread();
                break;
            }
        }
        // Every single special character is a token, so `last` is always set.
        last.unwrap_or((Token::EndOfString, String::new()))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

impl Parser {
    fn new(s: &str) -> Parser {
        let mut lexer = Lexer {
            s: s.as_bytes(),
            pos: 0,
        };
        let mut items = Vec::new();
        loop {
            let item = lexer.lex();
            let end = item.0 == Token::EndOfString;
            items.push(item);
            if end {
                break;
            }
        }
        Parser { items, position: 0 }
    }

    fn item(&self, i: usize, ctx: Context) -> (Token, String) {
        let (tok, lit) = self
            .items
            .get(i)
            .cloned()
            .unwrap_or((Token::EndOfString, String::new()));
        // In a value position `in` and `notin` are ordinary words.
        let tok = match (ctx, tok) {
            (Context::Values, Token::In | Token::NotIn) => Token::Identifier,
            _ => tok,
        };
        (tok, lit)
    }

    fn lookahead(&self, ctx: Context) -> (Token, String) {
        self.item(self.position, ctx)
    }

    fn consume(&mut self, ctx: Context) -> (Token, String) {
        let item = self.item(self.position, ctx);
        self.position = (self.position + 1).min(self.items.len());
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut reqs = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Context::Values);
            match tok {
                Token::Identifier | Token::DoesNotExist => {
                    reqs.push(
                        self.parse_requirement()
                            .map_err(SelectorError::Requirement)?,
                    );
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Token::EndOfString => return Ok(reqs),
                        Token::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(SelectorError::Syntax(format!(
                                    "found '{l2}', expected: identifier after ','"
                                )));
                            }
                        }
                        _ => {
                            return Err(SelectorError::Syntax(format!(
                                "found '{l}', expected: ',' or 'end of string'"
                            )));
                        }
                    }
                }
                Token::EndOfString => return Ok(reqs),
                _ => {
                    return Err(SelectorError::Syntax(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    )));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, op) = self.parse_key_and_infer_operator()?;
        let (op, values) = match op {
            Some(op) => (op, Vec::new()),
            None => {
                let op = self.parse_operator()?;
                let values = match op {
                    Operator::In | Operator::NotIn => self.parse_values()?,
                    _ => self.parse_exact_value()?,
                };
                (op, values)
            }
        };
        // The parser has no field path: Kubernetes prints the key's path as `<nil>`.
        let errs = requirement_errors(&key, op, &values, &FieldPath::root());
        if !errs.is_empty() {
            return Err(aggregate_message(&errs));
        }
        Ok(Requirement { key, op, values })
    }

    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut op = None;
        let (mut tok, mut lit) = self.consume(Context::Values);
        if tok == Token::DoesNotExist {
            op = Some(Operator::DoesNotExist);
            (tok, lit) = self.consume(Context::Values);
        }
        if tok != Token::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        let key_errs = is_label_key(&lit);
        if !key_errs.is_empty() {
            return Err(format!(
                "<nil>: Invalid value: {}: {}",
                BadValue::Str(lit.clone()),
                key_errs.join("; ")
            ));
        }
        let (t, _) = self.lookahead(Context::Values);
        if (t == Token::EndOfString || t == Token::Comma) && op.is_none() {
            op = Some(Operator::Exists);
        }
        Ok((lit, op))
    }

    fn parse_operator(&mut self) -> Result<Operator, String> {
        let (tok, lit) = self.consume(Context::KeyAndOperator);
        Ok(match tok {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => {
                return Err(format!(
                    "found '{lit}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        })
    }

    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let (tok, lit) = self.consume(Context::Values);
        if tok != Token::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Context::Values);
        match tok {
            Token::Identifier | Token::Comma => {
                let set = self.parse_identifiers_list()?;
                let (tok, _) = self.consume(Context::Values);
                if tok != Token::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(set)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    /// A parenthesised list; like Kubernetes' it is a sorted set, and empty
    /// items (`(,a)`) stand for the empty value.
    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, String> {
        let mut set = std::collections::BTreeSet::new();
        loop {
            let (tok, lit) = self.consume(Context::Values);
            match tok {
                Token::Identifier => {
                    set.insert(lit);
                    let (t2, l2) = self.lookahead(Context::Values);
                    match t2 {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(set.into_iter().collect()),
                        _ => return Err(format!("found '{l2}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if set.is_empty() {
                        set.insert(String::new());
                    }
                    let (t2, _) = self.lookahead(Context::Values);
                    if t2 == Token::ClosedPar {
                        set.insert(String::new());
                        return Ok(set.into_iter().collect());
                    }
                    if t2 == Token::Comma {
                        set.insert(String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<Vec<String>, String> {
        let (tok, _) = self.lookahead(Context::Values);
        if tok == Token::EndOfString || tok == Token::Comma {
            return Ok(vec![String::new()]);
        }
        let (tok, lit) = self.consume(Context::Values);
        if tok == Token::Identifier {
            Ok(vec![lit])
        } else {
            Err(format!("found '{lit}', expected: identifier"))
        }
    }
}

/// A field selector operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `field=value` or `field==value`
    Equals,
    /// `field!=value`
    NotEquals,
}

/// One field selector term.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    /// The field path, e.g. `metadata.name` or `spec.nodeName`.
    pub field: String,
    /// The operator.
    pub operator: FieldOperator,
    /// The (unescaped) value.
    pub value: String,
}

impl FieldRequirement {
    fn matches_value(&self, actual: Option<&str>) -> bool {
        // A missing field reads as the empty string, as in Kubernetes' `Fields.Get`.
        let actual = actual.unwrap_or("");
        match self.operator {
            FieldOperator::Equals => actual == self.value,
            FieldOperator::NotEquals => actual != self.value,
        }
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            FieldOperator::Equals => "=",
            FieldOperator::NotEquals => "!=",
        };
        write!(f, "{}{op}{}", self.field, escape_field_value(&self.value))
    }
}

/// A field selector: the AND of its terms. Empty selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses `fields.ParseSelector` syntax: `a=b,c!=d`, values escaped with `\`.
    pub fn parse(selector: &str) -> Result<FieldSelector, SelectorError> {
        let mut terms = split_terms(selector);
        terms.sort_unstable();
        let mut requirements = Vec::new();
        for term in terms {
            if term.is_empty() {
                continue;
            }
            let Some((field, op, rhs)) = split_term(term) else {
                return Err(SelectorError::FieldTerm {
                    selector: selector.to_owned(),
                    term: term.to_owned(),
                });
            };
            requirements.push(FieldRequirement {
                field: field.to_owned(),
                operator: op,
                value: unescape_field_value(rhs)?,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// The selector that matches everything.
    pub fn everything() -> FieldSelector {
        FieldSelector::default()
    }

    /// The terms, so the server can check which fields the kind supports.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// Whether there are no terms.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The value a field must equal, if the selector pins one.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == FieldOperator::Equals)
            .map(|r| r.value.as_str())
    }

    /// Whether an object matches, given a lookup from field path to value.
    pub fn matches(&self, lookup: &dyn Fn(&str) -> Option<String>) -> bool {
        self.requirements
            .iter()
            .all(|r| r.matches_value(lookup(&r.field).as_deref()))
    }

    /// Whether an object matches, given its selectable fields as a map.
    pub fn matches_map(&self, fields: &BTreeMap<String, String>) -> bool {
        self.requirements
            .iter()
            .all(|r| r.matches_value(fields.get(&r.field).map(String::as_str)))
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl FromStr for FieldSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FieldSelector::parse(s)
    }
}

/// Escapes `\`, `,` and `=` in a field selector value.
pub fn escape_field_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Reverses [`escape_field_value`], rejecting bad escapes and bare `,` or `=`.
pub fn unescape_field_value(s: &str) -> Result<String, SelectorError> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError::FieldEscape(format!("\\{c}")));
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(SelectorError::FieldUnescaped(c as u32)),
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err(SelectorError::FieldEscape("\\".to_owned()));
    }
    Ok(out)
}

/// Splits on commas not escaped by a backslash.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Splits a term at its first operator (`!=`, `==`, then `=` at each position).
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, kind) in [
            ("!=", FieldOperator::NotEquals),
            ("==", FieldOperator::Equals),
            ("=", FieldOperator::Equals),
        ] {
            if let Some(rhs) = rest.strip_prefix(op) {
                return Some((&term[..i], kind, rhs));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn parse(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn err(s: &str) -> String {
        LabelSelector::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn canonical_strings() {
        let cases = [
            ("", ""),
            ("x=a", "x=a"),
            ("x==a", "x==a"),
            ("x!=a", "x!=a"),
            ("x=a,y=b", "x=a,y=b"),
            ("y=b,x=a", "x=a,y=b"),
            ("x in (a)", "x in (a)"),
            ("x in (b,a)", "x in (a,b)"),
            ("x notin (b,a,a)", "x notin (a,b)"),
            ("x", "x"),
            ("!x", "!x"),
            ("x>1", "x>1"),
            ("x<1", "x<1"),
            ("  x  =  a  ", "x=a"),
            ("x=", "x="),
            ("x=,z=", "x=,z="),
            ("x in ()", "x in ()"),
            ("x in (,a)", "x in (,a)"),
            ("x in (a,)", "x in (,a)"),
            ("x in (a,,b)", "x in (,a,b)"),
            ("in=notin", "in=notin"),
            ("x in (in,notin)", "x in (in,notin)"),
            ("example.com/app=web", "example.com/app=web"),
            ("x\t=\na", "x=a"),
            ("!x,y", "!x,y"),
            ("a=b \0junk", "a=b"),
            ("a=b\0", "a=b"),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input).to_string(), want, "input {input:?}");
        }
    }

    #[test]
    fn syntax_errors() {
        let cases = [
            ("x=a,", "found '', expected: identifier after ','"),
            (
                ",x=a",
                "found ',', expected: !, identifier, or 'end of string'",
            ),
            ("x=a,,y=b", "found ',', expected: identifier after ','"),
            (
                "x y",
                "unable to parse requirement: found 'y', expected: in, notin, =, ==, !=, gt, lt",
            ),
            (
                "a=b\0junk",
                "found 'junk', expected: ',' or 'end of string'",
            ),
            (
                "n>-1",
                "unable to parse requirement: values[0][n]: Invalid value: \"-1\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            ),
            ("x = a b", "found 'b', expected: ',' or 'end of string'"),
            ("!x=a", "found '=', expected: ',' or 'end of string'"),
            (
                "x in a",
                "unable to parse requirement: found 'a' expected: '('",
            ),
            (
                "x in (a",
                "unable to parse requirement: found '', expected: ',' or ')'",
            ),
            (
                "x in (a b)",
                "unable to parse requirement: found 'b', expected: ',' or ')'",
            ),
            (
                "x in (=)",
                "unable to parse requirement: found '=', expected: ',', ')' or identifier",
            ),
            (
                "x ~ a",
                "unable to parse requirement: found '~', expected: in, notin, =, ==, !=, gt, lt",
            ),
            (
                "=a",
                "found '=', expected: !, identifier, or 'end of string'",
            ),
            (
                "!",
                "unable to parse requirement: found '', expected: identifier",
            ),
            (
                "!!x",
                "unable to parse requirement: found '!', expected: identifier",
            ),
            (
                "x=(a)",
                "unable to parse requirement: found '(', expected: identifier",
            ),
            (
                "x<=1",
                "unable to parse requirement: found '=', expected: identifier",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(err(input), want, "input {input:?}");
        }
    }

    #[test]
    fn validation_errors() {
        assert_eq!(
            err("x$=a"),
            "unable to parse requirement: <nil>: Invalid value: \"x$\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        assert_eq!(err("x=a b"), "found 'b', expected: ',' or 'end of string'");
        assert_eq!(
            err("x=-a"),
            "unable to parse requirement: values[0][x]: Invalid value: \"-a\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
        assert_eq!(
            err("x>a"),
            "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
        assert!(
            err(&format!("x={}", "a".repeat(64))).contains("must be no more than 63 characters")
        );
        assert!(
            err(&format!("{}=a", "a".repeat(64)))
                .contains("name part must be no more than 63 characters")
        );
        assert!(err("a/b/c=d").contains("a qualified name must consist"));
        assert!(err("ü=a").starts_with("unable to parse requirement: <nil>: Invalid value: \"ü\""));
    }

    #[test]
    fn matching() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("n", "5")]);
        let yes = [
            "",
            "app=web",
            "app==web",
            "app!=db",
            "missing!=x",
            "app in (web,db)",
            "app notin (db)",
            "missing notin (x)",
            "app",
            "!missing",
            "n>4",
            "n<6",
            "app=web,tier=front",
            "app in (web), n>1, !canary",
        ];
        for s in yes {
            assert!(parse(s).matches(&l), "{s} should match");
        }
        let no = [
            "app=db",
            "missing=x",
            "missing in (x)",
            "app notin (web)",
            "!app",
            "missing",
            "n>5",
            "n<5",
            "app>1",
            "missing>1",
            "app=web,tier=back",
            "app=",
        ];
        for s in no {
            assert!(!parse(s).matches(&l), "{s} should not match");
        }
        assert!(parse("app=").matches(&labels(&[("app", "")])));
        assert!(parse("app in ()").matches(&labels(&[("app", "")])));
        assert!(parse("n>0").matches(&labels(&[("n", "+1")])));
    }

    #[test]
    fn matches_json_labels() {
        let sel = parse("app=web");
        assert!(sel.matches_json(Some(&json!({"app": "web"}))));
        assert!(!sel.matches_json(Some(&json!({"app": 1}))));
        assert!(!sel.matches_json(None));
        assert!(parse("").matches_json(None));
        assert!(parse("!app").matches_json(Some(&json!("not a map"))));
    }

    #[test]
    fn exact_match() {
        let s = parse("a=1,b in (2),c in (3,4),d!=5");
        assert_eq!(s.requires_exact_match("a"), Some("1"));
        assert_eq!(s.requires_exact_match("b"), Some("2"));
        assert_eq!(s.requires_exact_match("c"), None);
        assert_eq!(s.requires_exact_match("d"), None);
        assert_eq!(s.requires_exact_match("zz"), None);
    }

    #[test]
    fn everything_and_nothing() {
        let l = labels(&[("a", "b")]);
        assert!(LabelSelector::everything().matches(&l));
        assert!(LabelSelector::everything().is_empty());
        assert!(!LabelSelector::nothing().matches(&l));
        assert!(!LabelSelector::nothing().matches(&BTreeMap::new()));
        assert!(!LabelSelector::nothing().is_empty());
        assert!(LabelSelector::nothing().matches_nothing());
    }

    #[test]
    fn from_metav1_selectors() {
        let sel: metav1::LabelSelector = serde_json::from_value(json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "back"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "env", "operator": "NotIn", "values": ["prod"]},
                {"key": "team", "operator": "Exists"}
            ]
        }))
        .unwrap();
        let s = LabelSelector::from_metav1(&sel).unwrap();
        assert_eq!(
            s.to_string(),
            "app=web,!canary,env notin (prod),team,tier in (back,front)"
        );
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "back"), ("team", "x")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "back")])));

        let empty = metav1::LabelSelector::default();
        assert!(LabelSelector::from_metav1(&empty).unwrap().is_empty());
        assert!(
            LabelSelector::from_metav1_opt(None)
                .unwrap()
                .matches_nothing()
        );
        assert!(LabelSelector::from_json(None).unwrap().matches_nothing());
        assert!(
            LabelSelector::from_json(Some(&json!(null)))
                .unwrap()
                .matches_nothing()
        );
        assert!(
            LabelSelector::from_json(Some(&json!({})))
                .unwrap()
                .is_empty()
        );
        assert!(LabelSelector::from_json(Some(&json!({"matchLabels": 3}))).is_err());
    }

    #[test]
    fn from_metav1_errors() {
        let bad_op: metav1::LabelSelector = serde_json::from_value(json!({
            "matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]
        }))
        .unwrap();
        assert_eq!(
            LabelSelector::from_metav1(&bad_op).unwrap_err().to_string(),
            "\"Gt\" is not a valid label selector operator"
        );
        let empty_in: metav1::LabelSelector = serde_json::from_value(json!({
            "matchExpressions": [{"key": "a", "operator": "In", "values": []}]
        }))
        .unwrap();
        assert_eq!(
            LabelSelector::from_metav1(&empty_in)
                .unwrap_err()
                .to_string(),
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
        );
        let exists_vals: metav1::LabelSelector = serde_json::from_value(json!({
            "matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]
        }))
        .unwrap();
        assert_eq!(
            LabelSelector::from_metav1(&exists_vals)
                .unwrap_err()
                .to_string(),
            "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"
        );
        let bad_key: metav1::LabelSelector = serde_json::from_value(json!({
            "matchLabels": {"a b": "x y"}
        }))
        .unwrap();
        let msg = LabelSelector::from_metav1(&bad_key)
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("[key: Invalid value: \"a b\""), "{msg}");
        assert!(
            msg.contains("values[0][a b]: Invalid value: \"x y\""),
            "{msg}"
        );
    }

    #[test]
    fn requirement_constructor() {
        let r = Requirement::new("a", Operator::In, vec!["x".into(), "y".into()]).unwrap();
        assert_eq!(r.to_string(), "a in (x,y)");
        assert_eq!(r.key(), "a");
        assert_eq!(r.operator(), Operator::In);
        assert_eq!(r.values().len(), 2);
        assert!(Requirement::new("a", Operator::Equals, vec![]).is_err());
        assert!(
            Requirement::new("a", Operator::GreaterThan, vec!["1".into(), "2".into()]).is_err()
        );
        assert_eq!(Operator::GreaterThan.as_str(), "gt");
    }

    #[test]
    fn from_map() {
        let s = LabelSelector::from_map(&labels(&[("b", "2"), ("a", "1")]));
        assert_eq!(s.to_string(), "a=1,b=2");
    }

    #[test]
    fn field_selectors() {
        let s = FieldSelector::parse("metadata.name=web,spec.nodeName!=n1").unwrap();
        assert_eq!(s.to_string(), "metadata.name=web,spec.nodeName!=n1");
        assert_eq!(s.requirements().len(), 2);
        assert_eq!(s.requires_exact_match("metadata.name"), Some("web"));
        assert_eq!(s.requires_exact_match("spec.nodeName"), None);
        let fields = BTreeMap::from([
            ("metadata.name".to_owned(), "web".to_owned()),
            ("spec.nodeName".to_owned(), "n2".to_owned()),
        ]);
        assert!(s.matches_map(&fields));
        assert!(s.matches(&|f: &str| fields.get(f).cloned()));
        let other = BTreeMap::from([("metadata.name".to_owned(), "db".to_owned())]);
        assert!(!s.matches_map(&other));
        // a missing field is the empty string
        assert!(
            FieldSelector::parse("spec.nodeName=")
                .unwrap()
                .matches_map(&BTreeMap::new())
        );
        assert!(
            FieldSelector::parse("spec.nodeName!=x")
                .unwrap()
                .matches_map(&BTreeMap::new())
        );
        assert!(FieldSelector::parse("").unwrap().is_empty());
        assert!(FieldSelector::parse(",,").unwrap().is_empty());
        assert_eq!(
            FieldSelector::parse("a==b").unwrap().requirements()[0].operator,
            FieldOperator::Equals
        );
        // sorted by term text, as Kubernetes does
        assert_eq!(
            FieldSelector::parse("b=1,a=2").unwrap().to_string(),
            "a=2,b=1"
        );
    }

    #[test]
    fn field_selector_escapes() {
        let s = FieldSelector::parse(r"metadata.name=a\,b\=c\\d").unwrap();
        assert_eq!(s.requirements()[0].value, r"a,b=c\d");
        assert_eq!(s.to_string(), r"metadata.name=a\,b\=c\\d");
        assert_eq!(
            FieldSelector::parse(r"a=b\x").unwrap_err().to_string(),
            r"invalid field selector: invalid escape sequence: \x"
        );
        assert_eq!(
            FieldSelector::parse(r"a=b\").unwrap_err().to_string(),
            r"invalid field selector: invalid escape sequence: \"
        );
        assert_eq!(
            FieldSelector::parse("a=b=c").unwrap_err().to_string(),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            FieldSelector::parse("a=b,c").unwrap_err().to_string(),
            "invalid selector: 'a=b,c'; can't understand 'c'"
        );
        assert_eq!(
            FieldSelector::parse("é=ü").unwrap().requirements()[0].field,
            "é"
        );
        // `!=` wins at the position where it starts
        let ne = FieldSelector::parse("a!=b").unwrap();
        assert_eq!(ne.requirements()[0].operator, FieldOperator::NotEquals);
        // the lhs is not validated or trimmed
        assert_eq!(
            FieldSelector::parse(" a =b").unwrap().requirements()[0].field,
            " a "
        );
    }
}
