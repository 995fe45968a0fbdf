//! `credpush serve`: flags -> checked [`ServeOptions`] -> [`crate::host::serve::run`].

use std::path::PathBuf;

use clap::Args;

use crate::error::{Error, Result};
use crate::host::serve::{self, DEFAULT_LISTEN, DEFAULT_TOKEN_NAME, Limits, ServeOptions};

/// Exit codes of `credpush serve`.
pub const SERVE_EXIT_CODES: &str = "\
Once it listens it prints AWS_CONTAINER_CREDENTIALS_FULL_URI=... and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=...
on stdout (never the token) and answers until SIGTERM, SIGHUP or SIGINT.

Exit codes:
  0  stopped by a signal
  2  bad flags: a --listen that is not a loopback IP:PORT, an unusable --token-file, an unknown --owner
  4  the address could not be bound, or the token file could not be written";

/// `credpush serve`.
#[derive(Debug, Args)]
pub struct ServeCmd {
    /// The credential document to serve, kept fresh by rotate, the Ansible module or fetch.
    #[arg(long, value_name = "DOC")]
    pub path: PathBuf,

    /// Loopback address to listen on (127.0.0.0/8 or [::1]); port 0 picks a free one.
    #[arg(long, value_name = "IP:PORT", default_value = DEFAULT_LISTEN)]
    pub listen: String,

    /// Token file consumers send as Authorization; created (32 random bytes, hex, 0600) when missing
    /// [default: credpush-serve.token next to DOC].
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// The consumer user who owns a token file serve creates (name or uid; changing the owner needs root).
    #[arg(long, value_name = "USER")]
    pub owner: Option<String>,
}

impl ServeCmd {
    /// Validates the flags once, before anything is created or bound.
    pub fn options(&self) -> Result<ServeOptions> {
        let listen = serve::parse_listen(&self.listen)?;
        let document = serve::absolute(&self.path)?;
        let token_file = match &self.token_file {
            Some(t) => serve::absolute(t)?,
            None => document.with_file_name(DEFAULT_TOKEN_NAME),
        };
        // The path is printed as a NAME=value line that consumers copy into a variable: it must survive that.
        if token_file.to_str().is_none_or(|t| t.chars().any(char::is_control)) {
            return Err(Error::invalid(
                "--token-file",
                token_file.to_string_lossy(),
                "has control characters or is not UTF-8, so it cannot be passed on in a variable (fix: use a plain path)",
            ));
        }
        let owner = match &self.owner {
            None => None,
            Some(spec) => {
                let uid = crate::host::ids::resolve_user(spec).map_err(|e| Error::invalid("--owner", spec, e))?;
                let gid = crate::host::ids::user_by_uid(uid).map(|u| u.gid).ok_or_else(|| {
                    Error::invalid(
                        "--owner",
                        spec,
                        "has no /etc/passwd entry, so its group is unknown (fix: create the user first)",
                    )
                })?;
                Some((uid, gid))
            }
        };
        Ok(ServeOptions { document, listen, token_file, owner, limits: Limits::default() })
    }
}

/// Runs `credpush serve` until a signal.
pub async fn run(cmd: ServeCmd) -> Result<i32> {
    serve::run(cmd.options()?).await
}

/// `credpush profile --container`: the variables for a user's `credpush serve`, instead of a profile block.
#[derive(Debug, Args)]
pub struct ContainerArgs {
    /// Print AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE for USER's credpush
    /// serve (deploy/credpush-serve@.service) instead of a profile block.
    #[arg(long, conflicts_with_all = ["name", "path", "install", "region", "reader_bin"])]
    pub container: bool,

    /// With --container: the consumer user [default: this user].
    #[arg(long, value_name = "USER", requires = "container")]
    pub user: Option<String>,

    /// With --container: the address serve listens on [default: CREDPUSH_LISTEN in /etc/credpush/serve/USER.env,
    /// else 127.0.0.1:9911].
    #[arg(long, value_name = "IP:PORT", requires = "container")]
    pub listen: Option<String>,

    /// With --container: the token file [default: /var/lib/credpush-serve/USER/token].
    #[arg(long, value_name = "FILE", requires = "container")]
    pub token_file: Option<PathBuf>,
}

impl ContainerArgs {
    /// The two `NAME=value` lines.
    pub fn variables(&self) -> Result<String> {
        let user = match &self.user {
            Some(u) => u.clone(),
            None => crate::host::ids::user_by_uid(rustix::process::geteuid().as_raw())
                .map(|u| u.name)
                .ok_or_else(|| Error::invalid("--user", "", "is needed: this user has no /etc/passwd entry"))?,
        };
        serve::unit::container_variables(&user, self.listen.as_deref(), self.token_file.as_deref())
    }
}
