//! The remote writer's framed answer (`templates/remote_write.sh`): `ok SHA256 PATH` and the shown file, `newer
//! STAMP`, or `error CODE MESSAGE`. The frame itself is found by [`crate::delivery::bounded::frame`].

/// What the writer said, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Written: the checksum of the file now in place and its absolute path, and the shown file when asked.
    Ok {
        /// sha256 of the file in place.
        sha256: String,
        /// Its absolute path.
        path: String,
        /// The `SHOW` file.
        shown: Option<Shown>,
    },
    /// A later rotation (this stamp) already wrote the file; it was left alone.
    Newer(u64),
    /// The writer refused or failed; the file was left as it was.
    Error(String),
}

/// A small file read back by the same exec as a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// Its absolute path.
    pub path: String,
    /// Its octal mode and content, when it exists.
    pub existing: Option<(u32, String)>,
    /// Its size, when it is too large (or not a regular file, -1) to be sent.
    pub too_large: Option<i64>,
}

fn line(body: &[u8]) -> (&str, &[u8]) {
    let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    (std::str::from_utf8(&body[..end]).unwrap_or(""), body.get(end + 1..).unwrap_or(&[]))
}

/// The shell writer's `helper NOTE` line, when the body starts with one, and the rest of the body.
pub fn helper_note(body: &[u8]) -> (Option<&str>, &[u8]) {
    let (first, rest) = line(body);
    match first.strip_prefix("helper ") {
        Some(note) => (Some(note), rest),
        None => (None, body),
    }
}

/// Parses the frame's body.
pub fn parse(body: &[u8]) -> Result<Reply, String> {
    let (first, rest) = line(body);
    let (kind, args) = first.split_once(' ').unwrap_or((first, ""));
    match kind {
        "error" => Ok(Reply::Error(args.split_once(' ').map_or(args, |(_, msg)| msg).to_owned())),
        "newer" => args.parse().map(Reply::Newer).map_err(|_| format!("unexpected reply {first:?}")),
        "ok" => {
            let (sha256, path) = args.split_once(' ').ok_or_else(|| format!("unexpected reply {first:?}"))?;
            let shown = if rest.is_empty() { None } else { Some(parse_shown(rest)?) };
            Ok(Reply::Ok { sha256: sha256.to_owned(), path: path.to_owned(), shown })
        }
        _ => Err(format!("unexpected reply {:?}", first.chars().take(80).collect::<String>())),
    }
}

/// Parses a read-only reader's answer: the shown file alone (`templates/remote_show.sh`).
pub fn parse_show(body: &[u8]) -> Result<Shown, String> {
    parse_shown(body)
}

/// `show PATH`, then `absent`, `toolarge SIZE`, or `present MODE SIZE` and exactly SIZE bytes and a newline.
fn parse_shown(body: &[u8]) -> Result<Shown, String> {
    let (first, rest) = line(body);
    let path = first.strip_prefix("show ").ok_or_else(|| format!("unexpected reply {first:?}"))?.to_owned();
    let (state, rest) = line(rest);
    let mut words = state.split(' ');
    let shown_path = path.clone();
    let bad = move || format!("unexpected reply {state:?} reading {shown_path}");
    match (words.next(), words.next(), words.next()) {
        (Some("absent"), None, None) => Ok(Shown { path, existing: None, too_large: None }),
        (Some("toolarge"), Some(size), None) => {
            Ok(Shown { path, existing: None, too_large: Some(size.parse().map_err(|_| bad())?) })
        }
        (Some("present"), Some(mode), Some(size)) => {
            let mode = u32::from_str_radix(mode, 8).map_err(|_| bad())?;
            let size: usize = size.parse().map_err(|_| bad())?;
            if rest.len() != size + 1 || rest[size] != b'\n' {
                return Err(format!("{path} changed while it was read (fix: run again)"));
            }
            let text = String::from_utf8(rest[..size].to_vec())
                .map_err(|_| format!("{path} is not UTF-8 text (fix: point the profile at an AWS config file)"))?;
            Ok(Shown { path, existing: Some((mode, text)), too_large: None })
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reply_parses() {
        assert_eq!(
            parse(b"error 77 directory /x is owned by evil\n"),
            Ok(Reply::Error("directory /x is owned by evil".into()))
        );
        assert_eq!(parse(b"newer 1700000000000000001\n"), Ok(Reply::Newer(1_700_000_000_000_000_001)));
        let ok = parse(b"ok ab /h/t.json\nshow /h/config\npresent 640 5\n[a]\nx\n").expect("ok");
        let shown = Shown { path: "/h/config".into(), existing: Some((0o640, "[a]\nx".into())), too_large: None };
        assert_eq!(ok, Reply::Ok { sha256: "ab".into(), path: "/h/t.json".into(), shown: Some(shown) });
        let big = parse(b"ok ab /h/t.json\nshow /h/config\ntoolarge 70000\n").expect("big");
        assert!(matches!(big, Reply::Ok { shown: Some(Shown { too_large: Some(70000), .. }), .. }));
        let absent = parse(b"ok ab /h/t.json\nshow /h/config\nabsent\n").expect("absent");
        assert!(matches!(absent, Reply::Ok { shown: Some(Shown { existing: None, too_large: None, .. }), .. }));
        assert!(parse(b"ok ab /h/t.json\nshow /h/config\npresent 640 9\n[a]\n").unwrap_err().contains("changed"));
        assert!(parse(b"Welcome\n").is_err());
    }
}
