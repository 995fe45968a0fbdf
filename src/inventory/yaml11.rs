//! YAML as Ansible reads it: PyYAML's YAML 1.1 typing on top of a YAML 1.2 parser (saphyr-parser).
//!
//! The parser gives us events with the scalar style and tag; we type plain scalars ourselves with YAML 1.1 rules
//! (`yes`/`no`/`on`/`off` are booleans, `0755` is octal, `1:30` is 90, `1e3` is a string, dates become ISO
//! text), apply `<<` merge keys, and keep line numbers for error messages. Ansible's loader tries JSON first, so
//! text that is valid JSON is typed with JSON rules instead.

use regex::Regex;
use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use std::collections::HashMap;
use std::sync::LazyLock;

/// One YAML node and the line (1-based) it starts on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub line: usize,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    /// A decimal integer of any size.
    Int(String),
    Float(f64),
    Str(String),
    /// A string under `!unsafe`: Ansible prints it as `{"__ansible_unsafe": ...}`.
    Unsafe(String),
    /// A `!vault` string: Ansible prints it as `{"__ansible_vault": ...}`.
    Vault(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// Loads a single-document stream. `Ok(None)` for an empty stream. `Err((line, message))` on bad YAML.
pub(crate) fn load(text: &str) -> Result<Option<Node>, (usize, String)> {
    let json = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
    let mut b = Builder {
        events: Parser::new_from_str(text),
        anchors: HashMap::new(),
        json,
        unsafe_depth: 0,
    };
    let mut root = None;
    loop {
        let (ev, span) = b.next()?;
        match ev {
            Event::StreamEnd => return Ok(root),
            Event::DocumentStart(_) if root.is_some() => {
                return Err((
                    span.start.line(),
                    "expected a single document in the stream (remove the second ---)".into(),
                ));
            }
            Event::DocumentStart(_) => {
                let (ev, span) = b.next()?;
                root = Some(b.node(ev, span)?);
            }
            _ => {}
        }
    }
}

struct Builder<'a> {
    events: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Node>,
    json: bool,
    unsafe_depth: usize,
}

type Res<T> = Result<T, (usize, String)>;

impl<'a> Builder<'a> {
    fn next(&mut self) -> Res<(Event<'a>, Span)> {
        match self.events.next_event() {
            Some(Ok(e)) => Ok(e),
            Some(Err(e)) => Err((
                e.marker().line(),
                format!("invalid YAML: {} (fix the YAML syntax)", e.info()),
            )),
            None => Err((0, "unexpected end of YAML".into())),
        }
    }

