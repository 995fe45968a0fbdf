//! The writer's helper program (src/host/helper.rs, the module's static binary) against the shell writer
//! (templates/remote_write.sh): run through the shell writer's prelude, as a host runs it, the helper must answer
//! every case exactly as the shell does (the same framed reply, exit code, and file left behind). Then the
//! prelude's own cases: a helper that is missing, changed, or in a directory that breaks the rule is not run,
//! and the answer says so.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::ansible::module_binary;
use crate::harness::sha256_file;

const NONCE: &str = "5eed1234";

fn script() -> String {
    ["remote_common.sh", "remote_dirs.sh", "remote_write.sh"]
        .iter()
        .map(|f| std::fs::read_to_string(crate::ansible::repo().join("templates").join(f)).expect("template"))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn input(doc: &[u8]) -> Vec<u8> {
    [format!("credpush-write {} {}\n", hex(doc), doc.len()).as_bytes(), doc, b"credpush-end\n"].concat()
}

/// One writer's home: 0755, with the helper installed (0700 directories, 0700 file) when asked.
struct Home {
    dir: tempfile::TempDir,
    /// The writer's HELPER argument: `-`, or SHA256:CRC:SIZE.
    helper: String,
    /// The installed helper's sha256, which names it.
    sha: String,
}

impl Home {
    fn new(with_helper: bool) -> Self {
        let dir = tempfile::Builder::new().prefix("credpush-helper-").tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o755)).expect("chmod");
        if !with_helper {
            return Self { dir, helper: "-".into(), sha: String::new() };
        }
        let module = module_binary();
        let sha = sha256_file(&module);
        let bin = dir.path().join(".cache/credpush/bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        for d in [dir.path().join(".cache"), dir.path().join(".cache/credpush"), bin.clone()] {
            std::fs::set_permissions(d, PermissionsExt::from_mode(0o700)).expect("chmod");
        }
        let installed = bin.join(format!("credpush-helper-{sha}"));
        std::fs::copy(&module, &installed).expect("copy the helper");
        std::fs::set_permissions(&installed, PermissionsExt::from_mode(0o700)).expect("chmod");
        let bytes = std::fs::read(&module).expect("read the helper");
        let helper = format!("{sha}:{}:{}", credpush::ssh::helper::posix_cksum(&bytes), bytes.len());
        Self { dir, helper, sha }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs the writer with `args` after HELPER (TARGET MODE STAMP SECONDS NONCE …) and `stdin`; returns the
    /// exit code and the framed answer with this home's path written `~H`.
    fn write(&self, args: &[&str], stdin: &[u8]) -> (Option<i32>, String) {
        use std::io::Write;
        let mut child = self.spawn(args);
        match child.stdin.take().expect("stdin").write_all(stdin) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.expect("write"),
        }
        let out = child.wait_with_output().expect("wait");
        let stdout = String::from_utf8_lossy(&out.stdout).replace(&self.path().display().to_string(), "~H");
        let begin = format!("\ncredpush-reply {NONCE}\n");
        let body = match (stdout.find(&begin), stdout.find(&format!("credpush-end {NONCE}\n"))) {
            (Some(b), Some(e)) if e >= b + begin.len() => stdout[b + begin.len()..e].to_owned(),
            _ => format!("(no frame; stderr: {})", String::from_utf8_lossy(&out.stderr)),
        };
        (out.status.code(), body)
    }

    /// The writer (`sh -c SCRIPT credpush HELPER ARGS…`) as a host runs it, with this home, its streams piped.
    fn spawn(&self, args: &[&str]) -> std::process::Child {
        Command::new("sh")
            .args(["-c", &script(), "credpush", &self.helper])
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sh")
    }

    /// Names below the home, with modes, and the bytes of regular files, leaving out the helper's own directory
    /// and the temp files' process-specific names (there must be none).
    fn tree(&self) -> Vec<(String, u32, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        walk(self.path(), self.path(), &mut out);
        out.sort();
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u32, Option<Vec<u8>>)>) {
    for e in std::fs::read_dir(dir).expect("readdir").flatten() {
        let p: PathBuf = e.path();
        let rel = p.strip_prefix(root).expect("prefix").display().to_string();
        if rel.starts_with(".cache") {
            continue;
        }
        let meta = std::fs::symlink_metadata(&p).expect("stat");
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_dir() {
            out.push((rel, mode, None));
            walk(root, &p, out);
        } else {
            out.push((rel, mode, std::fs::read(&p).ok()));
        }
    }
}

