//! The module's arguments: Ansible's flat JSON args file, checked once with Ansible's own wording, into
//! [`ModuleArgs`]. Nothing here ever quotes `content`.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::host::document::CredentialDocument;

/// The module's name in Ansible's messages.
pub const MODULE: &str = "credpush";

/// Every option the module accepts, sorted as Ansible lists them.
pub const SUPPORTED: [&str; 11] =
    ["config_file", "content", "format", "group", "mode", "owner", "path", "profile", "region", "stamp", "state"];

/// The options of the credpush task, as the collection documents them (plugins/modules/credpush.yml) and its
/// action checks them: the module's own (less `stamp`, which only the action sets) and the action's, which the
/// action consumes on the controller. "Unsupported parameters" lists these, since they are what a task may pass.
pub const TASK_OPTIONS: [&str; 15] = [
    "config_file",
    "content",
    "credpush_bin",
    "duration",
    "external_id",
    "format",
    "group",
    "mode",
    "owner",
    "path",
    "profile",
    "region",
    "role_arn",
    "session_name",
    "state",
];

/// The largest args file read: a document is under 4 KiB, so anything far bigger is not ours.
pub const MAX_ARGS_BYTES: u64 = 1 << 20;

/// What the task asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// The document is at `path` with `mode` (and `owner`/`group`).
    Present,
    /// Nothing is at `path`.
    Absent,
}

/// Checked module arguments.
#[derive(Debug)]
pub struct ModuleArgs {
    /// `path` as given: absolute or `~/…`.
    pub path: String,
    /// The validated document (`state: present`).
    pub document: Option<CredentialDocument>,
    /// `state`.
    pub state: State,
    /// `mode`, default 0600; never readable by group or others.
    pub mode: u32,
    /// `owner`, a name or an id.
    pub owner: Option<String>,
    /// `group`, a name or an id.
    pub group: Option<String>,
    /// `profile`: the managed `~/.aws/config` block to ensure.
    pub profile: Option<String>,
    /// `config_file`, default `~/.aws/config`.
    pub config_file: Option<String>,
    /// `region` written into the profile.
    pub region: Option<String>,
    /// `format: credentials`: `path` is an AWS credentials file, and `profile` names the managed section written
    /// into it instead of the document.
    pub credentials: bool,
    /// `stamp`: when the rotation assumed its role (nanoseconds since the epoch), set by the action; a document a
    /// later rotation wrote is left alone.
    pub stamp: Option<u64>,
    /// `_ansible_check_mode`.
    pub check_mode: bool,
    /// `_ansible_diff`.
    pub diff: bool,
}

/// The `_ansible_*` keys the module reads; any other `_ansible_*` key is tolerated and ignored.
#[derive(Debug, Default, Deserialize)]
struct Internal {
    #[serde(default, rename = "_ansible_check_mode")]
    check_mode: bool,
    #[serde(default, rename = "_ansible_diff")]
    diff: bool,
}

/// Strings, or numbers Ansible's templating produced from them (`owner: 1001`, `mode: 0600`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Number(u64),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    path: String,
    content: Option<Value>,
    state: Option<String>,
    mode: Option<Scalar>,
    owner: Option<Scalar>,
    group: Option<Scalar>,
    profile: Option<String>,
    config_file: Option<String>,
    region: Option<String>,
    stamp: Option<Scalar>,
    format: Option<String>,
}

impl Scalar {
    fn text(self) -> String {
        match self {
            Scalar::Text(s) => s,
            Scalar::Number(n) => n.to_string(),
        }
    }
}

