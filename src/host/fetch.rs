//! `credpush fetch` on an SSM managed instance: the document read from its SecureString parameter is checked,
//! then written for `--owner` with the writer contract shared by every path onto a host. Run Command's document
//! (deploy/credpush-fetch.yml) runs it as root under the agent.
//!
//! - The document must be Version 1 with every field, and must not have expired.
//! - No roll-back. A rotation's value carries `CredpushAssumedAt`, when it assumed its role; the writer keeps it
//!   beside the document and leaves the file alone when a later rotation's stamp is there (reported
//!   [`SUPERSEDED`], exit 0), as every writer does. Overlapping rotations can put their versions in the other order,
//!   so versions do not decide. A value put by hand has no stamp: it is stamped now, and a version older than the
//!   one written (`PATH.ssm-version`) is refused. A lock file beside the document orders overlapping fetches.
//! - Every directory from `/` down to the document's must be owned by root or the owner and not writable by group
//!   or others. Missing ones are created 0700 for the owner. The file is written atomically, 0600, and given to
//!   the owner before the rename.
//! - `--install-profile` merges the profile into the owner's `~/.aws/config`, as `credpush profile --install`
//!   does.
//!
//! Nothing here prints the document: the caller prints [`FetchOutcome::summary`], which holds only the expiration
//! and the last four characters of the access key id.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::host::atomic::{self, WriteOptions, Written};
use crate::host::credentials::CredentialsSection;
use crate::host::dirs::TrustedDir;
use crate::host::document::CredentialDocument;
use crate::host::profile::{InstallOutcome, ProfileSpec};
use crate::host::secret::Secret;

/// The largest AWS config file fetch reads before merging a profile into it.
const MAX_CONFIG: u64 = 1 << 20;

/// What the host was asked to do (checked by [`FetchOptions::new`]).
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The SecureString parameter's name (only named here, read by the caller).
    pub parameter: String,
    /// Absolute path of the document.
    pub path: PathBuf,
    /// The owner's uid, gid and home.
    pub owner: Owner,
    /// `--install-profile NAME`.
    pub profile: Option<String>,
    /// The region written into that profile.
    pub region: Option<String>,
    /// `--format credentials`: the section (named by `--install-profile`) merged into the file at `path`,
    /// instead of the document.
    pub section: Option<CredentialsSection>,
}

/// The local user who owns the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Login name, for messages.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory (the profile goes to `HOME/.aws/config`).
    pub home: PathBuf,
}

/// The parameter as GetParameter returned it.
#[derive(Debug)]
pub struct Fetched {
    /// The decrypted value: the document's bytes.
    pub value: Secret,
    /// The parameter version.
    pub version: i64,
}

/// The word of fetch's summary line for a document a later rotation had written; the SSM transport reports such
/// an instance `superseded`, not failed.
pub const SUPERSEDED: &str = "kept, a later rotation wrote it";

/// What a fetch did. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOutcome {
    /// Whether the document was written (false when this version was already there).
    pub written: bool,
    /// Not written: a later rotation (assumed at this stamp, nanoseconds since the epoch) had written the file.
    pub superseded: Option<u64>,
    /// The parameter version now on the host.
    pub version: i64,
    /// The document's expiration (RFC 3339).
    pub expiration: String,
    /// The last four characters of the access key id.
    pub key_tail: String,
    /// What `--install-profile` did.
    pub profile: Option<InstallOutcome>,
}

impl FetchOutcome {
    /// The one line fetch prints: the path, the version, the expiration and the key id's last four characters.
    pub fn summary(&self, path: &Path) -> String {
        let verb = match (self.written, self.superseded) {
            (_, Some(kept)) => format!("{SUPERSEDED} (assumed at {})", atomic::stamp_rfc3339(kept)),
            (true, None) => "written".to_owned(),
            (false, None) => "unchanged".to_owned(),
        };
        let mut line = format!(
            "{} {verb}: parameter version {}, expires {}, key id ...{}",
            path.display(),
            self.version,
            self.expiration,
            self.key_tail
        );
        if let Some(p) = self.profile {
            line.push_str(&format!(", profile {}", p.as_str()));
        }
        line
    }
}

