//! How `status` shows its findings: a table for people, and a node_exporter textfile for Prometheus.

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
    out.push_str(&format!(
        "{} ok, {} expiring, {} expired, {} broken, {} unreachable of {} hosts\n",
        count(State::Ok),
        count(State::Expiring),
        count(State::Expired),
        count(State::Broken),
        count(State::Unreachable),
        hosts.len()
    ));
    out
}

/// The node_exporter textfile-collector rendering: seconds left per host, and a 0/1 gauge per host and state.
pub fn prometheus(hosts: &[HostStatus]) -> String {
    let label = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    let mut out = String::from(
        "# HELP credpush_credentials_seconds_left Seconds until the credential document on the host expires.\n\
         # TYPE credpush_credentials_seconds_left gauge\n",
    );
    for h in hosts {
        if let Some(s) = h.seconds_left {
            out.push_str(&format!("credpush_credentials_seconds_left{{host=\"{}\"}} {s}\n", label(&h.host)));
        }
    }
    out.push_str(
        "# HELP credpush_host_state 1 for the state the host is in, 0 for the others.\n\
         # TYPE credpush_host_state gauge\n",
    );
    for h in hosts {
        for st in [State::Ok, State::Expiring, State::Expired, State::Broken, State::Unreachable] {
            out.push_str(&format!(
                "credpush_host_state{{host=\"{}\",state=\"{}\"}} {}\n",
                label(&h.host),
                st.as_str(),
                u8::from(h.state == st)
            ));
        }
    }
    out
}
