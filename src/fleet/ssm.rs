//! The SSM hosts of a rotation: inventory hosts whose route is SSM, and the `--ssm-targets` of the command line
//! (delivered with `--role-arn`'s credentials). Each role's hosts are grouped by what their command carries
//! (parameter, path, owner, profile), so that hosts sharing a role and a parameter share one PutParameter and as
//! few SendCommands as SSM's limits allow. The transport ([`crate::ssm::deliver`]) does the rest.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::aws::params::RoleArn;
use crate::delivery::stop::{Stop, reached};
use crate::delivery::{HostOutcome, Status};
use crate::error::{Error, Result};
use crate::fleet::target::{HostTarget, Route};
use crate::host::document::CredentialDocument;
use crate::ssm::client::Ssm;
use crate::ssm::deliver::{Ending, Group, Instance, InstanceReport, Settings, deliver};
use crate::ssm::targets::{SsmTarget, check_count};

/// `rotate`'s SSM flags, checked by [`SsmOptions::check`].
#[derive(Debug, Clone, Default)]
pub struct SsmOptions {
    /// `--ssm-targets` (with `--role-arn`, `--path`, `--owner`).
    pub targets: Vec<SsmTarget>,
    /// `--parameter` (default `/credpush/<role name>`).
    pub parameter: Option<String>,
    /// `--kms-key-id`.
    pub kms_key_id: String,
    /// `--ssm-document`.
    pub document: String,
    /// `--ssm-credpush-path`.
    pub credpush_path: String,
    /// `--max-concurrency`.
    pub max_concurrency: String,
    /// `--max-errors`.
    pub max_errors: String,
    /// `--owner`: the document's owner for `--ssm-targets` and for SSM hosts without `ansible_become_user`.
    pub owner: Option<String>,
}

impl SsmOptions {
    /// Checks every flag against what SendCommand and the document accept, before any call. Returns the role
    /// of `--ssm-targets` (`--role-arn`, required with them).
    pub fn check(&self, role_arn: Option<&RoleArn>) -> Result<Option<RoleArn>> {
        check_count(&self.targets)?;
        let flag_role = match (role_arn, self.targets.is_empty()) {
            (_, true) => None,
            (Some(role), false) => Some(role.clone()),
            (None, false) => {
                let why = "needs --role-arn: the role whose credentials the targets receive";
                return Err(Error::invalid("--ssm-targets", "", why));
            }
        };
        if let Some(p) = &self.parameter {
            check_parameter(p)?;
        }
        if let Some(o) = &self.owner
            && !crate::ssm::host::valid_user(o)
        {
            return Err(Error::invalid("--owner", o, "expected a local user name (letters, digits, _ and -)"));
        }
        let rate = |flag: &'static str, v: &str, zero: bool| {
            let (n, pct) = v.strip_suffix('%').map_or((v, false), |n| (n, true));
            let ok = n.parse::<u32>().is_ok_and(|n| (zero || n > 0) && (!pct || n <= 100)) && !n.starts_with('+');
            if ok { Ok(()) } else { Err(Error::invalid(flag, v, "expected a number or a percentage, e.g. 50 or 10%")) }
        };
        rate("--max-concurrency", &self.max_concurrency, false)?;
        rate("--max-errors", &self.max_errors, true)?;
        let name_ok = (3..=128).contains(&self.document.len())
            && self.document.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !name_ok {
            return Err(Error::invalid(
                "--ssm-document",
                &self.document,
                "expected a document name (3 to 128 of A-Z a-z 0-9 _ . -)",
            ));
        }
        if !self.credpush_path.starts_with('/') || !safe_chars(&self.credpush_path) {
            return Err(Error::invalid(
                "--ssm-credpush-path",
                &self.credpush_path,
                "expected the absolute path of credpush on the instances",
            ));
        }
        if !self.kms_key_id.is_empty() && self.kms_key_id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid(
                "--kms-key-id",
                &self.kms_key_id,
                "expected a key ID, key ARN, alias name or alias ARN",
            ));
        }
        Ok(flag_role)
    }
}

/// What the document's allowedPatterns admit in paths and names: no quote, space or shell metacharacter.
fn safe_chars(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))
}

