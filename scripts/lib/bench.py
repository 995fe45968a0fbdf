"""The measuring half of scripts/bench (which starts moto and the hosts, then runs this under the caller's
clean environment).

For each host count it times whole rotations by five methods, alternating them so that drift in the machine's
load spreads over all of them, after a warm-up round:
  (a) credpush rotate
  (b) ansible-playbook ansible/rotate.yml, with the credpush module
  (c) ansible-playbook scripts/lib/bench-copy.yml, ansible.builtin.copy of the document (the original design)
  (d) scripts/lib/bench-ssh-loop, one plain ssh per host, all at once (the floor)
  (e) ansible-playbook scripts/lib/bench-raw.yml, `raw: "true"` per host (Ansible's own one-round-trip floor; it
      writes nothing, so it is timed but not checked)
  (f) (b) on first contact: every host's kept copy of the module is removed first, so each task sends it and
      keeps it again
Every run must exit 0 and leave every host holding a new document, mode 0600, from one session. It records wall
time, the peak RSS of the largest process in the method's tree (/usr/bin/time), the CPU time of the whole machine (the sshd side
of every connection runs here too) and the STS calls, by action, from moto's request recorder. Then it writes
bench.json, bench.png and the generated part of the report.
"""

import argparse
import base64
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse

from benchlib import machine_cpu, moto_api, write_section

METHODS = {
    "a": "credpush rotate",
    "b": "ansible-playbook ansible/rotate.yml (credpush module)",
    "c": "ansible-playbook, ansible.builtin.copy",
    "d": "parallel ssh loop (floor)",
    "e": "ansible-playbook, raw: true (Ansible's floor)",
    "f": "ansible-playbook ansible/rotate.yml, first contact",
}
# The methods that write a document; (e) only makes one round trip per host.
WRITERS = "abcdf"
BEGIN = "<!-- scripts/bench: generated from here to the end marker; history follows it -->"
END = "<!-- scripts/bench: end -->"
HOST_USER = "credpush-it"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The Ansible module as scripts/build-module installs it, inside the credpush.credpush collection.
MODULE = os.path.join(REPO, "ansible/collections/ansible_collections/credpush/credpush/plugins/modules/credpush")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--role", required=True)
    p.add_argument("--credpush", required=True)
    p.add_argument("--venv", required=True)
    p.add_argument("--hosts", required=True)
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--warmup", type=int, required=True)
    p.add_argument("--report", required=True)
    p.add_argument("--build", required=True, help="the cargo profile credpush was built with")
    p.add_argument("--command", required=True, help="the scripts/bench command line, quoted in the report")
    return p.parse_args()


