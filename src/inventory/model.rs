//! The inventory graph (hosts, groups, parent/child edges, inventory-file vars) and the rules Ansible applies
//! while building it: first port wins, `ansible_group_priority` is not a var, groups form no cycles, and
//! `reconcile` hangs orphans under `all` and sorts hosts into or out of `ungrouped`.

use super::hostrange::MAX_HOST_ENTRIES;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub(crate) const ALL: usize = 0;
pub(crate) const UNGROUPED: usize = 1;

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub name: String,
    pub vars: Map<String, Value>,
    pub children: Vec<usize>,
    pub parents: Vec<usize>,
    pub hosts: Vec<usize>,
    pub priority: i64,
    pub depth: usize,
}

/// Vars set together (one host line, one YAML host entry), in the order they were written, shared by every host
/// the line's pattern expands to, so `h[1:100000] big=...` stores `big` once, not once per host. Names are
/// interned ([`Graph::intern`]): a fleet repeats the same few names on every host line.
pub(crate) type VarLayer = Arc<[(Arc<str>, Value)]>;

#[derive(Debug, Clone)]
pub(crate) struct Host {
    pub name: String,
    /// Inventory-file vars in the order they were set; a later layer wins over an earlier one.
    pub vars: Vec<VarLayer>,
    /// Groups the host was put in directly; ancestors are derived.
    pub groups: Vec<usize>,
}

#[derive(Debug, Clone)]
pub(crate) struct Graph {
    pub groups: Vec<Group>,
    pub group_index: HashMap<String, usize>,
    pub hosts: Vec<Host>,
    pub host_index: HashMap<String, usize>,
    /// Host entries produced so far by all sources (see [`MAX_HOST_ENTRIES`]).
    pub entries: usize,
    /// Var names of host lines, stored once.
    names: HashSet<Arc<str>>,
    /// Groups visited so far by loop checks (see [`MAX_LOOP_CHECK_STEPS`]).
    loop_steps: usize,
}

/// The most group visits the loop checks of one inventory may make. A chain declared top-down or bottom-up costs
/// none; one declared in a scrambled order can cost the square of its depth, which this bound turns into an error
/// within about a second instead of minutes.
pub const MAX_LOOP_CHECK_STEPS: usize = 20_000_000;

impl Graph {
    pub fn new() -> Self {
        let mut g = Graph {
            groups: Vec::new(),
            group_index: HashMap::new(),
            hosts: Vec::new(),
            host_index: HashMap::new(),
            entries: 0,
            names: HashSet::new(),
            loop_steps: 0,
        };
        g.add_group("all");
        g.add_group("ungrouped");
        g.link(ALL, UNGROUPED);
        g
    }

    pub fn group(&self, name: &str) -> Option<usize> {
        self.group_index.get(name).copied()
    }

    pub fn host(&self, name: &str) -> Option<usize> {
        self.host_index.get(name).copied()
    }

    pub fn add_group(&mut self, name: &str) -> usize {
        if let Some(i) = self.group(name) {
            return i;
        }
        let group = Group {
            name: name.to_string(),
            vars: Map::new(),
            children: Vec::new(),
            parents: Vec::new(),
            hosts: Vec::new(),
            priority: 1,
            depth: 0,
        };
        self.groups.push(group);
        self.group_index.insert(name.to_string(), self.groups.len() - 1);
        self.groups.len() - 1
    }

    /// Adds a host (the port counts only where the host first appears, as in Ansible) and puts it in `group`.
    pub fn add_host(&mut self, name: &str, group: Option<usize>, port: Option<u64>) -> Result<usize, String> {
        if name.is_empty() {
            return Err("empty host name (remove the empty entry or quote a real name)".into());
        }
        // A NUL cannot reach ssh or any C program (an argument ends there), so `h\0x` would name another host
        // than the report shows. Other control characters pass through and print escaped.
        if name.contains('\0') {
            return Err(format!(
                "host name {name:?} contains a NUL character, which no host name can hold (remove it from the inventory)"
            ));
        }
        let h = match self.host(name) {
            Some(h) => h,
            None => {
                let mut vars = Vec::new();
                if let Some(p) = port.filter(|p| *p != 0) {
                    let layer: VarLayer = Arc::new([(self.intern("ansible_port"), Value::from(p))]);
                    vars.push(layer);
                }
                self.hosts.push(Host { name: name.to_string(), vars, groups: Vec::new() });
                self.host_index.insert(name.to_string(), self.hosts.len() - 1);
                self.hosts.len() - 1
            }
        };
        if let Some(g) = group {
            self.put_host(g, h);
        }
        Ok(h)
    }

    fn put_host(&mut self, g: usize, h: usize) {
        // A host is in few groups, so its own list is the cheap side to search.
        if !self.hosts[h].groups.contains(&g) {
            self.groups[g].hosts.push(h);
            self.hosts[h].groups.push(g);
        }
    }

