//! Issue 16's trust classes against real sshd hosts and moto: another local user racing every writer (`dirs`),
//! login noise around the writer's answer (`noise`), a host that floods its streams (`streams`), and late or
//! overlapping writes that must never roll a host back (`rollback`).

mod dirs;
mod noise;
mod rollback;
mod streams;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The second local user, who tries to steal what the writers write (created by scripts/setup).
pub const EVIL: &str = "credpush-evil";

pub fn evil_uid() -> u32 {
    let out = Command::new("id").args(["-u", EVIL]).output().expect("id");
    assert!(out.status.success(), "user {EVIL} is missing: run ./scripts/setup");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("uid")
}

/// A directory owned by the evil user, with `mode`, inside `parent`.
pub fn evil_dir(parent: &Path, name: &str, mode: u32) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::os::unix::fs::chown(&dir, Some(evil_uid()), Some(evil_uid())).expect("chown");
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(mode)).expect("chmod");
    dir
}

/// What the evil user runs: for every file or directory that appears in WATCH (inotify), it copies what it can
/// read into LOOT, swaps a file for a symlink into LOOT, swaps a directory for one of its own holding a
/// `credpush` program that leaves a mark in LOOT, and keeps going until killed. It is the pass's attack, made
/// to hit every window a writer leaves.
const RACER: &str = r#"watch=$1 loot=$2
inotifywait -m -q -e create -e moved_to --format '%f' "$watch" 2>/dev/null | while IFS= read -r f; do
  p=$watch/$f
  cp -r -- "$p" "$loot/copy.$f.$$" 2>/dev/null
  if [ -d "$p" ] && [ ! -h "$p" ]; then
    mv -- "$p" "$loot/moved.$f" 2>/dev/null && mkdir -m 777 -- "$p" 2>/dev/null &&
      printf '#!/bin/sh\ntouch %s/EXECUTED\ncat "$1" > %s/args.stolen\n' "$loot" "$loot" >"$p/credpush" &&
      chmod 777 "$p/credpush"
  else
    : >"$loot/sink.$f"; chmod 666 "$loot/sink.$f"
    ln -sf -- "$loot/sink.$f" "$p" 2>/dev/null
  fi
done
"#;

/// The racer, running as the evil user on `watch`; kill it with [`stop`].
pub fn race(watch: &Path, loot: &Path) -> Child {
    let child = Command::new("setpriv")
        .args([&format!("--reuid={EVIL}"), &format!("--regid={EVIL}"), "--init-groups", "sh", "-c", RACER, "racer"])
        .arg(watch)
        .arg(loot)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("racer");
    // inotifywait needs a moment to set its watch.
    std::thread::sleep(std::time::Duration::from_millis(300));
    child
}

use std::os::unix::process::CommandExt;

/// Stops the racer and everything it started.
pub fn stop(mut racer: Child) {
    crate::procs::kill_group(racer.id());
    let _ = racer.wait();
}

/// Every file below `roots` that the evil user can read, with its content.
pub fn readable_by_evil(roots: &[&Path]) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for root in roots {
        for f in crate::harness::files_under(root) {
            let r = Command::new("setpriv")
                .args([&format!("--reuid={EVIL}"), &format!("--regid={EVIL}"), "--init-groups", "cat", "--"])
                .arg(&f)
                .stderr(Stdio::null())
                .output()
                .expect("cat as evil");
            if r.status.success() {
                out.push((f, r.stdout));
            }
        }
    }
    out
}

/// Asserts that none of `secrets` is in a file the evil user can read below `roots`, and that nothing of theirs
/// ran.
pub fn assert_nothing_stolen(roots: &[&Path], loot: &Path, secrets: &[String]) {
    assert!(!loot.join("EXECUTED").exists(), "the evil user's program ran as the writer");
    for (f, content) in readable_by_evil(roots) {
        let text = String::from_utf8_lossy(&content);
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            assert!(!text.contains(s.as_str()), "the evil user can read a secret in {}", f.display());
        }
    }
}
