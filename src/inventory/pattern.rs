//! `--limit` patterns, evaluated as Ansible's `InventoryManager.subset` does.
//!
//! A limit is split on `,` (or, when there is no comma and it is not a `host:port` address, on `:`). Plain
//! patterns are unioned first, then `&pattern` intersects, then `!pattern` removes. Each pattern matches group
//! names (all hosts below a matching group) and, when it names no group or uses `~regex` or glob characters,
//! host names too. `web[0]`, `web[1:3]` and `web[2:]` pick hosts by position. The result keeps inventory order.

use super::error::InventoryError;
use super::hostrange::parse_address;
use super::model::{ALL, Graph};
use regex::Regex;
use std::sync::LazyLock;

#[allow(clippy::unwrap_used)] // constant patterns
static SUBSCRIPT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$").unwrap());
#[allow(clippy::unwrap_used)]
static COLON_SPLIT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?:[^\s:\[\]]|\[[^\]]*\])+").unwrap());

/// How `select` treats a limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    /// As `ansible-inventory --list --limit` does: a pattern that matches nothing is ignored. A limit that is not
    /// well formed ([`check`]) is refused, where Ansible's splitter would drop it and list everything. What makes Ansible stop (a bad regex, a missing limit file, a subscript past
    /// the end) is an error, and so is what makes it crash (a bare `&` or `!`).
    List,
    /// For commands that act on the hosts: the limit must be well formed ([`check`]) and every pattern must match
    /// a host or a group.
    Strict,
}

/// Hosts (indices) selected by `limit`, in inventory order.
pub(crate) fn select(graph: &Graph, limit: Option<&str>, mode: Mode) -> Result<Vec<usize>, InventoryError> {
    let all = graph.group_hosts(ALL);
    let Some(limit) = limit else { return Ok(all) };
    let strict = mode == Mode::Strict;
    // A malformed limit (`[`, an unclosed range) is refused in both modes: Ansible's splitter drops it and then
    // lists everything, which reads as if the limit had matched.
    let checked = check(limit)?;
    let split = if strict { checked } else { split_host_pattern(limit) };
    let mut patterns = Vec::new();
    for p in split {
        match p.strip_prefix('@') {
            Some(file) => {
                let limit_file = crate::host::input::read_regular_text(
                    std::path::Path::new(file),
                    crate::host::input::MAX_CONFIG_BYTES,
                );
                let text = limit_file.map_err(|e| InventoryError::BadPattern {
                    pattern: p.clone(),
                    reason: format!("cannot read limit file {file}: {e} (give a readable file of patterns)"),
                })?;
                patterns.extend(text.split('\n').map(|l| l.trim().to_string()));
            }
            None => patterns.push(p),
        }
    }
    let mut chosen = vec![false; graph.hosts.len()];
    for h in evaluate(graph, &patterns, strict)? {
        chosen[h] = true;
    }
    Ok(all.into_iter().filter(|&h| chosen[h]).collect())
}

/// Checks that `limit` is a well-formed pattern and returns its parts. Ansible's splitter silently drops what it
/// cannot read (an empty limit, `a:`, `h[`, a lone `&`), and an empty result means "all hosts", so a typo would
/// select the whole fleet; here each of those is an error naming the limit and the fix.
pub(crate) fn check(limit: &str) -> Result<Vec<String>, InventoryError> {
    let bad = |reason: &str| InventoryError::BadPattern { pattern: limit.to_string(), reason: reason.to_string() };
    if limit.trim().is_empty() {
        return Err(InventoryError::EmptyLimit);
    }
    let parts: Vec<String> = if limit.contains(',') {
        let parts: Vec<String> = limit.split(',').map(|p| p.trim().to_string()).collect();
        if parts.iter().any(String::is_empty) {
            return Err(bad("it has an empty pattern between commas (remove the extra ',')"));
        }
        parts
    } else if parse_address(limit).is_some() {
        vec![limit.trim().to_string()]
    } else {
        colon_split(limit).map_err(|reason| bad(&reason))?
    };
    for p in &parts {
        let bare = p.strip_prefix(['&', '!']).unwrap_or(p);
        let pbad = |reason: &str| InventoryError::BadPattern { pattern: p.clone(), reason: reason.to_string() };
        if bare.is_empty() {
            let example = if p.starts_with('&') { "web:&prod" } else { "all:!web3" };
            return Err(pbad(&format!("'{p}' must be followed by a host, group or pattern (write {example})")));
        }
        if bare == "~" {
            return Err(pbad("'~' must be followed by a regular expression (write ~web0[1-3])"));
        }
        if bare == "@" {
            return Err(pbad("'@' must be followed by the path of a file of patterns (write @retry.txt)"));
        }
        if bare.starts_with('~') {
            compile(bare).map_err(|reason| pbad(&reason))?;
        }
    }
    Ok(parts)
}

