//! The invocation event: a JSON object whose keys are `rotate`'s long flag names in snake_case, over defaults
//! from the function's `CREDPUSH_<KEY>` environment variables. Turned into [`RotateOptions`] here, and checked
//! here as far as it can be without AWS, so that a bad event never reaches STS.

use serde_json::{Map, Value};

use crate::aws::params::{RoleArn, StsFlags, parse_duration};
use crate::error::Error;
use crate::fleet::rotate::RotateOptions;
use crate::fleet::ssm::SsmOptions;
use crate::fleet::{FleetOptions, Selection};
use crate::ssh::settings::HostKeyPolicy;

/// The keys an event may carry: `rotate`'s flags for an SSM rotation, in snake_case.
pub const KEYS: [&str; 13] = [
    "role_arn",
    "ssm_targets",
    "parameter",
    "kms_key_id",
    "path",
    "owner",
    "install_profile",
    "duration",
    "max_concurrency",
    "max_errors",
    "timeout",
    "ssm_document",
    "ssm_credpush_path",
];

/// STS caps a session assumed by an assumed role (the function's own role) at 1 hour.
pub const CHAINED_MAX_SECS: u32 = 3600;

/// A refused event: one line naming the key (or the environment variable) and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError(pub String);

impl std::fmt::Display for EventError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a value came from, for the error that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Event,
    Env,
}

/// One key's value and its source.
#[derive(Debug, Clone)]
struct Given {
    value: Value,
    source: Source,
}

/// The merged event: environment defaults, overridden key by key by the event.
#[derive(Debug, Default)]
pub struct Request {
    given: std::collections::BTreeMap<&'static str, Given>,
}

/// The environment variable that gives `key`'s default.
pub fn env_name(key: &str) -> String {
    format!("CREDPUSH_{}", key.to_ascii_uppercase())
}

/// How the error names `key` from `source`.
fn label(key: &str, source: Source) -> String {
    match source {
        Source::Event => format!("event key {key}"),
        Source::Env => format!("environment variable {}", env_name(key)),
    }
}

impl Request {
    /// Merges `event` over the defaults `env` returns (`CREDPUSH_<KEY>`). Refuses an event that is not an
    /// object, an unknown key, and a value of the wrong JSON type. A `null` in the event means "not given".
    pub fn merge(event: &Value, env: impl Fn(&str) -> Option<String>) -> Result<Self, EventError> {
        let empty = Map::new();
        let object = match event {
            Value::Object(o) => o,
            Value::Null => &empty,
            other => {
                return Err(EventError(format!(
                    "the event is a JSON {}, not an object (expected {{\"role_arn\": ..., \"ssm_targets\": [...]}})",
                    json_kind(other)
                )));
            }
        };
        let mut unknown: Vec<&String> = object.keys().filter(|k| !KEYS.contains(&k.as_str())).collect();
        unknown.sort();
        if let Some(k) = unknown.first() {
            return Err(EventError(format!(
                "event key {:?} is unknown (the keys are rotate's flags in snake_case: {})",
                crate::term::escape(k),
                KEYS.join(", ")
            )));
        }
        let mut given = std::collections::BTreeMap::new();
        for key in KEYS {
            let from_event = object.get(key).filter(|v| !v.is_null());
            let entry = match (from_event, env(&env_name(key))) {
                (Some(v), _) => Given { value: v.clone(), source: Source::Event },
                (None, Some(text)) if !text.is_empty() => Given { value: env_value(key, &text), source: Source::Env },
                (None, _) => continue,
            };
            check_type(key, &entry)?;
            given.insert(key, entry);
        }
        Ok(Self { given })
    }

