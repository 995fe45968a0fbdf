//! Unit tests of the parent module.

use super::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

fn me() -> Owner {
    let uid = crate::host::ids::effective_uid().unwrap_or(0);
    let user = crate::host::ids::user_by_uid(uid).expect("passwd entry");
    Owner { name: user.name, uid, gid: user.gid, home: PathBuf::from(user.home) }
}

fn doc(key: &str, expires: OffsetDateTime) -> Secret {
    CredentialDocument {
        access_key_id: key.into(),
        secret_access_key: Secret::new("fetch-secret-value"),
        session_token: Secret::new("fetch-token-value"),
        expiration: expires,
    }
    .to_json()
}

/// A private directory whose chain from `/` passes the directory rules: under HOME (the system temp directory is
/// writable by everyone, and so is refused, as it should be), else under the repository.
fn private_dir() -> tempfile::TempDir {
    let base = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute() && crate::host::dirs::open_dir(h, false, None).is_ok())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let t = tempfile::Builder::new().prefix(".credpush-fetch-test-").tempdir_in(base).unwrap();
    fs::set_permissions(t.path(), fs::Permissions::from_mode(0o700)).unwrap();
    t
}

fn opts(path: &Path) -> FetchOptions {
    FetchOptions {
        parameter: "/credpush/deploy".into(),
        path: path.to_owned(),
        owner: me(),
        profile: None,
        region: None,
        section: None,
    }
}

#[test]
fn the_credentials_format_merges_a_section_and_keeps_the_rest() {
    let dir = private_dir();
    let path = dir.path().join("aws/credentials");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::set_permissions(path.parent().unwrap(), fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(&path, "[default]\naws_access_key_id = AKIAOTHER\n").unwrap();
    let now = OffsetDateTime::now_utc();
    let o =
        FetchOptions { section: Some(CredentialsSection::new("--install-profile", "onprem").unwrap()), ..opts(&path) };
    let one = apply(&o, &Fetched { value: doc("ASIAONEKEYAAAA", now + time::Duration::hours(1)), version: 1 }, now);
    assert_eq!(one.unwrap().profile, Some(InstallOutcome::Updated));
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("[default]\naws_access_key_id = AKIAOTHER\n\n# >>> credpush managed credentials"),
        "{text}"
    );
    assert!(
        text.contains("[onprem]\naws_access_key_id = ASIAONEKEYAAAA\naws_secret_access_key = fetch-secret-value\n")
    );
    assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    let same = apply(&o, &Fetched { value: doc("ASIAONEKEYAAAA", now + time::Duration::hours(1)), version: 1 }, now);
    assert_eq!(same.unwrap().profile, Some(InstallOutcome::Unchanged));
    let two = apply(&o, &Fetched { value: doc("ASIATWOKEYBBBB", now + time::Duration::hours(1)), version: 2 }, now);
    assert!(two.unwrap().written);
    let again = fs::read_to_string(&path).unwrap();
    assert_eq!(again.replace("ASIATWOKEYBBBB", "ASIAONEKEYAAAA"), text, "only the section changed");
    assert!(FetchOptions::new("/credpush/x", "/x/credentials", None, None, None, true).is_err(), "a name is needed");
}

#[test]
fn newer_versions_win_and_older_ones_are_refused() {
    let dir = private_dir();
    let path = dir.path().join("aws/temp.json");
    let now = OffsetDateTime::now_utc();
    let o = opts(&path);
    let v2 =
        apply(&o, &Fetched { value: doc("ASIAV2KEYAAAA", now + time::Duration::hours(1)), version: 2 }, now).unwrap();
    assert!(v2.written);
    assert_eq!(v2.key_tail, "AAAA");
    assert!(!v2.summary(&path).contains("fetch-secret-value"));
    assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    assert_eq!(fs::metadata(path.parent().unwrap()).unwrap().mode() & 0o777, 0o700);
    let again = apply(&o, &Fetched { value: doc("ASIAV2KEYAAAA", now + time::Duration::hours(1)), version: 2 }, now);
    assert!(!again.unwrap().written);
    let old = apply(&o, &Fetched { value: doc("ASIAV1KEYBBBB", now + time::Duration::hours(1)), version: 1 }, now);
    let msg = old.unwrap_err().to_string();
    assert!(msg.contains("version 1 is older than version 2"), "{msg}");
    assert!(fs::read_to_string(&path).unwrap().contains("ASIAV2KEYAAAA"));
    let v3 = apply(&o, &Fetched { value: doc("ASIAV3KEYCCCC", now + time::Duration::hours(1)), version: 3 }, now);
    assert!(v3.unwrap().written);
    assert!(fs::read_to_string(&path).unwrap().contains("ASIAV3KEYCCCC"));
}

fn stamped(key: &str, expires: OffsetDateTime, assumed_at: u64) -> Secret {
    CredentialDocument::parse(doc(key, expires).expose().as_bytes()).unwrap().to_json_stamped(assumed_at)
}

