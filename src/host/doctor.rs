//! `credpush doctor`: runs on a host, as the user whose jobs use the profile, and finds the usual traps before a
//! job does: `~` in `credential_process`, HOME unset under systemd, loose permissions, a document about to expire,
//! environment variables or sections that shadow the profile, container credentials variables that take over from
//! it (and whether their endpoint answers), and a clock too far off for SigV4.
//!
//! Each finding has a severity and a fix. The exit code is the worst severity: 0 ok, 1 warning, 5 error.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::host::document::{ADVISORY_REFRESH, CredentialDocument, MANDATORY_REFRESH};

/// Exit code when the worst finding is an error.
pub const EXIT_DOCTOR_ERROR: i32 = 5;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// As it should be.
    Ok,
    /// Works now, but will break or surprise someone.
    Warning,
    /// Jobs fail, or will within minutes.
    Error,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// Short name of the check (`profile`, `path`, `permissions`, …).
    pub check: &'static str,
    /// How bad.
    pub severity: Severity,
    /// What was found.
    pub message: String,
    /// What to do, when something is wrong.
    pub fix: Option<String>,
}

fn finding(check: &'static str, severity: Severity, message: String, fix: Option<&str>) -> Finding {
    Finding { check, severity, message, fix: fix.map(str::to_owned) }
}

/// What doctor looks at: the process's view of the world, so tests can set it.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `--profile`, else `AWS_PROFILE`; `None` means "the one credpush manages, if there is exactly one".
    pub profile: Option<String>,
    /// `--config`, else `AWS_CONFIG_FILE`, else `$HOME/.aws/config`.
    pub config: Option<PathBuf>,
    /// `HOME`.
    pub home: Option<PathBuf>,
    /// `AWS_PROFILE`.
    pub aws_profile: Option<String>,
    /// Names of the `AWS_*` credential variables that are set.
    pub env_keys: Vec<&'static str>,
    /// `AWS_SHARED_CREDENTIALS_FILE`, else `$HOME/.aws/credentials`.
    pub credentials_file: Option<PathBuf>,
    /// This process's uid.
    pub uid: u32,
    /// The container credentials variables (`credpush serve`'s consumers).
    pub container: crate::host::serve::check::ContainerVars,
    /// What the endpoint in `AWS_CONTAINER_CREDENTIALS_FULL_URI` answered, when it was asked.
    pub container_probe: Option<Result<crate::host::serve::probe::Probe, String>>,
}

impl Inputs {
    /// Reads them from the environment, with the command's flags first.
    pub fn from_env(profile: Option<String>, config: Option<PathBuf>) -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let home = var("HOME").map(PathBuf::from);
        let aws_profile = var("AWS_PROFILE").map(|v| v.to_string_lossy().into_owned());
        let config = config.or_else(|| var("AWS_CONFIG_FILE").map(PathBuf::from));
        let credentials_file = var("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from);
        let env_keys = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]
            .into_iter()
            .filter(|k| var(k).is_some())
            .collect();
        Self {
            profile: profile.or_else(|| aws_profile.clone()),
            config,
            home,
            aws_profile,
            env_keys,
            credentials_file,
            uid: rustix::process::getuid().as_raw(),
            container: crate::host::serve::check::ContainerVars::from_env(),
            container_probe: None,
        }
    }
}

/// The `[section]`s of an INI text with their `key = value` lines (botocore's reading, simplified: no
/// continuation lines, which credential_process never needs).
fn sections(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || t.starts_with(';') || t.is_empty() {
            continue;
        }
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            out.push((name.trim().to_owned(), Vec::new()));
        } else if let (Some((k, v)), Some(last)) = (t.split_once('='), out.last_mut()) {
            last.1.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    out
}

fn section_name(profile: &str) -> String {
    if profile == "default" { "default".into() } else { format!("profile {profile}") }
}