fn check_parameter(p: &str) -> Result<()> {
    if !p.starts_with('/') || p.len() > 1011 || !safe_chars(p) || p.contains("//") || p.ends_with('/') {
        return Err(Error::invalid(
            "--parameter",
            p,
            "expected a parameter name such as /credpush/deploy (A-Z a-z 0-9 _ . - /)",
        ));
    }
    Ok(())
}

/// The parameter of a role when `--parameter` is not given: `/credpush/<role name>`.
pub fn default_parameter(role: &RoleArn) -> String {
    let name = role.as_str().rsplit('/').next().unwrap_or("credpush");
    format!("/credpush/{name}")
}

/// One role's SSM work, sent to [`run`] once its credentials are in.
#[derive(Debug)]
pub struct SsmJob {
    /// The role.
    pub role_arn: String,
    /// Its credentials.
    pub doc: Arc<CredentialDocument>,
    /// When its role was assumed (see [`crate::delivery::Payload::stamp`]): the parameter carries it to `fetch`.
    pub stamp: u64,
    /// Its groups.
    pub groups: Vec<Group>,
}

/// The SSM groups of each session (`roles`: its role and hosts), empty for a session without SSM hosts. The
/// `--ssm-targets` go with the first session of `flag_role`. `defaults` are `--path`, `--install-profile` and
/// `--region`. Everything is checked here, before any call.
pub fn plan(
    roles: &[(&RoleArn, &[usize])],
    targets: &[HostTarget],
    flag_role: Option<&RoleArn>,
    opts: &SsmOptions,
    defaults: (Option<&str>, Option<&str>, Option<&str>),
) -> Result<Vec<Vec<Group>>> {
    let flags = (defaults.0.unwrap_or(crate::fleet::target::DEFAULT_PATH), defaults.1, defaults.2);
    let mut placed = false;
    let mut out: Vec<Vec<Group>> = Vec::new();
    let mut carried: BTreeMap<String, &RoleArn> = BTreeMap::new();
    for (role, hosts) in roles {
        let with_flags = !placed && flag_role == Some(*role);
        placed |= with_flags;
        let gs = groups(targets, hosts, with_flags, role, opts, flags)?;
        // One parameter holds one session's document: a second session would overwrite the first.
        let mine: std::collections::BTreeSet<&str> = gs.iter().map(|g| g.parameter.as_str()).collect();
        for p in mine {
            if let Some(first) = carried.insert(p.to_owned(), role) {
                let why =
                    if first == *role { "--session-per-host gives each host its own session" } else { "two roles" };
                return Err(Error::invalid(
                    "--parameter",
                    p,
                    format!(
                        "would carry the credentials of two sessions ({why}); give each role its own --parameter, and do not combine --session-per-host with SSM hosts"
                    ),
                ));
            }
        }
        out.push(gs);
    }
    Ok(out)
}

/// Report lines for the `--ssm-targets` of `groups` when their role's AssumeRole failed (inventory hosts get
/// theirs from the rotation).
pub fn flag_targets_failed(groups: &[Group], role_arn: &str, why: &str) -> Vec<HostOutcome> {
    let mut out = Vec::new();
    for g in groups {
        // Inventory instances carry their inventory name; the flags' carry their ID as name.
        for i in g.instances.iter().filter(|i| i.name == i.id) {
            out.push(outcome(crate::ssm::deliver::not_sent(g, &i.name, &i.id, why), role_arn));
        }
        for (k, v) in &g.targets {
            let label = format!("{k}={}", v.join(","));
            out.push(outcome(crate::ssm::deliver::not_sent(g, &label, &label, why), role_arn));
        }
    }
    out
}