class Bench:
    def __init__(self, args):
        self.a = args
        self.work = args.work
        self.config = os.path.join(args.work, "ssh_config")
        self.recording = os.path.join(args.work, "moto-recording.jsonl")
        self.recorded = 0
        self.run_no = 0
        self.last_keys = {}
        with open(os.path.join(args.work, "hosts.ini")) as f:
            self.host_lines = [line for line in f.read().splitlines()[1:] if line.strip()]

    # -- the four methods --------------------------------------------------------------------------------------

    def inventory(self, n):
        path = os.path.join(self.work, f"hosts_{n}.ini")
        if not os.path.exists(path):
            # An absolute target on every host, as a real fleet should have; all four methods write it.
            lines = [f"{line} credpush_path={self.document(line)}" for line in self.host_lines[:n]]
            with open(path, "w") as f:
                f.write("[onprem]\n" + "\n".join(lines) + "\n")
        return path

    def document(self, line):
        return os.path.join(self.work, line.split()[0], "home", ".aws", "temp.json")

    def ansible_env(self, n, control_dir):
        env = dict(os.environ)
        env.update(
            ANSIBLE_CONFIG=os.path.join(REPO, "ansible", "ansible.cfg"),
            ANSIBLE_HOME=os.path.join(self.work, ".ansible"),
            ANSIBLE_LOCAL_TEMP=os.path.join(self.work, ".ansible", "tmp"),
            ANSIBLE_REMOTE_TEMP="$HOME/.ansible/tmp",
            # Best settings: one fork per host; no interpreter discovery round trip; pipelining for the Python
            # modules (the binary module is always transferred); one ssh master per host for the run, without
            # ssh's default compression, which costs CPU on a fast link.
            ANSIBLE_FORKS=str(n),
            ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3",
            ANSIBLE_PIPELINING="True",
            ANSIBLE_SSH_ARGS=f"-F {self.config} -o ControlMaster=auto -o ControlPersist=60s",
            ANSIBLE_SSH_CONTROL_PATH_DIR=control_dir,
            ANSIBLE_SSH_TRANSFER_METHOD=os.environ.get("CREDPUSH_BENCH_TRANSFER", "smart"),
            ANSIBLE_HOST_KEY_CHECKING="True",
            ANSIBLE_NOCOLOR="1",
            PATH=os.path.join(self.a.venv, "bin") + ":" + env.get("PATH", "/usr/bin:/bin"),
        )
        return env

    def command(self, method, n, control_dir):
        inv = self.inventory(n)
        if method == "a":
            argv = [self.a.credpush, "rotate", "-i", inv, "--role-arn", self.a.role, "--ssh-config", self.config,
                    "--forks", str(n), "--json"]
            return argv, dict(os.environ)
        if method in "bf":
            argv = [os.path.join(self.a.venv, "bin", "ansible-playbook"), os.path.join(REPO, "ansible", "rotate.yml"),
                    "-i", inv, "-e", f"credpush_bin={self.a.credpush}", "-e", f"credpush_default_role_arn={self.a.role}"]
            return argv, self.ansible_env(n, control_dir)
        if method in "ce":
            playbook = "bench-copy.yml" if method == "c" else "bench-raw.yml"
            argv = [os.path.join(self.a.venv, "bin", "ansible-playbook"),
                    os.path.join(REPO, "scripts", "lib", playbook),
                    "-i", inv, "-e", f"credpush_bin={self.a.credpush}", "-e", f"credpush_default_role_arn={self.a.role}"]
            return argv, self.ansible_env(n, control_dir)
        argv = [os.path.join(REPO, "scripts", "lib", "bench-ssh-loop"), self.a.credpush, self.a.role, self.config, inv]
        return argv, dict(os.environ)

    # -- one timed run -----------------------------------------------------------------------------------------

    def run(self, method, n):
        self.run_no += 1
        control_dir = os.path.join(self.work, "cp", str(self.run_no))
        os.makedirs(control_dir, mode=0o700)
        argv, env = self.command(method, n, control_dir)
        if method == "f":
            self.forget_module(n)
        log = os.path.join(self.work, f"run-{self.run_no}-{method}-{n}.log")
        # Peak RSS through /usr/bin/time, not this process's own wait4: a child's ru_maxrss starts from the image it
        # replaced at exec, and Python's own would hide anything smaller. time's image is about 2 MB.
        rss_file = log + ".rss"
        argv = ["/usr/bin/time", "-f", "%M", "-o", rss_file, "--"] + argv
        cpu0 = machine_cpu()
        started = time.time()
        t0 = time.monotonic()
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, cwd=REPO)
            try:
                _, status = os.waitpid(proc.pid, 0)
            except BaseException:
                os.killpg(proc.pid, signal.SIGKILL)
                raise
            proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - t0
        cpu = machine_cpu() - cpu0
        close_masters(control_dir)
        if proc.returncode != 0:
            with open(log, errors="replace") as f:
                tail = f.read()[-3000:]
            sys.exit(f"bench: {METHODS[method]} on {n} hosts exited {proc.returncode}; its output ends:\n{tail}")
        if method in WRITERS:
            self.check_hosts(method, n, started)
        with open(rss_file) as f:
            rss_kib = int(f.read().split()[-1])
        return {"wall": wall, "rss_kib": rss_kib, "cpu": cpu, "sts": self.sts_calls()}

    def forget_module(self, n):
        """Removes the copy of the module the Ansible action kept on each host (its name is the module's sha256;
        credpush rotate's helper, when it is another build, stays)."""
        with open(MODULE, "rb") as f:
            name = "credpush-helper-" + hashlib.sha256(f.read()).hexdigest()
        for line in self.host_lines[:n]:
            home = os.path.dirname(os.path.dirname(self.document(line)))
            try:
                os.remove(os.path.join(home, ".cache", "credpush", "bin", name))
            except FileNotFoundError:
                pass

    def check_hosts(self, method, n, started):
        """Every host holds a 0600 document written by this run, and all hold the same new session."""
        keys = set()
        for line in self.host_lines[:n]:
            path = self.document(line)
            st = os.stat(path)
            if st.st_mode & 0o777 != 0o600 or st.st_mtime < started - 1:
                sys.exit(f"bench: {METHODS[method]} left {path} with mode {st.st_mode & 0o777:o}, "
                         f"modified {st.st_mtime - started:+.1f} s from the run's start")
            with open(path) as f:
                doc = json.load(f)
            if doc.get("Version") != 1:
                sys.exit(f"bench: {METHODS[method]} wrote a document without Version 1 to {path}")
            keys.add(doc["AccessKeyId"])
        if len(keys) != 1 or keys & set(self.last_keys.values()):
            sys.exit(f"bench: {METHODS[method]} on {n} hosts left {len(keys)} session(s), expected one new one")
        self.last_keys[method] = keys.pop()

    def sts_calls(self):
        """The STS calls recorded since the last call, by action (read from where the last call stopped)."""
        calls = {}
        with open(self.recording) as f:
            f.seek(self.recorded)
            lines = f.read().splitlines()
            self.recorded = f.tell()
        for line in lines:
            entry = json.loads(line)
            if "/moto-api/" in entry.get("url", ""):
                continue
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode("utf-8", "replace")
            action = urllib.parse.parse_qs(body).get("Action", ["?"])[0]
            calls[action] = calls.get(action, 0) + 1
        return calls

    # -- the whole benchmark -----------------------------------------------------------------------------------

    def measure(self):
        moto_api(self.a.endpoint, "/moto-api/recorder/start-recording")
        if not os.path.exists(self.recording):
            open(self.recording, "w").close()
        sizes = [int(s) for s in self.a.hosts.split(",")]
        results = {}
        order = list(METHODS)
        for n in sizes:
            for _ in range(self.a.warmup):
                for m in order:
                    self.run(m, n)
                    print(f"bench: {n:>4} hosts  warm-up  {METHODS[m]}", flush=True)
            runs = {m: [] for m in order}
            for r in range(self.a.runs):
                # Each round starts with a different method, so no method always runs right after another.
                for m in order[r % len(order):] + order[:r % len(order)]:
                    res = self.run(m, n)
                    runs[m].append(res)
                    print(f"bench: {n:>4} hosts  run {r + 1}/{self.a.runs}  {METHODS[m]:<55} {res['wall']:7.2f} s",
                          flush=True)
            results[n] = runs
        return sizes, results