/// Every case of the contract, in order, on one home; each case is (args after HELPER, stdin, what to set up).
#[allow(clippy::type_complexity)]
fn cases() -> Vec<(Vec<String>, Vec<u8>, fn(&Path))> {
    let doc = b"{\"Version\":1,\"AccessKeyId\":\"ASIAEXAMPLE\"}\n".to_vec();
    let doc2 = b"{\"Version\":1,\"AccessKeyId\":\"ASIASECOND\"}\n".to_vec();
    let a = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let full = input(&doc2);
    let none: fn(&Path) = |_| {};
    let mut cases: Vec<(Vec<String>, Vec<u8>, fn(&Path))> = vec![
        (a(&["~/.aws/temp.json", "600", "5", "10", NONCE]), input(&doc), none),
        // An earlier rotation's stamp: left alone.
        (a(&["~/.aws/temp.json", "600", "4", "10", NONCE]), input(&doc2), none),
        (a(&["~/.aws/temp.json", "0600", "6", "10", NONCE]), input(&doc2), none),
        // A file that is not a rotation's document, with another mode, and a second file shown.
        (a(&["~/.aws/config", "640", "-", "10", NONCE, "~/.aws/temp.json"]), input(b"[profile x]\n"), none),
        (a(&["~/.aws/other", "600", "-", "10", NONCE, "~/.aws/absent"]), input(b"x"), none),
        (a(&["~/.aws/other", "600", "-", "10", NONCE, "~/big"]), input(b"y"), |h| {
            std::fs::write(h.join("big"), vec![b'b'; 70_000]).expect("big")
        }),
        (a(&["~/.aws/other", "600", "-", "10", NONCE, "~/.aws"]), input(b"z"), none),
        // Merges: the file as read (absent), then a stale checksum.
        (a(&["~/.aws/credentials", "600", "7", "10", NONCE, "", "absent"]), input(b"[a]\n"), none),
        (a(&["~/.aws/credentials", "600", "8", "10", NONCE, "", &hex(b"stale")]), input(b"[b]\n"), none),
        (a(&["~/.aws/credentials", "600", "9", "10", NONCE, "", &hex(b"[a]\n")]), input(b"[c]\n"), none),
        // Bad arguments.
        (a(&["~/.aws/temp.json", "999", "10", "10", NONCE]), input(&doc), none),
        (a(&["~/.aws/temp.json", "600", "x", "10", NONCE]), input(&doc), none),
        (a(&["~/.aws/temp.json", "600", "10", "soon", NONCE]), input(&doc), none),
        (a(&["relative/temp.json", "600", "10", "10", NONCE]), input(&doc), none),
        (a(&["~/.aws/", "600", "10", "10", NONCE]), input(&doc), none),
        (a(&["~/.aws", "600", "10", "10", NONCE]), input(&doc), none),
        // Bad input: wrong header, wrong checksum, a bad length, nothing at all.
        (a(&["~/.aws/temp.json", "600", "11", "10", NONCE]), b"hello\n".to_vec(), none),
        (
            a(&["~/.aws/temp.json", "600", "11", "10", NONCE]),
            b"credpush-write zz 3\nabc\ncredpush-end\n".to_vec(),
            none,
        ),
        (
            a(&["~/.aws/temp.json", "600", "11", "10", NONCE]),
            b"credpush-write ab x\nabc\ncredpush-end\n".to_vec(),
            none,
        ),
        (
            a(&["~/.aws/temp.json", "600", "11", "10", NONCE]),
            [format!("credpush-write {} 3\n", hex(b"abd")).as_bytes(), b"abc\ncredpush-end\n"].concat(),
            none,
        ),
        (a(&["~/.aws/temp.json", "600", "11", "10", NONCE]), Vec::new(), none),
        // The deadline already passed.
        (a(&["~/.aws/temp.json", "600", "12", "0", NONCE]), input(&doc), none),
        // The directory rule: group-writable, and a file where a directory should be.
        (a(&["~/open/temp.json", "600", "13", "10", NONCE]), input(&doc), |h| {
            std::fs::create_dir(h.join("open")).expect("mkdir");
            std::fs::set_permissions(h.join("open"), PermissionsExt::from_mode(0o775)).expect("chmod");
        }),
        (a(&["~/afile/temp.json", "600", "13", "10", NONCE]), input(&doc), |h| {
            std::fs::write(h.join("afile"), b"").expect("file")
        }),
        (a(&["~/new/deep/temp.json", "600", "14", "10", NONCE]), input(&doc), none),
    ];
    // Input cut anywhere: the end marker, the content, the header.
    for cut in [full.len() - 1, full.len() - 13, 60, 20, 5] {
        cases.push((a(&["~/.aws/temp.json", "600", "15", "10", NONCE]), full[..cut].to_vec(), none));
    }
    cases
}

