//! The on-prem profile: a `~/.aws/config` block whose `credential_process` reads the pushed document, and an
//! idempotent merge of that block into an existing config file between managed markers.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::{Error, Result};

#[cfg(feature = "cli")]
const TEMPLATE: &str = include_str!("../../templates/profile.tera");
use crate::host::fsutil::write_atomic;

/// A checked profile: a name botocore accepts, an absolute path, and an optional region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSpec {
    name: String,
    path: String,
    region: Option<String>,
    /// The absolute path of a `credpush` binary whose `read` replaces `cat`.
    reader: Option<String>,
}

/// What `install` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallOutcome {
    /// The file did not exist and was created 0600.
    Created,
    /// The managed block was added or replaced.
    Updated,
    /// The file already held exactly this block; nothing was written.
    Unchanged,
}

impl InstallOutcome {
    /// The word reports use: `created`, `updated`, `unchanged`.
    pub fn as_str(self) -> &'static str {
        match self {
            InstallOutcome::Created => "created",
            InstallOutcome::Updated => "updated",
            InstallOutcome::Unchanged => "unchanged",
        }
    }
}

/// Config keys whose values are secrets.
const SECRET_KEYS: [&str; 3] = ["aws_secret_access_key", "aws_session_token", "aws_security_token"];

/// Whether `value` has the shape of an AWS region name: two letters, lower-case words, and a number of one or two
/// digits, joined by `-` (`us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`). Shared with the STS flags.
pub fn is_region_name(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let Some((last, words)) = parts.split_last() else { return false };
    parts.len() >= 3
        && words[0].len() == 2
        && words.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && (1..=2).contains(&last.len())
        && last.bytes().all(|b| b.is_ascii_digit())
}

