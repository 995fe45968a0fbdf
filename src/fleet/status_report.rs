//! How `status` shows its findings: a table for people, and a node_exporter textfile for Prometheus.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::fleet::status::{HostStatus, State};

/// The human table.
pub fn human(hosts: &[HostStatus]) -> String {
    use crate::term::escape;
    let rows: Vec<Vec<String>> = hosts
        .iter()
        .map(|h| {
            vec![
                escape(&h.host).into_owned(),
                h.state.as_str().to_owned(),
                h.seconds_left.map(|s| format!("{}m", s / 60)).unwrap_or_else(|| "-".into()),
                h.expiration.as_deref().map(escape).unwrap_or_else(|| "-".into()).into_owned(),
                h.key_id_last4.as_deref().map(|k| format!("...{}", escape(k))).unwrap_or_else(|| "-".into()),
                h.mode.as_deref().map(escape).unwrap_or_else(|| "-".into()).into_owned(),
                if h.profiles.is_empty() { "-".into() } else { escape(&h.profiles.join(",")).into_owned() },
                escape(&h.problems.join("; ")).into_owned(),
            ]
        })
        .collect();
    let mut out = crate::term::table(&["HOST", "STATE", "LEFT", "EXPIRES", "KEY", "MODE", "PROFILE", "DETAIL"], &rows);
    let count = |st: State| hosts.iter().filter(|h| h.state == st).count();
    // `unsupported` only shows when a host is, so an ssh-only fleet's summary reads as before.
    let unsupported = match count(State::Unsupported) {
        0 => String::new(),
        n => format!(", {n} unsupported"),
    };
    out.push_str(&format!(
        "{} ok, {} expiring, {} expired, {} broken, {} unreachable{unsupported} of {} hosts\n",
        count(State::Ok),
        count(State::Expiring),
        count(State::Expired),
        count(State::Broken),
        count(State::Unreachable),
        hosts.len()
    ));
    out
}

/// Escapes a label value as the text exposition format requires: backslash, double quote and line feed are the
/// only characters it escapes, and every other character (tabs, other control characters, any UTF-8) is taken
/// as it is, so host names from inventories written by many hands pass through unchanged otherwise.
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// One metric family's header.
fn family(out: &mut String, name: &str, help: &str) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
}

/// The node_exporter textfile-collector rendering of one `status` run at `now`.
///
/// Prometheus practice is to export when something happens, not how long until it does: a textfile is only as
/// fresh as its last run, and a "seconds left" sample scraped an hour after that run is an hour wrong, while an
/// expiration timestamp stays true (`credpush_credentials_expiration_timestamp_seconds - time()` is the time
/// left at query time, and `time() - credpush_status_last_run_timestamp_seconds` says how stale the file is).
/// `credpush_credentials_seconds_left` stays for one release so existing alerts keep working while they move.
pub fn prometheus(hosts: &[HostStatus], now: OffsetDateTime) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "credpush_credentials_expiration_timestamp_seconds",
        "Unix time at which the credential document on the host expires (its Expiration field).",
    );
    for h in hosts {
        let at = h.expiration.as_deref().and_then(|e| OffsetDateTime::parse(e, &Rfc3339).ok());
        if let Some(at) = at {
            out.push_str(&format!(
                "credpush_credentials_expiration_timestamp_seconds{{host=\"{}\"}} {}\n",
                label(&h.host),
                at.unix_timestamp()
            ));
        }
    }
    family(&mut out, "credpush_host_state", "1 for the state the host is in, 0 for the others.");
    for h in hosts {
        for st in [State::Ok, State::Expiring, State::Expired, State::Broken, State::Unreachable, State::Unsupported] {
            out.push_str(&format!(
                "credpush_host_state{{host=\"{}\",state=\"{}\"}} {}\n",
                label(&h.host),
                st.as_str(),
                u8::from(h.state == st)
            ));
        }
    }
    family(
        &mut out,
        "credpush_status_last_run_timestamp_seconds",
        "Unix time at which credpush status probed the hosts.",
    );
    out.push_str(&format!("credpush_status_last_run_timestamp_seconds {}\n", now.unix_timestamp()));
    family(
        &mut out,
        "credpush_credentials_seconds_left",
        "DEPRECATED, removed in the next release: use credpush_credentials_expiration_timestamp_seconds - time(). \
         Seconds until the credential document on the host expires, as of the status run.",
    );
    for h in hosts {
        if let Some(s) = h.seconds_left {
            out.push_str(&format!("credpush_credentials_seconds_left{{host=\"{}\"}} {s}\n", label(&h.host)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-28 06:00 UTC);

    #[test]
    fn prometheus_labels_are_escaped() {
        let h = HostStatus {
            host: "we\"b\\\n1\tx".into(),
            state: State::Ok,
            path: "/h/.aws/temp.json".into(),
            expiration: Some("2026-11-28T07:00:00Z".into()),
            seconds_left: Some(3600),
            key_id_last4: None,
            sha256: None,
            mode: None,
            owner: None,
            profiles: Vec::new(),
            problems: Vec::new(),
        };
        let text = prometheus(&[h], NOW);
        // The host is `we"b\<LF>1<TAB>x`: quote, backslash and line feed are escaped, the tab is kept.
        let host = "host=\"we\\\"b\\\\\\n1\tx\"";
        // 2026-11-28T07:00:00Z and 06:00:00Z as Unix time.
        let want = [
            format!("credpush_credentials_expiration_timestamp_seconds{{{host}}} 1795849200\n"),
            format!("credpush_host_state{{{host},state=\"ok\"}} 1\n"),
            format!("credpush_host_state{{{host},state=\"expired\"}} 0\n"),
            "credpush_status_last_run_timestamp_seconds 1795845600\n".to_owned(),
            format!("credpush_credentials_seconds_left{{{host}}} 3600\n"),
        ];
        for w in want {
            assert!(text.contains(&w), "{w:?} not in {text}");
        }
        for name in [
            "credpush_credentials_expiration_timestamp_seconds",
            "credpush_host_state",
            "credpush_status_last_run_timestamp_seconds",
            "credpush_credentials_seconds_left",
        ] {
            assert!(text.contains(&format!("# TYPE {name} gauge\n")), "{name} has no TYPE in {text}");
        }
        assert!(text.contains("# HELP credpush_credentials_seconds_left DEPRECATED"), "{text}");
    }
}
