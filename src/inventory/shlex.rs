//! POSIX word splitting as Python's `shlex.split(line, comments=True)` does it, which is how Ansible splits an INI
//! host line into the host pattern and its `key=value` words.

/// Splits `line` into words. `#` outside quotes starts a comment even in the middle of a word (Python's shlex
/// ends the word there), so `pass=ab#cd` yields `pass=ab`.
pub(crate) fn split(line: &str) -> Result<Vec<String>, String> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Between,
        Word,
        Quote(char),
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false; // a word may be empty yet present: `''`
    let mut state = State::Between;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match state {
            State::Between | State::Word => match c {
                ' ' | '\t' | '\r' | '\n' => {
                    if in_word {
                        words.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                    state = State::Between;
                }
                '#' => break,
                '\'' | '"' => {
                    in_word = true;
                    state = State::Quote(c);
                }
                '\\' => {
                    let Some(next) = chars.next() else {
                        return Err("no escaped character".into());
                    };
                    word.push(next);
                    in_word = true;
                    state = State::Word;
                }
                _ => {
                    word.push(c);
                    in_word = true;
                    state = State::Word;
                }
            },
            State::Quote(q) if c == q => state = State::Word,
            State::Quote('"') if c == '\\' => {
                let Some(next) = chars.next() else {
                    return Err("no escaped character".into());
                };
                // Inside double quotes a backslash escapes only `"` and itself; otherwise it stays.
                if next != '"' && next != '\\' {
                    word.push('\\');
                }
                word.push(next);
            }
            State::Quote(_) => word.push(c),
        }
    }
    if let State::Quote(_) = state {
        return Err("no closing quotation".into());
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

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