def close_masters(control_dir):
    """Stops the ssh masters Ansible left for ControlPersist: every run starts cold, as a scheduled one does."""
    for sock in os.listdir(control_dir):
        subprocess.run(["ssh", "-o", "ControlPath=" + os.path.join(control_dir, sock), "-O", "exit", "bench"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    shutil.rmtree(control_dir, ignore_errors=True)


def summarize(sizes, results):
    rows = []
    for n in sizes:
        med = {m: statistics.median(r["wall"] for r in results[n][m]) for m in METHODS}
        for m in METHODS:
            runs = results[n][m]
            walls = [r["wall"] for r in runs]
            sts = {}
            for r in runs:
                for action, count in r["sts"].items():
                    sts[action] = max(sts.get(action, 0), count)
            rows.append({
                "hosts": n, "method": m, "median": med[m], "min": min(walls), "max": max(walls),
                "vs_d": med[m] / med["d"], "vs_c": med[m] / med["c"], "vs_e": med[m] / med["e"],
                # What a host costs above the floor (d): wall time and the machine's CPU, per host.
                "minus_d_ms": (med[m] - med["d"]) / n * 1000,
                "cpu_ms_per_host": statistics.median(r["cpu"] for r in runs) / n * 1000,
                "rss_mb": max(r["rss_kib"] for r in runs) / 1024,
                "cpu": statistics.median(r["cpu"] for r in runs),
                "sts": sts, "walls": walls,
            })
    return rows


def targets(rows):
    def row(n, m):
        return next((r for r in rows if r["hosts"] == n and r["method"] == m), None)
    out = []
    for n in (50, 200):
        r = row(n, "a")
        if r:
            out.append((f"(a) ≤ 1.05× (d) at N = {n}", f"{r['vs_d']:.2f}×", r["vs_d"] <= 1.05))
    for n in (50, 200):
        a, d = row(n, "a"), row(n, "d")
        if a and d:
            extra = a["cpu_ms_per_host"] - d["cpu_ms_per_host"]
            out.append((f"(a) − (d) machine CPU ≤ 5 ms per host at N = {n}", f"{extra:.1f} ms", extra <= 5))
    r = row(50, "b")
    if r:
        out.append(("(b) ≤ 1.2× (e) at N = 50", f"{r['vs_e']:.2f}×", r["vs_e"] <= 1.2))
        out.append(("(b) ≥ 2× faster than (c) at N = 50", f"{1 / r['vs_c']:.2f}× faster", 1 / r["vs_c"] >= 2))
    r = row(200, "a")
    if r:
        out.append(("credpush peak RSS ≤ 30 MB at N = 200", f"{r['rss_mb']:.1f} MB", r["rss_mb"] <= 30))
    assumes = [r["sts"].get("AssumeRole", 0) for r in rows if r["method"] == "a"]
    if assumes:
        out.append(("one AssumeRole per distinct role (one role here)", f"{max(assumes)} per run", max(assumes) == 1))
    return out


def machine(venv):
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) // (1024 * 1024)

    def version(argv, pattern=r".*"):
        try:
            text = subprocess.run(argv, capture_output=True, text=True, check=False)
            text = (text.stdout + text.stderr).strip().splitlines()[0]
            found = re.search(pattern, text)
            return found.group(0) if found else text
        except (OSError, IndexError):
            return "unknown"
    return {
        "cpu": f"{os.cpu_count()} × {model}", "memory_gib": mem, "kernel": platform.release(),
        "openssh": version(["ssh", "-V"], r"OpenSSH_[^ ,]+"),
        "ansible": version([os.path.join(venv, "bin", "ansible"), "--version"], r"core [0-9.]+"),
        "commit": version(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]),
        "module_bytes": os.path.getsize(MODULE),
    }


