//! JSON values as YAML text, the way gnostic fills `Any.yaml`: its
//! `compiler.Marshal` clears the styles of the node parsed from JSON and
//! marshals it with gopkg.in/yaml.v3 (go-yaml `v3` branch, `encode.go`
//! `(*encoder).node` and `emitterc.go`), so this follows that emitter:
//!
//! - block style throughout, four-space indentation, except that whatever
//!   sits in a sequence item is indented two past the `-`
//!   (`- group: apps\n  kind: Deployment\n`); empty collections as `{}` and
//!   `[]`; no line folding (yaml.v3 sets an infinite width);
//! - a string plain when yaml.v3 allows it; double-quoted when it would
//!   read back as something else (`"true"`, `"1.5"`, `"2024-01-01"`, `""`);
//!   single-quoted when plain is not allowed (`': x'`, leading spaces);
//!   double-quoted with YAML escapes when single quotes cannot hold it
//!   (tabs, control characters); multi-line text as a `|-` literal block.
//!
//! Where this is simpler than yaml.v3, the text still reads back as the
//! same value, it only differs in bytes: a multi-line string that ends with
//! a line break or begins with a space, or holds line breaks other than
//! `\n`, is double-quoted instead of given block-scalar indicators; the
//! timestamp test that forces quotes is a little broader; keys longer than
//! 128 characters are not written in the explicit `? key` form.

use serde_json::Value;

/// The YAML text of `v`, ending in a line break.
pub(super) fn to_string(v: &Value) -> String {
    let mut w = Writer(String::new());
    w.node(v, Parent::Top);
    w.0.push('\n');
    w.0
}

/// Where a node is written, with the indentation of the collection around
/// it.
#[derive(Clone, Copy)]
enum Parent {
    /// The whole document.
    Top,
    /// The value of a mapping key; the mapping's indentation.
    Value(usize),
    /// A sequence item; the sequence's indentation.
    Item(usize),
}

impl Parent {
    /// yaml.v3's `increase_indent`: a sequence item's content skips the
    /// `- `, anything else moves to the next multiple of four; at the top a
    /// collection starts at column 0 and a block scalar at 4.
    fn indent(self, scalar: bool) -> usize {
        match self {
            Parent::Top if scalar => 4,
            Parent::Top => 0,
            Parent::Item(i) => i + 2,
            Parent::Value(i) => (i / 4 + 1) * 4,
        }
    }
}

struct Writer(String);

