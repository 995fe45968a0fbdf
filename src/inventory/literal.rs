//! INI values typed the way Ansible types them: Python's `ast.literal_eval`, falling back to the raw text when
//! the text is not a Python literal.
//!
//! Ansible then turns tuples and sets into lists, complex numbers and `...` back into text, and bytes into
//! text, so the result always fits JSON. `0755` is a syntax error in Python 3 and stays the string `"0755"`;
//! `yes` is a name, not a literal, and stays `"yes"`.

use serde_json::{Map, Number, Value};

/// Types one INI value. Never fails: anything that is not a literal is kept as the text.
pub(crate) fn parse_value(text: &str) -> Value {
    let src = text.trim_start_matches([' ', '\t']);
    // Most inventory values are a plain word or a plain number; decide those without the full parser, which
    // matters for inventories of 100,000 hosts with several vars each.
    let b = src.as_bytes();
    if let Some(&first) = b.first() {
        if first.is_ascii_alphabetic() || first == b'_' {
            // A literal that starts with a name is True, False, None, set() or a prefixed string (b'', r"");
            // any other name makes `literal_eval` fail, and Ansible keeps the text.
            let end = b.iter().position(|c| !(c.is_ascii_alphanumeric() || *c == b'_')).unwrap_or(b.len());
            let name = &src[..end];
            if !matches!(name, "True" | "False" | "None" | "set") && !matches!(b.get(end), Some(b'\'' | b'"')) {
                return Value::String(text.to_string());
            }
        } else if first.is_ascii_digit() {
            let dots = b.iter().filter(|&&c| c == b'.').count();
            if dots == 0 && b.iter().all(u8::is_ascii_digit) && (first != b'0' || b.len() == 1) {
                return to_json(Py::Int(src.to_string()));
            }
            // An address such as 10.0.0.1 is not a Python number.
            if dots >= 2 && b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
                return Value::String(text.to_string());
            }
        } else if (first == b'\'' || first == b'"') && b.len() >= 2 && b[b.len() - 1] == first {
            // A quoted word with no escapes, inner quotes of its kind or line breaks is exactly its inside.
            let inner = &src[1..src.len() - 1];
            if !inner.bytes().any(|c| c == first || c == b'\\' || c == b'\n' || c == b'\r' || c == 0) {
                return Value::String(inner.to_string());
            }
        }
    }
    let mut p = Parser { s: src.as_bytes(), src, i: 0, depth: 0 };
    match p.expr().and_then(|v| p.end().map(|()| v)) {
        Some(v) => to_json(v),
        None => Value::String(text.to_string()),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Py {
    None,
    Bool(bool),
    Int(String),
    Float(f64),
    Complex(f64, f64),
    Str(String),
    Bytes(Vec<u8>),
    Ellipsis,
    List(Vec<Py>),
    Dict(Vec<(Py, Py)>),
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Skips blanks and comments. Newlines only count as blanks inside brackets, as in Python.
    fn skip(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\x0c' => self.i += 1,
                b'\n' | b'\r' if self.depth > 0 => self.i += 1,
                b'#' => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.i += 1;
                    }
                }
                _ => break,
            }
        }
    }

    /// Python's parser rejects more than 200 nested brackets, which also keeps our recursion bounded.
    fn nest(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= 200).then_some(())
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.skip();
        if self.s[self.i..].starts_with(tok.as_bytes()) {
            self.i += tok.len();
            true
        } else {
            false
        }
    }

    fn end(&mut self) -> Option<()> {
        self.skip();
        while self.peek().is_some_and(|c| c == b'\n' || c == b'\r') {
            self.i += 1;
            self.skip();
        }
        (self.i == self.s.len()).then_some(())
    }

    fn expr(&mut self) -> Option<Py> {
        self.expr_bare().map(|(v, _)| v)
    }

    /// `literal_eval` accepts a signed real plus or minus a bare complex constant, and nothing else binary. The
    /// flag tells whether the value is a bare number constant, the only thing a sign may apply to.
    fn expr_bare(&mut self) -> Option<(Py, bool)> {
        let (left, bare) = self.operand()?;
        for (op, sign) in [("+", 1.0), ("-", -1.0)] {
            if self.eat(op) {
                let (Py::Int(_) | Py::Float(_), Some(Py::Complex(re, im))) = (&left, self.atom()?.constant()) else {
                    return None;
                };
                let l = as_f64(&left)?;
                return Some((Py::Complex(l + sign * re, sign * im), false));
            }
        }
        Some((left, bare))
    }

    fn operand(&mut self) -> Option<(Py, bool)> {
        for (op, neg) in [("-", true), ("+", false)] {
            if self.eat(op) {
                let v = self.atom()?.constant()?;
                let signed = match (v, neg) {
                    (Py::Int(n), true) => Py::Int(negate_int(&n)),
                    (Py::Float(f), true) => Py::Float(-f),
                    (Py::Complex(re, im), true) => Py::Complex(-re, -im),
                    (v @ (Py::Int(_) | Py::Float(_) | Py::Complex(..)), false) => v,
                    _ => return None,
                };
                return Some((signed, false));
            }
        }
        Some(match self.atom()? {
            Atom::Const(v) => (v, true),
            Atom::Paren(v, bare) => (v, bare),
            Atom::Other(v) => (v, false),
        })
    }

    fn atom(&mut self) -> Option<Atom> {
        self.skip();
        let c = self.peek()?;
        match c {
            b'(' => {
                self.i += 1;
                self.nest()?;
                self.skip();
                if self.peek()? == b')' {
                    self.i += 1;
                    self.depth -= 1;
                    return Some(Atom::Other(Py::List(Vec::new())));
                }
                let (first, bare) = self.expr_bare()?;
                if !self.eat(",") {
                    self.skip();
                    if self.peek()? != b')' {
                        return None;
                    }
                    self.i += 1;
                    self.depth -= 1;
                    return Some(Atom::Paren(first, bare));
                }
                let rest = self.items(b')')?;
                self.depth -= 1;
                let mut items = vec![first];
                items.extend(rest);
                Some(Atom::Other(Py::List(items)))
            }
            b'[' => {
                self.i += 1;
                Some(Atom::Other(Py::List(self.items(b']')?)))
            }
            b'{' => self.brace().map(Atom::Other),
            b'.' if self.s[self.i..].starts_with(b"...") => {
                self.i += 3;
                Some(Atom::Other(Py::Ellipsis))
            }
            b'0'..=b'9' | b'.' => self.number().map(Atom::Const),
            _ => {
                if let Some(v) = self.strings()? {
                    return Some(Atom::Other(v));
                }
                let start = self.i;
                while self.peek().is_some_and(|c| c == b'_' || c.is_ascii_alphanumeric() || c >= 0x80) {
                    self.i += 1;
                }
                let v = match &self.src[start..self.i] {
                    "True" => Py::Bool(true),
                    "False" => Py::Bool(false),
                    "None" => Py::None,
                    "set" if self.eat("(") && self.eat(")") => Py::List(Vec::new()),
                    _ => return None,
                };
                Some(Atom::Other(v))
            }
        }
    }

    /// Comma-separated expressions up to `close`, which may follow a trailing comma.
    fn items(&mut self, close: u8) -> Option<Vec<Py>> {
        self.nest()?;
        let mut items = Vec::new();
        loop {
            self.skip();
            if self.peek()? == close {
                self.i += 1;
                break;
            }
            items.push(self.expr()?);
            if !self.eat(",") {
                self.skip();
                if self.peek()? != close {
                    return None;
                }
            }
        }
        self.depth -= 1;
        Some(items)
    }

    fn brace(&mut self) -> Option<Py> {
        self.i += 1;
        self.nest()?;
        let mut pairs = Vec::new();
        let mut set = Vec::new();
        loop {
            self.skip();
            if self.peek()? == b'}' {
                self.i += 1;
                break;
            }
            let key = self.expr()?;
            if pairs.is_empty() && set.is_empty() {
                if self.eat(":") {
                    pairs.push((key, self.expr()?));
                } else {
                    set.push(key);
                }
            } else if !pairs.is_empty() {
                if !self.eat(":") {
                    return None;
                }
                let value = self.expr()?;
                match pairs.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) => slot.1 = value,
                    None => pairs.push((key, value)),
                }
            } else if !set.contains(&key) {
                set.push(key);
            }
            if !self.eat(",") {
                self.skip();
                if self.peek()? != b'}' {
                    return None;
                }
            }
        }
        self.depth -= 1;
        if set.is_empty() { Some(Py::Dict(pairs)) } else { Some(Py::List(set)) }
    }

    fn number(&mut self) -> Option<Py> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.') {
            // An exponent sign belongs to the number: `1e-3`.
            let prev = self.s[self.i];
            self.i += 1;
            if matches!(prev, b'e' | b'E')
                && matches!(self.peek(), Some(b'+' | b'-'))
                && !self.src[start..].starts_with("0x")
                && !self.src[start..].starts_with("0X")
            {
                self.i += 1;
            }
        }
        crate::inventory::pynum::parse_number(&self.src[start..self.i])
    }

    /// One or more adjacent string literals, concatenated. `Ok(None)` (as `Some(None)`) when no string starts here.
    fn strings(&mut self) -> Option<Option<Py>> {
        let mut acc: Option<Py> = None;
        loop {
            self.skip();
            let save = self.i;
            let Some(next) = crate::inventory::pystr::lex_string(self.src, &mut self.i) else {
                self.i = save;
                return Some(acc);
            };
            let next = next?;
            acc = Some(match (acc, next) {
                (None, n) => n,
                (Some(Py::Str(a)), Py::Str(b)) => Py::Str(a + &b),
                (Some(Py::Bytes(mut a)), Py::Bytes(b)) => {
                    a.extend(b);
                    Py::Bytes(a)
                }
                _ => return None,
            });
        }
    }
}

