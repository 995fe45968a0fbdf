//! Inputs that used to crash, hang, read without end or pass unchecked (issue 16, items 6 and 7): each ends in one
//! `credpush: error:` line with a documented exit code within a few seconds, and leaves no process behind. The STS
//! endpoint is a closed port, so a call that slipped through would exit 3 with "could not reach" instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{Env, Run, free_port, run};
use crate::procs;

const ROLE: &str = "arn:aws:iam::123456789012:role/deploy";

fn fifo(env: &Env, name: &str) -> PathBuf {
    let path = env.path(name);
    let ok = Command::new("mkfifo").arg(&path).status().expect("mkfifo").success();
    assert!(ok, "mkfifo {}", path.display());
    path
}

fn with_caller(cmd: &mut Command) {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    cmd.env("AWS_ENDPOINT_URL_STS", endpoint).env("AWS_REGION", "us-east-1");
}

/// Runs `args`, and checks the one error line, the exit code and the time it took.
fn refused(cmd: &mut Command, code: i32, wants: &str) -> Run {
    let start = Instant::now();
    let r = run(cmd).expect_code(code);
    assert!(start.elapsed() < Duration::from_secs(5), "{wants}: took {:?}", start.elapsed());
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line, not: {}", r.stderr);
    assert!(lines[0].starts_with("credpush: error: ") && lines[0].contains(wants), "want {wants:?} in: {}", r.stderr);
    r
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn fifos_and_devices_are_refused_for_every_file_input() {
    let env = Env::new();
    let pipe = fifo(&env, "pipe");
    let inv = env.path("hosts.ini");
    std::fs::write(&inv, "web1 ansible_host=127.0.0.1\n").expect("inventory");
    std::fs::create_dir_all(env.path("group_vars")).expect("group_vars");
    let gv_dir = env.path("gv");
    std::fs::create_dir_all(gv_dir.join("host_vars")).expect("host_vars");
    std::fs::write(gv_dir.join("hosts.ini"), "web1\n").expect("inventory");
    let gv_fifo = gv_dir.join("host_vars/web1.yml");
    assert!(Command::new("mkfifo").arg(&gv_fifo).status().expect("mkfifo").success());
    let fifo_msg = "is a FIFO (named pipe), not a regular file";
    let dev_msg = "is a character device, not a regular file";
    for (source, wants) in [(s(&pipe), fifo_msg), ("/dev/zero".into(), dev_msg)] {
        refused(env.credpush().args(["inventory", "--list", "-i", &source]), 2, wants);
        let mut c = env.credpush();
        with_caller(&mut c);
        refused(c.args(["assume", "--role-arn", ROLE, "--policy-file", &source]), 2, wants);
        refused(env.credpush().args(["profile", "--name", "p", "--path", "/x/t.json", "--install", &source]), 2, wants);
        refused(
            env.credpush().args(["read", "--path", &source]),
            1,
            "is not a regular file, so it is not a credential",
        );
        let r = run(env.credpush().args(["doctor", "--no-clock", "--config", &source]));
        assert!(r.stdout.contains(wants), "doctor: {}", r.stdout);
        // With the clock check on, the SDK's region lookup would read AWS_CONFIG_FILE: it must not hang there.
        let mut c = env.credpush();
        with_caller(&mut c);
        let start = Instant::now();
        let r = run(c.arg("doctor").env("AWS_CONFIG_FILE", &source)).expect_code(5);
        assert!(start.elapsed() < Duration::from_secs(5) && r.stdout.contains(wants), "doctor: {}", r.stdout);
        for var in ["AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"] {
            let mut c = env.credpush();
            with_caller(&mut c);
            c.env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE").env("AWS_SECRET_ACCESS_KEY", "x").env(var, &source);
            refused(c.args(["assume", "--role-arn", ROLE]), 2, wants);
        }
    }
    // A vars file that is a FIFO: found by its name, refused by its type.
    refused(env.credpush().args(["inventory", "--list", "-i", &s(&gv_dir.join("hosts.ini"))]), 2, fifo_msg);
    // ssh -F FILE and --ssh-config: a directory is no config file either.
    let dir = s(env.home.path());
    refused(
        env.credpush().args(["rotate", "-i", &s(&inv), "--role-arn", ROLE, "--dry-run", "--ssh-config", &dir]),
        2,
        "is a directory, not a regular file",
    );
}

#[test]
fn out_of_range_expirations_and_bad_key_shapes_are_errors_not_panics() {
    let env = Env::new();
    for exp in ["9999-12-31T23:59:59-01:00", "9999-12-31T23:00:00-12:00"] {
        let doc = env.path("temp.json");
        let text = format!(
            r#"{{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","SessionToken":"T","Expiration":"{exp}"}}"#
        );
        std::fs::write(&doc, text).expect("doc");
        refused(env.credpush().args(["read", "--path", &s(&doc)]), 1, &format!("Expiration \"{exp}\" is not"));
        let config = s(&env.path(".aws/config"));
        run(env.credpush().args(["profile", "--name", "p", "--path", &s(&doc), "--install", &config])).expect_code(0);
        let r = run(env.credpush().args(["doctor", "--no-clock", "--profile", "p"]));
        assert_eq!(r.code, 5, "{}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains(&format!("Expiration \"{exp}\" is not")), "{}", r.stdout);
    }
    for (key, secret, wants) in [
        (
            "AKIDEXAMPLE\r",
            "x",
            "access key id (AWS_ACCESS_KEY_ID, aws_access_key_id) contains a control character or whitespace at its end",
        ),
        ("AKIDEXAMPLE\n", "x", "at its end"),
        ("AKIDEXAMPLE", "sec\nret", "secret access key (AWS_SECRET_ACCESS_KEY, aws_secret_access_key) contains"),
    ] {
        let mut c = env.credpush();
        with_caller(&mut c);
        c.env("AWS_ACCESS_KEY_ID", key).env("AWS_SECRET_ACCESS_KEY", secret);
        let r = refused(c.args(["assume", "--role-arn", ROLE]), 3, wants);
        assert!(!r.stderr.contains("sec\nret") && !r.stderr.contains("AKIDEXAMPLE"), "a value was shown: {}", r.stderr);
    }
}

