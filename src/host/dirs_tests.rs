//! The writer contract's table, for the Rust writer: hostile parents, foreign owners, symlinks, stamps.

use super::*;
use crate::host::atomic::{WriteOptions, Written, write_file};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

fn opts(stamp: Option<u64>) -> WriteOptions {
    WriteOptions { mode: 0o600, stamp, lock_wait: Duration::from_secs(2), ..WriteOptions::default() }
}

fn private_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    d
}

#[test]
fn writes_creates_0700_parents_and_keeps_a_stamp() {
    let d = private_dir();
    let target = d.path().join("a/b/temp.json");
    assert_eq!(write_file(&target, b"one", &opts(Some(10))).expect("write"), Written::Replaced);
    assert_eq!(std::fs::read(&target).expect("read"), b"one");
    assert_eq!(std::fs::metadata(d.path().join("a/b")).expect("meta").mode() & 0o777, 0o700);
    assert_eq!(std::fs::read_to_string(d.path().join("a/b/.temp.json.credpush-stamp")).expect("stamp"), "10\n");
    // The same rotation again (a retry) and a later one replace it; an earlier one does not.
    assert_eq!(write_file(&target, b"one", &opts(Some(10))).expect("retry"), Written::Replaced);
    assert_eq!(write_file(&target, b"old", &opts(Some(9))).expect("older"), Written::Newer(10));
    assert_eq!(std::fs::read(&target).expect("read"), b"one");
    assert_eq!(write_file(&target, b"two", &opts(Some(11))).expect("newer"), Written::Replaced);
    assert_eq!(std::fs::read(&target).expect("read"), b"two");
    // A file that is not a rotation's document ignores stamps.
    assert_eq!(write_file(&target, b"cfg", &opts(None)).expect("plain"), Written::Replaced);
    let names: Vec<_> = std::fs::read_dir(d.path().join("a/b")).expect("ls").flatten().map(|e| e.file_name()).collect();
    assert_eq!(names.len(), 2, "temp files left behind: {names:?}");
}

#[test]
fn a_directory_others_can_write_is_refused_with_owner_mode_and_fix() {
    let d = private_dir();
    let open = d.path().join("open");
    std::fs::create_dir(&open).expect("mkdir");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let err = write_file(&open.join("x/temp.json"), b"secret", &opts(None)).expect_err("refused");
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("directory {} (owner uid", open.display())), "{msg}");
    assert!(msg.contains("mode 0777") && msg.contains("fix: chmod go-w"), "{msg}");
    assert!(!open.join("x").exists(), "nothing may be created below a refused directory");
    // Sticky and root's, as /tmp is: allowed on the way (the parent itself is the writer's).
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let sticky_ok = std::fs::metadata(&open).expect("meta").uid() == 0;
    assert_eq!(write_file(&open.join("x/temp.json"), b"s", &opts(None)).is_ok(), sticky_ok);
}

#[test]
fn a_directory_of_another_user_is_refused() {
    if writer_uid() != 0 {
        return; // Only root can give a directory away; the integration tests cover it with real users.
    }
    let d = private_dir();
    let theirs = d.path().join("theirs");
    std::fs::create_dir(&theirs).expect("mkdir");
    std::os::unix::fs::chown(&theirs, Some(65534), None).expect("chown");
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let msg = write_file(&theirs.join("temp.json"), b"s", &opts(None)).expect_err("refused").to_string();
    assert!(msg.contains("is owned by uid 65534 (mode 0700), not by root or the writing user"), "{msg}");
    // A root writer handing the file to that user may write in that user's own directory.
    let handed = WriteOptions { owner: Some(65534), ..opts(None) };
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    write_file(&theirs.join("temp.json"), b"s", &handed).expect("handed to the directory's owner");
    assert_eq!(std::fs::metadata(theirs.join("temp.json")).expect("meta").uid(), 65534);
}

#[test]
fn symlinks_at_the_target_are_replaced_never_followed() {
    let d = private_dir();
    let outside = d.path().join("outside");
    std::fs::write(&outside, b"keep").expect("write");
    let dir = d.path().join("aws");
    std::fs::create_dir(&dir).expect("mkdir");
    std::os::unix::fs::symlink(&outside, dir.join("temp.json")).expect("symlink");
    std::os::unix::fs::symlink(&outside, dir.join(".temp.json.credpush-stamp")).expect("symlink");
    // The stamp file is a planted symlink: opening it O_NOFOLLOW fails, and nothing is renamed.
    assert!(write_file(&dir.join("temp.json"), b"secret", &opts(Some(1))).is_err());
    assert_eq!(std::fs::read(&outside).expect("read"), b"keep");
    std::fs::remove_file(dir.join(".temp.json.credpush-stamp")).expect("rm");
    write_file(&dir.join("temp.json"), b"secret", &opts(Some(1))).expect("write");
    assert_eq!(std::fs::read(&outside).expect("read"), b"keep");
    assert!(!std::fs::symlink_metadata(dir.join("temp.json")).expect("meta").file_type().is_symlink());
    // A symlink to a directory on the way is resolved once, and the directory it names is checked.
    std::os::unix::fs::symlink(&dir, d.path().join("link")).expect("symlink");
    write_file(&d.path().join("link/temp.json"), b"again", &opts(Some(2))).expect("through a link");
    assert_eq!(std::fs::read(dir.join("temp.json")).expect("read"), b"again");
}

#[test]
fn a_directory_at_the_target_and_short_paths_are_refused() {
    let d = private_dir();
    std::fs::create_dir(d.path().join("temp.json")).expect("mkdir");
    let msg = write_file(&d.path().join("temp.json"), b"s", &opts(None)).expect_err("dir").to_string();
    assert!(msg.contains("is a directory (fix: name the file to write"), "{msg}");
    assert!(split(Path::new("/")).is_none());
}

#[test]
fn two_writers_of_one_file_serialize_and_the_later_stamp_wins() {
    let d = private_dir();
    let target = d.path().join("temp.json");
    let writers: Vec<_> = (1..=16u64)
        .map(|stamp| {
            let target = target.clone();
            std::thread::spawn(move || write_file(&target, format!("doc{stamp}").as_bytes(), &opts(Some(stamp))))
        })
        .collect();
    for w in writers {
        w.join().expect("thread").expect("write");
    }
    assert_eq!(std::fs::read(&target).expect("read"), b"doc16", "an earlier rotation's document won");
}
