//! SIGTERM or SIGHUP of `ansible-playbook` leaves no credential document in the controller's local_tmp: Ansible
//! removes local_tmp at a normal exit and on SIGINT only, so the action's watchdog removes its cache when the run
//! ends, however it ends.

use std::time::{Duration, Instant};

use super::{Ansible, repo};
use crate::harness::{Env, Moto, files_under};
use crate::procs;
use crate::sshd::{BlackHole, Fleet, TEST_USER};

#[test]
fn sigterm_and_sighup_of_the_playbook_leave_no_document_in_local_tmp() {
    let (moto, fleet) = (Moto::start(), Fleet::start(1));
    let hole = BlackHole::start();
    for signal in ["TERM", "HUP"] {
        let env = Env::new();
        let ansible = Ansible { env: &env, moto: &moto, fleet: &fleet };
        // host1 gets its document at once; stalled never answers ssh, so the play is still running when the
        // signal comes, with the document cached for the role.
        let stalled = format!("stalled ansible_host=127.0.0.1 ansible_port={} ansible_user={TEST_USER}", hole.port);
        let inv = ansible.inventory(&stalled, "");
        let local_tmp = env.path(".ansible/tmp");
        let mut child = ansible.playbook(&repo().join("ansible/rotate.yml"), &inv, &[]).spawn().expect("playbook");
        let cached = |dir: &std::path::Path| {
            files_under(dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "json")).collect::<Vec<_>>()
        };
        let start = Instant::now();
        while cached(&local_tmp).is_empty() {
            assert!(start.elapsed() < Duration::from_secs(60), "the role was never assumed");
            std::thread::sleep(Duration::from_millis(100));
        }
        // Let host1's write finish; stalled is still connecting.
        std::thread::sleep(Duration::from_secs(2));
        let ok = std::process::Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status();
        assert!(ok.expect("kill").success());
        let waited = Instant::now();
        while child.try_wait().expect("wait").is_none() && waited.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let gone = Instant::now();
        while !cached(&local_tmp).is_empty() && gone.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let left = cached(&local_tmp);
        let watchdogs: Vec<_> =
            procs::naming(env.home.path()).into_iter().filter(|p| p.cmdline.contains("pidfd_open")).collect();
        let _ = child.kill();
        let _ = child.wait();
        // Whatever Ansible's own workers left is theirs to end; it is ended here so that the next case starts clean.
        procs::kill_naming(env.home.path(), Duration::from_secs(5));
        assert!(left.is_empty(), "SIG{signal}: the document is still in local_tmp: {left:?}");
        assert!(watchdogs.is_empty(), "SIG{signal}: the watchdog outlived the run: {watchdogs:?}");
    }
}