/// The groups of one session: its SSM hosts (indexes into `targets`) and, with `flags`, the `--ssm-targets`.
/// Checks what the document will be given: paths, profiles and owners that its allowedPatterns admit.
fn groups(
    targets: &[HostTarget],
    hosts: &[usize],
    with_flags: bool,
    role: &RoleArn,
    opts: &SsmOptions,
    flags: (&str, Option<&str>, Option<&str>),
) -> Result<Vec<Group>> {
    let (default_path, install_profile, region) = flags;
    let parameter = opts.parameter.clone().unwrap_or_else(|| default_parameter(role));
    check_parameter(&parameter)?;
    let mut by_key: BTreeMap<GroupKey, Group> = BTreeMap::new();
    for &i in hosts {
        let t = &targets[i];
        let Route::Ssm(host) = &t.route else { continue };
        if !safe_chars(t.path.trim_start_matches("~/")) {
            return Err(Error::HostVar {
                host: t.name.clone(),
                var: "credpush_path",
                value: t.path.clone(),
                reason: "an SSM host's path may hold only A-Z a-z 0-9 _ . - / (the document's allowedPattern)".into(),
            });
        }
        let owner = host.owner.as_deref().or(opts.owner.as_deref()).unwrap_or("root");
        let profile = t.profile.as_deref().or(install_profile);
        let g = entry(&mut by_key, &parameter, (&t.path, owner, profile, t.profile_region.as_deref().or(region)));
        g.instances.push(Instance { name: t.name.clone(), id: host.instance_id.clone() });
    }
    if with_flags && !opts.targets.is_empty() {
        if !safe_chars(default_path.trim_start_matches("~/")) {
            return Err(Error::invalid("--path", default_path, "an SSM path may hold only A-Z a-z 0-9 _ . - /"));
        }
        let owner = opts.owner.as_deref().unwrap_or("root");
        let g = entry(&mut by_key, &parameter, (default_path, owner, install_profile, region));
        for t in &opts.targets {
            match t {
                SsmTarget::InstanceIds(ids) => {
                    g.instances.extend(ids.iter().map(|id| Instance { name: id.clone(), id: id.clone() }));
                }
                SsmTarget::Key { key, values } => g.targets.push((key.clone(), values.clone())),
            }
        }
    }
    Ok(by_key.into_values().collect())
}

type GroupKey = (String, String, Option<String>, Option<String>);

/// The group for (path, owner, profile, region), created empty the first time.
fn entry<'a>(
    by_key: &'a mut BTreeMap<GroupKey, Group>,
    parameter: &str,
    (path, owner, profile, region): (&str, &str, Option<&str>, Option<&str>),
) -> &'a mut Group {
    let key = (path.to_owned(), owner.to_owned(), profile.map(str::to_owned), region.map(str::to_owned));
    by_key.entry(key).or_insert_with(|| Group {
        parameter: parameter.to_owned(),
        path: path.to_owned(),
        owner: owner.to_owned(),
        profile: profile.map(str::to_owned),
        region: region.map(str::to_owned),
        instances: Vec::new(),
        targets: Vec::new(),
    })
}

/// Runs each role's SSM delivery as its credentials arrive, until the sender is dropped. Returns one outcome per
/// instance, and whether an AWS call failed (exit 3). At [`Stop::Drain`] the polling ends, and instances not yet
/// final are reported skipped.
pub async fn run(
    mut jobs: mpsc::UnboundedReceiver<SsmJob>,
    ssm: Option<Ssm>,
    settings: Settings,
    stop: watch::Receiver<Stop>,
) -> (Vec<HostOutcome>, bool) {
    let mut set = JoinSet::new();
    while let Some(job) = jobs.recv().await {
        let Some(ssm) = ssm.clone() else { continue };
        let (settings, mut stop) = (settings.clone(), stop.clone());
        set.spawn(async move {
            let role_name = job.role_arn.rsplit('/').next().unwrap_or_default().to_owned();
            let cancel = async move { reached(&mut stop, Stop::Drain).await };
            let (reports, failed) =
                deliver(&ssm, &role_name, (&job.doc, job.stamp), &job.groups, &settings, cancel).await;
            (reports.into_iter().map(|r| outcome(r, &job.role_arn)).collect::<Vec<_>>(), failed)
        });
    }
    let mut outcomes = Vec::new();
    let mut failed = false;
    while let Some(joined) = set.join_next().await {
        // A panicked delivery is a bug; its instances are missing from the report, which the caller notices.
        if let Ok((o, f)) = joined {
            outcomes.extend(o);
            failed |= f;
        }
    }
    (outcomes, failed)
}

fn outcome(r: InstanceReport, role_arn: &str) -> HostOutcome {
    HostOutcome {
        host: r.name,
        destination: format!("ssm:{}", r.instance_id),
        status: match r.ending {
            Ending::Ok => Status::Ok,
            Ending::Failed => Status::Failed,
            Ending::Unreachable => Status::Unreachable,
            Ending::Skipped => Status::Skipped,
            Ending::Superseded => Status::Superseded,
        },
        seconds: r.seconds,
        path: r.path,
        expiration: r.expiration,
        role_arn: role_arn.to_owned(),
        attempts: 1,
        profile: r.profile,
        error: r.error,
    }
}

