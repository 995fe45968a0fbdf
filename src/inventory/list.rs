//! `credpush inventory --list`: the JSON `ansible-inventory --list` prints, streamed.
//!
//! The groups part is small (host names per group) and is built in memory. `_meta.hostvars` holds every selected
//! host's merged vars, which is most of the output and, merged, many times the inventory's size; it is written
//! one host at a time so memory stays at the size of the inventory, not of the output.

use super::Inventory;
use super::model::{ALL, Graph};
use super::vars;
use serde::Serialize;
use serde_json::ser::Formatter;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::io::{self, Write};
use std::rc::Rc;

/// The selected part of an inventory, ready to render as `ansible-inventory --list` JSON.
#[derive(Debug)]
pub struct Listing<'a> {
    inv: &'a Inventory,
    /// Selected hosts, in inventory order.
    selected: Vec<usize>,
}

const PROFILE: &str = "inventory_legacy";

impl<'a> Listing<'a> {
    pub(crate) fn new(inv: &'a Inventory, selected: Vec<usize>) -> Self {
        Listing { inv, selected }
    }

    /// The whole listing as one JSON value.
    pub fn to_value(&self) -> Value {
        let mut out = self.groups();
        let mut hostvars = Map::new();
        let mut cache = vars::VarsCache::default();
        for h in self.hostvars_order() {
            let v = cache.host_vars(&self.inv.graph, &self.inv.files, h);
            if !v.is_empty() {
                hostvars.insert(self.inv.graph.hosts[h].name.clone(), Value::Object(v));
            }
        }
        let mut meta = Map::new();
        meta.insert("hostvars".into(), Value::Object(hostvars));
        meta.insert("profile".into(), PROFILE.into());
        out.insert("_meta".into(), Value::Object(meta));
        Value::Object(out)
    }

    /// Writes the listing as pretty JSON (what `serde_json::to_string_pretty` makes of [`Listing::to_value`],
    /// keys sorted as Ansible sorts them), then a newline, computing each host's vars only as it is written.
    pub fn write_json(&self, w: &mut impl Write) -> io::Result<()> {
        let groups = self.groups();
        let mut meta_written = false;
        let mut first = true;
        w.write_all(b"{")?;
        for (name, entry) in &groups {
            if !meta_written && name.as_str() > "_meta" {
                self.write_meta(w, first)?;
                meta_written = true;
                first = false;
            }
            sep(w, &mut first, 2)?;
            write_pair(w, name, entry, 2)?;
        }
        if !meta_written {
            self.write_meta(w, first)?;
        }
        w.write_all(b"\n}\n")
    }

    fn write_meta(&self, w: &mut impl Write, first: bool) -> io::Result<()> {
        let mut first = first;
        sep(w, &mut first, 2)?;
        w.write_all(b"\"_meta\": {\n    \"hostvars\": {")?;
        let mut first_host = true;
        let mut rendered = RenderedGroups::default();
        for h in self.hostvars_order() {
            let (graph, files) = (&self.inv.graph, &self.inv.files);
            let group_part = rendered.get(graph, files, h)?;
            // The host's own vars, sorted, the last setting of a name winning.
            let own: std::collections::BTreeMap<&str, &Value> = vars::host_part(graph, files, h).into_iter().collect();
            if group_part.is_empty() && own.is_empty() {
                continue;
            }
            sep(w, &mut first_host, 6)?;
            serde_json::to_writer(&mut *w, &graph.hosts[h].name)?;
            w.write_all(b": {")?;
            let (mut group_it, mut own_it) = (group_part.iter().peekable(), own.into_iter().peekable());
            let mut first_var = true;
            loop {
                // Merge two lists sorted by name; on a tie the host's own value wins.
                let take_own = match (group_it.peek(), own_it.peek()) {
                    (None, None) => break,
                    (Some(_), None) => false,
                    (None, Some(_)) => true,
                    (Some((gk, _)), Some((ok, _))) => {
                        if gk.as_str() == *ok {
                            group_it.next();
                        }
                        gk.as_str() >= *ok
                    }
                };
                sep(w, &mut first_var, 8)?;
                match (take_own, own_it.peek().copied()) {
                    (true, Some((k, v))) => {
                        own_it.next();
                        write_pair(w, k, v, 8)?;
                    }
                    _ => {
                        if let Some((_, text)) = group_it.next() {
                            w.write_all(text)?;
                        }
                    }
                }
            }
            w.write_all(b"\n      }")?;
        }
        if first_host {
            w.write_all(b"},\n")?;
        } else {
            w.write_all(b"\n    },\n")?;
        }
        write!(w, "    \"profile\": {}\n  }}", Value::from(PROFILE))
    }

    /// Selected hosts by name, the order of `_meta.hostvars`.
    fn hostvars_order(&self) -> Vec<usize> {
        let hosts = &self.inv.graph.hosts;
        let mut order = self.selected.clone();
        order.sort_unstable_by(|&a, &b| hosts[a].name.cmp(&hosts[b].name));
        order
    }