    /// Sets an inventory-file var on the group or host called `entity` (groups first, as Ansible looks them up).
    pub fn set_var(&mut self, entity: &str, key: &str, value: Value) -> Result<(), String> {
        if let Some(g) = self.group(entity) {
            if key == "ansible_group_priority" {
                self.groups[g].priority = priority(&value)?;
            } else {
                self.groups[g].vars.insert(key.to_string(), value);
            }
        } else if let Some(h) = self.host(entity) {
            let layer: VarLayer = Arc::new([(self.intern(key), value)]);
            self.hosts[h].vars.push(layer);
        } else {
            return Err(format!("\"{entity}\" is neither a host nor a group"));
        }
        Ok(())
    }

    /// Sets the vars of one host line on `host`. As with [`Graph::set_var`], a group of the same name takes them
    /// instead (Ansible looks groups up first).
    pub fn set_host_vars(&mut self, host: &str, vars: &VarLayer) -> Result<(), String> {
        if vars.is_empty() {
            return Ok(());
        }
        if self.group(host).is_some() {
            for (k, v) in vars.iter() {
                self.set_var(host, k, v.clone())?;
            }
            return Ok(());
        }
        match self.host(host) {
            Some(h) => {
                self.hosts[h].vars.push(Arc::clone(vars));
                Ok(())
            }
            None => Err(format!("\"{host}\" is neither a host nor a group")),
        }
    }

