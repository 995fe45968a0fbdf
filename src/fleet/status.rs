//! `credpush status`: what every host holds right now, without moving a secret. Each host's route hands it to
//! its transport's read-only probe ([`crate::fleet::target::Route::probe`]; over ssh, `templates/remote_status.sh`
//! sends back only the document's mode, owner, size, sha256, field shapes, Expiration and the key id's last 4
//! characters, and the credential_process lines of the credpush-managed profile blocks). Hosts are judged here,
//! against `--warn`. A route without a probe (SSM) gets an `unsupported` row with the reason.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::delivery::Probed;
use crate::fleet::target::HostTarget;
use crate::fleet::{FleetOptions, Selection};
use crate::ssh::settings::SshSettings;

/// A host's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// A valid document with more than `--warn` left, 0600 or tighter, and a profile that reads it.
    Ok,
    /// Valid, but with `--warn` or less left.
    Expiring,
    /// Past its Expiration.
    Expired,
    /// Missing, unreadable, malformed, readable by others, or not what the profile reads.
    Broken,
    /// The host did not answer.
    Unreachable,
    /// Its route has no read-only probe (SSM); the row says why. It does not fail the run: nothing is known to
    /// be wrong with the host, and an inventory that mixes SSH and SSM hosts must be able to exit 0.
    Unsupported,
}

impl State {
    /// The word reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Expiring => "expiring",
            State::Expired => "expired",
            State::Broken => "broken",
            State::Unreachable => "unreachable",
            State::Unsupported => "unsupported",
        }
    }
}

/// One host's line. Holds no secret.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HostStatus {
    /// Inventory hostname.
    pub host: String,
    /// Its state.
    pub state: State,
    /// Absolute path of the document on the host (as configured when unreachable).
    pub path: String,
    /// Expiration, when readable.
    pub expiration: Option<String>,
    /// Seconds left (negative once expired), when readable.
    pub seconds_left: Option<i64>,
    /// Last 4 characters of the access key id.
    pub key_id_last4: Option<String>,
    /// sha256 of the file.
    pub sha256: Option<String>,
    /// Octal mode.
    pub mode: Option<String>,
    /// `uid name`.
    pub owner: Option<String>,
    /// Names of credpush profiles whose credential_process reads this document.
    pub profiles: Vec<String>,
    /// Everything wrong, in words.
    pub problems: Vec<String>,
}

/// Judges one probe answer at `now` with `warn` as the threshold; `profile` names the profile that must read the
/// document (any managed one when `None`).
pub fn judge(host: &str, answer: &str, now: OffsetDateTime, warn: Duration, profile: Option<&str>) -> HostStatus {
    let mut field = std::collections::BTreeMap::new();
    let mut blocks: Vec<(String, Option<String>)> = Vec::new();
    for line in answer.lines() {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        match k {
            "profile" => blocks.push((v.to_owned(), None)),
            "process" => {
                if let Some(last) = blocks.last_mut().filter(|b| b.1.is_none()) {
                    last.1 = Some(v.to_owned());
                }
            }
            "field" => {
                let (name, yes) = v.split_once(' ').unwrap_or((v, ""));
                field.insert(format!("field {name}"), yes.to_owned());
            }
            _ => {
                field.entry(k.to_owned()).or_insert_with(|| v.to_owned());
            }
        }
    }
    let get = |k: &str| field.get(k).filter(|v| !v.is_empty()).cloned();
    let path = get("path").unwrap_or_default();
    let mut s = HostStatus {
        host: host.to_owned(),
        state: State::Ok,
        path: path.clone(),
        expiration: None,
        seconds_left: None,
        key_id_last4: get("keyid"),
        sha256: get("sha256"),
        mode: get("mode"),
        owner: get("owner"),
        profiles: Vec::new(),
        problems: Vec::new(),
    };
    match get("exists").as_deref() {
        Some("yes") => {}
        Some("unreadable") => s.problems.push(format!("{path} exists but cannot be read by the login user")),
        _ => s.problems.push(format!("{path} does not exist: no rotation has reached this host")),
    }
    let owner_uid = s.owner.as_deref().and_then(|o| o.split(' ').next()).map(str::to_owned);
    if let (Some(owner), Some(user)) = (owner_uid, get("user"))
        && owner != user
    {
        s.problems.push(format!(
            "{path} is owned by {}, not by the user that reads it (uid {user}); rotate as that user (ansible_user or ansible_become_user)",
            s.owner.clone().unwrap_or_default()
        ));
    }
    if get("exists").as_deref() == Some("yes") {
        let bad: Vec<&str> = ["version", "keyid", "secret", "token", "closed"]
            .into_iter()
            .filter(|f| get(&format!("field {f}")).as_deref() != Some("yes"))
            .collect();
        let expiration = get("expiration").and_then(|e| OffsetDateTime::parse(&e, &Rfc3339).ok().map(|t| (e, t)));
        match (bad.is_empty(), expiration) {
            (true, Some((text, t))) => {
                let left = (t - now).whole_seconds();
                s.expiration = Some(text);
                s.seconds_left = Some(left);
                if left <= 0 {
                    s.state = State::Expired;
                } else if left <= warn.as_secs() as i64 {
                    s.state = State::Expiring;
                }
            }
            _ => s.problems.push(format!(
                "{path} is not a valid credential document (bad: {}); a torn or foreign write",
                if bad.is_empty() { "Expiration".to_owned() } else { bad.join(", ") }
            )),
        }
        if let Some(m) = s.mode.as_deref().and_then(|m| u32::from_str_radix(m, 8).ok())
            && m & 0o077 != 0
        {
            s.problems.push(format!("{path} is mode {m:04o}: others on the host can read it"));
        }
    }
    let reads_it = |process: &str| crate::host::profile::document_path(process).as_deref() == Some(path.as_str());
    s.profiles = blocks.iter().filter(|(_, p)| p.as_deref().is_some_and(reads_it)).map(|(n, _)| n.clone()).collect();
    match profile {
        Some(want) => match blocks.iter().find(|(n, _)| n == want) {
            None => s.problems.push(format!("profile {want:?} is not in {}", get("config").unwrap_or_default())),
            Some((_, p)) if !p.as_deref().is_some_and(reads_it) => s.problems.push(format!(
                "profile {want:?} does not read {path} (credential_process = {})",
                p.clone().unwrap_or_default()
            )),
            _ => {}
        },
        None if s.profiles.is_empty() => {
            s.problems.push(format!("no credpush profile in {} reads {path}", get("config").unwrap_or_default()))
        }
        None => {}
    }
    if !s.problems.is_empty() && s.state == State::Ok {
        s.state = State::Broken;
    }
    s
}

