//! One local CodeBuild build for the tests: a source checkout (buildspec.yml, the repository's ansible/ and an
//! inventory) run by tests/support/codebuild_local.py as the template's service role, with the project's
//! variables, a restored venv cache, and the report artifact read back.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::{as_build, repo_file};
use crate::harness::{Env, Moto, Run, run, tool, venv};

/// A source checkout: buildspec.yml, the repository's ansible/ (without the built module), templates/ (the
/// action reads the directory rule's script from there) and `inventory/hosts.ini`.
pub(super) fn source(env: &Env, inventory: &str) -> PathBuf {
    let src = env.path("src");
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(src.join("inventory")).expect("src");
    std::fs::copy(repo_file("buildspec.yml"), src.join("buildspec.yml")).expect("buildspec");
    std::fs::write(src.join("inventory/hosts.ini"), inventory).expect("inventory");
    copy_tree(&repo_file("ansible"), &src.join("ansible"));
    copy_tree(&repo_file("templates"), &src.join("templates"));
    src
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        // The built module (git-ignored): the build installs its own, as a checkout would have none.
        if name == "__pycache__" || to.ends_with("plugins/modules") && name == "credpush" {
            continue;
        }
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &to.join(&name));
        } else if entry.file_type().expect("type").is_symlink() {
            // templates/remote_dirs.sh, a relative link into ansible/, as git checks it out.
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).expect("readlink"), to.join(&name))
                .expect("symlink");
        } else {
            std::fs::copy(entry.path(), to.join(&name)).expect("copy");
        }
    }
}

/// Runs one build with `vars` (`NAME=VALUE`) on top of the project's; returns the run and the report artifact.
pub(super) fn build(
    env: &Env,
    moto: &Moto,
    world: &Value,
    src: &Path,
    vars: &[&str],
    shard: Option<&str>,
) -> (Run, Value) {
    let artifacts = env.path("artifacts");
    let _ = std::fs::remove_dir_all(&artifacts);
    let tmp = env.path("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    // The cache, restored: CodeBuild puts the cached venv back at the path it was built at.
    let cached = env.path(".credpush/venv");
    if !cached.exists() {
        std::fs::create_dir_all(cached.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(venv(), &cached).expect("symlink");
    }
    let mut cmd: Command = env.cmd(tool("python"));
    cmd.arg(repo_file("tests/support/codebuild_local.py"))
        .arg("--buildspec")
        .arg(src.join("buildspec.yml"))
        .arg("--src")
        .arg(src)
        .arg("--artifacts")
        .arg(&artifacts)
        .args(["--env", &format!("CREDPUSH_BIN={}", env!("CARGO_BIN_EXE_credpush"))])
        .args(["--env", &format!("CREDPUSH_MODULE_BIN={}", crate::ansible::module_binary().display())])
        .args(["--env", &format!("CREDPUSH_ROLE_ARN={}", world["target_role_arn"].as_str().expect("arn"))])
        .args(["--env", &format!("CREDPUSH_EXTERNAL_ID={}", world["external_id"].as_str().expect("id"))])
        .env("TMPDIR", &tmp)
        .env("CODEBUILD_AGENT_AWS_ACCESS_KEY_ID", world["agent"]["access_key_id"].as_str().expect("key"))
        .env("CODEBUILD_AGENT_AWS_SECRET_ACCESS_KEY", world["agent"]["secret_access_key"].as_str().expect("secret"));
    for v in vars {
        cmd.args(["--env", v]);
    }
    if let Some(id) = shard {
        cmd.args(["--shard-build", id]);
    }
    as_build(&mut cmd, moto, world);
    let r = run(&mut cmd);
    let report = std::fs::read_to_string(artifacts.join("credpush-report.json"))
        .map(|t| serde_json::from_str(&t).expect("report json"))
        .unwrap_or(Value::Null);
    (r, report)
}
