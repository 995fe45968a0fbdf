//! `credpush rotate`: inventory → validated targets → one AssumeRole per role (or per host) → fan-out push →
//! report. Everything that can be checked is checked before the first network call.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::cli::{RotateCmd, StsArgs};
use crate::error::{EXIT_AWS, EXIT_HOSTS_FAILED, EXIT_OK, Error, Result};
use crate::fanout::{self, FanoutOptions, HostOutcome, Payload, Status};
use crate::params::{AssumeParams, RoleArn, clean_session_name, parse_span};
use crate::push::SshSettings;
use crate::report;
use crate::sts::{Sts, check_role_chaining};
use crate::target::HostTarget;

/// AssumeRole calls in flight at once with --session-per-host (STS throttles bursts per account).
const STS_CONCURRENCY: usize = 8;

/// One AssumeRole and the hosts (indexes into the target list) that share its credentials.
struct Session {
    params: AssumeParams,
    hosts: Vec<usize>,
}

/// Runs `credpush rotate`; returns the exit code (0 all ok, 1 some host failed, 3 an STS call failed).
pub async fn rotate(cmd: RotateCmd) -> Result<i32> {
    let started = Instant::now();
    let default_role = cmd.role_arn.as_deref().map(RoleArn::parse).transpose()?;
    let timeout_secs = parse_span("--timeout", &cmd.timeout, "expected seconds or a span like 30s, 2m")?;
    if timeout_secs == 0 {
        return Err(Error::invalid("--timeout", &cmd.timeout, "must be at least 1 second"));
    }
    if let Some(p) = &cmd.path {
        crate::target::check_remote_path(p).map_err(|reason| Error::invalid("--path", p, reason))?;
    }
    if let Some(name) = &cmd.install_profile {
        crate::profile::ProfileSpec::new(name, "/", cmd.sts.region.as_deref())?;
    }
    if let Some(every) = &cmd.every {
        warn_schedule(every, &cmd.sts)?;
    }
    let targets = crate::target::load_targets(
        &cmd.inv.inventory,
        cmd.inv.limit.as_deref(),
        |h| cmd.shard.is_none_or(|shard| shard.contains(h)),
        cmd.path.as_deref(),
        default_role.as_ref(),
    )?;
    if let Some(shard) = cmd.shard
        && targets.is_empty()
    {
        // A shard the hash left empty is a normal outcome of a small fleet, not a failed build.
        eprintln!("credpush: shard {shard} holds none of the selected hosts; nothing to do");
        let report = if cmd.json { report::json(&[], 0.0) } else { report::human(&[], 0.0) };
        print!("{report}");
        return Ok(EXIT_OK);
    }
    let sessions = plan_sessions(&targets, &cmd.sts, cmd.session_per_host)?;
    let ssh = SshSettings::for_run(cmd.known_hosts, timeout_secs, cmd.ssh_config.clone())?;
    check_trust_all(&targets, &ssh, usize::from(cmd.forks)).await?;

    if cmd.dry_run {
        print!("{}", dry_run(&targets, &sessions, cmd.json));
        return Ok(EXIT_OK);
    }

    let sts = Sts::connect(cmd.sts.region.as_deref()).await?;
    let caller = sts.caller_identity().await?;
    for s in &sessions {
        check_role_chaining(&caller, &s.params)?;
    }
    let (docs, sts_failed) = assume_all(&sts, &caller, &sessions, targets.len()).await;

    let (cancel_tx, cancel_rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("credpush: interrupted: finishing hosts in flight, starting no new ones");
            let _ = cancel_tx.send(true);
        }
    });
    let opts = Arc::new(FanoutOptions {
        forks: usize::from(cmd.forks),
        timeout: Duration::from_secs(timeout_secs),
        retries: cmd.retries,
        ssh,
        install_profile: cmd.install_profile.clone(),
        profile_region: cmd.sts.region.clone(),
        progress: !cmd.json && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    });
    let mut outcomes = Vec::with_capacity(targets.len());
    let mut jobs = Vec::with_capacity(targets.len());
    for (target, doc) in targets.into_iter().zip(docs) {
        if let Some(why) = &target.unsupported {
            outcomes.push(HostOutcome::not_attempted(&target, Status::Failed, why.clone()));
            continue;
        }
        match doc {
            Ok(payload) => jobs.push((target, payload)),
            Err(message) => outcomes.push(HostOutcome::not_attempted(&target, Status::Failed, message)),
        }
    }
    outcomes.extend(fanout::run(jobs, opts, cancel_rx).await);
    report::sort(&mut outcomes);
    let seconds = started.elapsed().as_secs_f64();
    if cmd.json {
        print!("{}", report::json(&outcomes, seconds));
    } else {
        print!("{}", report::human(&outcomes, seconds));
    }
    Ok(if sts_failed {
        EXIT_AWS
    } else if report::Summary::of(&outcomes).all_ok() {
        EXIT_OK
    } else {
        EXIT_HOSTS_FAILED
    })
}

