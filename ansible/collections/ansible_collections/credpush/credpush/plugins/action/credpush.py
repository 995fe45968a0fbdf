# The controller half of the credpush module (the binary in ../modules/credpush does the write on the host).
#
# Why an action plugin: Ansible runs a binary module in six ssh round trips per host (make a temp dir, copy the
# module, copy the args, chmod, run, remove), and the playbook needed five more tasks per host to assume the role,
# report failures through no_log and print the result. Here one task does it all, in one round trip per host:
#   - with `role_arn`, the role is assumed on the controller with `credpush assume`, once per role and run however
#     many hosts share it (a lock in Ansible's private per-run temp directory, which Ansible removes at exit), so
#     the document never appears in the task's arguments and no_log is not needed: failures and results show;
#   - the module's arguments (one JSON line) travel on the stdin of one command, under become if set. That
#     command runs the copy of the module kept on the host (~/.cache/credpush/bin/credpush-helper-SHA256, the
#     file `credpush rotate` installs as its writer's helper: the same binary) when it passes the checks the SSH
#     writer makes of its helper. Otherwise (first contact, another build) it exits 78 having read nothing, and a
#     second command gets the args and the module itself: it makes a private temp dir under remote_tmp, runs the
#     module there, keeps a copy for later tasks, and removes the dir.
# `content` may still be given instead of `role_arn` (then the task needs no_log: the document is an argument).
# Secrets never enter a command line: the command text holds only the quoted remote_tmp.
# The task's arguments are checked here, against the options ansible-doc shows (../modules/credpush.yml), before
# any role is assumed.
from __future__ import annotations

import copy
import fcntl
import functools
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time

import yaml

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.json import Direction, get_module_encoder
from ansible.plugins.action import ActionBase
from ansible.vars.clean import remove_internal_keys

HERE = os.path.dirname(os.path.abspath(__file__))
# The directory rule credpush's remote writer applies: remote_tmp and everything above it must be owned by root or
# the (become) user and closed to group and others, or another local user could swap the temp dir and receive the
# args (the whole document) or run their own binary as the target user. The one copy of the rule: the Rust writer
# embeds it too, through the link templates/remote_dirs.sh.
DIRS_RULE = os.path.join(HERE, "remote_dirs.sh")
# The module's documentation, which is also the task's argument spec.
MODULE_DOC = os.path.join(HERE, "..", "modules", "credpush.yml")
# The module itself, as this collection ships it: identified once per run (see module_identity).
MODULE_FILE = os.path.join(HERE, "..", "modules", "credpush")
# This collection's name for the module, from where the plugin loader put this file
# (ansible_collections.NAMESPACE.NAME.plugins.action.credpush).
MODULE = ".".join(__name__.split(".")[1:3] + ["credpush"]) if __name__.startswith("ansible_collections.") else "credpush"
# The assume flags, from the task's options of the same name.
ASSUME_FLAGS = ("duration", "external_id", "session_name")
# Options whose value is secret: Ansible masks them in anything it prints.
NO_LOG = ("content",)
TRUST_EXIT = 77
# The kept module's script found no usable copy and read nothing: the task sends the module.
NOT_KEPT_EXIT = 78
NOT_KEPT = "credpush-module-not-kept"

