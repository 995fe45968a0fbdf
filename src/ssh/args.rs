//! The ssh command line: what an inventory may add to it, what credpush pins on it, and the environment ssh runs
//! with.
//!
//! `ansible_ssh_common_args` and `ansible_ssh_extra_args` are split as a shell would (Ansible uses shlex) and
//! passed to ssh verbatim, in the order Ansible passes them, so each accepted flag means exactly what it means
//! under Ansible (`-F /dev/null` is "no config file"). credpush's own options come first: for `-o` options ssh
//! keeps the first value it sees, on the command line before any config file, so an inventory cannot undo them.
//!
//! ## Host key trust: the options considered
//!
//! | option | how it could weaken trust | what credpush does |
//! |---|---|---|
//! | `StrictHostKeyChecking` | `no` accepts any key | pinned first on the command line (`yes`, or `accept-new` by flag) |
//! | `KnownHostsCommand` | a command prints whatever key the host presents | refused in inventory args |
//! | `UserKnownHostsFile`, `GlobalKnownHostsFile` | a file the inventory's author controls (or `/dev/null` with accept-new) | refused in inventory args |
//! | `HostKeyAlias` | checks the host against another host's entry | refused in inventory args |
//! | `VerifyHostKeyDNS` | trusts SSHFP records instead of known_hosts | refused in inventory args |
//! | `RevokedHostKeys` | replaces the operator's revocation list | refused in inventory args |
//! | `-F FILE` | the file may set any of the above, in `Match` blocks too | the trust options ssh resolves with the inventory's args must equal those it resolves from the operator's config alone (`ssh -G`), else refused |
//! | `UpdateHostKeys` | only adds keys after the host proved a known one; it writes known_hosts | pinned `no`: credpush does not edit known_hosts except with accept-new |
//! | `CheckHostIP`, `HostKeyAlgorithms`, `CASignatureAlgorithms`, `HashKnownHosts` | can only warn, narrow or change the format | allowed |
//! | `ProxyCommand`, `ProxyJump`, `HostName`, `Port`, `User` | change the route, not the check: the destination's key is still checked end to end against its name | allowed, as under Ansible |
//!
//! Also pinned, because credpush's connection handling relies on them: `BatchMode=yes`, the control socket
//! (`ControlMaster`, `ControlPath`, `ControlPersist`), `LogLevel=ERROR` (errors are read from the log),
//! `RemoteCommand=none`, `RequestTTY=no`.
//!
//! Pinned too, because a host may be compromised and a push needs none of them: `ForwardAgent=no` (a host given
//! the operator's agent can log in wherever its keys open, for as long as the connection lasts), `ForwardX11=no`
//! and `ClearAllForwardings=yes` (no `RemoteForward` opens a way from the host back into the central job's
//! network; `LocalForward` and `DynamicForward` go too, from the inventory and the operator's config alike).
//!
//! Refused flags are anything but `-o`, `-J`, `-i`, `-p`, `-l`, `-F`, `-4`, `-6`, `-C`; `-q`, `-v`, `-T` and `-n`
//! are dropped (they would only change the master's log), and so is `-A`, which ssh applies over an earlier
//! `-o ForwardAgent=no` (it is accepted so that an Ansible inventory that forwards its agent still works).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Keywords an inventory may not set, each with why.
const REFUSED: &[(&str, &str)] = &[
    ("knownhostscommand", "it would let a command decide which host keys to trust"),
    ("userknownhostsfile", "it would replace the known_hosts file your ssh config names"),
    ("globalknownhostsfile", "it would replace the known_hosts file your ssh config names"),
    ("hostkeyalias", "it would check the host against another host's key"),
    ("verifyhostkeydns", "it would trust DNS records instead of known_hosts"),
    ("revokedhostkeys", "it would replace your list of revoked keys"),
];

