//! `rotate --dry-run`: what each host would get, without a call or a write.

use super::Session;
use crate::fleet::target::HostTarget;

/// The dry run's report: one line per host, or JSON.
pub(super) fn dry_run(targets: &[HostTarget], sessions: &[Session], json: bool) -> String {
    let mut rows: Vec<(String, serde_json::Value)> = Vec::new();
    for s in sessions {
        for &h in &s.hosts {
            let t = &targets[h];
            rows.push((
                t.name.clone(),
                serde_json::json!({
                    "host": t.name, "destination": t.destination(), "path": t.path, "role_arn": t.role_arn.as_str(),
                    "session_name": s.params.session_name, "duration_secs": s.params.duration_secs,
                }),
            ));
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    if json {
        let hosts: Vec<_> = rows.into_iter().map(|r| r.1).collect();
        return format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({ "dry_run": true, "hosts": hosts })).unwrap_or_default()
        );
    }
    let mut out = format!(
        "dry run: {} AssumeRole call(s), {} host(s); nothing is called or written\n",
        sessions.len(),
        targets.len()
    );
    for (_, r) in rows {
        out.push_str(&format!(
            "{}: would push to {}:{} credentials for {} (session {}, {}s)\n",
            r["host"].as_str().unwrap_or_default(),
            r["destination"].as_str().unwrap_or_default(),
            r["path"].as_str().unwrap_or_default(),
            r["role_arn"].as_str().unwrap_or_default(),
            r["session_name"].as_str().unwrap_or_default(),
            r["duration_secs"],
        ));
    }
    out
}
