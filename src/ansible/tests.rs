//! The module against a real temporary directory: idempotence in four steps, masking, and the writer contract
//! (directory target, symlink target, read-only directory, bad input) that the SSH writer also honours.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use serde_json::{Value, json};

use super::*;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLETOKENVALUE";

fn doc(key: &str) -> String {
    let exp = crate::host::document::format_expiration(time::OffsetDateTime::now_utc() + time::Duration::hours(1));
    format!(
        r#"{{"Version":1,"AccessKeyId":"{key}","SecretAccessKey":"{SECRET}","SessionToken":"{TOKEN}","Expiration":"{exp}"}}"#
    )
}

/// Runs the module as Ansible would: args in a file, result back.
fn module(dir: &Path, args: Value) -> Value {
    let file = dir.join(format!("args-{}", std::process::id()));
    std::fs::write(&file, args.to_string()).unwrap();
    let out = run(&file);
    std::fs::remove_file(&file).unwrap();
    let text = out.to_string();
    assert!(!text.contains(SECRET) && !text.contains(TOKEN), "a secret leaked into the result: {text}");
    out
}

#[test]
fn idempotence_in_four_steps() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("aws/temp.json");
    let config = dir.path().join("aws/config");
    // One document for all four steps: built per step, a second boundary between two steps changed its
    // Expiration and turned "unchanged" into "changed" (CI, stop 26).
    let content = doc("ASIAEXAMPLEKEY9876");
    let args = |check: bool| {
        json!({"path": target, "content": content, "profile": "onprem", "config_file": config,
            "region": "us-east-1", "_ansible_check_mode": check, "_ansible_diff": true, "_ansible_no_log": true,
            "_ansible_verbosity": 4})
    };
    let r = module(dir.path(), args(true));
    assert_eq!((r["changed"].clone(), r["profile"].clone()), (json!(true), json!("created")), "{r}");
    assert!(r["msg"].as_str().unwrap().contains("would be written"), "{r}");
    assert!(!target.exists() && !config.exists(), "check mode wrote");

    let r = module(dir.path(), args(false));
    assert_eq!((r["changed"].clone(), r["profile"].clone()), (json!(true), json!("created")), "{r}");
    let written = std::fs::read(&target).unwrap();
    assert_eq!(r["sha256"], sha256_hex(&written));
    assert_eq!(r["path"], target.display().to_string());
    let meta = std::fs::metadata(&target).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(target.parent().unwrap()).unwrap().mode() & 0o777, 0o700);
    // The same bytes as `credpush assume --output` writes: canonical JSON and a newline.
    assert_eq!(CredentialDocument::parse(&written).unwrap().to_json().expose().as_bytes(), written.as_slice());
    let cfg = std::fs::read_to_string(&config).unwrap();
    assert!(cfg.contains(&format!("credential_process = cat {}\nregion = us-east-1\n", target.display())), "{cfg}");
    let diff = r["diff"].to_string();
    assert!(diff.contains("AccessKeyId: ****9876") && diff.contains("SecretAccessKey: (redacted)"), "{diff}");
    let mtime = meta.mtime_nsec();

    let r = module(dir.path(), args(true));
    assert_eq!((r["changed"].clone(), r["profile"].clone()), (json!(false), json!("unchanged")), "{r}");
    let r = module(dir.path(), args(false));
    assert_eq!((r["changed"].clone(), r["profile"].clone()), (json!(false), json!("unchanged")), "{r}");
    assert!(
        r["msg"].as_str().unwrap().ends_with(&format!("is up to date (expires {})", r["expiration"].as_str().unwrap()))
    );
    assert_eq!(std::fs::metadata(&target).unwrap().mtime_nsec(), mtime, "an unchanged run rewrote the file");

    // A mode change alone is a change, made in place.
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o400)).unwrap();
    let r = module(dir.path(), args(false));
    assert_eq!(r["changed"], true);
    assert_eq!(std::fs::metadata(&target).unwrap().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read(&target).unwrap(), written);
}