/// Runs every check. `clock_skew` is the measured offset of the local clock from STS's, when it could be measured
/// (or why not).
pub fn diagnose(inputs: &Inputs, now: OffsetDateTime, clock_skew: Result<time::Duration, String>) -> Vec<Finding> {
    use Severity::{Error, Ok as Good, Warning};
    let mut f = Vec::new();
    match &inputs.home {
        Some(h) => f.push(finding("home", Good, format!("HOME is {}", h.display()), None)),
        None => f.push(finding(
            "home",
            Error,
            "HOME is not set, so the AWS SDKs cannot find ~/.aws/config (typical under systemd or cron)".into(),
            Some("set HOME for the job (systemd: User= or Environment=HOME=/home/USER), or set AWS_CONFIG_FILE"),
        )),
    }
    for k in &inputs.env_keys {
        f.push(finding(
            "environment",
            Warning,
            format!("{k} is set: keys in the environment take precedence over every profile, so the rotated credentials are not used"),
            Some("unset AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN for jobs that should use the profile"),
        ));
    }
    f.extend(crate::host::serve::check::findings(
        &inputs.container,
        inputs.aws_profile.as_deref(),
        inputs.container_probe.as_ref(),
    ));
    let Some(config) = inputs.config.clone().or_else(|| inputs.home.as_ref().map(|h| h.join(".aws/config"))) else {
        return f;
    };
    let text = match crate::host::input::read_regular_text(&config, crate::host::input::MAX_CONFIG_BYTES) {
        Ok(t) => t,
        Err(e) => {
            f.push(finding(
                "config",
                Error,
                format!("cannot read {}: {e}", config.display()),
                Some("install the profile: credpush profile --name NAME --path ABS_PATH --install ~/.aws/config (or rotate with --install-profile)"),
            ));
            return f;
        }
    };
    let secs = sections(&text);
    let managed: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# >>> credpush managed profile \"")?.strip_suffix("\" >>>").map(str::to_owned))
        .collect();
    let profile = match (&inputs.profile, managed.as_slice()) {
        (Some(p), _) => p.clone(),
        (None, [one]) => one.clone(),
        (None, _) => {
            f.push(finding(
                "profile",
                Error,
                format!("no --profile given, and {} has {} credpush profiles", config.display(), managed.len()),
                Some("name the profile with --profile NAME"),
            ));
            return f;
        }
    };
    if let Some(p) = &inputs.aws_profile
        && *p != profile
    {
        f.push(finding(
            "environment",
            Warning,
            format!("AWS_PROFILE is {p:?}, so jobs in this environment use that profile, not {profile:?}"),
            Some("set AWS_PROFILE to the credpush profile for jobs that should use it"),
        ));
    }
    if inputs.aws_profile.is_none() && profile != "default" && secs.iter().any(|(n, _)| n == "default") {
        f.push(finding(
            "environment",
            Warning,
            format!("AWS_PROFILE is not set and {} has a [default] section: jobs that do not name a profile use [default], not {profile:?}", config.display()),
            Some(&format!("export AWS_PROFILE={profile} for the jobs, or pass --profile {profile}")),
        ));
    }
    let Some((_, keys)) = secs.iter().find(|(n, _)| *n == section_name(&profile)) else {
        f.push(finding(
            "profile",
            Error,
            format!("[{}] is not in {}", section_name(&profile), config.display()),
            Some("install it: credpush profile --name NAME --path ABS_PATH --install ~/.aws/config (or rotate with --install-profile)"),
        ));
        return f;
    };
    let creds_file =
        inputs.credentials_file.clone().or_else(|| inputs.home.as_ref().map(|h| h.join(".aws/credentials")));
    if let Some(cf) = creds_file
        && let Ok(ct) = crate::host::input::read_regular_text(&cf, crate::host::input::MAX_CONFIG_BYTES)
        && sections(&ct).iter().any(|(n, kv)| *n == profile && kv.iter().any(|(k, _)| k == "aws_access_key_id"))
    {
        f.push(finding(
            "profile",
            Warning,
            format!("{} has keys for [{profile}]: botocore prefers them to credential_process", cf.display()),
            Some(&format!("remove the [{profile}] keys from {}", cf.display())),
        ));
    }
    let Some(process) = keys.iter().find(|(k, _)| k == "credential_process").map(|(_, v)| v.clone()) else {
        f.push(finding(
            "profile",
            Error,
            format!("[{}] has no credential_process", section_name(&profile)),
            Some("reinstall it with credpush profile --install"),
        ));
        return f;
    };
    let path = match crate::host::profile::document_path(&process) {
        Some(p) => p,
        None => {
            f.push(finding(
                "profile",
                Warning,
                format!("credential_process is {process:?}, not a credpush document reader; nothing more to check"),
                None,
            ));
            return f;
        }
    };
    if path.contains('~') || path.contains('$') || !path.starts_with('/') {
        f.push(finding(
            "path",
            Error,
            format!("credential_process reads {path:?}: botocore runs it without a shell, so ~, $VARIABLES and relative paths are not expanded"),
            Some("write the absolute path, e.g. credpush profile --path /home/USER/.aws/temp.json --install ~/.aws/config"),
        ));
        return f;
    }
    f.push(finding("profile", Good, format!("[{}] reads {path}", section_name(&profile)), None));
    document_findings(&mut f, Path::new(&path), inputs.uid, now);
    match clock_skew {
        Ok(skew) => {
            let secs = skew.whole_seconds();
            let (sev, fix) = match secs.abs() {
                0..=59 => (Good, None),
                60..=299 => (
                    Warning,
                    Some(
                        "sync the clock (chrony or systemd-timesyncd); AWS refuses signatures more than 5 minutes off",
                    ),
                ),
                _ => (
                    Error,
                    Some(
                        "sync the clock now (chrony or systemd-timesyncd): AWS refuses signatures more than 5 minutes off",
                    ),
                ),
            };
            f.push(finding("clock", sev, format!("the local clock is {secs}s off STS's"), fix));
        }
        Err(why) => f.push(finding("clock", Warning, format!("could not compare the clock with STS: {why}"), None)),
    }
    f
}

