//! STS request parameters, validated once right after parsing so that bad input fails before any network call.

use std::path::Path;

use crate::cli::StsArgs;
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
    pub fn from_args(args: &StsArgs) -> Result<Self> {
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

/// A checked IAM role ARN: `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleArn(String);

impl RoleArn {
    /// Parses and checks a role ARN.
    pub fn parse(value: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::invalid(
                "--role-arn",
                value,
                format!("{why} (expected arn:aws:iam::ACCOUNT:role/NAME, e.g. arn:aws:iam::123456789012:role/deploy)"),
            )
        };
        let parts: Vec<&str> = value.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" {
            return Err(bad("not an ARN"));
        }
        let (partition, service, region, account, resource) = (parts[1], parts[2], parts[3], parts[4], parts[5]);
        if !partition.starts_with("aws") || !partition.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            return Err(bad("unknown partition"));
        }
        if service != "iam" || !region.is_empty() {
            return Err(bad("not an IAM role ARN"));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the account id must be 12 digits"));
        }
        let Some(path_and_name) = resource.strip_prefix("role/") else {
            return Err(bad("not an IAM role ARN"));
        };
        let name = path_and_name.rsplit('/').next().unwrap_or_default();
        let name_ok = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        if name.is_empty()
            || name.len() > 64
            || !name_ok(name)
            || !path_and_name.split('/').all(|s| s.is_empty() || name_ok(s))
        {
            return Err(bad("the role name must be 1-64 characters of letters, digits and +=,.@_-"));
        }
        Ok(Self(value.to_owned()))
    }

    /// The ARN text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RoleArn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses a span: plain seconds, or units `h`, `m`, `s` combined (`90`, `45m`, `1h30m`, `2s`) into seconds.
/// `flag` and `expected` go into the error message.
pub fn parse_span(flag: &'static str, value: &str, expected: &str) -> Result<u64> {
    let bad = |why: &str| Error::invalid(flag, value, format!("{why} ({expected})"));
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut saw_unit = false;
    if value.trim_start().starts_with('-') {
        return Err(bad("a duration cannot be negative"));
    }
    // Each unit at most once, largest first: "1h1h" or "30m1h" is a typo, not a sum to guess at.
    let mut last_unit = u64::MAX;
    for c in value.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad("not a duration")),
        };
        if unit >= last_unit {
            return Err(bad("each unit may appear once, in the order h, m, s"));
        }
        last_unit = unit;
        let n: u64 = digits.parse().map_err(|_| bad("not a duration"))?;
        total = total.saturating_add(n.saturating_mul(unit));
        digits.clear();
        saw_unit = true;
    }
    if !digits.is_empty() {
        if saw_unit {
            return Err(bad("a number after a unit needs its own unit"));
        }
        total = digits.parse().map_err(|_| bad("not a duration"))?;
    } else if !saw_unit {
        return Err(bad("empty"));
    }
    Ok(total)
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

/// Checks the shape of an AWS region name (`us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`).
pub fn check_region(value: &str) -> Result<()> {
    let parts: Vec<&str> = value.split('-').collect();
    let ok = parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].len() <= 2
        && !parts[parts.len() - 1].is_empty()
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "--region",
            value,
            "not a region name (expected e.g. us-east-1, eu-central-1, us-gov-west-1)",
        ))
    }
}

/// Cleans a string into a valid RoleSessionName: STS's charset `[\w+=,.@-]`, 2 to 64 characters.
pub fn clean_session_name(raw: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) { c } else { '-' })
        .take(64)
        .collect();
    while name.len() < 2 {
        name.push('-');
    }
    name
}

/// The default session name: `credpush-<local hostname>`, cleaned to STS's rules.
pub fn default_session_name() -> String {
    clean_session_name(&format!("credpush-{}", gethostname::gethostname().to_string_lossy()))
}

