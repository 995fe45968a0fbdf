//! YAML as Ansible reads it: PyYAML's YAML 1.1 typing on top of a YAML 1.2 parser (saphyr-parser).
//!
//! The parser gives us events with the scalar style and tag; we type plain scalars ourselves with YAML 1.1 rules
//! (`yes`/`no`/`on`/`off` are booleans, `0755` is octal, `1:30` is 90, `1e3` is a string, dates become ISO
//! text), apply `<<` merge keys, and keep line numbers for error messages. Ansible's loader tries JSON first, so
//! text that is valid JSON is typed with JSON rules instead.

use super::error::Fault;
use super::scalar11::{bool_value, resolve, timestamp, yaml_float, yaml_int};
use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use std::collections::HashMap;

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

/// Loads a single-document stream. `Ok(None)` for an empty stream. `Err((line, fault))` on bad YAML or when
/// aliases expand past the file's bound.
pub(crate) fn load(text: &str) -> Result<Option<Node>, (usize, Fault)> {
    let json = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
    let mut b = Builder {
        events: Parser::new_from_str(text),
        anchors: HashMap::new(),
        json,
        unsafe_depth: 0,
        depth: 0,
        built: Size::default(),
        aliased: Size::default(),
    };
    b.document().map_err(|(line, message)| {
        let over = b.aliased.nodes > MAX_ALIAS_NODES || b.aliased.bytes > MAX_ALIAS_BYTES;
        (line, if over { Fault::Limit(message) } else { Fault::Syntax(message) })
    })
}

impl Builder<'_> {
    fn document(&mut self) -> Res<Option<Node>> {
        let b = self;
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
}

/// The most nodes that alias expansion may add to one file. A real inventory that repeats a block of vars for
/// each of 100,000 hosts through an alias adds about a million; a "billion laughs" document (ten aliases of ten
/// aliases of ...) would add a billion and exhaust memory, which is why PyYAML's lack of a limit is not copied.
pub const MAX_ALIAS_NODES: usize = 2_000_000;

/// The most scalar text, in bytes, that alias expansion may add to one file (one long string aliased many times
/// is the same attack with few nodes).
pub const MAX_ALIAS_BYTES: usize = 64 << 20;

/// Nodes and scalar bytes built, counted so that an alias can be charged what it copies.
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    nodes: usize,
    bytes: usize,
}

struct Builder<'a> {
    events: Parser<'a, saphyr_parser::StrInput<'a>>,
    /// Anchored nodes with the size of each, so an alias is charged without walking the copy.
    anchors: HashMap<usize, (Node, Size)>,
    json: bool,
    unsafe_depth: usize,
    /// Nesting of the node being built; bounded so hostile input cannot overflow the stack.
    depth: usize,
    /// Everything built so far, aliases' copies included.
    built: Size,
    /// What aliases have copied so far, bounded by `MAX_ALIAS_NODES` and `MAX_ALIAS_BYTES`.
    aliased: Size,
}

type Res<T> = Result<T, (usize, String)>;

/// Python's default recursion limit stops PyYAML's constructor near this depth too.
const MAX_DEPTH: usize = 500;

impl<'a> Builder<'a> {
    fn next(&mut self) -> Res<(Event<'a>, Span)> {
        match self.events.next_event() {
            Some(Ok(e)) => Ok(e),
            Some(Err(e)) => Err((e.marker().line(), format!("invalid YAML: {} (fix the YAML syntax)", e.info()))),
            None => Err((0, "unexpected end of YAML".into())),
        }
    }

    fn node(&mut self, ev: Event<'a>, span: Span) -> Res<Node> {
        let line = span.start.line();
        if self.depth >= MAX_DEPTH {
            return Err((line, format!("YAML nested more than {MAX_DEPTH} levels deep (flatten the data)")));
        }
        self.depth += 1;
        let node = self.node_inner(ev, span);
        self.depth -= 1;
        node
    }

