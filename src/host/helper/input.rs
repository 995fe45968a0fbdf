//! The helper's stdin: the shell writer's framed input, read as it comes, never past [`MAX_CONTENT`] or the
//! writer's deadline.

use std::os::fd::AsFd;
use std::time::Instant;

use super::{Fail, MAX_CONTENT, digits, is_hex, said};
use crate::host::fsutil::sha256_hex;

/// Reads `credpush-write SHA256 LENGTH`, LENGTH bytes and `credpush-end` from stdin by `deadline`, bounded by
/// [`MAX_CONTENT`], and checks the checksum; answers the content and that checksum. Each failure is the shell writer's, with its words: a header that
/// never came (no input), content cut short (no end marker), content that stalled (stopped); where the shell
/// would wait on its caller to cut it (a header or end marker that never comes), the deadline ends it.
pub(super) fn read(deadline: Instant, secs: u64, shown: &str) -> Result<(Vec<u8>, String), Fail> {
    let mut input = Input { buf: Vec::new(), eof: false };
    let kept = format!("{shown} was left as it was");
    let late = || said(75, format!("the deadline of {secs}s passed; {kept}"));
    let no_input = || said(65, format!("no input received; {kept}"));
    while !input.buf.contains(&b'\n') && !input.eof && input.buf.len() < 256 {
        input.fill(256, deadline).map_err(|e| if e == Stall::Deadline { late() } else { no_input() })?;
    }
    let Some(eol) = input.buf.iter().position(|&b| b == b'\n') else {
        return Err(if input.eof {
            no_input()
        } else {
            said(65, format!("the input does not start with credpush's header; {kept}"))
        });
    };
    let header = String::from_utf8_lossy(&input.buf[..eol]).into_owned();
    let mut words = header.split(' ');
    if words.next() != Some("credpush-write") {
        return Err(said(65, format!("the input does not start with credpush's header; {kept}")));
    }
    let want = words.next().filter(|w| is_hex(w)).ok_or_else(|| said(65, "bad checksum in the header"))?.to_owned();
    let len = words.next().and_then(digits).ok_or_else(|| said(65, "bad length in the header"))?;
    if len > MAX_CONTENT {
        return Err(said(65, format!("the content is {len} bytes, over the {MAX_CONTENT} the writer takes; {kept}")));
    }
    const END: &[u8] = b"credpush-end\n";
    let (body, len) = (eol + 1, len as usize);
    let need = body + len + END.len();
    let no_end = || said(65, format!("the input ended before credpush's end marker; {kept}"));
    while input.buf.len() < need && !input.eof {
        if let Err(e) = input.fill(need, deadline) {
            if input.buf.len() < body + len && e == Stall::Deadline {
                return Err(said(65, format!("the input stopped before its end (cut or stalled for {secs}s); {kept}")));
            }
            return Err(no_end());
        }
    }
    if input.buf.get(body + len..need) != Some(END) {
        return Err(no_end());
    }
    input.buf.truncate(body + len);
    let content = input.buf.split_off(body);
    if sha256_hex(&content) != want {
        return Err(said(65, format!("received content is incomplete (checksum mismatch); {kept}")));
    }
    if deadline.saturating_duration_since(Instant::now()).is_zero() {
        return Err(late());
    }
    Ok((content, want))
}

/// Why a read of stdin gave nothing.
#[derive(Debug, PartialEq, Eq)]
enum Stall {
    Deadline,
    Broken,
}

/// stdin, read as it comes, never past a bound or a deadline.
struct Input {
    buf: Vec<u8>,
    eof: bool,
}

impl Input {
    /// Reads once (waiting until `deadline`), at most up to `upto` bytes in all.
    fn fill(&mut self, upto: usize, deadline: Instant) -> Result<(), Stall> {
        use rustix::event::{PollFd, PollFlags, Timespec};
        let stdin = std::io::stdin();
        let fd = stdin.as_fd();
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Stall::Deadline);
        }
        let timeout = Timespec { tv_sec: left.as_secs() as i64, tv_nsec: i64::from(left.subsec_nanos()) };
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => return Err(Stall::Deadline),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(()),
            Err(_) => return Err(Stall::Broken),
        }
        let mut chunk = vec![0u8; upto.saturating_sub(self.buf.len()).clamp(1, 1 << 16)];
        match rustix::io::read(fd, &mut chunk) {
            Ok(0) => self.eof = true,
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
            Err(_) => return Err(Stall::Broken),
        }
        Ok(())
    }
}
