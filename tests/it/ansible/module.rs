//! The credpush module through real Ansible: idempotence in four steps, check and diff modes, no secret in any
//! output or registered result, Ansible-style failures that leave the previous file, and the binary's shape.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Ansible, module_binary, play, recap, repo};
use crate::fleet::rotate::read_doc;
use crate::harness::{Env, Moto, run};
use crate::sshd::Fleet;

/// Assumes the deploy role with the real CLI into a 0600 file in the test's home; returns it and its secrets.
fn assumed_document(env: &Env, moto: &Moto) -> (PathBuf, Vec<String>) {
    let file = env.path("doc/temp.json");
    let mut cmd = env.credpush();
    moto.as_user(&mut cmd, &moto.user("ci"))
        .args(["assume", "--role-arn", &moto.role("deploy"), "--output"])
        .arg(&file);
    run(&mut cmd).expect_code(0);
    let doc = read_doc(&file);
    let secrets = ["SecretAccessKey", "SessionToken"].map(|k| doc[k].as_str().expect("field").to_owned());
    (file, secrets.to_vec())
}

fn assert_no_secret(secrets: &[String], texts: &[(&str, &str)]) {
    for s in secrets {
        for (what, text) in texts {
            assert!(!text.contains(s.as_str()), "a secret appears in {what}");
        }
    }
}

#[test]
fn idempotence_in_four_steps_with_diff_and_no_secret_anywhere() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let ansible = Ansible { env: &env, moto: &moto, fleet: &fleet };
    let (doc, secrets) = assumed_document(&env, &moto);
    let inv = ansible.inventory("", "");
    let target = fleet.host("host1").home.join(".aws/temp.json");
    let r = play(
        &mut ansible.playbook(
            &repo().join("tests/support/ansible/idempotence.yml"),
            &inv,
            &["-vvv", "--diff", "-e", &format!("doc_file={} target_path={}", doc.display(), target.display())],
        ),
        0,
    );
    assert_eq!(recap(&r, "host1"), (2, 0, 0), "steps 1 and 2 change; 3 and 4 do not");
    // Diff mode shows the masked document and the profile block, never the secrets.
    assert!(r.stdout.contains("SecretAccessKey: (redacted)"), "{}", r.stdout);
    assert!(r.stdout.contains("+SecretAccessKey: (redacted)\n+SessionToken: (redacted)\n"), "{}", r.stdout);
    assert!(r.stdout.contains("+credential_process = cat "), "{}", r.stdout);
    // Every registered result was printed in full (`debug: var`), and -vvv logged every step.
    assert!(r.stdout.contains("\"sha256\": "), "{}", r.stdout);
    assert_no_secret(&secrets, &[("ansible-playbook -vvv stdout", &r.stdout), ("stderr", &r.stderr)]);
    assert_eq!(std::fs::read(&target).expect("written"), std::fs::read(&doc).expect("doc"), "the CLI's exact bytes");
}

/// A playbook with one module task whose args are `args` (YAML, indented for a task).
fn one_task(dir: &Path, args: &str) -> PathBuf {
    let path = dir.join(format!("task-{}.yml", std::process::id()));
    std::fs::write(
        &path,
        format!(
            "- name: One call\n  hosts: onprem\n  gather_facts: false\n  tasks:\n    - name: Call the module\n      credpush.credpush.credpush:\n{args}      register: result\n      no_log: true\n      ignore_errors: true\n    - name: Show\n      ansible.builtin.debug:\n        var: result\n"
        ),
    )
    .expect("playbook");
    path
}

#[test]
fn bad_documents_and_args_fail_with_ansible_messages_and_leave_the_file() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let ansible = Ansible { env: &env, moto: &moto, fleet: &fleet };
    let inv = ansible.inventory("", "");
    let target = fleet.host("host1").home.join("temp.json");
    std::fs::write(&target, b"previous \xff bytes").expect("previous");
    crate::sshd::give_to_test_user(&target);
    let doc = r#"{"Version":1,"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"TOPSECRETVALUE","SessionToken":"TOKENVALUE","Expiration":"2999-01-01T00:00:00Z"}"#;
    let path = target.display();
    let cases = [
        (
            format!("        path: {path}\n        content: '{}'\n", doc.replace("\"Version\":1", "\"Version\":3")),
            "content is not a usable credential_process document: unsupported Version 3",
        ),
        (
            format!("        path: {path}\n        content: '{}'\n", &doc[..70]),
            "content is not a usable credential_process document: not a credential_process document: Eof",
        ),
        (
            format!("        path: {path}\n        content: '{}'\n", doc.replace("2999", "2001")),
            "content expired at 2001-01-01T00:00:00Z",
        ),
        (
            format!("        path: {path}\n        content: '{doc}'\n        dest: /tmp/x\n"),
            "Unsupported parameters for (credpush.credpush.credpush) module: dest. Supported parameters include: config_file, content, credpush_bin, duration, external_id, format, group, mode, owner, path, profile, region, role_arn, session_name, state.",
        ),
        (format!("        content: '{doc}'\n"), "missing required arguments: path"),
        // The action's own arguments (the collection's plugins/action/credpush.py).
        (
            format!("        path: {path}\n        role_arn: ''\n"),
            "host host1 has no role to assume (fix: set credpush_role_arn",
        ),
        (
            format!("        path: {path}\n        content: '{doc}'\n        role_arn: {}\n", moto.role("deploy")),
            "parameters are mutually exclusive: role_arn|content",
        ),
        (
            format!(
                "        path: {path}\n        role_arn: {}\n        credpush_bin: /nonexistent/credpush\n",
                moto.role("deploy")
            ),
            "could not run /nonexistent/credpush assume: [Errno 2] No such file or directory",
        ),
        (
            format!("        path: {path}\n        content: '{doc}'\n        mode: '0644'\n"),
            "mode 0644 gives group, others or special bits",
        ),
    ];
    for (args, want) in cases {
        let r = play(&mut ansible.playbook(&one_task(env.home.path(), &args), &inv, &[]), 0);
        assert!(r.stdout.contains(&format!("\"msg\": \"{want}")), "want {want:?} in\n{}", r.stdout);
        assert!(r.stdout.contains("\"failed\": true"), "{}", r.stdout);
        assert_no_secret(
            &["TOPSECRETVALUE".into(), "TOKENVALUE".into()],
            &[("stdout", &r.stdout), ("stderr", &r.stderr)],
        );
        assert_eq!(std::fs::read(&target).expect("kept"), b"previous \xff bytes", "{want}");
    }
}

#[test]
fn the_module_is_small_and_statically_linked() {
    let module = module_binary();
    let size = std::fs::metadata(&module).expect("module").len();
    assert!(size <= 2 * 1024 * 1024, "the module is {size} bytes, over 2 MiB");
    let file = Command::new("file").arg(&module).output().expect("file");
    let file = String::from_utf8_lossy(&file.stdout);
    assert!(file.contains("statically linked") && file.contains("x86-64"), "{file}");
    let ldd = Command::new("ldd").arg(&module).output().expect("ldd");
    let ldd = String::from_utf8_lossy(&ldd.stdout).into_owned() + &String::from_utf8_lossy(&ldd.stderr);
    assert!(ldd.contains("not a dynamic executable"), "{ldd}");
    // Run by hand (no args file), it still answers with one JSON object.
    let out = Command::new(&module).env_clear().output().expect("run");
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(reply["failed"], true);
}
