//! The remote writer's contract, run here with `sh` as a host would: framed answers, short or unterminated
//! input, directory targets, the shown file, stamps.

use super::*;
use crate::delivery::bounded::{Bound, Captured, frame};
use std::process::Command;

const NONCE: &str = "0123abcd";

fn input(doc: &[u8]) -> Vec<u8> {
    let sha = sha256_hex(doc);
    [format!("credpush-write {sha} {}\n", doc.len()).as_bytes(), doc, b"credpush-end\n"].concat()
}

/// Runs the writer with HOME=`home`; returns its exit code and the body of its framed answer.
fn write(home: &Path, target: &str, stamp: &str, stdin: &[u8], show: &[&str]) -> (Option<i32>, String) {
    use std::io::Write;
    let mut child = Command::new("sh")
        .args(["-c", WRITE_SCRIPT, "credpush", "-", target, "600", stamp, "10", NONCE])
        .args(show)
        .env("HOME", home)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sh");
    // A writer that refuses its arguments exits before it reads: its closed stdin is part of that answer.
    match child.stdin.take().expect("stdin").write_all(stdin) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.expect("write"),
    }
    let out = child.wait_with_output().expect("wait");
    let mut captured = Captured::default();
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
    captured = rt.block_on(bounded::read(std::io::Cursor::new(out.stdout), Bound::ANSWER)).unwrap_or(captured);
    let body = frame(&captured, NONCE).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    (out.status.code(), body)
}

fn home() -> tempfile::TempDir {
    let h = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(h.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    h
}

#[test]
fn remote_writer_is_atomic_and_rejects_short_or_unterminated_input() {
    let home = home();
    let doc = b"{\"Version\":1}\n";
    let sha = sha256_hex(doc);
    let (code, body) = write(home.path(), "~/.aws/temp.json", "5", &input(doc), &[]);
    let abs = home.path().join(".aws/temp.json");
    assert_eq!((code, body), (Some(0), format!("ok {sha} {}\n", abs.display())));
    assert_eq!(std::fs::read(&abs).expect("doc"), doc);

    let full = input(b"{\"Version\":2}\n");
    for (cut, why) in
        [(full.len() - 13, "end marker"), (90, "end marker"), (60, "no input received"), (0, "no input received")]
    {
        let (code, body) = write(home.path(), "~/.aws/temp.json", "6", &full[..cut], &[]);
        assert_eq!(code, Some(65), "{body}");
        assert!(body.starts_with("error 65 ") && body.contains(why), "{body}");
        assert_eq!(std::fs::read(&abs).expect("doc"), doc, "the previous document must survive");
    }
    let names: Vec<_> =
        std::fs::read_dir(home.path().join(".aws")).expect("ls").flatten().map(|e| e.file_name()).collect();
    assert_eq!(names.len(), 2, "only the document and its stamp: {names:?}");

    let (code, _) = write(home.path(), "aws/temp.json", "7", &input(doc), &[]);
    assert_eq!(code, Some(64));
    // A directory, or a link to one, at the target: refused, and nothing is left in it or beside it.
    for (target, link) in [("~/d", false), ("~/link", true)] {
        let dir = home.path().join("real-dir");
        std::fs::create_dir_all(&dir).expect("mkdir");
        if link {
            std::os::unix::fs::symlink(&dir, home.path().join("link")).expect("symlink");
        } else {
            std::fs::create_dir_all(home.path().join("d")).expect("mkdir");
        }
        let (code, body) = write(home.path(), target, "8", &input(doc), &[]);
        assert_eq!(code, Some(66), "{target}");
        assert!(body.contains("is a directory"), "{body}");
        assert_eq!(std::fs::read_dir(&dir).expect("ls").count(), 0, "{target}: a temp file was left in the directory");
    }
}

#[test]
fn a_later_rotations_stamp_is_never_replaced_by_an_earlier_one() {
    let home = home();
    let abs = home.path().join(".aws/temp.json");
    assert!(write(home.path(), "~/.aws/temp.json", "200", &input(b"new"), &[]).1.starts_with("ok "));
    assert_eq!(write(home.path(), "~/.aws/temp.json", "100", &input(b"old"), &[]), (Some(0), "newer 200\n".into()));
    assert_eq!(std::fs::read(&abs).expect("doc"), b"new");
    // The same rotation again (a retry) and a later one write; a file that is not a document has no stamp.
    assert!(write(home.path(), "~/.aws/temp.json", "200", &input(b"again"), &[]).1.starts_with("ok "));
    assert!(write(home.path(), "~/.aws/temp.json", "300", &input(b"later"), &[]).1.starts_with("ok "));
    assert!(write(home.path(), "~/.aws/config", "-", &input(b"[x]\n"), &[]).1.starts_with("ok "));
    assert!(!home.path().join(".aws/.config.credpush-stamp").exists());
    assert_eq!(std::fs::read_to_string(home.path().join(".aws/.temp.json.credpush-stamp")).expect("stamp"), "300\n");
}

#[test]
fn remote_writer_shows_a_second_file_in_the_same_exec() {
    let home = home();
    let config = home.path().join(".aws/config");
    let shown = |body: &str| match answer::parse(body.as_bytes()) {
        Ok(Reply::Ok { shown, .. }) => shown.expect("shown"),
        other => panic!("{other:?}"),
    };
    let (_, body) = write(home.path(), "~/.aws/temp.json", "1", &input(b"{}"), &["~/.aws/config"]);
    assert_eq!(shown(&body), Shown { path: config.display().to_string(), existing: None, too_large: None });
    std::fs::write(&config, "[default]\nregion = x\n").expect("config");
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o640)).expect("chmod");
    let (_, body) = write(home.path(), "~/.aws/temp.json", "2", &input(b"{}"), &["~/.aws/config"]);
    assert_eq!(shown(&body).existing, Some((0o640, "[default]\nregion = x\n".to_owned())));
    std::fs::write(&config, "#".repeat(70_000)).expect("config");
    let (_, body) = write(home.path(), "~/.aws/temp.json", "3", &input(b"{}"), &["~/.aws/config"]);
    assert_eq!(shown(&body).too_large, Some(70_000));
}

