//! `group_vars/` and `host_vars/` beside each inventory source, and the order in which Ansible layers vars.
//!
//! For a host, from lowest to highest (ansible-core's default `VARIABLE_PRECEDENCE`):
//! 1. `all` vars from inventory files,
//! 2. vars of the host's other groups from inventory files, sorted by depth, then `ansible_group_priority`, then
//!    name, so children beat parents,
//! 3. `group_vars/all` files, source by source,
//! 4. `group_vars/<group>` files, source by source, groups in the same order as in 2,
//! 5. the host's own inventory-file vars (including `ansible_port` from `host:port`),
//! 6. `host_vars/<host>` files, source by source.
//!
//! So `group_vars/all.yml` beats a child group's `[child:vars]`. Merging is shallow: a later dict replaces an
//! earlier one whole, as with Ansible's default `hash_behaviour=replace`. Playbook-adjacent vars (beside the
//! current directory) are not part of an inventory and are not read.

use super::error::InventoryError;
use super::model::{ALL, Graph};
use super::yaml::{is_empty, key_string, to_json};
use super::yaml11::{self, Kind};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// Vars read from the `group_vars/` and `host_vars/` directories of one source directory.
#[derive(Debug, Clone, Default)]
pub(crate) struct DirVars {
    pub groups: HashMap<String, Map<String, Value>>,
    pub hosts: HashMap<String, Map<String, Value>>,
}

const VAR_EXTENSIONS: [&str; 3] = [".yml", ".yaml", ".json"];

/// Names Ansible treats as its own and drops from `ansible-inventory` output.
const INTERNAL: &[&str] = &[
    "ansible_async_path",
    "ansible_collection_name",
    "ansible_config_file",
    "ansible_dependent_role_names",
    "ansible_diff_mode",
    "ansible_facts",
    "ansible_forks",
    "ansible_inventory_sources",
    "ansible_limit",
    "ansible_play_batch",
    "ansible_play_hosts",
    "ansible_play_hosts_all",
    "ansible_play_role_names",
    "ansible_playbook_python",
    "ansible_role_name",
    "ansible_role_names",
    "ansible_run_tags",
    "ansible_skip_tags",
    "ansible_verbosity",
    "ansible_version",
    "inventory_dir",
    "inventory_file",
    "inventory_hostname",
    "inventory_hostname_short",
    "groups",
    "group_names",
    "hostvars",
    "playbook_dir",
    "play_hosts",
    "role_name",
    "role_names",
    "role_path",
    "role_uuid",
];

/// Reads the vars files for every group and host of `graph` from `base/group_vars` and `base/host_vars`.
pub(crate) fn load_dir(base: &Path, graph: &Graph) -> Result<DirVars, InventoryError> {
    let mut out = DirVars::default();
    let group_dir = base.join("group_vars");
    if let Some(listing) = listing(&group_dir)? {
        for g in &graph.groups {
            if may_have_vars(&listing, &g.name)
                && let Some(v) = entity_vars(&group_dir, &g.name)?
            {
                out.groups.insert(g.name.clone(), v);
            }
        }
    }
    let host_dir = base.join("host_vars");
    if let Some(listing) = listing(&host_dir)? {
        for h in &graph.hosts {
            if may_have_vars(&listing, &h.name)
                && let Some(v) = entity_vars(&host_dir, &h.name)?
            {
                out.hosts.insert(h.name.clone(), v);
            }
        }
    }
    Ok(out)
}

/// The names in `dir`, read once, so that 100,000 hosts cost a set lookup each instead of four `stat` calls.
fn listing(dir: &Path) -> Result<Option<HashSet<OsString>>, InventoryError> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let io = |source| InventoryError::Io { path: dir.to_path_buf(), source };
    let names = std::fs::read_dir(dir).map_err(io)?.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>();
    names.map(Some).map_err(io)
}

/// Whether `dir/name` or one of its extensions is listed. A name with a `/` reaches into a subdirectory, which
/// the listing does not show, so it is looked up the slow way.
fn may_have_vars(listing: &HashSet<OsString>, name: &str) -> bool {
    name.contains('/')
        || std::iter::once("").chain(VAR_EXTENSIONS).any(|ext| listing.contains(OsStr::new(&format!("{name}{ext}"))))
}

/// `dir/name` (a file, or a directory whose files merge in name order), else `name.yml`, `name.yaml`, `name.json`:
/// the first that exists wins.
fn entity_vars(dir: &Path, name: &str) -> Result<Option<Map<String, Value>>, InventoryError> {
    // Ansible skips names that look like absolute paths (chroot-style host names).
    if name.starts_with('/') {
        return Ok(None);
    }
    let mut files = Vec::new();
    for ext in std::iter::once("").chain(VAR_EXTENSIONS) {
        let candidate = dir.join(format!("{name}{ext}"));
        if candidate.is_dir() {
            collect_dir(&candidate, &mut files)?;
            break;
        }
        if candidate.exists() {
            files.push(candidate);
            break;
        }
    }
    if files.is_empty() {
        return Ok(None);
    }
    let mut vars = Map::new();
    for file in files {
        vars.extend(read_vars_file(&file)?);
    }
    Ok(Some(vars))
}

