//! The writer's helper program on each host ([`crate::host::helper`], carried by the Ansible module's static
//! binary): found here once per run, installed on a host by the shell writer the first time a write finds it
//! missing or changed, and run by the shell writer's prelude after it checked the helper's directory and
//! checksum. A host without it is written by the shell writer, as before; nothing beyond `sh` and coreutils is
//! required on a host.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};

/// The largest helper credpush sends (the module's static build is about 1 MB).
const MAX_HELPER: u64 = 16 << 20;

/// Where the helper lives on a host, below the writing user's home (resolved on the host).
pub const REMOTE_DIR: &str = "~/.cache/credpush/bin";

/// The helper program's bytes and checksums.
pub struct Helper {
    bytes: Vec<u8>,
    sha256: String,
    /// POSIX `cksum` of the bytes (CRC-32 over the content and its length), checked before each use.
    cksum: u32,
    path: PathBuf,
}

impl std::fmt::Debug for Helper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Helper").field("path", &self.path).field("sha256", &self.sha256).finish_non_exhaustive()
    }
}

impl Helper {
    /// The run's helper: `--helper PATH` (or `CREDPUSH_HELPER`), none with `none`, else `credpush-helper`
    /// beside this executable or in `../lib/credpush/` from it (where the tarball and the .deb put it), else none.
    pub fn for_run(asked: Option<&str>) -> Result<Option<Arc<Helper>>> {
        let path = match asked {
            Some("none") => return Ok(None),
            Some(p) => PathBuf::from(p),
            None => match Self::beside_exe() {
                Some(p) => p,
                None => return Ok(None),
            },
        };
        let bytes = read_bounded(&path).map_err(|why| {
            Error::invalid(
                "--helper",
                path.display().to_string(),
                format!("{why}; name the credpush-helper file that came with credpush, or none"),
            )
        })?;
        let sha256 = crate::host::fsutil::sha256_hex(&bytes);
        let cksum = posix_cksum(&bytes);
        tracing::debug!(path = %path.display(), %sha256, cksum, size = bytes.len(), "writer helper");
        Ok(Some(Arc::new(Helper { bytes, sha256, cksum, path })))
    }

    fn beside_exe() -> Option<PathBuf> {
        let exe = std::env::current_exe().ok()?;
        let dir = exe.parent()?;
        [dir.join("credpush-helper"), dir.join("../lib/credpush/credpush-helper")].into_iter().find(|p| p.is_file())
    }

    /// Its sha256, which also names it on a host.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The shell writer's HELPER argument: `SHA256:CKSUM:SIZE`. The sha256 names the file (and was checked
    /// when it was installed, as every write is); before each use the prelude checks the file's owner and mode
    /// and compares `cksum`'s CRC and size, which costs a fifth of hashing the file with `sha256sum` again.
    pub fn check_arg(&self) -> String {
        format!("{}:{}:{}", self.sha256, self.cksum, self.bytes.len())
    }

    /// Its bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Its path on a host.
    pub fn remote_path(&self) -> String {
        format!("{REMOTE_DIR}/credpush-helper-{}", self.sha256)
    }
}

fn read_bounded(path: &Path) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read it ({e})"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read it ({e})"))?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    let mut bytes = Vec::new();
    file.take(MAX_HELPER + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read it ({e})"))?;
    if bytes.len() as u64 > MAX_HELPER {
        return Err(format!("it is over {} MiB", MAX_HELPER >> 20));
    }
    if !bytes.starts_with(b"\x7fELF") {
        return Err("it is not an executable (no ELF header)".into());
    }
    Ok(bytes)
}

/// POSIX `cksum`: CRC-32 (polynomial 0x04C11DB7, most significant bit first) over the bytes, then over their
/// length in as few bytes as it takes (least significant first), complemented.
pub fn posix_cksum(bytes: &[u8]) -> u32 {
    fn feed(crc: u32, byte: u8) -> u32 {
        let mut crc = crc ^ (u32::from(byte) << 24);
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04C1_1DB7 } else { crc << 1 };
        }
        crc
    }
    let mut crc = bytes.iter().fold(0, |crc, &b| feed(crc, b));
    let mut len = bytes.len() as u64;
    while len != 0 {
        crc = feed(crc, len as u8);
        len >>= 8;
    }
    !crc
}

/// What a write's answer said of the helper, when one was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelperNote {
    /// No helper was asked for, or it wrote.
    None,
    /// The shell wrote: the helper is not on the host (install it).
    Missing,
    /// The shell wrote: the helper on the host has another checksum (install it again).
    Mismatch,
    /// The shell wrote: the helper's directory broke the rule (install nothing there).
    Refused(String),
}

impl HelperNote {
    /// The note from the answer's `helper …` line.
    pub fn parse(text: &str) -> Self {
        match text {
            "missing" => Self::Missing,
            "mismatch" => Self::Mismatch,
            t => Self::Refused(t.strip_prefix("refused ").unwrap_or(t).to_owned()),
        }
    }

    /// True when credpush should send the helper.
    pub fn wants_install(&self) -> bool {
        matches!(self, Self::Missing | Self::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc_is_the_one_cksum_prints() {
        assert_eq!(posix_cksum(b"123456789"), 930_766_865);
        assert_eq!(posix_cksum(b""), 4_294_967_295);
        // Lengths that take one, two and three bytes, against the system's cksum.
        for n in [1usize, 255, 256, 70_000] {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 7 + i / 256) as u8).collect();
            let mut child = std::process::Command::new("cksum")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("cksum");
            std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), &bytes).expect("write");
            let out = child.wait_with_output().expect("cksum");
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("{} {n}", posix_cksum(&bytes)), "{n}");
        }
    }
}