def plot(sizes, rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for m, label in METHODS.items():
        mine = [r for r in rows if r["method"] == m]
        xs = [r["hosts"] for r in mine]
        ys = [r["median"] for r in mine]
        err = [[r["median"] - r["min"] for r in mine], [r["max"] - r["median"] for r in mine]]
        left.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=f"({m}) {label}")
        right.plot(xs, [r["vs_d"] for r in mine], marker="o", label=f"({m})")
    left.set(xlabel="hosts", ylabel="wall time per rotation, s (median, min–max)", title="Whole rotation")
    right.set(xlabel="hosts", ylabel="× the parallel ssh loop (d)", title="Relative to the floor")
    right.axhline(1.05, color="grey", linestyle=":", linewidth=1)
    for ax in (left, right):
        ax.set_xticks(sizes)
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    left.legend(fontsize=8, loc="upper left")
    right.legend(fontsize=8, loc="upper left")
    fig.suptitle("credpush vs Ansible vs raw ssh on loopback hosts, one 2-core machine", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)


def fmt_sts(sts):
    if not sts:
        return "0"
    return " + ".join(f"{count} {action}" for action, count in sorted(sts.items()))


def markdown(args, info, sizes, rows, checks, plot_name):
    today = datetime.date.today().isoformat()
    lines = [
        BEGIN,
        f"## {today}: every rotation path side by side (`{args.command}`)",
        "",
        f"Machine: {info['cpu']}, {info['memory_gib']} GiB, Linux {info['kernel']}; {info['openssh']}; "
        f"ansible-core {info['ansible'].removeprefix('core ')}; credpush {info['commit']} ({args.build} build), module "
        f"{info['module_bytes']:,} bytes. The machine plays both "
        "sides: N `sshd` hosts on loopback as the unprivileged user `credpush-it`, and moto's STS with auth "
        "enforced. Every run starts cold (no ssh master survives a run) and must exit 0 with every host holding "
        "a new 0600 document from one session; the script checks each host's file after every run.",
        "",
        "Methods, each with its best settings (forks = N; for Ansible: pipelining, ControlPersist within the run, "
        "`interpreter_python` set, no ssh compression):",
        "- (a) `credpush rotate -i hosts.ini --role-arn R --ssh-config F --forks N --json`, with the writer helper "
        "(installed on each host by the warm-up round)",
        "- (b) `ansible-playbook ansible/rotate.yml` (assume once on the controller, then the credpush module)",
        "- (c) `ansible-playbook scripts/lib/bench-copy.yml` (assume once, then `ansible.builtin.copy`)",
        "- (d) `scripts/lib/bench-ssh-loop`: `credpush assume` once, then one `ssh host 'cat > tmp && mv tmp file'` "
        "per host, all at once",
        "- (e) `ansible-playbook scripts/lib/bench-raw.yml` (`raw: \"true\"` per host: Ansible's own one-round-trip "
        "floor; it writes nothing)",
        "- (f) (b) on first contact: the copy of the module each host keeps is removed before the run, so every "
        "task finds none, sends the module and keeps it (the cost (b) pays once per host and module build)",
        "",
        f"{args.runs} counted runs per method and host count after {args.warmup} warm-up round(s), alternating the "
        "methods. Peak RSS is the largest process in the method's tree (`/usr/bin/time -f %M`); machine CPU is all cores' busy "
        "time during the run, the sshd side included (about twice the wall time: every method keeps both cores busy); "
        "STS calls are counted by moto's request recorder.",
        "",
        "| hosts | method | median | min–max | × (d) | × (c) | × (e) | − (d) per host | peak RSS | machine CPU "
        "| CPU per host | STS calls per run |",
        "|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['hosts']} | ({r['method']}) {METHODS[r['method']]} | {r['median']:.2f} s | "
            f"{r['min']:.2f}–{r['max']:.2f} s | {r['vs_d']:.2f} | {r['vs_c']:.2f} | {r['vs_e']:.2f} | "
            f"{r['minus_d_ms']:+.1f} ms | {r['rss_mb']:.1f} MB | {r['cpu']:.1f} s | {r['cpu_ms_per_host']:.1f} ms | "
            f"{fmt_sts(r['sts'])} |")
    lines += ["", "Targets:"]
    for name, value, ok in checks:
        lines.append(f"- {name}: {value}, {'holds' if ok else 'does not hold'}")
    lines += ["", "The Ansible action's first contact (sending the module and keeping it, once per host and build):"]
    for f in (r for r in rows if r["method"] == "f"):
        b = next(r for r in rows if r["method"] == "b" and r["hosts"] == f["hosts"])
        lines.append(f"- N = {f['hosts']}: (f) − (b) = {(f['median'] - b['median']) / f['hosts'] * 1000:+.1f} ms wall "
                     f"and {f['cpu_ms_per_host'] - b['cpu_ms_per_host']:+.1f} ms machine CPU per host")
    lines += ["", f"![wall time against hosts, per method]({plot_name})", "", END]
    return "\n".join(lines) + "\n"


