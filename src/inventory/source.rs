//! Inventory sources: which files are read, in which order, and with which format.
//!
//! A directory source is read in sorted name order, recursively, skipping what Ansible skips (hidden names,
//! `group_vars`, `host_vars`, `vars_plugins`, and backup or doc extensions such as `~`, `.bak`, `.md`, `.cfg`).
//! Files with a YAML extension (`.yml`, `.yaml`, `.json`) or none are tried as YAML, then as INI, as Ansible
//! tries its yaml plugin and then its ini plugin; everything else is INI only, and `.toml` is refused.

use super::error::InventoryError;
use super::model::Graph;
use super::vars::py_splitext;
use super::{ini, yaml, yaml11};
use crate::host::input::{self, InputError, MAX_CONFIG_BYTES};
use std::path::{Path, PathBuf};

const IGNORED_NAMES: [&str; 3] = ["host_vars", "group_vars", "vars_plugins"];
const IGNORED_SUFFIXES: [&str; 12] =
    [".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry"];
const YAML_EXTENSIONS: [&str; 3] = [".yml", ".yaml", ".json"];

/// Reads one source (file or directory) into `graph`.
pub(crate) fn read_source(graph: &mut Graph, source: &Path) -> Result<(), InventoryError> {
    let meta = std::fs::metadata(source).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            InventoryError::file(source, "inventory source does not exist (check the path given with -i)")
        }
        _ => io(source, e),
    })?;
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
    let bytes = read_input(path)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| InventoryError::file(path, "not valid UTF-8 text (save the inventory as UTF-8)"))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = py_splitext(&name);
    if ext == ".toml" {
        return Err(InventoryError::file(path, "TOML inventories are not supported (convert it to INI or YAML)"));
    }
    // Ansible offers every file to its yaml plugin (YAML extensions or none) and then to its ini plugin, and
    // keeps the first that succeeds; a failed attempt leaves `graph` untouched here.
    let yaml_like = YAML_EXTENSIONS.contains(&ext) || ext.is_empty();
    let yaml_result = yaml_like.then(|| {
        let mut attempt = graph.clone();
        let root = yaml11::load(&text).map_err(|(line, fault)| fault.at(path, line.max(1)))?;
        yaml::parse(&mut attempt, path, root).map(|()| attempt)
    });
    let yaml_err = match yaml_result {
        Some(Ok(parsed)) => {
            *graph = parsed;
            return Ok(());
        }
        // A bound crossed is the answer whatever the format: reading the file as INI too would only hide it.
        Some(Err(e @ InventoryError::Limit { .. })) => return Err(e),
        Some(Err(e)) => Some(e),
        None => None,
    };
    let mut attempt = graph.clone();
    match (ini::parse(&mut attempt, path, &text), yaml_err) {
        (Ok(()), _) => {
            *graph = attempt;
            Ok(())
        }
        // A .yml file that is not INI either is best explained by its YAML error; a bare name by its INI one.
        (Err(e @ InventoryError::Limit { .. }), _) => Err(e),
        (Err(_), Some(yaml_err)) if !ext.is_empty() => Err(yaml_err),
        (Err(ini_err), _) => Err(ini_err),
    }
}

/// Reads an inventory source or vars file: a regular file of at most [`MAX_CONFIG_BYTES`], never a FIFO or a
/// device, which would hang or never end.
pub(crate) fn read_input(path: &Path) -> Result<Vec<u8>, InventoryError> {
    input::read_regular(path, MAX_CONFIG_BYTES).map_err(|e| match e {
        InputError::Io(source) => io(path, source),
        other => InventoryError::file(path, other.to_string()),
    })
}

fn io(path: &Path, source: std::io::Error) -> InventoryError {
    InventoryError::Io { path: path.to_path_buf(), source }
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