/// Probes every target, `forks` at a time, each within `timeout`, through the transport its route names.
pub async fn probe_all(
    targets: Vec<HostTarget>,
    ssh: SshSettings,
    forks: usize,
    timeout: Duration,
    config_file: &str,
) -> Vec<(HostTarget, Probed)> {
    let sem = Arc::new(Semaphore::new(forks.max(1)));
    let mut set = JoinSet::new();
    for t in targets {
        let (sem, ssh, config) = (sem.clone(), ssh.clone(), config_file.to_owned());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            // A connection credpush cannot make (winrm, a password) is reported, never attempted.
            let probed = match &t.unsupported {
                Some(why) => Probed::Failed(why.clone()),
                None => t.route.probe(&ssh, &t.path, &config, timeout).await,
            };
            (t, probed)
        });
    }
    let mut out = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok(r) = joined {
            out.push(r);
        }
    }
    out
}

/// A host whose probe gave no answer: unreachable, broken (reached, or not reachable as configured), or
/// unsupported (its route has no read-only probe).
pub fn not_probed(t: &HostTarget, state: State, why: String) -> HostStatus {
    HostStatus {
        host: t.name.clone(),
        state,
        path: t.path.clone(),
        expiration: None,
        seconds_left: None,
        key_id_last4: None,
        sha256: None,
        mode: None,
        owner: None,
        profiles: Vec::new(),
        problems: vec![why],
    }
}

/// A placeholder role: status assumes nothing, but host settings are read the way rotate reads them.
const NO_ROLE: &str = "arn:aws:iam::000000000000:role/credpush-status";

/// What `credpush status` was asked to do, as the command line gave it.
#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// Inventory and selection.
    pub inv: Selection,
    /// `--path`: the document path for hosts without credpush_path.
    pub path: Option<String>,
    /// `--profile`: the profile that must read the document.
    pub profile: Option<String>,
    /// `--warn`: a span; a host with this much or less left is expiring.
    pub warn: String,
    /// Fan-out and ssh settings.
    pub fleet: FleetOptions,
    /// `--prometheus`: a textfile-collector file to write.
    pub prometheus: Option<std::path::PathBuf>,
    /// `--json`.
    pub json: bool,
}