impl FetchOptions {
    /// Checks the flags before any AWS call: an absolute, literal path; an owner that exists (default: root);
    /// a profile name and region botocore accepts. With `credentials`, the profile names the section to write.
    pub fn new(
        parameter: &str,
        path: &str,
        owner: Option<&str>,
        profile: Option<&str>,
        region: Option<&str>,
        credentials: bool,
    ) -> Result<Self> {
        if !parameter.starts_with('/') || parameter.len() > 1011 || parameter.chars().any(|c| c.is_control()) {
            return Err(Error::invalid("--parameter", parameter, "expected a parameter name such as /credpush/deploy"));
        }
        let literal = path.starts_with('/') || path.starts_with("~/");
        if !literal
            || path[1..].contains('~')
            || path.contains('$')
            || path.ends_with('/')
            || path.split('/').any(|p| p == "..")
            || path.chars().any(char::is_control)
        {
            return Err(Error::invalid(
                "--path",
                path,
                "expected the document's file path, absolute or under the owner's ~/, e.g. ~/.aws/temp.json",
            ));
        }
        let owner = resolve_owner(owner.unwrap_or("root"))?;
        // `~/` is the owner's home, as on the SSH path under become.
        let path = match path.strip_prefix("~/") {
            Some(rest) => owner.home.join(rest),
            None => PathBuf::from(path),
        };
        let section = match (credentials, profile) {
            (false, Some(name)) => {
                ProfileSpec::new(name, &path.to_string_lossy(), region)?;
                None
            }
            (false, None) => None,
            (true, Some(name)) => Some(CredentialsSection::new("--install-profile", name)?),
            (true, None) => {
                return Err(Error::invalid(
                    "--format",
                    "credentials",
                    "needs --install-profile NAME, the [NAME] section to write (e.g. --install-profile onprem)",
                ));
            }
        };
        Ok(Self {
            parameter: parameter.to_owned(),
            path,
            owner,
            profile: profile.filter(|_| section.is_none()).map(str::to_owned),
            region: region.map(str::to_owned),
            section,
        })
    }
}

fn resolve_owner(name: &str) -> Result<Owner> {
    let user = crate::host::ids::user_by_name(name).ok_or_else(|| {
        Error::invalid("--owner", name, "is not a user on this host (fix: create the user, or name another)")
    })?;
    Ok(Owner { name: user.name, uid: user.uid, gid: user.gid, home: PathBuf::from(user.home) })
}

/// Checks `fetched` and writes it for the owner; see the module docs for the rules. Returns what was done.
pub fn apply(opts: &FetchOptions, fetched: &Fetched, now: OffsetDateTime) -> Result<FetchOutcome> {
    let refused = |reason: String| Error::FetchRefused { parameter: opts.parameter.clone(), reason };
    let (doc, assumed_at) = CredentialDocument::parse_stamped(fetched.value.expose().as_bytes())
        .map_err(|e| refused(format!("version {} is {e}", fetched.version)))?;
    if doc.is_expired(now) {
        return Err(refused(format!(
            "version {} expired at {} (fix: run credpush rotate again; the old file was kept)",
            fetched.version,
            doc.expiration_rfc3339()
        )));
    }
    // The directory rule, by descriptor from `/` down (what is missing is created 0700 for the owner), once: the
    // document and its version are written through the directory it leaves open.
    let (dir, name) = owned_dir(&opts.path, &opts.owner)?;
    // One fetch at a time per document: the version check and the write happen under the lock.
    let _lock = lock(&sidecar(&opts.path, "lock"), &opts.owner)?;
    let version_file = sidecar(&opts.path, "ssm-version");
    let held = read_version(&version_file, &opts.parameter);
    // A value a rotation stamped is ordered by its stamp (below), which also survives a parameter deleted and
    // made again (its versions start over at 1). Only a value put by hand falls back on the version order.
    if assumed_at.is_none()
        && let Some(held) = held
        && held > fetched.version
    {
        return Err(refused(format!(
            "version {} is older than version {held} already written to {} (an overlapping fetch got there first; \
             the newer file was kept)",
            fetched.version,
            opts.path.display()
        )));
    }
    let existed = opts.path.is_file();
    let mut written = held != Some(fetched.version) || !existed;
    let mut superseded = None;
    if written {
        let bytes = match &opts.section {
            None => doc.to_json(),
            Some(section) => section.merge(&read_credentials(&opts.path)?, &doc, &opts.path)?,
        };
        // The no-roll-back rule of every writer, by the time the rotation assumed its role: overlapping rotations
        // can put their parameter versions in the other order. A value without a stamp (put by hand) is stamped
        // now, so only a later rotation replaces it, as the Ansible module does.
        let write = WriteOptions {
            mode: 0o600,
            owner: Some(opts.owner.uid),
            group: Some(opts.owner.gid),
            stamp: Some(assumed_at.unwrap_or_else(atomic::now_stamp)),
            lock_wait: std::time::Duration::from_secs(10),
        };
        if let Written::Newer(kept) = dir.write(name, bytes.expose().as_bytes(), &write)? {
            (written, superseded) = (false, Some(kept));
        }
    }
    if written {
        let line = format!("{} {}\n", opts.parameter, fetched.version);
        let sidecar_name = version_file.file_name().unwrap_or_default();
        dir.write(sidecar_name, line.as_bytes(), &plain_write(0o600, opts.owner.uid, opts.owner.gid))?;
    }
    let profile = match (&opts.profile, &opts.section) {
        (Some(name), _) => Some(install_profile(opts, name)?),
        (None, Some(_)) if !written => Some(InstallOutcome::Unchanged),
        (None, Some(_)) => Some(if existed { InstallOutcome::Updated } else { InstallOutcome::Created }),
        (None, None) => None,
    };
    let tail: String = doc.access_key_id.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    Ok(FetchOutcome {
        written,
        superseded,
        version: fetched.version,
        expiration: doc.expiration_rfc3339(),
        key_tail: tail,
        profile,
    })
}

