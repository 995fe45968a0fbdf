//! The `credential_process` document: what every AWS SDK and the AWS CLI read from `cat /path/temp.json`.
//!
//! `{"Version":1,"AccessKeyId":…,"SecretAccessKey":…,"SessionToken":…,"Expiration":"2026-11-28T04:00:00Z"}`

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use crate::host::secret::Secret;

/// How long before expiry botocore starts re-running `credential_process` (its advisory refresh window).
pub const ADVISORY_REFRESH: time::Duration = time::Duration::minutes(15);
/// From this long before expiry a failed re-read fails the caller's request (botocore's mandatory window).
pub const MANDATORY_REFRESH: time::Duration = time::Duration::minutes(10);

/// Temporary credentials for one role session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialDocument {
    /// The access key id (not secret on its own; it appears in CloudTrail).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token.
    pub session_token: Secret,
    /// When STS ends the session (UTC).
    pub expiration: OffsetDateTime,
}

/// Why bytes are not a valid credential document. Never quotes the document itself.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentError {
    /// Not JSON, or a field is missing or has the wrong type.
    #[error("not a credential_process document: {0}")]
    Malformed(String),
    /// `Version` is not 1.
    #[error("unsupported Version {0} (expected 1)")]
    Version(u64),
    /// A required field is empty.
    #[error("{0} is empty")]
    Empty(&'static str),
    /// `Expiration` is not RFC 3339.
    #[error("Expiration {0:?} is not an RFC 3339 timestamp")]
    Expiration(String),
    /// Larger than any credential document (see [`MAX_DOCUMENT_BYTES`]).
    #[error("it is {0} bytes, over the {MAX_DOCUMENT_BYTES} a credential document can be")]
    TooLarge(usize),
}

/// A credential document is a few hundred bytes to a few KiB (long session tokens); anything larger is not one.
/// Every reader and writer (`read`, `doctor`, the module, the writers) holds documents to this.
pub const MAX_DOCUMENT_BYTES: u64 = 64 * 1024;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Wire<'a> {
    version: u64,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
    expiration: &'a str,
    /// Only in an SSM parameter's value: when the rotation assumed its role (nanoseconds since the epoch), so
    /// that `fetch` keeps the no-roll-back rule by assume time as every other writer does. Never on a host.
    #[serde(rename = "CredpushAssumedAt", default, skip_serializing_if = "Option::is_none")]
    assumed_at: Option<u64>,
}

impl CredentialDocument {
    /// Serializes to the exact bytes to store, ending in a newline. The result is secret.
    pub fn to_json(&self) -> Secret {
        self.wire_json(None)
    }

    /// The value of an SSM parameter: the document plus `CredpushAssumedAt` (see [`Self::parse_stamped`]).
    pub fn to_json_stamped(&self, assumed_at: u64) -> Secret {
        self.wire_json(Some(assumed_at))
    }

    fn wire_json(&self, assumed_at: Option<u64>) -> Secret {
        let expiration = format_expiration(self.expiration);
        let wire = Wire {
            version: 1,
            access_key_id: &self.access_key_id,
            secret_access_key: self.secret_access_key.expose(),
            session_token: self.session_token.expose(),
            expiration: &expiration,
            assumed_at,
        };
        // Serializing a struct of strings cannot fail.
        let mut text = serde_json::to_string(&wire).unwrap_or_default();
        text.push('\n');
        Secret::new(text)
    }

    /// Parses and validates a stored document.
    pub fn parse(bytes: &[u8]) -> Result<Self, DocumentError> {
        match Self::parse_stamped(bytes)? {
            (doc, None) => Ok(doc),
            (_, Some(_)) => Err(DocumentError::Malformed("unknown field CredpushAssumedAt".into())),
        }
    }

    /// Parses an SSM parameter's value: a document, with `CredpushAssumedAt` when a rotation put it there.
    pub fn parse_stamped(bytes: &[u8]) -> Result<(Self, Option<u64>), DocumentError> {
        if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
            return Err(DocumentError::TooLarge(bytes.len()));
        }
        // serde_json's own messages can quote input; keep only its position, never the text.
        let wire: Wire<'_> = serde_json::from_slice(bytes).map_err(|e| {
            DocumentError::Malformed(format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column()))
        })?;
        if wire.version != 1 {
            return Err(DocumentError::Version(wire.version));
        }
        for (name, value) in [
            ("AccessKeyId", wire.access_key_id),
            ("SecretAccessKey", wire.secret_access_key),
            ("SessionToken", wire.session_token),
        ] {
            if value.is_empty() {
                return Err(DocumentError::Empty(name));
            }
        }
        // `to_offset` panics when the UTC instant leaves years 1..=9999 (`9999-12-31T23:59:59-01:00`); a document
        // from a host is input, so its edge is an error, not a crash.
        let expiration = OffsetDateTime::parse(wire.expiration, &Rfc3339)
            .ok()
            .and_then(|t| t.checked_to_offset(time::UtcOffset::UTC))
            .ok_or_else(|| DocumentError::Expiration(wire.expiration.to_owned()))?;
        let doc = Self {
            access_key_id: wire.access_key_id.to_owned(),
            secret_access_key: Secret::new(wire.secret_access_key),
            session_token: Secret::new(wire.session_token),
            expiration,
        };
        Ok((doc, wire.assumed_at))
    }

    /// Time left until expiry at `now`; negative once expired.
    pub fn time_left(&self, now: OffsetDateTime) -> time::Duration {
        self.expiration - now
    }

    /// True once `now` is at or past the expiration.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.time_left(now) <= time::Duration::ZERO
    }

    /// True when botocore would already be trying to refresh (inside the 15-minute advisory window).
    pub fn needs_refresh(&self, now: OffsetDateTime) -> bool {
        self.time_left(now) <= ADVISORY_REFRESH
    }

    /// The expiration as written in the document: RFC 3339 UTC with a `Z`.
    pub fn expiration_rfc3339(&self) -> String {
        format_expiration(self.expiration)
    }
}

