//! Everything credpush prints on stdout goes through [`print`], so a reader that stops early (`| head`) ends the
//! output quietly, as `cat` does, instead of a panic from `println!` with exit code 101.

use std::io::Write;

use crate::error::{Error, Result};

/// Writes `text` to stdout and flushes it. A closed stdout (EPIPE: the reader is gone) is not an error: the rest
/// of the output is dropped and the command's exit code stays what it was. Rust ignores SIGPIPE, so the write
/// reports EPIPE instead of killing the process. Any other write error (a full disk behind a redirect) is
/// [`Error::Io`], exit code 4.
pub fn print(text: &str) -> Result<()> {
    write(text.as_bytes()).map_err(|e| Error::io("write", "stdout", e))
}

/// [`print`] for bytes, with the plain I/O error, for callers that report it in their own words.
pub fn write(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            tracing::debug!("stdout is closed; the rest of the output is dropped");
            Ok(())
        }
        other => other,
    }
}
