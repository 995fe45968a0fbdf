//! One bounded reader for every stream a peer sends (the writer's and the probe's stdout and stderr, over ssh or
//! locally): it keeps the first and the last few KiB, counts the rest, and stops at a hard limit, so a
//! compromised or noisy host costs a fixed amount of memory however much it sends. Nothing is read whole and cut
//! afterwards.

use std::collections::VecDeque;

use tokio::io::{AsyncRead, AsyncReadExt};

/// How much of a stream is kept and how much is read at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// Bytes kept from the start.
    pub head: usize,
    /// Bytes kept from the end.
    pub tail: usize,
    /// Bytes read at most; past it the stream is abandoned (and the caller closes the channel).
    pub max: u64,
}

impl Bound {
    /// The writer's and the probe's stdout: the framed answer sits at its end, after whatever login scripts
    /// printed, and is at most ~70 KiB (a shown `~/.aws/config` is capped at 64 KiB on the host).
    pub const ANSWER: Bound = Bound { head: 4 << 10, tail: 128 << 10, max: 4 << 20 };
    /// stderr: only ever shown in a report, so a few KiB of each end.
    pub const DIAGNOSTIC: Bound = Bound { head: 2 << 10, tail: 2 << 10, max: 4 << 20 };
}

/// What was kept of one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: u64,
    /// True when the stream went past [`Bound::max`] and was abandoned.
    pub over: bool,
    bound: Option<Bound>,
}

impl Captured {
    fn push(&mut self, bound: Bound, mut chunk: &[u8]) {
        self.total += chunk.len() as u64;
        let room = bound.head.saturating_sub(self.head.len());
        let take = room.min(chunk.len());
        self.head.extend_from_slice(&chunk[..take]);
        chunk = &chunk[take..];
        if chunk.len() >= bound.tail {
            self.tail.clear();
            self.tail.extend(&chunk[chunk.len() - bound.tail..]);
            return;
        }
        let spill = (self.tail.len() + chunk.len()).saturating_sub(bound.tail);
        self.tail.drain(..spill);
        self.tail.extend(chunk);
    }

    /// Every byte the peer sent.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes that were counted but not kept.
    pub fn dropped(&self) -> u64 {
        self.total - (self.head.len() + self.tail.len()) as u64
    }

    /// The kept bytes in order: the whole stream when nothing was dropped, else `head` and `tail` (which are not
    /// contiguous; see [`Captured::parts`]).
    pub fn parts(&self) -> (&[u8], Vec<u8>) {
        (&self.head, self.tail.iter().copied().collect())
    }

    /// The whole stream, when nothing was dropped.
    pub fn whole(&self) -> Option<Vec<u8>> {
        (self.dropped() == 0).then(|| {
            let mut all = self.head.clone();
            all.extend(self.tail.iter());
            all
        })
    }

    /// The stream as text for a report: whole when it fit, else its start and end around how much was left out.
    pub fn text(&self) -> String {
        if let Some(all) = self.whole() {
            return String::from_utf8_lossy(&all).into_owned();
        }
        let (head, tail) = self.parts();
        let over = if self.over { " (the peer sent more than credpush reads; the channel was closed)" } else { "" };
        format!(
            "{} [... {} bytes left out{over} ...] {}",
            String::from_utf8_lossy(head),
            self.dropped(),
            String::from_utf8_lossy(&tail)
        )
    }

    /// The limit this was read under.
    pub fn bound(&self) -> Option<Bound> {
        self.bound
    }
}

/// Reads `stream` to its end or to `bound.max`, whichever comes first, keeping what [`Bound`] says.
pub async fn read<R: AsyncRead + Unpin>(mut stream: R, bound: Bound) -> std::io::Result<Captured> {
    let mut out = Captured { bound: Some(bound), ..Captured::default() };
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        let allowed = (bound.max - out.total).min(n as u64) as usize;
        out.push(bound, &buf[..allowed]);
        if out.total >= bound.max {
            out.over = true;
            return Ok(out);
        }
    }
}

/// Finds the framed answer `\ncredpush-reply NONCE\n … credpush-end NONCE\n` in what was kept of stdout, ignoring
/// anything before or after it (login noise). Returns the body between the markers.
pub fn frame(captured: &Captured, nonce: &str) -> Option<Vec<u8>> {
    let begin = format!("\ncredpush-reply {nonce}\n");
    let end = format!("credpush-end {nonce}\n");
    let find = |hay: &[u8]| -> Option<Vec<u8>> {
        let start = find_bytes(hay, begin.as_bytes())? + begin.len();
        let body = &hay[start..];
        // The end marker starts a line; the body's own lines never carry the nonce.
        let stop = find_bytes(body, end.as_bytes()).filter(|&i| i == 0 || body[i - 1] == b'\n')?;
        Some(body[..stop].to_vec())
    };
    if let Some(all) = captured.whole() {
        return find(&all);
    }
    let (head, tail) = captured.parts();
    find(&tail).or_else(|| find(head))
}

fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A fresh nonce for one exec's frame: not secret, only unpredictable enough that no login script prints it.
pub fn nonce() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 12];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if random.is_err() {
        // Without /dev/urandom, time and pid still differ per exec; the frame needs uniqueness, not secrecy.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        bytes[..8].copy_from_slice(&(t.as_nanos() as u64).to_le_bytes());
        bytes[8..].copy_from_slice(&std::process::id().to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(data: Vec<u8>, bound: Bound) -> Captured {
        read(std::io::Cursor::new(data), bound).await.expect("read")
    }

    #[tokio::test]
    async fn keeps_head_and_tail_and_counts_the_rest() {
        let bound = Bound { head: 4, tail: 6, max: 1 << 20 };
        let c = read_all(b"0123456789abcdefghij".to_vec(), bound).await;
        assert_eq!((c.total(), c.dropped(), c.over), (20, 10, false));
        assert_eq!(c.parts(), (b"0123".as_slice(), b"efghij".to_vec()));
        assert_eq!(c.text(), "0123 [... 10 bytes left out ...] efghij");
        let small = read_all(b"short".to_vec(), bound).await;
        assert_eq!(small.whole().as_deref(), Some(b"short".as_slice()));
    }

    #[tokio::test]
    async fn stops_at_the_limit() {
        let bound = Bound { head: 8, tail: 8, max: 100_000 };
        let c = read_all(vec![b'x'; 5_000_000], bound).await;
        assert!(c.over);
        assert_eq!(c.total(), 100_000);
        assert!(c.text().len() < 200, "{}", c.text());
    }

    #[tokio::test]
    async fn finds_the_frame_among_noise_before_and_after() {
        let n = nonce();
        let body = "ok abc /h/.aws/temp.json\n";
        let framed = format!("\ncredpush-reply {n}\n{body}credpush-end {n}\n");
        for (before, after) in [
            (String::new(), String::new()),
            ("Welcome".to_owned(), "bye\n".to_owned()),
            ("x".repeat(1 << 20), "logout\n".to_owned()),
            (format!("credpush-reply {n}x\n"), String::new()),
        ] {
            let c = read_all(format!("{before}{framed}{after}").into_bytes(), Bound::ANSWER).await;
            assert_eq!(frame(&c, &n).as_deref(), Some(body.as_bytes()), "{}", before.len());
        }
        let c = read_all(format!("\ncredpush-reply {n}\nok x\n").into_bytes(), Bound::ANSWER).await;
        assert_eq!(frame(&c, &n), None, "an answer without its end marker is no answer");
    }
}
