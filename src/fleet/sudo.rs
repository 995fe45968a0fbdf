//! The sudo flags credpush passes from `ansible_become_flags`: a known set, because the flags are inventory data
//! and sudo's command line decides what runs with the document on its stdin.

/// sudo flags that change only how sudo itself behaves, never what it runs: `-H`, `-n`, `-E`, `-k`, `-P` (alone or
/// bundled, as `-Hn`) and their long forms. Anything else could make sudo run something other than the writer
/// (`sh -c '…'`, `-s`, `-i`, `-u`), read a password from the stdin that carries the document (`-S` inside a bundle,
/// `--stdin`), or not run it at all (`-b`, `-K`, `-l`). Ansible's own lone `-S` (its default flags are `-H -S -n`)
/// is dropped: credpush never sends a password.
const SUDO_SHORT_FLAGS: &str = "HnEkP";
const SUDO_LONG_FLAGS: [&str; 5] =
    ["--set-home", "--non-interactive", "--preserve-env", "--reset-timestamp", "--preserve-groups"];

/// The flags to pass to sudo, or why `words` is refused.
pub fn become_flags(words: Vec<String>) -> std::result::Result<Vec<String>, String> {
    let refuse = |w: &str| {
        format!(
            "sudo flag {w:?} is not accepted: credpush passes only -H, -n, -E, -k, -P and their long forms (and drops Ansible's lone -S), because other flags can make sudo run another command or read stdin, which carries the document"
        )
    };
    let mut out = Vec::new();
    for w in words {
        if w == "-S" {
            continue;
        }
        let ok = match w.strip_prefix("--") {
            Some(_) => SUDO_LONG_FLAGS.contains(&w.as_str()),
            None => w.len() > 1 && w.starts_with('-') && w[1..].chars().all(|c| SUDO_SHORT_FLAGS.contains(c)),
        };
        if !ok {
            return Err(refuse(&w));
        }
        out.push(w);
    }
    Ok(out)
}