    fn node(&mut self, ev: Event<'a>, span: Span) -> Res<Node> {
        let line = span.start.line();
        let (anchor, node) = match ev {
            Event::Alias(id) => {
                return self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or((line, "alias refers to an unknown anchor".into()));
            }
            Event::Scalar(text, style, anchor, tag) => {
                (anchor, self.scalar(&text, style, tag.as_deref(), line)?)
            }
            Event::SequenceStart(anchor, tag) => {
                let unsafe_tag = self.enter(tag.as_deref(), line, "seq")?;
                let mut items = Vec::new();
                loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, span)?);
                }
                self.unsafe_depth -= usize::from(unsafe_tag);
                (
                    anchor,
                    Node {
                        line,
                        kind: Kind::Seq(items),
                    },
                )
            }
            Event::MappingStart(anchor, tag) => {
                let is_set = tag
                    .as_deref()
                    .is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "set");
                let unsafe_tag = if is_set {
                    false
                } else {
                    self.enter(tag.as_deref(), line, "map")?
                };
                let node = self.mapping(line)?;
                self.unsafe_depth -= usize::from(unsafe_tag);
                let node = match (is_set, node.kind) {
                    (true, Kind::Map(pairs)) => Node {
                        line,
                        kind: Kind::Seq(pairs.into_iter().map(|(k, _)| k).collect()),
                    },
                    (_, kind) => Node { line, kind },
                };
                (anchor, node)
            }
            other => return Err((line, format!("unexpected YAML event {other:?}"))),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    /// Accepts the tags a collection may carry; returns whether it is `!unsafe`.
    fn enter(&mut self, tag: Option<&Tag>, line: usize, core: &str) -> Res<bool> {
        match tag {
            None => Ok(false),
            Some(t) if t.is_yaml_core_schema() && t.suffix == core => Ok(false),
            Some(t) if is_local(t, "unsafe") => {
                self.unsafe_depth += 1;
                Ok(true)
            }
            Some(t) => Err((line, format!("unsupported YAML tag {t} (remove the tag)"))),
        }
    }

    fn mapping(&mut self, line: usize) -> Res<Node> {
        let mut own: Vec<(Node, Node)> = Vec::new();
        let mut merged: Vec<(Node, Node)> = Vec::new();
        loop {
            let (ev, span) = self.next()?;
            if matches!(ev, Event::MappingEnd) {
                break;
            }
            let is_merge =
                matches!(&ev, Event::Scalar(t, ScalarStyle::Plain, _, None) if t == "<<");
            let key = self.node(ev, span)?;
            let (ev, span) = self.next()?;
            let value = self.node(ev, span)?;
            if is_merge && !self.json {
                let sources = match value.kind {
                    Kind::Map(pairs) => vec![pairs],
                    Kind::Seq(items) => items
                        .into_iter()
                        .map(|n| match n.kind {
                            Kind::Map(p) => Ok(p),
                            _ => {
                                Err((n.line, "a << merge list may hold only mappings".to_string()))
                            }
                        })
                        .collect::<Res<_>>()?,
                    _ => {
                        return Err((
                            value.line,
                            "a << merge key needs a mapping or a list of mappings".into(),
                        ));
                    }
                };
                // Earlier mappings in a merge list win over later ones; the node's own keys win over all.
                for pairs in sources {
                    for (k, v) in pairs {
                        if !merged.iter().any(|(m, _)| same_key(m, &k)) {
                            merged.push((k, v));
                        }
                    }
                }
                continue;
            }
            if matches!(key.kind, Kind::Seq(_) | Kind::Map(_)) {
                return Err((
                    key.line,
                    "found unhashable key (mapping keys must be scalars)".into(),
                ));
            }
            own.push((key, value));
        }
        let mut pairs: Vec<(Node, Node)> = Vec::new();
        for (k, v) in merged.into_iter().chain(own) {
            // A repeated key keeps its first position and its last value, as a Python dict does.
            match pairs.iter_mut().find(|(m, _)| same_key(m, &k)) {
                Some(slot) => slot.1 = v,
                None => pairs.push((k, v)),
            }
        }
        Ok(Node {
            line,
            kind: Kind::Map(pairs),
        })
    }

    fn scalar(
        &mut self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
        line: usize,
    ) -> Res<Node> {
        let bad = |what: &str| {
            (
                line,
                format!("cannot read \"{text}\" as {what} (fix the value or drop the tag)"),
            )
        };
        let kind = match tag {
            // `!unsafe` types the scalar as usual and marks only strings: `!unsafe yes` is still `true`.
            Some(t) if is_local(t, "unsafe") => match self.scalar(text, style, None, line)?.kind {
                Kind::Str(s) => Kind::Unsafe(s),
                other => other,
            },
            Some(t) if is_local(t, "vault") || is_local(t, "vault-encrypted") => {
                Kind::Vault(text.to_string())
            }
            Some(t) if t.is_yaml_core_schema() => match t.suffix.as_str() {
                "str" => Kind::Str(text.to_string()),
                "int" => yaml_int(text).ok_or_else(|| bad("an integer"))?,
                "float" => yaml_float(text).ok_or_else(|| bad("a float"))?,
                "bool" => bool_value(text)
                    .map(Kind::Bool)
                    .ok_or_else(|| bad("a boolean"))?,
                "null" => Kind::Null,
                "timestamp" => timestamp(text)
                    .map(Kind::Str)
                    .ok_or_else(|| bad("a timestamp"))?,
                other => {
                    return Err((
                        line,
                        format!("unsupported YAML tag !!{other} (remove the tag)"),
                    ));
                }
            },
            Some(t) => return Err((line, format!("unsupported YAML tag {t} (remove the tag)"))),
            None if style != ScalarStyle::Plain => Kind::Str(text.to_string()),
            None if self.json => json_scalar(text),
            None => resolve(text).ok_or_else(|| {
                (line, format!("plain \"{text}\" is not a valid YAML 1.1 value here (quote it)"))
            })?,
        };
        let kind = match kind {
            Kind::Str(s) if self.unsafe_depth > 0 => Kind::Unsafe(s),
            k => k,
        };
        Ok(Node { line, kind })
    }
}