fn document_findings(f: &mut Vec<Finding>, path: &Path, uid: u32, now: OffsetDateTime) {
    use Severity::{Error, Ok as Good, Warning};
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            f.push(finding(
                "document",
                Error,
                format!("cannot stat {}: {e}", path.display()),
                Some("run the rotation for this host"),
            ));
            return;
        }
    };
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        f.push(finding(
            "permissions",
            Error,
            format!("{} is mode {mode:04o}: others on this host can read the credentials", path.display()),
            Some(&format!("chmod 600 {} (credpush writes 0600; something else changed it)", path.display())),
        ));
    } else {
        f.push(finding("permissions", Good, format!("{} is mode {mode:04o}", path.display()), None));
    }
    if meta.uid() != uid {
        f.push(finding(
            "owner",
            Warning,
            format!("{} is owned by uid {}, not by this user (uid {uid})", path.display(), meta.uid()),
            Some("rotate as the user whose jobs read the file (ansible_user or ansible_become_user)"),
        ));
    }
    let bytes = match crate::host::input::read_regular(path, crate::host::read::MAX_DOCUMENT_BYTES) {
        Ok(b) => b,
        Err(e) => {
            f.push(finding(
                "document",
                Error,
                format!("cannot read {}: {e}", path.display()),
                Some("make it readable by this user"),
            ));
            return;
        }
    };
    let doc = match CredentialDocument::parse(&bytes) {
        Ok(d) => d,
        Err(e) => {
            f.push(finding(
                "document",
                Error,
                format!("{} is not a valid credential document: {e}", path.display()),
                Some("rotate again; if it happens again, check what else writes to the file"),
            ));
            return;
        }
    };
    let left = doc.time_left(now);
    let mins = left.whole_minutes();
    let exp = doc.expiration_rfc3339();
    let (sev, message, fix) = if left <= time::Duration::ZERO {
        (Error, format!("the document expired at {exp}"), Some("check the rotation job (credpush status), then rotate"))
    } else if left <= MANDATORY_REFRESH {
        (
            Error,
            format!(
                "the document expires at {exp}, in {mins} min: inside botocore's 10-minute window, calls fail unless a new one arrives"
            ),
            Some("rotate now, and rotate more often than the credentials' lifetime minus 15 minutes"),
        )
    } else if left <= ADVISORY_REFRESH {
        (
            Warning,
            format!("the document expires at {exp}, in {mins} min: inside botocore's 15-minute refresh window"),
            Some("the next rotation should land within minutes; check the schedule if this repeats"),
        )
    } else {
        (Good, format!("the document is valid until {exp} ({mins} min left)"), None)
    };
    f.push(finding("document", sev, message, fix));
}

/// The worst severity's exit code: 0, 1 or [`EXIT_DOCTOR_ERROR`].
pub fn exit_code(findings: &[Finding]) -> i32 {
    match findings.iter().map(|f| f.severity).max() {
        Some(Severity::Error) => EXIT_DOCTOR_ERROR,
        Some(Severity::Warning) => 1,
        _ => 0,
    }
}

/// The human report: one line per finding, the fix indented under it.
pub fn human(findings: &[Finding]) -> String {
    let mut out = String::new();
    for x in findings {
        let tag = match x.severity {
            Severity::Ok => "ok     ",
            Severity::Warning => "warning",
            Severity::Error => "error  ",
        };
        out.push_str(&format!("{tag} {:<11} {}\n", x.check, crate::term::escape(&x.message)));
        if let Some(fix) = &x.fix {
            out.push_str(&format!("{:20}fix: {}\n", "", crate::term::escape(fix)));
        }
    }
    out
}
