//! `--no-inventory-commands`: which of an inventory's ssh arguments make ssh run a command (or load code) of the
//! inventory's choosing on this machine, as the operator.
//!
//! | argument | what runs | with the flag |
//! |---|---|---|
//! | `-o ProxyCommand` | the command, through `/bin/sh -c` | refused |
//! | `-o LocalCommand` | a command after connecting | refused |
//! | `-o PKCS11Provider`, `-o SecurityKeyProvider` | a shared library, loaded by ssh's helpers | refused |
//! | `-F FILE` (but `-F /dev/null`) | whatever the file says: `ProxyCommand`, `LocalCommand`, a provider, and `Match exec`, which runs while ssh merely reads the file (`ssh -G` too) | refused, before any `ssh -G` |
//! | `-o KnownHostsCommand` | a command | refused always (see [`crate::ssh::args`]) |
//! | `-J`, `-o ProxyJump` | ssh itself, to the jump host, with the operator's config and known_hosts | allowed when the value is only host specs (`[user@]host[:port]`, comma-separated, or `ssh://` URIs): ssh pastes it into a command line |
//!
//! `Match` and `Include` are not accepted by ssh in `-o` at all. `PermitLocalCommand` alone only lets the
//! operator's own config's `LocalCommand` run. Port forwards and agent forwarding run nothing here; they are
//! accepted and then turned off by the options [`crate::ssh::args`] pins (`ClearAllForwardings`, `ForwardAgent`).

/// Keywords whose value (or effect) is a command or code, with what runs.
const COMMANDS: &[(&str, &str)] = &[
    ("proxycommand", "ssh runs its value as a command"),
    ("localcommand", "ssh runs its value as a command after connecting"),
    ("pkcs11provider", "ssh loads its value as a shared library"),
    ("securitykeyprovider", "ssh loads its value as a shared library"),
];

/// Why `tokens` (one host's checked inventory ssh args, as [`crate::ssh::args::parse_inventory_args`] returns
/// them: each flag followed by its value) would make ssh run an inventory command, if they do.
pub fn inventory_command(tokens: &[String]) -> Option<String> {
    let mut it = tokens.iter();
    while let Some(flag) = it.next() {
        let value = match flag.as_str() {
            "-o" | "-F" | "-J" | "-i" | "-p" | "-l" => it.next().map(String::as_str).unwrap_or_default(),
            _ => continue,
        };
        match flag.as_str() {
            "-o" => {
                let (keyword, rest) = split_option(value);
                let lower = keyword.to_ascii_lowercase();
                if let Some((_, why)) = COMMANDS.iter().find(|(k, _)| *k == lower) {
                    return Some(format!("-o {keyword}: {why}"));
                }
                if lower == "proxyjump" && !jump_hosts_only(rest) {
                    return Some(format!("-o {keyword}: {JUMP}"));
                }
            }
            "-F" if value != "/dev/null" => {
                return Some(format!(
                    "-F {value}: an ssh config file can run commands (ProxyCommand, LocalCommand, Match exec), and \
                     Match exec runs as soon as ssh reads it"
                ));
            }
            "-J" if !jump_hosts_only(value) => return Some(format!("-J {value}: {JUMP}")),
            _ => {}
        }
    }
    None
}

const JUMP: &str = "the jump host list holds characters a shell would interpret (only [user@]host[:port], \
                    comma-separated, is accepted)";

/// `Keyword=value` or `Keyword value`, as ssh reads `-o`.
fn split_option(value: &str) -> (&str, &str) {
    let value = value.trim_start();
    let end = value.find(['=', ' ', '\t']).unwrap_or(value.len());
    let rest = value[end..].trim_start_matches([' ', '\t']);
    (&value[..end], rest.strip_prefix('=').unwrap_or(rest).trim())
}

/// True when a ProxyJump value is only host specs: ssh turns it into a `ssh -W` command line for `/bin/sh`.
fn jump_hosts_only(value: &str) -> bool {
    !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_@:/[],".contains(&b))
        && !value.split(',').any(|h| h.starts_with('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(raw: &str) -> Vec<String> {
        crate::ssh::args::parse_inventory_args(raw).expect("accepted").tokens
    }

    #[test]
    fn commands_in_any_spelling_are_named() {
        for (raw, want) in [
            ("-o 'ProxyCommand=nc %h %p'", "-o ProxyCommand: ssh runs its value"),
            ("-oproxycommand='sh -c x'", "-o proxycommand: ssh runs its value"),
            ("-o 'ProxyCommand nc %h %p'", "-o ProxyCommand:"),
            ("-o LocalCommand=id", "-o LocalCommand:"),
            ("-o PKCS11Provider=/tmp/x.so", "-o PKCS11Provider: ssh loads"),
            ("-o SecurityKeyProvider=/tmp/x.so", "-o SecurityKeyProvider: ssh loads"),
            ("-C -F /etc/hosts", "-F /etc/hosts: an ssh config file can run commands"),
            ("-J 'bastion;id'", "-J bastion;id: the jump host list"),
            ("-J '$(id)@bastion'", "-J $(id)@bastion:"),
            ("-J a,-oProxyCommand=x", "-J a,-oProxyCommand=x:"),
            ("-o 'ProxyJump=b`id`'", "-o ProxyJump: the jump host list"),
        ] {
            assert_eq!(inventory_command(&tokens(raw)).as_deref().map(|r| r.starts_with(want)), Some(true), "{raw}");
        }
    }

    #[test]
    fn routes_without_commands_pass() {
        for raw in [
            "",
            "-o StrictHostKeyChecking=no -p 2222 -l deploy -i /k -C -A",
            "-F /dev/null",
            "-J deploy@bastion.example:2222,jump2",
            "-o ProxyJump=ssh://u@[2001:db8::1]:22",
            "-o ServerAliveInterval=5 -o LocalForward=8080:localhost:80 -o PermitLocalCommand=yes",
        ] {
            assert_eq!(inventory_command(&tokens(raw)), None, "{raw}");
        }
    }
}
