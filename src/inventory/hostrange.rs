//! Host patterns as inventory files write them: `name`, `name:port`, `[v6::addr]:port`, and ranges such as
//! `web[01:10]`, `db-[a:c]` or `s[1:10:2]`.
//!
//! Ansible first tries to read a pattern as an address with a port; when the part before the port is not a valid
//! host name (say `web_:22`), it keeps the whole text as the host name and sets no port. We do the same, because
//! the point is to agree with `ansible-inventory` byte for byte.

use regex::Regex;
use std::sync::LazyLock;

const RANGE: &str = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]";
const HEX_RANGE: &str = r"\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]";

static BRACKETED_HOSTPORT: LazyLock<Regex> = LazyLock::new(|| rx(r"^\[(.+)\]:([0-9]+)$"));
static HOSTPORT: LazyLock<Regex> = LazyLock::new(|| rx(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$"));
static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    let label = format!(r"(?:\w|{RANGE})(?:[\w-]|{RANGE})*");
    rx(&format!(r"(?i)^{label}(?:\.{label})*$"))
});
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[0-9a-f]{{1,4}}|{HEX_RANGE})");
    let alts = [
        format!("(?:{c}:){{7}}{c}"),
        format!("(?:{c}:){{1,6}}:"),
        format!("(?:{c}:)(?::{c}){{1,6}}"),
        format!("(?:{c}:){{2}}(?::{c}){{1,5}}"),
        format!("(?:{c}:){{3}}(?::{c}){{1,4}}"),
        format!("(?:{c}:){{4}}(?::{c}){{1,3}}"),
        format!("(?:{c}:){{5}}(?::{c}){{1,2}}"),
        format!("(?:{c}:){{6}}(?::{c})"),
        format!(":(?::{c}){{1,6}}"),
        format!("{c}?::"),
        format!(r"(?:0:){{6}}(?:{c}\.){{3}}{c}"),
        format!(r"::(?:ffff:)?(?:{c}\.){{3}}{c}"),
        format!(r"(?:0:){{5}}ffff:(?:{c}\.){{3}}{c}"),
    ];
    rx(&format!("(?i)^(?:{})$", alts.join("|")))
});

fn rx(pattern: &str) -> Regex {
    #[allow(clippy::unwrap_used)] // constant patterns, covered by unit tests
    Regex::new(pattern).unwrap()
}

/// Splits `host[:port]` the way Ansible's `parse_address` does. `None` when the text is not a valid address.
pub(crate) fn parse_address(address: &str) -> Option<(String, Option<u64>)> {
    let mut host = address.to_string();
    let mut port = None;
    for re in [&*BRACKETED_HOSTPORT, &*HOSTPORT] {
        if let Some(c) = re.captures(&host.clone()) {
            port = Some(c[2].parse::<u64>().ok()?);
            host = c[1].to_string();
        }
    }
    if IPV6.is_match(&host) || is_hostname(&host) { Some((host, port)) } else { None }
}

/// Ansible's label rule ends with a look-behind (no label may end in `_` or `-`), which the regex crate lacks, so
/// that part is checked by hand. Labels cannot contain dots, so splitting on them is exact.
fn is_hostname(host: &str) -> bool {
    HOSTNAME.is_match(host) && host.split('.').all(|l| !l.ends_with(['_', '-']))
}

/// Expands one host pattern into host names and the port they share.
pub(crate) fn expand_host_pattern(pattern: &str) -> Result<(Vec<String>, Option<u64>), String> {
    let (name, port) = parse_address(pattern).unwrap_or_else(|| (pattern.to_string(), None));
    let hosts = if name.contains('[') { expand_ranges(&name, pattern)? } else { vec![name] };
    Ok((hosts, port))
}

const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn expand_ranges(line: &str, pattern: &str) -> Result<Vec<String>, String> {
    let bad = |why: &str| format!("invalid host range \"{pattern}\"{why}");
    // Ansible swaps the first `[` and the first `]` for `|` and splits, so any other layout fails.
    let swapped = line.replacen('[', "|", 1).replacen(']', "|", 1);
    let parts: Vec<&str> = swapped.split('|').collect();
    let [head, range, tail] = parts[..] else {
        return Err(bad(" (expected NAME[START:END] or NAME[START:END:STEP])"));
    };
    let bounds: Vec<&str> = range.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err(bad(" (expected [START:END] or [START:END:STEP])"));
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err(bad(": missing end value (expected [START:END])"));
    }
    let step = bounds.get(2).copied();
    // Ansible checks widths first, but naming the bad bound is the more useful message when both apply.
    let letters = LETTERS.contains(beg) && LETTERS.contains(end);
    if !letters && (py_int(beg).is_none() || py_int(end).is_none()) {
        return Err(bad(" (expected [START:END] with numbers or letters)"));
    }
    let width = (beg.starts_with('0') && beg.len() > 1).then_some(beg.len());
    if let Some(w) = width
        && w != end.len()
    {
        return Err(bad(&format!(
            ": \"{beg}\" and \"{end}\" differ in length (zero-padded ranges need equal widths, e.g. [01:10])"
        )));
    }
    let items = match letter_range(beg, end, step) {
        Some(seq) => seq.map_err(|()| bad(&format!(": start \"{beg}\" is after end \"{end}\" (swap them)")))?,
        None => {
            let (Some(b), Some(e), Some(s)) = (py_int(beg), py_int(end), step.map_or(Some(1), py_int)) else {
                return Err(bad(" (expected [START:END] with numbers or letters)"));
            };
            if s == 0 {
                return Err(bad(": step must not be 0"));
            }
            py_range(b, e + 1, s).map(|n| zfill(n, width)).collect()
        }
    };
    let mut hosts = Vec::new();
    for item in items {
        let name = format!("{head}{item}{tail}");
        if name.contains('[') {
            hosts.extend(expand_ranges(&name, pattern)?);
        } else {
            hosts.push(name);
        }
    }
    Ok(hosts)
}

