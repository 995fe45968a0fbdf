//! How the SSH transport reaches one host, as the fleet read it from the inventory: over ssh ([`SshHost`]), or
//! on this machine with the same writer ([`LocalHost`], `ansible_connection: local`).

use std::path::PathBuf;

/// An ssh destination and the inventory's settings for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshHost {
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
    /// `ansible_become*`: the writer runs as this user through `sudo -n`.
    pub become_user: Option<Become>,
}

impl SshHost {
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

/// `ansible_connection: local`: written on this machine with the same writer, without ssh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalHost {
    /// `ansible_become*`, as for an ssh host.
    pub become_user: Option<Become>,
}

/// Ansible's `become` with `become_method: sudo`, as the remote writer applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Become {
    /// `ansible_become_user` (default `root`).
    pub user: String,
    /// `ansible_become_flags`, split as a shell would, without `-S` (stdin carries the document, never a password).
    pub flags: Vec<String>,
}

/// One of the two ways this transport reaches a host.
#[derive(Debug, Clone, Copy)]
pub enum Peer<'a> {
    /// Over ssh.
    Ssh(&'a SshHost),
    /// On this machine.
    Local(&'a LocalHost),
}

impl Peer<'_> {
    /// The user the writer runs as, when not the login user.
    pub fn become_user(&self) -> Option<&Become> {
        match self {
            Peer::Ssh(h) => h.become_user.as_ref(),
            Peer::Local(l) => l.become_user.as_ref(),
        }
    }
}