/// Parses and checks the args file's JSON. Errors are Ansible's own sentences where Ansible has one.
pub fn parse(text: &[u8], now: time::OffsetDateTime) -> Result<ModuleArgs, String> {
    let map: Map<String, Value> = serde_json::from_slice(text).map_err(|e| {
        format!("the module args are not a JSON object ({:?} error at line {})", e.classify(), e.line())
    })?;
    let (internal, mut given): (Map<_, _>, Map<_, _>) = map.into_iter().partition(|(k, _)| k.starts_with("_ansible_"));
    let internal: Internal = serde_json::from_value(Value::Object(internal))
        .map_err(|e| format!("unexpected internal Ansible argument: {e}"))?;
    let mut unknown: Vec<&str> = given.keys().map(String::as_str).filter(|k| !SUPPORTED.contains(k)).collect();
    if let Some(option) = unknown.iter().find(|k| TASK_OPTIONS.contains(k)) {
        // Only the action reads these; they reach the module when it runs without its action.
        return Err(format!(
            "{option} is an option of the credpush action, which runs on the controller before the module (fix: call the module as credpush.credpush.credpush, with its action)"
        ));
    }
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(format!(
            "Unsupported parameters for ({MODULE}) module: {}. Supported parameters include: {}.",
            unknown.join(", "),
            TASK_OPTIONS.join(", ")
        ));
    }
    // Ansible drops omitted options (`default(omit)`) but passes explicit nulls; both mean "not set".
    given.retain(|_, v| !v.is_null());
    if !given.contains_key("path") {
        return Err("missing required arguments: path".into());
    }
    for (key, value) in &given {
        let ok = match key.as_str() {
            "content" => value.is_string() || value.is_object(),
            "mode" | "owner" | "group" | "stamp" => value.is_string() || value.is_u64(),
            _ => value.is_string(),
        };
        if !ok {
            let kind = match value {
                Value::Bool(_) => "bool",
                Value::Number(_) => "number",
                Value::Array(_) => "list",
                Value::Object(_) => "dict",
                _ => "str",
            };
            return Err(format!("argument '{key}' is of type {kind} and we were unable to convert to str"));
        }
    }
    let raw: Raw =
        serde_json::from_value(Value::Object(given)).map_err(|e| format!("invalid module arguments: {e}"))?;
    let state = match raw.state.as_deref() {
        None | Some("present") => State::Present,
        Some("absent") => State::Absent,
        Some(other) => return Err(format!("value of state must be one of: present, absent, got: {other}")),
    };
    check_path("path", &raw.path)?;
    if let Some(c) = &raw.config_file {
        check_path("config_file", c)?;
    }
    let document = match (state, raw.content) {
        (State::Present, None) => return Err("state is present but all of the following are missing: content".into()),
        (State::Present, Some(content)) => Some(document(content, now)?),
        (State::Absent, Some(_)) => return Err("parameters are mutually exclusive: content|state=absent".into()),
        (State::Absent, None) => None,
    };
    if state == State::Absent && raw.profile.is_some() {
        return Err("parameters are mutually exclusive: profile|state=absent".into());
    }
    let credentials = match raw.format.as_deref() {
        None | Some("json") => false,
        Some("credentials") => true,
        Some(other) => return Err(format!("value of format must be one of: json, credentials, got: {other}")),
    };
    if credentials && state == State::Absent {
        return Err("parameters are mutually exclusive: format=credentials|state=absent".into());
    }
    if credentials && raw.profile.is_none() {
        return Err("format is credentials but all of the following are missing: profile".into());
    }
    let mode = raw.mode.map(parse_mode).transpose()?.unwrap_or(0o600);
    let stamp = raw
        .stamp
        .map(|s| {
            let text = s.text();
            text.parse::<u64>().map_err(|_| format!("stamp {text:?} is not a number of nanoseconds since the epoch"))
        })
        .transpose()?;
    Ok(ModuleArgs {
        path: raw.path,
        document,
        state,
        mode,
        owner: raw.owner.map(Scalar::text),
        group: raw.group.map(Scalar::text),
        profile: raw.profile,
        config_file: raw.config_file,
        region: raw.region,
        credentials,
        stamp,
        check_mode: internal.check_mode,
        diff: internal.diff,
    })
}

/// The CLI's own path check ([`crate::host::path::check`]), in Ansible's words.
fn check_path(name: &str, path: &str) -> Result<(), String> {
    crate::host::path::check(path).map_err(|why| format!("{name} {path:?} is not usable: {why}"))
}

