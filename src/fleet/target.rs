//! One host's connection and target settings, read from its inventory variables the way Ansible reads them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::aws::params::RoleArn;
use crate::delivery::{Delivery, Payload, Probed};
use crate::error::{Error, Result};
use crate::ssh::args::parse_inventory_args;
use crate::ssh::host::{Become, LocalHost, Peer, SshHost};
use crate::ssh::settings::SshSettings;
use crate::ssm::host::SsmHost;

/// Where the document goes when neither `credpush_path` nor `--path` says otherwise. Resolved on the host.
pub const DEFAULT_PATH: &str = "~/.aws/temp.json";

/// Everything needed to reach one host and write its document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTarget {
    /// The inventory hostname (what reports and `--limit` use).
    pub name: String,
    /// `credpush_path`, else `--path`, else [`DEFAULT_PATH`]. Absolute or `~/…`.
    pub path: String,
    /// `credpush_role_arn`, else `--role-arn`.
    pub role_arn: RoleArn,
    /// `credpush_profile`: the managed profile to ensure on the host (else `--install-profile`).
    pub profile: Option<String>,
    /// `credpush_region`: that profile's region (else `--region`).
    pub profile_region: Option<String>,
    /// How the host is reached, decided once here from `ansible_connection`.
    pub route: Route,
    /// Why this host cannot be written as its inventory asks (another connection type, a password): it fails
    /// alone, before any connection.
    pub unsupported: Option<String>,
}

/// The transport a host's document travels by. A new transport is a new variant here and a folder of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Over ssh (`ansible_connection` ssh, smart or unset).
    Ssh(SshHost),
    /// On this machine with the SSH transport's writer (`ansible_connection: local`).
    Local(LocalHost),
    /// Through Systems Manager (`ansible_connection: community.aws.aws_ssm` or `aws_ssm`).
    Ssm(SsmHost),
}

fn var_str(host: &str, vars: &Map<String, Value>, name: &'static str) -> Result<Option<String>> {
    match vars.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(host_var(host, name, &other.to_string(), "expected a string")),
    }
}

fn host_var(host: &str, var: &'static str, value: &str, reason: &str) -> Error {
    Error::HostVar { host: host.to_owned(), var, value: value.to_owned(), reason: reason.to_owned() }
}

/// Loads the inventory `sources`, selects the hosts `limit` names (nothing selected is an error), keeps those
/// `keep` accepts (a shard), and reads each one's settings, with `--path` and `--role-arn` as defaults.
pub fn load_targets(
    sources: &[PathBuf],
    limit: Option<&str>,
    keep: impl Fn(&str) -> bool,
    default_path: Option<&str>,
    default_role: Option<&RoleArn>,
) -> Result<Vec<HostTarget>> {
    let inventory = crate::inventory::Inventory::load(sources)?;
    // `select` refuses an empty inventory and a limit that selects nothing, each in its own words.
    inventory
        .select(limit)?
        .iter()
        .filter(|h| keep(h))
        .map(|h| HostTarget::from_vars(h, &inventory.host_vars(h), default_path, default_role))
        .collect()
}

/// `--no-inventory-commands`: refuses the run when any host's inventory ssh args would make ssh run a command or
/// load code of the inventory's choosing on this machine (see [`crate::ssh::commands`]), naming the first host
/// by name. Called before anything runs ssh, `ssh -G` included.
pub fn refuse_inventory_commands(targets: &[HostTarget]) -> Result<()> {
    for (name, host) in targets.iter().filter_map(|t| Some((&t.name, t.ssh()?))) {
        if let Some(reason) = crate::ssh::commands::inventory_command(&host.ssh_args) {
            return Err(host_var(
                name,
                "ansible_ssh_*_args",
                &host.ssh_args.join(" "),
                &format!("{reason}; --no-inventory-commands refuses commands from an inventory"),
            ));
        }
    }
    Ok(())
}

impl Route {
    /// `credpush status`'s read-only look at one host, by the transport this route names. `ssh` carries the
    /// SSH transport's run settings (the routes it serves); a transport with settings of its own adds them here.
    pub async fn probe(&self, ssh: &SshSettings, path: &str, config: &str, timeout: Duration) -> Probed {
        match self {
            Route::Ssh(host) => crate::ssh::probe::probe(Peer::Ssh(host), ssh, path, config, timeout).await,
            Route::Local(host) => crate::ssh::probe::probe(Peer::Local(host), ssh, path, config, timeout).await,
            Route::Ssm(host) => crate::ssm::host::probe(host),
        }
    }

