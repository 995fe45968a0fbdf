//! Errors from loading an inventory or evaluating a `--limit` pattern.

use std::path::PathBuf;

/// Why an inventory could not be loaded, or why a `--limit` pattern was rejected.
///
/// Messages are lower case with no trailing period; parse errors start with `file:line:` so an editor can jump
/// to them, and end with the fix in parentheses where there is one.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// A line or node of an inventory (or vars) file is malformed.
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        /// The file, as it was given.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A whole file is unusable (empty, wrong top-level type, unsupported format).
    #[error("{}: {message}", path.display())]
    File {
        /// The file, as it was given.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A source or vars file could not be read.
    #[error("cannot read inventory source {}: {source}", path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An inventory goes past one of the documented bounds that keep hostile input from exhausting memory or time
    /// (host entries per inventory, alias expansion per YAML file).
    #[error("{}:{line}: {message}", path.display())]
    Limit {
        /// The file, as it was given.
        path: PathBuf,
        /// 1-based line number where the bound was crossed.
        line: usize,
        /// Which bound, its value, and what to do.
        message: String,
    },
    /// A `--limit` pattern names no host and no group.
    #[error(
        "--limit pattern \"{pattern}\" matches no host or group in the inventory (check the name, or list them with `--list`)"
    )]
    NoMatch {
        /// The pattern as given, without `&`/`!`.
        pattern: String,
    },
    /// `--limit` was given but holds no pattern.
    #[error("--limit is empty (give a host, group or pattern such as web:&prod, or drop --limit)")]
    EmptyLimit,
    /// The inventory holds no host at all, whatever the limit.
    #[error("inventory {} has no hosts (add hosts to it, or check the path given with -i)", show_sources(.sources))]
    NoHosts {
        /// The sources, as given with `-i`.
        sources: Vec<PathBuf>,
    },
    /// Every part of `--limit` matches something, but together they select no host (`web:&db` with no host in
    /// both).
    #[error(
        "--limit \"{limit}\" selects no host (check its & and ! parts, or see the hosts with `credpush inventory --list`)"
    )]
    NothingSelected {
        /// The limit as given.
        limit: String,
    },
    /// A `--limit` pattern cannot be evaluated.
    #[error("invalid --limit pattern \"{pattern}\": {reason}")]
    BadPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

/// A problem found while reading one line or node, before the file and line are attached.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fault {
    /// Malformed input.
    Syntax(String),
    /// A resource bound was crossed; no other reading of the file (INI after YAML) is tried.
    Limit(String),
}

impl Fault {
    pub(crate) fn at(self, path: &std::path::Path, line: usize) -> InventoryError {
        match self {
            Fault::Syntax(m) => InventoryError::syntax(path, line, m),
            Fault::Limit(message) => InventoryError::Limit { path: path.to_path_buf(), line, message },
        }
    }

    #[cfg(test)]
    pub(crate) fn message(&self) -> &str {
        match self {
            Fault::Syntax(m) | Fault::Limit(m) => m,
        }
    }
}

impl From<String> for Fault {
    fn from(m: String) -> Self {
        Fault::Syntax(m)
    }
}

fn show_sources(sources: &[PathBuf]) -> String {
    sources.iter().map(|s| s.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// The bottom layer carries the inventory's errors without importing this layer (see [`crate::error::Carried`]).
impl From<InventoryError> for crate::error::Error {
    fn from(e: InventoryError) -> Self {
        crate::error::Error::Inventory(crate::error::Carried::new(e))
    }
}

impl InventoryError {
    pub(crate) fn syntax(path: &std::path::Path, line: usize, message: impl Into<String>) -> Self {
        Self::Syntax { path: path.to_path_buf(), line, message: message.into() }
    }

    pub(crate) fn file(path: &std::path::Path, message: impl Into<String>) -> Self {
        Self::File { path: path.to_path_buf(), message: message.into() }
    }
}
