"""The measuring half of scripts/bench-host: one host's cost, step by step.

Each step runs `--runs` times in a row against one loopback sshd host (the fleet of scripts/lib/fleet.sh), and is
timed by its wall time, the CPU of this side (the ssh clients and credpush, from getrusage of the children) and the
CPU of the whole machine (which adds the sshd side: its session, the remote shell and what the writer starts).
  plain-true     ssh host true: connect, authenticate, one exec (what any method pays per host)
  floor          ssh host 'umask 077 && cat >f.tmp && mv -f f.tmp f' with the document on stdin: method (d)
  resolve        ssh -G twice, as credpush's trust check does per distinct connection
  master         ssh -f -N as credpush starts a master (ControlPersist), one `ssh -S sock host true` through it,
                 then `-O exit`: the master's cost against plain-true (credpush's own mux client replaces the
                 second ssh process, so this is an upper bound)
  writer         ssh host sh -c WRITER with the framed document on stdin: credpush's remote writer over one plain
                 connection, the shell doing every step (no helper); minus floor, what its guarantees cost per host
  helper         the same with the writer helper installed on the host: the prelude checks it and execs it
  rotate-1       credpush rotate on this one host (STS included), with the helper: everything a one-host run costs
  rotate-shell   the same with --helper none
  first-contact  rotate-1 on a host without the helper: the shell writes, then credpush installs the helper
Then it runs the writer locally under strace and counts the programs it starts per write, with and without the
helper, and times it there.
"""

import argparse
import hashlib
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import machine_cpu

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NONCE = "0123abcd"


def parse_args():
    p = argparse.ArgumentParser()
    for a in ("--work", "--role", "--credpush", "--helper", "--build"):
        p.add_argument(a, required=True)
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--report")
    return p.parse_args()


def writer_script():
    parts = ["remote_common.sh", "remote_dirs.sh", "remote_write.sh"]
    return "".join(open(os.path.join(REPO, "templates", f)).read() for f in parts)


def framed(doc):
    sha = hashlib.sha256(doc).hexdigest()
    return f"credpush-write {sha} {len(doc)}\n".encode() + doc + b"credpush-end\n"


