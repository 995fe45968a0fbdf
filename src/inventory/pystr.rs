//! Python string and bytes literals (`'a'`, `"b"`, `'''c'''`, `r'\d'`, `b'\x00'`) for [`super::literal`].

use super::literal::Py;

/// Lexes one string literal at `*i`. `None`: no string starts here. `Some(None)`: a string starts here but is
/// malformed, or is an f-string (never a literal).
pub(crate) fn lex_string(src: &str, i: &mut usize) -> Option<Option<Py>> {
    let rest = &src[*i..];
    let prefix_len = rest.find(['\'', '"'])?;
    let prefix = rest[..prefix_len].to_ascii_lowercase();
    let (raw, bytes) = match prefix.as_str() {
        "" | "u" => (false, false),
        "r" => (true, false),
        "b" => (false, true),
        "br" | "rb" => (true, true),
        "f" | "fr" | "rf" => return Some(None),
        _ => return None,
    };
    let body_start = *i + prefix_len;
    let quote = &src[body_start..=body_start];
    let triple = src[body_start..].starts_with(&quote.repeat(3));
    let delim = if triple { quote.repeat(3) } else { quote.to_string() };
    let mut j = body_start + delim.len();
    let mut out = String::new();
    let mut chars = src[j..].char_indices().peekable();
    loop {
        let Some((off, c)) = chars.next() else {
            return Some(None);
        };
        let at = j + off;
        if src[at..].starts_with(&delim) {
            j = at + delim.len();
            break;
        }
        if bytes && !c.is_ascii() {
            return Some(None);
        }
        match c {
            '\n' | '\r' if !triple => return Some(None),
            '\\' => {
                let Some((_, e)) = chars.next() else {
                    return Some(None);
                };
                if raw {
                    out.push('\\');
                    out.push(e);
                    continue;
                }
                match escape(e, &mut chars, bytes) {
                    Some(Esc::Char(ch)) => out.push(ch),
                    Some(Esc::Continuation) => {}
                    Some(Esc::Unknown) => {
                        out.push('\\');
                        out.push(e);
                    }
                    None => return Some(None),
                }
            }
            _ => out.push(c),
        }
    }
    *i = j;
    Some(Some(if bytes {
        // Escapes in bytes yield raw byte values, kept in U+0000..=U+00FF until here.
        Py::Bytes(out.chars().map(|c| c as u32 as u8).collect())
    } else {
        Py::Str(out)
    }))
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

enum Esc {
    Char(char),
    Continuation,
    /// Python keeps an unknown escape as written (with a warning we need not repeat).
    Unknown,
}

/// One escape after a backslash; `None` when malformed.
fn escape(e: char, chars: &mut Chars<'_>, bytes: bool) -> Option<Esc> {
    let c = match e {
        '\n' => return Some(Esc::Continuation),
        '\\' | '\'' | '"' => e,
        'a' => '\x07',
        'b' => '\x08',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        '0'..='7' => {
            let mut v = e.to_digit(8)?;
            for _ in 0..2 {
                match chars.peek() {
                    Some((_, d @ '0'..='7')) => {
                        v = v * 8 + d.to_digit(8)?;
                        chars.next();
                    }
                    _ => break,
                }
            }
            char::from_u32(if bytes { v & 0xff } else { v })?
        }
        'x' => hex(chars, 2)?,
        'u' if !bytes => hex(chars, 4)?,
        'U' if !bytes => hex(chars, 8)?,
        'N' if !bytes => return None, // named escapes need the Unicode name table
        _ => return Some(Esc::Unknown),
    };
    Some(Esc::Char(c))
}

fn hex(chars: &mut Chars<'_>, n: usize) -> Option<char> {
    let mut v = 0u32;
    for _ in 0..n {
        let (_, d) = chars.next()?;
        v = v * 16 + d.to_digit(16)?;
    }
    char::from_u32(v)
}
