//! `credpush plan`: is a rotation schedule safe for a credential duration, for every SDK that reads the document?
//!
//! The timing model. Each SDK ([`models::Sdk`], each cited from its source) has a *mandatory* window before a
//! document's Expiration, from which every call waits on a re-read of `credential_process` and fails when that
//! gives it nothing fresh, and maybe an *advisory* window before that, from which it re-reads without failing
//! anything. A document minted at time 0 with duration D therefore serves an SDK with mandatory window M until
//! D - M: that is its *fresh life* for that SDK.
//!
//! A rotation starts on every schedule tick (period E) and its document lands on a host at most B after the tick
//! (B, the build time, covers scheduler jitter, build queueing and provisioning, the STS call and the push; every
//! source of lateness is folded into this one upper bound). The document a host holds was minted no earlier than
//! its own tick, and the next one lands at most E + B after that tick, so the worst-case age of a document when
//! the next one lands is E + B. A host always has a fresh document before an SDK's mandatory window iff
//!
//! ```text
//! margin = (D - M) - (E + B) >= 0
//! ```
//!
//! The schedule is safe iff that holds for every SDK checked (all of them, or those named with `--sdk`); the one
//! with the widest M binds, and the largest safe period is D - M - B. An advisory window the next document lands
//! in only costs re-reads, which the report states per SDK. Role chaining (a caller that is itself an assumed
//! role, such as CodeBuild's service role) caps D at 1 hour, so with chaining every 60 minutes is never safe and
//! every 30 minutes leaves 20 minutes for the build under botocore's 10-minute mandatory window.

pub mod models;
#[cfg(test)]
mod tests;

use crate::aws::params::{DEFAULT_DURATION_SECS, ROLE_CHAINING_MAX_SECS, parse_duration};
use crate::duration::parse_span;
use crate::error::{Error, Result};
use models::Sdk;

/// `credpush plan`'s exit code for an unsafe schedule.
pub const EXIT_UNSAFE: i32 = 1;
/// The build time assumed when none is given: CodeBuild provisioning plus a rotation, with room for queueing.
pub const DEFAULT_BUILD_SECS: u64 = 5 * 60;

/// The longest `--every` and `--build-time` accepted: 7 days, far past the 12-hour session STS allows, so that
/// every sum and difference of the model stays exact (a period of 2^64 seconds must not wrap into "safe").
pub const MAX_PLAN_SPAN_SECS: u64 = 7 * 24 * 3600;

fn within_max(flag: &'static str, raw: &str, secs: u64) -> Result<u64> {
    if secs > MAX_PLAN_SPAN_SECS {
        return Err(Error::invalid(flag, raw, "is longer than the 7-day maximum (expected a span like 30m or 1h)"));
    }
    Ok(secs)
}

/// A schedule to check, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Session duration D.
    pub duration: u64,
    /// Rotation period E.
    pub every: u64,
    /// Worst time B from a schedule tick to the document landing on a host.
    pub build: u64,
    /// Whether the caller is an assumed role, so STS caps D at 1 hour.
    pub chained: bool,
}

/// One SDK's side of a [`Verdict`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkVerdict {
    /// The model.
    pub sdk: Sdk,
    /// Its mandatory window, seconds before Expiration.
    pub mandatory: u64,
    /// Its advisory window for a document that lands with D - B left (0 for none).
    pub advisory: u64,
    /// (D - mandatory) - (E + B); negative when a host can enter the mandatory window with nothing newer.
    pub margin: i64,
    /// How long, at worst, the SDK re-reads a stale document inside its advisory window before the next lands.
    pub advisory_reads: u64,
}

/// The verdict on a [`Schedule`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The SDK whose mandatory window binds (the widest of those checked).
    pub binding: Sdk,
    /// How long a document serves before the binding SDK's mandatory window: D - M.
    pub fresh_life: u64,
    /// Worst-case age of a document when the next one lands: E + B.
    pub worst_age: u64,
    /// fresh_life - worst_age: the binding SDK's margin.
    pub margin: i64,
    /// The largest safe `--every` for this duration and build time, if any.
    pub safe_every: Option<u64>,
    /// Every SDK checked, in [`Sdk::ALL`]'s order.
    pub sdks: Vec<SdkVerdict>,
    /// Why the schedule is refused, when it is.
    pub refusal: Option<String>,
}

impl Verdict {
    /// Whether the schedule is safe.
    pub fn is_safe(&self) -> bool {
        self.refusal.is_none()
    }
}

/// Parses `plan`'s flags into a [`Schedule`]; bad values are input errors (exit 2).
pub fn parse(duration: Option<&str>, every: &str, build: Option<&str>, chained: bool) -> Result<Schedule> {
    let duration = duration.map(parse_duration).transpose()?.unwrap_or(DEFAULT_DURATION_SECS);
    let every = within_max("--every", every, parse_span("--every", every, "expected seconds or a span like 30m, 1h")?)?;
    if every == 0 {
        return Err(Error::invalid("--every", "0", "must be at least 1 second (expected a span like 30m)"));
    }
    let build = match build {
        Some(b) => within_max("--build-time", b, parse_span("--build-time", b, "expected seconds or a span like 5m")?)?,
        None => DEFAULT_BUILD_SECS,
    };
    Ok(Schedule { duration: u64::from(duration), every, build, chained })
}

/// Checks a schedule against every SDK's model. Pure: no clock, no I/O.
pub fn check(s: &Schedule) -> Verdict {
    check_sdks(s, &Sdk::ALL)
}

