//! One request head, read from a peer under a byte cap and parsed by `httparse`. The caller bounds the time
//! (the whole head must arrive within the idle timeout, so a client that trickles bytes is dropped like one
//! that sends none). No body is ever read: the endpoint answers GET only and closes every connection after one
//! answer, so whatever follows the head is never interpreted.

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::host::secret::Secret;

/// The most headers a request may carry; the SDKs send fewer than 10.
pub const MAX_HEADERS: usize = 32;

/// The parts of a request head the endpoint decides on. The `Authorization` value is a secret.
#[derive(Debug, Default)]
pub struct Head {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target as sent, e.g. `/credpush/v1/credentials`.
    pub target: String,
    /// Every `Host` value (more than one is refused).
    pub hosts: Vec<String>,
    /// Every `Authorization` value (more than one is refused).
    pub authorizations: Vec<Secret>,
    /// Names of the forwarding headers present (`X-Forwarded-For`, `Forwarded`, ...), as sent.
    pub forwarded: Vec<String>,
    /// An `Authorization` value that is not valid UTF-8 (so it cannot equal any token).
    pub binary_authorization: bool,
}

/// Headers that say a proxy relayed the request for someone else. Any of them means the peer address is not
/// the client, so the request is refused whatever the value.
const FORWARDING: [&str; 6] = ["x-forwarded-for", "forwarded", "x-forwarded-host", "x-real-ip", "x-client-ip", "via"];

/// Why no usable head was read.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    /// The peer closed, or the socket failed, before a whole head arrived.
    Closed,
    /// The head passed the byte cap or the header count.
    TooLarge,
    /// Not an HTTP/1.x request head.
    Malformed,
}

/// Reads one head of at most `max_bytes` from `peer`. The buffer is allocated only once the first byte is
/// readable, so an idle connection costs no buffer memory.
pub async fn read_head<R: AsyncRead + Unpin>(peer: &mut R, max_bytes: usize) -> Result<Head, HeadError> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        if buf.len() >= max_bytes {
            return Err(HeadError::TooLarge);
        }
        let room = max_bytes - buf.len();
        if buf.capacity() == buf.len() {
            buf.reserve(room.min(1024.max(buf.len())));
        }
        let read = (&mut *peer).take(room as u64).read_buf(&mut buf).await.map_err(|_| HeadError::Closed)?;
        if read == 0 {
            return Err(HeadError::Closed);
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => return Ok(head_of(&req)),
            Ok(httparse::Status::Partial) => continue,
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
            Err(_) => return Err(HeadError::Malformed),
        }
    }
}

fn head_of(req: &httparse::Request<'_, '_>) -> Head {
    let mut head = Head {
        method: req.method.unwrap_or_default().to_owned(),
        target: req.path.unwrap_or_default().to_owned(),
        ..Head::default()
    };
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        if name == "host" {
            head.hosts.push(String::from_utf8_lossy(h.value).into_owned());
        } else if name == "authorization" {
            match std::str::from_utf8(h.value) {
                Ok(v) => head.authorizations.push(Secret::new(v)),
                Err(_) => head.binary_authorization = true,
            }
        } else if FORWARDING.contains(&name.as_str()) {
            head.forwarded.push(h.name.to_owned());
        }
    }
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(bytes: &[u8], max: usize) -> Result<Head, HeadError> {
        let mut r = bytes;
        read_head(&mut r, max).await
    }

    #[tokio::test]
    async fn reads_the_parts_it_decides_on() {
        let h = parse(
            b"GET /p HTTP/1.1\r\nhost: 127.0.0.1:9\r\nAuthorization: tok\r\nX-Forwarded-For: 1.2.3.4\r\nVia: x\r\n\r\n",
            8192,
        )
        .await
        .unwrap();
        assert_eq!((h.method.as_str(), h.target.as_str()), ("GET", "/p"));
        assert_eq!(h.hosts, ["127.0.0.1:9"]);
        assert_eq!(h.authorizations.iter().map(|a| a.expose()).collect::<Vec<_>>(), ["tok"]);
        assert_eq!(h.forwarded, ["X-Forwarded-For", "Via"]);
        assert!(!format!("{h:?}").contains("tok"), "Debug redacts the token");
    }

    #[tokio::test]
    async fn caps_bytes_and_headers_and_refuses_non_http() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000));
        assert_eq!(parse(big.as_bytes(), 8192).await.unwrap_err(), HeadError::TooLarge);
        let many: String = (0..40).map(|i| format!("X{i}: v\r\n")).collect();
        let req = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(parse(req.as_bytes(), 8192).await.unwrap_err(), HeadError::TooLarge);
        assert_eq!(parse(b"\x16\x03\x01\x02\x00 tls hello", 8192).await.unwrap_err(), HeadError::Malformed);
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n", 8192).await.unwrap_err(), HeadError::Closed);
        assert_eq!(parse(b"", 8192).await.unwrap_err(), HeadError::Closed);
    }
}
