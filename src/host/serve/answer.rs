//! What the endpoint answers to one request head. Every refusal (403) is decided before the document is opened,
//! so a caller without the token learns nothing about it, not even whether it is fresh. Each answer carries
//! `{"Code","Message"}` or, for 200, the container-credentials shape the SDKs read:
//! `{"AccessKeyId","SecretAccessKey","Token","Expiration"}`.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use time::OffsetDateTime;

use super::request::Head;
use super::token;
use crate::host::secret::Secret;

/// The one path the endpoint serves. Anything else (including `/` and a query string) is refused.
pub const SERVE_PATH: &str = "/credpush/v1/credentials";

/// A document with less time left than this is not served: an SDK could sign a request with it that expires in
/// flight, and would not fetch again before it did.
pub const MIN_TIME_LEFT: time::Duration = time::Duration::seconds(60);

/// Whether the unusable token file has been reported since it was last usable.
static TOKEN_WARNED: AtomicBool = AtomicBool::new(false);

/// One answer: status and JSON body (secret when it is 200).
#[derive(Debug)]
pub struct Answer {
    /// HTTP status: 200, 400, 403, 431 or 503.
    pub status: u16,
    /// The JSON body.
    pub body: Secret,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Refusal<'a> {
    code: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Credentials<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    token: &'a str,
    expiration: &'a str,
}

impl Answer {
    /// A `{"Code","Message"}` answer.
    pub fn refusal(status: u16, code: &str, message: &str) -> Self {
        // A struct of two strings always serializes.
        let body = serde_json::to_string(&Refusal { code, message }).unwrap_or_default();
        Self { status, body: Secret::new(body) }
    }

    fn forbidden(message: &str) -> Self {
        Self::refusal(403, "AccessDenied", message)
    }

    /// The full HTTP/1.1 response. The connection is closed after it, and nothing may cache it.
    pub fn to_http(&self) -> Secret {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            403 => "Forbidden",
            431 => "Request Header Fields Too Large",
            _ => "Service Unavailable",
        };
        Secret::new(format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{}",
            self.status,
            self.body.expose().len(),
            self.body.expose()
        ))
    }
}

/// What an answer needs besides the request: the files it re-reads every time.
#[derive(Debug, Clone)]
pub struct Files {
    /// The credential document rotate, the module or fetch keeps fresh.
    pub document: std::path::PathBuf,
    /// The token file.
    pub token_file: std::path::PathBuf,
}

/// True for 127.0.0.0/8, ::1 and the IPv4-mapped form of 127.0.0.0/8.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// True when a `Host` value names this host's loopback: `localhost`, a 127.0.0.0/8 literal or `[::1]`, with an
/// optional port. Anything else is how a DNS-rebinding page or a relay would arrive.
pub fn is_loopback_host(value: &str) -> bool {
    let host = match value.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((h, tail)) if tail.is_empty() || valid_port(tail) => h,
            _ => return false,
        },
        None => match value.split_once(':') {
            Some((h, port)) if valid_port(&format!(":{port}")) => h,
            Some(_) => return false,
            None => value,
        },
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(is_loopback)
}

fn valid_port(tail: &str) -> bool {
    tail.strip_prefix(':').is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// At most 64 characters of a value a client sent, for a message that quotes it back to that client.
fn quote(value: &str) -> String {
    let cut: String = value.chars().take(64).collect();
    format!("{cut:?}")
}

/// Decides the answer to `head` from `peer` at `now`. Order: who is asking (peer, proxy headers, Host), what
/// (method, path), the token, and only then the document.
pub fn answer(head: &Head, peer: SocketAddr, files: &Files, now: OffsetDateTime) -> Answer {
    if !is_loopback(peer.ip()) {
        return Answer::forbidden("requests are answered only from this host's loopback addresses");
    }
    if let Some(name) = head.forwarded.first() {
        return Answer::forbidden(&format!(
            "a request relayed by a proxy ({name} header) is refused: the endpoint answers only clients on this host, directly"
        ));
    }
    match head.hosts.as_slice() {
        [one] if is_loopback_host(one) => {}
        [one] => {
            return Answer::forbidden(&format!(
                "Host {} is not a loopback name (expected 127.0.0.1, [::1] or localhost, with the port)",
                quote(one)
            ));
        }
        [] => return Answer::forbidden("a request without a Host header is refused"),
        _ => return Answer::forbidden("a request with more than one Host header is refused"),
    }
    if head.method != "GET" {
        return Answer::forbidden(&format!("method {} is refused: the endpoint answers GET only", quote(&head.method)));
    }
    if head.target != SERVE_PATH {
        return Answer::forbidden(&format!(
            "path {} is not served (the endpoint serves {SERVE_PATH})",
            quote(&head.target)
        ));
    }
    let expected = match token::read(&files.token_file) {
        Ok(t) => {
            TOKEN_WARNED.store(false, Ordering::Relaxed);
            t
        }
        Err(e) => {
            // Deleting the token file is how an operator revokes every client at once. Warned once per outage,
            // so that clients retrying cannot flood the journal.
            if !TOKEN_WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(file = %files.token_file.display(), error = %e, "serve: the token file is unusable; refusing every request");
            }
            return Answer::forbidden(
                "the server's token file is missing or unusable, so every request is refused (fix on the host: run `credpush doctor`, or restart credpush serve to create a new token)",
            );
        }
    };
    if head.binary_authorization || head.authorizations.len() > 1 {
        return Answer::forbidden("the Authorization header does not match the token");
    }
    let Some(offered) = head.authorizations.first() else {
        return Answer::forbidden(
            "no Authorization header (fix: set AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE to the token file credpush serve printed)",
        );
    };
    if !token::matches(offered.expose().as_bytes(), &expected) {
        return Answer::forbidden("the Authorization header does not match the token");
    }
    credentials(&files.document, now)
}

/// The 200 answer for a usable document, else 503 with the reason `credpush read` would give.
fn credentials(document: &Path, now: OffsetDateTime) -> Answer {
    let doc = match crate::host::read::load_document(document, now) {
        Ok(doc) => doc,
        Err(e) => return Answer::refusal(503, "CredentialsUnavailable", &e.to_string()),
    };
    let left = doc.time_left(now);
    if left < MIN_TIME_LEFT {
        return Answer::refusal(
            503,
            "CredentialsUnavailable",
            &format!(
                "{} expires at {}, in {}s, under the {}s an SDK needs to use it: no rotation has reached this host in time (fix: check the rotation job, or run `credpush status` for this host)",
                document.display(),
                doc.expiration_rfc3339(),
                left.whole_seconds(),
                MIN_TIME_LEFT.whole_seconds()
            ),
        );
    }
    let expiration = doc.expiration_rfc3339();
    let body = Credentials {
        access_key_id: &doc.access_key_id,
        secret_access_key: doc.secret_access_key.expose(),
        token: doc.session_token.expose(),
        expiration: &expiration,
    };
    // A struct of strings always serializes.
    Answer { status: 200, body: Secret::new(serde_json::to_string(&body).unwrap_or_default()) }
}

#[cfg(test)]
#[path = "answer_tests.rs"]
mod tests;