/// Formats a timestamp as `YYYY-MM-DDTHH:MM:SSZ` in UTC, the form STS itself returns.
pub fn format_expiration(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    // Formatting a UTC timestamp with fixed components cannot fail for years 0..=9999.
    t.to_offset(time::UtcOffset::UTC).format(&fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn doc(expiration: OffsetDateTime) -> CredentialDocument {
        CredentialDocument {
            access_key_id: "ASIA-EXAMPLE-KEY-ID".into(),
            secret_access_key: Secret::new("s3cr3t/Value+with=chars"),
            session_token: Secret::new("token-value"),
            expiration,
        }
    }

    #[test]
    fn round_trips_with_field_order_and_z_suffix() {
        let d = doc(datetime!(2026-11-28 04:00:00 UTC));
        let json = d.to_json();
        assert_eq!(
            json.expose(),
            "{\"Version\":1,\"AccessKeyId\":\"ASIA-EXAMPLE-KEY-ID\",\"SecretAccessKey\":\"s3cr3t/Value+with=chars\",\
             \"SessionToken\":\"token-value\",\"Expiration\":\"2026-11-28T04:00:00Z\"}\n"
        );
        assert_eq!(CredentialDocument::parse(json.expose().as_bytes()), Ok(d));
    }

    #[test]
    fn expiration_is_normalised_to_utc() {
        let d = doc(datetime!(2026-11-28 06:00:00 +02:00));
        assert_eq!(d.expiration_rfc3339(), "2026-11-28T04:00:00Z");
    }

    #[test]
    fn time_left_expired_and_refresh_windows() {
        let exp = datetime!(2026-11-28 04:00:00 UTC);
        let d = doc(exp);
        assert_eq!(d.time_left(datetime!(2026-11-28 03:00:00 UTC)), time::Duration::hours(1));
        assert!(!d.is_expired(datetime!(2026-11-28 03:59:59 UTC)));
        assert!(d.is_expired(exp));
        assert!(d.is_expired(datetime!(2026-11-28 04:00:01 UTC)));
        assert_eq!(d.time_left(datetime!(2026-11-28 04:00:30 UTC)), time::Duration::seconds(-30));
        assert!(!d.needs_refresh(datetime!(2026-11-28 03:44:59 UTC)));
        assert!(d.needs_refresh(datetime!(2026-11-28 03:45:00 UTC)));
        assert!(MANDATORY_REFRESH < ADVISORY_REFRESH);
    }

    #[test]
    fn parse_rejects_bad_documents_without_quoting_them() {
        let e = CredentialDocument::parse(b"{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"TOPSECRET\"")
            .unwrap_err();
        assert!(matches!(e, DocumentError::Malformed(_)), "{e}");
        assert!(!e.to_string().contains("TOPSECRET"), "{e}");
        assert!(e.to_string().starts_with("not a credential_process document: Eof error"), "{e}");

        let v2 = r#"{"Version":2,"AccessKeyId":"A","SecretAccessKey":"S","SessionToken":"T","Expiration":"2026-11-28T04:00:00Z"}"#;
        assert_eq!(CredentialDocument::parse(v2.as_bytes()), Err(DocumentError::Version(2)));
        let empty = r#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":"","SessionToken":"T","Expiration":"2026-11-28T04:00:00Z"}"#;
        assert_eq!(CredentialDocument::parse(empty.as_bytes()), Err(DocumentError::Empty("SecretAccessKey")));
        let bad_time =
            r#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","SessionToken":"T","Expiration":"tomorrow"}"#;
        assert_eq!(
            CredentialDocument::parse(bad_time.as_bytes()).unwrap_err().to_string(),
            "Expiration \"tomorrow\" is not an RFC 3339 timestamp"
        );
    }

    #[test]
    fn expirations_past_the_calendar_are_errors_not_panics() {
        for exp in ["9999-12-31T23:59:59-01:00", "9999-12-31T23:30:00-00:45", "9999-12-31T23:59:59-23:59"] {
            let text = format!(
                r#"{{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","SessionToken":"T","Expiration":"{exp}"}}"#
            );
            assert_eq!(CredentialDocument::parse(text.as_bytes()), Err(DocumentError::Expiration(exp.into())), "{exp}");
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let text = format!("{:?}", doc(datetime!(2026-11-28 04:00:00 UTC)));
        assert!(!text.contains("s3cr3t") && !text.contains("token-value"), "{text}");
    }

    #[test]
    fn the_assume_stamp_is_read_from_a_parameter_and_never_accepted_in_a_document() {
        let doc = doc(datetime!(2026-11-28 04:00:00 UTC));
        let value = doc.to_json_stamped(42);
        assert_eq!(CredentialDocument::parse_stamped(value.expose().as_bytes()), Ok((doc.clone(), Some(42))));
        assert_eq!(CredentialDocument::parse_stamped(doc.to_json().expose().as_bytes()), Ok((doc.clone(), None)));
        let refused = CredentialDocument::parse(value.expose().as_bytes()).unwrap_err();
        assert_eq!(refused, DocumentError::Malformed("unknown field CredpushAssumedAt".into()));
    }
}