/// `path`'s directory, opened under the directory rule for `owner` (see [`crate::host::dirs::open_dir`]), and
/// the file's name in it.
fn owned_dir<'a>(path: &'a Path, owner: &Owner) -> Result<(TrustedDir, &'a std::ffi::OsStr)> {
    let name = path.file_name().ok_or_else(|| crate::host::dirs::DirError::IsDir(path.to_owned()))?;
    Ok((crate::host::dirs::open_dir(parent(path), true, Some(owner.uid))?, name))
}

/// The options of a file that is not a rotation's document: no stamp, no lock.
fn plain_write(mode: u32, uid: u32, gid: u32) -> WriteOptions {
    WriteOptions {
        mode,
        owner: Some(uid),
        group: Some(gid),
        stamp: None,
        lock_wait: std::time::Duration::from_secs(10),
    }
}

fn parent(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("/"))
}

fn sidecar(path: &Path, ext: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".{ext}"));
    path.with_file_name(name)
}

/// The version written last for `parameter`, if the sidecar names it. A sidecar for another parameter (the path
/// was reused) does not count.
fn read_version(file: &Path, parameter: &str) -> Option<i64> {
    let mut text = String::new();
    File::open(file).ok()?.take(4096).read_to_string(&mut text).ok()?;
    let (name, version) = text.trim_end().rsplit_once(' ')?;
    (name == parameter).then(|| version.parse().ok()).flatten()
}

fn lock(path: &Path, owner: &Owner) -> Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(|e| Error::io("open the lock file", path, e))?;
    std::os::unix::fs::fchown(&file, Some(owner.uid), Some(owner.gid))
        .map_err(|e| Error::io("change the owner of", path, e))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| Error::io("lock", path, e.into()))?;
    Ok(file)
}

/// The credentials file a section is merged into, read under the fetch lock ("" when there is none yet). It holds
/// secrets, so its text stays a [`Secret`].
fn read_credentials(path: &Path) -> Result<Secret> {
    use crate::host::input::{InputError, read_regular};
    match read_regular(path, MAX_CONFIG) {
        Ok(bytes) => crate::host::credentials::decode(bytes, path),
        Err(e) if e.io_kind() == Some(std::io::ErrorKind::NotFound) => Ok(Secret::new("")),
        Err(InputError::Io(e)) => Err(Error::io("read", path, e)),
        Err(e) => Err(Error::ConfigFile { path: path.to_owned(), reason: e.to_string() }),
    }
}

/// Merges the profile into the owner's `~/.aws/config` as `credpush profile --install` does: the block between
/// credpush's markers replaced, everything else byte for byte; an existing file keeps its mode and owner, a new
/// one is 0600 and the owner's.
fn install_profile(opts: &FetchOptions, name: &str) -> Result<InstallOutcome> {
    let path = opts.path.to_string_lossy();
    let spec = ProfileSpec::new(name, &path, opts.region.as_deref())?;
    let config = opts.owner.home.join(".aws/config");
    let (dir, config_name) = owned_dir(&config, &opts.owner)?;
    let current = match File::open(&config) {
        Ok(f) => {
            let meta = f.metadata().map_err(|e| Error::io("inspect", &config, e))?;
            if !meta.is_file() || meta.len() > MAX_CONFIG {
                return Err(Error::ConfigFile {
                    path: config.clone(),
                    reason: "is not a regular file of at most 1 MiB (fix: point the owner's ~/.aws/config at an AWS config file)"
                        .into(),
                });
            }
            let mut bytes = Vec::new();
            f.take(MAX_CONFIG).read_to_end(&mut bytes).map_err(|e| Error::io("read", &config, e))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| Error::ConfigFile { path: config.clone(), reason: "is not UTF-8 text".into() })?;
            Some((text, meta.mode() & 0o7777, meta.uid(), meta.gid()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("read", &config, e)),
    };
    let existing = current.as_ref().map(|c| c.0.as_str()).unwrap_or("");
    let merged = spec.merge(existing, &config)?;
    let (outcome, mode, uid, gid) = match &current {
        Some((text, ..)) if *text == merged => return Ok(InstallOutcome::Unchanged),
        Some((_, mode, uid, gid)) => (InstallOutcome::Updated, *mode, *uid, *gid),
        None => (InstallOutcome::Created, 0o600, opts.owner.uid, opts.owner.gid),
    };
    dir.write(config_name, merged.as_bytes(), &plain_write(mode, uid, gid))?;
    Ok(outcome)
}

#[cfg(test)]
mod tests;
