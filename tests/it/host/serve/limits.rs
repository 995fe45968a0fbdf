//! What a peer can cost serve: 1,000 idle connections stay under a stated memory bound and do not lock out a
//! client with the token, and past the cap of 1,024 a new connection is closed on arrival; a client that trickles
//! its request is dropped after the idle timeout; SIGTERM and SIGHUP with clients connected end the run with exit 0
//! and leave no process.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{Serve, get, write_document};
use crate::harness::Env;

/// The bound stated in the README: serve's resident memory with 1,000 idle connections open.
const IDLE_RSS_BOUND_KIB: u64 = 32 * 1024;

fn status_field(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = text.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("{field} in {text}"));
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("number")
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

fn started(env: &Env) -> Serve {
    let doc = env.path("temp.json");
    write_document(&doc, "ASIAIDLE", 3600);
    Serve::start(env, &doc, &[])
}

#[test]
fn a_thousand_idle_connections_stay_under_the_memory_bound_and_are_dropped() {
    let env = Env::new();
    let serve = started(&env);
    let pid = serve.child.id();
    let base_fds = open_fds(pid);
    let idle: Vec<TcpStream> =
        (0..1000).map(|_| TcpStream::connect(("127.0.0.1", serve.port)).expect("connect")).collect();
    assert!(
        wait_until(Duration::from_secs(10), || open_fds(pid) >= base_fds + 1000),
        "serve accepted only {} of 1000",
        open_fds(pid) - base_fds
    );
    let rss = status_field(pid, "VmRSS:");
    eprintln!("serve VmRSS with 1000 idle connections: {rss} KiB (peak {} KiB)", status_field(pid, "VmHWM:"));
    assert!(rss < IDLE_RSS_BOUND_KIB, "VmRSS {rss} KiB with 1000 idle connections, over {IDLE_RSS_BOUND_KIB} KiB");
    // A client with the token is still answered while they wait.
    let (status, body) = get(&serve, &[&format!("Authorization: {}", serve.token())]);
    assert_eq!(status, 200, "{body}");
    // The idle timeout (5 s) closes them all: each sees end of file.
    assert!(
        wait_until(Duration::from_secs(10), || open_fds(pid) <= base_fds + 1),
        "{} connections still open after the idle timeout",
        open_fds(pid) - base_fds
    );
    let mut first = &idle[0];
    first.set_read_timeout(Some(Duration::from_secs(1))).expect("timeout");
    let mut buf = [0u8; 16];
    assert_eq!(first.read(&mut buf).expect("closed by serve"), 0, "idle connection closed without an answer");
    drop(idle);

    // Past the cap of 1,024, a new connection is closed as it arrives.
    let over: Vec<TcpStream> =
        (0..1100).map(|_| TcpStream::connect(("127.0.0.1", serve.port)).expect("connect")).collect();
    assert!(wait_until(Duration::from_secs(10), || open_fds(pid) >= base_fds + 1024));
    let closed = over
        .iter()
        .filter(|s| {
            s.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout");
            let mut reader: &TcpStream = s;
            matches!(reader.read(&mut [0u8; 16]), Ok(0))
        })
        .count();
    assert!(closed >= 76, "only {closed} of 1100 connections were closed at the cap");
    assert!(open_fds(pid) <= base_fds + 1024, "serve holds {} connections", open_fds(pid) - base_fds);
    let (code, _, err) = serve.stop("TERM");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_slowloris_client_is_dropped_after_the_idle_timeout() {
    let env = Env::new();
    let serve = started(&env);
    let mut slow = TcpStream::connect(("127.0.0.1", serve.port)).expect("connect");
    slow.set_read_timeout(Some(Duration::from_millis(10))).expect("timeout");
    let request = format!("GET /credpush/v1/credentials HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: {}", "a".repeat(200));
    let started = Instant::now();
    let mut dropped = None;
    // One byte every 200 ms: each read arrives well inside any per-read timeout, the whole head never does.
    for b in request.bytes() {
        if slow.write_all(&[b]).is_err() {
            dropped = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 64];
        if let Ok(0) = slow.read(&mut buf) {
            dropped = Some(started.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = dropped.expect("serve never dropped the trickling client");
    assert!(after >= Duration::from_secs(4) && after < Duration::from_secs(8), "dropped after {after:?}");
    let (code, _, err) = serve.stop("TERM");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn sigterm_and_sighup_with_clients_connected_exit_0_and_leave_nothing() {
    for signal in ["TERM", "HUP"] {
        let env = Env::new();
        let serve = started(&env);
        let pid = serve.child.id();
        let mut idle: Vec<TcpStream> =
            (0..20).map(|_| TcpStream::connect(("127.0.0.1", serve.port)).expect("connect")).collect();
        // One client part-way through its request head.
        idle[0].write_all(b"GET /credpush/v1/credentials HTTP/1.1\r\nHo").expect("write");
        assert!(wait_until(Duration::from_secs(5), || open_fds(pid) >= 20));
        let started = Instant::now();
        let (code, out, err) = serve.stop(signal);
        assert_eq!(code, 0, "SIG{signal}: {err}");
        assert!(started.elapsed() < Duration::from_secs(3), "SIG{signal} took {:?}", started.elapsed());
        assert_eq!(out, "");
        assert_eq!(err.trim_end(), format!("credpush: serve: SIG{signal}: stopped"));
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "serve's process is gone");
        assert!(crate::procs::naming(env.home.path()).is_empty(), "no process names the test's files");
        let mut buf = [0u8; 16];
        idle[1].set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
        assert!(matches!(idle[1].read(&mut buf), Ok(0) | Err(_)), "connections are closed");
    }
}