/// The document, checked as `credpush` checks what it pushes. Ansible's templating may hand over the JSON text
/// already parsed into a dict, so both forms are accepted and re-serialized canonically.
fn document(content: Value, now: time::OffsetDateTime) -> Result<CredentialDocument, String> {
    let text = match content {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let doc = CredentialDocument::parse(text.trim_end().as_bytes())
        .map_err(|e| format!("content is not a usable credential_process document: {e} (fix: pass the JSON that `credpush assume` prints)"))?;
    if doc.is_expired(now) {
        return Err(format!(
            "content expired at {} (fix: assume the role again and pass the new document)",
            doc.expiration_rfc3339()
        ));
    }
    Ok(doc)
}

/// `mode` as Ansible's file modules read it: a quoted octal string (`'0600'`, `'600'`, `'0o600'`), or the number
/// YAML made of an unquoted `0600`. The document is secret, so group and others get nothing, and the owner must
/// be able to read it.
fn parse_mode(mode: Scalar) -> Result<u32, String> {
    let value = match &mode {
        Scalar::Number(n) => u32::try_from(*n).ok(),
        Scalar::Text(s) => {
            // Octal digits only: from_str_radix alone would also take a sign (`+600`).
            let digits = s.strip_prefix("0o").unwrap_or(s);
            let octal = !digits.is_empty() && digits.bytes().all(|b| (b'0'..=b'7').contains(&b));
            octal.then(|| u32::from_str_radix(digits, 8).ok()).flatten()
        }
    };
    let shown = match &mode {
        Scalar::Text(s) => s.clone(),
        Scalar::Number(n) => format!("{n} (octal {n:o})"),
    };
    match value {
        Some(m) if m & !0o700 == 0 && m & 0o400 != 0 => Ok(m),
        Some(m) if m & 0o7077 != 0 => Err(format!(
            "mode {shown} gives group, others or special bits to a file that holds credentials (fix: use '0600', quoted)"
        )),
        Some(_) => Err(format!("mode {shown} does not let the owner read the file (fix: use '0600', quoted)")),
        None => Err(format!("mode {shown} is not an octal mode (fix: use '0600', quoted)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const NOW: time::OffsetDateTime = datetime!(2026-11-28 03:00:00 UTC);

    fn doc_text(secret: &str) -> String {
        format!(
            r#"{{"Version":1,"AccessKeyId":"ASIAEXAMPLE1234","SecretAccessKey":"{secret}","SessionToken":"TOKEN{secret}","Expiration":"2026-11-28T04:00:00Z"}}"#
        )
    }

    fn parse_json(v: Value) -> Result<ModuleArgs, String> {
        parse(v.to_string().as_bytes(), NOW)
    }

    #[test]
    fn reads_args_and_internal_keys() {
        let a = parse_json(json!({"path": "~/.aws/temp.json", "content": doc_text("S3CR3T"), "profile": "onprem",
            "_ansible_check_mode": true, "_ansible_diff": true, "_ansible_no_log": true, "_ansible_verbosity": 3,
            "_ansible_module_name": "credpush", "region": null}))
        .unwrap();
        assert_eq!(
            (a.path.as_str(), a.mode, a.state, a.check_mode, a.diff),
            ("~/.aws/temp.json", 0o600, State::Present, true, true)
        );
        assert_eq!(a.document.unwrap().access_key_id, "ASIAEXAMPLE1234");
        assert_eq!(a.region, None);
        // A dict (what templating makes of JSON text) is as good as the text.
        let as_dict: Value = serde_json::from_str(&doc_text("S")).unwrap();
        assert!(parse_json(json!({"path": "/x", "content": as_dict, "mode": 384, "owner": 1001})).is_ok());
    }

    #[test]
    fn the_task_options_hold_every_module_option_the_task_may_set() {
        // The collection's documentation lists TASK_OPTIONS (tests/it/ansible/collection.rs checks it), and the
        // action lets through only what it documents: a module option missing here could never be passed.
        for option in SUPPORTED {
            assert!(option == "stamp" || TASK_OPTIONS.contains(&option), "{option} is not a task option");
        }
        assert!(!TASK_OPTIONS.contains(&"stamp"), "only the action sets stamp");
        assert!(TASK_OPTIONS.is_sorted(), "Ansible lists them sorted");
    }

    #[test]
    fn refuses_with_ansible_wording_and_never_quotes_content() {
        let err = |v: Value| parse_json(v).unwrap_err();
        assert_eq!(
            err(json!({"path": "/x", "content": doc_text("S"), "bogus": 1, "also": 2})),
            "Unsupported parameters for (credpush) module: also, bogus. Supported parameters include: config_file, content, credpush_bin, duration, external_id, format, group, mode, owner, path, profile, region, role_arn, session_name, state."
        );
        assert_eq!(
            err(json!({"path": "/x", "content": doc_text("S"), "role_arn": "arn:aws:iam::123456789012:role/r"})),
            "role_arn is an option of the credpush action, which runs on the controller before the module (fix: call the module as credpush.credpush.credpush, with its action)"
        );
        assert_eq!(err(json!({"content": doc_text("S")})), "missing required arguments: path");
        assert_eq!(err(json!({"path": "/x"})), "state is present but all of the following are missing: content");
        assert_eq!(
            err(json!({"path": "/x", "state": "gone"})),
            "value of state must be one of: present, absent, got: gone"
        );
        for bad in ["rel/x", "/a/../etc/x", "/a/$HOME/x", "~/x/", "/a/\u{7}b"] {
            let msg = err(json!({"path": bad, "content": doc_text("S")}));
            assert!(msg.starts_with("path ") && msg.contains("is not usable: expected"), "{bad}: {msg}");
        }
        let big = doc_text(&"S".repeat(900 * 1024));
        assert!(err(json!({"path": "/x", "content": big})).contains("over the 65536 a credential document can be"));
        assert!(err(json!({"path": "/x", "content": doc_text("S"), "stamp": "soon"})).starts_with("stamp "));
        assert!(err(json!({"path": ["/x"]})).contains("argument 'path' is of type list"));
        assert_eq!(
            err(json!({"path": "/x", "content": doc_text("S"), "format": "credentials"})),
            "format is credentials but all of the following are missing: profile"
        );
        assert_eq!(
            err(json!({"path": "/x", "content": doc_text("S"), "format": "ini"})),
            "value of format must be one of: json, credentials, got: ini"
        );
        assert!(err(json!({"path": "/x", "state": "absent", "format": "credentials"})).contains("mutually exclusive"));
        for bad in [
            json!("0640"),
            json!("0604"),
            json!(0o644),
            json!("u=rw"),
            json!("0200"),
            json!("4600"),
            json!(""),
            json!("+600"),
            json!("-0600"),
        ] {
            assert!(err(json!({"path": "/x", "content": doc_text("S"), "mode": bad})).starts_with("mode "), "{bad}");
        }
        let broken = doc_text("S3CR3T").replace("\"Version\":1", "\"Version\":2");
        let msg = err(json!({"path": "/x", "content": broken}));
        assert!(msg.starts_with("content is not a usable credential_process document: unsupported Version 2"), "{msg}");
        let truncated = &doc_text("S3CR3T")[..60];
        let msg = err(json!({"path": "/x", "content": truncated}));
        assert!(!msg.contains("S3CR3T") && msg.contains("Eof"), "{msg}");
        let expired = doc_text("S3CR3T").replace("2026-11-28T04", "2026-11-28T02");
        assert!(err(json!({"path": "/x", "content": expired})).starts_with("content expired at 2026-11-28T02:00:00Z"));
    }

    #[test]
    fn modes() {
        for (given, want) in
            [(json!("0600"), 0o600), (json!("600"), 0o600), (json!("0o400"), 0o400), (json!(0o700), 0o700)]
        {
            let a = parse_json(json!({"path": "/x", "content": doc_text("S"), "mode": given})).unwrap();
            assert_eq!(a.mode, want);
        }
    }
}
