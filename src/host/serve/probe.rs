//! `doctor`'s look at a container credentials endpoint: one GET, the way the SDKs make it, bounded in time and
//! bytes. What comes back is summarised (status, the refusal's code and message, the expiration); the
//! credentials themselves are dropped unread past their field shapes.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the whole exchange may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// The most of an answer read; a credentials answer is a few KiB.
const MAX_ANSWER: u64 = 64 * 1024;

/// What the endpoint answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// HTTP status.
    pub status: u16,
    /// `Code` of a refusal.
    pub code: Option<String>,
    /// `Message` of a refusal.
    pub message: Option<String>,
    /// `Expiration` of a 200 answer whose fields all have the shape the SDKs require.
    pub expiration: Option<String>,
}

/// Splits an `http://HOST:PORT/PATH` URI into (host, port, path). `None` for https or anything else.
pub fn split_uri(uri: &str) -> Option<(String, u16, String)> {
    let rest = uri.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.strip_prefix('[') {
        Some(r) => {
            let (h, tail) = r.split_once(']')?;
            (h.to_owned(), tail.strip_prefix(':').map_or(Some(80), |p| p.parse().ok())?)
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().ok()?),
            None => (authority.to_owned(), 80),
        },
    };
    Some((host, port, path.to_owned()))
}

/// GETs `uri` with the token from `token_file` (when given), as the SDKs do. `Err` says why nothing usable came
/// back; the text never includes the token or a credential.
pub async fn probe(uri: &str, token_file: Option<&Path>) -> Result<Probe, String> {
    let (host, port, path) = split_uri(uri).ok_or_else(|| "not an http://HOST:PORT/PATH address".to_owned())?;
    let token = match token_file {
        None => None,
        Some(f) => {
            let mut t = String::new();
            std::fs::File::open(f)
                .and_then(|file| file.take(1024).read_to_string(&mut t))
                .map_err(|e| format!("cannot read the token file {}: {e}", f.display()))?;
            Some(crate::host::secret::Secret::new(t))
        }
    };
    let exchange = async {
        let ip = if host.eq_ignore_ascii_case("localhost") { "127.0.0.1".to_owned() } else { host.clone() };
        let mut sock = tokio::net::TcpStream::connect((ip.as_str(), port))
            .await
            .map_err(|e| format!("nothing answers at {host}:{port} ({e})"))?;
        let shown_host = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: {shown_host}\r\nAccept: application/json\r\n");
        if let Some(t) = &token {
            req.push_str(&format!("Authorization: {}\r\n", t.expose()));
        }
        req.push_str("Connection: close\r\n\r\n");
        sock.write_all(req.as_bytes()).await.map_err(|e| format!("could not send the request ({e})"))?;
        let mut raw = Vec::new();
        (&mut sock).take(MAX_ANSWER).read_to_end(&mut raw).await.map_err(|e| format!("no whole answer ({e})"))?;
        Ok::<_, String>(raw)
    };
    let raw = tokio::time::timeout(PROBE_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {}s", PROBE_TIMEOUT.as_secs()))??;
    summarise(&raw)
}

fn summarise(raw: &[u8]) -> Result<Probe, String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| "the answer is not HTTP".to_owned())?;
    let status = head
        .strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "the answer is not HTTP".to_owned())?;
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let field = |k: &str| json.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let complete = ["AccessKeyId", "SecretAccessKey", "Token", "Expiration"].iter().all(|k| field(k).is_some());
    Ok(Probe {
        status,
        code: field("Code"),
        message: field("Message"),
        expiration: if status == 200 && complete { field("Expiration") } else { None },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_loopback_uris() {
        assert_eq!(
            split_uri("http://127.0.0.1:9911/credpush/v1/credentials"),
            Some(("127.0.0.1".into(), 9911, "/credpush/v1/credentials".into()))
        );
        assert_eq!(split_uri("http://[::1]:80/x"), Some(("::1".into(), 80, "/x".into())));
        assert_eq!(split_uri("http://localhost"), Some(("localhost".into(), 80, "/".into())));
        assert_eq!(split_uri("https://127.0.0.1/x"), None);
        assert_eq!(split_uri("http://127.0.0.1:port/x"), None);
    }

    #[test]
    fn summarises_without_keeping_secrets() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\",\"Expiration\":\"2026-11-28T07:00:00Z\"}";
        let p = summarise(ok).unwrap();
        assert_eq!((p.status, p.expiration.as_deref()), (200, Some("2026-11-28T07:00:00Z")));
        assert!(!format!("{p:?}").contains("\"S\""));
        let no = b"HTTP/1.1 403 Forbidden\r\n\r\n{\"Code\":\"AccessDenied\",\"Message\":\"no Authorization header\"}";
        let p = summarise(no).unwrap();
        assert_eq!(
            (p.status, p.code.as_deref(), p.message.as_deref()),
            (403, Some("AccessDenied"), Some("no Authorization header"))
        );
        assert_eq!(summarise(b"SSH-2.0-OpenSSH\r\n").unwrap_err(), "the answer is not HTTP");
    }
}