/// Checks a schedule against the models of `sdks` (all of them when empty), as the module docs describe.
pub fn check_sdks(s: &Schedule, sdks: &[Sdk]) -> Verdict {
    let sdks = if sdks.is_empty() { &Sdk::ALL[..] } else { sdks };
    let worst_age = s.every.saturating_add(s.build);
    // i128: no pair of u64 values wraps, whatever a caller of this pure function passes.
    let diff = |a: u64, b: u64| i64::try_from(i128::from(a) - i128::from(b)).unwrap_or(i64::MIN);
    // What the replaced document has left when the next one lands, and its lifetime as it lands.
    let left = diff(s.duration, worst_age);
    let lifetime = s.duration.saturating_sub(s.build);
    let rows: Vec<SdkVerdict> = sdks
        .iter()
        .map(|&sdk| {
            let (mandatory, advisory) = (sdk.mandatory(), sdk.advisory(lifetime));
            let margin = diff(s.duration.saturating_sub(mandatory), worst_age);
            let advisory_reads =
                if margin >= 0 && left < advisory as i64 { (advisory as i64 - left) as u64 } else { 0 };
            SdkVerdict { sdk, mandatory, advisory, margin, advisory_reads }
        })
        .collect();
    let bind = rows.iter().max_by_key(|r| (r.mandatory, std::cmp::Reverse(r.sdk))).cloned().expect("at least one SDK");
    let fresh_life = s.duration.saturating_sub(bind.mandatory);
    // The safe period must also leave the build its time and be a positive schedule.
    let safe_for = |d: u64| d.checked_sub(bind.mandatory.saturating_add(s.build)).filter(|&e| e > 0);
    let capped = if s.chained { s.duration.min(u64::from(ROLE_CHAINING_MAX_SECS)) } else { s.duration };
    let safe_every = safe_for(capped);
    let advice = match safe_every {
        Some(e) => format!("use --every {} or less", span(e)),
        None => format!("no schedule is safe with a {} build: use a longer --duration", span(s.build)),
    };
    let refusal = if s.chained && s.duration > u64::from(ROLE_CHAINING_MAX_SECS) {
        Some(format!(
            "--duration {} is over the 1-hour cap STS applies to role chaining (the caller, such as CodeBuild's \
             service role, is itself an assumed role), so rotate would refuse it: use --duration 1h and {advice}",
            span(s.duration)
        ))
    } else if bind.margin < 0 {
        Some(format!(
            "a document can be {} old (every {} + build {}) when the next one lands, but {} credentials have only \
             {} before the {} mandatory window of {} (--sdk {}), where every call waits on a re-read and fails when it \
             gets nothing fresh: {advice}",
            span(worst_age),
            span(s.every),
            span(s.build),
            span(s.duration),
            span(fresh_life),
            span(bind.mandatory),
            bind.sdk.label(),
            bind.sdk.name(),
        ))
    } else {
        None
    };
    Verdict { binding: bind.sdk, fresh_life, worst_age, margin: bind.margin, safe_every, sdks: rows, refusal }
}

/// `-5m` or `5m`.
fn signed(v: i64) -> String {
    format!("{}{}", if v < 0 { "-" } else { "" }, span(v.unsigned_abs()))
}

/// The report `credpush plan` prints.
pub fn render(s: &Schedule, v: &Verdict) -> String {
    let left = s.duration as i64 - v.worst_age as i64;
    let state = if left < 0 {
        format!("expired {} before", span(left.unsigned_abs()))
    } else {
        format!("has {} left when", span(left.unsigned_abs()))
    };
    let mut out = format!(
        "duration {}, every {}, build time {}{}\n\
         worst case: the next document lands at most {} after the previous was minted; the one being replaced \
         {state} the next one lands\n",
        span(s.duration),
        span(s.every),
        span(s.build),
        if s.chained { " (role chaining: 1-hour cap)" } else { "" },
        span(v.worst_age),
    );
    let rows: Vec<Vec<String>> = v
        .sdks
        .iter()
        .map(|r| {
            let verdict = if r.margin < 0 {
                format!("unsafe: calls can fail for up to {}", span(r.margin.unsigned_abs()))
            } else if r.advisory_reads > 0 {
                format!("safe; re-reads for up to {}: {}", span(r.advisory_reads), r.sdk.advisory_cost())
            } else {
                "safe".to_owned()
            };
            let advisory = if r.advisory == 0 { "-".to_owned() } else { span(r.advisory) };
            vec![r.sdk.name().to_owned(), span(r.mandatory), advisory, signed(r.margin), verdict]
        })
        .collect();
    out.push_str(&crate::term::table(&["SDK", "MANDATORY", "ADVISORY", "MARGIN", "VERDICT"], &rows));
    out.push_str(&format!(
        "binding: {} (--sdk {}): its {} mandatory window starts {} after a document is minted\n",
        v.binding.label(),
        v.binding.name(),
        span(v.binding.mandatory()),
        span(v.fresh_life),
    ));
    out.push_str(&format!("margin: {}\n", signed(v.margin)));
    match (&v.refusal, v.safe_every) {
        (None, Some(e)) => out.push_str(&format!("safe (largest safe --every: {})\n", span(e))),
        (None, None) => out.push_str("safe\n"),
        (Some(_), _) => {}
    }
    out
}

/// Formats seconds the way the flags take them: `1h30m`, `45m`, `10s`, `0s`.
pub fn span(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}
