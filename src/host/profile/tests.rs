//! Unit tests of the parent module.

use super::*;

fn spec(name: &str, path: &str, region: Option<&str>) -> ProfileSpec {
    ProfileSpec::new(name, path, region).unwrap()
}

#[test]
fn the_template_and_the_hand_rendering_agree() {
    for s in [
        spec("onprem", "/home/deploy/.aws/temp.json", Some("eu-west-1")),
        spec("default", "/srv/my creds/it's.json", None),
        spec("x.y", "/a", None).with_reader("/usr/local/bin/credpush").unwrap(),
    ] {
        assert_eq!(s.render(), s.render_plain());
    }
}

#[cfg(feature = "cli")]
#[test]
fn document_path_reads_back_what_command_writes() {
    for s in
        [spec("a", "/srv/my creds/it's.json", None), spec("a", "/x", None).with_reader("/opt/c p/credpush").unwrap()]
    {
        assert_eq!(document_path(&s.command()).as_deref(), Some(s.path.as_str()));
    }
    assert_eq!(document_path("aws-vault exec x --json"), None);
}

#[test]
fn renders_snapshot() {
    assert_eq!(
        spec("onprem", "/home/deploy/.aws/temp.json", Some("eu-west-1")).render(),
        "# >>> credpush managed profile \"onprem\" >>>\n\
         # Written by credpush. Edits inside this block are replaced on the next install.\n\
         [profile onprem]\n\
         credential_process = cat /home/deploy/.aws/temp.json\n\
         region = eu-west-1\n\
         # <<< credpush managed profile \"onprem\" <<<\n"
    );
    let default = spec("default", "/srv/my creds/it's.json", None).render();
    assert!(
        default.contains("\n[default]\ncredential_process = cat '/srv/my creds/it'\"'\"'s.json'\n# <<<"),
        "{default}"
    );
}

#[test]
fn renders_the_validating_reader() {
    let s = spec("onprem", "/home/deploy/.aws/temp.json", None).with_reader("/usr/local/bin/credpush").unwrap();
    assert!(
        s.render().contains("\ncredential_process = /usr/local/bin/credpush read --path /home/deploy/.aws/temp.json\n"),
        "{}",
        s.render()
    );
    let err = spec("onprem", "/x", None).with_reader("credpush").unwrap_err().to_string();
    assert!(
        err.starts_with("--reader-bin \"credpush\" is invalid: botocore runs credential_process without a shell"),
        "{err}"
    );
}

#[test]
fn refuses_paths_botocore_cannot_run() {
    for (path, why) in [
        ("~/.aws/temp.json", "without a shell, so ~ and $VARIABLES are not expanded"),
        ("$HOME/.aws/temp.json", "without a shell"),
        (".aws/temp.json", "it is relative"),
        ("/a\nb", "control character"),
        ("/x/", "it names a directory"),
        ("/home/deploy/.aws/..", "it names a directory"),
    ] {
        let msg = ProfileSpec::new("p", path, None).unwrap_err().to_string();
        assert!(msg.starts_with(&format!("profile path {path:?} is not usable: ")) && msg.contains(why), "{msg}");
    }
    let msg = ProfileSpec::new("bad name", "/x", None).unwrap_err().to_string();
    assert!(msg.starts_with("--name \"bad name\" is invalid"), "{msg}");
    for region in ["x", "us-east", "useast1", "us-east-1a", "US-EAST-1", "eu--1"] {
        let msg = ProfileSpec::new("p", "/x", Some(region)).unwrap_err().to_string();
        assert!(msg.contains("not a region name"), "{region}: {msg}");
    }
    assert!(ProfileSpec::new("p", "/x", Some("us-gov-west-1")).is_ok());
}

#[test]
fn merge_replaces_only_the_block() {
    let s = spec("onprem", "/x/temp.json", None);
    let f = Path::new("config");
    let before = "[default]\nregion = us-east-1\n";
    let once = s.merge(before, f).unwrap();
    assert!(once.starts_with(before) && once.ends_with(&s.render()), "{once}");
    assert_eq!(s.merge(&once, f).unwrap(), once);
    let with_tail = format!("{once}[profile other]\nregion=x");
    let moved = spec("onprem", "/y/temp.json", None).merge(&with_tail, f).unwrap();
    assert!(
        moved.starts_with(before) && moved.ends_with("[profile other]\nregion=x") && moved.contains("cat /y/temp.json")
    );
}

#[test]
fn merge_refuses_conflicts() {
    let s = spec("onprem", "/x/temp.json", None);
    let msg = s.merge("[profile onprem]\nregion = x\n", Path::new("/c")).unwrap_err().to_string();
    assert_eq!(
        msg,
        "/c: [profile onprem] is already defined outside credpush's managed block at line 1 (fix: remove that section, or choose another --name)"
    );
    let broken = "# >>> credpush managed profile \"onprem\" >>>\n[profile onprem]\n";
    let msg = s.merge(broken, Path::new("/c")).unwrap_err().to_string();
    assert!(msg.contains("has a begin marker but no end marker"), "{msg}");
}
