//! `doctor`'s findings about the container credentials variables: whether they decide which credentials a job
//! gets instead of the profile, whether an SDK would accept them at all, and whether the endpoint answers.

use std::path::PathBuf;

use super::probe::{Probe, split_uri};
use crate::host::doctor::{Finding, Severity};

/// The container variables as the SDKs read them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerVars {
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    pub full_uri: Option<String>,
    /// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (ECS: fetched from 169.254.170.2, ahead of the full URI).
    pub relative_uri: Option<String>,
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`.
    pub token_file: Option<PathBuf>,
    /// Whether `AWS_CONTAINER_AUTHORIZATION_TOKEN` (the token itself, in the environment) is set.
    pub token_in_env: bool,
}

impl ContainerVars {
    /// Reads them from this process's environment.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Self {
            full_uri: var("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
            relative_uri: var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            token_file: var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").map(PathBuf::from),
            token_in_env: var("AWS_CONTAINER_AUTHORIZATION_TOKEN").is_some(),
        }
    }
}

/// True when an SDK would fetch from `uri` over plain http: a loopback host, or the ECS and EKS link-local
/// addresses. Anything else they refuse unless it is https.
pub fn sdk_accepts(uri: &str) -> bool {
    let Some((host, _, _)) = split_uri(uri) else { return uri.starts_with("https://") };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(super::answer::is_loopback)
        || ["169.254.170.2", "169.254.170.23", "fd00:ec2::23"].contains(&host.as_str())
}

fn finding(severity: Severity, message: String, fix: Option<&str>) -> Finding {
    Finding { check: "container", severity, message, fix: fix.map(str::to_owned) }
}

/// The findings for `vars`, given `AWS_PROFILE` and the endpoint's answer (`None` when it was not asked).
pub fn findings(
    vars: &ContainerVars,
    aws_profile: Option<&str>,
    probe: Option<&Result<Probe, String>>,
) -> Vec<Finding> {
    use Severity::{Error, Ok as Good, Warning};
    let mut f = Vec::new();
    if vars.relative_uri.is_some() {
        f.push(finding(
            Warning,
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is set: the SDKs fetch from ECS's 169.254.170.2 and ignore AWS_CONTAINER_CREDENTIALS_FULL_URI".into(),
            Some("unset AWS_CONTAINER_CREDENTIALS_RELATIVE_URI outside ECS"),
        ));
    }
    let Some(uri) = &vars.full_uri else { return f };
    // Every SDK tries the profile (credential_process) before the container provider, so the variables decide
    // for exactly the jobs whose selected profile yields nothing.
    f.push(match aws_profile {
        Some(p) => finding(
            Warning,
            format!("AWS_CONTAINER_CREDENTIALS_FULL_URI is set, but AWS_PROFILE={p:?} comes first in every SDK: jobs here use the endpoint only when that profile has no credentials"),
            Some("use one source per job: unset AWS_CONTAINER_CREDENTIALS_FULL_URI, or AWS_PROFILE for jobs that should use the endpoint"),
        ),
        None => finding(
            Warning,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI is set: jobs here that select no profile with credentials get the endpoint's credentials, not a credpush profile's".into(),
            Some("export AWS_PROFILE=NAME for jobs that should use the profile, or unset AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        ),
    });
    if !sdk_accepts(uri) {
        f.push(finding(
            Error,
            format!("AWS_CONTAINER_CREDENTIALS_FULL_URI {uri:?} is refused by the SDKs: plain http goes only to a loopback address or 169.254.170.2/.23"),
            Some("use the address credpush serve printed (http://127.0.0.1:PORT/...); for containers run them with --network host"),
        ));
        return f;
    }
    if vars.token_file.is_none() && !vars.token_in_env {
        f.push(finding(
            Warning,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE is not set: credpush serve refuses requests without the token"
                .into(),
            Some("set it to the token file credpush serve printed (credpush profile --container --user USER)"),
        ));
    }
    match probe {
        None => {}
        Some(Ok(Probe { status: 200, expiration: Some(exp), .. })) => {
            f.push(finding(Good, format!("the endpoint {uri} answers with credentials valid until {exp}"), None));
        }
        Some(Ok(p)) => f.push(finding(
            Error,
            format!(
                "the endpoint {uri} answered {}{}{}",
                p.status,
                p.code.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
                p.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
            ),
            Some("fix what the message names; credpush serve's own messages say how"),
        )),
        Some(Err(why)) => f.push(finding(
            Error,
            format!("the endpoint {uri} does not answer: {why}"),
            Some("start it (systemctl start credpush-serve@USER, or credpush serve --path DOC), and check the port"),
        )),
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(uri: &str) -> ContainerVars {
        ContainerVars { full_uri: Some(uri.into()), token_file: Some("/t".into()), ..ContainerVars::default() }
    }

    #[test]
    fn no_variables_no_findings() {
        assert!(findings(&ContainerVars::default(), None, None).is_empty());
    }

    #[test]
    fn warns_of_shadowing_and_refused_addresses() {
        let f = findings(&vars("http://127.0.0.1:9911/credpush/v1/credentials"), None, None);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].message.contains("get the endpoint's credentials, not a credpush profile's"), "{f:?}");
        let f = findings(&vars("http://127.0.0.1:9911/x"), Some("onprem"), None);
        assert!(f[0].message.contains("AWS_PROFILE=\"onprem\" comes first in every SDK"), "{f:?}");
        let f = findings(&vars("http://172.17.0.1:9911/x"), None, None);
        assert_eq!(f[1].severity, Severity::Error);
        assert!(f[1].message.contains("is refused by the SDKs"), "{f:?}");
        assert!(sdk_accepts("http://169.254.170.2/v2/credentials/x") && sdk_accepts("https://example.com/c"));
        let f = findings(&ContainerVars { token_file: None, ..vars("http://[::1]:1/x") }, None, None);
        assert!(f[1].message.contains("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE is not set"), "{f:?}");
    }

    #[test]
    fn reports_what_the_endpoint_answered() {
        let v = vars("http://127.0.0.1:9911/credpush/v1/credentials");
        let ok = Ok(Probe { status: 200, code: None, message: None, expiration: Some("2026-11-28T07:00:00Z".into()) });
        let f = findings(&v, None, Some(&ok));
        assert_eq!(f[1].severity, Severity::Ok);
        assert!(f[1].message.ends_with("answers with credentials valid until 2026-11-28T07:00:00Z"), "{f:?}");
        let no = Ok(Probe {
            status: 403,
            code: Some("AccessDenied".into()),
            message: Some("no Authorization header".into()),
            expiration: None,
        });
        assert!(
            findings(&v, None, Some(&no))[1].message.ends_with("answered 403 AccessDenied: no Authorization header")
        );
        let down: Result<Probe, String> = Err("nothing answers at 127.0.0.1:9911 (Connection refused)".into());
        let f = findings(&v, None, Some(&down));
        assert_eq!(f[1].severity, Severity::Error);
        assert!(f[1].message.contains("does not answer: nothing answers"), "{f:?}");
    }
}
