//! Spans of time as flags give them: plain seconds, or `h`, `m` and `s` combined, largest first (`90`, `45m`,
//! `1h30m`). One parser for `--duration`, `--every`, `--build-time`, `--warn`, `--timeout` and the STS limits,
//! so every flag reads a span the same way and refuses the same mistakes.

use crate::error::{Error, Result};

/// Parses a span: plain seconds, or units `h`, `m`, `s` combined (`90`, `45m`, `1h30m`, `2s`) into seconds.
/// `flag` and `expected` go into the error message.
pub fn parse_span(flag: &'static str, value: &str, expected: &str) -> Result<u64> {
    let bad = |why: &str| Error::invalid(flag, value, format!("{why} ({expected})"));
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut saw_unit = false;
    if value.trim_start().starts_with('-') {
        return Err(bad("a duration cannot be negative"));
    }
    // Each unit at most once, largest first: "1h1h" or "30m1h" is a typo, not a sum to guess at.
    let mut last_unit = u64::MAX;
    for c in value.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad("not a duration")),
        };
        if unit >= last_unit {
            return Err(bad("each unit may appear once, in the order h, m, s"));
        }
        last_unit = unit;
        let n: u64 = digits.parse().map_err(|_| bad("not a duration"))?;
        total = total.saturating_add(n.saturating_mul(unit));
        digits.clear();
        saw_unit = true;
    }
    if !digits.is_empty() {
        if saw_unit {
            return Err(bad("a number after a unit needs its own unit"));
        }
        total = digits.parse().map_err(|_| bad("not a duration"))?;
    } else if !saw_unit {
        return Err(bad("empty"));
    }
    Ok(total)
}
