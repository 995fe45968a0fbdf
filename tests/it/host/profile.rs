//! `credpush profile`: rendering, refusals, and the idempotent managed-block merge.

use std::os::unix::fs::MetadataExt;

use crate::harness::{Env, run};

#[test]
fn refuses_tilde_and_relative_paths() {
    let env = Env::new();
    for (path, why) in [
        ("~/.aws/temp.json", "botocore runs credential_process without a shell, so ~ and $VARIABLES are not expanded"),
        (
            "$HOME/.aws/temp.json",
            "botocore runs credential_process without a shell, so ~ and $VARIABLES are not expanded",
        ),
        ("aws/temp.json", "it is relative, and botocore runs credential_process from the caller's working directory"),
    ] {
        let r = run(env.credpush().args(["profile", "--name", "onprem", "--path", path])).expect_code(2);
        assert!(
            r.stderr.starts_with(&format!(
                "credpush: error: profile path {path:?} is not usable: {why} (fix: give the absolute path"
            )),
            "{}",
            r.stderr
        );
        assert_eq!(r.stdout, "");
    }
}

#[test]
fn prints_the_block_without_install() {
    let env = Env::new();
    let r =
        run(env.credpush().args(["profile", "--name", "default", "--path", "/srv/ci/.aws/temp.json"])).expect_code(0);
    assert_eq!(
        r.stdout,
        "# >>> credpush managed profile \"default\" >>>\n\
         # Written by credpush. Edits inside this block are replaced on the next install.\n\
         [default]\n\
         credential_process = cat /srv/ci/.aws/temp.json\n\
         # <<< credpush managed profile \"default\" <<<\n"
    );
}

#[test]
fn install_is_idempotent_and_preserves_the_rest_of_the_file() {
    let env = Env::new();
    let config = env.path(".aws/config");
    std::fs::create_dir_all(env.path(".aws")).expect("mkdir");
    let head = "# my settings\n[default]\nregion = eu-west-1   \n\n[profile legacy]\naws_access_key_id=x\n";
    std::fs::write(&config, head).expect("write");
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o640)).expect("chmod");
    let install = |path: &str| {
        let mut c = env.credpush();
        c.args(["profile", "--name", "onprem", "--path", path, "--install"]).arg(&config);
        run(&mut c)
    };
    assert_eq!(
        install("/srv/a/temp.json").expect_code(0).stdout,
        format!("profile \"onprem\" in {}: updated\n", config.display())
    );
    let once = std::fs::read_to_string(&config).expect("read");
    assert!(once.starts_with(head), "the existing content changed:\n{once}");
    assert!(once.contains("[profile onprem]\ncredential_process = cat /srv/a/temp.json\n"), "{once}");
    let mtime = std::fs::metadata(&config).expect("meta").mtime_nsec();

    assert_eq!(
        install("/srv/a/temp.json").expect_code(0).stdout,
        format!("profile \"onprem\" in {}: unchanged\n", config.display())
    );
    assert_eq!(std::fs::read_to_string(&config).expect("read"), once);
    assert_eq!(
        std::fs::metadata(&config).expect("meta").mtime_nsec(),
        mtime,
        "an unchanged install must not rewrite the file"
    );

    // Appending after the block, then moving the path: only the block changes.
    let tail = "\n[profile later]\nregion = us-west-2\n";
    std::fs::write(&config, format!("{once}{tail}")).expect("write");
    install("/srv/b/temp.json").expect_code(0);
    let moved = std::fs::read_to_string(&config).expect("read");
    assert_eq!(moved, format!("{once}{tail}").replace("/srv/a/temp.json", "/srv/b/temp.json"));
    assert_eq!(std::fs::metadata(&config).expect("meta").mode() & 0o777, 0o640, "the file's mode is kept");
}

#[test]
fn install_creates_a_missing_file_0600_and_refuses_a_hand_written_profile() {
    let env = Env::new();
    let config = env.path("fresh/.aws/config");
    let mut c = env.credpush();
    c.args(["profile", "--name", "onprem", "--path", "/srv/a/temp.json", "--install"]).arg(&config);
    assert!(run(&mut c).expect_code(0).stdout.ends_with(": created\n"));
    assert_eq!(std::fs::metadata(&config).expect("meta").mode() & 0o777, 0o600);

    let hand = env.path("hand-config");
    std::fs::write(&hand, "[profile onprem]\nregion = x\n").expect("write");
    let mut c = env.credpush();
    c.args(["profile", "--name", "onprem", "--path", "/srv/a/temp.json", "--install"]).arg(&hand);
    let r = run(&mut c).expect_code(2);
    assert_eq!(
        r.stderr.trim_end(),
        format!(
            "credpush: error: {}: [profile onprem] is already defined outside credpush's managed block at line 1 (fix: remove that section, or choose another --name)",
            hand.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&hand).expect("read"), "[profile onprem]\nregion = x\n", "nothing half-written");
}

#[test]
fn the_validating_reader_feeds_the_aws_cli_and_explains_an_expired_document() {
    let (env, moto) = (crate::harness::Env::new(), crate::harness::Moto::start());
    let target = env.path("state/temp.json");
    let mut cmd = env.credpush();
    moto.as_user(&mut cmd, &moto.user("ci")).args([
        "assume",
        "--role-arn",
        &moto.role("deploy"),
        "--session-name",
        "it-read",
    ]);
    crate::harness::run(cmd.arg("--output").arg(&target)).expect_code(0);
    let config = env.path(".aws/config");
    let mut p = env.credpush();
    p.args(["profile", "--name", "onprem", "--region", "us-east-1", "--reader", "credpush", "--path"])
        .arg(&target)
        .arg("--install")
        .arg(&config);
    crate::harness::run(&mut p).expect_code(0);
    let text = std::fs::read_to_string(&config).expect("config");
    let bin = env!("CARGO_BIN_EXE_credpush");
    assert!(text.contains(&format!("credential_process = {bin} read --path {}\n", target.display())), "{text}");
    let aws = || {
        let mut c = env.cmd(crate::harness::tool("aws"));
        c.env("AWS_ENDPOINT_URL_STS", &moto.endpoint).args(["sts", "get-caller-identity", "--profile", "onprem"]);
        c
    };
    let who = crate::harness::run(&mut aws()).expect_code(0);
    assert!(who.stdout.contains("assumed-role/deploy/it-read"), "{}", who.stdout);

    // The same document, expired: the CLI fails with credpush's line, not botocore's generic one.
    crate::harness::set_expiration(&target, time::macros::datetime!(2020-01-01 00:00 UTC));
    let r = crate::harness::run(&mut aws());
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains(&format!("credpush: error: {} expired at 2020-01-01T00:00:00Z (", target.display()))
            && r.stderr.contains("no rotation has reached this host since"),
        "{}",
        r.stderr
    );
}