#[test]
fn remote_writer_leaves_a_file_that_changed_since_it_was_read() {
    let home = home();
    let file = home.path().join(".aws/credentials");
    let sha = sha256_hex;
    // Nothing there, as the reader said: written.
    let (code, body) = write(home.path(), "~/.aws/credentials", "1", &input(b"one\n"), &["", "absent"]);
    assert_eq!(code, Some(0), "{body}");
    // Read as "one", then changed by hand before the write: left alone, with the reason.
    std::fs::write(&file, "edited\n").expect("edit");
    let (code, body) = write(home.path(), "~/.aws/credentials", "2", &input(b"two\n"), &["", &sha(b"one\n")]);
    assert_eq!(code, Some(75), "{body}");
    assert!(body.contains("changed since credpush read it to merge"), "{body}");
    assert_eq!(std::fs::read(&file).expect("file"), b"edited\n");
    // "absent" while a file exists is a change too; the right checksum goes through.
    let (code, _) = write(home.path(), "~/.aws/credentials", "3", &input(b"three\n"), &["", "absent"]);
    assert_eq!(code, Some(75));
    let (code, body) = write(home.path(), "~/.aws/credentials", "4", &input(b"four\n"), &["", &sha(b"edited\n")]);
    assert_eq!((code, std::fs::read(&file).expect("file")), (Some(0), b"four\n".to_vec()), "{body}");
}

#[test]
fn the_reader_shows_a_file_without_changing_anything() {
    let home = home();
    let read = |path: &str| {
        let out = Command::new("sh")
            .args(["-c", SHOW_SCRIPT, "credpush", path, NONCE])
            .env("HOME", home.path())
            .output()
            .expect("sh");
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
        let captured = rt.block_on(bounded::read(std::io::Cursor::new(out.stdout), Bound::ANSWER)).expect("read");
        answer::parse_show(&frame(&captured, NONCE).expect("framed")).expect("parsed")
    };
    let file = home.path().join(".aws/credentials");
    assert_eq!(read("~/.aws/credentials").existing, None);
    assert!(!home.path().join(".aws").exists(), "the reader creates nothing");
    std::fs::create_dir(home.path().join(".aws")).expect("dir");
    std::fs::write(&file, "[a]\r\nk = v").expect("file");
    let shown = read("~/.aws/credentials");
    assert_eq!((shown.path, shown.existing), (file.display().to_string(), Some((0o644, "[a]\r\nk = v".to_owned()))));
}
