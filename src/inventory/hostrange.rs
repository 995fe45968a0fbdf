//! Host patterns as inventory files write them: `name`, `name:port`, `[v6::addr]:port`, and ranges such as
//! `web[01:10]`, `db-[a:c]` or `s[1:10:2]`.
//!
//! Ansible first tries to read a pattern as an address with a port; when the part before the port is not a valid
//! host name (say `web_:22`), it keeps the whole text as the host name and sets no port. We do the same, because
//! the point is to agree with `ansible-inventory` byte for byte.

use super::error::Fault;
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
    // Without a ':' there is no port and no IPv6 address, so only the host name rule applies; this is the
    // common case, and skipping the other patterns matters for large inventories.
    if !address.contains(':') {
        return is_hostname(address).then(|| (address.to_string(), None));
    }
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

/// The most host entries all sources of one inventory may produce together: a name produced by a host line or
/// a YAML `hosts:` key counts once per time it is produced, so a host listed in three groups counts three times.
/// Real fleets stay far below it (the benchmark's 100,000 hosts produce about 110,000 entries); it exists so a
/// range such as `h[0:9999999999]`, or the same range repeated on many lines, ends in an error instead of
/// exhausting memory or time.
pub const MAX_HOST_ENTRIES: usize = 1_000_000;

/// Range bounds longer than this are refused rather than computed with (Python would accept them, and then make
/// a range no machine can hold).
const MAX_BOUND_DIGITS: usize = 30;

/// Expands one host pattern into host names and the port they share, producing at most `limit` names.
pub(crate) fn expand_host_pattern(pattern: &str, limit: usize) -> Result<(Vec<String>, Option<u64>), Fault> {
    let (name, port) = parse_address(pattern).unwrap_or_else(|| (pattern.to_string(), None));
    let hosts = if name.contains('[') { expand_ranges(&name, pattern, limit)? } else { vec![name] };
    if hosts.len() > limit {
        return Err(too_many(pattern));
    }
    Ok((hosts, port))
}

fn too_many(pattern: &str) -> Fault {
    Fault::Limit(format!(
        "host pattern \"{pattern}\" takes the inventory past {MAX_HOST_ENTRIES} host entries, the limit for all sources together (narrow the range or split the inventory)"
    ))
}

const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// One `[START:END:STEP]` of a name, as a sequence that is counted before anything is allocated.
enum Items {
    Letters(Vec<char>),
    Numbers { start: i128, step: i128, count: u128, width: Option<usize> },
}

impl Items {
    fn count(&self) -> u128 {
        match self {
            Items::Letters(v) => v.len() as u128,
            Items::Numbers { count, .. } => *count,
        }
    }

    fn get(&self, i: usize) -> String {
        match self {
            Items::Letters(v) => v[i].to_string(),
            Items::Numbers { start, step, width, .. } => zfill(start + step * i as i128, *width),
        }
    }
}

/// Ansible expands the first range and then re-reads the result for more. The text before the first range holds
/// no brackets, so the ranges after it expand the same way whatever the first one produced: expanding the tail
/// once and combining gives the same names in the same order, and lets the total be checked before it is built.
fn expand_ranges(line: &str, pattern: &str, limit: usize) -> Result<Vec<String>, Fault> {
    let bad = |why: &str| format!("invalid host range \"{pattern}\"{why}");
    // Ansible swaps the first `[` and the first `]` for `|` and splits, so any other layout fails.
    let swapped = line.replacen('[', "|", 1).replacen(']', "|", 1);
    let parts: Vec<&str> = swapped.split('|').collect();
    let [head, range, tail] = parts[..] else {
        return Err(bad(" (expected NAME[START:END] or NAME[START:END:STEP])").into());
    };
    let items = range_items(range, &bad)?;
    if items.count() == 0 {
        // Ansible never looks at the rest of the name when the first range is empty, so neither do we.
        return Ok(Vec::new());
    }
    let tails = if tail.contains('[') { expand_ranges(tail, pattern, limit)? } else { vec![tail.to_string()] };
    let total = items.count().saturating_mul(tails.len() as u128);
    if total > limit as u128 {
        return Err(too_many(pattern));
    }
    let mut hosts = Vec::with_capacity(total as usize);
    for i in 0..items.count() as usize {
        let item = items.get(i);
        for t in &tails {
            hosts.push(format!("{head}{item}{t}"));
        }
    }
    Ok(hosts)
}

