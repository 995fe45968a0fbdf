//! YAML 1.1 typing of scalars, as PyYAML's resolver and constructors do it, for [`super::yaml11`].

use super::yaml11::Kind;
use regex::Regex;
use std::sync::LazyLock;

macro_rules! rx {
    ($name:ident, $re:expr) => {
        #[allow(clippy::unwrap_used)] // constant pattern
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new($re).unwrap());
    };
}
// The patterns of PyYAML's implicit resolvers (YAML 1.1), in verbose mode; spaces inside classes are escaped.
rx!(BOOL, r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$");
rx!(
    FLOAT,
    r"(?x)^(?:
        [-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?   # 1.5, 1., 1.0e+3 (an exponent needs a dot and a sign)
      | \.[0-9][0-9_]*(?:[eE][-+][0-9]+)?               # .5
      | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*     # 1:30.5, base 60
      | [-+]?\.(?:inf|Inf|INF)
      | \.(?:nan|NaN|NAN)
    )$"
);
rx!(
    INT,
    r"(?x)^(?:
        [-+]?0b[0-1_]+
      | [-+]?0[0-7_]+                         # octal: 0755
      | [-+]?(?:0|[1-9][0-9_]*)
      | [-+]?0x[0-9a-fA-F_]+
      | [-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+    # 1:30, base 60
    )$"
);
rx!(NULL, r"^(?:~|null|Null|NULL|)$");
rx!(
    TIMESTAMP,
    r"(?x)^(?:
        [0-9]{4}-[0-9]{2}-[0-9]{2}
      | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}
        (?:[Tt]|[\ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?
        (?:[\ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?
    )$"
);
rx!(
    TIMESTAMP_PARTS,
    r"(?x)^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})
        (?:(?:[Tt]|[\ \t]+)([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]*))?
           (?:[\ \t]*(Z|([-+])([0-9]{1,2})(?::([0-9]{2}))?))?
        )?$"
);

/// PyYAML's implicit resolvers, in the order it tries them.
pub(crate) fn resolve(text: &str) -> Option<Kind> {
    if BOOL.is_match(text) {
        return bool_value(text).map(Kind::Bool);
    }
    if FLOAT.is_match(text) {
        return yaml_float(text);
    }
    if INT.is_match(text) {
        return yaml_int(text);
    }
    if NULL.is_match(text) {
        return Some(Kind::Null);
    }
    if TIMESTAMP.is_match(text) {
        return timestamp(text).map(Kind::Str);
    }
    // PyYAML resolves a lone `=` to the "value" type, which has no constructor.
    if text == "=" {
        return None;
    }
    Some(Kind::Str(text.to_string()))
}

pub(crate) fn bool_value(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" => Some(true),
        "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

fn split_sign(text: &str) -> (bool, String) {
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    match clean.strip_prefix('-') {
        Some(rest) => (true, rest.to_string()),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean).to_string()),
    }
}

pub(crate) fn yaml_int(text: &str) -> Option<Kind> {
    let (neg, v) = split_sign(text);
    let n: i128 = if v == "0" {
        0
    } else if let Some(b) = v.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()?
    } else if let Some(h) = v.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()?
    } else if v.starts_with('0') {
        i128::from_str_radix(&v, 8).ok()?
    } else if v.contains(':') {
        v.split(':').try_fold(0i128, |acc, part| Some(acc * 60 + part.parse::<i128>().ok()?))?
    } else if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // Kept as text: decimal integers may exceed any fixed width, as Python's do.
        return Some(Kind::Int(if neg { format!("-{v}") } else { v }));
    } else {
        return None;
    };
    Some(Kind::Int((if neg { -n } else { n }).to_string()))
}

pub(crate) fn yaml_float(text: &str) -> Option<Kind> {
    let (neg, v) = split_sign(&text.to_ascii_lowercase());
    let f: f64 = if v == ".inf" {
        f64::INFINITY
    } else if v == ".nan" {
        f64::NAN
    } else if v.contains(':') {
        v.split(':').try_fold(0.0, |acc, part| Some(acc * 60.0 + py_float(part)?))?
    } else {
        py_float(&v)?
    };
    Some(Kind::Float(if neg { -f } else { f }))
}

/// Python's `float()` accepts `1.` and `.5`; Rust wants digits on both sides of the dot.
fn py_float(t: &str) -> Option<f64> {
    let t = if t.starts_with('.') { format!("0{t}") } else { t.to_string() };
    t.replace(".e", ".0e").parse().ok()
}

/// PyYAML builds a date or datetime; Ansible prints it with Python's `isoformat()`.
pub(crate) fn timestamp(text: &str) -> Option<String> {
    let c = TIMESTAMP_PARTS.captures(text)?;
    let num = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
    let (year, month, day) = (num(1)?, num(2)?, num(3)?);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return None,
    };
    if year == 0 || day == 0 || day > days_in_month {
        return None;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    let Some(hour) = num(4) else {
        return Some(date);
    };
    let (minute, second) = (num(5)?, num(6)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut out = format!("{date}T{hour:02}:{minute:02}:{second:02}");
    if let Some(frac) = c.get(7).map(|m| m.as_str()).filter(|f| !f.is_empty()) {
        let micros: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
        if micros != "000000" {
            out.push('.');
            out.push_str(&micros);
        }
    }
    match (c.get(8).map(|m| m.as_str()), c.get(9).map(|m| m.as_str())) {
        (Some(_), Some(sign)) => {
            let total = num(10)? * 60 + num(11).unwrap_or(0);
            if total >= 24 * 60 {
                return None;
            }
            out.push_str(&format!("{sign}{:02}:{:02}", total / 60, total % 60));
        }
        (Some(_), None) => out.push_str("+00:00"),
        _ => {}
    }
    Some(out)
}
