//! YAML (and JSON) inventories, read as Ansible's `yaml` inventory plugin reads them: top-level keys are groups,
//! each with optional `hosts`, `children` and `vars` mappings; host keys are patterns (`web[1:3]`, `db:2222`).
//!
//! Where Ansible only warns (a group whose value is not a mapping, an unknown key in a group) we skip the entry
//! as it does, so the resulting inventory is the same.

use super::error::InventoryError;
use super::hostrange::expand_host_pattern;
use super::model::{Graph, VarLayer};
use super::pynum::{float_repr, int_value};
use super::yaml11::{Kind, Node};
use serde_json::{Map, Number, Value};
use std::path::Path;
use std::sync::Arc;

/// Reads a parsed YAML inventory document into `graph`.
pub(crate) fn parse(graph: &mut Graph, path: &Path, root: Option<Node>) -> Result<(), InventoryError> {
    let root = match root {
        Some(n) if !is_empty(&n) => n,
        _ => {
            return Err(InventoryError::file(path, "empty YAML inventory (add an `all:` group with hosts)"));
        }
    };
    let Kind::Map(groups) = root.kind else {
        return Err(InventoryError::syntax(
            path,
            root.line,
            "a YAML inventory must be a mapping of group names (start with `all:`)",
        ));
    };
    if groups.iter().any(|(k, v)| k.kind == Kind::Str("plugin".into()) && !is_empty(v)) {
        return Err(InventoryError::file(
            path,
            "this is an inventory plugin config (`plugin:` key), which credpush cannot run (use a static INI or YAML inventory)",
        ));
    }
    for (name, data) in groups {
        group(graph, path, &name, data)?;
    }
    Ok(())
}

/// Python truthiness, which Ansible uses to tell "no data" from data.
pub(crate) fn is_empty(n: &Node) -> bool {
    match &n.kind {
        Kind::Null => true,
        Kind::Bool(b) => !b,
        Kind::Str(s) => s.is_empty(),
        Kind::Seq(v) => v.is_empty(),
        Kind::Map(v) => v.is_empty(),
        Kind::Int(i) => i == "0",
        Kind::Float(f) => *f == 0.0,
        Kind::Unsafe(s) | Kind::Vault(s) => s.is_empty(),
    }
}

/// Returns the group's name; a group whose value is not a mapping is skipped (Ansible warns) but still named.
fn group(graph: &mut Graph, path: &Path, key: &Node, data: Node) -> Result<String, InventoryError> {
    let err = |line: usize, msg: String| InventoryError::syntax(path, line, msg);
    let name = match &key.kind {
        Kind::Str(s) | Kind::Unsafe(s) if !s.is_empty() => s.clone(),
        _ => {
            return Err(err(key.line, format!("group name {} must be a non-empty string (quote it)", show(key))));
        }
    };
    let sections = match data.kind {
        Kind::Map(pairs) => pairs,
        Kind::Null => {
            graph.add_group(&name);
            return Ok(name);
        }
        _ => return Ok(name),
    };
    let g = graph.add_group(&name);
    for (k, v) in sections {
        let Kind::Str(section) = &k.kind else {
            continue;
        };
        // A bare string stands for a one-entry mapping: `hosts: web1`.
        let v = match v.kind {
            Kind::Str(s) => {
                Node { line: v.line, kind: Kind::Map(vec![(Node { line: v.line, kind: Kind::Str(s) }, null(v.line))]) }
            }
            _ => v,
        };
        let entries = match v.kind {
            Kind::Map(entries) => entries,
            Kind::Null => continue,
            _ if matches!(section.as_str(), "hosts" | "children" | "vars") => {
                return Err(err(
                    v.line,
                    format!(
                        "\"{section}\" of group \"{name}\" must be a mapping (write `{section}:` followed by indented `key:` lines)"
                    ),
                ));
            }
            _ => continue,
        };
        match section.as_str() {
            "vars" => {
                for (var, value) in entries {
                    graph.set_var(&name, &key_string(&var), to_json(&value)).map_err(|m| err(var.line, m))?;
                }
            }
            "children" => {
                for (child_key, child_data) in entries {
                    let line = child_key.line;
                    let child = group(graph, path, &child_key, child_data)?;
                    graph.add_child(g, &child).map_err(|m| err(line, m))?;
                }
            }
            "hosts" => {
                for (pattern, vars) in entries {
                    let line = pattern.line;
                    let Kind::Str(p) = &pattern.kind else {
                        return Err(err(
                            line,
                            format!("host pattern {} must be a string (quote numbers)", show(&pattern)),
                        ));
                    };
                    let (hosts, port) = expand_host_pattern(p, graph.entry_budget()).map_err(|f| f.at(path, line))?;
                    let vars = match vars.kind {
                        Kind::Map(v) => v,
                        // Ansible reads `vars or {}`, so any falsy value means no vars.
                        _ if is_empty(&vars) => Vec::new(),
                        _ => {
                            return Err(err(
                                vars.line,
                                format!("vars of host \"{p}\" must be a mapping of name: value"),
                            ));
                        }
                    };
                    graph.entries += hosts.len();
                    let first_line = vars.first().map_or(line, |(k, _)| k.line);
                    let vars: Vec<_> = vars.iter().map(|(k, v)| (graph.intern(&key_string(k)), to_json(v))).collect();
                    let vars: VarLayer = Arc::from(vars);
                    for host in hosts {
                        graph.add_host(&host, Some(g), port).map_err(|m| err(line, m))?;
                        graph.set_host_vars(&host, &vars).map_err(|m| err(first_line, m))?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(name)
}

fn null(line: usize) -> Node {
    Node { line, kind: Kind::Null }
}

fn show(n: &Node) -> String {
    to_json(n).to_string()
}

/// The key as Python's `json.dumps` writes a non-string dict key.
pub(crate) fn key_string(n: &Node) -> String {
    match &n.kind {
        Kind::Str(s) | Kind::Unsafe(s) | Kind::Vault(s) => s.clone(),
        Kind::Null => "null".into(),
        Kind::Bool(b) => b.to_string(),
        Kind::Int(i) => i.clone(),
        Kind::Float(f) => float_repr(*f),
        _ => show(n),
    }
}

/// A YAML value as `ansible-inventory` prints it. `.inf`/`.nan` have no JSON form (Python prints `Infinity`,
/// which is not JSON); they become null.
pub(crate) fn to_json(n: &Node) -> Value {
    match &n.kind {
        Kind::Null => Value::Null,
        Kind::Bool(b) => Value::Bool(*b),
        Kind::Int(i) => int_value(i),
        Kind::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Kind::Str(s) => Value::String(s.clone()),
        Kind::Unsafe(s) => wrap("__ansible_unsafe", s),
        Kind::Vault(s) => wrap("__ansible_vault", s),
        Kind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Kind::Map(pairs) => Value::Object(pairs.iter().map(|(k, v)| (key_string(k), to_json(v))).collect()),
    }
}

fn wrap(key: &str, s: &str) -> Value {
    let mut m = Map::new();
    m.insert(key.into(), Value::String(s.into()));
    Value::Object(m)
}