/// Two overlapping rotations put their versions in the other order: the one that assumed its role later wins,
/// whatever the versions say, and the loser is `superseded`, not an error. A parameter made again (versions
/// start over) is still written when its rotation is later.
#[test]
fn stamped_values_are_ordered_by_assume_time_not_by_version() {
    let dir = private_dir();
    let path = dir.path().join("aws/temp.json");
    let now = OffsetDateTime::now_utc();
    let (o, exp) = (opts(&path), now + time::Duration::hours(1));
    let (t0, t1, t2) = (1_800_000_000_000_000_000, 1_800_000_000_000_000_001, 1_800_000_100_000_000_000);
    let later = apply(&o, &Fetched { value: stamped("ASIALATERAAAA", exp, t1), version: 5 }, now).unwrap();
    assert!(later.written && later.superseded.is_none());
    let earlier = apply(&o, &Fetched { value: stamped("ASIAEARLYBBBB", exp, t0), version: 6 }, now).unwrap();
    assert_eq!((earlier.written, earlier.superseded), (false, Some(t1)));
    let line = earlier.summary(&path);
    assert!(line.contains(SUPERSEDED) && line.contains("2027-01-15T08:00:00Z"), "{line}");
    let on_disk = fs::read_to_string(&path).unwrap();
    assert!(on_disk.contains("ASIALATERAAAA") && !on_disk.contains("CredpushAssumedAt"), "{on_disk}");
    let remade = apply(&o, &Fetched { value: stamped("ASIAREMADCCCC", exp, t2), version: 1 }, now).unwrap();
    assert!(remade.written, "a later rotation into a parameter made again is written");
    assert!(fs::read_to_string(&path).unwrap().contains("ASIAREMADCCCC"));
    // A value put by hand carries no stamp: it is stamped now, so it does not replace that later rotation's
    // document; and on another path it is still refused below the version written.
    let by_hand = apply(&o, &Fetched { value: doc("ASIAHANDSDDDD", exp), version: 2 }, now).unwrap();
    assert_eq!(by_hand.superseded, Some(t2));
    let o = opts(&dir.path().join("aws/hand.json"));
    assert!(apply(&o, &Fetched { value: doc("ASIAHANDSDDDD", exp), version: 2 }, now).unwrap().written);
    let older = apply(&o, &Fetched { value: doc("ASIAHANDSEEEE", exp), version: 1 }, now);
    assert!(older.unwrap_err().to_string().contains("version 1 is older than version 2"));
}

#[test]
fn expired_and_malformed_documents_leave_the_old_file() {
    let dir = private_dir();
    let path = dir.path().join("temp.json");
    fs::write(&path, b"old").unwrap();
    let now = OffsetDateTime::now_utc();
    let o = opts(&path);
    let expired = apply(&o, &Fetched { value: doc("ASIAX", now - time::Duration::minutes(1)), version: 9 }, now);
    let msg = expired.unwrap_err().to_string();
    assert!(msg.contains("expired at") && msg.contains("/credpush/deploy"), "{msg}");
    let junk =
        apply(&o, &Fetched { value: Secret::new("{\"Version\":1,\"SecretAccessKey\":\"leak\""), version: 9 }, now);
    let msg = junk.unwrap_err().to_string();
    assert!(msg.contains("not a credential_process document") && !msg.contains("leak"), "{msg}");
    assert_eq!(fs::read(&path).unwrap(), b"old");
}

#[test]
fn a_directory_others_can_write_is_refused() {
    let dir = private_dir();
    let open = dir.path().join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let path = open.join("sub/temp.json");
    let now = OffsetDateTime::now_utc();
    let err = apply(&opts(&path), &Fetched { value: doc("ASIAX", now + time::Duration::hours(1)), version: 1 }, now)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is writable by group or others"), "{err}");
    assert!(!open.join("sub").exists(), "nothing is created under an unsafe directory");
}

#[test]
fn flags_are_checked_first() {
    let e = FetchOptions::new("/credpush/x", "aws/temp.json", None, None, None, false).unwrap_err().to_string();
    assert!(e.starts_with("--path \"aws/temp.json\" is invalid"), "{e}");
    let e = FetchOptions::new("/credpush/x", "/a/../b", None, None, None, false).unwrap_err().to_string();
    assert!(e.starts_with("--path \"/a/../b\" is invalid"), "{e}");
    let root = FetchOptions::new("/credpush/x", "~/.aws/temp.json", Some("root"), None, None, false).unwrap();
    let home = crate::host::ids::user_by_uid(0).map(|u| PathBuf::from(u.home)).unwrap();
    assert_eq!(root.path, home.join(".aws/temp.json"));
    let e = FetchOptions::new("credpush", "/x/temp.json", None, None, None, false).unwrap_err().to_string();
    assert!(e.starts_with("--parameter \"credpush\" is invalid"), "{e}");
    let e = FetchOptions::new("/credpush/x", "/x/temp.json", Some("no-such-user-x"), None, None, false)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("--owner \"no-such-user-x\" is invalid: is not a user on this host"), "{e}");
}