    fn text(&self, key: &str) -> Option<String> {
        self.given.get(key).map(|g| match &g.value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    fn label(&self, key: &str) -> String {
        label(key, self.given.get(key).map_or(Source::Event, |g| g.source))
    }

    fn required(&self, key: &str) -> Result<String, EventError> {
        self.text(key).ok_or_else(|| {
            EventError(format!("event key {key} is required (give it in the event, or set {})", env_name(key)))
        })
    }

    /// Checks what can be checked without AWS and builds the rotation. The role ARN, the targets and the
    /// duration are checked here by name; the rest by the rotation itself, before its first call, whose
    /// errors [`rename`](Self::rename) maps back to the keys.
    pub fn options(&self) -> Result<RotateOptions, EventError> {
        let role_arn = self.required("role_arn")?;
        RoleArn::parse(&role_arn).map_err(|e| self.rename(&e))?;
        let targets = match self.given.get("ssm_targets").map(|g| &g.value) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        if targets.is_empty() {
            return Err(EventError(format!(
                "event key ssm_targets is required: a list of Key=K,Values=V1,V2 strings, as aws ssm send-command \
                 --targets takes (give it in the event, or set {} to a JSON list)",
                env_name("ssm_targets")
            )));
        }
        let targets = targets
            .iter()
            .map(|t| crate::ssm::targets::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.rename(&e))?;
        let duration = self.text("duration");
        if let Some(d) = &duration {
            let secs = parse_duration(d).map_err(|e| self.rename(&e))?;
            if secs > CHAINED_MAX_SECS {
                return Err(EventError(format!(
                    "{} {d:?} is over the 1-hour limit STS applies to role chaining: the function's execution role is \
                     an assumed role (fix: 1h or less, with the schedule every 30 minutes)",
                    self.label("duration")
                )));
            }
        }
        let or = |key: &str, default: &str| self.text(key).unwrap_or_else(|| default.to_owned());
        Ok(RotateOptions {
            inv: Selection { inventory: Vec::new(), limit: None },
            role_arn: Some(role_arn),
            sts: StsFlags { duration, ..StsFlags::default() },
            path: self.text("path"),
            fleet: FleetOptions {
                forks: 1,
                timeout: or("timeout", "30s"),
                known_hosts: HostKeyPolicy::Strict,
                ssh_config: None,
                no_inventory_commands: true,
            },
            retries: 0,
            install_profile: self.text("install_profile"),
            session_per_host: false,
            dry_run: false,
            json: true,
            shard: None,
            every: None,
            ssm: SsmOptions {
                targets,
                parameter: self.text("parameter"),
                kms_key_id: or("kms_key_id", crate::ssm::DEFAULT_KMS_KEY),
                document: or("ssm_document", crate::ssm::DEFAULT_DOCUMENT),
                credpush_path: or("ssm_credpush_path", crate::ssm::DEFAULT_CREDPUSH_PATH),
                max_concurrency: or("max_concurrency", "50"),
                max_errors: or("max_errors", "100%"),
                owner: self.text("owner"),
            },
            // The function drives SSM, whose `fetch` writes the JSON document (a credentials section is asked of
            // fetch on the host, not of the rotation).
            format: crate::delivery::Format::Json,
            helper: Some("none".to_owned()),
        })
    }

    /// The rotation's own error for a flag, reworded to name the event key (or environment variable) it came
    /// from: `--max-errors "x" is invalid: …` becomes `event key max_errors "x" is invalid: …`. Other errors
    /// keep their text.
    pub fn rename(&self, err: &Error) -> EventError {
        if let Error::InvalidArg { flag, value, reason } = err {
            let key = flag.trim_start_matches('-').replace('-', "_");
            if KEYS.contains(&key.as_str()) {
                return EventError(format!("{} {value:?} is invalid: {reason}", self.label(&key)));
            }
        }
        EventError(err.to_string())
    }
}

/// An environment default as JSON: `CREDPUSH_SSM_TARGETS` holds a JSON list (a target has commas of its own),
/// or one target; every other variable is a plain string.
fn env_value(key: &str, text: &str) -> Value {
    if key == "ssm_targets" && text.trim_start().starts_with('[') {
        return serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()));
    }
    Value::String(text.to_owned())
}

/// Strings everywhere; spans and rates may also be numbers (seconds, a count); the targets are a list of
/// strings (or one).
fn check_type(key: &'static str, g: &Given) -> Result<(), EventError> {
    let numeric = matches!(key, "duration" | "timeout" | "max_concurrency" | "max_errors");
    let ok = match (&g.value, key) {
        (Value::String(_), _) => true,
        (Value::Number(n), _) if numeric => n.is_u64(),
        (Value::Array(items), "ssm_targets") => items.iter().all(Value::is_string),
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let expected = match key {
        "ssm_targets" => "a list of Key=K,Values=V1,V2 strings",
        _ if numeric => "a string such as \"30m\", or a whole number",
        _ => "a string",
    };
    let what = match &g.value {
        Value::Array(_) if key == "ssm_targets" => "a list with an item that is not a string".to_owned(),
        other => format!("a JSON {}", json_kind(other)),
    };
    Err(EventError(format!("{} is {what} (expected {expected})", label(key, g.source))))
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
