//! STS request parameters, validated once right after parsing so that bad input fails before any network call.

use std::path::PathBuf;

pub use crate::aws::inputs::{
    RoleArn, check_region, check_sts_name, clean_session_name, default_session_name, parse_tag, read_policy,
};
use crate::duration::parse_span;
use crate::error::{Error, Result};

/// STS's limits for AssumeRole.
pub const MIN_DURATION_SECS: u32 = 900;
/// The longest session any role can have.
pub const MAX_DURATION_SECS: u32 = 12 * 3600;
/// The cap STS applies when the caller is itself an assumed role.
pub const ROLE_CHAINING_MAX_SECS: u32 = 3600;
/// STS's limit on the plaintext of an inline session policy, in characters.
pub const MAX_SESSION_POLICY_CHARS: usize = 2048;
/// Default session length.
pub const DEFAULT_DURATION_SECS: u32 = 3600;
/// Default `--sts-timeout`: STS answers in well under a second; 10 s leaves room for a slow proxy.
pub const DEFAULT_STS_TIMEOUT_SECS: u64 = 10;
/// Default `--sts-deadline`: two silent attempts and the start of a third, so a silent endpoint fails the run
/// within 30 s.
pub const DEFAULT_STS_DEADLINE_SECS: u64 = 25;

/// The STS flags as given, before they are checked: the command line fills it, and `rotate` varies the session
/// name and source identity per host before [`AssumeParams::from_flags`] checks each session.
#[derive(Debug, Clone, Default)]
pub struct StsFlags {
    /// `--session-name`.
    pub session_name: Option<String>,
    /// `--duration`.
    pub duration: Option<String>,
    /// `--external-id`.
    pub external_id: Option<String>,
    /// `--policy-file`.
    pub policy_file: Option<PathBuf>,
    /// `--policy-arn`, repeated.
    pub policy_arn: Vec<String>,
    /// `--tag KEY=VALUE`, repeated.
    pub tag: Vec<String>,
    /// `--transitive-tag-key`, repeated.
    pub transitive_tag_key: Vec<String>,
    /// `--source-identity`.
    pub source_identity: Option<String>,
    /// `--region`.
    pub region: Option<String>,
    /// `--sts-timeout`.
    pub sts_timeout: Option<String>,
    /// `--sts-deadline`.
    pub sts_deadline: Option<String>,
}

/// How long STS calls may take: `--sts-timeout` per attempt, `--sts-deadline` per call with its retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StsLimits {
    /// The most one HTTP attempt may take.
    pub attempt_timeout: std::time::Duration,
    /// The most one call may take, retries included.
    pub deadline: std::time::Duration,
}

impl Default for StsLimits {
    fn default() -> Self {
        Self {
            attempt_timeout: std::time::Duration::from_secs(DEFAULT_STS_TIMEOUT_SECS),
            deadline: std::time::Duration::from_secs(DEFAULT_STS_DEADLINE_SECS),
        }
    }
}

impl StsLimits {
    /// Checks `--sts-timeout` and `--sts-deadline`: 1 s to 1 h each, and a deadline no shorter than one attempt.
    pub fn from_flags(args: &StsFlags) -> Result<Self> {
        const EXPECTED: &str = "expected seconds or a span like 10s, 1m, from 1s to 1h";
        let span = |flag: &'static str, value: &Option<String>, default: u64| -> Result<u64> {
            let Some(v) = value else { return Ok(default) };
            let secs = parse_span(flag, v, EXPECTED)?;
            if !(1..=3600).contains(&secs) {
                return Err(Error::invalid(flag, v, format!("{secs} seconds is out of range ({EXPECTED})")));
            }
            Ok(secs)
        };
        let attempt = span("--sts-timeout", &args.sts_timeout, DEFAULT_STS_TIMEOUT_SECS)?;
        let deadline = span("--sts-deadline", &args.sts_deadline, DEFAULT_STS_DEADLINE_SECS.max(attempt))?;
        if deadline < attempt {
            return Err(Error::invalid(
                "--sts-deadline",
                args.sts_deadline.clone().unwrap_or_default(),
                format!("is shorter than --sts-timeout ({attempt}s), so no attempt could finish (fix: raise it)"),
            ));
        }
        Ok(Self {
            attempt_timeout: std::time::Duration::from_secs(attempt),
            deadline: std::time::Duration::from_secs(deadline),
        })
    }
}

