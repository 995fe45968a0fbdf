//! A host that floods: its shell writes 200 MB on stdout and on stderr. credpush reads every remote stream
//! through one bounded reader, so its peak memory stays under 64 MB and the host's report entry under 8 KiB,
//! in `rotate` and in `status`; the other host is not held back.

use crate::fleet::rotate::{host_status, json_of};
use crate::harness::{Env, Moto, Run, run};
use crate::sshd::Fleet;

const FLOOD: &str = "head -c 200000000 /dev/zero | tr '\\0' e >&2 &\nhead -c 200000000 /dev/zero | tr '\\0' o\nwait\n";

/// Runs credpush with `args` under /usr/bin/time; returns the run and its peak RSS in KiB.
fn measured(env: &Env, moto: &Moto, args: &[&str]) -> (Run, u64) {
    let rss = env.path("rss");
    let mut cmd = env.cmd("/usr/bin/time");
    cmd.args(["-f", "%M", "-o"]).arg(&rss).arg(crate::harness::credpush_bin()).args(args);
    let r = run(moto.as_user(&mut cmd, &moto.user("ci")));
    let kib = std::fs::read_to_string(&rss).expect("rss").trim().lines().last().unwrap_or("").parse().expect("kib");
    (r, kib)
}

fn entry_len(report: &serde_json::Value, host: &str) -> usize {
    let h = report["hosts"].as_array().expect("hosts").iter().find(|x| x["host"] == host).expect("host");
    serde_json::to_string(h).expect("json").len()
}

#[test]
fn a_host_that_floods_stdout_and_stderr_costs_bounded_memory_and_report_space() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start_cuttable(2));
    let flood = fleet.host("host1");
    std::fs::write(flood.dir.join("bash"), "").expect("bash");
    std::fs::write(flood.home.join(".bashrc"), FLOOD).expect("bashrc");
    let inv = fleet.inventory("");
    let config = fleet.ssh_config().display().to_string();
    let inv_s = inv.display().to_string();
    let role = moto.role("deploy");
    let started = std::time::Instant::now();
    let (r, kib) = measured(
        &env,
        &moto,
        &["rotate", "-i", &inv_s, "--role-arn", &role, "--ssh-config", &config, "--json", "--timeout", "60"],
    );
    let took = started.elapsed();
    let (status_run, status_kib) =
        measured(&env, &moto, &["status", "-i", &inv_s, "--ssh-config", &config, "--json", "--timeout", "60"]);
    // Both figures first, so that an older build (CREDPUSH_BIN_UNDER_TEST) is measured too.
    let report = json_of(&r);
    let status_report = json_of(&status_run);
    eprintln!(
        "200 MB flood: rotate peak RSS {kib} KiB in {took:?}, report entry {} bytes; status peak RSS {status_kib} KiB, entry {} bytes",
        entry_len(&report, "host1"),
        entry_len(&status_report, "host1")
    );
    r.expect_code(1);
    let (status, error) = host_status(&report, "host1");
    assert_eq!(status, "failed", "{report}");
    assert!(error.contains("sent more than 4 MiB"), "{error}");
    assert!(entry_len(&report, "host1") < 8 << 10, "report entry of {} bytes", entry_len(&report, "host1"));
    assert_eq!(host_status(&report, "host2").0, "ok");
    assert!(kib < 64 << 10, "rotate peaked at {kib} KiB");
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
    status_run.expect_code(1);
    let h = status_report["hosts"].as_array().expect("hosts").iter().find(|x| x["host"] == "host1").expect("host1");
    assert_ne!(h["state"], "ok", "{h}");
    assert!(
        entry_len(&status_report, "host1") < 8 << 10,
        "status entry of {} bytes",
        entry_len(&status_report, "host1")
    );
    assert!(status_kib < 64 << 10, "status peaked at {status_kib} KiB");
}