fn collect_dir(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), InventoryError> {
    let io = |source| InventoryError::Io { path: dir.to_path_buf(), source };
    let mut names: Vec<_> =
        std::fs::read_dir(dir).map_err(io)?.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>().map_err(io)?;
    names.sort();
    for name in names {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let path = dir.join(&name);
        let ext = py_splitext(&name);
        if path.is_dir() && ext.is_empty() {
            collect_dir(&path, out)?;
        } else if path.is_file() && (ext.is_empty() || VAR_EXTENSIONS.contains(&ext)) {
            out.push(path);
        }
    }
    Ok(())
}

/// Python's `os.path.splitext(name)[1]`: leading dots do not start an extension.
pub(crate) fn py_splitext(name: &str) -> &str {
    let stem_start = name.len() - name.trim_start_matches('.').len();
    match name[stem_start..].rfind('.') {
        Some(at) => &name[stem_start + at..],
        None => "",
    }
}

/// One vars file: YAML or JSON holding a mapping. An empty file adds nothing.
pub(crate) fn read_vars_file(path: &Path) -> Result<Map<String, Value>, InventoryError> {
    let text = String::from_utf8(super::source::read_input(path)?)
        .map_err(|_| InventoryError::file(path, "not valid UTF-8 text (save the vars file as UTF-8)"))?;
    let node = yaml11::load(&text).map_err(|(line, fault)| fault.at(path, line.max(1)))?;
    match node {
        None => Ok(Map::new()),
        Some(n) => match n.kind {
            Kind::Map(pairs) => Ok(pairs.iter().map(|(k, v)| (key_string(k), to_json(v))).collect()),
            // Ansible skips any falsy document (empty, `false`, `0`, `[]`) before checking its type.
            _ if is_empty(&n) => Ok(Map::new()),
            _ => Err(InventoryError::syntax(
                path,
                n.line,
                "a vars file must hold a mapping of name: value (this one holds a list or a single value)",
            )),
        },
    }
}

/// The vars of host `h` as `ansible-inventory --list` shows them in `_meta.hostvars`.
pub(crate) fn host_vars(graph: &Graph, files: &[DirVars], h: usize) -> Map<String, Value> {
    let mut vars = group_part(graph, files, &graph.hosts[h].groups);
    add_host_part(graph, files, h, &mut vars);
    vars
}

/// [`host_vars`] for many hosts: hosts in the same groups share everything but their own vars, so that part is
/// merged once per set of groups. Bounded, so hosts that each sit in different groups cannot grow it without
/// limit.
#[derive(Debug, Default)]
pub(crate) struct VarsCache {
    by_groups: HashMap<Vec<usize>, Map<String, Value>>,
}

const CACHE_ENTRIES: usize = 1024;

impl VarsCache {
    pub(crate) fn host_vars(&mut self, graph: &Graph, files: &[DirVars], h: usize) -> Map<String, Value> {
        let direct = &graph.hosts[h].groups;
        let mut vars = match self.by_groups.get(direct) {
            Some(v) => v.clone(),
            None => {
                let v = group_part(graph, files, direct);
                if self.by_groups.len() >= CACHE_ENTRIES {
                    self.by_groups.clear();
                }
                self.by_groups.insert(direct.clone(), v.clone());
                v
            }
        };
        add_host_part(graph, files, h, &mut vars);
        vars
    }
}

/// Layers 1 to 4 (see the module docs) for a host directly in `direct`, internal names removed.
pub(crate) fn group_part(graph: &Graph, files: &[DirVars], direct: &[usize]) -> Map<String, Value> {
    let mut groups: Vec<usize> = Vec::new();
    // A flag per group, not `groups.contains`: a host under a chain of 20,000 groups must cost 20,000 steps.
    let mut taken = vec![false; graph.groups.len()];
    for &g in direct {
        for a in std::iter::once(g).chain(graph.ancestors(g)) {
            if a != ALL && !std::mem::replace(&mut taken[a], true) {
                groups.push(a);
            }
        }
    }
    groups.sort_by(|&a, &b| {
        let (ga, gb) = (&graph.groups[a], &graph.groups[b]);
        (ga.depth, ga.priority, &ga.name).cmp(&(gb.depth, gb.priority, &gb.name))
    });
    let mut vars = graph.groups[ALL].vars.clone();
    for &g in &groups {
        vars.extend(graph.groups[g].vars.clone());
    }
    for dir in files {
        if let Some(v) = dir.groups.get("all") {
            vars.extend(v.clone());
        }
    }
    for dir in files {
        for &g in &groups {
            if let Some(v) = dir.groups.get(&graph.groups[g].name) {
                vars.extend(v.clone());
            }
        }
    }
    for key in INTERNAL {
        vars.remove(*key);
    }
    vars
}

/// Layers 5 and 6: the host's own inventory vars, then its `host_vars/` files; internal names are dropped.
fn add_host_part(graph: &Graph, files: &[DirVars], h: usize, vars: &mut Map<String, Value>) {
    for (k, v) in host_part(graph, files, h) {
        vars.insert(k.to_string(), v.clone());
    }
}

/// Layers 5 and 6 in the order they apply (a later entry wins), without internal names.
pub(crate) fn host_part<'a>(graph: &'a Graph, files: &'a [DirVars], h: usize) -> Vec<(&'a str, &'a Value)> {
    let host = &graph.hosts[h];
    let own = host.vars.iter().flat_map(|layer| layer.iter()).map(|(k, v)| (k.as_ref(), v));
    let from_files = files.iter().filter_map(|dir| dir.hosts.get(&host.name)).flatten().map(|(k, v)| (k.as_str(), v));
    own.chain(from_files).filter(|(k, _)| !INTERNAL.contains(k)).collect()
}
