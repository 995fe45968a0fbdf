//! `credpush plan`: is a rotation schedule safe for a credential duration?
//!
//! The timing model. botocore re-reads `credential_process` once fewer than [`REFRESH_WINDOW_SECS`] (15 minutes)
//! are left on the credentials it holds, and fails calls from [`MANDATORY_WINDOW_SECS`] (10 minutes) before
//! expiry when the re-read gives it nothing fresh. A document minted at time 0 with duration D therefore serves
//! without any refresh attempt until D - 15m: that is the *fresh life* of a document.
//!
//! A rotation starts on every schedule tick (period E) and its document lands on a host at most B after the tick
//! (B, the build time, covers scheduler jitter, build queueing and provisioning, the STS call and the push; every
//! source of lateness is folded into this one upper bound). The document a host holds was minted no earlier than
//! its own tick, and the next one lands at most E + B after that tick, so the worst-case age of a document when
//! the next one lands is E + B. A host always has a fresh document before entering the 15-minute window iff
//!
//! ```text
//! margin = (D - 15m) - (E + B) >= 0
//! ```
//!
//! The largest safe period is then D - 15m - B. Role chaining (a caller that is itself an assumed role, such as
//! CodeBuild's service role) caps D at 1 hour, so with chaining every 60 minutes is never safe and every 30
//! minutes leaves 15 minutes for the build.

use crate::aws::params::{DEFAULT_DURATION_SECS, ROLE_CHAINING_MAX_SECS, parse_duration};
use crate::duration::parse_span;
use crate::error::{Error, Result};

/// botocore starts re-reading `credential_process` this long before expiry (its advisory refresh window).
pub const REFRESH_WINDOW_SECS: u64 = 15 * 60;
/// botocore fails calls this long before expiry when no fresh credentials arrive (its mandatory window).
pub const MANDATORY_WINDOW_SECS: u64 = 10 * 60;
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

/// The verdict on a [`Schedule`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// How long a document serves with more than 15 minutes left: D - 15m.
    pub fresh_life: u64,
    /// Worst-case age of a document when the next one lands: E + B.
    pub worst_age: u64,
    /// fresh_life - worst_age; negative when a host can enter the refresh window with nothing newer on the way.
    pub margin: i64,
    /// The largest safe `--every` for this duration and build time, if any.
    pub safe_every: Option<u64>,
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

/// Checks a schedule against the timing model in the module docs. Pure: no clock, no I/O.
pub fn check(s: &Schedule) -> Verdict {
    let fresh_life = s.duration.saturating_sub(REFRESH_WINDOW_SECS);
    let worst_age = s.every.saturating_add(s.build);
    // i128: no pair of u64 values wraps, whatever a caller of this pure function passes.
    let margin = i64::try_from(i128::from(fresh_life) - i128::from(worst_age)).unwrap_or(i64::MIN);
    // The safe period must also leave the build its time and be a positive schedule.
    let safe_for = |d: u64| d.checked_sub(REFRESH_WINDOW_SECS.saturating_add(s.build)).filter(|&e| e > 0);
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
    } else if margin < 0 {
        Some(format!(
            "a document can be {} old (every {} + build {}) when the next one lands, but {} credentials have only \
             {} before botocore's 15-minute refresh window, so a host can enter it with nothing newer on the way \
             and fail calls from 10 minutes before expiry: {advice}",
            span(worst_age),
            span(s.every),
            span(s.build),
            span(s.duration),
            span(fresh_life)
        ))
    } else {
        None
    };
    Verdict { fresh_life, worst_age, margin, safe_every, refusal }
}