/// Ansible's `:`-separated form, read strictly: every character must belong to a pattern, a `[` needs its `]`,
/// and no pattern between colons may be empty. Whitespace separates patterns, as in Ansible.
fn colon_split(limit: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    // True at the start and after a ':', until a pattern follows.
    let mut need = true;
    let mut chars = limit.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '[' => match limit[i..].find(']') {
                Some(len) => {
                    cur.push_str(&limit[i..=i + len]);
                    for _ in 0..limit[i..i + len].chars().count() {
                        chars.next();
                    }
                }
                None => return Err("'[' has no closing ']' (close the bracket)".into()),
            },
            ']' => return Err("']' has no opening '[' (remove it or add the '[')".into()),
            ':' | ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c' => {
                if !cur.is_empty() {
                    parts.push(std::mem::take(&mut cur));
                    need = false;
                }
                if c == ':' {
                    if need {
                        return Err("it has an empty pattern before a ':' (remove the extra ':')".into());
                    }
                    need = true;
                }
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    parts.push(std::mem::take(&mut cur));
                    need = false;
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        parts.push(cur);
        need = false;
    }
    if need {
        return Err("it ends with ':' and no pattern after it (remove the trailing ':')".into());
    }
    Ok(parts)
}

/// Ansible's `split_host_pattern`.
pub(crate) fn split_host_pattern(pattern: &str) -> Vec<String> {
    let parts: Vec<String> = if pattern.contains(',') {
        pattern.split(',').map(str::to_string).collect()
    } else if parse_address(pattern).is_some() {
        vec![pattern.to_string()]
    } else {
        COLON_SPLIT.find_iter(pattern).map(|m| m.as_str().to_string()).collect()
    };
    parts.into_iter().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()
}

fn evaluate(graph: &Graph, patterns: &[String], strict: bool) -> Result<Vec<usize>, InventoryError> {
    let nonempty = patterns.iter().filter(|p| !p.is_empty());
    let mut regular: Vec<&str> = nonempty.clone().filter(|p| !p.starts_with(['!', '&'])).map(String::as_str).collect();
    if regular.is_empty() {
        regular.push("all");
    }
    let ordered = regular
        .into_iter()
        .chain(nonempty.clone().filter(|p| p.starts_with('&')).map(String::as_str))
        .chain(nonempty.filter(|p| p.starts_with('!')).map(String::as_str));
    let mut hosts: Vec<usize> = Vec::new();
    let mut member = vec![false; graph.hosts.len()];
    for p in ordered {
        if let Some(h) = graph.host(p) {
            if !std::mem::replace(&mut member[h], true) {
                hosts.push(h);
            }
            continue;
        }
        let mut that = vec![false; graph.hosts.len()];
        let matched = match_one(graph, p, strict)?;
        for &h in &matched {
            that[h] = true;
        }
        if p.starts_with('!') || p.starts_with('&') {
            let keep_matches = p.starts_with('&');
            hosts.retain(|&h| that[h] == keep_matches);
            member.fill(false);
            for &h in &hosts {
                member[h] = true;
            }
        } else {
            for h in matched {
                if !std::mem::replace(&mut member[h], true) {
                    hosts.push(h);
                }
            }
        }
    }
    Ok(hosts)
}