fn range_items(range: &str, bad: &dyn Fn(&str) -> String) -> Result<Items, String> {
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
    for b in std::iter::once(beg).chain(std::iter::once(end)).chain(step) {
        if py_int_digits(b).is_some_and(|d| d > MAX_BOUND_DIGITS) {
            return Err(bad(&format!(": \"{b}\" has more than {MAX_BOUND_DIGITS} digits (use smaller numbers)")));
        }
    }
    // Ansible checks widths first, but naming the bad bound is the more useful message when both apply.
    let letters = LETTERS.contains(beg) && LETTERS.contains(end);
    if !letters && (py_int_wide(beg).is_none() || py_int_wide(end).is_none()) {
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
    if let Some(seq) = letter_range(beg, end, step) {
        return seq
            .map(Items::Letters)
            .map_err(|()| bad(&format!(": start \"{beg}\" is after end \"{end}\" (swap them)")));
    }
    let (Some(b), Some(e), Some(s)) = (py_int_wide(beg), py_int_wide(end), step.map_or(Some(1), py_int_wide)) else {
        return Err(bad(" (expected [START:END] with numbers or letters)"));
    };
    if s == 0 {
        return Err(bad(": step must not be 0"));
    }
    // Python's `range(b, e + 1, s)`, counted without building it. Bounds have at most 30 digits, so none of this
    // overflows an i128.
    let stop = e + 1;
    let count = if s > 0 && b < stop {
        (stop - b - 1) / s + 1
    } else if s < 0 && b > stop {
        (b - stop - 1) / -s + 1
    } else {
        0
    };
    Ok(Items::Numbers { start: b, step: s, count: count as u128, width })
}

/// `None` when the bounds are not letters (the caller then tries numbers), as Ansible's `ValueError` fallback.
fn letter_range(beg: &str, end: &str, step: Option<&str>) -> Option<Result<Vec<char>, ()>> {
    let i_beg = LETTERS.find(beg)?;
    let i_end = LETTERS.find(end)?;
    if i_beg > i_end {
        return Some(Err(()));
    }
    let step = step.map_or(Some(1), py_int_wide)?;
    if step == 0 {
        return None;
    }
    // A negative step over an ascending slice is empty in Python.
    let seq = if step < 0 {
        Vec::new()
    } else {
        LETTERS[i_beg..=i_end].chars().step_by(usize::try_from(step).unwrap_or(usize::MAX)).collect()
    };
    Some(Ok(seq))
}

fn zfill(n: i128, width: Option<usize>) -> String {
    let Some(w) = width else { return n.to_string() };
    if n < 0 { format!("-{:0>1$}", n.unsigned_abs(), w.saturating_sub(1)) } else { format!("{n:0>w$}") }
}

/// Python's `int(str)` for what fits an `i64`: surrounding whitespace, a sign, and single underscores between
/// digits.
pub(crate) fn py_int(text: &str) -> Option<i64> {
    py_int_wide(text).and_then(|v| i64::try_from(v).ok())
}

/// The number of digits of `text` when it is a Python int, however large.
fn py_int_digits(text: &str) -> Option<usize> {
    py_int_parts(text).map(|(_, digits)| digits.len())
}

fn py_int_wide(text: &str) -> Option<i128> {
    let (neg, digits) = py_int_parts(text)?;
    if digits.len() > MAX_BOUND_DIGITS {
        return None;
    }
    let v: i128 = digits.parse().ok()?;
    Some(if neg { -v } else { v })
}

fn py_int_parts(text: &str) -> Option<(bool, String)> {
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
    clean.bytes().all(|b| b.is_ascii_digit()).then_some((neg, clean))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(p: &str) -> Vec<String> {
        expand_host_pattern(p, MAX_HOST_ENTRIES).expect("valid pattern").0
    }

    #[test]
    fn addresses_and_ports() {
        assert_eq!(parse_address("web1:2222"), Some(("web1".into(), Some(2222))));
        assert_eq!(parse_address("[fe80::1]:22"), Some(("fe80::1".into(), Some(22))));
        assert_eq!(parse_address("fe80::1"), Some(("fe80::1".into(), None)));
        assert_eq!(parse_address("10.0.0.1"), Some(("10.0.0.1".into(), None)));
        assert_eq!(parse_address("web_"), None);
        assert_eq!(expand_host_pattern("web_:22", 1), Ok((vec!["web_:22".to_string()], None)));
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
        let err = |p: &str| match expand_host_pattern(p, MAX_HOST_ENTRIES).expect_err("invalid") {
            Fault::Syntax(m) => m,
            Fault::Limit(m) => panic!("{p}: a syntax error, not a limit: {m}"),
        };
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

    #[test]
    fn range_arithmetic_cannot_overflow() {
        assert_eq!(hosts("h[10:1:-3]"), ["h10", "h7", "h4"]);
        assert_eq!(hosts("h[-2:1]"), ["h-2", "h-1", "h0", "h1"]);
        assert_eq!(hosts("h[1:3:-1]"), Vec::<String>::new());
        assert_eq!(hosts("h[a:z:100]"), ["ha"]);
        assert_eq!(hosts("h[a:z:99999999999999999999]"), ["ha"]);
        assert_eq!(hosts("h[a:c:-1]"), Vec::<String>::new());
        assert_eq!(hosts("h[9223372036854775807:9223372036854775807]"), ["h9223372036854775807"]);
        assert_eq!(hosts("h[9223372036854775806:9223372036854775807:9223372036854775807]"), ["h9223372036854775806"]);
        assert_eq!(hosts("h[-9223372036854775808:-9223372036854775807]").len(), 2);
        // Python never reads past an empty first range, so neither do we.
        assert_eq!(hosts("h[3:1]x[1:"), Vec::<String>::new());
        let err = expand_host_pattern("h[0:1000000000000000000000000000000]", 10).expect_err("31 digits");
        assert_eq!(
            err,
            Fault::Syntax(
                "invalid host range \"h[0:1000000000000000000000000000000]\": \"1000000000000000000000000000000\" has more than 30 digits (use smaller numbers)"
                    .into()
            )
        );
    }

    #[test]
    fn ranges_are_counted_before_they_are_built() {
        let limit = |p: &str, n: usize| match expand_host_pattern(p, n) {
            Err(Fault::Limit(m)) => m,
            other => panic!("{p}: expected the host limit, got {other:?}"),
        };
        let msg = limit("h[0:9999999999:1]", MAX_HOST_ENTRIES);
        assert_eq!(
            msg,
            "host pattern \"h[0:9999999999:1]\" takes the inventory past 1000000 host entries, the limit for all sources together (narrow the range or split the inventory)"
        );
        limit("h[0:9223372036854775807]", MAX_HOST_ENTRIES);
        limit("h[-999999999999999999999999999999:999999999999999999999999999999]", MAX_HOST_ENTRIES);
        // Each range alone fits; together they make 10^12 names, refused before any is built.
        limit("a[0:999999]b[0:999999]", MAX_HOST_ENTRIES);
        limit("a[0:999999]b[a:z]c[0:99]", MAX_HOST_ENTRIES);
        assert_eq!(hosts("h[1:10]").len(), 10);
        assert!(expand_host_pattern("h[1:10]", 10).is_ok());
        limit("h[1:10]", 9);
        limit("plain", 0);
    }
}