    /// How the SSH transport reaches the host, for a route it serves (today, every route).
    pub fn ssh_peer(&self) -> Option<Peer<'_>> {
        match self {
            Route::Ssh(host) => Some(Peer::Ssh(host)),
            Route::Local(host) => Some(Peer::Local(host)),
            Route::Ssm(_) => None,
        }
    }
}

impl HostTarget {
    /// Reads a host's settings from its merged inventory variables, with `--path` and `--role-arn` as defaults.
    pub fn from_vars(
        name: &str,
        vars: &Map<String, Value>,
        default_path: Option<&str>,
        default_role: Option<&RoleArn>,
    ) -> Result<Self> {
        // A value ssh would read as a flag: refused, although credpush also ends ssh's options with `--`.
        let no_flag = |var: &'static str, value: String| {
            if value.starts_with('-') {
                Err(host_var(name, var, &value, "may not start with '-' (ssh would read it as an option)"))
            } else {
                Ok(value)
            }
        };
        no_flag("inventory_hostname", name.to_owned())?;
        let address = no_flag("ansible_host", var_str(name, vars, "ansible_host")?.unwrap_or_else(|| name.to_owned()))?;
        let port = match var_str(name, vars, "ansible_port")? {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or_else(|| host_var(name, "ansible_port", &p, "expected a port number from 1 to 65535"))?,
            ),
        };
        let user = var_str(name, vars, "ansible_user")?.map(|u| no_flag("ansible_user", u)).transpose()?;
        let key_file = var_str(name, vars, "ansible_ssh_private_key_file")?.map(|k| expand_local_home(&k));
        let mut ssh_args = Vec::new();
        let mut ssh_args_have_config = false;
        for var in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
            if let Some(raw) = var_str(name, vars, var)? {
                let parsed = parse_inventory_args(&raw).map_err(|reason| host_var(name, var, &raw, &reason))?;
                ssh_args.extend(parsed.tokens);
                ssh_args_have_config |= parsed.has_config_file;
            }
        }
        let path = var_str(name, vars, "credpush_path")?
            .or_else(|| default_path.map(str::to_owned))
            .unwrap_or_else(|| DEFAULT_PATH.to_owned());
        check_remote_path(&path).map_err(|reason| host_var(name, "credpush_path", &path, reason))?;
        let role_arn = match var_str(name, vars, "credpush_role_arn")? {
            Some(r) => RoleArn::parse(&r).map_err(|e| match e {
                Error::InvalidArg { reason, .. } => host_var(name, "credpush_role_arn", &r, &reason),
                other => other,
            })?,
            None => default_role.cloned().ok_or_else(|| Error::NoRole { host: name.to_owned() })?,
        };
        let profile = var_str(name, vars, "credpush_profile")?;
        let profile_region = var_str(name, vars, "credpush_region")?;
        if let Some(p) = &profile {
            // Checked here with a placeholder path: the real one is known only once the host resolved `~`.
            crate::host::profile::ProfileSpec::new(p, "/checked/temp.json", profile_region.as_deref())
                .map_err(|e| host_var(name, "credpush_profile", p, &e.to_string()))?;
        }
        let connection = var_str(name, vars, "ansible_connection")?;
        if connection.as_deref().is_some_and(|c| crate::ssm::host::CONNECTIONS.contains(&c)) {
            let host = SsmHost::from_vars(name, vars).map_err(|(var, value, why)| host_var(name, var, &value, &why))?;
            let route = Route::Ssm(host);
            return Ok(Self {
                name: name.to_owned(),
                path,
                role_arn,
                profile,
                profile_region,
                route,
                unsupported: None,
            });
        }
        let (local, become_user, unsupported) = connection_vars(name, vars)?;
        let route = if local {
            Route::Local(LocalHost { become_user })
        } else {
            Route::Ssh(SshHost { address, port, user, key_file, ssh_args, ssh_args_have_config, become_user })
        };
        Ok(Self { name: name.to_owned(), path, role_arn, profile, profile_region, route, unsupported })
    }

    /// `user@address:port` (or `local`) for reports and dry runs.
    pub fn destination(&self) -> String {
        match &self.route {
            Route::Ssh(host) => host.destination(),
            Route::Local(_) => "local".into(),
            Route::Ssm(host) => format!("ssm:{}", host.instance_id),
        }
    }

    /// The ssh settings, for a host reached over ssh.
    pub fn ssh(&self) -> Option<&SshHost> {
        match &self.route {
            Route::Ssh(host) => Some(host),
            Route::Local(_) | Route::Ssm(_) => None,
        }
    }

    /// The user the writer runs as through `sudo -n`, under `ansible_become`.
    pub fn become_user(&self) -> Option<&Become> {
        match &self.route {
            Route::Ssh(host) => host.become_user.as_ref(),
            Route::Local(host) => host.become_user.as_ref(),
            Route::Ssm(_) => None,
        }
    }

    /// This host's delivery of `payload`. The inventory's credpush_profile / credpush_region (what the playbook
    /// reads) win over `--install-profile` and `--region`.
    pub fn delivery(
        &self,
        payload: Arc<Payload>,
        install_profile: Option<&str>,
        profile_region: Option<&str>,
    ) -> Delivery {
        let profile = self
            .profile
            .as_deref()
            .or(install_profile)
            .map(|name| (name.to_owned(), self.profile_region.as_deref().or(profile_region).map(str::to_owned)));
        Delivery {
            host: self.name.clone(),
            destination: self.destination(),
            path: self.path.clone(),
            role_arn: self.role_arn.to_string(),
            profile,
            format: crate::delivery::Format::Json,
            payload,
        }
    }
}

