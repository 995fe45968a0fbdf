//! One host's connection and target settings, read from its inventory variables the way Ansible reads them.

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::params::RoleArn;
use crate::sshargs::parse_inventory_args;

/// Where the document goes when neither `credpush_path` nor `--path` says otherwise. Resolved on the host.
pub const DEFAULT_PATH: &str = "~/.aws/temp.json";

/// Everything needed to reach one host and write its document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTarget {
    /// The inventory hostname (what reports and `--limit` use).
    pub name: String,
    /// `ansible_host`, else the inventory name.
    pub address: String,
    /// `ansible_port`.
    pub port: Option<u16>,
    /// `ansible_user`.
    pub user: Option<String>,
    /// `ansible_ssh_private_key_file`.
    pub key_file: Option<PathBuf>,
    /// `ansible_ssh_common_args` then `ansible_ssh_extra_args`, checked, passed to ssh verbatim.
    pub ssh_args: Vec<String>,
    /// True when those args name a config file (`-F`), whose host key settings are then checked with `ssh -G`.
    pub ssh_args_have_config: bool,
    /// `credpush_path`, else `--path`, else [`DEFAULT_PATH`]. Absolute or `~/…`.
    pub path: String,
    /// `credpush_role_arn`, else `--role-arn`.
    pub role_arn: RoleArn,
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
        Ok(Self {
            name: name.to_owned(),
            address,
            port,
            user,
            key_file,
            ssh_args,
            ssh_args_have_config,
            path,
            role_arn,
        })
    }

    /// `user@address:port` for reports and dry runs.
    pub fn destination(&self) -> String {
        let mut s = String::new();
        if let Some(u) = &self.user {
            s.push_str(u);
            s.push('@');
        }
        s.push_str(&self.address);
        if let Some(p) = self.port {
            s.push_str(&format!(":{p}"));
        }
        s
    }
}

/// Checks a target path before anything is sent: absolute or `~/…`, and no characters a shell line cannot carry.
/// Returns why not; callers name the input (`credpush_path` of a host, or `--path`).
pub fn check_remote_path(path: &str) -> std::result::Result<(), &'static str> {
    if !(path.starts_with('/') || path.starts_with("~/")) {
        return Err("expected an absolute path or one under ~/ (e.g. ~/.aws/temp.json)");
    }
    if path.ends_with('/') || path.chars().any(|c| c.is_control()) || path.contains('$') {
        return Err("expected a file path without $, control characters or a trailing /");
    }
    if path.split('/').any(|part| part == "..") {
        return Err("expected a path without .. components (write the directory it means)");
    }
    Ok(())
}

fn expand_local_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn reads_ansible_connection_vars() {
        let role = RoleArn::parse("arn:aws:iam::123456789012:role/deploy").unwrap();
        let t = HostTarget::from_vars(
            "web01",
            &vars(json!({"ansible_host": "10.0.0.5", "ansible_port": 2222, "ansible_user": "deploy",
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -J bastion", "ansible_ssh_extra_args": "-oServerAliveInterval=5 -C",
                "credpush_path": "/srv/ci/.aws/temp.json"})),
            None,
            Some(&role),
        )
        .unwrap();
        assert_eq!(t.destination(), "deploy@10.0.0.5:2222");
        assert_eq!(
            t.ssh_args,
            ["-o", "StrictHostKeyChecking=no", "-J", "bastion", "-o", "ServerAliveInterval=5", "-C"]
        );
        assert_eq!(t.path, "/srv/ci/.aws/temp.json");
        assert_eq!(t.role_arn, role);
        let d = HostTarget::from_vars("db", &Map::new(), None, Some(&role)).unwrap();
        assert_eq!((d.destination().as_str(), d.path.as_str()), ("db", DEFAULT_PATH));
    }

    #[test]
    fn bad_vars_name_the_host_and_variable() {
        let role = RoleArn::parse("arn:aws:iam::123456789012:role/deploy").unwrap();
        let err = |v: Value| HostTarget::from_vars("web01", &vars(v), None, Some(&role)).unwrap_err().to_string();
        assert_eq!(
            err(json!({"ansible_port": "ssh"})),
            "host web01: ansible_port \"ssh\" is invalid: expected a port number from 1 to 65535 (fix: correct it in the inventory or its group_vars/host_vars)"
        );
        assert!(
            err(json!({"credpush_path": "aws/temp.json"}))
                .contains("credpush_path \"aws/temp.json\" is invalid: expected an absolute path")
        );
        assert!(err(json!({"ansible_ssh_common_args": "-o 'Proxy"})).contains("unbalanced quotes"));
        assert!(err(json!({"ansible_ssh_common_args": "-X"})).contains("unsupported ssh flag \"-X\""));
        assert!(
            err(json!({"credpush_role_arn": "nope"})).contains("credpush_role_arn \"nope\" is invalid: not an ARN")
        );
        let none = HostTarget::from_vars("web01", &Map::new(), None, None).unwrap_err().to_string();
        assert_eq!(
            none,
            "host web01 has no role to assume (fix: pass --role-arn, or set credpush_role_arn for the host or its group in the inventory)"
        );
    }
}
