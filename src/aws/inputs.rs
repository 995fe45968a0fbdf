//! The shape checks of STS inputs, each with an error that names the input and the fix: the role ARN, the
//! region, session names, session tags and the inline session policy.

use std::path::Path;

use crate::aws::params::MAX_SESSION_POLICY_CHARS;
use crate::error::{Error, Result};

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
        // IAM paths are `/` or `/a/b/`: an empty part (`role//x`, `role/a//x`) is no role STS could find.
        if path_and_name.split('/').count() > 1 && path_and_name.split('/').any(str::is_empty) {
            return Err(bad("the role path has an empty part (a // or a trailing /)"));
        }
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

/// Checks the shape of an AWS region name (`us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`).
pub fn check_region(value: &str) -> Result<()> {
    if crate::host::profile::is_region_name(value) {
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

/// Checks a session name or source identity: `min` to `max` characters of STS's charset.
pub fn check_sts_name(flag: &'static str, value: &str, min: usize, max: usize) -> Result<()> {
    let ok =
        (min..=max).contains(&value.len()) && value.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(flag, value, format!("must be {min}-{max} characters of letters, digits and _+=,.@-")))
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
    // STS refuses session tags in AWS's own namespace, whatever the case.
    if key.len() >= 4 && key[..4].eq_ignore_ascii_case("aws:") {
        return Err(bad("keys that start with aws: are reserved for AWS"));
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

/// Reads and checks an inline session policy file; returns it compact, in the file's own key order.
pub fn read_policy(path: &Path) -> Result<String> {
    // STS takes at most 2048 characters; 64 KiB leaves room for any amount of whitespace a person would write.
    let text = crate::host::input::read_regular_text(path, 64 * 1024)
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
            ("arn:aws:iam::123456789012:role//x", "the role path has an empty part"),
            ("arn:aws:iam::123456789012:role/ops//deploy", "the role path has an empty part"),
        ];
        for (arn, why) in cases {
            let msg = RoleArn::parse(arn).unwrap_err().to_string();
            assert!(msg.starts_with(&format!("--role-arn {arn:?} is invalid: {why}")), "{msg}");
            assert!(msg.contains("expected arn:aws:iam::ACCOUNT:role/NAME"), "{msg}");
        }
    }

    #[test]
    fn policies_are_sent_compact_in_their_own_order() {
        assert_eq!(
            compact_json("{ \"Version\" : \"2012-10-17\",\n  \"Statement\": [ {\"Sid\": \"a \\\" b\"} ] }"),
            "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"a \\\" b\"}]}"
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
        for reserved in ["aws:x=1", "AWS:team=a", "Aws:=b"] {
            assert!(parse_tag(reserved).unwrap_err().to_string().contains("reserved for AWS"), "{reserved}");
        }
        assert!(parse_tag("awsx:team=a").is_ok(), "only the aws: prefix is reserved");
    }
}
