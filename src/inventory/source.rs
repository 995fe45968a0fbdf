//! Inventory sources: which files are read, in which order, and with which format.
//!
//! A directory source is read in sorted name order, recursively, skipping what Ansible skips (hidden names,
//! `group_vars`, `host_vars`, `vars_plugins`, and backup or doc extensions such as `~`, `.bak`, `.md`, `.cfg`).
//! `.yml`, `.yaml` and `.json` files are YAML; a file with no extension is tried as YAML and read as INI when it
//! is not a YAML mapping (Ansible tries its yaml plugin, then its ini plugin); everything else is INI.

use super::error::InventoryError;
use super::model::Graph;
use super::vars::py_splitext;
use super::{ini, yaml, yaml11};
use std::path::{Path, PathBuf};

const IGNORED_NAMES: [&str; 3] = ["host_vars", "group_vars", "vars_plugins"];
const IGNORED_SUFFIXES: [&str; 12] = [
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry",
];
const YAML_EXTENSIONS: [&str; 3] = [".yml", ".yaml", ".json"];

/// Reads one source (file or directory) into `graph`.
pub(crate) fn read_source(graph: &mut Graph, source: &Path) -> Result<(), InventoryError> {
    let meta = std::fs::metadata(source).map_err(|e| io(source, e))?;
    if !meta.is_dir() {
        return read_file(graph, source);
    }
    let mut names: Vec<String> = std::fs::read_dir(source)
        .map_err(|e| io(source, e))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| io(source, e))?;
    names.sort();
    for name in names {
        if name.starts_with('.')
            || IGNORED_NAMES.contains(&name.as_str())
            || IGNORED_SUFFIXES.iter().any(|s| name.ends_with(s))
        {
            continue;
        }
        read_source(graph, &source.join(name))?;
    }
    Ok(())
}

fn read_file(graph: &mut Graph, path: &Path) -> Result<(), InventoryError> {
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        InventoryError::file(path, "not valid UTF-8 text (save the inventory as UTF-8)")
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = py_splitext(&name);
    if ext == ".toml" {
        return Err(InventoryError::file(
            path,
            "TOML inventories are not supported (convert it to INI or YAML)",
        ));
    }
    if YAML_EXTENSIONS.contains(&ext) {
        let root = yaml11::load(&text)
            .map_err(|(line, msg)| InventoryError::syntax(path, line.max(1), msg))?;
        return yaml::parse(graph, path, root);
    }
    if ext.is_empty()
        && let Ok(Some(root)) = yaml11::load(&text)
        && matches!(root.kind, yaml11::Kind::Map(_))
    {
        // A failed YAML attempt leaves nothing behind here, so falling back to INI below is clean.
        let mut attempt = graph.clone();
        if yaml::parse(&mut attempt, path, Some(root)).is_ok() {
            *graph = attempt;
            return Ok(());
        }
    }
    ini::parse(graph, path, &text)
}

fn io(path: &Path, source: std::io::Error) -> InventoryError {
    InventoryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The directory whose `group_vars/` and `host_vars/` belong to `source`: the source itself when it is a
/// directory, else the directory holding it.
pub(crate) fn vars_base(source: &Path) -> PathBuf {
    if source.is_dir() {
        return source.to_path_buf();
    }
    match source.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
