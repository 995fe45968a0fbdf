//! The per-host report: a table for people, JSON for machines. Both sorted by host; both pure functions.

use crate::delivery::{HostOutcome, Status};
use crate::term::escape;

/// Counts by status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Hosts in the run.
    pub hosts: usize,
    /// Written and verified.
    pub ok: usize,
    /// Failed.
    pub failed: usize,
    /// Never reached.
    pub unreachable: usize,
    /// Not started.
    pub skipped: usize,
    /// Left alone: a later rotation had already written them (not a failure). Only in the JSON when some were.
    #[serde(skip_serializing_if = "is_zero")]
    pub superseded: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Summary {
    /// Counts `outcomes`.
    pub fn of(outcomes: &[HostOutcome]) -> Self {
        let mut s = Summary { hosts: outcomes.len(), ..Default::default() };
        for o in outcomes {
            match o.status {
                Status::Ok => s.ok += 1,
                Status::Failed => s.failed += 1,
                Status::Unreachable => s.unreachable += 1,
                Status::Skipped => s.skipped += 1,
                Status::Superseded => s.superseded += 1,
            }
        }
        s
    }

    /// True when every host is ok (or holds a later rotation's document, which is as good).
    pub fn all_ok(&self) -> bool {
        self.ok + self.superseded == self.hosts
    }
}

/// How a rotation ended, before anything is printed.
#[derive(Debug)]
pub enum Ran {
    /// The whole answer is this text (a dry run): printed as is, exit 0.
    Text(String),
    /// The hosts' outcomes.
    Done(Finished),
}

/// A rotation's outcomes, sorted by host, and whether an AWS call (STS, or SSM before any instance ran) failed.
#[derive(Debug)]
pub struct Finished {
    /// One per host or instance.
    pub outcomes: Vec<HostOutcome>,
    /// The run's wall time.
    pub seconds: f64,
    /// An AWS call failed for the run as a whole.
    pub aws_failed: bool,
}

impl Finished {
    /// The report, human or JSON.
    pub fn render(&self, json: bool) -> String {
        if json { self::json(&self.outcomes, self.seconds) } else { human(&self.outcomes, self.seconds) }
    }

    /// The exit code: 3 when an AWS call failed, else 1 when a host is not ok, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.aws_failed {
            crate::error::EXIT_AWS
        } else if Summary::of(&self.outcomes).all_ok() {
            crate::error::EXIT_OK
        } else {
            crate::error::EXIT_HOSTS_FAILED
        }
    }
}

/// Sorts outcomes by host name, the order both renderings use.
pub fn sort(outcomes: &mut [HostOutcome]) {
    outcomes.sort_by(|a, b| a.host.cmp(&b.host));
}

/// The human table, one row per host, then a summary line.
pub fn human(outcomes: &[HostOutcome], seconds: f64) -> String {
    let rows: Vec<[String; 6]> = outcomes
        .iter()
        .map(|o| {
            let status = o.status.as_str();
            let detail = match (&o.error, o.profile) {
                (Some(e), _) => e.clone(),
                (None, Some(p)) => format!("verified; profile {p}"),
                (None, None) => "verified".into(),
            };
            [
                escape(&o.host).into_owned(),
                status.into(),
                format!("{:.2}s", o.seconds),
                escape(&o.path).into_owned(),
                escape(o.expiration.as_deref().unwrap_or("-")).into_owned(),
                escape(&detail).into_owned(),
            ]
        })
        .collect();
    let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
    let mut out = crate::term::table(&["HOST", "STATUS", "TIME", "PATH", "EXPIRES", "DETAIL"], &rows);
    let s = Summary::of(outcomes);
    let superseded = if s.superseded > 0 { format!(", {} superseded", s.superseded) } else { String::new() };
    out.push_str(&format!(
        "{} ok, {} failed, {} unreachable, {} skipped{superseded} of {} hosts in {seconds:.2}s\n",
        s.ok, s.failed, s.unreachable, s.skipped, s.hosts
    ));
    out
}

/// The `--json` report.
pub fn json(outcomes: &[HostOutcome], seconds: f64) -> String {
    let doc = serde_json::json!({
        "summary": Summary::of(outcomes),
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "hosts": outcomes,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(host: &str, status: Status, error: Option<&str>) -> HostOutcome {
        HostOutcome {
            host: host.into(),
            destination: format!("u@{host}:22"),
            status,
            seconds: 0.5,
            path: "/home/u/.aws/temp.json".into(),
            expiration: error.is_none().then(|| "2026-11-28T04:00:00Z".into()),
            role_arn: "arn:aws:iam::123456789012:role/deploy".into(),
            attempts: 1,
            profile: None,
            error: error.map(str::to_owned),
        }
    }

    #[test]
    fn human_table_snapshot() {
        let mut o = vec![
            outcome("web02", Status::Unreachable, Some("unreachable: Connection refused")),
            outcome("web01", Status::Ok, None),
        ];
        sort(&mut o);
        assert_eq!(
            human(&o, 1.234),
            "HOST   STATUS       TIME   PATH                    EXPIRES               DETAIL\n\
             web01  ok           0.50s  /home/u/.aws/temp.json  2026-11-28T04:00:00Z  verified\n\
             web02  unreachable  0.50s  /home/u/.aws/temp.json  -                     unreachable: Connection refused\n\
             1 ok, 0 failed, 1 unreachable, 0 skipped of 2 hosts in 1.23s\n"
        );
    }

    #[test]
    fn any_length_renders_and_control_characters_are_escaped() {
        let long = "h".repeat(70_000);
        let mut o = vec![outcome(&long, Status::Failed, Some("remote said \u{1b}]0;owned\u{7} and \u{2028}next"))];
        o.push(outcome("evil\u{1b}[2J", Status::Ok, None));
        o[1].path = format!("/{}", "p".repeat(70_000));
        let text = human(&o, 1.0);
        assert!(text.contains(&long));
        assert!(!text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\u{2028}'), "{text:.300}");
        assert!(text.contains("evil\\u{1b}[2J") && text.contains("\\u{1b}]0;owned\\u{7} and \\u{2028}next"));
        assert_eq!(text.lines().count(), 4);
    }

    #[test]
    fn json_report_has_summary_and_hosts() {
        let o = vec![outcome("web01", Status::Ok, None), outcome("web02", Status::Failed, Some("x"))];
        let v: serde_json::Value = serde_json::from_str(&json(&o, 2.0)).unwrap();
        assert_eq!(v["summary"], serde_json::json!({"hosts": 2, "ok": 1, "failed": 1, "unreachable": 0, "skipped": 0}));
        // A host a later rotation had already written is not a failure.
        let s = Summary::of(&[outcome("web01", Status::Ok, None), outcome("web03", Status::Superseded, Some("newer"))]);
        assert!(s.all_ok() && s.superseded == 1);
        assert!(human(&[outcome("web03", Status::Superseded, Some("newer"))], 1.0).contains("0 skipped, 1 superseded"));
        assert_eq!(v["hosts"][1]["status"], "failed");
        assert_eq!(v["hosts"][0]["expiration"], "2026-11-28T04:00:00Z");
    }
}
