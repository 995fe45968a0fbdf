//! INI inventories, read as Ansible's `ini` inventory plugin reads them.
//!
//! Lines before the first section are hosts of `ungrouped`. `[g]` holds host lines, `[g:children]` group names
//! and `[g:vars]` one `key=value` per line. Values are typed with Python literal rules in both host lines and
//! `[g:vars]` (ansible-core 2.19 runs `ast.literal_eval` on both, whatever its docs say about `:vars` being
//! strings). A group may be used in `[p:children]` before its own section; a `[g:vars]` section needs `g` to be
//! declared somewhere in the file.

use super::error::{Fault, InventoryError};
use super::hostrange::expand_host_pattern;
use super::literal::parse_value;
use super::model::{Graph, VarLayer};
use super::shlex;
use regex::Regex;
use std::path::Path;
use std::sync::{Arc, LazyLock};

#[allow(clippy::unwrap_used)] // constant patterns
static SECTION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$").unwrap());
#[allow(clippy::unwrap_used)]
static LINE_BREAK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x{85}\x{2028}\x{2029}]").unwrap());
#[allow(clippy::unwrap_used)]
static GROUP_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^([^:\]\s]+)\s*(?:#.*)?$").unwrap());

#[derive(Clone, Copy, PartialEq)]
enum State {
    Hosts,
    Children,
    Vars,
}

/// A group named before its declaration, kept until the end of the file as Ansible does.
struct Pending {
    name: String,
    line: usize,
    state: State,
    parents: Vec<usize>,
}

/// The groups waiting for their declaration, in the order first named, found by name in one lookup: a chain of
/// 20,000 forward references must cost 20,000 steps, not their square.
#[derive(Default)]
struct PendingSet {
    items: Vec<Option<Pending>>,
    index: std::collections::HashMap<String, usize>,
}

impl PendingSet {
    fn get(&self, name: &str) -> Option<&Pending> {
        self.index.get(name).and_then(|&i| self.items[i].as_ref())
    }
    fn get_mut(&mut self, name: &str) -> Option<&mut Pending> {
        self.index.get(name).and_then(|&i| self.items[i].as_mut())
    }
    fn push(&mut self, p: Pending) {
        self.index.insert(p.name.clone(), self.items.len());
        self.items.push(Some(p));
    }
    fn remove(&mut self, name: &str) -> Option<Pending> {
        self.index.remove(name).and_then(|i| self.items[i].take())
    }
    fn first(&self) -> Option<&Pending> {
        self.items.iter().flatten().next()
    }
}

/// Reads INI inventory text into `graph`.
pub(crate) fn parse(graph: &mut Graph, path: &Path, text: &str) -> Result<(), InventoryError> {
    let mut pending = PendingSet::default();
    let mut group = graph.add_group("ungrouped");
    let mut state = State::Hosts;
    for (n, raw) in py_lines(text).enumerate() {
        let lineno = n + 1;
        let err = |msg: String| InventoryError::syntax(path, lineno, msg);
        let line = raw.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(c) = SECTION.captures(line) {
            let name = &c[1];
            state = match c.get(2).map(|m| m.as_str()) {
                None | Some("hosts") => State::Hosts,
                Some("children") => State::Children,
                Some("vars") => State::Vars,
                Some(other) => {
                    return Err(err(format!(
                        "section [{name}:{other}] has unknown type \"{other}\" (use [{name}], [{name}:children] or [{name}:vars])"
                    )));
                }
            };
            if graph.group(name).is_none() && state == State::Vars && pending.get(name).is_none() {
                pending.push(Pending { name: name.into(), line: lineno, state, parents: Vec::new() });
            }
            group = graph.add_group(name);
            if state != State::Vars
                && let Some(waiting) = pending.get(name).map(|p| p.state)
            {
                if waiting == State::Children {
                    resolve_children(graph, name, &mut pending).map_err(err)?;
                } else {
                    pending.remove(name);
                }
            }
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            return Err(err(format!(
                "invalid section header \"{line}\" (write [group], [group:children] or [group:vars] with no spaces)"
            )));
        }
        match state {
            State::Hosts => host_line(graph, group, line).map_err(|f| f.at(path, lineno))?,
            State::Vars => {
                let Some((k, v)) = line.split_once('=') else {
                    return Err(err(format!("expected key=value in a :vars section, got \"{line}\"")));
                };
                let name = graph.groups[group].name.clone();
                graph.set_var(&name, k.trim(), parse_value(v.trim())).map_err(err)?;
            }
            State::Children => {
                let Some(c) = GROUP_NAME.captures(line) else {
                    return Err(err(format!("expected a group name in a :children section, got \"{line}\"")));
                };
                let child = &c[1];
                if graph.group(child).is_some() {
                    graph.add_child(group, child).map_err(err)?;
                } else if let Some(p) = pending.get_mut(child) {
                    p.parents.push(group);
                } else {
                    pending.push(Pending { name: child.into(), line: lineno, state, parents: vec![group] });
                }
            }
        }
    }
    if let Some(p) = pending.first() {
        let message = match p.state {
            State::Vars => format!(
                "section [{0}:vars] is for group \"{0}\", which is not defined (add a [{0}] section or fix the name)",
                p.name
            ),
            _ => {
                let parent = p.parents.last().map_or("", |&g| graph.groups[g].name.as_str());
                format!(
                    "section [{parent}:children] names group \"{0}\", which is not defined (add a [{0}] section or fix the name)",
                    p.name
                )
            }
        };
        return Err(InventoryError::syntax(path, p.line, message));
    }
    Ok(())
}

/// Links the now-defined group `name` under the parents that named it early; a parent that was itself waiting is
/// resolved as soon as it is linked, depth first, the order Ansible links them in. A work stack stands in for
/// recursion so a long chain of forward references cannot overflow the stack.
fn resolve_children(graph: &mut Graph, name: &str, pending: &mut PendingSet) -> Result<(), String> {
    fn take(pending: &mut PendingSet, name: &str) -> Option<std::vec::IntoIter<usize>> {
        Some(pending.remove(name)?.parents.into_iter())
    }
    let mut stack: Vec<(String, std::vec::IntoIter<usize>)> = Vec::new();
    if let Some(parents) = take(pending, name) {
        stack.push((name.to_string(), parents));
    }
    while let Some((child, parents)) = stack.last_mut() {
        let Some(parent) = parents.next() else {
            stack.pop();
            continue;
        };
        let child = child.clone();
        graph.add_child(parent, &child)?;
        let parent_name = graph.groups[parent].name.clone();
        if pending.get(&parent_name).is_some_and(|p| p.state == State::Children)
            && let Some(parents) = take(pending, &parent_name)
        {
            stack.push((parent_name, parents));
        }
    }
    Ok(())
}

/// `host[:port] [key=value ...]`: the pattern may expand to many hosts, all getting the same vars.
fn host_line(graph: &mut Graph, group: usize, line: &str) -> Result<(), Fault> {
    let words = shlex::split(line).map_err(|e| format!("cannot split host line \"{line}\": {e} (close the quote)"))?;
    let Some(pattern) = words.first() else {
        return Ok(());
    };
    let (hosts, port) = expand_host_pattern(pattern, graph.entry_budget())?;
    if pattern.trim().ends_with(':') && port.is_none() {
        return Err(format!(
            "invalid host pattern \"{pattern}\": a trailing ':' must be followed by a port (write host:PORT or drop the ':')"
        )
        .into());
    }
    if hosts.iter().any(|h| h.trim() == "---") {
        return Err(
            format!("invalid host pattern \"{pattern}\" (\"---\" starts a YAML document; name the file .yml)").into()
        );
    }
    let mut vars = Vec::with_capacity(words.len() - 1);
    for word in &words[1..] {
        let Some((k, v)) = word.split_once('=') else {
            return Err(
                format!("expected key=value after the host name, got \"{word}\" (quote values with spaces)").into()
            );
        };
        vars.push((graph.intern(k), parse_value(v)));
    }
    let vars: VarLayer = Arc::from(vars);
    graph.entries += hosts.len();
    for host in hosts {
        graph.add_host(&host, Some(group), port)?;
        graph.set_host_vars(&host, &vars)?;
    }
    Ok(())
}

/// Python's `str.splitlines`: `\n`, `\r\n` and `\r` (plus a few rarer breaks) end a line. The search runs in the
/// regex crate, which stays fast in debug builds, where a hand loop over every byte would not.
fn py_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut breaks = LINE_BREAK.find_iter(text);
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= text.len() {
            return None;
        }
        let (line, next) = match breaks.next() {
            Some(m) => (&text[start..m.start()], m.end()),
            None => (&text[start..], text.len()),
        };
        start = next;
        Some(line)
    })
}
