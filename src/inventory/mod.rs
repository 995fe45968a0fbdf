//! Ansible inventories (INI and YAML), parsed as Ansible parses them.
//!
//! The goal is agreement with `ansible-inventory` from ansible-core 2.19: the same hosts, groups and merged
//! vars, so that `credpush inventory -i INV --list` prints what `ansible-inventory -i INV --list` prints, and
//! `--limit` selects the hosts Ansible would. The integration tests compare both on a corpus of inventories.
//!
//! ```no_run
//! # fn main() -> Result<(), credpush::inventory::InventoryError> {
//! use credpush::inventory::Inventory;
//! let inv = Inventory::load(&["inventory/".into()])?;
//! for host in inv.select(Some("web:&prod"))? {
//!     let vars = inv.host_vars(&host);
//!     println!("{host} port {:?}", vars.get("ansible_port"));
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Layout: `model` holds the graph; `ini` and `yaml` fill it (`yaml11` and `scalar11` type YAML the PyYAML
//! way, `literal` types INI values the Python way); `vars` layers group and host vars; `pattern` evaluates
//! `--limit`; `source` decides which files are read and in which format.

mod error;
mod hostrange;
mod ini;
mod literal;
mod model;
mod pattern;
mod pynum;
mod pystr;
mod scalar11;
mod shlex;
mod source;
mod vars;
mod yaml;
mod yaml11;

pub use error::InventoryError;

use model::{ALL, Graph};
use serde_json::{Map, Value, json};
use std::path::PathBuf;

/// A loaded inventory: hosts, groups and vars from one or more sources, with `group_vars/` and `host_vars/`.
#[derive(Debug, Clone)]
pub struct Inventory {
    graph: Graph,
    files: Vec<vars::DirVars>,
}

impl Inventory {
    /// Loads and merges inventory sources, in order, as `ansible-inventory -i A -i B` does. Each source is an
    /// INI file, a YAML/JSON file, or a directory of them; `group_vars/` and `host_vars/` beside each source (or
    /// inside a directory source) are read too.
    ///
    /// Unlike Ansible, which warns and carries on, a source that is missing or malformed is an error naming the
    /// file and line.
    pub fn load(sources: &[PathBuf]) -> Result<Inventory, InventoryError> {
        let mut graph = Graph::new();
        for source in sources {
            source::read_source(&mut graph, source)?;
        }
        graph.reconcile();
        let files =
            sources.iter().map(|s| vars::load_dir(&source::vars_base(s), &graph)).collect::<Result<Vec<_>, _>>()?;
        Ok(Inventory { graph, files })
    }

    /// The hosts that `--limit LIMIT` selects (all hosts for `None`), in Ansible's order: hosts of `all`'s
    /// direct child groups first, then those of deeper groups.
    ///
    /// Patterns: host names, globs (`web*`), group names, `~regex`, `all` or `*`, joined by `,` or `:`, with
    /// `&` to intersect and `!` to exclude (`web:&prod:!web3`), and `group[0]`/`group[1:3]` subscripts. A
    /// pattern that matches no host and no group is an error naming it (Ansible only warns), as is a bad regex.
    pub fn select(&self, limit: Option<&str>) -> Result<Vec<String>, InventoryError> {
        let hosts = pattern::select(&self.graph, limit, true)?;
        Ok(hosts.into_iter().map(|h| self.graph.hosts[h].name.clone()).collect())
    }

    /// Every host name, in inventory order.
    pub fn hosts(&self) -> Vec<String> {
        self.graph.group_hosts(ALL).into_iter().map(|h| self.graph.hosts[h].name.clone()).collect()
    }

    /// The merged vars of `host`, as `ansible-inventory --list` shows them in `_meta.hostvars` (empty for an
    /// unknown host): `all` < parent groups < child groups (by depth, then
    /// `ansible_group_priority`, then name) < `group_vars/` files < the host's own vars < `host_vars/` files.
    pub fn host_vars(&self, host: &str) -> Map<String, Value> {
        match self.graph.host(host) {
            Some(h) => vars::host_vars(&self.graph, &self.files, h),
            None => Map::new(),
        }
    }

    /// What `ansible-inventory --list [--limit LIMIT]` prints: one entry per non-empty group with `hosts` and
    /// `children`, `all` with its children only, and `_meta.hostvars` for selected hosts that have vars.
    ///
    /// The limit is applied as `ansible-inventory` applies it, ignoring patterns that match nothing; call
    /// [`Inventory::select`] first to reject such limits.
    pub fn to_list_json(&self, limit: Option<&str>) -> Value {
        let g = &self.graph;
        let selected = pattern::select(g, limit, false).unwrap_or_default();
        let mut is_selected = vec![false; g.hosts.len()];
        for &h in &selected {
            is_selected[h] = true;
        }
        let mut out = Map::new();
        let mut seen = vec![false; g.groups.len()];
        self.format_group(ALL, &is_selected, &mut seen, &mut out);
        let mut hostvars = Map::new();
        for &h in &selected {
            let v = vars::host_vars(g, &self.files, h);
            if !v.is_empty() {
                hostvars.insert(g.hosts[h].name.clone(), Value::Object(v));
            }
        }
        out.insert("_meta".into(), json!({ "hostvars": hostvars, "profile": "inventory_legacy" }));
        Value::Object(out)
    }

    fn format_group(&self, g: usize, selected: &[bool], seen: &mut [bool], out: &mut Map<String, Value>) {
        let group = &self.graph.groups[g];
        let mut entry = Map::new();
        if g != ALL {
            let hosts: Vec<Value> = group
                .hosts
                .iter()
                .filter(|&&h| selected[h])
                .map(|&h| Value::String(self.graph.hosts[h].name.clone()))
                .collect();
            if !hosts.is_empty() {
                entry.insert("hosts".into(), Value::Array(hosts));
            }
        }
        let children: Vec<Value> =
            group.children.iter().map(|&c| Value::String(self.graph.groups[c].name.clone())).collect();
        for &c in &group.children {
            if !seen[c] {
                self.format_group(c, selected, seen, out);
                seen[c] = true;
            }
        }
        if !children.is_empty() {
            entry.insert("children".into(), Value::Array(children));
        }
        if !entry.is_empty() {
            out.insert(group.name.clone(), Value::Object(entry));
        }
    }
}

#[cfg(test)]
mod tests;
