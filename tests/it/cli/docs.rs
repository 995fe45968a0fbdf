//! `credpush completions SHELL` and `credpush man --out DIR`: each shell accepts its script and completes from
//! it, and every man page renders without a warning from groff or man. scripts/release ships what these print.

use std::path::Path;

use crate::harness::{Env, run};

/// The subcommands a user sees (`man` is hidden): one page each, beside credpush.1.
const COMMANDS: [&str; 11] =
    ["assume", "profile", "rotate", "read", "status", "doctor", "inventory", "fetch", "plan", "serve", "completions"];

fn completion(env: &Env, shell: &str) -> std::path::PathBuf {
    let r = run(env.credpush().args(["completions", shell])).expect_code(0);
    assert!(r.stderr.is_empty(), "{shell}: {}", r.stderr);
    let path = env.path(&format!("completion.{shell}"));
    std::fs::write(&path, &r.stdout).expect("write");
    path
}

#[test]
fn each_shell_accepts_its_completion_and_completes_subcommands_from_it() {
    let env = Env::new();
    let bash = completion(&env, "bash");
    run(env.cmd("bash").arg("-n").arg(&bash)).expect_code(0);
    // Sourced, it registers a completion function for credpush, which offers the subcommands.
    let script = r#"source "$1" && complete -p credpush && COMP_WORDS=(credpush ro) COMP_CWORD=1 COMP_LINE="credpush ro" COMP_POINT=11 && _credpush credpush ro credpush && printf '%s\n' "${COMPREPLY[@]}""#;
    let r = run(env.cmd("bash").args(["-c", script, "bash"]).arg(&bash)).expect_code(0);
    assert!(r.stdout.contains("-F _credpush") && r.stdout.lines().any(|l| l == "rotate"), "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stdout.lines().any(|l| l == "man"), "the hidden man command is offered: {}", r.stdout);

    let zsh = completion(&env, "zsh");
    run(env.cmd("zsh").arg("-n").arg(&zsh)).expect_code(0);
    let text = std::fs::read_to_string(&zsh).expect("read");
    assert!(text.starts_with("#compdef credpush"), "{}", &text[..text.len().min(200)]);

    let fish = completion(&env, "fish");
    run(env.cmd("fish").arg("--no-execute").arg(&fish)).expect_code(0);
    let r = run(env.cmd("fish").arg("--no-config").arg("-c").arg(format!(
        "source {}; complete --do-complete 'credpush ro'; complete --do-complete 'credpush rotate --role-a'",
        fish.display()
    )))
    .expect_code(0);
    assert!(r.stdout.lines().any(|l| l.starts_with("rotate\t")), "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.lines().any(|l| l.starts_with("--role-arn")), "{}\n{}", r.stdout, r.stderr);

    let r = run(env.credpush().args(["completions", "tcsh"])).expect_code(2);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.starts_with("credpush: error: invalid value 'tcsh'"), "{}", r.stderr);
}

/// groff's warnings (-ww) and man's (--warnings) for one page; empty when it renders cleanly.
fn warnings(env: &Env, page: &Path) -> String {
    let groff = run(env.cmd("groff").args(["-man", "-Tutf8", "-ww", "-z"]).arg(page)).expect_code(0);
    let man = run(env.cmd("man").args(["--warnings=w", "-l"]).arg(page).env("MANWIDTH", "80")).expect_code(0);
    format!("{}{}", groff.stderr, man.stderr)
}

#[test]
fn man_writes_one_page_per_command_and_each_renders_without_warnings() {
    let env = Env::new();
    let dir = env.path("man");
    std::fs::create_dir(&dir).expect("mkdir");
    let r = run(env.credpush().args(["man", "--out"]).arg(&dir)).expect_code(0);
    assert!(r.stdout.is_empty() && r.stderr.is_empty(), "{}\n{}", r.stdout, r.stderr);
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    pages.sort();
    let mut want: Vec<String> = COMMANDS.iter().map(|c| format!("credpush-{c}.1")).collect();
    want.push("credpush.1".to_owned());
    want.sort();
    assert_eq!(pages, want);
    for page in &pages {
        let path = dir.join(page);
        assert_eq!(warnings(&env, &path), "", "{page}");
    }
    let rendered =
        run(env.cmd("man").arg("-l").arg(dir.join("credpush-rotate.1")).env("MANWIDTH", "100")).expect_code(0);
    assert!(
        rendered.stdout.contains("credpush-rotate") && rendered.stdout.contains("--role-arn"),
        "{}",
        rendered.stdout
    );
    let top = run(env.cmd("man").arg("-l").arg(dir.join("credpush.1")).env("MANWIDTH", "100")).expect_code(0);
    assert!(top.stdout.contains(&format!("credpush {}", env!("CARGO_PKG_VERSION"))), "{}", top.stdout);
    // The check can fail: a page with a macro groff does not know is caught.
    let bad = env.path("bad.1");
    std::fs::write(&bad, ".TH BAD 1\n.SH NAME\nbad\n.NOSUCHMACRO x\n").expect("write");
    assert!(!warnings(&env, &bad).is_empty(), "an undefined macro went unnoticed");

    // A directory that is not there is one error line, and nothing is written.
    let missing = env.path("nope");
    let r = run(env.credpush().args(["man", "--out"]).arg(&missing)).expect_code(4);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains(&missing.display().to_string()), "{}", r.stderr);
    assert!(!missing.exists());
}
