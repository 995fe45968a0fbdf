//! The install phase's release path: CREDPUSH_BINARY_S3_URI names scripts/release's tarball in S3 (moto, read as
//! the service role, whose policy gets s3:GetObject on it from the template's CredpushBinaryS3Uri), and
//! CREDPUSH_BINARY_SHA256 its checksum. A good pair installs the tarball's binary and the build rotates with it; a
//! wrong or missing checksum fails the install phase with one line, before the tarball is unpacked or anything
//! else runs.

use super::codebuild_world_with;
use super::local::{build, source};
use crate::harness::{Env, Moto, run, sha256_file};
use crate::release::{VERSION, artifact};
use crate::sshd::Fleet;

#[test]
fn a_release_tarball_installs_after_its_checksum_and_a_wrong_checksum_stops_the_build_first() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let tarball = artifact(&format!("credpush-{VERSION}-x86_64-linux.tar.gz"));
    let uri = format!("s3://credpush-releases/v{VERSION}/credpush-{VERSION}-x86_64-linux.tar.gz");
    let world = codebuild_world_with(
        &moto,
        &fleet,
        env.home.path(),
        serde_json::json!({ "CredpushBinaryS3Uri": uri }),
        serde_json::json!([{ "uri": uri, "file": tarball }]),
    );
    let sha = sha256_file(&tarball);
    let src = source(&env, &std::fs::read_to_string(fleet.inventory("")).expect("inventory"));
    let installed = env.path(".credpush/bin/credpush");
    let with = |sum: &str| {
        // CREDPUSH_BIN empty: the build installs credpush itself, as a real project's does.
        let vars = [
            "CREDPUSH_BIN=".to_owned(),
            format!("CREDPUSH_BINARY_S3_URI={uri}"),
            format!("CREDPUSH_BINARY_SHA256={sum}"),
        ];
        let vars: Vec<&str> = vars.iter().map(String::as_str).collect();
        build(&env, &moto, &world, &src, &vars, None)
    };

    let (ok, report) = with(&sha.to_uppercase());
    let log = format!("{}\n{}", ok.stdout, ok.stderr);
    assert_eq!(ok.code, 0, "{log}");
    assert_eq!(report["summary"]["ok"], 1, "{report}");
    // The tarball's binary, a regular file (not the test's link), whose --version the install phase printed.
    let meta = std::fs::symlink_metadata(&installed).expect("installed binary");
    assert!(meta.file_type().is_file(), "{}", installed.display());
    let version = run(env.cmd(&installed).arg("--version")).expect_code(0).stdout;
    crate::release::check_version(&version);
    assert!(log.contains(version.trim_end()), "{log}");
    assert!(!env.path(".credpush/download").exists(), "the download was left behind");
    assert!(fleet.host("host1").document().exists());

    for (sum, says) in [
        ("0".repeat(64), format!("credpush: {uri} has sha256 {sha}, not CREDPUSH_BINARY_SHA256 {}", "0".repeat(64))),
        (String::new(), "credpush: CREDPUSH_BINARY_SHA256 is \"\", not a sha256".to_owned()),
    ] {
        if installed.exists() {
            std::fs::remove_file(&installed).expect("rm");
        }
        let (bad, report) = with(&sum);
        let log = format!("{}\n{}", bad.stdout, bad.stderr);
        assert_eq!(bad.code, 1, "{log}");
        assert_eq!(log.lines().filter(|l| l.starts_with(&says)).count(), 1, "{says}\n{log}");
        assert!(
            log.contains("Phase complete: INSTALL State: FAILED") && !log.contains("Entering phase PRE_BUILD"),
            "{log}"
        );
        assert!(!installed.exists(), "a binary was installed from a tarball that failed its check");
        assert!(!log.contains(&format!("credpush {VERSION} (commit")), "credpush ran: {log}");
        assert!(report.is_null(), "{report}");
    }
}
