//! POSIX word splitting as Python's `shlex.split(line, comments=True)` does it, which is how Ansible splits an INI
//! host line into the host pattern and its `key=value` words.

use regex::Regex;
use std::sync::LazyLock;

/// Splits `line` into words. `#` outside quotes starts a comment even in the middle of a word (Python's shlex
/// ends the word there), so `pass=ab#cd` yields `pass=ab`.
///
/// Runs of ordinary characters are found with the regex crate and copied whole: a host line of a large
/// inventory is mostly such runs, and a per-character loop is slow in debug builds.
pub(crate) fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false; // a word may be empty yet present: `''`
    let mut quote: Option<char> = None;
    let mut pos = 0;
    loop {
        let special = match quote {
            None => &*OUTSIDE,
            Some('\'') => &*IN_SINGLE,
            Some(_) => &*IN_DOUBLE,
        };
        let Some(m) = special.find_at(line, pos) else {
            if quote.is_some() {
                return Err("no closing quotation".into());
            }
            if pos < line.len() {
                word.push_str(&line[pos..]);
                in_word = true;
            }
            break;
        };
        if m.start() > pos {
            word.push_str(&line[pos..m.start()]);
            in_word = true;
        }
        let c = m.as_str().chars().next().unwrap_or(' ');
        pos = m.end();
        match (quote, c) {
            (None, '#') => break,
            (None, '\'' | '"') => {
                in_word = true;
                quote = Some(c);
            }
            (None, '\\') | (Some('"'), '\\') => {
                let Some(next) = line[pos..].chars().next() else {
                    return Err("no escaped character".into());
                };
                pos += next.len_utf8();
                // Inside double quotes a backslash escapes only `"` and itself; otherwise it stays.
                if quote.is_some() && next != '"' && next != '\\' {
                    word.push('\\');
                }
                word.push(next);
                in_word = true;
            }
            (None, _) => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (Some(_), _) => quote = None,
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[allow(clippy::unwrap_used)] // constant patterns
static OUTSIDE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"[ \t\r\n'"\\#]"#).unwrap());
#[allow(clippy::unwrap_used)]
static IN_SINGLE: LazyLock<Regex> = LazyLock::new(|| Regex::new("'").unwrap());
#[allow(clippy::unwrap_used)]
static IN_DOUBLE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"["\\]"#).unwrap());

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn words_quotes_and_comments() {
        let s = |l: &str| split(l).expect("valid");
        assert_eq!(s("h a=1 b=\"x y\" # c"), ["h", "a=1", "b=x y"]);
        assert_eq!(s("h p=ab#cd e=f"), ["h", "p=ab"]);
        assert_eq!(s("h a='#x' b=\"q\\\"r\\n\""), ["h", "a=#x", "b=q\"r\\n"]);
        assert_eq!(s("h a=\"'03'\" ''"), ["h", "a='03'", ""]);
        assert_eq!(split("h a=\"x").expect_err("unclosed"), "no closing quotation");
    }
}