#[test]
fn bad_input_fails_without_touching_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("temp.json");
    std::fs::write(&target, "previous").unwrap();
    let bad_doc = doc("ASIA1").replace("\"Version\":1", "\"Version\":7");
    // Past year 9999 once in UTC: the module reported a panic ("hit a bug") for it.
    let far = format!(
        r#"{{"Version":1,"AccessKeyId":"ASIA1","SecretAccessKey":"{SECRET}","SessionToken":"{TOKEN}","Expiration":"9999-12-31T23:59:59-01:00"}}"#
    );
    for (args, want) in [
        (json!({"path": target, "content": far}), "content is not a usable credential_process document"),
        (json!({"path": target, "content": bad_doc}), "content is not a usable credential_process document"),
        (
            json!({"path": target, "content": &doc("ASIA1")[..50]}),
            "content is not a usable credential_process document",
        ),
        (json!({"path": target, "content": doc("ASIA1"), "mode": "0644"}), "mode 0644 gives group, others"),
        (json!({"path": target, "content": doc("ASIA1"), "owner": "no-such-user-x"}), "owner \"no-such-user-x\""),
        (json!({"path": target, "content": doc("ASIA1"), "dest": "/x"}), "Unsupported parameters for (credpush)"),
    ] {
        let r = module(dir.path(), args);
        assert_eq!(r["failed"], true, "{r}");
        assert!(r["msg"].as_str().unwrap().starts_with(want), "{r}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "previous");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "temp files left behind");
}

#[test]
fn writer_contract_directory_symlink_and_read_only_dir() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be: refused, nothing inside touched.
    std::fs::create_dir(dir.path().join("adir")).unwrap();
    let r = module(dir.path(), json!({"path": dir.path().join("adir"), "content": doc("ASIA1")}));
    assert_eq!(r["failed"], true, "{r}");
    assert!(r["msg"].as_str().unwrap().contains("adir is a directory (fix: point path at a file"), "{r}");
    // A symlink is replaced by the file, its target left alone (as the SSH writer's mv does).
    let elsewhere = dir.path().join("elsewhere");
    std::fs::write(&elsewhere, "untouched").unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    let r = module(dir.path(), json!({"path": link, "content": doc("ASIA1")}));
    assert_eq!(r["changed"], true, "{r}");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_file());
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "untouched");
    // A read-only directory (only meaningful when not root, who ignores permissions): the old file stays.
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::write(ro.join("temp.json"), "previous").unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
    let r = module(dir.path(), json!({"path": ro.join("temp.json"), "content": doc("ASIA1")}));
    if ids::effective_uid() != Some(0) {
        assert_eq!(r["failed"], true, "{r}");
    }
    assert!(std::fs::read_to_string(ro.join("temp.json")).unwrap() == "previous" || r["changed"] == true);
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn absent_removes_and_masks() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("temp.json");
    module(dir.path(), json!({"path": target, "content": doc("ASIAKEEP")}));
    let r = module(
        dir.path(),
        json!({"path": target, "state": "absent", "_ansible_check_mode": true, "_ansible_diff": true}),
    );
    assert_eq!((r["changed"].clone(), target.exists()), (json!(true), true), "{r}");
    assert!(r["diff"]["before"].as_str().unwrap().contains("****KEEP"), "{r}");
    let r = module(dir.path(), json!({"path": target, "state": "absent"}));
    assert_eq!((r["changed"].clone(), target.exists()), (json!(true), false), "{r}");
    let r = module(dir.path(), json!({"path": target, "state": "absent"}));
    assert_eq!(r["changed"], false, "{r}");
}

#[test]
fn home_paths_use_home() {
    let home = ids::home().unwrap();
    assert_eq!(absolute("~/.aws/temp.json").unwrap(), home.join(".aws/temp.json"));
    assert_eq!(absolute("/srv/x").unwrap(), PathBuf::from("/srv/x"));
}

#[test]
fn an_earlier_rotation_never_replaces_a_later_ones_document_and_hostile_dirs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("aws/temp.json");
    let write =
        |key: &str, stamp: u64| module(dir.path(), json!({"path": target, "content": doc(key), "stamp": stamp}));
    assert_eq!(write("ASIALATERKEY0002", 200)["changed"], json!(true));
    let r = write("ASIAEARLIERKEY01", 100);
    assert_eq!((r["changed"].clone(), r["superseded"].clone()), (json!(false), json!(true)), "{r}");
    assert!(r["msg"].as_str().unwrap().starts_with("replaced by a newer rotation"), "{r}");
    assert!(std::fs::read_to_string(&target).unwrap().contains("ASIALATERKEY0002"));
    assert_eq!(write("ASIANEWESTKEY003", 300)["changed"], json!(true));
    assert_eq!(std::fs::read_to_string(dir.path().join("aws/.temp.json.credpush-stamp")).unwrap(), "300\n");

    // The directory rule: a directory anyone may write fails the task, naming it, its mode and the fix.
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let r = module(dir.path(), json!({"path": open.join("temp.json"), "content": doc("ASIAKEY")}));
    assert_eq!(r["failed"], json!(true), "{r}");
    let msg = r["msg"].as_str().unwrap();
    assert!(msg.contains("mode 0777) is writable by group or others") && msg.contains("fix: chmod go-w"), "{msg}");
    assert!(!open.join("temp.json").exists());
    // chown's "unchanged" id is not an owner (it made every run report a change).
    let r = module(dir.path(), json!({"path": target, "content": doc("ASIAKEY"), "owner": 4294967295u64}));
    assert!(r["msg"].as_str().unwrap().starts_with("owner 4294967295 is not an id"), "{r}");
}