#[test]
fn the_helper_answers_every_case_as_the_shell_writer_does() {
    let (shell, helper) = (Home::new(false), Home::new(true));
    for (i, (args, stdin, setup)) in cases().into_iter().enumerate() {
        setup(shell.path());
        setup(helper.path());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let s = shell.write(&args, &stdin);
        let h = helper.write(&args, &stdin);
        assert_eq!(s, h, "case {i} {args:?}: shell, then helper");
        assert!(!s.1.starts_with("(no frame") || args[4] != NONCE, "case {i}: {}", s.1);
        assert!(!h.1.starts_with("helper "), "case {i}: the helper was not run: {}", h.1);
        assert_eq!(shell.tree(), helper.tree(), "case {i} {args:?}: what each left behind");
    }
    // The cases cover every kind of answer.
    let doc = std::fs::read_to_string(helper.path().join(".aws/temp.json")).expect("doc");
    assert!(doc.contains("ASIASECOND"), "{doc}");
    let stamp = std::fs::read_to_string(helper.path().join(".aws/.temp.json.credpush-stamp")).expect("stamp");
    assert_eq!(stamp, "6\n");
}

#[test]
fn a_helper_that_is_missing_changed_or_exposed_is_not_run_and_the_answer_says_why() {
    let doc = b"{\"Version\":1}\n";
    let args = ["~/.aws/temp.json", "600", "5", "10", NONCE];
    let ok = |h: &Home| format!("ok {} ~H/.aws/temp.json\n", hex(doc)).replace("~H", &h.path().display().to_string());

    // Missing: no directory at all, then the directory without the file.
    let home = Home::new(true);
    std::fs::remove_dir_all(home.path().join(".cache")).expect("rm");
    let (code, body) = home.write(&args, &input(doc));
    assert_eq!(
        (code, body),
        (Some(0), format!("helper missing\n{}", ok(&home).replace(&home.path().display().to_string(), "~H")))
    );

    // Changed: the installed file's bytes are not the checksum asked for.
    let home = Home::new(true);
    let installed = installed_path(&home);
    std::fs::write(&installed, b"#!/bin/sh\necho planted\n").expect("tamper");
    let (code, body) = home.write(&args, &input(doc));
    assert_eq!(code, Some(0), "{body}");
    assert!(body.starts_with("helper mismatch\nok "), "{body}");

    // Writable by group: whoever could write it could change it, so it is not run (and credpush installs it anew).
    let home = Home::new(true);
    std::fs::set_permissions(installed_path(&home), PermissionsExt::from_mode(0o720)).expect("chmod");
    let (code, body) = home.write(&args, &input(doc));
    assert_eq!(code, Some(0), "{body}");
    assert!(body.starts_with("helper mismatch\nok "), "{body}");

    // A HELPER argument that is not SHA256:CRC:SIZE is refused before anything is read.
    let mut home = Home::new(true);
    home.helper = home.sha.clone();
    let (code, body) = home.write(&args, &input(doc));
    assert_eq!(code, Some(64), "{body}");
    assert!(body.contains("is not SHA256:CRC:SIZE"), "{body}");

    // Exposed: its directory is writable by others, so whoever could write there could swap it.
    let home = Home::new(true);
    std::fs::set_permissions(home.path().join(".cache/credpush/bin"), PermissionsExt::from_mode(0o777)).expect("chmod");
    let (code, body) = home.write(&args, &input(doc));
    assert_eq!(code, Some(0), "{body}");
    assert!(
        body.starts_with("helper refused directory ")
            && body.contains("is writable by group or others")
            && body.contains("\nok "),
        "{body}"
    );

    // A symlink in its place is not followed.
    let home = Home::new(true);
    let real = home.path().join("real-helper");
    std::fs::rename(installed_path(&home), &real).expect("mv");
    std::os::unix::fs::symlink(&real, installed_path(&home)).expect("symlink");
    let (_, body) = home.write(&args, &input(doc));
    assert!(body.starts_with("helper missing\nok "), "{body}");
}

fn installed_path(home: &Home) -> PathBuf {
    home.path().join(format!(".cache/credpush/bin/credpush-helper-{}", home.sha))
}

#[test]
fn the_helper_bounds_a_peer_that_sends_nothing_and_never_closes() {
    use std::io::Write;
    // The shell writer waits on its header until credpush cuts the exec; the helper keeps its own deadline.
    let home = Home::new(true);
    let started = std::time::Instant::now();
    let mut child = home.spawn(&["~/.aws/temp.json", "600", "5", "1", NONCE]);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"credpush-write ").expect("write");
    let out = child.wait_with_output().expect("wait");
    drop(stdin);
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(75), "{stdout}");
    assert!(stdout.contains("error 75 the deadline of 1s passed"), "{stdout}");
    assert!(elapsed < std::time::Duration::from_secs(5), "{elapsed:?}");
    assert!(!home.path().join(".aws/temp.json").exists());
    let left: Vec<_> = std::fs::read_dir(home.path().join(".aws")).expect("dir").flatten().collect();
    assert!(left.is_empty(), "{left:?}");
}
