//! One role's delivery through SSM: every parameter of the role written once (PutParameter, SecureString), then
//! SendCommand to each group's instances (at most 50 IDs per command, or up to 5 targets that SSM resolves), then
//! polling the invocations until each instance is final or `--timeout` runs out. Every instance ends as one
//! [`InstanceReport`]; one instance's failure never stops the others.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::client::{CommandSpec, InvocationState, Recipients, Ssm};
use super::targets::MAX_IDS_PER_COMMAND;
use crate::error::Error;
use crate::host::document::CredentialDocument;

/// Longest reason taken from an instance's output.
const MAX_REASON: usize = 400;

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

/// How an instance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// fetch wrote the document.
    Ok,
    /// The instance ran the command, and it failed (or SSM failed for it).
    Failed,
    /// The instance never picked the command up.
    Unreachable,
    /// The run was interrupted before the instance was final.
    Skipped,
    /// fetch left the document alone: a later rotation had written it (not a failure).
    Superseded,
}

/// One instance's line. Holds no secret.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceReport {
    /// The report name.
    pub name: String,
    /// The instance ID (for a target nothing matched: the target).
    pub instance_id: String,
    /// How it ended.
    pub ending: Ending,
    /// Seconds from its SendCommand to the poll that saw it final.
    pub seconds: f64,
    /// The document's path on the instance.
    pub path: String,
    /// The document's expiration, when written.
    pub expiration: Option<String>,
    /// What `--install-profile` did, from fetch's line.
    pub profile: Option<&'static str>,
    /// Why it was not ok.
    pub error: Option<String>,
}

struct Sent {
    group: usize,
    command_id: String,
    /// The IDs sent, or None for targets (SSM resolves them).
    ids: Option<Vec<Instance>>,
    target_label: String,
    at: Instant,
    seen: HashMap<String, (InvocationState, f64)>,
    done: bool,
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

async fn poll_all(
    ssm: &Ssm,
    sent: &mut [Sent],
    every: Duration,
    deadline: Instant,
    cancel: impl Future<Output = ()>,
) -> bool {
    tokio::pin!(cancel);
    loop {
        if sent.iter().all(|s| s.done) {
            return false;
        }
        let wait = every.min(deadline.saturating_duration_since(Instant::now()));
        tokio::select! {
            biased;
            () = &mut cancel => return true,
            () = tokio::time::sleep(wait) => {}
        }
        for s in sent.iter_mut().filter(|s| !s.done) {
            match ssm.invocations(&s.command_id).await {
                Ok(states) => {
                    let secs = s.at.elapsed().as_secs_f64();
                    for (id, st) in states {
                        let keep = s.seen.get(&id).is_some_and(|(old, _)| old.is_final());
                        if !keep {
                            s.seen.insert(id, (st, secs));
                        }
                    }
                    let is_final = |id: &String| s.seen.get(id).is_some_and(|(st, _)| st.is_final());
                    s.done = match &s.ids {
                        Some(ids) => ids.iter().all(|i| is_final(&i.id)),
                        None => !s.seen.is_empty() && s.seen.keys().all(is_final),
                    };
                }
                // A failed poll is retried at the next round; the deadline bounds it.
                Err(e) => tracing::warn!(command_id = s.command_id, "polling failed: {e}"),
            }
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn judge(
    ssm: &Ssm,
    s: &Sent,
    g: &Group,
    inst: &Instance,
    state: &InvocationState,
    secs: f64,
    interrupted: bool,
    expiration: &str,
) -> InstanceReport {
    let status = format!("SSM status {} ({})", state.status, state.details);
    match state.status.as_str() {
        "Success" if state.fetch_output.as_deref().is_some_and(|o| o.contains(crate::host::fetch::SUPERSEDED)) => {
            let line = state.fetch_output.as_deref().and_then(last_line);
            report(g, inst, Ending::Superseded, secs, line)
        }
        "Success" => {
            let mut r = report(g, inst, Ending::Ok, secs, None);
            r.expiration = Some(expiration.to_owned());
            r.profile = state.fetch_output.as_deref().and_then(profile_word);
            r
        }
        "Failed" | "TimedOut" | "Cancelled" => {
            if matches!(state.details.as_str(), "DeliveryTimedOut" | "Undeliverable" | "Terminated") {
                return report(
                    g,
                    inst,
                    Ending::Unreachable,
                    secs,
                    Some(format!("the command was not delivered: {status}")),
                );
            }
            let stderr = ssm.fetch_stderr(&s.command_id, &inst.id).await.ok();
            let from_output = state.fetch_output.as_deref().and_then(|o| o.split("----------ERROR-------").nth(1));
            let reason = stderr.as_deref().and_then(last_line).or_else(|| from_output.and_then(last_line));
            let why = match reason {
                Some(line) => format!("{line} ({status})"),
                None => status,
            };
            report(g, inst, Ending::Failed, secs, Some(why))
        }
        _ if interrupted => report(g, inst, Ending::Skipped, secs, Some(interrupted_reason())),
        "InProgress" | "Cancelling" => {
            report(g, inst, Ending::Failed, secs, Some(format!("still running at --timeout: {status}")))
        }
        _ => report(
            g,
            inst,
            Ending::Unreachable,
            secs,
            Some(format!(
                "the instance did not pick up the command within --timeout: {status} (is its SSM agent running and online?)"
            )),
        ),
    }
}

fn interrupted_reason() -> String {
    "interrupted while SSM was running the command; the instance may still complete it".into()
}

/// fetch's reason: the last non-empty line, without its `credpush: error: ` prefix, escaped and bounded.
fn last_line(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).rev().find(|l| !l.is_empty())?;
    let line = line.strip_prefix("credpush: error: ").unwrap_or(line);
    Some(crate::term::escape(&line.chars().take(MAX_REASON).collect::<String>()).into_owned())
}

/// The profile word of fetch's summary line (`…, profile created`).
fn profile_word(output: &str) -> Option<&'static str> {
    let tail = output.split(", profile ").nth(1)?;
    ["created", "updated", "unchanged"].into_iter().find(|w| tail.starts_with(w))
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

fn report(g: &Group, inst: &Instance, ending: Ending, seconds: f64, error: Option<String>) -> InstanceReport {
    InstanceReport {
        name: inst.name.clone(),
        instance_id: inst.id.clone(),
        ending,
        seconds,
        path: g.path.clone(),
        expiration: None,
        profile: None,
        error,
    }
}

fn target_report(g: &Group, label: &str, ending: Ending, why: String) -> InstanceReport {
    let inst = Instance { name: label.to_owned(), id: label.to_owned() };
    report(g, &inst, ending, 0.0, Some(why))
}

/// The report of an instance (or target) whose command was never sent, e.g. its role's AssumeRole failed.
pub fn not_sent(g: &Group, name: &str, id: &str, why: &str) -> InstanceReport {
    report(g, &Instance { name: name.to_owned(), id: id.to_owned() }, Ending::Failed, 0.0, Some(why.to_owned()))
}

fn unsent(g: &Group, why: &str) -> Vec<InstanceReport> {
    let mut out: Vec<InstanceReport> =
        g.instances.iter().map(|i| report(g, i, Ending::Failed, 0.0, Some(why.to_owned()))).collect();
    for (k, v) in &g.targets {
        out.push(target_report(g, &format!("{k}={}", v.join(",")), Ending::Failed, why.to_owned()));
    }
    out
}

#[cfg(test)]
mod tests;