/// Parses `3600`, `900s`, `45m`, `1h`, `1h30m` or `12h` into seconds within STS's 15 minutes to 12 hours.
pub fn parse_duration(value: &str) -> Result<u32> {
    const EXPECTED: &str = "expected seconds or a span like 45m, 1h, 1h30m, 12h, from 15m to 12h";
    let total = parse_span("--duration", value, EXPECTED)?;
    if total < u64::from(MIN_DURATION_SECS) || total > u64::from(MAX_DURATION_SECS) {
        return Err(Error::invalid(
            "--duration",
            value,
            format!("{total} seconds is outside what STS allows ({EXPECTED})"),
        ));
    }
    Ok(total as u32)
}

/// A validated AssumeRole request, minus the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeParams {
    /// The role to assume.
    pub role_arn: RoleArn,
    /// RoleSessionName.
    pub session_name: String,
    /// DurationSeconds.
    pub duration_secs: u32,
    /// ExternalId (not a secret by AWS's design; it guards against the confused deputy).
    pub external_id: Option<String>,
    /// Inline session policy JSON.
    pub policy: Option<String>,
    /// Managed session policy ARNs.
    pub policy_arns: Vec<String>,
    /// Session tags.
    pub tags: Vec<(String, String)>,
    /// Tag keys that pass on to chained sessions.
    pub transitive_tag_keys: Vec<String>,
    /// SourceIdentity.
    pub source_identity: Option<String>,
}

