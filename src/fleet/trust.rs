//! The check both `rotate` and `status` make before they reach any host: an inventory's ssh args (a `-F` file
//! above all) must leave host key trust as the operator's own config sets it (see [`crate::ssh::args`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::error::{Error, Result};
use crate::fleet::target::HostTarget;
use crate::ssh::connect::{TrustCheck, check_trust};
use crate::ssh::settings::SshSettings;

/// Refuses, before any STS call or probe, hosts whose inventory ssh args would change host key trust (see
/// [`crate::ssh::args`]). Runs `ssh -G` for hosts with a `-F` in their args, `forks` at a time (the fork count the
/// open file limit allows), once per distinct connection (address, port, user, key and args): hosts that share
/// one share its answer.
pub async fn check_all(targets: &[HostTarget], ssh: &SshSettings, forks: usize) -> Result<()> {
    type Key = (String, Option<u16>, Option<String>, Option<std::path::PathBuf>, Vec<String>);
    let mut by_key: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    let mut hosts: BTreeMap<Key, crate::ssh::host::SshHost> = BTreeMap::new();
    for (name, host) in targets.iter().filter_map(|t| Some((t.name.clone(), t.ssh()?))) {
        if !host.ssh_args_have_config {
            continue;
        }
        let key = (host.address.clone(), host.port, host.user.clone(), host.key_file.clone(), host.ssh_args.clone());
        by_key.entry(key.clone()).or_default().push(name);
        hosts.entry(key).or_insert_with(|| host.clone());
    }
    let sem = Arc::new(Semaphore::new(forks.max(1)));
    let mut set = JoinSet::new();
    for (key, host) in hosts {
        let (ssh, sem) = (ssh.clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let outcome = check_trust(&host, &ssh).await;
            (key, outcome)
        });
    }
    let mut refused = Vec::new();
    while let Some(joined) = set.join_next().await {
        let Ok((key, Err(why))) = joined else { continue };
        let reason = match why {
            TrustCheck::Refused(reason) => reason,
            // Out of descriptors or processes: say so, rather than blame the inventory for this machine's limits.
            TrustCheck::Local(source) => return Err(Error::Spawn { program: "ssh -G", source }),
        };
        for name in by_key.get(&key).into_iter().flatten() {
            refused.push((name.clone(), key.4.join(" "), reason.clone()));
        }
    }
    refused.sort();
    match refused.into_iter().next() {
        None => Ok(()),
        Some((host, value, reason)) => Err(Error::HostVar { host, var: "ansible_ssh_*_args", value, reason }),
    }
}