/// The transport's settings from the flags and the run's `--timeout`.
pub fn settings(opts: &SsmOptions, timeout: Duration) -> Settings {
    Settings {
        document: opts.document.clone(),
        credpush_path: opts.credpush_path.clone(),
        kms_key_id: opts.kms_key_id.clone(),
        max_concurrency: opts.max_concurrency.clone(),
        max_errors: opts.max_errors.clone(),
        timeout,
        poll: Duration::from_secs(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> SsmOptions {
        SsmOptions {
            targets: vec![SsmTarget::InstanceIds(vec!["mi-0123456789abcdef0".into()])],
            parameter: None,
            kms_key_id: crate::ssm::DEFAULT_KMS_KEY.into(),
            document: crate::ssm::DEFAULT_DOCUMENT.into(),
            credpush_path: crate::ssm::DEFAULT_CREDPUSH_PATH.into(),
            max_concurrency: "50".into(),
            max_errors: "100%".into(),
            owner: Some("ci".into()),
        }
    }

    #[test]
    fn flags_are_checked_before_any_call() {
        let role = RoleArn::parse("arn:aws:iam::123456789012:role/deploy").unwrap();
        assert_eq!(opts().check(Some(&role)).unwrap(), Some(role.clone()));
        let e = opts().check(None).unwrap_err().to_string();
        assert!(e.contains("needs --role-arn"), "{e}");
        for (o, flag) in [
            (SsmOptions { max_concurrency: "0".into(), ..opts() }, "--max-concurrency"),
            (SsmOptions { max_errors: "101%".into(), ..opts() }, "--max-errors"),
            (SsmOptions { owner: Some("a;b".into()), ..opts() }, "--owner"),
            (SsmOptions { parameter: Some("/credpush/a b".into()), ..opts() }, "--parameter"),
            (SsmOptions { credpush_path: "credpush".into(), ..opts() }, "--ssm-credpush-path"),
            (SsmOptions { document: "x".into(), ..opts() }, "--ssm-document"),
        ] {
            let e = o.check(Some(&role)).unwrap_err().to_string();
            assert!(e.starts_with(flag), "{e}");
        }
        assert_eq!(default_parameter(&role), "/credpush/deploy");
    }

    #[test]
    fn one_parameter_never_carries_two_sessions() {
        let a = RoleArn::parse("arn:aws:iam::123456789012:role/a").unwrap();
        let b = RoleArn::parse("arn:aws:iam::123456789012:role/b").unwrap();
        let shared = SsmOptions { parameter: Some("/credpush/shared".into()), ..opts() };
        let defaults = (Some("/home/ci/.aws/temp.json"), None, None);
        // One role: one group, the flag targets in it.
        let groups = plan(&[(&a, &[])], &[], Some(&a), &shared, defaults).unwrap();
        assert_eq!(groups[0][0].instances.len(), 1);
        assert_eq!(groups[0][0].owner, "ci");
        // The flag targets go with the first session of their role only.
        let e = plan(&[(&a, &[]), (&a, &[])], &[], Some(&a), &shared, defaults);
        assert!(e.is_ok_and(|g| g[1].is_empty()));
        // Two sessions on one parameter: refused, for two roles and for --session-per-host alike.
        let host = |name: &str, role: &str| {
            let vars = serde_json::json!({"ansible_connection": "aws_ssm", "ansible_host": "mi-0123456789abcdef0",
                "credpush_role_arn": role});
            HostTarget::from_vars(name, vars.as_object().unwrap(), None, None).unwrap()
        };
        let targets = [host("h1", a.as_str()), host("h2", b.as_str()), host("h3", a.as_str())];
        let e = plan(&[(&a, &[0]), (&b, &[1])], &targets, None, &shared, defaults).unwrap_err().to_string();
        assert!(e.contains("(two roles)"), "{e}");
        let e = plan(&[(&a, &[0]), (&a, &[2])], &targets, None, &shared, defaults).unwrap_err().to_string();
        assert!(e.contains("--session-per-host"), "{e}");
        // Without --parameter each role has its own: no conflict.
        assert!(plan(&[(&a, &[0]), (&b, &[1])], &targets, None, &opts(), defaults).is_ok());
    }
}