def local_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class Host:
    def __init__(self, args):
        self.a = args
        self.config = os.path.join(args.work, "ssh_config")
        line = next(x for x in open(os.path.join(args.work, "hosts.ini")) if "ansible_port=" in x).split()
        self.port = line[2].split("=", 1)[1]
        self.home = os.path.join(args.work, "h1", "home")
        self.target = os.path.join(self.home, ".aws", "temp.json")
        os.makedirs(os.path.dirname(self.target), exist_ok=True)
        subprocess.run(["chown", "-R", "credpush-it", self.home], check=True)
        os.chmod(os.path.dirname(self.target), 0o700)
        self.inventory = os.path.join(args.work, "one.ini")
        with open(self.inventory, "w") as f:
            f.write(f"[onprem]\nh1 ansible_host=127.0.0.1 ansible_port={self.port} ansible_user=credpush-it "
                    f"credpush_path={self.target}\n")
        self.ctl = tempfile.mkdtemp(prefix="cp.", dir=args.work)
        self.doc = subprocess.run([args.credpush, "assume", "--role-arn", args.role], check=True,
                                  capture_output=True).stdout
        if not self.doc.startswith(b"{"):
            sys.exit("bench-host: credpush assume printed no document")
        self.stamp = 1
        self.helper_sha, self.helper_arg = helper_arg(args.helper)
        self.installed = os.path.join(self.home, ".cache", "credpush", "bin", f"credpush-helper-{self.helper_sha}")

    def ssh(self, *extra):
        return ["ssh", "-T", "-F", self.config, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-p", self.port,
                "-l", "credpush-it", *extra]

    def step(self, name):
        run = subprocess.run
        dn = subprocess.DEVNULL
        if name == "plain-true":
            run(self.ssh("127.0.0.1", "true"), check=True, stdin=dn)
        elif name == "floor":
            remote = 'umask 077 && cat >"$1.tmp" && mv -f "$1.tmp" "$1"'
            run(self.ssh("127.0.0.1", "sh", "-c", shlex.quote(remote), "credpush", shlex.quote(self.target)),
                input=self.doc, check=True)
        elif name == "resolve":
            for _ in range(2):
                run(self.ssh("-G", "127.0.0.1"), check=True, stdout=dn)
        elif name == "master":
            sock = os.path.join(self.ctl, "m")
            run(self.ssh("-f", "-N", "-o", "ControlMaster=yes", "-o", f"ControlPath={sock}", "-o",
                         "ControlPersist=30s", "127.0.0.1"), check=True, stdin=dn)
            run(self.ssh("-S", sock, "127.0.0.1", "true"), check=True, stdin=dn)
            run(self.ssh("-S", sock, "-O", "exit", "127.0.0.1"), check=True, stdin=dn, stderr=dn)
        elif name in ("writer", "helper"):
            self.stamp += 1
            if name == "helper":
                install_helper(self.a.helper, self.installed)
            sha = self.helper_arg if name == "helper" else "-"
            argv = ["sh", "-c", writer_script(), "credpush", sha, self.target, "600", str(self.stamp), "30", NONCE]
            p = run(self.ssh("127.0.0.1", " ".join(shlex.quote(a) for a in argv)), input=framed(self.doc),
                    capture_output=True)
            if p.returncode != 0 or b"\nok " not in p.stdout or b"\nhelper " in p.stdout:
                sys.exit(f"bench-host: the {name} step failed ({p.returncode}): {p.stdout.decode(errors='replace')}"
                         f"{p.stderr.decode(errors='replace')}")
        elif name in ("rotate-1", "rotate-shell", "first-contact"):
            if name == "first-contact" and os.path.exists(self.installed):
                os.unlink(self.installed)
            helper = "none" if name == "rotate-shell" else self.a.helper
            run([self.a.credpush, "rotate", "-i", self.inventory, "--role-arn", self.a.role, "--ssh-config",
                 self.config, "--helper", helper, "--json"], check=True, stdout=dn)
            if name == "first-contact" and not os.path.exists(self.installed):
                sys.exit("bench-host: rotate did not install the helper on first contact")

    def measure(self, name):
        self.step(name)  # warm: page cache, moto's first request
        walls = []
        c0, m0 = local_cpu(), machine_cpu()
        for _ in range(self.a.runs):
            t = time.monotonic()
            self.step(name)
            walls.append(time.monotonic() - t)
        n = self.a.runs
        return {"step": name, "wall_ms": statistics.median(walls) * 1000, "min_ms": min(walls) * 1000,
                "local_cpu_ms": (local_cpu() - c0) / n * 1000, "machine_cpu_ms": (machine_cpu() - m0) / n * 1000}


