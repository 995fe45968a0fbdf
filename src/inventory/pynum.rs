//! Python number literals and Python's way of printing floats, for INI values and JSON keys.

use super::literal::Py;
use serde_json::{Number, Value};

/// Parses one Python number token (`12`, `0x1f`, `1_000`, `1.5e-3`, `2j`). `None` when Python would reject it
/// (`0755`, `1__0`, `1abc`).
pub(crate) fn parse_number(tok: &str) -> Option<Py> {
    if let Some(body) = tok.strip_suffix(['j', 'J']) {
        let im = parse_float(body).or_else(|| digitpart(body).then(|| clean(body).parse().ok())?)?;
        return Some(Py::Complex(0.0, im));
    }
    let lower = tok.to_ascii_lowercase();
    for (prefix, radix, ok) in [("0x", 16, b"0123456789abcdef".as_slice()), ("0o", 8, b"01234567"), ("0b", 2, b"01")] {
        if let Some(digits) = lower.strip_prefix(prefix) {
            // Python allows one underscore right after the prefix: 0x_1f.
            let d = digits.strip_prefix('_').unwrap_or(digits);
            if !digitpart_in(d, ok) {
                return None;
            }
            let v = u128::from_str_radix(&clean(d), radix).ok()?;
            return Some(Py::Int(v.to_string()));
        }
    }
    if digitpart(tok) {
        let digits = clean(tok);
        if digits.starts_with('0') {
            // Leading zeros are a syntax error unless the whole number is zero.
            return digits.bytes().all(|b| b == b'0').then(|| Py::Int("0".into()));
        }
        return Some(Py::Int(digits));
    }
    parse_float(tok).map(Py::Float)
}

fn parse_float(tok: &str) -> Option<f64> {
    let (mantissa, exponent) = match tok.find(['e', 'E']) {
        Some(at) => (&tok[..at], Some(&tok[at + 1..])),
        None => (tok, None),
    };
    if let Some(exp) = exponent {
        let e = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        if !digitpart(e) {
            return None;
        }
    }
    let valid = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (int.is_empty() || digitpart(int))
                && (frac.is_empty() || digitpart(frac))
                && !(int.is_empty() && frac.is_empty())
        }
        None => exponent.is_some() && digitpart(mantissa),
    };
    if !valid {
        return None;
    }
    let mut text = clean(tok);
    // Rust's parser wants a digit on both sides of the dot.
    if text.starts_with('.') {
        text.insert(0, '0');
    }
    text = text.replace(".e", ".0e").replace(".E", ".0E");
    text.parse().ok()
}

fn digitpart(s: &str) -> bool {
    digitpart_in(s, b"0123456789")
}

/// Digits with single underscores between them.
fn digitpart_in(s: &str, ok: &[u8]) -> bool {
    !s.is_empty()
        && !s.starts_with('_')
        && !s.ends_with('_')
        && !s.contains("__")
        && s.bytes().all(|b| b == b'_' || ok.contains(&b.to_ascii_lowercase()))
}

fn clean(s: &str) -> String {
    s.chars().filter(|c| *c != '_').collect()
}

/// A decimal integer as JSON. Integers beyond 64 bits become floats, as `serde_json` reads Python's output.
pub(crate) fn int_value(decimal: &str) -> Value {
    if let Ok(v) = decimal.parse::<i64>() {
        return Value::Number(v.into());
    }
    if let Ok(v) = decimal.parse::<u64>() {
        return Value::Number(v.into());
    }
    decimal.parse::<f64>().ok().and_then(Number::from_f64).map_or(Value::Null, Value::Number)
}

/// Python's `repr(float)`: the shortest round-trip digits, positional for exponents -4..16, else `1e+16` style.
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sci = format!("{f:e}"); // e.g. "-1.5e20", "1e-7", "0e0"
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let sign = if neg { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        };
        format!("{sign}{body}")
    } else {
        let frac = if digits.len() > 1 { format!(".{}", &digits[1..]) } else { String::new() };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{}{frac}e{esign}{:02}", &digits[..1], exp.abs())
    }
}

/// Python's `str(complex)`: `2j`, `(1+2j)`, `(-0-2j)`.
pub(crate) fn complex_repr(re: f64, im: f64) -> String {
    let short = |f: f64| {
        let r = float_repr(f);
        r.strip_suffix(".0").map(str::to_string).unwrap_or(r)
    };
    if re == 0.0 && re.is_sign_positive() {
        return format!("{}j", short(im));
    }
    let im_text = short(im);
    let im_signed = if im_text.starts_with('-') { im_text } else { format!("+{im_text}") };
    format!("({}{im_signed}j)", short(re))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        for (f, want) in [(1000.0, "1000.0"), (1e16, "1e+16"), (1.5e-5, "1.5e-05"), (0.0001, "0.0001"), (0.1, "0.1")] {
            assert_eq!(float_repr(f), want);
        }
        assert_eq!(complex_repr(1.0, 2.0), "(1+2j)");
        assert_eq!(complex_repr(0.0, 2.5), "2.5j");
    }

    #[test]
    fn number_tokens() {
        assert_eq!(parse_number("0x_1F"), Some(Py::Int("31".into())));
        assert_eq!(parse_number("1_000"), Some(Py::Int("1000".into())));
        assert_eq!(parse_number("000"), Some(Py::Int("0".into())));
        assert_eq!(parse_number("0755"), None);
        assert_eq!(parse_number("1e3"), Some(Py::Float(1000.0)));
        assert_eq!(parse_number("01.5"), Some(Py::Float(1.5)));
        assert_eq!(parse_number("1."), Some(Py::Float(1.0)));
        assert_eq!(parse_number("1.2.3"), None);
        assert_eq!(parse_number("1abc"), None);
    }
}