/// Reads `ansible_connection`, `ansible_become*` and password variables: (local, become, why unsupported).
fn connection_vars(host: &str, vars: &Map<String, Value>) -> Result<(bool, Option<Become>, Option<String>)> {
    let mut unsupported = None;
    let local = match var_str(host, vars, "ansible_connection")?.as_deref() {
        None | Some("ssh" | "smart" | "ansible.builtin.ssh") => false,
        Some("local" | "ansible.builtin.local") => true,
        Some(other) => {
            unsupported = Some(format!(
                "ansible_connection {other:?} is not supported by credpush rotate, which writes over ssh or locally (fix: use ssh or local for this host, or write it with ansible/rotate.yml)"
            ));
            false
        }
    };
    for var in [
        "ansible_password",
        "ansible_ssh_pass",
        "ansible_ssh_password",
        "ansible_become_password",
        "ansible_become_pass",
    ] {
        if vars.get(var).is_some_and(|v| !v.is_null()) && unsupported.is_none() {
            unsupported = Some(format!(
                "{var} is set, and credpush rotate never sends passwords (fix: log in with an ssh key or agent, and let sudo run the writer without a password (NOPASSWD))"
            ));
        }
    }
    let enabled = match vars.get("ansible_become") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        Some(Value::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1" | "y" | "t"),
        Some(other) => return Err(host_var(host, "ansible_become", &other.to_string(), "expected a boolean")),
    };
    if !enabled {
        return Ok((local, None, unsupported));
    }
    match var_str(host, vars, "ansible_become_method")?.as_deref() {
        None | Some("sudo" | "ansible.builtin.sudo") => {}
        Some(other) if unsupported.is_none() => {
            unsupported = Some(format!(
                "ansible_become_method {other:?} is not supported by credpush rotate (fix: use sudo, or write this host with ansible/rotate.yml)"
            ));
        }
        Some(_) => {}
    }
    let user = var_str(host, vars, "ansible_become_user")?.unwrap_or_else(|| "root".into());
    if user.is_empty() || user.starts_with('-') || user.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(host_var(host, "ansible_become_user", &user, "expected a user name"));
    }
    let flags = match var_str(host, vars, "ansible_become_flags")? {
        None => Vec::new(),
        Some(raw) => {
            let words =
                shlex::split(&raw).ok_or_else(|| host_var(host, "ansible_become_flags", &raw, "unbalanced quotes"))?;
            crate::fleet::sudo::become_flags(words).map_err(|why| host_var(host, "ansible_become_flags", &raw, &why))?
        }
    };
    Ok((local, Some(Become { user, flags }), unsupported))
}

/// The target path check (shared with the module: [`crate::host::path::check`]).
pub use crate::host::path::check as check_remote_path;

fn expand_local_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

#[cfg(test)]
mod tests;