/// The live processes whose command line or environment names `marker`.
fn left(marker: &str) -> Vec<procs::Proc> {
    std::thread::sleep(Duration::from_millis(300));
    procs::live().into_iter().filter(|p| p.cmdline.contains(marker) || p.environ.contains(marker)).collect()
}

#[test]
fn a_hanging_or_recursive_credential_process_leaves_nothing_behind() {
    let env = Env::new();
    let marker = format!("credpush-hang-{}-{}", std::process::id(), free_port());
    let bin = env!("CARGO_BIN_EXE_credpush");
    let config = env.path(".aws/config");
    std::fs::create_dir_all(config.parent().expect("dir")).expect("dir");
    // A hanging command with a child of its own (the sleep), and one that runs credpush assume again.
    std::fs::write(
        &config,
        format!(
            "[profile hang]\ncredential_process = sh -c \"env M={marker} sleep 300\"\n\
             [profile forks]\ncredential_process = sh -c \"(env M={marker} sleep 300) & env M={marker} sleep 300\"\n\
             [profile again]\ncredential_process = {bin} assume --role-arn {ROLE} --session-name {marker}\n"
        ),
    )
    .expect("config");
    for profile in ["hang", "forks"] {
        let mut c = env.credpush();
        with_caller(&mut c);
        c.env("AWS_PROFILE", profile).args([
            "assume",
            "--role-arn",
            ROLE,
            "--sts-timeout",
            "1s",
            "--sts-deadline",
            "2s",
        ]);
        let start = Instant::now();
        let r = run(&mut c).expect_code(3);
        assert!(start.elapsed() < Duration::from_secs(5), "{profile}: {:?}", start.elapsed());
        assert!(r.stderr.contains("did not answer within --sts-deadline 2s"), "{}", r.stderr);
        let rest = left(&marker);
        assert!(rest.is_empty(), "{profile}: left running: {rest:?}");
    }
    let mut c = env.credpush();
    with_caller(&mut c);
    c.env("AWS_PROFILE", "again").args(["assume", "--role-arn", ROLE]);
    let start = Instant::now();
    let r = run(&mut c).expect_code(3);
    assert!(start.elapsed() < Duration::from_secs(5), "recursion: {:?}", start.elapsed());
    assert!(r.stderr.contains("credpush was started by credpush"), "{}", r.stderr);
    let rest = left(&marker);
    assert!(rest.is_empty(), "recursion: left running: {rest:?}");
}

