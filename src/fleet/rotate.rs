//! `credpush rotate`: inventory → validated targets → one AssumeRole per role (or per host) → fan-out push →
//! report. Everything that can be checked is checked before the first network call. Hosts are pushed to as soon
//! as their role's credentials are in; SIGINT, SIGTERM and SIGHUP stop the run with a report (see `signals`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::aws::params::{AssumeParams, RoleArn, StsFlags, StsLimits, clean_session_name};
use crate::aws::sts::{Sts, check_role_chaining};
use crate::delivery::stop::Stop;
use crate::delivery::{HostOutcome, Payload, Status};
use crate::duration::parse_span;
use crate::error::{EXIT_OK, Error, Result};
use crate::fleet::fanout::{self, FanoutOptions, not_attempted};
use crate::fleet::report::{Finished, Ran};
use crate::fleet::shard::Shard;
use crate::fleet::signals;
use crate::fleet::ssm::{SsmJob, SsmOptions};
use crate::fleet::target::{HostTarget, Route};
use crate::fleet::{FleetOptions, Selection, limits, report};
use crate::ssh::deliver::DeliverOptions;
use crate::ssh::settings::SshSettings;
use crate::ssm::deliver::Group;
use crate::term;

/// What `credpush rotate` was asked to do, as the command line gave it.
#[derive(Debug, Clone)]
pub struct RotateOptions {
    /// Inventory and selection.
    pub inv: Selection,
    /// `--role-arn`: the role for hosts without credpush_role_arn.
    pub role_arn: Option<String>,
    /// The STS flags.
    pub sts: StsFlags,
    /// `--path`: the target for hosts without credpush_path.
    pub path: Option<String>,
    /// Fan-out and ssh settings.
    pub fleet: FleetOptions,
    /// `--retries`: extra connection attempts for hosts that do not answer.
    pub retries: u32,
    /// `--install-profile`.
    pub install_profile: Option<String>,
    /// `--session-per-host`.
    pub session_per_host: bool,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--json`.
    pub json: bool,
    /// `--shard`.
    pub shard: Option<Shard>,
    /// `--every`.
    pub every: Option<String>,
    /// The SSM transport's flags (`--ssm-targets`, `--parameter`, `--owner`, ...).
    pub ssm: SsmOptions,
    /// `--format`: the document, or a section of each host's credentials file.
    pub format: crate::delivery::Format,
    /// `--helper`: the writer's helper program for SSH hosts (`none`: the shell writer alone).
    pub helper: Option<String>,
}

mod dry_run;
mod format;

/// AssumeRole calls in flight at once with --session-per-host (STS throttles bursts per account).
const STS_CONCURRENCY: usize = 8;

/// One AssumeRole and the hosts (indexes into the target list) that share its credentials.
struct Session {
    params: AssumeParams,
    hosts: Vec<usize>,
}

/// Runs `credpush rotate` and prints its report; returns the exit code (0 all ok, 1 some host failed or was
/// skipped, 3 an STS call failed).
pub async fn rotate(cmd: RotateOptions) -> Result<i32> {
    match run(&cmd).await? {
        Ran::Text(text) => {
            term::print(&text)?;
            Ok(EXIT_OK)
        }
        Ran::Done(done) => {
            term::print(&done.render(cmd.json))?;
            Ok(done.exit_code())
        }
    }
}

/// Runs the rotation and returns how it ended, printing nothing on stdout: the front ends (the command line, the
/// Lambda handler) render it.
pub async fn run(cmd: &RotateOptions) -> Result<Ran> {
    let started = Instant::now();
    let default_role = cmd.role_arn.as_deref().map(RoleArn::parse).transpose()?;
    let timeout_secs = parse_span("--timeout", &cmd.fleet.timeout, "expected seconds or a span like 30s, 2m")?;
    if timeout_secs == 0 {
        return Err(Error::invalid("--timeout", &cmd.fleet.timeout, "must be at least 1 second"));
    }
    let sts_limits = StsLimits::from_flags(&cmd.sts)?;
    if let Some(p) = &cmd.path {
        crate::fleet::target::check_remote_path(p).map_err(|reason| Error::invalid("--path", p, reason))?;
    }
    if let Some(name) = &cmd.install_profile {
        crate::host::profile::ProfileSpec::new(name, "/checked/temp.json", cmd.sts.region.as_deref())?;
    }
    let default_path = format::check(cmd)?;
    if let Some(every) = &cmd.every {
        warn_schedule(every, &cmd.sts)?;
    }
    // Before anything opens files or starts ssh: a limit that fits no host is refused here, by name.
    let fds = limits::prepare(usize::from(cmd.fleet.forks))?;
    let ssm_role = cmd.ssm.check(default_role.as_ref())?;
    // --ssm-targets alone needs no inventory.
    let targets = if cmd.inv.inventory.is_empty() && ssm_role.is_some() {
        Vec::new()
    } else {
        crate::fleet::target::load_targets(
            &cmd.inv.inventory,
            cmd.inv.limit.as_deref(),
            |h| cmd.shard.is_none_or(|shard| shard.contains(h)),
            default_path,
            default_role.as_ref(),
        )?
    };
    format::refuse_ssm_hosts(cmd.format, &targets)?;
    if cmd.fleet.no_inventory_commands {
        crate::fleet::target::refuse_inventory_commands(&targets)?;
    }
    if let Some(shard) = cmd.shard
        && targets.is_empty()
    {
        // A shard the hash left empty is a normal outcome of a small fleet, not a failed build.
        eprintln!("credpush: shard {shard} holds none of the selected hosts; nothing to do");
        return Ok(Ran::Done(Finished { outcomes: Vec::new(), seconds: 0.0, aws_failed: false }));
    }
    let mut sessions = plan_sessions(&targets, &cmd.sts, cmd.session_per_host)?;
    if let Some(role) = &ssm_role
        && !sessions.iter().any(|s| s.params.role_arn == *role)
    {
        sessions.push(Session { params: AssumeParams::from_flags(role.as_str(), &cmd.sts)?, hosts: Vec::new() });
    }
    let roles: Vec<_> = sessions.iter().map(|s| (&s.params.role_arn, s.hosts.as_slice())).collect();
    let defaults = (cmd.path.as_deref(), cmd.install_profile.as_deref(), cmd.sts.region.as_deref());
    let ssm_groups = crate::fleet::ssm::plan(&roles, &targets, ssm_role.as_ref(), &cmd.ssm, defaults)?;
    let mut ssh = SshSettings::for_run(cmd.fleet.known_hosts, timeout_secs, cmd.fleet.ssh_config.clone())?;
    ssh.helper = crate::ssh::helper::Helper::for_run(cmd.helper.as_deref())?;
    crate::fleet::trust::check_all(&targets, &ssh, fds.forks).await?;

    if cmd.dry_run {
        return Ok(Ran::Text(dry_run::dry_run(&targets, &sessions, cmd.json)));
    }

    // From the first network call on, a signal ends the run with a report instead of killing it.
    let mut stop = signals::listen();
    tracing::info!(
        soft = fds.soft,
        raised_from = fds.soft_before,
        hard = fds.hard.map_or_else(|| "unlimited".into(), |h| h.to_string()),
        per_host = limits::FDS_PER_HOST,
        forks = fds.forks,
        asked = cmd.fleet.forks,
        "open file limit"
    );
    if fds.forks < usize::from(cmd.fleet.forks) {
        tracing::info!(
            "--forks {} capped to {}: the open file limit of {} leaves room for {} hosts in flight at {} descriptors \
             each (raise the hard limit, e.g. ulimit -Hn, for more)",
            cmd.fleet.forks,
            fds.forks,
            fds.soft,
            fds.forks,
            limits::FDS_PER_HOST
        );
    }

    let caller_phase = async {
        let sts = Sts::connect(cmd.sts.region.as_deref(), sts_limits).await?;
        let caller = sts.caller_identity().await?;
        for s in &sessions {
            check_role_chaining(&caller, &s.params)?;
        }
        Ok::<_, Error>((sts, caller))
    };
    let (sts, caller) = tokio::select! {
        ready = caller_phase => ready?,
        () = crate::delivery::stop::reached(&mut stop, Stop::Drain) => {
            eprintln!("credpush: interrupted before any AssumeRole call: no host was contacted");
            let outcomes = targets.iter().map(fanout::skipped).collect();
            return Ok(finish(outcomes, started, false));
        }
    };
    let opts = Arc::new(FanoutOptions {
        forks: fds.forks,
        ssh: DeliverOptions {
            timeout: Duration::from_secs(timeout_secs),
            retries: cmd.retries,
            ssh,
            open_file_limit: Some(fds.soft),
        },
        install_profile: cmd.install_profile.clone(),
        profile_region: cmd.sts.region.clone(),
        format: cmd.format,
        progress: !cmd.json && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    });
    // Hosts start as soon as their session's credentials are in, while other sessions are still being assumed.
    let (jobs, queue) = mpsc::unbounded_channel();
    let (ssm_jobs, ssm_queue) = mpsc::unbounded_channel();
    let ssm = ssm_groups.iter().any(|g| !g.is_empty()).then(|| crate::ssm::client::Ssm::new(sts.sdk_config()));
    let ssm_settings = crate::fleet::ssm::settings(&cmd.ssm, Duration::from_secs(timeout_secs));
    let feed = assume_all(&sts, &caller, (&sessions, &ssm_groups), &targets, (jobs, ssm_jobs), stop.clone());
    let through_ssm = crate::fleet::ssm::run(ssm_queue, ssm, ssm_settings, stop.clone());
    let push = fanout::run(queue, targets.len(), opts, stop);
    let ((mut outcomes, sts_failed), pushed, (delivered, ssm_failed)) = tokio::join!(feed, push, through_ssm);
    outcomes.extend(pushed);
    outcomes.extend(delivered);
    Ok(finish(outcomes, started, sts_failed || ssm_failed))
}

/// Sorts the outcomes for the report.
fn finish(mut outcomes: Vec<HostOutcome>, started: Instant, aws_failed: bool) -> Ran {
    report::sort(&mut outcomes);
    Ran::Done(Finished { outcomes, seconds: started.elapsed().as_secs_f64(), aws_failed })
}

/// Groups hosts into AssumeRole calls: one per role, or one per host with CloudTrail-friendly names.
fn plan_sessions(targets: &[HostTarget], sts: &StsFlags, per_host: bool) -> Result<Vec<Session>> {
    if per_host {
        return targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut args = sts.clone();
                args.session_name = Some(clean_session_name(&format!("credpush-{}", t.name)));
                args.source_identity = Some(clean_session_name(&t.name));
                Ok(Session { params: AssumeParams::from_flags(t.role_arn.as_str(), &args)?, hosts: vec![i] })
            })
            .collect();
    }
    let mut by_role: BTreeMap<&RoleArn, Vec<usize>> = BTreeMap::new();
    for (i, t) in targets.iter().enumerate() {
        by_role.entry(&t.role_arn).or_default().push(i);
    }
    by_role
        .into_iter()
        .map(|(role, hosts)| Ok(Session { params: AssumeParams::from_flags(role.as_str(), sts)?, hosts }))
        .collect()
}

/// Assumes every session, a few at a time, and sends each host to `jobs` as soon as its session's credentials
/// are in: SSH and local hosts to the fan-out, each session's SSM groups to the SSM transport. Returns an outcome
/// for every host that was not sent (its session failed, or the run was interrupted first), and whether any call
/// failed. At the first signal no new call starts and calls in flight are dropped.
async fn assume_all(
    sts: &Sts,
    caller: &crate::aws::sts::CallerIdentity,
    (sessions, ssm_groups): (&[Session], &[Vec<Group>]),
    targets: &[HostTarget],
    (jobs, ssm_jobs): (mpsc::UnboundedSender<fanout::Job>, mpsc::UnboundedSender<SsmJob>),
    mut stop: watch::Receiver<Stop>,
) -> (Vec<HostOutcome>, bool) {
    let sem = Arc::new(Semaphore::new(STS_CONCURRENCY));
    let mut set = JoinSet::new();
    for (i, s) in sessions.iter().enumerate() {
        let (sts, caller, params, sem) = (sts.clone(), caller.clone(), s.params.clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            // The stamp is taken before the call: a rotation that starts its call later is the later one.
            let stamp = crate::delivery::now_stamp();
            (i, sts.assume_role(&caller, &params).await.map(|doc| (doc, stamp)))
        });
    }
    let mut outcomes = Vec::new();
    let mut done = vec![false; sessions.len()];
    let mut failed = false;
    loop {
        let joined = tokio::select! {
            biased;
            () = crate::delivery::stop::reached(&mut stop, Stop::Drain) => break,
            joined = set.join_next() => match joined {
                Some(joined) => joined,
                None => break,
            },
        };
        // A panicked call is a bug; its hosts are reported below.
        let Ok((i, result)) = joined else { continue };
        done[i] = true;
        for &h in &sessions[i].hosts {
            // A host whose connection credpush cannot drive fails alone, whatever STS said.
            if let Some(why) = &targets[h].unsupported {
                outcomes.push(not_attempted(&targets[h], Status::Failed, why.clone()));
            }
        }
        let hosts = sessions[i].hosts.iter().copied().filter(|&h| targets[h].unsupported.is_none());
        let role_arn = sessions[i].params.role_arn.to_string();
        match result {
            Ok((doc, stamp)) => {
                let payload = Arc::new(Payload::assumed_at(&doc, stamp));
                let groups = ssm_groups[i].clone();
                // SSM hosts are in the groups; a closed SSM queue cannot happen before this loop ends.
                if !groups.is_empty() {
                    let _ = ssm_jobs.send(SsmJob { role_arn, doc: Arc::new(doc), stamp, groups });
                }
                for h in hosts.filter(|&h| !matches!(targets[h].route, Route::Ssm(_))) {
                    // A closed queue means the fan-out stopped at a signal: the host never starts.
                    if let Err(mpsc::error::SendError((target, _))) = jobs.send((targets[h].clone(), payload.clone())) {
                        outcomes.push(fanout::skipped(&target));
                    }
                }
            }
            Err(e) => {
                failed = true;
                let message = e.to_string();
                for h in hosts {
                    outcomes.push(not_attempted(&targets[h], Status::Failed, message.clone()));
                }
                outcomes.extend(crate::fleet::ssm::flag_targets_failed(&ssm_groups[i], &role_arn, &message));
            }
        }
    }
    set.abort_all();
    let stopped = *stop.borrow() >= Stop::Drain;
    for (s, _) in sessions.iter().zip(&done).filter(|(_, done)| !**done) {
        for &h in &s.hosts {
            outcomes.push(if stopped {
                fanout::skipped(&targets[h])
            } else {
                not_attempted(&targets[h], Status::Failed, "internal error: the STS call panicked".into())
            });
        }
    }
    (outcomes, failed)
}

/// `rotate --every`: runs `plan`'s check with the default build time and warns on stderr when the schedule is
/// unsafe; the rotation itself goes ahead. The 1-hour role-chaining cap needs no flag here: rotate refuses a
/// longer --duration for a chained caller anyway (see [`check_role_chaining`]).
fn warn_schedule(every: &str, sts: &StsFlags) -> Result<()> {
    let schedule = crate::fleet::plan::parse(sts.duration.as_deref(), every, None, false)?;
    if let Some(reason) = crate::fleet::plan::check(&schedule).refusal {
        eprintln!("credpush: warning: unsafe schedule: {reason}");
    }
    Ok(())
}