/// The options `ssh -G` reports that decide which host keys are trusted (see the module docs).
const TRUST_KEYS: &[&str] = &[
    "stricthostkeychecking",
    "knownhostscommand",
    "userknownhostsfile",
    "globalknownhostsfile",
    "hostkeyalias",
    "verifyhostkeydns",
    "revokedhostkeys",
];

/// Environment variables ssh (and a `ProxyCommand`, `KnownHostsCommand` or `Match exec` it runs) may see.
/// Everything else, the caller's AWS keys first of all, stays out of ssh's reach.
pub const ENV_ALLOWED: &[&str] = &[
    "HOME",
    "USER",
    "LOGNAME",
    "PATH",
    "SSH_AUTH_SOCK",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "KRB5CCNAME",
    "XDG_RUNTIME_DIR",
];

/// The ssh arguments one host's inventory variables add, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryArgs {
    /// Tokens to pass to ssh verbatim.
    pub tokens: Vec<String>,
    /// True when they include `-F`.
    pub has_config_file: bool,
}

/// Why an inventory's ssh arguments were refused.
pub type Refusal = String;

/// Splits `raw` as a shell would and checks each flag. `-F` must name a readable file.
pub fn parse_inventory_args(raw: &str) -> Result<InventoryArgs, Refusal> {
    let tokens = shlex::split(raw).ok_or_else(|| "unbalanced quotes".to_owned())?;
    let mut out = InventoryArgs::default();
    let mut it = tokens.into_iter();
    while let Some(tok) = it.next() {
        // ssh's getopt takes a flag's value joined (-p22) or as the next word (-p 22).
        let (flag, joined) = if tok.starts_with('-') && tok.len() > 2 && tok.is_char_boundary(2) {
            (tok[..2].to_owned(), Some(tok[2..].to_owned()))
        } else {
            (tok.clone(), None)
        };
        match flag.as_str() {
            "-o" | "-J" | "-i" | "-p" | "-l" | "-F" => {
                let value = match joined {
                    Some(v) => v,
                    None => it.next().ok_or_else(|| format!("{flag} needs a value"))?,
                };
                if value.is_empty() || value.contains(['\n', '\r', '\0']) {
                    return Err(format!("the value of {flag} may not be empty or contain a line break"));
                }
                if flag == "-o" {
                    check_option(&value)?;
                }
                if flag == "-F" {
                    check_config_file(&value)?;
                    out.has_config_file = true;
                }
                out.tokens.push(flag);
                out.tokens.push(value);
            }
            "-4" | "-6" | "-C" if joined.is_none() => out.tokens.push(flag),
            "-q" | "-T" | "-n" | "-A" if joined.is_none() => {}
            _ if tok.starts_with("-v") && tok[1..].bytes().all(|b| b == b'v') => {}
            _ => {
                return Err(format!(
                    "unsupported ssh flag {tok:?} (credpush passes -o, -J, -i, -p, -l, -F, -4, -6, -C and ignores -q, -v, -T, -n, -A)"
                ));
            }
        }
    }
    Ok(out)
}

fn check_option(value: &str) -> Result<(), Refusal> {
    let keyword = value.split(['=', ' ', '\t']).next().unwrap_or_default().to_ascii_lowercase();
    if let Some((_, why)) = REFUSED.iter().find(|(k, _)| *k == keyword) {
        let shown = value.split(['=', ' ', '\t']).next().unwrap_or_default();
        return Err(format!(
            "the ssh option {shown} is not accepted from an inventory: {why}; set it in your ssh config instead"
        ));
    }
    Ok(())
}

fn check_config_file(value: &str) -> Result<(), Refusal> {
    // ssh reads -F itself, so a file it cannot read fails every connection: say so before anything runs.
    // `/dev/null` is ssh's (and Ansible's) way to say "no config file"; any other device or FIFO would hang ssh.
    let path = Path::new(value);
    if path == Path::new("/dev/null") {
        return Ok(());
    }
    crate::host::input::check_regular(path, crate::host::input::MAX_CONFIG_BYTES)
        .map_err(|e| format!("-F {value}: cannot read it ({e})"))
}

