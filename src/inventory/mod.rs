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
//! `--limit`; `source` decides which files are read and in which format; `list` renders `--list`.

mod error;
mod hostrange;
mod ini;
pub mod list;
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
pub use hostrange::MAX_HOST_ENTRIES;
pub use yaml11::{MAX_ALIAS_BYTES, MAX_ALIAS_NODES};

use model::{ALL, Graph};
use serde_json::{Map, Value};
use std::path::PathBuf;

/// A loaded inventory: hosts, groups and vars from one or more sources, with `group_vars/` and `host_vars/`.
#[derive(Debug, Clone)]
pub struct Inventory {
    graph: Graph,
    files: Vec<vars::DirVars>,
    sources: Vec<PathBuf>,
}

/// Checks that a `--limit` value is a well-formed pattern, without an inventory: not empty, no empty part
/// (`a:`, `a,,b`), brackets closed (`h[`), something after `&`, `!`, `~` and `@`, and a `~regex` that compiles.
/// [`Inventory::select`] runs the same check; this lets a command refuse a bad limit before reading any file.
pub fn check_limit(limit: &str) -> Result<(), InventoryError> {
    pattern::check(limit).map(|_| ())
}

impl Inventory {
    /// Loads and merges inventory sources, in order, as `ansible-inventory -i A -i B` does. Each source is an
    /// INI file, a YAML/JSON file, or a directory of them; `group_vars/` and `host_vars/` beside each source (or
    /// inside a directory source) are read too.
    ///
    /// Unlike Ansible, which warns and carries on, a source that is missing or malformed is an error naming the
    /// file and line. So is one past the bounds that keep hostile input from exhausting the machine:
    /// [`MAX_HOST_ENTRIES`] host entries for all sources together, and [`MAX_ALIAS_NODES`] nodes or
    /// [`MAX_ALIAS_BYTES`] bytes of text added by YAML aliases in one file.
    pub fn load(sources: &[PathBuf]) -> Result<Inventory, InventoryError> {
        let mut graph = Graph::new();
        for source in sources {
            source::read_source(&mut graph, source)?;
        }
        graph.reconcile();
        let files =
            sources.iter().map(|s| vars::load_dir(&source::vars_base(s), &graph)).collect::<Result<Vec<_>, _>>()?;
        Ok(Inventory { graph, files, sources: sources.to_vec() })
    }

    /// The hosts that `--limit LIMIT` selects (all hosts for `None`), in Ansible's order: hosts of `all`'s
    /// direct child groups first, then those of deeper groups. Never empty: this is the entry point for commands
    /// that act on hosts.
    ///
    /// Patterns: host names, globs (`web*`), group names, `~regex`, `all` or `*`, joined by `,` or `:`, with
    /// `&` to intersect and `!` to exclude (`web:&prod:!web3`), `group[0]`/`group[1:3]` subscripts, and
    /// `@file` for one pattern per line. Errors, each naming what to fix:
    /// - [`InventoryError::NoHosts`] when the inventory has no host at all (whatever the limit),
    /// - [`InventoryError::EmptyLimit`] and [`InventoryError::BadPattern`] for a limit that is empty or malformed
    ///   (see [`check_limit`]), has a bad regex, or a subscript past the end,
    /// - [`InventoryError::NoMatch`] for a pattern that matches no host and no group (Ansible only warns),
    /// - [`InventoryError::NothingSelected`] when the parts match but select no host together.
    pub fn select(&self, limit: Option<&str>) -> Result<Vec<String>, InventoryError> {
        if self.graph.hosts.is_empty() {
            return Err(InventoryError::NoHosts { sources: self.sources.clone() });
        }
        let hosts = pattern::select(&self.graph, limit, pattern::Mode::Strict)?;
        if hosts.is_empty() {
            return Err(InventoryError::NothingSelected { limit: limit.unwrap_or_default().to_string() });
        }
        Ok(hosts.into_iter().map(|h| self.graph.hosts[h].name.clone()).collect())
    }

    /// True when `name` is a group of the inventory (`all` and `ungrouped` included).
    pub fn is_group(&self, name: &str) -> bool {
        self.graph.group(name).is_some()
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

    /// What `ansible-inventory --list [--limit LIMIT]` prints, ready to render: one entry per non-empty group
    /// with `hosts` and `children`, `all` with its children only, and `_meta.hostvars` for selected hosts that
    /// have vars.
    ///
    /// The limit is applied as `ansible-inventory` applies it: patterns that match nothing are ignored, and what
    /// makes Ansible stop (a bad regex, a missing `@file`, a subscript past the end, a bare `&` or `!`) is an
    /// error. Call [`Inventory::select`] to refuse limits that select nothing or are malformed.
    pub fn list(&self, limit: Option<&str>) -> Result<list::Listing<'_>, InventoryError> {
        let selected = pattern::select(&self.graph, limit, pattern::Mode::List)?;
        Ok(list::Listing::new(self, selected))
    }

    /// [`Inventory::list`] as one JSON value (the whole inventory in memory; [`list::Listing::write_json`]
    /// streams instead).
    pub fn to_list_json(&self, limit: Option<&str>) -> Result<Value, InventoryError> {
        Ok(self.list(limit)?.to_value())
    }
}

#[cfg(test)]
mod tests;
