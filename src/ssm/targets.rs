//! `--ssm-targets`, in the words of `aws ssm send-command --targets`: `Key=tag:on-prem,Values=bamboo-agent`,
//! `Key=InstanceIds,Values=mi-1,mi-2`. Instance IDs are sent in the InstanceIds field, at most
//! [`MAX_IDS_PER_COMMAND`] per SendCommand. The other keys go out as Targets, up to [`MAX_TARGETS`] per command,
//! and SSM resolves them.

use crate::error::{Error, Result};

/// SendCommand takes at most this many instance IDs, in InstanceIds or in a `Key=InstanceIds` target.
pub const MAX_IDS_PER_COMMAND: usize = 50;
/// SendCommand takes at most this many targets (`--targets`).
pub const MAX_TARGETS: usize = 5;

/// One `--ssm-targets` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsmTarget {
    /// `Key=InstanceIds,Values=…`.
    InstanceIds(Vec<String>),
    /// Any other key SSM resolves itself: `tag:NAME`, `tag-key`, `resource-groups:Name`.
    Key {
        /// The key as given.
        key: String,
        /// Its values.
        values: Vec<String>,
    },
}

/// Parses one `--ssm-targets` value.
pub fn parse(value: &str) -> Result<SsmTarget> {
    let bad = |reason: &str| Error::invalid("--ssm-targets", value, reason);
    let rest = value
        .strip_prefix("Key=")
        .ok_or_else(|| bad("expected Key=KEY,Values=V1,V2 (e.g. Key=tag:on-prem,Values=bamboo-agent)"))?;
    let (key, values) = rest
        .split_once(",Values=")
        .ok_or_else(|| bad("expected Key=KEY,Values=V1,V2 (e.g. Key=InstanceIds,Values=mi-0123456789abcdef0)"))?;
    let values: Vec<String> = values.split(',').map(str::to_owned).collect();
    if values.iter().any(|v| v.is_empty() || v.len() > 256 || v.chars().any(char::is_control)) {
        return Err(bad("every value must be 1 to 256 printable characters"));
    }
    match key {
        "InstanceIds" => {
            for v in &values {
                check_instance_id(v).map_err(|reason| bad(&reason))?;
            }
            Ok(SsmTarget::InstanceIds(values))
        }
        "tag-key" | "resource-groups:Name" => Ok(SsmTarget::Key { key: key.to_owned(), values }),
        k if k.strip_prefix("tag:").is_some_and(|t| !t.is_empty() && t.len() <= 128) => {
            if values.len() > 50 {
                return Err(bad("a tag target takes at most 50 values"));
            }
            Ok(SsmTarget::Key { key: key.to_owned(), values })
        }
        _ => Err(bad("the key must be InstanceIds, tag:NAME, tag-key or resource-groups:Name")),
    }
}

/// Checks the list as a whole: at most [`MAX_TARGETS`] values, as the AWS CLI allows.
pub fn check_count(targets: &[SsmTarget]) -> Result<()> {
    if targets.len() > MAX_TARGETS {
        return Err(Error::invalid(
            "--ssm-targets",
            format!("{} values", targets.len()),
            format!("SendCommand takes at most {MAX_TARGETS} targets (fix: use a tag that covers the instances)"),
        ));
    }
    Ok(())
}

/// An SSM managed instance ID (`mi-` and 17 hex digits, from a hybrid activation) or an EC2 instance ID (`i-`
/// and 8 or 17).
pub fn check_instance_id(id: &str) -> std::result::Result<(), String> {
    let hex = |s: &str, lens: &[usize]| lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
    let ok = match id.split_once('-') {
        Some(("mi", h)) => hex(h, &[17]),
        Some(("i", h)) => hex(h, &[8, 17]),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{id:?} is not an instance ID (expected mi- and 17 hex digits, or i- and 8 or 17)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_aws_cli_shorthand() {
        assert_eq!(
            parse("Key=tag:on-prem,Values=bamboo-agent,jenkins").unwrap(),
            SsmTarget::Key { key: "tag:on-prem".into(), values: vec!["bamboo-agent".into(), "jenkins".into()] }
        );
        assert_eq!(
            parse("Key=InstanceIds,Values=mi-0123456789abcdef0,i-12345678").unwrap(),
            SsmTarget::InstanceIds(vec!["mi-0123456789abcdef0".into(), "i-12345678".into()])
        );
    }

    #[test]
    fn refuses_what_send_command_would() {
        for (value, why) in [
            ("tag:x=y", "expected Key=KEY,Values="),
            ("Key=tag:x", "expected Key=KEY,Values="),
            ("Key=tag:x,Values=", "every value must be"),
            ("Key=InstanceIds,Values=mi-1", "is not an instance ID"),
            ("Key=Name,Values=a", "the key must be"),
            ("Key=tag:,Values=a", "the key must be"),
        ] {
            let e = parse(value).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--ssm-targets {value:?} is invalid")) && e.contains(why), "{e}");
        }
        let six = vec![SsmTarget::InstanceIds(vec![]); 6];
        assert!(check_count(&six).unwrap_err().to_string().contains("at most 5 targets"));
    }
}