/// What every master connection of a run shares.
#[derive(Debug, Clone)]
pub struct Pinned {
    /// `StrictHostKeyChecking` value: `yes` or `accept-new`.
    pub strict: &'static str,
    /// `ConnectTimeout` in whole seconds.
    pub connect_timeout_secs: u64,
    /// `ControlPersist` in seconds: how long an idle master outlives its last session, which bounds how long
    /// one outlives a credpush that was killed.
    pub persist_secs: u64,
    /// `--ssh-config`, passed as `-F` before the inventory's args (a later `-F` wins in ssh).
    pub operator_config: Option<PathBuf>,
}

/// One host's connection settings, as the ssh command line needs them.
#[derive(Debug, Clone, Default)]
pub struct HostArgs<'a> {
    /// Address (`ansible_host`).
    pub address: &'a str,
    /// `ansible_port`.
    pub port: Option<u16>,
    /// `ansible_ssh_private_key_file`, expanded.
    pub key_file: Option<&'a Path>,
    /// `ansible_user`.
    pub user: Option<&'a str>,
    /// The inventory's ssh args.
    pub inventory: &'a [String],
}

fn quote_tokens(path: &Path) -> String {
    // ControlPath and IdentityFile expand % tokens; a literal % in a temp path must stay literal.
    path.to_string_lossy().replace('%', "%%")
}

/// The options credpush pins, first on the command line.
fn pinned_options(pinned: &Pinned) -> Vec<String> {
    vec![
        format!("StrictHostKeyChecking={}", pinned.strict),
        "BatchMode=yes".into(),
        "UpdateHostKeys=no".into(),
        "LogLevel=ERROR".into(),
        "RemoteCommand=none".into(),
        "RequestTTY=no".into(),
        "ForwardAgent=no".into(),
        "ForwardX11=no".into(),
        "ClearAllForwardings=yes".into(),
        format!("ConnectTimeout={}", pinned.connect_timeout_secs.max(1)),
        "ServerAliveInterval=15".into(),
        "ServerAliveCountMax=3".into(),
    ]
}

/// The arguments after credpush's pinned ones, in Ansible's order: config, port, key, user, then the inventory's
/// common and extra args; then `--` and the address, so an address can never be read as a flag.
fn host_tail(pinned: &Pinned, host: &HostArgs<'_>) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    if let Some(c) = &pinned.operator_config {
        args.push("-F".into());
        args.push(c.into());
    }
    if let Some(p) = host.port {
        args.push("-o".into());
        args.push(format!("Port={p}").into());
    }
    if let Some(k) = host.key_file {
        args.push("-o".into());
        args.push(format!("IdentityFile={}", quote_tokens(k)).into());
    }
    if let Some(u) = host.user {
        args.push("-o".into());
        args.push(format!("User={u}").into());
    }
    args.extend(host.inventory.iter().map(OsString::from));
    args.push("--".into());
    args.push(host.address.into());
    args
}

/// The full command line (after `ssh`) that starts a master for one host in the background.
pub fn master_args(pinned: &Pinned, host: &HostArgs<'_>, socket: &Path, log: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["-E".into(), log.into(), "-f".into(), "-N".into()];
    for o in [
        "ControlMaster=yes".to_owned(),
        format!("ControlPath={}", quote_tokens(socket)),
        format!("ControlPersist={}s", pinned.persist_secs.max(1)),
    ]
    .into_iter()
    .chain(pinned_options(pinned))
    {
        args.push("-o".into());
        args.push(o.into());
    }
    args.extend(host_tail(pinned, host));
    args
}

