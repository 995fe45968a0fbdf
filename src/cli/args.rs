//! Flag groups that several subcommands share, and their conversion into the domain options of the layers
//! below: the one place where clap's types become plain values.

use std::path::PathBuf;

use clap::Args;

use crate::aws::params::StsFlags;
use crate::fleet::{FleetOptions, Selection};
use crate::ssh::settings::HostKeyPolicy;

/// Inventory sources and host selection, shared by `rotate` and `inventory`.
#[derive(Debug, Args, Clone)]
pub struct InventoryArgs {
    /// Inventory file (INI or YAML) or directory; repeatable, as with ansible -i.
    #[arg(short = 'i', long = "inventory", value_name = "INV", required = true)]
    pub inventory: Vec<PathBuf>,

    /// Host pattern as Ansible's --limit: names, globs, groups, a:b, a,b, a:&b, a:!b, ~regex.
    #[arg(short = 'l', long, value_name = "PATTERN")]
    pub limit: Option<String>,
}

/// How many hosts at once, how long each may take, and how ssh reaches them: shared by `rotate` and `status`.
#[derive(Debug, Args, Clone)]
pub struct FleetArgs {
    /// Hosts in flight at once.
    #[arg(long, default_value_t = 50, allow_negative_numbers = true, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub forks: u16,

    /// The most one host may take, connect, retries and push included (e.g. 30s, 2m).
    #[arg(long, default_value = "30s", value_name = "DUR", allow_hyphen_values = true)]
    pub timeout: String,

    /// Host key policy: strict (only keys already in known_hosts) or accept-new (record keys of new hosts).
    #[arg(long, value_enum, default_value = "strict", value_name = "POLICY")]
    pub known_hosts: KnownHosts,

    /// ssh config file to use instead of ~/.ssh/config (as ssh -F).
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,

    /// Refuse (exit 2) inventories whose ssh args would run a command here: ProxyCommand, LocalCommand, a
    /// PKCS11/security key provider, -F FILE (Match exec), a ProxyJump that is not plain host specs.
    #[arg(long)]
    pub no_inventory_commands: bool,
}

/// `--known-hosts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KnownHosts {
    /// Only hosts whose key is already in known_hosts (the default).
    Strict,
    /// Trust and record the key of a host never seen before; a changed key still fails.
    AcceptNew,
}

/// AssumeRole parameters shared by every command that assumes a role.
#[derive(Debug, Args, Clone, Default)]
pub struct StsArgs {
    /// RoleSessionName [default: credpush-<local hostname>].
    #[arg(long, value_name = "NAME")]
    pub session_name: Option<String>,

    /// Session length: seconds, or 45m, 1h, 1h30m, 12h (15m to 12h) [default: 1h].
    #[arg(long, value_name = "DUR", allow_hyphen_values = true)]
    pub duration: Option<String>,

    /// ExternalId, when the role's trust policy requires one.
    #[arg(long, value_name = "ID")]
    pub external_id: Option<String>,

    /// Inline session policy (a JSON file) that narrows the role's permissions.
    #[arg(long, value_name = "FILE")]
    pub policy_file: Option<PathBuf>,

    /// Managed session policy ARN that narrows the role's permissions (repeatable, up to 10).
    #[arg(long, value_name = "ARN")]
    pub policy_arn: Vec<String>,

    /// Session tag KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub tag: Vec<String>,

    /// Session tag key that passes on to chained sessions (repeatable; must be a --tag key).
    #[arg(long, value_name = "KEY")]
    pub transitive_tag_key: Vec<String>,

    /// SourceIdentity, recorded in CloudTrail for this session and every session chained from it.
    #[arg(long, value_name = "ID")]
    pub source_identity: Option<String>,

    /// AWS region for STS [default: AWS_REGION, the profile's region, else us-east-1].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// The most one STS request waits for its answer before it is retried [default: 10s].
    #[arg(long, value_name = "DUR")]
    pub sts_timeout: Option<String>,

    /// The most one STS call may take, retries included; an endpoint that does not answer fails the run by then,
    /// and no further call is made to it [default: 25s].
    #[arg(long, value_name = "DUR")]
    pub sts_deadline: Option<String>,
}

impl From<InventoryArgs> for Selection {
    fn from(a: InventoryArgs) -> Self {
        Self { inventory: a.inventory, limit: a.limit }
    }
}

impl From<FleetArgs> for FleetOptions {
    fn from(a: FleetArgs) -> Self {
        let known_hosts = match a.known_hosts {
            KnownHosts::Strict => HostKeyPolicy::Strict,
            KnownHosts::AcceptNew => HostKeyPolicy::AcceptNew,
        };
        Self {
            forks: a.forks,
            timeout: a.timeout,
            known_hosts,
            ssh_config: a.ssh_config,
            no_inventory_commands: a.no_inventory_commands,
        }
    }
}

impl From<StsArgs> for StsFlags {
    fn from(a: StsArgs) -> Self {
        Self {
            session_name: a.session_name,
            duration: a.duration,
            external_id: a.external_id,
            policy_file: a.policy_file,
            policy_arn: a.policy_arn,
            tag: a.tag,
            transitive_tag_key: a.transitive_tag_key,
            source_identity: a.source_identity,
            region: a.region,
            sts_timeout: a.sts_timeout,
            sts_deadline: a.sts_deadline,
        }
    }
}