/// Runs `credpush status`; returns the exit code.
pub async fn run(cmd: StatusOptions) -> crate::error::Result<i32> {
    use crate::error::Error;
    let warn = crate::duration::parse_span("--warn", &cmd.warn, "expected a span like 20m, 1h")?;
    let timeout =
        crate::duration::parse_span("--timeout", &cmd.fleet.timeout, "expected seconds or a span like 30s, 2m")?.max(1);
    if let Some(p) = &cmd.path {
        crate::fleet::target::check_remote_path(p).map_err(|reason| Error::invalid("--path", p, reason))?;
    }
    if let Some(out) = &cmd.prometheus {
        crate::host::fsutil::check_writable("--prometheus", out)?;
    }
    let fds = crate::fleet::limits::prepare(usize::from(cmd.fleet.forks))?;
    let role = crate::aws::params::RoleArn::parse(NO_ROLE)?;
    let targets = crate::fleet::target::load_targets(
        &cmd.inv.inventory,
        cmd.inv.limit.as_deref(),
        |_| true,
        cmd.path.as_deref(),
        Some(&role),
    )?;
    if cmd.fleet.no_inventory_commands {
        crate::fleet::target::refuse_inventory_commands(&targets)?;
    }
    let ssh = SshSettings::for_run(cmd.fleet.known_hosts, timeout, cmd.fleet.ssh_config.clone())?;
    // A probe reads what a host says about its document: a host whose trust the inventory changed could say
    // anything, so status refuses such args as rotate does.
    crate::fleet::trust::check_all(&targets, &ssh, fds.forks).await?;
    let now = OffsetDateTime::now_utc();
    let probed = probe_all(targets, ssh, fds.forks, Duration::from_secs(timeout), "~/.aws/config").await;
    let mut report: Vec<HostStatus> = probed
        .into_iter()
        .map(|(t, r)| match r {
            Probed::Answer(answer) => judge(&t.name, &answer, now, Duration::from_secs(warn), cmd.profile.as_deref()),
            Probed::Unreachable(why) => not_probed(&t, State::Unreachable, why),
            Probed::Failed(why) => not_probed(&t, State::Broken, why),
            Probed::Unsupported(why) => not_probed(&t, State::Unsupported, why),
        })
        .collect();
    report.sort_by(|a, b| a.host.cmp(&b.host));
    if let Some(file) = &cmd.prometheus {
        crate::host::fsutil::write_atomic(
            file,
            crate::fleet::status_report::prometheus(&report, now).as_bytes(),
            0o644,
        )?;
    }
    let text = if cmd.json {
        format!("{}\n", serde_json::to_string_pretty(&serde_json::json!({ "hosts": report })).unwrap_or_default())
    } else {
        crate::fleet::status_report::human(&report)
    };
    crate::term::print(&text)?;
    Ok(if report.iter().all(|h| matches!(h.state, State::Ok | State::Unsupported)) {
        crate::error::EXIT_OK
    } else {
        crate::error::EXIT_HOSTS_FAILED
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-28 06:00 UTC);

    fn answer(mode: &str, exp: &str, process: &str) -> String {
        format!(
            "path /h/.aws/temp.json\nexists yes\nmode {mode}\nowner 1001 u\nsize 800\nsha256 ab\nfield version yes\nfield keyid yes\nfield secret yes\nfield token yes\nfield closed yes\nexpiration {exp}\nkeyid WXYZ\nconfig /h/.aws/config\nprofile onprem\nprocess {process}\n"
        )
    }

    #[test]
    fn judges_each_state() {
        let warn = Duration::from_secs(20 * 60);
        let ok = judge("a", &answer("600", "2026-11-28T07:00:00Z", "cat /h/.aws/temp.json"), NOW, warn, None);
        assert_eq!(
            (ok.state, ok.seconds_left, ok.profiles.clone()),
            (State::Ok, Some(3600), vec!["onprem".to_owned()])
        );
        let soon = judge("a", &answer("600", "2026-11-28T06:10:00Z", "cat /h/.aws/temp.json"), NOW, warn, None);
        assert_eq!(soon.state, State::Expiring);
        let gone = judge("a", &answer("600", "2026-11-28T05:00:00Z", "cat /h/.aws/temp.json"), NOW, warn, None);
        assert_eq!(gone.state, State::Expired);
        let loose = judge("a", &answer("644", "2026-11-28T07:00:00Z", "cat /h/.aws/temp.json"), NOW, warn, None);
        assert_eq!(
            (loose.state, loose.problems[0].as_str()),
            (State::Broken, "/h/.aws/temp.json is mode 0644: others on the host can read it")
        );
        let tilde =
            judge("a", &answer("600", "2026-11-28T07:00:00Z", "cat ~/.aws/temp.json"), NOW, warn, Some("onprem"));
        assert_eq!(
            tilde.problems,
            ["profile \"onprem\" does not read /h/.aws/temp.json (credential_process = cat ~/.aws/temp.json)"]
        );
        let torn = answer("600", "2026-11-28T07:00:00Z", "cat /h/.aws/temp.json")
            .replace("field closed yes", "field closed no");
        assert_eq!(
            judge("a", &torn, NOW, warn, None).problems[0],
            "/h/.aws/temp.json is not a valid credential document (bad: closed); a torn or foreign write"
        );
    }
}