impl ProfileSpec {
    /// Checks the name, path and region. botocore runs `credential_process` without a shell, so `~` and `$VAR`
    /// are never expanded: the path must be absolute and literal.
    pub fn new(name: &str, path: &str, region: Option<&str>) -> Result<Self> {
        let name_ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.@+=,".contains(c));
        if !name_ok {
            return Err(Error::invalid("--name", name, "a profile name is letters, digits and _-.@+=, (e.g. onprem)"));
        }
        let path_err = |reason: &str| Error::ProfilePath { path: path.to_owned(), reason: reason.to_owned() };
        if path.contains('~') || path.contains('$') {
            return Err(path_err(
                "botocore runs credential_process without a shell, so ~ and $VARIABLES are not expanded (fix: give the absolute path, e.g. /home/deploy/.aws/temp.json)",
            ));
        }
        if !path.starts_with('/') {
            return Err(path_err(
                "it is relative, and botocore runs credential_process from the caller's working directory (fix: give the absolute path, e.g. /home/deploy/.aws/temp.json)",
            ));
        }
        if path.chars().any(|c| c.is_control()) {
            return Err(path_err("it contains a control character, which a config file line cannot hold"));
        }
        if path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..") {
            return Err(path_err(
                "it names a directory, not a file (fix: name the document, e.g. /home/deploy/.aws/temp.json)",
            ));
        }
        if let Some(r) = region
            && !is_region_name(r)
        {
            return Err(Error::invalid(
                "--region",
                r,
                "not a region name (expected e.g. us-east-1, eu-central-1, us-gov-west-1)",
            ));
        }
        Ok(Self { name: name.to_owned(), path: path.to_owned(), region: region.map(str::to_owned), reader: None })
    }

    /// Reads the document with `credpush read --path` (from the binary at `bin`, absolute) instead of `cat`, so that
    /// an expired or broken document fails with a message naming the file and the cause.
    pub fn with_reader(mut self, bin: &str) -> Result<Self> {
        if !bin.starts_with('/') || bin.contains('~') || bin.contains('$') || bin.chars().any(|c| c.is_control()) {
            return Err(Error::invalid(
                "--reader-bin",
                bin,
                "botocore runs credential_process without a shell: give the absolute path of credpush on the host, e.g. /usr/local/bin/credpush",
            ));
        }
        self.reader = Some(bin.to_owned());
        Ok(self)
    }

    /// The `credential_process` command line.
    pub fn command(&self) -> String {
        match &self.reader {
            None => format!("cat {}", shell_quote(&self.path)),
            Some(bin) => format!("{} read --path {}", shell_quote(bin), shell_quote(&self.path)),
        }
    }

    /// The config section header: `default` or `profile NAME`.
    pub fn section(&self) -> String {
        if self.name == "default" { "default".into() } else { format!("profile {}", self.name) }
    }

    /// The managed block of this profile in `text` (markers included, empty when there is none), for a diff: the
    /// rest of a config file is someone else's and may hold a static secret, so a diff never shows it, and a secret
    /// key inside the block (only a hand edit could put one there) is masked too.
    pub fn managed_block(&self, text: &str) -> String {
        let (begin, end) = (self.begin_marker(), self.end_marker());
        let mut out = String::new();
        let mut inside = false;
        for line in text.lines() {
            inside |= line.trim_end() == begin;
            if !inside {
                continue;
            }
            let key = line.split('=').next().unwrap_or_default().trim().to_ascii_lowercase();
            if line.contains('=') && SECRET_KEYS.contains(&key.as_str()) {
                out.push_str(&format!("{key} = (masked)\n"));
            } else {
                out.push_str(line);
                out.push('\n');
            }
            if line.trim_end() == end {
                break;
            }
        }
        out
    }

    fn begin_marker(&self) -> String {
        format!("# >>> credpush managed profile \"{}\" >>>", self.name)
    }

    fn end_marker(&self) -> String {
        format!("# <<< credpush managed profile \"{}\" <<<", self.name)
    }

    /// Renders the managed block, markers included, ending in a newline. Plain formatting rather than a template
    /// engine: the Ansible module shares this code, and a template engine (with its regex tables) would more than
    /// double the size of a binary that Ansible copies to every host on every run.
    #[cfg(feature = "cli")]
    pub fn render(&self) -> String {
        let mut ctx = tera::Context::new();
        ctx.insert("name", &self.name);
        ctx.insert("section", &self.section());
        ctx.insert("command", &self.command());
        ctx.insert("region", &self.region);
        // The template is ours and embedded; a render failure is a bug caught by the snapshot tests.
        tera::Tera::one_off(TEMPLATE, &ctx, false).unwrap_or_else(|e| panic!("profile template failed to render: {e}"))
    }

    /// Renders the managed block, markers included, ending in a newline.
    #[cfg(not(feature = "cli"))]
    pub fn render(&self) -> String {
        self.render_plain()
    }

    /// The same block as `templates/profile.tera`, by hand: tera and its dependencies would triple the size of the
    /// Ansible module, which must stay under 2 MB.
    #[cfg_attr(feature = "cli", allow(dead_code))]
    fn render_plain(&self) -> String {
        let mut out = format!(
            "{}\n# Written by credpush. Edits inside this block are replaced on the next install.\n[{}]\n\
             credential_process = {}\n",
            self.begin_marker(),
            self.section(),
            self.command()
        );
        if let Some(region) = &self.region {
            out.push_str(&format!("region = {region}\n"));
        }
        out.push_str(&self.end_marker());
        out.push('\n');
        out
    }

    /// Merges the block into `existing` config text. Everything outside the markers stays byte for byte.
    pub fn merge(&self, existing: &str, file: &Path) -> Result<String> {
        let block = self.render();
        let markers = (self.begin_marker(), self.end_marker());
        let what = format!("profile {:?}", self.name);
        merge_block(existing, &block, &markers, &format!("[{}]", self.section()), &what, "--name", file)
    }

    /// Ensures the block is in `config_file`, atomically, keeping the file's mode. A missing file is created 0600.
    pub fn install(&self, config_file: &Path) -> Result<InstallOutcome> {
        use crate::host::input::{InputError, MAX_CONFIG_BYTES, read_regular};
        let (existing, mode, outcome) = match read_regular(config_file, MAX_CONFIG_BYTES) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| Error::ConfigFile {
                    path: config_file.to_owned(),
                    reason: "is not UTF-8 text (fix: point --install at an AWS config file)".into(),
                })?;
                let mode = std::fs::metadata(config_file).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o600);
                (text, mode, InstallOutcome::Updated)
            }
            Err(e) if e.io_kind() == Some(std::io::ErrorKind::NotFound) => {
                (String::new(), 0o600, InstallOutcome::Created)
            }
            Err(InputError::Io(e)) => return Err(Error::io("read", config_file, e)),
            Err(e) => return Err(Error::ConfigFile { path: config_file.to_owned(), reason: e.to_string() }),
        };
        let merged = self.merge(&existing, config_file)?;
        if outcome == InstallOutcome::Updated && merged == existing {
            return Ok(InstallOutcome::Unchanged);
        }
        write_atomic(config_file, merged.as_bytes(), mode)?;
        Ok(outcome)
    }
}

