//! End to end: rotations by `--ssm-targets` and by inventory hosts with `ansible_connection: aws_ssm`, what the
//! instances end up with (0600, their user's, read by the AWS CLI through the installed profile), that no part of
//! the secret shows anywhere outside the parameter, and how instance IDs are split into commands.

use std::os::unix::fs::MetadataExt;

use serde_json::Value;

use super::{Spec, SsmWorld, status_of, uid_of};
use crate::harness::{Env, run, tool};

fn doc_of(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("document")).expect("json")
}

#[test]
fn targets_and_inventory_hosts_each_get_their_users_file_and_the_cli_reads_it() {
    let (env, w) = (Env::new(), SsmWorld::start(Spec { online: 3, offline: 0 }));
    w.make_dirs();
    // By tag: SSM resolves the three instances; they share one path and owner (and, here, one filesystem).
    let shared = &w.instances[2];
    let path = shared.document();
    let r = run(&mut w.rotate(
        &env,
        &[
            "--ssm-targets",
            "Key=tag:credpush,Values=g1",
            "--path",
            path.to_str().expect("utf-8"),
            "--owner",
            shared.user,
        ],
    ))
    .expect_code(0);
    let report: Value = serde_json::from_str(&r.stdout).expect("json");
    for i in &w.instances {
        assert_eq!(status_of(&report, &i.id).0, "ok", "{report}");
    }
    let meta = std::fs::metadata(&path).expect("written");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (uid_of(shared.user), 0o600));
    assert!(doc_of(&path)["AccessKeyId"].is_string());

    // By inventory: each host its own user, path and profile.
    let profile = format!("ssm-{}", w.state.path().file_name().expect("name").to_string_lossy());
    let mut inv = String::from("[onprem]\n");
    for (n, i) in w.instances.iter().enumerate() {
        let connection = if n == 0 { "aws_ssm" } else { "community.aws.aws_ssm" };
        inv.push_str(&format!(
            "host{n} ansible_connection={connection} ansible_aws_ssm_instance_id={} ansible_become_user={} credpush_path={} credpush_profile={profile}\n",
            i.id,
            i.user,
            i.document().display()
        ));
    }
    let inv_path = env.path("inventory.ini");
    std::fs::write(&inv_path, inv).expect("inventory");
    let r = run(&mut w.rotate(&env, &["-i", inv_path.to_str().expect("utf-8")])).expect_code(0);
    let report: Value = serde_json::from_str(&r.stdout).expect("json");
    for (n, i) in w.instances.iter().enumerate() {
        assert_eq!(status_of(&report, &format!("host{n}")).0, "ok", "{report}");
        let meta = std::fs::metadata(i.document()).expect("written");
        assert_eq!((meta.uid(), meta.mode() & 0o777), (uid_of(i.user), 0o600), "{}", i.document().display());
    }
    // The AWS CLI, run as each user with that user's own ~/.aws/config, gets the role's identity.
    let _cleanup = ProfileCleanup(&profile);
    for i in &w.instances {
        let mut cmd = env.cmd("runuser");
        cmd.args(["-u", i.user, "--"])
            .arg(tool("aws"))
            .args(["sts", "get-caller-identity", "--profile", &profile, "--output", "json"])
            .env("HOME", super::home_of(i.user))
            .env("AWS_ENDPOINT_URL_STS", &w.moto.endpoint);
        let r = run(&mut cmd).expect_code(0);
        let who: Value = serde_json::from_str(&r.stdout).expect("json");
        assert!(who["Arn"].as_str().expect("arn").contains(":assumed-role/credpush-onprem/"), "{who}");
    }
}

/// Removes the test's profile block from each user's real ~/.aws/config.
struct ProfileCleanup<'a>(&'a str);

impl Drop for ProfileCleanup<'_> {
    fn drop(&mut self) {
        for user in super::USERS {
            let config = super::home_of(user).join(".aws/config");
            let Ok(text) = std::fs::read_to_string(&config) else { continue };
            let mut out = String::new();
            let mut inside = false;
            for line in text.split_inclusive('\n') {
                let marker = format!("credpush managed profile \"{}\"", self.0);
                if line.starts_with("# >>> ") && line.contains(&marker) {
                    inside = true;
                }
                if !inside {
                    out.push_str(line);
                }
                if inside && line.starts_with("# <<< ") && line.contains(&marker) {
                    inside = false;
                }
            }
            let _ = std::fs::write(&config, out);
        }
    }
}