def helper_arg(helper):
    """The helper's sha256 (its name on a host) and the writer's HELPER argument, SHA256:CRC:SIZE (`cksum`)."""
    with open(helper, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    with open(helper, "rb") as f:
        crc, size = subprocess.run(["cksum"], stdin=f, capture_output=True, check=True).stdout.split()
    return sha, f"{sha}:{crc.decode()}:{size.decode()}"


def install_helper(helper, installed):
    """The helper where the prelude looks for it, owned by the host's user, in 0700 directories."""
    if os.path.exists(installed):
        return
    home = installed.split("/.cache/")[0]
    d = home
    for part in (".cache", "credpush", "bin"):
        d = os.path.join(d, part)
        os.makedirs(d, mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)
    with open(helper, "rb") as src, open(installed + ".tmp", "wb") as dst:
        dst.write(src.read())
    os.chmod(installed + ".tmp", 0o700)
    os.rename(installed + ".tmp", installed)
    if os.getuid() == 0 and os.stat(home).st_uid != 0:
        subprocess.run(["chown", "-R", str(os.stat(home).st_uid), os.path.join(home, ".cache")], check=True)


def writer_programs(work, runs, helper=None):
    """The programs the writer starts per write (strace, locally), and its time and CPU there without strace."""
    home = tempfile.mkdtemp(dir=work)
    os.chmod(home, 0o755)
    sha = "-"
    if helper:
        name, sha = helper_arg(helper)
        install_helper(helper, os.path.join(home, ".cache", "credpush", "bin", f"credpush-helper-{name}"))
    doc = b'{"Version":1,"AccessKeyId":"ASIA' + b"X" * 16 + b'","SecretAccessKey":"' + b"s" * 40 + b'"}\n'
    script = writer_script()
    env = {"HOME": home, "PATH": "/usr/bin:/bin"}

    def once(stamp, prefix=()):
        argv = [*prefix, "sh", "-c", script, "credpush", sha, "~/.aws/temp.json", "600", str(stamp), "30", NONCE]
        p = subprocess.run(argv, input=framed(doc), capture_output=True, env=env)
        if p.returncode != 0 or b"\nhelper " in p.stdout:
            sys.exit(f"bench-host: the local writer failed: {p.stderr.decode(errors='replace')}")

    once(1)  # creates ~/.aws: the steady state is a directory that exists
    trace = os.path.join(home, "trace")
    once(2, ("strace", "-f", "-qq", "-e", "trace=execve", "-e", "status=successful", "-o", trace))
    programs = [line.split('"')[1] for line in open(trace) if "execve(" in line]
    c0, t0 = local_cpu(), time.monotonic()
    for i in range(runs):
        once(10 + i)
    return {"programs": [os.path.basename(p) for p in programs],
            "wall_ms": (time.monotonic() - t0) / runs * 1000, "cpu_ms": (local_cpu() - c0) / runs * 1000}


def main():
    args = parse_args()
    host = Host(args)
    steps = ["plain-true", "floor", "resolve", "master", "writer", "helper", "rotate-1", "rotate-shell",
             "first-contact"]
    rows = []
    for s in steps:
        rows.append(host.measure(s))
        r = rows[-1]
        print(f"bench-host: {s:<13} {r['wall_ms']:8.1f} ms wall (min {r['min_ms']:.1f})  "
              f"{r['local_cpu_ms']:6.1f} ms local CPU  {r['machine_cpu_ms']:6.1f} ms machine CPU", flush=True)
    local = {"shell": writer_programs(args.work, args.runs), "helper": writer_programs(args.work, args.runs,
                                                                                        args.helper)}
    for kind, w in local.items():
        print(f"bench-host: the writer ({kind}) starts {len(w['programs'])} programs per write: "
              f"{' '.join(w['programs'])}; run locally: {w['wall_ms']:.1f} ms wall, {w['cpu_ms']:.1f} ms CPU")
    by = {r["step"]: r for r in rows}
    derived = [
        ("writer − floor (the shell writer's guarantees, per host)", "writer", "floor"),
        ("helper − floor (the same guarantees through the helper)", "helper", "floor"),
        ("master − plain-true (a master and a mux session instead of one ssh)", "master", "plain-true"),
        ("rotate-1 − helper (STS, trust check, master, report)", "rotate-1", "helper"),
        ("rotate-shell − rotate-1 (the shell writer instead of the helper)", "rotate-shell", "rotate-1"),
        ("first-contact − rotate-1 (installing the helper, once per host)", "first-contact", "rotate-1"),
    ]
    for label, a, b in derived:
        print(f"bench-host: {label}: {by[a]['wall_ms'] - by[b]['wall_ms']:+.1f} ms wall, "
              f"{by[a]['machine_cpu_ms'] - by[b]['machine_cpu_ms']:+.1f} ms machine CPU")
    load = os.getloadavg()[0]
    print(f"bench-host: load average {load:.2f} at the end")
    if args.report:
        lines = [f"One host, step by step (`scripts/bench-host --runs {args.runs}`, {args.build} build, load "
                 f"{load:.2f}):", "", "| step | median wall | min | local CPU | machine CPU |", "|---|--:|--:|--:|--:|"]
        for r in rows:
            lines.append(f"| {r['step']} | {r['wall_ms']:.1f} ms | {r['min_ms']:.1f} ms | {r['local_cpu_ms']:.1f} ms | "
                         f"{r['machine_cpu_ms']:.1f} ms |")
        lines.append("")
        for kind, w in local.items():
            lines.append(f"- The writer ({kind}) starts {len(w['programs'])} programs per write "
                         f"({', '.join(w['programs'])}); run locally it takes {w['wall_ms']:.1f} ms wall and "
                         f"{w['cpu_ms']:.1f} ms CPU per write.")
        lines.append("")
        for label, a, b in derived:
            lines.append(f"- {label}: {by[a]['wall_ms'] - by[b]['wall_ms']:+.1f} ms wall, "
                         f"{by[a]['machine_cpu_ms'] - by[b]['machine_cpu_ms']:+.1f} ms machine CPU")
        with open(args.report, "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(args.report + ".json", "w") as f:
            json.dump({"rows": rows, "writer": local, "load": load}, f, indent=1)


if __name__ == "__main__":
    main()