# The remote script. Its only data is the base directory, quoted by the caller; the args and the module arrive on
# stdin, the args first as one line (JSON has no raw newlines). After the rule holds for remote_tmp it works
# inside its own mktemp -d directory, by relative names, creating files with O_EXCL (noclobber).
SCRIPT = (
    "umask 077; unset CDPATH; fail() {{ printf 'credpush: %s\\n' \"$2\" >&2; exit \"$1\"; }}\n"
    "{rule}\n"
    "{keep}"
    "base={base}\n"
    "enter_dir \"$base\"\n"
    "d=$(mktemp -d ./credpush.XXXXXXXX) || fail 73 \"cannot create a temp directory in $PWD\"\n"
    "top=$PWD; trap 'cd / && rm -rf -- \"$top/${{d#./}}\"' EXIT\n"
    "cd -P -- \"$d\" && check_chain \"$PWD\" final && set -C"
    " && IFS= read -r a && printf '%s\\n' \"$a\" >args && cat >credpush && chmod 700 credpush"
    " && {{ src=$PWD/credpush; ./credpush \"$PWD/args\"; rc=$?; keep; exit $rc; }}"
)
# Run by SCRIPT after the module: a copy of the module for later tasks, where the SSH writer keeps its helper.
# The directory passes the rule (enter_dir makes it 0700); the copy is made under a temp name with O_EXCL, must
# have the module's sha256, and is renamed into place, so a task never runs a partial copy. Failing, it says why
# on stderr (`credpush-keep: REASON`) and the task still succeeds: the next one sends the module again.
KEEP = (
    "keep() {{\n"
    "  [ -n \"${{HOME-}}\" ] || {{ echo 'credpush-keep: HOME is not set' >&2; return 0; }}\n"
    "  why=$( (\n"
    "    enter_dir \"$HOME/.cache/credpush/bin\"\n"
    "    t=.credpush-helper.$$.tmp\n"
    "    trap 'rm -f -- \"$t\"' EXIT; trap 'rm -f -- \"$t\"; exit 129' HUP INT TERM PIPE\n"
    "    rm -f -- \"$t\"; set -C\n"
    "    cat -- \"$src\" >\"$t\" || fail 73 \"cannot write a file in $PWD\"\n"
    "    chmod 700 -- \"$t\" || fail 73 \"cannot change a file's mode in $PWD\"\n"
    "    s=$(sha256sum <\"$t\") && [ \"${{s%% *}}\" = {sha} ] || fail 65 \"the copy in $PWD is not the module\"\n"
    "    sync -- \"$t\" 2>/dev/null || sync\n"
    "    mv -f -- \"$t\" credpush-helper-{sha} || fail 73 \"cannot rename a file in $PWD\"\n"
    "  ) 2>&1 >/dev/null ) || printf 'credpush-keep: %s\\n' \"${{why##*credpush: }}\" >&2\n"
    "}}\n"
)
# The kept module's script: the SSH writer's own check of its helper (templates/remote_write.sh, try_helper): a
# regular file of the (become) user, not writable by group or others, in a directory that passes the rule,
# with the module's `cksum` CRC and size (only that user or root could have changed it since a sha256-checked
# write put it there under its sha256's name). Nothing is read from stdin unless the module runs.
KEPT_SCRIPT = (
    "umask 077; unset CDPATH; soft=1; fail() {{ [ -z \"$soft\" ] || return 1; printf 'credpush: %s\\n' \"$2\" >&2;"
    " exit \"$1\"; }}\n"
    "{rule}\n"
    "h=credpush-helper-{sha}\n"
    "if [ -n \"${{HOME-}}\" ] && cd -P -- \"$HOME/.cache/credpush/bin\" 2>/dev/null && [ -f \"$h\" ] && [ ! -h \"$h\" ]"
    " && check_chain \"$PWD\" final \"$h\" && [ \"$fuid\" = \"$me\" ] && [ \"$fkind\" = 'regular file' ]"
    " && [ $((0$fmode & 022)) -eq 0 ] && [ \"$(cksum <\"$h\")\" = '{crc} {size}' ]; then\n"
    "  exec \"./$h\" {flag}\n"
    "fi\n"
    "echo {not_kept}; exit {code}"
)
STDIN_FLAG = "--credpush-ansible-stdin"
ASSUME_TIMEOUT = 120

# The sudo flags a become may carry (as credpush rotate's src/fleet/sudo.rs): those that change how sudo behaves,
# never what it runs or where it reads a password from. Ansible's own default `-H -S -n` passes.
SUDO_SHORT_FLAGS = "HnEkPS"
SUDO_LONG_FLAGS = ("--set-home", "--non-interactive", "--preserve-env", "--reset-timestamp", "--preserve-groups")

# Removes the role documents cached in the controller's local_tmp once ansible-playbook is gone, however it ends:
# Ansible removes local_tmp at a normal exit and on SIGINT, not on SIGTERM or SIGHUP. Waits on a pidfd, so it ends
# the moment the run does.
WATCHDOG = (
    "import os, select, shutil, sys\n"
    "try:\n    fd = os.pidfd_open(int(sys.argv[1]))\n    select.select([fd], [], [])\n"
    "except OSError:\n    pass\n"
    "shutil.rmtree(sys.argv[2], ignore_errors=True)\n"
)