/// Puts `block` (markers included, ending in a newline) in place of the one between `markers` in `existing`, or
/// after it (one blank line between) when there is none. Everything outside the markers stays byte for byte. A
/// `header` outside the markers is refused rather than shadowed; `what` and `fix_flag` name the block and the flag
/// that picks another name. Messages quote no line of the file: it may hold someone's secret.
pub(crate) fn merge_block(
    existing: &str,
    block: &str,
    markers: &(String, String),
    header: &str,
    what: &str,
    fix_flag: &str,
    file: &Path,
) -> Result<String> {
    let (begin, end) = (markers.0.as_str(), markers.1.as_str());
    let lines: Vec<&str> = existing.split_inclusive('\n').collect();
    let start = lines.iter().position(|l| l.trim_end() == begin);
    let stop = start.and_then(|s| lines[s..].iter().position(|l| l.trim_end() == end).map(|i| s + i));
    let conflict = |reason: String| Error::ConfigFile { path: file.to_owned(), reason };
    if start.is_some() && stop.is_none() {
        return Err(conflict(format!(
            "the managed block for {what} has a begin marker but no end marker (fix: restore the line `{end}` or delete the partial block)"
        )));
    }
    for (i, line) in lines.iter().enumerate() {
        let inside = matches!((start, stop), (Some(s), Some(e)) if (s..=e).contains(&i));
        if !inside && line.trim() == header {
            return Err(conflict(format!(
                "{header} is already defined outside credpush's managed block at line {} (fix: remove that section, or choose another {fix_flag})",
                i + 1
            )));
        }
    }
    Ok(match (start, stop) {
        (Some(s), Some(e)) => {
            let mut out: String = lines[..s].concat();
            out.push_str(block);
            out.push_str(&lines[e + 1..].concat());
            out
        }
        _ => {
            let mut out = existing.to_owned();
            if !out.is_empty() {
                if !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push('\n');
            }
            out.push_str(block);
            out
        }
    })
}

/// The document a `credential_process` line reads, when it is one of the two commands [`ProfileSpec::command`]
/// writes (`cat PATH`, `BIN read --path PATH`); `None` for anything else. Split as botocore splits it (shlex).
#[cfg(feature = "cli")]
pub fn document_path(process: &str) -> Option<String> {
    let words = shlex::split(process)?;
    match words.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["cat", p] | [_, "read", "--path", p] => Some((*p).to_owned()),
        _ => None,
    }
}

/// Quotes `s` the way botocore splits `credential_process` (POSIX shlex): bare when safe, else single quotes.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+@%:,=".contains(c)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r#"'"'"'"#))
    }
}

#[cfg(test)]
mod tests;
