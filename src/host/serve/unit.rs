//! Where `deploy/credpush-serve@.service` keeps one user's endpoint, so that `credpush profile --container` can
//! print that user's two variables without the endpoint running: the port from the unit's environment file, the
//! token in the unit's state directory.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The unit's per-user environment files: `/etc/credpush/serve/USER.env`.
pub const UNIT_ENV_DIR: &str = "/etc/credpush/serve";
/// The unit's `StateDirectory=credpush-serve/USER`, under `/var/lib`.
pub const UNIT_STATE_DIR: &str = "/var/lib/credpush-serve";

/// A user name as systemd accepts it in an instance name and useradd in a login: no path separators, no leading
/// `-` or `.`, at most 32 characters.
fn check_user(user: &str) -> Result<()> {
    let ok = !user.is_empty()
        && user.len() <= 32
        && !user.starts_with(['-', '.'])
        && user.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("--user", user, "is not a user name (letters, digits, '.', '_', '-'; at most 32)"))
    }
}

/// `CREDPUSH_LISTEN` from an environment file, when it sets it.
fn listen_in(env_file: &Path) -> Result<Option<String>> {
    let mut text = String::new();
    match std::fs::File::open(env_file) {
        Ok(f) => {
            f.take(64 * 1024).read_to_string(&mut text).map_err(|e| Error::io("read", env_file, e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", env_file, e)),
    }
    Ok(text.lines().rev().find_map(|l| {
        let v = l.trim().strip_prefix("CREDPUSH_LISTEN=")?;
        Some(v.trim_matches(|c| c == '"' || c == '\'').to_owned())
    }))
}

/// The two variables for `user`'s endpoint under the unit's layout, with `listen` and `token_file` overriding
/// what the unit's files say.
pub fn container_variables(user: &str, listen: Option<&str>, token_file: Option<&Path>) -> Result<String> {
    container_variables_in(Path::new(UNIT_ENV_DIR), user, listen, token_file)
}

/// [`container_variables`] with the environment files in `env_dir`.
pub fn container_variables_in(
    env_dir: &Path,
    user: &str,
    listen: Option<&str>,
    token_file: Option<&Path>,
) -> Result<String> {
    check_user(user)?;
    let env_file = env_dir.join(format!("{user}.env"));
    let listen = match listen {
        Some(l) => super::parse_listen(l)?,
        None => match listen_in(&env_file)? {
            Some(l) => super::parse_listen(&l).map_err(|e| {
                Error::invalid("CREDPUSH_LISTEN", l, format!("in {}: {e} (fix: correct the file)", env_file.display()))
            })?,
            None => super::parse_listen(super::DEFAULT_LISTEN)?,
        },
    };
    if listen.port() == 0 {
        return Err(Error::invalid(
            "--listen",
            listen.to_string(),
            "has port 0, which serve replaces with a free port at start (fix: give the port it printed)",
        ));
    }
    let token = match token_file {
        Some(t) => super::absolute(t)?,
        None => PathBuf::from(UNIT_STATE_DIR).join(user).join("token"),
    };
    Ok(super::variables(listen, &token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_units_layout_and_its_env_file() {
        let dir = tempfile::tempdir().unwrap();
        let v = container_variables_in(dir.path(), "ci", None, None).unwrap();
        assert_eq!(
            v,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9911/credpush/v1/credentials\n\
             AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/var/lib/credpush-serve/ci/token\n"
        );
        std::fs::write(dir.path().join("ci.env"), "CREDPUSH_DOCUMENT=/x\nCREDPUSH_LISTEN=\"127.0.0.1:9920\"\n")
            .unwrap();
        let v = container_variables_in(dir.path(), "ci", None, None).unwrap();
        assert!(v.starts_with("AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9920/"), "{v}");
        let v = container_variables_in(dir.path(), "ci", Some("[::1]:9930"), Some(Path::new("/srv/t"))).unwrap();
        assert!(v.contains("http://[::1]:9930/") && v.ends_with("TOKEN_FILE=/srv/t\n"), "{v}");
    }

    #[test]
    fn refuses_odd_users_and_addresses() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "../etc", "-x", "a/b", &"u".repeat(33)] {
            let e = container_variables_in(dir.path(), bad, None, None).unwrap_err();
            assert_eq!(e.exit_code(), crate::error::EXIT_INPUT, "{bad}");
        }
        std::fs::write(dir.path().join("ci.env"), "CREDPUSH_LISTEN=0.0.0.0:9911\n").unwrap();
        let e = container_variables_in(dir.path(), "ci", None, None).unwrap_err().to_string();
        assert!(e.starts_with("CREDPUSH_LISTEN \"0.0.0.0:9911\" is invalid: in "), "{e}");
        let e = container_variables_in(dir.path(), "ci", Some("127.0.0.1:0"), None).unwrap_err().to_string();
        assert!(e.contains("has port 0"), "{e}");
    }
}