#[test]
fn plan_spans_past_the_maximum_are_refused() {
    let env = Env::new();
    for args in [
        ["--every", "18446744073709551615", "--duration", "1h"],
        ["--every", "5124095576030431h", "--duration", "1h"],
        ["--every", "30m", "--build-time", "18446744073709551615"],
        ["--every", "30m", "--build-time", "5124095576030431h"],
        ["--every", "169h", "--duration", "12h"],
    ] {
        refused(env.credpush().arg("plan").args(args), 2, "is longer than the 7-day maximum");
    }
}

#[test]
fn an_open_file_limit_that_fits_no_host_is_refused_at_start() {
    let env = Env::new();
    let inv = env.path("hosts.ini");
    std::fs::write(&inv, "web1 ansible_host=127.0.0.1\n").expect("inventory");
    for (limit, cmd) in [(16, "rotate"), (24, "status")] {
        let mut c = env.cmd("sh");
        let extra = if cmd == "rotate" { format!(" --role-arn {ROLE}") } else { String::new() };
        // The binary is $0 of the script.
        c.arg("-c").arg(format!("ulimit -n {limit} && exec \"$0\" {cmd} -i {}{extra}", inv.display()));
        c.arg(env!("CARGO_BIN_EXE_credpush"));
        refused(&mut c, 2, &format!("the open file limit (ulimit -n) is {limit} with a hard limit of {limit}"));
    }
}

#[test]
fn bad_invocations_are_one_error_line_with_exit_2() {
    let env = Env::new();
    let inv = env.path("hosts.ini");
    std::fs::write(&inv, "web1 ansible_host=127.0.0.1\n").expect("inventory");
    let i = s(&inv);
    let table: &[(&[&str], &str)] = &[
        (&[], "a subcommand is required"),
        (&["--bogus"], "unexpected argument '--bogus' found"),
        (&["rotate"], "the following required arguments were not provided: --inventory <INV>"),
        (&["inventory", "-i", &i], "--list"),
        (&["assume", "--role-arn"], "a value is required for '--role-arn <ARN>'"),
        (&["plan", "--every", "1h", "--every", "2h"], "cannot be used multiple times"),
        (&["profile", "--name", "p", "--path", "/x", "--reader", "bad"], "[possible values: cat, credpush]"),
        (&["rotate", "-i", &i, "--forks", "0"], "0 is not in 1..=1000"),
        (&["status", "-i", &i, "--known-hosts", "maybe"], "invalid value 'maybe'"),
        (&["read"], "--path <FILE>"),
        (&["nosuch"], "unrecognized subcommand 'nosuch'"),
        (&["assume", "--role-arn", ROLE, "extra"], "unexpected argument 'extra' found"),
        // Accepted by clap, refused by credpush before any call.
        (&["profile", "--name", "p", "--path", "/x", "--region", "x"], "--region \"x\" is invalid: not a region name"),
        (&["profile", "--name", "p", "--path", "/x/"], "it names a directory, not a file"),
        (&["doctor", "--region", "x"], "--region \"x\" is invalid: not a region name"),
        (&["assume", "--role-arn", "arn:aws:iam::123456789012:role//x"], "the role path has an empty part"),
        (&["assume", "--role-arn", ROLE, "--tag", "aws:x=1"], "keys that start with aws: are reserved for AWS"),
        (&["inventory", "--list", "-i", &i, "--limit", "["], "invalid --limit pattern \"[\""),
        (&["rotate", "-i", &i, "--role-arn", ROLE, "--limit", "web1:", "--dry-run"], "invalid --limit pattern"),
    ];
    for (args, wants) in table {
        let mut c = env.credpush();
        with_caller(&mut c);
        c.env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE").env("AWS_SECRET_ACCESS_KEY", "x");
        refused(c.args(*args), 2, wants);
    }
    let nul = env.path("nul.ini");
    std::fs::write(&nul, "web1\nweb\0x ansible_host=127.0.0.2\n").expect("inventory");
    refused(
        env.credpush().args(["inventory", "--list", "-i", &s(&nul)]),
        2,
        "nul.ini:2: host name \"web\\0x\" contains a NUL character",
    );
    // Help and version are not errors.
    assert!(run(env.credpush().arg("--help")).expect_code(0).stdout.contains("Usage: credpush"));
    let version = run(env.credpush().arg("--version")).expect_code(0).stdout;
    assert!(version.starts_with("credpush "), "{version}");
    // The commit it was built from (build.rs): this checkout's HEAD, as the debug build is built without
    // CREDPUSH_COMMIT.
    let want = format!("credpush {} (commit {})\n", env!("CARGO_PKG_VERSION"), crate::harness::head_commit());
    assert_eq!(version, want);
}