    /// The shared copy of a var name.
    pub fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(n) = self.names.get(name) {
            return Arc::clone(n);
        }
        let n: Arc<str> = Arc::from(name);
        self.names.insert(Arc::clone(&n));
        n
    }

    /// How many more host entries the sources may produce.
    pub fn entry_budget(&self) -> usize {
        MAX_HOST_ENTRIES.saturating_sub(self.entries)
    }

    /// Makes `child` (a group, else a host) a member of group `parent`.
    pub fn add_child(&mut self, parent: usize, child: &str) -> Result<(), String> {
        if let Some(c) = self.group(child) {
            if c == parent {
                return Err(format!("group \"{child}\" cannot be a child of itself (remove it from its own children)"));
            }
            if self.groups[parent].children.contains(&c) {
                return Ok(());
            }
            if self.reaches(c, parent)? {
                let p = &self.groups[parent].name;
                return Err(format!(
                    "adding group \"{child}\" as a child of \"{p}\" creates a loop (\"{child}\" is already an ancestor of \"{p}\")"
                ));
            }
            self.link(parent, c);
        } else if let Some(h) = self.host(child) {
            self.put_host(parent, h);
        } else {
            return Err(format!("\"{child}\" is neither a known host nor a known group (define it before using it)"));
        }
        Ok(())
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.groups[parent].children.push(child);
        if !self.groups[child].parents.contains(&parent) {
            self.groups[child].parents.push(parent);
        }
    }

    /// Whether `to` is below `from` (a loop check before linking `from` under `to`). Declaring a chain top-down
    /// or bottom-up links a group without children or under a group without parents, which needs no walk, so the
    /// usual inventories cost one step per edge. Otherwise the walk goes down from `from` and stops at `to`,
    /// visiting only what it reaches.
    fn reaches(&mut self, from: usize, to: usize) -> Result<bool, String> {
        if self.groups[from].children.is_empty() || self.groups[to].parents.is_empty() {
            return Ok(false);
        }
        let mut seen = HashSet::from([from]);
        let mut stack = vec![from];
        while let Some(g) = stack.pop() {
            self.loop_steps += 1;
            if self.loop_steps > MAX_LOOP_CHECK_STEPS {
                return Err(format!(
                    "checking the nested groups for loops takes more than {MAX_LOOP_CHECK_STEPS} steps, the limit for one inventory (declare long chains of children in order, parents first or last, or flatten them)"
                ));
            }
            for &c in &self.groups[g].children {
                if c == to {
                    return Ok(true);
                }
                if seen.insert(c) {
                    stack.push(c);
                }
            }
        }
        Ok(false)
    }

    /// All groups above `g`, nearest first.
    pub fn ancestors(&self, g: usize) -> Vec<usize> {
        self.walk(vec![g], |grp| &grp.parents)
    }

    /// `g` and every group below it, breadth first in declaration order.
    pub fn descendants_and_self(&self, g: usize) -> Vec<usize> {
        let mut out = vec![g];
        out.extend(self.walk(vec![g], |grp| &grp.children));
        out
    }

    fn walk(&self, start: Vec<usize>, next: impl Fn(&Group) -> &Vec<usize>) -> Vec<usize> {
        // A flag per group keeps the walk linear in the edges it crosses.
        let mut seen = vec![false; self.groups.len()];
        let mut out: Vec<usize> = Vec::new();
        let mut frontier = start;
        while !frontier.is_empty() {
            let mut new = Vec::new();
            for g in frontier {
                for &n in next(&self.groups[g]) {
                    if !std::mem::replace(&mut seen[n], true) {
                        new.push(n);
                    }
                }
            }
            out.extend(&new);
            frontier = new;
        }
        out
    }

    /// Hosts of `g` and of all groups below it, in inventory order without repeats.
    pub fn group_hosts(&self, g: usize) -> Vec<usize> {
        let mut seen = vec![false; self.hosts.len()];
        let mut out = Vec::new();
        for d in self.descendants_and_self(g) {
            for &h in &self.groups[d].hosts {
                if !std::mem::replace(&mut seen[h], true) {
                    out.push(h);
                }
            }
        }
        out
    }

    /// What Ansible does once all sources are read: orphan groups go under `all`, hosts with no group go to
    /// `ungrouped`, hosts with a real group leave it. Depth (longest path from `all`) orders var precedence.
    pub fn reconcile(&mut self) {
        for g in 1..self.groups.len() {
            if self.groups[g].parents.is_empty() {
                self.link(ALL, g);
            }
        }
        // What a host's groups say about it depends only on each group and its ancestors, so it is worked out
        // once per group rather than once per host; hosts leave `ungrouped` in one pass at the end.
        let order = self.topo_order();
        let mut flags = vec![(false, false); self.groups.len()];
        let mut placed = vec![false; self.groups.len()];
        for &g in &order {
            let from_parents =
                self.groups[g].parents.iter().fold((false, false), |(u, r), &p| (u || flags[p].0, r || flags[p].1));
            flags[g] = (g == UNGROUPED || from_parents.0, (g != ALL && g != UNGROUPED) || from_parents.1);
            placed[g] = true;
        }
        // Groups on a cycle (only possible when `all` was made a child) have no place in the order; walk them.
        for g in (0..self.groups.len()).filter(|&g| !placed[g]) {
            let closure: Vec<usize> = std::iter::once(g).chain(self.ancestors(g)).collect();
            flags[g] = (closure.contains(&UNGROUPED), closure.iter().any(|&x| x != ALL && x != UNGROUPED));
        }
        let mut leave = vec![false; self.hosts.len()];
        #[allow(clippy::needless_range_loop)] // `put_host` needs `self` whole, so no iterator over `self.hosts`
        for h in 0..self.hosts.len() {
            let (ungrouped, real) =
                self.hosts[h].groups.iter().fold((false, false), |(u, r), &g| (u || flags[g].0, r || flags[g].1));
            if ungrouped && real {
                leave[h] = true;
                self.hosts[h].groups.retain(|&x| x != UNGROUPED);
            } else if !ungrouped && !real {
                self.put_host(UNGROUPED, h);
            }
        }
        self.groups[UNGROUPED].hosts.retain(|&x| !leave[x]);
        self.set_depths();
    }

    /// Depth is the longest path from `all`, computed in topological order so that neither a lattice of groups
    /// (exponential as a naive recursion) nor a long chain (deep as a recursion) can stall or overflow. Groups on
    /// a cycle (possible only when `all` itself was made a child) keep what their placed parents give.
    fn set_depths(&mut self) {
        let mut depth = vec![0usize; self.groups.len()];
        for g in self.topo_order() {
            for &c in &self.groups[g].children {
                depth[c] = depth[c].max(depth[g] + 1);
            }
        }
        for (g, d) in depth.into_iter().enumerate() {
            self.groups[g].depth = d;
        }
    }

    /// Groups with every parent before its children (Kahn's algorithm); groups on a cycle are left out.
    fn topo_order(&self) -> Vec<usize> {
        let mut waiting: Vec<usize> = self.groups.iter().map(|g| g.parents.len()).collect();
        let mut ready: Vec<usize> = (0..self.groups.len()).filter(|&g| waiting[g] == 0).collect();
        let mut order = Vec::with_capacity(self.groups.len());
        while let Some(g) = ready.pop() {
            order.push(g);
            for &c in &self.groups[g].children {
                if waiting[c] > 0 {
                    waiting[c] -= 1;
                    if waiting[c] == 0 {
                        ready.push(c);
                    }
                }
            }
        }
        order
    }
}

/// Ansible runs `int(value)` on `ansible_group_priority`, so anything but a number, a boolean or the text of a
/// whole number fails the whole inventory.
fn priority(value: &Value) -> Result<i64, String> {
    let bad = || format!("ansible_group_priority must be an integer, got {value} (write a whole number such as 10)");
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)).ok_or_else(bad),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::String(s) => super::hostrange::py_int(s).ok_or_else(bad),
        _ => Err(bad()),
    }
}
