//! Embeds the commit credpush is built from, for `credpush --version`: CREDPUSH_COMMIT when set (a build from a
//! source archive, or scripts/build-release marking a dirty tree), else `git rev-parse --short=12 HEAD`, else
//! "unknown" (no git, or not a checkout).
//!
//! It reruns only when HEAD moves (the HEAD file, the branch ref it names, or packed-refs when that ref is
//! packed) or the variable changes, so an ordinary edit-and-build never pays for it. That is also why it does not
//! add "-dirty" itself: the answer would go stale at the next edit without a rerun on every file.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    // Only the CLI prints a version: the Ansible module's build (no `cli` feature) must not rebuild, with its
    // slow size-optimised profile, at every commit.
    if std::env::var_os("CARGO_FEATURE_CLI").is_none() {
        println!("cargo:rerun-if-changed=build.rs");
        return;
    }
    println!("cargo:rerun-if-env-changed=CREDPUSH_COMMIT");
    let commit = match std::env::var("CREDPUSH_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_owned(),
        _ => git_commit().unwrap_or_else(|| "unknown".to_owned()),
    };
    println!("cargo:rustc-env=CREDPUSH_COMMIT={commit}");
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn git_commit() -> Option<String> {
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // --git-path resolves through a worktree's .git file and into the common directory where refs live.
    let watch = |rel: &str| git(&["rev-parse", "--git-path", rel]).map(PathBuf::from);
    if let Some(head) = watch("HEAD") {
        println!("cargo:rerun-if-changed={}", head.display());
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        let loose = watch(&branch);
        match loose {
            Some(path) if Path::new(&path).exists() => println!("cargo:rerun-if-changed={}", path.display()),
            _ => {
                if let Some(packed) = watch("packed-refs") {
                    println!("cargo:rerun-if-changed={}", packed.display());
                }
            }
        }
    }
    Some(commit)
}
