//! How an instance's last SSM state becomes its report: SSM's status and details, fetch's one-line reason from the
//! step's output, and the endings fleet maps onto `HostOutcome` (ok, failed, unreachable, skipped, superseded).

use super::poll::Sent;
use super::{Group, Instance};
use crate::ssm::client::{InvocationState, Ssm};

/// Longest reason taken from an instance's output.
const MAX_REASON: usize = 400;

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

/// One instance's report from its last seen state (its stderr is read for the reason when it failed).
#[allow(clippy::too_many_arguments)]
pub(super) async fn judge(
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

pub(super) fn interrupted_reason() -> String {
    "interrupted while SSM was running the command; the instance may still complete it".into()
}

/// fetch's reason: the last non-empty line, without its `credpush: error: ` prefix, escaped and bounded.
pub(super) fn last_line(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).rev().find(|l| !l.is_empty())?;
    let line = line.strip_prefix("credpush: error: ").unwrap_or(line);
    Some(crate::term::escape(&line.chars().take(MAX_REASON).collect::<String>()).into_owned())
}

/// The profile word of fetch's summary line (`…, profile created`).
pub(super) fn profile_word(output: &str) -> Option<&'static str> {
    let tail = output.split(", profile ").nth(1)?;
    ["created", "updated", "unchanged"].into_iter().find(|w| tail.starts_with(w))
}

pub(super) fn report(
    g: &Group,
    inst: &Instance,
    ending: Ending,
    seconds: f64,
    error: Option<String>,
) -> InstanceReport {
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

pub(super) fn target_report(g: &Group, label: &str, ending: Ending, why: String) -> InstanceReport {
    let inst = Instance { name: label.to_owned(), id: label.to_owned() };
    report(g, &inst, ending, 0.0, Some(why))
}

/// The report of an instance (or target) whose command was never sent, e.g. its role's AssumeRole failed.
pub fn not_sent(g: &Group, name: &str, id: &str, why: &str) -> InstanceReport {
    report(g, &Instance { name: name.to_owned(), id: id.to_owned() }, Ending::Failed, 0.0, Some(why.to_owned()))
}

pub(super) fn unsent(g: &Group, why: &str) -> Vec<InstanceReport> {
    let mut out: Vec<InstanceReport> =
        g.instances.iter().map(|i| report(g, i, Ending::Failed, 0.0, Some(why.to_owned()))).collect();
    for (k, v) in &g.targets {
        out.push(target_report(g, &format!("{k}={}", v.join(",")), Ending::Failed, why.to_owned()));
    }
    out
}
