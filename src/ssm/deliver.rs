//! One role's delivery through SSM: every parameter of the role written once (PutParameter, SecureString), then
//! SendCommand to each group's instances (at most 50 IDs per command, or up to 5 targets that SSM resolves), then
//! polling the invocations until each instance is final or `--timeout` runs out. Every instance ends as one
//! [`InstanceReport`]; one instance's failure never stops the others.
//!
//! This file holds the sending (parameters, command specs, batches); `poll` waits for the invocations, and
//! `outcome` turns each instance's last SSM state into its report.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::client::{CommandSpec, Recipients, Ssm};
use super::targets::MAX_IDS_PER_COMMAND;
use crate::error::Error;
use crate::host::document::CredentialDocument;
use outcome::{interrupted_reason, judge, report, target_report, unsent};
use poll::{Sent, poll_all};

pub use outcome::{Ending, InstanceReport, not_sent};

mod outcome;
mod poll;

/// One managed instance named by ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The name reports use (the inventory name, or the ID).
    pub name: String,
    /// `mi-…` or `i-…`.
    pub id: String,
}

/// Instances that receive the same document parameters, hence the same commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The SecureString parameter.
    pub parameter: String,
    /// The document's path on the instances.
    pub path: String,
    /// The local user who owns it.
    pub owner: String,
    /// `--install-profile`.
    pub profile: Option<String>,
    /// The region fetch reads the parameter in (and writes into the profile).
    pub region: Option<String>,
    /// Instances by ID (sent in InstanceIds, 50 per command).
    pub instances: Vec<Instance>,
    /// Targets SSM resolves (sent in Targets, one command for all of them).
    pub targets: Vec<(String, Vec<String>)>,
}

/// What the whole SSM delivery shares.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The Run Command document (deploy/credpush-fetch.yml).
    pub document: String,
    /// credpush's path on the instances.
    pub credpush_path: String,
    /// The KMS key of the SecureString.
    pub kms_key_id: String,
    /// SendCommand's MaxConcurrency.
    pub max_concurrency: String,
    /// SendCommand's MaxErrors.
    pub max_errors: String,
    /// How long the instances have, from the first SendCommand to their final status.
    pub timeout: Duration,
    /// Time between two polls of a command.
    pub poll: Duration,
}

/// Delivers `doc` (the role `role_name`'s credentials, assumed at the stamp beside it) to every group. Returns one report per instance, and
/// whether an AWS call failed (PutParameter, SendCommand: the caller's permissions or the key), which makes the
/// run exit 3. `cancel` ends the polling early (a signal): instances not yet final are then skipped.
pub async fn deliver(
    ssm: &Ssm,
    role_name: &str,
    (doc, stamp): (&CredentialDocument, u64),
    groups: &[Group],
    settings: &Settings,
    cancel: impl Future<Output = ()>,
) -> (Vec<InstanceReport>, bool) {
    let mut reports = Vec::new();
    let mut aws_failed = false;
    let json = doc.to_json_stamped(stamp);
    let expiration = doc.expiration_rfc3339();

    // Phase 1: every parameter once. A failed put sends no command for its groups.
    let mut put_failed: BTreeMap<&str, String> = BTreeMap::new();
    let mut parameters: Vec<&str> = groups.iter().map(|g| g.parameter.as_str()).collect();
    parameters.sort_unstable();
    parameters.dedup();
    for p in parameters {
        match ssm.put_document(p, &json, &settings.kms_key_id).await {
            Ok(version) => tracing::info!(parameter = p, version, "parameter written"),
            Err(e) => {
                aws_failed = true;
                put_failed.insert(p, e.to_string());
            }
        }
    }

    // Phase 2: the commands.
    let started = Instant::now();
    let deadline = started + settings.timeout;
    let mut sent: Vec<Sent> = Vec::new();
    for (gi, g) in groups.iter().enumerate() {
        if let Some(why) = put_failed.get(g.parameter.as_str()) {
            reports.extend(unsent(g, why));
            continue;
        }
        let spec = command_spec(g, role_name, settings);
        let mut batches: Vec<(Recipients, Option<Vec<Instance>>, String)> = g
            .instances
            .chunks(MAX_IDS_PER_COMMAND)
            .map(|c| (Recipients::Ids(c.iter().map(|i| i.id.clone()).collect()), Some(c.to_vec()), String::new()))
            .collect();
        if !g.targets.is_empty() {
            let label = g.targets.iter().map(|(k, v)| format!("{k}={}", v.join(","))).collect::<Vec<_>>().join(" ");
            batches.push((Recipients::Targets(g.targets.clone()), None, label));
        }
        for (to, ids, label) in batches {
            match ssm.send(&spec, &to).await {
                Ok(command_id) => {
                    tracing::info!(command_id, parameter = g.parameter, "command sent");
                    sent.push(Sent {
                        group: gi,
                        command_id,
                        ids,
                        target_label: label,
                        at: Instant::now(),
                        seen: HashMap::new(),
                        done: false,
                    });
                }
                Err(e) => {
                    aws_failed |= matches!(e, Error::Ssm { .. });
                    let why = e.to_string();
                    match ids {
                        Some(ids) => {
                            reports.extend(ids.iter().map(|i| report(g, i, Ending::Failed, 0.0, Some(why.clone()))))
                        }
                        None => reports.push(target_report(g, &label, Ending::Failed, why)),
                    }
                }
            }
        }
    }

    // Phase 3: poll until every command is final, the deadline, or a signal.
    let interrupted = poll_all(ssm, &mut sent, settings.poll, deadline, cancel).await;

    // Phase 4: one report per instance.
    for s in &sent {
        let g = &groups[s.group];
        let expected: Vec<Instance> = match &s.ids {
            Some(ids) => ids.clone(),
            None => {
                let mut ids: Vec<Instance> =
                    s.seen.keys().map(|id| Instance { name: id.clone(), id: id.clone() }).collect();
                ids.sort_by(|a, b| a.id.cmp(&b.id));
                ids
            }
        };
        if expected.is_empty() {
            let why = "no managed instance matched the target within --timeout (check the tag and that the instances are online)";
            reports.push(target_report(g, &s.target_label, Ending::Failed, why.into()));
        }
        for inst in expected {
            let r = match s.seen.get(&inst.id) {
                Some((state, secs)) => judge(ssm, s, g, &inst, state, *secs, interrupted, &expiration).await,
                None if interrupted => report(g, &inst, Ending::Skipped, 0.0, Some(interrupted_reason())),
                None => report(
                    g,
                    &inst,
                    Ending::Unreachable,
                    settings.timeout.as_secs_f64(),
                    Some("SSM listed no invocation for this instance within --timeout".into()),
                ),
            };
            reports.push(r);
        }
    }
    (reports, aws_failed)
}

fn command_spec(g: &Group, role_name: &str, settings: &Settings) -> CommandSpec {
    let mut parameters = vec![
        ("parameterName", g.parameter.clone()),
        ("path", g.path.clone()),
        ("owner", g.owner.clone()),
        ("credpushPath", settings.credpush_path.clone()),
    ];
    if let Some(p) = &g.profile {
        parameters.push(("profileName", p.clone()));
    }
    if let Some(r) = &g.region {
        parameters.push(("region", r.clone()));
    }
    CommandSpec {
        document: settings.document.clone(),
        parameters,
        comment: format!("credpush rotate {role_name}"),
        timeout: settings.timeout,
        max_concurrency: settings.max_concurrency.clone(),
        max_errors: settings.max_errors.clone(),
    }
}

#[cfg(test)]
mod tests;
