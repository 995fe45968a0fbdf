//! The Ansible module (`credpush.credpush.credpush`, built from `src/bin/credpush-ansible.rs`): Ansible copies it
//! to a host and runs it with the path of a JSON args file; it answers with exactly one JSON object on stdout.
//!
//! It writes a `credential_process` document with the same contract as `credpush rotate`'s SSH writer (temp file
//! in the same directory, fsync, rename, read back and compared) through [`crate::host::fsutil`], and ensures the
//! managed profile block with [`crate::host::profile`]. `changed` is true only when the content, mode or owner differ;
//! check mode computes and writes nothing; diff mode masks every secret. No result field ever holds a secret:
//! `no_log` hides only the task line, and a registered result prints in full.

pub mod args;
mod credentials;
use crate::host::ids;

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::host::fsutil::sha256_hex;
use serde_json::{Map, Value, json};

use crate::host::atomic::{self, WriteOptions, Written};
use crate::host::dirs;
use crate::host::document::CredentialDocument;
use crate::host::profile::{InstallOutcome, ProfileSpec};
use args::{ModuleArgs, State};

/// The largest existing file read back for comparison or diff: a document is far smaller, so a bigger file just
/// differs.
const MAX_EXISTING: u64 = 1 << 20;

/// How long the module waits for another writer of the same document.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs the module on the args file at `args_path`; returns the result object. `failed` is set on any failure.
pub fn run(args_path: &Path) -> Value {
    match read_args(args_path).and_then(|text| {
        let args = args::parse(&text, time::OffsetDateTime::now_utc())?;
        apply(&args)
    }) {
        Ok(result) => result,
        Err(msg) => json!({ "failed": true, "changed": false, "msg": msg }),
    }
}

/// Run with this flag, the module reads its args (the same JSON object) from stdin, up to its end, instead of a
/// file: the Ansible action runs the copy `credpush rotate` or an earlier task kept on the host that way, so that
/// neither the module nor an args file is sent and written for each task.
pub const STDIN_FLAG: &str = "--credpush-ansible-stdin";

/// Runs the module on the args read from stdin (see [`STDIN_FLAG`]); returns the result object.
pub fn run_stdin() -> Value {
    let mut text = Vec::new();
    let read = std::io::stdin()
        .lock()
        .take(args::MAX_ARGS_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| format!("cannot read the module args from stdin: {e}"));
    match read.and_then(|_| {
        if text.len() as u64 > args::MAX_ARGS_BYTES {
            return Err(format!("the module args on stdin are over {} bytes", args::MAX_ARGS_BYTES));
        }
        let args = args::parse(&text, time::OffsetDateTime::now_utc())?;
        apply(&args)
    }) {
        Ok(result) => result,
        Err(msg) => json!({ "failed": true, "changed": false, "msg": msg }),
    }
}

fn read_args(path: &Path) -> Result<Vec<u8>, String> {
    let mut text = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(args::MAX_ARGS_BYTES + 1).read_to_end(&mut text))
        .map_err(|e| format!("cannot read the module args file {}: {e}", path.display()))?;
    if text.len() as u64 > args::MAX_ARGS_BYTES {
        return Err(format!("the module args file {} is over {} bytes", path.display(), args::MAX_ARGS_BYTES));
    }
    Ok(text)
}

/// `~/…` against the home of the user the module runs as.
fn absolute(path: &str) -> Result<PathBuf, String> {
    match path.strip_prefix("~/") {
        Some(rest) => Ok(ids::home()?.join(rest)),
        None => Ok(PathBuf::from(path)),
    }
}