/// The command line (after `ssh`, before the remote command) of one plain connection for one exec: the same
/// pinned options as a master's, with no control socket used or made (`ControlMaster=no`, `ControlPath=none`
/// first, so the operator's config cannot turn this connection into a master or a mux client).
pub fn direct_args(pinned: &Pinned, host: &HostArgs<'_>, log: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["-E".into(), log.into(), "-T".into()];
    for o in ["ControlMaster=no".to_owned(), "ControlPath=none".to_owned()].into_iter().chain(pinned_options(pinned)) {
        args.push("-o".into());
        args.push(o.into());
    }
    args.extend(host_tail(pinned, host));
    args
}

/// `ssh -G` arguments: with the inventory's args, or (for `operator_only`) without them.
pub fn resolve_args(pinned: &Pinned, host: &HostArgs<'_>, operator_only: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["-G".into()];
    for o in pinned_options(pinned) {
        args.push("-o".into());
        args.push(o.into());
    }
    let bare = HostArgs { inventory: &[], ..host.clone() };
    args.extend(host_tail(pinned, if operator_only { &bare } else { host }));
    args
}

/// Compares the trust options in two `ssh -G` outputs; returns the first that differs, with both values.
pub fn trust_difference(operator: &str, with_inventory: &str) -> Option<(String, String, String)> {
    let pick = |text: &str, key: &str| -> String {
        text.lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.trim().to_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    TRUST_KEYS.iter().find_map(|k| {
        let (a, b) = (pick(operator, k), pick(with_inventory, k));
        (a != b).then(|| (k.to_string(), a, b))
    })
}

/// The environment ssh gets: the allowed variables of ours that are set.
pub fn ssh_env() -> Vec<(String, OsString)> {
    ENV_ALLOWED.iter().filter_map(|k| std::env::var_os(k).map(|v| (k.to_string(), v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_flags_pass_verbatim_and_refused_ones_say_why() {
        let a =
            parse_inventory_args("-o StrictHostKeyChecking=no -oServerAliveInterval=5 -J bastion -p2222 -C -vvv -q")
                .unwrap();
        assert_eq!(
            a.tokens,
            ["-o", "StrictHostKeyChecking=no", "-o", "ServerAliveInterval=5", "-J", "bastion", "-p", "2222", "-C"]
        );
        let f = parse_inventory_args("-F /dev/null").unwrap();
        assert!(f.has_config_file);
        assert_eq!(f.tokens, ["-F", "/dev/null"]);
        for (raw, want) in [
            ("-o KnownHostsCommand=/bin/echo", "KnownHostsCommand is not accepted from an inventory"),
            ("-o 'userknownhostsfile /tmp/k'", "userknownhostsfile is not accepted"),
            ("-oHostKeyAlias=x", "HostKeyAlias is not accepted"),
            ("-o VerifyHostKeyDNS=yes", "VerifyHostKeyDNS is not accepted"),
            ("-X", "unsupported ssh flag \"-X\""),
            ("-W host:22", "unsupported ssh flag \"-W\""),
            ("-o", "-o needs a value"),
            ("-F /nonexistent/credpush", "-F /nonexistent/credpush: cannot read it"),
            ("-o 'Proxy", "unbalanced quotes"),
        ] {
            let err = parse_inventory_args(raw).unwrap_err();
            assert!(err.contains(want), "{raw}: {err}");
        }
    }

    #[test]
    fn nothing_is_forwarded_whatever_the_inventory_asks_as_ssh_itself_resolves_it() {
        let raw = "-A -o ForwardAgent=yes -o ForwardX11=yes '-o RemoteForward 9000 localhost:22' \
                   -o 'LocalForward 8080 localhost:80' -o DynamicForward=1080";
        let inv = parse_inventory_args(raw).unwrap();
        assert!(!inv.tokens.iter().any(|t| t == "-A"), "{:?}", inv.tokens);
        let pinned = Pinned {
            strict: "yes",
            connect_timeout_secs: 5,
            persist_secs: 30,
            operator_config: Some("/dev/null".into()),
        };
        let host = HostArgs { address: "h.example", port: Some(2222), inventory: &inv.tokens, ..Default::default() };
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("ssh.log");
        for (what, args) in [
            ("direct", direct_args(&pinned, &host, &log)),
            ("master", master_args(&pinned, &host, &dir.path().join("s"), &log)),
        ] {
            // The very command line credpush runs, with -G first: ssh prints what it resolved and connects nowhere.
            let args: Vec<OsString> = args.into_iter().filter(|a| a != "-f" && a != "-N").collect();
            let out = std::process::Command::new("ssh").arg("-G").args(&args).output().expect("run ssh -G");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
            for want in ["forwardagent no", "forwardx11 no", "clearallforwardings yes"] {
                assert!(text.lines().any(|l| l == want), "{what}: no {want:?} in\n{text}");
            }
            for gone in ["remoteforward", "localforward", "dynamicforward"] {
                assert!(!text.lines().any(|l| l.starts_with(gone)), "{what}: {gone} survived in\n{text}");
            }
        }
    }

    #[test]
    fn pinned_options_come_first_and_the_address_after_a_double_dash() {
        let pinned =
            Pinned { strict: "yes", connect_timeout_secs: 5, persist_secs: 30, operator_config: Some("/etc/x".into()) };
        let inv = vec!["-o".to_owned(), "StrictHostKeyChecking=no".to_owned()];
        let host = HostArgs {
            address: "-oProxyCommand=x",
            port: Some(22),
            user: Some("u"),
            inventory: &inv,
            ..Default::default()
        };
        let args: Vec<String> = master_args(&pinned, &host, Path::new("/t/1%.s"), Path::new("/t/1.log"))
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let first_strict = args.iter().position(|a| a.starts_with("StrictHostKeyChecking=")).unwrap();
        assert_eq!(args[first_strict], "StrictHostKeyChecking=yes");
        assert!(args.contains(&"ControlPath=/t/1%%.s".to_owned()));
        assert_eq!(&args[args.len() - 2..], ["--", "-oProxyCommand=x"]);
        let f = args.iter().position(|a| a == "-F").unwrap();
        assert!(f < args.iter().position(|a| a == "StrictHostKeyChecking=no").unwrap());
    }

    #[test]
    fn a_direct_connection_pins_the_same_options_and_no_control_socket() {
        let pinned = Pinned { strict: "yes", connect_timeout_secs: 5, persist_secs: 30, operator_config: None };
        let inv = vec!["-o".to_owned(), "ControlMaster=auto".to_owned()];
        let host = HostArgs { address: "h", port: Some(2222), inventory: &inv, ..Default::default() };
        let args: Vec<String> = direct_args(&pinned, &host, Path::new("/t/1.log"))
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let master: Vec<String> = master_args(&pinned, &host, Path::new("/t/1.s"), Path::new("/t/1.log"))
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        for o in master.iter().filter(|a| a.contains('=') && !a.starts_with("Control")) {
            assert!(args.contains(o), "{o} is not pinned on the direct connection: {args:?}");
        }
        let first = |key: &str| args.iter().find(|a| a.starts_with(key)).cloned();
        assert_eq!(first("ControlMaster="), Some("ControlMaster=no".into()));
        assert_eq!(first("ControlPath="), Some("ControlPath=none".into()));
        assert!(!args.iter().any(|a| a.starts_with("ControlPersist") || a == "-f" || a == "-N"), "{args:?}");
        assert_eq!(&args[args.len() - 2..], ["--", "h"]);
    }

    #[test]
    fn trust_difference_names_the_option() {
        let a = "user u\nuserknownhostsfile /a\nstricthostkeychecking true\n";
        assert_eq!(trust_difference(a, a), None);
        let b = "user u\nuserknownhostsfile /dev/null\nstricthostkeychecking true\n";
        assert_eq!(trust_difference(a, b), Some(("userknownhostsfile".into(), "/a".into(), "/dev/null".into())));
    }
}