    /// One entry per group that has selected hosts or children (`all` lists only its children), each group once.
    fn groups(&self) -> Map<String, Value> {
        let g = &self.inv.graph;
        let mut is_selected = vec![false; g.hosts.len()];
        for &h in &self.selected {
            is_selected[h] = true;
        }
        let mut out = Map::new();
        let mut seen = vec![false; g.groups.len()];
        seen[ALL] = true;
        self.format_group(ALL, &is_selected, &mut seen, &mut out);
        out
    }

    /// Each group's entry depends only on the group, so the walk order is free; a work stack stands in for
    /// recursion so a long chain of groups cannot overflow the stack.
    fn format_group(&self, root: usize, selected: &[bool], seen: &mut [bool], out: &mut Map<String, Value>) {
        let graph = &self.inv.graph;
        let mut stack = vec![root];
        while let Some(gi) = stack.pop() {
            let group = &graph.groups[gi];
            let mut entry = Map::new();
            if gi != ALL {
                let hosts: Vec<Value> = group
                    .hosts
                    .iter()
                    .filter(|&&h| selected[h])
                    .map(|&h| Value::String(graph.hosts[h].name.clone()))
                    .collect();
                if !hosts.is_empty() {
                    entry.insert("hosts".into(), Value::Array(hosts));
                }
            }
            for &c in group.children.iter().rev() {
                if !std::mem::replace(&mut seen[c], true) {
                    stack.push(c);
                }
            }
            if !group.children.is_empty() {
                let children = group.children.iter().map(|&c| Value::String(graph.groups[c].name.clone())).collect();
                entry.insert("children".into(), Value::Array(children));
            }
            if !entry.is_empty() {
                out.insert(group.name.clone(), Value::Object(entry));
            }
        }
    }
}

/// Vars by name with their rendered `"name": value` text, sorted by name.
type Rendered = Rc<Vec<(String, Vec<u8>)>>;

/// The group part of hosts' vars, rendered once per set of groups as `"name": value` at the depth of
/// `_meta.hostvars.HOST`; a fleet has few distinct sets, and rendering is most of `--list`'s work.
#[derive(Default)]
struct RenderedGroups {
    by_groups: HashMap<Vec<usize>, Rendered>,
}

impl RenderedGroups {
    /// Bounded like `vars::VarsCache`, so hosts that each sit in other groups cannot grow it without limit.
    const ENTRIES: usize = 1024;

    fn get(&mut self, graph: &Graph, files: &[vars::DirVars], h: usize) -> io::Result<Rendered> {
        let direct = &graph.hosts[h].groups;
        if let Some(r) = self.by_groups.get(direct) {
            return Ok(Rc::clone(r));
        }
        let mut entries = Vec::new();
        for (k, v) in vars::group_part(graph, files, direct) {
            let mut text = Vec::new();
            write_pair(&mut text, &k, &v, 8)?;
            entries.push((k, text));
        }
        let r = Rc::new(entries);
        if self.by_groups.len() >= Self::ENTRIES {
            self.by_groups.clear();
        }
        self.by_groups.insert(direct.clone(), Rc::clone(&r));
        Ok(r)
    }
}

/// The comma and line break before a member, as serde_json's pretty printer writes them.
fn sep(w: &mut impl Write, first: &mut bool, indent: usize) -> io::Result<()> {
    if !std::mem::take(first) {
        w.write_all(b",")?;
    }
    newline(w, indent)
}

/// A line break and `indent` spaces, without the formatting machinery (slow in debug builds, and called for
/// every member of a large document).
fn newline<W: ?Sized + Write>(w: &mut W, indent: usize) -> io::Result<()> {
    const SPACES: &[u8] = b"\n                                                                ";
    if indent < SPACES.len() {
        w.write_all(&SPACES[..=indent])
    } else {
        w.write_all(b"\n")?;
        (0..indent).try_for_each(|_| w.write_all(b" "))
    }
}

/// `"key": value`, the value pretty-printed as if it sat `indent` spaces in.
fn write_pair(w: &mut impl Write, key: &str, value: &Value, indent: usize) -> io::Result<()> {
    serde_json::to_writer(&mut *w, key)?;
    w.write_all(b": ")?;
    let mut ser = serde_json::Serializer::with_formatter(&mut *w, Nested { base: indent, level: 0, has_value: false });
    value.serialize(&mut ser).map_err(io::Error::other)
}

/// serde_json's pretty layout (two spaces a level, `": "` after keys), starting `base` spaces in, so a value can be
/// written straight into an enclosing document that is streamed by hand.
struct Nested {
    base: usize,
    level: usize,
    has_value: bool,
}

impl Nested {
    fn newline<W: ?Sized + Write>(&self, w: &mut W) -> io::Result<()> {
        newline(w, self.base + 2 * self.level)
    }

    fn open<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline(w)?;
        }
        w.write_all(bracket)
    }

    fn item<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        self.newline(w)
    }
}

impl Formatter for Nested {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.item(w, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.item(w, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}