/// The report `credpush plan` prints.
pub fn render(s: &Schedule, v: &Verdict) -> String {
    let mut out = format!(
        "duration {}, every {}, build time {}{}\n\
         worst case: a document serves {} with more than 15 minutes left; the next one lands at most {} after \
         the previous was minted\n",
        span(s.duration),
        span(s.every),
        span(s.build),
        if s.chained { " (role chaining: 1-hour cap)" } else { "" },
        span(v.fresh_life),
        span(v.worst_age),
    );
    let left = s.duration as i64 - v.worst_age as i64;
    let state = if left < 0 {
        format!("expired {} before", span(left.unsigned_abs()))
    } else {
        format!("has {} left when", span(left.unsigned_abs()))
    };
    out.push_str(&format!(
        "the document being replaced {state} the next one lands (botocore re-reads from 15m, fails calls from 10m)\n"
    ));
    let sign = if v.margin < 0 { "-" } else { "" };
    out.push_str(&format!("margin: {sign}{}\n", span(v.margin.unsigned_abs())));
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

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = 60;
    const H: u64 = 3600;

    /// duration, every, build, chained -> safe?, largest safe every.
    type Row = (u64, u64, u64, bool, bool, Option<u64>);

    /// Covers the chaining cap.
    #[test]
    fn schedule_table() {
        let table: &[Row] = &[
            // The issue's two anchors: 1-hour credentials every 60 minutes refused, every 30 minutes accepted.
            (H, 60 * M, 5 * M, true, false, Some(40 * M)),
            (H, 30 * M, 5 * M, true, true, Some(40 * M)),
            (H, 30 * M, 0, false, true, Some(45 * M)),
            // The boundary: margin exactly 0 is safe, one second more is not.
            (H, 40 * M, 5 * M, false, true, Some(40 * M)),
            (H, 40 * M + 1, 5 * M, false, false, Some(40 * M)),
            // A slow build eats the margin.
            (H, 30 * M, 16 * M, false, false, Some(29 * M)),
            // 2-hour credentials every hour: fine for a user caller, refused under role chaining (1-hour cap), and
            // the advice is for the capped duration.
            (2 * H, H, 5 * M, false, true, Some(H + 40 * M)),
            (2 * H, H, 5 * M, true, false, Some(40 * M)),
            (2 * H, 30 * M, 5 * M, true, false, Some(40 * M)),
            (12 * H, 6 * H, 10 * M, false, true, Some(11 * H + 35 * M)),
            // Shortest credentials: 15 minutes are all inside the refresh window, nothing is safe.
            (15 * M, M, 0, false, false, None),
            (20 * M, 4 * M, M, false, true, Some(4 * M)),
        ];
        for &(duration, every, build, chained, safe, safe_every) in table {
            let s = Schedule { duration, every, build, chained };
            let v = check(&s);
            assert_eq!((v.is_safe(), v.safe_every), (safe, safe_every), "{s:?} -> {v:?}");
            assert_eq!(v.margin, duration as i64 - 900 - every as i64 - build as i64, "{s:?}");
        }
    }

    #[test]
    fn refusals_give_the_reason_and_a_safe_every() {
        let v = check(&Schedule { duration: H, every: H, build: 5 * M, chained: true });
        let why = v.refusal.expect("refused");
        assert!(why.contains("1h5m old") && why.contains("only 45m before") && why.contains("--every 40m"), "{why}");
        let v = check(&Schedule { duration: 2 * H, every: 30 * M, build: 5 * M, chained: true });
        let why = v.refusal.expect("refused");
        assert!(why.contains("role chaining") && why.contains("--duration 1h") && why.contains("--every 40m"), "{why}");
        let v = check(&Schedule { duration: 15 * M, every: M, build: 0, chained: false });
        assert!(v.refusal.expect("refused").contains("no schedule is safe"));
    }

    #[test]
    fn render_shows_worst_case_and_margin() {
        let s = Schedule { duration: H, every: 30 * M, build: 5 * M, chained: false };
        let text = render(&s, &check(&s));
        assert!(text.contains("serves 45m with more than 15 minutes left"), "{text}");
        assert!(text.contains("at most 35m after") && text.contains("margin: 10m\n"), "{text}");
        assert!(text.contains("largest safe --every: 40m"), "{text}");
        assert!(text.contains("has 25m left when the next one lands"), "{text}");
        let s = Schedule { duration: H, every: H, build: 5 * M, chained: false };
        let text = render(&s, &check(&s));
        assert!(text.contains("margin: -20m\n") && text.contains("expired 5m before the next"), "{text}");
    }

    #[test]
    fn flags_parse_and_refuse_junk() {
        assert_eq!(
            parse(Some("1h"), "30m", None, true).expect("ok"),
            Schedule { duration: H, every: 30 * M, build: DEFAULT_BUILD_SECS, chained: true }
        );
        assert!(parse(Some("1h"), "0", None, false).is_err());
        assert!(parse(Some("5m"), "30m", None, false).is_err(), "under STS's 15-minute minimum");
        assert!(parse(None, "soon", None, false).is_err());
        assert!(parse(None, "30m", Some("-1m"), false).is_err());
    }

    #[test]
    fn spans_past_the_maximum_are_refused_not_wrapped() {
        for (every, build) in [
            ("18446744073709551615", None),
            ("5124095576030431h", None),
            ("30m", Some("18446744073709551615")),
            ("30m", Some("5124095576030431h")),
            ("168h1s", None),
        ] {
            let msg = parse(None, every, build, false).expect_err(every).to_string();
            assert!(msg.contains("is longer than the 7-day maximum"), "{msg}");
        }
        assert!(parse(None, "168h", Some("168h"), false).is_ok(), "the maximum itself is accepted");
        let wide = Schedule { duration: H, every: u64::MAX, build: u64::MAX, chained: false };
        assert!(!check(&wide).is_safe(), "a pure check of huge values must not wrap into safe");
    }

    #[test]
    fn span_formats() {
        assert_eq!([span(0), span(59), span(3600), span(5400), span(3661)], ["0s", "59s", "1h", "1h30m", "1h1m1s"]);
    }
}
