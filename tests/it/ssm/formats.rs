//! `credpush fetch --format credentials` on an emulated instance: the parameter's credentials as a managed
//! `[NAME]` section of the owner's credentials file, read by the real AWS CLI, the rest of the file kept.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::{Spec, SsmWorld, home_of, uid_of};
use crate::harness::{Env, run, tool};

#[test]
fn fetch_writes_a_credentials_section_the_aws_cli_reads() {
    let (env, w) = (Env::new(), SsmWorld::start(Spec { online: 1, offline: 0 }));
    w.make_dirs();
    let i = &w.instances[0];
    // One rotation puts the parameter (and gives the emulated instance its agent credentials).
    let ids = format!("Key=InstanceIds,Values={}", i.id);
    let doc = i.document();
    let doc_arg = doc.to_str().expect("utf-8");
    run(&mut w.rotate(&env, &["--ssm-targets", &ids, "--path", doc_arg, "--owner", i.user])).expect_code(0);

    let file = i.dir.join("credentials");
    let theirs = "[default]\naws_access_key_id = AKIAEXAMPLEOTHER\naws_secret_access_key = theirs\n";
    std::fs::write(&file, theirs).expect("credentials");
    std::os::unix::fs::chown(&file, Some(uid_of(i.user)), None).expect("chown");
    std::fs::set_permissions(&file, PermissionsExt::from_mode(0o640)).expect("chmod");
    let fetch = || {
        let creds = w.state.path().join("instances").join(&i.id);
        let mut cmd = env.credpush();
        cmd.env("AWS_SHARED_CREDENTIALS_FILE", creds.join("credentials"))
            .env("AWS_CONFIG_FILE", creds.join("config"))
            .env("AWS_ENDPOINT_URL", &w.endpoint)
            .env("AWS_REGION", "us-east-1")
            .args(["fetch", "--parameter", "/credpush/credpush-onprem", "--format", "credentials"])
            .args(["--install-profile", "onprem", "--owner", i.user, "--path"])
            .arg(&file);
        run(&mut cmd).expect_code(0)
    };
    let r = fetch();
    assert!(r.stdout.contains("written") && r.stdout.contains("profile updated"), "{}", r.stdout);
    let text = std::fs::read_to_string(&file).expect("credentials");
    assert!(text.starts_with(&format!("{theirs}\n# >>> credpush managed credentials \"onprem\" >>>\n")), "{text}");
    let secret = text.lines().filter_map(|l| l.strip_prefix("aws_secret_access_key = ")).find(|s| *s != "theirs");
    assert!(!r.stdout.contains(secret.expect("section")) && r.stderr.is_empty(), "{} {}", r.stdout, r.stderr);
    let meta = std::fs::metadata(&file).expect("credentials");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (uid_of(i.user), 0o600));
    // The same parameter version again changes nothing.
    assert!(fetch().stdout.contains("unchanged"));

    // The AWS CLI, as the owner, reads the section.
    let mut cli = env.cmd("runuser");
    cli.args(["-u", i.user, "--"])
        .arg(tool("aws"))
        .args(["sts", "get-caller-identity", "--profile", "onprem", "--output", "text", "--query", "Arn"])
        .env("HOME", home_of(i.user))
        .env("AWS_SHARED_CREDENTIALS_FILE", &file)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL_STS", &w.moto.endpoint);
    let who = run(&mut cli).expect_code(0);
    assert!(who.stdout.contains(":assumed-role/credpush-onprem/"), "{}", who.stdout);
}