fn is_local(t: &Tag, name: &str) -> bool {
    (t.handle == "!" || t.handle.is_empty()) && t.suffix == name
}

/// Python dict keys compare by value: `1`, `1.0` and `true` are one key, and so are a string and its
/// `!unsafe` twin.
fn same_key(a: &Node, b: &Node) -> bool {
    fn number(k: &Kind) -> Option<f64> {
        match k {
            Kind::Bool(b) => Some(f64::from(u8::from(*b))),
            Kind::Int(i) => i.parse().ok(),
            Kind::Float(f) => Some(*f),
            _ => None,
        }
    }
    match (&a.kind, &b.kind) {
        (Kind::Str(x) | Kind::Unsafe(x), Kind::Str(y) | Kind::Unsafe(y)) => x == y,
        (x, y) => match (number(x), number(y)) {
            (Some(m), Some(n)) => m == n,
            _ => x == y,
        },
    }
}

fn json_scalar(text: &str) -> Kind {
    match text {
        "true" => Kind::Bool(true),
        "false" => Kind::Bool(false),
        "null" => Kind::Null,
        t if !t.contains(['.', 'e', 'E']) => Kind::Int(t.trim_start_matches('+').to_string()),
        t => t
            .parse()
            .map(Kind::Float)
            .unwrap_or_else(|_| Kind::Str(t.to_string())),
    }
}

macro_rules! rx {
    ($name:ident, $re:expr) => {
        #[allow(clippy::unwrap_used)] // constant pattern
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new($re).unwrap());
    };
}
rx!(
    BOOL,
    r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"
);
rx!(
    FLOAT,
    r"^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
);
rx!(
    INT,
    r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$"
);
rx!(NULL, r"^(?:~|null|Null|NULL|)$");
rx!(
    TIMESTAMP,
    r"^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$"
);
rx!(
    TIMESTAMP_PARTS,
    r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:(?:[Tt]|[ \t]+)([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]*))?(?:[ \t]*(Z|([-+])([0-9]{1,2})(?::([0-9]{2}))?))?)?$"
);

/// PyYAML's implicit resolvers, in the order it tries them.
fn resolve(text: &str) -> Option<Kind> {
    if BOOL.is_match(text) {
        return bool_value(text).map(Kind::Bool);
    }
    if FLOAT.is_match(text) {
        return yaml_float(text);
    }
    if INT.is_match(text) {
        return yaml_int(text);
    }
    if NULL.is_match(text) {
        return Some(Kind::Null);
    }
    if TIMESTAMP.is_match(text) {
        return timestamp(text).map(Kind::Str);
    }
    // PyYAML resolves a lone `=` to the "value" type, which has no constructor.
    if text == "=" {
        return None;
    }
    Some(Kind::Str(text.to_string()))
}

fn bool_value(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" => Some(true),
        "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

fn split_sign(text: &str) -> (bool, String) {
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    match clean.strip_prefix('-') {
        Some(rest) => (true, rest.to_string()),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean).to_string()),
    }
}

fn yaml_int(text: &str) -> Option<Kind> {
    let (neg, v) = split_sign(text);
    let n: i128 = if v == "0" {
        0
    } else if let Some(b) = v.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()?
    } else if let Some(h) = v.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()?
    } else if v.starts_with('0') {
        i128::from_str_radix(&v, 8).ok()?
    } else if v.contains(':') {
        v.split(':').try_fold(0i128, |acc, part| {
            Some(acc * 60 + part.parse::<i128>().ok()?)
        })?
    } else if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // Kept as text: decimal integers may exceed any fixed width, as Python's do.
        return Some(Kind::Int(if neg { format!("-{v}") } else { v }));
    } else {
        return None;
    };
    Some(Kind::Int((if neg { -n } else { n }).to_string()))
}