impl Writer {
    fn node(&mut self, v: &Value, parent: Parent) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                let indent = parent.indent(false);
                for (n, (k, x)) in m.iter().enumerate() {
                    self.entry_start(n, parent, indent);
                    self.string(k, true, parent);
                    self.0.push(':');
                    self.node(x, Parent::Value(indent));
                }
            }
            Value::Array(a) if !a.is_empty() => {
                let indent = parent.indent(false);
                for (n, x) in a.iter().enumerate() {
                    self.entry_start(n, parent, indent);
                    self.0.push('-');
                    self.node(x, Parent::Item(indent));
                }
            }
            _ => {
                if !matches!(parent, Parent::Top) {
                    self.0.push(' ');
                }
                match v {
                    Value::Object(_) => self.0.push_str("{}"),
                    Value::Array(_) => self.0.push_str("[]"),
                    Value::Null => self.0.push_str("null"),
                    Value::Bool(b) => self.0.push_str(if *b { "true" } else { "false" }),
                    Value::Number(n) => self.0.push_str(&n.to_string()),
                    Value::String(s) => self.string(s, false, parent),
                }
            }
        }
    }

    /// Moves to where the `n`th key or item of a collection at `indent`
    /// starts: the first one of an item shares the `-` line, the first one
    /// of the document is already there; the others start a line.
    fn entry_start(&mut self, n: usize, parent: Parent, indent: usize) {
        match (n, parent) {
            (0, Parent::Top) => {}
            (0, Parent::Item(i)) => self.pad(indent - (i + 1)),
            _ => {
                self.0.push('\n');
                self.pad(indent);
            }
        }
    }

    fn pad(&mut self, n: usize) {
        self.0.extend(std::iter::repeat_n(' ', n));
    }

    fn string(&mut self, s: &str, key: bool, parent: Parent) {
        match style(s, key) {
            Style::Plain => self.0.push_str(s),
            Style::Single => {
                self.0.push('\'');
                self.0.push_str(&s.replace('\'', "''"));
                self.0.push('\'');
            }
            Style::Double => double_quoted(&mut self.0, s),
            Style::Literal => {
                let indent = parent.indent(true);
                self.0.push_str("|-");
                for line in s.split('\n') {
                    self.0.push('\n');
                    if !line.is_empty() {
                        self.pad(indent);
                        self.0.push_str(line);
                    }
                }
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// yaml.v3's choice: the style `(*encoder).node` asks for, then what
/// `yaml_emitter_select_scalar_style` lets through (always in block
/// context; `key` is its simple-key context).
fn style(s: &str, key: bool) -> Style {
    let a = Analysis::of(s);
    let mut style = if s.contains('\n') {
        Style::Literal
    } else if resolves_as_other(s) {
        Style::Double
    } else {
        Style::Plain
    };
    if key && a.multiline {
        style = Style::Double;
    }
    if style == Style::Plain && (!a.plain_allowed || (s.is_empty() && key)) {
        style = Style::Single;
    }
    if style == Style::Single && (!a.single_quoted_allowed || a.multiline) {
        style = Style::Double;
    }
    if style == Style::Literal && (!a.literal_allowed || key) {
        style = Style::Double;
    }
    style
}

/// `yaml_emitter_analyze_scalar`, reduced to the block context.
struct Analysis {
    multiline: bool,
    plain_allowed: bool,
    single_quoted_allowed: bool,
    /// Block style allowed, narrowed to what [`Writer::string`] writes:
    /// only `\n` breaks, none at the end, no leading space.
    literal_allowed: bool,
}

impl Analysis {
    fn of(s: &str) -> Self {
        if s.is_empty() {
            return Self {
                multiline: false,
                plain_allowed: true,
                single_quoted_allowed: true,
                literal_allowed: false,
            };
        }
        let chars: Vec<char> = s.chars().collect();
        let mut indicators = s.starts_with("---") || s.starts_with("...");
        let (mut breaks, mut special, mut tabs, mut other_breaks) = (false, false, false, false);
        let (mut break_space, mut space_break) = (false, false);
        let (mut previous_space, mut previous_break) = (false, false);
        let mut preceded_by_whitespace = true;
        for (i, &c) in chars.iter().enumerate() {
            let followed_by_whitespace = chars.get(i + 1).is_none_or(|&n| n == ' ' || n == '\t');
            indicators |= match (i, c) {
                (
                    0,
                    '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                    | '%' | '@' | '`',
                ) => true,
                (0, '?' | '-') | (_, ':') => followed_by_whitespace,
                (_, '#') => i > 0 && preceded_by_whitespace,
                _ => false,
            };
            if c == '\t' {
                tabs = true;
            } else if !printable(c) {
                special = true;
            }
            if c == ' ' {
                break_space |= previous_break;
                (previous_space, previous_break) = (true, false);
            } else if is_break(c) {
                breaks = true;
                other_breaks |= c != '\n';
                space_break |= previous_space;
                (previous_space, previous_break) = (false, true);
            } else {
                (previous_space, previous_break) = (false, false);
            }
            preceded_by_whitespace = matches!(c, ' ' | '\t') || is_break(c);
        }
        let first = chars[0];
        let last = chars[chars.len() - 1];
        let edge = first == ' ' || is_break(first) || last == ' ' || is_break(last);
        Self {
            multiline: breaks,
            plain_allowed: !(edge
                || break_space
                || space_break
                || tabs
                || special
                || breaks
                || indicators),
            single_quoted_allowed: !(break_space || space_break || tabs || special),
            literal_allowed: !(edge || space_break || special || other_breaks),
        }
    }
}

/// libyaml's `is_printable` on UTF-8 (so nothing past the BMP).
fn printable(c: char) -> bool {
    matches!(c, '\n' | ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        && c != '\u{feff}'
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Whether yaml.v3's `resolve` reads the plain scalar `s` as anything but a
/// string, in which case the encoder double-quotes it.
fn resolves_as_other(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", ".nan",
        ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf",
        "-.INF", "<<",
    ];
    if SPECIAL.contains(&s) {
        return true;
    }
    match s.as_bytes()[0] {
        b'.' => s.parse::<f64>().is_ok(),
        b'0'..=b'9' | b'+' | b'-' => timestamp(s) || number(&s.replace('_', "")),
        _ => false,
    }
}

/// `2006-1-2`, optionally followed by a time (`T…`, `t…`, ` …`).
fn timestamp(s: &str) -> bool {
    let mut parts = s.splitn(3, '-');
    let (Some(y), Some(m), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let d_len = rest.find(['T', 't', ' ']).unwrap_or(rest.len());
    let digits = |p: &str, min: usize, max: usize| {
        (min..=max).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
    };
    digits(y, 4, 4) && digits(m, 1, 2) && digits(&rest[..d_len], 1, 2)
}

/// Go's `ParseInt(s, 0, 64)` forms (`0x…`, `0o…`, `0b…`, decimal) and
/// yaml.v3's float pattern `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn number(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    for (prefix, radix) in [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ] {
        if let Some(d) = body.strip_prefix(prefix) {
            return !d.is_empty() && d.chars().all(|c| c.is_digit(radix));
        }
    }
    let b = body.as_bytes();
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    let mut i = 0;
    if digits(&mut i) {
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    } else if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    } else {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

/// `yaml_emitter_write_double_quoted_scalar` without line folding.
fn double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if printable(c) && !is_break(c) && c != '"' && c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = match c {
            '\0' => "\\0",
            '\x07' => "\\a",
            '\x08' => "\\b",
            '\t' => "\\t",
            '\n' => "\\n",
            '\x0b' => "\\v",
            '\x0c' => "\\f",
            '\r' => "\\r",
            '\x1b' => "\\e",
            '"' => "\\\"",
            '\\' => "\\\\",
            '\u{85}' => "\\N",
            '\u{2028}' => "\\L",
            '\u{2029}' => "\\P",
            _ => {
                let n = u32::from(c);
                out.push_str(&match n {
                    0..=0xff => format!("\\x{n:02X}"),
                    0x100..=0xffff => format!("\\u{n:04X}"),
                    _ => format!("\\U{n:08X}"),
                });
                continue;
            }
        };
        out.push_str(escaped);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::to_string;

    /// Expected texts are yaml.v3's (its `encode_test.go` where it has the
    /// case).
    #[test]
    fn collections_indent_as_yaml_v3() {
        let gvk = json!([{"group": "apps", "kind": "Deployment", "version": "v1"}]);
        assert_eq!(
            to_string(&gvk),
            "- group: apps\n  kind: Deployment\n  version: v1\n"
        );
        assert_eq!(
            to_string(&json!({"v": ["A", "B"]})),
            "v:\n    - A\n    - B\n"
        );
        assert_eq!(
            to_string(&json!({"v": ["A", 1, {"B": [2, 3]}]})),
            "v:\n    - A\n    - 1\n    - B:\n        - 2\n        - 3\n"
        );
        assert_eq!(
            to_string(&json!({"v": ["A", "B\nC"]})),
            "v:\n    - A\n    - |-\n      B\n      C\n"
        );
        assert_eq!(to_string(&json!({"a": {"b": "c"}})), "a:\n    b: c\n");
        assert_eq!(to_string(&json!([["a", "b"], "c"])), "- - a\n  - b\n- c\n");
        assert_eq!(to_string(&json!({"a": {}, "b": []})), "a: {}\nb: []\n");
        assert_eq!(to_string(&json!({})), "{}\n");
        assert_eq!(to_string(&json!([{"a": {"b": 1}}])), "- a:\n    b: 1\n");
        assert_eq!(to_string(&json!("a\nb")), "|-\n    a\n    b\n");
    }

    #[test]
    fn scalars_quote_as_yaml_v3() {
        let cases = [
            (json!(null), "null"),
            (json!(true), "true"),
            (json!(7), "7"),
            (json!(-1.5), "-1.5"),
            (json!("merge"), "merge"),
            (json!("retainKeys,merge"), "retainKeys,merge"),
            (json!("true"), "\"true\""),
            (json!("NULL"), "\"NULL\""),
            (json!(""), "\"\""),
            (json!("1"), "\"1\""),
            (json!("1_000"), "\"1_000\""),
            (json!("0x1F"), "\"0x1F\""),
            (json!(".5"), "\".5\""),
            (json!("1e3"), "\"1e3\""),
            (json!("2024-01-02"), "\"2024-01-02\""),
            (json!("1.2.3"), "1.2.3"),
            (json!("yes"), "yes"),
            (json!("-"), "'-'"),
            (json!("-x"), "-x"),
            (json!("a: b"), "'a: b'"),
            (json!("a:b"), "a:b"),
            (json!("a #b"), "'a #b'"),
            (json!("a#b"), "a#b"),
            (json!("*/*"), "'*/*'"),
            (json!(" x"), "' x'"),
            (json!("it's: x"), "'it''s: x'"),
            (json!("a\tb"), "\"a\\tb\""),
            (json!("a\u{1}"), "\"a\\x01\""),
            (json!("naïve"), "naïve"),
            (json!("a\n"), "\"a\\n\""),
            (json!("a\rb"), "\"a\\rb\""),
        ];
        for (v, want) in cases {
            assert_eq!(to_string(&v), format!("{want}\n"), "{v}");
        }
        assert_eq!(to_string(&json!({"": 1, "a b": 2})), "\"\": 1\na b: 2\n");
        assert_eq!(to_string(&json!({"a\nb": 1})), "\"a\\nb\": 1\n");
    }
}
