//! `format: credentials`: the module merges a managed `[NAME]` section into the AWS credentials file at `path`
//! ([`crate::host::credentials`]) instead of writing the document, with the writer contract of the document
//! (directory rule, 0600, stamp: no roll-back). The file holds other people's secrets too, so the diff shows the
//! section's shape alone and no message quotes the file.

use std::path::Path;

use serde_json::{Map, Value, json};

use super::args::ModuleArgs;
use super::{Existing, LOCK_WAIT};
use crate::host::atomic::{self, WriteOptions, Written};
use crate::host::credentials::{CredentialsSection, decode};
use crate::host::document::CredentialDocument;
use crate::host::secret::Secret;

/// What the diff shows of a section: its name, the key id's last 4 characters and the expiration.
fn shape(name: &str, doc: Option<&CredentialDocument>) -> String {
    match doc {
        None => String::new(),
        Some(d) => {
            let tail = d.access_key_id.get(d.access_key_id.len().saturating_sub(4)..).unwrap_or("");
            format!(
                "[{name}]\naws_access_key_id = ****{tail}\naws_secret_access_key = (redacted)\naws_session_token = (redacted)\n# expires {}\n",
                d.expiration_rfc3339()
            )
        }
    }
}

/// Applies the section for `doc` to `path` (`current` is what is there now; `uid`/`gid` its owner to be).
pub(super) fn apply(
    a: &ModuleArgs,
    doc: &CredentialDocument,
    path: &Path,
    current: Option<Existing>,
    (uid, gid): (Option<u32>, Option<u32>),
) -> Result<Value, String> {
    let shown = path.display().to_string();
    let name = a.profile.as_deref().unwrap_or_default();
    let section = CredentialsSection::new("profile", name).map_err(|e| e.to_string())?;
    let text = match &current {
        None => Secret::new(""),
        Some(c) => {
            let bytes = c.bytes.clone().ok_or_else(|| format!("{shown} is not a regular file of at most 1 MiB"))?;
            decode(bytes, path).map_err(|e| e.to_string())?
        }
    };
    let merged = section.merge(&text, doc, path).map_err(|e| e.to_string())?;
    let same_attrs = current
        .as_ref()
        .is_some_and(|c| c.mode == a.mode && uid.is_none_or(|u| u == c.uid) && gid.is_none_or(|g| g == c.gid));
    let mut changed = merged != text || !same_attrs;
    let mut superseded = false;
    if changed && !a.check_mode {
        let stamp = Some(a.stamp.unwrap_or_else(atomic::now_stamp));
        let opts = WriteOptions { mode: a.mode, owner: uid, group: gid, stamp, lock_wait: LOCK_WAIT };
        let written = atomic::write_file(path, merged.expose().as_bytes(), &opts).map_err(|e| e.to_string())?;
        if let Written::Newer(_) = written {
            (changed, superseded) = (false, true);
        }
    }
    let mut result = Map::new();
    result.insert("path".into(), json!(shown));
    result.insert("profile".into(), json!(name));
    if a.diff {
        let before =
            if text.expose().is_empty() { String::new() } else { format!("{shown} (other sections not shown)\n") };
        result.insert(
            "diff".into(),
            json!([{"before_header": shown, "after_header": shown, "before": before, "after": shape(name, Some(doc))}]),
        );
    }
    let expiration = doc.expiration_rfc3339();
    let msg = match (changed, a.check_mode) {
        _ if superseded => {
            result.insert("superseded".into(), json!(true));
            format!(
                "replaced by a newer rotation: {shown} holds the section of a rotation that assumed its role later; left as it was"
            )
        }
        (false, _) => format!("{shown}: section [{name}] is up to date (expires {expiration})"),
        (true, true) => format!("{shown}: section [{name}] would be written (expires {expiration})"),
        (true, false) => format!("{shown}: section [{name}] written and verified (expires {expiration})"),
    };
    result.insert("changed".into(), json!(changed));
    result.insert("expiration".into(), json!(expiration));
    result.insert("msg".into(), json!(msg));
    Ok(Value::Object(result))
}