/// Every window of `n` characters of `secret`.
fn windows(secret: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = secret.chars().collect();
    chars.windows(n).map(|w| w.iter().collect()).collect()
}

#[test]
fn no_part_of_the_secret_outside_the_parameter() {
    let (env, w) = (Env::new(), SsmWorld::start(Spec { online: 1, offline: 0 }));
    w.make_dirs();
    let i = &w.instances[0];
    let ids = format!("Key=InstanceIds,Values={}", i.id);
    let r = run(w
        .rotate(&env, &["--ssm-targets", &ids, "--path", i.document().to_str().expect("utf-8"), "--owner", i.user])
        .arg("-vvv"))
    .expect_code(0);
    let doc = doc_of(&i.document());
    let mut needles = Vec::new();
    for field in ["SecretAccessKey", "SessionToken"] {
        needles.extend(windows(doc[field].as_str().expect("field"), 12));
    }
    let commands = w.aws_json(&env, &["ssm", "list-commands"]);
    let mut haystacks = vec![
        ("credpush stdout".to_owned(), r.stdout.clone()),
        ("credpush stderr".to_owned(), r.stderr.clone()),
        ("ListCommands".to_owned(), commands.to_string()),
    ];
    let cid = commands["Commands"][0]["CommandId"].as_str().expect("command id");
    let mut cmd = env.cmd(tool("aws"));
    w.as_user(&mut cmd, &w.user("rotator")).args([
        "ssm",
        "list-command-invocations",
        "--details",
        "--command-id",
        cid,
        "--output",
        "json",
    ]);
    haystacks.push(("ListCommandInvocations".to_owned(), run(&mut cmd).expect_code(0).stdout));
    let files = w.agent_files();
    assert!(files.iter().any(|(p, _)| p.ends_with("fetch/_script.sh")), "no step script kept: {files:?}");
    haystacks.extend(
        files.into_iter().filter(|(p, _)| !p.ends_with("credentials")).map(|(p, t)| (p.display().to_string(), t)),
    );
    for (name, text) in &haystacks {
        for n in &needles {
            assert!(!text.contains(n.as_str()), "a piece of the secret is in {name}");
        }
    }
    // What the command does carry: names and paths only.
    let params = &commands["Commands"][0]["Parameters"];
    assert_eq!(params["parameterName"][0], "/credpush/credpush-onprem", "{params}");
    assert_eq!(params["owner"][0], i.user);
}

#[test]
fn sixty_instance_ids_go_out_as_two_commands() {
    let (env, w) = (Env::new(), SsmWorld::start(Spec { online: 60, offline: 0 }));
    w.make_dirs();
    let ids: Vec<String> = w.instances.iter().map(|i| i.id.clone()).collect();
    let first = format!("Key=InstanceIds,Values={}", ids[..30].join(","));
    let second = format!("Key=InstanceIds,Values={}", ids[30..].join(","));
    // One path and owner for all: sixty fetches of one version into one file, one at a time under fetch's lock.
    let i = &w.instances[0];
    let r = run(&mut w.rotate(
        &env,
        &[
            "--ssm-targets",
            &first,
            "--ssm-targets",
            &second,
            "--path",
            i.document().to_str().expect("utf-8"),
            "--owner",
            i.user,
        ],
    ))
    .expect_code(0);
    let report: Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(report["hosts"].as_array().expect("hosts").len(), 60, "{report}");
    let commands = w.aws_json(&env, &["ssm", "list-commands"]);
    let mut sizes: Vec<usize> = commands["Commands"]
        .as_array()
        .expect("commands")
        .iter()
        .map(|c| c["InstanceIds"].as_array().expect("ids").len())
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [10, 50], "{commands}");
    // The sixty share one parameter: it is written once.
    assert_eq!(super::recorded_ssm(&w.moto, "PutParameter").len(), 1);
    // The fan-out limits pass through as SSM's own (defaults: 50 at once, and every instance runs).
    for c in commands["Commands"].as_array().expect("commands") {
        assert_eq!((c["MaxConcurrency"].as_str(), c["MaxErrors"].as_str()), (Some("50"), Some("100%")), "{c}");
        assert_eq!(c["DocumentName"], "credpush-fetch");
    }
}