/// What is at a path now: its bytes (up to [`MAX_EXISTING`]), mode and owner.
struct Existing {
    bytes: Option<Vec<u8>>,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// What is at `path`, read through its directory once that passed the directory rule ([`dirs`]); `owner` is the
/// user a root module hands the file to, who may own that directory. A missing directory means a missing file. A
/// symlink at `path` is replaced by the rename, as the SSH writer's `mv` does; its target is never read.
fn existing(path: &Path, owner: Option<u32>) -> Result<Option<Existing>, String> {
    let (dir, name) = dirs::split(path).ok_or_else(|| format!("{} names no file", path.display()))?;
    if !dir.is_dir() {
        return Ok(None);
    }
    let found = dirs::open_dir(dir, false, owner).and_then(|d| d.existing(name, MAX_EXISTING));
    match found.map_err(|e| e.to_string())? {
        None => Ok(None),
        Some(e) if e.is_dir => Err(format!(
            "{} is a directory (fix: point path at a file, e.g. {}/temp.json)",
            path.display(),
            path.display()
        )),
        Some(e) => Ok(Some(Existing { bytes: e.bytes, mode: e.mode, uid: e.uid, gid: e.gid })),
    }
}

/// A document with every secret masked, for diffs: only the Expiration and the key id's last 4 characters show.
fn masked(bytes: Option<&[u8]>, mode: Option<u32>) -> String {
    let body = match bytes.map(CredentialDocument::parse) {
        None => String::new(),
        Some(Ok(d)) => {
            let key = &d.access_key_id;
            let tail = key.get(key.len().saturating_sub(4)..).unwrap_or("");
            format!(
                "Version: 1\nAccessKeyId: ****{tail}\nSecretAccessKey: (redacted)\nSessionToken: (redacted)\nExpiration: {}\n",
                d.expiration_rfc3339()
            )
        }
        Some(Err(_)) => "(not a credential_process document; content not shown)\n".into(),
    };
    match mode {
        Some(m) => format!("{body}mode: {m:04o}\n"),
        None => body,
    }
}

fn apply(a: &ModuleArgs) -> Result<Value, String> {
    let path = absolute(&a.path)?;
    let shown = path.display().to_string();
    let uid = a.owner.as_deref().map(ids::resolve_user).transpose()?;
    let gid = a.group.as_deref().map(ids::resolve_group).transpose()?;
    let current = existing(&path, uid)?;
    let mut result = Map::new();
    result.insert("path".into(), json!(shown));
    let Some(doc) = &a.document else {
        // state: absent
        let changed = current.is_some();
        if changed && !a.check_mode {
            let (dir, name) = dirs::split(&path).ok_or_else(|| format!("{shown} names no file"))?;
            dirs::open_dir(dir, false, uid).and_then(|d| d.remove(name)).map_err(|e| e.to_string())?;
        }
        if a.diff {
            let before = current.as_ref().map(|c| masked(c.bytes.as_deref(), Some(c.mode))).unwrap_or_default();
            result.insert(
                "diff".into(),
                json!({"before_header": shown, "after_header": shown, "before": before, "after": ""}),
            );
        }
        let verb = match (changed, a.check_mode) {
            (false, _) => "is already absent",
            (true, true) => "would be removed",
            (true, false) => "removed",
        };
        result.insert("changed".into(), json!(changed));
        result.insert("msg".into(), json!(format!("{shown} {verb}")));
        return Ok(Value::Object(result));
    };
    debug_assert_eq!(a.state, State::Present);
    if a.credentials {
        return credentials::apply(a, doc, &path, current, (uid, gid));
    }
    let json = doc.to_json();
    let want = json.expose().as_bytes();
    let sha = sha256_hex(want);
    let same_content = current.as_ref().and_then(|c| c.bytes.as_deref()) == Some(want);
    let same_attrs = current
        .as_ref()
        .is_some_and(|c| c.mode == a.mode && uid.is_none_or(|u| u == c.uid) && gid.is_none_or(|g| g == c.gid));
    let doc_changed = !(same_content && same_attrs);
    let mut superseded = None;
    if doc_changed && !a.check_mode {
        if same_content {
            // Only the mode or owner differ: fix them in place rather than rewrite the file.
            let (dir, name) = dirs::split(&path).ok_or_else(|| format!("{shown} names no file"))?;
            dirs::open_dir(dir, false, uid)
                .and_then(|d| d.set_attrs(name, a.mode, uid, gid))
                .map_err(|e| e.to_string())?;
        } else {
            // No stamp (content given by hand): the write is stamped now, so only a later rotation replaces it.
            let stamp = Some(a.stamp.unwrap_or_else(atomic::now_stamp));
            let opts = WriteOptions { mode: a.mode, owner: uid, group: gid, stamp, lock_wait: LOCK_WAIT };
            // The write reads the renamed file back and compares it, as the SSH writer does.
            if let Written::Newer(kept) = atomic::write_file(&path, want, &opts).map_err(|e| e.to_string())? {
                superseded = Some(kept);
            }
        }
    }
    let doc_changed = doc_changed && superseded.is_none();
    let mut diffs = Vec::new();
    if a.diff {
        let before = current.as_ref().map(|c| masked(c.bytes.as_deref(), Some(c.mode))).unwrap_or_default();
        diffs.push(json!({"before_header": shown, "after_header": shown, "before": before, "after": masked(Some(want), Some(a.mode))}));
    }
    let mut changed = doc_changed;
    if let Some(name) = &a.profile {
        let (outcome, diff) = ensure_profile(a, name, &shown)?;
        changed |= outcome != InstallOutcome::Unchanged;
        result.insert("profile".into(), json!(outcome.as_str()));
        diffs.extend(diff);
    }
    if a.diff {
        result.insert("diff".into(), Value::Array(diffs));
    }
    let expiration = doc.expiration_rfc3339();
    let msg = match (doc_changed, a.check_mode) {
        _ if superseded.is_some() => {
            result.insert("superseded".into(), json!(true));
            format!(
                "replaced by a newer rotation: {shown} holds the document of a rotation that assumed its role later; left as it was"
            )
        }
        (false, _) => format!("{shown} is up to date (expires {expiration})"),
        (true, true) => format!("{shown} would be written (expires {expiration})"),
        (true, false) => format!("{shown} written and verified (expires {expiration})"),
    };
    result.insert("changed".into(), json!(changed));
    result.insert("expiration".into(), json!(expiration));
    result.insert("sha256".into(), json!(sha));
    result.insert("msg".into(), json!(msg));
    Ok(Value::Object(result))
}

/// Ensures the managed profile block as `credpush profile --install` does (the same merge, the file's mode kept,
/// a new file 0600), writing nothing in check mode. Its diff shows the managed block alone (see
/// [`ProfileSpec::managed_block`]).
fn ensure_profile(a: &ModuleArgs, name: &str, doc_path: &str) -> Result<(InstallOutcome, Option<Value>), String> {
    let spec = ProfileSpec::new(name, doc_path, a.region.as_deref()).map_err(|e| e.to_string())?;
    let config = absolute(a.config_file.as_deref().unwrap_or("~/.aws/config"))?;
    let current = existing(&config, a.owner.as_deref().map(ids::resolve_user).transpose()?)?;
    let (text, outcome) = match &current {
        Some(c) => {
            let bytes = c
                .bytes
                .clone()
                .ok_or_else(|| format!("{} is not a regular file of at most 1 MiB", config.display()))?;
            let text = String::from_utf8(bytes).map_err(|_| {
                format!("{} is not UTF-8 text (fix: point config_file at an AWS config file)", config.display())
            })?;
            (text, InstallOutcome::Updated)
        }
        None => (String::new(), InstallOutcome::Created),
    };
    let merged = spec.merge(&text, &config).map_err(|e| e.to_string())?;
    if outcome == InstallOutcome::Updated && merged == text {
        return Ok((InstallOutcome::Unchanged, None));
    }
    if !a.check_mode {
        // An existing file keeps its mode and owner; a new one is 0600 and belongs to `owner`, like the document.
        let (mode, uid, gid) = match &current {
            // Only an owner that differs from the writer's needs a chown (and root).
            Some(c) => (
                c.mode,
                Some(c.uid).filter(|&u| Some(u) != ids::effective_uid()),
                Some(c.gid).filter(|&g| Some(g) != ids::effective_gid()),
            ),
            None => (
                0o600,
                a.owner.as_deref().map(ids::resolve_user).transpose()?,
                a.group.as_deref().map(ids::resolve_group).transpose()?,
            ),
        };
        crate::host::fsutil::write_atomic_owned(&config, merged.as_bytes(), mode, uid, gid)
            .map_err(|e| e.to_string())?;
    }
    let shown = config.display().to_string();
    // Only the managed block: the rest of the file may hold a static aws_secret_access_key left by someone else.
    let diff = a.diff.then(|| {
        json!({"before_header": shown, "after_header": shown,
               "before": spec.managed_block(&text), "after": spec.managed_block(&merged)})
    });
    Ok((outcome, diff))
}

#[cfg(test)]
mod tests;