def write_report(path, section):
    # A report without this section: it goes on top, and what was there becomes the history below it.
    write_section(path, BEGIN, END, section,
                  lambda old, new: "# Benchmarks\n\n" + new + ("\n# History\n\n" + old if old else ""))


def main():
    args = parse_args()
    bench = Bench(args)
    sizes, results = bench.measure()
    rows = summarize(sizes, results)
    checks = targets(rows)
    info = machine(args.venv)
    out_dir = os.path.dirname(os.path.abspath(args.report))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "bench.json"), "w") as f:
        json.dump({"machine": info, "command": args.command, "runs": args.runs, "warmup": args.warmup,
                   "rows": rows}, f, indent=1)
        f.write("\n")
    plot(sizes, rows, os.path.join(out_dir, "bench.png"))
    write_report(args.report, markdown(args, info, sizes, rows, checks, "bench.png"))
    print()
    print(f"{'hosts':>5}  {'method':<55} {'median':>8} {'min–max':>15} {'×(d)':>6} {'×(c)':>6} {'×(e)':>6} "
          f"{'−(d)/host':>10} {'CPU/host':>9} {'RSS':>8}  STS")
    for r in rows:
        print(f"{r['hosts']:>5}  ({r['method']}) {METHODS[r['method']]:<51} {r['median']:7.2f}s "
              f"{r['min']:6.2f}–{r['max']:6.2f} s {r['vs_d']:6.2f} {r['vs_c']:6.2f} {r['vs_e']:6.2f} "
              f"{r['minus_d_ms']:+8.1f}ms {r['cpu_ms_per_host']:7.1f}ms {r['rss_mb']:6.1f}MB  {fmt_sts(r['sts'])}")
    print()
    for name, value, ok in checks:
        print(f"target {name}: {value}, {'holds' if ok else 'does not hold'}")
    print(f"\nwrote {args.report}, {out_dir}/bench.png and {out_dir}/bench.json")


if __name__ == "__main__":
    main()