/// `None` when the bounds are not letters (the caller then tries numbers), as Ansible's `ValueError` fallback.
fn letter_range(beg: &str, end: &str, step: Option<&str>) -> Option<Result<Vec<String>, ()>> {
    let i_beg = LETTERS.find(beg)?;
    let i_end = LETTERS.find(end)?;
    if i_beg > i_end {
        return Some(Err(()));
    }
    let step = step.map_or(Some(1), py_int)?;
    if step == 0 {
        return None;
    }
    // A negative step over an ascending slice is empty in Python.
    let seq = if step < 0 {
        Vec::new()
    } else {
        LETTERS[i_beg..=i_end].chars().step_by(step as usize).map(String::from).collect()
    };
    Some(Ok(seq))
}

fn py_range(start: i64, stop: i64, step: i64) -> impl Iterator<Item = i64> {
    let mut n = start;
    std::iter::from_fn(move || {
        let more = if step > 0 { n < stop } else { n > stop };
        more.then(|| {
            let cur = n;
            n += step;
            cur
        })
    })
}

fn zfill(n: i64, width: Option<usize>) -> String {
    let Some(w) = width else { return n.to_string() };
    if n < 0 { format!("-{:0>1$}", n.unsigned_abs(), w.saturating_sub(1)) } else { format!("{n:0>w$}") }
}

/// Python's `int(str)`: surrounding whitespace, a sign, and single underscores between digits.
pub(crate) fn py_int(text: &str) -> Option<i64> {
    let t = text.trim();
    let (neg, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if !clean.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = clean.parse().ok()?;
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(p: &str) -> Vec<String> {
        expand_host_pattern(p).expect("valid pattern").0
    }

    #[test]
    fn addresses_and_ports() {
        assert_eq!(parse_address("web1:2222"), Some(("web1".into(), Some(2222))));
        assert_eq!(parse_address("[fe80::1]:22"), Some(("fe80::1".into(), Some(22))));
        assert_eq!(parse_address("fe80::1"), Some(("fe80::1".into(), None)));
        assert_eq!(parse_address("10.0.0.1"), Some(("10.0.0.1".into(), None)));
        assert_eq!(parse_address("web_"), None);
        assert_eq!(expand_host_pattern("web_:22"), Ok((vec!["web_:22".to_string()], None)));
    }

    #[test]
    fn ranges() {
        assert_eq!(hosts("web[01:03]"), ["web01", "web02", "web03"]);
        assert_eq!(hosts("db-[a:c]"), ["db-a", "db-b", "db-c"]);
        assert_eq!(hosts("s[1:10:4]"), ["s1", "s5", "s9"]);
        assert_eq!(hosts("r[1:2]-[a:b]"), ["r1-a", "r1-b", "r2-a", "r2-b"]);
        assert_eq!(hosts("x[:1]"), ["x0", "x1"]);
        assert_eq!(hosts("x[3:1]"), Vec::<String>::new());
    }

    #[test]
    fn range_errors_name_the_pattern_and_fix() {
        let err = |p: &str| expand_host_pattern(p).expect_err("invalid");
        assert_eq!(err("web[01:x]"), "invalid host range \"web[01:x]\" (expected [START:END] with numbers or letters)");
        assert_eq!(
            err("web[01:5]"),
            "invalid host range \"web[01:5]\": \"01\" and \"5\" differ in length (zero-padded ranges need equal widths, e.g. [01:10])"
        );
        assert_eq!(err("web[1:]"), "invalid host range \"web[1:]\": missing end value (expected [START:END])");
        assert_eq!(err("web[1]"), "invalid host range \"web[1]\" (expected [START:END] or [START:END:STEP])");
        assert_eq!(err("web[1:3"), "invalid host range \"web[1:3\" (expected NAME[START:END] or NAME[START:END:STEP])");
        assert_eq!(err("web[1:3:0]"), "invalid host range \"web[1:3:0]\": step must not be 0");
        assert_eq!(err("w[c:a]"), "invalid host range \"w[c:a]\": start \"c\" is after end \"a\" (swap them)");
    }
}
