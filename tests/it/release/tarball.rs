//! The release tarball: reproducible metadata, the files a user needs, and a static binary that runs here,
//! names its commit, resolves `localhost` and rotates a loopback host with moto's STS, installing the
//! `credpush-helper` beside it on the host and writing with it the next time.

use super::{VERSION, artifact, check_version};
use crate::harness::{Env, Moto, run};
use crate::sshd::Fleet;

#[test]
fn the_tarball_unpacks_and_its_static_binary_rotates_a_host() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let tarball = artifact(&format!("credpush-{VERSION}-x86_64-linux.tar.gz"));
    let top = format!("credpush-{VERSION}-x86_64-linux");

    // Every member under one directory, owned by 0/0 with one timestamp (the same bytes for the same commit).
    let listing =
        run(env.cmd("tar").args(["--list", "--verbose", "--numeric-owner", "--gzip", "--file"]).arg(&tarball))
            .expect_code(0)
            .stdout;
    let mut names = Vec::new();
    let mut stamps = std::collections::BTreeSet::new();
    for line in listing.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert!(f.len() >= 6, "{line}");
        assert_eq!(f[1], "0/0", "{line}");
        stamps.insert(format!("{} {}", f[3], f[4]));
        names.push(f[5].trim_end_matches('/').to_owned());
    }
    assert_eq!(stamps.len(), 1, "{listing}");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "members are not in sorted order");
    for want in ["credpush", "credpush-helper", "LICENSE", "README.md", "man/credpush.1", "man/credpush-rotate.1"]
        .iter()
        .map(|s| s.to_string())
        .chain(["credpush.bash", "_credpush", "credpush.fish"].iter().map(|s| format!("completions/{s}")))
    {
        assert!(names.contains(&format!("{top}/{want}")), "{want} missing:\n{listing}");
    }
    assert!(names.iter().all(|n| n == &top || n.starts_with(&format!("{top}/"))), "{listing}");

    let unpacked = env.path("unpacked");
    std::fs::create_dir(&unpacked).expect("mkdir");
    run(env.cmd("tar").args(["-xzf"]).arg(&tarball).arg("-C").arg(&unpacked)).expect_code(0);
    let bin = unpacked.join(&top).join("credpush");
    let kind = run(env.cmd("file").arg("-b").arg(&bin)).expect_code(0).stdout;
    assert!(kind.contains("statically linked") && kind.contains("x86-64"), "{kind}");
    check_version(&run(env.cmd(&bin).arg("--version")).expect_code(0).stdout);
    let license = std::fs::read_to_string(unpacked.join(&top).join("LICENSE")).expect("LICENSE");
    assert!(license.contains("Apache License") && license.contains("Version 2.0, January 2004"));

    // A real rotation by the unpacked binary. STS is reached by the name `localhost`: glibc's getaddrinfo in a
    // static binary, reading /etc/hosts.
    let endpoint = moto.endpoint.replace("127.0.0.1", "localhost");
    let rotate = |verbose: &str| {
        let mut cmd = env.cmd(&bin);
        moto.as_user(&mut cmd, &moto.user("ci"))
            .env("AWS_ENDPOINT_URL_STS", &endpoint)
            .args(["rotate", verbose, "-i"])
            .arg(fleet.inventory(""))
            .args(["--role-arn", &moto.role("deploy"), "--ssh-config"])
            .arg(fleet.ssh_config())
            .arg("--json");
        let r = run(&mut cmd).expect_code(0);
        let report: serde_json::Value = serde_json::from_str(&r.stdout).expect("report");
        assert_eq!(report["summary"]["ok"], 1, "{}\n{}", r.stdout, r.stderr);
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fleet.host("host1").document()).expect("document"))
                .expect("json");
        assert_eq!(doc["Version"], 1);
        assert!(doc["AccessKeyId"].as_str().is_some_and(|k| !k.is_empty()), "{doc}");
        r.stderr
    };

    // The first write finds no helper on the host: the shell writes, then credpush installs the helper found
    // beside the binary, named by its checksum, 0700.
    let first = rotate("-v");
    assert!(first.contains("helper installed"), "{first}");
    let sum = run(env.cmd("sha256sum").arg(unpacked.join(&top).join("credpush-helper"))).expect_code(0).stdout;
    let sha = sum.split_whitespace().next().expect("sha256sum").to_owned();
    let installed = fleet.host("host1").home.join(format!(".cache/credpush/bin/credpush-helper-{sha}"));
    let meta =
        std::fs::symlink_metadata(&installed).unwrap_or_else(|e| panic!("{}: {e}\n{first}", installed.display()));
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777, 0o700);
    // The second write is the helper's.
    let second = rotate("-vv");
    assert!(second.contains("written by the helper") && !second.contains("helper installed"), "{second}");
}