fn yaml_float(text: &str) -> Option<Kind> {
    let (neg, v) = split_sign(&text.to_ascii_lowercase());
    let f: f64 = if v == ".inf" {
        f64::INFINITY
    } else if v == ".nan" {
        f64::NAN
    } else if v.contains(':') {
        v.split(':')
            .try_fold(0.0, |acc, part| Some(acc * 60.0 + py_float(part)?))?
    } else {
        py_float(&v)?
    };
    Some(Kind::Float(if neg { -f } else { f }))
}

/// Python's `float()` accepts `1.` and `.5`; Rust wants digits on both sides of the dot.
fn py_float(t: &str) -> Option<f64> {
    let t = if t.starts_with('.') {
        format!("0{t}")
    } else {
        t.to_string()
    };
    t.replace(".e", ".0e").parse().ok()
}

/// PyYAML builds a date or datetime; Ansible prints it with Python's `isoformat()`.
fn timestamp(text: &str) -> Option<String> {
    let c = TIMESTAMP_PARTS.captures(text)?;
    let num = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
    let (year, month, day) = (num(1)?, num(2)?, num(3)?);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return None,
    };
    if year == 0 || day == 0 || day > days_in_month {
        return None;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    let Some(hour) = num(4) else {
        return Some(date);
    };
    let (minute, second) = (num(5)?, num(6)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut out = format!("{date}T{hour:02}:{minute:02}:{second:02}");
    if let Some(frac) = c.get(7).map(|m| m.as_str()).filter(|f| !f.is_empty()) {
        let micros: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
        if micros != "000000" {
            out.push('.');
            out.push_str(&micros);
        }
    }
    match (c.get(8).map(|m| m.as_str()), c.get(9).map(|m| m.as_str())) {
        (Some(_), Some(sign)) => {
            let total = num(10)? * 60 + num(11).unwrap_or(0);
            if total >= 24 * 60 {
                return None;
            }
            out.push_str(&format!("{sign}{:02}:{:02}", total / 60, total % 60));
        }
        (Some(_), None) => out.push_str("+00:00"),
        _ => {}
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(yaml: &str) -> Kind {
        let Some(Node {
            kind: Kind::Map(pairs),
            ..
        }) = load(&format!("k: {yaml}\n")).expect("valid")
        else {
            panic!("not a map")
        };
        pairs.into_iter().next().expect("one pair").1.kind
    }

    #[test]
    fn yaml_1_1_scalars() {
        assert_eq!(scalar("yes"), Kind::Bool(true));
        assert_eq!(scalar("Off"), Kind::Bool(false));
        assert_eq!(scalar("y"), Kind::Str("y".into()));
        assert_eq!(scalar("0755"), Kind::Int("493".into()));
        assert_eq!(scalar("0o17"), Kind::Str("0o17".into()));
        assert_eq!(scalar("1:30"), Kind::Int("90".into()));
        assert_eq!(scalar("1e3"), Kind::Str("1e3".into()));
        assert_eq!(scalar("1.0e+3"), Kind::Float(1000.0));
        assert_eq!(scalar("~"), Kind::Null);
        assert_eq!(scalar(""), Kind::Null);
        assert_eq!(scalar("'yes'"), Kind::Str("yes".into()));
        assert_eq!(scalar("2024-01-02"), Kind::Str("2024-01-02".into()));
        assert_eq!(
            scalar("2001-12-14t21:59:43.10-05:00"),
            Kind::Str("2001-12-14T21:59:43.100000-05:00".into())
        );
        assert_eq!(scalar("!unsafe '{{ x }}'"), Kind::Unsafe("{{ x }}".into()));
    }

    #[test]
    fn errors_have_lines() {
        let (line, msg) = load("a: 1\nb: [1, 2\n").expect_err("unclosed");
        assert!(line >= 2, "line {line}");
        assert!(msg.starts_with("invalid YAML: "), "{msg}");
        assert_eq!(load("a: 1\n---\nb: 2\n").expect_err("two docs").0, 2);
    }
}