/// Parentheses vanish in Python's AST, so `-(1)` is as valid as `-1`; only bare constants may take a sign.
enum Atom {
    Const(Py),
    /// A parenthesized value and whether it is a bare number constant.
    Paren(Py, bool),
    Other(Py),
}

impl Atom {
    fn constant(self) -> Option<Py> {
        match self {
            Atom::Const(v) => Some(v),
            Atom::Paren(v @ (Py::Int(_) | Py::Float(_) | Py::Complex(..)), true) => Some(v),
            _ => None,
        }
    }
}

fn negate_int(n: &str) -> String {
    match n.strip_prefix('-') {
        Some(pos) => pos.to_string(),
        None if n == "0" => n.to_string(),
        None => format!("-{n}"),
    }
}

fn as_f64(v: &Py) -> Option<f64> {
    match v {
        Py::Int(n) => n.parse().ok(),
        Py::Float(f) => Some(*f),
        _ => None,
    }
}

fn to_json(v: Py) -> Value {
    use crate::inventory::pynum::{complex_repr, float_repr, int_value};
    match v {
        Py::None => Value::Null,
        Py::Bool(b) => Value::Bool(b),
        Py::Int(n) => int_value(&n),
        Py::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Py::Complex(re, im) => Value::String(complex_repr(re, im)),
        Py::Str(s) => Value::String(s),
        // Ansible marks text that came from bytes as untrusted, which its JSON output spells as an unsafe wrapper.
        Py::Bytes(b) => {
            let mut m = Map::new();
            m.insert("__ansible_unsafe".into(), Value::String(String::from_utf8_lossy(&b).into_owned()));
            Value::Object(m)
        }
        Py::Ellipsis => Value::String("...".into()),
        Py::List(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Py::Dict(pairs) => {
            let mut map = Map::new();
            for (k, v) in pairs {
                // json.dumps turns non-string keys into their JSON spelling.
                let key = match k {
                    Py::Str(s) => s,
                    Py::None => "null".into(),
                    Py::Bool(b) => b.to_string(),
                    Py::Int(n) => n,
                    Py::Float(f) => float_repr(f),
                    other => to_json(other).to_string(),
                };
                map.insert(key, to_json(v));
            }
            Value::Object(map)
        }
    }
}
