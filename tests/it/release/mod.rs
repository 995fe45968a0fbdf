//! What scripts/release builds, as a user gets it: the tarball unpacks and its static binary names its commit and
//! rotates a host (`tarball`), SHA256SUMS verifies and catches a corrupted artifact (`sums`), the .deb installs
//! into a private dpkg root and removes cleanly (`deb`).
//!
//! The artifacts come from CREDPUSH_DIST, the directory scripts/test builds with `scripts/release --out`; these
//! tests fail, and say how to build it, when it is not set.

mod deb;
mod sums;
mod tarball;

use std::path::PathBuf;
use std::process::Command;

use crate::harness::head_commit;

/// The crate's version, which names every artifact.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The release directory scripts/release wrote (CREDPUSH_DIST).
pub(super) fn dist() -> PathBuf {
    let dir = std::env::var_os("CREDPUSH_DIST").map(PathBuf::from).unwrap_or_else(|| {
        panic!("CREDPUSH_DIST is not set (fix: run ./scripts/release --out DIR and set CREDPUSH_DIST=DIR; ./scripts/test does both)")
    });
    assert!(
        dir.join("SHA256SUMS").is_file(),
        "{} has no SHA256SUMS (fix: run ./scripts/release --out {})",
        dir.display(),
        dir.display()
    );
    dir
}

/// A release artifact's path, which must exist.
pub(crate) fn artifact(name: &str) -> PathBuf {
    let path = dist().join(name);
    assert!(path.is_file(), "{} is missing (fix: run ./scripts/release)", path.display());
    path
}

/// Checks a release binary's `--version` line: this version, and the checkout's HEAD (scripts/build-release adds
/// "-dirty" when the tree had uncommitted changes, so a dirty tree may show either).
#[track_caller]
pub(crate) fn check_version(line: &str) {
    let head = head_commit();
    let clean = format!("credpush {VERSION} (commit {head})\n");
    let dirty = format!("credpush {VERSION} (commit {head}-dirty)\n");
    let status = Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    if status.is_empty() {
        assert_eq!(line, clean, "the release binary was built from another commit (fix: run ./scripts/release)");
    } else {
        assert!(line == clean || line == dirty, "{line:?} is neither {clean:?} nor {dirty:?}");
    }
}