fn check_sts_name(flag: &'static str, value: &str, min: usize, max: usize) -> Result<()> {
    let ok =
        (min..=max).contains(&value.len()) && value.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(flag, value, format!("must be {min}-{max} characters of letters, digits and _+=,.@-")))
    }
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
    pub fn from_args(role_arn: &str, args: &StsArgs) -> Result<Self> {
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

/// Parses `KEY=VALUE` into a session tag, with STS's length and charset rules.
pub fn parse_tag(raw: &str) -> Result<(String, String)> {
    let bad = |why: &str| {
        Error::invalid(
            "--tag",
            raw,
            format!(
                "{why} (expected KEY=VALUE, key 1-128 and value 0-256 characters of letters, digits, spaces and _.:/=+-@)"
            ),
        )
    };
    let Some((key, value)) = raw.split_once('=') else {
        return Err(bad("missing '='"));
    };
    let charset = |s: &str| s.chars().all(|c| c.is_alphanumeric() || " _.:/=+-@".contains(c));
    if key.is_empty() || key.chars().count() > 128 || !charset(key) {
        return Err(bad("invalid key"));
    }
    if value.chars().count() > 256 || !charset(value) {
        return Err(bad("invalid value"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// `text` (valid JSON) without the whitespace between tokens; strings are kept byte for byte.
fn compact_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

fn read_policy(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::PolicyFile { path: path.to_owned(), reason: format!("cannot read it: {e}") })?;
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(_)) => {
            // STS counts the policy's characters as sent; whitespace between tokens means nothing, so send it
            // compact (in the file's own order, which re-serializing would not keep).
            let compact = compact_json(&text);
            let n = compact.chars().count();
            if n > MAX_SESSION_POLICY_CHARS {
                return Err(Error::PolicyFile {
                    path: path.to_owned(),
                    reason: format!(
                        "the policy is {n} characters without whitespace, over STS's limit of {MAX_SESSION_POLICY_CHARS} for a session policy (fix: narrow it, or use --policy-arn for a managed policy)"
                    ),
                });
            }
            Ok(compact)
        }
        Ok(_) => Err(Error::PolicyFile { path: path.to_owned(), reason: "a policy must be a JSON object".into() }),
        Err(e) => Err(Error::PolicyFile {
            path: path.to_owned(),
            reason: format!("not valid JSON: {e} (fix: check it with `python3 -m json.tool FILE`)"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        for ok in [
            "arn:aws:iam::123456789012:role/deploy",
            "arn:aws-cn:iam::123456789012:role/a/b/c-d.e@f",
            "arn:aws-us-gov:iam::123456789012:role/x",
        ] {
            assert!(RoleArn::parse(ok).is_ok(), "{ok}");
        }
        let cases = [
            ("deploy", "not an ARN"),
            ("arn:aws:iam::123456789012:user/deploy", "not an IAM role ARN"),
            ("arn:aws:s3:::bucket/role/x:y", "not an IAM role ARN"),
            ("arn:aws:iam::1234:role/deploy", "the account id must be 12 digits"),
            ("arn:aws:iam::123456789012:role/", "the role name must be"),
            ("arn:aws:iam::123456789012:role/bad name", "the role name must be"),
            ("arn:foo:iam::123456789012:role/x", "unknown partition"),
        ];
        for (arn, why) in cases {
            let msg = RoleArn::parse(arn).unwrap_err().to_string();
            assert!(msg.starts_with(&format!("--role-arn {arn:?} is invalid: {why}")), "{msg}");
            assert!(msg.contains("expected arn:aws:iam::ACCOUNT:role/NAME"), "{msg}");
        }
    }

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
            StsLimits::from_args(&StsArgs {
                sts_timeout: t.map(str::to_owned),
                sts_deadline: d.map(str::to_owned),
                ..StsArgs::default()
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
    fn policies_are_sent_compact_in_their_own_order() {
        assert_eq!(
            compact_json("{ \"Version\" : \"2012-10-17\",\n  \"Statement\": [ {\"Sid\": \"a \\\" b\"} ] }"),
            "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"a \\\" b\"}]}"
        );
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
        let args = StsArgs { tag: vec!["Team=a".into(), "team=b".into()], ..Default::default() };
        let msg = AssumeParams::from_args("arn:aws:iam::123456789012:role/x", &args).unwrap_err().to_string();
        assert_eq!(
            msg,
            "--tag \"Team, team\" is invalid: repeats a key (STS compares tag keys without regard to case); give each key once"
        );
    }

    #[test]
    fn session_names_are_cleaned() {
        assert_eq!(clean_session_name("credpush-web 01.example.com"), "credpush-web-01.example.com");
        assert_eq!(clean_session_name(&"x".repeat(80)).len(), 64);
        assert_eq!(clean_session_name("a"), "a-");
        assert!(default_session_name().starts_with("credpush-"));
    }

    #[test]
    fn tags() {
        assert_eq!(parse_tag("team=platform").unwrap(), ("team".into(), "platform".into()));
        assert_eq!(parse_tag("k=a=b").unwrap(), ("k".into(), "a=b".into()));
        assert_eq!(parse_tag("empty=").unwrap(), ("empty".into(), String::new()));
        let msg = parse_tag("novalue").unwrap_err().to_string();
        assert!(msg.starts_with("--tag \"novalue\" is invalid: missing '=' (expected KEY=VALUE"), "{msg}");
        assert!(parse_tag("=v").unwrap_err().to_string().contains("invalid key"));
        assert!(parse_tag("k=a;b").unwrap_err().to_string().contains("invalid value"));
    }
}