class ActionModule(ActionBase):
    # False: the base class would otherwise make (and later remove) a remote temp dir in two more round trips.
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        # Ansible's own checks and wording ("Unsupported parameters for (...) module: ..."), even in check mode.
        try:
            _checked, checked = self.validate_argument_spec(argument_spec=argument_spec(),
                                                            mutually_exclusive=[["role_arn", "content"]])
        except AnsibleActionFail as e:
            # Ansible names the module after this file's Python name; the task's name for it reads better.
            return dict(result, failed=True, msg=e.message.replace(f"({self._load_name})", f"({MODULE})", 1))
        # Options the task left out stay out: the module applies its own defaults, and `stamp` only the action sets.
        args = {k: v for k, v in checked.items() if v is not None}
        role = args.pop("role_arn", None)
        binary = args.pop("credpush_bin", None) or "credpush"
        refused = self._refused_become_flags()
        if refused:
            return dict(result, failed=True, msg=refused)
        # How to assume: controller-side options, never sent to the module.
        assume_opts = {}
        for k in ASSUME_FLAGS:
            v = args.pop(k, None)
            if v not in (None, ""):
                assume_opts[k] = str(v)
        try:
            base = remote_base(self.get_shell_option("remote_tmp", default="~/.ansible/tmp"))
        except ValueError as e:
            return dict(result, failed=True, msg=str(e))
        if role is not None:
            if not str(role):
                return dict(result, failed=True, msg=(
                    f"host {task_vars.get('inventory_hostname')} has no role to assume (fix: set credpush_role_arn "
                    "for the host or its group, or pass -e credpush_default_role_arn=ARN)"))
            content, stamp, error = assume_once(str(binary), str(role), assume_opts)
            if error:
                return dict(result, failed=True, msg=error, role_arn=str(role))
            args["content"] = content
            # When the role was assumed: the module refuses to replace a document a later rotation wrote.
            args["stamp"] = stamp
            result["role_arn"] = str(role)
        return dict(result, **self._run_module(args, task_vars, base))

    def _refused_become_flags(self):
        """Why the sudo flags are refused, or None (see SUDO_FLAGS)."""
        become = getattr(self._connection, "become", None)
        if not self._play_context.become or become is None or not become.name.endswith("sudo"):
            return None
        try:
            flags = shlex.split(str(become.get_option("become_flags", playcontext=self._play_context) or ""))
        except (KeyError, ValueError) as e:
            return f"ansible_become_flags cannot be read: {e}"
        for flag in flags:
            short_ok = flag.startswith("-") and not flag.startswith("--") and len(flag) > 1 and all(
                c in SUDO_SHORT_FLAGS for c in flag[1:])
            if flag != "-S" and not short_ok and flag not in SUDO_LONG_FLAGS:
                return (f"ansible_become_flags: sudo flag {flag!r} is not accepted: credpush passes only -H, -n, -E, "
                        "-k, -P and their long forms (and Ansible's lone -S), because other flags can make sudo run "
                        "another command or read the stdin that carries the document")
        return None

    def _run_module(self, args, task_vars, base):
        self._update_module_args(MODULE, args, task_vars)
        built, path = self._configure_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        encoder = get_module_encoder(built.serialization_profile, Direction.CONTROLLER_TO_MODULE)
        line = json.dumps(args, cls=encoder).encode() + b"\n"
        env = self._compute_environment_string()
        ident = module_identity(path, built.b_module_data)
        res = None
        if ident is not None:
            sha, crc, size = ident
            cmd = env + KEPT_SCRIPT.format(rule=dirs_rule(), sha=sha, crc=crc, size=size, flag=STDIN_FLAG,
                                           not_kept=NOT_KEPT, code=NOT_KEPT_EXIT)
            res = self._low_level_execute_command(cmd, sudoable=True, in_data=line)
            if res.get("rc") == NOT_KEPT_EXIT and str(res.get("stdout", "")).strip() == NOT_KEPT:
                res = None
        warnings = []
        if res is None:
            keep = KEEP.format(sha=ident[0]) if ident is not None else "keep() { :; }\n"
            cmd = env + SCRIPT.format(rule=dirs_rule(), keep=keep, base=base)
            res = self._low_level_execute_command(cmd, sudoable=True, in_data=line + built.b_module_data)
            warnings = [f"the credpush module was not kept on the host for later tasks ({why}); the next task sends "
                        "it again" for why in keep_failures(res)]
        refused = trust_refusal(res)
        if refused:
            return dict(failed=True, changed=False, msg=refused)
        data = self._parse_returned_data(res, built.serialization_profile)
        remove_internal_keys(data)
        if warnings:
            data["warnings"] = list(data.get("warnings") or []) + warnings
        return data


def argument_spec():
    """The task's argument spec, from the module's documented options (one source: what ansible-doc shows is what
    a task may pass). Read once per run: ansible-playbook imports this file before it forks a worker per host."""
    if "spec" not in _SPEC:
        try:
            _SPEC["spec"] = read_argument_spec()
        except AnsibleActionFail as e:
            _SPEC["error"] = e
            _SPEC["spec"] = None
    if _SPEC["spec"] is None:
        raise _SPEC["error"]
    return copy.deepcopy(_SPEC["spec"])


