//! What login scripts print around credpush's answer never fails a good write: a `.bashrc` echo, a
//! `~/.ssh/rc` echo, a 1 MiB MOTD-like script, and (our own) noise after the answer and a fake marker line.

use crate::fleet::rotate::{host_status, json_of, read_doc, rotate};
use crate::harness::{Env, Moto, run};
use crate::sshd::{Fleet, set_rc_noise};

#[test]
fn login_noise_before_and_after_the_answer_is_ignored_by_rotate_and_status() {
    // sshd skips ~/.ssh/rc under a ForceCommand, so the rc hosts are a plain fleet and the bash hosts (which
    // need the harness's hook) a cuttable one.
    let (env, moto, bash, plain) = (Env::new(), Moto::start(), Fleet::start_cuttable(2), Fleet::start(2));
    let h = |n: &str| match n {
        "host1" => bash.host("host1"),
        "host4" => bash.host("host2"),
        "host2" => plain.host("host1"),
        _ => plain.host("host2"),
    };
    // host1: a bash login shell whose .bashrc greets (bash reads it for ssh commands).
    std::fs::write(h("host1").dir.join("bash"), "").expect("bash");
    std::fs::write(h("host1").home.join(".bashrc"), "echo Welcome to host1\n").expect("bashrc");
    // host2: ~/.ssh/rc prints a line, without a trailing newline.
    set_rc_noise(&h("host2").home, b"Welcome from rc");
    // host3: a MOTD-like script through ~/.ssh/rc: 1 MiB of text.
    let motd: String = (0..20_000).map(|i| format!("{i:08} motd line of the day, with news and more news\n")).collect();
    assert!(motd.len() >= 1 << 20);
    set_rc_noise(&h("host3").home, motd.as_bytes());
    // host4: noise after the answer on both streams, and a line that looks like credpush's marker.
    std::fs::write(h("host4").dir.join("bash"), "").expect("bash");
    std::fs::write(
        h("host4").home.join(".bashrc"),
        "echo 'credpush-reply 00'\necho 'credpush-end 00'\ntrap 'echo bye; echo bye >&2' EXIT\n",
    )
    .expect("bashrc");
    // The noise is real: a plain ssh command on each host gets it around its own output.
    for (host, noise) in
        [("host1", "Welcome to host1\n"), ("host2", "Welcome from rc"), ("host3", "motd line"), ("host4", "bye\n")]
    {
        let fleet = if host == "host1" || host == "host4" { &bash } else { &plain };
        let name = if host == "host1" || host == "host2" { "host1" } else { "host2" };
        let out = fleet.ssh(name, "echo cmd", b"");
        assert!(String::from_utf8_lossy(&out.stdout).contains(noise), "{host}: no noise");
    }
    for fleet in [&bash, &plain] {
        let inv = fleet.inventory("");
        for round in 0..2 {
            let r = run(&mut rotate(&env, &moto, fleet, &inv, &["--json", "--install-profile", "onprem"]));
            let report = json_of(&r.expect_code(0));
            for host in ["host1", "host2"] {
                assert_eq!(host_status(&report, host), ("ok".into(), String::new()), "round {round}: {report}");
                assert_eq!(read_doc(&fleet.host(host).document())["Version"], 1);
            }
            let want = if round == 0 { "created" } else { "unchanged" };
            assert!(report["hosts"].as_array().expect("hosts").iter().all(|x| x["profile"] == want), "{report}");
        }
        let mut cmd = env.credpush();
        cmd.args(["status", "-i"]).arg(&inv).args(["--json", "--ssh-config"]).arg(fleet.ssh_config());
        let report = json_of(&run(&mut cmd).expect_code(0));
        for x in report["hosts"].as_array().expect("hosts") {
            assert_eq!(x["state"], "ok", "{x}");
        }
    }
}
