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
    /// A `--limit` pattern names no host and no group.
    #[error(
        "--limit pattern \"{pattern}\" matches no host or group in the inventory (check the name, or list them with `--list`)"
    )]
    NoMatch {
        /// The pattern as given, without `&`/`!`.
        pattern: String,
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

impl InventoryError {
    pub(crate) fn syntax(path: &std::path::Path, line: usize, message: impl Into<String>) -> Self {
        Self::Syntax { path: path.to_path_buf(), line, message: message.into() }
    }

    pub(crate) fn file(path: &std::path::Path, message: impl Into<String>) -> Self {
        Self::File { path: path.to_path_buf(), message: message.into() }
    }
}