def read_argument_spec():
    """The spec, read from MODULE_DOC."""
    try:
        with open(MODULE_DOC, encoding="utf-8") as f:
            options = yaml.safe_load(f)["DOCUMENTATION"]["options"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as e:
        raise AnsibleActionFail(f"the credpush module's documentation {MODULE_DOC} cannot be read: {e}") from e
    spec = {}
    for name, doc in options.items():
        spec[name] = {k: doc[k] for k in ("type", "required", "choices", "default") if k in doc}
        if name in NO_LOG:
            spec[name]["no_log"] = True
    return spec


def module_identity(path, data):
    """(sha256, cksum CRC, size) of the module `data` read from `path`, or None where `cksum` cannot run here (the
    task then always sends the module). Cached by the file's identity: this collection's module is done once per
    run, before the workers fork; hashing per host would cost about a millisecond of CPU each."""
    try:
        st = os.stat(path)
        key = (os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    except (OSError, TypeError):
        key = None
    if key is not None and key in _IDENT and _IDENT[key][2] == len(data):
        return _IDENT[key]
    try:
        proc = subprocess.run(["cksum"], input=data, capture_output=True, timeout=30, check=True)
        crc, size = proc.stdout.decode().split()
        ident = (hashlib.sha256(data).hexdigest(), int(crc), int(size))
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    if ident[2] != len(data):
        return None
    if key is not None:
        _IDENT[key] = ident
    return ident


def keep_failures(res):
    """Why SCRIPT's copy of the module for later tasks failed (its `credpush-keep: ` lines)."""
    prefix = "credpush-keep: "
    return [line[len(prefix):] for line in str(res.get("stderr", "")).splitlines() if line.startswith(prefix)]


@functools.cache
def dirs_rule():
    """The shell text of the directory rule (DIRS_RULE), read once per run."""
    with open(DIRS_RULE, encoding="utf-8") as f:
        return f.read()


def trust_refusal(res):
    """The rule's one-line refusal (exit 77 before the module ran), or None."""
    if res.get("rc") != TRUST_EXIT:
        return None
    lines = [line for line in str(res.get("stderr", "")).splitlines() if line.startswith("credpush: ")]
    return lines[-1][len("credpush: "):] if lines else None


def remote_base(remote_tmp):
    """remote_tmp as shell text: `~` and `$HOME` are the (become) user's home, expanded by the remote shell."""
    value = str(remote_tmp)
    for prefix in ("~/", "$HOME/", "${HOME}/"):
        if value.startswith(prefix):
            return '"$HOME"/' + shlex.quote(value[len(prefix):])
    if value in ("~", "$HOME", "${HOME}"):
        return '"$HOME"'
    if value.startswith("/"):
        return shlex.quote(value)
    raise ValueError(f"remote_tmp {value!r} is neither absolute nor under ~ (fix: set remote_tmp to such a path)")


def watch_cache(cache):
    """Creates the cache directory and, once per run, the watchdog that removes it when ansible-playbook (this
    worker's parent) ends."""
    os.makedirs(cache, mode=0o700, exist_ok=True)
    try:
        fd = os.open(os.path.join(cache, "watchdog"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)
    # Its own session: a SIGHUP to the terminal's process group must not end it before it cleaned up.
    subprocess.Popen([sys.executable, "-c", WATCHDOG, str(os.getppid()), cache], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True)


def assume_once(binary, role, opts):
    """The document for `role` (with `opts`: external_id, duration), assumed once per run and option set: the
    first worker to take its lock assumes it, the others read its result. Returns (content, stamp, None) or
    (None, None, error message); the stamp is when the role was assumed, in nanoseconds since the epoch."""
    cache = os.path.join(C.DEFAULT_LOCAL_TMP, "credpush")
    watch_cache(cache)
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in sorted(opts.items())]
    key = hashlib.sha256("\0".join([binary, role, *flags]).encode()).hexdigest()[:32]
    doc, err = os.path.join(cache, key + ".json"), os.path.join(cache, key + ".err")
    stamp_file = os.path.join(cache, key + ".stamp")
    with open(os.path.join(cache, key + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(doc) and not os.path.exists(err):
            with open(stamp_file, "w") as f:
                f.write(str(time.time_ns()))
            try:
                # `--flag=value`: a value from the inventory that starts with `-` stays a value.
                proc = subprocess.run([binary, "assume", f"--role-arn={role}", *flags, f"--output={doc}"], stdin=subprocess.DEVNULL,
                                      capture_output=True, text=True, timeout=ASSUME_TIMEOUT, check=False)
                message = proc.stderr.strip() if proc.returncode != 0 else ""
                if proc.returncode != 0 and not message:
                    message = f"credpush assume exited {proc.returncode}"
            except (OSError, subprocess.TimeoutExpired) as e:
                message = f"could not run {binary} assume: {e} (fix: set credpush_bin to the credpush CLI's path)"
            if message:
                fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(message)
        if os.path.exists(err):
            with open(err) as f:
                return None, None, f.read()
        with open(stamp_file) as f:
            stamp = f.read().strip()
        with open(doc) as f:
            return f.read(), stamp, None


# Filled in at import, in ansible-playbook's own process, so every worker forked from it has them.
_SPEC = {}
_IDENT = {}
try:
    argument_spec()
    dirs_rule()
    with open(MODULE_FILE, "rb") as _f:
        module_identity(MODULE_FILE, _f.read())
except (OSError, AnsibleActionFail):
    pass
