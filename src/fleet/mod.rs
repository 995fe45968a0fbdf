//! Many hosts: targets read from inventory variables, each with its route ([`target`]); the fan-out that hands
//! each host to its transport ([`fanout`]); the report ([`report`]); the `rotate` and `status` runs; fleet
//! sharding ([`shard`]), schedule checks ([`plan`]), open-file limits ([`limits`]) and signals ([`signals`]).

pub mod fanout;
pub mod limits;
pub mod plan;
pub mod report;
pub mod rotate;
pub mod shard;
pub mod signals;
pub mod ssm;
pub mod status;
pub mod status_report;
pub mod sudo;
pub mod target;
pub mod trust;

use std::path::PathBuf;

use crate::ssh::settings::HostKeyPolicy;

/// Inventory sources and the host selection, shared by `rotate`, `status` and `inventory`.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Inventory files or directories, as with `ansible -i`.
    pub inventory: Vec<PathBuf>,
    /// A host pattern, as Ansible's `--limit`.
    pub limit: Option<String>,
}

/// How many hosts at once, how long each may take, and how ssh reaches them: shared by `rotate` and `status`.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Hosts in flight at once.
    pub forks: u16,
    /// The most one host may take, as given (a span; checked by the run).
    pub timeout: String,
    /// Host key policy.
    pub known_hosts: HostKeyPolicy,
    /// An ssh config file to use instead of `~/.ssh/config`.
    pub ssh_config: Option<PathBuf>,
    /// Refuse hosts whose inventory ssh args would run a command here (`--no-inventory-commands`).
    pub no_inventory_commands: bool,
}