fn match_one(graph: &Graph, pattern: &str, strict: bool) -> Result<Vec<usize>, InventoryError> {
    let bare = pattern.strip_prefix(['&', '!']).unwrap_or(pattern);
    if bare.is_empty() {
        // Ansible fails with an internal error here ("string index out of range").
        return Err(InventoryError::BadPattern {
            pattern: pattern.to_string(),
            reason: format!("'{pattern}' must be followed by a host, group or pattern"),
        });
    }
    let (expr, subscript) = split_subscript(bare);
    let hosts = enumerate(graph, expr, strict)?;
    if hosts.is_empty() {
        return Ok(hosts);
    }
    let len = hosts.len() as i64;
    match subscript {
        None => Ok(hosts),
        // Ansible treats an end of 0 as "no end" and picks a single host.
        Some((start, Some(end))) if end != 0 => {
            let end = if end == -1 { len - 1 } else { end };
            let (from, to) = (start.min(len) as usize, (end + 1).clamp(0, len) as usize);
            Ok(if from < to { hosts[from..to].to_vec() } else { Vec::new() })
        }
        Some((index, _)) => {
            let at = if index < 0 { len + index } else { index };
            // Ansible stops here too ("No hosts matched the subscripted pattern").
            match usize::try_from(at).ok().and_then(|i| hosts.get(i)) {
                Some(&h) => Ok(vec![h]),
                None => Err(InventoryError::BadPattern {
                    pattern: bare.to_string(),
                    reason: format!("index {index} is out of range: it matches {len} hosts (count from 0)"),
                }),
            }
        }
    }
}

/// `(expr, Some((start, end)))` for `expr[start]` (end `None`) or `expr[start:end]` (end `-1` when open).
fn split_subscript(pattern: &str) -> (&str, Option<(i64, Option<i64>)>) {
    if pattern.starts_with('~') {
        return (pattern, None);
    }
    let Some(c) = SUBSCRIPT.captures(pattern) else {
        return (pattern, None);
    };
    let expr = c.get(1).map_or(pattern, |m| m.as_str());
    let num = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<i64>().ok());
    match num(2) {
        Some(idx) => (expr, Some((idx, None))),
        None => (expr, Some((num(3).unwrap_or(0), Some(num(5).unwrap_or(-1))))),
    }
}

fn enumerate(graph: &Graph, pattern: &str, strict: bool) -> Result<Vec<usize>, InventoryError> {
    // Ansible stops on a bad regex too ("Invalid host list pattern").
    let re = compile(pattern).map_err(|reason| InventoryError::BadPattern { pattern: pattern.into(), reason })?;
    let mut results = Vec::new();
    let groups: Vec<usize> = (0..graph.groups.len()).filter(|&g| re.is_match(&graph.groups[g].name)).collect();
    for &g in &groups {
        results.extend(graph.group_hosts(g));
    }
    if groups.is_empty() || pattern.starts_with('~') || pattern.contains(['.', '?', '*', '[']) {
        results.extend((0..graph.hosts.len()).filter(|&h| re.is_match(&graph.hosts[h].name)));
    }
    if strict && results.is_empty() && groups.is_empty() && pattern != "all" {
        return Err(InventoryError::NoMatch { pattern: pattern.into() });
    }
    Ok(results)
}

/// `~regex` matches from the start of the name (Python's `re.match`); anything else is a shell glob matching
/// the whole name (Python's `fnmatch`).
fn compile(pattern: &str) -> Result<Regex, String> {
    let source = match pattern.strip_prefix('~') {
        Some(re) => format!(r"\A(?:{re})"),
        None => format!(r"(?s)\A(?:{})\z", glob_to_regex(pattern)),
    };
    Regex::new(&source).map_err(|e| {
        format!("{} (check the regular expression)", e.to_string().lines().last().unwrap_or("bad regex").trim())
    })
}

fn glob_to_regex(glob: &str) -> String {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str(r"\[");
                    continue;
                }
                let stuff = &chars[i..j];
                i = j + 1;
                let (negate, body) = match stuff.first() {
                    Some('!') => (true, &stuff[1..]),
                    _ => (false, stuff),
                };
                if body.is_empty() {
                    out.push_str(if negate { "." } else { "[^\\s\\S]" });
                    continue;
                }
                out.push('[');
                if negate {
                    out.push('^');
                }
                for ch in body {
                    if *ch == '-' {
                        out.push('-');
                    } else {
                        out.push_str(&regex::escape(&ch.to_string()));
                    }
                }
                out.push(']');
            }
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    out
}