#[test]
fn the_profile_diff_shows_only_the_managed_block() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("aws/temp.json");
    let config = dir.path().join("aws/config");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    // A static key someone left in the file, outside the block: never part of the diff.
    let static_key = "wJalrXUtnFEMIK7MDENGbPxRfiCYSTATICKEY";
    std::fs::write(
        &config,
        format!("[profile legacy]\naws_access_key_id = AKIAOLD\naws_secret_access_key = {static_key}\n"),
    )
    .unwrap();
    // One document for all four steps: built per step, a second boundary between two steps changed its
    // Expiration and turned "unchanged" into "changed" (CI, stop 26).
    let content = doc("ASIAEXAMPLEKEY9876");
    let args = |check: bool| {
        json!({"path": target, "content": content, "profile": "onprem", "config_file": config,
            "_ansible_check_mode": check, "_ansible_diff": true})
    };
    for check in [true, false] {
        let r = module(dir.path(), args(check));
        let text = r["diff"].to_string();
        assert!(!text.contains(static_key) && !text.contains("legacy"), "the diff shows the rest of the file: {text}");
        let after = r["diff"][1]["after"].as_str().unwrap();
        assert!(after.starts_with("# >>> credpush managed profile \"onprem\" >>>\n"), "{after}");
        assert!(after.contains("\n[profile onprem]\ncredential_process = cat "), "{after}");
        assert!(after.ends_with("# <<< credpush managed profile \"onprem\" <<<\n"), "{after}");
        assert_eq!(r["diff"][1]["before"], "", "{r}");
    }
    // A secret hand-written into the block is masked.
    let text = std::fs::read_to_string(&config).unwrap();
    let edited = text.replace("[profile onprem]\n", "[profile onprem]\naws_session_token = HANDWRITTENTOKEN\n");
    let spec = crate::host::profile::ProfileSpec::new("onprem", "/x/temp.json", None).unwrap();
    let block = spec.managed_block(&edited);
    assert!(block.contains("aws_session_token = (masked)") && !block.contains("HANDWRITTEN"), "{block}");
}

#[test]
fn credentials_format_in_four_steps_with_a_masked_diff() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("aws/credentials");
    std::fs::create_dir(dir.path().join("aws")).unwrap();
    std::fs::set_permissions(dir.path().join("aws"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(&target, "[default]\naws_secret_access_key = theirs\n").unwrap();
    let content = doc("ASIAEXAMPLEKEY5555");
    let args = |check: bool| {
        json!({"path": target, "content": content, "format": "credentials", "profile": "onprem",
            "_ansible_check_mode": check, "_ansible_diff": true})
    };
    let first = module(dir.path(), args(true));
    assert_eq!(first["changed"], true, "{first}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "[default]\naws_secret_access_key = theirs\n");
    let diff = first["diff"][0]["after"].as_str().unwrap_or_default();
    assert!(diff.contains("aws_access_key_id = ****5555\naws_secret_access_key = (redacted)"), "{first}");
    assert!(!first.to_string().contains("theirs"), "the diff shows none of the other sections: {first}");
    assert_eq!(module(dir.path(), args(false))["changed"], true);
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(text.starts_with("[default]\naws_secret_access_key = theirs\n\n# >>> credpush managed credentials"));
    assert_eq!(std::fs::metadata(&target).unwrap().mode() & 0o777, 0o600);
    assert_eq!(module(dir.path(), args(true))["changed"], false);
    let last = module(dir.path(), args(false));
    assert_eq!((last["changed"].as_bool(), std::fs::read_to_string(&target).unwrap()), (Some(false), text), "{last}");
}
