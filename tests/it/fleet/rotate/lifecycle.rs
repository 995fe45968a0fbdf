//! What a run leaves behind when it cannot finish normally: a SIGKILL mid-push, a host that never answers
//! through a ProxyCommand. Counted as live processes that name the run's private temp dir or the test's marker.

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{host_status, json_of, rotate};
use crate::harness::{Env, Moto, run};
use crate::procs;
use crate::sshd::{BlackHole, Fleet, TEST_USER};

fn wait_until_gone(marker: &std::path::Path, within: Duration) -> (Duration, Vec<procs::Proc>) {
    let start = Instant::now();
    loop {
        let left = procs::naming(marker);
        if left.is_empty() || start.elapsed() >= within {
            return (start.elapsed(), left);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn after_a_sigkill_no_ssh_process_outlives_the_timeout_and_the_next_run_cleans_up() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start_cuttable(2));
    let inv = fleet.inventory("");
    let tmp = env.path("tmp");
    std::fs::create_dir_all(&tmp).expect("mkdir");
    // host1's transfer stalls, so the run is mid-push when it is killed.
    std::fs::write(fleet.host("host1").dir.join("stall"), "").expect("stall");
    let mut cmd = rotate(&env, &moto, &fleet, &inv, &["--timeout", "4", "--json"]);
    let mut child = cmd.env("TMPDIR", &tmp).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !fleet.host("host2").document().exists() {
        assert!(Instant::now() < deadline, "host2 was never written");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!procs::naming(&tmp).is_empty(), "a master should be up for the stalled host");
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    // The stalled session ends after the harness's 6 s stall; the idle master then lives --timeout more.
    let (took, left) = wait_until_gone(&tmp, Duration::from_secs(20));
    assert!(left.is_empty(), "ssh processes outlived the killed run: {left:?}");
    assert!(took < Duration::from_secs(12), "took {took:?}");
    let stale: Vec<_> = std::fs::read_dir(&tmp).expect("read").flatten().map(|e| e.file_name()).collect();
    assert_eq!(stale.len(), 1, "the killed run's control directory stays until the next run: {stale:?}");
    std::fs::remove_file(fleet.host("host1").dir.join("stall")).expect("unstall");
    let report = json_of(&run(rotate(&env, &moto, &fleet, &inv, &["--json"]).env("TMPDIR", &tmp)).expect_code(0));
    assert_eq!(host_status(&report, "host1").0, "ok");
    let after: Vec<_> = std::fs::read_dir(&tmp).expect("read").flatten().map(|e| e.file_name()).collect();
    assert!(after.is_empty(), "stale control directories were not cleaned: {after:?}");
}

#[test]
fn a_host_that_times_out_connecting_leaves_no_launcher_or_proxy_command() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let hole = BlackHole::start();
    let tmp = env.path("tmp");
    std::fs::create_dir_all(&tmp).expect("mkdir");
    let marker = fleet.root.path().join("proxy-marker");
    // The ProxyCommand connects to a port that accepts and never speaks. It and the relay it forks carry the
    // marker in their environment, so both can be found.
    let proxy = format!(
        "bash -c \"export CREDPUSH_MARKER={}; exec 3<>/dev/tcp/%h/%p; cat <&3 & cat >&3; wait\"",
        marker.display()
    );
    let yaml = format!(
        "all:\n  hosts:\n    host1:\n      ansible_host: 127.0.0.1\n      ansible_port: {}\n      ansible_user: {TEST_USER}\n    hole:\n      ansible_host: 127.0.0.1\n      ansible_port: {}\n      ansible_user: {TEST_USER}\n      ansible_ssh_common_args: {}\n",
        fleet.hosts[0].port,
        hole.port,
        serde_json::to_string(&format!("-o 'ProxyCommand={proxy}'")).expect("json")
    );
    let inv = fleet.root.path().join("proxy.yml");
    std::fs::write(&inv, yaml).expect("write");
    // 6 s: the healthy host must finish well inside it on a loaded CI machine (3 s was cut there once).
    let mut cmd = rotate(&env, &moto, &fleet, &inv, &["--json", "--timeout", "6", "--retries", "0"]);
    let report = json_of(&run(cmd.env("TMPDIR", &tmp)).expect_code(1));
    assert_eq!(host_status(&report, "host1").0, "ok", "{report}");
    let (status, error) = host_status(&report, "hole");
    assert_eq!(status, "unreachable", "{error}");
    // A process sent SIGKILL as the run ends may take a moment to be gone on a loaded machine; it must not linger.
    let (_, left_marker) = wait_until_gone(&marker, Duration::from_secs(3));
    let (_, left_tmp) = wait_until_gone(&tmp, Duration::from_secs(3));
    assert!(left_marker.is_empty() && left_tmp.is_empty(), "processes outlived the run: {left_marker:?} {left_tmp:?}");
}
