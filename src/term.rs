//! Text for a terminal. Host names, paths and remote messages come from inventories and hosts that credpush does
//! not control; printed raw, an ESC or a line separator in them could rewrite what the operator sees. Everything
//! shown to people goes through [`escape`]; JSON output stays exact (serde escapes control characters itself).
//!
//! Everything credpush prints on stdout goes through [`print()`], so a reader that stops early (`| head`) ends the
//! output quietly, as `cat` does, instead of a panic from `println!` with exit code 101.

use std::borrow::Cow;
use std::io::Write;

use crate::error::{Error, Result};

/// True for characters a terminal may act on rather than show: Unicode's control (Cc), format (Cf: bidi
/// overrides, zero-width characters, tags) and line and paragraph separator (Zl, Zp) characters.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{AD}' | '\u{600}'..='\u{605}' | '\u{61C}' | '\u{6DD}' | '\u{70F}' | '\u{8E2}' | '\u{180E}'
            | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}' | '\u{110BD}' | '\u{110CD}' | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E007F}')
}

/// `text` with every unsafe character written as `\u{HEX}`; borrowed when there is none.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Aligns `rows` under `header` in columns two spaces apart; cells must already be escaped. The last column is
/// not padded. Padding is done by hand: a `format!` width is limited to u16, and names can be longer.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let head: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let mut out = String::new();
    for r in std::iter::once(&head).chain(rows) {
        let last = r.len().saturating_sub(1);
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| if i == last { c.clone() } else { format!("{c}{}", " ".repeat(w - c.chars().count())) })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Writes `text` to stdout and flushes it. A closed stdout (EPIPE: the reader is gone) is not an error: the rest
/// of the output is dropped and the command's exit code stays what it was. Rust ignores SIGPIPE, so the write
/// reports EPIPE instead of killing the process. Any other write error (a full disk behind a redirect) is
/// [`Error::Io`], exit code 4.
pub fn print(text: &str) -> Result<()> {
    write(text.as_bytes()).map_err(|e| Error::io("write", "stdout", e))
}

/// [`print()`] for bytes, with the plain I/O error, for callers that report it in their own words.
pub fn write(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            // The Ansible module (built without `cli`, so without tracing) never prints through here.
            #[cfg(feature = "cli")]
            tracing::debug!("stdout is closed; the rest of the output is dropped");
            Ok(())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_every_class_and_keeps_the_rest() {
        assert_eq!(escape("web01 /home/u/.aws/temp.json é 日本"), "web01 /home/u/.aws/temp.json é 日本");
        assert_eq!(escape("a\u{1b}[2Jb\u{7}c\rd"), "a\\u{1b}[2Jb\\u{7}c\\u{d}d");
        assert_eq!(escape("x\u{2028}y\u{2029}z\u{85}"), "x\\u{2028}y\\u{2029}z\\u{85}");
        assert_eq!(escape("\u{202e}txt.exe\u{200b}"), "\\u{202e}txt.exe\\u{200b}");
        assert_eq!(escape("tag\u{E0041}"), "tag\\u{e0041}");
    }
}
