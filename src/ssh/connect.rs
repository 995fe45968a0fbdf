//! Reaching one host: start its master (see [`crate::ssh::master`]) and attach the mux client, or run locally;
//! check that an inventory's ssh args leave host key trust alone; and read ssh's failure into a [`PushError`].

use std::time::Duration;

use openssh::Session;

use crate::ssh::args::HostArgs;
use crate::ssh::error::PushError;
use crate::ssh::host::{Peer, SshHost};
use crate::ssh::master::{self, LaunchError};
use crate::ssh::push::Connection;
use crate::ssh::settings::SshSettings;

fn host_args(host: &SshHost) -> HostArgs<'_> {
    HostArgs {
        address: &host.address,
        port: host.port,
        key_file: host.key_file.as_deref(),
        user: host.user.as_deref(),
        inventory: &host.ssh_args,
    }
}

/// How a connection reaches an ssh host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// A master and the mux client: several execs over one connection.
    Master,
    /// One plain ssh per exec ([`crate::ssh::direct`]): cheaper when a host gets one exec.
    Direct,
}

/// Connects to `peer`: for ssh, starts its master (see [`crate::ssh::master`]) and attaches the mux client to it,
/// or, with [`Reach::Direct`], only prepares the command line each exec's ssh runs with.
pub async fn connect(peer: Peer<'_>, settings: &SshSettings, reach: Reach) -> Result<Connection, PushError> {
    let host = match peer {
        Peer::Local(local) => return Ok(Connection::local(local.become_user.clone(), settings.helper.clone())),
        Peer::Ssh(host) => host,
    };
    let (socket, log) = settings.control.slot();
    if reach == Reach::Direct {
        let args = crate::ssh::args::direct_args(&settings.pinned(), &host_args(host), &log);
        let direct = crate::ssh::direct::Direct::new(args, log, host.clone());
        return Ok(Connection::direct(direct, host.become_user.clone(), settings.helper.clone()));
    }
    tracing::debug!(destination = %host.destination(), "connecting");
    match master::launch(&settings.pinned(), &host_args(host), &socket, &log).await {
        Ok(()) => {
            let session = Session::resume_mux(socket.into(), Some(log.into()));
            Ok(Connection::ssh(session, host.become_user.clone(), settings.helper.clone()))
        }
        Err(LaunchError::Spawn(e)) => Err(PushError::Local(format!("cannot start ssh: {e}"))),
        Err(LaunchError::Failed(text)) => Err(classify_connect_error(host, &text)),
    }
}

/// Why [`check_trust`] did not pass a host.
#[derive(Debug)]
pub enum TrustCheck {
    /// The inventory's args change trust, or ssh could not resolve them: the inventory's problem.
    Refused(String),
    /// `ssh -G` could not be started at all (out of descriptors or processes, no ssh): this machine's problem,
    /// which says nothing about the inventory.
    Local(std::io::Error),
}

/// Checks that the inventory's ssh args (a `-F` file above all) leave host key trust as the operator's own
/// config sets it: ssh resolves the trust options both ways (`ssh -G`), and they must be equal. Returns why not.
pub async fn check_trust(target: &SshHost, settings: &SshSettings) -> Result<(), TrustCheck> {
    if !target.ssh_args_have_config {
        return Ok(());
    }
    let pinned = settings.pinned();
    let host = host_args(target);
    let resolve = |operator_only: bool| {
        let args = crate::ssh::args::resolve_args(&pinned, &host, operator_only);
        async move {
            let out = tokio::process::Command::new("ssh")
                .args(args)
                .env_clear()
                .envs(crate::ssh::args::ssh_env())
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .output();
            match tokio::time::timeout(Duration::from_secs(10), out).await {
                Ok(Ok(o)) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).into_owned()),
                Ok(Ok(o)) => {
                    Err(TrustCheck::Refused(format!("ssh -G failed: {}", String::from_utf8_lossy(&o.stderr).trim())))
                }
                Ok(Err(e)) => Err(TrustCheck::Local(e)),
                Err(_) => Err(TrustCheck::Refused("ssh -G did not finish within 10s".to_owned())),
            }
        }
    };
    let (operator, inventory) = tokio::try_join!(resolve(true), resolve(false))?;
    match crate::ssh::args::trust_difference(&operator, &inventory) {
        None => Ok(()),
        Some((key, mine, theirs)) => Err(TrustCheck::Refused(format!(
            "its ssh args change host key trust: {key} is {theirs:?} with them and {mine:?} in your ssh config; set host key options in your ssh config, not in the inventory"
        ))),
    }
}

/// What ssh's log says went wrong, as the error a report shows.
pub(crate) fn classify_connect_error(target: &SshHost, log: &str) -> PushError {
    let detail =
        log.trim().lines().filter(|l| !l.starts_with("Warning: Permanently added")).collect::<Vec<_>>().join("; ");
    if detail.contains("Host key verification failed")
        || detail.contains("HOST IDENTIFICATION HAS CHANGED")
        || detail.contains("host key is known")
    {
        return PushError::HostKey {
            destination: target.destination(),
            address: target.address.clone(),
            port: target.port.map(|p| format!(" -p {p}")).unwrap_or_default(),
        };
    }
    if detail.contains("Permission denied") {
        return PushError::Auth(detail);
    }
    // What ssh says when the network, not the host, is the problem: worth another attempt.
    const UNREACHABLE: &[&str] = &[
        "Connection refused",
        "Connection timed out",
        "timed out during banner exchange",
        "No route to host",
        "Network is unreachable",
        "Could not resolve hostname",
        "Connection closed by",
        "Connection reset by",
        "kex_exchange_identification",
    ];
    if detail.is_empty() || UNREACHABLE.iter().any(|m| detail.contains(m)) {
        return PushError::Unreachable(if detail.is_empty() { "connection failed".into() } else { detail });
    }
    PushError::Ssh(detail)
}