impl AssumeParams {
    /// Validates the STS flags for `role_arn`. Reads the policy file, if any.
    pub fn from_flags(role_arn: &str, args: &StsFlags) -> Result<Self> {
        let role_arn = RoleArn::parse(role_arn)?;
        if let Some(r) = &args.region {
            check_region(r)?;
        }
        let duration_secs = match &args.duration {
            Some(d) => parse_duration(d)?,
            None => DEFAULT_DURATION_SECS,
        };
        let session_name = match &args.session_name {
            Some(n) => {
                check_sts_name("--session-name", n, 2, 64)?;
                n.clone()
            }
            None => default_session_name(),
        };
        if let Some(id) = &args.external_id {
            let ok = (2..=1224).contains(&id.len())
                && id.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c));
            if !ok {
                return Err(Error::invalid(
                    "--external-id",
                    id,
                    "must be 2-1224 characters of letters, digits and _+=,.@:/-",
                ));
            }
        }
        if let Some(id) = &args.source_identity {
            check_sts_name("--source-identity", id, 2, 64)?;
        }
        let policy = args.policy_file.as_deref().map(read_policy).transpose()?;
        if args.policy_arn.len() > 10 {
            return Err(Error::invalid(
                "--policy-arn",
                args.policy_arn.join(","),
                "STS accepts at most 10 managed session policies",
            ));
        }
        for arn in &args.policy_arn {
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            let ok = parts.len() == 6
                && parts[0] == "arn"
                && parts[2] == "iam"
                && parts[5].starts_with("policy/")
                && parts[5].len() > 7;
            if !ok {
                return Err(Error::invalid(
                    "--policy-arn",
                    arn,
                    "not an IAM policy ARN (expected arn:aws:iam::ACCOUNT:policy/NAME)",
                ));
            }
        }
        let tags = args.tag.iter().map(|t| parse_tag(t)).collect::<Result<Vec<_>>>()?;
        for (i, (key, _)) in tags.iter().enumerate() {
            // STS compares tag keys without regard to case and refuses a request that repeats one.
            if let Some((first, _)) = tags[..i].iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
                return Err(Error::invalid(
                    "--tag",
                    format!("{first}, {key}"),
                    "repeats a key (STS compares tag keys without regard to case); give each key once",
                ));
            }
        }
        if tags.len() > 50 {
            return Err(Error::invalid("--tag", format!("{} tags", tags.len()), "STS accepts at most 50 session tags"));
        }
        for key in &args.transitive_tag_key {
            if !tags.iter().any(|(k, _)| k == key) {
                return Err(Error::invalid(
                    "--transitive-tag-key",
                    key,
                    "is not the key of any --tag (add --tag KEY=VALUE for it)",
                ));
            }
        }
        Ok(Self {
            role_arn,
            session_name,
            duration_secs,
            external_id: args.external_id.clone(),
            policy,
            policy_arns: args.policy_arn.clone(),
            tags,
            transitive_tag_keys: args.transitive_tag_key.clone(),
            source_identity: args.source_identity.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3600").unwrap(), 3600);
        assert_eq!(parse_duration("45m").unwrap(), 2700);
        assert_eq!(parse_duration("1h").unwrap(), 3600);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400);
        assert_eq!(parse_duration("12h").unwrap(), 43200);
        assert_eq!(parse_duration("900s").unwrap(), 900);
        for (bad, why) in [
            ("10m", "600 seconds is outside"),
            ("13h", "46800 seconds is outside"),
            ("1d", "not a duration"),
            ("", "empty"),
            ("1h30", "needs its own unit"),
            ("1h1h", "each unit may appear once"),
            ("30m1h", "in the order h, m, s"),
            ("-1", "cannot be negative"),
            ("-1h", "cannot be negative"),
        ] {
            let msg = parse_duration(bad).unwrap_err().to_string();
            assert!(msg.starts_with(&format!("--duration {bad:?} is invalid: ")) && msg.contains(why), "{msg}");
        }
    }

    #[test]
    fn sts_limits() {
        let limits = |t: Option<&str>, d: Option<&str>| {
            StsLimits::from_flags(&StsFlags {
                sts_timeout: t.map(str::to_owned),
                sts_deadline: d.map(str::to_owned),
                ..StsFlags::default()
            })
        };
        assert_eq!(limits(None, None).unwrap(), StsLimits::default());
        let l = limits(Some("2s"), Some("5s")).unwrap();
        assert_eq!((l.attempt_timeout.as_secs(), l.deadline.as_secs()), (2, 5));
        assert_eq!(
            limits(Some("40s"), None).unwrap().deadline.as_secs(),
            40,
            "the default deadline follows a longer timeout"
        );
        let msg = limits(Some("10s"), Some("5s")).unwrap_err().to_string();
        assert_eq!(
            msg,
            "--sts-deadline \"5s\" is invalid: is shorter than --sts-timeout (10s), so no attempt could finish (fix: raise it)"
        );
        let msg = limits(Some("0"), None).unwrap_err().to_string();
        assert!(msg.starts_with("--sts-timeout \"0\" is invalid: 0 seconds is out of range"), "{msg}");
        assert!(limits(None, Some("2h")).is_err());
    }

    #[test]
    fn regions_and_duplicate_tags() {
        for ok in ["us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1", "us-isob-east-1", "ap-southeast-4"] {
            assert!(check_region(ok).is_ok(), "{ok}");
        }
        for bad in ["us-east", "US-EAST-1", "useast1", "us-east-1;x", "", "x-y-1", "us-east-100"] {
            let msg = check_region(bad).unwrap_err().to_string();
            assert!(msg.starts_with(&format!("--region {bad:?} is invalid: not a region name")), "{msg}");
        }
        let args = StsFlags { tag: vec!["Team=a".into(), "team=b".into()], ..Default::default() };
        let msg = AssumeParams::from_flags("arn:aws:iam::123456789012:role/x", &args).unwrap_err().to_string();
        assert_eq!(
            msg,
            "--tag \"Team, team\" is invalid: repeats a key (STS compares tag keys without regard to case); give each key once"
        );
    }
}
