//! The credpush Ansible module (installed as the credpush.credpush collection's `plugins/modules/credpush` by
//! `scripts/build-module`). Ansible runs it on a host as `credpush ARGS_FILE`; it prints exactly one JSON object on
//! stdout, on every path. Run as `credpush --credpush-ansible-stdin` it reads the same args from stdin (the action
//! plugin runs the copy kept on the host that way). Run as `credpush --credpush-write ARGS…` it is the SSH
//! writer's helper instead ([`credpush::host::helper`]).

use std::io::Write;
use std::path::Path;

fn main() {
    // The remote writer's mode (`credpush rotate` installs this binary as its helper on each host): framed
    // answers, not JSON, so it runs before the module's panic hook is set.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == credpush::host::helper::FLAG) {
        std::process::exit(credpush::host::helper::run(&args[1..]));
    }
    // The module is built with panic = "abort"; the hook still runs first, so even a bug answers with one JSON
    // object. Only the location is reported: a panic message is never allowed to carry data.
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        emit(
            &serde_json::json!({"failed": true, "changed": false, "msg": format!("the credpush module hit a bug{at}")}),
        );
    }));
    let mut argv = std::env::args_os().skip(1);
    let result = match (argv.next(), argv.next()) {
        (Some(flag), None) if flag == credpush::ansible::STDIN_FLAG => credpush::ansible::run_stdin(),
        (Some(args_file), None) => credpush::ansible::run(Path::new(&args_file)),
        _ => serde_json::json!({
            "failed": true,
            "changed": false,
            "msg": "usage: credpush ARGS_FILE (this is an Ansible module: run it from a playbook task `credpush:`)",
        }),
    };
    emit(&result);
    std::process::exit(if result.get("failed").and_then(serde_json::Value::as_bool) == Some(true) { 1 } else { 0 });
}

fn emit(result: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    // A closed stdout leaves nobody to tell; the exit code still says how it went.
    let _ = writeln!(out, "{result}").and_then(|()| out.flush());
}
