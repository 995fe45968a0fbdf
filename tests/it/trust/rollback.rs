//! No roll-back: a writer that stalls gives up at its own deadline; one whose input arrives after credpush gave
//! up on the host (a timeout, a SIGTERM cut) never renames; and of two overlapping rotations the host always
//! ends on the later one's document, with no valid host reported failed.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fleet::rotate::{host_status, json_of, read_doc, rotate};
use crate::harness::{Env, Moto, run};
use crate::sshd::Fleet;

fn temp_files(home: &std::path::Path) -> usize {
    std::fs::read_dir(home.join(".aws"))
        .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with(".credpush.")).count())
        .unwrap_or(0)
}

#[test]
fn a_stalled_writer_gives_up_at_its_deadline() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start_cuttable(1));
    let host = fleet.host("host1");
    let inv = fleet.inventory("");
    run(&mut rotate(&env, &moto, &fleet, &inv, &["--json"])).expect_code(0);
    let before = std::fs::read(host.document()).expect("doc");
    // The transfer stops after 100 bytes for 6 s: the writer's deadline (under --timeout 3) ends it first.
    std::fs::write(host.dir.join("stall"), "").expect("stall");
    let started = Instant::now();
    let report = json_of(&run(&mut rotate(&env, &moto, &fleet, &inv, &["--json", "--timeout", "3"])).expect_code(1));
    assert_eq!(host_status(&report, "host1").0, "failed", "{report}");
    while temp_files(&host.home) > 0 {
        assert!(started.elapsed() < Duration::from_millis(5500), "the stalled writer outlived its deadline");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(std::fs::read(host.document()).expect("doc"), before, "the previous document must survive");
}

/// Delays the next session's stdin on `host` by `secs` (the sshd hook buffers it meanwhile): the document is
/// already in the pipe when credpush gives up, as in the pass.
fn delay_next(fleet: &Fleet, host: &str, secs: f64) {
    let _ = std::fs::remove_file(fleet.host(host).dir.join("late.taken"));
    std::fs::write(fleet.host(host).dir.join("late"), format!("{secs}")).expect("late");
}

#[test]
fn input_that_arrives_after_a_timeout_or_a_sigterm_cut_is_never_renamed() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start_cuttable(1));
    let host = fleet.host("host1");
    let inv = fleet.inventory("");
    run(&mut rotate(&env, &moto, &fleet, &inv, &["--json"])).expect_code(0);
    let before = std::fs::read(host.document()).expect("doc");
    // A timeout: the report says the previous file is kept, and it is, after the input arrived.
    delay_next(&fleet, "host1", 6.0);
    let report = json_of(&run(&mut rotate(&env, &moto, &fleet, &inv, &["--json", "--timeout", "3"])).expect_code(1));
    let (status, error) = host_status(&report, "host1");
    assert_eq!(status, "failed", "{report}");
    assert!(error.contains("timed out"), "{error}");
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(std::fs::read(host.document()).expect("doc"), before, "a late writer renamed after a timeout");
    // A SIGTERM: hosts in flight are cut after the 5 s grace period; the input arrives 3 s later.
    delay_next(&fleet, "host1", 8.0);
    let mut cmd = rotate(&env, &moto, &fleet, &inv, &["--json", "--timeout", "60"]);
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !host.dir.join("late.taken").exists() {
        assert!(Instant::now() < deadline, "the push never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let st = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(st.success());
    let out = child.wait_with_output().expect("wait");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no report ({e}, {:?}): {}", out.status, String::from_utf8_lossy(&out.stderr)));
    assert_eq!(host_status(&report, "host1").0, "failed", "{report}");
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(std::fs::read(host.document()).expect("doc"), before, "a late writer renamed after a SIGTERM cut");
}

#[test]
fn twenty_overlapping_pairs_always_end_on_the_later_rotation() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start_cuttable(2));
    let inv = fleet.inventory("");
    let (mut superseded, mut rolled_back, mut failed) = (0, 0, 0);
    for pair in 0..20 {
        // A assumes first (a longer session, so its document expires later); its write to host1 is held back,
        // so B's (assumed later, shorter) lands first. A must then leave host1 alone.
        delay_next(&fleet, "host1", 1.5);
        let assumed = moto.recorded_actions("AssumeRole").len();
        let mut a = rotate(&env, &moto, &fleet, &inv, &["--json", "--duration", "2h"]);
        let a = a.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn A");
        let deadline = Instant::now() + Duration::from_secs(20);
        while moto.recorded_actions("AssumeRole").len() == assumed {
            assert!(Instant::now() < deadline, "pair {pair}: A never assumed");
            std::thread::sleep(Duration::from_millis(20));
        }
        let b = json_of(&run(&mut rotate(&env, &moto, &fleet, &inv, &["--json", "--duration", "1h"])));
        let out = a.wait_with_output().expect("A");
        let a: serde_json::Value = serde_json::from_slice(&out.stdout).expect("A's report");
        for (run, report) in [("A", &a), ("B", &b)] {
            for host in ["host1", "host2"] {
                let (status, error) = host_status(report, host);
                if status != "ok" && status != "superseded" {
                    eprintln!("pair {pair} {run} {host}: {status} {error}");
                    failed += 1;
                }
                superseded += usize::from(status == "superseded");
            }
        }
        let b_expires = b["hosts"].as_array().expect("hosts")[0]["expiration"].as_str().unwrap_or("").to_owned();
        for host in ["host1", "host2"] {
            let doc = read_doc(&fleet.host(host).document());
            if doc["Expiration"] != b_expires.as_str() {
                eprintln!("pair {pair}: {host} ended on the earlier rotation");
                rolled_back += 1;
            }
        }
    }
    eprintln!(
        "20 overlapping pairs: {rolled_back} host ends on the earlier rotation, {failed} valid host results failed, \
         {superseded} reported superseded"
    );
    assert_eq!((rolled_back, failed), (0, 0), "a host rolled back or a valid host was reported failed");
    assert!(superseded > 0, "no held-back write was ever reported superseded");
}