    fn node_inner(&mut self, ev: Event<'a>, span: Span) -> Res<Node> {
        let line = span.start.line();
        let before = self.built;
        let (anchor, node) = match ev {
            Event::Alias(id) => return self.alias(id, line),
            Event::Scalar(text, style, anchor, tag) => {
                self.built.bytes += text.len();
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
                (anchor, Node { line, kind: Kind::Seq(items) })
            }
            Event::MappingStart(anchor, tag) => {
                let is_set = tag.as_deref().is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "set");
                let unsafe_tag = if is_set { false } else { self.enter(tag.as_deref(), line, "map")? };
                let node = self.mapping(line)?;
                self.unsafe_depth -= usize::from(unsafe_tag);
                let node = match (is_set, node.kind) {
                    (true, Kind::Map(pairs)) => {
                        Node { line, kind: Kind::Seq(pairs.into_iter().map(|(k, _)| k).collect()) }
                    }
                    (_, kind) => Node { line, kind },
                };
                (anchor, node)
            }
            other => return Err((line, format!("unexpected YAML event {other:?}"))),
        };
        self.built.nodes += 1;
        if anchor != 0 {
            let size = Size { nodes: self.built.nodes - before.nodes, bytes: self.built.bytes - before.bytes };
            self.anchors.insert(anchor, (node.clone(), size));
        }
        Ok(node)
    }

    /// A copy of the anchored node, charged against the file's alias budget before it is made.
    fn alias(&mut self, id: usize, line: usize) -> Res<Node> {
        let Some((node, size)) = self.anchors.get(&id) else {
            return Err((line, "alias refers to an unknown anchor".into()));
        };
        self.aliased.nodes = self.aliased.nodes.saturating_add(size.nodes);
        self.aliased.bytes = self.aliased.bytes.saturating_add(size.bytes);
        if self.aliased.nodes > MAX_ALIAS_NODES || self.aliased.bytes > MAX_ALIAS_BYTES {
            return Err((
                line,
                format!(
                    "YAML aliases expand to more than {MAX_ALIAS_NODES} nodes or {} MiB of text, the limit for one file (this looks like a \"billion laughs\" document; repeat less through aliases)",
                    MAX_ALIAS_BYTES >> 20
                ),
            ));
        }
        self.built.nodes += size.nodes;
        self.built.bytes += size.bytes;
        Ok(node.clone())
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
            let is_merge = matches!(&ev, Event::Scalar(t, ScalarStyle::Plain, _, None) if t == "<<");
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
                            _ => Err((n.line, "a << merge list may hold only mappings".to_string())),
                        })
                        .collect::<Res<_>>()?,
                    _ => {
                        return Err((value.line, "a << merge key needs a mapping or a list of mappings".into()));
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
                return Err((key.line, "found unhashable key (mapping keys must be scalars)".into()));
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
        Ok(Node { line, kind: Kind::Map(pairs) })
    }

    fn scalar(&mut self, text: &str, style: ScalarStyle, tag: Option<&Tag>, line: usize) -> Res<Node> {
        let bad = |what: &str| (line, format!("cannot read \"{text}\" as {what} (fix the value or drop the tag)"));
        let kind = match tag {
            // `!unsafe` types the scalar as usual and marks only strings: `!unsafe yes` is still `true`.
            Some(t) if is_local(t, "unsafe") => match self.scalar(text, style, None, line)?.kind {
                Kind::Str(s) => Kind::Unsafe(s),
                other => other,
            },
            Some(t) if is_local(t, "vault") || is_local(t, "vault-encrypted") => Kind::Vault(text.to_string()),
            Some(t) if t.is_yaml_core_schema() => match t.suffix.as_str() {
                "str" => Kind::Str(text.to_string()),
                "int" => yaml_int(text).ok_or_else(|| bad("an integer"))?,
                "float" => yaml_float(text).ok_or_else(|| bad("a float"))?,
                "bool" => bool_value(text).map(Kind::Bool).ok_or_else(|| bad("a boolean"))?,
                "null" => Kind::Null,
                "timestamp" => timestamp(text).map(Kind::Str).ok_or_else(|| bad("a timestamp"))?,
                other => {
                    return Err((line, format!("unsupported YAML tag !!{other} (remove the tag)")));
                }
            },
            Some(t) => return Err((line, format!("unsupported YAML tag {t} (remove the tag)"))),
            None if style != ScalarStyle::Plain => Kind::Str(text.to_string()),
            None if self.json => json_scalar(text),
            None => resolve(text)
                .ok_or_else(|| (line, format!("plain \"{text}\" is not a valid YAML 1.1 value here (quote it)")))?,
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
        t => t.parse().map(Kind::Float).unwrap_or_else(|_| Kind::Str(t.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(yaml: &str) -> Kind {
        let Some(Node { kind: Kind::Map(pairs), .. }) = load(&format!("k: {yaml}\n")).expect("valid") else {
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
        assert_eq!(scalar("2001-12-14t21:59:43.10-05:00"), Kind::Str("2001-12-14T21:59:43.100000-05:00".into()));
        assert_eq!(scalar("!unsafe '{{ x }}'"), Kind::Unsafe("{{ x }}".into()));
    }

    #[test]
    fn errors_have_lines() {
        let (line, fault) = load("a: 1\nb: [1, 2\n").expect_err("unclosed");
        assert!(line >= 2, "line {line}");
        assert!(fault.message().starts_with("invalid YAML: "), "{fault:?}");
        assert_eq!(load("a: 1\n---\nb: 2\n").expect_err("two docs").0, 2);
    }
}