/// Refuses, before any STS call, hosts whose inventory ssh args would change host key trust (see
/// [`crate::sshargs`]). Runs `ssh -G` for hosts with a `-F` in their args, `forks` at a time.
async fn check_trust_all(targets: &[HostTarget], ssh: &SshSettings, forks: usize) -> Result<()> {
    let sem = Arc::new(Semaphore::new(forks.max(1)));
    let mut set = JoinSet::new();
    for t in targets.iter().filter(|t| t.ssh_args_have_config) {
        let (t, ssh, sem) = (t.clone(), ssh.clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            crate::push::check_trust(&t, &ssh).await.map_err(|reason| (t.name.clone(), t.ssh_args.join(" "), reason))
        });
    }
    let mut refused = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok(Err(r)) = joined {
            refused.push(r);
        }
    }
    refused.sort();
    match refused.into_iter().next() {
        None => Ok(()),
        Some((host, value, reason)) => Err(Error::HostVar { host, var: "ansible_ssh_*_args", value, reason }),
    }
}

/// Groups hosts into AssumeRole calls: one per role, or one per host with CloudTrail-friendly names.
fn plan_sessions(targets: &[HostTarget], sts: &StsArgs, per_host: bool) -> Result<Vec<Session>> {
    if per_host {
        return targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut args = sts.clone();
                args.session_name = Some(clean_session_name(&format!("credpush-{}", t.name)));
                args.source_identity = Some(clean_session_name(&t.name));
                Ok(Session { params: AssumeParams::from_args(t.role_arn.as_str(), &args)?, hosts: vec![i] })
            })
            .collect();
    }
    let mut by_role: BTreeMap<&RoleArn, Vec<usize>> = BTreeMap::new();
    for (i, t) in targets.iter().enumerate() {
        by_role.entry(&t.role_arn).or_default().push(i);
    }
    by_role
        .into_iter()
        .map(|(role, hosts)| Ok(Session { params: AssumeParams::from_args(role.as_str(), sts)?, hosts }))
        .collect()
}

/// Assumes every session, a few at a time. Returns each target's document (or the STS error text), and whether
/// any call failed.
async fn assume_all(
    sts: &Sts,
    caller: &crate::sts::CallerIdentity,
    sessions: &[Session],
    n_targets: usize,
) -> (Vec<std::result::Result<Arc<Payload>, String>>, bool) {
    let sem = Arc::new(Semaphore::new(STS_CONCURRENCY));
    let mut set = JoinSet::new();
    for (i, s) in sessions.iter().enumerate() {
        let (sts, caller, params, sem) = (sts.clone(), caller.clone(), s.params.clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            (i, sts.assume_role(&caller, &params).await)
        });
    }
    let mut docs: Vec<std::result::Result<Arc<Payload>, String>> = vec![Err("not assumed".into()); n_targets];
    let mut failed = false;
    while let Some(joined) = set.join_next().await {
        let Ok((i, result)) = joined else { continue };
        let result = result.map(|doc| Arc::new(Payload::from(&doc))).map_err(|e| {
            failed = true;
            e.to_string()
        });
        for &h in &sessions[i].hosts {
            docs[h] = result.clone();
        }
    }
    (docs, failed)
}

fn dry_run(targets: &[HostTarget], sessions: &[Session], json: bool) -> String {
    let mut rows: Vec<(String, serde_json::Value)> = Vec::new();
    for s in sessions {
        for &h in &s.hosts {
            let t = &targets[h];
            rows.push((
                t.name.clone(),
                serde_json::json!({
                    "host": t.name, "destination": t.destination(), "path": t.path, "role_arn": t.role_arn.as_str(),
                    "session_name": s.params.session_name, "duration_secs": s.params.duration_secs,
                }),
            ));
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    if json {
        let hosts: Vec<_> = rows.into_iter().map(|r| r.1).collect();
        return format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({ "dry_run": true, "hosts": hosts })).unwrap_or_default()
        );
    }
    let mut out = format!(
        "dry run: {} AssumeRole call(s), {} host(s); nothing is called or written\n",
        sessions.len(),
        targets.len()
    );
    for (_, r) in rows {
        out.push_str(&format!(
            "{}: would push to {}:{} credentials for {} (session {}, {}s)\n",
            r["host"].as_str().unwrap_or_default(),
            r["destination"].as_str().unwrap_or_default(),
            r["path"].as_str().unwrap_or_default(),
            r["role_arn"].as_str().unwrap_or_default(),
            r["session_name"].as_str().unwrap_or_default(),
            r["duration_secs"],
        ));
    }
    out
}

/// `rotate --every`: runs `plan`'s check with the default build time and warns on stderr when the schedule is
/// unsafe; the rotation itself goes ahead. The 1-hour role-chaining cap needs no flag here: rotate refuses a
/// longer --duration for a chained caller anyway (see [`check_role_chaining`]).
fn warn_schedule(every: &str, sts: &StsArgs) -> Result<()> {
    let schedule = crate::plan::parse(sts.duration.as_deref(), every, None, false)?;
    if let Some(reason) = crate::plan::check(&schedule).refusal {
        eprintln!("credpush: warning: unsafe schedule: {reason}");
    }
    Ok(())
}
