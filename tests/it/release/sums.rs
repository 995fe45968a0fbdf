//! SHA256SUMS covers every artifact, `sha256sum -c` accepts it, and it catches a corrupted copy by name.

use super::{VERSION, artifact, dist};
use crate::harness::{Env, run};

#[test]
fn sha256sums_covers_every_artifact_and_catches_a_corrupted_one() {
    let env = Env::new();
    let sums = std::fs::read_to_string(artifact("SHA256SUMS")).expect("SHA256SUMS");
    let mut names: Vec<&str> = sums
        .lines()
        .map(|l| {
            let (hash, name) = l.split_once("  ").unwrap_or_else(|| panic!("not sha256sum's format: {l:?}"));
            assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "{l:?}");
            name
        })
        .collect();
    names.sort_unstable();
    let mut want = vec![
        format!("credpush-{VERSION}-x86_64-linux.tar.gz"),
        format!("credpush-ansible-{VERSION}-x86_64-linux"),
        format!("credpush-credpush-{VERSION}.tar.gz"),
        format!("credpush_{VERSION}-1_amd64.deb"),
    ];
    want.sort();
    assert_eq!(names, want);

    // A copy of the release verifies as a downloader checks it...
    let copy = env.path("download");
    std::fs::create_dir(&copy).expect("mkdir");
    for name in names.iter().copied().chain(["SHA256SUMS"]) {
        std::fs::copy(dist().join(name), copy.join(name)).expect("copy");
    }
    let ok = run(env.cmd("sha256sum").args(["--check", "--strict", "SHA256SUMS"]).current_dir(&copy)).expect_code(0);
    for name in &names {
        assert!(ok.stdout.contains(&format!("{name}: OK")), "{}", ok.stdout);
    }
    // ...and one flipped byte in the tarball fails the check, naming that file only.
    let tarball = copy.join(&want[0]);
    let mut bytes = std::fs::read(&tarball).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&tarball, bytes).expect("write");
    let bad = run(env.cmd("sha256sum").args(["--check", "--strict", "SHA256SUMS"]).current_dir(&copy)).expect_code(1);
    assert!(bad.stdout.contains(&format!("{}: FAILED", want[0])), "{}", bad.stdout);
    assert_eq!(bad.stdout.matches("FAILED").count(), 1, "{}", bad.stdout);
}
